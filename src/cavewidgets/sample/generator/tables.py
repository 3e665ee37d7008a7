"""Annotation tables of the sample, shaped like MICrONS ``minnie65_public``'s.

Rows are stored as the annotation engine stores them (no root ids: the service derives them
from the chunkedgraph at any time). Positions are voxels at the table's voxel resolution, which
is the segmentation resolution here, so ``<pt>_supervoxel_id`` is exactly the supervoxel of the
segmentation at ``<pt>_position``.

Example::

    frames, meta = make_tables(ctx)
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from .morphology import AXON, DENDRITE, SOMA

STRATEGY_AXON = ["none", "axon_partially_extended", "axon_fully_extended", "axon_interareal"]
STRATEGY_DENDRITE = ["none", "dendrite_clean", "dendrite_extended"]


def _vox(nm: np.ndarray, res: np.ndarray) -> np.ndarray:
    return np.floor(nm / res).astype(np.int64)


def _inside(shape, v):
    return np.all((v >= 0) & (v < np.array(shape)), axis=1)


def _frame(ids, created, deleted=None, superceded=None, valid=None, **cols) -> pd.DataFrame:
    n = len(ids)
    df = pd.DataFrame({
        "id": np.asarray(ids, np.int64),
        "created": pd.to_datetime(created, utc=True) if not np.isscalar(created) else pd.to_datetime([created] * n, utc=True),
        "deleted": pd.to_datetime(deleted if deleted is not None else [None] * n, utc=True),
        "valid": np.asarray(valid if valid is not None else np.ones(n, bool), bool),
        "superceded_id": pd.array(superceded if superceded is not None else [None] * n, dtype="Int64"),
    })
    for k, v in cols.items():
        df[k] = v
    return df


def _point_cols(prefix, vox, sv=None) -> dict:
    cols = {f"{prefix}_position_x": vox[:, 0], f"{prefix}_position_y": vox[:, 1], f"{prefix}_position_z": vox[:, 2]}
    if sv is not None:
        cols[f"{prefix}_supervoxel_id"] = np.asarray(sv, np.uint64)
    return cols


def _soma_points(ctx) -> np.ndarray:
    """A voxel of each cell at its nucleus centre (or the nearest voxel of the cell to it)."""
    res, cells_vol = ctx.res, ctx.cells_vol
    out = []
    for c in ctx.cells:
        v = _vox(c.nucleus_center, res)
        if cells_vol[tuple(v)] != c.label:
            r = np.ceil(c.soma_r * 1000 / res).astype(int) + 1
            lo = np.maximum(v - r, 0)
            sub = cells_vol[lo[0]:v[0] + r[0], lo[1]:v[1] + r[1], lo[2]:v[2] + r[2]]
            cand = np.argwhere(sub == c.label) + lo
            v = cand[np.argmin(((cand - v) * res) ** 2 @ np.ones(3))]
        out.append(v)
    return np.array(out, np.int64)


def make_synapses(ctx, rng) -> pd.DataFrame:
    """Synapses where an axon passes within ~3 um of another neuron's dendrite or soma."""
    caps, res, cells_vol = ctx.caps, ctx.res, ctx.cells_vol
    kind, lab = caps["kind"], caps["label"]
    neuron = np.zeros(int(lab.max()) + 1, bool)
    neuron[[c.label for c in ctx.cells if c.classification_system != "nonneuron"]] = True
    ax = (kind == AXON) & neuron[lab]
    # several candidate sites per 2 um axon step (boutons en passant)
    fr = np.array([0.0, 0.25, 0.5, 0.75])
    ax_pts = (caps["p0"][ax][None] + fr[:, None, None] * (caps["p1"][ax] - caps["p0"][ax])[None]).reshape(-1, 3)
    ax_lab = np.tile(lab[ax], len(fr))
    de = ((kind == DENDRITE) | (kind == SOMA)) & neuron[lab]
    de_pts = np.concatenate([caps["p0"][de], (caps["p0"][de] + caps["p1"][de]) / 2])
    de_lab = np.concatenate([lab[de], lab[de]])
    de_r = np.concatenate([caps["r0"][de], (caps["r0"][de] + caps["r1"][de]) / 2])
    # somata: points on the surface, so that basket cells can target them
    soma = np.array([[c.label, *c.center, c.soma_r * 1000] for c in ctx.cells if c.classification_system != "nonneuron"])
    dirs = rng.normal(0, 1, (len(soma), 24, 3))
    dirs /= np.linalg.norm(dirs, axis=2, keepdims=True)
    surf = soma[:, None, 1:4] + dirs * soma[:, None, 4:5] * 0.8
    de_pts = np.concatenate([de_pts, surf.reshape(-1, 3)])
    de_lab = np.concatenate([de_lab, np.repeat(soma[:, 0].astype(np.uint32), 24)])
    de_r = np.concatenate([de_r, np.full(surf.shape[0] * 24, 600.0)])

    k = 8
    _, nbr = cKDTree(de_pts).query(ax_pts, k=k, distance_upper_bound=4000.0)
    i, col = np.nonzero(nbr < len(de_pts))  # missing neighbours come back as len(de_pts)
    j = nbr[i, col]
    ok = ax_lab[i] != de_lab[j]
    i, j = i[ok], j[ok]
    # at most one synapse per (axon point, partner cell): rows of i are sorted, so compare
    # each candidate with the earlier ones of its row through a (row, cell) key
    key = i.astype(np.int64) * (int(lab.max()) + 1) + de_lab[j]
    _, first = np.unique(key, return_index=True)
    i, j = i[first], j[first]
    pick = rng.permutation(len(i))[: int(ctx.scale.n_synapses * 1.5)]
    i, j = i[pick], j[pick]
    pre_nm = ax_pts[i]
    toward = pre_nm - de_pts[j]
    toward /= np.linalg.norm(toward, axis=1, keepdims=True) + 1e-9
    post_nm = de_pts[j] + toward * np.maximum(de_r[j] - 350.0, 0)[:, None]
    pre_v, post_v = _vox(pre_nm, res), _vox(post_nm, res)
    ok = _inside(cells_vol.shape, pre_v) & _inside(cells_vol.shape, post_v)
    pre_v, post_v, i, j = pre_v[ok], post_v[ok], i[ok], j[ok]
    # keep synapses whose points really lie in the two cells (crossings may have taken a voxel)
    ok = (cells_vol[tuple(pre_v.T)] == ax_lab[i]) & (cells_vol[tuple(post_v.T)] == de_lab[j])
    pre_v, post_v = pre_v[ok], post_v[ok]
    n = min(len(pre_v), ctx.scale.n_synapses)
    pre_v, post_v = pre_v[:n], post_v[:n]
    ctr_v = (pre_v + post_v) // 2
    order = np.lexsort((ctr_v[:, 2], ctr_v[:, 1], ctr_v[:, 0]))
    pre_v, post_v, ctr_v = pre_v[order], post_v[order], ctr_v[order]
    sv = ctx.sv_volume
    size = np.round(rng.lognormal(np.log(900), 0.8, n)).astype(np.int64) + 40
    ids = 158_000_000 + np.cumsum(rng.integers(1, 60, n))
    return _frame(ids, ctx.t_static, size=size,
                  **_point_cols("pre_pt", pre_v, sv[tuple(pre_v.T)]),
                  **_point_cols("post_pt", post_v, sv[tuple(post_v.T)]),
                  **_point_cols("ctr_pt", ctr_v))


def _proofread_cells(syn_cells: np.ndarray, candidates: list[int], n: int) -> list[int]:
    """Greedy choice of ``n`` neurons with many synapses among themselves."""
    m = int(max(candidates)) + 1
    mat = np.zeros((m, m), np.int64)
    ok = (syn_cells[:, 0] < m) & (syn_cells[:, 1] < m)
    np.add.at(mat, (syn_cells[ok, 0], syn_cells[ok, 1]), 1)
    sym = mat + mat.T
    cand = np.array(sorted(candidates))
    chosen = [int(cand[np.argmax(sym[cand][:, cand].sum(1))])]
    while len(chosen) < min(n, len(cand)):
        rest = np.array([c for c in cand if c not in chosen])
        score = sym[np.ix_(rest, chosen)].sum(1)
        chosen.append(int(rest[np.argmax(score)]))
    return chosen


def make_tables(ctx, rng) -> tuple[dict[str, pd.DataFrame], dict]:
    """All sample tables (DataFrames) and ``tables/metadata.json`` content."""
    cells = ctx.cells
    res = ctx.res
    sv = ctx.sv_volume
    pts = _soma_points(ctx)
    nuc_ids = np.sort(rng.choice(np.arange(100_000, 700_000), len(cells), replace=False))
    rn = np.array([c.nucleus_r for c in cells])
    half = np.ceil(rn[:, None] * 1000 / res).astype(np.int64)
    nucleus = _frame(nuc_ids, ctx.t_static, volume=(4 / 3 * np.pi * rn**3).astype(np.float32),
                     **_point_cols("pt", pts, sv[tuple(pts.T)]),
                     **_point_cols("bb_start", pts - half), **_point_cols("bb_end", pts + half))
    nuc_of = {c.label: int(n) for c, n in zip(cells, nuc_ids)}

    # cell types; a few corrected after version 1 (old row deleted, superseded by the new one)
    ct = pd.DataFrame({"target_id": nuc_ids, "classification_system": [c.classification_system for c in cells],
                       "cell_type": [c.cell_type for c in cells]})
    ids = np.arange(1, len(ct) + 1)
    celltypes = _frame(ids, ctx.t_static, **ct)
    fixes = rng.choice(np.flatnonzero(ct.classification_system == "excitatory_neuron"), 3, replace=False)
    t_fix = ctx.versions[0] + timedelta(days=3)
    new_rows = []
    for k, row in enumerate(fixes):
        new_id = len(ct) + 1 + k
        celltypes.loc[row, ["deleted", "valid", "superceded_id"]] = [t_fix, False, new_id]
        new_rows.append(_frame([new_id], [t_fix], **ct.iloc[[row]].reset_index(drop=True)))
        # the earlier label was a neighbouring type: e.g. a 23P first called 4P
        celltypes.loc[row, "cell_type"] = {"23P": "4P", "4P": "23P", "5P-IT": "6P-IT"}.get(ct.cell_type[row], "5P-IT")
    celltypes = pd.concat([celltypes] + new_rows, ignore_index=True)

    synapses = make_synapses(ctx, rng)
    pre_c = ctx.cells_vol[synapses.pre_pt_position_x, synapses.pre_pt_position_y, synapses.pre_pt_position_z]
    post_c = ctx.cells_vol[synapses.post_pt_position_x, synapses.post_pt_position_y, synapses.post_pt_position_z]
    syn_cells = np.stack([pre_c, post_c], 1).astype(np.int64)

    neurons = [c.label for c in cells if c.classification_system != "nonneuron"]
    proof = _proofread_cells(syn_cells, neurons, ctx.scale.n_proofread)
    by_label = {c.label: i for i, c in enumerate(cells)}
    v1, v2 = ctx.versions[0], ctx.versions[1]
    span = (v2 - v1).total_seconds()
    # half the cells were proofread before version 1, the other half between versions 1 and 2
    p_created = [
        ctx.t0 + timedelta(days=1 + 5 * k / len(proof)) if k % 2 == 0
        else v1 + timedelta(seconds=span * (0.2 + 0.6 * k / len(proof)))
        for k in range(len(proof))
    ]
    p_idx = np.array([by_label[c] for c in proof])
    valid_id = [ctx.root_at_cell(c, t) for c, t in zip(proof, p_created)]
    proofreading = _frame(
        np.arange(1, len(proof) + 1), p_created,
        valid_id=np.array(valid_id, np.uint64),
        status_dendrite=rng.random(len(proof)) < 0.9,
        status_axon=rng.random(len(proof)) < 0.8,
        strategy_dendrite=rng.choice(STRATEGY_DENDRITE, len(proof), p=[0.1, 0.3, 0.6]),
        strategy_axon=rng.choice(STRATEGY_AXON, len(proof), p=[0.15, 0.4, 0.35, 0.1]),
        **_point_cols("pt", pts[p_idx], sv[tuple(pts[p_idx].T)]),
    )

    # functional properties: a good share of excitatory neurons in L2/3-L5 (the imaged depths)
    exc = [c for c in cells if c.classification_system == "excitatory_neuron" and c.layer in ("L2/3", "L4", "L5")]
    take = [c for c in exc if c.label in proof or rng.random() < 0.6]
    n = len(take)
    f_created = [ctx.t_static if rng.random() < 0.8 else v1 + timedelta(days=2) for _ in range(n)]
    pref_ori = rng.uniform(0, np.pi, n)
    functional = _frame(
        np.arange(1, n + 1), f_created, target_id=np.array([nuc_of[c.label] for c in take], np.int64),
        session=rng.choice([4, 5, 6, 7, 8, 9], n).astype(np.int64), scan_idx=rng.choice([2, 3, 4, 6, 7], n).astype(np.int64),
        unit_id=rng.integers(1, 9000, n).astype(np.int64), pref_ori=pref_ori.astype(np.float32),
        pref_dir=(pref_ori + np.pi * (rng.random(n) < 0.5)).astype(np.float32),
        gOSI=rng.beta(2, 5, n).astype(np.float32), gDSI=rng.beta(1.5, 8, n).astype(np.float32),
        cc_abs=rng.beta(4, 5, n).astype(np.float32),
    )
    frames = {
        "nucleus_detection_v0": nucleus, "aibs_metamodel_celltypes_v661": celltypes, "synapses_pni_2": synapses,
        "proofreading_status_and_strategy": proofreading, "functional_properties_v3_bcm": functional,
    }
    meta = _metadata(ctx)
    return frames, meta


_DESCRIPTIONS = {
    "nucleus_detection_v0": ("nucleus_detection", None,
        "Nuclei detected in the sample volume, one per cell body (neurons and glia). pt is the nucleus centre, "
        "volume its volume in um^3. (Generated sample data modelled on minnie65's nucleus_detection_v0.)"),
    "aibs_metamodel_celltypes_v661": ("cell_type_reference", "nucleus_detection_v0",
        "Cell types of every nucleus (reference table on nucleus_detection_v0). classification_system is "
        "excitatory_neuron, inhibitory_neuron or nonneuron; cell_type is 23P, 4P, 5P-IT, 5P-ET, 5P-NP, 6P-IT, "
        "6P-CT, BC, MC, BPC, NGC, astrocyte or microglia, consistent with soma depth. (Generated sample data.)"),
    "synapses_pni_2": ("synapse", None,
        "Synapses of the sample, placed where an axon passes near another neuron's dendrite or soma. "
        "pre_pt/post_pt lie in the pre- and postsynaptic cell, ctr_pt between them; size in voxels. (Generated.)"),
    "proofreading_status_and_strategy": ("compartment_proofread_status_strategy", None,
        "Proofread cells. status_axon/status_dendrite are true when the compartment is at least clean; "
        "strategy_axon is none, axon_partially_extended, axon_fully_extended or axon_interareal; "
        "valid_id is the root id at the time of proofreading. (Generated sample data.)"),
    "functional_properties_v3_bcm": ("func_properties_bcm", "nucleus_detection_v0",
        "Functional properties of coregistered excitatory neurons (reference table on nucleus_detection_v0): "
        "pref_ori (0-pi), pref_dir (0-2pi), gOSI, gDSI and model performance cc_abs. (Generated sample data.)"),
}


def _metadata(ctx) -> dict:
    res = ctx.res
    out = {}
    for name, (schema, ref, desc) in _DESCRIPTIONS.items():
        out[name] = {
            "table_name": name, "schema_type": schema, "schema": schema, "description": desc,
            "reference_table": ref, "voxel_resolution_x": float(res[0]), "voxel_resolution_y": float(res[1]),
            "voxel_resolution_z": float(res[2]), "created": ctx.t_static.isoformat(), "user_id": "161",
            "notice_text": None, "valid": True, "read_permission": "PUBLIC", "write_permission": "PRIVATE",
        }
    return out
