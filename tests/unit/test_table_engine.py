"""TableBrowser kernel side: sort, filter, search, paging, selection and bad input (no browser)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from cavewidgets import TableBrowser

BIG = 864691135808684573


def decode(page: bytes) -> pa.Table:
    return pa.ipc.open_stream(page).read_all()


@pytest.fixture
def synapses():
    rng = np.random.default_rng(0)
    n = 5000
    return pd.DataFrame(
        {
            "id": np.arange(n, dtype=np.int64) + 10,
            "pre_pt_root_id": np.uint64(BIG) + rng.integers(0, 50, n).astype(np.uint64),
            "post_pt_root_id": np.uint64(BIG) + rng.integers(0, 50, n).astype(np.uint64),
            "size": rng.integers(1, 1000, n),
            "ctr_pt_position": list(rng.integers(0, 10_000, (n, 3))),
            "cell_type": pd.Categorical(rng.choice(["23P", "4P", "BC"], n)),
            "note": rng.choice(["dendrite spine", "shaft", None], n),
        }
    )


def page_rows(browser: TableBrowser, start=0, count=100) -> list[dict]:
    return decode(browser._engine.page(start, count, browser._selected_mask)).to_pylist()


def test_uint64_ids_stay_exact_through_pages_and_selection(synapses):
    b = TableBrowser(synapses, key="pre_pt_root_id" if not synapses.pre_pt_root_id.duplicated().any() else None)
    rows = page_rows(b, 0, 3)
    assert [r["pre_pt_root_id"] for r in rows] == [int(v) for v in synapses.pre_pt_root_id[:3]]
    assert decode(b._engine.page(0, 1, b._selected_mask)).schema.field("pre_pt_root_id").type == pa.uint64()
    ids = pd.DataFrame({"root_id": np.array([BIG, BIG + 1, 2**64 - 1], dtype=np.uint64), "x": [1, 2, 3]})
    b = TableBrowser(ids, key="root_id")
    b.select([2**64 - 1, BIG])
    assert b.selection == [2**64 - 1, BIG]
    assert b.selected["root_id"].tolist() == [2**64 - 1, BIG]
    assert b.selected["root_id"].dtype == np.uint64


def test_sort_filter_search_compose_and_match_pandas(synapses):
    b = TableBrowser(synapses)
    assert b.key == "id"
    b.sort_by("size", ascending=False).filter(cell_type=["23P", "4P"], size=(100, 500))
    expected = synapses[synapses.cell_type.isin(["23P", "4P"]) & synapses["size"].between(100, 500)]
    expected = expected.sort_values(["size"], ascending=False, kind="stable")
    assert b.filtered_rows == len(expected)
    assert b.filtered["size"].tolist() == expected["size"].tolist()
    assert set(b.filtered.index) == set(expected.index)
    b.search("spine")
    assert b.filtered_rows == int((expected.note == "dendrite spine").sum())
    b.search(str(BIG + 3))  # an id typed in the search box finds its rows
    assert set(b.filtered.index) == set(expected.index[(expected.pre_pt_root_id == BIG + 3) | (expected.post_pt_root_id == BIG + 3)])
    b.clear_filters()
    assert b.filtered_rows == len(synapses) and b.search_text == ""
    assert b.filtered["size"].is_monotonic_decreasing  # the sort stays


def test_filters_on_uint64_ids_are_exact(synapses):
    b = TableBrowser(synapses)
    b.filter(pre_pt_root_id=[BIG + 1, BIG + 2])
    assert set(b.filtered.pre_pt_root_id.unique()) <= {BIG + 1, BIG + 2}
    assert b.filtered_rows == int(synapses.pre_pt_root_id.isin([BIG + 1, BIG + 2]).sum())
    assert b.filters["pre_pt_root_id"] == {"kind": "in", "values": [str(BIG + 1), str(BIG + 2)]}  # strings for JS
    b.filter(pre_pt_root_id=(str(BIG + 49), None))
    assert b.filtered_rows == int((synapses.pre_pt_root_id >= BIG + 49).sum())


def test_observers_fire_on_every_change(synapses):
    b = TableBrowser(synapses)
    seen = []
    b.observe(lambda ch: seen.append(ch["name"]), names=["sort", "filters", "search_text", "selection", "filtered_rows"])
    b.sort_by("size")
    b.filter(size=(1, 10))
    b.search("shaft")
    b.select(list(b.filtered.id[:2]))
    assert {"sort", "filters", "search_text", "selection", "filtered_rows"} <= set(seen)


def test_selection_modes_follow_the_view(synapses):
    b = TableBrowser(synapses)
    b.sort_by("size")
    view = b._engine.view
    b._rpc_click(position=3, mode="replace")
    b._rpc_click(position=7, mode="toggle")
    assert b.selected.index.tolist() == [view[3], view[7]]
    b._rpc_click(position=5, mode="range", anchor=3)
    assert b.selected.index.tolist() == list(view[3:6])
    b._rpc_click(position=4, mode="toggle")
    assert view[4] not in b.selected.index
    rows = page_rows(b, 0, 10)
    assert [r["__sel"] for r in rows] == [False, False, False, True, False, True] + [False] * 4
    b._rpc_click(position=-1, mode="clear")
    assert b.selection == [] and b.selected_count == 0
    with pytest.raises(ValueError, match="outside the view"):
        b._rpc_click(position=10**9, mode="replace")


def test_split_and_vector_positions_display_as_one_column():
    df = pd.DataFrame({"pt_position_x": [1, 4], "pt_position_y": [2, 5], "pt_position_z": [3, 6], "v": [0.5, 1.5]})
    b = TableBrowser(df)
    assert [c["name"] for c in b.columns] == ["pt_position", "v"]
    assert page_rows(b)[1]["pt_position"] == [4, 5, 6]
    b.filter(pt_position_x=(2, None))  # the parts stay filterable
    assert b.filtered_rows == 1
    df = pd.DataFrame({"pt": [np.array([1, 2, 3]), None, [7, 8, 9]]})
    b = TableBrowser(df)
    assert b.columns[0]["kind"] == "position"
    assert [r["pt"] for r in page_rows(b)] == [[1, 2, 3], None, [7, 8, 9]]
    b.sort_by("pt", ascending=False)
    assert b.filtered.index.tolist() == [2, 0, 1]


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame(),
        pd.DataFrame(index=range(4)),
        pd.DataFrame({"id": pd.Series([], dtype="uint64")}),
        pd.DataFrame({"a": [1.0, np.nan, None], "b": [None, "x", np.nan]}),
        pd.DataFrame({"obj": [[1, 2], {"k": [1]}, None, {1, 2}, object()]}),
        pd.DataFrame({"ragged": [[1, 2, 3], [1, 2], None]}),
        pd.DataFrame({"t": pd.to_datetime(["2024-01-01", None], utc=True), "d": [pd.Timedelta("1h"), None]}),
        pd.DataFrame([[1, 2]], columns=["dup", "dup"]),
        pd.DataFrame({'we"ird; DROP TABLE t; --': [1, 2], 3: ["int", "label"]}),
        pd.DataFrame({"s": ["x" * 1_000_000, "é漢字🙂"]}),
    ],
    ids=["empty", "no-columns", "empty-uint64", "nan-none", "objects", "ragged", "datetime", "dup-columns", "hostile-names", "huge-cell"],
)
def test_odd_frames_page_without_error(frame):
    b = TableBrowser(frame)
    rows = page_rows(b)
    assert len(rows) == len(frame)
    for c in b.columns:
        b.sort_by(c["name"])
        if c["kind"] != "position":
            b._engine.summary(c["name"])
    if rows and "s" in frame:
        assert len(rows[0]["s"]) == 300 and rows[1]["s"] == "é漢字🙂"


def test_hostile_filter_and_search_text_is_data_not_sql():
    df = pd.DataFrame({"name": ["100%", "a_b", "x'); DROP TABLE t; --", "plain"], "n": [1, 2, 3, 4]})
    b = TableBrowser(df)
    b.filter(name={"contains": "%"})
    assert b.filtered.name.tolist() == ["100%"]
    b.filter(name=None).search("'); drop")
    assert b.filtered.n.tolist() == [3]
    b.search("_")
    assert b.filtered.n.tolist() == [2]


def test_bad_input_gets_clear_errors_and_changes_nothing(synapses):
    with pytest.raises(TypeError, match="pandas DataFrame"):
        TableBrowser([1, 2, 3])
    with pytest.raises(ValueError, match="key column 'nope' is not in the DataFrame"):
        TableBrowser(synapses, key="nope")
    with pytest.raises(ValueError, match="duplicate values"):
        TableBrowser(synapses, key="size")
    with pytest.raises(ValueError, match="cannot be keys"):
        TableBrowser(pd.DataFrame({"k": [[1], [2]]}), key="k")
    with pytest.warns(UserWarning, match="unhashable"):  # an 'id' column of lists: keyed by the index
        assert TableBrowser(pd.DataFrame({"id": [[1], [2]]})).key == "index"
    b = TableBrowser(synapses)
    b.filter(size=(10, 20))
    before = (dict(b.filters), b.filtered_rows)
    with pytest.raises(ValueError, match="no column 'bogus'"):
        b.filter(bogus=[1])
    with pytest.raises(ValueError, match="not a valid value for column 'size'"):
        b.filter(size=("ten", None))
    with pytest.raises(ValueError, match="has no range filter"):
        b.filter(cell_type=(1, 2))
    with pytest.raises(ValueError, match="no column"):
        b.sort_by("bogus")
    assert (b.filters, b.filtered_rows) == before
    with pytest.raises(KeyError, match="not in the table"):
        b.select([123456789, -5])
    # a bad value from the browser (typed into a range box) shows a message instead of raising
    b.filters = {"size": {"kind": "range", "min": "abc", "max": None}}
    assert "not a valid value" in b.error and b.filtered_rows == before[1]


def test_duplicate_id_falls_back_to_index_with_a_warning():
    df = pd.DataFrame({"id": [1, 1, 2], "x": [1, 2, 3]}, index=[10, 11, 12])
    with pytest.warns(UserWarning, match="keyed by the index"):
        b = TableBrowser(df)
    b.select([11])
    assert b.selected.x.tolist() == [2]


def test_stale_view_never_serves_rows_outside_the_view(synapses):
    b = TableBrowser(synapses)
    b.filter(size=(1, 5))
    n = b.filtered_rows
    assert len(page_rows(b, n - 2, 100)) == 2  # a page past the end is cut, not padded
    assert page_rows(b, 10**9, 100) == []


def test_first_pages_of_a_new_sort_match_the_full_order(synapses):
    """Pages served by the top-N query while the full order sorts in the background are the same rows."""
    b = TableBrowser(synapses)
    b.filter(cell_type=["23P"]).search("a")  # 'a' is in no text value… except "shaft"
    b.sort_by(["size", "id"], ascending=[False, True])
    early = [page_rows(b, s, 100) for s in (0, 100, 1900)]
    b._engine.view  # wait for the full order
    late = [page_rows(b, s, 100) for s in (0, 100, 1900)]
    assert [[r["__row"] for r in p] for p in early] == [[r["__row"] for r in p] for p in late]
    expected = synapses[(synapses.cell_type == "23P") & (synapses.note == "shaft")].sort_values(["size", "id"], ascending=[False, True])
    assert [r["__row"] for r in late[0]] == list(expected.index[:100])
    # and the top-N query itself, deterministically (on a small frame the background sort may win the race)
    assert b._engine._top_rows(1900, 100).tolist() == b._engine.view[1900:2000].tolist()
    assert b._engine._top_rows(0, 100).tolist() == list(expected.index[:100])


def test_row_numbers_and_masks_stay_exact_on_a_parallel_scan():
    """A million rows are scanned by DuckDB in parallel, in many vectors: row numbers, filter
    masks and sort orders must still name the right rows (a streamed result does not keep
    the scan's order)."""
    n = 1_000_000
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"size": rng.integers(0, 1000, n),
                       "cell_type": pd.Categorical(rng.choice(["23P", "4P", "BC"], n)),
                       "root": np.uint64(2**60) + rng.integers(0, 50, n).astype(np.uint64)})
    from cavewidgets.table.engine import TableEngine

    engine = TableEngine(df)
    assert engine.con.execute("SELECT count(DISTINCT __row), min(__row), max(__row) FROM t").fetchone() == (n, 0, n - 1)
    rows = engine.con.execute("SELECT __row, size FROM t WHERE __row % 99991 = 7").fetchall()
    assert all(df["size"].iloc[r] == s for r, s in rows) and len(rows) == len(range(7, n, 99991))
    engine.set_view(sort=[("size", False)], filters={"cell_type": ["23P"], "root": (2**60 + 10, 2**60 + 30)})
    want = df[(df.cell_type == "23P") & (df.root >= np.uint64(2**60 + 10)) & (df.root <= np.uint64(2**60 + 30))]
    want = want.sort_values("size", ascending=False, kind="stable").index.to_numpy()
    assert np.array_equal(np.asarray(engine.view), want)


def _busy_sorter(engine):
    """Keep the engine's sorter thread busy until the returned event is set: orders stay pending."""
    import threading

    gate = threading.Event()
    engine._sorter.submit(gate.wait)
    return gate


def test_pages_while_the_order_sorts_come_by_selection_and_equal_the_full_order(synapses, monkeypatch):
    from cavewidgets.table import order

    monkeypatch.setattr(order, "SAMPLE", 300)  # 5000 rows: the bracket of a sample, not every row
    b = TableBrowser(synapses)
    engine = b._engine
    gate = _busy_sorter(engine)
    b.filter(cell_type=["BC", "4P"])
    b.sort_by("pre_pt_root_id", ascending=False)
    starts = [0, 40, b.filtered_rows // 2, b.filtered_rows - 30]
    pages = [engine.page(s, 60, b._selected_mask) for s in starts]
    assert not engine._pending.done()  # answered without the full order
    gate.set()
    expected = synapses[synapses.cell_type.isin(["BC", "4P"])].sort_values("pre_pt_root_id", ascending=False,
                                                                           kind="stable").index.to_numpy()
    np.testing.assert_array_equal(engine.view, expected)
    for s, page in zip(starts, pages):
        assert decode(page).column("__row").to_pylist() == expected[s:s + 60].tolist()
        assert decode(page).column("pre_pt_root_id").type == pa.uint64()


def test_a_newer_sort_stops_the_older_one_and_going_back_sorts_again(synapses):
    b = TableBrowser(synapses)
    engine = b._engine
    gate = _busy_sorter(engine)
    b.sort_by("size")
    b.sort_by("post_pt_root_id", ascending=False)
    assert list(engine._inflight) == ['[["post_pt_root_id", false]]']  # the size order never starts
    b.sort_by("size")
    gate.set()
    np.testing.assert_array_equal(engine.view, synapses.sort_values("size", kind="stable").index.to_numpy())


def test_duckdb_is_opened_only_when_a_query_needs_it(synapses):
    b = TableBrowser(synapses)
    engine = b._engine
    b.sort_by("size", ascending=False)
    b.filter(cell_type=["BC"], pre_pt_root_id=[BIG + 3, BIG + 4])
    b._rpc_page(0, 100)
    b._rpc_page(b.filtered_rows // 2, 100)
    engine.summary("cell_type")
    _ = engine.view
    assert getattr(engine, "_con", None) is None
    b.search("shaft")  # text search over a plain string column: still Arrow
    b.sort_by("note")  # text sorts through DuckDB: opened now
    assert b._rpc_page(0, 10)
    assert getattr(engine, "_con", None) is not None


def test_clicks_right_after_a_sort_select_its_rows_without_waiting_for_the_order(synapses):
    b = TableBrowser(synapses)
    gate = _busy_sorter(b._engine)
    b.sort_by("size", ascending=False)
    expected = synapses.sort_values("size", ascending=False, kind="stable").index.to_numpy()
    b._rpc_click(position=4000, mode="replace")
    b._rpc_click(position=4010, mode="add-range", anchor=4005)
    assert not b._engine._pending.done()
    gate.set()
    assert b._selected_rows == [int(expected[4000]), *expected[4005:4011].tolist()]
    with pytest.raises(ValueError, match="outside the view"):
        b._rpc_click(position=len(synapses), mode="replace")


def test_a_filter_on_a_sorted_view_answers_from_the_head_of_the_cached_order(synapses):
    b = TableBrowser(synapses)
    b.sort_by("note")  # text: sorted by DuckDB, then cached
    _ = b._engine.view
    gate = _busy_sorter(b._engine)
    b.filter(cell_type=["4P"])
    first, later = page_rows(b, 0, 50), page_rows(b, 400, 50)
    assert not b._engine._pending.done()  # perm[mask[perm]] still waits behind the busy sorter
    gate.set()
    kept = synapses[synapses.cell_type == "4P"]
    expected = kept.sort_values("note", kind="stable", na_position="last").index.to_numpy()
    assert [r["__row"] for r in first] == expected[:50].tolist()
    assert [r["__row"] for r in later] == expected[400:450].tolist()
    np.testing.assert_array_equal(b._engine.view, expected)
