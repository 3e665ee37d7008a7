"""The CAVEclient documentation tutorials, run against the sample.

Code from CAVEconnectome/CAVEclient ``docs/tutorials/`` (framework, authentication, info,
schemas, state, chunkedgraph, l2cache, materialization, annotation, skeletonization, advanced),
cell by cell, with only the client line and the example ids (which cannot exist in the sample)
changed. Six cells are wrong in the tutorials themselves and fail on real CAVE too; they run
here as the API spells them, marked ``# tutorial:``. What cannot run on the sample, and why, is
listed in ``docs/how-to/sample-vs-real-cave.md`` ("The public tutorials on the sample").
"""

from __future__ import annotations

import datetime
import json

import numpy as np
import pandas as pd
import pytest
import requests

pytestmark = pytest.mark.service


@pytest.fixture(scope="module")
def client(sample_service):
    from cavewidgets.sample import client as make_client

    return make_client(service=sample_service)  # its own: the tutorials set client.version


@pytest.fixture(scope="module")
def nuclei(client):
    """The soma table in nm: the sample's stand-in for the tutorials' example ids."""
    df = client.materialize.query_table("nucleus_detection_v0", desired_resolution=[1, 1, 1])
    return df[df["pt_root_id"] != 0].reset_index(drop=True)


@pytest.fixture(scope="module")
def bounding_box(client, nuclei):
    """A box (table voxels) around the first cells' somata, as the tutorials' ``[[min_x, ...]]``."""
    voxels = client.materialize.query_table("nucleus_detection_v0")
    pts = np.stack(voxels["pt_position"].to_numpy())
    return [pts.min(axis=0).tolist(), np.median(pts, axis=0).tolist()]


def test_framework_and_info(client, sample_service):
    from caveclient.format_utils import output_map

    assert client.datastack_name in client.info.get_datastacks()  # with the fly one once it is served
    datastack_name = client.datastack_name
    print(f"This is an info client for {client.info.datastack_name} on {client.info.server_address}")
    assert client.info.server_address == sample_service.url
    info = client.info
    full = info.get_datastack_info()
    # tutorial: info.graphene_source(), a method InfoServiceClient does not have (AttributeError on
    # MICrONS too); segmentation_source() is the graphene source
    assert full["segmentation_source"] == info.segmentation_source()
    assert info.segmentation_source().startswith("graphene://")
    neuroglancer_style_source = info.image_source(format_for="neuroglancer")
    cloudvolume_style_source = info.image_source(format_for="cloudvolume")
    print(f"With gs-style: { neuroglancer_style_source }")
    print(f"With https-style: { cloudvolume_style_source }")
    # caveclient's format_neuroglancer treats every source as graphene (``qry.scheme == "graphene" or
    # "https"``), so a precomputed image source gives None: on MICrONS' source too
    microns_image = "precomputed://https://bossdb-open-data.s3.amazonaws.com/iarpa_microns/minnie/minnie65/em"
    assert neuroglancer_style_source is None is output_map["neuroglancer"](microns_image)
    assert cloudvolume_style_source == full["aligned_volume"]["image_source"]
    assert cloudvolume_style_source.startswith("precomputed://http://")


def test_authentication(sample_service, monkeypatch, tmp_path, capsys):
    from caveclient import CAVEclient

    monkeypatch.setenv("HOME", str(tmp_path))  # the tutorial saves to ~/.cloudvolume: not the user's
    client = CAVEclient(server_address=sample_service.url, write_server_cache=False)  # tutorial: CAVEclient()
    auth = client.auth
    print(f"My current token is: {auth.token}")
    assert auth.token is None
    auth.get_new_token()  # prints where to get one: the service's own auth URL
    assert sample_service.url in capsys.readouterr().out
    new_token = sample_service.token  # the text you see after you visit the website
    auth.save_token(token=new_token)
    print(f"My token is now: {auth.token}")
    saved = json.loads((tmp_path / ".cloudvolume/secrets/cave-secret.json").read_text())
    assert saved == {"token": new_token} and auth.token == new_token
    datastack_name = "minnie65_sample"
    client = CAVEclient(datastack_name, server_address=sample_service.url, write_server_cache=False)
    assert client.auth.token == new_token  # read back from the saved file
    assert client.materialize.get_versions()  # and the service accepts it
    # the datastack client reads the datastack's info with the token it is given: a made-up token
    # is refused there, by MICrONS' info service (auth_required) as by the sample
    with pytest.raises(requests.HTTPError) as refused:
        CAVEclient(datastack_name, server_address=sample_service.url, auth_token="another_fake_token_678",
                   write_server_cache=False)
    assert refused.value.response.status_code == 401
    client_direct = CAVEclient(server_address=sample_service.url, auth_token="another_fake_token_678",
                               write_server_cache=False)
    print(f"A directly specified token is: {client_direct.auth.token}")
    assert client_direct.auth.token == "another_fake_token_678"


def test_schemas(client):
    schemas = client.schema.get_schemas()
    assert {"microns_func_coreg", "cell_type_local", "synapse"} <= set(schemas)
    example_schema = client.schema.schema_definition("microns_func_coreg")
    coreg = example_schema["definitions"]["FunctionalCoregistration"]
    assert {"pt", "func_id"} <= set(coreg["properties"])


def test_state(client):
    ngl_state = {"layers": [{"type": "segmentation", "name": "seg",
                             "source": client.info.segmentation_source()}]}
    example_id = client.state.upload_state_json(ngl_state)  # tutorial: a MICrONS state id
    example_state = client.state.get_state_json(example_id)
    assert example_state["layers"][0]["source"] == client.info.segmentation_source()
    example_state["layers"][0]["name"] = "example_name"
    new_id = client.state.upload_state_json(example_state)
    test_state = client.state.get_state_json(new_id)
    assert test_state["layers"][0]["name"] == "example_name" and new_id != example_id
    # tutorial: ngl_base without a scheme, which caveclient then fetches (``{ngl_base}/version.json``
    # to tell the deployment's kind): MissingSchema on MICrONS too; the https deployment needs the
    # internet, so the kind is given (target_site), as caveclient's docs allow
    ngl_base = "https://neuromancer-seung-import.appspot.com"
    url = client.state.build_neuroglancer_url(new_id, ngl_base, target_site="seunglab")
    assert url == f"{ngl_base}/?json_url={client.server_address}/nglstate/api/v1/{new_id}"
    url = client.state.build_neuroglancer_url(new_id, client.info.viewer_site(), target_site="spelunker")
    assert url.endswith(f"#!middleauth+{client.server_address}/nglstate/api/v1/{new_id}")
    assert client.info.viewer_site().startswith("https://")


def test_chunkedgraph(client, nuclei):
    sv_id = int(nuclei["pt_supervoxel_id"].iloc[0])  # tutorial: 104200755619042523
    assert int(client.chunkedgraph.get_root_id(supervoxel_id=sv_id)) == int(nuclei["pt_root_id"].iloc[0])
    # tutorial: a day in early 2019; here the first materialization, whose table holds that day's roots
    v1 = min(client.materialize.get_versions())
    timestamp = client.materialize.get_timestamp(v1)
    then = client.materialize.query_table("nucleus_detection_v0", materialization_version=v1,
                                          filter_equal_dict={"pt_supervoxel_id": sv_id})
    assert int(client.chunkedgraph.get_root_id(supervoxel_id=sv_id, timestamp=timestamp)) \
        == int(then["pt_root_id"].iloc[0])
    node_ids = nuclei["pt_supervoxel_id"].iloc[:3].astype(np.uint64).tolist()
    root_ids = client.chunkedgraph.get_roots(node_ids)
    np.testing.assert_array_equal(root_ids, nuclei["pt_root_id"].iloc[:3].to_numpy(np.uint64))
    root_id = int(nuclei["pt_root_id"].iloc[0])  # tutorial: 648518346349541252
    leaves = client.chunkedgraph.get_leaves(root_id)
    assert sv_id in set(int(x) for x in leaves)
    l2 = client.chunkedgraph.get_leaves(root_id, stop_layer=2)
    assert 0 < len(l2) < len(leaves)
    assert set(int(x) for x in client.chunkedgraph.get_roots(leaves[:20], stop_layer=2)) <= set(int(x) for x in l2)


def test_l2cache_area_and_volume(client, nuclei):
    root_id = int(nuclei["pt_root_id"].iloc[0])
    lvl2nodes = client.chunkedgraph.get_leaves(root_id, stop_layer=2)
    l2stats = client.l2cache.get_l2data(lvl2nodes, attributes=["size_nm3", "area_nm2"])
    l2df = pd.DataFrame(l2stats).T
    total_area_um2 = l2df.area_nm2.sum() / (1000 * 1000)
    total_volume_um3 = l2df.size_nm3.sum() / (1000 * 1000 * 1000)
    assert len(l2df) == len(lvl2nodes) and set(l2df.columns) == {"size_nm3", "area_nm2"}
    # a neuron: hundreds to a few hundred thousand um^3, and more area than a sphere of that volume
    assert 10 < total_volume_um3 < 1e6
    assert total_area_um2 > (36 * np.pi * total_volume_um3**2) ** (1 / 3)
    edges = client.chunkedgraph.level2_chunk_graph(root_id)  # the skeletonization section's graph
    assert set(np.unique(np.asarray(edges))) <= set(int(x) for x in lvl2nodes)


def test_materialization_versions_and_tables(client):
    versions = client.materialize.get_versions()
    assert len(versions) == 2
    meta = client.materialize.get_version_metadata(max(versions))
    assert meta["version"] == max(versions) and meta["expires_on"] > meta["time_stamp"]
    assert len(client.materialize.get_versions_metadata()) == len(versions)
    client.version = min(versions)  # tutorial: 9
    assert client.materialize.version == min(versions)
    assert client.timestamp == client.materialize.get_timestamp(min(versions))
    client.version = max(versions)
    tables = client.materialize.get_tables()
    assert client.materialize.get_table_metadata(tables[0])["table_name"] == tables[0]
    assert "definitions" in client.schema.schema_definition(client.materialize.get_table_metadata(tables[0])["schema"])
    assert f'href="{client.server_address}/materialize/' in client.materialize.homepage.data
    synapse_table = client.info.get_datastack_info()["synapse_table"]
    soma_table = client.info.get_datastack_info()["soma_table"]
    assert {synapse_table, soma_table} <= set(tables)
    nannotations = client.materialize.get_annotation_count(synapse_table)  # tutorial: 'my_table'
    assert nannotations == 550_000


def test_materialization_queries(client, nuclei, bounding_box):
    MYID = int(nuclei["pt_root_id"].iloc[0])
    df = client.materialize.query_table("nucleus_detection_v0", limit=10)  # tutorial: 'my_table'
    assert len(df) == 10
    synapse_table = client.info.get_datastack_info()["synapse_table"]
    df = client.materialize.query_table(synapse_table, filter_equal_dict={"post_pt_root_id": MYID})
    assert len(df) > 0 and (df["post_pt_root_id"] == MYID).all()
    inputs = len(df)
    # tutorial: split_columns=True, a keyword query_table does not have (a TypeError on MICrONS too)
    df = client.materialize.query_table(synapse_table, filter_equal_dict={"post_pt_root_id": MYID},
                                        select_columns=["id", "pre_pt_root_id", "pre_pt_position"],
                                        split_positions=True)
    assert list(df.columns) == ["id", "pre_pt_root_id", "pre_pt_position_x", "pre_pt_position_y",
                                "pre_pt_position_z"] and len(df) == inputs
    nm = client.materialize.query_table(synapse_table, filter_equal_dict={"post_pt_root_id": MYID},
                                        desired_resolution=[1, 1, 1])
    vox = client.materialize.query_table(synapse_table, filter_equal_dict={"post_pt_root_id": MYID})
    res = np.array(client.materialize.get_table_metadata(synapse_table)["voxel_resolution"])
    a, b = nm.set_index("id").sort_index(), vox.set_index("id").sort_index()
    np.testing.assert_allclose(np.stack(a["post_pt_position"]), np.stack(b["post_pt_position"]) * res)
    soma_box = [[int(v) for v in corner] for corner in bounding_box]
    df = client.materialize.query_table(synapse_table, filter_equal_dict={"post_pt_root_id": MYID},
                                        filter_spatial_dict={"post_pt_position": soma_box})
    pts = np.stack(df["post_pt_position"]) if len(df) else np.zeros((0, 3))
    assert ((pts >= soma_box[0]) & (pts < soma_box[1])).all() and len(df) <= inputs
    # tutorial: client.materialize.query_table(post_ids=..., bounding_box=...): that is synapse_query
    df = client.materialize.synapse_query(post_ids=MYID, bounding_box=soma_box)
    assert len(df) == len(client.materialize.query_table(
        synapse_table, filter_equal_dict={"post_pt_root_id": MYID}, filter_spatial_dict={"post_pt_position": soma_box},
        filter_out_dict={"pre_pt_root_id": [MYID]}))


def test_materialization_live_queries(client, nuclei):
    MYID = int(nuclei["pt_root_id"].iloc[0])
    mat_time = client.materialize.get_timestamp()
    is_latest = client.chunkedgraph.is_latest_roots([MYID], timestamp=mat_time)
    assert np.all(is_latest)
    lineage = client.chunkedgraph.get_lineage_graph(MYID)
    assert MYID in {int(n["id"]) for n in lineage["nodes"]}
    synapse_table = client.info.get_datastack_info()["synapse_table"]
    now = datetime.datetime.now(datetime.timezone.utc)
    live = client.materialize.live_query(synapse_table, now, filter_equal_dict={"post_pt_root_id": MYID})
    mat = client.materialize.query_table(synapse_table, filter_equal_dict={"post_pt_root_id": MYID})
    assert sorted(live["id"]) == sorted(mat["id"])  # the cell was not edited since the version
    df = client.materialize.query_table(synapse_table, timestamp=datetime.datetime.now(datetime.timezone.utc),
                                        filter_equal_dict={"post_pt_root_id": MYID})
    assert sorted(df["id"]) == sorted(mat["id"])


def test_materialization_tables_interface(client, nuclei, bounding_box):
    all_nuc = client.materialize.query_table("nucleus_detection_v0")
    nuc_df = client.materialize.tables.nucleus_detection_v0().query()
    pd.testing.assert_frame_equal(nuc_df.sort_values("id", ignore_index=True),
                                  all_nuc.sort_values("id", ignore_index=True))
    my_ids = nuclei["id"].iloc[:2].tolist()  # tutorial: [373879, 111162]
    nuc_df = client.materialize.tables.nucleus_detection_v0(id=my_ids).query()
    assert sorted(nuc_df["id"]) == sorted(my_ids)
    nuc_df = client.materialize.tables.nucleus_detection_v0(pt_position_bbox=bounding_box).query()
    pts = np.stack(nuc_df["pt_position"])
    assert 0 < len(nuc_df) < len(all_nuc) and ((pts >= bounding_box[0]) & (pts < bounding_box[1])).all()
    assert len(client.materialize.tables.nucleus_detection_v0.get_all()) == len(all_nuc)
    assert client.materialize.tables.nucleus_detection_v0.spatial_fields == \
        ["pt_position_bbox", "bb_end_position_bbox", "bb_start_position_bbox"]
    assert "volume" in client.materialize.tables.nucleus_detection_v0.numeric_fields
    my_table = "nucleus_detection_v0"
    assert sorted(client.materialize.tables[my_table](id=my_ids).query()["id"]) == sorted(my_ids)
    nuc_df = client.materialize.tables.nucleus_detection_v0(id=my_ids).query(split_positions=True,
                                                                            desired_resolution=[1, 1, 1])
    row = nuclei.set_index("id").loc[nuc_df["id"].iloc[0]]
    np.testing.assert_allclose(nuc_df.iloc[0][["pt_position_x", "pt_position_y", "pt_position_z"]].to_numpy(float),
                               row["pt_position"])
    big = client.materialize.tables.nucleus_detection_v0(volume={">": 100}).query()
    assert (big["volume"] > 100).all() and len(big) == int((all_nuc["volume"] > 100).sum())
    mid = client.materialize.tables.nucleus_detection_v0(volume={">": 50, "<": 250}).query()
    assert len(mid) == int(all_nuc["volume"].between(50, 250, inclusive="neither").sum())
    nuc_df = client.materialize.tables.nucleus_detection_v0(id=my_ids).live_query(
        timestamp=datetime.datetime.now(datetime.timezone.utc))
    assert sorted(nuc_df["id"]) == sorted(my_ids)
    qry_func = client.materialize.tables.nucleus_detection_v0().query
    assert callable(qry_func)
    assert "nucleus_detection_lookup_v1" in client.materialize.views.table_names


@pytest.fixture(scope="module")
def coreg_table(client):
    """The annotation tutorial's ``test_table`` (a ``microns_func_coreg`` table in nm)."""
    client.annotation.create_table(table_name="test_table", schema_name="microns_func_coreg",
                                   voxel_resolution=[1, 1, 1], description="some text to describe your table")
    return "test_table"


def test_annotation_tables_and_get_annotation(client):
    all_tables = client.annotation.get_tables()
    table_name = all_tables[0]  # tutorial: all_tables[0]['table_name'] (get_tables returns names)
    annotation_id = int(client.materialize.query_table(table_name, limit=1)["id"].iloc[0])  # tutorial: 100
    got = client.annotation.get_annotation(annotation_ids=annotation_id, table_name=table_name)
    assert [row["id"] for row in got] == [annotation_id]


def test_annotation_create_update_and_post(client, coreg_table):
    meta = client.annotation.get_table_metadata(coreg_table)
    assert meta["schema_type"] == "microns_func_coreg" and meta["voxel_resolution"] == [1, 1, 1]
    client.annotation.update_metadata(table_name="test_table", description="a new description for my table")
    client.annotation.update_metadata(table_name="test_table",
                                      notice_text="This table isn't done yet, don't trust it. Contact me")
    # tutorial: read_permisison="PUBLIC" (misspelt: a TypeError on MICrONS too)
    client.annotation.update_metadata(table_name="test_table", read_permission="PUBLIC")
    meta = client.annotation.get_table_metadata(coreg_table)
    assert (meta["description"], meta["read_permission"]) == ("a new description for my table", "PUBLIC")
    assert meta["notice_text"].startswith("This table isn't done yet")
    new_data = {"type": "microns_func_coreg", "pt": {"position": [1, 2, 3]}, "func_id": 0}
    ids = client.annotation.post_annotation(table_name="test_table", data=[new_data])
    assert len(ids) == 1
    # tutorial: the frame's literal has two stray "}" (a SyntaxError); as meant:
    df = pd.DataFrame([{"id": 0, "type": "microns_func_coreg", "pt_position": [1, 2, 3], "func_id": 0},
                       {"id": 1, "type": "microns_func_coreg", "pt_position": [3, 2, 1], "func_id": 2}])
    more = client.annotation.post_annotation_df("test_table", df, position_columns=["pt_position"])
    assert len(more) == 2
    rows = client.annotation.get_annotation("test_table", list(ids) + list(more))
    assert sorted(r["func_id"] for r in rows) == [0, 0, 2]
    assert client.annotation.get_annotation_count("test_table") == 3


def test_staged_annotations(client, nuclei):
    client.annotation.create_table(table_name="my_table", schema_name="cell_type_local",
                                   voxel_resolution=[1, 1, 1], description="tutorial cell types")
    stage = client.annotation.stage_annotations("my_table")
    soma = nuclei["pt_position"].iloc[0].tolist()  # tutorial: [100,100,10] (outside the sample)
    stage.add(cell_type="pyramidal_cell", classification_system="excitatory", pt_position=soma)
    with pytest.raises(Exception):  # validated locally, before anything is sent
        stage.add(cell_type="pyramidal_cell", pt_position=soma)
    assert len(stage.annotation_list) == 1 and len(stage.annotation_dataframe()) == 1
    ids = client.annotation.upload_staged_annotations(stage)
    assert len(ids) == 1
    update_stage = client.annotation.stage_annotations("my_table", update=True)
    update_stage.add(id=int(ids[0]), cell_type="stellate_cell", classification_system="excitatory",
                     pt_position=soma)
    new_ids = client.annotation.upload_staged_annotations(update_stage)  # {old_id: new_id}
    assert list(new_ids) == [str(ids[0])]
    assert client.annotation.get_annotation("my_table", int(new_ids[str(ids[0])]))[0]["cell_type"] == "stellate_cell"
    stage = client.annotation.stage_annotations("my_table", annotation_resolution=[8, 8, 40])
    soma_vox = (np.asarray(soma) / [8, 8, 40]).tolist()
    stage.add(cell_type="pyramidal_cell", classification_system="excitatory", pt_position=soma_vox)
    (posted,) = client.annotation.upload_staged_annotations(stage)
    row = client.annotation.get_annotation("my_table", int(posted))[0]
    np.testing.assert_allclose(row["pt_position"], soma)  # stored in nm (rows as the real engine returns them)
    # the materialized view of the new table gives the soma's root (the sample materializes live)
    live = client.materialize.live_live_query("my_table", datetime.datetime.now(datetime.timezone.utc),
                                              log_warning=False)
    assert int(nuclei["pt_root_id"].iloc[0]) in set(live["pt_root_id"].astype(int))


def test_skeletonization(client, nuclei):
    assert client.skeleton.get_version()  # a version string (the SkeletonService release)
    versions = client.skeleton.get_versions()
    assert max(versions) == 4
    root_id = int(nuclei["pt_root_id"].iloc[0])
    sk = client.skeleton.get_skeleton(root_id, output_format="dict")
    assert len(sk["vertices"]) == len(sk["radius"]) == len(sk["compartment"]) == len(sk["edges"]) + 1
    swc = client.skeleton.get_skeleton(root_id, skeleton_version=4, output_format="swc")
    assert len(swc) == len(sk["vertices"])
    np.testing.assert_allclose(swc[["x", "y", "z"]].to_numpy(), np.asarray(sk["vertices"]) / 1000, atol=1e-3)
    sk3 = client.skeleton.get_skeleton(root_id, datastack_name=client.datastack_name, skeleton_version=3,
                                       output_format="dict")
    assert sk3["meta"]["skeleton_version"] == 3
    roots = nuclei["pt_root_id"].iloc[:2].astype(int).tolist()
    bulk = client.skeleton.get_bulk_skeletons(root_ids=roots)
    assert {int(k) for k in bulk} == set(roots)
    assert len(bulk[str(root_id)]["vertices"]) == len(sk["vertices"])
    # the cache-management calls: the sample makes any root's skeleton on request, so every root
    # is "cached", none is refused and there is nothing left to generate
    assert client.skeleton.skeletons_exist(root_ids=roots) == {r: True for r in roots}
    listed = client.skeleton.get_cache_contents(root_id_prefixes=[str(r) for r in roots], limit=0)
    assert listed["num_found"] == len(roots) and all(f"rid-{r}__" in " ".join(listed["files"]) for r in roots)
    assert list(client.skeleton.get_refusal_list()["ROOT_ID"]) == ["ROOT_ID"]  # the header only
    assert client.skeleton.generate_bulk_skeletons_async(roots, skeleton_version=4) == 0
    fetched = client.skeleton.fetch_skeletons(roots)
    np.testing.assert_array_equal(np.asarray(fetched[str(root_id)]["vertices"]), np.asarray(sk["vertices"]))
    # fetch_skeletons(method="gcs") reads the real service's bucket: a 501 that says so
    with pytest.raises(requests.HTTPError) as not_here:
        client.skeleton.fetch_skeletons(roots, method="gcs")
    assert not_here.value.response.status_code == 501
    assert "Google Cloud Storage" in not_here.value.response.text


def test_advanced_session_defaults(sample_service):
    from caveclient import CAVEclient, get_session_defaults, set_session_defaults

    before = get_session_defaults()
    try:
        set_session_defaults(max_retries=5, backoff_factor=0.5)
        client = CAVEclient("minnie65_sample", server_address=sample_service.url, auth_token=sample_service.token,
                            write_server_cache=False)
        # tutorial: client.get_session_defaults(), which CAVEclient does not have (AttributeError on
        # MICrONS too); the function it imports is meant
        assert get_session_defaults()["max_retries"] == 5
        assert client.materialize.session.adapters["http://"].max_retries.total == 5
        assert client.materialize.get_versions()
    finally:
        set_session_defaults(**{k: before[k] for k in ("max_retries", "backoff_factor")})
