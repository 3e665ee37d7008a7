"""Fuzzing the local CAVE service: hostile requests route by route, never a 500 or a traceback.

``REGRESSIONS`` holds the requests the fuzzing found answered with a 500, each with the status
the service answers now and a word of its message.
"""

from __future__ import annotations

import pytest
import requests

pytestmark = pytest.mark.service

DS = "minnie65_sample"
PCG = "sample_pcg"
MAT = f"/materialize/api/v3/datastack/{DS}"
ANN = f"/annotation/api/v2/aligned_volume/{DS}/table"
SEG = f"/segmentation/api/v1/table/{PCG}"
DEEP = "[" * 100_000 + "]" * 100_000  # Python's json module raises RecursionError on it
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def fuzz_service(tmp_path_factory):
    """A service of its own: the fuzzing writes (tables, annotations, states) stay in this module."""
    from cavewidgets.sample import serve

    handle = serve(work_dir=tmp_path_factory.mktemp("fuzz_work"))
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def http(fuzz_service):
    """A ``requests.Session`` carrying the service's token; ``http.url`` is the service's base."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {fuzz_service.token}"
    session.url = fuzz_service.url
    yield session
    session.close()


#: a user table the fuzzing writes to, and the rows it holds before (bad requests must not touch them)
TAGS = "fuzz_tags"
TAG_ROWS = [{"pt": {"position": [100 + i, 200, 30]}, "tag": f"keep {i}"} for i in range(5)]


@pytest.fixture(scope="module")
def user_table(http):
    """``TAGS`` created and holding ``TAG_ROWS``; returns their annotation ids."""
    md = {"description": "rows the fuzzing must not lose", "voxel_resolution_x": 4.0,
          "voxel_resolution_y": 4.0, "voxel_resolution_z": 40.0}
    resp = http.post(http.url + ANN, json={"table_name": TAGS, "schema_type": "bound_tag", "metadata": md})
    assert resp.status_code == 200, resp.text
    resp = http.post(f"{http.url}{ANN}/{TAGS}/annotations", json={"annotations": TAG_ROWS})
    assert resp.status_code == 200, resp.text
    return resp.json()


def assert_sane(resp: requests.Response) -> None:
    """No server error, no traceback, and an error answered as CAVE answers one (JSON ``message``)."""
    body = resp.text
    assert resp.status_code < 500 or resp.status_code == 501, (resp.status_code, body[:500])
    assert "Traceback (most recent call last)" not in body, body[:500]
    if 400 <= resp.status_code and resp.request.method != "HEAD":
        message = resp.json().get("message")
        assert isinstance(message, str) and message, body[:500]


# (method, path, requests kwargs, status now, a word of the message)
REGRESSIONS = [
    ("POST", "/nglstate/api/v1/post", {"data": DEEP}, 400, "nested too deeply"),
    ("POST", f"{MAT}/version/1/table/nucleus_detection_v0/query", {"data": DEEP, "headers": JSON}, 400,
     "nested too deeply"),
    ("POST", f"{ANN}", {"data": DEEP, "headers": JSON}, 400, "nested too deeply"),
    ("GET", f"{SEG}/operation_details?operation_ids=" + "[" * 5000, {}, 400, "nested too deeply"),
    ("GET", f"/meshing/api/v1/table/{PCG}/manifest/1:0", {"data": "[" * 5000}, 400, "nested too deeply"),
    ("POST", f"{MAT}/version/1/table/nucleus_detection_v0/query?random_sample=\u00b2", {"json": {}}, 400,
     "random_sample must be a positive integer"),
    ("POST", f"{MAT}/version/1/table/nucleus_detection_v0/query",
     {"json": {"select_column_map": {"nucleus_detection_v0": 5}}}, 400, "must be a list of column names"),
    ("POST", f"{MAT}/version/1/query", {"json": {
        "tables": [["nucleus_detection_v0", "id"], ["aibs_metamodel_celltypes_v661", "target_id"]],
        "select_columns": {"nucleus_detection_v0": ["id"], "aibs_metamodel_celltypes_v661": "id"}}}, 400,
     "must be a list of column names"),
    ("POST", f"{ANN}/{TAGS}/annotations", {"data": '{"annotations": [{"pt": {"position": [1, 2, 1%s]}, "tag": "x"}]}'
     % ("0" * 400), "headers": JSON}, 422, "position must be 3 numbers"),
    ("POST", f"{ANN}/{TAGS}/annotations", {"data": '{"annotations": [{"pt": {"position": [1, 2, Infinity]}, "tag": "x"}]}',
     "headers": JSON}, 422, "position must be 3 numbers"),
    ("GET", f"{ANN}/{TAGS}/annotations?annotation_ids=9223372036854775808", {}, 400, "out of range"),
    ("GET", f"{ANN}/nucleus_detection_v0/annotations?annotation_ids=99999999999999999999", {}, 400, "out of range"),
    ("DELETE", f"{ANN}/{TAGS}/annotations", {"json": {"annotation_ids": [2**63]}}, 400, "out of range"),
    ("DELETE", f"{ANN}/{TAGS}/annotations", {"json": {"annotation_ids": list(range(10**6, 10**6 + 40_000))}}, 404,
     "not in table"),
    ("PUT", f"{ANN}/{TAGS}/annotations", {"json": {"annotations": [
        {"id": 2**63, "pt": {"position": [1, 2, 3]}, "tag": "x"}]}}, 400, "out of range"),
    ("PUT", f"{ANN}/{TAGS}/annotations", {"json": {"annotations": [
        {"id": True, "pt": {"position": [1, 2, 3]}, "tag": "x"}]}}, 400, "needs its integer id"),
    ("POST", ANN, {"json": {"table_name": "fuzz_ref", "schema_type": "bound_tag", "metadata": {
        "description": "d", "voxel_resolution_x": 1, "voxel_resolution_y": 1, "voxel_resolution_z": 1,
        "table_metadata": "nucleus_detection_v0"}}}, 400, "table_metadata must be an object"),
    ("POST", ANN, {"json": {"table_name": "fuzz_ref", "schema_type": "cell_type_reference", "metadata": {
        "description": "d", "voxel_resolution_x": 1, "voxel_resolution_y": 1, "voxel_resolution_z": 1,
        "table_metadata": {"reference_table": ["nucleus_detection_v0"]}}}}, 400, "must be a table name"),
    ("PUT", ANN, {"json": {"table_name": [TAGS], "metadata": {}}}, 400, "'table_name' is required"),
    ("GET", f"{SEG}/node/1/leaves?bounds=99999999999999999999-1_0-1_0-1", {}, 400, "is not of the form"),
    ("GET", f"{SEG}/oldest_timestamp?delimiter=ab", {}, 400, "must be a single character"),
    ("GET", f"{SEG}/oldest_timestamp?delimiter=", {}, 400, "must be a single character"),
    ("GET", "/precomputed/segmentation/a%00b", {}, 404, "not found"),
    ("GET", "/precomputed/segmentation/" + "a" * 300, {}, 404, "not found"),
    ("GET", "/precomputed/" + "/".join(["b" * 250] * 20), {}, 404, "not found"),
    ("GET", "/nglstate/api/v1/" + "9" * 300, {}, 404, "not found"),
    ("POST", "/nglstate/api/v1/post/" + "9" * 300, {"json": {}}, 400, "out of range"),
    ("POST", "/nglstate/api/v1/property/post/" + str(2**63), {"json": {}}, 400, "out of range"),
    ("GET", f"/skeletoncache/api/v1/{DS}/precomputed/skeleton/4/{2**63}/flatdict", {}, 404, "invalid_rid"),
    ("GET", f"/skeletoncache/api/v1/{DS}/precomputed/skeleton/4/{2**64}/flatdict", {}, 400, "not a uint64"),
    ("GET", f"/skeletoncache/api/v1/{DS}/bulk/get_skeletons/4/flatdict/true/-5", {}, 400, "not a uint64"),
]


@pytest.mark.parametrize("method,path,kwargs,status,word", REGRESSIONS,
                         ids=[f"{m} {p[:60]} {w}" for m, p, _, _, w in REGRESSIONS])
def test_found_by_fuzzing_answers_4xx(http, user_table, method, path, kwargs, status, word):
    resp = http.request(method, http.url + path, timeout=60, **kwargs)
    assert_sane(resp)
    assert resp.status_code == status, resp.text[:300]
    assert word in resp.json()["message"]


def test_bulk_skeletons_of_ids_beyond_int64_are_invalid_rids(http):
    """Found by fuzzing: the service's own caveclient turned them into int64 (OverflowError: 500)."""
    resp = http.get(f"{http.url}/skeletoncache/api/v1/{DS}/bulk/get_skeletons/4/flatdict/true/{2**63},{2**64 - 1}")
    assert_sane(resp)
    assert resp.json() == {str(2**63): "invalid_rid", str(2**64 - 1): "invalid_rid"}


def test_deleting_known_and_unknown_ids_deletes_the_known_ones(http, user_table):
    """Found by fuzzing: the UPDATE bound the ids found against placeholders for all ids asked
    (a 500 whenever one id was unknown)."""
    posted = http.post(f"{http.url}{ANN}/{TAGS}/annotations", json={"annotations": TAG_ROWS[:2]}).json()
    resp = http.delete(f"{http.url}{ANN}/{TAGS}/annotations", json={"annotation_ids": [posted[0], 10**9]})
    assert_sane(resp)
    assert resp.status_code == 200 and resp.json() == [posted[0]]
    rows = http.get(f"{http.url}{ANN}/{TAGS}/annotations", params={"annotation_ids": ",".join(map(str, posted))})
    assert {r["id"]: r["valid"] for r in rows.json()} == {posted[0]: False, posted[1]: True}
    http.delete(f"{http.url}{ANN}/{TAGS}/annotations", json={"annotation_ids": [posted[1]]})
