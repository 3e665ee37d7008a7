"""Viewer state building, exact uint64 segments, positions in nm, token scrubbing, and the
middleauth credentials answered from Python."""

from __future__ import annotations

import json

import pytest

from cavewidgets.viewer import credentials
from cavewidgets.viewer import state as st

BIG = 864691135808684573  # > 2^53: a float would round it
SV = (1 << 56) | 12345  # a graphene layer-1 id (supervoxel)
TOKEN = "0123456789abcdef0123456789abcdef"


def test_build_state_uses_middleauth_for_graphene_and_centres_in_voxels():
    s = st.build_state(
        "precomputed://http://127.0.0.1:9/precomputed/image",
        "graphene://http://127.0.0.1:9/segmentation/table/pcg",
        [512, 512, 640],
        center_nm=[131072, 360448, 20480],
    )
    assert s["dimensions"] == {"x": [5.12e-07, "m"], "y": [5.12e-07, "m"], "z": [6.4e-07, "m"]}
    assert s["position"] == [256.0, 704.0, 32.0]
    img, seg = s["layers"]
    assert img == {"type": "image", "source": "precomputed://http://127.0.0.1:9/precomputed/image", "name": "img"}
    assert seg["source"] == "graphene://middleauth+http://127.0.0.1:9/segmentation/table/pcg"
    assert seg["type"] == "segmentation" and seg["segments"] == []
    assert st.position_nm(s) == pytest.approx((131072, 360448, 20480))


def test_middleauth_source_is_idempotent_and_leaves_other_schemes():
    assert st.middleauth_source("graphene://https://h/segmentation/table/x") == "graphene://middleauth+https://h/segmentation/table/x"
    assert st.middleauth_source("graphene://middleauth+https://h/x") == "graphene://middleauth+https://h/x"
    assert st.middleauth_source("precomputed://gs://bucket/x") == "precomputed://gs://bucket/x"
    assert st.source_origin("graphene://middleauth+https://h.org:8/x") == "https://h.org:8"
    assert st.source_origin("precomputed://gs://b/x") is None


def test_use_middleauth_converts_only_graphene_sources_on_the_clients_origins():
    s = {"layers": [
        {"name": "a", "type": "segmentation", "source": "graphene://https://cave.org/segmentation/table/x"},
        {"name": "b", "type": "segmentation", "source": "graphene://https://other.org/segmentation/table/x"},
        {"name": "c", "type": "image", "source": [{"url": "precomputed://https://cave.org/img"}]},
    ]}
    out = st.use_middleauth(s, ["https://cave.org"])
    assert out["layers"][0]["source"] == "graphene://middleauth+https://cave.org/segmentation/table/x"
    assert out["layers"][1]["source"] == s["layers"][1]["source"]
    assert out["layers"][2]["source"] == [{"url": "precomputed://https://cave.org/img"}]
    assert s["layers"][0]["source"].startswith("graphene://https")  # input untouched


def test_segments_are_exact_uint64_both_ways():
    s = st.build_state(None, "graphene://http://h/segmentation/table/p", [4, 4, 40])
    s2 = st.with_segments(s, [BIG, str(BIG + 2)], colors={BIG: "#ff0000"})
    seg = s2["layers"][0]
    assert seg["segments"] == [str(BIG), str(BIG + 2)]
    assert seg["segmentColors"] == {str(BIG): "#ff0000"}
    assert st.segments_of(s2) == {BIG, BIG + 2}
    assert json.loads(json.dumps(s2))["layers"][0]["segments"][0] == "864691135808684573"
    assert st.segments_of(s) == set()  # the input was not changed


def test_hidden_and_supervoxel_entries():
    s = {"layers": [{"name": "seg", "type": "segmentation", "source": "graphene://http://h/x",
                     "segments": [str(BIG), f"!{BIG + 1}", str(SV)]}]}
    assert st.segments_of(s) == {BIG, SV}
    assert st.segments_of(s, roots_only=True) == {BIG}
    out = st.with_segments(s, [BIG + 1])
    assert out["layers"][0]["segments"] == [str(BIG + 1)]
    out = st.with_segments(s, [BIG])
    assert out["layers"][0]["segments"] == [str(BIG), f"!{BIG + 1}"]


def test_parse_id_rejects_what_would_lose_precision():
    assert st.parse_id(str(BIG)) == BIG
    assert st.parse_id(BIG) == BIG
    import numpy as np

    assert st.parse_id(np.uint64(BIG)) == BIG
    with pytest.raises(ValueError, match="float"):
        st.parse_id(float(BIG))
    with pytest.raises(ValueError, match="uint64"):
        st.parse_id(1 << 64)
    with pytest.raises(ValueError):
        st.parse_id("12a")
    with pytest.raises(ValueError):
        st.parse_id(True)


def test_segmentation_layer_required_for_segments():
    with pytest.raises(ValueError, match="no segmentation layer"):
        st.with_segments({"layers": [{"name": "img", "type": "image", "source": "x"}]}, [1])


def test_positions_convert_between_nm_and_voxels():
    s = {"dimensions": {"x": [4e-9, "m"], "y": [4e-9, "m"], "z": [4e-8, "m"]}, "position": [10, 20, 30]}
    assert st.position_nm(s) == pytest.approx((40, 80, 1200))
    assert st.voxels_from_nm(s, [40, 80, 1200]) == pytest.approx([10, 20, 30])
    assert st.position_nm({"position": [1, 2, 3]}, fallback_resolution=[2, 2, 2]) == (2, 4, 6)
    assert st.position_nm({}) is None
    with pytest.raises(ValueError, match="3 coordinates"):
        st.voxels_from_nm(s, [1, 2])


def test_scrub_tokens_removes_query_params_and_raw_occurrences():
    s = {
        "layers": [
            {"source": f"graphene://https://h/seg?middle_auth_token={TOKEN}", "name": "seg"},
            {"source": f"precomputed://https://h/img?a=1&middle_auth_token={TOKEN}&b=2", "name": "img"},
        ],
        "note": f"token is {TOKEN}",
        TOKEN: 1,
    }
    out = st.scrub_tokens(s, [TOKEN])
    text = json.dumps(out)
    assert TOKEN not in text
    assert out["layers"][0]["source"] == "graphene://https://h/seg"
    assert out["layers"][1]["source"] == "precomputed://https://h/img?a=1&b=2"
    assert TOKEN in json.dumps(s)  # the input is untouched


def test_coerce_state_accepts_dict_url_json_and_viewer_state():
    import neuroglancer

    s = st.build_state(None, "graphene://http://h/x", [4, 4, 40])
    s = st.with_segments(s, [BIG])
    url = st.to_url(s, "https://ng.example.org")
    assert url.startswith("https://ng.example.org/#!")
    back = st.coerce_state(url)
    assert st.segments_of(back) == {BIG}
    assert st.coerce_state(json.dumps(s)) == s
    assert st.segments_of(st.coerce_state(neuroglancer.ViewerState(s))) == {BIG}
    with pytest.raises(ValueError):
        st.coerce_state("not a state")
    with pytest.raises(TypeError):
        st.coerce_state(42)


def test_voxel_center():
    info = {"scales": [{"resolution": [512, 512, 640], "size": [512, 1408, 64], "voxel_offset": [0, 0, 0]}]}
    assert st.voxel_center_nm(info) == [131072.0, 360448.0, 20480.0]
    assert st.voxel_center_nm({}) is None
    assert st.voxel_extent_nm(info) == [262144.0, 720896.0, 40960.0]
    s = st.build_state(None, None, [512, 512, 640], extent_nm=st.voxel_extent_nm(info))
    assert s["projectionScale"] == pytest.approx(1408 * 1.15)


def test_middleauth_credentials_answer_in_neuroglancers_format():
    credentials.register_origin("http://127.0.0.1:1234", lambda: TOKEN, owner=-1)
    try:
        creds = credentials.middleauth_credentials("http://127.0.0.1:1234")
        assert creds == {"tokenType": "Bearer", "accessToken": TOKEN, "url": "http://127.0.0.1:1234", "appUrls": ["http://127.0.0.1:1234"]}
        from neuroglancer.default_credentials_manager import default_credentials_manager

        provider = default_credentials_manager.get("middleauthapp", "http://127.0.0.1:1234")
        got = provider.get(None).result(timeout=5)
        assert got["credentials"]["accessToken"] == TOKEN and isinstance(got["generation"], int)
        # the browser says that token was rejected and the token did not change: fail, don't loop
        with pytest.raises(credentials.CredentialsError):
            provider.get(got["generation"]).result(timeout=5)
    finally:
        credentials.unregister_owner(-1)
    with pytest.raises(credentials.CredentialsError):
        credentials.middleauth_credentials("http://127.0.0.1:1234")


# ---------- the widget without a browser (the sample service, no kernel) ----------
@pytest.fixture(scope="module")
def client():
    import cavewidgets

    return cavewidgets.sample.client()


def test_viewer_from_client_python_api_round_trip(client):
    import neuroglancer

    import cavewidgets

    v = cavewidgets.Viewer(client, height=400)
    try:
        token = client.auth.token
        s = v.state
        assert [l["name"] for l in s["layers"]] == ["img", "seg"]
        assert s["layers"][1]["source"].startswith("graphene://middleauth+http://127.0.0.1:")
        assert v.position is not None and len(v.position) == 3
        v.segments = {BIG, str(BIG + 7)}
        assert v.segments == {BIG, BIG + 7}
        assert v.state["layers"][1]["segments"] == [str(BIG), str(BIG + 7)]
        v.add_segments([BIG + 9], colors=["#00ff00"])
        v.remove_segments(BIG)
        assert v.segments == {BIG + 7, BIG + 9}
        assert v.state["layers"][1]["segmentColors"] == {str(BIG + 9): "#00ff00"}
        with pytest.raises(ValueError, match="float"):
            v.add_segments([float(BIG)])
        v.go_to([1000, 2000, 6400])
        assert v.position == pytest.approx((1000, 2000, 6400))
        assert v.state["position"] == pytest.approx([1000 / 512, 2000 / 512, 10])
        v.position = (5120, 5120, 640)
        assert v.state["position"] == pytest.approx([10, 10, 1])
        v.layout = "3d"
        assert v.layout == "3d"
        with pytest.raises(ValueError, match="unknown layout"):
            v.layout = "sideways"
        for text in (json.dumps(v.state), v.url(), json.dumps(v.get_state(), default=str)):
            assert token not in text
        assert v.url().startswith(client.info.viewer_site().rstrip("/") + "/#!")
        # no server of its own: the browser reaches the sample through the kernel (loopback)
        assert v.kernel_origins == [client.server_address.rstrip("/")] and len(v._ng_bundle_hash) == 16
        assert v._proxy.routed(v.state["layers"][1]["source"]) and v._proxy.routed(v.state["layers"][0]["source"])
        assert not isinstance(v._ng, neuroglancer.Viewer)  # a bare state: no server registered
    finally:
        v.close()
    assert v._channel._closed


def test_viewer_from_state_url_keeps_ids_and_strips_tokens(client):
    import cavewidgets

    token = client.auth.token
    seg = client.info.segmentation_source() + f"?middle_auth_token={token}"
    s = st.with_segments(st.build_state(None, seg, [512, 512, 640]), [BIG])
    v = cavewidgets.Viewer(client, state=st.to_url(s))
    try:
        assert v.segments == {BIG}
        assert token not in json.dumps(v.state) and token not in json.dumps(v._raw_state())
        assert "middleauth+" in v.state["layers"][0]["source"]
    finally:
        v.close()
    with pytest.raises(ValueError, match="height"):
        cavewidgets.Viewer(client, height=20)


def test_share_posts_token_free_state_that_round_trips(client):
    import cavewidgets

    v = cavewidgets.Viewer(client, height=400)
    try:
        v.segments = {BIG}
        link = v.share()
        state_id = int(link.rstrip("/").rsplit("/", 1)[-1])
        assert link.startswith(client.info.viewer_site().rstrip("/") + "/#!middleauth+http://127.0.0.1:")
        posted = client.state.get_state_json(state_id)
        assert posted == json.loads(json.dumps(v.state))
        assert posted["layers"][1]["segments"] == [str(BIG)]
        assert client.auth.token not in json.dumps(posted) and client.auth.token not in link
    finally:
        v.close()
    bare = cavewidgets.Viewer(state={"layers": []})
    try:
        with pytest.raises(RuntimeError, match="needs a CAVEclient"):
            bare.share()
    finally:
        bare.close()


def test_screenshot_without_a_browser_times_out_clearly_and_withdraws_the_request(client):
    import cavewidgets

    v = cavewidgets.Viewer(client, height=400)
    try:
        with pytest.raises(TimeoutError, match="no browser answered.*display the viewer"):
            v.screenshot(timeout=0.3)
        assert v._ng._screenshot_callbacks == {}
        assert v._ng.config_state.state.screenshot is None
    finally:
        v.close()
    with pytest.raises(RuntimeError, match="closed"):
        v.screenshot(timeout=0.1)
