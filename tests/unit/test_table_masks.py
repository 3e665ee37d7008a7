"""Filter masks from the Arrow columns (table/masks.py) keep exactly the rows DuckDB's condition
keeps, on columns split into Arrow chunks and computed in several passes; what Arrow could get
wrong is left to DuckDB (None)."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from cavewidgets.table import masks
from cavewidgets.table.values import RowBits

N = 1000
rng = np.random.default_rng(21)
BIG = 2**63

COLUMNS = {
    "category": pd.Categorical.from_codes(rng.integers(-1, 3, N), ["a", "b", "c"]),
    "uint": np.uint64(BIG) + rng.integers(0, 5, N).astype(np.uint64),
    "int": pd.array(np.where(rng.random(N) < 0.2, None, rng.integers(-3, 3, N)), dtype="Int64"),
    "string": pd.array(np.where(rng.random(N) < 0.2, None, rng.choice(["x", "y", "é"], N)), dtype="string"),
    "bool": rng.random(N) < 0.5,
}
PICKS = {"category": [["a"], ["a", None], ["zz"], [None]], "uint": [[BIG + 1, BIG + 3], [BIG + 9]],
         "int": [[0, None], [2]], "string": [["x", None], ["é"]], "bool": [[True], [False, None]]}
RANGES = {"uint": [[BIG + 1, None], [None, BIG + 3], [BIG + 1, BIG + 2]], "int": [[-1, None], [None, 0], [-1, 1]]}


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(masks, "CHUNK", 64)


def _table(kind):
    table = pa.table({"c": pa.array(COLUMNS[kind], from_pandas=True)})
    return pa.Table.from_batches(table.to_batches(max_chunksize=300))  # Arrow chunks of their own


def _duckdb_rows(table, where, params=()):
    con = duckdb.connect()
    con.register("t", table)
    sql = f"SELECT rn FROM (SELECT row_number() OVER () - 1 AS rn, c FROM t) WHERE {where} ORDER BY 1"
    return np.array([r[0] for r in con.execute(sql, list(params)).fetchall()], dtype=np.int64)


@pytest.mark.parametrize("kind,picked", [(k, p) for k, ps in PICKS.items() for p in ps])
def test_pick_list_keeps_the_rows_duckdb_keeps(kind, picked):
    table = _table(kind)
    bits = masks.arrow_mask(table.column("c"), kind, "in", picked)
    present = [v for v in picked if v is not None]
    where = " OR ".join((["c IN (SELECT UNNEST(?))"] if present else []) + (["c IS NULL"] if None in picked else []))
    np.testing.assert_array_equal(bits.rows(), _duckdb_rows(table, where, [present] if present else []))


@pytest.mark.parametrize("kind,bounds", [(k, b) for k, bs in RANGES.items() for b in bs])
def test_integer_range_keeps_the_rows_duckdb_keeps(kind, bounds):
    table = _table(kind)
    lo, hi = bounds
    where = " AND ".join([f"c >= {lo}"] * (lo is not None) + [f"c <= {hi}"] * (hi is not None))
    np.testing.assert_array_equal(masks.arrow_mask(table.column("c"), kind, "range", bounds).rows(),
                                  _duckdb_rows(table, where))


def test_what_arrow_could_get_wrong_is_left_to_duckdb():
    ids = _table("uint").column("c")
    assert masks.arrow_mask(ids, "uint", "in", [-1]) is None  # no uint64 for it
    assert masks.arrow_mask(ids, "uint", "range", [1.5, None]) is None  # a float bound on ids
    floats = pa.chunked_array([pa.array([0.0, -0.0, 1.0])])
    assert masks.arrow_mask(floats, "float", "in", [0.0]) is None


@pytest.mark.parametrize("share", [None, 0.5, 0.0])
def test_category_counts_are_duckdbs_group_by(share):
    codes = rng.integers(-1, 4, N)  # ties are likely among 5 groups of ~200
    cat = pd.Categorical.from_codes(codes, ["zeta", "a", "Émile", "b"])
    table = pa.Table.from_batches(pa.table({"c": pa.array(cat, from_pandas=True)}).to_batches(max_chunksize=300))
    keep = None if share is None else rng.random(N) < share
    within = None if keep is None else masks.RowBits.of(keep)
    con = duckdb.connect()
    con.register("t", table.append_column("m", pa.array(np.ones(N, bool) if keep is None else keep)))
    expected = con.execute("SELECT c, count(*) FROM t WHERE m GROUP BY 1 ORDER BY 2 DESC, 1").fetchall()
    assert masks.category_counts(table.column("c"), within) == expected
    assert masks.category_counts(pa.chunked_array([pa.array([1, 2])]), None) is None  # not a category


def test_first_kept_is_the_head_of_keep_and_gives_up_past_its_limit(monkeypatch):
    from cavewidgets.table import values

    monkeypatch.setattr(values, "CHUNK_ROWS", 64)  # several chunks in 1,000 rows
    rng = np.random.default_rng(4)
    order = rng.permutation(1000).astype(np.int32)
    bits = RowBits.of(rng.random(1000) < 0.1)
    kept = bits.keep(order)
    for count in (0, 1, 7, len(kept), len(kept) + 5):
        np.testing.assert_array_equal(bits.first_kept(order, count), kept[:count])
    assert bits.first_kept(order, len(kept), most=128) is None  # ~13 kept in the first 128
