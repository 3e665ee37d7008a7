"""The kernel's empty answers to graphene leaves requests agree with the chunkedgraph's own.

Every request goes both ways: through the viewer's proxy (which may answer from the root's L2
chunks, :mod:`cavewidgets.viewer.leaves`) and straight to the service; the supervoxels must be the
same, for generated roots and bounds (chunk-aligned as neuroglancer sends them, and not), near the
root and far from it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.append(str(Path(__file__).resolve().parents[1] / "unit"))  # the one home of the profiles
from hyp import examples  # noqa: E402


@pytest.fixture(scope="module")
def setup(sample_client):
    import cavewidgets

    viewer = cavewidgets.Viewer(sample_client, height=300)
    seg = next(layer["source"] for layer in viewer.state["layers"] if layer["source"].startswith("graphene://"))
    table_url = seg.split("middleauth+", 1)[1]  # http://127.0.0.1:P/segmentation/table/<t>
    api = table_url.replace("/segmentation/table/", "/segmentation/api/v1/table/", 1)
    proxy = viewer._proxy
    info = json.loads(proxy._request(table_url + "/info")[1])
    nuclei = sample_client.materialize.query_table("nucleus_detection_v0")
    roots = [int(r) for r in nuclei["pt_root_id"] if r > 0][:12]
    yield {"viewer": viewer, "proxy": proxy, "api": api, "info": info, "roots": roots}
    viewer.close()


def _both(proxy, url):
    shortcut = proxy.leaves.answered
    meta, body = proxy.fetch(url)
    mine = proxy.leaves.answered > shortcut
    server_meta, server_body = proxy._request(url)
    return mine, (meta["status"], body), (server_meta["status"], server_body)


def _leaf_set(body: bytes) -> set[int]:
    return {int(x) for x in json.loads(body)["leaf_ids"]}


@examples(150)
@given(data=st.data())
def test_kernel_answers_agree_with_the_chunkedgraph(setup, data):
    proxy, info = setup["proxy"], setup["info"]
    size = info["graph"]["chunk_size"]
    offset = info["scales"][0].get("voxel_offset", [0, 0, 0])
    shape = info["scales"][0]["size"]
    grid = [s // c for s, c in zip(shape, size)]
    root = data.draw(st.sampled_from(setup["roots"]), label="root")
    chunk = [data.draw(st.integers(0, g), label=f"chunk{i}") for i, g in enumerate(grid)]
    aligned = data.draw(st.booleans(), label="aligned")
    lo = [offset[i] + chunk[i] * size[i] for i in range(3)]
    if aligned:  # what neuroglancer sends: one chunk
        hi = [lo[i] + size[i] for i in range(3)]
    else:
        lo = [lo[i] + data.draw(st.integers(0, size[i] - 1)) for i in range(3)]
        hi = [lo[i] + data.draw(st.integers(1, 3 * size[i])) for i in range(3)]
    bounds = "_".join(f"{a}-{b}" for a, b in zip(lo, hi))
    url = f"{setup['api']}/node/{root}/leaves?int64_as_str=1&bounds={bounds}"
    mine, (status, body), (server_status, server_body) = _both(proxy, url)
    assert status == server_status == 200
    assert _leaf_set(body) == _leaf_set(server_body), (url, mine)
    if mine:
        assert _leaf_set(body) == set()


def test_most_chunks_of_a_view_are_answered_in_the_kernel_and_none_wrongly(setup):
    """A plane of chunks through the volume, as an xy view asks for them, for one root."""
    proxy, info = setup["proxy"], setup["info"]
    size, offset = info["graph"]["chunk_size"], info["scales"][0].get("voxel_offset", [0, 0, 0])
    shape = info["scales"][0]["size"]
    root = setup["roots"][0]
    z = shape[2] // size[2] // 2
    asked = answered = found = 0
    for cx in range(0, shape[0] // size[0]):
        for cy in range(0, shape[1] // size[1], 2):
            lo = [offset[0] + cx * size[0], offset[1] + cy * size[1], offset[2] + z * size[2]]
            bounds = "_".join(f"{a}-{a + s}" for a, s in zip(lo, size))
            mine, (status, body), (_, server_body) = _both(proxy, f"{setup['api']}/node/{root}/leaves?int64_as_str=1&bounds={bounds}")
            assert status == 200 and _leaf_set(body) == _leaf_set(server_body)
            asked += 1
            answered += mine
            found += bool(_leaf_set(server_body))
    assert found > 0  # the plane goes through the neuron
    assert answered >= 0.8 * (asked - found), (asked, answered, found)


def test_requests_it_cannot_decide_go_to_the_server(setup):
    proxy, api = setup["proxy"], setup["api"]
    root = setup["roots"][1]
    before = proxy.leaves.answered
    far = "0-1_0-1_0-1"
    # L2 ids of the root at stop_layer=2, no bounds, malformed bounds, an L2 node, an unknown root
    l2 = json.loads(proxy.fetch(f"{api}/node/{root}/leaves?int64_as_str=1&stop_layer=2")[1])["leaf_ids"]
    assert l2
    assert proxy.fetch(f"{api}/node/{root}/leaves?int64_as_str=1&stop_layer=2&bounds={far}")[0]["status"] == 200
    assert proxy.fetch(f"{api}/node/{root}/leaves?int64_as_str=1&bounds=nonsense")[0]["status"] == 400
    assert proxy.fetch(f"{api}/node/{l2[0]}/leaves?int64_as_str=1&bounds={far}")[0]["status"] == 200
    unknown = (int(root) >> 56 << 56) | 0xFFFFFF  # a root-layer id the graph has no node for
    meta, body = proxy.fetch(f"{api}/node/{unknown}/leaves?int64_as_str=1&bounds={far}")
    assert meta["status"] == 404, body
    assert proxy.fetch(f"{api}/node/{root}/leaves?int64_as_str=1&bounds={far}", method="POST")[0]["status"] in (404, 405)
    assert proxy.leaves.answered == before
