"""TableBrowser columns in real JupyterLab: CAVE bookkeeping starts hidden, the Columns menu brings
a column back and Python sees it, and a full 20-digit uint64 root id is not cut off."""

from __future__ import annotations

import pytest
from test_table_browser import header_names, wait_rows
from test_viewer import wait_until

pytestmark = pytest.mark.browser

MAX_U64 = 2**64 - 1

# shaped like client.materialize.query_table("nucleus_detection_v0"): CAVE's columns and attrs
MAKE_FRAME = f"""
import numpy as np, pandas as pd, cavewidgets
n = 500
df = pd.DataFrame({{
    "id": np.arange(n, dtype=np.int64) + 1,
    "created": pd.Timestamp("2025-01-01", tz="UTC"),
    "superceded_id": np.full(n, np.nan),
    "valid": True,
    "volume": np.linspace(100, 400, n),
    "pt_supervoxel_id": np.arange(n, dtype=np.int64) + 88_000_000_000_000_000,
    "pt_root_id": np.uint64({MAX_U64}) - np.arange(n, dtype=np.uint64),
    "pt_position": list(np.arange(3 * n).reshape(n, 3) * 4),
}})
df.attrs["materialization_version"] = 2
browser = cavewidgets.TableBrowser(df, height=300)
browser
"""


def test_bookkeeping_hidden_menu_brings_it_back_and_full_ids_fit(notebook):
    nb = notebook([MAKE_FRAME])
    nb.run_all()
    page = nb.page
    wait_rows(page)
    cols = header_names(page)
    assert cols == ["pt_root_id", "id", "volume", "pt_position"]
    assert nb.py("browser.visible_columns") == cols

    # the first root id, all 20 digits, fits its cell (nothing cut off by the ellipsis)
    fit = page.evaluate(
        """() => {
            const row = document.querySelector('.cw-table .cw-row[data-pos="0"]');
            const cell = row.children[0];
            return [cell.textContent, cell.scrollWidth, cell.clientWidth];
        }"""
    )
    assert fit[0] == str(MAX_U64) and len(fit[0]) == 20
    assert fit[1] <= fit[2], f"root id cut off: scrollWidth {fit[1]} > clientWidth {fit[2]}"

    # one click in the Columns menu brings 'created' back, and Python sees it
    page.click(".cw-table .cw-columns-button")
    page.wait_for_selector(".cw-popover.cw-columns")
    box = page.locator(".cw-popover.cw-columns .cw-pick:has(.cw-pick-value:text-is('created')) input")
    assert not box.is_checked()
    box.check()
    wait_until(lambda: "created" in nb.py("browser.visible_columns"), what="'created' in visible_columns")
    page.wait_for_function("() => !!document.querySelector(\".cw-table .cw-hcell[data-column='created']\")")

    # a dragged column edge still resizes (widths are CSS lengths now, `ch` for ids)
    width = "() => document.querySelector(\".cw-table .cw-hcell[data-column='volume']\").getBoundingClientRect().width"
    before = page.evaluate(width)
    grip = page.locator(".cw-table .cw-hcell[data-column='volume'] .cw-resize").bounding_box()
    x, y = grip["x"] + grip["width"] / 2, grip["y"] + grip["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 40, y, steps=4)
    page.mouse.up()
    assert abs(page.evaluate(width) - (before + 40)) <= 2

    # and Python's edit reaches the page
    nb.exec("browser.visible_columns = ['volume', 'pt_root_id']")
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('.cw-table .cw-hcell')).map(h => h.dataset.column).join() === 'volume,pt_root_id'")
