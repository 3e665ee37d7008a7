"""skeletonize() on hand-made L2 graphs: shapes, cycles, missing data, exact uint64 ids, exports."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from cavewidgets.morphology import Skeleton, skeletonize

BASE = 864691135808684573  # > 2**53: float64 would round these


def ids(n, base=BASE):
    return np.uint64(base) + np.arange(n, dtype=np.uint64)


def chain_edges(a):
    return np.stack([a[:-1], a[1:]], axis=1)


def check_tree(sk: Skeleton, l2):
    nd = sk.nodes
    assert nd.node_id.tolist() == list(range(len(nd)))
    assert nd.parent_id.iloc[0] == -1 and (nd.parent_id.iloc[1:] >= 0).all()
    assert (nd.parent_id.iloc[1:].to_numpy() < nd.node_id.iloc[1:].to_numpy()).all()  # parents first
    assert len(sk.edges) == len(nd) - 1
    # every L2 id maps to exactly one node, and the lists partition the ids
    flat = [x for lst in nd.l2_ids for x in lst]
    assert sorted(flat) == sorted(int(x) for x in l2)
    assert set(sk.l2_to_node) == {int(x) for x in l2}
    for node, lst in zip(nd.node_id, nd.l2_ids):
        assert all(sk.l2_to_node[x] == node for x in lst)


def test_line():
    l2 = ids(6)
    pos = np.array([[i * 1000.0, 0, 0] for i in range(6)])
    sk = skeletonize(l2, pos, chain_edges(l2))
    check_tree(sk, l2)
    assert len(sk.nodes) == 6
    assert sk.cable_length_nm == pytest.approx(5000.0)
    assert len(sk.branch_points) == 0
    assert len(sk.end_points) == 1
    assert sk.nodes.compartment.eq("unknown").all()
    # rooted at a diameter end
    assert sk.nodes.x.iloc[0] in (0.0, 5000.0)


def test_line_root_given():
    l2 = ids(41)
    pos = np.array([[i * 1000.0, 0, 0] for i in range(41)])
    sk = skeletonize(l2, pos, chain_edges(l2), root=l2[20])
    check_tree(sk, l2)
    assert sk.nodes.x.iloc[0] == 20_000.0
    assert sk.meta["root_l2_id"] == int(l2[20])
    assert list(sk.branch_points) == [0]  # root with two children
    assert sk.cable_length_nm == pytest.approx(40_000)
    with pytest.raises(ValueError, match="not one of the l2_ids"):
        skeletonize(l2, pos, chain_edges(l2), root=123)


def y_graph(arm=20, short=None):
    """stem along -x to the origin, two arms at ±45°; 1 µm spacing."""
    pts, edges = [], []
    stem = [(-1000.0 * i, 0.0, 0.0) for i in range(arm, -1, -1)]  # ends at origin
    pts += stem
    for i in range(len(stem) - 1):
        edges.append((i, i + 1))
    fork = len(stem) - 1
    for sign, length in ((1, arm), (-1, short or arm)):
        prev = fork
        for k in range(1, length + 1):
            pts.append((707.1 * k, sign * 707.1 * k, 0.0))
            edges.append((prev, len(pts) - 1))
            prev = len(pts) - 1
    return np.array(pts), np.array(edges)


@pytest.mark.parametrize("start", ["far", "root"])
def test_y_branches_once(start):
    pos, e = y_graph()
    l2 = ids(len(pos))
    soma = pos[0]
    sk = skeletonize(l2, pos, l2[e], soma_point=soma, collapse_soma=False, start=start)
    assert np.allclose(sk.nodes.loc[0, ["x", "y", "z"]].to_numpy(float), soma)
    check_tree(sk, l2)
    assert len(sk.branch_points) == 1
    assert len(sk.end_points) == 2
    bp = sk.nodes.loc[sk.branch_points[0]]
    assert np.allclose([bp.x, bp.y, bp.z], [0, 0, 0])
    assert sk.cable_length_nm == pytest.approx(60_000, rel=1e-3)
    assert sk.nodes.compartment.iloc[0] == "soma"


def test_short_twig_is_invalidated():
    pos, e = y_graph(arm=20, short=3)  # a 3 µm twig is inside the 7.5 µm invalidation distance
    l2 = ids(len(pos))
    sk = skeletonize(l2, pos, l2[e], soma_point=pos[0], collapse_soma=False)
    check_tree(sk, l2)
    assert len(sk.branch_points) == 0
    twig = l2[-3:]
    assert all(sk.l2_to_node[int(x)] >= 0 for x in twig)
    sk_fine = skeletonize(l2, pos, l2[e], soma_point=pos[0], collapse_soma=False, invalidation_d=1000)
    assert len(sk_fine.branch_points) == 1


@pytest.mark.parametrize("attach,start", [("nearest", "far"), ("tree", "far"), ("nearest", "root")])
def test_cycle_becomes_tree(attach, start):
    # a ring of 40 nodes (radius 10 µm) with a tail of 30 nodes
    ang = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    ring = np.stack([10_000 * np.cos(ang), 10_000 * np.sin(ang), np.zeros(40)], axis=1)
    tail = np.array([[10_000 + 1000.0 * k, 0, 0] for k in range(1, 31)])
    pos = np.vstack([ring, tail])
    e = [(i, (i + 1) % 40) for i in range(40)] + [(0, 40)] + [(40 + k, 41 + k) for k in range(29)]
    l2 = ids(len(pos))
    sk = skeletonize(l2, pos, l2[np.array(e)], attach=attach, start=start, soma_point=pos[-1])
    check_tree(sk, l2)
    # a tree: n - 1 edges, and the ring is covered without running all the way round twice
    ring_len = 40 * 2 * 10_000 * np.sin(np.pi / 40)
    assert sk.cable_length_nm < 30_000 + ring_len
    assert sk.cable_length_nm > 30_000


def test_single_node():
    l2 = ids(1)
    sk = skeletonize(l2, [[1.0, 2.0, 3.0]], np.zeros((0, 2), dtype=np.uint64))
    check_tree(sk, l2)
    assert len(sk.nodes) == 1 and sk.cable_length_nm == 0.0
    assert sk.nodes.parent_id.tolist() == [-1]
    assert list(sk.end_points) == [0] and len(sk.branch_points) == 0
    assert len(sk.edges) == 0


def test_missing_positions_filled_from_neighbours():
    l2 = ids(7)
    pos = np.array([[i * 1000.0, 0, 0] for i in range(7)])
    pos[3] = np.nan
    pos[5] = np.nan  # neighbours 4 and 6 known
    sk = skeletonize(l2, pos, chain_edges(l2), root=l2[0], invalidation_d=500)
    check_tree(sk, l2)
    assert sk.meta["n_filled"] == 2
    node = sk.l2_to_node[int(l2[3])]
    assert sk.nodes.x.iloc[node] == pytest.approx(3000.0)
    # a run of missing nodes fills round by round
    pos2 = np.array([[i * 1000.0, 0, 0] for i in range(7)])
    pos2[1:6] = np.nan
    sk2 = skeletonize(l2, pos2, chain_edges(l2), root=l2[0])
    check_tree(sk2, l2)
    assert sk2.meta["n_filled"] == 5
    assert np.isfinite(sk2.nodes[["x", "y", "z"]].to_numpy()).all()


def test_component_without_positions_raises():
    l2 = ids(6)
    pos = np.array([[i * 1000.0, 0, 0] for i in range(6)])
    pos[3:] = np.nan
    e = np.array([[l2[0], l2[1]], [l2[1], l2[2]], [l2[3], l2[4]], [l2[4], l2[5]]])
    with pytest.raises(ValueError, match="no position") as err:
        skeletonize(l2, pos, e)
    assert str(int(l2[3])) in str(err.value)  # names the ids, exactly


def test_disconnected_pieces_are_bridged():
    l2 = ids(6)
    pos = np.array([[i * 1000.0, 0, 0] for i in range(3)] + [[i * 1000.0 + 5000, 0, 0] for i in range(3)])
    e = np.array([[l2[0], l2[1]], [l2[1], l2[2]], [l2[3], l2[4]], [l2[4], l2[5]]])
    sk = skeletonize(l2, pos, e, invalidation_d=100)
    check_tree(sk, l2)
    assert sk.meta["n_bridges"] == 1
    assert sk.cable_length_nm == pytest.approx(7000)  # 2 µm + the 3 µm bridge + 2 µm


def test_uint64_ids_exact():
    big = np.array([2**63 + 5, 2**63 + 6, BASE, BASE + 1], dtype=np.uint64)  # all > 2**53
    pos = np.array([[0, 0, 0], [1000, 0, 0], [2000, 0, 0], [3000, 0, 0]], float)
    e = np.array([[big[0], big[1]], [big[1], big[2]], [big[2], big[3]]], dtype=np.uint64)
    sk = skeletonize(big, pos, e)
    check_tree(sk, big)
    flat = {x for lst in sk.nodes.l2_ids for x in lst}
    assert flat == {2**63 + 5, 2**63 + 6, BASE, BASE + 1}
    assert all(type(x) is int for x in flat)
    assert sk.l2_ids.dtype == np.uint64
    assert sk.node_of(np.array([2**63 + 6], dtype=np.uint64)).tolist() == [sk.l2_to_node[2**63 + 6]]
    # python ints and object arrays work too; floats are refused
    sk2 = skeletonize([int(x) for x in big], pos, [[int(a), int(b)] for a, b in e.tolist()])
    assert sk2.l2_to_node == sk.l2_to_node
    with pytest.raises(TypeError, match="2\\*\\*53"):
        skeletonize(big.astype(np.float64), pos, e)
    with pytest.raises(KeyError):
        sk.node_of([BASE + 99])


def test_bad_input_is_named():
    l2 = ids(3)
    pos = np.zeros((3, 3))
    with pytest.raises(ValueError, match="shape"):
        skeletonize(l2, pos[:2], chain_edges(l2))
    with pytest.raises(ValueError, match="duplicates"):
        skeletonize(np.array([l2[0], l2[0], l2[1]]), pos, chain_edges(l2))
    with pytest.raises(ValueError, match="not in l2_ids"):
        skeletonize(l2, pos, [[l2[0], BASE + 1000]])
    with pytest.raises(ValueError, match="attach"):
        skeletonize(l2, pos, chain_edges(l2), attach="x")
    with pytest.raises(ValueError, match="start"):
        skeletonize(l2, pos, chain_edges(l2), soma_point=[0, 0, 0], start="x")


def star_with_soma():
    """soma blob of 30 nodes within 5 µm of the origin, and 3 arms of 25 µm leaving it."""
    rng = np.random.default_rng(0)
    blob = rng.normal(size=(30, 3))
    blob = blob / np.linalg.norm(blob, axis=1)[:, None] * rng.uniform(500, 5000, size=(30, 1))
    blob[0] = 0
    pts = list(blob)
    from scipy.spatial import cKDTree

    pairs = cKDTree(blob).query_pairs(3000)
    edges = [tuple(p) for p in pairs]
    for d in ([1, 0, 0], [0, 1, 0], [-1, -1, 0]):
        d = np.array(d, float) / np.linalg.norm(d)
        start = int(np.argmax(blob @ d))
        prev = start
        for k in range(1, 26):
            pts.append(blob[start] + d * 1000.0 * k)
            edges.append((prev, len(pts) - 1))
            prev = len(pts) - 1
    return np.array(pts), np.array(edges)


def test_soma_collapse():
    pos, e = star_with_soma()
    l2 = ids(len(pos))
    attrs = {"max_dt_nm": np.full(len(pos), 300.0), "area_nm2": np.full(len(pos), 1e6),
             "size_nm3": np.full(len(pos), 1e8)}
    attrs["max_dt_nm"][:30] = 4000.0
    sk = skeletonize(l2, pos, l2[e], soma_point=[0, 0, 0], soma_radius=7500, attributes=attrs)
    check_tree(sk, l2)
    root = sk.nodes.iloc[0]
    assert [root.x, root.y, root.z] == [0.0, 0.0, 0.0]
    assert root.compartment == "soma"
    # every blob node belongs to the root; three arms leave it
    assert {int(x) for x in l2[:30]} <= set(root.l2_ids)
    assert (sk.nodes.parent_id == 0).sum() == 3
    assert len(sk.end_points) == 3
    assert root.radius == 4000.0
    assert (sk.nodes.radius.iloc[1:] == 300.0).all()
    assert sk.nodes.size_nm3.sum() == pytest.approx(1e8 * len(pos))
    # radius falls back to sqrt(area / 4 pi) without max_dt_nm
    attrs2 = {"area_nm2": np.full(len(pos), 4 * np.pi * 250.0**2)}
    sk2 = skeletonize(l2, pos, l2[e], soma_point=[0, 0, 0], attributes=attrs2)
    assert sk2.nodes.radius.iloc[1:].to_numpy() == pytest.approx(250.0)


def test_label_compartments_by_flow():
    pos, e = star_with_soma()
    l2 = ids(len(pos))
    sk = skeletonize(l2, pos, l2[e], soma_point=[0, 0, 0])
    nodes = sk.nodes
    # outputs on the far part of arm 1 (the +x arm), inputs on the other arms
    arm_x = nodes[(nodes.x > 12_000)]
    others = nodes[(nodes.x < 3000) & (np.hypot(nodes.x, nodes.y) > 8000)]
    syn = pd.DataFrame({
        "is_output": [True] * len(arm_x) + [False] * len(others),
        "ctr_pt_position": [np.array([r.x, r.y, r.z]) for r in arm_x.itertuples()]
        + [np.array([r.x, r.y, r.z]) for r in others.itertuples()],
    })
    sk.label_compartments(syn)
    lab = sk.nodes.compartment
    assert lab.iloc[0] == "soma"
    assert (lab[arm_x.index] == "axon").all()
    assert (lab[others.index] == "dendrite").all()
    assert sk.compartment_split["segregation_index"] > 0.9
    assert sk.nodes.n_pre.sum() == len(arm_x) and sk.nodes.n_post.sum() == len(others)
    # inputs only: cannot be told apart
    sk.label_compartments(syn[~syn.is_output])
    assert set(sk.nodes.compartment.iloc[1:]) == {"unknown"}
    # positions in voxels without a resolution are caught
    vox = syn.copy()
    vox["ctr_pt_position"] = [p / 4.0 + 60_000 for p in syn.ctr_pt_position]
    with pytest.raises(ValueError, match="resolution"):
        sk.label_compartments(vox)


def test_label_compartments_from_root_ids_and_resolution():
    pos, e = star_with_soma()
    l2 = ids(len(pos))
    root_id = BASE + 10**6
    sk = skeletonize(l2, pos, l2[e], soma_point=[0, 0, 0], root_id=root_id)
    nd = sk.nodes
    out_nodes, in_nodes = nd[nd.y > 12_000], nd[nd.x < -8000]
    res = [4.0, 4.0, 40.0]
    pre = pd.DataFrame({"pre_pt_root_id": np.uint64(root_id), "post_pt_root_id": np.uint64(BASE + 5),
                        "pre_pt_position": [np.array([r.x / 4, r.y / 4, r.z / 40]) for r in out_nodes.itertuples()]})
    pre.attrs["dataframe_resolution"] = res
    post = pd.DataFrame({"pre_pt_root_id": np.uint64(BASE + 5), "post_pt_root_id": np.uint64(root_id),
                         "post_pt_position": [np.array([r.x / 4, r.y / 4, r.z / 40]) for r in in_nodes.itertuples()]})
    post.attrs["dataframe_resolution"] = res
    sk.label_compartments([pre, post])
    assert (sk.nodes.compartment[out_nodes.index] == "axon").all()
    assert (sk.nodes.compartment[in_nodes.index] == "dendrite").all()


def test_to_swc_roundtrip(tmp_path):
    pos, e = y_graph()
    l2 = ids(len(pos))
    sk = skeletonize(l2, pos, l2[e], soma_point=pos[0], collapse_soma=False,
                     attributes={"max_dt_nm": np.full(len(pos), 500.0)})
    path = tmp_path / "cell.swc"
    sk.to_swc(path)
    text = path.read_text()
    assert "micrometers" in text
    rows = np.loadtxt(path, comments="#")
    assert rows.shape == (len(sk.nodes), 7)
    assert rows[0, 6] == -1 and rows[0, 1] == 1  # root, soma type
    assert (rows[1:, 6] < rows[1:, 0]).all()  # parents first
    np.testing.assert_allclose(rows[:, 2:5], sk.nodes[["x", "y", "z"]].to_numpy() / 1000, rtol=1e-5)
    np.testing.assert_allclose(rows[:, 5], 0.5)
    sk.to_swc(tmp_path / "nm.swc", units="nm")
    np.testing.assert_allclose(np.loadtxt(tmp_path / "nm.swc")[:, 2:5], sk.nodes[["x", "y", "z"]].to_numpy(),
                               rtol=1e-5)
    with pytest.raises(ValueError, match="units"):
        sk.to_swc(tmp_path / "x.swc", units="mm")
    assert not (tmp_path / "x.swc").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cell.swc", "nm.swc"]


def test_to_navis_without_navis(monkeypatch):
    l2 = ids(3)
    sk = skeletonize(l2, [[0, 0, 0], [1000, 0, 0], [2000, 0, 0]], chain_edges(l2))
    monkeypatch.setitem(sys.modules, "navis", None)
    with pytest.raises(ImportError, match="pip install navis"):
        sk.to_navis()


def test_to_navis():
    navis = pytest.importorskip("navis")
    pos, e = y_graph()
    l2 = ids(len(pos))
    sk = skeletonize(l2, pos, l2[e], soma_point=pos[0], collapse_soma=False, root_id=BASE)
    n = sk.to_navis()
    assert isinstance(n, navis.TreeNeuron)
    assert n.n_nodes == len(sk.nodes)
    assert n.id == BASE
    assert n.cable_length == pytest.approx(sk.cable_length_nm, rel=1e-6)
    assert n.n_branches == len(sk.branch_points) == 1
    assert n.n_leafs == 2
    assert n.soma == 0
    assert n.nodes.label.iloc[0] == "soma"
