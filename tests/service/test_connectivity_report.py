"""``cavewidgets.connectivity_report`` on the sample's proofread cells (real client, real service)."""

from __future__ import annotations

import base64
import io
import re
import time

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import cavewidgets
from cavewidgets import reproducible

pytestmark = pytest.mark.service


@pytest.fixture(scope="module")
def proofread(sample_client):
    """Root ids of the proofread cells at the latest version (with one duplicate, as in the table)."""
    df = sample_client.materialize.query_table("proofreading_status_and_strategy")
    return df["pt_root_id"].to_numpy()


@pytest.fixture(scope="module")
def report(sample_client, proofread):
    reproducible.clear()
    t0 = time.perf_counter()
    rep = cavewidgets.connectivity_report(sample_client, proofread)
    rep.meta["measured_seconds"] = time.perf_counter() - t0
    rep.provenance = cavewidgets.provenance()
    return rep


def image(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_connectome_matches_an_independent_synapse_query(report, sample_client, proofread):
    roots = np.unique(proofread)
    syn = sample_client.materialize.synapse_query(pre_ids=roots, post_ids=roots)
    expected = (syn.groupby(["pre_pt_root_id", "post_pt_root_id"])["size"].agg(["size", "sum"])
                .rename(columns={"size": "n", "sum": "s"}).rename_axis(["pre_root_id", "post_root_id"]))
    got = report.connectome.set_index(["pre_root_id", "post_root_id"])
    assert list(report.connectome.columns) == ["pre_root_id", "post_root_id", "n_synapses", "summed_size"]
    assert len(got) == len(expected) > 50
    joined = expected.join(got, how="outer")
    assert (joined["n"] == joined["n_synapses"]).all() and (joined["s"] == joined["summed_size"]).all()
    assert report.connectome["pre_root_id"].dtype == np.int64 and (report.connectome["pre_root_id"] > 2**53).all()
    assert report.connectome["n_synapses"].is_monotonic_decreasing


def test_cells_types_depth_and_volume(report, sample_client, proofread):
    cells = report.cells
    assert report.meta["n_neurons"] == len(np.unique(proofread)) == len(cells)
    assert report.meta["duplicates_dropped"] == len(proofread) - len(np.unique(proofread))
    types = sample_client.materialize.query_table("aibs_metamodel_celltypes_v661")
    truth = types.drop_duplicates("pt_root_id").set_index("pt_root_id")["cell_type"]
    assert (cells["cell_type"] == cells["root_id"].map(truth).fillna("unknown")).all()
    nuc = sample_client.materialize.query_table("nucleus_detection_v0", desired_resolution=[1000, 1000, 1000],
                                                split_positions=True).drop_duplicates("pt_root_id")
    depth = cells["root_id"].map(nuc.set_index("pt_root_id")["pt_position_y"])
    assert np.allclose(cells["soma_depth_um"], depth, equal_nan=True) and cells["soma_depth_um"].notna().all()
    # ordered by type: each type is one contiguous block
    blocks = (cells["cell_type"] != cells["cell_type"].shift()).sum()
    assert blocks == cells["cell_type"].nunique()
    # per-neuron partner-type counts add up to the neuron's synapse counts
    assert (report.outputs_by_type.sum(axis=1).to_numpy() == cells["n_output_synapses"].to_numpy()).all()
    assert (report.inputs_by_type.sum(axis=1).to_numpy() == cells["n_input_synapses"].to_numpy()).all()
    top = report.top_partners
    assert set(top["direction"]) == {"input", "output"} and top.groupby(["root_id", "direction"]).size().max() == 5


def test_runs_in_a_few_seconds_and_is_recorded(report):
    print(f"connectivity report of {report.meta['n_neurons']} proofread cells: "
          f"{report.meta['measured_seconds']:.2f} s (queries {report.meta['query_seconds']} s, "
          f"figures {report.meta['figure_seconds']} s)")
    assert report.meta["measured_seconds"] < 30  # "a few seconds" is measured in the benchmark; this catches hangs
    log = report.provenance
    assert (log["source"] == "report").all() and len(log) == 4
    assert set(log["table"]) == {"synapses_pni_2", "aibs_metamodel_celltypes_v661", "nucleus_detection_v0"}
    assert (log["version"] == report.meta["version"]).all() and log["result_hash"].notna().all()


def _axes_text(fig) -> list[str]:
    out = []
    for ax in fig.axes:
        out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        out += [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
        legend = ax.get_legend()
        if legend is not None:
            out += [t.get_text() for t in legend.get_texts()]
    return out


def test_figures_are_labelled_and_not_blank(report):
    types = set(report.cells["cell_type"])
    expected_titles = {"connectivity_matrix": "Connectivity matrix", "partners_by_type": "Outputs by target",
                       "synapse_sizes": "synapse sizes", "soma_depth_volume": "Soma depth"}
    for name, fig in report.figures.items():
        text = _axes_text(fig)
        assert any(expected_titles[name] in t for t in text), (name, text[:5])
        plots = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
        assert all(ax.get_ylabel() for ax in plots) and plots[-1].get_xlabel(), name
        assert types & {t.split(" …")[0] for t in text}, name  # the cell types are named on the figure
        pixels = image(report.png[name])
        assert pixels.shape[0] >= 350 and pixels.shape[1] >= 500, (name, pixels.shape)
        colours = np.unique(pixels.reshape(-1, 3)[::7], axis=0)
        assert len(colours) > 30 and pixels.std() > 20, name  # not a blank canvas
    matrix = report.figures["connectivity_matrix"].axes[0]
    assert matrix.get_xlabel().startswith("postsynaptic") and matrix.get_ylabel().startswith("presynaptic")
    assert "log2" in matrix.get_title() and "log2" in report.figures["connectivity_matrix"].axes[1].get_ylabel()
    ticks = [t.get_text() for t in matrix.get_yticklabels()]
    assert ticks == [f"{t} …{str(r)[-5:]}" for t, r in zip(report.cells["cell_type"], report.cells["root_id"])]
    depth = report.figures["soma_depth_volume"].axes[0]
    assert depth.get_xlabel() == "nucleus volume (µm³)" and depth.get_ylabel() == "soma depth (µm)"
    assert depth.yaxis_inverted()
    bars = report.figures["partners_by_type"].axes
    assert [ax.get_title() for ax in bars] == ["Outputs by target cell_type", "Inputs by source cell_type"]
    assert set(t.get_text() for t in bars[0].get_legend().get_texts()) == set(report.outputs_by_type.columns)


def test_inline_html_and_mimebundle(report):
    html = report._repr_html_()
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", html)
    assert len(images) == 4
    assert image(base64.b64decode(images[0])).shape == image(report.png["connectivity_matrix"]).shape
    assert "Flat connectome" in html and "Top partners" in html and str(report.connectome["pre_root_id"][0]) in html
    bundle = report._repr_mimebundle_()
    assert set(bundle) == {"text/html", "text/plain"} and "ConnectivityReport" in bundle["text/plain"]


def test_save_writes_html_png_and_csv_matching_the_frames(report, tmp_path):
    out = report.save(tmp_path / "rep")
    names = {p.name for p in out.iterdir()}
    assert {"report.html", "connectivity_matrix.png", "partners_by_type.png", "synapse_sizes.png",
            "soma_depth_volume.png", "connectome.csv", "cells.csv", "top_partners.csv",
            "outputs_by_type.csv", "inputs_by_type.csv"} <= names
    assert (out / "connectivity_matrix.png").read_bytes() == report.png["connectivity_matrix"]
    assert (out / "report.html").read_text().count("data:image/png;base64,") == 4
    for name in ("connectome", "cells", "top_partners"):
        back = pd.read_csv(out / f"{name}.csv")
        pd.testing.assert_frame_equal(back, report.tables[name].reset_index(drop=True), check_dtype=False)
        ids = [c for c in back.columns if c.endswith("root_id")]
        assert all(back[c].dtype == np.int64 for c in ids)  # exact ids, no float detour
    back = pd.read_csv(out / "outputs_by_type.csv", index_col="root_id")
    pd.testing.assert_frame_equal(back, report.outputs_by_type, check_names=False)
    with pytest.raises(FileExistsError, match="not empty"):
        report.save(out)
    report.save(out, overwrite=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        report.save(tmp_path / "file")


def test_bad_root_ids(sample_client, proofread):
    good = int(proofread[0])
    with pytest.raises(ValueError, match="empty"):
        cavewidgets.connectivity_report(sample_client, [])
    with pytest.raises(TypeError, match="decimal"):
        cavewidgets.connectivity_report(sample_client, [f"{good}L"])
    with pytest.raises(TypeError, match="float"):
        cavewidgets.connectivity_report(sample_client, np.array([good], dtype=float))
    with pytest.raises(TypeError, match="decimal"):
        cavewidgets.connectivity_report(sample_client, f" {good}")
    with pytest.raises(ValueError, match="outside the uint64 range"):
        cavewidgets.connectivity_report(sample_client, [-5])
    with pytest.raises(ValueError, match="not in datastack"):
        cavewidgets.connectivity_report(sample_client, [good, 864691135800000001])
    with pytest.raises(ValueError, match="not in datastack"):  # CAVE keeps root ids in BIGINT
        cavewidgets.connectivity_report(sample_client, [good, 2**63 + 1])
    with pytest.raises(ValueError, match="no column 'flavour'"):
        cavewidgets.connectivity_report(sample_client, [good], by="flavour")
    with pytest.raises(ValueError, match="version 99 does not exist"):
        cavewidgets.connectivity_report(sample_client, [good], version=99)


def test_outdated_root_names_the_fix(sample_client):
    """valid_id holds the root at proofreading time; some have been edited since."""
    df = sample_client.materialize.query_table("proofreading_status_and_strategy")
    stale = df.loc[df["valid_id"] != df["pt_root_id"], "valid_id"]
    assert len(stale)
    with pytest.raises(ValueError, match="not current at version .*suggest_latest_roots"):
        cavewidgets.connectivity_report(sample_client, stale.to_numpy())


def test_one_neuron_and_other_grouping(sample_client, proofread):
    single = cavewidgets.connectivity_report(sample_client, [int(proofread[0])], by="classification_system",
                                             version=1 if _current_at(sample_client, proofread[0], 1) else None)
    assert len(single.cells) == 1 and single.connectome.empty
    assert list(single.connectome.columns) == ["pre_root_id", "post_root_id", "n_synapses", "summed_size"]
    assert "classification_system" in single.cells.columns
    assert set(single.outputs_by_type.columns) <= {"excitatory_neuron", "inhibitory_neuron", "nonneuron", "unknown"}
    assert image(single.png["connectivity_matrix"]).std() > 5
    assert "no synapses between the selected neurons" in _axes_text_all(single.figures["connectivity_matrix"])


def _current_at(client, root, version) -> bool:
    ts = client.materialize.get_timestamp(version)
    return bool(client.chunkedgraph.is_latest_roots([int(root)], timestamp=ts)[0])


def _axes_text_all(fig) -> str:
    return " ".join(t.get_text() for ax in fig.axes for t in ax.texts)
