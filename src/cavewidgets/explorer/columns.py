"""Which columns of a CAVE table hold root ids and positions, and positions in nm.

Example::

    root_columns(synapses)                  # ['pre_pt_root_id', 'post_pt_root_id']
    position_column(synapses, "post_pt_root_id")   # 'ctr_pt_position'
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._ids import parse_root_id

_PREFERRED = ("pt_root_id", "post_pt_root_id", "pre_pt_root_id", "root_id")


def root_columns(df: pd.DataFrame) -> list[str]:
    """Integer columns named like root ids, most useful first.

    Example::

        root_columns(nuclei)   # ['pt_root_id']
    """
    dtypes = df.dtypes  # a DataFrame, or the TableBrowser's stand-in for a file (no column data)
    found = [c for c in df.columns if isinstance(c, str) and c.endswith("root_id")
             and _is_id_dtype(dtypes[c])]
    return sorted(found, key=lambda c: (_PREFERRED.index(c) if c in _PREFERRED else len(_PREFERRED), c))


def _is_id_dtype(dtype) -> bool:
    if isinstance(dtype, pd.Series):  # a duplicated column label
        return False
    return pd.api.types.is_integer_dtype(dtype) or dtype == object


def position_column(df: pd.DataFrame, root_column: str) -> str | None:
    """The position that goes with ``root_column`` (``pt_root_id`` -> ``pt_position``; for
    synapses the cleft centre ``ctr_pt_position`` first), or any position column, or None."""
    prefix = root_column[: -len("root_id")].rstrip("_")
    candidates = []
    if prefix.endswith("pt") and prefix not in ("pre_pt", "post_pt"):
        candidates.append(f"{prefix}_position")
    candidates += ["ctr_pt_position", f"{prefix}_position", "pt_position"]
    candidates += [c for c in df.columns if isinstance(c, str) and c.endswith("_position")]
    for c in candidates:
        if c in df.columns or all(f"{c}_{a}" in df.columns for a in "xyz"):
            return c
    return None


def positions_nm(df: pd.DataFrame, column: str) -> np.ndarray:
    """(n, 3) positions in nm from an array column or its ``_x/_y/_z`` split, scaled by the
    frame's ``dataframe_resolution`` attr (caveclient sets it; absent means already nm)."""
    if column in df.columns:
        pos = np.array([np.asarray(v, dtype=float).ravel()[:3] if v is not None and np.size(v) >= 3
                        else [np.nan] * 3 for v in df[column]], dtype=float).reshape(-1, 3)
    else:
        pos = np.stack([df[f"{column}_{a}"].to_numpy(dtype=float) for a in "xyz"], axis=1)
    res = df.attrs.get("dataframe_resolution")
    if res is not None:
        pos = pos * np.asarray(res, dtype=float).reshape(1, 3)
    return pos


def root_ids_of(df: pd.DataFrame, column: str) -> list[int]:
    """Distinct non-zero root ids of ``column`` as exact Python ints, in order of appearance
    (missing values and 0 mean "no segment" in a table and are skipped; anything else that is
    not an id is an :class:`~cavewidgets._ids.IdError`)."""
    out, seen = [], set()
    for v in df[column].tolist():
        if v is None or v is pd.NA or (isinstance(v, float) and v != v):
            continue
        v = parse_root_id(v, what=f"{column} value", allow_zero=True)
        if v > 0 and v not in seen:
            seen.add(v)
            out.append(v)
    return out
