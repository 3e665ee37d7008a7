"""Error replies shaped per service, as each real CAVE service writes its errors.

- PyChunkedGraph (``/segmentation``, ``/meshing``) and PCGL2Cache (``/l2cache``):
  ``app/common.py`` ``api_exception``: ``{"timestamp", "duration", "code", "message"}`` with the
  message as ``ChunkedGraphAPIError.__str__`` writes it, ``"[400]: ..."``; their unhandled errors
  (``unhandled_exception``) add ``"traceback"``.
- SkeletonService (``/skeletoncache``): ``datasets/api.py`` ``return {"Error": str(e)}, 400``.
- MaterializationEngine and AnnotationEngine: an unhandled error is their namespaces'
  ``unhandled_exception``: ``{"code": 500, "message", "traceback"}``.
- The Flask-RESTx services otherwise (``abort`` / ``HTTPException``): ``{"message": ...}``.
- middle_auth_client (the token checks, before any service): ``{"error": api_code, "message"}``
  (``MACAuthorizationError.to_response``); :mod:`.app` answers those itself.

Every shape keeps a ``message`` (the skeleton service's ``Error``), which is what caveclient's
``raise_for_status`` puts in the exception it raises.

Example::

    error_body(404, "table 'foo' not found")      # {"message": "table 'foo' not found"} on /materialize
"""

from __future__ import annotations

import datetime as dt
import time
import traceback

from flask import g, has_request_context, request

_PCG_PREFIXES = ("/segmentation/", "/meshing/", "/l2cache/")
_ENGINE_PREFIXES = ("/materialize/", "/annotation/")


def mark_start() -> None:
    """Note the request's start (PyChunkedGraph's ``before_request``: its errors carry it)."""
    g.cavewidgets_t0 = time.time()
    g.cavewidgets_start = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _path() -> str:
    return request.path if has_request_context() else ""


def _pcg_stamp(status: int, message: str) -> dict:
    t0 = g.get("cavewidgets_t0") if has_request_context() else None
    now = time.time()
    return {"timestamp": g.get("cavewidgets_start") if has_request_context() else None,
            "duration": (now - (t0 or now)) * 1000, "code": status, "message": message}


def error_body(status: int, message: str) -> dict:
    """The JSON body of an error the service answers on purpose, in the request's service's shape.

    Example::

        error_body(400, "bad root id")       # {"timestamp": ..., "duration": ..., "code": 400,
                                             #  "message": "[400]: bad root id"} on /segmentation
    """
    path = _path()
    if path.startswith(_PCG_PREFIXES):
        return _pcg_stamp(status, f"[{status}]: {message}")
    if path.startswith("/skeletoncache/"):
        return {"Error": message}
    return {"message": message}


def unexpected_body(err: Exception) -> dict:
    """The JSON body of an unhandled error (500), in the request's service's shape.

    Example::

        unexpected_body(KeyError("x"))       # {"code": 500, "message": "'x'", "traceback": [...]}
    """
    path = _path()
    tb = traceback.format_exception(type(err), err, err.__traceback__)
    if path.startswith(_PCG_PREFIXES):
        return _pcg_stamp(500, str(err)) | {"traceback": tb}
    if path.startswith(_ENGINE_PREFIXES):
        return {"code": 500, "message": str(err), "traceback": tb}
    if path.startswith("/skeletoncache/"):
        return {"Error": str(err)}
    return {"message": str(err)}
