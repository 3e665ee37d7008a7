"""The snapshot reports' numbers on a tiny connectome counted by hand.

Selected neurons A and B; partners C (proofread, typed, soma), D (typed, proofreading says
"neither", no soma) and root 0. Ids above 2**53 so any float64 detour would merge them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cavewidgets.reports import snapshot as sn

A, B, C, D = (np.uint64(2**60 + i) for i in (1, 2, 3, 4))
Z = np.uint64(0)
#: (pre, post) of each synapse
SYNAPSES = [(A, C), (A, C), (A, D), (A, Z), (A, B), (B, A), (C, A), (D, A), (D, B), (C, B)]


def partners() -> pd.DataFrame:
    pre, post = zip(*SYNAPSES)
    return pd.DataFrame({"id": np.arange(1, len(SYNAPSES) + 1), "body_pre": np.array(pre, np.uint64),
                         "body_post": np.array(post, np.uint64)})


def annotations(proofreading: bool = True) -> pd.DataFrame:
    ann = pd.DataFrame({
        "body": np.array([A, B, C, D], np.uint64), "in_selection": [True, True, False, False],
        "type": pd.array(["X", None, "Y", "Z"], dtype="string"),
        "class": pd.array([None] * 4, dtype="string"),
        "status": pd.array(["axon_and_dendrite", None, "dendrite_only", "neither"], dtype="string"),
        "proofread": pd.array([True, False, True, False], dtype="boolean"),
        "n_somas": pd.array([1, 0, 1, 0], dtype="Int64")})
    if not proofreading:
        ann["status"] = pd.array([None] * 4, dtype="string")
        ann["proofread"] = pd.array([pd.NA] * 4, dtype="boolean")
    return ann


ROOTS = np.array([A, B], np.uint64)


def test_status_counts():
    got = sn.status_counts(annotations())
    assert got.to_dict("list") == {
        "status": ["axon_and_dendrite", "dendrite_only", "neither", sn.NOT_LISTED],
        "selected": [1, 0, 0, 1], "partners": [0, 1, 1, 0], "total": [1, 1, 1, 1]}
    missing = sn.status_counts(annotations(proofreading=False))
    assert missing.to_dict("list") == {"status": [sn.NO_TABLE], "selected": [2], "partners": [2], "total": [4]}


def test_captured_by_partner_status():
    got = sn.captured_by_partner_status(partners(), annotations(), ROOTS).set_index(["body", "direction"])
    # A's outputs: C, C, D, 0, B; B's outputs: A; A's inputs: B, C, D; B's inputs: A, D, C
    expected = {(A, "output"): (5, 2 / 5, 3 / 5, 2 / 5), (B, "output"): (1, 1.0, 1.0, 1.0),
                (A, "input"): (3, 1 / 3, 2 / 3, 1 / 3), (B, "input"): (3, 2 / 3, 1.0, 2 / 3)}
    for key, (n, proofread, typed, somatic) in expected.items():
        row = got.loc[key]
        assert row["n_synapses"] == n
        assert row[["proofread", "typed", "somatic"]].tolist() == pytest.approx([proofread, typed, somatic])
    no_types = sn.captured_by_partner_status(partners(), annotations(), ROOTS, missing=("typed",))
    assert no_types["typed"].isna().all() and no_types["proofread"].notna().all()


def test_cumulative_connectivity():
    got = sn.cumulative_connectivity(partners(), annotations(), ROOTS)
    out = got[got["direction"] == "output"]
    # 6 output synapses (one onto root 0): C 2, then A, B, D 1 each (ties by id)
    assert [int(b) for b in out["body"]] == [int(C), int(A), int(B), int(D)]
    assert out["weight"].tolist() == [2, 1, 1, 1] and out["rank"].tolist() == [1, 2, 3, 4]
    assert out["cumulative_fraction"].tolist() == pytest.approx([2 / 6, 3 / 6, 4 / 6, 5 / 6])
    inp = got[got["direction"] == "input"]
    assert [int(b) for b in inp["body"]] == [int(C), int(D), int(A), int(B)]
    assert inp["cumulative_weight"].tolist() == [2, 4, 5, 6]
    assert inp["cumulative_fraction"].tolist() == pytest.approx([1 / 3, 2 / 3, 5 / 6, 1.0])
    assert out["proofread"].tolist() == [True, True, False, False] and got["body"].dtype == np.uint64


def test_downstream_capture():
    got = sn.downstream_capture(partners(), annotations(), ROOTS)
    # only A is proofread: of its 5 outputs, 2 land on a proofread partner (C, C)
    assert got.to_dict("list") == {"body": [A], "captured": [2], "not_captured": [3], "downstream": [5],
                                   "capture_frac": [0.4]}
    somatic = sn.downstream_capture(partners(), annotations(), ROOTS, capture="somatic")
    assert somatic["capture_frac"].tolist() == [0.4]  # A has a soma; C, C of its outputs do
    assert sn.downstream_capture(partners(), annotations(proofreading=False), ROOTS).empty
    with pytest.raises(ValueError, match="capture"):
        sn.downstream_capture(partners(), annotations(), ROOTS, capture="traced")


def test_a_datastack_without_role_tables_leaves_columns_empty_and_says_so(tmp_path):
    """No cell-type, proofreading or soma table: the export's columns are NA, the reports note it."""
    from cavewidgets.connectome import FlatConnectome
    from cavewidgets.connectome.flat import build_frames
    from cavewidgets.reports import snapshot_reports

    pre, post = zip(*SYNAPSES)
    synapses = pd.DataFrame({"id": np.arange(1, len(SYNAPSES) + 1), "pre_pt_root_id": np.array(pre, np.uint64),
                             "post_pt_root_id": np.array(post, np.uint64), "size": 7,
                             **{f"ctr_pt_position_{a}": 10 for a in "xyz"}})
    frames = build_frames(synapses, [4.0, 4.0, 40.0], ROOTS, {}, min_weight=2)
    assert frames["points"]["ctr_z_nm"].tolist() == [400.0] * len(SYNAPSES)  # voxels x resolution
    assert np.isnan(frames["partners"]["x_pre"]).all()  # no pre point in this table: empty, not invented
    ann = frames["body_annotations"]
    assert ann["type"].isna().all() and ann["proofread"].isna().all() and ann["n_somas"].isna().all()
    assert frames["weights"]["weight"].sum() == len(SYNAPSES) - 1  # the synapse onto root 0 is no connection
    assert frames["significant"][["body_pre", "body_post", "weight"]].values.tolist() == [[A, C, 2]]
    meta = {"datastack": "tiny", "version": 1, "timestamp": "2025-01-01T00:00:00+00:00", "scope": "touching",
            "n_neurons": 2, "min_weight": 2,
            "tables": {"synapse_table": "syn", "cell_type_table": None, "proofreading_table": None, "soma_table": None}}
    reports = snapshot_reports(FlatConnectome(**frames, meta=meta))
    notes = reports["captured_connectivity"].notes
    assert len(notes) == 3 and all("is left empty" in n for n in notes)
    captured = reports["captured_connectivity"].table
    assert captured[["proofread", "typed", "somatic"]].isna().all().all()
    assert reports["status_counts"].table["status"].tolist() == [sn.NO_TABLE]
    assert reports["downstream_capture"].table.empty
    assert "is left empty" in reports["downstream_capture"].to_html()
    saved = reports.save(tmp_path / "r")
    assert (saved / "downstream_capture" / "downstream_capture.png").stat().st_size > 1000
