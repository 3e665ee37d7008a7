"""PyChunkedGraph-compatible routes (blueprint mounted at ``/segmentation``).

Answers what caveclient 8.x's ``ChunkedGraphClient``, cloud-volume's graphene source and
neuroglancer's graphene datasource ask, in PyChunkedGraph's formats (read from its
``app/segmentation`` sources). The sample is read-only: edit routes answer 403.

Example (through caveclient)::

    client.chunkedgraph.get_root_id(sv)
    client.chunkedgraph.get_roots(svs, timestamp=ts)      # binary uint64 both ways
    client.chunkedgraph.level2_chunk_graph(root)
"""

from __future__ import annotations

import json

import numpy as np
from flask import Blueprint, Response, request

from . import history
from .app import ServiceError, parse_json
from .graph import Graph
from .timestamps import to_us, us_to_datetime
from .pcg_request import (
    bool_arg,
    bounds_arg,
    delimiter_arg,
    graph_for_table,
    gzip_when_accepted,
    ids_from_binary_body,
    ids_from_json_body,
    ids_out,
    int_arg,
    json_response,
    parse_id,
    parse_id_list,
    timestamp_arg,
)

bp = Blueprint("chunkedgraph", __name__)
bp.after_request(gzip_when_accepted)

PCG_VERSION = "3.1.0"  # above every caveclient 8.x version constraint on the chunkedgraph
API_VERSIONS = [0, 1]
V1 = "/api/v1/table/<table_id>"


# ---- versions and info -----------------------------------------------------------------------


@bp.get("/api/versions")
def api_versions():
    return json_response(API_VERSIONS)


@bp.get("/api/version")
def api_version():
    return json_response(PCG_VERSION)


def segmentation_info(graph: Graph, base_url: str) -> dict:
    """The graphene info document: the watershed's precomputed info plus ``data_dir``,
    ``graph``, ``app`` and the mesh settings cloud-volume and neuroglancer read.

    Example::

        segmentation_info(g, "http://127.0.0.1:5000/")["data_dir"]
    """
    from ..generator.meshes import DRACO_GRID_SIZE, MESH_DIR

    seg_dir = graph.meta.get("segmentation_dir", "precomputed/segmentation")
    info = json.loads((graph.data_dir / seg_dir / "info").read_text())
    cg = graph.meta["chunkedgraph"]
    base = base_url.rstrip("/")
    info["data_dir"] = f"{base}/{seg_dir}"
    info["graph"] = {
        "chunk_size": [int(c) for c in cg["chunk_size"]],
        "bounding_box": [int(c) for c in cg.get("bounding_box", info["scales"][0]["size"])],
        "n_layers": int(cg["n_layers"]),
        "n_bits_for_layer_id": int(cg.get("n_bits_for_layer_id", 8)),
        "spatial_bit_masks": {str(k): int(v) for k, v in cg["spatial_bit_masks"].items()},
        "fan_out": int(cg.get("fan_out", 2)),
        "cv_mip": 0,
    }
    info["app"] = {"supported_api_versions": API_VERSIONS}
    info["chunks_start_at_voxel_offset"] = True
    info["mesh"] = MESH_DIR
    info["mesh_dir"] = MESH_DIR
    info["sharded_mesh"] = True
    info["verify_mesh"] = False
    info["mesh_metadata"] = {
        "uniform_draco_grid_size": DRACO_GRID_SIZE,
        "max_meshed_layer": 2,
        "unsharded_mesh_dir": "dynamic",
    }
    return info


@bp.get("/table/<table_id>/info")
def info(table_id):
    graph = graph_for_table(table_id)
    return json_response(segmentation_info(graph, precomputed_base_url()), int64_as_str=False)


def precomputed_base_url() -> str:
    """URL under which :mod:`.precomputed` serves DATA_DIR/precomputed (``.../precomputed/`` is
    part of the data paths in datastack.json, so the base is the host root)."""
    return request.host_url


# ---- roots -----------------------------------------------------------------------------------


def _roots(graph: Graph, ids: np.ndarray, stop_layer: int | None, timestamp: float) -> np.ndarray:
    if stop_layer is not None and stop_layer <= 2:
        if stop_layer < 1:
            raise ServiceError(400, f"stop_layer={stop_layer} must be at least 1")
        layers = graph.layer_of(ids)
        if stop_layer == 1:
            return ids.copy()
        out = ids.copy()
        sv = layers == 1
        out[sv] = graph.l2_ids_of(ids[sv])
        return out
    # the sample has no layers between 2 and the root: any higher stop layer yields the root
    return graph.root_ids_at(ids, timestamp=timestamp)


@bp.get(V1 + "/node/<node_id>/root")
def node_root(table_id, node_id):
    graph = graph_for_table(table_id)
    node = parse_id(node_id)
    ts = timestamp_arg()
    out = _roots(graph, np.array([node], np.uint64), int_arg("stop_layer"), ts)
    if out[0] == 0 and node != 0:
        _raise_unknown(graph, node, ts)
    return json_response({"root_id": int(out[0])})


def _raise_unknown(graph: Graph, node: np.uint64, ts: float):
    layer = int(graph.layer_of([node])[0])
    known = {1: lambda: graph.l2_ids_of([node])[0] != 0, 2: lambda: graph.has_l2([node])[0]}
    if known.get(layer, lambda: graph.known_roots([node])[0])():
        when = us_to_datetime(to_us(ts)).isoformat()
        raise ServiceError(404, f"node {int(node)} has no root at {when} (before the sample's history)")
    raise ServiceError(404, f"node {int(node)} not found in chunkedgraph {graph.meta['pcg_table']!r}")


@bp.post(V1 + "/roots")
def roots_json(table_id):
    graph = graph_for_table(table_id)
    ids = ids_from_json_body("node_ids")
    roots = _roots(graph, ids, int_arg("stop_layer"), timestamp_arg())
    if request.args.get("as_binary") == "root_ids":
        return binary_ids(roots)
    return json_response({"root_ids": ids_out(roots)})


@bp.post(V1 + "/roots_binary")
def roots_binary(table_id):
    graph = graph_for_table(table_id)
    ids = ids_from_binary_body()
    roots = _roots(graph, ids, int_arg("stop_layer"), timestamp_arg())
    return binary_ids(roots)


def binary_ids(ids: np.ndarray) -> Response:
    """uint64 ids as PyChunkedGraph's ``tobinary`` answers them (``app/app_utils.py``): raw
    little-endian bytes returned from the view, so Flask's default type, ``text/html; charset=utf-8``
    (gzip-encoded by :func:`.pcg_request.gzip_when_accepted` like every answer of the service).

    Example::

        binary_ids(np.array([864691135808684573], np.uint64))
    """
    return Response(ids.astype("<u8").tobytes())


# ---- hierarchy -------------------------------------------------------------------------------


def nodes_in_bounds(graph: Graph, ids: np.ndarray, bounds: np.ndarray | None) -> np.ndarray:
    """Nodes whose chunk intersects ``bounds`` (voxels, (3, 2)), as PCG's bounding-box mask."""
    if bounds is None or len(ids) == 0:
        return np.ones(len(ids), bool)
    size = np.array(graph.chunk_size, dtype=np.int64)
    lo = graph.chunk_of(ids) * size + graph.voxel_offset
    hi = lo + size
    return np.all((lo < bounds[:, 1]) & (hi > bounds[:, 0]), axis=1)


def _leaves(graph: Graph, node: np.uint64, stop_layer: int, bounds) -> np.ndarray:
    try:
        if bounds is not None and stop_layer <= 1 and graph.layer_of([node])[0] > 1:
            # a supervoxel lies in its L2 node's chunk: filter the (fewer) L2 nodes first;
            # neuroglancer asks this once per visible chunk
            l2s = graph.leaves(node, stop_layer=2)
            return graph.supervoxels_of_l2(l2s[nodes_in_bounds(graph, l2s, bounds)])
        leaves = graph.leaves(node, stop_layer=stop_layer)
    except KeyError:
        raise ServiceError(404, f"node {int(node)} not found in chunkedgraph {graph.meta['pcg_table']!r}") from None
    return leaves[nodes_in_bounds(graph, leaves, bounds)]


@bp.get(V1 + "/node/<node_id>/leaves")
def node_leaves(table_id, node_id):
    graph = graph_for_table(table_id)
    node = parse_id(node_id)
    leaves = _leaves(graph, node, int_arg("stop_layer", 1), bounds_arg())
    return json_response({"leaf_ids": ids_out(leaves)})


@bp.post(V1 + "/node/leaves_many")
@bp.post(V1 + "/leaves_many")
def leaves_many(table_id):
    graph = graph_for_table(table_id)
    ids = ids_from_json_body("node_ids")
    stop_layer, bounds = int_arg("stop_layer", 1), bounds_arg()
    out = {str(int(n)): ids_out(_leaves(graph, n, stop_layer, bounds)) for n in np.unique(ids)}
    return json_response(out)


@bp.get(V1 + "/node/<node_id>/children")
def node_children(table_id, node_id):
    graph = graph_for_table(table_id)
    node = parse_id(node_id)
    layer = int(graph.layer_of([node])[0])
    if layer <= 1:
        children = np.zeros(0, np.uint64)
    else:  # root -> its L2 nodes (the sample stores no layers in between), L2 -> supervoxels
        children = _leaves(graph, node, 1 if layer == 2 else 2, None)
    return json_response({"children_ids": ids_out(children)})


@bp.get(V1 + "/node/<node_id>/lvl2_graph")
def lvl2_graph(table_id, node_id):
    graph = graph_for_table(table_id)
    root = parse_id(node_id)
    bounds = bounds_arg()
    layer = int(graph.layer_of([root])[0])
    if layer < 3:
        raise ServiceError(400, f"node {int(root)} is a layer-{layer} node; lvl2_graph needs a root id")
    try:
        edges = graph.l2_edges(root)
    except KeyError:
        raise ServiceError(404, f"root {int(root)} not found in chunkedgraph {graph.meta['pcg_table']!r}") from None
    if bounds is not None and len(edges):
        keep = nodes_in_bounds(graph, edges[:, 0], bounds) | nodes_in_bounds(graph, edges[:, 1], bounds)
        edges = edges[keep]
    resp = json_response({"edge_graph": edges.tolist()})
    # v1/routes.py sets the header to a Python bool, which werkzeug writes as str(): "True"/"False"
    resp.headers["Used-Bounds"] = str(bounds is not None)
    return resp


# ---- root state ------------------------------------------------------------------------------


@bp.post(V1 + "/is_latest_roots")
def is_latest_roots(table_id):
    graph = graph_for_table(table_id)
    ids = ids_from_json_body("node_ids")
    if request.args.get("timestamp"):
        latest = graph.valid_at(ids, timestamp_arg())
    else:
        latest = graph.is_latest(ids)
    return json_response({"is_latest": latest.tolist()})


def _known_roots_or_404(graph: Graph, ids: np.ndarray) -> None:
    known = graph.known_roots(ids)
    if not known.all():
        bad = int(ids[~known][0])
        raise ServiceError(404, f"root {bad} not found in chunkedgraph {graph.meta['pcg_table']!r}")


@bp.post(V1 + "/root_timestamps")
def root_timestamps(table_id):
    graph = graph_for_table(table_id)
    ids = ids_from_json_body("node_ids")
    _known_roots_or_404(graph, ids)
    if bool_arg("latest", False):
        ts = timestamp_arg()
        expired = graph.expired_us(ids) / 1e6
        # latest at `ts` -> ts itself, else the time it was superseded (PCG's _handle_latest)
        out = np.where(graph.valid_at(ids, ts), ts, np.minimum(expired, ts))
    else:
        out = graph.created_us(ids) / 1e6
    return json_response({"timestamp": out.tolist()})


@bp.get(V1 + "/valid_nodes")
def valid_nodes(table_id):
    graph = graph_for_table(table_id)
    ids = ids_from_json_body("node_ids")
    start = timestamp_arg("start_timestamp", default=None)
    end = timestamp_arg("end_timestamp", default=None)
    layers = graph.layer_of(ids)
    valid = np.zeros(len(ids), bool)
    valid[layers == 1] = graph.l2_ids_of(ids[layers == 1]) != 0
    valid[layers == 2] = graph.has_l2(ids[layers == 2])
    top = layers >= 3
    known = graph.known_roots(ids[top])
    created = np.full(len(known), np.inf)
    created[known] = graph.created_us(ids[top][known]) / 1e6
    ok = known & (created >= (start if start is not None else -np.inf))
    ok &= created <= (end if end is not None else np.inf)
    valid[top] = ok
    return json_response({"valid_roots": ids_out(ids[valid])})


@bp.get(V1 + "/oldest_timestamp")
def oldest_timestamp(table_id):
    graph = graph_for_table(table_id)
    oldest = us_to_datetime(int(graph.root_created.min()))
    return json_response({"iso": oldest.isoformat(delimiter_arg())})


@bp.get(V1 + "/root/<root_id>/last_edit")
def last_edit(table_id, root_id):
    graph = graph_for_table(table_id)
    root = parse_id(root_id, "root id")
    _known_roots_or_404(graph, np.array([root], np.uint64))
    created = us_to_datetime(int(graph.created_us([root])[0]))
    return json_response({"iso": created.isoformat(delimiter_arg())})


# ---- history ---------------------------------------------------------------------------------


def _root_or_404(graph: Graph, text: str) -> int:
    root = parse_id(text, "root id")
    _known_roots_or_404(graph, np.array([root], np.uint64))
    return int(root)


@bp.get(V1 + "/tabular_change_log_many")
def tabular_change_log_many(table_id):
    graph = graph_for_table(table_id)
    roots = ids_from_json_body("root_ids")
    _known_roots_or_404(graph, roots)
    filtered = bool_arg("filtered", True)
    logs = history.tabular_change_logs(graph, np.unique(roots).tolist(), filtered)
    return json_response({str(r): json.dumps(log) for r, log in logs.items()}, int64_as_str=False)


@bp.get(V1 + "/root/<root_id>/tabular_change_log")
def tabular_change_log(table_id, root_id):
    graph = graph_for_table(table_id)
    root = _root_or_404(graph, root_id)
    return json_response(history.tabular_change_logs(graph, [root], bool_arg("filtered", True))[int(root)],
                         int64_as_str=False)


@bp.get(V1 + "/root/<root_id>/change_log")
def change_log(table_id, root_id):
    graph = graph_for_table(table_id)
    return json_response(history.change_log_summary(graph, _root_or_404(graph, root_id)))


@bp.get(V1 + "/root/<root_id>/merge_log")
def merge_log(table_id, root_id):
    graph = graph_for_table(table_id)
    root = _root_or_404(graph, root_id)
    merges = [op for op in graph.operations_touching(root) if op["is_merge"]]
    return json_response({
        "merge_edges": [[[int(a) for a in e] for e in (op.get("added_edges") or [])] for op in merges],
        "merge_edge_coords": [[op.get("source_coords") or [], op.get("sink_coords") or []] for op in merges],
    })


def _lineage_times() -> tuple[float, float]:
    return timestamp_arg("timestamp_past", default="0"), timestamp_arg("timestamp_future")


def _lineage_request(table_id) -> tuple[Graph, np.ndarray, float, float]:
    """The graph, the distinct root ids of the JSON body (404 for an unknown one) and the
    (past, future) window of a many-roots lineage request."""
    graph = graph_for_table(table_id)
    roots = ids_from_json_body("root_ids")
    _known_roots_or_404(graph, roots)
    return graph, np.unique(roots), *_lineage_times()


@bp.post(V1 + "/lineage_graph_multiple")
def lineage_graph_multiple(table_id):
    return json_response(history.lineage_graph(*_lineage_request(table_id)))


@bp.get(V1 + "/root/<root_id>/lineage_graph")
def lineage_graph_one(table_id, root_id):
    graph = graph_for_table(table_id)
    root = _root_or_404(graph, root_id)
    past, future = _lineage_times()
    return json_response(history.lineage_graph(graph, [root], past, future))


@bp.get(V1 + "/past_id_mapping")
def past_id_mapping(table_id):
    return json_response(history.past_future_id_mapping(*_lineage_request(table_id)))


@bp.get(V1 + "/operation_details")
def operation_details(table_id):
    graph = graph_for_table(table_id)
    text = request.args.get("operation_ids", "[]")
    op_ids = parse_json(text, f"operation_ids={text[:100]!r}")
    op_ids = parse_id_list(op_ids if isinstance(op_ids, list) else [op_ids], "operation_ids")
    return json_response(history.operation_details(graph, op_ids))


@bp.get(V1 + "/delta_roots")
def delta_roots(table_id):
    graph = graph_for_table(table_id)
    if not request.args.get("timestamp_past"):
        raise ServiceError(400, "timestamp parameter timestamp_past is mandatory")
    past, future = _lineage_times()
    return json_response(history.delta_roots(graph, past, future))


@bp.get(V1 + "/user_operations")
def user_operations(table_id):
    graph = graph_for_table(table_id)
    start = timestamp_arg("start_time", default="0")
    end = timestamp_arg("end_time")
    user = request.args.get("user_id")
    rows = [op for op in graph.operations
            if start <= history._op_ms(op) / 1000 <= end and (user is None or str(op["user_id"]) == user)]
    frame = {"operation_id": {str(i): int(op["operation_id"]) for i, op in enumerate(rows)},
             "timestamp": {str(i): history._op_ms(op) for i, op in enumerate(rows)}}
    return json_response(frame, int64_as_str=False)


# ---- edits: the sample is read-only ----------------------------------------------------------


@bp.post(V1 + "/merge")
@bp.post(V1 + "/split")
@bp.post(V1 + "/undo")
@bp.post(V1 + "/redo")
@bp.post(V1 + "/graph/split_preview")
def read_only(table_id):
    graph_for_table(table_id)
    raise ServiceError(403, "the cavewidgets sample chunkedgraph is read-only: edits are not supported")
