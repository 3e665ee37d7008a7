"""JSON state service: post and get neuroglancer states (and segment-property documents).

States are files ``WORK_DIR/states/<id>.json``; ids count up from 1. The post answer is the JSON
string of the state's URL, which caveclient parses with ``re.search(r".*/(\\d+)")``.

Example::

    POST /nglstate/api/v1/post  {"layers": []}   -> "http://127.0.0.1:PORT/nglstate/api/v1/1"
    GET  /nglstate/api/v1/1                       -> {"layers": []}
"""

from __future__ import annotations

import threading
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, request

from ..._storage import atomic_write
from .app import ServiceError, parse_json

bp = Blueprint("json_state", __name__)

STATE_SERVICE_VERSION = "0.5.0"
_LOCK = threading.Lock()


def _store(kind: str) -> Path:
    path = Path(current_app.config["WORK_DIR"]) / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def _body_json() -> bytes:
    raw = request.get_data()
    parse_json(raw)  # stored as sent, but only if it is JSON
    return raw


#: state ids are 64-bit integers in the real state server; a longer one is no file name either
MAX_STATE_ID = 2**63 - 1


def _save(kind: str, raw: bytes, state_id: int | None = None) -> int:
    if state_id is not None and state_id > MAX_STATE_ID:
        raise ServiceError(400, f"state id {state_id} is out of range (at most {MAX_STATE_ID})")
    store = _store(kind)
    with _LOCK:  # ids must be unique across the server's threads
        if state_id is None:
            ids = [int(p.stem) for p in store.glob("*.json") if p.stem.isdigit()]
            state_id = max(ids, default=0) + 1
        atomic_write(store / f"{state_id}.json", raw, prefix=f".{state_id}-")  # never a half-written state
    return state_id


def _saved(kind: str, url_part: str, state_id: int | None = None) -> Response:
    """Save the request's JSON body; the answer is its URL as a JSON string, as the real server
    answers (caveclient reads the id off its end)."""
    state_id = _save(kind, _body_json(), state_id)
    return jsonify(f"{request.host_url.rstrip('/')}/nglstate/api/v1/{url_part}{state_id}")


def _load(kind: str, state_id: int) -> Response:
    path = _store(kind) / f"{state_id}.json"
    if state_id > MAX_STATE_ID or not path.exists():
        raise ServiceError(404, f"state {state_id} not found")
    return Response(path.read_bytes(), mimetype="application/json")


@bp.get("/api/v1/version")
def version():
    return jsonify(STATE_SERVICE_VERSION)


@bp.post("/api/v1/post")
@bp.post("/post")
def post_state():
    return _saved("states", "")


@bp.post("/api/v1/post/<int:state_id>")
def post_state_with_id(state_id: int):
    return _saved("states", "", state_id)


@bp.get("/api/v1/<int:state_id>")
@bp.get("/api/v1/raw/<int:state_id>")
@bp.get("/<int:state_id>")
@bp.get("/raw/<int:state_id>")
def get_state(state_id: int):
    return _load("states", state_id)


@bp.post("/api/v1/property/post")
def post_property():
    return _saved("properties", "property/")


@bp.post("/api/v1/property/post/<int:prop_id>")
def post_property_with_id(prop_id: int):
    return _saved("properties", "property/", prop_id)


@bp.get("/api/v1/property/<int:prop_id>/info")
@bp.get("/api/v1/property/raw/<int:prop_id>")
def get_property(prop_id: int):
    return _load("properties", prop_id)
