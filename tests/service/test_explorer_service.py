"""Explorer without a browser: pinned time, selection DataFrame, provenance of its queries."""

from __future__ import annotations

import numpy as np
import pytest

import cavewidgets


@pytest.fixture(scope="module")
def explorer(sample_client, tmp_path_factory):
    ex = cavewidgets.Explorer(sample_client, "nucleus_detection_v0", version=1,
                              drafts_dir=tmp_path_factory.mktemp("drafts"))
    yield ex
    ex.wait_for_panel(180)  # no background load may outlive this module (it logs provenance)
    ex.close()


def test_pinned_version_and_query_recorded_in_provenance(explorer, sample_client):
    assert explorer.version == 1
    want = sample_client.materialize.query_table("nucleus_detection_v0", materialization_version=1)
    assert len(explorer.table.data) == len(want)
    log = cavewidgets.provenance()
    mine = log[(log["source"] == "explorer") & (log["table"] == "nucleus_detection_v0")]
    assert len(mine) >= 1 and int(mine["version"].iloc[-1]) == 1 and int(mine["n_rows"].iloc[-1]) == len(want)
    assert "version 1" in explorer.header.value


def test_selection_frame_is_exact_and_bad_ids_change_nothing(explorer):
    roots = [int(r) for r in explorer.table.data["pt_root_id"] if r][:3]
    explorer.select(roots)
    sel = explorer.selection
    assert sel["root_id"].dtype == np.uint64 and [int(r) for r in sel["root_id"]] == roots
    assert sel["color"].is_unique and sorted(explorer.viewer.segments) == sorted(roots)
    for bad in (["x"], [-1], [2**64], [None]):
        with pytest.raises(ValueError):
            explorer.select(bad)
    assert [int(r) for r in explorer.selection["root_id"]] == roots
    assert explorer.wait_for_panel(180) and explorer.panel.root_id == roots[0]
    fetches = cavewidgets.provenance()
    assert {"mesh", "skeleton"} <= set(fetches.loc[fetches["kind"] == "fetch", "method"])


def test_outdated_roots_are_flagged_with_suggestions(explorer, sample_client):
    roots = [int(r) for r in explorer.table.data["pt_root_id"] if r]
    latest = sample_client.chunkedgraph.is_latest_roots(roots)
    old = [r for r, ok in zip(roots, latest) if not ok]
    if not old:
        pytest.skip("no root of version 1 was edited since")  # the sample has edits after v1
    explorer.select(old[:1])
    assert explorer.selection["is_latest"].tolist() == [False]
    assert "no longer latest" in explorer.header.value
    assert explorer.wait_for_panel(180)
    new = explorer.suggest_latest()
    assert list(new) == old[:1] and sample_client.chunkedgraph.is_latest_roots([new[old[0]]])[0]


def test_bad_tables_are_refused(sample_client):
    with pytest.raises(ValueError, match="no table"):
        cavewidgets.Explorer(sample_client, "no_such_table")
    with pytest.raises(TypeError):
        cavewidgets.Explorer(sample_client, 42)
    with pytest.raises(ValueError, match="version"):
        cavewidgets.Explorer(sample_client, "nucleus_detection_v0", version=999)
    with pytest.raises(TypeError):
        cavewidgets.Explorer(None, "nucleus_detection_v0")


def test_loading_a_table_shows_what_it_fetches(sample_client, tmp_path, capsys):
    ex = cavewidgets.Explorer(sample_client, "synapses_pni_2", version=2, drafts_dir=tmp_path)
    try:
        err = capsys.readouterr().err
        rows = sample_client.materialize.get_annotation_count("synapses_pni_2", version=2)
        assert f"synapses_pni_2 (version 2, {rows:,} rows)" in err and len(ex.table.data) == rows
    finally:
        ex.close()


def test_explorer_over_a_parquet_file_selects_like_over_the_frame(sample_client, tmp_path):
    """The Explorer over a file read in place: selecting a root selects its rows, exactly."""
    synapses = sample_client.materialize.query_table("synapses_pni_2", desired_resolution=[1, 1, 1],
                                                     split_positions=True)
    path = tmp_path / "synapses.parquet"
    synapses.to_parquet(path)
    ex = cavewidgets.Explorer(sample_client, path, root_column="post_pt_root_id", drafts_dir=tmp_path / "drafts")
    try:
        assert ex.table.total_rows == len(synapses) and ex.table.key is None
        assert ex._roots == ["post_pt_root_id", "pre_pt_root_id"]
        root = int(synapses.post_pt_root_id.value_counts().index[0])
        ex.select([root])
        want = synapses[synapses.post_pt_root_id == root]
        got = ex.table.selected
        assert sorted(got["id"].tolist()) == sorted(want["id"].tolist())
        assert got.post_pt_root_id.dtype == synapses.post_pt_root_id.dtype and set(got.post_pt_root_id) == {root}
        sel = ex.selection
        assert set(int(r) for r in sel["root_id"]) == {root} and len(sel) == len(want)
        page = ex.table._rpc_page(0, 200)[1][0]
        import pyarrow as pa

        rows = pa.ipc.open_stream(page).read_all().to_pylist()
        assert all((r["__color"] is not None) == (r["post_pt_root_id"] == root) for r in rows)
        ex.wait_for_panel(180)
    finally:
        ex.close()


def test_the_root_column_leads_the_table(sample_client, tmp_path):
    """A frame that is not a CAVE table (an index, an ``id`` first): the column that drives the
    selection is shown first, and follows the root-column picker."""
    import pandas as pd

    syn = sample_client.materialize.query_table("synapses_pni_2", limit=50)
    frame = pd.DataFrame({"id": syn["id"].to_numpy(), "size": syn["size"].to_numpy(),
                          "pre_pt_root_id": syn["pre_pt_root_id"].to_numpy(),
                          "post_pt_root_id": syn["post_pt_root_id"].to_numpy()},
                         index=pd.Index(range(100, 150), name="row"))
    ex = cavewidgets.Explorer(sample_client, frame, root_column="post_pt_root_id", drafts_dir=tmp_path)
    try:
        shown = ex.table.visible_columns
        assert shown[0] == "post_pt_root_id" and sorted(shown) == sorted(set(shown))
        assert {"id", "size", "pre_pt_root_id"} <= set(shown)
        ex._column_picker.value = "pre_pt_root_id"
        assert ex.table.visible_columns[0] == "pre_pt_root_id"
        assert set(ex.table.visible_columns) == set(shown)
    finally:
        ex.close()
