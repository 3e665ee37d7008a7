"""The pcg_skel tutorial (CAVEconnectome/pcg_skel ``docs/tutorial.md``), run against the sample.

Only the client line, the data release (the sample's latest version instead of 795) and the
example root id (a proofread sample neuron instead of 864691135397503777) are changed.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = [pytest.mark.service, pytest.mark.filterwarnings("ignore::FutureWarning")]

pcg_skel = pytest.importorskip("pcg_skel")


@pytest.fixture(scope="module")
def client(sample_service):
    from cavewidgets.sample import client as make_client

    client = make_client(service=sample_service)  # tutorial: caveclient.CAVEclient('minnie65_public')
    client.materialize.version = max(client.materialize.get_versions())  # tutorial: 795
    return client


@pytest.fixture(scope="module")
def root_id(client):
    """A neuron with a soma in the lookup view and synapses both ways (tutorial: 864691135397503777)."""
    proof = client.materialize.tables.proofreading_status_and_strategy(status_axon="t").query()
    somata = client.materialize.views.nucleus_detection_lookup_v1().query()
    roots = [int(r) for r in proof["pt_root_id"] if int(r) in set(somata["pt_root_id"].astype(int))]
    return roots[0]


@pytest.fixture(scope="module")
def soma_location(client, root_id):
    root_resolution = [1, 1, 1]
    soma_df = client.materialize.views.nucleus_detection_lookup_v1(pt_root_id=root_id).query(
        desired_resolution=root_resolution)
    return soma_df["pt_position"].values[0]


def test_basic_skeleton(client, root_id):
    skel = pcg_skel.pcg_skeleton(root_id=root_id, client=client)
    l2 = client.chunkedgraph.get_leaves(root_id, stop_layer=2)
    assert 1 < skel.n_vertices <= len(l2)
    assert len(skel.edges) == skel.n_vertices - 1  # a tree
    assert skel.path_length() > 10_000  # nm: a neuron, not a blob


def test_skeleton_rooted_at_the_soma(client, root_id, soma_location):
    root_resolution = [1, 1, 1]
    skel = pcg_skel.pcg_skeleton(root_id, client, root_point=soma_location, root_point_resolution=root_resolution,
                                 collapse_soma=True, collapse_radius=7500)
    np.testing.assert_allclose(skel.root_position, soma_location)  # the soma point is added as the root
    basic = pcg_skel.pcg_skeleton(root_id=root_id, client=client)
    assert skel.n_vertices < basic.n_vertices  # vertices within 7.5 µm of the soma are collapsed
    res = np.asarray(client.info.viewer_resolution())
    assert np.all(skel.root_position / res >= 0)  # "skel.root_position / [4,4,40]" in viewer voxels


@pytest.fixture(scope="module")
def nrn(client, root_id, soma_location):
    return pcg_skel.pcg_meshwork(root_id=root_id, client=client, root_point=soma_location,
                                 root_point_resolution=[1, 1, 1], collapse_soma=True, collapse_radius=7500,
                                 synapses=True)


def test_meshwork_with_synapses(client, root_id, nrn):
    post = nrn.anno.post_syn.df
    pre = nrn.anno.pre_syn.df
    assert {"id", "size", "post_pt_root_id", "post_pt_position", "post_pt_level2_id", "post_pt_mesh_ind"} <= set(post.columns)
    assert (post["post_pt_root_id"].astype(int) == root_id).all()
    inputs = client.materialize.synapse_query(post_ids=root_id)
    outputs = client.materialize.synapse_query(pre_ids=root_id)
    assert len(post) == len(inputs) > 0 and len(pre) == len(outputs) > 0
    # each synapse sits on a level-2 node of the neuron, and mesh indices address the meshwork graph
    l2 = set(int(x) for x in client.chunkedgraph.get_leaves(root_id, stop_layer=2))
    assert set(post["post_pt_level2_id"].astype(int)) <= l2
    assert post["post_pt_mesh_ind"].between(0, len(nrn.mesh.vertices) - 1).all()
    assert len(nrn.anno.lvl2_ids.df) == len(nrn.mesh.vertices)


def test_synapse_count_features(nrn):
    pcg_skel.features.add_synapse_count(nrn)
    syn_count_df = nrn.anno.synapse_count.df
    assert syn_count_df["num_syn_in"].sum() == len(nrn.anno.post_syn.df)
    assert syn_count_df["num_syn_out"].sum() == len(nrn.anno.pre_syn.df)
    assert syn_count_df["net_size_in"].sum() == pytest.approx(nrn.anno.post_syn.df["size"].sum())
    skel_df = pcg_skel.features.aggregate_property_to_skeleton(
        nrn, "synapse_count",
        agg_dict={"num_syn_in": "sum", "num_syn_out": "sum", "net_size_in": "sum", "net_size_out": "sum"})
    assert len(skel_df) == nrn.skeleton.n_vertices
    assert skel_df["num_syn_in"].sum() == syn_count_df["num_syn_in"].sum()
    assert skel_df["num_syn_out"].sum() == syn_count_df["num_syn_out"].sum()
