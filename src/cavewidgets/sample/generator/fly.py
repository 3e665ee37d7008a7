"""Tables of the fly-shaped sample datastack (``flywire_sample``), shaped like FlyWire's / FANC's.

What differs from the MICrONS-shaped sample, as on the real fly datastacks:

- the synapse table ``synapses_nt_v1`` has schema ``fly_nt_synapse`` (emannotationschemas
  ``BuhmannEcksteinSynapseSchema``: ``pre_pt``, ``post_pt``, ``score``, ``cleft_score`` and the
  neurotransmitter probabilities ``gaba``, ``ach``, ``glut``, ``oct``, ``ser``, ``da``, ``valid_nt``);
  no ``ctr_pt`` and no ``size``;
- positions are voxels at 4x4x40 nm (the tables' and viewer's resolution; the segmentation is
  coarser, as FlyWire's 16x16x40 segmentation is);
- cell types are in ``neuron_cell_types`` (schema ``fly_cell_type``: a bound ``pt`` with
  ``classification_system``, ``cell_type``, ``hemisphere``), not a reference table on nuclei;
- there is no nucleus (soma) table.

The cell shapes are the generator's generic neurons; only names and tables are fly-like.

Example::

    frames, meta = make_fly_tables(ctx, rng)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .tables import _frame, _point_cols, _soma_points, make_synapses

TABLE_RESOLUTION = (4.0, 4.0, 40.0)  # nm per voxel of every fly table (FlyWire's synapses_nt_v1)
SYNAPSE_TABLE = "synapses_nt_v1"
CELL_TYPE_TABLE = "neuron_cell_types"
NEUROTRANSMITTERS = ("gaba", "ach", "glut", "oct", "ser", "da")
# generated cortical type -> (fly cell type, its dominant neurotransmitter)
_EXCITATORY = [("KCab", "ach"), ("KCg-m", "ach"), ("DA1_lPN", "ach"), ("MBON01", "glut"), ("PAM01", "da")]
_INHIBITORY = [("APL", "gaba"), ("LHLN", "gaba"), ("5-HTPLP01", "ser")]


def _to_table_voxels(vox_seg: np.ndarray, seg_res) -> np.ndarray:
    """Segmentation voxels -> 4x4x40 nm voxels at the same place (the voxel centre)."""
    nm = (vox_seg.astype(np.float64) + 0.5) * np.asarray(seg_res, np.float64)
    return np.floor(nm / np.asarray(TABLE_RESOLUTION)).astype(np.int64)


def _fly_types(cells, rng, midline_nm: float) -> dict[int, tuple[str, str, str]]:
    """label -> (cell_type, neurotransmitter, hemisphere) of every neuron (hemisphere by soma side)."""
    out = {}
    for c in cells:
        if c.classification_system == "nonneuron":
            continue
        pool = _INHIBITORY if c.classification_system == "inhibitory_neuron" else _EXCITATORY
        cell_type, nt = pool[int(rng.integers(len(pool)))]
        out[c.label] = (cell_type, nt, "L" if c.center[0] < midline_nm else "R")
    return out


def _synapses(ctx, rng, types) -> pd.DataFrame:
    syn = make_synapses(ctx, rng)
    seg_res = ctx.res
    pre_seg = syn[["pre_pt_position_x", "pre_pt_position_y", "pre_pt_position_z"]].to_numpy()
    pre_cell = ctx.cells_vol[tuple(pre_seg.T)]
    n = len(syn)
    # neurotransmitter probabilities: a Dirichlet peaked on the presynaptic cell's transmitter
    alpha = np.full((n, len(NEUROTRANSMITTERS)), 0.4)
    dominant = np.array([NEUROTRANSMITTERS.index(types.get(int(c), ("", "ach", ""))[1]) for c in pre_cell])
    alpha[np.arange(n), dominant] = 6.0
    probs = rng.gamma(alpha)
    probs /= probs.sum(1, keepdims=True)
    cols = {}
    for prefix in ("pre_pt", "post_pt"):
        seg = syn[[f"{prefix}_position_{a}" for a in "xyz"]].to_numpy()
        cols.update(_point_cols(prefix, _to_table_voxels(seg, seg_res), syn[f"{prefix}_supervoxel_id"].to_numpy()))
    out = _frame(syn["id"].to_numpy() - 158_000_000 + 1, ctx.t_static, **cols,
                 score=rng.uniform(0, 400, n).astype(np.float64),
                 cleft_score=rng.uniform(50, 200, n).astype(np.float64),
                 **{nt: probs[:, k].astype(np.float64) for k, nt in enumerate(NEUROTRANSMITTERS)},
                 valid_nt=rng.random(n) < 0.97)
    return out


def _cell_types(ctx, types) -> pd.DataFrame:
    pts = _soma_points(ctx)
    keep = [i for i, c in enumerate(ctx.cells) if c.label in types]
    # one neuron stays untyped, as on a real datastack where typing is never complete
    keep = keep[:-1]
    seg = pts[keep]
    labels = [ctx.cells[i].label for i in keep]
    return _frame(np.arange(1, len(keep) + 1), ctx.t_static,
                  **_point_cols("pt", _to_table_voxels(seg, ctx.res), ctx.sv_volume[tuple(seg.T)]),
                  classification_system=["central"] * len(keep),
                  cell_type=[types[lab][0] for lab in labels],
                  hemisphere=[types[lab][2] for lab in labels])


_DESCRIPTIONS = {
    SYNAPSE_TABLE: ("fly_nt_synapse",
        "Synapses with neurotransmitter predictions (gaba, ach, glut, oct, ser, da: probabilities summing to 1; "
        "valid_nt false where no prediction is available), shaped like FlyWire's synapses_nt_v1. pre_pt and "
        "post_pt lie in the pre- and postsynaptic cell; positions in 4x4x40 nm voxels. (Generated sample data.)"),
    CELL_TYPE_TABLE: ("fly_cell_type",
        "Cell types of neurons (schema fly_cell_type: pt on the cell body, classification_system, cell_type, "
        "hemisphere). Not every neuron is typed. (Generated sample data, fly-like names.)"),
}


def make_fly_tables(ctx, rng) -> tuple[dict[str, pd.DataFrame], dict]:
    """The fly sample's tables (DataFrames) and ``tables/metadata.json`` content.

    Example::

        frames, meta = make_fly_tables(ctx, np.random.default_rng(0))
        sorted(frames)   # ['neuron_cell_types', 'synapses_nt_v1']
    """
    types = _fly_types(ctx.cells, rng, float(ctx.scale.size_nm[0]) / 2)
    frames = {SYNAPSE_TABLE: _synapses(ctx, rng, types), CELL_TYPE_TABLE: _cell_types(ctx, types)}
    meta = {}
    for name, (schema, desc) in _DESCRIPTIONS.items():
        meta[name] = {
            "table_name": name, "schema_type": schema, "schema": schema, "description": desc,
            "reference_table": None, "voxel_resolution_x": TABLE_RESOLUTION[0],
            "voxel_resolution_y": TABLE_RESOLUTION[1], "voxel_resolution_z": TABLE_RESOLUTION[2],
            "created": ctx.t_static.isoformat(), "user_id": "161", "notice_text": None, "valid": True,
            "read_permission": "PUBLIC", "write_permission": "PRIVATE",
        }
    return frames, meta
