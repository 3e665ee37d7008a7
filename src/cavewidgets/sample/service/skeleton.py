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
- ``GET /api/v1/{ds}/bulk/get_skeletons/{v}/{fmt}/{gms}/{root_ids}``: ``{root: hex}`` for at most
  10 roots, the hex of the gzip-compressed flatdict, or of the plain SWC text (as caveclient
  decodes them), ``"invalid_layer_rid"`` / ``"invalid_rid"`` for ids that are no roots.

The other formats (``json``, ``arrays``, their compressed forms, plain ``swc``, ``precomputed``)
are in :mod:`.skeleton_formats`; the cache routes (exists, cache contents, refusal list, bulk
generation, cached bulk fetch) in :mod:`.skeleton_cache`. Errors are ``{"Error": message}``, as
the real routes answer them. The skeletons are :func:`cavewidgets.morphology.skeleton_from_l2`
(pcg_skel's recipe) computed by the service from its own chunkedgraph and L2 cache, in nm, with
compartments labelled from the neuron's synapses (1 soma, 2 axon, 3 dendrite, 0 where the
synapses do not tell). The ``precomputed/skeleton/info`` routes and the format-less
``precomputed/skeleton/[{v}/]{root}`` ones make it a neuroglancer skeleton source, as the real one
is. Meshworks and H5 files answer 501 saying so.

Example::

    client.skeleton.get_skeleton(root_id, output_format="swc")
"""

from __future__ import annotations

import binascii
import re
import threading

from flask import Blueprint, Response, current_app, jsonify, request

from .app import ServiceError, app_singleton, datastack_meta
from .graph import get_graph
from .info import check_datastack
from .skeleton_formats import ATTRIBUTES, FORMATS, encode, swc_text

bp = Blueprint("skeleton", __name__)

#: SkeletonService ``skeletonservice/__init__.py`` ``__version__`` the routes were copied from
SKELETON_SERVICE_VERSION = "0.23.11"
#: ``service.py``: -1 latest, 0 neuroglancer, 1-4 the skeleton generations
SKELETON_VERSIONS = [-1, 0, 1, 2, 3, 4]
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

    check_root(root_id)
    cache = app_singleton("cavewidgets_skeletons", dict)
    with _CACHE_LOCK:
        hit = cache.get(root_id)
    if hit is not None:
        return hit
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


def skeleton_error(status: int, message: str) -> ServiceError:
    """An error as SkeletonService's routes answer one: ``{"Error": message}`` (``api.py``
    ``return {"Error": str(e)}, 400``).

    Example::

        raise skeleton_error(400, "Invalid skeleton version: v9. ...")
    """
    return ServiceError(status, message, body={"Error": message})


def version_of(skvn: int) -> int:
    """``get_version_specific_default_version``: -1 is the latest (4), 0 neuroglancer's (2).

    Example::

        version_of(-1)     # 4
    """
    if skvn not in SKELETON_VERSIONS:
        raise skeleton_error(400, f"Invalid skeleton version: v{skvn}. Valid versions: {SKELETON_VERSIONS}")
    return {-1: 4, 0: 2}.get(skvn, skvn)


def check_root(root_id: int) -> None:
    """400 unless ``root_id`` is a root of this datastack, with ``get_skeleton_by_datastack_and_rid_async``'s
    messages (the layer check first, then ``is_valid_nodes``).

    Example::

        check_root(864691135808230257)
    """
    if not 0 <= root_id < 2**64:
        raise skeleton_error(400, f"Invalid root id: {root_id} is not a uint64")
    graph = get_graph()
    if int(graph.layer_of([root_id])[0]) != graph.root_layer:
        raise skeleton_error(400, f"Invalid root id: {root_id} (perhaps this is an id corresponding to a "
                                  "different level of the PCG, e.g., a supervoxel id)")
    if not graph.known_roots([root_id])[0]:
        raise skeleton_error(400, f"Invalid root id: {root_id} (perhaps it doesn't exist; the error is unclear)")


def _reply(body, kind: str) -> Response:
    if kind == "json":
        response = jsonify(body)
    else:
        response = Response(body, mimetype=kind)
    # service.py ``_response_headers``
    response.headers["Content-Disposition"] = "attachment"
    return response


@bp.get(V1 + "/precomputed/skeleton/<int(signed=True):skvn>/<int:root_id>/<fmt>")
@bp.get(V1 + "/async/get_skeleton/<int(signed=True):skvn>/<int:root_id>/<fmt>")
def get_skeleton(datastack, skvn, root_id, fmt):
    check_datastack(datastack)
    if fmt == "none":  # ``gen_skeletons_via_msg``: no body, only a note that the work is queued
        version_of(skvn)
        return jsonify(f"Message has been dispatched to skeleton: {datastack} {root_id} skvn:{skvn} "
                       "(the sample computes skeletons when they are asked for; nothing is queued)")
    version = version_of(skvn)
    if fmt not in FORMATS:
        if fmt in ("h5", "meshwork", "meshwork_none"):
            raise skeleton_error(501, f"the sample's skeleton service does not write {fmt!r} files (the real "
                                      f"service reads them from its bucket); it answers {', '.join(FORMATS)}")
        # service.py asserts the format: an AssertionError, answered 500 {"Error": ""}
        raise skeleton_error(400, f"Unknown output format: {fmt!r}; the formats are {', '.join(FORMATS)}")
    check_root(root_id)
    body, kind = encode(skeleton_of(root_id), fmt, version, datastack_meta()["datastack"])
    return _reply(body, kind)


@bp.get(V1 + "/precomputed/skeleton/info", defaults={"skvn": 2})
@bp.get(V1 + "/precomputed/skeleton/<int(signed=True):skvn>/info")
def skeleton_info(datastack, skvn):
    """``SkeletonResource__skeleton_version_info_B``: neuroglancer's skeleton ``info`` of a
    version (1-4; v2, neuroglancer's, when none is named)."""
    check_datastack(datastack)
    if skvn not in ATTRIBUTES:
        raise skeleton_error(400, f"Invalid skeleton version: v{skvn}. Valid versions: {SKELETON_VERSIONS}")
    return jsonify({"@type": "neuroglancer_skeletons", "transform": [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0],
                    "vertex_attributes": ATTRIBUTES[skvn]})


@bp.get(V1 + "/precomputed/skeleton/<int:root_id>", defaults={"skvn": 2})
@bp.get(V1 + "/precomputed/skeleton/<int(signed=True):skvn>/<int:root_id>")
def get_precomputed_skeleton(datastack, skvn, root_id):
    """The routes neuroglancer reads a skeleton source through: the ``precomputed`` format."""
    return get_skeleton(datastack, skvn, root_id, "precomputed")


#: service.py: at most this many skeletons per synchronous bulk request (the rest are dropped)
MAX_BULK_SYNCHRONOUS_SKELETONS = 10


def bulk_format(fmt: str) -> str:
    """The bulk routes' format: ``json``/``swc`` become their compressed forms; others are a 400.

    Example::

        bulk_format("swc")     # 'swccompressed'
    """
    if fmt not in ("flatdict", "json", "swc", "jsoncompressed", "swccompressed"):
        raise skeleton_error(400, f"Unknown output format for bulk skeletons: {fmt!r}; the formats are "
                                  "flatdict, jsoncompressed and swccompressed")
    return fmt + "compressed" if fmt in ("json", "swc") else fmt


def bulk_hex(sk, fmt: str, version: int) -> str:
    """One skeleton of a bulk reply: the hex of the gzip-compressed flatdict / JSON, or of the
    plain SWC text (the service returns it uncompressed outside a request's own reply).

    Example::

        bulk_hex(sk, "flatdict", 4)
    """
    if fmt == "swccompressed":
        return binascii.hexlify(swc_text(sk).encode()).decode("ascii")
    body, _ = encode(sk, fmt, version, datastack_meta()["datastack"])
    return binascii.hexlify(body).decode("ascii")


def parse_root_list(text: str) -> list[int]:
    """Comma-separated root ids from a URL, or a 400.

    Example::

        parse_root_list("864691135808230257,864691135808230258")
    """
    try:
        ids = [int(r) for r in text.split(",") if r.strip()]
    except ValueError:
        raise skeleton_error(400, f"root ids must be comma-separated integers, got {text[:100]!r}") from None
    bad = [r for r in ids if not 0 <= r < 2**64]
    if bad:
        raise skeleton_error(400, f"root id {bad[0]} is not a uint64")
    return ids


@bp.get(V1 + "/bulk/get_skeletons/<int(signed=True):skvn>/<fmt>/<gms>/<root_ids>")
def get_bulk_skeletons(datastack, skvn, fmt, gms, root_ids):
    check_datastack(datastack)
    version = version_of(skvn)
    fmt = bulk_format(fmt)
    out = {}
    for root in parse_root_list(root_ids)[:MAX_BULK_SYNCHRONOUS_SKELETONS]:
        try:
            check_root(root)
        except ServiceError as err:
            out[str(root)] = "invalid_layer_rid" if "different level" in err.message else "invalid_rid"
            continue
        out[str(root)] = bulk_hex(skeleton_of(root), fmt, version)
    return jsonify(out)


#: the shapes of the routes above: a path of this shape reached the catch-all because a segment
#: is not an integer (Flask's int converters refused it), which is the client's mistake
_OUR_SHAPES = re.compile(r"[^/]+/(precomputed/skeleton/[^/]+/[^/]+/[^/]+|async/get_skeleton/[^/]+/[^/]+/[^/]+"
                         r"|bulk/get_skeletons/[^/]+/[^/]+/[^/]+/[^/]+)")


@bp.route("/api/v1/<path:rest>", methods=["GET", "POST"])
def not_in_sample(rest):
    if _OUR_SHAPES.fullmatch(rest):
        raise skeleton_error(404, f"/skeletoncache/api/v1/{rest[:200]} not found: the skeleton version and the "
                                  "root id must be integers (a root id at most 2**64 - 1)")
    raise skeleton_error(501, f"the sample's skeleton service answers get_skeleton, get_bulk_skeletons and the "
                              f"cache routes (exists, query_cache, get_refusal_list, gen_skeletons, "
                              f"get_cached_skeletons), not meshworks; "
                              f"/skeletoncache/api/v1/{rest[:200]} is not part of it")
