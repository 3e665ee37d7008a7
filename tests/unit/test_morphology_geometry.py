"""Morphology panel geometry: quantization, decimation, the binary payload, synapse frames."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import trimesh

from cavewidgets.morphology import skeletonize
from cavewidgets.morphology._data import prepare_synapses
from cavewidgets.morphology._geometry import build_payload, decimate, dequantize, quantize

BIG = 864691135808684573  # > 2**53


def decode(meta, buffers):
    """What the browser does (js/morphology/decode.ts), in numpy."""
    out = {}
    for spec in meta["buffers"]:
        arr = np.frombuffer(buffers[spec["index"]], dtype=np.dtype(spec["dtype"]).newbyteorder("<"))
        out[spec["name"]] = arr.reshape(spec["shape"])
    return out


def y_skeleton(root_id=BIG):
    l2 = np.uint64(BIG) + np.arange(7, dtype=np.uint64)
    pos = np.array([[0, 0, 0], [1000, 0, 0], [2000, 0, 0], [3000, 1000, 0], [4000, 2000, 0],
                    [3000, -1000, 0], [4000, -2000, 500]], dtype=float)
    edges = np.array([[l2[0], l2[1]], [l2[1], l2[2]], [l2[2], l2[3]], [l2[3], l2[4]], [l2[2], l2[5]], [l2[5], l2[6]]])
    return skeletonize(l2, pos, edges, root_id=root_id,
                       attributes={"max_dt_nm": np.full(7, 300.0), "size_nm3": np.arange(7, dtype=float) * 1e6})


def synapse_frame(root=BIG, n=6, resolution=None):
    rng = np.random.default_rng(0)
    pre = np.full(n, root, dtype=np.uint64)
    pre[n // 2:] = np.uint64(BIG + 99)
    post = np.full(n, np.uint64(BIG + 42), dtype=np.uint64)
    post[n // 2:] = np.uint64(root)
    df = pd.DataFrame({
        "id": np.uint64(2**60) + np.arange(n, dtype=np.uint64),  # synapse ids above 2^53 too
        "size": rng.integers(50, 5000, n),
        "pre_pt_root_id": pre, "post_pt_root_id": post,
        "ctr_pt_position": list(rng.uniform(0, 4000, (n, 3)).round()),
    })
    if resolution is not None:
        df.attrs["dataframe_resolution"] = resolution
    return df


# ---------- quantization ----------
def test_quantize_round_trip_within_half_a_step():
    pts = np.random.default_rng(1).uniform([1e5, 2e4, 0], [3.5e5, 2.8e5, 6e4], (5000, 3))
    q, off, sc = quantize(pts)
    assert q.dtype == np.uint16 and q.shape == pts.shape
    assert q.min() == 0 and q.max() == 65535
    err = np.abs(dequantize(q, off, sc) - pts)
    assert (err <= sc / 2 + 1e-9).all()
    assert err.max() < 3.0  # nm, over a 250 µm box


def test_quantize_flat_axis_single_point_and_empty():
    pts = np.array([[5.0, 1.0, 7.0], [6.0, 1.0, 7.0]])
    q, off, sc = quantize(pts)
    np.testing.assert_allclose(dequantize(q, off, sc), pts)
    q1, off1, sc1 = quantize([[1.5, 2.5, 3.5]])
    np.testing.assert_allclose(dequantize(q1, off1, sc1), [[1.5, 2.5, 3.5]])
    q0, _, _ = quantize(np.zeros((0, 3)))
    assert q0.shape == (0, 3) and q0.dtype == np.uint16


@pytest.mark.parametrize("bad", [np.zeros((4, 2)), np.zeros(3), [[np.nan, 0, 0]], [[np.inf, 0, 0]]])
def test_quantize_refuses_bad_points(bad):
    with pytest.raises(ValueError):
        quantize(bad)


# ---------- decimation ----------
def test_decimate_an_icosphere_to_the_budget_keeps_its_shape():
    sphere = trimesh.creation.icosphere(subdivisions=6, radius=10_000.0)  # 81,920 triangles
    v, f = decimate(sphere.vertices, sphere.faces, 5_000)
    assert 4_000 <= len(f) <= 5_100
    assert f.max() < len(v)
    r = np.linalg.norm(v, axis=1)
    assert np.abs(r - 10_000).max() < 300  # still a sphere
    assert trimesh.Trimesh(v, f).area == pytest.approx(sphere.area, rel=0.02)


def test_decimate_leaves_small_meshes_and_none_alone():
    sphere = trimesh.creation.icosphere(subdivisions=2)
    v, f = decimate(sphere.vertices, sphere.faces, 10_000)
    assert np.array_equal(f, sphere.faces) and np.array_equal(v, sphere.vertices)
    v, f = decimate(sphere.vertices, sphere.faces, None)
    assert len(f) == len(sphere.faces)
    with pytest.raises(ValueError):
        decimate(sphere.vertices, sphere.faces, 0)


# ---------- payload ----------
def test_payload_round_trips_every_part_with_exact_ids():
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=2000.0)
    sk = y_skeleton()
    syn = prepare_synapses(synapse_frame(), BIG)
    meta, buffers = build_payload(mesh=(sphere.vertices, sphere.faces), skeleton=sk, synapses=syn, full_triangles=99_999)
    assert all(isinstance(b, bytes) for b in buffers)
    assert meta["bytes"] == sum(len(b) for b in buffers)
    got = decode(meta, buffers)
    # mesh
    assert meta["mesh"]["triangles"] == len(sphere.faces) and meta["mesh"]["full_triangles"] == 99_999
    assert got["mesh.faces"].dtype == np.uint16  # < 65,536 vertices
    assert np.array_equal(got["mesh.faces"], sphere.faces)
    xyz = dequantize(got["mesh.positions"], meta["mesh"]["offset"], meta["mesh"]["scale"])
    assert np.abs(xyz - sphere.vertices).max() < 0.1
    # skeleton
    nd = sk.nodes
    assert np.array_equal(got["skeleton.parents"], nd.parent_id.to_numpy())
    sxyz = dequantize(got["skeleton.positions"], meta["skeleton"]["offset"], meta["skeleton"]["scale"])
    assert np.abs(sxyz - nd[["x", "y", "z"]].to_numpy()).max() < 0.1
    names = [c["name"] for c in meta["skeleton"]["columns"]]
    assert "radius" in names and "size_nm3" in names and "node_id" not in names and "x" not in names
    np.testing.assert_allclose(got["skeleton.column.size_nm3"], nd.size_nm3.to_numpy(), rtol=1e-6)
    # synapses: ids above 2^53 exact, direction and size
    assert got["synapses.ids"].dtype == np.uint64
    assert [int(x) for x in got["synapses.ids"]] == [int(x) for x in syn["id"]]
    assert int(got["synapses.ids"][0]) == 2**60
    assert got["synapses.output"].tolist() == (syn.direction == "output").astype(int).tolist()
    assert meta["synapses"]["inputs"] + meta["synapses"]["outputs"] == len(syn)
    np.testing.assert_allclose(got["synapses.size"], syn["size"].to_numpy())


def test_payload_metadata_is_small_no_json_lists_of_numbers():
    big = trimesh.creation.icosphere(subdivisions=6)  # 40,962 vertices
    v = np.concatenate([big.vertices, big.vertices + 3])  # > 65,536 vertices: uint32 faces
    f = np.concatenate([big.faces, big.faces + len(big.vertices)])
    meta, buffers = build_payload(mesh=(v * 1000, f))
    assert len(json.dumps(meta)) < 1_000
    got = decode(meta, buffers)
    assert got["mesh.faces"].dtype == np.uint32 and np.array_equal(got["mesh.faces"], f)


def test_payload_rejects_faces_beyond_the_vertices():
    with pytest.raises(ValueError, match="faces"):
        build_payload(mesh=(np.zeros((3, 3)), np.array([[0, 1, 3]])))


def test_payload_skeleton_without_soma_and_unknown_compartments():
    sk = y_skeleton()
    meta, buffers = build_payload(skeleton=sk)
    assert meta["skeleton"]["soma_node"] == -1
    assert set(decode(meta, buffers)["skeleton.compartment"].tolist()) == {0}  # all "unknown"
    sk.nodes.loc[0, "compartment"] = "soma"
    sk.nodes.loc[3, "compartment"] = "axon"
    meta, buffers = build_payload(skeleton=sk)
    codes = decode(meta, buffers)["skeleton.compartment"]
    comp = meta["skeleton"]["compartments"]
    assert comp[codes[0]] == "soma" and comp[codes[3]] == "axon" and meta["skeleton"]["soma_node"] == 0


# ---------- synapse frames ----------
def test_prepare_synapses_direction_and_units():
    df = synapse_frame(resolution=[4, 4, 40])
    out = prepare_synapses(df, BIG)
    assert out.direction.tolist() == ["output"] * 3 + ["input"] * 3
    np.testing.assert_allclose(out[["x", "y", "z"]].to_numpy(), np.stack(df.ctr_pt_position) * [4, 4, 40])
    assert out.attrs["dataframe_resolution"] == [1.0, 1.0, 1.0]
    assert [int(x) for x in out["id"]] == [int(x) for x in df["id"]]
    nm = prepare_synapses(synapse_frame(), BIG)  # no resolution: already nm
    np.testing.assert_allclose(nm[["x", "y", "z"]].to_numpy(), np.stack(df.ctr_pt_position))


def test_prepare_synapses_keeps_only_the_roots_rows_and_explains_bad_frames():
    df = synapse_frame()
    other = df.copy()
    other["pre_pt_root_id"] = np.uint64(5)
    other["post_pt_root_id"] = np.uint64(6)
    assert len(prepare_synapses(pd.concat([df, other], ignore_index=True), BIG)) == len(df)
    with pytest.raises(ValueError, match="none of the"):
        prepare_synapses(other, BIG)
    with pytest.raises(ValueError, match="ctr_pt_position"):
        prepare_synapses(df.drop(columns="ctr_pt_position"), BIG)
    with pytest.raises(TypeError):
        prepare_synapses([1, 2, 3], BIG)
    empty = prepare_synapses(df.iloc[:0], BIG)
    assert len(empty) == 0 and {"x", "y", "z", "direction"} <= set(empty.columns)
