"""MorphologyPanel.show against the real local sample service through the real caveclient:
mesh through cloud-volume, skeleton from the L2 cache, synapses from synapse_query, errors."""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd
import pytest

from _graph_support import edited, graph, graph_service  # noqa: F401
from cavewidgets.morphology import MorphologyError, MorphologyPanel, Skeleton

pytestmark = pytest.mark.service


def decode(meta, buffers):
    return {s["name"]: np.frombuffer(buffers[s["index"]], dtype=s["dtype"]).reshape(s["shape"]) for s in meta["buffers"]}


@pytest.fixture(scope="module")
def roots(sample_client, graph):
    """Three nucleus roots of the current materialization, plus a latest root created after it."""
    nuc = sample_client.materialize.query_table("nucleus_detection_v0")
    nuc = nuc[nuc.pt_root_id != 0].sort_values("volume", ascending=False)
    picked = [int(r) for r in nuc.pt_root_id.drop_duplicates().iloc[[0, 5, 20]]]
    mat_time = sample_client.materialize.get_version_metadata()["time_stamp"]
    latest = [int(r) for r in graph.latest_roots()]
    created = sample_client.chunkedgraph.get_root_timestamps(latest)
    newer = [r for r, c in zip(latest, created) if c > mat_time and len(graph.members(r)) > 50]
    return picked, (newer[0] if newer else None)


def check_shown(panel, client, root, timestamp=None):
    assert panel.root_id == root and panel.title == str(root)
    assert len(panel.mesh.faces) > 0 and panel.mesh.vertices.dtype == np.float64
    sk = panel.skeleton
    assert isinstance(sk, Skeleton) and sk.root_id == root and len(sk.nodes) > 1
    # the synapses are exactly what synapse_query gives, in nm, with a direction
    kwargs = {"desired_resolution": [1, 1, 1]} | ({"timestamp": timestamp} if timestamp is not None else {})
    pre = client.materialize.synapse_query(pre_ids=root, **kwargs)
    post = client.materialize.synapse_query(post_ids=root, **kwargs)
    syn = panel.synapses
    assert (syn.direction == "output").sum() == len(pre) and (syn.direction == "input").sum() == len(post)
    assert set(syn.id[syn.direction == "output"].tolist()) == set(pre.id.tolist())
    assert set(syn.id[syn.direction == "input"].tolist()) == set(post.id.tolist())
    merged = syn.merge(pre[["id", "ctr_pt_position"]], on="id", suffixes=("", "_q"))
    np.testing.assert_allclose(np.stack(merged.ctr_pt_position), np.stack(merged.ctr_pt_position_q))
    np.testing.assert_allclose(syn[["x", "y", "z"]].to_numpy(), np.stack(syn.ctr_pt_position))
    # synapses sit on the neuron: inside the mesh's bounding box (give or take a micron)
    lo, hi = panel.mesh.bounds
    inside = ((syn[["x", "y", "z"]].to_numpy() >= lo - 2000) & (syn[["x", "y", "z"]].to_numpy() <= hi + 2000)).all(axis=1)
    assert inside.mean() > 0.99
    # compartments labelled from the synapses
    assert {"axon", "dendrite"} <= set(sk.nodes.compartment)
    # the geometry message decodes to what the panel holds
    meta, buffers = panel._rpc_geometry()
    got = decode(meta, buffers)
    assert meta["mesh"]["full_triangles"] == len(panel.mesh.faces)
    assert len(got["mesh.faces"]) == meta["mesh"]["triangles"] <= panel.max_triangles
    assert sorted(int(x) for x in got["synapses.ids"]) == sorted(int(x) for x in syn.id)
    assert len(got["skeleton.parents"]) == len(sk.nodes)


def test_show_sample_neurons(sample_client, roots):
    panel = MorphologyPanel(sample_client)
    picked, _ = roots
    for i, root in enumerate(picked, start=1):
        assert panel.show(root) is panel
        assert panel.data_version == i and panel.error == "" and panel.status == ""
        check_shown(panel, sample_client, root)


def test_root_newer_than_the_materialization_gets_live_synapses(sample_client, roots):
    _, newer = roots
    if newer is None:
        pytest.skip("no root of this sample was created after its materialization")
    panel = MorphologyPanel(sample_client).show(newer)
    now = datetime.datetime.now(datetime.timezone.utc)
    check_shown(panel, sample_client, newer, timestamp=now)
    assert len(panel.synapses) > 0  # the materialized version knows nothing of this root


def test_synapses_given_as_a_frame_in_voxels(sample_client, roots):
    root = roots[0][1]
    pre = sample_client.materialize.synapse_query(pre_ids=root)  # table resolution, not nm
    assert list(pre.attrs["dataframe_resolution"]) != [1, 1, 1]
    panel = MorphologyPanel(sample_client).show(root, mesh=False, synapses=pre)
    nm = sample_client.materialize.synapse_query(pre_ids=root, desired_resolution=[1, 1, 1])
    assert panel.mesh is None and (panel.synapses.direction == "output").all()
    got = panel.synapses.set_index("id").loc[nm.id]
    np.testing.assert_allclose(got[["x", "y", "z"]].to_numpy(), np.stack(nm.ctr_pt_position))
    assert "mesh" not in panel._rpc_geometry()[0]


def test_budget_decimates_the_display_only(sample_client, roots):
    root = roots[0][0]
    panel = MorphologyPanel(sample_client, max_triangles=2_000).show(root, skeleton=False, synapses=False)
    meta, _ = panel._rpc_geometry()
    assert len(panel.mesh.faces) > 10_000
    assert meta["mesh"]["full_triangles"] == len(panel.mesh.faces)
    assert 500 < meta["mesh"]["triangles"] <= 2_100
    assert panel.skeleton is None and panel.synapses is None


def test_errors_raise_and_keep_what_was_shown(sample_client, roots, graph, edited):
    root = roots[0][0]
    panel = MorphologyPanel(sample_client).show(root, synapses=False)
    version, mesh = panel.data_version, panel.mesh
    unknown = int(graph.root_ids.max()) + 1
    with pytest.raises(MorphologyError, match=f"root id {unknown} is unknown"):
        panel.show(unknown)
    assert str(unknown) in panel.error and "unknown" in panel.error
    old, _, after = edited
    with pytest.raises(MorphologyError, match="outdated") as info:
        panel.show(old)
    assert any(str(a) in str(info.value) for a in after) or "latest root" in str(info.value)
    assert panel.root_id == root and panel.mesh is mesh and panel.data_version == version and panel.status == ""
    # the same id at a time when it was valid shows
    created = sample_client.chunkedgraph.get_root_timestamps([old])[0]
    expired = sample_client.chunkedgraph.get_root_timestamps([old], latest=True)[0]
    panel.show(old, timestamp=created + (expired - created) / 2, synapses=False)
    assert panel.root_id == old and panel.error == "" and len(panel.mesh.faces) > 0


def test_token_stays_in_the_kernel(sample_client, sample_service, roots):
    panel = MorphologyPanel(sample_client).show(roots[0][0], synapses=False)
    state = panel.get_state()
    assert sample_service.token not in repr(state)
    meta, buffers = panel._rpc_geometry()
    assert sample_service.token not in repr(meta)
    assert not any(sample_service.token.encode() in b for b in buffers)


def test_synapse_frame_of_another_neuron_is_refused(sample_client, roots):
    a, b = roots[0][0], roots[0][1]
    other = sample_client.materialize.synapse_query(pre_ids=b)
    panel = MorphologyPanel(sample_client)
    with pytest.raises(ValueError, match="none of the"):
        panel.show(a, mesh=False, skeleton=False, synapses=other)
    assert panel.root_id is None and "none of the" in panel.error
    with pytest.raises(ValueError, match="lacks"):
        panel.show(a, mesh=False, skeleton=False, synapses=pd.DataFrame({"id": [1]}))
