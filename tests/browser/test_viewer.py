"""Viewer in real JupyterLab in headless Chromium: neuroglancer in the cell output, segments
both ways with exact uint64 ids, CAVE credentials through middleauth, no token anywhere.

WebGL runs through SwiftShader here: time-outs are generous.
"""

from __future__ import annotations

import json
import time

import pytest

from cavewidgets.testing.lab import LabNotebook

SETUP = """
import cavewidgets
client = cavewidgets.sample.client()
nuclei = client.materialize.query_table("nucleus_detection_v0", desired_resolution=[1, 1, 1])
nuclei = nuclei[nuclei["pt_root_id"] > 0].sort_values("volume", ascending=False)
picked = []
"""
SHOW = "viewer = cavewidgets.Viewer(client, height=520)\nviewer.on_select(lambda root, pos: picked.append((root, pos)))\nviewer"


class NgView:
    """The neuroglancer viewer inside one Viewer widget of the page (the widget's front-end keeps
    it on its root element as ``cwViewer``). ``evaluate`` runs a function with ``viewer`` bound,
    ``locator`` finds elements inside that widget."""

    def __init__(self, page, selector: str, index: int):
        self.page = page
        self.selector = selector
        self.index = index
        self.root = page.locator(selector).nth(index)

    def evaluate(self, fn: str):
        return self.page.evaluate(
            """([sel, i, src]) => {
                const viewer = document.querySelectorAll(sel)[i].cwViewer.viewer;
                return new Function("viewer", "return (" + src + ")()")(viewer);
            }""",
            [self.selector, self.index, fn],
        )

    def locator(self, css: str):
        return self.root.locator(css)

    def screenshot(self) -> bytes:
        return self.root.locator(".cw-viewer-ng").screenshot()


def ng_frame(page, timeout=60, scope: str = ".jp-OutputArea"):
    """The first neuroglancer viewer under ``scope`` once its widget is ready."""
    selector = f"{scope} .cw-viewer"
    deadline = time.time() + timeout
    state = None
    while time.time() < deadline:
        state = page.evaluate(
            """(sel) => Array.from(document.querySelectorAll(sel)).map(r => [r.dataset.status, !!(r.cwViewer && r.cwViewer.viewer.layerManager)])""",
            selector,
        )
        for i, (status, has_viewer) in enumerate(state):
            if status == "ready" and has_viewer:
                return NgView(page, selector, i)
        if any(s == "error" for s, _ in state):
            text = page.locator(selector).first.inner_text()[:300]
            raise AssertionError(f"the viewer widget shows an error: {text}")
        time.sleep(0.3)
    raise AssertionError(f"no ready neuroglancer viewer under {scope!r}; widgets (status, viewer): {state}")


def layer_status(frame):
    return frame.evaluate(
        """() => Object.fromEntries(viewer.layerManager.managedLayers.map(m => [m.name,
            m.layer ? m.layer.dataSources.map(d => d.loadState ? (d.loadState.error ? 'error: ' + d.loadState.error.message : 'ok') : 'loading').join(',') : 'none']))"""
    )


def wait_layers_ok(frame, timeout=60):
    deadline = time.time() + timeout
    status = {}
    while time.time() < deadline:
        status = layer_status(frame)
        if status and all(v == "ok" for v in status.values()):
            return status
        if any(v.startswith("error") for v in status.values()):
            raise AssertionError(f"neuroglancer layer failed: {status}")
        time.sleep(0.5)
    raise AssertionError(f"layers did not load: {status}")


def browser_segments(frame, layer="seg"):
    return frame.evaluate(
        f"""() => {{
            const l = viewer.state.toJSON().layers.find(l => l.name === '{layer}');
            return (l && l.segments) ? l.segments.map(String) : [];
        }}"""
    )


def wait_until(fn, timeout=30, interval=0.3, what="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


@pytest.fixture(scope="module")
def viewer_nb(lab, isolated_browser):
    # the browser reaches nothing but JupyterLab: the sample service on the kernel's loopback is
    # out of its reach, as on Colab or JupyterHub
    frames: list = []  # every websocket message between the page and Jupyter (the widget channel)

    def watch(page):
        def on_socket(ws):
            ws.on("framereceived", lambda payload: frames.append(payload))
            ws.on("framesent", lambda payload: frames.append(payload))

        page.on("websocket", on_socket)

    isolated_browser.context.on("page", watch)
    try:
        nb = LabNotebook.open(lab, isolated_browser, "viewer-test.ipynb", [SETUP, SHOW])
    finally:
        isolated_browser.context.remove_listener("page", watch)
    nb.ws_frames = frames
    nb.run_all(timeout=300)
    frame = ng_frame(nb.page, timeout=120)
    wait_layers_ok(frame, timeout=120)
    yield nb
    nb.close()


def test_renders_neuroglancer_inside_the_cell_output(viewer_nb):
    page = viewer_nb.page
    assert page.locator(".jp-OutputArea .cw-viewer").count() == 1
    assert page.locator(".jp-OutputArea .cw-viewer iframe").count() == 0  # no page of its own
    box = page.locator(".jp-OutputArea .cw-viewer .cw-viewer-ng").bounding_box()
    assert box["height"] > 400 and box["width"] > 300
    frame = ng_frame(page)
    assert frame.locator("canvas").count() >= 1
    assert layer_status(frame) == {"img": "ok", "seg": "ok"}
    src = frame.evaluate("() => viewer.state.toJSON().layers.find(l => l.name === 'seg').source")
    src = src if isinstance(src, str) else src["url"]
    assert src.startswith("graphene://middleauth+http://127.0.0.1:")
    assert page.locator(".cw-viewer").get_attribute("data-status") == "ready"


def test_python_segments_show_in_browser_and_meshes_load_through_middleauth(viewer_nb):
    nb = viewer_nb
    root = nb.py("int(nuclei['pt_root_id'].iloc[0])")
    assert root > 2**53
    nb.exec("viewer.layout = '3d'")
    frame = ng_frame(nb.page)
    # mark the live layers: a Python push must patch them, not rebuild them (neuroglancer's own
    # client resets and rebuilds every layer on each push)
    frame.evaluate("() => viewer.layerManager.managedLayers.forEach(m => { m.layer.__cwMark = m.name; })")
    nb.exec(f"viewer.add_segments([{root}], colors='#ff00ff')")
    wait_until(lambda: browser_segments(frame) == [str(root)], what="segments in the browser state")
    assert frame.evaluate("() => viewer.layerManager.managedLayers.map(m => m.layer.__cwMark)") == ["img", "seg"]
    assert frame.evaluate("() => document.querySelector('.cw-viewer').cwViewer.lastApply") == {"keys": ["layers"], "fullLayers": False}
    assert nb.py("sorted(viewer.segments)") == [root]

    # the mesh comes from the token-protected graphene meshing/chunkedgraph routes: magenta pixels
    def magenta_pixels():
        import io

        from PIL import Image

        png = frame.screenshot()
        img = Image.open(io.BytesIO(png)).convert("RGB")
        return sum(1 for r, g, b in img.get_flattened_data() if r > 180 and g < 90 and b > 180)

    wait_until(lambda: magenta_pixels() > 200, timeout=90, interval=2, what="the segment's mesh in the 3D panel")
    assert layer_status(frame)["seg"] == "ok"
    # the graphene and mesh requests were answered by the kernel (the browser cannot reach the
    # sample service), which added the token itself
    served = nb.py("viewer._proxy.served")
    assert sum(served.values()) >= 10 and all(o.startswith("http://127.0.0.1:") for o in served)
    assert nb.py("viewer._channel.served.get('ng_credentials', 0)") >= 1
    nb.exec("viewer.segments = set()")
    wait_until(lambda: browser_segments(frame) == [], what="segments cleared in the browser")


def test_double_click_in_2d_panel_selects_the_root_in_python_exactly(viewer_nb):
    nb = viewer_nb
    nb.exec("viewer.segments = set(); picked.clear(); viewer.layout = 'xy'")
    root = nb.py("int(nuclei['pt_root_id'].iloc[0])")
    pos = nb.py("[float(v) for v in nuclei['pt_position'].iloc[0]]")
    nb.exec(f"viewer.go_to({pos}, zoom=40)")
    assert abs(nb.py("viewer.zoom") - 40) < 1e-6
    frame = ng_frame(nb.page)
    wait_until(lambda: browser_segments(frame) == [], what="empty selection")
    # wait until the browser is at the soma and the 2D panel has its chunks
    want = nb.py("viewer.state['position']")
    wait_until(
        lambda: all(abs(a - b) < 1 for a, b in zip(frame.evaluate("() => Array.from(viewer.state.toJSON().position)"), want)),
        what="the browser at the soma position",
    )
    time.sleep(5)  # SwiftShader: let the slice render so the pick buffer has the segment
    panel = frame.locator(".neuroglancer-rendered-data-panel").first
    wait_until(lambda: panel.bounding_box() is not None, what="the xy panel")
    panel.dblclick()
    # neuroglancer lists the clicked supervoxel, then swaps in its root from the chunkedgraph
    # (a token-protected route: this is the middleauth credentials path at work)
    wait_until(lambda: browser_segments(frame) == [str(root)], timeout=60, what="the root selected by double-click")
    wait_until(lambda: nb.py("sorted(viewer.segments)") == [root], what="the selection in Python")
    picked = nb.py("picked")
    assert [p[0] for p in picked] == [root]  # on_select fired once, exact uint64
    clicked = picked[0][1]  # where the user clicked, in nm: the panel centre, i.e. the soma point
    assert all(abs(a - b) < 3 * 512 for a, b in zip(clicked, pos)), (clicked, pos)
    # a second double-click on the same segment deselects it, as in neuroglancer
    panel.dblclick()
    wait_until(lambda: browser_segments(frame) == [], timeout=60, what="deselected by double-click")
    wait_until(lambda: nb.py("sorted(viewer.segments)") == [], what="deselection in Python")


def test_token_is_nowhere_in_state_url_traits_or_saved_notebook(viewer_nb, lab):
    nb = viewer_nb
    token = nb.py("client.auth.token")
    assert token and len(token) >= 16
    assert nb.py("client.auth.token in __import__('json').dumps(viewer.state)") is False
    assert nb.py("client.auth.token in viewer.url()") is False
    assert nb.py("client.auth.token in __import__('json').dumps(viewer.get_state(), default=str)") is False
    nb.page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    path = lab.root / "viewer-test.ipynb"
    wait_until(lambda: "cw-viewer" in path.read_text() or "application/vnd.jupyter.widget-view+json" in path.read_text(), what="saved notebook with outputs")
    text = path.read_text()
    assert token not in text
    saved = json.loads(text)
    assert saved["cells"][1]["outputs"], "the viewer cell output was saved"
    # nor in what the page keeps, nor in any message of the widget channel (the sample's data
    # was answered by the kernel, which added the token itself)
    stored = nb.page.evaluate("() => JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])")
    assert token not in stored
    # (widget messages only: this test's own probes of the kernel print the token to IOPub,
    # which Jupyter forwards to every client of the kernel)
    comm = [f if isinstance(f, bytes) else f.encode() for f in nb.ws_frames]
    comm = [f for f in comm if b'"comm_msg"' in f or b'"comm_open"' in f]
    assert sum(b"ng_fetch" in f for f in comm) >= 3 and sum(b"cw:fetched" in f for f in comm) >= 3
    assert nb.py("viewer._channel.served['ng_fetch']") > 20  # data requests, in batches
    assert not any(token.encode() in f for f in comm)


def browser_annotations(frame, layer):
    return frame.evaluate(
        f"""() => {{
            const l = viewer.state.toJSON().layers.find(l => l.name === '{layer}');
            return (l && l.annotations) ? l.annotations : null;
        }}"""
    )


def test_python_points_show_in_browser_and_a_point_placed_in_the_browser_comes_back_in_nm(viewer_nb):
    nb = viewer_nb
    nb.exec("viewer.segments = set(); viewer.layout = 'xy'; events = []; viewer.on_annotation(events.append)")
    nb.exec("pts = nuclei.head(3)[['pt_position', 'pt_root_id']]\npt_ids = viewer.add_points(pts, color='#00ffff')")
    roots = nb.py("[int(r) for r in pts['pt_root_id']]")
    want_vox = nb.py("[[float(a) / b for a, b in zip(p, [512, 512, 640])] for p in pts['pt_position']]")
    frame = ng_frame(nb.page)
    got = wait_until(lambda: browser_annotations(frame, "points"), what="the points layer in the browser")
    assert [a["id"] for a in got] == nb.py("pt_ids")
    assert [a["segments"] for a in got] == [[[str(r)]] for r in roots]  # exact uint64, as strings
    for a, w in zip(got, want_vox):
        assert a["type"] == "point" and all(abs(x - y) < 1e-6 for x, y in zip(a["point"], w))
    wait_until(lambda: layer_status(frame).get("points") == "ok", what="the points layer loaded in neuroglancer")
    assert frame.evaluate("() => viewer.layerManager.getLayerByName('points').layer.type") == "annotation"

    # the user places a point with the annotation tool (ctrl+click in the 2D panel)
    pos = nb.py("[float(v) for v in nuclei['pt_position'].iloc[0]]")
    nb.exec(f"viewer.go_to({pos}, zoom=40)")
    nb.exec("viewer.annotate('clicks', 'point')")
    want = nb.py("viewer.state['position']")
    wait_until(
        lambda: browser_annotations(frame, "clicks") == []
        and all(abs(a - b) < 1 for a, b in zip(frame.evaluate("() => Array.from(viewer.state.toJSON().position)"), want)),
        what="the clicks layer and the soma position in the browser",
    )
    nb.exec("events.clear()")
    panel = frame.locator(".neuroglancer-rendered-data-panel").first
    wait_until(lambda: panel.bounding_box(), what="the xy panel")
    panel.click(modifiers=["Control"])  # the layer's annotatePoint tool, at the panel centre
    wait_until(lambda: nb.py("len(viewer.annotations('clicks'))") == 1, timeout=30, what="the placed point in Python")
    placed = nb.py("[float(v) for v in viewer.annotations('clicks').point[0]]")
    centre = nb.py("list(viewer.position)")
    # the click was at the panel centre, i.e. the view centre: within a few screen pixels (40 nm each)
    assert all(abs(a - b) < 5 * 40 for a, b in zip(placed[:2], centre[:2])), (placed, centre)
    assert abs(placed[2] - centre[2]) <= 640, (placed, centre)
    assert nb.py("viewer.annotations('clicks').type.tolist()") == ["point"]
    events = wait_until(lambda: nb.py("[(e['layer'], e['added'], e['changed'], e['from_browser']) for e in events]"), what="on_annotation from the browser")
    placed_id = nb.py("viewer.annotations('clicks').id[0]")
    assert events[0] == ["clicks", [placed_id], [], True], events  # added once, from the browser
    assert sum(len(e[1]) for e in events) == 1 and {e[0] for e in events} == {"clicks"}, events


def test_screenshot_returns_a_non_blank_png(viewer_nb):
    import io

    from PIL import Image

    nb = viewer_nb
    nb.exec("viewer.layout = 'xy'")
    nb.exec("shot = viewer.screenshot(timeout=60)", timeout=90)
    assert nb.py("shot[:8] == b'\\x89PNG\\r\\n\\x1a\\n'") is True
    png = bytes.fromhex(nb.py("shot.hex()", timeout=60))
    img = Image.open(io.BytesIO(png)).convert("L")
    assert img.width > 200 and img.height > 200
    lo, hi = img.getextrema()
    assert hi - lo > 50, "blank screenshot"
    hist = img.histogram()
    assert max(hist) < 0.95 * img.width * img.height, "screenshot is (almost) one colour"


def test_second_viewer_rerun_cell_closes_the_previous_one_and_resize(viewer_nb):
    nb = viewer_nb
    nb.add_cell("w = cavewidgets.Viewer(client, height=300)\nall_w = globals().setdefault('all_w', []); all_w.append(w)\nw")
    page = nb.page
    wait_until(lambda: page.locator(".jp-OutputArea .cw-viewer[data-status='ready']").count() == 2, timeout=90, what="two viewers")
    # the neuroglancer bundle came once for the page: the second viewer's code is its small module
    assert nb.py("viewer._channel.served.get('ng_bundle', 0)") == 1
    assert nb.py("w._channel.served.get('ng_bundle', 0)") == 0
    code = nb.py("len(w._esm) + len(w._css) + w._channel.sent_bytes.get('ng_bundle', 0)")
    assert code <= 50_000, code
    # re-run the same cell: the viewer from its previous run is closed, its channel stopped
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-cell')")
    nb.wait_idle()
    assert nb.py("[x._closed for x in all_w]") == [True, False]
    assert nb.py("all_w[0]._channel._closed") is True
    assert nb.py("viewer._closed") is False  # the other cell's viewer is untouched
    wait_until(lambda: page.locator(".jp-OutputArea .cw-viewer[data-status='ready']").count() == 2, timeout=90, what="two viewers after re-run")

    # resize by dragging the bar under the last viewer: the height trait follows
    handle = page.locator(".jp-OutputArea .cw-viewer .cw-viewer-resize").last
    handle.scroll_into_view_if_needed()
    box = handle.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 3)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 103, steps=5)
    page.mouse.up()
    wait_until(lambda: 380 <= nb.py("w.height") <= 420, what="height trait after dragging")


def test_a_viewer_that_cannot_start_says_so_not_a_blank_box(viewer_nb):
    nb = viewer_nb
    # a neuroglancer build this page has not loaded, and that does not run
    nb.exec("import cavewidgets.viewer.channel as _ch\n_saved = _ch._bundle\n_ch._bundle = ('0' * 16, b'this is not javascript (')")
    try:
        nb.add_cell("broken = cavewidgets.Viewer(client, height=200)\nbroken")
    finally:
        nb.exec("_ch._bundle = _saved")
    box = nb.page.locator(".jp-OutputArea .cw-viewer").last
    wait_until(lambda: box.get_attribute("data-status") == "error", timeout=90, what="the error state")
    text = box.locator(".cw-viewer-message").inner_text()
    assert "could not start" in text and "re-run the cell" in text
