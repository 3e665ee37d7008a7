"""The skeleton service's cache routes, answered from the sample's skeletons made on request.

The real SkeletonService keeps a bucket of v4 H5 skeletons (``skeleton__v4__rid-{root}__ds-{ds}
__res-1x1x1__cs-True__cr-7500.h5.gz``) and generates missing ones on worker pods; these routes
report on that cache (CAVEconnectome/SkeletonService ``skeletonservice/datasets/api.py``,
``service.py``). The sample computes any root's skeleton when it is asked for, so its "cache"
holds every root it can skeletonize: each of them exists, is listed and is fetched; nothing is
refused and nothing is left to generate.

- ``skeletons_exist``: ``{root: bool}`` (a bare bool for one root);
- ``get_cache_contents``: ``{"num_found", "files"}`` with the H5 file names (v4 only: the cache
  stores no other version);
- ``get_refusal_list``: gzip-compressed CSV ``DATASTACK_NAME,ROOT_ID`` (its header only);
- ``generate_bulk_skeletons_async``: the upper estimate in seconds,
  ``ceil(n / 15 workers) * 60`` over the roots that would be queued;
- ``fetch_skeletons`` (``get_cached_skeletons``): ``{root: hex}`` for at most 500 roots, missing
  ones left out; its ``method="gcs"`` token route is a 501 (no Google Cloud Storage here).

Example::

    client.skeleton.skeletons_exist(root_ids=[root_a, root_b])     # {root_a: True, root_b: True}
"""

from __future__ import annotations

import gzip
import math

import numpy as np
from flask import Blueprint, Response, jsonify

from .app import request_json
from .graph import get_graph
from .info import check_datastack
from .skeleton import V1, bulk_format, bulk_hex, parse_root_list, skeleton_error, skeleton_of, version_of

bp = Blueprint("skeleton_cache", __name__)

#: service.py: the one version the cache stores
CACHED_VERSION = 4
#: service.py ``MAX_BULK_CACHED_SKELETONS``
MAX_BULK_CACHED_SKELETONS = 500
#: service.py ``generate_skeletons_bulk_by_datastack_and_rids_async``: workers and seconds per skeleton
_WORKERS, _SECONDS_PER_SKELETON = 15, 60


def skeletonizable(root_ids) -> np.ndarray:
    """Bool per id: a root of this datastack, so its skeleton is "in the cache".

    Example::

        skeletonizable([root_id, 5])     # array([ True, False])
    """
    ids = np.asarray([int(r) for r in root_ids], dtype=object)
    ok = np.array([0 <= r < 2**64 for r in ids], dtype=bool)
    out = np.zeros(len(ids), dtype=bool)
    if ok.any():
        out[ok] = get_graph().known_roots(ids[ok].astype(np.uint64))
    return out


def _ids(values, what: str = "root_ids") -> list[int]:
    if not isinstance(values, list):
        values = [values]
    try:
        return [int(v) for v in values]
    except (TypeError, ValueError):
        raise skeleton_error(400, f"{what} must be integers, got {values[:5]!r}") from None


def _body() -> dict:
    data = request_json(empty={})
    if not isinstance(data, dict) or "root_ids" not in data:
        raise skeleton_error(400, "the request body must be a JSON object with 'root_ids'")
    return data


def _exists(root_ids: list[int]):
    found = skeletonizable(root_ids)
    if len(root_ids) == 1:  # api.py: one root gets a bare bool
        return bool(found[0])
    return {str(r): bool(f) for r, f in zip(root_ids, found)}


@bp.post(V1 + "/precomputed/skeleton/exists")
def skeletons_exist(datastack):
    check_datastack(datastack)
    data = _body()
    if "skeleton_version" in data:
        version_of(_ids(data["skeleton_version"], "skeleton_version")[0])
    return jsonify(_exists(_ids(data["root_ids"])))


@bp.get(V1 + "/precomputed/skeleton/exists/<int(signed=True):skvn>/<root_ids>")
@bp.get(V1 + "/precomputed/skeleton/exists/<root_ids>", defaults={"skvn": 2})
def skeletons_exist_get(datastack, skvn, root_ids):
    check_datastack(datastack)
    version_of(skvn)
    return jsonify(_exists(parse_root_list(root_ids)))


@bp.get(V1 + "/precomputed/skeleton/query_cache/<int(signed=True):skvn>/<prefixes>/<int:limit>")
@bp.get(V1 + "/precomputed/skeleton/query_cache/<prefixes>/<int:limit>", defaults={"skvn": 2})
def get_cache_contents(datastack, skvn, prefixes, limit):
    check_datastack(datastack)
    version_of(skvn)
    wanted = [str(p) for p in parse_root_list(prefixes)]
    files = []
    if skvn == CACHED_VERSION:  # the cache lists one directory per version; only v4 has files
        roots = [str(int(r)) for r in get_graph().root_ids]
        for prefix in wanted:
            files += [f"skeleton__v{skvn}__rid-{r}__ds-{datastack}__res-1x1x1__cs-True__cr-7500.h5.gz"
                      for r in roots if r.startswith(prefix)]
    return jsonify({"num_found": len(files), "files": files[:limit] if limit else files})


@bp.get(V1 + "/precomputed/skeleton/get_refusal_list")
def get_refusal_list(datastack):
    check_datastack(datastack)
    # service.py: ``DataFrame.to_csv(index=False)`` of the list less its timestamps, gzip-compressed
    response = Response(gzip.compress(b"DATASTACK_NAME,ROOT_ID\n"), mimetype="application/octet-stream")
    response.headers["Content-Disposition"] = "attachment"
    return response


def _estimate(root_ids: list[int]) -> int:
    graph = get_graph()
    ids = [r for r in root_ids if 0 <= r < 2**64]
    exists = skeletonizable(ids)
    layers = graph.layer_of(np.asarray(ids, dtype=np.uint64)) if ids else np.zeros(0)
    queued = int(((~exists) & (layers == graph.root_layer)).sum())
    return math.ceil(queued / _WORKERS) * _SECONDS_PER_SKELETON


@bp.post(V1 + "/bulk/gen_skeletons")
def generate_bulk_skeletons(datastack):
    check_datastack(datastack)
    data = _body()
    version_of(_ids(data.get("skeleton_version", 0), "skeleton_version")[0])
    return jsonify(_estimate(_ids(data["root_ids"])))


@bp.get(V1 + "/bulk/gen_skeletons/<int(signed=True):skvn>/<root_ids>")
@bp.get(V1 + "/bulk/gen_skeletons/<root_ids>", defaults={"skvn": 0})
def generate_bulk_skeletons_get(datastack, skvn, root_ids):
    check_datastack(datastack)
    version_of(skvn)
    return jsonify(_estimate(parse_root_list(root_ids)))


@bp.post(V1 + "/bulk/get_cached_skeletons/<int(signed=True):skvn>/<fmt>")
def get_cached_skeletons(datastack, skvn, fmt):
    check_datastack(datastack)
    data = _body()
    roots = _ids(data["root_ids"])
    if len(roots) > MAX_BULK_CACHED_SKELETONS:
        raise skeleton_error(400, f"Too many root IDs requested: {len(roots)}. Maximum allowed is "
                                  f"{MAX_BULK_CACHED_SKELETONS}.")
    version, fmt = version_of(skvn), bulk_format(fmt)
    found = skeletonizable(roots)
    return jsonify({str(r): bulk_hex(skeleton_of(r), fmt, version) for r, f in zip(roots, found) if f})


@bp.post(V1 + "/bulk/get_skeleton_token/<int(signed=True):skvn>")
def get_skeleton_token(datastack, skvn):
    check_datastack(datastack)
    raise skeleton_error(501, "the sample keeps no skeleton bucket on Google Cloud Storage, so it has no "
                              "storage token to give; use fetch_skeletons(method='server') (the default)")
