"""Key lookups without a hash table of every key, and the identity view without n row numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cavewidgets import TableBrowser
from cavewidgets.table.engine import AllRows
from cavewidgets.table.keys import SCAN_KEYS, FrameKeys

BIG = 2**63 + 12345


@pytest.mark.parametrize("order", ["sorted", "shuffled"])
def test_lookups_are_exact_for_uint64_keys(order):
    values = np.uint64(BIG) + np.arange(0, 3000, 3, dtype=np.uint64)
    if order == "shuffled":
        values = np.random.default_rng(0).permutation(values)
    keys = FrameKeys(pd.Series(values))
    assert not keys.has_duplicates()
    wanted = [int(values[7]), BIG + 1, int(values[999])]  # BIG + 1 differs from a key by 1: absent
    got = keys.get_indexer(pd.Index(wanted, dtype="uint64"))
    assert got.tolist() == [7, -1, 999]
    many = pd.Index(values[::-1][: SCAN_KEYS + 5])  # past the scan limit: the hash path answers the same
    assert keys.get_indexer(many).tolist() == list(range(999, 999 - SCAN_KEYS - 5, -1))
    assert keys[[7, 999]].tolist() == [int(values[7]), int(values[999])]


def test_duplicates_are_found_sorted_or_not():
    assert FrameKeys(pd.Series([3, 1, 2, 1])).has_duplicates()
    assert FrameKeys(pd.Series(["a", "b", "a"])).has_duplicates()
    assert not FrameKeys(pd.Series(["a", "b"])).has_duplicates()
    assert FrameKeys(pd.Series([3, 1, 2, 1])).duplicated_examples() == (1, [1])
    with pytest.raises(ValueError, match="1 duplicate values"):
        TableBrowser(pd.DataFrame({"k": [5, 4, 5]}), key="k")


def test_selection_by_key_on_an_unsorted_uint64_column():
    df = pd.DataFrame({"root": np.array([BIG + 9, BIG, 2**64 - 1], dtype=np.uint64), "x": [1, 2, 3]})
    b = TableBrowser(df, key="root")
    b.select([2**64 - 1, BIG])
    assert b.selection == [2**64 - 1, BIG] and b.selected.x.tolist() == [3, 2]


def test_all_rows_behaves_like_the_arange_it_replaces():
    view, ref = AllRows(10), np.arange(10)
    assert len(view) == 10 and view[3] == 3 and view[-1] == 9
    assert view[2:5].tolist() == ref[2:5].tolist() and view[8:20].tolist() == [8, 9]
    assert np.asarray(view).tolist() == ref.tolist()
    with pytest.raises(IndexError):
        view[10]


@pytest.mark.parametrize("dtype", ["datetime64[ns, UTC]", "datetime64[us]", "Int64", "float64", "object"])
def test_a_missing_key_selects_its_row_whatever_the_column_dtype(dtype):
    """NaT with a time zone, NA and NaN are keys too (found by the engine's property test)."""
    second = "2026-01-01" if dtype.startswith("datetime") else 5
    df = pd.DataFrame({"a": np.array([7, 8], dtype="uint64"), "id": pd.Series([None, second], dtype=dtype)})
    browser = TableBrowser(df)
    assert browser.key == "id"
    browser.select([pd.Index(df["id"])[0]])
    assert browser._selected_rows == [0]
    browser.close()
