"""Skeletons from the chunkedgraph's level-2 graph and the L2 cache (pcg_skel's method, no meshparty).

``skeleton_from_l2(client, root_id)`` fetches the L2 graph and L2 statistics through caveclient
and calls :func:`skeletonize`, the pure core that works on arrays (L2 ids, positions in nm, edges
as pairs of L2 ids). Both return a :class:`Skeleton`.

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
import warnings

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from .._ids import parse_root_id, parse_root_ids
from .._storage import atomic_write
from . import _teasar
from ._compartments import split_by_flow

__all__ = ["Skeleton", "skeletonize", "skeleton_from_l2", "L2_ATTRIBUTES"]

L2_ATTRIBUTES = ["rep_coord_nm", "size_nm3", "area_nm2", "max_dt_nm", "mean_dt_nm"]
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


def skeletonize(l2_ids, positions, edges, root=None, *, soma_point=None, collapse_soma: bool = True,
                soma_radius: float = 7500.0, invalidation_d: float = 7500.0, attributes=None,
                root_id=None, attach: str = "nearest", start: str = "far") -> Skeleton:
    """TEASAR skeleton of an L2 graph given as arrays (the core of :func:`skeleton_from_l2`).

    Args:
        l2_ids: ``(n,)`` unique level-2 ids (uint64 or python ints; floats are refused).
        positions: ``(n, 3)`` positions in nm, NaN rows where the L2 cache had none; those are
            filled from graph neighbours round by round. A connected piece without any position
            raises ``ValueError`` naming its ids.
        edges: ``(m, 2)`` pairs of L2 ids (may be empty). Pieces of a disconnected graph are
            joined by their shortest euclidean link.
        root: an L2 id to root at; default: the node nearest ``soma_point``, else an end of the
            graph's diameter.
        soma_point: nucleus position (nm). With ``collapse_soma`` the skeleton nodes within
            ``soma_radius`` of it collapse into the root, which moves to ``soma_point``; their
            L2 ids go to the root. As in meshparty's ``soma_via_sphere``, "joined to the root"
            counts skeleton edges with at least one end inside the sphere, so the first node
            past the sphere on each branch collapses too.
        invalidation_d: TEASAR invalidation distance (nm, along the graph), pcg_skel's 7500.
        attach: where a new TEASAR path joins the skeleton: ``"nearest"`` (default, meshparty's
            rule: the skeleton node nearest the path's tip along the graph, found by a bounded
            Dijkstra) or ``"tree"`` (where the tip's shortest-path-tree route from the root
            meets the skeleton; a little faster, more multi-way branch points).
        start: where TEASAR starts. ``"far"`` (default, as pcg_skel/meshparty): at an end of
            the graph's diameter; the finished tree is then re-hung from the skeleton node
            nearest ``soma_point`` (so the root is still the soma). ``"root"``: TEASAR starts at
            the root itself (textbook TEASAR from the soma; branch points differ a little more
            from pcg_skel's). Ignored when ``root`` is given (TEASAR then starts there).
        attributes: optional ``{name: (n,) array}`` of L2 statistics aligned with ``l2_ids``
            (``max_dt_nm``, ``area_nm2``, ``size_nm3``; used for radius and volume columns).
        root_id: recorded on the skeleton.

    Example::

        ids = np.array([2**60 + 1, 2**60 + 2, 2**60 + 3], dtype=np.uint64)
        pos = np.array([[0, 0, 0], [1000, 0, 0], [2000, 0, 0]], float)
        sk = skeletonize(ids, pos, [[ids[0], ids[1]], [ids[1], ids[2]]])
        sk.cable_length_nm   # 2000.0
    """
    if attach not in ("nearest", "tree"):
        raise ValueError(f"attach must be 'nearest' or 'tree', not {attach!r}")
    root_id = None if root_id is None else parse_root_id(root_id)
    ids = _as_ids(l2_ids, "l2_ids").ravel()
    n = len(ids)
    if n == 0:
        raise ValueError("skeletonize needs at least one L2 id")
    pos = np.asarray(positions, dtype=np.float64)
    if pos.shape != (n, 3):
        raise ValueError(f"positions must have shape ({n}, 3), got {pos.shape}")
    order = np.argsort(ids, kind="stable")
    ids, pos = ids[order], pos[order]
    if (ids[1:] == ids[:-1]).any():
        raise ValueError(f"l2_ids has duplicates, e.g. {ids[1:][ids[1:] == ids[:-1]][:3].tolist()}")
    attrs = {k: np.asarray(v, dtype=np.float64).ravel()[order] for k, v in (attributes or {}).items()}
    e = _as_ids(edges, "edges").reshape(-1, 2)
    ei = np.searchsorted(ids, e[:, 0]).clip(0, n - 1)
    ej = np.searchsorted(ids, e[:, 1]).clip(0, n - 1)
    unknown = (ids[ei] != e[:, 0]) | (ids[ej] != e[:, 1])
    if unknown.any():
        bad = e[unknown][0].tolist()
        raise ValueError(f"edge {bad} refers to an L2 id not in l2_ids")
    ei, ej = ei.astype(np.int64), ej.astype(np.int64)

    pos, missing = _teasar.fill_positions(pos, ei, ej)
    n_filled = int((~np.isfinite(np.asarray(positions, dtype=np.float64)).all(axis=1)).sum() - missing.sum())
    if missing.any():
        _, labels = _teasar.components(n, ei, ej)
        bad = np.flatnonzero(missing)
        comp = labels[bad[0]]
        members = ids[labels == comp]
        raise ValueError(f"no position for any L2 node of a connected piece of {len(members)} node(s) "
                         f"(L2 ids {members[:5].tolist()}{' ...' if len(members) > 5 else ''}): "
                         "the L2 cache has no rep_coord_nm for them")
    bi, bj = _teasar.bridge_components(pos, ei, ej)
    graph = _teasar.weighted_graph(pos, np.concatenate([ei, bi]), np.concatenate([ej, bj]))

    soma = None if soma_point is None else np.asarray(soma_point, dtype=np.float64).reshape(3)
    inv = float(invalidation_d)
    if root is not None:
        root = parse_root_id(root, what="root (an L2 id)")
        r = np.searchsorted(ids, np.uint64(root))
        if r >= n or ids[r] != np.uint64(root):
            raise ValueError(f"root {root} is not one of the l2_ids")
        root_idx = int(r)
        parent, owner, _ = _teasar.teasar(graph, root_idx, inv, attach=attach)
    elif start == "far" or soma is None:
        # pcg_skel/meshparty: TEASAR from a diameter end, then re-hang the tree from the
        # skeleton node nearest the soma
        root_idx = _teasar.far_point(graph, 0)
        parent, owner, _ = _teasar.teasar(graph, root_idx, inv, attach=attach)
        if soma is not None:
            on_idx = np.flatnonzero(parent != -2)
            root_idx = int(on_idx[np.argmin(np.linalg.norm(pos[on_idx] - soma, axis=1))])
            parent = _teasar.reroot(parent, root_idx)
    elif start == "root":
        root_idx = int(np.argmin(np.linalg.norm(pos - soma, axis=1)))
        parent, owner, _ = _teasar.teasar(graph, root_idx, inv, attach=attach)
    else:
        raise ValueError(f"start must be 'far' or 'root', not {start!r}")
    on = parent != -2
    merge = np.zeros(n, dtype=bool)
    has_par = on & (parent >= 0)
    zero = np.zeros(n, dtype=bool)
    zero[has_par] = np.all(pos[has_par] == pos[parent[has_par]], axis=1)
    merge |= zero
    collapsed = soma is not None and collapse_soma
    if collapsed:
        close = np.linalg.norm(pos - soma, axis=1) < soma_radius
        merge |= _teasar.soma_region(parent, root_idx, close & on)
    kept, target = _teasar.merge_and_order(parent, root_idx, merge)
    new_id = np.full(n, -1, dtype=np.int64)
    new_id[kept] = np.arange(len(kept))
    l2_node = new_id[target[owner]]
    par = parent[kept]
    parent_id = np.where(par >= 0, new_id[target[np.maximum(par, 0)]], -1)
    xyz = pos[kept].copy()
    if collapsed:
        xyz[0] = soma

    # per-L2 radius: max_dt_nm, else the radius of a sphere with the chunk's surface area
    r_l2 = attrs.get("max_dt_nm", np.full(n, np.nan)).copy()
    if "area_nm2" in attrs:
        fb = ~np.isfinite(r_l2)
        r_l2[fb] = np.sqrt(attrs["area_nm2"][fb] / (4 * np.pi))
    k = len(kept)
    group = np.argsort(l2_node, kind="stable")
    bounds = np.searchsorted(l2_node[group], np.arange(k + 1))
    radius = r_l2[kept].copy()
    fix = np.flatnonzero(~np.isfinite(radius)).tolist() + ([0] if collapsed else [])
    if fix and np.isfinite(r_l2).any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN groups stay NaN
            for i in fix:
                vals = r_l2[group[bounds[i]:bounds[i + 1]]]
                radius[i] = np.nanmax(vals) if (collapsed and i == 0) else np.nanmedian(vals)
    grouped = ids[group].tolist()  # python ints: exact
    bl = bounds.tolist()
    l2_lists = [grouped[bl[i]:bl[i + 1]] for i in range(k)]

    nodes = pd.DataFrame({
        "node_id": np.arange(k, dtype=np.int64),
        "x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2],
        "parent_id": parent_id.astype(np.int64),
        "radius": radius,
        "compartment": ["soma" if (soma is not None and i == 0) else "unknown" for i in range(k)],
        "l2_ids": l2_lists,
    })
    for name in ("size_nm3", "area_nm2"):
        if name in attrs:
            nodes[name] = np.bincount(l2_node, weights=np.nan_to_num(attrs[name]), minlength=k)
    meta = {"invalidation_d": float(invalidation_d), "soma_radius": float(soma_radius),
            "collapse_soma": bool(collapsed), "n_l2": n, "n_filled": n_filled, "n_bridges": len(bi),
            "root_l2_id": int(ids[root_idx])}
    return Skeleton(nodes, ids, l2_node, pos, root_id=root_id, soma_point=soma if soma is not None else None,
                    meta=meta)


# ---- fetching through caveclient -------------------------------------------------------------

def _root_valid_time(client, root_id: int):
    """A moment when ``root_id`` is valid: mid-way between its creation and its last valid time."""
    cg = client.chunkedgraph
    created = cg.get_root_timestamps([root_id])[0]
    latest = cg.get_root_timestamps([root_id], latest=True)[0]
    return created + (latest - created) / 2


def find_soma_point(client, root_id: int, timestamp=None):
    """Nucleus position (nm) of ``root_id`` from the datastack's soma table, or ``None``.

    The soma table is ``client.info.get_datastack_info()["soma_table"]``; the query is a live
    query at ``timestamp`` (default: a moment when the root id is valid, so outdated root ids
    find their nucleus too). With several nuclei (a merge) the largest ``volume`` wins.

    Example::

        find_soma_point(client, root)   # array([x, y, z]) in nm
    """
    table = (client.info.get_datastack_info() or {}).get("soma_table")
    if not table:
        return None
    query = dict(filter_equal_dict={"pt_root_id": int(root_id)}, desired_resolution=[1, 1, 1])
    # root ids never change their supervoxels: a hit in the materialized version is a hit at any
    # time, and that query is much cheaper than a live one
    df = client.materialize.query_table(table, **query) if timestamp is None else None
    if df is None or len(df) == 0:
        ts = timestamp if timestamp is not None else _root_valid_time(client, root_id)
        df = client.materialize.query_table(table, timestamp=ts, **query)
    if df is None or len(df) == 0:
        return None
    if len(df) > 1 and "volume" in df.columns:
        df = df.sort_values("volume", ascending=False)
    xyz = _positions(df, "pt_position")
    return None if xyz is None else xyz[0]


def skeleton_from_l2(client, root_id, timestamp=None, *, soma=True, collapse_soma: bool = True,
                     soma_radius: float = 7500.0, invalidation_d: float = 7500.0, progress: bool = False,
                     chunk_size: int = 10_000) -> Skeleton:
    """Skeleton of ``root_id`` from its level-2 graph and the L2 cache (pcg_skel's recipe).

    Fetches ``client.chunkedgraph.level2_chunk_graph(root_id)`` (the layer-2 leaves for an object
    inside one chunk) and ``client.l2cache.get_l2data(...)`` for :data:`L2_ATTRIBUTES`, then calls
    :func:`skeletonize`. Missing L2 cache entries are filled from graph neighbours.

    Args:
        client: a ``caveclient.CAVEclient`` for the datastack.
        root_id: the segment (int; exact, above 2^53).
        timestamp: when to look up the nucleus of this root id in the soma table (default: a
            moment when the root id is valid). The L2 graph of a root id never changes.
        soma: ``True`` to root at the nucleus from the soma table (falls back to a graph-diameter
            end when there is none), ``False`` to skip the lookup, or an ``(x, y, z)`` point in nm.
        collapse_soma, soma_radius, invalidation_d: see :func:`skeletonize` (nm).
        progress: show a tqdm bar over the fetch steps.

    Example::

        sk = skeleton_from_l2(client, 864691135808540566)
        sk.nodes[["x", "y", "z", "radius"]].describe()
    """
    from tqdm.auto import tqdm

    root_id = parse_root_id(root_id)
    cg = client.chunkedgraph
    with tqdm(total=3, desc=f"skeleton {root_id}", disable=not progress, leave=False) as bar:
        bar.set_postfix_str("level-2 graph")
        try:
            edge_list = cg.level2_chunk_graph(root_id)
        except Exception as err:  # requests.HTTPError from caveclient: name the root id
            raise ValueError(f"could not get the level-2 graph of root id {root_id}: {err}") from err
        edges = _as_ids(edge_list, "level-2 graph").reshape(-1, 2)
        if len(edges) == 0:
            l2_ids = _as_ids(cg.get_leaves(root_id, stop_layer=2), "level-2 leaves").ravel()
        else:
            l2_ids = np.unique(edges)
        if len(l2_ids) == 0:
            raise ValueError(f"root id {root_id} has no level-2 nodes")
        bar.update(1)

        bar.set_postfix_str("L2 cache")
        n = len(l2_ids)
        pos = np.full((n, 3), np.nan)
        attrs = {k: np.full(n, np.nan) for k in L2_ATTRIBUTES[1:]}
        for start in range(0, n, chunk_size):
            part = l2_ids[start:start + chunk_size]
            data = client.l2cache.get_l2data(part.tolist(), attributes=L2_ATTRIBUTES)
            for i, l2 in enumerate(part.tolist(), start=start):
                entry = data.get(str(l2)) or {}
                xyz = entry.get("rep_coord_nm")
                if xyz is not None and len(xyz) == 3:
                    pos[i] = xyz
                for k in attrs:
                    v = entry.get(k)
                    if v is not None:
                        attrs[k][i] = v
        bar.update(1)

        bar.set_postfix_str("soma")
        if soma is True:
            soma_point = find_soma_point(client, root_id, timestamp)
        elif soma is False or soma is None:
            soma_point = None
        else:
            soma_point = np.asarray(soma, dtype=np.float64).reshape(3)
        bar.update(1)

    return skeletonize(l2_ids, pos, edges, soma_point=soma_point, collapse_soma=collapse_soma,
                       soma_radius=soma_radius, invalidation_d=invalidation_d, attributes=attrs,
                       root_id=root_id)
