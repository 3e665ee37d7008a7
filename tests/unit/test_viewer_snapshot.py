"""The snapshot a saved notebook shows of a Viewer without its kernel: image size, layer list,
links, escaping, and its refresh life cycle against a real (browser-less) viewer."""

from __future__ import annotations

import base64
import io
import re
import time

import numpy as np
import pytest
from PIL import Image

from cavewidgets.viewer import fallback
from cavewidgets.viewer import state as st

BIG = 864691135808684573


def png_of(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def test_thumbnail_is_a_small_jpeg_even_for_a_big_noisy_screenshot():
    rng = np.random.default_rng(0)
    noisy = png_of(rng.integers(0, 256, (1000, 1400, 3), dtype=np.uint8))  # incompressible
    assert len(noisy) > 3_000_000
    out = fallback.thumbnail(noisy)
    img = Image.open(io.BytesIO(out))
    assert img.format == "JPEG" and img.width <= fallback.MAX_WIDTH
    assert len(out) <= fallback.MAX_IMAGE_BYTES
    assert abs(img.width / img.height - 1.4) < 0.05  # aspect kept
    small = fallback.thumbnail(png_of(np.full((100, 200, 3), 200, np.uint8)))
    assert Image.open(io.BytesIO(small)).size == (200, 100)  # never upscaled


def test_snapshot_html_lists_layers_segments_and_links_and_escapes_names():
    s = st.build_state("precomputed://http://h/img", "graphene://http://h/segmentation/table/p", [4, 4, 40])
    s = st.with_segments(s, [BIG, BIG + 1])
    s["layers"].append({"type": "annotation", "name": "<script>x</script>", "annotations": [{"type": "point", "id": "a", "point": [1, 2, 3]}]})
    jpeg = fallback.thumbnail(png_of(np.zeros((50, 80, 3), np.uint8)))
    link = st.to_url(s, "https://ngl.example.org")
    html = fallback.html_snapshot("k1", s, jpeg, link, "https://ngl.example.org/#!middleauth+https://h/nglstate/api/v1/7")
    assert 'data-cw-fallback="k1"' in html
    src = re.search(r'src="data:image/jpeg;base64,([^"]+)"', html).group(1)
    assert base64.b64decode(src) == jpeg
    assert "img (image)" in html and f"seg (segmentation, 2 segments: {BIG}, {BIG + 1})" in html
    assert "<script>x</script>" not in html and "&lt;script&gt;x&lt;/script&gt; (annotation, 1 annotation)" in html
    assert 'href="https://ngl.example.org/#!' in html and "nglstate/api/v1/7" in html
    # a hostile link cannot break out of the attribute
    evil = fallback.html_snapshot("k1", s, None, 'https://x/"><script>alert(1)</script>')
    assert "<script>alert" not in evil and "(no screenshot yet)" in evil
    # too long a link (a big annotation layer) is left out instead of bloating the notebook
    assert "Open this view" not in fallback.html_snapshot("k1", s, None, "https://x/#!" + "a" * (fallback.MAX_LINK_CHARS + 1))
    text = fallback.text_snapshot(s, link)
    assert text.startswith("cavewidgets.Viewer (neuroglancer) — layers: img (image); seg") and link in text
    bundle = fallback.mimebundle("k1", s, jpeg, link)
    assert set(bundle) == {"text/html", "text/plain"}


def test_many_segments_are_listed_briefly():
    s = st.with_segments(st.build_state(None, "precomputed://http://h/seg", [4, 4, 40]), range(1, 1001))
    (row,) = fallback.layer_rows(s)
    assert row == {"name": "seg", "type": "segmentation", "segments": list(range(1, 1001))}
    html = fallback.html_snapshot("k", s)
    assert "1000 segments: 1, 2, 3, 4, 5, …" in html and "999" not in html


@pytest.fixture(scope="module")
def client():
    import cavewidgets

    return cavewidgets.sample.client()


def test_snapshot_refresh_without_a_browser_withdraws_its_request_and_publishes_the_rest(client, capsys):
    """Outside a kernel ``display`` prints text/plain: enough to follow the life cycle."""
    import cavewidgets

    v = cavewidgets.Viewer(client, height=300)
    try:
        snap = v._snapshot
        assert snap.live is False  # outside a kernel nothing refreshes (a terminal would print each update)
        snap.delay, snap.timeout, snap.live = 0.05, 0.3, True
        assert v._fallback_key == snap.key  # the live view knows which snapshot to hide
        sent = []
        v.send = lambda content, buffers=None: sent.append(content)  # what would reach the browser
        v._ipython_display_()
        out = capsys.readouterr().out
        assert "cavewidgets.Viewer (live neuroglancer; needs its kernel)" in out
        assert "layers: img (image); seg (segmentation, 0 segments)" in out
        time.sleep(0.2)
        asks = [m for m in sent if m.get("kind") == "cw:thumbnail"]
        assert snap.waiting and len(asks) == 1 and asks[0]["id"] and asks[0]["width"] == 800  # asked the (absent) browser
        v.segments = {BIG}
        deadline = time.time() + 5
        while snap.published == 0 and time.time() < deadline:
            time.sleep(0.05)
        assert snap.published >= 1 and not snap.waiting
        asks = [m for m in sent if m.get("kind") == "cw:thumbnail"]
        assert asks[-1]["id"] is None  # the unanswered request was withdrawn
        assert v._ng.config_state.state.screenshot is None  # neuroglancer's full-size path untouched
        assert f"seg (segmentation, 1 segment: {BIG})" in capsys.readouterr().out  # published without an image
        assert snap.image is None
        assert client.auth.token not in repr(snap.bundle())
    finally:
        v.close()
    published = snap.published
    snap.changed()  # closed: nothing more happens
    time.sleep(0.2)
    assert snap.published == published and snap._timer is None


def test_one_screenshot_request_serves_every_waiter_and_is_withdrawn_when_none_is_left():
    """neuroglancer keeps one pending screenshot per viewer: the Shooter shares it."""
    import neuroglancer
    from neuroglancer.viewer_config_state import ActionState

    from cavewidgets.viewer.capture import Shooter

    ng = neuroglancer.Viewer()
    shooter = Shooter(ng)
    got_a, got_b = [], []
    cancel_a = shooter.request(got_a.append)
    cancel_b = shooter.request(got_b.append)
    assert len(ng._screenshot_callbacks) == 1 and shooter.pending
    (rid,) = ng._screenshot_callbacks
    assert ng.config_state.state.screenshot == rid
    # the browser's answer, through neuroglancer's own action handler
    png = png_of(np.full((20, 30, 3), 90, np.uint8))
    ng._handle_screenshot_reply(ActionState({"screenshot": {"id": rid, "image": base64.b64encode(png).decode(), "imageType": "image/png", "width": 30, "height": 20}}))
    assert got_a == [png] and got_b == [png] and not shooter.pending
    assert ng.config_state.state.screenshot is None
    cancel_a()  # after the answer: nothing to withdraw
    # withdrawn only when the last waiter gives up
    cancel_c = shooter.request(lambda _png: None)
    cancel_d = shooter.request(lambda _png: None)
    cancel_c()
    assert shooter.pending and ng.config_state.state.screenshot is not None
    cancel_d()
    assert not shooter.pending and ng.config_state.state.screenshot is None and ng._screenshot_callbacks == {}
    cancel_b()


def test_snapshot_takes_the_browsers_thumbnail_answer_through_the_channel(client):
    """The page's picture arrives as an ``ng_thumbnail`` request; only the waiting id counts."""
    import cavewidgets

    v = cavewidgets.Viewer(client, height=300)
    try:
        sent = []
        v.send = lambda content, buffers=None: sent.append((content, buffers))
        got = []
        v._thumbnails.request(got.append)
        (ask,) = [m for m, _ in sent if m.get("kind") == "cw:thumbnail"]
        png = png_of(np.full((40, 60, 3), 200, np.uint8))
        answer = {"kind": "cw:req", "method": "ng_thumbnail", "id": "page-1"}
        v._channel._on_msg(v, {**answer, "params": {"id": "not-the-request"}}, [png])
        assert got == []  # a stale or foreign answer is dropped
        v._channel._on_msg(v, {**answer, "params": {"id": ask["id"]}}, [memoryview(png)])
        v._channel._on_msg(v, {**answer, "params": {"id": ask["id"]}}, [png])  # a second view's late answer
        assert got == [png]
        replies = [m for m, _ in sent if m.get("kind") == "cw:res"]
        assert len(replies) == 3 and all(r["ok"] for r in replies)
        v._channel._on_msg(v, {**answer, "params": {"id": ask["id"]}}, [])
        assert sent[-1][0]["ok"] is False and "PNG buffer" in sent[-1][0]["error"]
    finally:
        v.close()
