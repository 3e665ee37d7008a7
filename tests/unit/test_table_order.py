"""The bucket sort of one fixed-width column (table/order.py) gives pandas' stable order, missing
values last in both directions, with chunks and buckets small enough that every path runs: rows
crossing chunk boundaries, Arrow chunks of their own, ranges between splitters that need sorting
and heavy values with a range of their own."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from cavewidgets.table import order
from cavewidgets.table.values import RowBits

N = 5000
rng = np.random.default_rng(15)


def _missing(n: int, share: float = 0.1) -> np.ndarray:
    return rng.random(n) < share


COLUMNS = {
    "uint64 ids above 2^53": pd.Series(np.uint64(864691135808684573) + rng.integers(0, 40, N).astype(np.uint64)),
    "int64 both signs": pd.Series(rng.integers(-(2**62), 2**62, N)),
    "int32, few values": pd.Series(rng.integers(-3, 3, N).astype(np.int32)),
    "float64 with NaN, ±0, ±inf": pd.Series(np.where(_missing(N), np.nan,
                                                     rng.choice([-0.0, 0.0, 1.5, -np.inf, np.inf, -2.0], N))),
    "float32": pd.Series(rng.standard_normal(N).astype(np.float32)),
    "Int64 with NA": pd.Series(pd.array(np.where(_missing(N, 0.2), None, rng.integers(0, 5, N)), dtype="Int64")),
    "bool": pd.Series(rng.random(N) < 0.5),
    "boolean with NA": pd.Series(pd.array(np.where(_missing(N, 0.2), None, rng.random(N) < 0.5), dtype="boolean")),
    "datetime with a time zone and NaT": pd.Series(pd.to_datetime(
        np.where(_missing(N), None, rng.integers(0, 10**12, N)), utc=True)).dt.tz_convert("US/Pacific"),
    "all missing": pd.Series(np.full(N, np.nan)),
}


@pytest.fixture(autouse=True)
def small_passes(monkeypatch):
    monkeypatch.setattr(order, "CHUNK", 300)
    monkeypatch.setattr(order, "BUCKETS", 8)
    monkeypatch.setattr(order, "SAMPLE", 500)


@pytest.mark.parametrize("name", list(COLUMNS))
@pytest.mark.parametrize("ascending", [True, False])
def test_column_order_is_pandas_stable_order_with_missing_last(name, ascending):
    series = COLUMNS[name]
    arr = pa.array(series, from_pandas=True)
    column = pa.chunked_array([arr.slice(0, 1234), arr.slice(1234)])  # an Arrow chunk edge mid-pass
    assert order.sortable(column.type)
    got = order.column_order(column, ascending)
    expected = series.sort_values(ascending=ascending, kind="stable", na_position="last").index.to_numpy()
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("ascending", [True, False])
def test_category_codes_sort_in_category_order(ascending):
    codes = rng.integers(-1, 4, N).astype(np.int8)  # -1: missing
    cat = pd.Series(pd.Categorical.from_codes(codes, ["z", "a", "m", "b"]))
    column = pa.chunked_array([pa.array(cat, from_pandas=True)])
    got = order.column_order(column, ascending)
    expected = pd.Series(np.where(codes < 0, np.nan, codes)).sort_values(
        ascending=ascending, kind="stable", na_position="last").index.to_numpy()
    np.testing.assert_array_equal(got, expected)


def test_text_is_left_to_duckdb():
    assert not order.sortable(pa.string())
    assert not order.sortable(pa.float16())
    assert not order.sortable(pa.list_(pa.float64(), 3))


@pytest.mark.parametrize("name", list(COLUMNS))
@pytest.mark.parametrize("ascending", [True, False])
def test_select_rows_gives_the_pages_of_the_full_order(name, ascending):
    series = COLUMNS[name]
    arr = pa.array(series, from_pandas=True)
    column = pa.chunked_array([arr.slice(0, 1234), arr.slice(1234)])
    keep = np.arange(N) % 3 != 1
    within = RowBits.of(keep)
    for bits, full in ((None, order.column_order(column, ascending)),
                       (within, within.keep(order.column_order(column, ascending)))):
        n = len(full)
        for a, b in [(0, 1), (0, 100), (7, 57), (n // 2, n // 2 + 100), (n - 150, n), (n - 3, n + 10), (n, n + 5)]:
            got = order.select_rows(column, ascending, a, b, bits, most=N)
            assert got is not None, (a, b)
            np.testing.assert_array_equal(got, full[a:b])


def test_select_rows_gives_up_on_a_value_repeated_past_its_limit():
    column = pa.chunked_array([pa.array(np.repeat(np.arange(5), 1000))])
    assert order.select_rows(column, True, 2500, 2600, most=500) is None
    np.testing.assert_array_equal(order.select_rows(column, True, 2500, 2600, most=5000), np.arange(2500, 2600))


def test_a_sort_no_longer_wanted_stops():
    column = pa.chunked_array([pa.array(np.arange(N)[::-1])])
    with pytest.raises(order.Cancelled):
        order.column_order(column, cancelled=lambda: True)
