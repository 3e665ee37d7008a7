"""Error replies shaped per service, as each real CAVE service writes its errors.

- PyChunkedGraph (``/segmentation``, ``/meshing``) and PCGL2Cache (``/l2cache``):
  ``app/common.py`` ``api_exception``: ``{"timestamp", "duration", "code", "message"}`` with the
  message as ``ChunkedGraphAPIError.__str__`` writes it, ``"[400]: ..."``; their unhandled errors
  (``unhandled_exception``) add ``"traceback"``.
- SkeletonService (``/skeletoncache``): ``datasets/api.py`` ``return {"Error": str(e)}, 400``.
- MaterializationEngine and AnnotationEngine: an unhandled error is their namespaces'
  ``unhandled_exception``: ``{"code": 500, "message", "traceback"}``. So are their own refusals
  as deployed (the service's ``errors="real"`` mode, :func:`engine_refusal_body`): each engine
  registers a Flask-RESTx namespace handler for ``Exception`` before any other (AnnotationEngine
  ``annotationengine/api.py``; MaterializationEngine ``blueprints/client/api.py``, whose
  namespace is added before ``api2.py``'s, and Flask-RESTx ``Api._own_and_child_error_handlers``
  merges every namespace's handlers into one dict in that order), and ``Api.handle_error``
  answers with the first handler whose type matches: every ``flask.abort`` in a resource, 400
  included, becomes a 500 whose message is werkzeug's ``str(HTTPException)``,
  ``"413 Request Entity Too Large: <description>"``.
- The Flask-RESTx services otherwise (``abort`` / ``HTTPException``): ``{"message": ...}``; the
  sample answers the engines' refusals this way too by default (the status each ``abort`` names).
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
# the engines' Flask-RESTx namespaces (their version probes are plain Flask routes)
_ENGINE_NAMESPACES = ("/materialize/api/v2/", "/materialize/api/v3/", "/annotation/api/v2/")


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


def in_engine_namespace() -> bool:
    """Whether the request went to a MaterializationEngine or AnnotationEngine Flask-RESTx
    resource (whose errors all go through the namespace's ``Exception`` handler)."""
    return _path().startswith(_ENGINE_NAMESPACES)


def engine_refusal_body(err) -> dict:
    """The body of the 500 a deployed engine answers where it refuses with ``abort(status, message)``
    (``err`` a ``ServiceError``): its ``unhandled_exception`` of the ``HTTPException``, whose
    ``str()`` is ``"<status> <name>: <message>"``; where the real engine crashes on the same
    input instead (``err.crash``), that crash's message.

    Example::

        engine_refusal_body(ServiceError(413, "10000 -> The insertion limit is 10000, 10001 were ..."))
        # {"code": 500, "message": "413 Request Entity Too Large: 10000 -> ...", "traceback": [...]}
    """
    from werkzeug.http import HTTP_STATUS_CODES

    message = err.crash or f"{err.status} {HTTP_STATUS_CODES.get(err.status, 'Unknown Error')}: {err.message}"
    tb = traceback.format_exception(type(err), err, err.__traceback__)
    return {"code": 500, "message": message, "traceback": tb}
