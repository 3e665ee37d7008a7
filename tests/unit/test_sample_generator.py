"""The sample generator: ids, determinism, the on-disk contract of DATA_LAYOUT.md.

Most tests read the full-scale sample in the default cache directory (built once if missing);
``test_full_build_is_deterministic_and_timed`` builds it again from scratch into a temporary
directory, prints the build time and compares the two builds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from cavewidgets.sample.generator import GENERATOR_VERSION, build, ensure_built, is_built
from cavewidgets.sample.generator.config import BIT_MASKS, SCALES, decode_ids, encode_ids

TWO_53 = 2**53


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return ensure_built(progress=False)


@pytest.fixture(scope="session")
def meta(sample_dir) -> dict:
    return json.loads((sample_dir / "datastack.json").read_text())


@pytest.fixture(scope="session")
def cg(sample_dir) -> dict[str, pd.DataFrame]:
    d = sample_dir / "chunkedgraph"
    return {p.stem: pq.read_table(p).to_pandas() for p in d.glob("*.parquet")}


@pytest.fixture(scope="session")
def sv_volume(sample_dir, meta) -> np.ndarray:
    from cloudvolume import CloudVolume

    cv = CloudVolume((sample_dir / meta["segmentation_dir"]).resolve().as_uri(), progress=False)
    return np.asarray(cv[:, :, :])[..., 0]


def _u64(s: pd.Series) -> np.ndarray:
    assert s.dtype == np.uint64, s.dtype  # never float64 on the way
    return s.to_numpy()


def test_id_encoding_matches_pychunkedgraph_layout():
    # minnie65's chunkedgraph: 12 layers, 10 bits per dimension at layers 1-2, 1 bit at the top
    assert BIT_MASKS == {1: 10, 2: 10, 3: 9, 4: 8, 5: 7, 6: 6, 7: 5, 8: 4, 9: 3, 10: 2, 11: 1, 12: 1}
    assert int(encode_ids(12, 0, 0, 0, 7353549341)) == 864691135808684573
    ids = encode_ids(2, [0, 31, 5], [0, 87, 60], [0, 7, 3], [1, 2**26 - 1, 12345])
    layer, x, y, z, seg = decode_ids(ids)
    assert layer.tolist() == [2, 2, 2] and x.tolist() == [0, 31, 5] and y.tolist() == [0, 87, 60]
    assert z.tolist() == [0, 7, 3] and seg.tolist() == [1, 2**26 - 1, 12345]
    # the same bits as cloud-volume's graphene label decoder
    l2 = int(ids[2])
    assert (l2 >> 56) == 2 and ((l2 >> 46) & 1023) == 5 and ((l2 >> 36) & 1023) == 60 and ((l2 >> 26) & 1023) == 3
    with pytest.raises(ValueError):
        encode_ids(2, 0, 0, 0, 2**26)


def test_datastack_json(meta):
    assert meta["generator_version"] == GENERATOR_VERSION
    assert meta["chunkedgraph"]["n_layers"] == 12
    assert len(meta["versions"]) >= 2
    ts = [pd.Timestamp(v["time_stamp"]) for v in meta["versions"]]
    assert ts == sorted(ts)


def test_ids_exceed_2_53_and_decode_to_their_layer_and_chunk(cg, meta):
    sv, l2, roots = cg["supervoxels"], cg["l2"], cg["roots"]
    sv_ids, sv_l2, l2_ids = _u64(sv.sv_id), _u64(sv.l2_id), _u64(l2.l2_id)
    root_ids = _u64(roots.root_id)
    for ids, layer in ((sv_ids, 1), (l2_ids, 2), (root_ids, 12)):
        assert ids.min() > TWO_53
        assert np.all(decode_ids(ids)[0] == layer)
        assert len(np.unique(ids)) == len(ids)
    _, x, y, z, _ = decode_ids(l2_ids)
    assert np.array_equal(x, l2.chunk_x) and np.array_equal(y, l2.chunk_y) and np.array_equal(z, l2.chunk_z)
    # a supervoxel lies in the chunk of its L2 node
    assert np.array_equal(np.stack(decode_ids(sv_ids)[1:4]), np.stack(decode_ids(sv_l2)[1:4]))
    assert np.isin(sv_l2, l2_ids).all()
    per_l2 = pd.Series(sv_l2).value_counts()
    assert per_l2.mean() > 1.5  # a few supervoxels per L2 node
    assert str(root_ids.max()).startswith("8646911358")


def test_every_supervoxel_in_the_volume_is_in_the_table(sv_volume, cg):
    ids = np.unique(sv_volume)
    table = _u64(cg["supervoxels"].sv_id)
    assert ids[0] == 0
    assert np.array_equal(np.sort(table), ids[1:])


def test_supervoxels_are_inside_their_chunk(sv_volume, meta):
    chunk = np.array(meta["chunkedgraph"]["chunk_size"])
    sub = sv_volume[::3, ::3, ::2]
    vox = np.argwhere(sub > 0) * np.array([3, 3, 2])
    _, x, y, z, _ = decode_ids(sv_volume[tuple(vox.T)])
    assert np.array_equal(np.stack([x, y, z], 1), vox // chunk)


def _root_graphs(cg):
    """(root, members, edges inside) for every latest root."""
    rl, roots, edges = cg["root_l2"], cg["roots"], cg["l2_edges"]
    latest = set(_u64(roots.root_id[roots.expired.isna()]).tolist())
    a, b = _u64(edges.l2_a), _u64(edges.l2_b)
    assert np.all(a < b)
    for root, grp in rl.groupby("root_id"):
        if int(root) not in latest:
            continue
        members = np.sort(_u64(grp.l2_id))
        inside = np.isin(a, members) & np.isin(b, members)
        yield int(root), members, a[inside], b[inside]


def test_each_latest_root_l2_graph_is_connected(cg):
    l2_all = _u64(cg["l2"].l2_id)
    seen = []
    rl, roots, edges = cg["root_l2"], cg["roots"], cg["l2_edges"]
    latest = _u64(roots.root_id[roots.expired.isna()])
    rl_latest = rl[np.isin(_u64(rl.root_id), latest)]
    # every L2 node belongs to exactly one latest root
    assert len(rl_latest) == len(l2_all) and set(_u64(rl_latest.l2_id)) == set(l2_all)
    a, b = _u64(edges.l2_a), _u64(edges.l2_b)
    pos = pd.Series(np.arange(len(l2_all)), index=l2_all)
    ia, ib = pos[a].to_numpy(), pos[b].to_numpy()
    root_of = pd.Series(_u64(rl_latest.root_id), index=_u64(rl_latest.l2_id))[l2_all].to_numpy()
    same = root_of[ia] == root_of[ib]
    g = coo_matrix((np.ones(same.sum()), (ia[same], ib[same])), shape=(len(l2_all),) * 2)
    n, comp = connected_components(g, directed=False)
    # components == roots: each root is connected and no edge joins two latest roots
    assert n == len(latest)
    per_root = pd.DataFrame({"root": root_of, "comp": comp}).groupby("root").comp.nunique()
    assert (per_root == 1).all(), per_root[per_root > 1]
    seen.append(n)


def test_edit_history(cg, meta):
    ops, roots, rl = cg["operations"], cg["roots"], cg["root_l2"]
    assert len(ops) >= 24 and ops.is_merge.any() and (~ops.is_merge).any()
    created = dict(zip(_u64(roots.root_id).tolist(), roots.created))
    expired = dict(zip(_u64(roots.root_id).tolist(), roots.expired))
    for op in ops.itertuples():
        for r in op.before_root_ids:
            assert expired[int(r)] == op.timestamp
        for r in op.after_root_ids:
            assert created[int(r)] == op.timestamp
        assert len(op.after_root_ids) == (1 if op.is_merge else 2)
        edges = op.added_edges if op.is_merge else op.removed_edges
        assert len(edges) >= 1
    # some roots of version 1 are no longer the latest; some edits happen after the last version
    v1 = pd.Timestamp(meta["versions"][0]["time_stamp"])
    v_last = pd.Timestamp(meta["versions"][-1]["time_stamp"])
    alive_v1 = (roots.created <= v1) & (roots.expired.isna() | (roots.expired > v1))
    assert (alive_v1 & roots.expired.notna()).sum() >= 5
    assert (ops.timestamp < v1).any() and (ops.timestamp > v_last).any()
    # root membership is consistent: a merge's new root holds exactly its parents' L2 nodes
    members = rl.groupby("root_id").l2_id.apply(lambda s: set(s.tolist()))
    for op in ops[ops.is_merge].itertuples():
        union = set().union(*(members[int(r)] for r in op.before_root_ids))
        assert members[int(op.after_root_ids[0])] == union


def test_l2_attributes(cg, sv_volume, meta):
    l2, sv = cg["l2"], cg["supervoxels"]
    res = np.array(meta["segmentation_resolution"], float)
    assert (l2.size_nm3 > 0).all() and (l2.area_nm2 > 0).all() and (l2.max_dt_nm >= l2.mean_dt_nm).all()
    pca = np.stack(l2.pca.to_numpy()).reshape(-1, 3, 3)
    assert np.allclose(np.linalg.norm(pca, axis=2), 1, atol=1e-3)
    vals = np.stack(l2.pca_val.to_numpy())
    assert np.all(vals[:, 0] >= vals[:, 1] - 1e-3)
    # rep_coord_nm is a voxel of the L2 node itself
    rng = np.random.default_rng(0)
    rows = rng.choice(len(l2), 3000, replace=False)
    vox = (np.stack([l2[f"rep_coord_nm_{a}"].to_numpy()[rows] for a in "xyz"], 1) / res).round().astype(int)
    sv_at = sv_volume[tuple(vox.T)]
    l2_of_sv = pd.Series(_u64(sv.l2_id), index=_u64(sv.sv_id))
    assert np.array_equal(l2_of_sv[sv_at].to_numpy(), _u64(l2.l2_id)[rows])
    # size matches the voxel count of the L2 node's supervoxels
    counts = pd.Series(sv_volume[sv_volume > 0]).value_counts()
    l2_vox = counts.groupby(l2_of_sv[counts.index].to_numpy()).sum()
    size = pd.Series(l2.size_nm3.to_numpy(), index=_u64(l2.l2_id))
    assert np.allclose(size[l2_vox.index].to_numpy(), l2_vox.to_numpy() * res.prod(), rtol=1e-5)


@pytest.fixture(scope="session")
def tables(sample_dir) -> dict[str, pd.DataFrame]:
    d = sample_dir / "tables"
    return {p.stem: pq.read_table(p).to_pandas() for p in d.glob("*.parquet")}


def test_tables_and_metadata(sample_dir, tables):
    md = json.loads((sample_dir / "tables" / "metadata.json").read_text())
    expected = {"nucleus_detection_v0", "aibs_metamodel_celltypes_v661", "synapses_pni_2",
                "proofreading_status_and_strategy", "functional_properties_v3_bcm"}
    assert set(tables) == expected == set(md)
    for name, m in md.items():
        assert m["description"] and m["schema_type"]
        df = tables[name]
        assert df.id.is_unique and df.id.dtype == np.int64
        assert {"created", "deleted", "valid", "superceded_id"} <= set(df.columns)
    assert md["aibs_metamodel_celltypes_v661"]["reference_table"] == "nucleus_detection_v0"
    nuc, ct = tables["nucleus_detection_v0"], tables["aibs_metamodel_celltypes_v661"]
    assert 250 <= (ct.classification_system != "nonneuron").sum() <= 400 + 10
    assert set(ct.target_id) <= set(nuc.id)
    assert {"23P", "4P", "5P-IT", "5P-ET", "6P-IT", "BC", "MC", "BPC", "NGC", "astrocyte", "microglia"} <= set(ct.cell_type)
    # cell types follow depth: 23P above 4P above 6P-IT
    live = ct[ct.deleted.isna()].merge(nuc, left_on="target_id", right_on="id")
    depth = live.groupby("cell_type").pt_position_y.median()
    assert depth["23P"] < depth["4P"] < depth["5P-IT"] < depth["6P-IT"]
    prf = tables["proofreading_status_and_strategy"]
    assert 20 <= len(prf) <= 60
    assert set(prf.strategy_axon) <= {"none", "axon_partially_extended", "axon_fully_extended", "axon_interareal"}
    assert prf.valid_id.dtype == np.uint64 and prf.valid_id.min() > TWO_53
    func = tables["functional_properties_v3_bcm"]
    assert set(func.target_id) <= set(nuc.id)
    exc = ct[(ct.classification_system == "excitatory_neuron") & ct.deleted.isna()]
    assert len(func) >= 0.3 * len(exc)
    assert (func.pref_ori.between(0, np.pi)).all() and (func.pref_dir.between(0, 2 * np.pi)).all()


def _positions(df, pt):
    return df[[f"{pt}_position_x", f"{pt}_position_y", f"{pt}_position_z"]].to_numpy()


def test_synapses_sit_on_the_supervoxels_they_name(tables, sv_volume):
    syn = tables["synapses_pni_2"]
    assert len(syn) >= 500_000
    for pt in ("pre_pt", "post_pt"):
        sv_at = sv_volume[tuple(_positions(syn, pt).T)]
        assert np.array_equal(sv_at, _u64(syn[f"{pt}_supervoxel_id"]))
    assert (syn["size"] > 0).all()
    nuc = tables["nucleus_detection_v0"]
    assert np.array_equal(sv_volume[tuple(_positions(nuc, "pt").T)], _u64(nuc.pt_supervoxel_id))


def _latest_root_of_sv(cg):
    sv, rl, roots = cg["supervoxels"], cg["root_l2"], cg["roots"]
    latest = _u64(roots.root_id[roots.expired.isna()])
    rl = rl[np.isin(_u64(rl.root_id), latest)]
    root_of_l2 = pd.Series(_u64(rl.root_id), index=_u64(rl.l2_id))
    return pd.Series(root_of_l2[_u64(sv.l2_id)].to_numpy(), index=_u64(sv.sv_id))


def test_proofread_cells_connect_to_each_other(tables, cg):
    root_of_sv = _latest_root_of_sv(cg)
    syn = tables["synapses_pni_2"]
    pre = root_of_sv[_u64(syn.pre_pt_supervoxel_id)].to_numpy()
    post = root_of_sv[_u64(syn.post_pt_supervoxel_id)].to_numpy()
    assert not np.any(pre == post)  # no autapses
    prf = tables["proofreading_status_and_strategy"]
    proofread = root_of_sv[_u64(prf.pt_supervoxel_id)].to_numpy()
    inside = np.isin(pre, proofread) & np.isin(post, proofread)
    assert inside.sum() >= 100
    assert len(set(zip(pre[inside], post[inside]))) >= 20
    # a proofread neuron's targets include functionally characterised cells
    nuc, func = tables["nucleus_detection_v0"], tables["functional_properties_v3_bcm"]
    func_roots = root_of_sv[_u64(nuc.set_index("id").loc[func.target_id, "pt_supervoxel_id"])].to_numpy()
    assert np.isin(post[np.isin(pre, proofread)], func_roots).sum() >= 100


def test_determinism_of_ids_tiny():
    from cavewidgets.sample.generator.graph import build_hierarchy
    from cavewidgets.sample.generator.morphology import make_cells
    from cavewidgets.sample.generator.raster import rasterize, remove_specks

    sc = SCALES["tiny"]
    out = []
    for _ in range(2):
        cells, caps = make_cells(sc, np.random.default_rng(7))
        h = build_hierarchy(remove_specks(rasterize(caps, sc.shape, sc.resolution)), sc)
        out.append((h.sv_ids, h.l2_ids, h.edges, h.sv_volume))
    for a, b in zip(*out):
        assert np.array_equal(a, b)


def test_full_build_is_deterministic_and_timed(tmp_path, sample_dir):
    t, cpu = time.perf_counter(), time.process_time()
    out = build(tmp_path / "sample", progress=False, scale="full")
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    info = json.loads((out / "COMPLETE").read_text())
    print(f"\nfull sample build: {seconds:.1f} s wall, {cpu:.1f} s CPU (all threads); steps: {info['step_seconds']}")
    assert is_built(out)
    for rel in ["chunkedgraph/supervoxels.parquet", "chunkedgraph/l2.parquet", "chunkedgraph/l2_edges.parquet",
                "chunkedgraph/roots.parquet", "chunkedgraph/root_l2.parquet", "chunkedgraph/operations.parquet",
                "tables/synapses_pni_2.parquet", "tables/nucleus_detection_v0.parquet",
                "tables/proofreading_status_and_strategy.parquet"]:
        assert pq.read_table(out / rel).equals(pq.read_table(sample_dir / rel)), rel
    assert (out / "datastack.json").read_text() == (sample_dir / "datastack.json").read_text()
    # wall time depends on what else runs on the machine; CPU time much less so. Unloaded on
    # 2 cores the whole build (meshes included) takes about 60 s of wall time.
    assert cpu < 120, (cpu, info["step_seconds"])


def test_ensure_built_is_safe_in_parallel(tmp_path):
    target = tmp_path / "tiny"
    code = (
        "import sys; from cavewidgets.sample.generator import ensure_built; "
        f"print(ensure_built({str(target)!r}, progress=False, scale='tiny'))"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outs == [str(target)] * 2
    assert is_built(target)
    # one build: no leftover temporary or old directories beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == [".tiny.lock", "tiny"]
    before = (target / "COMPLETE").stat().st_mtime_ns
    assert ensure_built(target, progress=False, scale="tiny") == target
    assert (target / "COMPLETE").stat().st_mtime_ns == before
