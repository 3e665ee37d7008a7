"""Explorer in real JupyterLab: table, viewer and 3D panel linked; drafts drawn and posted."""

from __future__ import annotations

import time

import pytest
from test_viewer import browser_annotations, browser_segments, ng_frame, wait_layers_ok, wait_until

from cavewidgets.testing.lab import LabNotebook

SETUP = """
import tempfile, datetime as dt
import cavewidgets
service = cavewidgets.sample.serve(work_dir=tempfile.mkdtemp())   # posts stay in this test
client = cavewidgets.sample.client(service)
selections = []
ex = cavewidgets.Explorer(client, "nucleus_detection_v0", drafts_dir=tempfile.mkdtemp(), height=460)
ex.on_selection(selections.append)
ex
"""


@pytest.fixture(scope="module")
def explorer_nb(lab, isolated_browser):
    nb = LabNotebook.open(lab, isolated_browser, "explorer-test.ipynb", [SETUP])
    nb.run_all(timeout=300)
    nb.page.wait_for_selector(".cavewidgets-explorer .cw-table .cw-row", timeout=60_000)
    wait_layers_ok(ng_frame(nb.page, timeout=120), timeout=120)
    yield nb
    nb.close()


def test_every_part_fits_its_place_and_the_empty_panel_says_what_to_do(explorer_nb):
    """Found walking through the notebooks: the table was wider than its half, so its Columns
    button and last columns were cut off; the empty 3D panel took half its place and told
    Explorer users to call panel.show; the viewer stretched black below neuroglancer."""
    page = explorer_nb.page
    geometry = page.evaluate("""() => {
        const ex = document.querySelector('.cavewidgets-explorer');
        const rect = (sel) => { const r = ex.querySelector(sel).getBoundingClientRect(); return [r.left, r.right, r.top, r.bottom]; };
        return {table: rect('.cw-table'), box: (() => { const r = ex.querySelector('.cw-table').parentElement.getBoundingClientRect(); return [r.left, r.right]; })(),
                columns: rect('.cw-table button:last-of-type'), viewer: rect('.cw-viewer'), ng: rect('.cw-viewer-ng'),
                panel: rect('.cw-morph'), panelBox: (() => { const r = ex.querySelector('.cw-morph').closest('.widget-box').getBoundingClientRect(); return [r.left, r.right]; })(),
                columnsText: ex.querySelector('.cw-table button:last-of-type').textContent,
                overlay: ex.querySelector('.cw-morph-overlay').textContent};
    }""")
    assert geometry["columnsText"] == "Columns"
    assert geometry["table"][1] <= geometry["box"][1] + 1, geometry  # the table fits its half
    assert geometry["columns"][1] <= geometry["box"][1] + 1, geometry  # its Columns button is in view
    assert geometry["panel"][1] - geometry["panel"][0] >= 0.95 * (geometry["panelBox"][1] - geometry["panelBox"][0]), geometry
    assert geometry["viewer"][3] - geometry["ng"][3] < 15, geometry  # not stretched black to the table's bottom
    assert geometry["overlay"].startswith("Click a row")


def test_clicking_a_row_shows_its_root_in_viewer_and_panel_with_one_colour(explorer_nb):
    nb = explorer_nb
    page = nb.page
    row = page.locator(".cavewidgets-explorer .cw-table .cw-row").nth(3)
    row_index = int(row.get_attribute("data-row"))
    root = nb.py(f"int(ex.table.data['pt_root_id'].iloc[{row_index}])")
    assert root > 2**53
    row.click()
    wait_until(lambda: nb.py("sorted(ex.viewer.segments)") == [root], what="the row's root in the viewer")
    frame = ng_frame(page)
    wait_until(lambda: browser_segments(frame) == [str(root)], what="the root in neuroglancer's state")
    assert nb.py("ex.wait_for_panel(180)") is True
    assert nb.py("ex.panel.root_id") == root and nb.py("ex.panel.error") == ""
    color = nb.py(f"ex.colors.color({root})")
    assert nb.py("ex.panel.color") == color
    seg_colors = frame.evaluate("() => viewer.state.toJSON().layers.find(l => l.name === 'seg').segmentColors || {}")
    assert seg_colors.get(str(root), "").lower() == color.lower()
    stripe = wait_until(lambda: page.locator(f".cavewidgets-explorer .cw-row[data-row='{row_index}']").get_attribute("data-color"),
                        what="the row's colour stripe")
    assert stripe == color
    sel = nb.py("[(int(r), c) for r, c in zip(ex.selection['root_id'], ex.selection['color'])]")
    assert sel == [[root, color]]
    assert nb.py("[int(r) for r in selections[-1]['root_id']]") == [root]
    # the viewer moved to the row's position (nm)
    want = nb.py(f"[float(v) for v in ex.table.data['pt_position'].iloc[{row_index}]]")
    assert all(abs(a - b) < 1 for a, b in zip(nb.py("list(ex.viewer.position)"), want))


def test_python_select_drives_all_three(explorer_nb):
    nb = explorer_nb
    roots = nb.py("[int(r) for r in ex.table.data['pt_root_id'] if r][10:12]")
    nb.exec(f"ex.select({roots})")
    assert nb.py("sorted(ex.viewer.segments)") == sorted(roots)
    assert sorted(nb.py("[int(r) for r in ex.table.selected['pt_root_id']]")) == sorted(roots)
    nb.page.wait_for_function(
        "() => document.querySelectorAll('.cavewidgets-explorer .cw-row.cw-selected').length >= 1", timeout=30_000)
    assert nb.py("ex.wait_for_panel(180)") is True and nb.py("ex.panel.root_id") == roots[0]
    with pytest.raises(Exception):
        nb.exec("ex.select(['not an id'])")
    assert sorted(nb.py("sorted(ex.viewer.segments)")) == sorted(roots)  # unchanged by the bad call


def test_a_segment_selected_in_the_viewer_selects_its_rows(explorer_nb):
    nb = explorer_nb
    nb.exec("ex.select([]); ex.viewer.layout = 'xy'")
    # the largest soma: its nucleus point lies well inside its neuron
    idx = nb.py("int(ex.table.data.loc[ex.table.data['pt_root_id'] > 0, 'volume'].idxmax())")
    pos = nb.py(f"[float(v) for v in ex.table.data['pt_position'].loc[{idx}]]")
    nb.exec(f"ex.viewer.go_to({pos}, zoom=40)")
    frame = ng_frame(nb.page)
    want = nb.py("ex.viewer.state['position']")
    wait_until(lambda: browser_segments(frame) == [] and all(
        abs(a - b) < 1 for a, b in zip(frame.evaluate("() => Array.from(viewer.state.toJSON().position)"), want)),
        what="the browser at the soma")
    time.sleep(5)  # SwiftShader: let the slice render so the pick buffer has the segment
    frame.locator(".neuroglancer-rendered-data-panel").first.dblclick()
    picked = wait_until(lambda: browser_segments(frame), timeout=60, what="a root selected in neuroglancer")
    assert len(picked) == 1
    root = int(picked[0])
    assert root > 2**53
    wait_until(lambda: nb.py("[int(r) for r in ex.selection['root_id']]")[:1] == [root], timeout=60,
               what="the viewer's selection in explorer.selection")
    rows_with_root = nb.py(f"int((ex.table.data['pt_root_id'] == {root}).sum())")
    assert nb.py("[int(r) for r in ex.table.selected['pt_root_id']]") == [root] * rows_with_root
    assert nb.py("ex.wait_for_panel(180)") is True and nb.py("ex.panel.root_id") == root


def test_two_points_drawn_in_the_viewer_post_to_a_new_table(explorer_nb):
    nb = explorer_nb
    nb.exec("ex.select([]); ex.viewer.layout = 'xy'; ex._draw_button.value = True")
    targets = nb.py("""[(int(r), [float(v) for v in p]) for r, p in zip(*[
        ex.table.data.loc[ex.table.data['pt_root_id'] > 0, c].iloc[30:32] for c in ('pt_root_id', 'pt_position')])]""")
    frame = ng_frame(nb.page)
    for n, (_root, pos) in enumerate(targets, start=1):
        nb.exec(f"ex.viewer.go_to({pos}, zoom=40)")
        want = nb.py("ex.viewer.state['position']")
        wait_until(lambda: all(abs(a - b) < 1 for a, b in zip(
            frame.evaluate("() => Array.from(viewer.state.toJSON().position)"), want)), what="the browser at the soma")
        time.sleep(3)
        frame.locator(".neuroglancer-rendered-data-panel").first.click(modifiers=["Control"])
        wait_until(lambda: len(browser_annotations(frame, "drafts") or []) == n, what=f"draft {n} in the browser")
        wait_until(lambda: nb.py("len(ex.drafts)") == n, timeout=60, what=f"draft {n} saved in Python")
    assert nb.py("ex.drafts['source'].tolist()") == ["viewer", "viewer"]
    nb.exec("posted = ex.post_drafts('explorer_drawn', create=True, schema='bound_tag', tag='drawn')")
    assert nb.py("len(posted)") == 2 and nb.py("len(ex.drafts)") == 0
    rows = nb.py("""[(int(r), t) for r, t in client.materialize.live_live_query('explorer_drawn',
        dt.datetime.now(dt.timezone.utc), log_warning=False)[['pt_root_id', 'tag']].itertuples(index=False)]""")
    live = nb.py(f"[bool(v) for v in client.chunkedgraph.is_latest_roots({[r for r, _ in targets]})]")
    expected = [[r, "drawn"] for (r, _), ok in zip(targets, live) if ok]
    assert len(rows) == 2 and all(row in rows for row in expected), (rows, targets)
    assert nb.py("sorted(int(i) for i in ex.posted['annotation_id'])") == sorted(nb.py("[int(i) for i in posted['annotation_id']]"))
    wait_until(lambda: (browser_annotations(frame, "drafts") or []) == [], what="posted drafts leave the drafts layer")
    wait_until(lambda: len(browser_annotations(frame, "posted") or []) == 2, what="posted points shown")


SYNAPSES = """
big = client.materialize.query_table("nucleus_detection_v0").sort_values("volume").pt_root_id.iloc[-1]
syn = client.materialize.synapse_query(post_ids=int(big), desired_resolution=[1, 1, 1])
ex2 = cavewidgets.Explorer(client, syn, root_column="post_pt_root_id", drafts_dir=tempfile.mkdtemp(), height=420)
ex2
"""


def test_a_synapse_picked_in_the_panel_selects_its_row_and_centres_the_viewer(explorer_nb):
    nb = explorer_nb
    page = nb.page
    nb.add_cell(SYNAPSES, timeout=300)
    root = nb.py("int(big)")
    nb.exec(f"ex2.select([{root}])")
    assert nb.py("ex2.wait_for_panel(180)") is True and nb.py("ex2.panel.root_id") == root
    assert nb.py("len(ex2.table.selected)") == nb.py("len(syn)")  # every synapse row of the root
    morph = page.locator(".cavewidgets-explorer .cw-morph").last
    wait_until(lambda: morph.evaluate("el => !!el.cwMorphology"), what="the second explorer's 3D panel")
    # an input synapse: the table holds the root's inputs (the panel shows outputs too)
    sid = nb.py("int(ex2.panel.synapses.id[ex2.panel.synapses.id.isin(syn.id)].iloc[len(syn) // 3])")
    nb.exec(f"ex2.panel.highlight_synapse({sid}); ex2.panel.show_mesh = False; ex2.panel.show_skeleton = False")
    index = nb.py(f"int(ex2.panel.synapses.index[ex2.panel.synapses.id == {sid}][0])")
    morph.scroll_into_view_if_needed()
    time.sleep(2)  # the highlight re-centres the camera; let a frame render
    pos = morph.evaluate(f"el => el.cwMorphology.screenPosition('synapse', {index})")
    page.mouse.click(pos["x"], pos["y"])
    wait_until(lambda: nb.py("ex2.panel.picked is not None"), timeout=60, what=f"a pick at {pos}")
    assert nb.py("ex2.panel.picked['kind']") == "synapse" and nb.py("ex2.panel.picked['synapse_id']") == sid
    wait_until(lambda: nb.py("[int(i) for i in ex2.table.selected['id']]") == [sid], timeout=60,
               what="the picked synapse's row selected")
    want = nb.py(f"[float(v) for v in syn.loc[syn.id == {sid}, 'ctr_pt_position'].iloc[0]]")
    wait_until(lambda: all(abs(a - b) < 600 for a, b in zip(nb.py("list(ex2.viewer.position)"), want)),
               what="the viewer centred on the synapse")
