"""What merges in a paper's export, on logged entries (no service needed)."""

from __future__ import annotations

import pytest

from cavewidgets.reproducible.merge import merge_entries, merge_pair

BIG = 864691135808684573  # > 2**53: must stay exact through the union


def entry(rid, params, *, method="query_table", table="synapses_pni_2", version=2, timestamp=None,
          analysis="fig2", n_rows=1):
    replay = {"method": method, "kwargs": dict(params, table=table, materialization_version=version)}
    return {"kind": "query", "record_id": rid, "method": method, "table": table, "version": version,
            "timestamp": timestamp, "params": params, "analysis": analysis, "n_rows": n_rows,
            "replay": replay, "datastack": "ds", "server": "http://s"}


def by_members(queries):
    return {tuple(m["record_id"] for m in q.members): q for q in queries}


def test_in_filters_on_one_column_merge_into_the_union():
    queries = merge_entries([
        entry("a", {"filter_in_dict": {"pre_pt_root_id": [BIG + 2, BIG]}}),
        entry("b", {"filter_in_dict": {"pre_pt_root_id": [BIG, BIG + 1]}}, analysis="fig3"),
        entry("c", {"filter_equal_dict": {"pre_pt_root_id": BIG + 5}}),
    ])
    (q,) = queries
    assert [m["record_id"] for m in q.members] == ["a", "b", "c"]
    assert q.params == {"filter_in_dict": {"pre_pt_root_id": [BIG, BIG + 1, BIG + 2, BIG + 5]}}
    assert q.analyses == ["fig2", "fig3"] and not q.version_conflict
    assert q.replay()["kwargs"] == {"filter_in_dict": {"pre_pt_root_id": [BIG, BIG + 1, BIG + 2, BIG + 5]},
                                    "table": "synapses_pni_2", "materialization_version": 2}


def test_a_wider_restriction_absorbs_a_narrower_one_and_keeps_its_own_call():
    wide = {"filter_in_dict": {"pre_pt_root_id": [1, 2]}}
    narrow = {"filter_in_dict": {"pre_pt_root_id": [1, 2]}, "filter_greater_dict": {"size": 10}}
    (q,) = merge_entries([entry("n", narrow), entry("w", wide), entry("all", {})])
    assert q.params == {} and len(q.members) == 3
    (q,) = merge_entries([entry("n", narrow), entry("w", wide)])
    assert q.params == wide and q.replay() == entry("w", wide)["replay"]


@pytest.mark.parametrize("a, b, why", [
    ({"filter_in_dict": {"x": [1]}}, {"filter_in_dict": {"y": [1]}},
     "filters on different columns"),
    ({"filter_in_dict": {"x": [1], "y": [1]}}, {"filter_in_dict": {"x": [2], "y": [2]}},
     "differ in more than one filter"),
    ({"filter_greater_dict": {"x": 1}}, {"filter_greater_dict": {"x": 2}},
     "only filter_in_dict/filter_equal_dict values are merged"),
    ({"filter_out_dict": {"x": [1]}}, {"filter_out_dict": {"x": [2]}},
     "only filter_in_dict/filter_equal_dict values are merged"),
])
def test_unmergeable_restrictions_stay_apart_with_the_reason(a, b, why):
    queries = merge_entries([entry("a", a), entry("b", b)])
    assert len(queries) == 2
    assert all(why in q.note for q in queries), [q.note for q in queries]


def test_versions_timestamps_and_other_arguments_are_kept_apart():
    f = {"filter_in_dict": {"pre_pt_root_id": [1]}}
    g = {"filter_in_dict": {"pre_pt_root_id": [2]}}
    queries = merge_entries([
        entry("v2", f), entry("v1", g, version=1),
        entry("cols", dict(g, select_columns=["id"])),
        entry("lim", dict(g, limit=5)), entry("lim2", dict(g, limit=5)),
        entry("nuc", {}, table="nucleus_detection_v0"),
    ])
    groups = by_members(queries)
    assert set(groups) == {("v2",), ("v1",), ("cols",), ("lim", "lim2"), ("nuc",)}
    assert groups[("v1",)].version_conflict and groups[("v2",)].version_conflict
    assert "also queried at version 2" in groups[("v1",)].note
    assert not groups[("nuc",)].version_conflict
    assert "only identical calls merge" in groups[("lim", "lim2")].note
    assert "different arguments (limit, select_columns)" in groups[("cols",)].note


def test_synapse_query_ids_merge_and_live_live_nesting():
    pre = merge_entries([entry("p1", {"pre_ids": [BIG]}, method="synapse_query"),
                         entry("p2", {"pre_ids": BIG + 1}, method="synapse_query")])
    assert len(pre) == 1 and pre[0].params == {"pre_ids": [BIG, BIG + 1]}
    ts = "2026-01-01T00:00:00+00:00"
    live = merge_entries([
        entry("l1", {"filter_in_dict": {"t": {"c": [1]}}}, method="live_live_query", version=None, timestamp=ts),
        entry("l2", {"filter_in_dict": {"t": {"c": [3]}}}, method="live_live_query", version=None, timestamp=ts),
    ])
    assert len(live) == 1 and live[0].params == {"filter_in_dict": {"t": {"c": [1, 3]}}}
    assert live[0].replay()["kwargs"]["timestamp"] == {"__datetime__": ts}


def test_merge_pair_is_symmetric_for_unions():
    a = {("filter_in_dict", "x"): [3, 1]}
    b = {("filter_in_dict", "x"): [2]}
    assert merge_pair(a, b)[0] == merge_pair(b, a)[0] == {("filter_in_dict", "x"): [1, 2, 3]}
