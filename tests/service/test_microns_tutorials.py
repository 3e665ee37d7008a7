"""The MICrONS quickstart tutorials' caveclient calls, run against the sample unchanged.

Code from AllenInstitute/microns_tutorial ``tutorial_book/quickstart_notebooks/`` (02 cell types,
03 proofread cells, 04 synapses) and ``materialization-version.ipynb``, with only the client line,
the version numbers and the example ids (which cannot exist in the sample) changed. Left out:
``allen_v1_column_types_slanted_ref`` (a table the sample does not have) and the 4-6 minute
all-proofread ``synapse_query`` (run here on the same call with the sample's proofread cells).
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest


@pytest.fixture(scope="module")
def client(sample_service):
    from cavewidgets.sample import client as make_client

    return make_client(service=sample_service)  # its own client: tutorials may set client.version


def test_quickstart_cell_types(client):
    client.info.get_datastack_info()["description"]
    versions = client.materialize.get_versions()
    for version in versions:
        print(f"Version {version}: {client.materialize.get_timestamp(version)}")
    client.materialize.get_tables()
    client.materialize.get_table_metadata("nucleus_detection_v0")
    cell_type_df = client.materialize.query_table("nucleus_detection_v0")
    cell_type_df = client.materialize.query_table("nucleus_detection_v0", split_positions=True,
                                                  desired_resolution=[1, 1, 1],
                                                  select_columns=["pt_position", "pt_root_id"])
    assert {"pt_position_x", "pt_root_id"} <= set(cell_type_df.columns)
    cell_type_df = client.materialize.tables.aibs_metamodel_celltypes_v661().query()
    my_cell_type = cell_type_df["cell_type"].iloc[0]
    assert (client.materialize.tables.aibs_metamodel_celltypes_v661(cell_type=my_cell_type).query()
            ["cell_type"] == my_cell_type).all()
    my_root_ids = [int(r) for r in cell_type_df["pt_root_id"] if r][:3]
    got = client.materialize.tables.aibs_metamodel_celltypes_v661(pt_root_id=my_root_ids).query()
    assert set(got["pt_root_id"]) == set(my_root_ids)


def test_quickstart_proofread_cells(client):
    proof_all_df = client.materialize.query_table("proofreading_status_and_strategy",
                                                  desired_resolution=[1, 1, 1], split_positions=True)
    strategies = ["axon_partially_extended", "axon_fully_extended", "axon_interareal"]
    proof_axon_df = client.materialize.query_table("proofreading_status_and_strategy",
                                                   filter_in_dict={"strategy_axon": strategies},
                                                   desired_resolution=[1, 1, 1], split_positions=True)
    assert set(proof_axon_df["strategy_axon"]) <= set(strategies)
    proof_axon_df = client.materialize.tables.proofreading_status_and_strategy(strategy_axon=strategies).query(
        select_columns=["pt_root_id", "status_axon", "status_dendrite", "strategy_axon", "strategy_dendrite"])
    # PostgreSQL reads "t" as true for a boolean column; so does the sample
    proof_df = client.materialize.tables.proofreading_status_and_strategy(status_axon="t").query(
        select_columns=["pt_root_id", "status_axon", "status_dendrite", "strategy_axon", "strategy_dendrite"])
    assert len(proof_df) == int(proof_all_df["status_axon"].sum()) > 0 and proof_df["status_axon"].all()
    cell_type_df = client.materialize.tables.aibs_metamodel_celltypes_v661().query(
        select_columns={"nucleus_detection_v0": ["pt_root_id", "id"],
                        "aibs_metamodel_celltypes_v661": ["classification_system", "cell_type"]})
    assert {"pt_root_id", "id", "cell_type"} <= set(cell_type_df.columns)
    proof_23p_df = (client.materialize.tables.aibs_metamodel_celltypes_v661(
        pt_root_id=proof_df.pt_root_id, cell_type=cell_type_df["cell_type"].iloc[0]).query(
            select_columns={"nucleus_detection_v0": ["pt_root_id", "id"],
                            "aibs_metamodel_celltypes_v661": ["classification_system", "cell_type"]})
        .rename(columns={"id": "nucleus_id"}).merge(proof_df, on="pt_root_id", how="inner"))
    assert "nucleus_id" in proof_23p_df.columns


@pytest.mark.parametrize("spelling", ["t", "T", "true", " yes ", "on", "1", True])
def test_boolean_filters_read_as_postgresql_reads_them(client, spelling):
    df = client.materialize.query_table("proofreading_status_and_strategy", filter_equal_dict={"status_axon": spelling})
    everything = client.materialize.query_table("proofreading_status_and_strategy")
    assert len(df) == int(everything["status_axon"].sum())
    off = client.materialize.query_table("proofreading_status_and_strategy", filter_in_dict={"status_axon": ["f", "no"]})
    assert len(off) == len(everything) - len(df)


@pytest.mark.parametrize("bad", ["maybe", "o", "10", 2])
def test_bad_boolean_filters_get_the_postgresql_error(client, bad):
    with pytest.raises(Exception, match="invalid input syntax for type boolean"):
        client.materialize.query_table("proofreading_status_and_strategy", filter_equal_dict={"status_axon": bad})


def test_quickstart_synapses(client):
    n = client.materialize.get_annotation_count("synapses_pni_2")
    synapse_table_name = client.info.get_datastack_info()["synapse_table"]
    syn_df = client.materialize.query_table(synapse_table_name, limit=10, desired_resolution=[1, 1, 1],
                                            split_positions=True)
    assert len(syn_df) == 10 and n == 550_000
    proof_df = client.materialize.tables.proofreading_status_and_strategy(status_axon="t").query(
        desired_resolution=[1, 1, 1], split_positions=True)
    example_root_id = int(proof_df["pt_root_id"].iloc[0])
    input_syn_df = client.materialize.synapse_query(post_ids=example_root_id)
    output_syn_df = client.materialize.synapse_query(pre_ids=example_root_id)
    assert len(input_syn_df) and len(output_syn_df)
    proof_df["strategy_axon"].value_counts()
    syn_proof_only_df = client.materialize.synapse_query(pre_ids=proof_df.pt_root_id, post_ids=proof_df.pt_root_id,
                                                         remove_autapses=True)
    assert syn_proof_only_df["pre_pt_root_id"].isin(proof_df.pt_root_id).all()
    ct_auto_df = client.materialize.tables.aibs_metamodel_celltypes_v661().query()
    ct_auto_df.rename(columns={"target_id": "nucleus_id"}, inplace=True)
    ct_auto_df.drop_duplicates("pt_root_id", keep=False, inplace=True)


def test_materialization_versions_and_the_view(client):
    versions = client.materialize.get_versions()
    versions.sort()
    nuc_v1 = client.materialize.tables.nucleus_detection_v0().query(materialization_version=versions[0])
    ts = client.materialize.get_version_metadata(versions[0])["time_stamp"]
    nuc_then = client.materialize.tables.nucleus_detection_v0().query(timestamp=ts)
    assert len(nuc_then) == len(nuc_v1)
    nuc_timestamp = client.materialize.tables.nucleus_detection_v0().query(
        timestamp=datetime.now(timezone.utc), limit=30)
    assert len(nuc_timestamp) == 30
    example_id = int(nuc_v1["pt_root_id"][nuc_v1["pt_root_id"] > 0].iloc[0])
    client.chunkedgraph.suggest_latest_roots(example_id, timestamp=client.materialize.get_timestamp())
    client.chunkedgraph.is_latest_roots(example_id)
    client.chunkedgraph.get_root_timestamps(example_id)
    nuc_id = client.materialize.tables.nucleus_detection_v0(pt_root_id=example_id).query(timestamp=ts)["id"]
    assert len(client.materialize.tables.nucleus_detection_v0(id=nuc_id).query()) == 1
    # skeleton_load_and_generate.ipynb: the lookup view
    assert "nucleus_detection_lookup_v1" in client.materialize.views.table_names
    row = client.materialize.query_view("nucleus_detection_lookup_v1", filter_equal_dict={"id": int(nuc_id.iloc[0])})
    assert int(row["id"].iloc[0]) == int(nuc_id.iloc[0]) and np.asarray(row["pt_position"].values[0]).shape == (3,)
    meta = client.materialize.get_view_metadata("nucleus_detection_lookup_v1")
    assert meta["table_name"] == "nucleus_detection_lookup_v1" and meta["voxel_resolution_x"] > 0
    assert client.materialize.views.nucleus_detection_lookup_v1(id=int(nuc_id.iloc[0])).query()["id"].tolist() \
        == [int(nuc_id.iloc[0])]
    assert int(client.materialize.query_view("nucleus_detection_lookup_v1", get_counts=True)["count"].iloc[0]) \
        == len(client.materialize.query_table("nucleus_detection_v0"))
