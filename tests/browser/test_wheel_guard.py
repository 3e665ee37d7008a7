"""The mouse wheel over the 3D panel and the neuroglancer viewer scrolls the notebook until the
user clicks into the view (or holds Ctrl); after a click it zooms; ``wheel="always"`` turns the
guard off. Real JupyterLab, real wheel events (Playwright's mouse), the page's own scrolling."""

from __future__ import annotations

import time

import pytest
from test_morphology_panel import SETUP, wait_rendered
from test_viewer import wait_until

pytestmark = pytest.mark.browser

SPACER = "from IPython.display import HTML\nHTML('<div style=\"height: 2500px\">(space to scroll)</div>')"

# the notebook's scroll container: the nearest ancestor of `sel` that scrolls
SCROLLER = """(sel) => {
    let e = document.querySelector(sel);
    while (e && !(e.scrollHeight > e.clientHeight + 10 && /(auto|scroll)/.test(getComputedStyle(e).overflowY))) e = e.parentElement;
    return e;
}"""


def scroll_top(page, sel) -> float:
    return page.evaluate(f"(sel) => ({SCROLLER})(sel).scrollTop", sel)


def centre_in_view(page, sel) -> tuple[float, float]:
    """Scroll ``sel`` to the middle of the notebook's viewport; its centre in page coordinates."""
    page.evaluate(f"""(sel) => {{
        const s = ({SCROLLER})(sel), e = document.querySelector(sel);
        s.scrollTop += e.getBoundingClientRect().top - s.getBoundingClientRect().top - 40;
    }}""", sel)
    time.sleep(0.3)
    box = page.locator(sel).bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def wheel_at(page, x, y, dy=240, modifier=None):
    page.mouse.move(x, y)
    if modifier:
        page.keyboard.down(modifier)
    page.mouse.wheel(0, dy)
    if modifier:
        page.keyboard.up(modifier)
    time.sleep(0.6)  # the page's scroll and the view's next frame


STAGE = ".cw-morph .cw-morph-stage"


def camera(page):
    return page.evaluate("() => document.querySelector('.cw-morph').cwMorphology.camera()")


def test_panel_wheel_scrolls_the_page_until_clicked(notebook):
    nb = notebook([SETUP, "panel = cavewidgets.MorphologyPanel(client, height=420)\npanel.show(root, progress=False)\npanel",
                   SPACER])
    nb.run_all(timeout=240)
    page = nb.page
    wait_rendered(page, 1)
    x, y = centre_in_view(page, STAGE)
    cam, top = camera(page), scroll_top(page, STAGE)

    # over the panel, not clicked: the notebook scrolls, the neuron stays as it was, a hint shows
    wheel_at(page, x, y)
    assert scroll_top(page, STAGE) > top + 50
    assert camera(page) == cam
    assert page.evaluate("() => document.querySelector('.cw-morph .cw-wheel-hint').style.opacity") == "1"
    assert page.locator(".cw-morph .cw-wheel-hint").inner_text() == "Click to zoom with the wheel, or use Ctrl + scroll"

    # clicked into the view: the wheel zooms and the notebook stays put
    x, y = centre_in_view(page, STAGE)
    page.mouse.click(x + 150, y - 120)  # an empty corner: a click there picks nothing
    top = scroll_top(page, STAGE)
    wheel_at(page, x, y)
    assert camera(page) != cam
    assert abs(scroll_top(page, STAGE) - top) < 2
    assert page.evaluate("(s) => document.querySelector(s).dataset.wheel", STAGE) == "armed"

    # the pointer leaves: back to scrolling the page; Ctrl + wheel zooms without a click
    page.mouse.move(5, 5)
    x, y = centre_in_view(page, STAGE)
    cam, top = camera(page), scroll_top(page, STAGE)
    wheel_at(page, x, y, modifier="Control")
    assert camera(page) != cam and abs(scroll_top(page, STAGE) - top) < 2

    # the Python switch: wheel="always" lets the view take it with no click
    nb.exec("panel.wheel = 'always'")
    page.wait_for_function("(s) => document.querySelector(s).dataset.wheel === 'always'", arg=STAGE)
    page.mouse.move(5, 5)
    cam, top = camera(page), scroll_top(page, STAGE)
    wheel_at(page, x, y)
    assert camera(page) != cam and abs(scroll_top(page, STAGE) - top) < 2


VIEWER = ".cw-viewer"


def test_viewer_wheel_scrolls_the_page_until_clicked(notebook):
    nb = notebook(["import cavewidgets\nclient = cavewidgets.sample.client()\n"
                   "viewer = cavewidgets.Viewer(client, height=420)\nviewer", SPACER])
    nb.run_all(timeout=240)
    page = nb.page
    page.wait_for_function("() => document.querySelector('.cw-viewer')?.dataset.status === 'ready'", timeout=180_000)
    wait_until(lambda: nb.py("viewer.position") is not None, timeout=60, what="the viewer's position in Python")
    time.sleep(1)
    x, y = centre_in_view(page, VIEWER)
    where, top = nb.py("viewer.position"), scroll_top(page, VIEWER)

    wheel_at(page, x, y)
    assert page.evaluate("() => document.querySelector('.cw-viewer .cw-wheel-hint').style.opacity") == "1"
    assert scroll_top(page, VIEWER) > top + 50
    time.sleep(1)  # a slice change would have reached Python by now
    assert nb.py("viewer.position") == where

    x, y = centre_in_view(page, VIEWER)
    page.mouse.click(x, y)
    top = scroll_top(page, VIEWER)
    page.mouse.move(x, y)
    page.mouse.wheel(0, 240)  # neuroglancer: the wheel moves through the slices
    wait_until(lambda: nb.py("viewer.position") != where, timeout=20, what="the slice to change")
    assert abs(scroll_top(page, VIEWER) - top) < 2
