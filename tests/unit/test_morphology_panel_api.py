"""MorphologyPanel kernel side without a service: bad input fails before any fetch, traits are
checked, picks resolve to exact ids, and callbacks fire."""

from __future__ import annotations

import numpy as np
import pytest
import traitlets
import trimesh

from cavewidgets.morphology import MorphologyPanel
from cavewidgets._ids import parse_root_id
from cavewidgets.morphology._data import prepare_synapses
from cavewidgets.morphology._geometry import build_payload

from test_morphology_geometry import BIG, synapse_frame, y_skeleton


class Untouchable:
    """A client that fails the test if anything reaches for it: input checks come first."""

    def __getattr__(self, name):
        raise AssertionError(f"the panel used client.{name} before rejecting bad input")


@pytest.mark.parametrize("bad, error", [
    ("abc", TypeError), (" 864691135808684573", TypeError), (1.5, TypeError), (float(BIG), TypeError),
    (True, TypeError), (None, TypeError), ([BIG], TypeError), (-1, ValueError), (0, ValueError),
    (2**64, ValueError), (10**30, ValueError), (np.int64(-5), ValueError),
])
def test_bad_root_ids_are_refused_before_any_fetch(bad, error):
    panel = MorphologyPanel(Untouchable())
    with pytest.raises(error, match="root id"):
        panel.show(bad)
    assert panel.root_id is None and panel.data_version == 0


def test_good_root_ids_stay_exact():
    assert parse_root_id(np.uint64(2**64 - 1)) == 2**64 - 1
    assert parse_root_id(BIG) == BIG and isinstance(parse_root_id(np.int64(BIG)), int)
    panel = MorphologyPanel(Untouchable())
    with pytest.raises(AssertionError, match="used client"):  # a decimal string passes the check
        panel.show(str(BIG))


def test_bad_synapses_argument_and_constructor_arguments():
    panel = MorphologyPanel(Untouchable())
    with pytest.raises(TypeError, match="synapses"):
        panel.show(BIG, synapses="yes")
    for kwargs in ({"height": 20}, {"height": "500"}, {"max_triangles": 0}, {"max_triangles": 2.5}):
        with pytest.raises(ValueError):
            MorphologyPanel(Untouchable(), **kwargs)


def test_colour_and_opacity_traits_are_checked():
    panel = MorphologyPanel(Untouchable())
    panel.color = "#FF7F0E"
    assert panel.color == "#ff7f0e"
    for bad in ("red", "#12345", "#gggggg", 7):
        with pytest.raises(traitlets.TraitError):
            panel.color = bad
    assert panel.color == "#ff7f0e"
    with pytest.raises(traitlets.TraitError):
        panel.opacity = 1.5


def loaded_panel():
    """A panel holding data as show() leaves it (the fetch itself is covered by the service tests)."""
    panel = MorphologyPanel(Untouchable())
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=2000.0)
    sk = y_skeleton()
    syn = prepare_synapses(synapse_frame(), BIG)
    panel.root_id, panel.mesh, panel.skeleton, panel.synapses = BIG, sphere, sk, syn
    panel._payload = build_payload(mesh=(sphere.vertices, sphere.faces), skeleton=sk, synapses=syn)
    panel.data_version = 1
    return panel


def test_picks_resolve_to_exact_ids_and_fire_callbacks():
    panel = loaded_panel()
    seen = []
    panel.on_pick(seen.append)
    reply = panel._rpc_pick("synapse", 4, data_version=1)
    assert panel.picked["synapse_id"] == 2**60 + 4 and isinstance(panel.picked["synapse_id"], int)
    assert panel.picked["direction"] == "input"
    assert reply["synapse_id"] == str(2**60 + 4) and reply["root_id"] == str(BIG)  # strings for JS
    panel._rpc_pick("skeleton", 2, data_version=1)
    l2 = panel.picked["l2_ids"]
    assert l2 == panel.skeleton.nodes.l2_ids.iloc[2] and all(x > 2**53 for x in l2)
    panel._rpc_pick("mesh", 0, point=[0.0, 0.0, 2100.0], data_version=1)
    v = panel.picked["vertex"]
    assert np.allclose(panel.mesh.vertices[v], [0, 0, 2000])  # the icosphere's pole
    assert [p["kind"] for p in seen] == ["synapse", "skeleton", "mesh"]
    with pytest.raises(ValueError, match="older"):
        panel._rpc_pick("synapse", 0, data_version=0)
    with pytest.raises(ValueError):
        panel._rpc_pick("synapse", 999, data_version=1)
    with pytest.raises(ValueError):
        panel._rpc_pick("volume", 0, data_version=1)
    panel.on_pick(seen.append, remove=True)
    panel._rpc_pick("synapse", 0, data_version=1)
    assert len(seen) == 3


def test_highlight_and_clear():
    panel = loaded_panel()
    panel.highlight_synapse(2**60 + 3)
    assert panel.highlight_index == 3
    with pytest.raises(KeyError):
        panel.highlight_synapse(12345)
    with pytest.raises(TypeError):
        panel.highlight_synapse("2")
    version = panel.data_version
    panel.clear()
    assert panel.root_id is None and panel.mesh is None and panel.highlight_index == -1
    assert panel.data_version == version + 1
    assert panel._rpc_geometry()[0]["empty"] is True
    with pytest.raises(ValueError, match="no synapses"):
        panel.highlight_synapse(2**60)
