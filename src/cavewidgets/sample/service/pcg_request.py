"""Request parsing and JSON answers shared by the graph-side services (chunkedgraph, l2cache,
meshing): uint64 ids from paths, JSON bodies and binary bodies, timestamps, bounds, and JSON
written with exact 64-bit integers (optionally as strings, PyChunkedGraph's ``int64_as_str``).

Example::

    ids = ids_from_json_body("node_ids")
    return json_response({"is_latest": mask.tolist()})
"""

from __future__ import annotations

import gzip
import time

import numpy as np
import orjson
from flask import Response, request

from .app import ServiceError
from .graph import Graph, get_graph
from .timestamps import FIRST_SECOND, LAST_SECOND


#: gzip level of the PCG services' answers: theirs is cloud-files' default, 9; the encoding is the
#: contract (clients decode any level), and level 1 keeps the sample's CPU time down
GZIP_LEVEL = 1


def gzip_when_accepted(response: Response) -> Response:
    """PyChunkedGraph's and PCGL2Cache's ``after_request`` (``app/common.py``, registered by
    ``app/segmentation/v1/routes.py``, ``generic/routes.py``, ``app/meshing/v1/routes.py`` and
    PCGL2Cache ``app/v1/routes.py``): a 2xx answer without a ``Content-Encoding`` goes out
    gzip-compressed, with ``Content-Encoding: gzip`` and ``Vary: Accept-Encoding``, when the
    request accepts gzip (``requests``, hence caveclient and cloud-volume, always does; a
    browser's ``fetch`` cannot set the header, so the viewer's in-process requests never do).

    Example::

        bp.after_request(gzip_when_accepted)
    """
    if "gzip" not in request.headers.get("Accept-Encoding", "").lower():
        return response
    response.direct_passthrough = False
    if not 200 <= response.status_code < 300 or "Content-Encoding" in response.headers:
        return response
    response.set_data(gzip.compress(response.get_data(), compresslevel=GZIP_LEVEL))
    response.headers["Content-Encoding"] = "gzip"
    response.headers["Vary"] = "Accept-Encoding"
    return response


def graph_for_table(table_id: str) -> Graph:
    """The sample graph if ``table_id`` is its chunkedgraph table, else a 404."""
    graph = get_graph()
    expected = graph.meta.get("pcg_table")
    if table_id != expected:
        raise ServiceError(404, f"chunkedgraph table {table_id!r} not found (this service has {expected!r})")
    return graph


def parse_id(text: str, what: str = "node id") -> np.uint64:
    """One uint64 id from a URL path segment; 400 naming the bad value."""
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise ServiceError(400, f"{what} {text!r} is not an integer") from None
    if not 0 <= value < 2**64:
        raise ServiceError(400, f"{what} {text!r} is out of the uint64 range")
    return np.uint64(value)


def parse_id_list(values, what: str = "node_ids") -> np.ndarray:
    """A JSON list of ids (numbers or decimal strings) -> uint64 array, exactly; 400 if bad."""
    if not isinstance(values, list):
        raise ServiceError(400, f"{what} must be a list of ids, got {type(values).__name__}")
    for v in values:  # floats or bools would be silently truncated by numpy
        if isinstance(v, bool) or not isinstance(v, (int, str)):
            raise ServiceError(400, f"{what} contains {v!r}, which is not an integer id")
    try:
        return np.asarray(values, dtype=np.uint64).reshape(-1)
    except (OverflowError, ValueError) as err:
        raise ServiceError(400, f"{what} contains an invalid uint64 id: {err}") from None


def raw_body() -> bytes:
    """The request body, gunzipped when sent with ``Content-Encoding: gzip`` (cloud-volume
    compresses large ``roots_binary`` bodies)."""
    raw = request.get_data(cache=True)
    if "gzip" in request.headers.get("Content-Encoding", "").lower() and raw:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise ServiceError(400, f"request body is not valid gzip: {err}") from None
    return raw


def json_body() -> dict:
    """The request body parsed as a JSON object (GET bodies too, as caveclient sends them)."""
    raw = raw_body()
    if not raw:
        raise ServiceError(400, "request body is empty; expected a JSON object")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise ServiceError(400, f"request body is not valid JSON: {err}") from None
    if not isinstance(body, dict):
        raise ServiceError(400, "request body must be a JSON object")
    return body


def ids_from_json_body(key: str) -> np.ndarray:
    """``body[key]`` as a uint64 array; 400 if the key is missing or malformed."""
    body = json_body()
    if key not in body:
        raise ServiceError(400, f"request body has no {key!r} list")
    return parse_id_list(body[key], key)


def ids_from_binary_body() -> np.ndarray:
    """Raw little-endian uint64 ids (caveclient's ``roots_binary``)."""
    raw = raw_body()
    if len(raw) % 8:
        raise ServiceError(400, f"binary body has {len(raw)} bytes, not a multiple of 8 (uint64 ids)")
    return np.frombuffer(raw, dtype="<u8").astype(np.uint64)


def timestamp_arg(name: str = "timestamp", default: str | None = "now") -> float | None:
    """Seconds since the epoch from query parameter ``name`` (PyChunkedGraph's convention).

    ``default="now"`` answers the current time when absent; ``None`` answers None.
    """
    text = request.args.get(name)
    if text is None or text == "":
        return time.time() if default == "now" else (None if default is None else float(default))
    try:
        value = float(text)
    except ValueError:
        raise ServiceError(400, f"timestamp parameter {name}={text!r} is not a valid unix timestamp") from None
    if not np.isfinite(value):
        raise ServiceError(400, f"timestamp parameter {name}={text!r} is not finite")
    if not FIRST_SECOND <= value <= LAST_SECOND:
        # PyChunkedGraph reads it with datetime.fromtimestamp, which has no years beyond 1..9999
        raise ServiceError(400, f"timestamp parameter {name}={text[:40]!r} is out of range (years 1 to 9999)")
    return value


def int_arg(name: str, default: int | None = None) -> int | None:
    """An integer query parameter; 400 naming it when malformed."""
    text = request.args.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise ServiceError(400, f"parameter {name}={text!r} is not an integer") from None


def bool_arg(name: str, default: bool = False) -> bool:
    """A boolean query parameter (true/false/1/0/yes/no, any case)."""
    text = request.args.get(name)
    if text is None or text == "":
        return default
    low = text.strip().lower()
    if low in ("true", "1", "yes", "t"):
        return True
    if low in ("false", "0", "no", "f"):
        return False
    raise ServiceError(400, f"parameter {name}={text!r} is not a boolean")


def bounds_arg() -> np.ndarray | None:
    """``bounds=x0-x1_y0-y1_z0-z1`` (voxels) -> (3, 2) int array, or None when absent."""
    text = request.args.get("bounds")
    if not text:
        return None
    try:
        box = np.array([part.split("-") for part in text.split("_")], dtype=np.int64)
    except (ValueError, OverflowError):  # OverflowError: a bound beyond int64
        box = None
    if box is None or box.shape != (3, 2):
        raise ServiceError(400, f"bounds={text!r} is not of the form x0-x1_y0-y1_z0-z1")
    return box


def delimiter_arg() -> str:
    """``delimiter`` between date and time in ISO answers (one character, default a space)."""
    text = request.args.get("delimiter", " ")
    if len(text) != 1:
        raise ServiceError(400, f"parameter delimiter={text[:20]!r} must be a single character")
    return text


def _stringify(obj):
    """Every int (and uint64 array element) as a decimal string, recursively."""
    if isinstance(obj, dict):
        return {k: _stringify(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_stringify(v) for v in obj]
    if isinstance(obj, bool):
        return obj
    if isinstance(obj, int):
        return str(obj)
    return obj


def json_response(obj, status: int = 200, int64_as_str: bool | None = None) -> Response:
    """JSON with exact 64-bit integers (Python ints, never floats); ``int64_as_str`` from the
    query when not given, as PyChunkedGraph does."""
    if int64_as_str is None:
        int64_as_str = bool_arg("int64_as_str", False)
    if int64_as_str:
        obj = _stringify(obj)
    # orjson: ~10x faster than json for 10^5-entry answers, exact for ints up to 2**64 - 1
    return Response(orjson.dumps(obj), status=status, mimetype="application/json")


def ids_out(ids) -> list[int]:
    """uint64 array -> list of Python ints (exact in JSON)."""
    return np.asarray(ids, dtype=np.uint64).tolist()
