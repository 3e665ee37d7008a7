"""TableBrowser over out-of-core sources (parquet, feather, datasets, Arrow tables, DuckDB
relations): the same rows, order and dtypes as over the DataFrame they were written from."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from cavewidgets import TableBrowser

BIG = 2**60 + 12345  # above 2^53: a float64 detour would change it


def decode(page: bytes) -> pa.Table:
    return pa.ipc.open_stream(page).read_all()


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(3)
    n = 20_000
    return pd.DataFrame({
        "id": np.arange(n, dtype=np.int64) + 10,
        "pre_pt_root_id": np.uint64(BIG) + rng.integers(0, 300, n).astype(np.uint64),
        "post_pt_root_id": np.uint64(BIG) + rng.integers(0, 300, n).astype(np.uint64),
        "ctr_pt_position_x": rng.integers(0, 10_000, n).astype(np.float32),
        "ctr_pt_position_y": rng.integers(0, 10_000, n).astype(np.float32),
        "ctr_pt_position_z": rng.integers(0, 1_000, n).astype(np.float32),
        "size": rng.integers(1, 1000, n).astype(np.int32),
        "score": np.where(rng.random(n) < 0.1, np.nan, rng.random(n)),
        "cell_type": pd.Categorical(rng.choice(["23P", "4P", "BC"], n), categories=["BC", "23P", "4P", "MC"]),
        "note": rng.choice(["dendrite spine", "shaft", None], n),
    })


@pytest.fixture(scope="module", params=["parquet", "feather", "dataset-dir", "glob", "pyarrow-table",
                                        "pyarrow-dataset", "duckdb-relation"])
def source(request, frame, tmp_path_factory):
    kind = request.param
    d = tmp_path_factory.mktemp(kind)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if kind == "parquet":
        pq.write_table(table, d / "syn.parquet", row_group_size=3000)
        return d / "syn.parquet"
    if kind == "feather":
        feather.write_feather(table, d / "syn.feather", chunksize=3000)  # lz4-compressed, as pandas writes it
        return str(d / "syn.feather")
    if kind in ("dataset-dir", "glob", "pyarrow-dataset"):
        for i, start in enumerate(range(0, len(frame), 7000)):
            pq.write_table(table.slice(start, 7000), d / f"part-{i}.parquet", row_group_size=2000)
        return {"dataset-dir": str(d), "glob": str(d / "part-*.parquet"),
                "pyarrow-dataset": pads.dataset(sorted(str(p) for p in d.glob("*.parquet")), format="parquet")}[kind]
    if kind == "pyarrow-table":
        return table
    pq.write_table(table, d / "syn.parquet")
    return duckdb.sql(f"SELECT * FROM read_parquet('{d / 'syn.parquet'}') ORDER BY id")


def reference(frame, source):
    """What the source holds as a DataFrame: a DuckDB relation has no categoricals (VARCHAR)."""
    if isinstance(source, duckdb.DuckDBPyRelation):
        return frame.assign(cell_type=frame.cell_type.astype(object))
    return frame


def both(frame, source):
    return TableBrowser(reference(frame, source), key="id"), TableBrowser(source, key="id")


def same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_index_type=False)


def test_columns_kinds_and_first_page_match_the_dataframe(frame, source):
    df_b, src_b = both(frame, source)
    assert src_b.columns == df_b.columns
    assert src_b.total_rows == len(frame)
    a = decode(df_b._engine.page(0, 50, df_b._selected_mask)).to_pylist()
    b = decode(src_b._engine.page(0, 50, src_b._selected_mask)).to_pylist()
    for r in a + b:  # the DataFrame engine keeps categories as a dictionary; values are what counts
        r.pop("cell_type")
    assert a == b
    assert b[0]["pre_pt_root_id"] == int(frame.pre_pt_root_id[0])  # exact above 2^53


def test_sort_filter_search_give_the_same_rows_order_and_dtypes(frame, source):
    df_b, src_b = both(frame, source)
    for b in (df_b, src_b):
        b.sort_by(["size", "score"], ascending=[False, True]).filter(cell_type=["23P", "4P"], size=(100, 500))
    assert src_b.filtered_rows == df_b.filtered_rows > 0
    same(df_b.filtered, src_b.filtered)
    for b in (df_b, src_b):
        b.search("spine")
    same(df_b.filtered, src_b.filtered)
    for b in (df_b, src_b):
        b.clear_filters()
        b.filter(pre_pt_root_id=[BIG + 1, BIG + 7], note={"contains": "SHA"})
        b.sort_by("ctr_pt_position", ascending=False)
    assert src_b.filtered_rows == df_b.filtered_rows > 0
    same(df_b.filtered, src_b.filtered)
    for b in (df_b, src_b):
        b.clear_filters()
        b.sort_by(None)
        b.search(str(BIG + 3))  # an id typed in the search box
    same(df_b.filtered, src_b.filtered)
    assert (src_b.filtered.dtypes == reference(frame, source).dtypes).all()


def test_value_counts_and_ranges_match(frame, source):
    df_b, src_b = both(frame, source)
    for b in (df_b, src_b):
        b.filter(size=(1, 300))
    for column in ("cell_type", "size", "score", "pre_pt_root_id"):
        a, b = df_b._engine.summary(column), src_b._engine.summary(column)
        if "values" in a:  # the same counts; ties may list in either order
            assert sorted(map(tuple, a["values"])) == sorted(map(tuple, b["values"]))
        else:
            assert a == b


def test_selection_comes_back_with_original_dtypes_and_exact_ids(frame, source):
    df_b, src_b = both(frame, source)
    for b in (df_b, src_b):
        b.sort_by("size")
        b._rpc_click(position=3, mode="replace")
        b._rpc_click(position=9, mode="add-range", anchor=6)
        b.select([*b.selection, 10 + 17])
    assert src_b.selection == df_b.selection
    same(df_b.selected, src_b.selected)
    assert src_b.selected.pre_pt_root_id.tolist() == [int(v) for v in df_b.selected.pre_pt_root_id]
    with pytest.raises(KeyError, match="not in the table"):
        src_b.select([10**12])
    flags = [r["__sel"] for r in decode(src_b._engine.page(0, 12, src_b._selected_mask)).to_pylist()]
    assert flags == [r["__sel"] for r in decode(df_b._engine.page(0, 12, df_b._selected_mask)).to_pylist()]


def test_color_stripes_follow_the_value(frame, source):
    src_b = TableBrowser(source, key="id")
    src_b.color_rows("pre_pt_root_id", {BIG + 5: "#e6194b"})
    page = decode(src_b._rpc_page(0, 500)[1][0]).to_pylist()
    assert [r["__color"] == "#e6194b" for r in page] == [r["pre_pt_root_id"] == BIG + 5 for r in page]


def test_big_views_are_refused_by_filtered_and_written_or_queried_instead(frame, source, tmp_path):
    src_b = TableBrowser(source, key="id")
    src_b.max_filtered_rows = 1000
    src_b.sort_by("size", ascending=False)
    with pytest.raises(MemoryError, match="20,000 rows.*filtered_relation"):
        src_b.filtered
    src_b.filter(size=(900, None))
    n = src_b.write_filtered(tmp_path / "view.parquet")
    expected = frame[frame["size"] >= 900].sort_values("size", ascending=False, kind="stable")
    written = pd.read_parquet(tmp_path / "view.parquet")
    assert n == len(written) == len(expected)
    assert written.id.tolist() == expected.id.tolist()
    assert written.pre_pt_root_id.tolist() == expected.pre_pt_root_id.tolist()
    assert src_b.filtered_relation().aggregate("count(*)").fetchall()[0][0] == len(expected)


def test_bad_sources_get_clear_errors(tmp_path):
    with pytest.raises(TypeError, match="pandas DataFrame, a path to a parquet"):
        TableBrowser([1, 2, 3])
    with pytest.raises(FileNotFoundError, match="no such file"):
        TableBrowser(tmp_path / "missing.parquet")
    with pytest.raises(FileNotFoundError, match="no files match"):
        TableBrowser(str(tmp_path / "*.parquet"))
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="neither parquet nor feather"):
        TableBrowser(tmp_path / "notes.txt")
    pq.write_table(pa.table({"id": [1, 1, 2]}), tmp_path / "dup.parquet")
    b = TableBrowser(tmp_path / "dup.parquet", key="id")
    with pytest.raises(ValueError, match="duplicate values"):
        b.select([1])
    with pytest.raises(ValueError, match="key column 'nope'"):
        TableBrowser(tmp_path / "dup.parquet", key="nope")


def test_pages_past_the_top_rows_of_a_running_sort_come_by_selection(frame, source, monkeypatch):
    import threading

    from cavewidgets.table import outofcore

    monkeypatch.setattr(outofcore, "SAMPLE", 500)  # 20,000 rows: a bracket, not every row
    b = TableBrowser(source)
    engine = b._engine
    b.filter(cell_type=["BC", "4P"])
    kept = frame[frame.cell_type.isin(["BC", "4P"])]
    for column, ascending in [("pre_pt_root_id", True), ("score", False), ("size", False)]:
        expected = kept.sort_values(column, ascending=ascending, kind="stable", na_position="last").index.to_numpy()
        where, key = engine._where(), f'"{column}"'
        sample = outofcore.sample_sql(engine.con, *where, key, engine.n)
        for start in [0, 3000, len(expected) // 2, len(expected) - 150, len(expected) - 10]:
            got = outofcore.select_rows_sql(engine.con, *where, key, ascending, start, start + 200, sample)
            np.testing.assert_array_equal(got, expected[start:start + 200])
    # through the page while the full ORDER BY still runs (the sorter thread held busy)
    gate = threading.Event()
    engine._sorter.submit(gate.wait)
    b.sort_by("pre_pt_root_id", ascending=False)
    middle = decode(engine.page(len(kept) // 2, 100, b._selected_mask))
    assert not engine._pending.done()
    gate.set()
    expected = kept.sort_values("pre_pt_root_id", ascending=False, kind="stable").index.to_numpy()
    assert middle.column("__row").to_pylist() == expected[len(kept) // 2:][:100].tolist()
    assert middle.column("pre_pt_root_id").type == pa.uint64()


def test_a_newer_sort_interrupts_the_older_order_by_still_running(frame, tmp_path, monkeypatch):
    import time

    from cavewidgets.table import engine as engine_module
    from cavewidgets.table.order import Cancelled

    path = tmp_path / "syn.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    real = engine_module.fetch_order

    def slow_first(con, sql, n):  # an ORDER BY that would run for hours unless interrupted
        if "note" in sql:
            con.execute("SELECT count(*) FROM range(1000000000000) a WHERE a.range % 7 = 3").fetchall()
        return real(con, sql, n)

    monkeypatch.setattr(engine_module, "fetch_order", slow_first)
    b = TableBrowser(str(path))
    engine = b._engine
    b.sort_by("note")
    first = engine._inflight['[["note", true]]']
    deadline = time.monotonic() + 30
    while '[["note", true]]' not in engine._running and time.monotonic() < deadline:
        time.sleep(0.01)
    b.sort_by("size", ascending=False)
    with pytest.raises(Cancelled):
        first.result(timeout=30)
    expected = frame.sort_values("size", ascending=False, kind="stable").index.to_numpy()
    np.testing.assert_array_equal(engine.view, expected)
    monkeypatch.setattr(engine_module, "fetch_order", real)
    b.sort_by("note")  # asked again: sorted anew, not the stopped one
    np.testing.assert_array_equal(engine.view, frame.sort_values("note", kind="stable", na_position="last").index.to_numpy())
