"""MorphologyPanel in real JupyterLab in headless Chromium (WebGL through SwiftShader): a sample
neuron renders (mesh, skeleton and synapse pixels in the screenshot), clicks on synapses come
back to Python with the exact synapse id, errors show in the panel without losing the view."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

SETUP = """
import cavewidgets
import numpy as np
client = cavewidgets.sample.client()
nuclei = client.materialize.query_table("nucleus_detection_v0", desired_resolution=[1, 1, 1])
nuclei = nuclei[nuclei["pt_root_id"] > 0].sort_values("volume", ascending=False)
root = int(nuclei.pt_root_id.iloc[0])
picks = []
"""
SHOW = "panel = cavewidgets.MorphologyPanel(client, height=520)\npanel.on_pick(picks.append)\npanel.show(root)\npanel"

STAGE = ".cw-morph .cw-morph-stage"


def wait_rendered(page, version: int, timeout=90_000):
    page.wait_for_function(
        "(v) => { const r = document.querySelector('.cw-morph'); return r && Number(r.dataset.renderedVersion) === v; }",
        arg=version, timeout=timeout)


def frames(page) -> int:
    return page.evaluate("() => document.querySelector('.cw-morph').cwMorphology.frames()")


def wait_new_frame(page, after: int, timeout=30_000):
    page.wait_for_function("(n) => document.querySelector('.cw-morph').cwMorphology.frames() > n", arg=after, timeout=timeout)


def set_parts(shown, **parts):
    """Set ``show_mesh`` etc. from Python and wait until the browser has them (its toolbar boxes
    follow the traits): a click right after the assignment may otherwise meet the old scene."""
    shown.exec("; ".join(f"panel.show_{k} = {bool(v)}" for k, v in parts.items()))
    cond = " && ".join(f"document.querySelector(\".cw-morph input[data-trait='show_{k}']\").checked === {str(bool(v)).lower()}"
                       for k, v in parts.items())
    shown.page.wait_for_function(f"() => {cond}")
    time.sleep(0.3)  # the frame after the change


def stage_pixels(page) -> np.ndarray:
    shot = page.locator(STAGE).screenshot()
    return np.asarray(Image.open(io.BytesIO(shot)).convert("RGB")).astype(int)


def hue_counts(px: np.ndarray) -> dict:
    r, g, b = px[..., 0], px[..., 1], px[..., 2]
    return {
        # the mesh: #1f77b4 blended at 50 % over white, shaded
        "blue": int(((g > r + 15) & (b > g + 8) & (b > 120)).sum()),
        # skeleton: axon #ff7f0e, dendrite #9467bd
        "orange": int(((r > 200) & (g > 90) & (g < 170) & (b < 90)).sum()),
        "purple": int(((b > g + 45) & (r > g + 20)).sum()),
        # synapse outputs #d62728, inputs #2ca02c
        "red": int(((r > 150) & (g < 80) & (b < 80)).sum()),
        "green": int(((g > r + 50) & (g > b + 50)).sum()),
    }


@pytest.fixture
def shown(notebook):
    nb = notebook([SETUP, SHOW])
    errors: list[str] = []
    nb.page.on("pageerror", lambda e: errors.append(str(e)))
    nb.run_all(timeout=240)
    wait_rendered(nb.page, 1)
    nb.errors = errors
    return nb


def test_renders_mesh_skeleton_and_synapses(shown):
    page = shown.page
    title = page.inner_text(".cw-morph .cw-morph-title")
    root = shown.py("str(root)")
    assert f"root {root}" in title and "triangles" in title
    legend = page.inner_text(".cw-morph .cw-morph-legend")
    n_in, n_out = shown.py("[int((panel.synapses.direction == 'input').sum()), int((panel.synapses.direction == 'output').sum())]")
    assert f"{n_in:,} inputs" in legend and f"{n_out:,} outputs" in legend
    assert shown.py("panel.mesh is not None and len(panel.mesh.faces) > 0")

    everything = hue_counts(stage_pixels(page))
    assert everything["blue"] > 500, everything  # the see-through mesh (neurites are a few pixels wide)
    assert everything["red"] > 20 or everything["green"] > 20, everything

    # mesh off (from Python): the skeleton's compartment colours stand out, the blue is gone
    before = frames(page)
    shown.exec("panel.show_mesh = False")
    wait_new_frame(page, before)
    bare = hue_counts(stage_pixels(page))
    assert bare["blue"] < everything["blue"] / 10, (bare, everything)
    assert bare["orange"] + bare["purple"] > 200, bare
    assert not page.locator(".cw-morph input[data-trait='show_mesh']").is_checked()

    # synapses off from the toolbar: Python sees it, the red/green points go
    before = frames(page)
    page.locator(".cw-morph input[data-trait='show_synapses']").uncheck()
    wait_new_frame(page, before)
    assert shown.py("panel.show_synapses") is False
    skeleton_only = hue_counts(stage_pixels(page))
    assert skeleton_only["red"] + skeleton_only["green"] < (bare["red"] + bare["green"]) / 5 + 5
    assert skeleton_only["orange"] + skeleton_only["purple"] > 200

    # the mesh colour is settable from Python
    before = frames(page)
    shown.exec("panel.show_mesh = True; panel.show_synapses = True; panel.color = '#ff7f0e'; panel.opacity = 1.0")
    wait_new_frame(page, before)
    orange_mesh = hue_counts(stage_pixels(page))
    assert orange_mesh["orange"] > everything["orange"] + 500 and orange_mesh["blue"] < everything["blue"] / 10, orange_mesh
    assert not shown.errors


def isolated_synapse(page, min_gap=10):  # picking radius: at most 9 / 2 + 3 px
    """(id, x, y) of a synapse in view with no other synapse within ``min_gap`` px."""
    pts = page.evaluate("() => document.querySelector('.cw-morph').cwMorphology.synapsesOnScreen()")
    box = page.locator(STAGE).bounding_box()
    xy = np.array([[p[1], p[2]] for p in pts])
    depth = np.array([p[3] for p in pts])
    for i in np.argsort(np.abs(xy - [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2]).sum(axis=1)):
        x, y = xy[i]
        inside = box["x"] + 30 < x < box["x"] + box["width"] - 200 and box["y"] + 60 < y < box["y"] + box["height"] - 60
        if not inside or not -1 < depth[i] < 1:
            continue
        d = np.hypot(*(xy - xy[i]).T)
        d[i] = np.inf
        if d.min() > min_gap:
            return pts[i][0], float(x), float(y)
    raise AssertionError("no isolated synapse in view")


def test_click_on_a_synapse_calls_on_pick_with_its_id(shown):
    page = shown.page
    sid, x, y = isolated_synapse(page)
    page.mouse.click(x, y)
    page.wait_for_function("() => document.querySelector('.cw-morph .cw-morph-info').textContent.startsWith('synapse ')")
    picks = shown.py("[{k: (str(v) if k.endswith('id') else v) for k, v in p.items() if k != 'l2_ids'} for p in picks]")
    assert len(picks) == 1 and picks[0]["kind"] == "synapse"
    assert picks[0]["synapse_id"] == sid  # exact, compared as decimal text
    assert shown.py("panel.picked['synapse_id'] == int(%s) and isinstance(panel.picked['synapse_id'], int)" % sid)
    row = shown.py(f"panel.synapses[panel.synapses.id == {sid}].iloc[0][['direction', 'x', 'y', 'z']].tolist()")
    assert picks[0]["direction"] == row[0] and picks[0]["position_nm"] == row[1:]
    assert sid in page.inner_text(".cw-morph .cw-morph-info")

    # highlight_synapse centres another synapse: a click at the centre picks exactly it
    other = shown.py(f"int(panel.synapses.id[panel.synapses.id != {sid}].iloc[len(panel.synapses) // 2])")
    before = frames(page)
    shown.exec(f"panel.highlight_synapse({other})")
    wait_new_frame(page, before)
    pos = page.evaluate(
        "() => { const h = document.querySelector('.cw-morph').cwMorphology; return h.screenPosition('synapse', %d); }"
        % shown.py(f"int(panel.synapses.index[panel.synapses.id == {other}][0])"))
    box = page.locator(STAGE).bounding_box()
    assert abs(pos["x"] - (box["x"] + box["width"] / 2)) < 2 and abs(pos["y"] - (box["y"] + box["height"] / 2)) < 2
    set_parts(shown, mesh=False, skeleton=False)  # nothing but synapses under the cursor
    page.mouse.click(pos["x"], pos["y"])
    page.wait_for_function("() => document.querySelector('.cw-morph .cw-morph-info').textContent.startsWith('synapse ')")
    shown.wait_idle()
    assert shown.py("len(picks)") == 2
    assert shown.py("picks[-1]['synapse_id']") == other


def test_click_on_the_skeleton_and_the_mesh(shown):
    page = shown.page
    set_parts(shown, synapses=False, mesh=False)
    # a skeleton node away from the soma, in view
    node = shown.py("int(panel.skeleton.nodes.index[len(panel.skeleton.nodes) // 2])")
    pos = page.evaluate("(i) => document.querySelector('.cw-morph').cwMorphology.screenPosition('skeleton', i)", node)
    page.mouse.click(pos["x"], pos["y"])
    shown.page.wait_for_function("() => document.querySelector('.cw-morph .cw-morph-info').textContent.startsWith('node ')")
    shown.wait_idle()
    pick = shown.py("picks[-1]")
    assert pick["kind"] == "skeleton"
    l2 = shown.py("[str(x) for x in panel.skeleton.nodes.l2_ids.iloc[picks[-1]['node_id']]]")
    assert [str(x) for x in pick["l2_ids"]] == l2 and all(int(x) > 2**53 for x in l2)
    # the picked node is at (or next to) the one aimed at
    xyz = "panel.skeleton.nodes.loc[{}, ['x', 'y', 'z']].to_numpy(float)"
    picked_xyz, aimed_xyz = xyz.format("picks[-1]['node_id']"), xyz.format(node)
    d = shown.py(f"float(np.linalg.norm({picked_xyz} - {aimed_xyz}))")
    assert d < 20_000

    # the mesh alone: a click on the soma's surface gives a vertex of the full-resolution mesh
    set_parts(shown, skeleton=False, mesh=True)
    soma = page.evaluate("() => document.querySelector('.cw-morph').cwMorphology.screenPosition('skeleton', 0)")
    page.mouse.click(soma["x"], soma["y"])
    shown.page.wait_for_function("() => document.querySelector('.cw-morph .cw-morph-info').textContent.startsWith('mesh ')")
    shown.wait_idle()
    pick = shown.py("picks[-1]")
    assert pick["kind"] == "mesh" and 0 <= pick["vertex"] < shown.py("len(panel.mesh.vertices)")
    gap = shown.py("float(((panel.mesh.vertices[picks[-1]['vertex']] - picks[-1]['position_nm']) ** 2).sum() ** 0.5)")
    assert gap < 2_000  # nm: the hit point is on the surface, next to its nearest vertex


def test_errors_show_in_the_panel_and_keep_the_view(shown):
    page = shown.page
    old = shown.py("""int(next(r for r in client.materialize.query_table("nucleus_detection_v0", materialization_version=1).pt_root_id
                       if r and not client.chunkedgraph.is_latest_roots([int(r)])[0]))""")
    shown.exec(f"try:\n    panel.show({old})\nexcept Exception as e:\n    err = e")
    assert "outdated" in shown.py("str(err)")
    page.wait_for_function("() => getComputedStyle(document.querySelector('.cw-morph .cw-morph-error')).display !== 'none'")
    text = page.inner_text(".cw-morph .cw-morph-error")
    assert str(old) in text and "outdated" in text
    # the previous neuron is still there, drawn
    assert page.evaluate("() => Number(document.querySelector('.cw-morph').dataset.renderedVersion)") == 1
    assert shown.py("panel.root_id == root")
    assert hue_counts(stage_pixels(page))["blue"] > 500
    # bad input: a clear Python error
    shown.exec("try:\n    panel.show('12a')\nexcept TypeError as e:\n    err2 = e")
    assert "decimal integer" in shown.py("str(err2)")
    # the next good show clears the message
    shown.exec("panel.show(root, synapses=False)", timeout=180)
    wait_rendered(page, 2)
    assert page.locator(".cw-morph .cw-morph-error").is_hidden()
    assert "inputs" not in page.inner_text(".cw-morph .cw-morph-legend")
    # no synapses loaded: no synapses checkbox (it would do nothing); it is back with them
    toggle = ".cw-morph input[data-trait='show_synapses']"
    assert page.locator(toggle).is_hidden()
    shown.exec("panel.show(root)", timeout=180)
    wait_rendered(page, 3)
    assert page.locator(toggle).is_visible()
