"""Kernel-side query engine of the TableBrowser: DuckDB over the frame's own columns.

Numeric columns reach DuckDB as zero-copy Arrow views of the frame's numpy arrays; row numbers
are numbered by DuckDB as it scans (no column of n row numbers), a category sorts by the Arrow
dictionary's own indices (its codes), and masks are computed batch by batch.

Sorting and filtering are computed separately and cached: a sort order is one permutation of
all rows (computed once per sort spec), each filter is one boolean mask (computed once per
spec), and the view is ``perm[mask[perm]]``. Changing a filter never re-sorts, paging never
re-queries, and only the rows of a page are serialised (Arrow IPC).

A click answers before the full order exists: the order (and ``perm[mask[perm]]``) is built on
the sorter thread, and until it is ready a page of one fixed-width column's order comes from
selection (``order.select_rows``: O(n), no sort), anything else's first rows from a top-N query.
A newer sort stops an older one that is still running. DuckDB is opened only when a query
needs it (~30 MB for the process's database).

Long file: the view's state (sort, masks, orders in flight, the pending view) is one object under
one lock, and its sorting, filtering and paging methods all read it; the filter specs themselves
live in ``filter_specs``.
"""

from __future__ import annotations

import json
import re
import threading
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .columns import convert_column, object_kind, positions_array, split_position_columns
from .duck import CACHE_BYTES, cache_slots, cursor, fetch_order, give_back_memory, ipc_bytes, quote
from .filter_specs import condition, normalise_filter
from .masks import arrow_mask, category_counts, contains_mask, lowered
from .order import Cancelled, column_order, select_rows, sortable
from .values import AllRows, ColumnInfo, RowBits, parse_literal

ROW = "__row"
CODES = "__codes:"  # + a category column's name: its category codes, the sort key (pandas' order)
FRAME = "__frame"  # the registered Arrow table; ``t`` is it with row numbers
MAX_PICK_VALUES = 500
MAX_TEXT_CHARS = 300
TOP_N = 2000  # pages within the first TOP_N rows of a new sort come from a top-N query


def _add_codes(arrays: dict, name: str, kind: str) -> None:
    """A category column sorts in category order, as pandas sorts it (not by the label text): by
    the dictionary's indices, which are the categorical's codes (missing values are null)."""
    if kind == "category":
        arrays[CODES + name] = arrays[name].indices


def numbered(table: str, row_type: str) -> str:
    """SQL of ``table`` with its row numbers as ``__row``, numbered by DuckDB as it scans (a
    streaming window: no array of n row numbers is ever stored).

    Example::

        con.execute(f"CREATE TEMP VIEW t AS {numbered('__frame', 'INTEGER')}")
    """
    return f"SELECT CAST(row_number() OVER () - 1 AS {row_type}) AS {ROW}, * FROM {table}"


def _keep_after(order: Future, mask: RowBits) -> np.ndarray:
    """``perm[mask[perm]]`` once the order is sorted (queued after it on the sorter thread)."""
    return mask.keep(order.result())


class TableEngine:
    """Sort, filter, search and page a DataFrame in the kernel.

    Example::

        engine = TableEngine(df)
        rows = engine.set_view(sort=[("size", False)], filters={"cell_type": {"kind": "in", "values": ["23P"]}})
        arrow_bytes = engine.page(0, 100, selected_mask)
    """

    def __init__(self, frame: pd.DataFrame, key_name: str | None = None):
        self.frame = frame
        self.n = len(frame)
        columns = [str(c) for c in frame.columns]
        arrays: dict[str, pa.Array] = {}
        self._lazy: dict[str, int] = {}
        self.columns: list[ColumnInfo] = []
        self.kinds: dict[str, str] = {}

        index = frame.index
        if not (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1):
            name = str(index.name) if index.name is not None else "index"
            if name not in columns:
                arr, kind = convert_column(index.to_series(index=pd.RangeIndex(self.n)))
                arrays[name] = arr
                _add_codes(arrays, name, kind)
                self.columns.append(ColumnInfo(name, kind, key=(key_name == name)))

        split = split_position_columns(columns, frame)
        in_split = {c for trio in split.values() for c in trio}
        seen: set[str] = set(arrays)
        for i, name in enumerate(columns):
            display = name
            n = 2
            while display in seen:  # duplicate column labels stay visible, with a suffix
                display, n = f"{name} ({n})", n + 1
            seen.add(display)
            series = frame.iloc[:, i]
            if pd.api.types.is_object_dtype(series.dtype) and object_kind(series) == "position":
                kind = "position"  # converted on first sort: 3-vector objects are slow to convert
                self._lazy[display] = i
            else:
                arr, kind = convert_column(series)
                arrays[display] = arr
                _add_codes(arrays, display, kind)
            self.kinds[display] = kind
            if name not in in_split:
                self.columns.append(ColumnInfo(display, kind, key=(display == key_name)))
            for base, trio in split.items():
                if name == trio[2]:  # the combined column stands where its last part stood
                    self.columns.append(ColumnInfo(base, "position"))
        for c in self.columns:
            self.kinds[c.name] = c.kind

        self.display_names = [c.name for c in self.columns]
        # split positions are not copied into one column: sorted by their parts, combined per page
        self._split = {base: trio for base, trio in split.items()}
        # row numbers in 4 bytes when they fit: every cached order is n long
        self._row_dtype = np.int32 if self.n < 2**31 else np.int64
        self._row_type = "INTEGER" if self.n < 2**31 else "BIGINT"
        # cached sort orders stay within an eighth of the frame (a 10M-row order is 40 MB)
        self._budget = min(CACHE_BYTES, max(1 << 22, int(frame.memory_usage(deep=False).sum()) // 8))
        self.table = pa.table(arrays) if arrays else pa.table({"__empty": pa.nulls(self.n)})
        self._init_view_state()
        give_back_memory()  # the conversions' temporaries

    def _init_view_state(self) -> None:
        """The view over all ``self.n`` rows, unsorted and unfiltered, with empty caches (both
        engines start here once their columns are known)."""
        self._sorts: dict[str, np.ndarray] = {}
        self._masks: dict[str, RowBits] = {}
        self._view: np.ndarray | None = AllRows(self.n)
        self._pending: Future | None = None
        self._view_mask: RowBits | None = None
        self._sort_terms = ""
        self._sort_columns: list[str] = []
        self._column_masks: dict[str, RowBits] = {}  # current filters (and search), one mask each
        self._lower_cache: dict[str, tuple] = {}
        self._sorter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cavewidgets-sort")
        self._lock = threading.Lock()
        self._inflight: dict[str, Future] = {}
        self._stops: dict[str, threading.Event] = {}  # set: that sort's order is no longer wanted
        self._running: dict[str, Any] = {}  # sort key -> the DuckDB connection running its ORDER BY
        self._sort: list[tuple[str, bool]] = []
        self._known_order: np.ndarray | None = None
        self.view_rows = self.n

    @property
    def con(self):
        """This engine's DuckDB cursor, opened on first use (sorting by one fixed-width column,
        filters on categories, ids and ranges, and paging never need it)."""
        if getattr(self, "_con", None) is None:
            self._con = self._connect(self.table)
        return self._con

    @con.setter
    def con(self, value) -> None:
        self._con = value

    # ---------- validation ----------
    def _literal(self, column: str, value: Any) -> Any:
        return parse_literal(column, self.kinds[column], value)

    def filterable(self) -> list[str]:
        return [c for c in self.kinds if c != ROW]

    def _check_column(self, name: str) -> str:
        if name not in self.kinds:
            raise ValueError(f"no column {name!r}; columns are: {', '.join(self.filterable()) or '(none)'}")
        if name in self._lazy:
            self._materialize(name)
        return name

    def _materialize(self, name: str) -> None:
        i = self._lazy.pop(name)
        arr = positions_array(self.frame.iloc[:, i].to_numpy(dtype=object))
        with self._lock:
            self.table = self.table.append_column(name, arr)
        if getattr(self, "_con", None) is not None:
            self._con.unregister(FRAME)
            self._con.register(FRAME, self.table)

    def _connect(self, table: pa.Table):
        """A cursor with the frame's Arrow table and the view ``t`` (the table with ``__row``)."""
        con = cursor()
        con.register(FRAME, table)
        con.execute(f"CREATE OR REPLACE TEMP VIEW t AS {numbered(FRAME, self._row_type)}")
        return con

    def normalise_filter(self, column: str, spec: Any) -> dict | None:
        """Turn what a user passes (list, (min, max) tuple, scalar, or a spec dict) into a spec dict."""
        self._check_column(column)
        return normalise_filter(self.kinds, column, spec)

    def _condition(self, column: str, spec: dict) -> tuple[str, list]:
        return condition(self.kinds, column, spec)

    def _contains_mask(self, column: str, needle: str) -> np.ndarray:
        if column not in self._lower_cache:  # lower-cased once per column
            self._lower_cache[column] = lowered(self.table.column(column))
        return contains_mask(self._lower_cache[column], needle)

    def _search_mask(self, text: str) -> np.ndarray:
        text = text.strip()
        mask = np.zeros(self.n, dtype=bool)
        # ASCII digits only: str.isdigit() also says yes to "²" and "--5", which int() refuses
        number = int(text) if re.fullmatch(r"-?[0-9]+", text) and len(text) < 21 else None
        for c in self.columns:
            if c.kind in ("string", "category", "object"):
                mask |= self._contains_mask(c.name, text)
            elif c.kind in ("int", "uint") and number is not None and c.name not in self._lazy:
                col = self.table.column(c.name)
                try:
                    scalar = pa.scalar(number, type=col.type)
                except (OverflowError, pa.ArrowInvalid):
                    continue  # e.g. a negative number against uint64 ids
                mask |= pc.fill_null(pc.equal(col, scalar), False).to_numpy(zero_copy_only=False)
        return mask

    def _mask(self, cache_key: str, compute) -> RowBits:
        # kept and combined as bits (n/8 bytes): a bool mask of n bytes lives only while computed
        bits = self._masks.get(cache_key)
        if bits is None:
            bits = compute()
            bits = bits if isinstance(bits, RowBits) else RowBits.of(bits)
            give_back_memory()
            if len(self._masks) >= cache_slots(bits.n // 8 + 1, 64):
                self._masks.clear()
            self._masks[cache_key] = bits
        return bits

    def _sql_mask(self, where: str, params: list) -> np.ndarray:
        mask = np.zeros(self.n, dtype=bool)
        # by row number, batch by batch: a streamed result does not keep the scan's order, and a
        # filter that keeps most rows never holds all their numbers at once
        sql = f"SELECT {ROW} FROM t WHERE {where}"
        for batch in (self.con.sql(sql, params=params) if params else self.con.sql(sql)).to_arrow_reader(1 << 18):
            mask[batch.column(0).to_numpy(zero_copy_only=False)] = True
        return mask

    def _filter_mask(self, column: str, spec: dict) -> RowBits:
        key = json.dumps([column, spec], default=str)
        if spec["kind"] == "contains":
            return self._mask(key, lambda: self._contains_mask(column, spec["text"]))
        where, params = self._condition(column, spec)
        return self._mask(key, lambda: self._arrow_mask(column, spec) or self._sql_mask(where, params))

    def _arrow_mask(self, column: str, spec: dict) -> RowBits | None:
        """The filter's rows from the frame's Arrow column (see masks.py), or None for DuckDB."""
        if column in self._lazy or column in self._split:
            return None
        raw = spec["values"] if spec["kind"] == "in" else [spec.get("min"), spec.get("max")]
        values = [self._literal(column, v) for v in raw]
        return arrow_mask(self.table.column(column), self.kinds[column], spec["kind"], values)

    def _registered(self, mask: RowBits | None, columns: list[str]) -> str:
        """The given columns plus a row mask ``__m`` (zero-copy) as SQL with ``__row``, for one query."""
        with self._lock:
            table = self.table
        parts = [p for c in columns for p in self._split.get(c, [c])]
        cols = {c: table.column(c) for c in dict.fromkeys(parts)}
        cols["__m"] = mask.arrow() if mask is not None else pa.repeat(pa.scalar(True), self.n)
        self.con.register("__v", pa.table(cols))
        return f"({numbered('__v', self._row_type)})"

    def _sort_exprs(self, column: str) -> list[str]:
        if column in getattr(self, "_split", {}):
            return [quote(p) for p in self._split[column]]
        q = quote(column)
        if self.kinds[column] == "position":
            return [f"{q}[{i}]" for i in (1, 2, 3)]
        if self.kinds[column] == "category":
            return [quote(CODES + column)]
        return [q]

    def _sort_sources(self, column: str) -> str:
        return CODES + column if self.kinds[column] == "category" else column

    def _order_terms(self, sort: list[tuple[str, bool]]) -> str:
        terms = ", ".join(f"{e} {'ASC' if asc else 'DESC'} NULLS LAST" for c, asc in sort for e in self._sort_exprs(c))
        return f"{terms}, {ROW}"  # the row position breaks ties: a stable order

    def _one_column(self, sort: list) -> str | None:
        """The column whose keys sort the view when that is one fixed-width column (numpy sorts
        and selects it), else None (DuckDB sorts)."""
        if len(sort) != 1:
            return None
        source = self._sort_sources(sort[0][0])
        if source in self._split or source in self._lazy or source not in self.table.column_names:
            return None
        return source if sortable(self.table.column(source).type) else None

    def _full_order(self, key: str, terms: str, stop: threading.Event) -> np.ndarray:
        # runs on the sorter thread (numpy's sorts and DuckDB release the GIL)
        if stop.is_set():
            raise Cancelled
        with self._lock:
            table = self.table
            self._make_room()
        sort = json.loads(key)
        source = self._one_column(sort)
        if source is not None:
            # one fixed-width column: a bucket sort next to the order (DuckDB's ORDER BY would
            # hold every key and row number while it sorts: more memory, spilled, slower)
            try:
                order = column_order(table.column(source), bool(sort[0][1]), cancelled=stop.is_set)
            except Cancelled:
                self._forget(key, stop)
                raise
            return self._keep_order(key, order)
        return self._keep_order(key, self._duck_order(key, self._connect(table), terms, stop))

    def _duck_order(self, key: str, con, terms: str, stop: threading.Event) -> np.ndarray:
        """DuckDB's ORDER BY on the sorter thread's own connection (closed after), interrupted
        when a newer sort stops this one (at 100M rows it would hold both cores for minutes)."""
        with self._lock:
            if stop.is_set():
                con.close()
                self._forget(key, stop, locked=True)
                raise Cancelled
            self._running[key] = con
        try:
            return fetch_order(con, f"SELECT {ROW} FROM t ORDER BY {terms}", self.n)
        except duckdb.InterruptException:
            self._forget(key, stop)
            raise Cancelled from None
        finally:
            with self._lock:
                if self._running.get(key) is con:
                    del self._running[key]
            con.close()

    def _forget(self, key: str, stop: threading.Event, locked: bool = False) -> None:
        """A stopped sort is no longer in flight (unless a newer request for it has begun)."""
        if not locked:
            with self._lock:
                return self._forget(key, stop, locked=True)
        if self._stops.get(key) is stop:
            self._inflight.pop(key, None)

    def _keep_order(self, key: str, order: np.ndarray) -> np.ndarray:
        """Cache a finished sort (the cache is emptied when it holds all the slots its memory
        budget allows) and mark it no longer in flight; returns ``order``."""
        give_back_memory()
        with self._lock:
            self._sorts[key] = order
            self._inflight.pop(key, None)
        return order

    def _make_room(self) -> None:
        """Drop cached orders before a new one is computed (not after): the old ones must not
        share the memory peak of the sort."""
        if len(self._sorts) >= cache_slots(self.n * np.dtype(self._row_dtype).itemsize, 8, self._budget):
            self._sorts.clear()

    # ---------- the view ----------
    def set_view(self, sort=(), filters=None, search: str = "") -> int:
        """Set the filtered, sorted view; returns its row count (the order may still be sorting)."""
        sort = [(self._check_column(str(c)), bool(a)) for c, a in sort]
        column_masks: dict[str, RowBits] = {}
        for column, spec in (filters or {}).items():
            norm = self.normalise_filter(column, spec)
            if norm is not None:
                column_masks[column] = self._filter_mask(column, norm)
        if search and search.strip():
            needle = search.strip()
            column_masks["\0search"] = self._mask(json.dumps(["\0search", needle]), lambda: self._search_mask(needle))
        masks = list(column_masks.values())
        mask = None
        for m in masks:
            mask = m if mask is None else (mask & m)
        with self._lock:
            self._column_masks = column_masks
            self._view_mask = mask
            self.view_rows = self.n if mask is None else mask.count()
            if self._pending is not None and self._pending not in self._inflight.values():
                self._pending.cancel()  # an older view's perm[mask[perm]], if not begun yet
            self._pending = None
            self._known_order = None  # the view's full order while perm[mask[perm]] is built
            self._sort_terms = self._order_terms(sort) if sort else ""
            self._sort_columns = [c for c, _ in sort]
            self._sort = sort
            self._view = None  # the old view goes before the new one is built: never both at once
            if not sort:
                self._view = AllRows(self.n) if mask is None else mask.rows(self._row_dtype)
            else:
                self._start_sorted(sort, mask)
        give_back_memory()
        return self.view_rows

    def _start_sorted(self, sort: list, mask: RowBits | None) -> None:
        """Make the sorted view (caller holds the lock): at once when its order is cached and
        nothing is filtered, else as ``_pending`` on the sorter thread."""
        key = json.dumps(sort)
        self._stop_other_sorts(key)
        order = self._sorts.get(key)
        if order is not None and mask is None:
            self._view = order
        elif order is not None:
            # perm[mask[perm]] on the sorter thread: first pages from the order's head meanwhile
            self._pending = self._sorter.submit(mask.keep, order)
            self._known_order = order
        else:
            # the full order is computed once, in the background; pages of the new order
            # meanwhile come by selection (or a top-N query), so a sort click answers fast
            pending = self._inflight.get(key)
            if pending is None or pending.cancelled() or self._stops[key].is_set():
                self._stops[key] = threading.Event()
                pending = self._sorter.submit(self._full_order, key, self._sort_terms, self._stops[key])
                self._inflight[key] = pending
            self._pending = pending if mask is None else self._sorter.submit(_keep_after, pending, mask)

    def _stop_other_sorts(self, key: str) -> None:
        """Stop computing the orders of other sorts (caller holds the lock): a newer click wants
        this one, and two sorts at once would slow both."""
        for other, future in list(self._inflight.items()):
            if other != key:
                self._stops[other].set()
                if other in self._running:
                    self._running[other].interrupt()
                if future.cancel():
                    self._inflight.pop(other, None)

    @property
    def view(self) -> np.ndarray:
        """Row positions (in the original frame) of the filtered, sorted view."""
        while True:
            pending = self._pending
            if self._view is not None or pending is None:
                return self._view
            try:
                rows = pending.result()
            except (Cancelled, CancelledError):
                # stopped by a newer sort that was itself replaced by this one again: start over
                with self._lock:
                    if self._pending is pending:
                        self._start_sorted(self._sort, self._view_mask)
                continue
            with self._lock:
                if self._pending is pending:
                    self._view = rows
                    self._pending = None
            return rows

    def _top_rows(self, start: int, count: int) -> np.ndarray:
        sort_columns = [self._sort_sources(c) for c in self._sort_columns]
        v = self._registered(self._view_mask, sort_columns)
        rows = self.con.execute(f"SELECT {ROW} FROM {v} WHERE __m ORDER BY {self._sort_terms} LIMIT {start + count}").fetchnumpy()[ROW]
        return np.asarray(rows, dtype=np.int64)[start:]

    def _page_rows(self, start, count) -> np.ndarray:
        """Row numbers of view rows [start, start+count) (at most 5,000). While a sort is still
        running, a page of one fixed-width column's order comes by selection, and the first
        ``TOP_N`` rows of any other from a LIMIT query, instead of waiting for it."""
        start = max(0, int(start))
        count = max(0, min(int(count), 5000))
        if self._view is None and self._pending is not None and not self._pending.done():
            with self._lock:
                sort, mask, order = list(self._sort), self._view_mask, self._known_order
            rows = mask.first_kept(order, start + count) if order is not None and mask is not None else None
            if rows is not None:
                return rows[start:]
            rows = self._select_page(sort, mask, start, count)
            if rows is not None:
                return rows
            if start + count <= TOP_N:
                return self._top_rows(start, count)
        return self.view[start : start + count]

    def _select_page(self, sort: list, mask: RowBits | None, start: int, count: int) -> np.ndarray | None:
        """View rows [start, start+count) by selection over one fixed-width sort column, or None."""
        source = self._one_column(sort)
        if source is None:
            return None
        return select_rows(self.table.column(source), bool(sort[0][1]), start, start + count, mask)

    def page(self, start: int, count: int, selected: np.ndarray, colors: np.ndarray | None = None) -> bytes:
        """Arrow IPC stream of view rows [start, start+count) with ``__row``, ``__sel`` and,
        when ``colors`` (one CSS colour or None per row) is given, ``__color``."""
        rows = self._page_rows(start, count)
        split = getattr(self, "_split", {})
        stored = [n for n in self.display_names if n not in self._lazy and n not in split]
        taken = self.table.select(stored).take(pa.array(rows))
        cols, names = [], []
        for name in self.display_names + [ROW]:
            if name == ROW:
                col = pa.array(np.asarray(rows, dtype=self._row_dtype))
            elif name in self._lazy:
                col = positions_array(self.frame.iloc[rows, self._lazy[name]].to_numpy(dtype=object))
            elif name in split:
                xyz = np.stack([self.table.column(p).take(pa.array(rows)).to_numpy(zero_copy_only=False)
                                for p in split[name]], axis=1)
                col = pa.FixedSizeListArray.from_arrays(pa.array(xyz.reshape(-1)), 3)
            else:
                col = taken.column(name)
            if self.kinds.get(name) in ("string", "object"):
                col = pc.utf8_slice_codeunits(col, 0, MAX_TEXT_CHARS)  # a huge cell must not stall the page
            cols.append(col)
            names.append(name)
        cols.append(pa.array(selected[rows] if len(rows) else np.zeros(0, dtype=bool)))
        names.append("__sel")
        if colors is not None:
            cols.append(pa.array(colors[rows] if len(rows) else [], pa.string()))
            names.append("__color")
        return ipc_bytes(pa.table(cols, names=names))

    def summary(self, column: str) -> dict:
        """Value counts (pick list) or min/max for one column, under the other active filters."""
        self._check_column(column)
        kind = self.kinds[column]
        other = None
        for c, m in self._column_masks.items():
            if c != column:
                other = m if other is None else (other & m)
        if kind == "position":
            return {"text": True}
        # a category's counts from its codes: no query, none of DuckDB's scan buffers
        counted = category_counts(self.table.column(column), other) if kind == "category" else None
        where = "__m"
        params: list = []
        v = self._registered(other, [column]) if counted is None else None
        q = quote(column)
        if kind in ("int", "uint", "float", "datetime"):
            lo, hi = self.con.execute(f"SELECT min({q}), max({q}) FROM {v} WHERE {where}", params).fetchall()[0]
            fmt = lambda v: None if v is None else (str(v) if not isinstance(v, float) else repr(v))  # noqa: E731
            return {"min": fmt(lo), "max": fmt(hi)}
        if kind in ("position",):
            return {"text": True}
        rows = counted[: MAX_PICK_VALUES + 1] if counted is not None else self.con.execute(
            f"SELECT {q} AS value, count(*) AS n FROM {v} WHERE {where} GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {MAX_PICK_VALUES + 1}",
            params,
        ).fetchall()
        if kind in ("string", "object") and len(rows) > MAX_PICK_VALUES:
            return {"text": True}
        values = [[v if not isinstance(v, (np.generic,)) else v.item(), int(n)] for v, n in rows[:MAX_PICK_VALUES]]
        return {"values": values, "truncated": len(rows) > MAX_PICK_VALUES}
