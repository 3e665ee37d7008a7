"""The PyChunkedGraph-style hierarchy: supervoxels, level-2 nodes and their edges.

* A supervoxel (layer 1) is a connected piece of one cell inside one ``sv_block`` (several
  blocks per chunk), so every L2 node has a few supervoxels.
* A level-2 node is a connected piece of one cell inside one chunk.
* L2 edges join L2 nodes of one cell whose voxels touch (6-connectivity). Where a thin process
  of another cell cuts through a process (the rasteriser's crossings), the pieces are joined by
  a *bridge* edge between the nearest L2 nodes, so that every cell's L2 graph is connected.

Example::

    h = build_hierarchy(cells_vol, SCALES["tiny"])
    h.sv_volume  # uint64 supervoxel ids, the segmentation written to disk
"""

from __future__ import annotations

from dataclasses import dataclass

import cc3d
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from scipy.spatial import cKDTree

from .config import Scale, encode_ids


@dataclass
class Hierarchy:
    sv_volume: np.ndarray  # uint64 (x, y, z) supervoxel ids
    l2_cc: np.ndarray  # uint32 (x, y, z) dense L2 index + 1 (0 = background)
    sv_ids: np.ndarray  # uint64 (n_sv,)
    sv_l2: np.ndarray  # int64 (n_sv,) dense L2 index of each supervoxel
    l2_ids: np.ndarray  # uint64 (n_l2,)
    l2_cell: np.ndarray  # int64 (n_l2,) cell label of each L2 node
    l2_chunk: np.ndarray  # int32 (n_l2, 3) chunk coordinates
    edges: np.ndarray  # int64 (m, 2) dense L2 index pairs inside a cell (touching or bridge), a < b
    n_bridges: int
    contacts: np.ndarray  # int64 (k, 2) dense L2 index pairs of DIFFERENT cells whose voxels touch


def _block_index(shape, block, dtype) -> np.ndarray:
    """Volume holding the linear index of the block each voxel is in."""
    g = [(np.arange(s) // b).astype(dtype) for s, b in zip(shape, block)]
    n = [int(np.ceil(s / b)) for s, b in zip(shape, block)]
    return g[0][:, None, None] * dtype(n[1] * n[2]) + g[1][None, :, None] * dtype(n[2]) + g[2][None, None, :]


def _pieces(cells: np.ndarray, block) -> tuple[np.ndarray, int]:
    """Connected pieces of each cell inside each block: uint32 labels 1..n (0 = background)."""
    nb = int(np.prod([np.ceil(s / b) for s, b in zip(cells.shape, block)]))
    # (cell, block) key; uint32 when it fits (twice as fast as uint64 on these volumes)
    dtype = np.uint32 if (int(cells.max()) + 1) * nb < 2**32 else np.uint64
    key = cells.astype(dtype) * dtype(nb)
    key += _block_index(cells.shape, block, dtype)
    key[cells == 0] = 0
    cc, n = cc3d.connected_components(key, connectivity=6, return_N=True, out_dtype=np.uint32)
    return cc, n


def _representatives(cc: np.ndarray, n: int, fg: np.ndarray) -> np.ndarray:
    """One flat voxel index per component label 1..n (``fg``: the flat foreground indices)."""
    rep = np.zeros(n + 1, np.int64)
    rep[cc.reshape(-1)[fg]] = fg  # any member voxel will do (the last one written wins, deterministically)
    return rep[1:]


def _encode_per_chunk(layer: int, chunk: np.ndarray, scale: Scale) -> np.ndarray:
    """Ids for components with chunk coordinates ``chunk`` (n, 3): segment ids count up per chunk."""
    g = scale.chunk_grid
    cidx = (chunk[:, 0] * g[1] + chunk[:, 1]) * g[2] + chunk[:, 2]
    order = np.argsort(cidx, kind="stable")
    sorted_c = cidx[order]
    first = np.searchsorted(sorted_c, sorted_c, side="left")
    seg = np.empty(len(cidx), np.int64)
    seg[order] = np.arange(len(cidx)) - first + 1
    return encode_ids(layer, chunk[:, 0], chunk[:, 1], chunk[:, 2], seg)


def _adjacent_pairs(lab: np.ndarray) -> np.ndarray:
    """Unique (a, b), a < b, of different nonzero labels that touch across a voxel face."""
    out = []
    for ax in range(3):
        sa = [slice(None)] * 3
        sb = [slice(None)] * 3
        sa[ax], sb[ax] = slice(0, -1), slice(1, None)
        a, b = lab[tuple(sa)], lab[tuple(sb)]
        m = (a != b) & (a > 0) & (b > 0)
        a, b = a[m].astype(np.uint64), b[m].astype(np.uint64)
        out.append(np.unique(np.minimum(a, b) << np.uint64(32) | np.maximum(a, b)))
    keys = np.unique(np.concatenate(out))
    return np.stack([(keys >> np.uint64(32)).astype(np.int64), (keys & np.uint64(0xFFFFFFFF)).astype(np.int64)], 1)


def _bridges(n_l2: int, edges: np.ndarray, l2_cell: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Extra edges that join the separate pieces of each cell, nearest L2 nodes first."""
    adj = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n_l2, n_l2))
    _, comp = connected_components(adj, directed=False)
    extra = []
    order = np.argsort(l2_cell, kind="stable")
    bounds = np.flatnonzero(np.diff(l2_cell[order])) + 1
    for nodes in np.split(order, bounds):
        if len(np.unique(comp[nodes])) < 2:
            continue
        # MST over k-nearest-neighbour pairs, with the pieces contracted to single vertices
        pieces, local = np.unique(comp[nodes], return_inverse=True)
        pts = centers[nodes]
        k = min(len(nodes), 12)
        dist, nbr = cKDTree(pts).query(pts, k=k)
        i = np.repeat(np.arange(len(nodes)), k)
        j, d = nbr.ravel(), dist.ravel()
        m = local[i] != local[j]
        # shortest candidate node pair for each pair of pieces
        ii, jj, dd = i[m], j[m], d[m]
        pa, pb = np.minimum(local[ii], local[jj]), np.maximum(local[ii], local[jj])
        o = np.lexsort((dd, pb, pa))
        ii, jj, dd, pa, pb = ii[o], jj[o], dd[o], pa[o], pb[o]
        first = np.ones(len(pa), bool)
        first[1:] = (pa[1:] != pa[:-1]) | (pb[1:] != pb[:-1])
        cand = {(a, b): (w, x, y) for a, b, w, x, y in zip(pa[first], pb[first], dd[first], ii[first], jj[first])}
        keys = list(cand)
        w = np.array([cand[kk][0] for kk in keys]) + 1e-3
        g = coo_matrix((w, ([kk[0] for kk in keys], [kk[1] for kk in keys])), shape=(len(pieces),) * 2)
        mst = minimum_spanning_tree(g).tocoo()
        chosen = [(cand[(min(a, b), max(a, b))][1], cand[(min(a, b), max(a, b))][2]) for a, b in zip(mst.row, mst.col)]
        # pieces the kNN graph did not reach: attach each to its nearest other node
        lab = local.copy()
        for a, b in chosen:
            la, lb = lab[a], lab[b]
            lab[lab == lb] = la
        while len(np.unique(lab)) > 1:
            main = lab == lab[0]
            tree = cKDTree(pts[main])
            d2, nn = tree.query(pts[~main])
            o = int(np.argmin(d2))
            a = np.flatnonzero(main)[nn[o]]
            b = np.flatnonzero(~main)[o]
            chosen.append((a, b))
            lab[lab == lab[b]] = lab[0]
        for a, b in chosen:
            extra.append((nodes[a], nodes[b]))
    if not extra:
        return np.zeros((0, 2), np.int64)
    e = np.array(extra, np.int64)
    return np.stack([e.min(1), e.max(1)], 1)


def build_hierarchy(cells: np.ndarray, scale: Scale) -> Hierarchy:
    """Supervoxels, L2 nodes and touching edges for the cell label volume ``cells`` (uint32,
    0 = background). Call :func:`add_bridges` once L2 positions are known."""
    shape = cells.shape
    l2_cc, n_l2 = _pieces(cells, scale.chunk_size)
    sv_cc, n_sv = _pieces(cells, scale.sv_block)
    fg = np.flatnonzero(cells.reshape(-1))
    l2_rep = _representatives(l2_cc, n_l2, fg)
    sv_rep = _representatives(sv_cc, n_sv, fg)
    del fg
    coords = lambda idx: np.stack(np.unravel_index(idx, shape), 1)  # noqa: E731
    l2_chunk = (coords(l2_rep) // np.array(scale.chunk_size)).astype(np.int32)
    sv_chunk = (coords(sv_rep) // np.array(scale.chunk_size)).astype(np.int32)
    l2_ids = _encode_per_chunk(2, l2_chunk, scale)
    sv_ids = _encode_per_chunk(1, sv_chunk, scale)
    sv_l2 = l2_cc.reshape(-1)[sv_rep].astype(np.int64) - 1
    l2_cell = cells.reshape(-1)[l2_rep].astype(np.int64)
    lut = np.concatenate([np.zeros(1, np.uint64), sv_ids])  # both uint64: never via float64
    sv_volume = lut[sv_cc]
    del sv_cc
    pairs = _adjacent_pairs(l2_cc) - 1
    same = l2_cell[pairs[:, 0]] == l2_cell[pairs[:, 1]]
    return Hierarchy(sv_volume, l2_cc, sv_ids, sv_l2, l2_ids, l2_cell, l2_chunk, pairs[same], 0, pairs[~same])


def add_bridges(h: Hierarchy, positions_nm: np.ndarray) -> None:
    """Join the separate pieces of every cell with bridge edges between nearest L2 nodes
    (``positions_nm``: one position per L2 node, e.g. the L2 cache's ``rep_coord_nm``)."""
    bridges = _bridges(len(h.l2_ids), h.edges, h.l2_cell, np.asarray(positions_nm, np.float64))
    h.edges = np.unique(np.concatenate([h.edges, bridges]), axis=0)
    h.n_bridges = len(bridges)
