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
from flask import Blueprint, Response, current_app, jsonify, request

from .app import ServiceError, request_json
from .timestamps import to_us
from .info import check_datastack
from .query import add_warnings, arrow_response, run_query
from .tables import get_store
from .views import ViewStore

bp = Blueprint("materialize", __name__)

#: MaterializationEngine ``materializationengine/config.py``: ``QUERY_LIMIT_SIZE = 200000``; the
#: app's ``QUERY_LIMIT_SIZE`` config overrides it (tests use a small cap on the same code path)
QUERY_LIMIT_SIZE = 200000
#: ``blueprints/client/common.py``: ``sql_query_warning`` (sent unless ``direct_sql_pandas``)
SQL_QUERY_WARNING = ("Query was executed using streaming via CSV, which can mangle types.\n"
                     "Please upgrade to caveclient > 8.0.0 to avoid type mangling.\n"
                     "Because you may have been affected by mangled types, this change is breaking, "
                     "but it should provide an improved experience.")
#: ``common.py`` ``generate_complex_query_dataframe``: its own text for the same thing
COMPLEX_SQL_WARNING = ("Using non-pandas query execution is deprecated\nas it can mangle types,\n"
                       "please upgrade caveclient to >=8.0.0 to use pandas\nfor improved type handling.")
#: ``blueprints/client/utils.py`` ``create_query_response``: sent when ``arrow_format`` is false
ARROW_FORMAT_WARNING = ("Response is in pyarrow IPC format. If you encounter a parsing error, "
                        "please upgrade CAVEClient to >=5.9.0 with: pip install --upgrade caveclient. "
                        "To suppress this warning, pass arrow_format=True in your query parameters.")

# caveclient 8 refuses query_table below 5.13.0; filter_greater_dict etc. need >= 4.34.4
MATERIALIZE_SERVICE_VERSION = "5.13.0"
V = "/api/<any(v2, v3):api>/datastack/<datastack>"


def _flag(name: str) -> bool:
    return request.args.get(name, "false").strip().lower() in ("true", "1", "yes")


def query_limit() -> int:
    """The running app's row cap (MaterializationEngine's ``QUERY_LIMIT_SIZE``)."""
    return int(current_app.config.get("QUERY_LIMIT_SIZE") or QUERY_LIMIT_SIZE)


def _capped_limit(body: dict, *, count: bool = False) -> int | None:
    """The limit the real engine applies (``common.py`` ``generate_simple_query_dataframe``):
    the user's limit, at most ``QUERY_LIMIT_SIZE``; none at all for ``count=True``."""
    limit = body.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ServiceError(400, f"limit must be a non-negative integer, got {limit!r}")
    if count:
        return None
    return query_limit() if limit is None else min(limit, query_limit())


def _positive_arg(name: str) -> int | None:
    text = request.args.get(name)
    if text is None:
        return None
    # isascii: str.isdigit() is also true for '²' and '١', which int() refuses or reads as digits
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ServiceError(400, f"{name} must be a positive integer, got {text!r}")
    return int(text)


def _json_body() -> dict:
    body = request_json(empty={})
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
    body["limit"] = _capped_limit(body, count=_flag("count"))
    _default_resolution(store, body, table)
    result, names = run_query(store, [[table, None]], body, version=version)
    # common.py generate_simple_query_dataframe: cap warning, owner notices, SQL warning
    warnings = cap_warning(result, body["limit"]) + _notices(store, [table], version)
    if not _flag("direct_sql_pandas"):
        warnings.append(SQL_QUERY_WARNING)
    return _reply(result, names, body, warnings, count=_flag("count"))


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
    # common.py generate_complex_query_dataframe: capped the same way, but never a count
    body["limit"] = _capped_limit(body)
    _default_resolution(store, body, tables[-1][0])
    result, names = run_query(store, tables, body, version=version)
    warnings = _notices(store, [t[0] for t in tables], version)
    if not _flag("direct_sql_pandas"):
        warnings.append(COMPLEX_SQL_WARNING)
    return _reply(result, names, body, warnings + cap_warning(result, body["limit"]))


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
    # api2.py assemble_live_query_dataframe: limit = min(QUERY_LIMIT_SIZE, user limit), no count
    limit = body["limit"] = _capped_limit(body)
    _default_resolution(store, body, table)
    result, names = run_query(store, tables, body, timestamp=ts)
    warnings = []
    if result.num_rows >= limit:
        # api2.py execute_materialized_query, verbatim (the f-string's backslash continuation
        # keeps the next line's indentation inside the message)
        warnings.append(f"result has {result.num_rows} entries, which is equal or more "
                        f"        than limit of {limit} there may be more results which are not shown")
    if not _flag("direct_sql_pandas"):
        warnings.append(SQL_QUERY_WARNING)
    return _reply(result, names, body, warnings)


VIEWS = "/api/v3/datastack/<datastack>/version/<int(signed=True):version>/views"


@bp.get(VIEWS)
def views(datastack, version):
    store = _setup(datastack, version)
    vs = ViewStore(store)
    # api2.py AvailableViews: {table_name: {"id", "description"}}
    out = {}
    for name in vs.names():
        md = vs.metadata(name, version)
        out[name] = {"id": md["id"], "description": md["description"]}
    return jsonify(out)


@bp.get(VIEWS + "/schemas")
def view_schemas(datastack, version):
    store = _setup(datastack, version)
    vs = ViewStore(store)
    if not vs.names():
        return jsonify({}), 404  # api2.py ViewSchemas: ``return {}, 404`` without views
    return jsonify({name: vs.schema(name, version) for name in vs.names()})


@bp.get(VIEWS + "/<view>/schema")
def view_schema(datastack, version, view):
    return jsonify(ViewStore(_setup(datastack, version)).schema(view, version))


@bp.get(VIEWS + "/<view>/metadata")
def view_metadata(datastack, version, view):
    return jsonify(ViewStore(_setup(datastack, version)).metadata(view, version))


@bp.post(VIEWS + "/<view>/query")
def view_query(datastack, version, view):
    vs = ViewStore(_setup(datastack, version))
    vs.check(view)
    body = _json_body()
    body["limit"] = _capped_limit(body, count=_flag("count"))
    # api2.py assemble_view_dataframe: the view's voxel resolution unless one is asked for
    if not body.get("desired_resolution"):
        body["desired_resolution"] = [float(r) for r in vs.voxel_resolution(view)]
    result, names = run_query(vs, [[view, None]], body, version=version)
    warnings = [SQL_QUERY_WARNING] if not _flag("direct_sql_pandas") else []
    warnings += cap_warning(result, body["limit"])
    return _reply(result, names, body, warnings, count=_flag("count"))


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


def _default_resolution(store, body: dict, table: str) -> None:
    """``convert_desired_resolution=True`` (every query route of the real engine): without a
    ``desired_resolution`` the reply is in the table's voxel resolution and says so in the
    ``dataframe_resolution`` header."""
    if not body.get("desired_resolution"):
        body["desired_resolution"] = [float(r) for r in store.voxel_resolution(table)]


def _notices(store, tables: list, version) -> list[str]:
    """``utils.py`` ``update_notice_text_warnings``: one warning per table with an owner notice."""
    out = []
    for t in tables:
        text = store.metadata(t, version).get("notice_text")
        if text is not None:
            out.append(f"Table Owner Notice on {t}: {text}")
    return out


def cap_warning(result, limit) -> list[str]:
    """``201 - "Limited query to N rows`` when the result has exactly the applied limit (the
    real test in ``common.py`` is ``len(df) == limit``, so a user limit that is hit warns too)."""
    return [f'201 - "Limited query to {limit} rows'] if limit is not None and result.num_rows == limit else []


def _reply(result, names, body, warnings: list, *, count: bool = False):
    """The query reply as ``utils.py`` ``create_query_response`` builds it: one ``Warning``
    header per message; ``count`` answers the row count instead of the rows."""
    if count:  # query_table(get_counts=True) still parses the reply as Arrow
        # the real reply still carries dataframe_resolution (caveclient's query_view needs it)
        result = pa.table({"count": pa.array([result.num_rows], pa.int64())})
        return arrow_response(result, {}, body.get("desired_resolution"), warnings)
    if request.args.get("return_pyarrow", "true").lower() == "false":
        # pandas writes int64 ids as exact JSON integers (no float detour)
        response = Response(result.to_pandas().to_json(orient="records", date_format="iso"),
                            mimetype="application/json")
        return add_warnings(response, warnings)
    if not _flag("arrow_format"):
        # create_query_response calls add_warnings_to_headers a second time with this message
        # alone, which replaces the earlier ones: the real service then sends only this one
        warnings = [ARROW_FORMAT_WARNING]
    return arrow_response(result, names, body.get("desired_resolution"), warnings)
