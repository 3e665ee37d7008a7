"""The Viewer and the Explorer in Notebook 7 (``jupyter notebook``), not only JupyterLab, with a
browser that reaches nothing but the notebook server."""

from __future__ import annotations

import time

import test_explorer
import test_viewer
from test_viewer import browser_segments, ng_frame, wait_layers_ok, wait_until


def test_viewer_in_notebook7_both_ways_keys_and_screenshot(notebook7_notebook):
    nb = notebook7_notebook([test_viewer.SETUP, test_viewer.SHOW])
    assert "/notebooks/" in nb.page.url
    nb.run_all(timeout=300)
    frame = ng_frame(nb.page, timeout=120)
    assert wait_layers_ok(frame, timeout=120) == {"img": "ok", "seg": "ok"}
    assert nb.py("sum(viewer._proxy.served.values())") > 0  # data came through the kernel

    # Python -> browser, exact uint64
    root = nb.py("int(nuclei['pt_root_id'].iloc[0])")
    nb.exec(f"viewer.add_segments([{root}])")
    wait_until(lambda: browser_segments(frame) == [str(root)], what="the root in the browser")
    nb.exec("viewer.segments = set(); picked.clear(); viewer.layout = 'xy'")
    wait_until(lambda: browser_segments(frame) == [], what="cleared in the browser")

    # browser -> Python: double-click the soma in the 2D panel
    pos = nb.py("[float(v) for v in nuclei['pt_position'].iloc[0]]")
    nb.exec(f"viewer.go_to({pos}, zoom=40)")
    want = nb.py("viewer.state['position']")
    wait_until(lambda: all(abs(a - b) < 1 for a, b in zip(frame.evaluate("() => Array.from(viewer.state.toJSON().position)"), want)),
               what="the browser at the soma")
    time.sleep(5)  # SwiftShader: let the slice render so the pick buffer has the segment
    panel = frame.locator(".neuroglancer-rendered-data-panel").first
    panel.dblclick()
    wait_until(lambda: nb.py("sorted(viewer.segments)") == [root], timeout=60, what="the double-clicked root in Python")
    assert [p[0] for p in nb.py("picked")] == [root]

    # a key bound in Python, pressed inside neuroglancer (not the notebook's shortcut)
    nb.exec("keys = []\nviewer.on_key('keya', keys.append)")
    config = nb.py("viewer._ng.config_state.raw_state_and_generation[1]")  # the binding, in the browser
    wait_until(lambda: frame.evaluate("() => document.querySelector('.cw-viewer').cwViewer.applied.c") == config, what="the key binding in the browser")
    cells = nb.page.evaluate("() => window.jupyterapp.shell.currentWidget.content.model.cells.length")
    panel.click()
    nb.page.keyboard.press("a")  # in command mode 'a' would insert a cell
    wait_until(lambda: nb.py("keys") == ["keya"], what="the key in Python")
    assert nb.page.evaluate("() => window.jupyterapp.shell.currentWidget.content.model.cells.length") == cells

    assert nb.py("len(viewer.screenshot(timeout=60)) > 1000", timeout=90) is True


def test_explorer_in_notebook7_row_to_viewer_and_panel(notebook7_notebook):
    nb = notebook7_notebook([test_explorer.SETUP])
    nb.run_all(timeout=300)
    page = nb.page
    page.wait_for_selector(".cavewidgets-explorer .cw-table .cw-row", timeout=60_000)
    frame = ng_frame(page, timeout=120, scope=".cavewidgets-explorer")
    wait_layers_ok(frame, timeout=120)
    row = page.locator(".cavewidgets-explorer .cw-table .cw-row").nth(2)
    row_index = int(row.get_attribute("data-row"))
    root = nb.py(f"int(ex.table.data['pt_root_id'].iloc[{row_index}])")
    row.click()
    wait_until(lambda: nb.py("sorted(ex.viewer.segments)") == [root], what="the row's root in the viewer")
    wait_until(lambda: browser_segments(frame) == [str(root)], what="the root in neuroglancer")
    assert nb.py("ex.wait_for_panel(180)") is True and nb.py("ex.panel.root_id") == root
