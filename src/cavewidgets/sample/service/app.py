"""The local CAVE-compatible service: a Flask app over one or more sample datastacks.

Like a real CAVE deployment (one server, several datastacks), one app serves every datastack
registered with it: the first is given to :func:`create_app`, more are added with
:func:`add_datastack`. Each request belongs to the datastack whose datastack, aligned-volume or
chunkedgraph-table name first appears in its URL path (the precomputed files of an added one sit
under ``/precomputed/<datastack>/``); routes that name none (schema, state, versions) belong to
the first. :func:`data_dir`, :func:`datastack_meta` and :func:`app_singleton` answer for the
request's datastack.

Each CAVE service lives in its own module (``info``, ``schema``, ``state``, ``materialize``,
``annotation``, ``chunkedgraph``, ``l2cache``, ``meshing``, ``precomputed``) exposing a Flask
``bp`` blueprint; :mod:`.routes` registers them all in one place.

Example::

    app = create_app(data_dir, token="0123abcd" * 4)
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask, Response, current_app, g, has_request_context, jsonify, request
from werkzeug.exceptions import HTTPException


#: the largest request body the service reads (a 413 above it, before reading it): real CAVE's
#: ingress-nginx refuses bodies above ``proxy-body-size: 10m`` (CAVEdeployment
#: ``kubetemplates/ingress.yml``; cave-helm-charts' ``proxyBodySize`` default) with its own 413
#: before a service sees them. caveclient's biggest bodies are raw uint64 ids (8 bytes each: 1.3
#: million fit) and 10,000-row annotation batches (~1 MB)
MAX_BODY_BYTES = 10 * 2**20

# Read-only static data (image, segmentation, meshes) is public, like the MICrONS bucket:
# cloud-volume reads the graphene ``data_dir`` with a plain HTTP client that carries no token.
PUBLIC_PREFIXES = ("/precomputed/",)
# The info service's version probe takes no token (AnnotationFrameworkInfoService
# ``datasets/views.py`` ``get_version`` has no ``auth_required``): ``CAVEclient()`` asks it before
# the user has saved a token, as the authentication tutorial does.
PUBLIC_PATHS = frozenset({"/info/version"})


class ServiceError(Exception):
    """An error answered the way CAVE answers it: an HTTP status and a JSON ``message``.

    Example::

        raise ServiceError(404, "table 'foo' not found in version 3")
    """

    def __init__(self, status: int, message: str, body: dict | None = None, crash: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.body = body  # the reply's JSON object where a route answers its own shape
        # where the real engine does not abort but crashes on the same input (e.g. a missing
        # table's metadata read as None), the message of that crash: its 500 carries this text
        self.crash = crash


def parse_json(raw: bytes | str, what: str = "request body"):
    """``raw`` read as JSON, or a 400 naming ``what``: not JSON, not UTF-8, or nested too deeply
    for the parser (``[[[[...`` raises RecursionError, which is no reason for a 500).

    Example::

        parse_json(request.get_data())          # {"annotations": [...]}
        parse_json("[[[" * 10000)              # ServiceError 400
    """
    try:
        return json.loads(raw)
    except ValueError as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ServiceError(400, f"{what} is not valid JSON: {err}") from None
    except RecursionError:
        raise ServiceError(400, f"{what} is nested too deeply to be read as JSON") from None


def request_json(what: str = "request body", empty=None):
    """The request body read as JSON (whatever its Content-Type, as the graph services read it);
    ``empty`` when there is no body.

    Example::

        body = request_json(empty={})
    """
    raw = request.get_data()
    return empty if not raw else parse_json(raw, what)


def new_token() -> str:
    """A random token shaped like CAVE's (32 hex characters; cloud-volume checks the shape)."""
    return secrets.token_hex(16)


def request_token() -> str | None:
    """The token a request carries, the ways CAVE accepts one, in middle_auth_client's order
    (``decorators.py`` ``auth_required``): the header over the query parameter over the cookie."""
    auth = request.headers.get("Authorization")
    if auth is not None and auth.startswith("Bearer "):
        return auth.split(" ")[1]
    return request.args.get("middle_auth_token") or request.cookies.get("middle_auth_token")


def bad_auth_header() -> bool:
    """An ``Authorization`` header that is not ``Bearer <token>``: middle_auth_client answers 400."""
    auth = request.headers.get("Authorization")
    return auth is not None and not auth.startswith("Bearer ")


_SINGLETON_LOCK = threading.Lock()
_STACKS_LOCK = threading.Lock()


@dataclass
class Stack:
    """One served datastack: its sample build, its writable work directory, ``datastack.json``
    and the objects built for it (caches, databases)."""

    data_dir: Path
    work_dir: Path
    meta: dict
    extensions: dict = field(default_factory=dict)

    @property
    def names(self) -> set:
        """The names that pick this datastack in a URL."""
        return {self.meta["datastack"], self.meta["aligned_volume"], self.meta["pcg_table"]}


def _load_stack(data_dir, work_dir) -> Stack:
    path = Path(data_dir)
    work = Path(work_dir) if work_dir is not None else path / "service"
    work.mkdir(parents=True, exist_ok=True)
    return Stack(path, work, json.loads((path / "datastack.json").read_text()))


def add_datastack(app: Flask, data_dir, work_dir=None) -> str:
    """Serve one more sample datastack from ``app``; returns its name.

    ``work_dir`` defaults to ``data_dir / "service"``. Adding the same build again is a no-op;
    another build under a name the app already serves is a ValueError.

    Example::

        app = create_app(minnie_dir, token); add_datastack(app, fly_dir)   # 'flywire_sample'
    """
    stack = _load_stack(data_dir, work_dir)
    with _STACKS_LOCK:
        stacks = app.config["STACKS"]
        for other in stacks:
            clash = other.names & stack.names
            if clash:
                if other.data_dir.resolve() == stack.data_dir.resolve():
                    return other.meta["datastack"]
                raise ValueError(f"this service already serves {sorted(clash)} from {other.data_dir}")
        app.config["STACKS"] = [*stacks, stack]  # replaced, not mutated: requests read it unlocked
    return stack.meta["datastack"]


def all_stacks() -> list[Stack]:
    """Every datastack the running app serves, the first (default) one first."""
    return list(current_app.config["STACKS"])


def current_stack() -> Stack:
    """The datastack of the current request (the first one outside a request)."""
    stacks = current_app.config["STACKS"]
    if not has_request_context():
        return stacks[0]
    stack = g.get("cavewidgets_stack")
    if stack is None:
        stack = stacks[0]
        if len(stacks) > 1:
            by_name = {name: st for st in stacks for name in st.names}
            stack = next((by_name[p] for p in request.path.split("/") if p in by_name), stacks[0])
        g.cavewidgets_stack = stack
    return stack


def app_singleton(key: str, factory):
    """One object per served datastack, built on first use (requests run on several threads).

    Example::

        db = app_singleton("cavewidgets_annotations", lambda: AnnotationDB(path))
    """
    ext = current_stack().extensions
    obj = ext.get(key)
    if obj is None:
        with _SINGLETON_LOCK:
            obj = ext.get(key)
            if obj is None:
                obj = ext[key] = factory()
    return obj


def data_dir() -> Path:
    """The sample data directory of the request's datastack."""
    return current_stack().data_dir


def work_dir() -> Path:
    """The writable directory of the request's datastack (annotation database)."""
    return current_stack().work_dir


def datastack_meta() -> dict:
    """``datastack.json`` of the request's datastack."""
    return current_stack().meta


#: how the engines (``/materialize``, ``/annotation``) answer their own refusals: ``"sample"``
#: with the status each ``abort`` names, ``"real"`` as the deployed engines do (a 500, see errors.py)
ERROR_MODES = ("sample", "real")


def _positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _set_limits(app: Flask, query_limit, insert_limit, errors: str) -> None:
    if query_limit is not None:
        app.config["QUERY_LIMIT_SIZE"] = _positive("query_limit", query_limit)
    if insert_limit is not None:
        app.config["INSERTION_LIMIT"] = _positive("insert_limit", insert_limit)
    if errors not in ERROR_MODES:
        raise ValueError(f"errors must be one of {ERROR_MODES}, got {errors!r}")
    app.config["ENGINE_ERRORS"] = errors


def create_app(data_dir: str | Path, token: str, *, work_dir: str | Path | None = None,
               query_limit: int | None = None, insert_limit: int | None = None,
               errors: str = "sample") -> Flask:
    """Build the service app for ``data_dir``; every request must carry ``token``.

    ``work_dir`` holds what the service writes (annotation database, posted states); it defaults
    to ``data_dir / "service"``. ``query_limit`` is the materialization row cap (default: the
    real ``QUERY_LIMIT_SIZE``, 200,000) and ``insert_limit`` the annotation engine's rows per
    POST (default: the real ``insertion_limit``, 10,000); tests pass small ones to run the same
    code paths. ``errors="real"`` answers the engines' refusals (404, 413, 422, ...) as the
    deployed engines do, with a 500 (:func:`.errors.engine_refusal_body`); the default
    ``"sample"`` keeps the status each refusal names.

    Example::

        app = create_app(data_dir, token, errors="real", insert_limit=5)
    """
    from . import errors as bodies
    from . import routes

    app = Flask("cavewidgets.sample.service")
    _set_limits(app, query_limit, insert_limit, errors)  # bad options fail before anything is written
    app.config["DATA_DIR"] = str(data_dir)
    app.config["WORK_DIR"] = str(work_dir or Path(data_dir) / "service")
    Path(app.config["WORK_DIR"]).mkdir(parents=True, exist_ok=True)
    app.config["STACKS"] = [_load_stack(data_dir, app.config["WORK_DIR"])]
    app.config["TOKEN"] = token
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False

    @app.before_request
    def _check_token():
        bodies.mark_start()
        if request.method == "OPTIONS":
            return _cors(Response(status=204))
        if request.method in ("GET", "HEAD") and request.path.startswith(PUBLIC_PREFIXES):
            return None  # static volume files: cloud-volume's http reader sends no token
        if request.method in ("GET", "HEAD") and request.path in PUBLIC_PATHS:
            return None
        if bad_auth_header():
            return _cors(jsonify(error="bad_auth_header", message="Authorization header must begin with 'Bearer'")), 400
        # middle_auth_client's MACAuthorizationError bodies: no token, or one it does not know
        token = request_token()
        if not token:
            return _cors(jsonify(error="no_token", message="Unauthorized - No Token Provided")), 401
        if token != current_app.config["TOKEN"]:
            return _cors(jsonify(error="invalid_token", message="Unauthorized - Token is Invalid or Expired")), 401
        return None

    @app.after_request
    def _add_cors(response):
        return _cors(response)

    # error bodies in each service's own shape (errors.py); all keep the message caveclient shows
    @app.errorhandler(ServiceError)
    def _service_error(err: ServiceError):
        if app.config["ENGINE_ERRORS"] == "real" and 400 <= err.status < 500 and bodies.in_engine_namespace():
            return jsonify(bodies.engine_refusal_body(err)), 500
        body = err.body if err.body is not None else bodies.error_body(err.status, err.message)
        return jsonify(body), err.status

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        message = err.description
        if err.code == 413:  # MAX_CONTENT_LENGTH: refused from the Content-Length, unread
            message = (f"request body of {request.content_length} bytes is larger than this service reads "
                       f"({MAX_BODY_BYTES} bytes)")
        return jsonify(bodies.error_body(err.code, message)), err.code

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):  # still a JSON message: caveclient shows it to the user
        current_app.logger.exception("unhandled error")
        return jsonify(bodies.unexpected_body(err)), 500

    routes.register(app)
    return app


def _cors(response: Response) -> Response:
    # neuroglancer in the browser reads precomputed files and chunkedgraph routes cross-origin
    origin = request.headers.get("Origin")
    response.headers["Access-Control-Allow-Origin"] = origin or "*"
    if origin:
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Vary"] = "Origin"
    # preflights get back what they ask for (neuroglancer's fetches may add headers)
    requested = request.headers.get("Access-Control-Request-Headers")
    response.headers["Access-Control-Allow-Headers"] = requested or "Authorization, Content-Type, Range"
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, DELETE, OPTIONS"
    return response
