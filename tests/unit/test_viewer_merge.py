"""Browser edits racing a Python push: merged, not dropped.

The pure three-way merge, then the viewer's widget channel answering a browser edit (``ng_state``)
whose base generation is stale (what neuroglancer's client sends when Python changed the state
in between), through the same channel code the front-end talks to.
"""

from __future__ import annotations

import json

import pytest

from cavewidgets.testing.channel import ChannelClient
from cavewidgets.viewer.merge import merge_states

BIG = 864691135808684573


def seg(segments, **extra):
    return {"layers": [{"name": "seg", "type": "segmentation", "segments": segments, **extra}], "layout": "xy"}


def points(*ids):
    return [{"type": "point", "id": i, "point": [1, 2, 3]} for i in ids]


def ann(*ids):
    return {"name": "drafts", "type": "annotation", "annotations": points(*ids)}


def test_each_side_alone_wins():
    base = seg(["1"])
    assert merge_states(base, seg(["1", "2"]), base) == seg(["1", "2"])
    assert merge_states(base, base, seg([])) == seg([])


def test_segments_merge_as_sets():
    base = seg(["1", "2"])
    ours = seg(["1", "2", "3"])          # Python added 3
    theirs = seg(["2", "4"])              # browser removed 1, added 4
    assert merge_states(base, ours, theirs) == seg(["2", "3", "4"])


def test_a_point_drawn_in_the_browser_survives_a_python_move():
    base = {"position": [0, 0, 0], "layers": [ann("a")]}
    ours = {"position": [5, 5, 5], "layers": [ann("a")]}
    theirs = {"position": [0, 0, 0], "layers": [ann("a", "b")]}
    out = merge_states(base, ours, theirs)
    assert out["position"] == [5, 5, 5]
    assert [a["id"] for a in out["layers"][0]["annotations"]] == ["a", "b"]


def test_annotations_added_on_both_sides_and_deleted_in_the_browser():
    base = {"layers": [ann("a", "b")]}
    ours = {"layers": [ann("a", "b", "py")]}
    theirs = {"layers": [ann("b", "ng")]}  # deleted a, drew ng
    out = merge_states(base, ours, theirs)
    assert [a["id"] for a in out["layers"][0]["annotations"]] == ["b", "py", "ng"]


def test_layers_by_name_and_a_conflicting_scalar_keeps_python():
    base = {"layers": [ann("a")], "layout": "xy", "crossSectionScale": 1.0}
    ours = {"layers": [ann("a"), {"name": "new", "type": "annotation", "annotations": []}], "layout": "3d",
            "crossSectionScale": 1.0}
    theirs = {"layers": [ann("a")], "layout": "4panel", "crossSectionScale": 2.0, "selectedLayer": {"layer": "a"}}
    out = merge_states(base, ours, theirs)
    assert [l["name"] for l in out["layers"]] == ["drafts", "new"]
    assert out["layout"] == "3d"              # both changed it: Python's
    assert out["crossSectionScale"] == 2.0    # only the browser changed it
    assert out["selectedLayer"] == {"layer": "a"}


def test_a_layer_deleted_in_the_browser_and_kept_by_python_goes():
    base = {"layers": [ann("a"), seg(["1"])["layers"][0]]}
    ours = {"layers": [ann("a"), seg(["1", "2"])["layers"][0]]}
    theirs = {"layers": [seg(["1"])["layers"][0]]}
    out = merge_states(base, ours, theirs)
    assert [l["name"] for l in out["layers"]] == ["seg"] and out["layers"][0]["segments"] == ["1", "2"]


def test_unkeyed_lists_are_not_merged_item_by_item():
    base = {"position": [0, 0, 0]}
    out = merge_states(base, {"position": [1, 0, 0]}, {"position": [0, 2, 0]})
    assert out == {"position": [1, 0, 0]}


# ---------------------------------------------------------------- the real server


@pytest.fixture
def viewer():
    import cavewidgets

    v = cavewidgets.Viewer(height=300, state={"layers": [
        {"name": "seg", "type": "segmentation", "source": "precomputed://https://127.0.0.1:9/seg", "segments": []},
        {"name": "drafts", "type": "annotation", "source": {"url": "local://annotations"}, "annotations": []},
    ], "layout": "xy", "position": [10, 10, 10],
        "dimensions": {"x": [1e-9, "m"], "y": [1e-9, "m"], "z": [1e-9, "m"]}})
    yield v
    v.close()


def post_state(viewer, state, prev_generation, client_id="c0ffee", generation=7):
    """Send a browser edit as the front-end does; (200, reply) or (412, None) as neuroglancer's server."""
    reply = ChannelClient(viewer).request("ng_state", s=json.dumps(state), g=generation, pg=prev_generation, c=client_id)
    return (412, None) if reply.get("conflict") else (200, reply)


def test_a_browser_edit_based_on_a_stale_generation_is_merged_with_the_python_push(viewer):
    raw, seen = viewer._ng.shared_state.raw_state_and_generation   # what the browser last received
    browser = json.loads(json.dumps(raw))
    viewer.segments = {BIG}                                        # Python pushes in between
    viewer.go_to([20, 20, 20])
    for layer in browser["layers"]:
        if layer["name"] == "drafts":
            layer["annotations"].append({"type": "point", "id": "drawn1", "point": [11, 12, 13]})
    status, reply = post_state(viewer, browser, seen)
    assert status == 200 and reply["g"].startswith("merged/")
    assert viewer.segments == {BIG}                                 # Python's push kept, exact
    assert list(viewer.annotations("drafts")["id"]) == ["drawn1"]   # the browser's point kept
    assert tuple(round(v) for v in viewer.position) == (20, 20, 20)
    assert viewer._ng.merged_conflicts == 1


def test_a_merged_browser_selection_still_reaches_on_select(viewer):
    picked = []
    viewer.on_select(lambda root, where: picked.append(root))
    raw, seen = viewer._ng.shared_state.raw_state_and_generation
    browser = json.loads(json.dumps(raw))
    viewer.go_to([30, 30, 30])                                      # Python moves
    browser["layers"][0]["segments"] = [str(BIG)]                   # the user selects meanwhile
    assert post_state(viewer, browser, seen)[0] == 200
    assert viewer.segments == {BIG} and picked == [BIG]


def test_an_unknown_base_generation_gets_412_and_the_current_state_is_sent_again(viewer):
    raw, gen = viewer._ng.shared_state.raw_state_and_generation
    status, _ = post_state(viewer, raw | {"layout": "3d"}, "no-such-generation")
    assert status == 412 and viewer.layout == "xy"
    again, new_gen = viewer._ng.shared_state.raw_state_and_generation
    assert again == raw and new_gen != gen   # a new generation: the event stream re-sends it


def test_a_browser_stuck_on_its_own_old_generation_gets_its_next_edit_in(viewer):
    """The client-side race: its POST answered after a Python push arrived, so its base is its
    own older generation while its state already shows Python's push."""
    raw, gen = viewer._ng.shared_state.raw_state_and_generation
    status, reply = post_state(viewer, raw | {"layout": "xy-3d"}, gen, client_id="abc", generation=1)
    assert status == 200
    stale = reply["g"]                          # the base the browser keeps (answer came late)
    viewer.segments = {BIG}                     # Python's push, already shown in the browser
    seen_by_browser = json.loads(json.dumps(viewer._ng.shared_state.raw_state))
    for layer in seen_by_browser["layers"]:
        if layer["name"] == "drafts":
            layer["annotations"] = [{"type": "point", "id": "p2", "point": [1, 2, 3]}]
    status, _ = post_state(viewer, seen_by_browser, stale, client_id="abc", generation=2)
    assert status == 200
    assert viewer.segments == {BIG} and list(viewer.annotations("drafts")["id"]) == ["p2"]
    assert viewer.layout == "xy-3d"


def test_an_up_to_date_browser_edit_is_applied_as_is(viewer):
    raw, gen = viewer._ng.shared_state.raw_state_and_generation
    status, reply = post_state(viewer, raw | {"layout": "3d"}, gen, client_id="abc")
    assert status == 200 and reply["g"] == "abc/7" and viewer.layout == "3d"
    assert viewer._ng.merged_conflicts == 0


# ---------------------------------------------------------------- batches


def generations(viewer):
    seen = []
    viewer._ng.shared_state.add_changed_callback(lambda: seen.append(viewer._ng.shared_state.state_generation))
    return seen


def test_a_batch_reaches_the_browser_as_one_change(viewer):
    seen = generations(viewer)
    with viewer.batch():
        viewer.segments = {BIG}
        viewer.add_segments([BIG + 1], colors="#ff0000")
        viewer.go_to([40, 40, 40], zoom=2)
        with viewer.batch():  # nested: still one
            viewer.layout = "3d"
        assert viewer.state["layout"] == "3d"  # reads see the batch so far
        assert seen == []
    assert len(seen) == 1
    assert viewer.segments == {BIG, BIG + 1} and viewer.layout == "3d"
    assert tuple(round(v) for v in viewer.position) == (40, 40, 40)


def test_a_batch_that_raises_sends_nothing_and_the_traits_follow(viewer):
    seen = generations(viewer)
    before = viewer.state
    with pytest.raises(ValueError):
        with viewer.batch():
            viewer.segments = {BIG}
            viewer.go_to([1, 2, 3])
            viewer.add_segments(["not an id"])
    assert seen == [] and viewer.state == before
    assert viewer.segments == set() and tuple(round(v) for v in viewer.position) == (10, 10, 10)


def test_a_browser_edit_during_a_batch_is_kept(viewer):
    with viewer.batch():
        viewer.segments = {BIG}
        raw, gen = viewer._ng.shared_state.raw_state_and_generation   # the browser is up to date
        browser = json.loads(json.dumps(raw))
        browser["layers"][1]["annotations"] = [{"type": "point", "id": "during", "point": [1, 2, 3]}]
        assert post_state(viewer, browser, gen)[0] == 200
    assert viewer.segments == {BIG} and list(viewer.annotations("drafts")["id"]) == ["during"]


def test_a_reordered_segment_list_does_not_block_a_deletion():
    """Python writes segment lists sorted: the same set in another order is not an edit, so the
    browser's deletion of that layer (or of an annotation next to it) still applies."""
    other = {"name": "img", "type": "image"}
    base = {"layers": [other, {"name": "seg", "type": "segmentation", "segments": [str(BIG), "1"]}]}
    ours = {"layers": [other, {"name": "seg", "type": "segmentation", "segments": ["1", str(BIG)]}]}
    theirs = {"layers": [other]}
    assert merge_states(base, ours, theirs) == {"layers": [other]}
