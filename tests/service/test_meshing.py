"""Meshes through the service: cloud-volume's graphene source, the manifest neuroglancer asks
for, and the static precomputed files (no token, Range, Content-Encoding)."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import requests
from cloudvolume import Bbox
from _graph_support import cg_client, edited, graph, graph_service, http_get  # noqa: F401

pytestmark = pytest.mark.service


@pytest.fixture(scope="module")
def cloudvolume(cg_client, graph_service):
    from cloudvolume import CloudVolume

    # the token goes in as `secrets`: nothing is read from or written to ~/.cloudvolume
    return CloudVolume(cg_client.info.segmentation_source(), secrets=graph_service.token,
                       progress=False, use_https=False)


def _rep_coords(cg_client, graph, root) -> np.ndarray:
    l2s = graph.members(root).tolist()
    data = cg_client.l2cache.get_l2data(l2s, attributes=["rep_coord_nm"])
    return np.array([data[str(x)]["rep_coord_nm"] for x in l2s], dtype=float)


def _check_mesh_matches_l2(mesh, reps, graph):
    res = np.array(graph.meta["segmentation_resolution"], dtype=float)
    chunk_nm = np.array(graph.chunk_size) * res
    lo, hi = mesh.vertices.min(axis=0), mesh.vertices.max(axis=0)
    # the surface encloses every L2 node's representative point (within a voxel)...
    assert (lo <= reps.min(axis=0) + res).all(), (lo, reps.min(axis=0))
    assert (hi >= reps.max(axis=0) - res).all(), (hi, reps.max(axis=0))
    # ...and extends no further than the chunks those L2 nodes live in
    assert (lo >= reps.min(axis=0) - chunk_nm).all()
    assert (hi <= reps.max(axis=0) + chunk_nm).all()


def test_cloudvolume_reads_the_mesh_of_the_largest_latest_root(cloudvolume, cg_client, graph):
    roots = graph.latest_roots()
    sizes = [len(graph.members(r)) for r in roots]
    root = int(roots[int(np.argmax(sizes))])
    mesh = cloudvolume.mesh.get(root, deduplicate_chunk_boundaries=False)[root]
    assert len(mesh.faces) > 100
    _check_mesh_matches_l2(mesh, _rep_coords(cg_client, graph, root), graph)


def test_an_edited_old_root_still_meshes(cloudvolume, cg_client, graph, edited):
    old, op, after = edited
    mesh = cloudvolume.mesh.get(old, deduplicate_chunk_boundaries=False)[old]
    _check_mesh_matches_l2(mesh, _rep_coords(cg_client, graph, old), graph)


def test_manifest_as_neuroglancer_asks(graph_service, graph):
    root = int(graph.latest_roots()[0])
    pcg = graph.meta["pcg_table"]
    r = http_get(graph_service, f"/meshing/api/v1/table/{pcg}/manifest/{root}:0?verify=1&prepend_seg_ids=1")
    assert r.status_code == 200
    fragments = r.json()["fragments"]
    members = {int(m) for m in graph.members(root)}
    assert fragments and all(f.startswith("~") for f in fragments)
    ids = [int(f[1:].split(":", 1)[0]) for f in fragments]
    assert len(set(ids)) == len(ids) and set(ids) <= members  # one key (an L2 id) per fragment
    # after the prefix: "~2/{file}:{offset}:{size}", a byte range of a file under <mesh>/initial/
    ref = fragments[0][1:].split(":", 1)[1]
    assert ref.startswith("~2/")
    file, offset, size = ref[3:].split(":")
    info = http_get(graph_service, f"/segmentation/table/{pcg}/info").json()
    url = f"{info['data_dir']}/{info['mesh']}/initial/2/{file}"
    end = int(offset) + int(size) - 1
    blob = requests.get(url, headers={"Range": f"bytes={offset}-{end}"}, timeout=30)  # no token
    assert blob.status_code == 206 and len(blob.content) == int(size)
    assert blob.content[:5] == b"DRACO"


def test_manifest_errors(graph_service, graph):
    pcg = graph.meta["pcg_table"]
    unknown = int(graph.root_ids.max()) + 1
    assert http_get(graph_service, f"/meshing/api/v1/table/{pcg}/manifest/{unknown}:0").status_code == 404
    assert http_get(graph_service, f"/meshing/api/v1/table/{pcg}/manifest/abc:0").status_code == 400
    assert http_get(graph_service, f"/meshing/api/v1/table/nope/manifest/{unknown}:0").status_code == 404
    assert requests.get(f"{graph_service.url}/meshing/api/v1/table/{pcg}/manifest/{unknown}:0").status_code == 401


def _a_compressed_chunk(graph):
    seg = graph.data_dir / graph.meta.get("segmentation_dir", "precomputed/segmentation")
    for path in sorted(seg.rglob("*.gz")):
        return path
    return None


def test_precomputed_files_without_token_with_range_and_encoding(graph_service, graph, cloudvolume):
    base = f"{graph_service.url}/precomputed/segmentation"
    info = requests.get(f"{base}/info", headers={"Origin": "http://localhost:8888"}, timeout=30)
    assert info.status_code == 200 and info.json()["type"] == "segmentation"
    assert info.headers["Access-Control-Allow-Origin"] == "http://localhost:8888"
    part = requests.get(f"{base}/info", headers={"Range": "bytes=0-9"}, timeout=30)
    assert part.status_code == 206 and part.content == info.content[:10]
    gz = _a_compressed_chunk(graph)
    if gz is not None:
        rel = gz.relative_to(graph.data_dir / "precomputed").as_posix()[: -len(".gz")]
        raw = requests.get(f"{graph_service.url}/precomputed/{rel}", stream=True, timeout=30)
        assert raw.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(raw.raw.read(decode_content=False)) == gzip.decompress(gz.read_bytes())
    assert requests.get(f"{base}/no/such/file", timeout=30).status_code == 404
    assert requests.get(f"{graph_service.url}/precomputed/%2e%2e/datastack.json", timeout=30).status_code == 404
    # cloud-volume reads the supervoxel segmentation through the graphene data_dir
    l2 = graph.members(graph.latest_roots()[0])[:1]
    lo = graph.chunk_of(l2)[0] * np.array(graph.chunk_size) + graph.voxel_offset
    shape = np.array(graph.chunk_size)
    cutout = cloudvolume.download(Bbox(lo, lo + shape), agglomerate=False)
    assert cutout.dtype == np.uint64
    svs = np.unique(np.asarray(cutout))
    assert len(svs) > 1 and np.isin(svs[svs != 0], graph.sv_ids).all()
