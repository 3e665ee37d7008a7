"""Axon / dendrite split of a skeleton by synapse flow (used by ``Skeleton.label_compartments``).

The idea is the "synapse flow centrality" split of Schneider-Mizell et al. (2016) as used by
meshparty/pcg_skel, simplified: for the edge above node ``v`` the flow is the number of (input,
output) synapse pairs whose path crosses that edge,

    flow(v) = pre_below(v) * post_above(v) + post_below(v) * pre_above(v)

where *pre* are output synapses of this neuron (it is presynaptic) and *post* its inputs. Raw
flow favours big mixed subtrees, so the cut actually made is the one that maximises the
segregation index (1 - entropy of the two sides / entropy of the whole; 0 = no separation,
1 = perfect), which is what the flow split is after; the output-rich side below the cut is the
axon. More output-rich subtrees join the axon while the index keeps growing (several axon
trunks). The split is accepted only if the index reaches ``min_segregation``.

Example::

    labels, info = split_by_flow(parent, order, n_pre, n_post)
"""

from __future__ import annotations

import numpy as np


def subtree_sums(parent: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Sum of ``values`` over each node's subtree; nodes are numbered so parents come first.

    Example::

        subtree_sums(np.array([-1, 0, 0]), np.array([1, 2, 3])) -> [6, 2, 3]
    """
    out = np.asarray(values, dtype=np.float64).copy()
    par = parent.tolist()
    acc = out.tolist()
    for v in range(len(par) - 1, 0, -1):  # children after parents: walk backwards
        p = par[v]
        if p >= 0:
            acc[p] += acc[v]
    return np.asarray(acc)


def descendants_mask(parent: np.ndarray, node: int) -> np.ndarray:
    """Boolean mask of ``node`` and everything below it (parents-first numbering)."""
    below = np.zeros(len(parent), dtype=bool)
    below[node] = True
    par = parent.tolist()
    bl = below.tolist()
    for v in range(node + 1, len(par)):
        p = par[v]
        if p >= 0 and bl[p]:
            bl[v] = True
    return np.asarray(bl, dtype=bool)


def _entropy_vec(pre: np.ndarray, post: np.ndarray) -> np.ndarray:
    tot = pre + post
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.zeros_like(tot, dtype=np.float64)
        for k in (pre, post):
            p = np.where(tot > 0, k / np.where(tot > 0, tot, 1), 0.0)
            out -= np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0.0)
    return out


def _si_vec(pre_a, post_a, pre_tot, post_tot) -> np.ndarray:
    """Segregation index of (side a, the rest) for arrays of side-a counts."""
    tot = pre_tot + post_tot
    h_all = _entropy_vec(np.array([pre_tot]), np.array([post_tot]))[0]
    if tot <= 0 or h_all <= 0:
        return np.zeros(len(pre_a))
    pre_b, post_b = pre_tot - pre_a, post_tot - post_a
    h = ((pre_a + post_a) * _entropy_vec(pre_a, post_a) + (pre_b + post_b) * _entropy_vec(pre_b, post_b)) / tot
    return 1.0 - h / h_all


def split_by_flow(parent: np.ndarray, n_pre: np.ndarray, n_post: np.ndarray, *, has_soma: bool,
                  min_segregation: float = 0.05, max_splits: int = 6, min_gain: float = 0.01):
    """Labels per node ("axon", "dendrite", "soma", "unknown") and a dict describing the split.

    ``parent`` uses node indices numbered parents-first with the root at 0 and ``-1`` above it.
    The axon is a union of up to ``max_splits`` subtrees (not containing the root): first the
    subtree whose cut gives the best segregation index, then, while the index grows by at least
    ``min_gain``, further output-rich subtrees (inhibitory cells often send several axon trunks
    from the soma). The edge of largest synapse flow is reported as ``flow_node``.

    Example::

        labels, info = split_by_flow(parent, n_pre, n_post, has_soma=True)
        info["segregation_index"]
    """
    n = len(parent)
    labels = np.full(n, "unknown", dtype=object)
    if has_soma and n:
        labels[0] = "soma"
    n_pre = np.asarray(n_pre, dtype=np.float64)
    n_post = np.asarray(n_post, dtype=np.float64)
    pre_tot, post_tot = float(n_pre.sum()), float(n_post.sum())
    info = {"split_nodes": [], "segregation_index": 0.0, "n_pre": int(pre_tot), "n_post": int(post_tot),
            "reason": None}
    if n < 2 or pre_tot == 0 or post_tot == 0:
        info["reason"] = "needs both input and output synapses on a skeleton with edges"
        return labels, info
    pre_below = subtree_sums(parent, n_pre)
    post_below = subtree_sums(parent, n_post)
    flow = pre_below * (post_tot - post_below) + post_below * (pre_tot - pre_below)
    flow[0] = -1.0  # no edge above the root
    info["flow_node"] = int(np.argmax(flow))
    axon = np.zeros(n, dtype=bool)
    best_si = 0.0
    for _ in range(max_splits):
        free = ~axon
        # axon side if the subtree of v is added: what is already axon + its not-yet-axon part
        add_pre = subtree_sums(parent, n_pre * free)
        add_post = subtree_sums(parent, n_post * free)
        a_pre = n_pre[axon].sum() + add_pre
        a_post = n_post[axon].sum() + add_post
        si = _si_vec(a_pre, a_post, pre_tot, post_tot)
        # only output-rich additions: the added part has a larger output fraction than what stays
        rest_pre, rest_post = pre_tot - a_pre, post_tot - a_post
        with np.errstate(divide="ignore", invalid="ignore"):
            frac_add = np.where(add_pre + add_post > 0, add_pre / (add_pre + add_post), 0.0)
            frac_rest = np.where(rest_pre + rest_post > 0, rest_pre / (rest_pre + rest_post), 0.0)
        ok = (add_pre > 0) & (frac_add > frac_rest) & ~axon
        ok[0] = False
        if not ok.any():
            break
        si = np.where(ok, si, -np.inf)
        v = int(np.argmax(si))
        need = min_segregation if not info["split_nodes"] else best_si + min_gain
        if si[v] < need:
            if not info["split_nodes"]:
                info["segregation_index"] = float(max(si[v], 0.0))
                info["reason"] = f"segregation index {si[v]:.3f} < {min_segregation}"
            break
        axon |= descendants_mask(parent, v)
        best_si = float(si[v])
        info["split_nodes"].append(v)
    if not info["split_nodes"]:
        return labels, info
    info["segregation_index"] = best_si
    labels[:] = np.where(axon, "axon", "dendrite")
    if has_soma:
        labels[0] = "soma"
    return labels, info


def segregation_index(pre_a: float, post_a: float, pre_b: float, post_b: float) -> float:
    """1 - (weighted entropy of the two sides) / (entropy of the whole); 0 when undefined.

    Example::

        segregation_index(100, 0, 0, 200) == 1.0
    """
    si = _si_vec(np.array([float(pre_a)]), np.array([float(post_a)]), float(pre_a + pre_b), float(post_a + post_b))
    return float(si[0])
