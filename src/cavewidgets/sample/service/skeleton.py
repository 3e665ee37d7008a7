"""Skeleton service (``/skeletoncache``): the calls the MICrONS tutorials make, from our L2 skeletons.

Routes and formats follow CAVEconnectome/SkeletonService (``skeletonservice/datasets/api.py``,
``service.py``) as caveclient's ``SkeletonClient`` reads them:

- ``GET /api/version`` (a version string) and ``GET /api/versions`` (skeleton versions
  ``[-1, 0, 1, 2, 3, 4]``: ``SKELETON_DEFAULT_VERSION_PARAMS`` + ``SKELETON_VERSION_PARAMS``);
- ``GET /api/v1/{ds}/precomputed/skeleton/{v}/{root}/{fmt}`` and its ``async/get_skeleton``
  twin: ``flatdict`` is gzip-compressed JSON of ``_skeleton_to_flatdict`` (``meta``, ``edges``,
  ``mesh_to_skel_map``, ``root``, ``vertices``, vertex properties ``radius`` and ``compartment``,
  ``lvl2_ids``); ``swccompressed`` is gzip-compressed SWC text as ``SkeletonIO.export_to_swc``
  writes it (``id type x y z radius parent``, µm, ids from 0, no header);
- ``GET /api/v1/{ds}/bulk/get_skeletons/{v}/{fmt}/{gms}/{root_ids}``: ``{root: hex}``, the hex of
  the gzip-compressed flatdict, or of the plain SWC text (as caveclient decodes them).

The skeletons are :func:`cavewidgets.morphology.skeleton_from_l2` (pcg_skel's recipe) computed by
the service from its own chunkedgraph and L2 cache, in nm, with compartments labelled from the
neuron's synapses (1 soma, 2 axon, 3 dendrite, 0 where the synapses do not tell). Any other
skeleton-service route answers 501 saying so.

Example::

    client.skeleton.get_skeleton(root_id, output_format="swc")
"""

from __future__ import annotations

import binascii
import gzip
import json
import re
import threading

import numpy as np
from flask import Blueprint, Response, current_app, jsonify, request

from .app import ServiceError, app_singleton
from .graph import get_graph
from .info import check_datastack

bp = Blueprint("skeleton", __name__)

#: SkeletonService ``skeletonservice/__init__.py`` ``__version__`` the routes were copied from
SKELETON_SERVICE_VERSION = "0.23.11"
#: ``service.py``: -1 latest, 0 neuroglancer, 1-4 the skeleton generations
SKELETON_VERSIONS = [-1, 0, 1, 2, 3, 4]
_SWC_TYPE = {"soma": 1, "axon": 2, "dendrite": 3, "unknown": 0}
_CACHE_LOCK = threading.Lock()
V1 = "/api/v1/<datastack>"


@bp.get("/api/version")
def version():
    return jsonify(SKELETON_SERVICE_VERSION)


@bp.get("/api/versions")
def versions():
    return jsonify(SKELETON_VERSIONS)


def _self_client():
    """A caveclient for this very service (the skeleton is built through the public routes)."""
    from caveclient import CAVEclient

    from .app import datastack_meta

    url = request.host_url.rstrip("/")
    return app_singleton(f"cavewidgets_skeleton_client_{url}", lambda: CAVEclient(
        datastack_meta()["datastack"], server_address=url, auth_token=current_app.config["TOKEN"],
        write_server_cache=False))


def skeleton_of(root_id: int):
    """Our L2 skeleton of ``root_id``, compartments labelled, cached per service (roots never change).

    Example::

        sk = skeleton_of(864691135808230257)
    """
    from cavewidgets.morphology import skeleton_from_l2

    if not 0 <= root_id < 2**64:
        raise ServiceError(400, f"root id {root_id} is not a uint64")
    if root_id >= 2**63:  # no root is (the self-client's int64 arrays could not even ask)
        raise ServiceError(404, f"invalid_rid: {root_id} is not a root id of this datastack")
    cache = app_singleton("cavewidgets_skeletons", dict)
    with _CACHE_LOCK:
        hit = cache.get(root_id)
    if hit is not None:
        return hit
    # is_valid_nodes is also true for supervoxels and L2 ids, which have no skeleton
    if not get_graph().known_roots([root_id])[0]:
        raise ServiceError(404, f"invalid_rid: {root_id} is not a root id of this datastack")
    client = _self_client()
    sk = skeleton_from_l2(client, root_id)
    try:
        mat = client.materialize
        sk.label_compartments([mat.synapse_query(pre_ids=root_id, desired_resolution=[1, 1, 1]),
                               mat.synapse_query(post_ids=root_id, desired_resolution=[1, 1, 1])],
                              resolution=[1, 1, 1])
    except Exception:  # noqa: BLE001 - compartments are a bonus; without them nodes stay 0
        current_app.logger.warning("compartment labelling failed for %s", root_id, exc_info=True)
    with _CACHE_LOCK:
        cache[root_id] = sk
    return sk


def flatdict(sk, version: int) -> dict:
    """``service.py`` ``_skeleton_to_flatdict`` of our skeleton (positions and radii in nm)."""
    nodes = sk.nodes
    meta = {"root_id": int(sk.root_id), "skeleton_type": "pcg_skel", "skeleton_version": version,
            "invalidation_d": sk.meta.get("invalidation_d"), "collapse_soma": sk.soma_point is not None}
    if sk.soma_point is not None:
        meta.update(soma_pt_x=float(sk.soma_point[0]), soma_pt_y=float(sk.soma_point[1]),
                    soma_pt_z=float(sk.soma_point[2]))
    edges = sk.edges
    return {
        "meta": meta,
        "edges": np.column_stack([edges.child.to_numpy(), edges.parent.to_numpy()]).tolist(),
        "mesh_to_skel_map": [int(v) for v in sk.node_of(sk.l2_ids)],
        "root": int(nodes.node_id[nodes.parent_id < 0].iloc[0]),
        "vertices": nodes[["x", "y", "z"]].to_numpy(np.float64).tolist(),
        "radius": np.nan_to_num(nodes.radius.to_numpy(np.float64)).tolist(),
        "compartment": [_SWC_TYPE.get(c, 0) for c in nodes.compartment],
        "lvl2_ids": [int(v) for v in sk.l2_ids],
    }


def swc_text(sk) -> str:
    """``SkeletonIO.export_to_swc`` layout: ``id type x y z radius parent`` in µm, ids from 0."""
    nodes = sk.nodes
    xyz = nodes[["x", "y", "z"]].to_numpy(np.float64) / 1000
    radius = np.nan_to_num(nodes.radius.to_numpy(np.float64)) / 1000
    kinds = [_SWC_TYPE.get(c, 0) for c in nodes.compartment]
    return "".join(f"{i} {t} {p[0]:.3f} {p[1]:.3f} {p[2]:.3f} {r:.3f} {q}\n"
                   for i, t, p, r, q in zip(nodes.node_id, kinds, xyz, radius, nodes.parent_id))


def _version(skvn: int) -> int:
    if skvn not in SKELETON_VERSIONS:
        raise ServiceError(400, f"Invalid skeleton version: v{skvn}. Valid versions: {SKELETON_VERSIONS}")
    return 4 if skvn == -1 else skvn


def _encoded(sk, fmt: str, version: int) -> bytes:
    if fmt == "flatdict":
        return gzip.compress(json.dumps(flatdict(sk, version)).encode())
    if fmt == "swccompressed":
        return gzip.compress(swc_text(sk).encode())
    raise ServiceError(501, f"the sample's skeleton service answers the formats 'flatdict' and "
                            f"'swccompressed' (caveclient's 'dict' and 'swc'), not {fmt!r}")


@bp.get(V1 + "/precomputed/skeleton/<int(signed=True):skvn>/<int:root_id>/<fmt>")
@bp.get(V1 + "/async/get_skeleton/<int(signed=True):skvn>/<int:root_id>/<fmt>")
def get_skeleton(datastack, skvn, root_id, fmt):
    check_datastack(datastack)
    version = _version(skvn)
    return Response(_encoded(skeleton_of(root_id), fmt, version), mimetype="application/octet-stream")


@bp.get(V1 + "/bulk/get_skeletons/<int(signed=True):skvn>/<fmt>/<gms>/<root_ids>")
def get_bulk_skeletons(datastack, skvn, fmt, gms, root_ids):
    check_datastack(datastack)
    version = _version(skvn)
    try:
        roots = [int(r) for r in root_ids.split(",") if r.strip()]
    except ValueError:
        raise ServiceError(400, f"root ids must be comma-separated integers, got {root_ids[:100]!r}") from None
    out = {}
    for root in roots:
        try:
            sk = skeleton_of(root)
        except ServiceError as err:
            if err.status != 404:
                raise
            out[str(root)] = "invalid_rid"
            continue
        if fmt == "swccompressed":  # caveclient un-hexes the bulk SWC without decompressing it
            out[str(root)] = binascii.hexlify(swc_text(sk).encode()).decode("ascii")
        else:
            out[str(root)] = binascii.hexlify(_encoded(sk, fmt, version)).decode("ascii")
    return jsonify(out)


#: the shapes of the routes above: a path of this shape reached the catch-all because a segment
#: is not an integer (Flask's int converters refused it), which is the client's mistake
_OUR_SHAPES = re.compile(r"[^/]+/(precomputed/skeleton/[^/]+/[^/]+/[^/]+|async/get_skeleton/[^/]+/[^/]+/[^/]+"
                         r"|bulk/get_skeletons/[^/]+/[^/]+/[^/]+/[^/]+)")


@bp.route("/api/v1/<path:rest>", methods=["GET", "POST"])
def not_in_sample(rest):
    if _OUR_SHAPES.fullmatch(rest):
        raise ServiceError(404, f"/skeletoncache/api/v1/{rest[:200]} not found: the skeleton version and the "
                                "root id must be integers (a root id at most 2**64 - 1)")
    raise ServiceError(501, f"the sample's skeleton service answers get_skeleton and get_bulk_skeletons "
                            f"(dict/swc) only; /skeletoncache/api/v1/{rest[:200]} is not part of it")
