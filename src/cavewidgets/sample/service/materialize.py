"""Materialization service routes (``/materialize``), as caveclient 8.x calls them.

Versions come from ``datastack.json``; tables and queries from :mod:`.tables` and :mod:`.query`.
Both API generations are answered (``/api/v2/...`` and ``/api/v3/...``) because caveclient mixes
them: with API 3 it still asks ``/api/v2/.../tables`` and ``/api/v2/.../count``.

Example::

    client.materialize.query_table("nucleus_detection_v0", desired_resolution=[1000, 1000, 1000])
    # -> POST /materialize/api/v3/datastack/<ds>/version/<v>/table/nucleus_detection_v0/query
"""

from __future__ import annotations

import pyarrow as pa
from flask import Blueprint, Response, jsonify, request

from .app import ServiceError
from .graph import to_us
from .info import check_datastack
from .query import arrow_response, run_query
from .tables import get_store

bp = Blueprint("materialize", __name__)

# caveclient 8 refuses query_table below 5.13.0; filter_greater_dict etc. need >= 4.34.4
MATERIALIZE_SERVICE_VERSION = "5.13.0"
V = "/api/<any(v2, v3):api>/datastack/<datastack>"


def _flag(name: str) -> bool:
    return request.args.get(name, "false").strip().lower() in ("true", "1", "yes")


def _positive_arg(name: str) -> int | None:
    text = request.args.get(name)
    if text is None:
        return None
    if not text.isdigit() or int(text) < 1:
        raise ServiceError(400, f"{name} must be a positive integer, got {text!r}")
    return int(text)


def _json_body() -> dict:
    body = request.get_json(silent=True)
    if body is None:
        if request.get_data():
            raise ServiceError(400, "request body is not valid JSON")
        body = {}
    if not isinstance(body, dict):
        raise ServiceError(400, "request body must be a JSON object")
    return body


def _setup(datastack: str, version: int | None = None):
    check_datastack(datastack)
    store = get_store()
    if version is not None:
        store.version(version)  # 404 for an unknown version
    return store


@bp.get("/version")
def version():
    return jsonify(MATERIALIZE_SERVICE_VERSION)


@bp.get("/api/versions")
def api_versions():
    return jsonify([2, 3])


@bp.get(V + "/versions")
def versions(api, datastack):
    store = _setup(datastack)
    return jsonify([int(r["version"]) for r in store.versions(expired=_flag("expired"))])


@bp.get(V + "/version/<int(signed=True):version>")
def version_metadata(api, datastack, version):
    store = _setup(datastack, version)
    return jsonify(store.version_record(version))


@bp.get(V + "/metadata")
def versions_metadata(api, datastack):
    store = _setup(datastack)
    return jsonify([store.version_record(int(r["version"])) for r in store.versions(expired=_flag("expired"))])


@bp.get(V + "/version/<int(signed=True):version>/tables")
def tables(api, datastack, version):
    store = _setup(datastack, version)
    return jsonify(store.tables_at(version))


@bp.get(V + "/version/<int(signed=True):version>/tables/metadata")
def tables_metadata(api, datastack, version):
    store = _setup(datastack, version)
    return jsonify([store.metadata(t, version) for t in store.tables_at(version)])


@bp.get(V + "/version/<int(signed=True):version>/table/<table>/metadata")
def table_metadata(api, datastack, version, table):
    store = _setup(datastack, version)
    return jsonify(store.metadata(table, version))


@bp.get(V + "/version/<int(signed=True):version>/table/<table>/count")
def table_count(api, datastack, version, table):
    store = _setup(datastack, version)
    return jsonify(store.snapshot(table, version=version).num_rows)


@bp.post(V + "/version/<int(signed=True):version>/table/<table>/query")
def simple_query(api, datastack, version, table):
    store = _setup(datastack, version)
    body = _json_body()
    body["random_sample"] = _positive_arg("random_sample")
    result, names = run_query(store, [[table, None]], body, version=version)
    return _reply(result, names, body)


@bp.post(V + "/version/<int(signed=True):version>/query")
def join_query(api, datastack, version):
    store = _setup(datastack, version)
    body = _json_body()
    tables = body.get("tables")
    if not isinstance(tables, list) or not tables:
        raise ServiceError(400, "join query needs 'tables': [[table, join_column], ...]")
    if isinstance(tables[0], str):
        tables = [[tables[0], None]]
    for t in tables:
        if not (isinstance(t, list) and len(t) == 2 and isinstance(t[0], str)):
            raise ServiceError(400, f"each entry of 'tables' must be [table, join_column], got {t!r}")
        store.check_table(t[0], version)
    body["random_sample"] = _positive_arg("random_sample")
    result, names = run_query(store, tables, body, version=version)
    return _reply(result, names, body)


@bp.post("/api/v3/datastack/<datastack>/query")
def live_live_query(datastack):
    store = _setup(datastack)
    body = _json_body()
    table = body.get("table")
    if not isinstance(table, str):
        raise ServiceError(400, "live query needs 'table': the table name")
    if body.get("timestamp") is None:
        raise ServiceError(400, "live query needs 'timestamp'")
    try:
        ts = to_us(body["timestamp"]) / 1e6
    except ValueError as err:
        raise ServiceError(400, f"bad timestamp: {err}") from None
    store.check_table(table)
    tables = [[table, None]]
    joins = body.get("join_tables") or []
    if not isinstance(joins, list) or len(joins) > 1:
        raise ServiceError(400, "join_tables must be a list with one [table, column, other_table, column]")
    for join in joins:
        if not (isinstance(join, list) and len(join) == 4 and join[0] == table):
            raise ServiceError(400, f"each join must be [{table!r}, column, other_table, column], got {join!r}")
        store.check_table(join[2])
        tables[0][1] = join[1]
        tables.append([join[2], join[3]])
    result, names = run_query(store, tables, body, timestamp=ts)
    return _reply(result, names, body)


@bp.get("/api/v3/datastack/<datastack>/version/<int(signed=True):version>/views")
def views(datastack, version):
    _setup(datastack, version)
    return jsonify([])  # the sample has no views


@bp.get("/api/v3/datastack/<datastack>/version/<int(signed=True):version>/views/schemas")
def view_schemas(datastack, version):
    _setup(datastack, version)
    return jsonify({})


@bp.get("/api/v3/datastack/<datastack>/table/<table>/unique_string_values")
def unique_string_values(datastack, table):
    store = _setup(datastack)
    snap = store.snapshot(table)
    out = {}
    for name in snap.column_names:
        col = snap.column(name)
        if str(col.type) in ("string", "large_string"):
            out[name] = sorted(v for v in col.unique().to_pylist() if v is not None)
    return jsonify(out)


def _reply(result, names, body):
    if _flag("count"):  # query_table(get_counts=True) still parses the reply as Arrow
        result = pa.table({"count": pa.array([result.num_rows], pa.int64())})
        return arrow_response(result, {}, None)
    if request.args.get("return_pyarrow", "true").lower() == "false":
        # pandas writes int64 ids as exact JSON integers (no float detour)
        return Response(result.to_pandas().to_json(orient="records", date_format="iso"),
                        mimetype="application/json")
    return arrow_response(result, names, body.get("desired_resolution"))
