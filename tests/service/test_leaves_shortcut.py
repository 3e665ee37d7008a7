"""The Viewer's own answers to graphene leaves requests agree with the chunkedgraph's.

neuroglancer's chunk worker answers a per-chunk leaves request itself once it knows the root's L2
chunks (empty where the root has no L2 node) and, for a small root, its supervoxels
(``js/viewer/ng/leaves.ts``). Here that code runs in node against the sample's chunkedgraph over
HTTP, on generated requests (chunk-aligned bounds as neuroglancer sends them, and unaligned
boxes; chunks near the neuron and far from it; roots, L2 ids, malformed and unknown ids), and
every answer it gives must be the server's answer, supervoxel for supervoxel.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
JS = ROOT / "js"


@pytest.fixture(scope="module")
def oracle(tmp_path_factory):
    """``decide(urls) -> (empty flags, answered)``, the TypeScript oracle run by node."""
    esbuild = JS / "node_modules" / ".bin" / "esbuild"
    if shutil.which("node") is None or not esbuild.exists():
        pytest.fail("node and the front-end's node_modules are needed (cd js && npm ci)")
    bundle = tmp_path_factory.mktemp("leaves") / "leaves.mjs"
    subprocess.run([str(esbuild), str(JS / "viewer/ng/leaves.ts"), "--bundle", "--format=esm", "--platform=node",
                    f"--outfile={bundle}", "--log-level=warning"], check=True)
    return bundle


@pytest.fixture(scope="module")
def graph(sample_service, sample_client):
    import requests

    api = f"{sample_service.url}/segmentation/api/v1/table/{sample_client.chunkedgraph.table_name}"
    info_url = f"{sample_service.url}/segmentation/table/{sample_client.chunkedgraph.table_name}/info"
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {sample_service.token}"
    info = session.get(info_url).json()
    resolution = info["scales"][0]["resolution"]
    nuclei = sample_client.materialize.query_table("nucleus_detection_v0", desired_resolution=resolution)
    nuclei = nuclei[nuclei["pt_root_id"] > 0]
    roots = [int(r) for r in nuclei["pt_root_id"]][:10]
    first = nuclei.iloc[0]
    nucleus = (int(first["pt_root_id"]), [int(v) for v in first["pt_position"]])
    return {"api": api, "info": info, "roots": roots, "nucleus": nucleus, "session": session, "token": sample_service.token}


def decide(bundle: Path, token: str, urls: list[str]) -> tuple[list[set[int] | None], int, int]:
    """Per URL the oracle's own answer (None: left to the server); how many it answered empty
    and how many with supervoxels."""
    out = subprocess.run(["node", str(JS.parent / "tests/service/js/leaves_oracle.mjs"), str(bundle), token],
                         input=json.dumps(urls), capture_output=True, text=True, timeout=300, check=True)
    got = json.loads(out.stdout)
    local = [None if ids is None else {int(x) for x in ids} for ids in got["local"]]
    return local, got["answered"], got["filled"]


def leaves(graph, url) -> set[int]:
    reply = graph["session"].get(url)
    assert reply.status_code == 200, (url, reply.text[:200])
    return {int(x) for x in reply.json()["leaf_ids"]}


def l2_chunks(graph, root) -> list[tuple[int, int, int]]:
    """The chunk of each of ``root``'s L2 nodes, from the ids' bits (PyChunkedGraph's layout)."""
    layer_bits = graph["info"]["graph"].get("n_bits_for_layer_id", 8)
    bits = graph["info"]["graph"]["spatial_bit_masks"]["2"]
    ids = graph["session"].get(f"{graph['api']}/node/{root}/leaves?int64_as_str=1&stop_layer=2").json()["leaf_ids"]
    shift = 64 - layer_bits - bits
    return [tuple((int(i) >> (shift - k * bits)) & ((1 << bits) - 1) for k in range(3)) for i in ids]


def _grid(info):
    size = info["graph"]["chunk_size"]
    offset = info["scales"][0].get("voxel_offset", [0, 0, 0])
    shape = info["scales"][0]["size"]
    return size, offset, [s // c for s, c in zip(shape, size)]


def test_generated_requests_answered_as_the_server_does(oracle, graph):
    size, offset, grid = _grid(graph["info"])
    rng = random.Random(7)
    near = {root: l2_chunks(graph, root) for root in graph["roots"]}
    urls, aligned = [], []
    for _ in range(400):
        root = rng.choice(graph["roots"])
        # a third in chunks the neuron reaches, the rest anywhere in the volume
        chunk = list(rng.choice(near[root])) if rng.random() < 0.33 else [rng.randrange(0, g + 1) for g in grid]
        lo = [offset[i] + chunk[i] * size[i] for i in range(3)]
        aligned.append(rng.random() < 0.5)
        if aligned[-1]:  # what neuroglancer sends: one chunk
            hi = [lo[i] + size[i] for i in range(3)]
        else:
            lo = [lo[i] + rng.randrange(size[i]) for i in range(3)]
            hi = [lo[i] + rng.randrange(1, 3 * size[i]) for i in range(3)]
        urls.append(f"{graph['api']}/node/{root}/leaves?int64_as_str=1&bounds=" + "_".join(f"{a}-{b}" for a, b in zip(lo, hi)))
    local, answered, filled = decide(oracle, graph["token"], urls)
    assert answered == sum(ids == set() for ids in local) > 200  # most random chunks miss a neuron
    # with the roots' supervoxels known, every request on the chunk grid is answered here
    assert all(ids is not None for ids, a in zip(local, aligned) if a)
    assert filled > 40
    for url, ids in zip(urls, local):
        if ids is not None:
            assert leaves(graph, url) == ids, url


def test_a_plane_of_chunks_around_a_neuron(oracle, graph):
    """The chunks around a nucleus in its z plane, as an xy view asks for them: every one
    answered without the server, each as the server answers it."""
    size, offset, grid = _grid(graph["info"])
    root, (x, y, z) = graph["nucleus"]
    cx, cy, cz = ((x - offset[0]) // size[0], (y - offset[1]) // size[1], (z - offset[2]) // size[2])
    urls = []
    for i in range(max(0, cx - 10), min(grid[0], cx + 11)):
        for j in range(max(0, cy - 10), min(grid[1], cy + 11)):
            lo = [offset[0] + i * size[0], offset[1] + j * size[1], offset[2] + cz * size[2]]
            urls.append(f"{graph['api']}/node/{root}/leaves?int64_as_str=1&bounds=" + "_".join(f"{a}-{a + s}" for a, s in zip(lo, size)))
    truth = [leaves(graph, u) for u in urls]
    local, answered, filled = decide(oracle, graph["token"], urls)
    found = sum(bool(t) for t in truth)
    assert found >= 5  # the plane goes through the neuron
    assert local == truth
    assert answered + filled == len(urls) and filled >= found


def test_requests_it_cannot_decide_are_left_to_the_server(oracle, graph):
    api, root = graph["api"], graph["roots"][1]
    far = "0-1_0-1_0-1"
    l2 = graph["session"].get(f"{api}/node/{root}/leaves?int64_as_str=1&stop_layer=2").json()["leaf_ids"]
    unknown = (root >> 56 << 56) | 0xFFFFFF  # a root-layer id the graph has no node for
    urls = [
        f"{api}/node/{root}/leaves?int64_as_str=1&stop_layer=2&bounds={far}",  # L2 ids asked for
        f"{api}/node/{root}/leaves?int64_as_str=1",  # no bounds
        f"{api}/node/{root}/leaves?int64_as_str=1&bounds=nonsense",
        f"{api}/node/{root}/leaves?int64_as_str=1&bounds=-16-0_0-16_0-8",
        f"{api}/node/{l2[0]}/leaves?int64_as_str=1&bounds={far}",  # an L2 node, not a root
        f"{api}/node/{unknown}/leaves?int64_as_str=1&bounds={far}",  # the server's 404 stays
        f"{api}/node/{2**64}/leaves?int64_as_str=1&bounds={far}",
        f"{api}/node/{root}/root?int64_as_str=1&bounds={far}",
    ]
    local, answered, filled = decide(oracle, graph["token"], urls)
    assert local == [None] * len(urls) and answered == filled == 0


def test_a_request_waits_for_its_roots_lookups(oracle, graph):
    """What the chunk worker calls: the first request of a root waits for the root's lookups
    (the graphene info, its L2 ids, its supervoxels) and is answered from them, as the server
    would; with no time to wait it goes to the server."""
    size, offset, _ = _grid(graph["info"])
    root = graph["roots"][2]
    chunk = l2_chunks(graph, root)[0]
    lo = [offset[i] + chunk[i] * size[i] for i in range(3)]
    url = f"{graph['api']}/node/{root}/leaves?int64_as_str=1&bounds=" + "_".join(f"{a}-{a + s}" for a, s in zip(lo, size))
    run = lambda wait: json.loads(subprocess.run(  # noqa: E731
        ["node", str(JS.parent / "tests/service/js/leaves_oracle.mjs"), str(oracle), graph["token"], str(wait)],
        input=json.dumps([url]), capture_output=True, text=True, timeout=300, check=True).stdout)[0]
    waited = run(60_000)
    assert waited["ids"] is not None and {int(x) for x in waited["ids"]} == leaves(graph, url) != set()
    assert [a.split("?")[0].rsplit("/", 1)[-1] for a in waited["asked"]] == ["info", "leaves", "leaves"]
    assert run(0)["ids"] is None
