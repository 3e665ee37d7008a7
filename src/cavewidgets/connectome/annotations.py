"""Per-body labels from a datastack's role tables: cell type, proofreading status, soma position.

Each function takes the rows of one table (as caveclient returns them, positions split into
``_x/_y/_z`` columns at the table's voxel resolution) and returns a frame indexed by body id
(uint64). A body with several rows takes the row with the lowest annotation id, like the
connectivity report does.

Example::

    body_annotations(bodies, cell_types=types, proofreading=pr, somas=nuc,
                     soma_resolution=[4, 4, 40])
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: statuses of a compartment-proofreading table (axon, dendrite flags), best first
COMPARTMENT_STATUSES = ("axon_and_dendrite", "dendrite_only", "axon_only", "neither")
ANNOTATION_COLUMNS = ["type", "class", "status", "proofread", "n_somas", "soma_x_nm", "soma_y_nm", "soma_z_nm"]


def _by_body(frame: pd.DataFrame, root: str = "pt_root_id") -> pd.DataFrame:
    if root not in frame.columns:
        raise ValueError(f"the table has no {root} column (a bound point or a reference to a table "
                         "with one is needed)")
    frame = frame[frame[root] != 0]
    if "id" in frame.columns:
        frame = frame.sort_values("id", kind="stable")
    return frame.assign(body=frame[root].astype(np.uint64))


def cell_types(types: pd.DataFrame) -> pd.DataFrame:
    """``type`` (the ``cell_type`` / ``tag`` column) and ``class`` (``classification_system``) per body.

    Example::

        cell_types(client.materialize.query_table("aibs_metamodel_celltypes_v661")).head()
    """
    frame = _by_body(types).drop_duplicates("body")
    label = next((c for c in ("cell_type", "tag", "type") if c in frame.columns), None)
    if label is None:
        raise ValueError(f"the cell-type table has none of the columns cell_type, tag, type "
                         f"(columns: {list(types.columns)})")
    out = pd.DataFrame({"type": frame[label].astype(object).to_numpy()}, index=frame["body"].to_numpy())
    out["class"] = frame["classification_system"].astype(object).to_numpy() \
        if "classification_system" in frame.columns else None
    out.index.name = "body"
    return out


def proofreading_status(rows: pd.DataFrame) -> pd.DataFrame:
    """``status`` (text) and ``proofread`` (bool) per body from a proofreading table.

    Rows whose ``valid_id`` is not the current root (the cell changed after it was proofread) do
    not count. Compartment tables (``status_axon``/``status_dendrite``) give one of
    ``COMPARTMENT_STATUSES`` and are proofread when either flag is set; a ``proofread`` flag or a
    ``status`` text column is taken as it is; a table with neither marks its bodies proofread.

    Example::

        proofreading_status(client.materialize.query_table("proofreading_status_and_strategy"))
    """
    frame = _by_body(rows)
    if "valid_id" in frame.columns:
        frame = frame[frame["valid_id"].astype(np.uint64) == frame["body"]]
    frame = frame.drop_duplicates("body")
    if {"status_axon", "status_dendrite"} <= set(frame.columns):
        axon = frame["status_axon"].fillna(False).astype(bool).to_numpy()
        dendrite = frame["status_dendrite"].fillna(False).astype(bool).to_numpy()
        status = np.select([axon & dendrite, dendrite, axon], list(COMPARTMENT_STATUSES[:3]),
                           COMPARTMENT_STATUSES[3])
        proofread = axon | dendrite
    elif "proofread" in frame.columns:
        proofread = frame["proofread"].fillna(False).astype(bool).to_numpy()
        status = np.where(proofread, "proofread", "not_proofread")
    elif "status" in frame.columns:
        status = frame["status"].astype(object).to_numpy()
        proofread = pd.notna(status) & (status != "")
    else:
        status = np.full(len(frame), "proofread", dtype=object)
        proofread = np.ones(len(frame), dtype=bool)
    out = pd.DataFrame({"status": status.astype(object), "proofread": proofread.astype(bool)},
                       index=frame["body"].to_numpy())
    out.index.name = "body"
    return out


def soma_positions(somas: pd.DataFrame, resolution) -> pd.DataFrame:
    """``n_somas`` and the (first) soma's ``soma_x/y/z_nm`` per body; ``resolution`` is nm per voxel.

    Example::

        soma_positions(client.materialize.query_table("nucleus_detection_v0", split_positions=True),
                       [4, 4, 40])
    """
    frame = _by_body(somas)
    n = frame.groupby("body").size()
    first = frame.drop_duplicates("body").set_index("body")
    out = pd.DataFrame({"n_somas": n.reindex(first.index).astype(np.int64)}, index=first.index)
    for axis, scale in zip("xyz", resolution):
        column = f"pt_position_{axis}"
        if column not in first.columns:
            raise ValueError(f"the soma table has no {column} column (query it with split_positions=True)")
        out[f"soma_{axis}_nm"] = first[column].astype(float) * float(scale)
    out.index.name = "body"
    return out


def body_annotations(bodies, *, cell_types: pd.DataFrame | None = None,
                     proofreading: pd.DataFrame | None = None, somas: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per body (uint64, in the order given) with ``ANNOTATION_COLUMNS``.

    ``cell_types`` / ``proofreading`` / ``somas`` are the outputs of the functions above, or None
    for a role the datastack lacks: its columns are then empty (None / NA), not guessed. A body a
    role table does not list gets no type, no status and ``proofread`` False, ``n_somas`` 0.

    Example::

        body_annotations(np.array([864691135808682079], np.uint64), cell_types=cell_types(types))
    """
    index = pd.Index(np.asarray(bodies, dtype=np.uint64), name="body")
    out = pd.DataFrame(index=index)
    out["type"] = cell_types["type"].reindex(index).astype(object).to_numpy() if cell_types is not None else None
    out["class"] = cell_types["class"].reindex(index).astype(object).to_numpy() if cell_types is not None else None
    if proofreading is not None:
        out["status"] = proofreading["status"].reindex(index).astype(object).to_numpy()
        out["proofread"] = pd.array(proofreading["proofread"].reindex(index).astype("boolean").fillna(False),
                                    dtype="boolean")
    else:
        out["status"] = None
        out["proofread"] = pd.array([pd.NA] * len(index), dtype="boolean")
    if somas is not None:
        out["n_somas"] = pd.array(somas["n_somas"].reindex(index).fillna(0).astype(np.int64), dtype="Int64")
        for axis in "xyz":
            out[f"soma_{axis}_nm"] = somas[f"soma_{axis}_nm"].reindex(index).astype(float).to_numpy()
    else:
        out["n_somas"] = pd.array([pd.NA] * len(index), dtype="Int64")
        for axis in "xyz":
            out[f"soma_{axis}_nm"] = np.nan
    for column in ("type", "class", "status"):  # an all-None object column would be written as null type
        out[column] = out[column].astype("string")
    return out
