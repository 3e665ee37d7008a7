"""The L2 cache service through the real caveclient."""

from __future__ import annotations

import time

import numpy as np
import pytest
import requests
from _graph_support import cg_client, graph, graph_service  # noqa: F401

pytestmark = pytest.mark.service

ATTRS = ["area_nm2", "max_dt_nm", "mean_dt_nm", "pca", "pca_val", "rep_coord_nm", "size_nm3"]


def test_metadata_and_mapping(cg_client, graph):
    assert sorted(cg_client.l2cache.attributes) == ATTRS
    mapping = cg_client.l2cache.table_mapping()
    assert graph.meta["pcg_table"] in mapping
    assert cg_client.l2cache.has_cache()


def test_get_l2data_values_match_the_sample(cg_client, graph):
    l2s = graph.l2_ids[:: max(1, len(graph.l2_ids) // 200)][:200]
    data = cg_client.l2cache.get_l2data(l2s.tolist())
    assert set(data) == {str(x) for x in l2s.tolist()}
    table = graph.l2_table
    rows, found = graph.l2_rows(l2s)
    assert found.all()
    for l2, row in zip(l2s.tolist(), rows):
        entry = data[str(l2)]
        assert set(entry) == set(ATTRS)
        expect = [table.column(f"rep_coord_nm_{a}")[int(row)].as_py() for a in "xyz"]
        np.testing.assert_allclose(entry["rep_coord_nm"], expect, atol=0.5)
        assert entry["size_nm3"] == pytest.approx(table.column("size_nm3")[int(row)].as_py(), rel=1e-6, abs=1)
        assert np.array(entry["pca"]).shape == (3, 3)
        assert len(entry["pca_val"]) == 3


def test_get_l2data_10000_ids_is_fast_and_unknown_ids_are_empty(cg_client, graph):
    l2s = graph.l2_ids[: min(10_000, len(graph.l2_ids))].tolist()
    unknown = int(graph.l2_ids.max()) + 1
    t0 = time.perf_counter()
    data = cg_client.l2cache.get_l2data(l2s + [unknown], attributes=["rep_coord_nm", "size_nm3"])
    elapsed = time.perf_counter() - t0
    assert len(data) == len(l2s) + 1
    assert data[str(unknown)] == {}
    assert all(len(data[str(x)]["rep_coord_nm"]) == 3 for x in l2s)
    assert elapsed < 3.0, f"get_l2data of {len(l2s)} ids took {elapsed:.2f} s"


def test_get_l2data_table(cg_client, graph):
    frame = cg_client.l2cache.get_l2data_table(graph.l2_ids[:5].tolist(), attributes=["rep_coord_nm", "pca_val"])
    assert {"rep_coord_nm_x", "rep_coord_nm_y", "rep_coord_nm_z", "pca_val_0"} <= set(frame.columns)
    assert sorted(frame.index.astype(np.uint64).tolist()) == sorted(graph.l2_ids[:5].tolist())


def test_bad_requests(cg_client, graph, graph_service):
    with pytest.raises(requests.HTTPError) as err:
        cg_client.l2cache.get_l2data(graph.l2_ids[:2].tolist(), attributes=["no_such_attribute"])
    assert err.value.response.status_code == 400
    assert "no_such_attribute" in err.value.response.json()["message"]
    session = cg_client.l2cache.session
    url = f"{graph_service.url}/l2cache/api/v1/table/{graph.meta['pcg_table']}/attributes"
    assert session.post(url, data=b"not json").status_code == 400
    assert session.post(url, json={"l2_ids": ["x"]}).status_code == 400
    bad_table = f"{graph_service.url}/l2cache/api/v1/table/nope/attributes"
    assert session.post(bad_table, json={"l2_ids": [1]}).status_code == 404
