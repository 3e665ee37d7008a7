"""TEASAR skeletons of a level-2 graph given as arrays: :func:`skeletonize`, in named steps.

Graph building (checked ids, filled positions, bridged pieces), rooting (TEASAR from a diameter
end or the soma, re-hung at the soma), merging (zero-length edges, the soma sphere) and output
(the node table with radii and L2 id lists). The graph algorithms themselves are in ``_teasar``.

Example::

    from cavewidgets.morphology import skeletonize
    sk = skeletonize(l2_ids, positions_nm, l2_edges, soma_point=nucleus_nm)
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .._ids import parse_root_id
from . import _teasar
from .skeleton import Skeleton, _as_ids

__all__ = ["skeletonize"]


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
    ids, pos, order, ei, ej = _graph_arrays(l2_ids, positions, edges)
    attrs = {k: np.asarray(v, dtype=np.float64).ravel()[order] for k, v in (attributes or {}).items()}
    pos, n_filled = _filled_positions(ids, pos, ei, ej, positions)
    bi, bj = _teasar.bridge_components(pos, ei, ej)
    graph = _teasar.weighted_graph(pos, np.concatenate([ei, bi]), np.concatenate([ej, bj]))

    soma = None if soma_point is None else np.asarray(soma_point, dtype=np.float64).reshape(3)
    parent, owner, root_idx = _rooted_tree(graph, pos, ids, root, soma, float(invalidation_d), attach, start)
    collapsed = soma is not None and collapse_soma
    kept, l2_node, parent_id = _merged_tree(parent, owner, root_idx, pos, soma if collapsed else None,
                                            soma_radius)
    xyz = pos[kept].copy()
    if collapsed:
        xyz[0] = soma
    nodes = _node_table(ids, kept, xyz, parent_id, l2_node, attrs, collapsed=collapsed, has_soma=soma is not None)
    meta = {"invalidation_d": float(invalidation_d), "soma_radius": float(soma_radius),
            "collapse_soma": bool(collapsed), "n_l2": len(ids), "n_filled": n_filled, "n_bridges": len(bi),
            "root_l2_id": int(ids[root_idx])}
    return Skeleton(nodes, ids, l2_node, pos, root_id=root_id, soma_point=soma if soma is not None else None,
                    meta=meta)


# ---- graph building ----------------------------------------------------------------------------

def _graph_arrays(l2_ids, positions, edges):
    """Checked inputs in index space: ids sorted, positions in that order, edges as index pairs.

    Returns ``(ids, pos, order, ei, ej)``; ``order`` sorts the caller's arrays like ``ids``.
    """
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
    e = _as_ids(edges, "edges").reshape(-1, 2)
    ei = np.searchsorted(ids, e[:, 0]).clip(0, n - 1)
    ej = np.searchsorted(ids, e[:, 1]).clip(0, n - 1)
    unknown = (ids[ei] != e[:, 0]) | (ids[ej] != e[:, 1])
    if unknown.any():
        bad = e[unknown][0].tolist()
        raise ValueError(f"edge {bad} refers to an L2 id not in l2_ids")
    return ids, pos, order, ei.astype(np.int64), ej.astype(np.int64)


def _filled_positions(ids, pos, ei, ej, given) -> tuple[np.ndarray, int]:
    """Positions with NaN rows filled from graph neighbours, and how many were filled.

    A connected piece without any position raises ``ValueError`` naming its ids.
    """
    pos, missing = _teasar.fill_positions(pos, ei, ej)
    n_filled = int((~np.isfinite(np.asarray(given, dtype=np.float64)).all(axis=1)).sum() - missing.sum())
    if missing.any():
        _, labels = _teasar.components(len(ids), ei, ej)
        bad = np.flatnonzero(missing)
        comp = labels[bad[0]]
        members = ids[labels == comp]
        raise ValueError(f"no position for any L2 node of a connected piece of {len(members)} node(s) "
                         f"(L2 ids {members[:5].tolist()}{' ...' if len(members) > 5 else ''}): "
                         "the L2 cache has no rep_coord_nm for them")
    return pos, n_filled


# ---- rooting -----------------------------------------------------------------------------------

def _rooted_tree(graph, pos, ids, root, soma, inv: float, attach: str, start: str):
    """TEASAR tree ``(parent, owner, root_idx)`` rooted as :func:`skeletonize` documents."""
    if root is not None:
        root = parse_root_id(root, what="root (an L2 id)")
        r = np.searchsorted(ids, np.uint64(root))
        if r >= len(ids) or ids[r] != np.uint64(root):
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
    return parent, owner, root_idx


def _merged_tree(parent, owner, root_idx, pos, collapse_at, soma_radius):
    """Drop zero-length edges (and, with ``collapse_at``, the soma sphere) into their parents.

    Returns ``(kept, l2_node, parent_id)``: kept L2 indices in node order (root first), the node
    of every L2 id, and each node's parent node (-1 at the root).
    """
    n = len(parent)
    on = parent != -2
    merge = np.zeros(n, dtype=bool)
    has_par = on & (parent >= 0)
    zero = np.zeros(n, dtype=bool)
    zero[has_par] = np.all(pos[has_par] == pos[parent[has_par]], axis=1)
    merge |= zero
    if collapse_at is not None:
        close = np.linalg.norm(pos - collapse_at, axis=1) < soma_radius
        merge |= _teasar.soma_region(parent, root_idx, close & on)
    kept, target = _teasar.merge_and_order(parent, root_idx, merge)
    new_id = np.full(n, -1, dtype=np.int64)
    new_id[kept] = np.arange(len(kept))
    l2_node = new_id[target[owner]]
    par = parent[kept]
    parent_id = np.where(par >= 0, new_id[target[np.maximum(par, 0)]], -1)
    return kept, l2_node, parent_id


# ---- output ------------------------------------------------------------------------------------

def _node_table(ids, kept, xyz, parent_id, l2_node, attrs, *, collapsed: bool, has_soma: bool) -> pd.DataFrame:
    """The :attr:`Skeleton.nodes` frame: positions, parents, radii, L2 id lists, summed statistics."""
    k = len(xyz)
    group = np.argsort(l2_node, kind="stable")
    bounds = np.searchsorted(l2_node[group], np.arange(k + 1))
    grouped = ids[group].tolist()  # python ints: exact
    bl = bounds.tolist()
    nodes = pd.DataFrame({
        "node_id": np.arange(k, dtype=np.int64),
        "x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2],
        "parent_id": parent_id.astype(np.int64),
        "radius": _node_radii(attrs, len(ids), kept, group, bounds, collapsed),
        "compartment": ["soma" if (has_soma and i == 0) else "unknown" for i in range(k)],
        "l2_ids": [grouped[bl[i]:bl[i + 1]] for i in range(k)],
    })
    for name in ("size_nm3", "area_nm2"):
        if name in attrs:
            nodes[name] = np.bincount(l2_node, weights=np.nan_to_num(attrs[name]), minlength=k)
    return nodes


def _node_radii(attrs, n: int, kept, group, bounds, collapsed: bool) -> np.ndarray:
    """Radius per node: its own L2 chunk's, else the median of its L2 ids' (the max at a collapsed soma)."""
    # per-L2 radius: max_dt_nm, else the radius of a sphere with the chunk's surface area
    r_l2 = attrs.get("max_dt_nm", np.full(n, np.nan)).copy()
    if "area_nm2" in attrs:
        fb = ~np.isfinite(r_l2)
        r_l2[fb] = np.sqrt(attrs["area_nm2"][fb] / (4 * np.pi))
    radius = r_l2[kept].copy()
    fix = np.flatnonzero(~np.isfinite(radius)).tolist() + ([0] if collapsed else [])
    if fix and np.isfinite(r_l2).any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN groups stay NaN
            for i in fix:
                vals = r_l2[group[bounds[i]:bounds[i + 1]]]
                radius[i] = np.nanmax(vals) if (collapsed and i == 0) else np.nanmedian(vals)
    return radius
