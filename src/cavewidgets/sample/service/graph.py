"""In-memory index over the sample's chunkedgraph files (no routes; used by every service).

Loads ``DATA_DIR/chunkedgraph/*.parquet`` once per data directory into sorted numpy arrays and
answers with ``np.searchsorted``, so lookups of millions of ids stay vectorised. All ids stay
uint64 end to end; timestamps are int64 microseconds since the epoch (UTC).

Example::

    g = get_graph(data_dir)
    roots = g.root_ids_at(np.array([sv], dtype=np.uint64))            # latest
    old = g.root_ids_at(svs, timestamp=datetime(2024, 1, 1, tzinfo=timezone.utc))
    g.members(roots[0])                                               # its L2 ids
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .timestamps import to_us

_NULL_TIME = np.iinfo(np.int64).max  # "never expired"
_CACHE: dict[str, "Graph"] = {}
_LOCK = threading.Lock()


def get_graph(data_dir: str | Path | None = None) -> "Graph":
    """The cached :class:`Graph` of ``data_dir`` (default: the running Flask app's data dir).

    Example::

        get_graph("/path/to/sample").is_latest(np.array([root], dtype=np.uint64))
    """
    if data_dir is None:
        from .app import data_dir as _app_data_dir

        data_dir = _app_data_dir()
    path = Path(data_dir).resolve()
    try:  # a rebuilt sample (new COMPLETE marker) gets a fresh index
        stamp = (path / "COMPLETE").stat().st_mtime_ns
    except OSError:
        stamp = 0
    key = f"{path}@{stamp}"
    graph = _CACHE.get(key)
    if graph is None:
        with _LOCK:
            graph = _CACHE.get(key)
            if graph is None:
                graph = Graph(path)
                _CACHE[key] = graph
    return graph


def _search(keys: np.ndarray, query: np.ndarray) -> np.ndarray:
    """``searchsorted(keys, query)`` clipped to a valid index. Large random queries are sorted
    first: numpy's binary search is ~5x faster on sorted needles (cache-friendly)."""
    if len(keys) == 0:
        return np.zeros(len(query), dtype=np.intp)
    if len(query) > 20_000:
        order = np.argsort(query)
        idx = np.empty(len(query), dtype=np.intp)
        idx[order] = np.searchsorted(keys, query[order])
    else:
        idx = np.searchsorted(keys, query)
    return np.minimum(idx, len(keys) - 1)


def _u64(table, name) -> np.ndarray:
    return table.column(name).to_numpy().astype(np.uint64, copy=False)


def _times(table, name) -> np.ndarray:
    """Timestamp column -> int64 µs, nulls -> _NULL_TIME."""
    col = table.column(name)
    if pa.types.is_null(col.type):  # an all-null column written without a type
        return np.full(len(col), _NULL_TIME, dtype=np.int64)
    if pa.types.is_timestamp(col.type) and col.type.tz is None:
        col = col.cast(pa.timestamp(col.type.unit))  # naive means UTC here
    col = col.cast(pa.timestamp("us", tz="UTC") if col.type.tz else pa.timestamp("us")).cast(pa.int64())
    return col.fill_null(_NULL_TIME).to_numpy().astype(np.int64, copy=False)


class Graph:
    """Sorted-array index of supervoxels, L2 nodes, roots over time, edges and operations."""

    def __init__(self, data_dir: str | Path):
        self.data_dir = Path(data_dir)
        cg_dir = self.data_dir / "chunkedgraph"
        meta = json.loads((self.data_dir / "datastack.json").read_text())
        self.meta = meta
        cg = meta["chunkedgraph"]
        self.n_layers = int(cg["n_layers"])
        self.layer_bits = int(cg.get("n_bits_for_layer_id", 8))
        self.spatial_bits = {int(k): int(v) for k, v in cg["spatial_bit_masks"].items()}
        self.chunk_size = [int(c) for c in cg["chunk_size"]]
        # chunk (0, 0, 0) starts at the segmentation's voxel offset (chunks_start_at_voxel_offset)
        self.voxel_offset = np.zeros(3, dtype=np.int64)
        seg_info = self.data_dir / meta.get("segmentation_dir", "precomputed/segmentation") / "info"
        if seg_info.exists():
            scale0 = json.loads(seg_info.read_text())["scales"][0]
            self.voxel_offset = np.array(scale0.get("voxel_offset", [0, 0, 0]), dtype=np.int64)

        # supervoxel -> L2, sorted by sv; and L2 -> supervoxels, sorted by L2
        sv = pq.read_table(cg_dir / "supervoxels.parquet", columns=["sv_id", "l2_id"])
        sv_ids, sv_l2 = _u64(sv, "sv_id"), _u64(sv, "l2_id")
        order = np.argsort(sv_ids, kind="stable")
        self.sv_ids, self.sv_l2 = sv_ids[order], sv_l2[order]
        order = np.argsort(sv_l2, kind="stable")
        self.l2_of_sv_by_l2, self.sv_by_l2 = sv_l2[order], sv_ids[order]

        # L2 attributes, sorted by L2 id
        l2 = pq.read_table(cg_dir / "l2.parquet")
        order = np.argsort(_u64(l2, "l2_id"), kind="stable")
        self.l2_table = l2.take(order)
        self.l2_ids = _u64(self.l2_table, "l2_id")

        # roots: sorted by root id
        roots = pq.read_table(cg_dir / "roots.parquet")
        order = np.argsort(_u64(roots, "root_id"), kind="stable")
        roots = roots.take(order)
        self.root_ids = _u64(roots, "root_id")
        self.root_created = _times(roots, "created")
        self.root_expired = _times(roots, "expired")
        op = roots.column("created_by_operation").cast("int64").fill_null(-1)
        self.root_operation = op.to_numpy().astype(np.int64)

        # root membership over time: (l2, created) sorted, to find the root of an L2 at time t
        rl = pq.read_table(cg_dir / "root_l2.parquet", columns=["root_id", "l2_id"])
        rl_root, rl_l2 = _u64(rl, "root_id"), _u64(rl, "l2_id")
        order = np.lexsort((rl_l2, rl_root))  # by root, then L2: members() are sorted slices
        self.members_root, self.members_l2 = rl_root[order], rl_l2[order]
        ridx = self._root_index(rl_root)
        created = self.root_created[ridx]
        order = np.lexsort((created, rl_l2))  # by l2, then creation time
        self.hist_l2 = rl_l2[order]
        self.hist_root = rl_root[order]
        self.hist_created = created[order]
        self.hist_expired = self.root_expired[ridx][order]
        latest = self.hist_expired == _NULL_TIME
        self.latest_l2, self.latest_root = self.hist_l2[latest], self.hist_root[latest]
        # hist_l2 is sorted and latest keeps order, so latest_l2 is sorted too

        # L2 edges, (a, b) with a < b
        edges = pq.read_table(cg_dir / "l2_edges.parquet", columns=["l2_a", "l2_b"])
        edges = np.stack([_u64(edges, "l2_a"), _u64(edges, "l2_b")], axis=1)
        self.edges = edges[np.lexsort((edges[:, 1], edges[:, 0]))]  # sorted by l2_a: range lookups

        self._root_tables: dict = {}
        self._cache_lock = threading.Lock()

        ops = pq.read_table(cg_dir / "operations.parquet")
        self.operations = ops.to_pylist()  # a few dozen rows
        self.op_by_id = {int(o["operation_id"]): o for o in self.operations}

    # ---- id encoding -------------------------------------------------------------------------

    def layer_of(self, ids) -> np.ndarray:
        """Layer of each node id (top ``n_bits_for_layer_id`` bits)."""
        ids = np.asarray(ids, dtype=np.uint64)
        return (ids >> np.uint64(64 - self.layer_bits)).astype(np.int64)

    def chunk_of(self, ids) -> np.ndarray:
        """(n, 3) chunk coordinates of node ids (all of one layer per id, decoded per id)."""
        ids = np.asarray(ids, dtype=np.uint64)
        out = np.zeros((len(ids), 3), dtype=np.int64)
        layers = self.layer_of(ids)
        for layer in np.unique(layers):
            bits = self.spatial_bits.get(int(layer))
            if bits is None:
                continue
            sel = layers == layer
            mask = np.uint64((1 << bits) - 1)
            x_off = 64 - self.layer_bits - bits
            for dim in range(3):
                shift = np.uint64(x_off - dim * bits)
                out[sel, dim] = ((ids[sel] >> shift) & mask).astype(np.int64)
        return out

    @property
    def root_layer(self) -> int:
        return self.n_layers

    # ---- lookups -----------------------------------------------------------------------------

    def _root_index(self, root_ids: np.ndarray) -> np.ndarray:
        """Index into the roots arrays; raises KeyError naming an unknown root."""
        idx = np.searchsorted(self.root_ids, root_ids)
        idx_c = np.minimum(idx, len(self.root_ids) - 1)
        bad = self.root_ids[idx_c] != root_ids
        if bad.any():
            raise KeyError(int(np.asarray(root_ids)[bad][0]))
        return idx_c

    def known_roots(self, root_ids) -> np.ndarray:
        """Bool mask: which ids are roots that ever existed."""
        root_ids = np.asarray(root_ids, dtype=np.uint64)
        if len(self.root_ids) == 0:
            return np.zeros(len(root_ids), bool)
        idx = _search(self.root_ids, root_ids)
        return self.root_ids[idx] == root_ids

    def l2_ids_of(self, sv_ids, strict: bool = False) -> np.ndarray:
        """L2 id of each supervoxel (0 for 0 or unknown ids; KeyError if ``strict``).

        Example::

            g.l2_ids_of(np.array([sv1, sv2], dtype=np.uint64))
        """
        sv_ids = np.asarray(sv_ids, dtype=np.uint64)
        idx = _search(self.sv_ids, sv_ids)
        found = self.sv_ids[idx] == sv_ids
        if strict and not found[sv_ids != 0].all():
            raise KeyError(int(sv_ids[(~found) & (sv_ids != 0)][0]))
        return np.where(found, self.sv_l2[idx], np.uint64(0))

    def _roots_of_l2(self, l2_ids: np.ndarray, t_us: int | None) -> np.ndarray:
        if t_us is None:
            idx = _search(self.latest_l2, l2_ids)
            ok = self.latest_l2[idx] == l2_ids
            return np.where(ok, self.latest_root[idx], np.uint64(0))
        # last membership entry of the L2 created at or before t, valid if not expired by t
        hi = np.searchsorted(self.hist_l2, l2_ids, side="right")
        lo = np.searchsorted(self.hist_l2, l2_ids, side="left")
        out = np.zeros(len(l2_ids), dtype=np.uint64)
        pos = hi - 1
        pending = pos >= lo
        while pending.any():  # runs at most (max history length of one L2) times
            p = pos[pending]
            ok = self.hist_created[p] <= t_us
            sel = np.flatnonzero(pending)
            good = sel[ok]
            alive = self.hist_expired[pos[good]] > t_us
            out[good[alive]] = self.hist_root[pos[good[alive]]]
            pending[good] = False
            pos[sel[~ok]] -= 1
            pending &= pos >= lo
        return out

    def _roots_table(self, kind: str, t_us: int | None) -> np.ndarray:
        """Root of every supervoxel ("sv", aligned with ``sv_ids``) or L2 node ("l2", aligned
        with ``l2_ids``) at ``t_us``; computed once per timestamp (materialization versions
        ask the same few timestamps again and again)."""
        key = (kind, t_us)
        with self._cache_lock:
            table = self._root_tables.get(key)
        if table is None:
            l2 = self.sv_l2 if kind == "sv" else self.l2_ids
            table = self._roots_of_l2(l2, t_us)
            with self._cache_lock:
                if len(self._root_tables) >= 16:
                    self._root_tables.pop(next(iter(self._root_tables)))
                self._root_tables[key] = table
        return table

    @staticmethod
    def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
        idx = _search(keys, query)
        return np.where(keys[idx] == query, values[idx], np.uint64(0))

    def root_ids_at(self, node_ids, timestamp=None, strict: bool = False) -> np.ndarray:
        """Root id of each node (supervoxel, L2 or root) at ``timestamp`` (None = latest).

        0 maps to 0; unknown ids or ids without a root at that time map to 0 (KeyError if
        ``strict``). A known root id maps to itself (PyChunkedGraph's answer for a node that
        has no parent).

        Example::

            g.root_ids_at(np.array([sv], dtype=np.uint64), timestamp=1700000000.0)
        """
        ids = np.asarray(node_ids, dtype=np.uint64).ravel()
        t_us = to_us(timestamp)
        layers = self.layer_of(ids)
        out = np.zeros(len(ids), dtype=np.uint64)
        sv = layers == 1
        if sv.any():
            out[sv] = self._lookup(self.sv_ids, self._roots_table("sv", t_us), ids[sv])
        l2 = layers == 2
        if l2.any():
            out[l2] = self._lookup(self.l2_ids, self._roots_table("l2", t_us), ids[l2])
        top = layers >= 3
        if top.any():
            known = self.known_roots(ids[top])
            out[top] = np.where(known, ids[top], np.uint64(0))
        if strict:
            bad = (out == 0) & (ids != 0)
            if bad.any():
                raise KeyError(int(ids[bad][0]))
        return out

    def members(self, root_id) -> np.ndarray:
        """Sorted L2 ids of a root (any root that ever existed); KeyError if unknown.

        Example::

            l2s = g.members(864691135808684573)
        """
        root_id = np.uint64(root_id)
        lo = np.searchsorted(self.members_root, root_id, side="left")
        hi = np.searchsorted(self.members_root, root_id, side="right")
        if lo == hi:
            raise KeyError(int(root_id))
        return self.members_l2[lo:hi].copy()

    def supervoxels_of_l2(self, l2_ids) -> np.ndarray:
        """All supervoxels of the given L2 ids (concatenated, sorted)."""
        l2_ids = np.unique(np.asarray(l2_ids, dtype=np.uint64))
        lo = np.searchsorted(self.l2_of_sv_by_l2, l2_ids, side="left")
        hi = np.searchsorted(self.l2_of_sv_by_l2, l2_ids, side="right")
        counts = hi - lo
        if counts.sum() == 0:
            return np.zeros(0, dtype=np.uint64)
        # flat indices of every [lo, hi) range without a Python loop
        idx = np.repeat(lo - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) + np.arange(counts.sum())
        return np.sort(self.sv_by_l2[idx])

    def leaves(self, node_id, stop_layer: int = 1) -> np.ndarray:
        """Descendants of a node at ``stop_layer`` (1 = supervoxels, 2+ = L2 ids: the sample has
        no layers between 2 and the root, so any stop layer between them yields L2 ids).

        Example::

            g.leaves(root, stop_layer=2)  # sorted L2 ids; KeyError for an unknown node
        """
        node_id = np.uint64(node_id)
        layer = int(self.layer_of([node_id])[0])
        if layer == 1:
            if not len(self.l2_ids_of([node_id], strict=False).nonzero()[0]):
                raise KeyError(int(node_id))
            return np.array([node_id], dtype=np.uint64)
        if layer == 2:
            if not self.has_l2([node_id])[0]:
                raise KeyError(int(node_id))
            l2s = np.array([node_id], dtype=np.uint64)
        else:
            l2s = self.members(node_id)
        if stop_layer <= 1:
            return self.supervoxels_of_l2(l2s)
        return l2s

    def has_l2(self, l2_ids) -> np.ndarray:
        """Bool mask: which ids are L2 nodes of the sample."""
        l2_ids = np.asarray(l2_ids, dtype=np.uint64)
        idx = _search(self.l2_ids, l2_ids)
        return self.l2_ids[idx] == l2_ids

    def l2_rows(self, l2_ids) -> tuple[np.ndarray, np.ndarray]:
        """(row index into ``l2_table``, found mask) for each id."""
        l2_ids = np.asarray(l2_ids, dtype=np.uint64)
        idx = _search(self.l2_ids, l2_ids)
        return idx, self.l2_ids[idx] == l2_ids

    def l2_edges(self, root_id) -> np.ndarray:
        """(n, 2) uint64 L2 edges inside a root (both ends members of it).

        Example::

            edges = g.l2_edges(root)  # what level2_chunk_graph answers
        """
        mem = self.members(root_id)
        # candidate edges: those whose first end is a member (ranges of the sorted edge list)
        lo = np.searchsorted(self.edges[:, 0], mem, side="left")
        hi = np.searchsorted(self.edges[:, 0], mem, side="right")
        counts = hi - lo
        idx = np.repeat(lo - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) + np.arange(counts.sum())
        cand = self.edges[idx]
        return cand[np.isin(cand[:, 1], mem)]

    def is_latest(self, root_ids) -> np.ndarray:
        """Bool per id: a root that has not expired (unknown ids -> False).

        Example::

            g.is_latest(np.array([old_root, new_root], dtype=np.uint64))  # [False, True]
        """
        root_ids = np.asarray(root_ids, dtype=np.uint64)
        idx = _search(self.root_ids, root_ids)
        return (self.root_ids[idx] == root_ids) & (self.root_expired[idx] == _NULL_TIME)

    def valid_at(self, root_ids, timestamp) -> np.ndarray:
        """Bool per id: the root existed at ``timestamp``."""
        root_ids = np.asarray(root_ids, dtype=np.uint64)
        t = to_us(timestamp)
        idx = _search(self.root_ids, root_ids)
        found = self.root_ids[idx] == root_ids
        return found & (self.root_created[idx] <= t) & (self.root_expired[idx] > t)

    def created_us(self, root_ids) -> np.ndarray:
        """Creation time (µs) of each root; KeyError for an unknown one."""
        return self.root_created[self._root_index(np.asarray(root_ids, dtype=np.uint64))]

    def expired_us(self, root_ids) -> np.ndarray:
        """Expiry time (µs, ``_NULL_TIME`` if latest) of each root; KeyError if unknown."""
        return self.root_expired[self._root_index(np.asarray(root_ids, dtype=np.uint64))]

    def latest_roots(self) -> np.ndarray:
        """All roots that have not expired, sorted."""
        return self.root_ids[self.root_expired == _NULL_TIME]

    def roots_valid_at(self, timestamp) -> np.ndarray:
        """All roots alive at ``timestamp``, sorted."""
        t = to_us(timestamp)
        return self.root_ids[(self.root_created <= t) & (self.root_expired > t)]

    # ---- edit history ------------------------------------------------------------------------

    def operations_touching(self, root_id) -> list[dict]:
        """Operations in the history of ``root_id``: every op whose after-roots are ancestors
        of it (including its own creating op), oldest first."""
        ancestors = self.ancestors(root_id)
        ops = {int(self.root_operation[i]) for i in self._root_index(np.array(sorted(ancestors), np.uint64))}
        ops.discard(-1)
        return sorted((self.op_by_id[o] for o in ops), key=lambda o: o["timestamp"])

    def parents_of(self, root_id) -> list[int]:
        """Roots that the operation creating ``root_id`` consumed (empty for initial roots)."""
        op = int(self.root_operation[self._root_index(np.array([root_id], np.uint64))][0])
        if op < 0:
            return []
        return [int(r) for r in self.op_by_id[op]["before_root_ids"]]

    def children_of(self, root_id) -> list[int]:
        """Roots created by the operation that expired ``root_id``."""
        root_id = int(root_id)
        out = []
        for op in self.operations:
            if root_id in {int(r) for r in op["before_root_ids"]}:
                out.extend(int(r) for r in op["after_root_ids"])
        return out

    def ancestors(self, root_id) -> set[int]:
        """``root_id`` and every root it descends from.

        Example::

            old_root in g.ancestors(new_root)
        """
        return _closure(int(root_id), self.parents_of)

    def descendants(self, root_id) -> set[int]:
        """``root_id`` and every root descended from it."""
        return _closure(int(root_id), self.children_of)


def _closure(start: int, step) -> set[int]:
    """``start`` and everything reachable from it through ``step`` (parents or children)."""
    seen, todo = set(), [start]
    while todo:
        r = todo.pop()
        if r not in seen:
            seen.add(r)
            todo.extend(step(r))
    return seen
