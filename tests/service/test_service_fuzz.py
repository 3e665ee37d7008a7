"""Fuzzing the local CAVE service: hostile requests route by route, never a 500 or a traceback.

Every route family gets generated requests (:mod:`_fuzz_requests`): wrong types, huge and empty
lists, ids out of range, unicode, path tricks, bad JSON, Arrow where JSON belongs, wrong methods,
missing and wrong tokens. Each answer must be a 2xx or a 4xx (a 4xx when the request was built to
be wrong, the exact status when it is known: 401, 404, 405), never a 500, never a traceback, and
every error a JSON ``message``. Afterwards the service must still answer a real caveclient query
with the right rows, and the rows of the table the fuzzing wrote to must all be there.

``REGRESSIONS`` holds the requests the fuzzing found answered with a 500, each with the status
the service answers now and a word of its message.

    HYPOTHESIS_PROFILE=long pytest tests/service/test_service_fuzz.py     # ten times the requests
"""

from __future__ import annotations

import datetime as dt
import socket
import sys
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from _contract import error_message
from _fuzz_requests import (
    SENT,
    Ids,
    annotation_requests,
    chunkedgraph_requests,
    dressed,
    info_requests,
    l2cache_requests,
    materialize_requests,
    meshing_requests,
    precomputed_requests,
    schema_requests,
    send,
    skeleton_requests,
    state_requests,
    stray_requests,
)

sys.path.append(str(Path(__file__).resolve().parents[1] / "unit"))  # the one home of the profiles
from hyp import SCALE, examples  # noqa: E402

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
    session.trust_env = False
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


@pytest.fixture(scope="module")
def ids(fuzz_service) -> Ids:
    """Real ids of the sample (roots old and new, supervoxels, L2 nodes, edit operations)."""
    cg = Path(fuzz_service.data_dir) / "chunkedgraph"
    roots = pq.read_table(cg / "roots.parquet").column("root_id").to_pylist()
    svs = pq.read_table(cg / "supervoxels.parquet", columns=["sv_id", "l2_id"]).slice(0, 50_000)
    ops = pq.read_table(cg / "operations.parquet").column("operation_id").to_pylist()
    rng = np.random.default_rng(16)
    pick = rng.choice(svs.num_rows, 20, replace=False)
    return Ids(roots=roots[:10] + roots[-10:], supervoxels=[svs.column("sv_id")[int(i)].as_py() for i in pick],
               l2s=[svs.column("l2_id")[int(i)].as_py() for i in pick], operations=ops)


def assert_sane(resp: requests.Response) -> None:
    """No server error, no traceback, and an error answered as CAVE answers one (JSON ``message``)."""
    body = resp.text
    assert resp.status_code < 500 or resp.status_code == 501, (resp.status_code, body[:500])
    assert "Traceback (most recent call last)" not in body, body[:500]
    if 400 <= resp.status_code and resp.request.method != "HEAD":
        assert error_message(resp.json()), body[:500]


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
    ("POST", f"{ANN}/{TAGS}/annotations",
     {"data": '{"annotations": [{"pt": {"position": [1, 2, Infinity]}, "tag": "x"}]}', "headers": JSON}, 422,
     "position must be 3 numbers"),
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
    # SkeletonService answers ids that are no roots with a 400 {"Error": "Invalid root id: ..."}
    ("GET", f"/skeletoncache/api/v1/{DS}/precomputed/skeleton/4/{2**63}/flatdict", {}, 400, "Invalid root id"),
    ("GET", f"/skeletoncache/api/v1/{DS}/precomputed/skeleton/4/{2**64}/flatdict", {}, 400, "not a uint64"),
    ("GET", f"/skeletoncache/api/v1/{DS}/bulk/get_skeletons/4/flatdict/true/-5", {}, 400, "not a uint64"),
    # a supervoxel id: a valid node but no root (the skeleton builder raised a ValueError)
    ("GET", f"/skeletoncache/api/v1/{DS}/precomputed/skeleton/4/72057663092948993/flatdict", {}, 400,
     "different level of the PCG"),
    # a malformed get_skeleton is the client's mistake, not a route the sample lacks (was 501)
    ("GET", f"/skeletoncache/api/v1/{DS}/precomputed/skeleton/4/1.5/flatdict", {}, 404, "must be integers"),
    ("GET", f"/skeletoncache/api/v1/{DS}/async/get_skeleton/x/1/flatdict", {}, 404, "must be integers"),
    ("GET", f"/skeletoncache/api/v1/{DS}/precomputed/meshwork/1", {}, 501, "is not part of it"),
    ("POST", f"{MAT}/query", {"data": '{"table": "nucleus_detection_v0", "timestamp": Infinity}', "headers": JSON},
     400, "not a finite number"),
    ("POST", f"{MAT}/query", {"data": '{"table": "nucleus_detection_v0", "timestamp": "-inf"}', "headers": JSON},
     400, "not a finite number"),
    # found by a CI run: 1.8e302 s overflowed to infinite µs (OverflowError, a 500)
    ("POST", f"{MAT}/query", {"data": '{"table": "nucleus_detection_v0", "timestamp": 1.797693134862316e+302}', "headers": JSON},
     400, "out of range"),
    # found by the long profile: past 2**63 µs no root was found, and naming the time overflowed
    ("GET", f"{SEG}/node/72272205165101059/root?timestamp=9223372036855.0", {}, 400, "out of range"),
    ("GET", f"{SEG}/delta_roots?timestamp_past=-1e12", {}, 400, "out of range"),
]


@pytest.mark.parametrize("method,path,kwargs,status,word", REGRESSIONS,
                         ids=[f"{m} {p[:60]} {w}" for m, p, _, _, w in REGRESSIONS])
def test_found_by_fuzzing_answers_4xx(http, user_table, method, path, kwargs, status, word):
    resp = http.request(method, http.url + path, timeout=60, **kwargs)
    assert_sane(resp)
    assert resp.status_code == status, resp.text[:300]
    assert word in error_message(resp.json())


@pytest.mark.parametrize("path", ["/nglstate/api/v1/post", f"{SEG}/roots_binary", f"{ANN}/{TAGS}/annotations",
                                  f"{MAT}/version/1/table/nucleus_detection_v0/query"])
def test_an_oversized_body_is_a_413_before_it_is_read(fuzz_service, user_table, path):
    """A body declared bigger than the service reads is refused from its Content-Length: the
    answer comes at once, with only two bytes of the 300 MiB sent."""
    from cavewidgets.sample.service.app import MAX_BODY_BYTES

    host, port = fuzz_service.url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {fuzz_service.token}\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {300 * 2**20}\r\n\r\n{{}}".encode())
        answer = b""
        while not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), answer[:300]
    assert f"larger than this service reads ({MAX_BODY_BYTES} bytes)".encode() in body


def test_big_junk_bodies_are_a_400_and_big_batches_a_413(http, user_table):
    junk = http.post(f"{http.url}/nglstate/api/v1/post", data=b"\xff" * (9 * 2**20))  # under the 10 MiB cap
    assert_sane(junk)
    assert junk.status_code == 400
    ids = http.post(f"{http.url}{SEG}/roots", json={"node_ids": ["x"] * 1_500_000})
    assert_sane(ids)
    assert ids.status_code == 400
    rows = [{"pt": {"position": [1, 2, 3]}, "tag": "x"}] * 10_001  # AnnotationEngine's insertion limit
    batch = http.post(f"{http.url}{ANN}/{TAGS}/annotations", json={"annotations": rows})
    assert_sane(batch)
    assert batch.status_code == 413 and "insertion limit is 10000" in batch.json()["message"]


def test_bulk_skeletons_of_ids_beyond_int64_are_invalid_rids(http):
    """Found by fuzzing: the service's own caveclient turned them into int64 (OverflowError: 500)."""
    resp = http.get(f"{http.url}/skeletoncache/api/v1/{DS}/bulk/get_skeletons/4/flatdict/true/{2**63},{2**64 - 1}")
    assert_sane(resp)
    # neither is in the root layer: what the real service's layer check answers
    assert resp.json() == {str(2**63): "invalid_layer_rid", str(2**64 - 1): "invalid_layer_rid"}


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


# ---------------------------------------------------------------------------------- fuzzing
# one test per route family; counts are the ci profile's (the long one sends ten times as many)


def _send(http, fuzz_service, req, family):
    send(http, fuzz_service.url, fuzz_service.token, req, family)


@pytest.fixture(scope="module")
def raw(fuzz_service):
    """A session without the token: each generated request says how it authenticates."""
    session = requests.Session()
    session.trust_env = False  # loopback: no scan of the environment for proxies (~1 ms a request)
    yield session
    session.close()


@examples(300)
@given(req=dressed(info_requests()))
def test_fuzz_info(raw, fuzz_service, req):
    _send(raw, fuzz_service, req, "info")


@examples(250)
@given(req=dressed(schema_requests()))
def test_fuzz_schema(raw, fuzz_service, req):
    _send(raw, fuzz_service, req, "schema")


@examples(400)
@given(req=dressed(state_requests()))
def test_fuzz_state(raw, fuzz_service, req):
    _send(raw, fuzz_service, req, "nglstate")


@examples(700)  # the costliest family per request (queries over 550,000 synapses)
@given(req=dressed(materialize_requests(), unused=("PATCH", "TRACE", "PUT", "DELETE")))
def test_fuzz_materialize(raw, fuzz_service, req):
    _send(raw, fuzz_service, req, "materialize")


@examples(900)
@given(data=st.data())
def test_fuzz_annotation(raw, fuzz_service, user_table, data):
    req = data.draw(dressed(annotation_requests("fuzz_tags", user_table)))
    _send(raw, fuzz_service, req, "annotation")


@examples(1100)
@given(data=st.data())
def test_fuzz_chunkedgraph(raw, fuzz_service, ids, data):
    req = data.draw(dressed(chunkedgraph_requests(ids), unused=("PATCH", "TRACE", "PUT", "DELETE")))
    _send(raw, fuzz_service, req, "chunkedgraph")


@examples(400)
@given(data=st.data())
def test_fuzz_l2cache(raw, fuzz_service, ids, data):
    req = data.draw(dressed(l2cache_requests(ids), unused=("PATCH", "TRACE", "PUT", "DELETE")))
    _send(raw, fuzz_service, req, "l2cache")


@examples(400)
@given(data=st.data())
def test_fuzz_meshing(raw, fuzz_service, ids, data):
    req = data.draw(dressed(meshing_requests(ids), unused=("PATCH", "TRACE", "PUT", "DELETE", "POST")))
    _send(raw, fuzz_service, req, "meshing")


@examples(500)
@given(req=dressed(precomputed_requests()))
def test_fuzz_precomputed_paths(raw, fuzz_service, req):
    _send(raw, fuzz_service, req, "precomputed")


@examples(250)
@given(data=st.data())
def test_fuzz_skeleton(raw, fuzz_service, ids, data):
    req = data.draw(dressed(skeleton_requests(ids), unused=("PATCH", "TRACE", "PUT", "DELETE")))
    _send(raw, fuzz_service, req, "skeleton")


@examples(300)
@given(req=dressed(stray_requests()))
def test_fuzz_stray_paths(raw, fuzz_service, req):
    _send(raw, fuzz_service, req, "stray")


FAMILIES = {"info", "schema", "nglstate", "materialize", "annotation", "chunkedgraph", "l2cache", "meshing",
            "precomputed", "skeleton", "stray"}


def test_after_fuzzing_the_service_answers_right_and_lost_nothing(fuzz_service, http, user_table):
    """Last in the file: the real caveclient still gets the right rows, the fuzzed table keeps its
    rows, and (when every family ran) at least 5,000 requests were sent (50,000 in the long profile)."""
    from cavewidgets.sample import client

    if FAMILIES <= set(SENT):
        total = sum(SENT.values())
        print(f"fuzzing sent {total} requests: {dict(SENT)}")
        assert total >= 5000 * SCALE, dict(SENT)
    cave = client(service=fuzz_service)

    # a materialized query against the parquet rows it comes from
    version = cave.materialize.version
    ts = cave.materialize.get_version_metadata(version)["time_stamp"]
    raw_rows = pq.read_table(Path(fuzz_service.data_dir) / "tables" / "nucleus_detection_v0.parquet")
    alive = pc.and_(pc.less_equal(raw_rows.column("created"), ts),
                    pc.or_kleene(pc.is_null(raw_rows.column("deleted")), pc.greater(raw_rows.column("deleted"), ts)))
    oracle = raw_rows.filter(alive).to_pandas().set_index("id").sort_index()
    asked = oracle.index[::37].tolist() + [10**12]
    got = cave.materialize.query_table("nucleus_detection_v0", filter_in_dict={"id": asked},
                                       desired_resolution=[512, 512, 640]).set_index("id").sort_index()
    want = oracle.loc[oracle.index.isin(asked)]
    assert got.index.tolist() == want.index.tolist()
    np.testing.assert_allclose(got["volume"], want["volume"], rtol=1e-6)
    assert (got["pt_supervoxel_id"].to_numpy() == want["pt_supervoxel_id"].to_numpy().astype(np.int64)).all()
    positions = np.stack(got["pt_position"].to_numpy())
    assert (positions == want[["pt_position_x", "pt_position_y", "pt_position_z"]].to_numpy()).all()

    # every row the fuzzing could have touched is still there, unchanged
    live = cave.materialize.live_live_query("fuzz_tags", dt.datetime.now(dt.timezone.utc))
    assert sorted(live["id"]) == sorted(user_table)
    assert sorted(live["tag"]) == [r["tag"] for r in TAG_ROWS]
    assert cave.annotation.get_annotation_count("fuzz_tags") == len(TAG_ROWS)


def test_the_token_is_read_as_middle_auth_client_reads_it(fuzz_service):
    """An ``Authorization`` header that is not ``Bearer <token>`` is a 400, even with the right
    token; the header wins over the ``middle_auth_token`` query parameter, which wins over the
    cookie (middle_auth_client ``decorators.py`` ``auth_required``)."""
    url, token = f"{fuzz_service.url}/info/api/v2/datastack/full/{DS}", fuzz_service.token
    scheme = requests.get(url, headers={"Authorization": f"Token {token}"}, timeout=60)
    assert scheme.status_code == 400 and "must begin with 'Bearer'" in scheme.json()["message"]
    wrong_cookie = {"middle_auth_token": "x"}
    assert requests.get(url, headers={"Authorization": f"Bearer {token}"}, cookies=wrong_cookie, timeout=60).ok
    assert requests.get(url, params={"middle_auth_token": token}, cookies=wrong_cookie, timeout=60).ok
    assert requests.get(url, params={"middle_auth_token": "x"}, cookies={"middle_auth_token": token},
                        timeout=60).status_code == 401
