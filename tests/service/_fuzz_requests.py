"""Hypothesis strategies of hostile requests to the local CAVE service, one per route family.

Each strategy draws a :class:`Req`: method, path, query, body, how it authenticates, and what the
answer must be (``bad``: built to be wrong, so a 4xx; ``status``: the exact statuses allowed).
:func:`send` sends one and checks the answer; :data:`SENT` counts them per family.

Example::

    @given(req=materialize_requests(ids))
    def test_x(http, req):
        send(http, req, "materialize")
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import gzip
import json
import math
import re
import urllib.parse

import pyarrow as pa
import requests
from _contract import error_message
from hypothesis import strategies as st

DS = "minnie65_sample"
PCG = "sample_pcg"
MAT3 = f"/materialize/api/v3/datastack/{DS}"
ANN = f"/annotation/api/v2/aligned_volume/{DS}/table"
SEG = f"/segmentation/api/v1/table/{PCG}"
TABLES = ["nucleus_detection_v0", "aibs_metamodel_celltypes_v661", "functional_properties_v3_bcm",
          "proofreading_status_and_strategy", "synapses_pni_2"]
SMALL_TABLES = TABLES[:4]  # live queries build a whole snapshot per request: not the 550,000 synapses
COLUMNS = ["id", "created", "valid", "volume", "pt_position", "pt_root_id", "pt_supervoxel_id", "target_id",
           "cell_type", "classification_system", "status_axon", "valid_id", "size", "pre_pt_root_id",
           "post_pt_root_id", "ctr_pt_position", "bb_start_position", "session", "pref_ori"]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE"]

#: requests sent, per route family (read by the test that checks the total)
SENT: collections.Counter = collections.Counter()


@dataclasses.dataclass
class Req:
    """One request and what its answer must be."""

    method: str
    path: str  # already percent-encoded where needed
    params: dict | None = None
    data: bytes | str | None = None
    headers: dict = dataclasses.field(default_factory=dict)
    auth: str = "header"  # header, cookie, query (all valid), missing, wrong, malformed (not "Bearer ...")
    bad: bool = False  # built to be wrong: a 4xx
    status: frozenset | None = None  # exact statuses allowed, when known
    public: bool = False  # no token needed (precomputed files)


@dataclasses.dataclass
class Ids:
    """Real ids of the sample, so that some requests reach deep into the routes."""

    roots: list
    supervoxels: list
    l2s: list
    operations: list


# ---------------------------------------------------------------------------------- values

HOSTILE_ID_TEXTS = ["-1", "-9223372036854775809", str(2**64), str(2**64 + 12345), "1" + "0" * 40, "1.5", "1e3",
                    "nan", "inf", "-inf", "0x10", "12a", "abc", "١٢٣", "²", "9" * 5000, "1,2", "[1]", "true",
                    "null", "%00", "..", "~1", "1;2"]
EDGE_ID_TEXTS = ["0", "1", str(2**53 + 1), str(2**63 - 1), str(2**63), str(2**64 - 1), " 7", "+5", "007"]


def seg(text: str) -> str:
    """One path segment, percent-encoded (a '/' in it stays inside the segment; '.' and '..' are
    encoded too, or the client would resolve them away before sending)."""
    if text and set(text) == {"."}:
        return "%2E" * len(text)
    return urllib.parse.quote(text, safe="")


@functools.cache  # strategies are built once: building and validating them per draw costs
def hostile_id_texts() -> st.SearchStrategy[str]:
    """Path/query texts that are not a uint64 in decimal: a 4xx wherever an id is expected."""
    return st.one_of(st.sampled_from(HOSTILE_ID_TEXTS),
                     st.integers(min_value=2**64, max_value=2**200).map(str),
                     st.integers(max_value=-1).map(str),
                     st.floats(allow_nan=True, allow_infinity=True).map(repr),
                     st.text(min_size=1, max_size=12).filter(lambda t: not t.strip().isdigit()))


def int_takes(text: str) -> bool:
    """Whether Python's ``int`` reads ``text`` as a uint64, as PyChunkedGraph's ``int(node_id)`` does
    (it takes any Unicode decimal digits, ``'١٢٣'`` is 123): such an id is no error of the request."""
    try:
        return 0 <= int(text) < 2**64
    except ValueError:
        return False


@functools.cache
def id_texts(valid: tuple) -> st.SearchStrategy[tuple[str, bool]]:
    """(text, is_hostile) for an id in a path or query."""
    return st.one_of(
        st.sampled_from(valid).map(lambda v: (str(v), False)),
        st.sampled_from(EDGE_ID_TEXTS).map(lambda v: (v, False)),
        st.integers(min_value=0, max_value=2**64 - 1).map(lambda v: (str(v), False)),
        hostile_id_texts().map(lambda v: (v, True)),
    )


@functools.cache
def json_ids(valid: tuple) -> st.SearchStrategy:
    """One element of a JSON id list: real ids, edge ids, or anything else JSON holds."""
    return st.one_of(st.sampled_from(valid), st.sampled_from([0, 1, 2**63, 2**64 - 1, 2**64, -1, 2**100]),
                     st.integers(), st.sampled_from(valid).map(str), json_scalars())


@functools.cache
def json_scalars() -> st.SearchStrategy:
    return st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                     st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30))


@functools.cache
def json_values(max_leaves: int = 12) -> st.SearchStrategy:
    """Any JSON value (NaN and Infinity included: Python's json writes and reads them)."""
    return st.recursive(json_scalars(), lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=10), inner, max_size=5)),
        max_leaves=max_leaves)


def dumps(value) -> str:
    return json.dumps(value, allow_nan=True)


def _arrow_bytes() -> bytes:
    sink = pa.BufferOutputStream()
    table = pa.table({"id": pa.array([1, 2**63 - 1], pa.int64()), "t": ["a", "é"]})
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


ARROW = _arrow_bytes()
BAD_BODIES = [b"", b"{", b"[1, 2", b'{"a": }', b"\xff\xfe\x00garbage", b"\x00" * 64, "{" * 3000,
              "[" * 100_000, b'{"a": 1}{"b": 2}', b"\"unterminated", ARROW, ARROW[: len(ARROW) // 2],
              ARROW[8:], gzip.compress(b"{not json"), b"\x1f\x8b\x08garbage"]


@functools.cache
def bad_bodies() -> st.SearchStrategy:
    """Bodies that are not JSON at all: junk, truncated JSON, deep nesting, Arrow, gzip."""
    return st.one_of(st.sampled_from(BAD_BODIES), st.binary(min_size=1, max_size=200).filter(_not_json))


def _not_json(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except (ValueError, RecursionError):
        return True
    return False


@functools.cache
def wrong_shape_bodies() -> st.SearchStrategy[str]:
    """JSON that is not an object: a 400 wherever a JSON object is expected."""
    return st.one_of(json_scalars(), st.lists(json_values(6), max_size=4)).map(dumps)


@functools.cache
def timestamps() -> st.SearchStrategy[str]:
    """Query-string timestamps: epoch seconds, ISO text, and things that are neither."""
    return st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                     st.integers(min_value=-(2**70), max_value=2**70).map(str),
                     st.sampled_from(["", "now", "2024-01-01", "2024-01-01T00:00:00Z", "1e300", "-1e300", "0",
                                      "1700000000", "1700000000.5", "nan", "9" * 400]),
                     st.text(max_size=10))


@functools.cache
def query_args(names: tuple) -> st.SearchStrategy[dict]:
    """Some of ``names`` as query parameters with hostile or plain values."""
    values = st.one_of(st.sampled_from(["", "true", "false", "1", "0", "t", "yes", "²", "-1", "1e9", "nan",
                                        "99999999999999999999", "a" * 300, "[1]", "1-2_3-4_5-6",
                                        "0-64_0-64_0-8", "1-2", "--_--_--"]), st.text(max_size=8))
    return st.dictionaries(st.sampled_from(names), values, max_size=len(names))


# ---------------------------------------------------------------------------------- sending


#: what must never be served from outside precomputed/ (datastack.json, the annotation database)
SECRETS = (b'"pcg_table"', b"SQLite format 3", b'"generator_version"')


def send(session: requests.Session, base: str, token: str, req: Req, family: str) -> requests.Response:
    """Send ``req`` and check its answer: no 5xx but 501, no traceback, a JSON ``message`` on every
    4xx, the exact status or family the request was built for.

    Example::

        send(http, url, token, Req("GET", "/info/version"), "info")
    """
    headers = dict(req.headers)
    params = dict(req.params or {})
    cookies = {}
    if req.auth == "header":
        headers["Authorization"] = f"Bearer {token}"
    elif req.auth == "cookie":
        cookies["middle_auth_token"] = token
    elif req.auth == "query":
        params["middle_auth_token"] = token
    elif req.auth == "wrong":
        headers["Authorization"] = f"Bearer {token[::-1]}x"
    elif req.auth == "malformed":  # the right token, the wrong scheme
        headers["Authorization"] = f"Token {token}"
    resp = session.request(req.method, base + req.path, params=params, data=req.data, headers=headers,
                           cookies=cookies, timeout=120, allow_redirects=False)
    SENT[family] += 1
    what = f"{req.method} {req.path[:200]} params={str(params)[:200]} body={str(req.data)[:200]} auth={req.auth}"
    body = resp.text
    status = resp.status_code
    assert status < 500 or status == 501, f"{status} for {what}: {body[:400]}"
    assert "Traceback (most recent call last)" not in body, f"traceback for {what}: {body[:400]}"
    if req.public:
        assert not any(s in resp.content for s in SECRETS), f"a file outside precomputed/ for {what}"
    if status >= 400 and req.method != "HEAD":
        try:
            message = error_message(resp.json())
        except ValueError:
            message = None
        assert message, f"{status} without a JSON message for {what}: {body[:400]}"
    if status == 308 and "//" in urllib.parse.unquote(req.path):
        return resp  # werkzeug merges an empty path segment (a decoded %2F) by redirecting, as real CAVE's Flask does
    expected = _expected(req)
    if expected is not None:
        assert status in expected, f"{status} (expected {sorted(expected)}) for {what}: {body[:400]}"
    elif req.bad:
        assert 400 <= status < 500, f"{status} (expected a 4xx) for {what}: {body[:400]}"
    return resp


def _expected(req: Req) -> frozenset | None:
    if req.method == "OPTIONS":
        return frozenset({204})  # CORS preflights are answered before anything else
    if req.auth in ("missing", "wrong") and not (req.public and req.method in ("GET", "HEAD")):
        return frozenset({401})
    if req.auth == "malformed" and not (req.public and req.method in ("GET", "HEAD")):
        return frozenset({400})  # middle_auth_client: "Authorization header must begin with 'Bearer'"
    return req.status


# ---------------------------------------------------------------------------------- dressing


AUTH_MODES = st.sampled_from(["header"] * 10 + ["cookie", "query", "missing", "wrong", "malformed"])


@st.composite
def dressed(draw, base: st.SearchStrategy[Req], unused=("PATCH", "TRACE")) -> Req:
    """``base`` requests, sometimes with a missing or wrong token, another valid way of carrying it
    (cookie, query), or a method no route of the family answers (``unused``)."""
    req = draw(base)
    req.auth = draw(AUTH_MODES)
    if draw(st.integers(0, 9)) == 0 and not req.public:
        # 405, or 404 when a hostile segment took the path off every route
        req.method = draw(st.sampled_from(unused))
        req.status = frozenset({405, 404})
    return req


# ---------------------------------------------------------------------------------- families


@st.composite
def info_requests(draw) -> Req:
    name = draw(st.one_of(st.just(DS), st.text(min_size=1, max_size=30), st.sampled_from(["..", "%2e%2e", "a/b"])))
    ok = name == DS
    kind = draw(st.integers(0, 6))
    if kind == 0:
        return Req("GET", f"/info/api/v2/datastack/full/{seg(name)}", bad=not ok)
    if kind == 1:
        return Req("GET", f"/info/api/v2/datastack/{seg(name)}/image_sources", bad=not ok)
    if kind == 2:
        return Req("GET", f"/info/api/v2/aligned_volume/{seg(name)}", bad=not ok)
    if kind == 3:
        return Req("GET", f"/info/api/v2/aligned_volume/{seg(name)}/datastacks", bad=not ok)
    if kind == 4:
        text, hostile = draw(id_texts((1,)))
        return Req("GET", f"/info/api/v2/aligned_volume/id/{seg(text)}", bad=text != "1")
    path = draw(st.sampled_from(["/info/version", "/info/api/v2/datastacks", "/info/api/datasets",
                                 "/info/api/v2/aligned_volume"]))
    return Req("GET", path, public=path == "/info/version")  # the version probe takes no token


@st.composite
def schema_requests(draw) -> Req:
    name = draw(st.one_of(st.sampled_from(["bound_tag", "synapse", "cell_type_local"]), st.text(max_size=20)))
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return Req("GET", f"/schema/api/v2/type/{seg(name)}",
                   bad=name not in ("bound_tag", "synapse", "cell_type_local"))
    if kind == 1:
        names = draw(st.lists(st.one_of(st.just("bound_tag"), st.text(max_size=10)), max_size=4))
        return Req("POST", "/schema/api/v2/types", params={"schema_names": ",".join(names)})
    return Req("GET", draw(st.sampled_from(["/schema/versions", "/schema/version", "/schema/api/v2/type"])))


@st.composite
def state_requests(draw) -> Req:
    kind = draw(st.integers(0, 4))
    prefix = draw(st.sampled_from(["/nglstate/api/v1", "/nglstate/api/v1/property"]))
    if kind == 0:
        return Req("POST", f"{prefix}/post", data=draw(bad_bodies()), bad=True,
                   headers={"Content-Type": "application/json"})
    if kind == 1:  # any JSON is a state (the real server stores what it gets)
        return Req("POST", f"{prefix}/post", data=dumps(draw(json_values())))
    text, _ = draw(id_texts((1, 2, 3)))
    # werkzeug's int converter takes any decimal digits (also '١٢٣', as real CAVE's Flask); a BIGINT
    fits = len(text) < 30 and re.fullmatch(r"\d+", text) is not None and int(text) < 2**63
    if kind == 2:
        path = f"{prefix}/raw/{seg(text)}" if prefix.endswith("property") else f"{prefix}/{seg(text)}"
        return Req("GET", path, bad=not fits)
    data = draw(st.one_of(bad_bodies(), st.just("{}")))
    return Req("POST", f"{prefix}/post/{seg(text)}", data=data, bad=data != "{}" or not fits)


_FILTER_KEYS = st.lists(st.sampled_from(["filter_in_dict", "filter_notin_dict", "filter_equal_dict",
                                        "filter_greater_dict", "filter_less_dict", "filter_spatial_dict",
                                        "filter_regex_dict", "filter_out_dict"]), max_size=2, unique=True)
_FILTER_COLUMNS = st.dictionaries(st.sampled_from(COLUMNS) | st.text(max_size=8), json_values(6), max_size=2)
_SELECT = st.one_of(st.lists(st.sampled_from(COLUMNS) | json_scalars(), max_size=4), json_values(4))
_RESOLUTION = st.one_of(st.lists(st.floats(allow_nan=True, allow_infinity=True) | st.integers(), max_size=4),
                        json_values(3))
_LIMIT = st.one_of(st.integers(min_value=0, max_value=50), st.integers(max_value=-1), st.floats(allow_nan=True),
                   st.sampled_from([True, "10", [5], None]))


@st.composite
def query_bodies(draw, tables: list[str]) -> tuple[dict, bool]:
    """A materialization query body: (body, built_to_be_wrong)."""
    body: dict = {}
    bad = False
    names = tables + draw(st.lists(st.text(max_size=10), max_size=1))
    for key in draw(_FILTER_KEYS):
        cols = draw(_FILTER_COLUMNS)
        body[key] = draw(st.one_of(st.just({draw(st.sampled_from(names)): cols}), json_values(4)))
    if draw(st.booleans()):
        body["select_columns"] = draw(_SELECT)
    if draw(st.integers(0, 4)) == 0:
        body["desired_resolution"] = draw(_RESOLUTION)
    if draw(st.integers(0, 4)) == 0:
        body["suffixes"] = draw(json_values(4))
    if draw(st.integers(0, 4)) == 0:
        body["offset"] = draw(st.one_of(st.integers(min_value=-5, max_value=2**70), json_scalars()))
    limit = draw(_LIMIT)
    body["limit"] = limit
    if isinstance(limit, bool) or not isinstance(limit, int) and limit is not None or (
            isinstance(limit, int) and limit < 0):
        bad = True
    if limit is None:
        body["limit"] = 10  # no uncapped queries of the 550,000 synapses: the time is the CI's
    return body, bad


_VERSIONS = st.one_of(st.sampled_from(["1", "2"]).map(lambda v: (v, False)),
                      st.sampled_from(["0", "3", "-1", str(2**64), "1.0", "x", "9" * 23]).map(lambda v: (v, True)))


@st.composite
def materialize_requests(draw) -> Req:
    kind = draw(st.integers(0, 9))
    version, hostile_version = draw(_VERSIONS)
    table = draw(st.one_of(st.sampled_from(TABLES), st.text(min_size=1, max_size=20)))
    known = table in TABLES
    api = draw(st.sampled_from(["v2", "v3"]))
    base = f"/materialize/api/{api}/datastack/{DS}"
    args = draw(query_args(("count", "random_sample", "arrow_format", "return_pyarrow", "direct_sql_pandas",
                            "split_positions", "expired")))
    bad_args = "random_sample" in args and not (args["random_sample"].isascii() and args["random_sample"].isdigit()
                                                and int(args["random_sample"]) >= 1)
    if kind == 0:
        sub = draw(st.sampled_from(["", "/tables", "/tables/metadata", f"/table/{seg(table)}/metadata",
                                    f"/table/{seg(table)}/count"]))
        return Req("GET", f"{base}/version/{seg(version)}{sub}", params=args,
                   bad=hostile_version or ("table/" in sub and not known))
    if kind == 1:
        return Req("GET", f"{base}/{draw(st.sampled_from(['versions', 'metadata']))}", params=args)
    if kind in (2, 3, 4):  # simple query
        if draw(st.integers(0, 3)) == 0:
            # (no body at all is an empty query, as the real engine reads it)
            data, bad = draw(st.one_of(bad_bodies().filter(lambda b: b != b""), wrong_shape_bodies())), True
        else:
            body, bad = draw(query_bodies([table]))
            data = dumps(body)
        return Req("POST", f"{MAT3}/version/{seg(version)}/table/{seg(table)}/query", params=args, data=data,
                   headers={"Content-Type": "application/json"},
                   bad=bad or hostile_version or not known or bad_args)
    if kind == 5:  # join query
        pair = draw(st.lists(st.sampled_from(TABLES[:3]), min_size=1, max_size=3))
        tables = draw(st.one_of(st.just([[t, draw(st.sampled_from(["id", "target_id", "x"]))] for t in pair]),
                                json_values(6)))
        body, bad = draw(query_bodies(pair))
        body["tables"] = tables
        return Req("POST", f"{MAT3}/version/{seg(version)}/query", params=args, data=dumps(body),
                   headers={"Content-Type": "application/json"}, bad=bad or hostile_version or bad_args)
    if kind == 6:  # live query
        small = draw(st.one_of(st.sampled_from(SMALL_TABLES), st.text(max_size=10)))
        body, bad = draw(query_bodies([small]))
        body["table"] = draw(st.one_of(st.just(small), json_scalars()))
        body["timestamp"] = draw(st.one_of(st.just("2026-01-01T00:00:00"), st.floats(allow_nan=True),
                                           st.sampled_from([math.inf, -math.inf, math.nan, 1e300, -1e300, True,
                                                            "inf", "9999-12-31T23:59:59", "0001-01-01", ""]),
                                           st.integers(min_value=-(2**70), max_value=2**70), json_values(3)))
        if draw(st.booleans()):
            body["join_tables"] = draw(st.one_of(
                st.just([[small, "target_id", "nucleus_detection_v0", "id"]]), json_values(6)))
        return Req("POST", f"{MAT3}/query", params=args, data=dumps(body),
                   headers={"Content-Type": "application/json"}, bad=bad)
    view = draw(st.one_of(st.just("nucleus_detection_lookup_v1"), st.text(max_size=12)))
    views = f"{MAT3}/version/{seg(version)}/views"
    if kind == 7:
        sub = draw(st.sampled_from(["", "/schemas", f"/{seg(view)}/schema", f"/{seg(view)}/metadata"]))
        unknown_view = view != "nucleus_detection_lookup_v1" and "/" in sub[1:]
        return Req("GET", views + sub, bad=hostile_version or unknown_view)
    if kind == 8:
        body, bad = draw(query_bodies([view]))
        return Req("POST", f"{views}/{seg(view)}/query", params=args, data=dumps(body),
                   headers={"Content-Type": "application/json"},
                   bad=bad or hostile_version or view != "nucleus_detection_lookup_v1")
    return Req("GET", f"{MAT3}/table/{seg(table)}/unique_string_values", bad=not known)


@functools.cache
def _position() -> st.SearchStrategy:
    return st.lists(st.integers(min_value=0, max_value=2000) | st.floats(allow_nan=False, allow_infinity=False,
                                                                        min_value=0, max_value=2000),
                    min_size=3, max_size=3)


@functools.cache
def _bad_rows() -> st.SearchStrategy[list]:
    """Annotation batches of ``bound_tag`` rows with at least one row that cannot be valid."""
    good = st.fixed_dictionaries({"pt": st.fixed_dictionaries({"position": _position()}), "tag": st.text(max_size=20)})
    broken = st.one_of(
        st.fixed_dictionaries({"pt": st.fixed_dictionaries({"position": st.one_of(
            st.lists(json_scalars(), max_size=5), json_values(4)).filter(lambda p: not _is_point(p))}),
            "tag": st.text(max_size=5)}),
        st.fixed_dictionaries({"pt": st.fixed_dictionaries({"position": _position()}),
                               "tag": st.one_of(st.integers(), st.lists(st.text(), max_size=2), st.booleans())}),
        st.fixed_dictionaries({"tag": st.text(max_size=5)}),
        json_scalars(), st.lists(json_scalars(), max_size=3),
    )
    return st.tuples(st.lists(good, max_size=3), broken, st.lists(good, max_size=3)).map(lambda t: t[0] + [t[1]] + t[2])


def _is_point(p) -> bool:
    return (isinstance(p, list) and len(p) == 3
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and _finite(v) for v in p))


def _finite(v) -> bool:
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


@functools.cache
def hostile_annotation_ids(kept: tuple) -> st.SearchStrategy:
    """Annotation ids no row of the fuzzing's kept table has (or that are not ids at all)."""
    return st.one_of(st.integers(min_value=10**6, max_value=2**63 - 1), st.integers(max_value=0),
                     st.integers(min_value=2**63, max_value=2**80),
                     json_scalars().filter(lambda v: not isinstance(v, int) or isinstance(v, bool)))


@st.composite
def annotation_requests(draw, keep_table: str, kept: list[int]) -> Req:
    kind = draw(st.integers(0, 9))
    other = draw(st.one_of(st.sampled_from(TABLES[:2]), st.text(min_size=1, max_size=15)))
    json_ct = {"Content-Type": "application/json"}
    if kind == 0:
        return Req("GET", draw(st.sampled_from([ANN, f"{ANN}/{keep_table}", f"{ANN}/{keep_table}/count",
                                                f"{ANN}/{seg(other)}", f"{ANN}/{seg(other)}/count"])))
    if kind == 1:  # create a table: any name and metadata (a valid one is created: fine, it is new)
        body = draw(st.fixed_dictionaries({
            "table_name": st.one_of(st.text(max_size=30), json_scalars(), st.just(keep_table)),
            "schema_type": st.one_of(st.sampled_from(["bound_tag", "cell_type_reference", "synapse"]), json_scalars()),
            "metadata": st.one_of(json_values(8), st.fixed_dictionaries({
                "description": st.one_of(st.text(max_size=10), json_scalars()),
                "voxel_resolution_x": json_scalars(), "voxel_resolution_y": st.just(4),
                "voxel_resolution_z": st.just(40),
                "table_metadata": json_values(4)}))}))
        return Req("POST", ANN, data=dumps(body), headers=json_ct)
    if kind == 2:  # update a table's metadata: never the kept rows, at most its description
        body = {"table_name": draw(st.one_of(st.just(keep_table), st.sampled_from(TABLES[:2]), json_scalars())),
                "metadata": draw(st.one_of(json_values(6),
                                           st.fixed_dictionaries({"description": st.text(max_size=10)})))}
        return Req("PUT", ANN, data=dumps(body), headers=json_ct)
    if kind == 3:  # delete tables that are not the kept one
        name = draw(st.one_of(st.sampled_from(TABLES[:2]), unknown_tables()))
        return Req("DELETE", f"{ANN}/{seg(name)}", bad=True)
    if kind == 4:
        text = draw(st.one_of(st.lists(st.one_of(st.sampled_from(kept), st.integers()).map(str),
                                       max_size=5).map(",".join),
                              st.text(max_size=20), st.sampled_from(["9223372036854775808", "1,,2", ",", "1e3"])))
        table = draw(st.sampled_from([keep_table, TABLES[0], TABLES[1]]) | st.text(min_size=1, max_size=10))
        return Req("GET", f"{ANN}/{seg(table)}/annotations", params={"annotation_ids": text})
    if kind in (5, 6):  # post to the kept table: always a batch with a bad row -> nothing written
        batch = draw(st.one_of(_bad_rows(), st.just([])))
        data = draw(st.one_of(st.just(dumps({"annotations": batch})), bad_bodies(), wrong_shape_bodies(),
                              json_values(6).filter(lambda v: not _maybe_valid_batch({"annotations": v}))
                              .map(lambda v: dumps({"annotations": v}))))
        return Req("POST", f"{ANN}/{keep_table}/annotations", data=data, headers=json_ct, bad=True)
    if kind == 7:  # update in the kept table: ids it does not have, or rows that are bad
        rows = draw(st.lists(st.fixed_dictionaries({
            "id": hostile_annotation_ids(tuple(kept)), "pt": st.fixed_dictionaries({"position": _position()}),
            "tag": st.text(max_size=5)}), min_size=1, max_size=3))
        return Req("PUT", f"{ANN}/{keep_table}/annotations", data=dumps({"annotations": rows}), headers=json_ct,
                   bad=True)
    if kind == 8:  # delete from the kept table: ids it does not have
        ids = draw(st.one_of(st.lists(hostile_annotation_ids(tuple(kept)), max_size=6),
                             json_values(4).filter(lambda v: not _names_small_ids(v)),
                             st.integers(min_value=1, max_value=50_000).map(lambda n: list(range(10**7, 10**7 + n)))))
        return Req("DELETE", f"{ANN}/{keep_table}/annotations", data=dumps({"annotation_ids": ids}),
                   headers=json_ct, bad=True)
    # writes to sample tables (403) and unknown ones (404), with any body
    table = draw(st.one_of(st.sampled_from(TABLES), unknown_tables()))
    method = draw(st.sampled_from(["POST", "PUT", "DELETE"]))
    data = draw(st.one_of(bad_bodies(), st.just(dumps({"annotations": [{"pt": {"position": [1, 2, 3]}, "tag": "x"}]})),
                          st.just(dumps({"annotation_ids": [1]}))))
    return Req(method, f"{ANN}/{seg(table)}/annotations", data=data, headers=json_ct, bad=True)


@functools.cache
def unknown_tables() -> st.SearchStrategy[str]:
    """Names no table can have (created names are lower-cased), so writes to them are a 404."""
    return st.text(max_size=12).map(lambda t: "X" + t)


def _names_small_ids(value) -> bool:
    # 1..10**6 may be rows of the kept table (and the tests' own posts)
    return isinstance(value, list) and any(type(v) is int and 0 < v < 10**6 for v in value)


def _maybe_valid_batch(body) -> bool:
    rows = body.get("annotations") if isinstance(body, dict) else None
    return isinstance(rows, list) and bool(rows) and all(
        isinstance(r, dict) and isinstance(r.get("tag"), str) and isinstance(r.get("pt"), dict)
        and _is_point(r["pt"].get("position")) for r in rows)


@st.composite
def chunkedgraph_requests(draw, ids: Ids) -> Req:
    kind = draw(st.integers(0, 9))
    every = tuple(ids.roots + ids.supervoxels + ids.l2s)
    args = draw(query_args(("timestamp", "stop_layer", "bounds", "int64_as_str", "delimiter", "latest",
                            "filtered", "timestamp_past", "timestamp_future", "as_binary")))
    if draw(st.booleans()):
        args["timestamp"] = draw(timestamps())
    text, hostile = draw(id_texts(every))
    hostile = hostile and not int_takes(text)  # node 123 of a layer without children has none: a 200
    json_ct = {"Content-Type": "application/json"}
    if kind in (0, 1):
        sub = draw(st.sampled_from(["root", "leaves", "children", "lvl2_graph"]))
        return Req("GET", f"{SEG}/node/{seg(text)}/{sub}", params=args, bad=hostile)
    if kind == 2:
        sub = draw(st.sampled_from(["last_edit", "tabular_change_log", "change_log", "merge_log", "lineage_graph"]))
        return Req("GET", f"{SEG}/root/{seg(text)}/{sub}", params=args, bad=hostile)
    if kind in (3, 4):  # JSON id lists
        path, method, key = draw(st.sampled_from([
            ("roots", "POST", "node_ids"), ("node/leaves_many", "POST", "node_ids"),
            ("is_latest_roots", "POST", "node_ids"), ("root_timestamps", "POST", "node_ids"),
            ("lineage_graph_multiple", "POST", "root_ids"), ("valid_nodes", "GET", "node_ids"),
            ("tabular_change_log_many", "GET", "root_ids"), ("past_id_mapping", "GET", "root_ids")]))
        if draw(st.integers(0, 3)) == 0:
            return Req(method, f"{SEG}/{path}", params=args, data=draw(st.one_of(bad_bodies(), wrong_shape_bodies())),
                       headers=json_ct, bad=True)
        values = draw(st.one_of(st.lists(json_ids(every), max_size=6), json_values(4),
                                st.sampled_from([list(range(1, 200_000)), [-1] * 10_000, ["x"] * 10_000])))
        data = dumps({draw(st.sampled_from([key, key, "ids", ""])): values})
        return Req(method, f"{SEG}/{path}", params=args, data=data, headers=json_ct)
    if kind == 5:  # raw uint64 bodies, maybe gzip-declared
        raw = draw(st.one_of(st.binary(max_size=80), st.just(b"\xff" * 8 * 1000),
                             st.lists(st.sampled_from(ids.supervoxels), max_size=5).map(
                                 lambda v: b"".join(int(x).to_bytes(8, "little") for x in v))))
        headers = draw(st.sampled_from([{}, {"Content-Encoding": "gzip"},
                                        {"Content-Type": "application/octet-stream"}]))
        if headers.get("Content-Encoding") == "gzip" and draw(st.booleans()):
            raw = gzip.compress(raw)
        return Req("POST", f"{SEG}/roots_binary", params=args, data=raw, headers=headers)
    if kind == 6:
        op_ids = draw(st.one_of(st.lists(st.sampled_from(ids.operations) | st.integers(), max_size=4).map(dumps),
                                st.text(max_size=20), st.sampled_from(["[" * 3000, "null", "{}", "[1.5]", "NaN"])))
        return Req("GET", f"{SEG}/operation_details", params={**args, "operation_ids": op_ids})
    if kind == 7:
        path = draw(st.sampled_from(["delta_roots", "user_operations", "oldest_timestamp"]))
        extra = {k: draw(timestamps()) for k in draw(st.lists(st.sampled_from(
            ["timestamp_past", "timestamp_future", "start_time", "end_time"]), max_size=4, unique=True))}
        return Req("GET", f"{SEG}/{path}", params={**args, **extra})
    if kind == 8:  # edits: the sample is read-only
        path = draw(st.sampled_from(["merge", "split", "undo", "redo", "graph/split_preview"]))
        return Req("POST", f"{SEG}/{path}", data=draw(st.one_of(bad_bodies(), st.just("{}"))), bad=True)
    table = draw(st.one_of(st.just(PCG), st.text(min_size=1, max_size=12)))
    return Req("GET", f"/segmentation/table/{seg(table)}/info", bad=table != PCG)


@st.composite
def l2cache_requests(draw, ids: Ids) -> Req:
    if draw(st.integers(0, 4)) == 0:
        return Req("GET", draw(st.sampled_from(["/l2cache/api/versions", "/l2cache/api/v1/attribute_metadata",
                                                "/l2cache/api/v1/table_mapping"])))
    names = draw(st.one_of(st.lists(st.sampled_from(["rep_coord_nm", "size_nm3", "pca", "area_nm2", "x", ""]),
                                    max_size=4).map(",".join), st.text(max_size=10)))
    table = draw(st.one_of(st.just(PCG), st.text(min_size=1, max_size=8)))
    if draw(st.integers(0, 3)) == 0:
        data, bad = draw(st.one_of(bad_bodies(), wrong_shape_bodies())), True
    else:
        values = draw(st.one_of(st.lists(json_ids(tuple(ids.l2s)), max_size=6), json_values(4)))
        data, bad = dumps({draw(st.sampled_from(["l2_ids", "l2_ids", "node_ids"])): values}), False
    return Req("POST", f"/l2cache/api/v1/table/{seg(table)}/attributes", params={"attribute_names": names},
               data=data, headers={"Content-Type": "application/json"}, bad=bad or table != PCG)


@st.composite
def meshing_requests(draw, ids: Ids) -> Req:
    text, hostile = draw(id_texts(tuple(ids.roots + ids.l2s + ids.supervoxels)))
    args = draw(query_args(("verify", "prepend_seg_ids", "return_seg_ids", "bounds", "int64_as_str")))
    data = draw(st.one_of(st.none(), bad_bodies(), st.just(dumps({"start_layer": 2, "return_seg_ids": "true",
                                                                  "return_seg_chunk_coordinates": 1})),
                          json_values(4).map(dumps)))
    lod = draw(st.sampled_from([":0", ":0", ":1", "", ":x"]))
    return Req("GET", f"/meshing/api/v1/table/{PCG}/manifest/{seg(text)}{lod}", params=args, data=data,
               bad=hostile or lod != ":0")


PATH_TRICKS = ["..", "%2e%2e", "%2E%2E", "..%2f..", "%2e%2e%2f", "....//", "..\\..", "%252e%252e", ".%2e", "~",
               "%00", "info%00", "a" * 300, "%2fetc%2fpasswd", "/etc/passwd", "", ".", "%c0%ae%c0%ae", "é",
               "\u202e", "CON", "info?x", "%3f"]


@st.composite
def precomputed_requests(draw) -> Req:
    parts = draw(st.lists(st.one_of(st.sampled_from(PATH_TRICKS), st.sampled_from(["segmentation", "image", "info"]),
                                    st.text(max_size=8).map(seg)), min_size=1, max_size=6))
    escapes = draw(st.booleans())
    if escapes:  # enough '..' to leave precomputed/ and a target outside it
        parts = draw(st.sampled_from([["..", ".."], ["%2e%2e", "%2e%2e"], ["..%2f.."],
                                      ["segmentation", "..", "..", ".."]]))
        parts += [draw(st.sampled_from(["datastack.json", "service/annotations.sqlite", "COMPLETE",
                                        "tables/metadata.json"]))]
    headers = draw(st.sampled_from([{}, {"Range": "bytes=0-10"}, {"Range": "bytes=99999999-"}, {"Range": "bytes=abc"},
                                    {"Range": "bytes=5-1"}, {"If-None-Match": "*"}, {"Accept-Encoding": "gzip, br"}]))
    path = "/precomputed/" + "/".join(parts)
    # raw '..' is resolved by the client (then the path may leave /precomputed: 401 without a
    # token, 400 with a malformed Authorization header)
    return Req(draw(st.sampled_from(["GET", "GET", "HEAD"])), path, headers=headers, public=True,
               status=frozenset({404, 401, 400}) if escapes else None)


@st.composite
def skeleton_requests(draw, ids: Ids) -> Req:
    # never a real root: a real skeleton takes seconds to build (the skeleton tests cover those)
    text = draw(st.one_of(hostile_id_texts(), st.sampled_from(["0", "1", str(2**63), str(2**64 - 1)]),
                          st.sampled_from(ids.supervoxels).map(str)))
    version = draw(st.sampled_from(["4", "-1", "0", "5", "-2", "99999999999999999999", "x"]))
    fmt = draw(st.sampled_from(["flatdict", "swccompressed", "json", "", "..", "précomputed"]))
    base = f"/skeletoncache/api/v1/{seg(draw(st.sampled_from([DS, DS, 'other', '..'])))}"
    kind = draw(st.integers(0, 3))
    if kind == 0:
        # a real format on a well-formed path is a 4xx for these ids (none is a root)
        # (an id holding '/' takes the path off the route's shape: a 501 too)
        known_shape = fmt in ("flatdict", "swccompressed", "json") and "/" not in text
        return Req("GET", f"{base}/precomputed/skeleton/{seg(version)}/{seg(text)}/{seg(fmt)}",
                   status=frozenset(range(400, 500)) if known_shape else None)
    if kind == 1:
        roots = ",".join(draw(st.lists(st.one_of(hostile_id_texts(), st.sampled_from(["1", str(2**63)])),
                                       min_size=1, max_size=4)))
        return Req("GET", f"{base}/bulk/get_skeletons/{seg(version)}/{seg(fmt)}/true/{seg(roots)}")
    if kind == 2:
        return Req("GET", f"{base}/{seg(draw(st.text(max_size=10)))}/{seg(text)}")
    return Req("GET", draw(st.sampled_from(["/skeletoncache/api/version", "/skeletoncache/api/versions"])))


@st.composite
def stray_requests(draw) -> Req:
    """Paths no route has, under each service prefix and outside them: 404 (or 401 without a token)."""
    prefix = draw(st.sampled_from(["/info", "/schema", "/nglstate", "/materialize", "/annotation", "/segmentation",
                                   "/l2cache", "/meshing", "", "/api", "/static"]))
    tail = "/".join(seg(t) for t in draw(st.lists(st.text(min_size=1, max_size=10), min_size=1, max_size=4)))
    return Req(draw(st.sampled_from(METHODS)), f"{prefix}/zz{tail}", status=frozenset({404, 405}),
               data=draw(st.one_of(st.none(), bad_bodies())))
