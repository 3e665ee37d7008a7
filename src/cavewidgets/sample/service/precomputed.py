"""Static files of DATA_DIR/precomputed (blueprint mounted at ``/precomputed``).

Serves image, segmentation and mesh files the way a bucket does for cloud-volume and a
browser neuroglancer: GET and HEAD, single byte ``Range`` requests, CORS (added by the app),
and chunks that cloud-volume wrote gzip/brotli/zstd-compressed (``name.gz`` on disk) served
as ``name`` with the matching ``Content-Encoding``. Like the public MICrONS bucket, these files
need no token (see ``create_app``): cloud-volume and neuroglancer fetch them without one.

Example::

    GET /precomputed/segmentation/info
    GET /precomputed/segmentation/512_512_640/0-64_0-64_0-32     (Content-Encoding: gzip)
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, request, send_file

from .app import ServiceError, data_dir

bp = Blueprint("precomputed", __name__)

# on-disk suffix -> Content-Encoding (cloud-files' local compressed file names)
_ENCODINGS = {".gz": "gzip", ".br": "br", ".zstd": "zstd", ".zst": "zstd"}


def _resolve(subpath: str) -> tuple[Path, str | None]:
    """(file on disk, content encoding) for a request path; 404 if missing or outside root."""
    root = (data_dir() / "precomputed").resolve()
    clean = "/".join(part for part in subpath.split("/") if part)  # neuroglancer may send '//'
    try:
        target = (root / clean).resolve()
        if root != target and root not in target.parents:
            raise ServiceError(404, f"precomputed path {subpath[:200]!r} not found")
        if target.is_file():
            return target, None
        for suffix, encoding in _ENCODINGS.items():
            candidate = target.with_name(target.name + suffix)
            if candidate.is_file():
                return candidate, encoding
    except (ValueError, OSError):  # a NUL byte, a name longer than the file system allows
        pass
    raise ServiceError(404, f"precomputed file {clean[:200]!r} not found")


def _mimetype(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    if name == "info" or name.endswith(".json") or name == "provenance":
        return "application/json"
    return "application/octet-stream"


@bp.route("/<path:subpath>", methods=["GET", "HEAD"])
def serve(subpath):
    path, encoding = _resolve(subpath)
    response: Response = send_file(path, mimetype=_mimetype(subpath), conditional=True, etag=True,
                                   max_age=3600)
    if encoding:
        response.headers["Content-Encoding"] = encoding
    response.headers["Access-Control-Expose-Headers"] = "Content-Length, Content-Range, Content-Encoding, ETag"
    if request.method == "HEAD":
        response.direct_passthrough = False
    return response
