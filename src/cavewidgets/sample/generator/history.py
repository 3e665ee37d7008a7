"""Edit history: false merges and false splits at build time, fixed by later edits.

The true objects are the cells. At ``T0`` some pairs of touching cells are merged into one root
(a false merge) and some neurons are cut into two or three roots at L2 edges (false splits).
Over the following weeks proofreaders fix them: a split removes every edge between the two
cells, a merge adds back the cut edge. After the last edit every root is one cell again.
L2 ids never change; only the root each L2 node belongs to does.

Example::

    hist = make_history(h, scale, rng, t0)
    hist.roots  # DataFrame root_id, created, expired, created_by_operation
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .config import N_LAYERS, encode_ids
from .graph import Hierarchy

ROOT_SEGMENT_START = 7_353_000_000  # so root ids look like minnie65's 8646911358...
USERS = ["1783", "2167", "3004", "161", "2981"]


@dataclass
class History:
    roots: pd.DataFrame  # root_id, created, expired, created_by_operation
    root_l2: pd.DataFrame  # root_id, l2_id
    operations: pd.DataFrame
    latest_root_of_cell: dict  # cell label -> latest root id (uint64 as int)
    root_members: dict  # root id -> dense L2 index array
    root_created: dict  # root id -> timestamp
    root_expired: dict  # root id -> timestamp or None
    merge_pairs: list  # (cell_a, cell_b) falsely merged at T0
    split_cells: list  # cells falsely split at T0


def _components(nodes: np.ndarray, edges: np.ndarray) -> list[np.ndarray]:
    """Connected components of the subgraph on ``nodes`` (dense L2 indices)."""
    pos = {int(n): i for i, n in enumerate(nodes)}
    m = np.isin(edges[:, 0], nodes) & np.isin(edges[:, 1], nodes)
    e = edges[m]
    a = np.array([pos[int(x)] for x in e[:, 0]], np.int64)
    b = np.array([pos[int(x)] for x in e[:, 1]], np.int64)
    g = coo_matrix((np.ones(len(a)), (a, b)), shape=(len(nodes), len(nodes)))
    n, lab = connected_components(g, directed=False)
    return [nodes[lab == k] for k in range(n)]


def make_history(h: Hierarchy, rng: np.random.Generator, t0: datetime, n_merge: int, n_split: int,
                 neuron_labels: set, rep_vox: np.ndarray,
                 edit_window_days=(1.0, 40.0)) -> tuple[History, np.ndarray]:
    """Simulate the edits; returns the history and the edge list to store (cell edges + contacts of
    falsely merged pairs). ``rep_vox`` (n_l2, 3) gives the voxel recorded as an edit's source/sink.

    The steps draw from ``rng`` in a fixed order (merges, splits, initial roots, edits), so the
    same seed gives the same sample.
    """
    cell_nodes = _cell_nodes(h)
    merge_pairs, used, pair_contacts = _false_merges(h, rng, n_merge, neuron_labels)
    split_cells, split_cuts = _false_splits(h, rng, n_split, neuron_labels, used, cell_nodes)
    initial = _initial_members(h, cell_nodes, merge_pairs, split_cells, split_cuts)
    perm = rng.permutation(len(initial))  # root ids are not ordered by cell label
    roots = _Roots(rng, len(h.l2_ids))
    for i in perm:
        roots.new(initial[i], t0, None)

    # operations: one split per false merge, one merge per cut of a false split
    ops = [("split", p) for p in merge_pairs] + [("merge", (c, k)) for c in split_cells for k in range(len(split_cuts[c]))]
    rng.shuffle(ops)
    days = np.sort(rng.uniform(*edit_window_days, len(ops)))
    op_rows = []
    op_id = 100_000 + int(rng.integers(0, 5000))
    for (kind, arg), day in zip(ops, days):
        ts = t0 + timedelta(days=float(day), seconds=int(rng.integers(0, 3600)))
        op_id += int(rng.integers(1, 40))
        if kind == "split":
            edit = _split_edit(h, roots, cell_nodes, pair_contacts[arg], *arg)
        else:
            edit = _merge_edit(roots, *split_cuts[arg[0]][arg[1]])
        afters = [roots.new(p, ts, op_id) for p in edit.parts]
        for r in edit.befores:
            roots.expired[r] = ts
        # the user is drawn after the new roots' ids: the order every earlier build used
        op_rows.append(_operation_row(edit, op_id, ts, afters, USERS[int(rng.integers(len(USERS)))],
                                      rep_vox, h.l2_ids))
    return _history(h, roots, op_rows, cell_nodes, merge_pairs, split_cells, pair_contacts)


class _Roots:
    """Every root made so far (members, lifetime, the operation that made it) and each L2 node's
    current root. Root ids grow by random steps drawn from the history's ``rng``."""

    def __init__(self, rng: np.random.Generator, n_l2: int):
        self.rng = rng
        self.segment = ROOT_SEGMENT_START + int(rng.integers(0, 50_000))
        self.members, self.created, self.expired, self.made_by = {}, {}, {}, {}
        self.owner = np.zeros(n_l2, np.uint64)

    def new(self, nodes: np.ndarray, ts: datetime, op_id: int | None) -> int:
        """A new root of ``nodes`` made at ``ts`` by ``op_id`` (None: the initial segmentation)."""
        self.segment += int(self.rng.integers(1, 3000))
        r = int(encode_ids(N_LAYERS, 0, 0, 0, self.segment))
        self.members[r], self.created[r], self.expired[r], self.made_by[r] = nodes, ts, None, op_id
        self.owner[nodes] = r
        return r


@dataclass
class _Edit:
    """One proofreading edit before it is applied: the roots it ends, the L2 nodes of the roots it
    makes, its source/sink L2 nodes and the edges it removes or adds (dense L2 indices)."""

    is_merge: bool
    befores: list
    parts: list
    src: int
    snk: int
    added: np.ndarray
    removed: np.ndarray


def _split_edit(h: Hierarchy, roots: _Roots, cell_nodes: dict, contacts: np.ndarray, a: int, b: int) -> _Edit:
    """The split that fixes the false merge of cells ``a`` and ``b``: every contact edge removed."""
    src, snk = contacts[0][0], contacts[0][1]
    if h.l2_cell[src] != a:
        src, snk = snk, src
    return _Edit(False, [int(roots.owner[cell_nodes[a][0]])], [cell_nodes[a], cell_nodes[b]], src, snk,
                 np.zeros((0, 2), np.int64), contacts)


def _merge_edit(roots: _Roots, x: int, y: int) -> _Edit:
    """The merge that fixes one cut ``(x, y)`` of a false split: the cut edge added back."""
    befores = sorted({int(roots.owner[x]), int(roots.owner[y])})
    parts = [np.sort(np.concatenate([roots.members[r] for r in befores]))]
    return _Edit(True, befores, parts, x, y, np.array([[x, y]]), np.zeros((0, 2), np.int64))


def _operation_row(edit: _Edit, op_id: int, ts: datetime, afters: list, user: str, rep_vox: np.ndarray,
                   l2_ids: np.ndarray) -> dict:
    """The edit as a row of ``operations.parquet`` (the shape of PyChunkedGraph's change log)."""
    return {
        "operation_id": op_id, "timestamp": ts, "is_merge": edit.is_merge,
        "user_id": user,
        "before_root_ids": [np.uint64(r) for r in edit.befores], "after_root_ids": [np.uint64(r) for r in afters],
        "source_coords": [[float(v) for v in rep_vox[edit.src]]], "sink_coords": [[float(v) for v in rep_vox[edit.snk]]],
        "removed_edges": [[l2_ids[i], l2_ids[j]] for i, j in edit.removed],
        "added_edges": [[l2_ids[i], l2_ids[j]] for i, j in edit.added],
    }


def _history(h: Hierarchy, roots: _Roots, op_rows: list, cell_nodes: dict, merge_pairs: list, split_cells: list,
             pair_contacts: dict) -> tuple[History, np.ndarray]:
    """The finished history, and the edges to store: the cells' own plus the contacts of the
    falsely merged pairs (the merged roots spanned them until their split)."""
    l2_ids = h.l2_ids
    frame = _roots_frame(roots.members, roots.created, roots.expired, roots.made_by)
    rl = [(np.full(len(m), r, np.uint64), l2_ids[m]) for r, m in roots.members.items()]
    root_l2 = pd.DataFrame({"root_id": np.concatenate([a for a, _ in rl]), "l2_id": np.concatenate([b for _, b in rl])})
    latest = {c: int(roots.owner[nodes[0]]) for c, nodes in cell_nodes.items()}
    extra = [pair_contacts[p] for p in merge_pairs]
    stored_edges = np.unique(np.concatenate([h.edges] + [np.sort(e, axis=1) for e in extra]), axis=0)
    hist = History(frame, root_l2, pd.DataFrame(op_rows), latest, roots.members, roots.created, roots.expired,
                   merge_pairs, split_cells)
    return hist, stored_edges


def _roots_frame(members: dict, created: dict, expired: dict, made_by: dict) -> pd.DataFrame:
    """One row per root ever made: id, lifetime and the operation that made it."""
    return pd.DataFrame({
        "root_id": np.array(list(members), np.uint64),
        "created": pd.to_datetime([created[r] for r in members], utc=True),
        "expired": pd.to_datetime([expired[r] for r in members], utc=True),
        "created_by_operation": pd.array([made_by[r] for r in members], dtype="Int64"),
    })


def _cell_nodes(h: Hierarchy) -> dict[int, np.ndarray]:
    """Cell label -> its L2 node indices (sorted)."""
    cell_nodes = {}
    order = np.argsort(h.l2_cell, kind="stable")
    bounds = np.flatnonzero(np.diff(h.l2_cell[order])) + 1
    for nodes in np.split(order, bounds):
        cell_nodes[int(h.l2_cell[nodes[0]])] = np.sort(nodes)
    return cell_nodes


def _false_merges(h: Hierarchy, rng: np.random.Generator, n_merge: int, neuron_labels: set):
    """Pairs of touching cells (each cell used once, one a neuron), the cells used, their contacts."""
    cc = h.l2_cell[h.contacts]
    pair_keys = np.unique(np.sort(cc, axis=1), axis=0)
    rng.shuffle(pair_keys)
    used: set[int] = set()
    merge_pairs = []
    for a, b in pair_keys:
        a, b = int(a), int(b)
        if a in used or b in used or not (a in neuron_labels or b in neuron_labels):
            continue
        merge_pairs.append((a, b))
        used |= {a, b}
        if len(merge_pairs) == n_merge:
            break
    pair_contacts = {}
    for (a, b) in merge_pairs:
        m = ((cc[:, 0] == a) & (cc[:, 1] == b)) | ((cc[:, 0] == b) & (cc[:, 1] == a))
        pair_contacts[(a, b)] = h.contacts[m]
    return merge_pairs, used, pair_contacts


def _false_splits(h: Hierarchy, rng: np.random.Generator, n_split: int, neuron_labels: set, used: set,
                  cell_nodes: dict):
    """Neurons cut at one or two edges that disconnect a sizeable part (adds them to ``used``)."""
    split_cells, split_cuts = [], {}
    candidates = [c for c in sorted(neuron_labels) if c not in used and c in cell_nodes]
    rng.shuffle(candidates)
    for c in candidates:
        if len(split_cells) == n_split:
            break
        nodes = cell_nodes[c]
        e = h.edges[np.isin(h.edges[:, 0], nodes)]
        cuts = []
        n_cuts = 2 if len(split_cells) % 3 == 2 else 1
        for _ in range(40):
            cand = e[int(rng.integers(len(e)))]
            trial = [x for x in cuts] + [cand]
            keep = ~np.any([(e[:, 0] == x[0]) & (e[:, 1] == x[1]) for x in trial], axis=0)
            parts = _components(nodes, e[keep])
            if len(parts) == len(trial) + 1 and min(len(p) for p in parts) >= max(5, len(nodes) // 10):
                cuts = trial
                if len(cuts) == n_cuts:
                    break
        if cuts:
            split_cells.append(c)
            split_cuts[c] = cuts
            used.add(c)
    return split_cells, split_cuts


def _initial_members(h: Hierarchy, cell_nodes: dict, merge_pairs, split_cells, split_cuts) -> list[np.ndarray]:
    """The L2 nodes of each root before any edit: whole cells, merged pairs, split pieces."""
    initial = []
    merged_cells = {x for p in merge_pairs for x in p}
    for c in sorted(cell_nodes):
        if c in merged_cells or c in split_cells:
            continue
        initial.append(cell_nodes[c])
    for a, b in merge_pairs:
        initial.append(np.sort(np.concatenate([cell_nodes[a], cell_nodes[b]])))
    for c in split_cells:
        nodes = cell_nodes[c]
        e = h.edges[np.isin(h.edges[:, 0], nodes)]
        keep = ~np.any([(e[:, 0] == x[0]) & (e[:, 1] == x[1]) for x in split_cuts[c]], axis=0)
        initial.extend(np.sort(p) for p in _components(nodes, e[keep]))
    return initial


def root_at(hist: History, l2_index: np.ndarray, ts: datetime, l2_count: int) -> np.ndarray:
    """Root id (uint64) of each dense L2 index at time ``ts``."""
    out = np.zeros(l2_count, np.uint64)
    for r, m in hist.root_members.items():
        if hist.root_created[r] <= ts and (hist.root_expired[r] is None or hist.root_expired[r] > ts):
            out[m] = np.uint64(r)
    return out[l2_index]
