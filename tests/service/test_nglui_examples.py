"""The nglui documentation examples that use a CAVEclient, run against the sample.

From CAVEconnectome/nglui ``docs/index.md`` ("Building a state from CAVE data") and
``docs/usage/`` (statebuilder: link shortener, CAVEclient integration, segment properties;
segmentprops: the state server's property upload; parser: a state from the state server), with
only the client line and the example ids (nucleus 255258, state 6107390807113728, table
``allen_column_mtypes_v2``, which the sample does not have) changed.
"""

from __future__ import annotations

import json
import urllib.parse

import numpy as np
import pytest

pytestmark = pytest.mark.service

statebuilder = pytest.importorskip("nglui.statebuilder")


@pytest.fixture(scope="module")
def client(sample_service):
    from cavewidgets.sample import client as make_client

    return make_client(service=sample_service)  # tutorial: CAVEclient('minnie65_public')


@pytest.fixture()
def offline_deployment(monkeypatch):
    """caveclient's ``build_neuroglancer_url`` (which nglui's link shortener and segment properties
    call without a ``target_site``) first GETs ``{deployment}/version.json`` to tell a Spelunker
    deployment from an old one: a request to the internet, not to CAVE. Answered here as a Spelunker
    deployment answers it (any non-empty info); every CAVE request stays real.
    """
    from caveclient.jsonservice import JSONService

    seen = []

    def version_json(self, ngl_url=None):
        seen.append(ngl_url)
        return {"stand_in": "version.json of a Spelunker deployment (the real one is on the internet)"}

    monkeypatch.setattr(JSONService, "get_neuroglancer_info", version_json)
    return seen


def _state_of(url: str) -> dict:
    return json.loads(urllib.parse.unquote(url.split("#!", 1)[1]))


def test_make_neuron_neuroglancer_link(client):
    nucleus_id = int(client.materialize.query_table("nucleus_detection_v0", limit=1)["id"].iloc[0])  # 255258
    root_id = client.materialize.query_table("nucleus_detection_v0", filter_equal_dict={"id": nucleus_id})["pt_root_id"]
    link = statebuilder.helpers.make_neuron_neuroglancer_link(client, root_id, show_inputs=True, show_outputs=True,
                                                              return_as="url")
    state = _state_of(link)
    layers = {layer["name"]: layer for layer in state["layers"]}
    seg = next(layer for layer in state["layers"] if layer["type"] == "segmentation")
    assert seg["segments"] == [str(int(root_id.iloc[0]))]  # exact uint64, as a string
    assert seg["source"][0]["url"].startswith("graphene://") and client.server_address.split("//")[1] in \
        seg["source"][0]["url"]
    inputs = client.materialize.synapse_query(post_ids=int(root_id.iloc[0]))
    outputs = client.materialize.synapse_query(pre_ids=int(root_id.iloc[0]))
    assert len(layers["inputs"]["annotations"]) == len(inputs) > 0
    assert len(layers["outputs"]["annotations"]) == len(outputs) > 0


def test_layers_from_client_and_link_shortener(client, offline_deployment):
    viewer_state = statebuilder.ViewerState().add_layers_from_client(client)
    kinds = [type(layer).__name__ for layer in viewer_state.layers]
    assert kinds == ["ImageLayer", "SegmentationLayer"]
    assert viewer_state.layers[0].source == client.info.image_source()
    assert client.info.segmentation_source() in str(viewer_state.layers[1].source)
    short = viewer_state.to_link_shortener(client)
    state_id = int(short.rstrip("/").rsplit("/", 1)[1])
    assert f"{client.server_address}/nglstate/api/v1/{state_id}" in short
    assert client.state.get_state_json(state_id)["layers"] == json.loads(viewer_state.to_json_string())["layers"]
    short_url = viewer_state.to_url(shorten=True, client=client)
    assert "/nglstate/api/v1/" in short_url


def test_segment_properties_through_the_state_server(client, offline_deployment):
    ct_df = client.materialize.tables.aibs_metamodel_celltypes_v661.get_all(split_positions=True)  # allen_column_mtypes_v2
    vs = (statebuilder.ViewerState(client=client)
          .add_layers_from_client(segmentation="seg")
          .add_segment_properties(data=ct_df, id_column="pt_supervoxel_id", label_column="target_id",
                                  tag_value_columns=["cell_type"], random_columns=1))
    seg = vs.to_dict()["layers"][1]
    prop_url = [s["url"] if isinstance(s, dict) else s for s in seg["source"]][-1]
    prop_id = int(prop_url.rstrip("/").rsplit("/", 2)[-2] if prop_url.endswith("/info") else prop_url.rstrip("/").rsplit("/", 1)[1])
    props = client.state.get_property_json(prop_id)
    assert [int(i) for i in props["inline"]["ids"]] == [int(i) for i in ct_df["pt_supervoxel_id"]]
    tags = next(p for p in props["inline"]["properties"] if p["type"] == "tags")
    assert set(tags["tags"]) == set(ct_df["cell_type"])


def test_segmentprops_upload_and_url(client, offline_deployment):
    from nglui.segmentprops import SegmentProperties

    df = client.materialize.tables.aibs_metamodel_celltypes_v661.get_all()
    seg_prop = SegmentProperties.from_dataframe(df, id_col="pt_root_id", label_col="cell_type")
    ngl_url = "https://neuroglancer-demo.appspot.com"
    prop_id = client.state.upload_property_json(seg_prop.to_dict())
    prop_url = client.state.build_neuroglancer_url(prop_id, ngl_url=ngl_url, format_properties=True)
    assert prop_url == f"precomputed://middleauth+{client.server_address}/nglstate/api/v1/property/{prop_id}"
    assert offline_deployment == [ngl_url]  # the one request that is not CAVE's
    back = client.state.get_property_json(prop_id)
    assert [int(i) for i in back["inline"]["ids"]] == [int(i) for i in df["pt_root_id"]]
    assert max(int(i) for i in back["inline"]["ids"]) > 2**53  # exact through JSON


def test_parser_reads_a_state_from_the_state_server(client):
    from nglui import parser

    nucleus = client.materialize.query_table("nucleus_detection_v0", limit=3, desired_resolution=[1, 1, 1])
    built = (statebuilder.ViewerState().add_layers_from_client(client)
             .add_points(data=nucleus, name="somata", point_column="pt_position", segment_column="pt_root_id",
                         data_resolution=[1, 1, 1]))
    state_id = client.state.upload_state_json(json.loads(built.to_json_string()))  # 6107390807113728
    state_json = client.state.get_state_json(state_id)
    state_parser = parser.StateParser(state_json)
    layers = state_parser.layer_dataframe()
    assert list(layers["layer"]) == ["imagery", "segmentation", "somata"]
    points = state_parser.annotation_dataframe()
    assert len(points) == 3
    got = np.stack(points["point"].to_numpy())  # in the layer's 1 nm data resolution
    np.testing.assert_allclose(np.sort(got, axis=0), np.sort(np.stack(nucleus["pt_position"]), axis=0))
