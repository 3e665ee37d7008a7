"""Which columns a TableBrowser shows first, and which start hidden.

For CAVE tables (frames from ``client.materialize``) the columns a user came for lead: root ids,
then cell types, then the rest in the table's order; CAVE's bookkeeping (``created``,
``superceded_id``, ``valid``, ``deleted``, supervoxel ids, and their ``_ref`` twins of a
reference-table join) starts hidden, one click away in the "Columns" menu. Other frames are shown
as they are.

Example::

    order, hidden = default_layout(synapses, list(synapses.columns))
    order[:2]   # ['pre_pt_root_id', 'post_pt_root_id']
    hidden      # ['created', 'superceded_id', 'valid', 'pre_pt_supervoxel_id', 'post_pt_supervoxel_id']
"""

from __future__ import annotations

import pandas as pd

__all__ = ["default_layout", "is_bookkeeping", "is_cave_frame", "resolve_layout"]

_BOOKKEEPING = {"created", "superceded_id", "valid", "deleted", "id_ref"}


def is_cave_frame(df: pd.DataFrame) -> bool:
    """Whether ``df`` came from a CAVE materialization query (caveclient's attrs, or CAVE's
    bookkeeping columns when a pandas operation dropped the attrs).

    Example::

        is_cave_frame(client.materialize.query_table("nucleus_detection_v0"))   # True
    """
    names = {str(c) for c in df.columns}
    return "materialization_version" in df.attrs or {"created", "valid"} <= names


def is_bookkeeping(name: str) -> bool:
    """Whether a CAVE column is bookkeeping rather than data (``created``, ``valid``,
    ``superceded_id``, ``deleted``, ``*supervoxel_id``, also with a ``_ref`` suffix).

    Example::

        is_bookkeeping("pt_supervoxel_id"), is_bookkeeping("pt_root_id")   # True, False
    """
    base = name[: -len("_ref")] if name.endswith("_ref") else name
    return name in _BOOKKEEPING or base in _BOOKKEEPING or base.endswith("supervoxel_id")


def _rank(name: str) -> int:
    if name.endswith("root_id"):
        return 0
    if "cell_type" in name or name == "classification_system":
        return 1
    return 2


def default_layout(df: pd.DataFrame, names: list[str]) -> tuple[list[str], list[str]]:
    """``(order, hidden)`` of the display column ``names`` of ``df``: for a CAVE table, root-id
    columns first, then cell-type columns, then the rest (each group in the table's order), with
    bookkeeping hidden; any other frame unchanged with nothing hidden.

    Example::

        default_layout(nuclei, list(nuclei.columns))[0][:2]   # ['pt_root_id', 'id']
    """
    if not is_cave_frame(df):
        return list(names), []
    order = sorted(names, key=lambda n: (is_bookkeeping(n), _rank(n)))  # sorted() is stable
    return order, [n for n in order if is_bookkeeping(n)]


def resolve_layout(df: pd.DataFrame, names: list[str], columns=None, hidden=None) -> tuple[list[str], list[str]]:
    """``(order, hidden)`` from what the user asked for: ``columns`` (shown, in this order; the rest
    hidden after them), or ``hidden`` (hidden, the rest in the table's order), or neither (the
    default layout). Unknown names raise ``ValueError`` naming them.

    Example::

        resolve_layout(df, names, columns=["pt_root_id", "volume"])
    """
    if columns is not None and hidden is not None:
        raise ValueError("give columns= (what to show, in order) or hidden= (what to hide), not both")
    if columns is None and hidden is None:
        return default_layout(df, names)
    asked = _names(columns if columns is not None else hidden, "columns" if columns is not None else "hidden")
    unknown = [n for n in asked if n not in names]
    if unknown:
        raise ValueError(f"no column(s) {', '.join(map(repr, unknown))}; columns are: {', '.join(names) or '(none)'}")
    if columns is not None:
        if len(set(asked)) != len(asked):
            raise ValueError(f"columns= names a column twice: {asked}")
        rest = [n for n in names if n not in asked]
        return asked + rest, rest
    return list(names), [n for n in names if n in set(asked)]


def _names(value, what: str) -> list[str]:
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        raise TypeError(f"{what}= must be a list of column names, not {type(value).__name__} {value!r}")
    out = list(value)
    bad = [v for v in out if not isinstance(v, str)]
    if bad:
        raise TypeError(f"{what}= must hold column names (strings), not {bad[0]!r}")
    return out
