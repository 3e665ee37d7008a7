"""The materialization row cap, as the real MaterializationEngine applies it, and our paging.

A second sample service (conftest's ``capped_service``) runs with a small cap (``query_limit``) so
the same code path as the real 200,000-row ``QUERY_LIMIT_SIZE`` is exercised on small tables; one
test checks the real default.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import requests

import cavewidgets
from cavewidgets.paging import TruncatedQueryError, query_whole, refuse_truncated, server_limits

CAP = 100  # conftest.CAPPED_QUERY_LIMIT: the cap of the capped_service / capped fixtures
NUC = "nucleus_detection_v0"  # 356 rows in the sample


def _query(service, body, version=2, table=NUC, **params):
    url = f"{service.url}/materialize/api/v3/datastack/{service.datastack}/version/{version}/table/{table}/query"
    params = {"arrow_format": True, "direct_sql_pandas": True, **params}
    r = requests.post(url, json=body, params=params, headers={"Authorization": f"Bearer {service.token}"})
    r.raise_for_status()
    return r


def test_cap_and_its_warning_header_are_the_real_ones(capped_service):
    r = _query(capped_service, {})
    # one Warning header per message (MaterializationEngine utils.add_warnings_to_headers)
    assert r.raw.headers.getlist("Warning") == [f'201 - "Limited query to {CAP} rows']
    r = _query(capped_service, {"limit": 10})  # a user limit that is hit warns the same way
    assert r.raw.headers.getlist("Warning") == ['201 - "Limited query to 10 rows']
    r = _query(capped_service, {"limit": 10_000_000})  # a larger limit is cut to the cap
    assert r.raw.headers.getlist("Warning") == [f'201 - "Limited query to {CAP} rows']
    r = _query(capped_service, {"filter_in_dict": {NUC: {"id": []}}})
    assert "Warning" not in r.headers
    # count=True lifts the cap; without direct_sql_pandas the real engine adds its CSV warning
    r = _query(capped_service, {}, count=True, direct_sql_pandas=False)
    assert r.raw.headers.getlist("Warning")[0].startswith("Query was executed using streaming via CSV")
    # without arrow_format the real create_query_response keeps only its format warning
    r = _query(capped_service, {}, arrow_format=False)
    assert r.raw.headers.getlist("Warning") == [
        "Response is in pyarrow IPC format. If you encounter a parsing error, please upgrade CAVEClient "
        "to >=5.9.0 with: pip install --upgrade caveclient. To suppress this warning, pass arrow_format=True "
        "in your query parameters."]


def test_caveclient_sees_the_cap_like_on_microns(capped, caplog):
    with caplog.at_level("WARNING", logger="caveclient.base"):
        df = capped.materialize.query_table(NUC)
    assert len(df) == CAP
    assert f'201 - "Limited query to {CAP} rows' in caplog.text
    assert int(capped.materialize.query_table(NUC, get_counts=True)["count"].iloc[0]) == 356
    live = capped.materialize.live_live_query(NUC, dt.datetime.now(dt.timezone.utc), log_warning=False)
    assert len(live) == CAP


def test_live_query_warning_text_is_verbatim(capped_service):
    url = f"{capped_service.url}/materialize/api/v3/datastack/{capped_service.datastack}/query"
    body = {"table": NUC, "timestamp": dt.datetime.now(dt.timezone.utc).isoformat()}
    r = requests.post(url, json=body, params={"arrow_format": True, "direct_sql_pandas": True},
                      headers={"Authorization": f"Bearer {capped_service.token}"})
    assert r.status_code == 200
    assert r.raw.headers.getlist("Warning") == [
        f"result has {CAP} entries, which is equal or more         than limit of {CAP} "
        "there may be more results which are not shown"]


def test_default_cap_is_the_real_query_limit_size(sample_client):
    with server_limits(sample_client) as limits:
        df = sample_client.materialize.query_table("synapses_pni_2", select_columns=["id"], log_warning=False)
    assert len(df) == 200_000 and limits.applied == [200_000]


def test_the_550000_row_synapse_table_loads_whole_through_the_real_cap(sample_client):
    seen = []
    df = query_whole(sample_client, "synapses_pni_2", version=2, select_columns=["id", "pre_pt_root_id"],
                     progress=lambda n, total: seen.append((n, total)))
    assert len(df) == 550_000 and df["id"].is_unique and seen[-1] == (550_000, 550_000)
    assert all(b[0] > a[0] for a, b in zip(seen, seen[1:]))  # the bar only moves forward


def _same_rows(a: pd.DataFrame, b: pd.DataFrame):
    a = a.sort_values("id").reset_index(drop=True)
    b = b.sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(a[sorted(a.columns)], b[sorted(b.columns)])


@pytest.mark.parametrize("mode", ["version", "live"])
def test_query_whole_pages_through_the_cap(capped, sample_client, mode):
    kw = dict(desired_resolution=[1, 1, 1])
    when = dict(version=2) if mode == "version" else dict(timestamp=capped.materialize.get_timestamp(2))
    seen = []
    got = query_whole(capped, NUC, progress=lambda n, total: seen.append((n, total)), **when, **kw)
    if mode == "version":
        want = sample_client.materialize.query_table(NUC, materialization_version=2, **kw)
        assert seen[-1] == (356, 356) and len(seen) > 1
    else:
        want = sample_client.materialize.live_live_query(NUC, when["timestamp"], log_warning=False, **kw)
        assert seen[-1][0] == 356
    assert len(got) == 356 and got["id"].is_unique
    _same_rows(got, want)


def test_query_whole_keeps_the_users_filters(capped, sample_client):
    ids = sorted(sample_client.materialize.query_table(NUC, select_columns=["id"])["id"])
    lo, hi = int(ids[20]), int(ids[300])
    kw = dict(filter_greater_equal_dict={"id": lo}, filter_less_dict={"id": hi}, select_columns=["id", "volume"])
    got = query_whole(capped, NUC, version=2, **kw)
    assert sorted(got["id"]) == ids[20:300]
    with pytest.raises(TruncatedQueryError, match="no 'id' column"):
        query_whole(capped, NUC, version=2, select_columns=["volume"])
    with pytest.raises(ValueError, match="limit"):
        query_whole(capped, NUC, version=2, limit=5)


def test_capped_results_are_refused_or_flagged(capped):
    with pytest.raises(TruncatedQueryError, match="row cap of 100"):
        refuse_truncated(capped, lambda: capped.materialize.query_table(NUC), "nuclei")
    assert len(refuse_truncated(capped, lambda: capped.materialize.query_table(NUC, filter_less_dict={"volume": 0}),
                                "none")) == 0
    tracked = cavewidgets.track(capped)
    with pytest.warns(RuntimeWarning, match="row cap of 100"):
        tracked.materialize.query_table(NUC)


def test_explorer_shows_the_whole_table_through_the_cap(capped, tmp_path):
    ex = cavewidgets.Explorer(capped, NUC, version=2, drafts_dir=tmp_path)
    try:
        assert len(ex.table.data) == 356 and ex.table.data["id"].is_unique
    finally:
        ex.close()


def test_a_join_without_a_unique_column_runs_as_sql_joins(sample_client, capped, caplog):
    """MaterializationEngine runs any SQL join: a key on several rows of both sides gives each
    combination (many-to-many), capped at QUERY_LIMIT_SIZE with the same Warning header."""
    syn = sample_client.materialize.synapse_table
    tables = [[syn, "post_pt_root_id"], [NUC, "pt_root_id"]]
    nuclei = sample_client.materialize.query_table(NUC)
    repeated = nuclei["pt_root_id"][nuclei["pt_root_id"].duplicated()].astype("uint64")
    assert len(repeated) and not sample_client.materialize.query_table(syn, limit=1000)["post_pt_root_id"].is_unique
    posts = sample_client.materialize.query_table(syn, filter_in_dict={"post_pt_root_id": repeated.unique().tolist()})
    assert len(posts)  # the sample has synapses onto a root with two nucleus rows
    # the expected rows from the two tables themselves, filtered to those roots on both sides
    want = posts.merge(nuclei[nuclei["pt_root_id"].isin(repeated)], left_on="post_pt_root_id",
                       right_on="pt_root_id", suffixes=("", "_nuc"))
    got = sample_client.materialize.join_query(
        tables, filter_in_dict={syn: {"post_pt_root_id": [int(r) for r in repeated.unique()]}},
        suffixes={syn: "", NUC: "_nuc"})
    assert len(got) == len(want) > len(posts)  # each synapse once per nucleus row of its root
    key = ["id", "id_nuc"]
    assert (got.sort_values(key)[key].to_numpy().tolist() == want.sort_values(key)[key].to_numpy().tolist())
    assert (got["post_pt_root_id"].astype("uint64") == got["pt_root_id"].astype("uint64")).all()
    # the cap and its warning, as on any query: the first CAP of the joined rows
    with caplog.at_level("WARNING", logger="caveclient.base"):
        capped_rows = capped.materialize.join_query(tables, suffixes={syn: "", NUC: "_nuc"})
    assert len(capped_rows) == CAP
    assert f'201 - "Limited query to {CAP} rows' in caplog.text
    full = sample_client.materialize.query_table(syn).merge(nuclei, left_on="post_pt_root_id", right_on="pt_root_id",
                                                            suffixes=("", "_nuc"))
    assert set(map(tuple, capped_rows[key].to_numpy().tolist())) <= set(map(tuple, full[key].to_numpy().tolist()))
