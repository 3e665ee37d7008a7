"""Without its kernel a Viewer's output shows its last screenshot, the layer list and links: in
the saved .ipynb, in ``jupyter nbconvert --to html`` and in JupyterLab reopening the notebook.
Real JupyterLab, real headless Chromium, the sample datastack."""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
import time

import pytest
from PIL import Image

from cavewidgets.testing.lab import LabNotebook

from test_viewer import SETUP, wait_until

NAME = "viewer-fallback.ipynb"
SHOW = "viewer = cavewidgets.Viewer(client, height=420)\nviewer"
MAGENTA = """
def magenta(jpeg):
    from PIL import Image
    import io
    img = Image.open(io.BytesIO(jpeg)).convert('RGB')
    return sum(1 for r, g, b in img.get_flattened_data() if r > 120 and g < 100 and b > 120)
"""


def magenta_pixels(jpeg: bytes) -> int:
    img = Image.open(io.BytesIO(jpeg)).convert("RGB")
    return sum(1 for r, g, b in img.get_flattened_data() if r > 120 and g < 100 and b > 120)


@pytest.fixture(scope="module")
def saved(lab, isolated_browser):
    """Run the notebook, show a segment in 3D, share, wait for the snapshot, save, shut down."""
    browser = isolated_browser
    nb = LabNotebook.open(lab, browser, NAME, [SETUP + MAGENTA, SHOW])
    nb.run_all(timeout=300)
    nb.page.wait_for_selector(".cw-viewer[data-status=ready]", timeout=120_000)
    # the browser's neuroglancer answers through its own channel (not through a Playwright frame
    # handle, which twice failed to see a viewer that was on screen in CI)
    assert nb.py("len(viewer.screenshot(timeout=120)) > 1000", timeout=180)
    root = nb.py("int(nuclei['pt_root_id'].iloc[0])")
    nb.exec(f"viewer.layout = '3d'\nviewer.add_segments([{root}], colors='#ff00ff')")
    link = nb.py("viewer.share()")
    # refreshed once the state has been quiet: the picture has the segment's magenta mesh
    wait_until(lambda: nb.py("viewer._snapshot.image is not None and magenta(viewer._snapshot.image) > 100"), timeout=180, interval=2, what="a snapshot with the mesh")
    info = {
        "root": root,
        "link": link,
        "token": nb.py("client.auth.token"),
        "site": nb.py("client.info.viewer_site()"),
        "key": nb.py("viewer._snapshot.key"),
        "published": nb.py("viewer._snapshot.published"),
    }
    page = nb.page
    # live: the snapshot is in the page but hidden; the viewer shows
    snapshot = page.locator(f'[data-cw-fallback="{info["key"]}"]')
    wait_until(lambda: snapshot.count() == 1 and "1 segment" in snapshot.inner_text(), what="the snapshot output updated in the page")
    info["hidden_while_live"] = not snapshot.is_visible()
    info["viewer_visible"] = page.locator(".jp-OutputArea .cw-viewer .cw-viewer-ng").is_visible()
    time.sleep(1)
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    path = lab.root / NAME
    wait_until(lambda: info["key"] in path.read_text() and "1 segment" in path.read_text(), what="the saved notebook with the snapshot")
    nb.close()  # shuts the kernel down: the viewer and its server are gone
    yield info, path


def snapshot_output(path):
    """The viewer cell's outputs, multi-line strings joined (nbformat stores lists of lines)."""
    cell = json.loads(path.read_text())["cells"][1]
    for out in cell["outputs"]:
        out["data"] = {k: "".join(v) if isinstance(v, list) else v for k, v in out.get("data", {}).items()}
    return cell["outputs"]


def test_live_view_hides_its_snapshot(saved):
    info, _ = saved
    assert info["viewer_visible"] and info["hidden_while_live"]
    assert info["published"] >= 1


def test_saved_notebook_holds_a_small_token_free_snapshot(saved):
    info, path = saved
    text = path.read_text()
    assert info["token"] not in text
    assert len(text) < 400_000, f"saved notebook is {len(text):,} bytes"
    widget, snap = snapshot_output(path)
    assert "application/vnd.jupyter.widget-view+json" in widget["data"]
    html = snap["data"]["text/html"]
    assert snap["output_type"] == "display_data" and f'data-cw-fallback="{info["key"]}"' in html
    jpeg = base64.b64decode(re.search(r'src="data:image/jpeg;base64,([^"]+)"', html).group(1))
    img = Image.open(io.BytesIO(jpeg))
    assert img.format == "JPEG" and 200 <= img.width <= 800 and len(jpeg) <= 150_000
    assert magenta_pixels(jpeg) > 100  # the segment's mesh, as the live viewer showed it
    assert f"seg (segmentation, 1 segment: {info['root']})" in html and "img (image)" in html
    assert info["link"] in html  # the share link
    href = re.search(r'<a href="([^"]+)"[^>]*>Open this view in neuroglancer', html).group(1)
    assert href.startswith(info["site"].rstrip("/") + "/#!") and str(info["root"]) in href
    assert info["link"] in snap["data"]["text/plain"]


def test_nbconvert_html_shows_the_snapshot(saved, browser, tmp_path):
    info, path = saved
    out = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", "--output-dir", str(tmp_path), str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    html = (tmp_path / NAME.replace(".ipynb", ".html")).read_text()
    assert html.count("data:image/jpeg;base64,") == 1
    assert f"seg (segmentation, 1 segment: {info['root']})" in html and info["link"] in html
    assert info["token"] not in html
    page = browser.new_page()
    try:
        page.goto((tmp_path / NAME.replace(".ipynb", ".html")).as_uri())
        img = page.locator(f'[data-cw-fallback="{info["key"]}"] img')
        assert img.is_visible() and page.evaluate("(i) => i.naturalWidth", img.element_handle()) >= 200
        # the widget output's placeholder text is hidden next to its snapshot
        assert not page.get_by_text("needs its kernel").is_visible()
    finally:
        page.close()


def test_reopened_notebook_without_running_shows_the_snapshot(saved, lab, browser):
    info, path = saved
    page = browser.new_page()
    try:
        page.goto(f"{lab.url}/lab/tree/{NAME}?token={lab.token}&reset")
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget && window.jupyterapp.shell.currentWidget.context", timeout=90_000)
        img = page.locator(f'[data-cw-fallback="{info["key"]}"] img')
        wait_until(lambda: img.count() == 1 and img.is_visible(), timeout=60, what="the snapshot image in the reopened notebook")
        assert page.evaluate("(i) => i.complete && i.naturalWidth", img.element_handle()) >= 200
        snapshot = page.locator(f'[data-cw-fallback="{info["key"]}"]')
        assert f"1 segment: {info['root']}" in snapshot.inner_text() and "Open this view in neuroglancer" in snapshot.inner_text()
        # no live viewer, and the dead widget output above the snapshot says nothing
        assert page.locator(".cw-viewer").count() == 0
        time.sleep(3)  # the widget manager has given up on the model by now
        errors = page.get_by_text("Error displaying widget")
        assert all(not errors.nth(i).is_visible() for i in range(errors.count()))
    finally:
        page.close()
