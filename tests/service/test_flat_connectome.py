"""flat_connectome against the real local sample service and caveclient's own queries.

The export of the sample's proofread cells is checked against ``synapse_query`` (row for row,
positions converted by caveclient itself), the weights against a groupby of those rows, the
per-neuron statistics against the role tables, the files read back with pandas and pyarrow, and
the paging through a capped service against the uncapped export.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

import cavewidgets
from cavewidgets.connectome import FILES, FlatConnectome
from cavewidgets.reproducible import LOG, result_hash

MIN_WEIGHT = 5
SYN = "synapses_pni_2"
NM = [1, 1, 1]


@pytest.fixture(scope="module")
def proofread(sample_client):
    return sample_client.materialize.query_table("proofreading_status_and_strategy", materialization_version=2)


@pytest.fixture(scope="module")
def exported(sample_client, proofread, tmp_path_factory):
    cavewidgets.reproducible.clear()
    out = tmp_path_factory.mktemp("flat") / "export"
    flat = cavewidgets.flat_connectome(sample_client, proofread, version=2, out=out, min_weight=MIN_WEIGHT,
                                       progress=False)
    records = [r for r in LOG.records if r.source == "flat_connectome"]
    return flat, out, records


@pytest.fixture(scope="module")
def reference(sample_client, proofread):
    """What caveclient's synapse_query returns for the same cells, each synapse once, in nm."""
    roots = [int(r) for r in proofread["pt_root_id"].unique()]
    kw = dict(materialization_version=2, desired_resolution=NM, split_positions=True)
    out = sample_client.materialize.synapse_query(pre_ids=roots, **kw)
    inp = sample_client.materialize.synapse_query(post_ids=roots, **kw)
    return roots, pd.concat([out, inp]).drop_duplicates("id").sort_values("id").reset_index(drop=True)


def test_synapses_agree_with_synapse_query_row_for_row(exported, reference):
    flat, _, _ = exported
    _, syn = reference
    points = flat.points
    assert len(points) == len(syn) > 100_000  # both directions of 39 cells, above half the real cap
    assert (points["id"].to_numpy() == syn["id"].to_numpy()).all()
    for side in ("pre", "post"):
        assert points[f"{side}_pt_root_id"].dtype == np.uint64
        assert (points[f"{side}_pt_root_id"].to_numpy() == syn[f"{side}_pt_root_id"].to_numpy().astype(np.uint64)).all()
    for kind in ("pre", "ctr", "post"):
        for axis in "xyz":  # our conversion (table metadata) equals caveclient's (reply header)
            np.testing.assert_array_equal(points[f"{kind}_{axis}_nm"].to_numpy(),
                                          syn[f"{kind}_pt_position_{axis}"].to_numpy(dtype=float))
    np.testing.assert_array_equal(points["size"].to_numpy(), syn["size"].to_numpy())
    partners = flat.partners
    assert (partners["body_pre"].to_numpy() == points["pre_pt_root_id"].to_numpy()).all()
    np.testing.assert_array_equal(partners["z_post"].to_numpy(), syn["post_pt_position_z"].to_numpy(dtype=float))
    assert int(points["pre_pt_root_id"].max()) > 2**53


def test_weights_are_the_groupby_counts(exported, reference):
    flat, _, _ = exported
    _, syn = reference
    both = syn[(syn["pre_pt_root_id"] != 0) & (syn["post_pt_root_id"] != 0)]
    counts = both.groupby(["pre_pt_root_id", "post_pt_root_id"]).size()
    got = flat.weights.set_index(["body_pre", "body_post"])["weight"]
    assert len(got) == len(counts)
    want = {(int(a), int(b)): int(n) for (a, b), n in counts.items()}
    assert {(int(a), int(b)): int(n) for (a, b), n in got.items()} == want
    assert (np.diff(flat.weights["weight"].to_numpy()) <= 0).all()  # strongest first
    sig = flat.significant
    assert len(sig) == sum(n >= MIN_WEIGHT for n in want.values()) and (sig["weight"] >= MIN_WEIGHT).all()
    assert 0 < len(sig) < len(flat.weights)


def test_body_stats_match_the_role_tables(sample_client, exported, reference, proofread):
    flat, _, _ = exported
    roots, syn = reference
    stats = flat.body_stats.set_index("body")
    assert sorted(map(int, stats.index)) == sorted(roots) and stats.index.dtype == np.uint64
    pre = syn.groupby("pre_pt_root_id").size()
    post = syn.groupby("post_pt_root_id").size()
    for r in roots[:10]:
        assert stats.loc[np.uint64(r), "pre"] == pre.get(r, 0)
        assert stats.loc[np.uint64(r), "post"] == post.get(r, 0)
        partners = syn[(syn["pre_pt_root_id"] == r) & (syn["post_pt_root_id"] != 0)]["post_pt_root_id"].nunique()
        assert stats.loc[np.uint64(r), "n_downstream_partners"] == partners
    types = sample_client.materialize.query_table("aibs_metamodel_celltypes_v661", materialization_version=2)
    first = types.sort_values("id").drop_duplicates("pt_root_id").set_index("pt_root_id")["cell_type"]
    for r in roots:
        got = stats.loc[np.uint64(r), "type"]
        assert got == first[r] if r in first.index else pd.isna(got)
    pr = proofread[proofread["valid_id"] == proofread["pt_root_id"]].drop_duplicates("pt_root_id").set_index("pt_root_id")
    for r in roots:
        row = stats.loc[np.uint64(r)]
        if r in pr.index:
            axon, dendrite = bool(pr.loc[r, "status_axon"]), bool(pr.loc[r, "status_dendrite"])
            assert row["proofread"] == (axon or dendrite)
            assert row["status"] == {(True, True): "axon_and_dendrite", (False, True): "dendrite_only",
                                     (True, False): "axon_only", (False, False): "neither"}[(axon, dendrite)]
        else:  # proofread at an older root id only: not proofread now
            assert not row["proofread"] and pd.isna(row["status"])
    nuc = sample_client.materialize.query_table("nucleus_detection_v0", materialization_version=2,
                                                desired_resolution=NM, split_positions=True)
    nuc = nuc.sort_values("id").drop_duplicates("pt_root_id").set_index("pt_root_id")
    r = next(r for r in roots if r in nuc.index)
    assert stats.loc[np.uint64(r), "soma_y_nm"] == nuc.loc[r, "pt_position_y"]
    ann = flat.body_annotations.set_index("body")
    assert ann["in_selection"].sum() == len(roots) and len(ann) > len(roots)
    assert flat.meta["tables"]["cell_type_table"] == "aibs_metamodel_celltypes_v661"
    assert flat.meta["tables"]["proofreading_table"] == "proofreading_status_and_strategy"


def test_files_read_back_with_exact_uint64(exported):
    flat, out, _ = exported
    meta = json.loads((out / "provenance.json").read_text())
    tag = "minnie65_sample-v2"
    assert set(meta["files"]) == set(FILES)
    for name, frame in flat.frames().items():
        files = meta["files"][name]
        assert files == {"feather": FILES[name].format(tag=tag) + ".feather",
                         "parquet": FILES[name].format(tag=tag) + ".parquet"}
        for read in (lambda: pd.read_feather(out / files["feather"]), lambda: pd.read_parquet(out / files["parquet"]),
                     lambda: feather.read_table(out / files["feather"]).to_pandas(),
                     lambda: pq.read_table(out / files["parquet"]).to_pandas()):
            back = read()
            assert list(back.columns) == list(frame.columns)
            for column in back.columns:
                if column.startswith("body") or column.endswith("root_id"):
                    assert back[column].dtype == np.uint64
                    assert (back[column].to_numpy() == frame[column].to_numpy()).all()
    again = FlatConnectome.read(out)
    pd.testing.assert_frame_equal(again.weights, flat.weights)
    assert again.meta["root_ids"] == [str(int(r)) for r in flat.body_stats["body"]]


def test_provenance_records_replay_exactly(sample_client, exported):
    flat, _, records = exported
    assert [r.record_id for r in records] == [q["record_id"] for q in flat.meta["queries"]]
    assert {r.table for r in records} == {SYN, "aibs_metamodel_celltypes_v661", "nucleus_detection_v0",
                                          "proofreading_status_and_strategy"}
    assert sum(r.n_rows for r in records if r.table == SYN) >= len(flat.points)
    for rec in records:  # what reproduce.py does with each record of the export bundle
        assert rec.replayable and rec.version == 2
        call = rec.replay_call()
        assert result_hash(getattr(sample_client.materialize, call["method"])(**call["kwargs"])) == rec.result_hash


def test_pages_through_the_row_cap(capped, sample_client, proofread):
    roots = [int(r) for r in sorted(proofread["pt_root_id"].unique())[:2]]  # 258 synapses between them
    cavewidgets.reproducible.clear()
    capped_flat = cavewidgets.flat_connectome(capped, roots, version=2, scope="within", progress=False)
    pages = [r for r in LOG.records if r.source == "flat_connectome" and r.table == SYN]
    plain = cavewidgets.flat_connectome(sample_client, roots, version=2, scope="within", progress=False)
    assert len(pages) > 1 and all(r.n_rows < 100 for r in pages)  # conftest.CAPPED_QUERY_LIMIT
    for name, frame in plain.frames().items():
        pd.testing.assert_frame_equal(capped_flat.frames()[name], frame)
    within = plain.points
    assert np.isin(within["pre_pt_root_id"], np.array(roots, np.uint64)).all()
    assert np.isin(within["post_pt_root_id"], np.array(roots, np.uint64)).all()


def test_bad_input_is_refused_and_nothing_written(sample_client, proofread, tmp_path):
    roots = [int(proofread["pt_root_id"].iloc[0])]
    with pytest.raises(cavewidgets._ids.IdError):
        cavewidgets.flat_connectome(sample_client, [str(roots[0]) + "x"], out=tmp_path / "a")
    with pytest.raises(ValueError, match="min_weight"):
        cavewidgets.flat_connectome(sample_client, roots, min_weight=0, out=tmp_path / "a")
    with pytest.raises(ValueError, match="scope"):
        cavewidgets.flat_connectome(sample_client, roots, scope="all", out=tmp_path / "a")
    with pytest.raises(ValueError, match="not a table"):
        cavewidgets.flat_connectome(sample_client, roots, cell_type_table="no_such_table", out=tmp_path / "a")
    with pytest.raises(ValueError, match="no root id column"):
        cavewidgets.flat_connectome(sample_client, pd.DataFrame({"x": roots}), out=tmp_path / "a")
    assert not (tmp_path / "a").exists()
    full = tmp_path / "full"
    full.mkdir()
    (full / "mine.txt").write_text("keep")
    with pytest.raises(FileExistsError):
        cavewidgets.flat_connectome(sample_client, roots, out=full, progress=False)
    assert [p.name for p in full.iterdir()] == ["mine.txt"]


def test_snapshot_reports_on_the_sample(exported, tmp_path):
    from cavewidgets.reports.snapshot_report import TITLES

    flat, out, _ = exported
    reports = cavewidgets.snapshot_reports(out)  # from the files written
    assert list(reports) == list(TITLES)
    stats = flat.body_stats.set_index("body")
    status = reports["status_counts"].table
    assert status["selected"].sum() == len(stats) and status["total"].sum() == len(flat.body_annotations)
    assert status.set_index("status").loc["axon_and_dendrite", "selected"] == (stats["status"] == "axon_and_dendrite").sum()
    captured = reports["captured_connectivity"].table
    outputs = captured[captured["direction"] == "output"].set_index("body")
    assert (outputs["n_synapses"] == stats["pre"].reindex(outputs.index)).all()
    assert outputs["proofread"].between(0, 1).all() and outputs["proofread"].std() > 0
    cumulative = reports["cumulative_connectivity"].table
    nonzero = (flat.partners["body_pre"] != 0) & (flat.partners["body_post"] != 0)
    assert cumulative.groupby("direction")["cumulative_weight"].max()["output"] == \
        (nonzero & flat.partners["body_pre"].isin(stats.index)).sum()
    down = reports["downstream_capture"].table.set_index("body")
    assert set(down.index) == set(stats.index[stats["proofread"].fillna(False).astype(bool)])
    np.testing.assert_allclose(down["capture_frac"], outputs.loc[down.index, "proofread"])  # the same fraction twice
    assert reports._repr_html_().count("data:image/png;base64,") == 4
    saved = reports.save(tmp_path / "reports")
    assert (saved / "index.html").is_file()
    for name, report in reports.items():
        files = sorted(p.name for p in (saved / name).iterdir())
        assert files == sorted([f"{name}.png", f"{name}.csv", f"{name}.feather", "report.html", "report.json"])
        assert (saved / name / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        back = pd.read_feather(saved / name / f"{name}.feather")
        assert len(back) == len(report.table) and list(back.columns) == list(report.table.columns)
        if "body" in back.columns:
            assert back["body"].dtype == np.uint64 and (back["body"].to_numpy() == report.table["body"].to_numpy()).all()
        assert len(pd.read_csv(saved / name / f"{name}.csv")) == len(report.table)
    with pytest.raises(FileExistsError):
        reports.save(saved)
