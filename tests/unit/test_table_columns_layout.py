"""TableBrowser's default columns for CAVE tables, ``columns=``/``hidden=`` and ``visible_columns``."""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd
import pytest

from cavewidgets import TableBrowser
from cavewidgets.table.layout import default_layout, is_bookkeeping

BIG = 864691135808684573


def cave_synapses(n=20, attrs=True) -> pd.DataFrame:
    """Shaped like ``client.materialize.query_table("synapses_pni_2")`` (columns, dtypes, attrs)."""
    rng = np.random.default_rng(1)
    df = pd.DataFrame({
        "id": np.arange(n, dtype=np.int64) + 1,
        "created": pd.Timestamp(datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)),
        "superceded_id": np.full(n, np.nan),
        "valid": True,
        "size": rng.integers(1, 1000, n),
        "pre_pt_supervoxel_id": np.int64(BIG // 10) + np.arange(n),
        "pre_pt_root_id": np.int64(BIG) + np.arange(n),
        "post_pt_supervoxel_id": np.int64(BIG // 10) + np.arange(n),
        "post_pt_root_id": np.int64(BIG) + np.arange(n) + 100,
        "ctr_pt_position": list(rng.integers(0, 10_000, (n, 3))),
    })
    if attrs:
        df.attrs = {"materialization_version": 2, "table_name": "synapses_pni_2"}
    return df


def cave_cell_types() -> pd.DataFrame:
    """Shaped like a reference-table join (``aibs_metamodel_celltypes_v661``): ``_ref`` twins."""
    df = pd.DataFrame({
        "id": [1, 2], "created": pd.Timestamp("2025-01-01", tz="UTC"), "superceded_id": np.nan, "valid": True,
        "target_id": [7, 8], "classification_system": ["excitatory_neuron"] * 2, "cell_type": ["23P", "4P"],
        "id_ref": [7, 8], "created_ref": pd.Timestamp("2025-01-01", tz="UTC"), "superceded_id_ref": np.nan,
        "valid_ref": True, "volume": [1.5, 2.5], "pt_supervoxel_id": [5, 6], "pt_root_id": [BIG, BIG + 1],
    })
    df.attrs = {"materialization_version": 2}
    return df


def test_cave_synapses_show_roots_first_and_hide_bookkeeping():
    b = TableBrowser(cave_synapses())
    assert b.visible_columns == ["pre_pt_root_id", "post_pt_root_id", "id", "size", "ctr_pt_position"]
    assert b.hidden_columns == ["created", "superceded_id", "valid", "pre_pt_supervoxel_id", "post_pt_supervoxel_id"]
    # every column is still there for the Columns menu, visible ones first
    assert [c["name"] for c in b.columns] == b.visible_columns + b.hidden_columns


def test_cell_types_come_right_after_root_ids_and_ref_twins_hide():
    b = TableBrowser(cave_cell_types())
    assert b.visible_columns == ["pt_root_id", "classification_system", "cell_type", "id", "target_id", "volume"]
    assert set(b.hidden_columns) == {"created", "superceded_id", "valid", "id_ref", "created_ref",
                                     "superceded_id_ref", "valid_ref", "pt_supervoxel_id"}


def test_cave_table_recognised_without_attrs_and_other_frames_untouched():
    assert TableBrowser(cave_synapses(attrs=False)).visible_columns[:2] == ["pre_pt_root_id", "post_pt_root_id"]
    plain = pd.DataFrame({"id": [1, 2], "created": [1, 2], "pt_root_id": [BIG, BIG + 1]})
    b = TableBrowser(plain)
    assert b.visible_columns == ["id", "created", "pt_root_id"] and b.hidden_columns == []


def test_columns_argument_shows_just_those_in_order():
    b = TableBrowser(cave_synapses(), columns=["size", "post_pt_root_id", "created"])
    assert b.visible_columns == ["size", "post_pt_root_id", "created"]
    assert "pre_pt_root_id" in b.hidden_columns and len(b.columns) == 10


def test_hidden_argument_replaces_the_default():
    b = TableBrowser(cave_synapses(), hidden=["size"])
    assert b.hidden_columns == ["size"]
    assert b.visible_columns[:4] == ["id", "created", "superceded_id", "valid"]  # the table's own order


def test_visible_columns_setter_and_menu_edits_agree():
    b = TableBrowser(cave_synapses())
    b.visible_columns = ["id", "created", "pre_pt_root_id"]
    assert b.visible_columns == ["id", "created", "pre_pt_root_id"]
    assert "created" not in b.hidden_columns and "post_pt_root_id" in b.hidden_columns
    # what the front-end's Columns menu does: edit hidden_columns
    b.hidden_columns = [n for n in b.hidden_columns if n != "post_pt_root_id"]
    assert "post_pt_root_id" in b.visible_columns


@pytest.mark.parametrize("kwargs, error, match", [
    ({"columns": ["nope", "size"]}, ValueError, "no column\\(s\\) 'nope'"),
    ({"hidden": ["nope"]}, ValueError, "no column\\(s\\) 'nope'"),
    ({"columns": "size"}, TypeError, "list of column names"),
    ({"columns": ["size", 3]}, TypeError, "strings"),
    ({"columns": ["size", "size"]}, ValueError, "twice"),
    ({"columns": ["size"], "hidden": ["id"]}, ValueError, "not both"),
])
def test_bad_column_names_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        TableBrowser(cave_synapses(), **kwargs)


def test_bad_visible_columns_change_nothing():
    b = TableBrowser(cave_synapses())
    before = (b.visible_columns, list(b.hidden_columns))
    with pytest.raises(ValueError, match="'typo'"):
        b.visible_columns = ["id", "typo"]
    assert (b.visible_columns, list(b.hidden_columns)) == before


def test_bookkeeping_names():
    assert [n for n in ["created", "valid", "superceded_id", "deleted", "pt_supervoxel_id", "valid_ref",
                        "pt_root_id", "id", "target_id", "cell_type"] if is_bookkeeping(n)] == \
        ["created", "valid", "superceded_id", "deleted", "pt_supervoxel_id", "valid_ref"]
    assert default_layout(pd.DataFrame({"a": [1]}), ["a"]) == (["a"], [])
