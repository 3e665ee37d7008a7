"""Hostile and unusual input on the Viewer's public entry points: a clear error, nothing changed.
Also states from nglui's ``ViewerState`` and from state-service links."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from cavewidgets.viewer import state as st

BIG = 864691135808684573


@pytest.fixture(scope="module")
def client():
    import cavewidgets

    return cavewidgets.sample.client()


@pytest.fixture
def viewer(client):
    import cavewidgets

    v = cavewidgets.Viewer(client, height=300)
    v.segments = {BIG}
    yield v
    v.close()


def registered_owners():
    from cavewidgets.viewer import credentials

    with credentials._lock:
        return {e[0] for entries in credentials._origins.values() for e in entries}


@pytest.mark.parametrize(
    "bad, error, match",
    [
        (42, TypeError, "cannot use a int"),
        ([1, 2], TypeError, "cannot use a list"),
        ("hello", ValueError, "state must be a dict, a neuroglancer URL"),
        ("https://example.com/some/page", ValueError, "state must be a dict"),
        ("https://ngl.example.org/#!{not json", ValueError, "could not read the neuroglancer state"),
        ('{"layers": [}', ValueError, "not valid JSON"),
        ({"layers": "abc"}, ValueError, "must be a list of layers"),
        ({"layers": [1]}, ValueError, "layer 0 is a int"),
        ({"layers": [{"type": "image", "source": "precomputed://x"}]}, ValueError, "layer 0 has no name"),
        ({"layers": [{"name": "a", "type": "image"}, {"name": "a", "type": "image"}]}, ValueError, "two layers are named 'a'"),
        ({"layers": [{"name": "s", "type": "segmentation", "source": "precomputed://x", "segments": ["-4"]}]}, ValueError, "outside the uint64 range"),
        ({"layers": [{"name": "s", "type": "segmentation", "source": "precomputed://x", "segments": [1.5]}]}, ValueError, "is a float"),
        ({"layers": [{"name": "s", "type": "segmentation", "source": 5}]}, ValueError, "source must be"),
        ({"layers": [{"name": "a", "type": "bogus"}]}, ValueError, "not a valid neuroglancer state"),
        ({"position": "abc"}, ValueError, "position"),
        ({"dimensions": {"x": [-1, "m"]}}, ValueError, "dimensions"),
        ({"layers": [], "x": object()}, TypeError, "only JSON values"),
    ],
)
def test_bad_state_is_refused_clearly_and_changes_nothing(viewer, client, bad, error, match):
    import cavewidgets

    before = viewer.state
    with pytest.raises(error, match=match):
        viewer.state = bad
    assert viewer.state == before and viewer.segments == {BIG}
    owners = registered_owners()
    with pytest.raises(error, match=match):
        cavewidgets.Viewer(client, state=bad)
    assert registered_owners() == owners  # the failed viewer left no credentials behind


def test_state_links_are_fetched_only_from_the_clients_own_server(viewer, client):
    import cavewidgets

    link = viewer.share()  # .../#!middleauth+http://127.0.0.1:PORT/nglstate/api/v1/ID
    v = cavewidgets.Viewer(client, state=link)
    try:
        assert v.segments == {BIG} and [l["name"] for l in v.state["layers"]] == ["img", "seg"]
    finally:
        v.close()
    fragment = link.split("#!", 1)[1]
    assert st.segments_of(st.coerce_state(fragment, client)) == {BIG}  # the bare state-service URL too
    # another host: refused before any request (the client's token would go with it)
    other = "https://ngl.example.org/#!middleauth+https://cave.example.org/nglstate/api/v1/5"
    with pytest.raises(ValueError, match="stored at https://cave.example.org, but the viewer's client uses http://127.0.0.1"):
        viewer.state = other
    with pytest.raises(ValueError, match="create the viewer with a CAVEclient"):
        cavewidgets.Viewer(state=other)
    assert viewer.segments == {BIG}


@pytest.mark.parametrize("bad", [-1, "-1", "abc", 1.5, float(2**60), float("nan"), True, None, 2**64, [1]])
def test_bad_segment_ids_are_refused_and_change_nothing(viewer, bad):
    before = viewer.state
    with pytest.raises((ValueError, Exception), match="segment id|not a segment id|expected"):
        viewer.segments = {bad} if not isinstance(bad, list) else bad + [-1]
    with pytest.raises(ValueError, match="segment id"):
        viewer.add_segments([BIG + 1, bad])
    with pytest.raises(ValueError, match="segment id"):
        viewer.remove_segments([bad])
    assert viewer.state == before and viewer.segments == {BIG}


def test_segment_ids_as_strings_and_numpy_stay_exact(viewer):
    import numpy as np

    viewer.segments = [str(BIG + 1), np.uint64(BIG + 2), BIG + 3]
    assert viewer.segments == {BIG + 1, BIG + 2, BIG + 3}
    viewer.add_segments(str(BIG + 4))
    assert BIG + 4 in viewer.segments


def test_huge_segment_lists_are_refused_clearly(viewer):
    before = viewer.state
    many = set(range(BIG, BIG + 100_000))
    with pytest.raises(ValueError, match="100,000 segments is more than the viewer shows at once"):
        viewer.segments = many
    with pytest.raises(ValueError, match="100,001 segments"):
        viewer.add_segments(range(BIG + 1, BIG + 100_001))
    assert viewer.state == before and viewer.segments == {BIG}
    viewer.max_segments = 200_000  # the user may raise the limit
    viewer.segments = many
    assert len(viewer.segments) == 100_000 and len(viewer.state["layers"][1]["segments"]) == 100_000


def test_bad_positions_zoom_layout_colors_and_heights(viewer, client):
    import numpy as np

    import cavewidgets

    before = viewer.state
    for bad in ["abc", [1, 2], [1, 2, "x"], [float("nan"), 1, 2], 5, None]:
        with pytest.raises(ValueError, match="position"):
            viewer.go_to(bad)
    for bad in [0, -3, "40", float("inf"), True]:
        with pytest.raises(ValueError, match="zoom"):
            viewer.zoom = bad
        with pytest.raises(ValueError, match="zoom"):
            viewer.go_to([1, 2, 3], zoom=bad)
    for bad in ["sideways", 3, ["xy"]]:
        with pytest.raises(ValueError, match="unknown layout"):
            viewer.layout = bad
    with pytest.raises(ValueError, match="colors must be CSS colour strings"):
        viewer.add_segments([BIG + 5], colors=[123])
    with pytest.raises(Exception, match="position"):
        viewer.position = (1, 2)
    assert viewer.state == before and viewer.segments == {BIG}
    viewer.zoom = np.float32(40)  # numpy numbers are fine
    assert viewer.zoom == pytest.approx(40)
    for bad in [20, "600", 600.5, True]:
        with pytest.raises(ValueError, match="height"):
            cavewidgets.Viewer(client, height=bad)
    with pytest.raises(TypeError, match="client must be a caveclient.CAVEclient"):
        cavewidgets.Viewer("https://cave.example.org")


def test_bad_annotation_input(viewer):
    before = viewer.state
    with pytest.raises(TypeError, match="expected a pandas DataFrame"):
        viewer.add_points([[1, 2, 3]])
    with pytest.raises(TypeError, match="expected a pandas DataFrame"):
        viewer.add_lines({"a": 1})
    df = pd.DataFrame({"pt_position": [[1, 2, 3]], "pt_root_id": [BIG]})
    for bad in ["", None, 5]:
        with pytest.raises(ValueError, match="layer must be a non-empty layer name"):
            viewer.add_points(df, layer=bad)
        with pytest.raises(ValueError, match="layer must be a non-empty layer name"):
            viewer.annotate(bad)
    with pytest.raises(ValueError, match="row 0: segment 'pt_root_id'.*outside the uint64 range"):
        viewer.add_points(pd.DataFrame({"pt_position": [[1, 2, 3]], "pt_root_id": [-7]}))
    with pytest.raises(ValueError, match="is a image layer, not an annotation layer"):
        viewer.add_points(df, layer="img")
    assert viewer.state == before


def test_viewer_from_an_nglui_viewer_state(client):
    """Built with nglui's own API from the same client: layers, segments and colours arrive."""
    from nglui.statebuilder import ViewerState

    import cavewidgets

    vs = ViewerState(client=client).add_layers_from_client(segmentation="seg", imagery="em")
    vs.add_segments([BIG, BIG + 1], segment_colors="#ff00ff")
    v = cavewidgets.Viewer(client, state=vs, height=300)
    try:
        s = v.state
        assert [(l["name"], l["type"]) for l in s["layers"]] == [("em", "image"), ("seg", "segmentation")]
        assert v.segmentation_layer == "seg" and v.segments == {BIG, BIG + 1}
        assert s["layers"][1]["segmentColors"] == {str(BIG): "#ff00ff", str(BIG + 1): "#ff00ff"}
        src = s["layers"][1]["source"]
        src = src[0]["url"] if isinstance(src, list) else src
        assert src.startswith("graphene://middleauth+http://127.0.0.1:")
        assert client.auth.token not in json.dumps(s)
        assert v.position == pytest.approx(tuple(float(p) * r for p, r in zip(vs.to_dict()["position"], [512, 512, 640])))
        v.segments = {BIG + 2}  # and it is a live viewer like any other
        assert st.segments_of(v.state) == {BIG + 2}
    finally:
        v.close()
