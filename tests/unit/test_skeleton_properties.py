"""``skeletonize`` over generated level-2 graphs: trees, cycles, several disconnected pieces,
single nodes, repeated and reversed edges, and missing L2-cache entries (NaN positions), with
uint64 ids above 2**53 and 2**63. Whatever the graph:

- the result is one rooted tree (parents before children, one root) holding every L2 id once;
- node positions are finite and inside the box of the positions given;
- the cable length is at least the farthest distance between two of its nodes and at most the
  graph's total edge length plus one bounding-box diagonal per joined piece;
- a piece without any position, or an edge to an unknown id, is a clear ``ValueError``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from cavewidgets.morphology import skeletonize
from hyp import examples
from test_skeleton import check_tree

BASES = [2**53 + 1, 864691135808684573, 2**63 + 7]


@st.composite
def graphs(draw):
    n = draw(st.integers(1, 30))
    base = draw(st.sampled_from(BASES))
    gaps = draw(st.lists(st.integers(1, 2**20), min_size=n, max_size=n))
    ids = np.uint64(base) + np.cumsum(np.array(gaps, dtype=np.uint64))
    order = draw(st.permutations(range(n)))
    ids = ids[list(order)]  # not sorted
    pieces = draw(st.integers(1, min(n, 4)))
    piece_of = [i % pieces for i in range(n)]
    edges = []
    for i in range(n):  # a random tree per piece: each node hangs from an earlier one of its piece
        earlier = [j for j in range(i) if piece_of[j] == piece_of[i]]
        if earlier:
            edges.append((draw(st.sampled_from(earlier)), i))
    extra = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=n))
    edges += [(a, b) for a, b in extra if a != b and piece_of[a] == piece_of[b]]  # cycles within pieces
    edges += [(b, a) for a, b in draw(st.lists(st.sampled_from(edges), max_size=3))] if edges else []
    scale = draw(st.sampled_from([100.0, 3000.0, 20000.0]))
    pos = np.array(draw(st.lists(st.tuples(*[st.integers(-50, 50)] * 3), min_size=n, max_size=n)), float) * scale
    rate = draw(st.sampled_from([0.0, 0.0, 0.1, 0.3, 1.0]))
    missing = np.array(draw(st.lists(st.floats(0, 1), min_size=n, max_size=n))) < rate
    pos[missing] = np.nan  # nodes the L2 cache has no entry for
    return ids, pos, np.array(edges, dtype=np.int64).reshape(-1, 2), piece_of


def _components(n, edges):
    parent = list(range(n))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in edges:
        parent[find(a)] = find(b)
    return [find(i) for i in range(n)]


@examples(300)
@given(graphs(), st.data())
def test_any_l2_graph_gives_one_rooted_tree_within_bounds(graph, data):
    ids, pos, edges, _ = graph
    n = len(ids)
    id_edges = ids[edges] if len(edges) else np.zeros((0, 2), dtype=np.uint64)
    comp = _components(n, edges.tolist())
    known = np.isfinite(pos).all(axis=1)
    kwargs = {}
    if data.draw(st.booleans(), label="root given"):
        kwargs["root"] = int(ids[data.draw(st.integers(0, n - 1), label="root")])
    if known.any() and data.draw(st.booleans(), label="soma"):
        kwargs["soma_point"] = pos[known][0]
        kwargs["collapse_soma"] = False
    if any(not known[[i for i in range(n) if comp[i] == c]].any() for c in set(comp)):
        event("a piece without positions")
        with pytest.raises(ValueError, match="no position for any L2 node of a connected piece"):
            skeletonize(ids, pos, id_edges, **kwargs)
        return
    event(f"skeleton of {'one piece' if len(set(comp)) == 1 else 'several pieces'}"
          f"{', positions filled' if not known.all() else ''}")
    sk = skeletonize(ids, pos, id_edges, **kwargs)
    check_tree(sk, ids)
    assert sk.l2_ids.dtype == np.uint64 and sk.l2_ids.tolist() == sorted(int(i) for i in ids)
    assert sk.node_of(ids).tolist() == [sk.l2_to_node[int(i)] for i in ids]
    xyz = sk.nodes[["x", "y", "z"]].to_numpy()
    lo, hi = pos[known].min(axis=0), pos[known].max(axis=0)
    assert np.isfinite(xyz).all() and (xyz >= lo - 1e-6).all() and (xyz <= hi + 1e-6).all()
    diag = float(np.linalg.norm(hi - lo))
    filled = sk._l2_pos  # sorted by id; checked above to lie in the box
    rank = {int(v): k for k, v in enumerate(sk.l2_ids.tolist())}
    a = [rank[int(ids[i])] for i in edges[:, 0]] if len(edges) else []
    b = [rank[int(ids[j])] for j in edges[:, 1]] if len(edges) else []
    graph_length = float(np.linalg.norm(filled[a] - filled[b], axis=1).sum()) if len(edges) else 0.0
    pieces = len(set(comp))
    cable = sk.cable_length_nm
    far = max((float(np.linalg.norm(xyz - p, axis=1).max()) for p in xyz), default=0.0)
    assert far - 1e-6 <= cable <= graph_length + (pieces - 1) * diag + 1e-6
    assert sk.meta["n_bridges"] >= pieces - 1


@examples(50)
@given(graphs())
def test_an_edge_to_an_unknown_l2_id_is_a_clear_error(graph):
    ids, pos, edges, _ = graph
    stranger = np.array([[ids[0], np.uint64(2**64 - 1)]], dtype=np.uint64)
    with pytest.raises(ValueError, match="not in l2_ids"):
        skeletonize(ids, np.nan_to_num(pos), stranger)
