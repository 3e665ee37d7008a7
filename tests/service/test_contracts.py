"""Contract tests: per CAVE service route family, the sample's reply has the real service's shape.

Each contract is the reply shape written from the real service's source (CAVEconnectome and
seung-lab repositories; the file is cited above each one): keys, JSON types, status codes,
headers and content types. The sample's raw HTTP reply (``requests`` with the service's token)
must have that shape, and the real caveclient call that reads the reply must work on it. When a
contract fails, the sample is what gets fixed (and docs/how-to/sample-vs-real-cave.md says so).

Covered: info, schema, state, materialization (versions, tables, metadata, counts, unique
values, views, table / join / live queries), annotation engine (tables, metadata, count, create,
post / get / update / delete annotations, limits), chunkedgraph (root, roots, leaves, L2 graph,
is_latest, root timestamps, past ids, lineage, change log, segmentation info), meshing
manifests, L2 cache, skeleton service (formats, neuroglancer source, cache routes), error
bodies per service and middle_auth_client's token errors. Not covered: the auth service (no
caveclient call we or the tutorials make reaches it; tokens are saved locally).
"""

from __future__ import annotations

import ast
import datetime as dt
import gzip
import json
import re

import numpy as np
import pyarrow as pa
import pytest
import requests
from _contract import FLOAT, ID, ID_KEY, INT, ISO, NUMBER, Map, Where, check, opt
from _graph_support import graph, graph_service  # noqa: F401

pytestmark = pytest.mark.service

JSON = "application/json"


@pytest.fixture(scope="module")
def http(sample_service):
    """``get``/``post``/... on the service with its token, the way caveclient sends it."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {sample_service.token}"

    def call(method: str, path: str, **kwargs) -> requests.Response:
        return session.request(method, sample_service.url + path, timeout=60, **kwargs)

    yield call
    session.close()


@pytest.fixture(scope="module")
def names(sample_client):
    info = sample_client.info.get_datastack_info()
    pcg = info["segmentation_source"].rsplit("/", 1)[-1]
    return {"ds": sample_client.datastack_name, "av": info["aligned_volume"]["name"], "pcg": pcg,
            "version": max(sample_client.materialize.get_versions())}


def _json(response: requests.Response, status: int = 200):
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"].split(";")[0] == JSON
    return response.json()


# ---------------------------------------------------------------------------------------- info

#: AnnotationFrameworkInfoService ``annotationinfoservice/datasets/schemas.py``
#: ``AlignedVolumeSchema`` (SQLAlchemyAutoSchema of ``models.AlignedVolume``)
ALIGNED_VOLUME = {"id": INT, "name": str, "display_name": opt(str), "description": opt(str), "image_source": str}
#: same file, ``DataStackSchemaFull`` (every declared field, null when unset; nothing else)
DATASTACK_FULL = {
    "aligned_volume": ALIGNED_VOLUME, "segmentation_source": opt(str), "skeleton_source": opt(str),
    "analysis_database": opt(str), "viewer_site": opt(str), "synapse_table": opt(str), "soma_table": opt(str),
    "local_server": opt(str), "description": opt(str), "viewer_resolution_x": opt(FLOAT),
    "viewer_resolution_y": opt(FLOAT), "viewer_resolution_z": opt(FLOAT), "proofreading_status_table": opt(str),
    "cell_identification_table": opt(str), "proofreading_review_table": opt(str),
}


def test_info_contract(http, names, sample_client):
    # datasets/api.py: DataStackNameFullResource, DataStackResource, AlignedVolumeNameResource
    full = _json(http("GET", f"/info/api/v2/datastack/full/{names['ds']}"))
    check(full, DATASTACK_FULL)
    check(_json(http("GET", "/info/api/v2/datastacks")), [str])
    check(_json(http("GET", f"/info/api/v2/aligned_volume/{names['av']}")), ALIGNED_VOLUME)
    check(_json(http("GET", f"/info/api/v2/aligned_volume/{names['av']}/datastacks")), [str])
    assert http("GET", "/info/api/v2/datastack/full/no_such_stack").status_code == 404
    info = sample_client.info.get_datastack_info()
    assert info == full and sample_client.info.segmentation_source() == full["segmentation_source"]
    assert list(sample_client.info.viewer_resolution()) == [full[f"viewer_resolution_{a}"] for a in "xyz"]


# -------------------------------------------------------------------------------------- schema


def test_schema_contract(http, sample_client):
    # EMAnnotationSchemas emannotationschemas/app.py (``/schema/versions`` -> [2]) and
    # blueprint_app.py: ``/type`` the names, ``/type/<t>`` marshmallow_jsonschema's dump (404
    # unknown), ``/types_all`` {name: dump}
    assert _json(http("GET", "/schema/versions")) == [2]
    types = _json(http("GET", "/schema/api/v2/type"))
    check(types, [str])
    dump = {"$schema": Where("draft-07", lambda v: v == "http://json-schema.org/draft-07/schema#"),
            "definitions": Map(r"\w+", dict),
            "$ref": Where("#/definitions/<name>", lambda v: v.startswith("#/definitions/"))}
    doc = _json(http("GET", "/schema/api/v2/type/bound_tag"))
    check(doc, dump)
    assert doc["$ref"].split("/")[-1] in doc["definitions"]
    assert http("GET", "/schema/api/v2/type/no_such_schema").status_code == 404
    everything = _json(http("GET", "/schema/api/v2/types_all"))
    check(everything, Map(r"\w+", dump))
    assert sorted(everything) == sorted(types)
    # ``/types`` (POST, ``schema_names`` split on commas): {name: dump}
    multi = _json(http("POST", "/schema/api/v2/types", params={"schema_names": "bound_tag,cell_type_local"}))
    check(multi, Map(r"\w+", dump))
    assert sorted(multi) == ["bound_tag", "cell_type_local"] and multi["bound_tag"] == doc
    assert sample_client.schema.schema_definition("bound_tag") == doc
    assert "bound_tag" in sample_client.schema.get_schemas()


# --------------------------------------------------------------------------------------- state


def test_state_contract(http, sample_client):
    # NeuroglancerJsonServer neuroglancerjsonserver/app_blueprint.py: ``add_json`` answers the
    # JSON string ``{request URL less its last segment}/{id}``; ``get_json`` the stored JSON
    state = {"layers": [{"type": "segmentation", "name": "seg", "segments": ["864691135808684573"]}]}
    answer = _json(http("POST", "/nglstate/api/v1/post", data=json.dumps(state)))
    assert isinstance(answer, str) and answer.rsplit("/", 1)[0].endswith("/nglstate/api/v1")
    state_id = int(answer.rsplit("/", 1)[1])
    assert _json(http("GET", f"/nglstate/api/v1/{state_id}")) == state
    assert sample_client.state.get_state_json(sample_client.state.upload_state_json(state)) == state


# ------------------------------------------------------------------------------ materialization

#: DynamicAnnotationDB ``models.py`` ``AnalysisVersion`` dumped by MaterializationEngine
#: ``schemas.py`` ``AnalysisVersionSchema`` (SQLAlchemyAutoSchema: the foreign key
#: ``parent_version`` is left out)
VERSION = {"id": INT, "datastack": str, "version": INT, "time_stamp": ISO, "valid": bool, "expires_on": opt(ISO),
           "status": Where("version_status", lambda v: v in ("AVAILABLE", "RUNNING", "FAILED", "EXPIRED")),
           "is_merged": bool}
#: ``AnnoMetadata`` columns (DynamicAnnotationDB ``models.py``)
ANNO_MD = {"id": INT, "schema_type": str, "table_name": str, "valid": opt(bool), "created": ISO, "deleted": opt(ISO),
           "user_id": str, "description": str, "notice_text": opt(str), "reference_table": opt(str),
           "flat_segmentation_source": opt(str), "voxel_resolution_x": FLOAT, "voxel_resolution_y": FLOAT,
           "voxel_resolution_z": FLOAT, "write_permission": str, "read_permission": str, "last_modified": ISO}
#: ``SegmentationMetadata`` columns, present for schemas with bound points
#: (``is_segmentation_table_required``; its table is ``<table>__<pcg table>``)
SEG_MD = {"id": INT, "schema_type": str, "table_name": str, "valid": opt(bool), "created": ISO, "deleted": opt(ISO),
          "segmentation_source": opt(str), "pcg_table_name": str, "last_updated": opt(ISO), "annotation_table": str}
#: blueprints/client/api2.py ``FrozenTableMetadata``: the ``AnalysisTable`` dump (``id,
#: aligned_volume, schema, table_name, valid, created``) updated with DynamicAnnotationDB
#: ``get_table_metadata`` (the join of the two rows above) less ``id``, ``deleted``, ``annotation_table``
MAT_MD = {**{k: v for k, v in {**ANNO_MD, **SEG_MD}.items() if k not in ("deleted", "annotation_table")},
          "aligned_volume": str, "schema": str}
MAT_MD_UNBOUND = {k: v for k, v in MAT_MD.items() if k not in ("segmentation_source", "pcg_table_name", "last_updated")}


def _has_bound_points(client, schema_type: str) -> bool:
    doc = client.schema.schema_definition(schema_type)
    props = doc["definitions"][doc["$ref"].split("/")[-1]]["properties"]
    return any("supervoxel_id" in doc["definitions"].get(p.get("$ref", "").split("/")[-1], {}).get("properties", {})
               for p in props.values())


def test_materialization_metadata_contract(http, names, sample_client):
    mat = f"/materialize/api/v3/datastack/{names['ds']}"
    v = names["version"]
    # materializationengine/app.py: ``/api/versions`` [2, 3], ``/version`` the package version
    assert _json(http("GET", "/materialize/api/versions")) == [2, 3]
    check(_json(http("GET", "/materialize/version")), str)
    # blueprints/client/api2.py DatastackVersions, DatastackVersion, DatastackMetadata
    versions = _json(http("GET", f"{mat}/versions"))
    check(versions, [INT])
    check(_json(http("GET", f"{mat}/version/{v}")), VERSION)
    check(_json(http("GET", f"{mat}/metadata")), [VERSION])
    assert http("GET", f"{mat}/version/999").status_code == 404
    # FrozenTableVersions (a list of names), FrozenTablesMetadata, FrozenTableMetadata
    tables = _json(http("GET", f"{mat}/version/{v}/tables"))
    check(tables, [str])
    all_md = _json(http("GET", f"{mat}/version/{v}/tables/metadata"))
    assert sorted(m["table_name"] for m in all_md) == sorted(tables)
    for md in all_md:
        check(md, MAT_MD if _has_bound_points(sample_client, md["schema_type"]) else MAT_MD_UNBOUND, md["table_name"])
        assert md["schema"] == md["schema_type"]
    one = _json(http("GET", f"{mat}/version/{v}/table/{tables[0]}/metadata"))
    assert one == next(m for m in all_md if m["table_name"] == tables[0])
    assert http("GET", f"{mat}/version/{v}/table/no_such_table/metadata").status_code == 404
    # FrozenTableCount: ``MaterializedMetadata.row_count``, an integer (caveclient asks API v2)
    count = _json(http("GET", f"/materialize/api/v2/datastack/{names['ds']}/version/{v}/table/{tables[0]}/count"))
    check(count, INT)

    # TableUniqueStringValues: DynamicAnnotationDB ``get_unique_string_values``, {column: [values]}
    cells = next(m["table_name"] for m in all_md if m["schema_type"] == "cell_type_reference")
    unique = _json(http("GET", f"{mat}/table/{cells}/unique_string_values"))
    check(unique, Map(r"\w+", [str]))
    assert "cell_type" in unique

    mc = sample_client.materialize
    # the tutorials' table interface reads the metadata, the schemas and these values
    assert len(mc.tables[cells](cell_type=unique["cell_type"][0]).query(limit=2)) >= 1
    assert mc.get_versions() == versions and sorted(mc.get_tables(version=v)) == sorted(tables)
    assert isinstance(mc.get_version_metadata(v)["time_stamp"], dt.datetime)
    assert mc.get_table_metadata(tables[0], version=v)["table_name"] == tables[0]
    assert mc.get_annotation_count(tables[0], version=v) == count


#: api2.py ``AvailableViews``: ``AnalysisViewSchema`` (fields id, table_name, description) keyed
#: by the popped ``table_name``
VIEWS = Map(r"\w+", {"id": INT, "description": str})
#: ``ViewMetadata``: DynamicAnnotationDB ``get_view_metadata``, every ``AnalysisView`` column
VIEW_MD = {"id": INT, "table_name": str, "description": str, "datastack_name": str, "voxel_resolution_x": FLOAT,
           "voxel_resolution_y": FLOAT, "voxel_resolution_z": FLOAT, "notice_text": opt(str), "live_compatible": bool}
#: ``get_table_schema``: {column: {"type": ...}} (``format`` for dates)
VIEW_SCHEMA = Map(r"\w+", Where("{'type': ...}", lambda v: isinstance(v, dict) and isinstance(v.get("type"), str)
                                and set(v) <= {"type", "format"}))


def test_views_contract(http, names, sample_client):
    base = f"/materialize/api/v3/datastack/{names['ds']}/version/{names['version']}/views"
    views = _json(http("GET", base))
    check(views, VIEWS)
    assert views, "the sample serves one view"
    name = next(iter(views))
    md = _json(http("GET", f"{base}/{name}/metadata"))
    check(md, VIEW_MD)
    assert md["table_name"] == name and md["id"] == views[name]["id"]
    check(_json(http("GET", f"{base}/{name}/schema")), VIEW_SCHEMA)
    check(_json(http("GET", f"{base}/schemas")), Map(r"\w+", VIEW_SCHEMA))
    mc = sample_client.materialize
    assert name in mc.get_views(version=names["version"]) and mc.get_view_metadata(name, names["version"]) == md
    assert len(mc.query_view(name, limit=3)) == 3


def _arrow(response: requests.Response) -> pa.Table:
    return pa.ipc.open_stream(response.content).read_all()


def _query_headers(response: requests.Response, resolution) -> list[str]:
    """blueprints/client/utils.py ``create_query_response``: ``send_file(..., "data.arrow")``
    (that literal as Content-Type), ``dataframe_resolution`` (a list, so one header per value,
    which requests joins with ", "), ``column_names`` (a dict werkzeug writes with ``str()``) and
    one ``Warning`` header per message (``add_warnings_to_headers``); the warnings, returned."""
    assert response.status_code == 200, response.text[:300]
    assert response.headers["Content-Type"] == "data.arrow"
    assert [float(r) for r in response.headers["dataframe_resolution"].split(", ")] == [float(r) for r in resolution]
    assert isinstance(ast.literal_eval(response.headers["column_names"]), dict)
    return [w.strip() for w in response.raw.headers.getlist("Warning")]


def test_query_contract(http, names, sample_client):
    mat = f"/materialize/api/v3/datastack/{names['ds']}"
    v = names["version"]
    table = sample_client.info.get_datastack_info()["synapse_table"]
    md = sample_client.materialize.get_table_metadata(table)
    res = md["voxel_resolution"]  # caveclient folds voxel_resolution_x/_y/_z into one list
    # api2.py FrozenTableQuery -> common.py handle_simple_query: limit 5 hit -> the cap warning;
    # without arrow_format the Arrow-format warning replaces the others (utils.py)
    body = {"filter_in_dict": {}, "limit": 5}
    r = http("POST", f"{mat}/version/{v}/table/{table}/query",
             params={"return_pyarrow": True, "split_positions": True, "arrow_format": True}, json=body)
    warnings = _query_headers(r, res)
    assert '201 - "Limited query to 5 rows' in warnings
    rows = _arrow(r)
    assert rows.num_rows == 5
    root_cols = [c for c in rows.column_names if c.endswith("_root_id")]
    assert root_cols and all(pa.types.is_int64(rows.schema.field(c).type) for c in root_cols)  # Postgres BIGINT
    assert all(int(x) > 2**53 for x in rows.column(root_cols[0]).to_pylist() if x)
    r = http("POST", f"{mat}/version/{v}/table/{table}/query", params={"return_pyarrow": True}, json=body)
    assert _query_headers(r, res)[-1].startswith("Response is in pyarrow IPC format.")
    # count=True lifts the limit; query.py: ``pd.DataFrame({"count": [query.count()]})``
    r = http("POST", f"{mat}/version/{v}/table/{table}/query",
             params={"return_pyarrow": True, "arrow_format": True, "count": True}, json=body)
    _query_headers(r, res)
    counted = _arrow(r)
    assert counted.column_names == ["count"] and counted.num_rows == 1
    assert pa.types.is_int64(counted.schema.field(0).type)
    assert counted.column(0)[0].as_py() == sample_client.materialize.get_annotation_count(table, version=v)
    # return_pyarrow=False: ``df.to_json(orient="records")`` as application/json
    r = http("POST", f"{mat}/version/{v}/table/{table}/query",
             params={"return_pyarrow": False, "split_positions": True, "arrow_format": True}, json=body)
    records = _json(r)
    check(records, [Map(r"\w+", (int, float, str, type(None), bool))])
    assert len(records) == 5

    # FrozenQuery (joins), api2.py LiveTableQuery (``/query``): the same reply
    soma = sample_client.info.get_datastack_info()["soma_table"]
    cells = next(t for t in sample_client.materialize.get_tables(version=v)
                 if sample_client.materialize.get_table_metadata(t).get("reference_table") == soma)
    join = {"tables": [[cells, "target_id"], [soma, "id"]], "limit": 3}
    r = http("POST", f"{mat}/version/{v}/query", params={"return_pyarrow": True, "arrow_format": True}, json=join)
    _query_headers(r, sample_client.materialize.get_table_metadata(cells)["voxel_resolution"])
    assert _arrow(r).num_rows == 3
    live = {"table": table, "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(), "limit": 4}
    r = http("POST", f"{mat}/query", params={"return_pyarrow": True, "arrow_format": True, "direct_sql_pandas": True},
             json=live)
    warnings = _query_headers(r, res)
    assert any(w.startswith("result has 4 entries, which is equal or more") for w in warnings)

    df = sample_client.materialize.query_table(table, limit=5)
    assert len(df) == 5 and df.attrs["dataframe_resolution"] == res
    assert df[root_cols[0]].dtype == np.int64


# -------------------------------------------------------------------------------- annotation


#: annotationengine/api.py ``AnnotationTable.get``: DynamicAnnotationDB ``get_table_metadata``,
#: ``flatten_join`` of the ``AnnoMetadata`` and (when there is one) ``SegmentationMetadata`` rows
ANNO_TABLE_MD_BOUND = {**ANNO_MD, **SEG_MD}


@pytest.fixture(scope="module")
def tag_table(sample_client, names):
    sample_client.annotation.create_table("contract_tags", "bound_tag", "contract test", [4.0, 4.0, 40.0])
    return "contract_tags"


def test_annotation_tables_contract(http, names, sample_client, tag_table):
    base = f"/annotation/api/v2/aligned_volume/{names['av']}/table"
    # Table.get: the names; Table.post: ``Response(table_name)`` (text, not JSON)
    listed = _json(http("GET", base))
    check(listed, [str])
    assert tag_table in listed
    made = http("POST", base, json={"table_name": "contract_made", "schema_type": "bound_tag",
                                    "metadata": {"description": "d", "voxel_resolution_x": 1.0,
                                                 "voxel_resolution_y": 1.0, "voxel_resolution_z": 1.0}})
    assert made.status_code == 200 and made.text == "contract_made"
    assert made.headers["Content-Type"].startswith("text/html")
    # AnnotationTable.get: ``return md, 201, headers`` (a 201 for a read)
    for table in listed:
        r = http("GET", f"{base}/{table}")
        md = _json(r, 201)
        if _has_bound_points(sample_client, md["schema_type"]):
            check(md, ANNO_TABLE_MD_BOUND, table)
            assert md["annotation_table"] == table and md["table_name"] == f"{table}__{names['pcg']}"
        else:
            check(md, ANNO_MD, table)
            assert md["table_name"] == table
        assert ("Warning" in r.headers) == (md["notice_text"] is not None)
    # Table.put: ``update_table_metadata`` answers ``get_table_metadata`` again, with a 200
    put = _json(http("PUT", base, json={"table_name": tag_table, "metadata": {"description": "changed"}}))
    check(put, ANNO_TABLE_MD_BOUND)
    assert put["description"] == "changed"
    # TableInfo.get: ``get_annotation_table_size``, an integer
    check(_json(http("GET", f"{base}/{tag_table}/count")), INT)
    assert sample_client.annotation.get_table_metadata(tag_table)["schema_type"] == "bound_tag"


def test_annotation_rows_contract(http, names, sample_client, tag_table):
    url = f"/annotation/api/v2/aligned_volume/{names['av']}/table/{tag_table}/annotations"
    pos = [int(c) for c in _a_point(sample_client)]
    rows = [{"pt": {"position": pos}, "tag": f"t{i}"} for i in range(3)]
    # Annotations.post: ``return inserted_ids, 200``
    ids = _json(http("POST", url, json={"annotations": rows}))
    check(ids, [ID])
    assert len(ids) == 3
    # Annotations.get: DynamicAnnotationDB ``get_annotations``: the annotation table's rows (no
    # supervoxel or root ids), points as [x, y, z], created/deleted through str()
    got = _json(http("GET", url, params={"annotation_ids": ",".join(map(str, ids))}))
    row = {"id": ID, "created": Where("str(datetime)", lambda v: isinstance(v, str) and dt.datetime.fromisoformat(v)),
           "deleted": Where("'None'", lambda v: v == "None"), "superceded_id": opt(INT), "valid": bool,
           "tag": str, "pt_position": [INT]}
    check(got, [row])
    assert sorted(r["id"] for r in got) == sorted(ids) and all(r["pt_position"] == pos for r in got)
    assert _json(http("GET", url, params={"annotation_ids": "999999"})) == []  # no match: [] (not None)
    # Annotations.put: ``{old_id: new_id}`` (JSON object keys are strings)
    updated = _json(http("PUT", url, json={"annotations": [{"id": ids[0], "pt": {"position": pos}, "tag": "new"}]}))
    check(updated, Map(ID_KEY, ID))
    assert list(updated) == [str(ids[0])]
    # Annotations.delete: the deleted ids
    deleted = _json(http("DELETE", url, json={"annotation_ids": [ids[1]]}))
    check(deleted, [ID])
    # the limits: 413 above 10,000 rows (DynamicAnnotationDB ``insertion_limit``), 422 invalid
    assert http("POST", url, json={"annotations": [rows[0]] * 10_001}).status_code == 413
    assert http("POST", url, json={"annotations": [{"pt": {"position": pos}}]}).status_code == 422

    ann = sample_client.annotation
    assert [r["tag"] for r in ann.get_annotation(tag_table, [ids[2]])] == ["t2"]
    assert ann.post_annotation(tag_table, [{"pt": {"position": pos}, "tag": "cc"}])
    assert ann.get_annotation_count(tag_table) >= 3


def _a_point(client) -> list:
    soma = client.info.get_datastack_info()["soma_table"]
    df = client.materialize.query_table(soma, limit=1, desired_resolution=[4, 4, 40])
    return list(df["pt_position"].iloc[0])


# --------------------------------------------------------------------------------- chunkedgraph


@pytest.fixture(scope="module")
def ids(graph):  # noqa: F811 - the fixture
    root = int(graph.latest_roots()[0])
    l2 = int(graph.members(root)[0])
    return {"root": root, "l2": l2, "sv": int(graph.supervoxels_of_l2([l2])[0])}


def test_chunkedgraph_contract(http, names, sample_client, ids, graph):  # noqa: F811 - the fixture
    # seung-lab/PyChunkedGraph pychunkedgraph/app/segmentation/v1/routes.py (+ common.py);
    # JSON through ``jsonify_with_kwargs`` (ids as JSON integers unless int64_as_str)
    base = f"/segmentation/api/v1/table/{names['pcg']}"
    root, sv = ids["root"], ids["sv"]
    assert _json(http("GET", f"{base}/node/{sv}/root")) == {"root_id": root}
    # handle_roots_binary: ``tobinary`` (app/app_utils.py), raw little-endian uint64 bytes returned
    # from the view: Flask's default text/html; app/common.py after_request gzips every 2xx answer
    # to a request that accepts gzip (requests always does), Content-Encoding and Vary set
    raw = http("POST", f"{base}/roots_binary", data=np.array([sv, sv], "<u8").tobytes())
    assert raw.status_code == 200 and np.frombuffer(raw.content, "<u8").tolist() == [root, root]
    assert raw.headers["Content-Type"] == "text/html; charset=utf-8"
    assert raw.headers["Content-Encoding"] == "gzip" and raw.headers["Vary"] == "Accept-Encoding"
    as_binary = http("POST", f"{base}/roots", params={"as_binary": "root_ids"}, json={"node_ids": [sv]})
    assert as_binary.headers["Content-Type"] == "text/html; charset=utf-8"
    assert np.frombuffer(as_binary.content, "<u8").tolist() == [root]
    plain = http("POST", f"{base}/roots_binary", data=np.array([sv], "<u8").tobytes(),
                 headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers and np.frombuffer(plain.content, "<u8").tolist() == [root]
    assert http("GET", f"{base}/node/{sv}/root").headers["Content-Encoding"] == "gzip"  # JSON too
    missing = http("GET", f"{base}/node/1/root")
    assert missing.status_code >= 400 and "Content-Encoding" not in missing.headers  # errors are not
    leaves = _json(http("GET", f"{base}/node/{root}/leaves"))
    check(leaves, {"leaf_ids": [ID]})
    assert sv in leaves["leaf_ids"]
    r = http("GET", f"{base}/node/{root}/lvl2_graph")
    check(_json(r), {"edge_graph": [[ID]]})
    assert r.headers["Used-Bounds"] == "False"  # a Python bool through werkzeug: str(False)
    check(_json(http("POST", f"{base}/is_latest_roots", json={"node_ids": [root]})), {"is_latest": [bool]})
    # handle_root_timestamps: ``[ts.timestamp() ...]``, seconds as floats
    check(_json(http("POST", f"{base}/root_timestamps", json={"node_ids": [root]})), {"timestamp": [FLOAT]})
    # common.py handle_past_id_mapping
    check(_json(http("GET", f"{base}/past_id_mapping", data=json.dumps({"root_ids": [root]}))),
          {"past_id_map": Map(ID_KEY, [ID]), "future_id_map": Map(ID_KEY, ID)})  # one id per past id
    # handle_lineage_graph: networkx 3.1 ``node_link_data`` of the lineage DiGraph
    lineage = _json(http("POST", f"{base}/lineage_graph_multiple", json={"root_ids": [root]}))
    node = Where("{'id': id, 'timestamp': float, ['operation_id': int]}",
                 lambda n: ID.test(n.get("id")) and FLOAT.test(n.get("timestamp"))
                 and set(n) <= {"id", "timestamp", "operation_id"})
    check(lineage, {"directed": bool, "multigraph": bool, "graph": dict, "nodes": [node],
                    "links": [{"source": ID, "target": ID}]})
    # common.py valid_nodes: the ids that have a row ({"valid_roots": [...]}); oldest_timestamp
    # and last_edit: {"iso": datetime.isoformat(delimiter)} (a space unless told otherwise)
    valid = _json(http("GET", f"{base}/valid_nodes", data=json.dumps({"node_ids": [root, 5]})))
    check(valid, {"valid_roots": [ID]})
    assert valid["valid_roots"] == [root]
    for path in ("oldest_timestamp", f"root/{root}/last_edit"):
        stamp = _json(http("GET", f"{base}/{path}"))
        check(stamp, {"iso": ISO})
        assert stamp["iso"][10] == " "
    # tabular_change_log_many: ``{str(root): DataFrame.to_json()}`` (a JSON text per root);
    # filtered by default, which drops in_neuron and is_relevant (graph/segmenthistory.py);
    # common.py tabular_change_logs adds user_name and user_affiliation only when the request's
    # roots have edits (it looks the editing users up)
    plain = {"operation_id", "timestamp", "user_id", "before_root_ids", "after_root_ids", "is_merge"}
    edited_root = next(int(r) for r in graph.latest_roots() if graph.operations_touching(int(r)))
    unedited = next(int(r) for r in graph.latest_roots() if not graph.operations_touching(int(r)))
    for roots, columns in (([edited_root, unedited], plain | {"user_name", "user_affiliation"}), ([unedited], plain)):
        logs = _json(http("GET", f"{base}/tabular_change_log_many", data=json.dumps({"root_ids": roots})))
        check(logs, Map(ID_KEY, str))
        assert sorted(logs) == sorted(map(str, roots))
        for text in logs.values():
            log = json.loads(text)
            assert set(log) == columns and all(isinstance(v, dict) for v in log.values())  # {col: {row: value}}
    assert json.loads(logs[str(unedited)])["operation_id"] == {}

    cg = sample_client.chunkedgraph
    assert cg.get_root_id(sv) == root and cg.is_latest_roots([root]).tolist() == [True]
    assert sv in cg.get_leaves(root).tolist() and len(cg.level2_chunk_graph(root)) >= 0
    assert isinstance(cg.get_root_timestamps([root])[0], dt.datetime)
    assert cg.is_valid_nodes([root]).tolist() == [True] and isinstance(cg.get_oldest_timestamp(), dt.datetime)
    assert set(cg.get_tabular_change_log([root])) == {root}
    assert root in cg.get_lineage_graph(root, as_nx_graph=True)


#: PyChunkedGraph app/segmentation/common.py ``handle_info`` over graph/meta.py ``dataset_info``:
#: the watershed layer's precomputed info plus these keys (more may come from that info)
SEGMENTATION_INFO = {
    "type": str, "data_type": str, "num_channels": INT, "scales": [dict], "chunks_start_at_voxel_offset": bool,
    "data_dir": str, "app": {"supported_api_versions": [INT]}, "sharded_mesh": bool, "verify_mesh": bool,
    "graph": Where("chunk_size, bounding_box, n_bits_for_layer_id, cv_mip, n_layers, spatial_bit_masks",
                   lambda g: {"chunk_size", "bounding_box", "n_bits_for_layer_id", "cv_mip", "n_layers",
                              "spatial_bit_masks"} <= set(g)),
}


def test_segmentation_info_contract(http, names, sample_client):
    info = _json(http("GET", f"/segmentation/table/{names['pcg']}/info"))
    assert set(SEGMENTATION_INFO) <= set(info), sorted(set(SEGMENTATION_INFO) - set(info))
    check({k: info[k] for k in SEGMENTATION_INFO}, SEGMENTATION_INFO)
    assert info["type"] == "segmentation" and info["chunks_start_at_voxel_offset"] is True
    assert sample_client.chunkedgraph.segmentation_info["graph"]["n_layers"] == info["graph"]["n_layers"]


def test_meshing_contract(http, names, ids):
    # PyChunkedGraph app/meshing/common.py ``manifest_response``: {"fragments": [...]}, each
    # ``~<seg id>:<fragment>`` with prepend_seg_ids, plus "seg_ids" with return_seg_ids
    url = f"/meshing/api/v1/table/{names['pcg']}/manifest/{ids['root']}:0"
    manifest = _json(http("GET", url, params={"verify": 1, "prepend_seg_ids": 1, "return_seg_ids": 1}))
    check(manifest, {"fragments": [Where("~<seg id>:<fragment>", lambda f: f.startswith("~") and ":" in f)],
                     "seg_ids": [ID]})
    assert [int(f[1:].split(":")[0]) for f in manifest["fragments"]] == manifest["seg_ids"]
    check(_json(http("GET", url, params={"verify": 1})), {"fragments": [str]})
    # app/meshing/v1/routes.py registers app/common.py after_request too
    assert http("GET", url, params={"verify": 1}).headers["Content-Encoding"] == "gzip"


def test_l2cache_contract(http, names, sample_client, ids):
    # CAVEconnectome/PCGL2Cache pcgl2cache/app/v1/routes.py and app/common.py
    mapping = _json(http("GET", "/l2cache/api/v1/table_mapping"))
    check(mapping, Map(r"\w+", {"cv_path": str, "l2cache_id": str}))  # utils.py read_l2cache_config
    meta = _json(http("GET", "/l2cache/api/v1/attribute_metadata"))  # ``str(serializer.basetype)``
    check(meta, Map(r"\w+", Where("<class 'numpy.*'>", lambda v: v.startswith("<class 'numpy."))))
    # handle_attributes: {int(l2id): {name: value}} (keys strings in JSON), {} for unknown ids
    r = http("POST", f"/l2cache/api/v1/table/{names['pcg']}/attributes",
             params={"attribute_names": "rep_coord_nm,size_nm3"}, json={"l2_ids": [ids["l2"], 5]})
    check(_json(r), Map(ID_KEY, Where("{} or the attributes", lambda v: v == {} or (
        set(v) == {"rep_coord_nm", "size_nm3"} and len(v["rep_coord_nm"]) == 3 and NUMBER.test(v["size_nm3"])))))
    assert r.json()["5"] == {}
    assert r.headers["Content-Encoding"] == "gzip"  # app/common.py after_request, as PyChunkedGraph's
    data = sample_client.l2cache.get_l2data([ids["l2"]], attributes=["rep_coord_nm"])
    assert len(data[str(ids["l2"])]["rep_coord_nm"]) == 3


def test_skeleton_contract(http, names, ids):
    # CAVEconnectome/SkeletonService skeletonservice/datasets/service.py: skeleton bytes as
    # ``Response(..., mimetype="application/octet-stream")``; flatdict is gzip-compressed JSON
    r = http("GET", f"/skeletoncache/api/v1/{names['ds']}/precomputed/skeleton/4/{ids['root']}/flatdict")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/octet-stream"
    sk = json.loads(gzip.decompress(r.content))
    check(sk, FLATDICT)
    assert b" " not in gzip.decompress(r.content)  # compressDictToBytes removes every space
    assert len(sk["mesh_to_skel_map"]) == len(sk["lvl2_ids"]) and len(sk["radius"]) == len(sk["vertices"])
    # _finalize_return_skeleton_version: v2 has float compartments and no lvl2_ids; 0 means v2
    r2 = http("GET", f"/skeletoncache/api/v1/{names['ds']}/precomputed/skeleton/0/{ids['root']}/flatdict")
    v2 = json.loads(gzip.decompress(r2.content))
    assert "lvl2_ids" not in v2 and v2["meta"]["skeleton_version"] == 2
    check(v2["compartment"], [FLOAT])
    assert v2["vertices"] == sk["vertices"]


#: service.py ``_skeleton_to_flatdict`` (meta from ``_skeleton_metadata_to_json`` + skeleton_version)
ANY = Where("any JSON value", lambda v: True)
SK_META = {k: ANY for k in (
    "root_id", "soma_pt_x", "soma_pt_y", "soma_pt_z", "soma_radius", "collapse_soma", "collapse_function",
    "invalidation_d", "smooth_vertices", "compute_radius", "shape_function", "smooth_iterations",
    "smooth_neighborhood", "smooth_r", "cc_vertex_thresh", "remove_zero_length_edges", "collapse_params",
    "timestamp", "skeleton_type")} | {"meta": {"datastack": str, "space": str}, "skeleton_version": INT}
FLATDICT = {"meta": SK_META, "edges": [[INT]], "mesh_to_skel_map": [INT], "root": INT, "vertices": [[NUMBER]],
            "radius": [NUMBER], "compartment": [INT], "lvl2_ids": [ID]}


def test_skeleton_formats_contract(http, names, ids, sample_client):
    # SkeletonService service.py get_skeleton_by_datastack_and_rid: json/arrays through jsonify,
    # the compressed ones gzip-compressed, swc plain, precomputed cloudvolume's to_precomputed()
    base = f"/skeletoncache/api/v1/{names['ds']}/precomputed/skeleton/4/{ids['root']}"
    full = _json(http("GET", f"{base}/json"))
    assert full["jsonification_version"] == "1.0"
    assert {"edges", "vertices", "vertex_properties", "root", "meta", "mesh_to_skel_map", "branch_points",
            "end_points", "distance_to_root", "hops_to_root", "node_mask", "segment_map"} <= set(full)
    check(full["meta"], {k: v for k, v in SK_META.items() if k != "skeleton_version"})
    check(full["vertex_properties"], {"radius": [NUMBER], "compartment": [INT]})
    arrays = _json(http("GET", f"{base}/arrays"))
    assert arrays == {k: full[k] for k in ("vertices", "vertex_properties", "edges")}
    for fmt, plain in (("jsoncompressed", full), ("arrayscompressed", arrays)):
        r = http("GET", f"{base}/{fmt}")
        assert r.status_code == 200 and r.headers["Content-Type"] == "application/octet-stream"
        assert json.loads(gzip.decompress(r.content)) == plain
    swc = http("GET", f"{base}/swc")
    assert swc.headers["Content-Type"] == "application/octet-stream"
    assert gzip.decompress(http("GET", f"{base}/swccompressed").content) == swc.content
    assert len(swc.text.splitlines()) == len(full["vertices"])

    import cloudvolume

    raw = http("GET", f"/skeletoncache/api/v1/{names['ds']}/precomputed/skeleton/2/{ids['root']}/precomputed")
    attrs = [{"id": "radius", "data_type": "float32", "num_components": 1},
             {"id": "compartment", "data_type": "float32", "num_components": 1}]
    cv = cloudvolume.Skeleton.from_precomputed(raw.content, vertex_attributes=attrs)
    np.testing.assert_allclose(cv.vertices, np.asarray(full["vertices"]), rtol=1e-6)
    assert len(cv.edges) == len(full["edges"])
    # neuroglancer's skeleton source: the info of a version and the format-less precomputed routes
    info = _json(http("GET", f"/skeletoncache/api/v1/{names['ds']}/precomputed/skeleton/info"))
    assert info == {"@type": "neuroglancer_skeletons", "transform": [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0],
                    "vertex_attributes": attrs}
    assert sample_client.skeleton.get_precomputed_skeleton_info(skvn=4)["vertex_attributes"][1]["data_type"] == "uint8"
    assert http("GET", f"/skeletoncache/api/v1/{names['ds']}/precomputed/skeleton/{ids['root']}").content == raw.content
    # the real service's errors on this route: {"Error": str(e)} with 400 (api.py)
    bad = http("GET", f"/skeletoncache/api/v1/{names['ds']}/precomputed/skeleton/4/{ids['sv']}/flatdict")
    assert bad.status_code == 400 and "Invalid root id" in bad.json()["Error"] and set(bad.json()) == {"Error"}


def test_skeleton_cache_contract(http, names, ids, sample_client):
    # SkeletonService api.py + service.py: skeletons_exist, get_cache_contents, get_refusal_list,
    # generate_skeletons_bulk_by_datastack_and_rids_async, get_cached_skeletons_bulk_by_datastack_and_rids
    base = f"/skeletoncache/api/v1/{names['ds']}"
    root, sv = ids["root"], ids["sv"]
    one = _json(http("POST", f"{base}/precomputed/skeleton/exists",
                     json={"root_ids": [root], "skeleton_version": 4, "verbose_level": 0}))
    assert one is True  # one root: a bare bool
    many = _json(http("POST", f"{base}/precomputed/skeleton/exists", json={"root_ids": [root, sv], "skeleton_version": 4}))
    check(many, Map(ID_KEY, bool))
    assert many == {str(root): True, str(sv): False}
    assert _json(http("GET", f"{base}/precomputed/skeleton/exists/4/{root},{sv}")) == many
    assert sample_client.skeleton.skeletons_exist(root_ids=[root, sv]) == {root: True, sv: False}

    cache = _json(http("GET", f"{base}/precomputed/skeleton/query_cache/4/{root}/0"))
    check(cache, {"num_found": INT, "files": [str]})
    assert cache["files"] == [f"skeleton__v4__rid-{root}__ds-{names['ds']}__res-1x1x1__cs-True__cr-7500.h5.gz"]
    assert _json(http("GET", f"{base}/precomputed/skeleton/query_cache/2/{root}/0")) == {"num_found": 0, "files": []}
    prefix = str(root)[:6]
    some = sample_client.skeleton.get_cache_contents(root_id_prefixes=prefix, limit=2)
    assert len(some["files"]) == 2 and some["num_found"] >= 2 and all(f"rid-{prefix}" in f for f in some["files"])

    refusal = http("GET", f"{base}/precomputed/skeleton/get_refusal_list")
    assert refusal.headers["Content-Type"] == "application/octet-stream"
    assert gzip.decompress(refusal.content) == b"DATASTACK_NAME,ROOT_ID\n"  # to_csv of the empty list
    assert len(sample_client.skeleton.get_refusal_list()) == 1  # caveclient reads the header as a row

    # the estimate: ceil(queued / 15 workers) * 60 s over roots that are not cached yet
    est = http("POST", f"{base}/bulk/gen_skeletons", json={"root_ids": [root], "skeleton_version": 4})
    assert est.status_code == 200 and float(est.text) == 0
    unknown_root = (int(ids["root"]) >> 56 << 56) + 12345  # root layer, no such root
    est = http("POST", f"{base}/bulk/gen_skeletons", json={"root_ids": [unknown_root, sv], "skeleton_version": 4})
    assert float(est.text) == 60
    assert sample_client.skeleton.generate_bulk_skeletons_async([root], skeleton_version=4) == 0

    cached = _json(http("POST", f"{base}/bulk/get_cached_skeletons/4/flatdict",
                        json={"root_ids": [root, unknown_root], "generate_missing": False}))
    check(cached, Map(ID_KEY, Where("hex", lambda v: bool(re.fullmatch("[0-9a-f]+", v)))))
    assert list(cached) == [str(root)]
    check(json.loads(gzip.decompress(bytes.fromhex(cached[str(root)]))), FLATDICT)
    too_many = http("POST", f"{base}/bulk/get_cached_skeletons/4/flatdict", json={"root_ids": [root] * 501})
    assert too_many.status_code == 400 and "Maximum allowed is 500" in too_many.json()["Error"]
    fetched = sample_client.skeleton.fetch_skeletons([root, unknown_root], output_format="swc")
    assert list(fetched) == [str(root)] and len(fetched[str(root)]) == len(
        json.loads(gzip.decompress(bytes.fromhex(cached[str(root)])))["vertices"])
    # method="gcs" needs a bucket token: a 501 saying so
    token = http("POST", f"{base}/bulk/get_skeleton_token/4", json={})
    assert token.status_code == 501 and "Google Cloud Storage" in token.json()["Error"]


HTTP_DATE = Where("HTTP date", lambda v: isinstance(v, str) and bool(
    re.fullmatch(r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT", v)))


def test_error_bodies_contract(http, names, ids, sample_client, sample_service):
    """Each service's own error shape (cavewidgets/sample/service/errors.py), and caveclient's
    exception text keeps the message."""
    # seung-lab/PyChunkedGraph pychunkedgraph/app/common.py api_exception; graph/exceptions.py
    # ChunkedGraphAPIError.__str__ "[code]: message"
    unknown_sv = ids["sv"] + 2**40
    r = http("GET", f"/segmentation/api/v1/table/{names['pcg']}/node/{unknown_sv}/root")
    body = _json(r, 404)
    check(body, {"timestamp": HTTP_DATE, "duration": NUMBER, "code": INT, "message": str})
    assert body["code"] == 404 and body["message"].startswith("[404]: ") and str(unknown_sv) in body["message"]
    with pytest.raises(requests.HTTPError) as err:
        sample_client.chunkedgraph.get_root_id(unknown_sv)
    assert str(unknown_sv) in str(err.value)
    # CAVEconnectome/PCGL2Cache pcgl2cache/app/common.py: the same shape
    r = http("POST", f"/l2cache/api/v1/table/{names['pcg']}/attributes", params={"attribute_names": "nope"},
             json={"l2_ids": [ids["l2"]]})
    check(_json(r, 400), {"timestamp": HTTP_DATE, "duration": NUMBER, "code": INT, "message": str})
    # Flask-RESTx services (MaterializationEngine, AnnotationEngine, info, schema): {"message": ...}
    r = http("POST", f"/materialize/api/v3/datastack/{names['ds']}/version/{names['version']}/table/no_such_table/query",
             json={})
    check(_json(r, 404), {"message": str})
    with pytest.raises(requests.HTTPError) as err:
        sample_client.materialize.query_table("no_such_table")
    assert "no_such_table" in str(err.value)
    r = http("GET", f"/annotation/api/v2/aligned_volume/{names['av']}/table/no_such_table/count")
    check(_json(r, 404), {"message": str})
    # middle_auth_client decorators.py MACAuthorizationError.to_response: {"error": api_code, "message"}
    url = f"{sample_service.url}/materialize/api/v3/datastack/{names['ds']}/versions"
    no_token = requests.get(url, headers={"X-Requested-With": "x"}, timeout=60)
    assert no_token.status_code == 401 and no_token.json() == {"error": "no_token",
                                                               "message": "Unauthorized - No Token Provided"}
    bad = requests.get(url, headers={"Authorization": "Bearer " + "0" * 32}, timeout=60)
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_token"
    scheme = requests.get(url, headers={"Authorization": "Token x"}, timeout=60)
    assert scheme.status_code == 400 and scheme.json()["error"] == "bad_auth_header"


#: a deployed engine's refusal: AnnotationEngine ``annotationengine/api.py`` and MaterializationEngine
#: ``blueprints/client/common.py`` ``unhandled_exception`` (``{"code", "message", "traceback"}``)
ENGINE_500 = {"code": INT, "message": str, "traceback": [str]}


def test_engine_refusals_in_real_mode_contract(real_errors_service, real_errors):
    """``serve(errors="real")``: every ``abort`` of the engines' Flask-RESTx resources is a 500.

    Both engines register a namespace handler for ``Exception`` first (AnnotationEngine
    ``api.py``: ``unhandled_exception`` before ``bad_request_exception``; MaterializationEngine
    ``app.py`` adds ``client/api.py``'s namespace, with only that handler, before ``api2.py``'s),
    Flask-RESTx ``Api._own_and_child_error_handlers`` merges all namespaces' handlers in that
    order and ``Api.handle_error`` takes the first that matches, so ``flask.abort(413, ...)`` and
    ``abort(400, ...)`` alike answer 500 with werkzeug's ``str(HTTPException)`` as the message. A
    missing annotation table is no abort: DynamicAnnotationDB ``get_table_metadata`` returns None
    and ``AnnotationTable.get`` / ``anno_database.py`` ``check_read_permission`` crash on it.
    """
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {real_errors_service.token}"

    def call(method, path, **kwargs):
        return session.request(method, real_errors_service.url + path, timeout=60, **kwargs)

    info = real_errors.info.get_datastack_info()
    av, ds = info["aligned_volume"]["name"], real_errors.datastack_name
    version = max(real_errors.materialize.get_versions())
    base = f"/annotation/api/v2/aligned_volume/{av}/table"
    real_errors.annotation.create_table("contract_real", "bound_tag", "real-mode contract", [4.0, 4.0, 40.0])
    pos = [int(c) for c in _a_point(real_errors)]
    url = f"{base}/contract_real/annotations"
    # Annotations.post: abort(413, str(AnnotationInsertLimitExceeded)), abort(422, messages)
    limit = real_errors_service.app.config["INSERTION_LIMIT"]
    too_many = _json(call("POST", url, json={"annotations": [{"pt": {"position": pos}, "tag": "a"}] * (limit + 1)}), 500)
    check(too_many, ENGINE_500)
    assert too_many["message"] == (f"413 Request Entity Too Large: {limit} -> The insertion limit is {limit}, "
                                   f"{limit + 1} were attempted to be inserted")
    invalid = _json(call("POST", url, json={"annotations": [{"pt": {"position": pos}}]}), 500)
    check(invalid, ENGINE_500)
    assert invalid["message"].startswith("422 Unprocessable Entity: ")
    # a missing table: the crash on None metadata, per route
    assert _json(call("GET", f"{base}/no_such_table"), 500)["message"] == "'NoneType' object has no attribute 'get'"
    for method, path in (("GET", "/count"), ("POST", "/annotations")):
        body = _json(call(method, f"{base}/no_such_table{path}", json={"annotations": [{"pt": {"position": pos},
                                                                                       "tag": "a"}]}), 500)
        check(body, ENGINE_500)
        assert body["message"] == "'NoneType' object is not subscriptable"
    # MaterializationEngine: abort(404) and abort(400) alike
    missing = _json(call("POST", f"/materialize/api/v3/datastack/{ds}/version/{version}/table/no_such_table/query",
                         json={}), 500)
    check(missing, ENGINE_500)
    assert missing["message"].startswith("404 Not Found: ") and "no_such_table" in missing["message"]
    soma = info["soma_table"]
    bad = _json(call("POST", f"/materialize/api/v3/datastack/{ds}/version/{version}/table/{soma}/query",
                     json={"filter_equal_dict": {soma: {"no_such_column": 1}}}), 500)
    assert bad["message"].startswith("400 Bad Request: ") and bad["code"] == 500
    # caveclient shows the message: raise_for_status reads "message" from a 5xx body
    with pytest.raises(requests.HTTPError, match="500 Server Error: 404 Not Found: .*no_such_table"):
        real_errors.materialize.query_table("no_such_table")
    # what is no engine resource keeps its own answer: version probes, the other services
    assert call("GET", "/materialize/api/versions").status_code == 200
    pcg = info["segmentation_source"].rsplit("/", 1)[-1]
    assert call("GET", f"/segmentation/api/v1/table/{pcg}/node/1/root").status_code in (400, 404)
