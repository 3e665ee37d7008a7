"""``client.skeleton`` on the sample: the MICrONS skeleton tutorial's calls, answered from our L2 skeletons.

Code from AllenInstitute/microns_tutorial ``quickstart_notebooks/07-cave-download-skeleton.ipynb``
with only the client line and the example root id changed.
"""

from __future__ import annotations

import numpy as np
import pytest
import requests

from cavewidgets.morphology import skeleton_from_l2


@pytest.fixture(scope="module")
def proofread(sample_client):
    return sample_client.materialize.tables.proofreading_status_and_strategy(status_axon="t").query()["pt_root_id"]


def test_tutorial_skeleton_calls(sample_client, proofread):
    client = sample_client
    example_cell_id = int(proofread.iloc[0])
    sk_df = client.skeleton.get_skeleton(example_cell_id, output_format="swc")
    sk_dict = client.skeleton.get_skeleton(example_cell_id, output_format="dict")
    assert {"vertices", "edges", "radius", "compartment", "lvl2_ids", "mesh_to_skel_map", "root", "meta"} <= set(sk_dict)
    all_sk_dict = client.skeleton.get_bulk_skeletons(proofread.head(3), generate_missing_skeletons=True,
                                                     output_format="dict", skeleton_version=4)
    assert sorted(all_sk_dict) == sorted(str(int(r)) for r in proofread.head(3))
    from meshparty.skeleton import Skeleton

    sk = Skeleton.from_dict(sk_dict)
    assert sk.n_vertices == len(sk_df)

    # the same skeleton as computed locally, exact ids, SWC in µm as SkeletonService writes it
    ours = skeleton_from_l2(client, example_cell_id)
    np.testing.assert_allclose(np.asarray(sk_dict["vertices"]), ours.nodes[["x", "y", "z"]].to_numpy(), rtol=1e-12)
    assert [int(v) for v in sk_dict["lvl2_ids"]] == [int(v) for v in ours.l2_ids]
    assert sk_dict["meta"]["root_id"] == example_cell_id and sk_dict["meta"]["skeleton_version"] == 4
    np.testing.assert_allclose(sk_df[["x", "y", "z"]].to_numpy() * 1000, np.asarray(sk_dict["vertices"]), atol=1)
    assert (sk_df["parent"] == -1).sum() == 1 and set(sk_df["type"]) <= {0, 1, 2, 3}
    assert np.asarray(sk_dict["mesh_to_skel_map"]).max() < len(sk_dict["vertices"])


def test_bulk_swc_and_unknown_things(sample_client, sample_service, auth, proofread):
    roots = proofread.head(2)
    swc = sample_client.skeleton.get_bulk_skeletons(roots, output_format="swc", skeleton_version=4)
    assert sorted(swc) == sorted(str(int(r)) for r in roots) and all(len(df) > 1 for df in swc.values())
    base = f"{sample_service.url}/skeletoncache/api/v1/{sample_service.datastack}"
    # ids that are no roots: "invalid_layer_rid" (another layer) or "invalid_rid" (a root-layer id
    # that does not exist) in bulk, which caveclient leaves out
    root = int(roots.iloc[0])
    no_root = (root >> 56 << 56) + 12345
    bulk = requests.get(f"{base}/bulk/get_skeletons/4/flatdict/true/{root},12345,{no_root}", headers=auth).json()
    assert bulk["12345"] == "invalid_layer_rid" and bulk[str(no_root)] == "invalid_rid"
    r = requests.get(f"{base}/precomputed/skeleton/9/{root}/flatdict", headers=auth)
    assert r.status_code == 400 and "Invalid skeleton version" in r.json()["Error"]
    r = requests.get(f"{base}/precomputed/meshwork/{root}", headers=auth)
    assert r.status_code == 501 and "not meshworks" in r.json()["Error"]
    # at most 10 skeletons per synchronous bulk request (service.py MAX_BULK_SYNCHRONOUS_SKELETONS)
    many = ",".join(str(no_root + i) for i in range(12))
    assert len(requests.get(f"{base}/bulk/get_skeletons/4/flatdict/true/{many}", headers=auth).json()) == 10
