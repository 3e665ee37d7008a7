"""L2 cache routes (blueprint mounted at ``/l2cache``), shaped as PCGL2Cache answers them.

``POST /api/v1/table/{pcg}/attributes?attribute_names=a,b`` with ``{"l2_ids": [...]}`` answers
``{str(l2_id): {attribute: value}}``; unknown ids get ``{}`` like the real service.

Example (through caveclient)::

    client.l2cache.get_l2data(l2_ids, attributes=["rep_coord_nm", "size_nm3"])
"""

from __future__ import annotations

import numpy as np
from flask import Blueprint, request

from .app import ServiceError
from .graph import Graph
from .app import all_stacks
from .pcg_request import graph_for_table, gzip_when_accepted, ids_from_json_body, json_response

bp = Blueprint("l2cache", __name__)
bp.after_request(gzip_when_accepted)

# attribute -> numpy type the real cache stores it as (its attribute_metadata reports these)
ATTRIBUTES = {
    "area_nm2": np.uint32,
    "max_dt_nm": np.uint16,
    "mean_dt_nm": np.float16,
    "pca": np.float16,
    "pca_val": np.float32,
    "rep_coord_nm": np.uint16,
    "size_nm3": np.uint32,
}


@bp.get("/api/versions")
def api_versions():
    return json_response([1])


@bp.get("/api/v1/attribute_metadata")
def attribute_metadata():
    return json_response({name: str(t) for name, t in ATTRIBUTES.items()})


@bp.get("/api/v1/table_mapping")
def table_mapping():
    # every chunkedgraph table this server serves has an L2 cache, as in PCGL2Cache's mapping
    out = {}
    for stack in all_stacks():
        pcg = stack.meta["pcg_table"]
        cv_path = f"graphene://{request.host_url.rstrip('/')}/segmentation/table/{pcg}"
        out[pcg] = {"l2cache_id": f"{pcg}_l2cache", "cv_path": cv_path}
    return json_response(out)


def _columns(graph: Graph, names: list[str], rows: np.ndarray) -> dict[str, list]:
    """Python lists of each requested attribute for the given rows of ``l2_table``.

    Integer-typed attributes go out as ints (the real cache stores them as uints)."""
    table = graph.l2_table
    out = {}
    for name in names:
        if name == "rep_coord_nm":
            xyz = np.stack([table.column(f"rep_coord_nm_{a}").to_numpy()[rows] for a in "xyz"], axis=1)
            out[name] = np.rint(xyz).astype(np.int64).tolist()
        elif name in ("pca", "pca_val"):
            flat = np.asarray(table.column(name).combine_chunks().flatten().to_numpy(), dtype=np.float64)
            width = 9 if name == "pca" else 3
            vals = flat.reshape(-1, width)[rows]
            out[name] = vals.reshape(-1, 3, 3).tolist() if name == "pca" else vals.tolist()
        else:
            col = np.asarray(table.column(name).to_numpy(), dtype=np.float64)[rows]
            if np.issubdtype(ATTRIBUTES[name], np.integer):
                out[name] = np.rint(col).astype(np.int64).tolist()
            else:
                out[name] = col.tolist()
    return out


@bp.post("/api/v1/table/<table_id>/attributes")
def attributes(table_id):
    graph = graph_for_table(table_id)
    l2_ids = np.unique(ids_from_json_body("l2_ids"))
    text = request.args.get("attribute_names")
    if text:
        names = [n.strip() for n in text.split(",") if n.strip()]
        unknown = [n for n in names if n not in ATTRIBUTES]
        if unknown:
            raise ServiceError(400, f"unknown attribute(s) {unknown}; available: {sorted(ATTRIBUTES)}")
    else:
        names = list(ATTRIBUTES)
    rows, found = graph.l2_rows(l2_ids)
    cols = _columns(graph, names, rows[found])
    result: dict[str, dict] = {}
    found_ids = l2_ids[found].tolist()
    for i, l2 in enumerate(found_ids):
        result[str(l2)] = {name: cols[name][i] for name in names}
    for l2 in l2_ids[~found].tolist():  # unknown ids: empty entry, as the real cache answers
        result[str(l2)] = {}
    return json_response(result, int64_as_str=False)
