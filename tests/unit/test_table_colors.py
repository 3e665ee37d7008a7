"""Row colour stripes (the Explorer's one-colour-per-root-id) travel in the page payload."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from cavewidgets import TableBrowser

BIG = 864691135808684573


def _page_colors(browser, n=10):
    data = browser._engine.page(0, n, browser._selected_mask, browser._row_colors)
    return pa.ipc.open_stream(data).read_all().column("__color").to_pylist()


def test_unique_and_repeated_keys_get_their_colour_exactly():
    df = pd.DataFrame({"id": [1, 2, 3, 4], "pt_root_id": np.array([BIG, BIG + 1, BIG, 2**64 - 1], dtype=np.uint64)})
    browser = TableBrowser(df)
    before = browser.view_version
    browser.color_rows("pt_root_id", {BIG: "#ff0000", 2**64 - 1: "#00ff00", 12345: "#0000ff"})
    assert browser.view_version == before + 1  # the front-end refetches its pages
    assert _page_colors(browser) == ["#ff0000", None, "#ff0000", "#00ff00"]
    browser.color_rows("id", {2: "red"})
    assert _page_colors(browser) == [None, "red", None, None]
    browser.color_rows(None)
    data = browser._engine.page(0, 4, browser._selected_mask, browser._row_colors)
    assert "__color" not in pa.ipc.open_stream(data).read_all().column_names


def test_bad_colour_input_is_refused_and_keeps_the_old_colours():
    df = pd.DataFrame({"id": [1, 2]})
    browser = TableBrowser(df)
    browser.color_rows("id", {1: "blue"})
    with pytest.raises(KeyError):
        browser.color_rows("nope", {1: "red"})
    with pytest.raises(ValueError):
        browser.color_rows("id", {1: 7})
    assert _page_colors(browser) == ["blue", None]
    browser.color_rows("id", {-1: "red", "x": "red"})  # keys of another type match nothing
    assert _page_colors(browser) == [None, None]
