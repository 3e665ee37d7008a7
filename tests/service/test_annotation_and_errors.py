"""Annotation engine round trips, its real limits (no idempotency, 10,000 rows, 413/422), and CAVE-style errors (real client, real service)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests

pytestmark = pytest.mark.service


@pytest.fixture(scope="module")
def nuclei(sample_client):
    """A few nuclei (voxel positions of the nucleus table) with their latest root ids."""
    df = sample_client.materialize.live_live_query("nucleus_detection_v0", dt.datetime.now(dt.timezone.utc))
    df = df[df["pt_root_id"] != 0].head(5)
    res = sample_client.materialize.get_table_metadata("nucleus_detection_v0")["voxel_resolution"]
    return df, res


def test_post_bound_tags_and_query_back_with_root_ids(sample_client, nuclei):
    df, res = nuclei
    sample_client.annotation.create_table("test_tags", "bound_tag", "tags posted by the tests", res)
    assert "test_tags" in sample_client.annotation.get_tables()
    posted = pd.DataFrame({"pt_position": list(df["pt_position"]), "tag": [f"n{i}" for i in range(len(df))]})
    ids = sample_client.annotation.post_annotation_df("test_tags", posted, position_columns=["pt_position"])
    assert len(ids) == len(df)
    assert sample_client.annotation.get_annotation_count("test_tags") == len(df)

    live = sample_client.materialize.live_live_query("test_tags", dt.datetime.now(dt.timezone.utc))
    live = live.set_index("tag").loc[posted["tag"]]
    # a tag at a nucleus centroid lies in that nucleus' cell: same supervoxel, same root
    assert (live["pt_root_id"].to_numpy() == df["pt_root_id"].to_numpy()).all()
    assert (live["pt_supervoxel_id"].to_numpy() == df["pt_supervoxel_id"].to_numpy()).all()

    frozen = sample_client.materialize.query_table("test_tags")
    assert sorted(frozen["id"]) == sorted(ids)
    assert (frozen["pt_root_id"] != 0).all()

    got = sample_client.annotation.get_annotation("test_tags", ids[:2])
    assert sorted(a["id"] for a in got) == sorted(ids[:2])


def test_a_repeated_post_is_two_posts_as_on_the_real_engine(sample_client, nuclei):
    """AnnotationEngine keeps no idempotency key: re-sending a batch writes it again (exactly-once
    is the client's job, see cavewidgets.posting)."""
    df, res = nuclei
    sample_client.annotation.create_table("test_retry", "bound_tag", "retry test", res)
    posted = pd.DataFrame({"pt_position": list(df["pt_position"][:2]), "tag": ["a", "b"]})
    first = sample_client.annotation.post_annotation_df("test_retry", posted, position_columns=["pt_position"])
    again = sample_client.annotation.post_annotation_df("test_retry", posted, position_columns=["pt_position"])
    assert len(set(first) | set(again)) == 4
    assert sample_client.annotation.get_annotation_count("test_retry") == 4


def test_more_than_10000_rows_is_413_with_the_real_message(sample_client, nuclei):
    df, res = nuclei
    sample_client.annotation.create_table("test_413", "bound_tag", "limit test", res)
    row = {"pt": {"position": [int(v) for v in df["pt_position"].iloc[0]]}, "tag": "x"}
    with pytest.raises(requests.HTTPError) as err:
        sample_client.annotation.post_annotation("test_413", [row] * 10_001)
    assert err.value.response.status_code == 413
    assert err.value.response.json()["message"] == \
        "10000 -> The insertion limit is 10000, 10001 were attempted to be inserted"
    assert sample_client.annotation.get_annotation_count("test_413") == 0


def test_invalid_batch_writes_nothing(sample_client, nuclei):
    df, res = nuclei
    sample_client.annotation.create_table("test_invalid", "bound_tag", "invalid batch test", res)
    good = {"pt": {"position": [int(v) for v in df["pt_position"].iloc[0]]}, "tag": "ok"}
    bad = {"pt": {"position": [1, 2]}, "tag": "short point"}
    with pytest.raises(requests.HTTPError) as err:
        sample_client.annotation.post_annotation("test_invalid", [good, good, bad])
    assert err.value.response.status_code == 422  # AnnotationEngine api.py: ValidationError -> 422
    message = err.value.response.json()["message"]
    assert "row 2" in message and "pt.position" in message
    with pytest.raises(requests.HTTPError) as err:
        sample_client.annotation.post_annotation("test_invalid", [good, {"pt": good["pt"], "tag": 7}])
    message = err.value.response.json()["message"]
    assert "row 1" in message and "'tag'" in message
    assert sample_client.annotation.get_annotation_count("test_invalid") == 0


def test_update_and_delete(sample_client, nuclei):
    df, res = nuclei
    sample_client.annotation.create_table("test_edit", "bound_tag", "edit test", res)
    pos = [int(v) for v in df["pt_position"].iloc[0]]
    ids = sample_client.annotation.post_annotation("test_edit", [{"pt": {"position": pos}, "tag": "old"},
                                                                 {"pt": {"position": pos}, "tag": "gone"}])
    mapping = sample_client.annotation.update_annotation("test_edit", [{"id": ids[0], "pt": {"position": pos}, "tag": "new"}])
    assert list(mapping) == [str(ids[0])]  # {old_id: new_id}, JSON keys (AnnotationEngine api.py)
    new_id = int(mapping[str(ids[0])])
    assert sample_client.annotation.delete_annotation("test_edit", [ids[1]]) == [ids[1]]
    live = sample_client.materialize.live_live_query("test_edit", dt.datetime.now(dt.timezone.utc))
    assert list(live["id"]) == [new_id] and list(live["tag"]) == ["new"]
    assert sample_client.annotation.get_annotation_count("test_edit") == 1


def test_sample_tables_are_read_only(sample_client):
    with pytest.raises(requests.HTTPError) as err:
        sample_client.annotation.post_annotation("nucleus_detection_v0", [{"pt": {"position": [1, 2, 3]}}])
    assert err.value.response.status_code == 403


def test_unknown_things_are_404(sample_client, sample_service):
    from caveclient import CAVEclient

    with pytest.raises(requests.HTTPError) as err:
        CAVEclient("no_such_datastack", server_address=sample_service.url,
                   auth_token=sample_service.token, write_server_cache=False)
    assert err.value.response.status_code == 404
    with pytest.raises(requests.HTTPError) as err:
        sample_client.materialize.query_table("no_such_table")
    assert err.value.response.status_code == 404
    with pytest.raises(requests.HTTPError) as err:
        sample_client.materialize.get_version_metadata(version=987)
    assert err.value.response.status_code == 404


def test_malformed_bodies_are_400(sample_client, sample_service, auth):
    v = sample_client.materialize.most_recent_version()
    ds = sample_client.datastack_name
    url = f"{sample_service.url}/materialize/api/v3/datastack/{ds}/version/{v}/table/synapses_pni_2/query"
    cases = [
        ("{not json", "not valid JSON"),
        ('{"filter_in_dict": {"synapses_pni_2": {"pre_pt_root_id": 5}}}', "expected a list"),
        ('{"filter_in_dict": {"synapses_pni_2": {"pre_pt_root_id": ["x"]}}}', "int64"),
        ('{"filter_in_dict": {"synapses_pni_2": {"no_column": [1]}}}', "no_column"),
        ('{"limit": -3}', "limit"),
        ('{"desired_resolution": [1, 2]}', "desired_resolution"),
        ('{"filter_in_dict": {"other_table": {"id": [1]}}}', "other_table"),
    ]
    for body, needle in cases:
        r = requests.post(url, data=body, headers={**auth, "Content-Type": "application/json"})
        assert r.status_code == 400, (body, r.status_code, r.text)
        assert needle in r.json()["message"], (body, r.text)
    r = requests.post(f"{sample_service.url}/nglstate/api/v1/post", data="{oops", headers=auth)
    assert r.status_code == 400
    table_url = f"{sample_service.url}/annotation/api/v2/aligned_volume/{sample_client.info.get_aligned_volume_info()['name']}/table"
    r = requests.post(table_url, json={"table_name": "x", "schema_type": "no_such_schema", "metadata": {}}, headers=auth)
    assert r.status_code == 400 and "no_such_schema" in r.json()["message"]


def test_wrong_token_is_401(sample_service):
    from caveclient import CAVEclient

    r = requests.get(f"{sample_service.url}/info/api/v2/datastacks", headers={"Authorization": "Bearer " + "0" * 32})
    assert r.status_code == 401
    r = requests.get(f"{sample_service.url}/info/api/v2/datastacks")
    assert r.status_code == 401
    r = requests.get(f"{sample_service.url}/info/api/v2/datastacks", params={"middle_auth_token": sample_service.token})
    assert r.status_code == 200
    with pytest.raises(requests.HTTPError) as err:
        CAVEclient(sample_service.datastack, server_address=sample_service.url, auth_token="f" * 32,
                   write_server_cache=False)
    assert err.value.response.status_code == 401


def test_client_writes_nothing_to_cloudvolume_dir(sample_service):
    import cavewidgets.sample

    home_cv = Path(os.path.expanduser("~/.cloudvolume"))
    before = sorted(p for p in home_cv.rglob("*")) if home_cv.exists() else None
    client = cavewidgets.sample.client(service=sample_service)
    client.materialize.query_table("nucleus_detection_v0", limit=5)
    client.info.segmentation_source()
    after = sorted(p for p in home_cv.rglob("*")) if home_cv.exists() else None
    assert before == after
    assert sample_service.token not in repr(sample_service)


def test_shared_client_starts_one_service():
    import cavewidgets.sample

    if os.environ.get("CAVEWIDGETS_SAMPLE_DIR"):
        pytest.skip("shared service uses the cached default sample")
    a = cavewidgets.sample.client()
    b = cavewidgets.sample.client()
    assert a.server_address == b.server_address
    assert np.int64(a.materialize.most_recent_version()) >= 2


def test_concurrent_identical_posts_each_insert(sample_client, sample_service, nuclei, auth):
    """Racing identical posts (no idempotency key on the real engine) each insert, with distinct ids."""
    from concurrent.futures import ThreadPoolExecutor

    df, res = nuclei
    sample_client.annotation.create_table("test_race", "bound_tag", "race test", res)
    av = sample_client.info.get_aligned_volume_info()["name"]
    url = f"{sample_service.url}/annotation/api/v2/aligned_volume/{av}/table/test_race/annotations"
    body = {"annotations": [{"pt": {"position": [int(v) for v in df["pt_position"].iloc[0]]}, "tag": "once"}]}
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: requests.post(url, json=body, headers=auth).json(), range(8)))
    assert len({a[0] for a in answers}) == 8
    assert sample_client.annotation.get_annotation_count("test_race") == 8


def test_console_command_serves(sample_service, tmp_path):
    import subprocess
    import sys
    import time

    token = "ab" * 16
    env = {**os.environ, "CAVEWIDGETS_SAMPLE_TOKEN": token}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cavewidgets", "sample", "serve", "--data-dir", str(sample_service.data_dir),
         "--work-dir", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        first = proc.stdout.readline()
        assert "http://127.0.0.1:" in first, first
        url = first.split()[4]
        deadline = time.time() + 30
        while True:
            try:
                r = requests.get(f"{url}/info/api/v2/datastacks", headers={"Authorization": f"Bearer {token}"})
                break
            except requests.ConnectionError:
                assert time.time() < deadline
                time.sleep(0.2)
        assert r.status_code == 200 and r.json() == [sample_service.datastack]
        assert token not in first + proc.stdout.readline()
    finally:
        proc.terminate()
        proc.wait(10)


def test_table_names_are_validated(sample_service, auth):
    import requests

    url = f"{sample_service.url}/annotation/api/v2/aligned_volume/minnie65_sample/table"
    md = {"description": "d", "voxel_resolution_x": 1, "voxel_resolution_y": 1, "voxel_resolution_z": 1}
    for bad in ["../../etc", "x" * 300, "1abc", "tags;drop"]:
        r = requests.post(url, headers=auth, json={"table_name": bad, "schema_type": "bound_tag", "metadata": md}, timeout=30)
        assert r.status_code == 400 and "table_name" in r.json()["message"], (bad, r.text)
