"""Info service: datastack and aligned-volume records, with URLs built from the request host.

URLs derive from the host the client used (``request.host_url``), so the same data directory works
on any port and from a browser that reaches the service through a proxy.

Example::

    GET /info/api/v2/datastack/full/minnie65_sample
    -> {"aligned_volume": {...}, "segmentation_source": "graphene://http://127.0.0.1:PORT/segmentation/table/sample_pcg", ...}
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from .app import ServiceError, all_stacks, current_stack, datastack_meta

bp = Blueprint("info", __name__)

INFO_SERVICE_VERSION = "4.8.0"
DEFAULT_VIEWER_SITE = "https://neuroglancer-demo.appspot.com"


def service_url() -> str:
    """Base URL of this service as the current request reached it (no trailing slash)."""
    return request.host_url.rstrip("/")


def check_datastack(name: str) -> dict:
    """datastack.json if ``name`` is the sample datastack, else ServiceError 404.

    Example::

        meta = check_datastack("minnie65_sample")
    """
    meta = datastack_meta()
    if name != meta["datastack"]:
        served = ", ".join(repr(st.meta["datastack"]) for st in all_stacks())
        raise ServiceError(404, f"datastack '{name}' not found (this service has {served})")
    return meta


def check_aligned_volume(name: str) -> dict:
    """datastack.json if ``name`` is the sample aligned volume, else ServiceError 404."""
    meta = datastack_meta()
    if name != meta["aligned_volume"]:
        served = ", ".join(repr(st.meta["aligned_volume"]) for st in all_stacks())
        raise ServiceError(404, f"aligned volume '{name}' not found (this service has {served})")
    return meta


def aligned_volume_info(stack=None) -> dict:
    """The aligned-volume record the info service returns (of the request's datastack by default)."""
    stack = stack or current_stack()
    meta = stack.meta
    return {
        "name": meta["aligned_volume"],
        "id": all_stacks().index(stack) + 1,
        "display_name": meta["aligned_volume"],
        "description": f"Generated sample volume of {meta['datastack']} (cavewidgets).",
        "image_source": f"precomputed://{service_url()}/{meta.get('image_dir', 'precomputed/image')}",
    }


def datastack_info() -> dict:
    """The full datastack record (``/info/api/v2/datastack/full/{ds}``), with exactly the keys of
    the info service's ``DataStackSchemaFull`` (AnnotationFrameworkInfoService
    ``datasets/schemas.py``): no ``datastack`` name, no ``base_link_id``.

    Example::

        datastack_info()["viewer_resolution_z"]  # e.g. 40.0
    """
    meta = datastack_meta()
    url = service_url()
    res = meta.get("viewer_resolution") or meta["segmentation_resolution"]
    return {
        "aligned_volume": aligned_volume_info(),
        "description": meta.get("description", "cavewidgets sample datastack (generated, offline)."),
        "local_server": url,
        "segmentation_source": f"graphene://{url}/segmentation/table/{meta['pcg_table']}",
        "skeleton_source": None,
        "soma_table": meta.get("soma_table"),
        "synapse_table": meta.get("synapse_table"),
        "analysis_database": None,
        "viewer_site": meta.get("viewer_site", DEFAULT_VIEWER_SITE),
        "viewer_resolution_x": float(res[0]),
        "viewer_resolution_y": float(res[1]),
        "viewer_resolution_z": float(res[2]),
        "proofreading_status_table": None,
        "proofreading_review_table": None,
        "cell_identification_table": None,
    }


@bp.get("/version")
def version():
    return jsonify(INFO_SERVICE_VERSION)


@bp.get("/api/v2/datastacks")
@bp.get("/api/datasets")
def datastacks():
    return jsonify([st.meta["datastack"] for st in all_stacks()])


@bp.get("/api/v2/datastack/full/<name>")
def datastack_full(name: str):
    check_datastack(name)
    return jsonify(datastack_info())


@bp.get("/api/v2/datastack/<name>/image_sources")
def image_sources(name: str):
    check_datastack(name)
    return jsonify([aligned_volume_info()])


@bp.get("/api/v2/aligned_volume")
def aligned_volumes():
    return jsonify([st.meta["aligned_volume"] for st in all_stacks()])


@bp.get("/api/v2/aligned_volume/<name>")
def aligned_volume(name: str):
    check_aligned_volume(name)
    return jsonify(aligned_volume_info())


@bp.get("/api/v2/aligned_volume/id/<int:av_id>")
def aligned_volume_by_id(av_id: int):
    stacks = all_stacks()
    if not 1 <= av_id <= len(stacks):
        raise ServiceError(404, f"aligned volume id {av_id} not found")
    return jsonify(aligned_volume_info(stacks[av_id - 1]))


@bp.get("/api/v2/aligned_volume/<name>/datastacks")
def aligned_volume_datastacks(name: str):
    check_aligned_volume(name)
    return jsonify([datastack_meta()["datastack"]])
