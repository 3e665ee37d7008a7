"""The fly-shaped sample datastack (``flywire_sample``) through the real caveclient, served by the
same service as the MICrONS-shaped default: other names, 4x4x40 nm tables, synapses with
neurotransmitter columns and no size or centre point, cell types in a fly_cell_type table, no
soma table. Every widget, the report and the export work on it with nothing MICrONS-specific."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import requests

import cavewidgets
from cavewidgets.sample.generator.fly import NEUROTRANSMITTERS

pytestmark = pytest.mark.service


@pytest.fixture(scope="module")
def fly(sample_service, tmp_path_factory):
    """A client of the fly datastack, added to the session's service (its own work dir)."""
    sample_service.add_datastack("fly", work_dir=tmp_path_factory.mktemp("fly_work"))
    return cavewidgets.sample.client("fly", service=sample_service)


@pytest.fixture(scope="module")
def typed_roots(fly):
    """Root ids of the typed neurons, largest number of output synapses first."""
    types = fly.materialize.query_table("neuron_cell_types")
    roots = [int(r) for r in types["pt_root_id"] if r]
    syn = fly.materialize.query_table("synapses_nt_v1", filter_in_dict={"pre_pt_root_id": roots},
                                      select_columns=["pre_pt_root_id"])
    counts = syn["pre_pt_root_id"].value_counts()
    return sorted(roots, key=lambda r: -int(counts.get(r, 0)))


def test_one_service_serves_both_datastacks(fly, sample_client, sample_service, auth):
    info = fly.info.get_datastack_info()
    # the real info record has no datastack name in it (DataStackSchemaFull): the client knows it
    assert fly.datastack_name == "flywire_sample" and info["soma_table"] is None
    assert info["aligned_volume"]["name"] != sample_client.info.get_datastack_info()["aligned_volume"]["name"]
    assert info["synapse_table"] == "synapses_nt_v1"
    assert fly.info.viewer_resolution().tolist() == [4, 4, 40]
    assert fly.info.segmentation_source().endswith("/segmentation/table/flywire_sample_pcg")
    assert sample_client.info.get_datastack_info()["synapse_table"] == "synapses_pni_2"
    listed = requests.get(f"{sample_service.url}/info/api/v2/datastacks", headers=auth).json()
    assert listed == ["minnie65_sample", "flywire_sample"]
    assert sorted(fly.materialize.get_tables()) == ["neuron_cell_types", "synapses_nt_v1"]
    assert fly.materialize.get_table_metadata("synapses_nt_v1")["voxel_resolution"] == [4.0, 4.0, 40.0]
    # the two chunkedgraphs are apart: a fly root is unknown to the MICrONS-shaped one
    root = int(fly.materialize.query_table("neuron_cell_types", limit=1)["pt_root_id"].iloc[0])
    assert fly.chunkedgraph.get_root_timestamps([root])
    with pytest.raises(requests.HTTPError):
        sample_client.chunkedgraph.get_root_timestamps([root])
    bad = requests.get(f"{sample_service.url}/info/api/v2/datastack/full/flywire_public", headers=auth)
    assert bad.status_code == 404 and "'flywire_sample'" in bad.json()["message"]


def test_synapse_query_has_neurotransmitters_and_consistent_positions(fly, typed_roots):
    root = typed_roots[0]
    syn = fly.materialize.synapse_query(pre_ids=root)
    assert len(syn) > 0 and (syn["pre_pt_root_id"] == root).all()
    assert set(NEUROTRANSMITTERS) | {"valid_nt", "score", "cleft_score"} <= set(syn.columns)
    assert "size" not in syn.columns and "ctr_pt_position" not in syn.columns
    assert np.allclose(syn[list(NEUROTRANSMITTERS)].sum(axis=1), 1.0)
    assert syn.attrs["dataframe_resolution"] == [4.0, 4.0, 40.0]
    # roots come from the chunkedgraph of the supervoxels; positions in nm are the 4x4x40 ones scaled
    sv = syn["post_pt_supervoxel_id"].to_numpy(np.uint64)[:5]
    assert [int(r) for r in fly.chunkedgraph.get_roots(sv, timestamp=fly.materialize.get_timestamp())] == \
        [int(r) for r in syn["post_pt_root_id"].iloc[:5]]
    nm = fly.materialize.synapse_query(pre_ids=root, desired_resolution=[1, 1, 1])
    got = np.stack(nm.sort_values("id")["pre_pt_position"].to_numpy())
    want = np.stack(syn.sort_values("id")["pre_pt_position"].to_numpy()) * [4, 4, 40]
    assert np.allclose(got, want)


def test_table_browser_and_explorer(fly, typed_roots, tmp_path):
    frame = fly.materialize.synapse_query(pre_ids=typed_roots[0])
    browser = cavewidgets.TableBrowser(frame)
    assert len(browser.data) == len(frame)
    ex = cavewidgets.Explorer(fly, "synapses_nt_v1", drafts_dir=tmp_path)
    try:
        assert len(ex.table.data) == fly.materialize.get_annotation_count("synapses_nt_v1")
        roots = typed_roots[:2]
        ex.select(roots)
        sel, col = ex.selection, ex.root_column
        assert col == "post_pt_root_id" and set(int(r) for r in sel["root_id"]) == set(roots)
        assert len(sel) == int(ex.table.data[col].isin(roots).sum())
        assert ex.wait_for_panel(180) and ex.panel.root_id == roots[0]
    finally:
        ex.wait_for_panel(180)
        ex.close()
    cells = cavewidgets.Explorer(fly, "neuron_cell_types", drafts_dir=tmp_path)
    try:
        assert "cell_type" in cells.table.data.columns and len(cells.table.data) == 11
    finally:
        cells.wait_for_panel(180)
        cells.close()


def test_morphology_panel_places_synapses_between_pre_and_post(fly, typed_roots):
    from cavewidgets.morphology import MorphologyPanel

    root = typed_roots[0]
    panel = MorphologyPanel(fly)
    panel.show(root)
    assert panel.root_id == root and len(panel.mesh.faces) > 0 and len(panel.skeleton.nodes) > 1
    syn = panel.synapses
    want = fly.materialize.synapse_query(pre_ids=root, desired_resolution=[1, 1, 1])
    out = syn[syn["direction"] == "output"].sort_values("id")
    want = want.sort_values("id")
    assert out["id"].tolist() == want["id"].tolist()
    mid = (np.stack(want["pre_pt_position"].to_numpy()) + np.stack(want["post_pt_position"].to_numpy())) / 2
    assert np.allclose(out[["x", "y", "z"]].to_numpy(), mid)


def test_review_queue_posts_on_the_neuron_without_a_soma_table(fly, typed_roots, tmp_path):
    import datetime as dt

    from cavewidgets.review import ReviewQueue

    roots = typed_roots[:2]
    queue = ReviewQueue(fly, roots, "fly_review", directory=tmp_path, show=False)
    queue.decide("clean")
    queue.decide("merge error")
    rows = fly.materialize.live_live_query("fly_review", dt.datetime.now(dt.timezone.utc), log_warning=False)
    assert fly.materialize.get_table_metadata("fly_review")["voxel_resolution"] == [4.0, 4.0, 40.0]
    # the point posted for each neuron (no soma table: a point of its own skeleton) lies in it
    by_root = dict(zip(rows["pt_root_id"].astype("uint64").astype(object), rows["tag"]))
    assert by_root == {roots[0]: "clean", roots[1]: "merge error"}


def test_connectivity_report_finds_the_cell_type_table(fly, typed_roots, tmp_path):
    roots = typed_roots[:6]
    rep = cavewidgets.connectivity_report(fly, roots)
    assert rep.meta["cell_type_table"] == "neuron_cell_types" and rep.meta["soma_table"] is None
    types = fly.materialize.query_table("neuron_cell_types").set_index("pt_root_id")["cell_type"]
    cells = rep.cells.set_index("root_id")
    assert all(cells.loc[r, "cell_type"] == types[r] for r in roots)
    assert cells["soma_depth_um"].isna().all() and cells["nucleus_volume_um3"].isna().all()
    # the connectome is an independent count of synapse_query's rows; no size: NaN, never 0
    syn = fly.materialize.query_table("synapses_nt_v1", filter_in_dict={"pre_pt_root_id": roots})
    inside = syn[syn["post_pt_root_id"].isin(roots) & (syn["pre_pt_root_id"] != syn["post_pt_root_id"])]
    want = inside.groupby(["pre_pt_root_id", "post_pt_root_id"]).size()
    got = rep.connectome.set_index(["pre_root_id", "post_root_id"])["n_synapses"]
    assert got.sort_index().tolist() == want.sort_index().tolist() and len(got) > 0
    assert rep.connectome["summed_size"].isna().all()
    rep.save(tmp_path / "fly_report")  # figures draw without sizes or somas
    assert (tmp_path / "fly_report").exists()


def test_report_chooses_one_of_several_cell_type_tables_and_says_which(typed_roots, tmp_path):
    from caveclient.materializationengine import MaterializationClient

    # a service of its own, so the session's fly tables stay as they are
    with cavewidgets.sample.serve(data_dir=os.environ.get("CAVEWIDGETS_SAMPLE_DIR") or None,
                                  work_dir=tmp_path / "work") as service:
        service.add_datastack("fly", work_dir=tmp_path / "fly_work")
        fresh = cavewidgets.sample.client("fly", service=service)
        fresh.annotation.create_table("my_fly_types", "cell_type_local", "second cell-type table", [4, 4, 40])
        # caveclient keeps table lists 12 hours per (datastack, version), across clients and servers
        MaterializationClient.get_tables_metadata.cache.clear()
        # no soma table to tell them apart: the first by name, and the report says of which
        rep = cavewidgets.connectivity_report(fresh, typed_roots[:2])
        assert rep.meta["cell_type_table"] == "my_fly_types"
        assert rep.meta["cell_type_candidates"] == ["my_fly_types", "neuron_cell_types"]
        rep = cavewidgets.connectivity_report(fresh, typed_roots[:2], cell_type_table="neuron_cell_types")
        assert rep.meta["cell_type_table"] == "neuron_cell_types"
        with pytest.raises(ValueError, match="'synapses_nt_v1' has no column 'cell_type'"):
            cavewidgets.connectivity_report(fresh, typed_roots[:2], cell_type_table="synapses_nt_v1")


def test_export_reproduces_on_the_fly_datastack_after_its_service_is_gone(tmp_path, isolated_export_log):
    with cavewidgets.sample.serve(data_dir=os.environ.get("CAVEWIDGETS_SAMPLE_DIR") or None,
                                  work_dir=tmp_path / "work") as service:
        service.add_datastack("fly", work_dir=tmp_path / "fly_work")
        tracked = cavewidgets.track(cavewidgets.sample.client("fly", service=service))
        types = tracked.materialize.query_table("neuron_cell_types")
        syn = tracked.materialize.synapse_query(pre_ids=int(types["pt_root_id"].iloc[0]))
        bundle = cavewidgets.export(tmp_path / "fly_export")
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert [q["n_rows"] for q in manifest["queries"]] == [len(types), len(syn)]
    assert {q["datastack"] for q in manifest["queries"]} == {"flywire_sample"}
    record = manifest["sample_services"][service.url]
    assert [m["datastack"] for m in record["more_datastacks"]] == ["flywire_sample"]
    back = pd.read_parquet(bundle / manifest["queries"][1]["result_file"])
    assert back["ach"].tolist() == syn["ach"].tolist()
    # a new shell, the service gone: reproduce.py starts one serving both datastacks again
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("CAVE_TOKEN", "CLOUD_VOLUME_DIR")}
    proc = subprocess.run([sys.executable, "reproduce.py"], env={**env, "HOME": str(home)}, cwd=bundle,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 identical, 0 differ, 0 failed" in proc.stdout
