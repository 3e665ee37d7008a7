"""Exports organised like a paper: analyses tagged and logged on disk, merged, exported, replayed."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest

import cavewidgets
from cavewidgets import reproducible

pytestmark = [pytest.mark.service, pytest.mark.usefixtures("isolated_export_log")]

PAPER = "v1 wiring (2026)"


def pre_roots(client, n):
    syn = client.materialize.query_table("synapses_pni_2", limit=2000)
    roots = syn["pre_pt_root_id"][syn["pre_pt_root_id"] != 0].drop_duplicates().tolist()
    assert len(roots) >= n
    return [int(r) for r in roots[:n]]


def run_kernel(code: str, service, data_dir, timeout=300):
    """Run ``code`` in a new Python process (another kernel) with ``client`` bound to the service."""
    prelude = (
        "import cavewidgets, caveclient\n"
        f"client = caveclient.CAVEclient({service.datastack!r}, server_address={service.url!r}, "
        f"auth_token={service.token!r}, write_server_cache=False)\n"
        "tracked = cavewidgets.track(client)\n")
    env = dict(os.environ, CAVEWIDGETS_DATA_DIR=str(data_dir))
    proc = subprocess.run([sys.executable, "-c", prelude + code], env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_analyses_tag_records_and_survive_a_restart(sample_client, sample_service, tmp_path, caplog):
    tracked = cavewidgets.track(sample_client)
    roots = pre_roots(sample_client, 2)
    session = cavewidgets.start_export(paper=PAPER, analysis="fig2")
    assert reproducible.active_export() is session and session.active
    first = tracked.materialize.query_table("synapses_pni_2", filter_in_dict={"pre_pt_root_id": roots[:1]})
    reproducible.record_fetch(sample_client, kind="skeleton", root_id=roots[0])
    reproducible.record_posted_annotations(sample_client, "my_tags", [7, 8])
    assert cavewidgets.start_export(paper=PAPER, analysis="fig2") is session  # same one: no change

    with caplog.at_level(logging.WARNING, logger="cavewidgets.reproducible"):
        with cavewidgets.start_export(paper=PAPER, analysis="fig3") as fig3:
            tracked.materialize.query_table("nucleus_detection_v0", limit=3)
    assert not session.active and not fig3.active and reproducible.active_export() is None
    # (caveclient also logs the engine's Warning header for a limited query: not ours)
    message = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name == "cavewidgets.reproducible"]
    assert message == [f"stopped export analysis 'fig2' of paper {PAPER!r}: analysis 'fig3' of "
                       f"paper {PAPER!r} starts now"]
    tracked.materialize.query_table("nucleus_detection_v0", limit=2)  # after stop: not tagged

    prov = cavewidgets.provenance()
    assert prov["analysis"].tolist()[-4:] == ["fig2", "fig2", "fig3", None]
    assert prov["paper"].tolist()[-4:] == [PAPER, PAPER, PAPER, None]
    assert reproducible.LOG.posted[-1]["analysis"] == "fig2"

    # a new process (a restarted kernel) reads the same log from disk, ids exact
    proc = run_kernel(
        "import json\n"
        f"entries = cavewidgets.reproducible.read_paper({PAPER!r})\n"
        "print(json.dumps([[e['kind'], e.get('analysis'), e.get('record_id'), e.get('filters'), e.get('ids')]"
        " for e in entries]))\n", sample_service, tmp_path / "data")
    seen = json.loads(proc.stdout)
    ids = [r.record_id for r in reproducible.LOG.records if r.paper == PAPER]
    assert [s[2] for s in seen if s[0] != "posted"] == ids
    assert [s[:2] for s in seen] == [["query", "fig2"], ["fetch", "fig2"], ["posted", "fig2"], ["query", "fig3"]]
    assert seen[0][3] == {"filter_in_dict": {"pre_pt_root_id": roots[:1]}}  # uint64 exact through JSON
    assert seen[2][4] == [7, 8]
    assert len(first) > 0
    assert (tmp_path / "data" / "exports" / sample_service.datastack).is_dir()


def test_bad_names_are_refused(sample_client):
    with pytest.raises(ValueError, match="paper must be a non-empty string"):
        cavewidgets.start_export(paper=" ", analysis="fig2")
    with pytest.raises(ValueError, match="analysis must be a non-empty string"):
        cavewidgets.start_export(paper=PAPER, analysis=None)
    assert reproducible.active_export() is None
    with pytest.raises(KeyError, match="nothing is logged for paper 'unknown'"):
        reproducible.read_paper("unknown")


def two_analyses_in_two_kernels(client, service, data_dir):
    """fig2 and fig3 of PAPER, each in its own process, with overlapping synapse restrictions."""
    r = pre_roots(client, 3)
    latest = int(client.materialize.version)
    run_kernel(
        f"cavewidgets.start_export(paper={PAPER!r}, analysis='fig2')\n"
        f"tracked.materialize.query_table('synapses_pni_2', filter_in_dict={{'pre_pt_root_id': {r[:2]!r}}})\n"
        f"tracked.materialize.query_table('synapses_pni_2', filter_equal_dict={{'pre_pt_root_id': {r[0]!r}}}, "
        "materialization_version=1)\n"
        "tracked.materialize.query_table('nucleus_detection_v0', filter_out_dict={'pt_root_id': [0]})\n",
        service, data_dir)
    run_kernel(
        f"with cavewidgets.start_export(paper={PAPER!r}, analysis='fig3'):\n"
        f"    tracked.materialize.query_table('synapses_pni_2', filter_in_dict={{'pre_pt_root_id': {r[1:]!r}}})\n"
        f"    tracked.materialize.query_table('synapses_pni_2', filter_equal_dict={{'pre_pt_root_id': {r[2]!r}}})\n"
        "    tracked.materialize.query_table('nucleus_detection_v0', filter_out_dict={'id': [1]})\n",
        service, data_dir)
    return r, latest


def test_preview_merges_overlapping_restrictions_across_kernels(sample_client, sample_service, tmp_path):
    roots, latest = two_analyses_in_two_kernels(sample_client, sample_service, tmp_path / "data")
    assert latest != 1

    preview = cavewidgets.preview_export(paper=PAPER, client=sample_client)

    syn = preview[preview["table"] == "synapses_pni_2"].set_index("version")
    assert sorted(syn.index.tolist()) == [1, latest] and syn["version_conflict"].all()
    merged = syn.loc[latest]
    assert merged["filters"] == {"filter_in_dict": {"pre_pt_root_id": sorted(roots)}}
    assert merged["n_queries"] == 3 and merged["analyses"] == ["fig2", "fig3"] and merged["merged"]
    union = sample_client.materialize.query_table(
        "synapses_pni_2", filter_in_dict={"pre_pt_root_id": roots}, materialization_version=latest)
    assert merged["expected_rows"] == len(union) and merged["rows_from"] == "counted"
    assert merged["bytes"] > 0
    old = syn.loc[1]
    assert old["filters"] == {"filter_equal_dict": {"pre_pt_root_id": roots[0]}}
    assert old["rows_from"] == "recorded" and "also queried at version" in old["note"]

    nuc = preview[preview["table"] == "nucleus_detection_v0"]
    assert len(nuc) == 2 and not nuc["merged"].any()
    assert all("filters on different columns" in n for n in nuc["note"])

    only_fig3 = cavewidgets.preview_export(paper=PAPER, analyses=["fig3"], client=sample_client)
    assert only_fig3["n_queries"].sum() == 3 and set(only_fig3["analyses"].sum()) == {"fig3"}
    with pytest.raises(KeyError, match="no analysis 'fig9'.*logged analyses: fig2, fig3"):
        cavewidgets.preview_export(paper=PAPER, analyses=["fig9"])


def run_reproduce(bundle, token, *args):
    env = dict(os.environ, CAVE_TOKEN=token)
    return subprocess.run([sys.executable, str(bundle / "reproduce.py"), *args], env=env,
                          capture_output=True, text=True, timeout=300, cwd=bundle.parent)


def test_export_of_a_paper_holds_each_row_once_and_reproduces(sample_client, sample_service, tmp_path):
    import importlib.metadata
    import platform
    import uuid

    import pandas as pd

    from cavewidgets.reproducible import frame_hash

    roots, latest = two_analyses_in_two_kernels(sample_client, sample_service, tmp_path / "data")
    # a third analysis in this kernel, on a user table that will gain a row after the export
    table = f"paper_tags_{uuid.uuid4().hex[:8]}"
    res = sample_client.materialize.get_table_metadata("nucleus_detection_v0")["voxel_resolution"]
    sample_client.annotation.create_table(table, "bound_tag", "paper export test tags", res)
    nuclei = sample_client.materialize.query_table("nucleus_detection_v0", limit=3)
    positions = [list(map(int, p)) for p in nuclei["pt_position"]]
    sample_client.annotation.post_annotation(table, [{"pt": {"position": positions[0]}, "tag": "a"}])
    tracked = cavewidgets.track(sample_client)
    with cavewidgets.start_export(paper=PAPER, analysis="fig4"):
        tagged = tracked.materialize.query_table(table)
        reproducible.record_fetch(sample_client, kind="mesh", root_id=roots[0])
    state = {"layers": [{"type": "segmentation", "segments": [str(roots[0])]}]}

    with pytest.raises(KeyError, match="viewers given for analyses"):
        cavewidgets.export(tmp_path / "bad", paper=PAPER, viewers={"fig9": state})
    assert not (tmp_path / "bad").exists()
    bundle = cavewidgets.export(tmp_path / "paper", paper=PAPER, viewers={"fig2": state}, client=sample_client)

    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["layout"] == "paper" and manifest["paper"] == PAPER
    assert sorted(manifest["analyses"]) == ["fig2", "fig3", "fig4"]
    assert manifest["version_conflicts"] == ["synapses_pni_2"]
    preview = cavewidgets.preview_export(paper=PAPER, client=sample_client)
    assert len(manifest["queries"]) == len(preview) == 5
    by_table = {(q["table"], q["version"]): q for q in manifest["queries"]}
    merged = by_table[("synapses_pni_2", latest)]
    rows = pd.read_parquet(bundle / merged["result_file"])
    union = sample_client.materialize.query_table(
        "synapses_pni_2", filter_in_dict={"pre_pt_root_id": roots}, materialization_version=latest)
    assert len(rows) == len(union) == merged["n_rows"] and not rows["id"].duplicated().any()
    assert frame_hash(rows) == frame_hash(union) == merged["result_hash"]
    assert (rows["pre_pt_root_id"] > 2**53).all() and set(rows["pre_pt_root_id"]) == set(roots)
    assert [m["verified"] for m in merged["members"]] == [True, True, True]
    assert sorted(m["analysis"] for m in merged["members"]) == ["fig2", "fig3", "fig3"]
    tag_query = by_table[(table, latest)]
    assert tag_query["n_rows"] == len(tagged) == 1 and tag_query["members"][0]["verified"] is True

    fig2 = manifest["analyses"]["fig2"]
    assert json.loads((bundle / fig2["viewer_state"]).read_text()) == state
    prov = pd.read_csv(bundle / fig2["provenance"])
    assert len(prov) == 3 and merged["n"] in prov["bundle_query"].tolist()
    fig4 = manifest["analyses"]["fig4"]
    assert fig4["fetches"] == [{"kind": "mesh", "root_id": roots[0], "timestamp": None}]
    assert fig4["viewer_state"] is None and (bundle / "analyses/fig4/annotations.json").is_file()

    reqs = dict(line.split("==") for line in (bundle / "requirements.txt").read_text().splitlines()
                if line and not line.startswith("#"))
    for name in ("caveclient", "pandas", "pyarrow", "numpy", "cavewidgets", "requests"):
        assert reqs[name] == importlib.metadata.version(name), name
    assert f"# Python {platform.python_version()}" in (bundle / "requirements.txt").read_text()
    for file in bundle.rglob("*"):
        if file.is_file():
            assert sample_service.token.encode() not in file.read_bytes(), file

    proc = run_reproduce(bundle, sample_service.token)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "5 identical, 0 differ, 0 failed" in proc.stdout

    sample_client.annotation.post_annotation(table, [{"pt": {"position": positions[1]}, "tag": "late"}])
    proc = run_reproduce(bundle, sample_service.token)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"Differ: #{tag_query['n']} {table}" in proc.stdout
    assert "1 rows recorded, 2 now (+1 -0 rows)" in proc.stdout
