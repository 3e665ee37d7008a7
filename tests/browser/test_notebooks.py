"""The getting-started notebook runs top to bottom in real JupyterLab and shows every widget.

The same run saves the documentation's screenshots: each widget as the browser rendered it,
re-encoded to stay commit-friendly (under ``MAX_IMAGE_BYTES``). They go to the test artifacts, so a
test run leaves the checkout clean; ``CAVEWIDGETS_REFRESH_DOCS_IMAGES=1`` writes them to
``docs/images/`` instead (to refresh the docs' pictures on purpose).
"""

from __future__ import annotations

import io
import os
import shutil
import time
from pathlib import Path

from test_viewer import NgView, layer_status, wait_until
from test_wheel_guard import STAGE, VIEWER, camera, centre_in_view, scroll_top, wheel_at

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
MAX_IMAGE_BYTES = 200_000
MAX_WIDTH = 1100
ARTIFACTS = Path(os.environ.get("CAVEWIDGETS_ARTIFACTS", ROOT / "test-artifacts"))  # as in conftest.py
IMAGES = ROOT / "docs" / "images" if os.environ.get("CAVEWIDGETS_REFRESH_DOCS_IMAGES") == "1" else ARTIFACTS / "docs-images"

REVIEW_CELL = """
import tempfile
review_service = cavewidgets.sample.serve(work_dir=tempfile.mkdtemp())   # posts stay in this test
review_client = cavewidgets.sample.client(review_service)
proof = review_client.materialize.query_table("proofreading_status_and_strategy")
review_roots = list(dict.fromkeys(int(r) for r in proof["pt_root_id"] if r != 0))[:5]
queue = cavewidgets.ReviewQueue(review_client, review_roots, "docs_review", directory=tempfile.mkdtemp(), height=420)
queue.decide("clean", notes="looks complete")
queue
"""

REPORT_CELL = """
proofread = list(dict.fromkeys(int(r) for r in proof.loc[proof["strategy_axon"] != "none", "pt_root_id"] if r != 0))
report = cavewidgets.connectivity_report(client, proofread)
report
"""


def save_png(png: bytes, name: str, max_height: int | None = None) -> Path:
    """Write a screenshot to IMAGES, scaled and palette-quantized until it is small."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    if max_height and image.height > max_height:
        image = image.crop((0, 0, image.width, max_height))
    if image.width > MAX_WIDTH:
        image = image.resize((MAX_WIDTH, round(image.height * MAX_WIDTH / image.width)), Image.LANCZOS)
    IMAGES.mkdir(parents=True, exist_ok=True)
    path = IMAGES / f"{name}.png"
    for colors in (None, 256, 128, 64):
        out = image if colors is None else image.quantize(colors=colors, method=Image.Quantize.MEDIANCUT)
        buffer = io.BytesIO()
        out.save(buffer, format="PNG", optimize=True)
        if buffer.tell() < MAX_IMAGE_BYTES:
            break
    path.write_bytes(buffer.getvalue())
    assert path.stat().st_size < MAX_IMAGE_BYTES, f"{path} is {path.stat().st_size:,} bytes"
    return path


def output_of(page, selector: str, index: int = 0):
    """The output area (one cell's widget) that holds the ``index``-th match of ``selector``."""
    return page.locator(".jp-OutputArea-output", has=page.locator(selector)).nth(index)


def shoot(page, selector: str, name: str, index: int = 0, max_height: int | None = None) -> Path:
    target = output_of(page, selector, index)
    target.scroll_into_view_if_needed()
    time.sleep(1.0)  # let a scrolled-in canvas repaint
    return save_png(target.screenshot(type="png"), name, max_height)


def neuroglancer_views(page) -> list:
    """Every ready Viewer widget's neuroglancer in the page."""
    n = page.locator(".cw-viewer").count()
    return [NgView(page, ".cw-viewer", i) for i in range(n)
            if page.locator(".cw-viewer").nth(i).get_attribute("data-status") == "ready"]


def wait_all_layers_ok(page, count: int, timeout: float = 180) -> None:
    def ready():
        ok = 0
        for view in neuroglancer_views(page):
            status = layer_status(view)
            if any(v.startswith("error") for v in status.values()):
                raise AssertionError(f"neuroglancer layer failed: {status}")
            ok += bool(status) and all(v == "ok" for v in status.values())
        return ok >= count

    wait_until(ready, timeout=timeout, interval=1, what=f"{count} neuroglancer viewers with loaded layers")


def test_getting_started_shows_every_widget_and_saves_screenshots(lab, isolated_browser):
    from cavewidgets.testing.lab import LabNotebook

    shutil.copy(NOTEBOOKS / "01_getting_started.ipynb", lab.root / "01_getting_started.ipynb")
    nb = LabNotebook.open(lab, isolated_browser, "01_getting_started.ipynb")
    try:
        nb.run_all(timeout=420)  # the first run may build the sample datastack (cached afterwards)
        page = nb.page
        # TableBrowser: the synapse table, the Explorer's nucleus table, the cell-type table
        page.wait_for_function("() => document.querySelectorAll('.cw-table').length === 3", timeout=60_000)
        page.wait_for_function(
            "() => Array.from(document.querySelectorAll('.cw-table')).every(t => t.querySelectorAll('.cw-row[data-row]').length > 0)",
            timeout=60_000,
        )
        status = page.eval_on_selector_all(".cw-table .cw-status", "els => els.map(e => e.textContent)")
        total = nb.py("browser.total_rows")
        assert total >= 500_000 and f"of {total:,} rows" in status[0] and "5 selected" in status[0]
        assert nb.py("bool((browser.filtered['size'] >= 500).all())")
        assert nb.py("[int(v) > 2**53 for v in browser.selected['pre_pt_root_id']]") == [True] * 5
        output_of(page, ".cw-table", 0).scroll_into_view_if_needed()  # JupyterLab lays out only cells in view
        page.wait_for_function(
            "() => document.querySelector('.cw-table').querySelectorAll('.cw-row.cw-selected').length === 5", timeout=30_000)
        assert nb.py("sorted(set(cell_browser.filtered['classification_system']))") == ["inhibitory_neuron"]

        # Viewer and the Explorer's viewer: neuroglancer loaded the sample's layers
        page.wait_for_function("() => document.querySelectorAll(\".cw-viewer[data-status='ready']\").length === 2", timeout=60_000)
        wait_all_layers_ok(page, 2)
        # MorphologyPanel and the Explorer's panel: geometry arrived, no error shown
        page.wait_for_function("() => document.querySelectorAll('canvas.cw-morph-canvas').length >= 2",
                               timeout=60_000)
        assert nb.py("panel.error") == "" and nb.py("panel.data_version") > 0
        assert nb.py("explorer.panel.root_id == chosen[0] and explorer.panel.data_version > 0")
        page.wait_for_function(  # and the browser drew it
            "(v) => Number(document.querySelector('.cavewidgets-explorer .cw-morph')?.dataset.renderedVersion) === v",
            arg=nb.py("explorer.panel.data_version"), timeout=60_000)
        # the Explorer selection round-tripped into its table in the browser
        output_of(page, ".cavewidgets-explorer", 0).scroll_into_view_if_needed()
        page.wait_for_function(
            "() => document.querySelectorAll('.cavewidgets-explorer .cw-row.cw-selected').length >= 1", timeout=30_000)
        assert nb.py("[int(r) for r in explorer.selection['root_id']]") == nb.py("chosen")
        # its table leads with the root ids, readable in full; CAVE's bookkeeping starts hidden
        first = page.evaluate("""() => {
            const t = document.querySelector('.cavewidgets-explorer .cw-table');
            const cell = t.querySelector('.cw-row[data-row] .cw-cell');
            return [t.querySelector('.cw-hcell').dataset.column, cell.textContent, cell.scrollWidth, cell.clientWidth];
        }""")
        assert first[0] == "pt_root_id" and first[1].isdigit() and first[2] <= first[3], first
        assert {"created", "valid", "superceded_id", "pt_supervoxel_id"} <= set(nb.py("explorer.table.hidden_columns"))
        # a newcomer reads red text as "something broke": no cell wrote to stderr
        stderr = page.eval_on_selector_all("[data-mime-type='application/vnd.jupyter.stderr']", "els => els.map(e => e.textContent)")
        assert stderr == [], stderr
        # scrolling the notebook over the 3D panel and the viewer scrolls it; after a click into
        # the view, the wheel is the view's (the first panel and viewer: the notebook's own cells)
        viewer_view = "[viewer.position, viewer.state.get('crossSectionScale'), viewer.state.get('projectionScale')]"
        # (selector, what the wheel would change, where to click: an empty spot; the viewer's xy panel)
        page.evaluate("""([stage, viewer]) => {  // the notebook's own panel and viewer (the Explorer has one of each too)
            document.querySelector(stage).dataset.wheelTest = "panel";
            document.querySelector(viewer).dataset.wheelTest = "viewer";
        }""", [STAGE, VIEWER])
        views = (('[data-wheel-test="panel"]', lambda: camera(page), (150, -120)),
                 ('[data-wheel-test="viewer"]', lambda: nb.py(viewer_view), (-120, 0)))
        for sel, view_state, (dx, dy) in views:
            x, y = centre_in_view(page, sel)
            before, top = view_state(), scroll_top(page, sel)
            wheel_at(page, x + dx, y + dy)
            assert scroll_top(page, sel) > top + 50, f"the notebook did not scroll over {sel}"
            time.sleep(0.5)
            assert view_state() == before, f"{sel} took a wheel meant for the page"
            x, y = centre_in_view(page, sel)
            page.mouse.click(x + dx, y + dy)
            top = scroll_top(page, sel)
            wheel_at(page, x + dx, y + dy)
            wait_until(lambda: view_state() != before, timeout=20, what=f"{sel} to take the wheel after a click")
            assert abs(scroll_top(page, sel) - top) < 2
            page.mouse.move(5, 5)

        # ReviewQueue and a connectivity report, for their documentation pages
        nb.add_cell(REVIEW_CELL, timeout=300)
        page.wait_for_selector(".cavewidgets-review .cw-viewer[data-status='ready']", timeout=60_000)
        wait_all_layers_ok(page, 3)
        assert nb.py("queue.position") == 1 and nb.py("queue.wait_for_panel(180)") is True
        nb.add_cell(REPORT_CELL, timeout=300)
        page.wait_for_function("() => Array.from(document.querySelectorAll('.jp-OutputArea-output img'))"
                               ".filter(i => i.naturalWidth > 100).length >= 4", timeout=60_000)

        page.set_viewport_size({"width": 1400, "height": 1800})  # whole widgets in view: no toolbar overlap
        time.sleep(5)  # SwiftShader: let the slices and meshes finish drawing
        shots = [
            shoot(page, ".cw-table", "table_browser", 0, max_height=520),
            shoot(page, ".cw-viewer", "viewer", 0),
            shoot(page, ".cw-morph-canvas", "morphology_panel", 0),
            shoot(page, ".cavewidgets-explorer", "explorer", 0),
            shoot(page, ".cavewidgets-review", "review_queue", 0),
            shoot(page, "img", "connectivity_report", page.locator(".jp-OutputArea-output:has(img)").count() - 1,
                  max_height=1000),
        ]
        for path in shots:
            assert path.stat().st_size > 5_000, f"{path} looks empty"
    except BaseException:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        nb.page.screenshot(path=str(ARTIFACTS / "test_getting_started.png"), full_page=True)
        raise
    finally:
        try:
            nb.exec("review_service.stop()")
        except Exception:  # noqa: BLE001 - the cell may not have run
            pass
        nb.close()
