"""The :class:`Skeleton` of one neuron: a rooted tree with every level-2 id mapped to a node.

Built by :func:`~cavewidgets.morphology.build.skeletonize` (the pure core on arrays) and
:func:`~cavewidgets.morphology.l2.skeleton_from_l2` (fetching through caveclient); this module
holds the result and its outputs (edges, lengths, compartments, SWC, navis).

Example::

    import cavewidgets
    from cavewidgets.morphology import skeleton_from_l2
    client = cavewidgets.sample.client()
    root = int(client.materialize.query_table("nucleus_detection_v0").pt_root_id.iloc[0])
    sk = skeleton_from_l2(client, root)
    sk.nodes.head(); sk.cable_length_nm; sk.l2_to_node[some_l2_id]
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from .._ids import parse_root_id, parse_root_ids
from .._storage import atomic_write
from ._compartments import split_by_flow

__all__ = ["Skeleton"]

_SWC_TYPE = {"soma": 1, "axon": 2, "dendrite": 3, "unknown": 0}


def _as_ids(values, what: str, allow_zero: bool = False) -> np.ndarray:
    """Ids as an exact uint64 array by :mod:`cavewidgets._ids`' rules (nested lists of pairs too)."""
    if not isinstance(values, (np.ndarray, pd.Series, pd.Index)) and isinstance(values, (list, tuple)) \
            and any(isinstance(v, (list, tuple, np.ndarray)) for v in values):
        values = np.array([list(v) for v in values], dtype=object)
    return parse_root_ids(values, what=what, allow_zero=allow_zero)


class Skeleton:
    """A rooted tree skeleton of one neuron, with every level-2 id mapped to a node.

    Attributes:
        root_id: the segment's root id (``int``) or ``None`` for a skeleton built from arrays.
        nodes: DataFrame, one row per node, parents before children, root first:
            ``node_id`` (int, 0..n-1), ``x, y, z`` (nm), ``parent_id`` (-1 at the root),
            ``radius`` (nm, from the L2 cache's ``max_dt_nm``; ``sqrt(area_nm2 / 4π)`` where that
            is missing), ``compartment`` ("soma" at a soma root, else "unknown" until
            :meth:`label_compartments`), ``l2_ids`` (list of python ints), ``size_nm3`` and
            ``area_nm2`` (summed over the node's L2 ids).
        soma_point: nucleus position (nm) the skeleton was rooted at, or ``None``.
        meta: parameters and counts (``invalidation_d``, ``n_filled``, ``n_bridges``, ...).

    Example::

        sk = skeleton_from_l2(client, root_id)
        sk.edges                      # child, parent
        sk.cable_length_nm / 1000     # µm
        sk.node_of([l2_id])           # skeleton node of an L2 id
        sk.to_swc("cell.swc")         # micrometres by default
    """

    def __init__(self, nodes: pd.DataFrame, l2_ids: np.ndarray, l2_node: np.ndarray,
                 l2_positions: np.ndarray, *, root_id=None, soma_point=None, meta=None):
        self.nodes = nodes
        self.root_id = None if root_id is None else parse_root_id(root_id)
        self.soma_point = None if soma_point is None else np.asarray(soma_point, dtype=np.float64)
        self.meta = dict(meta or {})
        self.compartment_split: dict | None = None
        self._l2_ids = l2_ids  # sorted uint64
        self._l2_node = l2_node  # node index per L2 id
        self._l2_pos = l2_positions
        self._l2_map: dict | None = None

    # ---- structure ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.nodes)

    def __repr__(self) -> str:
        rid = "" if self.root_id is None else f"root_id={self.root_id} "
        return (f"<Skeleton {rid}nodes={len(self.nodes)} l2={len(self._l2_ids)} "
                f"cable={self.cable_length_nm / 1000:.1f} µm branch_points={len(self.branch_points)}>")

    @property
    def edges(self) -> pd.DataFrame:
        """DataFrame ``child, parent`` (node ids), one row per non-root node."""
        sub = self.nodes[self.nodes.parent_id >= 0]
        return pd.DataFrame({"child": sub.node_id.to_numpy(np.int64), "parent": sub.parent_id.to_numpy(np.int64)})

    def _xyz(self) -> np.ndarray:
        return self.nodes[["x", "y", "z"]].to_numpy(np.float64)

    @property
    def edge_lengths_nm(self) -> np.ndarray:
        """Length (nm) of each edge in :attr:`edges` order."""
        e = self.edges
        xyz = self._xyz()
        return np.linalg.norm(xyz[e.child.to_numpy()] - xyz[e.parent.to_numpy()], axis=1)

    @property
    def cable_length_nm(self) -> float:
        """Total length of all edges in nm."""
        return float(self.edge_lengths_nm.sum())

    def _n_children(self) -> np.ndarray:
        par = self.nodes.parent_id.to_numpy(np.int64)
        return np.bincount(par[par >= 0], minlength=len(par))

    @property
    def branch_points(self) -> np.ndarray:
        """Node ids with two or more children (the root included, as in meshparty)."""
        return np.flatnonzero(self._n_children() > 1)

    @property
    def end_points(self) -> np.ndarray:
        """Node ids without children (tips; the root only for a one-node skeleton)."""
        return np.flatnonzero(self._n_children() == 0)

    # ---- L2 mapping --------------------------------------------------------------------------
    @property
    def l2_ids(self) -> np.ndarray:
        """All level-2 ids of the skeleton, sorted, as uint64."""
        return self._l2_ids

    @property
    def l2_to_node(self) -> dict:
        """``{l2_id (int): node_id (int)}`` for every L2 id (pcg_skel's ``mesh_to_skel_map``)."""
        if self._l2_map is None:
            self._l2_map = dict(zip(self._l2_ids.tolist(), self._l2_node.tolist()))
        return self._l2_map

    def node_of(self, l2_ids) -> np.ndarray:
        """Node ids of the given L2 ids (vectorised); unknown ids raise ``KeyError``.

        Example::

            sk.node_of(np.array([l2a, l2b], dtype=np.uint64))
        """
        q = _as_ids(l2_ids, "l2_ids").ravel()
        idx = np.minimum(np.searchsorted(self._l2_ids, q), max(len(self._l2_ids) - 1, 0))
        bad = self._l2_ids[idx] != q if len(self._l2_ids) else np.ones(len(q), bool)
        if bad.any():
            raise KeyError(f"L2 id(s) not in this skeleton: {q[bad][:5].tolist()}")
        return self._l2_node[idx]

    # ---- compartments ------------------------------------------------------------------------
    def label_compartments(self, synapses, *, resolution=None, min_segregation: float = 0.05) -> "Skeleton":
        """Label nodes axon / dendrite (root: soma) by synapse flow; returns ``self``.

        ``synapses``: a DataFrame from ``client.materialize.synapse_query`` (or a list of them,
        e.g. ``[pre_df, post_df]``) with ``pre_pt_root_id`` / ``post_pt_root_id``: rows where this
        neuron is presynaptic are outputs, postsynaptic are inputs (a boolean ``is_output`` column
        overrides). Positions come from ``pre_pt_position`` (outputs) / ``post_pt_position``
        (inputs), else ``ctr_pt_position``, in units of ``resolution`` (nm per voxel), else the
        frame's ``attrs["dataframe_resolution"]`` (set by caveclient), else nm. Each synapse goes
        to the node of its nearest L2 node. The axon is the output-rich subtree (or few subtrees)
        whose cut best separates outputs from inputs (synapse-flow idea, see ``_compartments``);
        when they do not separate (segregation index below ``min_segregation``) nodes stay
        "unknown". Adds ``n_pre`` / ``n_post`` columns and sets :attr:`compartment_split`
        (``split_nodes``, ``segregation_index``, ``flow_node``, counts).

        Example::

            pre = client.materialize.synapse_query(pre_ids=root)
            post = client.materialize.synapse_query(post_ids=root)
            sk.label_compartments([pre, post]).nodes.compartment.value_counts()
        """
        frames = [synapses] if isinstance(synapses, pd.DataFrame) else list(synapses)
        pts, outs = [], []
        for df in frames:
            p, o = self._synapse_points(df, resolution)
            pts.append(p)
            outs.append(o)
        pts = np.concatenate(pts) if pts else np.zeros((0, 3))
        outs = np.concatenate(outs) if outs else np.zeros(0, bool)
        n = len(self.nodes)
        if len(pts):
            d, k = cKDTree(self._l2_pos).query(pts)
            far = np.median(d)
            if far > 20_000:
                raise ValueError(f"synapse positions are {far / 1000:.0f} µm (median) from the skeleton: "
                                 "pass resolution=[x, y, z] (nm per voxel of the position columns)")
            node = self._l2_node[k]
            n_pre = np.bincount(node[outs], minlength=n)
            n_post = np.bincount(node[~outs], minlength=n)
        else:
            n_pre = n_post = np.zeros(n, dtype=np.int64)
        labels, info = split_by_flow(self.nodes.parent_id.to_numpy(np.int64), n_pre, n_post,
                                     has_soma=self.soma_point is not None, min_segregation=min_segregation)
        self.nodes["compartment"] = labels.astype(str)
        self.nodes["n_pre"] = n_pre.astype(np.int64)
        self.nodes["n_post"] = n_post.astype(np.int64)
        self.compartment_split = info
        return self

    def _synapse_points(self, df: pd.DataFrame, resolution):
        if "is_output" in df.columns:
            is_out = df["is_output"].to_numpy(bool)
        else:
            if self.root_id is None or "pre_pt_root_id" not in df.columns:
                raise ValueError("synapses need pre_pt_root_id/post_pt_root_id (and a skeleton root_id) "
                                 "or a boolean is_output column")
            rid = np.uint64(self.root_id)
            is_out = _as_ids(df["pre_pt_root_id"], "pre_pt_root_id", allow_zero=True) == rid
            if "post_pt_root_id" in df.columns:
                is_in = _as_ids(df["post_pt_root_id"], "post_pt_root_id", allow_zero=True) == rid
                keep = is_out | is_in
                df, is_out = df[keep], is_out[keep]
        res = resolution if resolution is not None else df.attrs.get("dataframe_resolution", [1, 1, 1])
        res = np.asarray(res, dtype=np.float64).reshape(3)
        pos = np.full((len(df), 3), np.nan)
        for side, mask in (("pre_pt", is_out), ("post_pt", ~is_out), ("ctr_pt", np.ones(len(df), bool))):
            xyz = _positions(df, f"{side}_position")
            if xyz is None:
                continue
            fill = mask & ~np.isfinite(pos).all(axis=1)
            pos[fill] = xyz[fill]
        if not np.isfinite(pos).all():
            raise ValueError("synapses need pre_pt_position / post_pt_position (or ctr_pt_position) columns")
        return pos * res, is_out

    # ---- export ------------------------------------------------------------------------------
    def to_swc(self, path, *, units: str = "um") -> None:
        """Write a standard SWC file (``n type x y z radius parent``, ids from 1, root parent -1).

        Coordinates and radii are in micrometres by default (``units="um"``, the SWC convention);
        ``units="nm"`` keeps nanometres. Types: 1 soma, 2 axon, 3 dendrite, 0 unknown. The file is
        written to a temporary name first, so a failed write leaves nothing behind.

        Example::

            sk.to_swc("cell.swc")              # µm
            sk.to_swc("cell_nm.swc", units="nm")
        """
        scale = {"um": 1e-3, "nm": 1.0}.get(units)
        if scale is None:
            raise ValueError(f"units must be 'um' or 'nm', not {units!r}")
        nd = self.nodes
        xyz = nd[["x", "y", "z"]].to_numpy(np.float64) * scale
        radius = np.nan_to_num(nd.radius.to_numpy(np.float64), nan=0.0) * scale
        types = [_SWC_TYPE.get(c, 0) for c in nd.compartment]
        par = nd.parent_id.to_numpy(np.int64)
        par = np.where(par >= 0, par + 1, -1)
        lines = ["# SWC written by cavewidgets.morphology",
                 f"# root_id {self.root_id}" if self.root_id is not None else "# root_id none",
                 f"# units {'micrometers' if units == 'um' else 'nanometers'} (x y z radius)",
                 "# n type x y z radius parent"]
        lines += [f"{i + 1} {t} {p[0]:.6g} {p[1]:.6g} {p[2]:.6g} {r:.6g} {q}"
                  for i, (t, p, r, q) in enumerate(zip(types, xyz, radius, par))]
        atomic_write(os.path.abspath(os.fspath(path)), "\n".join(lines) + "\n", prefix=".swc-")

    def to_navis(self):
        """A ``navis.TreeNeuron`` (units nm, node table with ``label`` = compartment).

        Raises ``ImportError`` when navis is not installed (it is an optional dependency).

        Example::

            n = sk.to_navis(); navis.plot3d(n)
        """
        try:
            import navis
        except ImportError as err:
            raise ImportError("Skeleton.to_navis() needs navis, an optional dependency: pip install navis") from err
        df = self.nodes[["node_id", "parent_id", "x", "y", "z", "radius"]].copy()
        df["label"] = self.nodes.compartment.to_numpy()
        kwargs = {"units": "1 nanometer"}
        if self.root_id is not None:
            kwargs["id"] = self.root_id
        neuron = navis.TreeNeuron(df, **kwargs)
        if self.soma_point is not None:
            neuron.soma = 0
        return neuron


def _positions(df: pd.DataFrame, col: str):
    """``(n, 3)`` float array from a column of 3-vectors or ``col_x/_y/_z`` columns; else None."""
    if col in df.columns:
        vals = df[col].to_numpy()
        if len(vals) == 0:
            return np.zeros((0, 3))
        return np.stack([np.asarray(v, dtype=np.float64).reshape(3) for v in vals])
    if all(f"{col}_{a}" in df.columns for a in "xyz"):
        return df[[f"{col}_{a}" for a in "xyz"]].to_numpy(np.float64)
    return None
