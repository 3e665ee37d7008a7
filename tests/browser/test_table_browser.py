"""TableBrowser in real JupyterLab in headless Chromium: render, scroll, sort, filter, select."""

from __future__ import annotations

import pytest
from test_viewer import wait_until

BIG = 864691135808684573  # a root id above 2^53: a float64 or JS Number would round it

MAKE_FRAME = f"""
import numpy as np, pandas as pd, cavewidgets
n = 1_000_000
rng = np.random.default_rng(1)
df = pd.DataFrame({{
    "id": np.arange(n, dtype=np.int64),
    "pre_pt_root_id": (np.uint64({BIG}) + np.arange(n, dtype=np.uint64) * np.uint64(7)),
    "post_pt_root_id": (np.uint64({BIG}) + rng.integers(0, 20_000, n).astype(np.uint64)),
    "size": rng.integers(1, 100_000, n),
    "ctr_pt_position": list(rng.integers(0, 200_000, (n, 3))),
    "cell_type": pd.Categorical(rng.choice(["23P", "4P", "5P-IT", "BC", "MC"], n)),
    "score": rng.random(n),
}})
"""


def visible_rows(page):
    """(view position, frame row, cell texts) of each row the grid currently shows."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('.cw-table .cw-row'))
            .filter(r => r.style.display !== 'none' && r.dataset.row !== undefined)
            .map(r => [Number(r.dataset.pos), Number(r.dataset.row), Array.from(r.children).map(c => c.textContent)])"""
    )


def header_names(page):
    return page.evaluate("() => Array.from(document.querySelectorAll('.cw-table .cw-hcell')).map(h => h.dataset.column)")


def wait_rows(page, predicate_js="rows => rows.length > 0", timeout=20_000):
    page.wait_for_function(
        f"""() => {{
            const rows = Array.from(document.querySelectorAll('.cw-table .cw-row'))
                .filter(r => r.style.display !== 'none' && r.dataset.row !== undefined)
                .map(r => [Number(r.dataset.pos), Number(r.dataset.row), Array.from(r.children).map(c => c.textContent)]);
            return ({predicate_js})(rows);
        }}""",
        timeout=timeout,
    )


@pytest.fixture
def big_table(notebook):
    nb = notebook([MAKE_FRAME, "browser = cavewidgets.TableBrowser(df, height=500)\nbrowser"])
    nb.run_all()
    wait_rows(nb.page)
    return nb


def test_renders_first_rows_with_exact_ids(big_table):
    page = big_table.page
    cols = header_names(page)
    assert cols[:4] == ["id", "pre_pt_root_id", "post_pt_root_id", "size"]
    rows = visible_rows(page)
    assert rows[0][0] == 0 and rows[0][1] == 0
    pre = cols.index("pre_pt_root_id")
    expected = big_table.py("[str(v) for v in df['pre_pt_root_id'].iloc[:5]]")
    assert [r[2][pre] for r in rows[:5]] == expected
    assert rows[0][2][pre] == str(BIG)
    pos = cols.index("ctr_pt_position")
    x, y, z = big_table.py("df['ctr_pt_position'].iloc[0].tolist()")
    assert rows[0][2][pos] == f"{x}, {y}, {z}"
    assert "1,000,000 rows" in page.inner_text(".cw-status")


def test_scrolling_to_row_900000_shows_the_right_rows_and_recycles_dom(big_table):
    page = big_table.page
    dom_rows = page.locator(".cw-table .cw-row").count()
    # real scrolling: move the scrollbar to where row 900,000 lives
    page.evaluate(
        """() => {
            const s = document.querySelector('.cw-table .cw-scroll');
            const viewRows = Math.floor((s.clientHeight - 26) / 26);
            s.scrollTop = (900000 / (1000000 - viewRows)) * (s.scrollHeight - s.clientHeight);
        }"""
    )
    wait_rows(page, "rows => rows.length > 5 && Math.abs(rows[0][0] - 900000) <= 2")
    rows = visible_rows(page)
    cols = header_names(page)
    first_pos = rows[0][0]
    ids = big_table.py(f"[str(v) for v in df['pre_pt_root_id'].iloc[{first_pos}:{first_pos + 5}]]")
    assert [r[2][cols.index("pre_pt_root_id")] for r in rows[:5]] == ids
    assert [r[1] for r in rows[:5]] == list(range(first_pos, first_pos + 5))
    # the Python API lands exactly
    big_table.exec("browser.scroll_to(900000)")
    wait_rows(page, "rows => rows.length > 5 && rows[0][0] === 900000")
    assert page.locator(".cw-table .cw-row").count() == dom_rows  # the DOM did not grow


def test_header_click_sorts_and_filter_changes_rows(big_table):
    page = big_table.page
    page.click(".cw-table .cw-hcell[data-column='size'] .cw-hlabel")
    big_table.page.wait_for_function("() => document.querySelector(\".cw-hcell[data-column='size'] .cw-sort\").textContent === '▲'")
    smallest = big_table.py("int(df['size'].min())")
    cols = header_names(page)
    wait_rows(page, f"rows => rows.length > 0 && rows[0][2][{cols.index('size')}] === '{smallest}'")
    assert big_table.py("browser.sort") == [["size", True]]
    sizes = [int(r[2][cols.index("size")]) for r in visible_rows(page)]
    assert sizes == sorted(sizes)

    # filter through the UI: pick list with counts on the categorical column
    page.click(".cw-table .cw-hcell[data-column='cell_type'] .cw-filter-button")
    page.wait_for_selector(".cw-popover .cw-picklist")
    counts = dict(page.evaluate(
        "() => Array.from(document.querySelectorAll('.cw-popover .cw-pick')).map(p => [p.querySelector('.cw-pick-value').textContent, p.querySelector('.cw-pick-count').textContent])"
    ))
    expected_23p = big_table.py("int((df['cell_type'] == '23P').sum())")
    assert counts["23P"] == f"{expected_23p:,}"
    page.click(".cw-popover .cw-pick:has-text('23P') input")
    page.click(".cw-popover .cw-apply")
    page.wait_for_function(f"() => document.querySelector('.cw-status').textContent.startsWith('{expected_23p:,} of')")
    assert big_table.py("browser.filtered_rows") == expected_23p
    ct = cols.index("cell_type")
    wait_rows(page, f"rows => rows.length > 3 && rows.every(r => r[2][{ct}] === '23P')")
    assert big_table.py("bool((browser.filtered['cell_type'] == '23P').all() and browser.filtered['size'].is_monotonic_increasing)")


def test_ctrl_click_two_rows_selects_exactly_those_with_exact_uint64_keys(notebook):
    nb = notebook([MAKE_FRAME, "browser = cavewidgets.TableBrowser(df, key='pre_pt_root_id', height=400)\nbrowser"])
    nb.run_all()
    wait_rows(nb.page)
    page = nb.page
    cols = header_names(page)
    rows = page.locator(".cw-table .cw-row")
    rows.nth(2).click(modifiers=["Control"])
    rows.nth(5).click(modifiers=["Control"])
    page.wait_for_function("() => document.querySelectorAll('.cw-table .cw-row.cw-selected').length === 2")
    nb.page.wait_for_function("() => document.querySelector('.cw-status').textContent.includes('2 selected')")
    shown = [r[2][cols.index("pre_pt_root_id")] for r in visible_rows(page) if r[0] in (2, 5)]
    selection = nb.py("browser.selection")
    assert [str(k) for k in selection] == shown
    assert selection[0] == BIG + 2 * 7  # exact: JSON carries the int, no float on the way
    assert nb.py("browser.selected.index.tolist()") == [2, 5]
    assert nb.py("str(browser.selected['pre_pt_root_id'].dtype)") == "uint64"
    assert nb.py("[int(v) for v in browser.selected['pre_pt_root_id']]") == [BIG + 14, BIG + 35]
    # shift-click extends from the anchor; a plain click replaces
    rows.nth(8).click(modifiers=["Shift"])
    page.wait_for_function("() => document.querySelector('.cw-status').textContent.includes('4 selected')")
    assert nb.py("browser.selected.index.tolist()") == [5, 6, 7, 8]
    rows.nth(1).click()
    page.wait_for_function("() => document.querySelector('.cw-status').textContent.includes('1 selected')")
    assert nb.py("browser.selection") == [BIG + 7]
    # Python → browser
    nb.exec(f"browser.select([{BIG}, {BIG + 21}])")
    page.wait_for_function("() => document.querySelectorAll('.cw-table .cw-row.cw-selected').length === 2")
    assert [r[0] for r in visible_rows(page) if r[0] in (0, 3)] == [0, 3]


def test_bad_frames_render_without_freezing(notebook):
    nb = notebook([
        "import numpy as np, pandas as pd, cavewidgets",
        "empty = cavewidgets.TableBrowser(pd.DataFrame({'id': pd.Series([], dtype='uint64'), 'x': []}))\nempty",
        "nocols = cavewidgets.TableBrowser(pd.DataFrame(index=range(3)))\nnocols",
        "odd = cavewidgets.TableBrowser(pd.DataFrame({'v': [1.5, np.nan, None], 'obj': [[1, 2], {'a': 1}, None], 'txt': ['a', None, 'x' * 10000]}))\nodd",
    ])
    nb.run_all()
    page = nb.page
    page.wait_for_function("() => document.querySelectorAll('.cw-table').length === 3")
    statuses = page.eval_on_selector_all(".cw-table .cw-status", "els => els.map(e => e.textContent)")
    assert statuses[0].startswith("0 rows") and statuses[1].startswith("3 rows") and statuses[2].startswith("3 rows")
    assert page.eval_on_selector_all(".cw-table", "els => els[1].querySelector('.cw-header').textContent") == "(no columns)"
    page.wait_for_function("() => document.querySelectorAll('.cw-table')[2].querySelectorAll('.cw-row[data-row]').length === 3")
    texts = page.evaluate("() => Array.from(document.querySelectorAll('.cw-table')[2].querySelectorAll('.cw-row[data-row]')).map(r => Array.from(r.children).map(c => c.textContent))")
    assert texts[0][:2] == ["1.5", "[1, 2]"] and texts[1][0] == "" and texts[1][1] == '{"a": 1}'
    assert 0 < len(texts[2][2]) <= 300  # a 10,000-character cell is cut for display


def test_two_views_of_one_browser_stay_in_sync_and_rerun_cleans_up(notebook):
    nb = notebook([
        "import pandas as pd, cavewidgets\nb = cavewidgets.TableBrowser(pd.DataFrame({'id': range(50), 'v': range(50)}), height=300)\nb",
        "b",
    ])
    nb.run_all()
    page = nb.page
    page.wait_for_function("() => document.querySelectorAll('.cw-table').length === 2 && Array.from(document.querySelectorAll('.cw-table')).every(t => t.querySelector('.cw-row[data-row]'))")
    page.locator(".cw-table").nth(0).locator(".cw-row").nth(3).click()
    page.wait_for_function("() => Array.from(document.querySelectorAll('.cw-table')).every(t => t.querySelectorAll('.cw-row.cw-selected').length === 1)")
    wait_until(lambda: nb.py("b.selection") == [3], what="the selection in Python [3]")
    # re-running the first cell replaces its output: the old view goes away, the new one works
    page.evaluate("""async () => {
        const panel = window.jupyterapp.shell.currentWidget;
        panel.content.activeCellIndex = 0;
        await window.jupyterapp.commands.execute('notebook:run-cell');
    }""")
    nb.wait_idle()
    page.wait_for_function("() => document.querySelectorAll('.cw-table').length === 2")
    page.locator(".cw-table").nth(0).locator(".cw-row").nth(5).click(modifiers=["Control"])
    page.wait_for_function("() => document.querySelectorAll('.cw-table')[0].querySelectorAll('.cw-row.cw-selected').length === 1")
    wait_until(lambda: nb.py("b.selection") == [5], what="the selection in Python [5]")
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    nb.exec("b.select([1, 2])")
    page.wait_for_function("() => document.querySelectorAll('.cw-table')[0].querySelectorAll('.cw-row.cw-selected').length === 2")
    assert errors == []


def test_keyboard_review_moves_and_extends_the_selection(notebook):
    nb = notebook(["import pandas as pd, cavewidgets\nb = cavewidgets.TableBrowser(pd.DataFrame({'id': range(1000), 'v': range(1000)}), height=300)\nb", "x = 1"])
    nb.run_all()
    page = nb.page
    wait_rows(page)
    page.locator(".cw-table .cw-row").nth(2).click()
    assert page.evaluate("() => window.jupyterapp.shell.currentWidget.content.activeCellIndex") == 0
    page.wait_for_function("() => document.querySelector('.cw-status').textContent.includes('1 selected')")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.wait_for_function("() => document.querySelector('.cw-row.cw-selected') && document.querySelector('.cw-row.cw-selected').dataset.pos === '4'")
    wait_until(lambda: nb.py("b.selection") == [4], what="the selection in Python [4]")
    page.keyboard.press("Shift+ArrowDown")
    page.keyboard.press("Shift+ArrowDown")
    page.wait_for_function("() => document.querySelector('.cw-status').textContent.includes('3 selected')")
    wait_until(lambda: nb.py("b.selection") == [4, 5, 6], what="the selection in Python [4, 5, 6]")
    page.keyboard.press("End")
    wait_rows(page, "rows => rows.some(r => r[0] === 999)")
    page.wait_for_function("() => document.querySelector('.cw-row.cw-selected') && document.querySelector('.cw-row.cw-selected').dataset.pos === '999'")
    wait_until(lambda: nb.py("b.selection") == [999], what="the selection in Python [999]")
    # the keys reviewed rows; they did not move JupyterLab's active cell
    assert page.evaluate("() => window.jupyterapp.shell.currentWidget.content.activeCellIndex") == 0
