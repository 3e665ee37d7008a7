"""Meshing manifest routes (blueprint mounted at ``/meshing``), as PyChunkedGraph's meshing app.

A root's mesh is the union of the draco fragments of its L2 nodes (written by
:mod:`cavewidgets.sample.generator.meshes`), so any root that ever existed, edited or not,
meshes correctly. The manifest lists those fragments as graphene initial-mesh byte ranges:

- cloud-volume: ``GET manifest/{id}:0?verify=True&return_seg_ids=1`` (body ``{"start_layer": n}``)
  -> ``{"fragments": ["~2/{file}:{offset}:{size}", ...], "seg_ids": [...]}``
- neuroglancer: ``GET manifest/{id}:0?verify=1&prepend_seg_ids=1`` -> ``~{l2}:~2/{file}:{offset}:{size}``

Example::

    GET /meshing/api/v1/table/sample_pcg/manifest/864691135808684573:0?verify=1
"""

from __future__ import annotations

import threading

import numpy as np
from flask import Blueprint

from .app import ServiceError, parse_json
from .graph import Graph
from .pcg_request import (bool_arg, bounds_arg, graph_for_table, gzip_when_accepted, json_response, parse_id,
                          raw_body)

bp = Blueprint("meshing", __name__)
bp.after_request(gzip_when_accepted)

_LOCK = threading.Lock()


def fragment_index(graph: Graph) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sorted L2 ids that have a mesh, the seg id of the fragment holding each, its manifest
    entry ``~2/{file}:{offset}:{size}``), read once per loaded sample from the mesh index."""
    import pyarrow.parquet as pq

    from ..generator.meshes import INDEX_FILE, MESH_DIR, fragment_ref

    with _LOCK:
        cached = getattr(graph, "_mesh_fragments", None)
        if cached is None:
            seg_dir = graph.meta.get("segmentation_dir", "precomputed/segmentation")
            path = graph.data_dir / seg_dir / MESH_DIR / INDEX_FILE
            ids, segs, refs = np.zeros(0, np.uint64), np.zeros(0, np.uint64), np.zeros(0, dtype=object)
            if path.exists():
                t = pq.read_table(path)
                ids = t.column("l2_id").to_numpy().astype(np.uint64)
                # an index without seg_id (one fragment per L2 node) keys fragments by L2 id
                segs = (t.column("seg_id") if "seg_id" in t.column_names else t.column("l2_id")).to_numpy()
                segs = segs.astype(np.uint64)
                refs = np.array([fragment_ref(f, o, s) for f, o, s in zip(
                    t.column("file").to_pylist(), t.column("offset").to_pylist(), t.column("size").to_pylist())],
                    dtype=object)
                order = np.argsort(ids, kind="stable")
                ids, segs, refs = ids[order], segs[order], refs[order]
            cached = graph._mesh_fragments = (ids, segs, refs)
        return cached


def _request_options() -> dict:
    """JSON body options cloud-volume sends with a GET (``start_layer`` etc.); {} if none."""
    raw = raw_body()
    if not raw:
        return {}
    data = parse_json(raw, "manifest request body")
    if not isinstance(data, dict):
        raise ServiceError(400, "manifest request body must be a JSON object")
    return data


def _truthy(value) -> bool:
    return str(value).lower() in ("true", "1", "yes", "t")


@bp.get("/api/v1/table/<table_id>/manifest/<node_id>:0")
def manifest(table_id, node_id):
    graph = graph_for_table(table_id)
    node = parse_id(node_id)
    options = _request_options()
    bounds = bounds_arg()
    layer = int(graph.layer_of([node])[0])
    if layer == 1:  # supervoxels have no meshes (neuroglancer does not ask for them either)
        l2s = np.zeros(0, np.uint64)
    else:
        try:
            l2s = graph.leaves(node, stop_layer=2)
        except KeyError:
            raise ServiceError(404, f"node {int(node)} not found in chunkedgraph {table_id!r}") from None
    if bounds is not None and len(l2s):
        from .chunkedgraph import nodes_in_bounds

        l2s = l2s[nodes_in_bounds(graph, l2s, bounds)]
    ids, segs, refs = fragment_index(graph)
    pos = np.minimum(np.searchsorted(ids, l2s), max(len(ids) - 1, 0))
    has = (ids[pos] == l2s) if len(ids) else np.zeros(len(l2s), bool)
    # L2 nodes that were always in one root share a fragment; tiny ones may have none
    seg_ids, first = np.unique(segs[pos[has]], return_index=True)
    fragments = refs[pos[has]][first].tolist()
    resp: dict = {"fragments": fragments}
    if bool_arg("prepend_seg_ids", False):
        resp["fragments"] = [f"~{int(s)}:{f}" for s, f in zip(seg_ids, fragments)]
    if bool_arg("return_seg_ids", False) or _truthy(options.get("return_seg_ids", "false")):
        resp["seg_ids"] = seg_ids.tolist()
    if _truthy(options.get("return_seg_id_layers", "false")):
        resp["seg_id_layers"] = [2] * len(seg_ids)
    if _truthy(options.get("return_seg_chunk_coordinates", "false")):
        resp["seg_chunk_coordinates"] = graph.chunk_of(seg_ids).tolist()
    return json_response(resp, int64_as_str=False)
