"""Export bundle + generated reproduce.py, run as a subprocess against the real sample service."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid

import numpy as np
import pandas as pd
import pytest

import cavewidgets
from cavewidgets import reproducible
from cavewidgets.reproducible import frame_hash

pytestmark = pytest.mark.service


@pytest.fixture(autouse=True)
def empty_log():
    reproducible.clear()
    yield
    reproducible.clear()


def run_reproduce(bundle, token, *args, timeout=300):
    env = dict(os.environ, CAVE_TOKEN=token)
    return subprocess.run([sys.executable, str(bundle / "reproduce.py"), *args], env=env,
                          capture_output=True, text=True, timeout=timeout, cwd=bundle.parent)


def status_lines(stdout: str) -> dict[str, str]:
    """``{record_id: status}`` from reproduce.py's per-query lines."""
    out = {}
    for line in stdout.splitlines():
        if line.startswith("[") and "(" in line:
            status = line[1:line.index("]")].strip()
            out[line[line.index("(") + 1:line.index(")")]] = status
    return out


def test_export_and_reproduce_identical_tables(sample_client, sample_service, tmp_path):
    tracked = cavewidgets.track(sample_client)
    nuclei = tracked.materialize.query_table("nucleus_detection_v0")
    roots = nuclei["pt_root_id"][nuclei["pt_root_id"] != 0].to_numpy()[:3]
    synapses = tracked.materialize.synapse_query(pre_ids=roots)
    ts = dt.datetime.now(dt.timezone.utc)
    live = tracked.materialize.live_query("proofreading_status_and_strategy", ts, split_positions=True,
                                          desired_resolution=[1000, 1000, 1000])
    old = tracked.materialize.query_table("aibs_metamodel_celltypes_v661", materialization_version=1)
    viewer_state = {"layers": [{"type": "segmentation", "segments": [str(int(roots[0]))]}]}
    cavewidgets.reproducible.record_posted_annotations(sample_client, "some_tags", [1, 2])

    bundle = cavewidgets.export(tmp_path / "analysis", viewer=viewer_state)

    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["format"] == "cavewidgets-export" and manifest["servers"] == [sample_service.url]
    assert [q["n_rows"] for q in manifest["queries"]] == [len(nuclei), len(synapses), len(live), len(old)]
    assert all(q["parquet_roundtrip_exact"] for q in manifest["queries"])
    assert manifest["queries"][3]["version"] == 1 and manifest["queries"][2]["timestamp"] == ts.isoformat()
    # results: parquet with exact ids and positions
    back = pd.read_parquet(bundle / manifest["queries"][1]["result_file"])
    assert back["pre_pt_root_id"].tolist() == synapses["pre_pt_root_id"].tolist()
    assert (back["pre_pt_root_id"] > 2**53).all()
    assert [list(p) for p in back["ctr_pt_position"]] == [list(p) for p in synapses["ctr_pt_position"]]
    assert frame_hash(back) == manifest["queries"][1]["result_hash"]
    row = json.loads((bundle / manifest["queries"][0]["provenance_file"]).read_text())
    assert row["table"] == "nucleus_detection_v0" and row["result_hash"] == frame_hash(nuclei)
    assert json.loads((bundle / "viewer_state.json").read_text()) == viewer_state
    assert json.loads((bundle / "annotations.json").read_text())["posted"][0]["ids"] == [1, 2]
    assert json.loads((bundle / "versions.json").read_text())["caveclient"]
    assert len(pd.read_csv(bundle / "provenance.csv")) == 4
    for file in bundle.rglob("*"):  # no token anywhere, binary files included
        if file.is_file():
            assert sample_service.token.encode() not in file.read_bytes(), file

    proc = run_reproduce(bundle, sample_service.token)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert set(status_lines(proc.stdout).values()) == {"OK"} and len(status_lines(proc.stdout)) == 4
    assert "4 identical, 0 differ, 0 failed" in proc.stdout

    # the same bundle against a server that is not there: clear per-query failures, exit 2
    proc = run_reproduce(bundle, sample_service.token, "--server", "http://127.0.0.1:9", "--queries", "0")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "[ERROR]" in proc.stdout and "cannot reach http://127.0.0.1:9" in proc.stdout
    # a wrong token is an error, not a difference
    proc = run_reproduce(bundle, "wrong-token", "--queries", "0")
    assert proc.returncode == 2 and "401" in proc.stdout


def test_reproduce_flags_the_table_that_changed(sample_client, sample_service, tmp_path):
    """Rows posted to an annotation table after the export change what a version query returns
    (the sample's versions show a user table's current rows), not what a query at an earlier
    timestamp returns: reproduce.py must flag the first and keep the second."""
    table = f"prov_tags_{uuid.uuid4().hex[:8]}"
    res = sample_client.materialize.get_table_metadata("nucleus_detection_v0")["voxel_resolution"]
    sample_client.annotation.create_table(table, "bound_tag", "provenance test tags", res)
    nuclei = sample_client.materialize.query_table("nucleus_detection_v0", limit=4)
    positions = [list(map(int, p)) for p in nuclei["pt_position"]]
    sample_client.annotation.post_annotation(table, [{"pt": {"position": p}, "tag": f"t{i}"}
                                                     for i, p in enumerate(positions[:2])])
    time.sleep(0.01)
    ts = dt.datetime.now(dt.timezone.utc)
    tracked = cavewidgets.track(sample_client)
    at_version = tracked.materialize.query_table(table)
    at_time = tracked.materialize.live_live_query(table, ts)
    untouched = tracked.materialize.query_table("nucleus_detection_v0", filter_in_dict={"id": nuclei["id"].tolist()})
    assert len(at_version) == len(at_time) == 2
    bundle = cavewidgets.export(tmp_path / "bundle")
    ids = {r.table if r.method != "live_live_query" else "live": r.record_id for r in reproducible.LOG.records}

    proc = run_reproduce(bundle, sample_service.token)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    sample_client.annotation.post_annotation(table, [{"pt": {"position": positions[2]}, "tag": "late"}])
    assert len(sample_client.materialize.query_table(table)) == 3  # the data really changed

    report = tmp_path / "report.json"
    proc = run_reproduce(bundle, sample_service.token, "--json", str(report))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    statuses = status_lines(proc.stdout)
    assert statuses == {ids[table]: "DIFF", ids["live"]: "OK", ids["nucleus_detection_v0"]: "OK"}
    diff_line = next(line for line in proc.stdout.splitlines() if line.startswith("[DIFF"))
    assert table in diff_line and "2 rows recorded, 3 now (+1 -0 rows)" in diff_line
    assert f"Differ: #{reproducible.LOG.records[0].n} {table}" in proc.stdout
    results = json.loads(report.read_text())
    assert results["counts"] == {"OK": 2, "DIFF": 1, "ERROR": 0, "SKIP": 0}
    assert untouched is reproducible.LOG.records[2].result  # kept by reference

    # narrowing to the untouched queries reproduces cleanly
    proc = run_reproduce(bundle, sample_service.token, "--queries", ids["live"], ids["nucleus_detection_v0"])
    assert proc.returncode == 0, proc.stdout


def test_export_of_a_single_query_by_number(sample_client, tmp_path):
    tracked = cavewidgets.track(sample_client)
    tracked.materialize.query_table("nucleus_detection_v0", limit=2)
    second = tracked.materialize.query_table("synapses_pni_2", limit=3, split_positions=True)
    n = reproducible.LOG.records[1].n
    bundle = cavewidgets.export(tmp_path / "one", queries=n, annotations=False)
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert [q["n"] for q in manifest["queries"]] == [n] and manifest["annotations"] is None
    back = pd.read_parquet(bundle / manifest["queries"][0]["result_file"])
    assert np.array_equal(back["pre_pt_root_id"].to_numpy(), second["pre_pt_root_id"].to_numpy())
