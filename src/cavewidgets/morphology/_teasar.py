"""Graph algorithms behind :func:`cavewidgets.morphology.skeletonize` (index space, no ids).

Everything here works on node indices ``0..n-1``, an ``(n, 3)`` float array of positions and
an undirected edge list ``(ei, ej)`` of index arrays. The public wrapper maps L2 ids to indices.

Steps, in the order ``skeletonize`` calls them:

1. :func:`fill_positions` - nodes without an L2 cache position take the mean of their
   positioned neighbours, round after round (like pcg_skel's ``fix_nan_verts``).
2. :func:`bridge_components` - a graph in several pieces is joined by the shortest euclidean
   edge between pieces, so the result is always one tree.
3. :func:`teasar` - TEASAR over the shortest-path tree from the root: repeatedly take the
   uncovered node farthest (along the graph) from the root, walk its shortest-path-tree
   predecessors until a node already on the skeleton (optionally re-routed to the skeleton
   node nearest the tip, meshparty's rule), and mark every node within ``invalidation_d``
   (graph distance) of that new path as covered by its nearest path node. Cycles in the L2
   graph are harmless: every path is a shortest path and joins the skeleton at one node.
4. :func:`merge_and_order` - soma collapse / zero-length merges, then breadth-first node order.

Example::

    graph = weighted_graph(pos, ei, ej)
    parent, owner, root_ds = teasar(graph, root=0, invalidation_d=7500)
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

_MIN_WEIGHT = 1e-3  # nm; csgraph would drop explicit zeros, so coincident nodes get a tiny weight


def weighted_graph(pos: np.ndarray, ei: np.ndarray, ej: np.ndarray) -> sparse.csr_matrix:
    """Symmetric CSR graph with euclidean edge weights (nm).

    Both directions are stored, so the csgraph calls below use ``directed=True`` (the same
    result as ``directed=False`` without scipy building a transposed copy on every call).

    Example::

        g = weighted_graph(np.zeros((2, 3)), np.array([0]), np.array([1]))
    """
    n = len(pos)
    rows = np.concatenate([ei, ej]).astype(np.int64)
    cols = np.concatenate([ej, ei]).astype(np.int64)
    keep = rows != cols
    g = sparse.coo_matrix((np.ones(int(keep.sum())), (rows[keep], cols[keep])), shape=(n, n)).tocsr()
    g.sum_duplicates()  # a repeated edge is one edge: weights are set below, not summed
    starts = np.repeat(np.arange(n), np.diff(g.indptr))
    g.data = np.maximum(np.linalg.norm(pos[g.indices] - pos[starts], axis=1), _MIN_WEIGHT)
    return g


def components(n: int, ei: np.ndarray, ej: np.ndarray) -> tuple[int, np.ndarray]:
    """Connected components of the unweighted graph: ``(count, labels)``."""
    adj = sparse.coo_matrix((np.ones(len(ei), dtype=np.int8), (ei, ej)), shape=(n, n)).tocsr()
    return csgraph.connected_components(adj, directed=False)


def fill_positions(pos: np.ndarray, ei: np.ndarray, ej: np.ndarray, *, max_rounds: int | None = None):
    """Fill NaN rows of ``pos`` with the mean of already-known neighbours, iteratively.

    Returns ``(filled_pos, still_missing_mask)``. A node stays missing only when no node of its
    connected component has a position (or after ``max_rounds`` rounds).

    Example::

        pos, missing = fill_positions(pos, ei, ej)
    """
    pos = np.array(pos, dtype=np.float64, copy=True)
    missing = ~np.isfinite(pos).all(axis=1)
    if not missing.any() or len(ei) == 0:
        return pos, missing
    n = len(pos)
    a = np.concatenate([ei, ej])
    b = np.concatenate([ej, ei])
    rounds = 0
    while missing.any():
        # edges from a missing node to a known one
        use = missing[a] & ~missing[b]
        if not use.any():
            break
        tgt, src = a[use], b[use]
        sums = np.zeros((n, 3))
        np.add.at(sums, tgt, pos[src])
        counts = np.bincount(tgt, minlength=n)
        got = counts > 0
        pos[got] = sums[got] / counts[got, None]
        missing &= ~got
        rounds += 1
        if max_rounds is not None and rounds >= max_rounds:
            break
    return pos, missing


def bridge_components(pos: np.ndarray, ei: np.ndarray, ej: np.ndarray):
    """Extra edges ``(bi, bj)`` that join all components, each the shortest euclidean link from
    a component to any other (repeated until connected; a handful of rounds for real data).

    Example::

        bi, bj = bridge_components(pos, ei, ej)   # empty arrays when already connected
    """
    n = len(pos)
    add_i: list[int] = []
    add_j: list[int] = []
    ci, cj = ei, ej
    while True:
        ncomp, labels = components(n, ci, cj)
        if ncomp <= 1:
            break
        sizes = np.bincount(labels)
        main = int(np.argmax(sizes))
        inside = np.flatnonzero(labels == main)
        outside = np.flatnonzero(labels != main)
        tree = cKDTree(pos[inside])
        d, k = tree.query(pos[outside])
        # link every other component through its node closest to the main component
        order = np.lexsort((d, labels[outside]))
        first = np.ones(len(order), dtype=bool)
        first[1:] = labels[outside][order][1:] != labels[outside][order][:-1]
        pick = order[first]
        add_i.extend(outside[pick].tolist())
        add_j.extend(inside[k[pick]].tolist())
        ci = np.concatenate([ei, np.asarray(add_i, dtype=np.int64)])
        cj = np.concatenate([ej, np.asarray(add_j, dtype=np.int64)])
    return np.asarray(add_i, dtype=np.int64), np.asarray(add_j, dtype=np.int64)


def far_point(graph: sparse.csr_matrix, start: int = 0) -> int:
    """An end of the graph's (approximate) diameter: bounce to the farthest node until the
    distance stops growing, like meshparty's ``find_far_points_graph``.

    Example::

        root = far_point(graph)
    """
    a, best = int(start), -1.0
    prev = a
    for _ in range(20):
        ds = csgraph.dijkstra(graph, directed=True, indices=a)
        ds[~np.isfinite(ds)] = -1
        b = int(np.argmax(ds))
        if ds[b] <= best:
            return prev
        best, prev, a = float(ds[b]), a, b
    return a


def teasar(graph: sparse.csr_matrix, root: int, invalidation_d: float, attach: str = "tree"):
    """TEASAR over the shortest-path tree from ``root`` on a connected graph.

    ``attach="tree"`` joins each new path where its shortest-path-tree route meets the skeleton;
    ``attach="nearest"`` (meshparty's rule) joins it at the skeleton node nearest its tip along
    the graph, searched by a Dijkstra bounded by the tree route's length.

    Returns ``(parent, owner, root_ds)``: ``parent[i]`` is the skeleton parent (index) of a node
    on the skeleton, ``-1`` for the root and ``-2`` for nodes not on the skeleton; ``owner[i]`` is
    the skeleton node that covers node ``i`` (itself when on the skeleton); ``root_ds`` the graph
    distance of every node from the root.

    Example::

        parent, owner, root_ds = teasar(graph, root, 7500.0)
    """
    n = graph.shape[0]
    root_ds, pred = csgraph.dijkstra(graph, directed=True, indices=root, return_predecessors=True)
    if not np.isfinite(root_ds).all():
        raise ValueError("teasar needs a connected graph")  # bridge_components first
    parent = np.full(n, -2, dtype=np.int64)
    parent[root] = -1
    on_skel = np.zeros(n, dtype=bool)
    on_skel[root] = True
    owner = np.full(n, -1, dtype=np.int64)
    owner[root] = root
    owner_d = np.full(n, np.inf)
    owner_d[root] = 0.0
    valid = np.ones(n, dtype=bool)
    valid[root] = False
    score = np.where(valid, root_ds, -1.0)  # farthest uncovered node = argmax(score)
    pred_list = pred.tolist()  # python ints: the walk below is a tight python loop
    on_list = on_skel.tolist()
    while True:
        target = int(np.argmax(score))
        if score[target] < 0:
            break
        path = [target]
        v = target
        while not on_list[v]:
            v = pred_list[v]
            path.append(v)
        if attach == "nearest" and len(path) > 2:
            # meshparty: join at the skeleton node nearest to the target along the graph (the
            # tree path's length bounds the search)
            limit = (root_ds[target] - root_ds[v]) * (1 + 1e-9) + 1e-6
            ds, pt = csgraph.dijkstra(graph, directed=True, indices=target, limit=limit,
                                      return_predecessors=True)
            cand = np.flatnonzero(on_skel)
            b = int(cand[np.argmin(ds[cand])])
            if b != v and np.isfinite(ds[b]):
                back = [b]
                w = b
                while w != target:
                    w = int(pt[w])
                    back.append(w)
                path = back[::-1]
        path_arr = np.asarray(path, dtype=np.int64)
        new = path_arr[:-1]
        parent[new] = path_arr[1:]
        on_skel[new] = True
        for u in path[:-1]:
            on_list[u] = True
        dm, _, src = csgraph.dijkstra(graph, directed=True, indices=path_arr, limit=invalidation_d,
                                      min_only=True, return_predecessors=True)
        hit = np.flatnonzero(np.isfinite(dm))
        closer = hit[dm[hit] < owner_d[hit]]
        owner[closer] = src[closer]
        owner_d[closer] = dm[closer]
        valid[hit] = False
        score[hit] = -1.0
    owner[on_skel] = np.flatnonzero(on_skel)
    return parent, owner, root_ds


def merge_and_order(parent: np.ndarray, root: int, merge: np.ndarray):
    """Drop skeleton nodes flagged in ``merge`` into their (kept) parent and order the rest.

    ``parent`` as returned by :func:`teasar`; ``merge[i]`` True merges node ``i`` into the node
    its parent ends up in (the root is never merged). Returns ``(order, target)``: ``order`` the
    kept skeleton nodes breadth-first from the root (root first, parents before children) and
    ``target[i]`` the kept node each skeleton node ended up in (``-1`` off the skeleton).

    Example::

        order, target = merge_and_order(parent, root, np.zeros(len(parent), bool))
    """
    n = len(parent)
    on = parent != -2
    child = np.flatnonzero(on & (parent >= 0))
    tree = sparse.coo_matrix((np.ones(len(child)), (parent[child], child)), shape=(n, n)).tocsr()
    bfs = csgraph.breadth_first_order(tree, root, directed=True, return_predecessors=False)
    target = np.full(n, -1, dtype=np.int64)
    target[root] = root
    merge = merge.copy()
    merge[root] = False
    par = parent.tolist()
    tgt = target.tolist()
    mrg = merge.tolist()
    for v in bfs[1:].tolist():  # parents before children
        tgt[v] = tgt[par[v]] if mrg[v] else v
    target = np.asarray(tgt, dtype=np.int64)
    order = bfs[~merge[bfs]]
    return order, target


def soma_region(parent: np.ndarray, root: int, close: np.ndarray) -> np.ndarray:
    """Skeleton nodes joined to the root by skeleton edges that have at least one ``close`` end
    (meshparty's ``soma_via_sphere``: the sphere plus the first node past it on each branch).

    Example::

        soma = soma_region(parent, root, dist_to_soma < 7500)
    """
    n = len(parent)
    child = np.flatnonzero(parent >= 0)
    keep = close[child] | close[parent[child]]
    c = child[keep]
    g = sparse.coo_matrix((np.ones(len(c)), (parent[c], c)), shape=(n, n)).tocsr()
    _, labels = csgraph.connected_components(g, directed=False)
    return labels == labels[root]


def reroot(parent: np.ndarray, new_root: int) -> np.ndarray:
    """The same skeleton tree (``parent`` as from :func:`teasar`) hanging from ``new_root``.

    Example::

        parent = reroot(parent, nearest_to_soma)
    """
    n = len(parent)
    child = np.flatnonzero(parent >= 0)
    tree = sparse.coo_matrix((np.ones(len(child)), (parent[child], child)), shape=(n, n)).tocsr()
    _, pred = csgraph.breadth_first_order(tree, new_root, directed=False, return_predecessors=True)
    out = np.full(n, -2, dtype=np.int64)
    on = parent != -2
    out[on] = pred[on]
    out[new_root] = -1
    return out
