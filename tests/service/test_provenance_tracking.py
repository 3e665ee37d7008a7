"""``cavewidgets.track(client)`` against the real sample service: pass-through and what gets recorded."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

import cavewidgets
from cavewidgets import reproducible
from cavewidgets.reproducible import frame_hash

pytestmark = pytest.mark.service


@pytest.fixture(autouse=True)
def empty_log():
    reproducible.clear()
    yield
    reproducible.clear()


@pytest.fixture()
def tracked(sample_client):
    return cavewidgets.track(sample_client)


def test_everything_else_passes_through(tracked, sample_client):
    assert tracked.info is sample_client.info
    assert tracked.chunkedgraph is sample_client.chunkedgraph
    assert tracked.l2cache is sample_client.l2cache
    assert tracked.untracked is sample_client and cavewidgets.track(tracked) is tracked
    assert tracked.info.get_datastack_info()["soma_table"] == "nucleus_detection_v0"
    assert tracked.materialize.get_versions() == sample_client.materialize.get_versions()
    assert tracked.datastack_name == "minnie65_sample"
    assert len(cavewidgets.provenance()) == 0  # metadata calls are not queries
    with pytest.raises(TypeError, match="CAVEclient"):
        cavewidgets.track(None)


def test_query_table_records_resolved_version_filters_and_hash(tracked, sample_client, sample_service):
    latest = sample_client.materialize.most_recent_version()
    df = tracked.materialize.query_table("nucleus_detection_v0", filter_greater_dict={"volume": 200},
                                         select_columns=["id", "volume", "pt_root_id"])
    again = tracked.materialize.query_table("nucleus_detection_v0", filter_greater_dict={"volume": 200},
                                            select_columns=["id", "volume", "pt_root_id"])
    log = cavewidgets.provenance()
    assert len(log) == 2
    row = log.iloc[0]
    assert row["method"] == "query_table" and row["table"] == "nucleus_detection_v0" and row["source"] == "track"
    assert row["version"] == latest and pd_isna(row["timestamp"])
    assert row["datastack"] == "minnie65_sample" and row["server"] == sample_service.url
    assert row["filters"] == {"filter_greater_dict": {"volume": 200}}
    assert row["select_columns"] == ["id", "volume", "pt_root_id"]
    assert row["n_rows"] == len(df) > 0 and row["seconds"] > 0
    # two identical queries, uint64-sized ids included: the same hash; and it is the frame's hash
    assert (df["pt_root_id"] > 2**53).any()
    assert log["result_hash"].nunique() == 1 and row["result_hash"] == frame_hash(again)
    assert sample_service.token not in repr(log.to_dict())


def test_pinned_client_version_and_timestamps(sample_service):
    pinned = cavewidgets.track(cavewidgets.sample.client(service=sample_service, version=1))
    pinned.materialize.query_table("proofreading_status_and_strategy")
    ts = dt.datetime(2025, 2, 1, 12, 0, 0, 123456, tzinfo=dt.timezone.utc)
    pinned.materialize.live_query("proofreading_status_and_strategy", ts)
    pinned.materialize.query_table("proofreading_status_and_strategy", timestamp=ts)  # via live_query
    log = cavewidgets.provenance()
    assert log["version"].tolist()[0] == 1
    assert log["method"].tolist() == ["query_table", "live_query", "query_table"]
    assert log["timestamp"].iloc[1] == ts and log["timestamp"].iloc[2] == ts
    assert log["result_hash"].iloc[1] == log["result_hash"].iloc[2]
    assert log["result_hash"].iloc[0] != log["result_hash"].iloc[1]  # v1 has half the proofreading rows


def test_synapse_query_and_table_manager_are_recorded(tracked, sample_client):
    root = int(sample_client.materialize.query_table("proofreading_status_and_strategy")["pt_root_id"].iloc[0])
    syn = tracked.materialize.synapse_query(pre_ids=root)
    bcs = tracked.materialize.tables.aibs_metamodel_celltypes_v661(cell_type="BC").query()
    log = cavewidgets.provenance()
    assert log["method"].tolist() == ["synapse_query", "join_query"]
    first = log.iloc[0]
    assert first["table"] == "synapses_pni_2" and first["filters"] == {"pre_ids": root}
    assert first["n_rows"] == len(syn) > 0 and (syn["pre_pt_root_id"] == root).all()
    replay = reproducible.LOG.records[0].replay_call()
    assert replay["kwargs"]["synapse_table"] == "synapses_pni_2" and replay["kwargs"]["pre_ids"] == root
    assert replay["kwargs"]["materialization_version"] == first["version"]
    assert log.iloc[1]["table"] == "aibs_metamodel_celltypes_v661+nucleus_detection_v0"
    assert log.iloc[1]["n_rows"] == len(bcs) > 0 and set(bcs["cell_type"]) == {"BC"}


def test_widget_recording_through_a_tracked_client_is_not_doubled(tracked):
    df = tracked.materialize.query_table("nucleus_detection_v0", limit=5)
    rec = reproducible.record_query(tracked, method="query_table", table="nucleus_detection_v0",
                                    params={"limit": 5}, result=df, source="explorer")
    log = cavewidgets.provenance()
    assert len(log) == 1 and log.iloc[0]["source"] == "explorer" and rec.n == log.index[0]


def test_failed_queries_raise_unchanged_and_are_not_logged(tracked):
    with pytest.raises(Exception, match="no_such_table|not found|404"):
        tracked.materialize.query_table("no_such_table")
    with pytest.raises(TypeError):
        tracked.materialize.query_table()  # caveclient's own error for a bad call
    assert len(cavewidgets.provenance()) == 0


def pd_isna(value) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


def test_record_query_resolves_latest_version_for_unpinned_calls(sample_client):
    df = sample_client.materialize.query_table("nucleus_detection_v0", limit=3)
    rec = reproducible.record_query(sample_client, method="query_table", table="nucleus_detection_v0",
                                    params={"limit": 3}, result=df)
    assert rec.version == sample_client.materialize.most_recent_version() and rec.replayable
    assert np.isclose(rec.n_rows, 3)
