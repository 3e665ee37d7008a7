"""The TableBrowser engine over an out-of-core :class:`~cavewidgets.table.sources.Source`.

The view logic is :class:`~cavewidgets.table.engine.TableEngine`'s (a cached sort order per sort
spec, a cached boolean mask per filter, the view is ``order[mask[order]]``); only what touches
data is SQL against the source's view ``t``: masks, the sort order, the top-N rows of a new sort,
value counts, and the rows of a page (read by row number: DuckDB reads only the row groups
that hold them). Memory: the row-number arrays of the view (8 bytes a row per cached order, one
byte a row per mask), never the columns.

Example::

    engine = SourceEngine(open_source("syn.parquet"))
    engine.set_view(sort=[("size", False)], filters={"cell_type": ["23P"]})
    engine.page(0, 100, np.zeros(engine.n, bool))
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .duck import CACHE_BYTES, ipc_bytes, quote
from .engine import MAX_PICK_VALUES, MAX_TEXT_CHARS, TOP_N, TableEngine
from .order import MOST_SELECTED, SAMPLE
from .values import ColumnInfo
from .sources import ROW, Source

_INT = re.compile(r"^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)$")
_UINT = re.compile(r"^(UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT)$")
_FLOAT = re.compile(r"^(FLOAT|DOUBLE|DECIMAL.*|REAL)$")
_NUMERIC_LIST = re.compile(r"^(TINYINT|SMALLINT|INTEGER|BIGINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|FLOAT|DOUBLE)(\[\]|\[3\])$")
_INT_RANGE = {"int": (-(2**63), 2**63 - 1), "uint": (0, 2**64 - 1)}


def _kind(sql_type: str, arrow_type: pa.DataType | None) -> str:
    if arrow_type is not None and pa.types.is_dictionary(arrow_type):
        return "category"
    if sql_type.startswith("ENUM"):
        return "category"
    if _UINT.match(sql_type):
        return "uint"
    if _INT.match(sql_type):
        return "int"
    if _FLOAT.match(sql_type):
        return "float"
    if sql_type == "BOOLEAN":
        return "bool"
    if sql_type == "VARCHAR":
        return "string"
    if sql_type.startswith(("TIMESTAMP", "DATE")):
        return "datetime"
    if _NUMERIC_LIST.match(sql_type):
        return "position"
    return "object"


class SourceEngine(TableEngine):
    """Sort, filter, search and page an out-of-core source, with TableEngine's view logic.

    Example::

        engine = SourceEngine(open_source("syn.parquet"), key_name=None)
        engine.set_view(filters={"size": (100, None)})
    """

    def __init__(self, source: Source, key_name: str | None = None):
        self.source = source
        self.frame = None
        self.n = source.n_rows
        self.con = source.connect()
        described = self.con.execute("DESCRIBE t").fetchall()
        types = {name: sql_type for name, sql_type, *_ in described if name != ROW}
        arrow_types = {f.name: f.type for f in source.schema}
        pandas_index = _pandas_index_columns(source.schema)
        names = [n for n in types if n not in pandas_index]
        self.kinds = {n: _kind(types[n], arrow_types.get(n)) for n in names}
        self._lazy: dict[str, int] = {}
        self.columns: list[ColumnInfo] = []
        self._exprs: dict[str, str] = {}  # display column -> SQL (split positions are combined)
        trios = {n[:-2]: [f"{n[:-2]}_{a}" for a in "xyz"] for n in names if n.endswith("_x")}
        trios = {b: t for b, t in trios.items() if b not in types and all(
            p in self.kinds and self.kinds[p] in ("int", "uint", "float") for p in t)}
        in_trio = {p for t in trios.values() for p in t}
        for name in names:
            if name not in in_trio:
                self.columns.append(ColumnInfo(name, self.kinds[name], key=(name == key_name)))
                self._exprs[name] = quote(name) if self.kinds[name] != "object" else f"CAST({quote(name)} AS VARCHAR)"
            for base, trio in trios.items():
                if name == trio[2]:
                    element = types[trio[0]] if len({types[p] for p in trio}) == 1 else "DOUBLE"
                    parts = ", ".join(quote(p) for p in trio)
                    self._exprs[base] = f"[{parts}]::{element}[3]"
                    self.columns.append(ColumnInfo(base, "position"))
                    self.kinds[base] = "position"
        # the combined positions are columns of ``t`` too, so sort and summary use them by name
        self.con.close()
        self.con = self._connect()
        self.display_names = [c.name for c in self.columns]
        self._row_dtype = np.int32 if self.n < 2**31 else np.int64  # what fetch_order returns
        self._budget = CACHE_BYTES  # the sort cache's share: nothing of the source is in memory
        self._init_view_state()
        self._conditions: dict[str, tuple[str, list]] = {}  # the filters as SQL, one per column

    def _connect(self):
        con = self.source.connect()
        extra = ", ".join(f"{e} AS {quote(b)}" for b, e in self._exprs.items() if e.startswith("["))
        if extra:
            con.execute("ALTER VIEW t RENAME TO t_source")
            con.execute(f"CREATE VIEW t AS SELECT *, {extra} FROM t_source")
        return con

    # ---------- conditions as SQL (masks are computed from them) ----------
    def _text_condition(self, column: str, needle: str) -> tuple[str, list]:
        return f"contains(lower(CAST({quote(column)} AS VARCHAR)), ?)", [needle.lower()]

    def _search_condition(self, text: str) -> tuple[str, list]:
        text = text.strip()
        number = int(text) if text.lstrip("-").isdigit() and len(text) < 21 else None
        parts, params = [], []
        for c in self.columns:
            if c.kind in ("string", "category", "object"):
                where, p = self._text_condition(c.name, text)
                parts.append(where)
                params += p
            elif c.kind in ("int", "uint") and number is not None:
                lo, hi = _INT_RANGE[c.kind]
                if lo <= number <= hi:  # e.g. a negative number never matches uint64 ids
                    parts.append(f"{quote(c.name)} = {number}")
        return "(" + (" OR ".join(parts) or "FALSE") + ")", params

    def _spec_condition(self, column: str, spec: dict) -> tuple[str, list]:
        if spec["kind"] == "contains":
            return self._text_condition(column, spec["text"])
        return self._condition(column, spec)

    def _contains_mask(self, column: str, needle: str) -> np.ndarray:
        return self._sql_mask(*self._text_condition(column, needle))

    def _arrow_mask(self, column: str, spec: dict) -> None:
        return None  # the source is not in memory as Arrow columns: DuckDB scans it

    def _search_mask(self, text: str) -> np.ndarray:
        return self._sql_mask(*self._search_condition(text))

    def set_view(self, sort=(), filters=None, search: str = "") -> int:
        rows = super().set_view(sort, filters, search)  # validates first: bad input changes nothing
        conditions = {}
        for column, spec in (filters or {}).items():
            norm = self.normalise_filter(column, spec)
            if norm is not None:
                conditions[column] = self._spec_condition(column, norm)
        if search and search.strip():
            conditions["\0search"] = self._search_condition(search.strip().lower())
        self._conditions = conditions
        return rows

    def _where(self, skip: str | None = None) -> tuple[str, list]:
        parts, params = [], []
        for column, (where, p) in self._conditions.items():
            if column != skip:
                parts.append(where)
                params += p
        return " AND ".join(parts) or "TRUE", params

    # ---------- data ----------
    def _one_column(self, sort: list) -> None:
        return None  # no Arrow columns in memory to select from: DuckDB sorts (top-N pages meanwhile)

    def _select_page(self, sort: list, mask, start: int, count: int) -> np.ndarray | None:
        """A page past the top-N rows of a numeric sort, by selection in SQL (three scans of the
        key column) instead of waiting for the full ORDER BY (minutes at 100M rows)."""
        if len(sort) != 1 or start + count <= TOP_N or self.kinds.get(sort[0][0]) not in ("int", "uint", "float"):
            return None
        where, params = self._where()
        key = quote(sort[0][0])
        cache = json.dumps([key, where, params], default=str)
        if getattr(self, "_sample", (None,))[0] != cache:  # one sample serves every jump in this view
            self._sample = (cache, sample_sql(self.con, where, params, key, self.n))
        return select_rows_sql(self.con, where, params, key, bool(sort[0][1]), start, start + count, self._sample[1])

    def _full_order(self, key: str, terms: str, stop) -> np.ndarray:
        with self._lock:
            self._make_room()
        # the sorter thread's own connection, interrupted if a newer sort stops this one
        return self._keep_order(key, self._duck_order(key, self._connect(), terms, stop))

    def _top_rows(self, start: int, count: int) -> np.ndarray:
        where, params = self._where()
        rows = self.con.execute(f"SELECT {ROW} FROM t WHERE {where} ORDER BY {self._sort_terms} LIMIT {start + count}",
                                params).fetchnumpy()[ROW]
        return np.asarray(rows, dtype=np.int64)[start:]

    def fetch(self, rows: np.ndarray, columns: list[str]) -> pa.Table:
        """Columns (display names or source columns) of the rows with these row numbers, in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        select = ", ".join([f"{self._exprs.get(c, quote(c))} AS {quote(c)}" for c in columns] + [ROW])
        if not len(rows):
            return self.con.sql(f"SELECT {select} FROM t LIMIT 0").to_arrow_table()
        if self.source.table is not None:  # in memory: take the rows, then shape them in DuckDB
            small = self.source.table.take(pa.array(rows))
            self.con.register("__page", small)
            got = self.con.sql(f"SELECT {select} FROM __page").to_arrow_table()
            self.con.unregister("__page")
            return got
        listed = ", ".join(str(int(r)) for r in np.unique(rows))
        got = self.con.sql(f"SELECT {select} FROM t WHERE {ROW} BETWEEN {int(rows.min())} AND {int(rows.max())} "
                               f"AND {ROW} IN ({listed})").to_arrow_table()
        found = got.column(ROW).to_numpy()
        where = pd.Index(found).get_indexer(rows)
        return got.take(pa.array(where))

    def page(self, start: int, count: int, selected: np.ndarray, colors: Any = None) -> bytes:
        """Arrow IPC stream of view rows [start, start+count), as :meth:`TableEngine.page`;
        ``colors`` is ``(column, {value: css})`` (computed for the page's rows only)."""
        rows = self._page_rows(start, count)
        color_column = colors[0] if isinstance(colors, tuple) else None
        wanted = self.display_names + ([color_column] if color_column and color_column not in self.display_names else [])
        taken = self.fetch(rows, wanted)
        cols, names = [], []
        for name in self.display_names + [ROW]:
            col = taken.column(name)
            if self.kinds.get(name) in ("string", "object"):
                col = pc.utf8_slice_codeunits(col, 0, MAX_TEXT_CHARS)
            cols.append(col)
            names.append(name)
        cols.append(pa.array(selected[rows] if len(rows) else np.zeros(0, dtype=bool)))
        names.append("__sel")
        if color_column:
            lookup = {int(k) if isinstance(k, (int, np.integer)) else k: v for k, v in colors[1].items()}
            values = taken.column(color_column).to_pylist()
            cols.append(pa.array([lookup.get(v) for v in values], pa.string()))
            names.append("__color")
        return ipc_bytes(pa.table(cols, names=names))

    def summary(self, column: str) -> dict:
        """Value counts (pick list) or min/max for one column, under the other active filters."""
        self._check_column(column)
        kind = self.kinds[column]
        where, params = self._where(skip=column)
        q = quote(column)
        if kind in ("int", "uint", "float", "datetime"):
            lo, hi = self.con.execute(f"SELECT min({q}), max({q}) FROM t WHERE {where}", params).fetchall()[0]
            fmt = lambda v: None if v is None else (str(v) if not isinstance(v, float) else repr(v))  # noqa: E731
            return {"min": fmt(lo), "max": fmt(hi)}
        if kind == "position":
            return {"text": True}
        value = q if kind != "object" else f"CAST({q} AS VARCHAR)"
        rows = self.con.execute(
            f"SELECT {value} AS value, count(*) AS n FROM t WHERE {where} GROUP BY 1 ORDER BY 2 DESC, 1 "
            f"LIMIT {MAX_PICK_VALUES + 1}", params).fetchall()
        if kind in ("string", "object") and len(rows) > MAX_PICK_VALUES:
            return {"text": True}
        values = [[v if not isinstance(v, np.generic) else v.item(), int(n)] for v, n in rows[:MAX_PICK_VALUES]]
        return {"values": values, "truncated": len(rows) > MAX_PICK_VALUES}

    def rows_where(self, column: str, values: list) -> list[int]:
        """Row numbers whose ``column`` is one of ``values`` (exact integers for id columns).

        Example::

            engine.rows_where("pre_pt_root_id", [864691135808684573])
        """
        self._check_column(column)
        if not values:
            return []
        where, params = self._condition(column, {"kind": "in", "values": [str(v) for v in values]})
        rows = self.con.execute(f"SELECT {ROW} FROM t WHERE {where} ORDER BY {ROW}", params).fetchnumpy()[ROW]
        return [int(r) for r in rows]

    # ---------- the view out ----------
    def view_sql(self) -> tuple[str, list]:
        """SQL (and its parameters) of the current view, filtered and sorted as shown, with the
        source's own columns."""
        where, params = self._where()
        original = ", ".join(quote(f.name) for f in self.source.schema if f.name != ROW)
        order = f" ORDER BY {self._sort_terms}" if self._sort_terms else f" ORDER BY {ROW}"
        return f"SELECT {original} FROM t WHERE {where}{order}", params

    def frame_of(self, rows: np.ndarray) -> pd.DataFrame:
        """The rows with these row numbers as a DataFrame with the source's original dtypes."""
        columns = [f.name for f in self.source.schema if f.name != ROW]
        return self.source.to_pandas(self.fetch(rows, columns), rows, self.con)


def _pandas_index_columns(schema: pa.Schema) -> set[str]:
    import json

    meta = (schema.metadata or {}).get(b"pandas")
    if not meta:
        return set()
    try:
        return {c for c in json.loads(meta).get("index_columns", []) if isinstance(c, str)}
    except ValueError:
        return set()


class SourceFrame:
    """What the TableBrowser keeps of an out-of-core source in place of a DataFrame: its length,
    columns and dtypes, and ``iloc[rows]`` fetching just those rows.

    Example::

        SourceFrame(engine).iloc[[5, 2]]        # a two-row DataFrame, original dtypes
    """

    def __init__(self, engine: SourceEngine):
        self._engine = engine
        self.attrs: dict = {}
        names = [f.name for f in engine.source.schema if f.name != ROW and f.name not in _pandas_index_columns(engine.source.schema)]
        self.columns = pd.Index(names)
        self.dtypes = engine.frame_of(np.zeros(0, dtype=np.int64)).dtypes.reindex(names)

    def __len__(self) -> int:
        return self._engine.n

    @property
    def iloc(self):
        engine = self._engine

        class _Rows:
            def __getitem__(self, rows):
                return engine.frame_of(np.asarray(rows, dtype=np.int64).reshape(-1))

        return _Rows()


class SourceKeys:
    """The key column of an out-of-core source, looked up in SQL (no index of all keys in memory).
    Uniqueness is checked on the keys looked up (checking all would scan the whole source).

    Example::

        keys = SourceKeys(engine, "id")
        keys.get_indexer(pd.Index([10, 12]))    # row numbers, -1 for missing
    """

    def __init__(self, engine: SourceEngine, column: str):
        self._engine = engine
        self.column = column
        self.dtype = np.dtype({"uint": "uint64", "int": "int64"}.get(engine.kinds[column], "object"))

    def get_indexer(self, wanted: pd.Index) -> np.ndarray:
        values = list(wanted)
        if not values:
            return np.zeros(0, dtype=np.int64)
        q = quote(self.column)
        if self.dtype.kind in "iu" and all(isinstance(v, (int, np.integer)) for v in values):
            lo, hi = _INT_RANGE["uint" if self.dtype.kind == "u" else "int"]
            present = [int(v) for v in values if lo <= int(v) <= hi]
            found = self._engine.con.execute(
                f"SELECT {q}, {ROW} FROM t WHERE {q} IN ({', '.join(map(str, present)) or 'NULL'})").fetchall()
            _no_duplicates(self.column, [int(k) for k, _ in found])
            where = {int(k): int(r) for k, r in found}
            return np.array([where.get(int(v), -1) for v in values], dtype=np.int64)
        found = self._engine.con.execute(f"SELECT {q}, {ROW} FROM t WHERE {q} IN (SELECT UNNEST(?))",
                                         [[str(v) for v in values]]).fetchall()
        _no_duplicates(self.column, [str(k) for k, _ in found])
        where = {str(k): int(r) for k, r in found}
        return np.array([where.get(str(v), -1) for v in values], dtype=np.int64)

    def __getitem__(self, rows) -> pd.Index:
        table = self._engine.fetch(np.asarray(rows, dtype=np.int64), [self.column])
        return pd.Index(table.column(self.column).to_pandas())


def _no_duplicates(column: str, found: list) -> None:
    seen, dup = set(), []
    for k in found:
        if k in seen:
            dup.append(k)
        seen.add(k)
    if dup:
        raise ValueError(f"key column {column!r} has duplicate values (e.g. {', '.join(map(str, dup[:3]))}); pass a unique key")



def sample_sql(con, where: str, params: list, key: str, n: int) -> np.ndarray:
    """The sorted keys of every ``n // (4 * SAMPLE)``-th row of the view that has one (a filter on
    the row number: a scan in parallel, where a reservoir sample took seconds at 100M rows).

    Example::

        sample_sql(con, "TRUE", [], '"size"', engine.n)
    """
    step = max(1, n // (4 * SAMPLE))  # 4x the in-memory sample: the bracket fetched is half as wide
    got = con.execute(f"SELECT {key} AS k FROM t WHERE ({where}) AND {key} IS NOT NULL AND {ROW} % {step} = 0",
                      params).fetchnumpy()["k"]
    return np.sort(np.asarray(got))


def select_rows_sql(con, where: str, params: list, key: str, ascending: bool, a: int, b: int,
                    sample: np.ndarray, most: int = MOST_SELECTED) -> np.ndarray | None:
    """Rows at ranks [a, b) of ``SELECT __row FROM t WHERE <where> ORDER BY <key> ASC|DESC NULLS
    LAST, __row`` without sorting the view: a sample of the keys (:func:`sample_sql`, sorted)
    brackets the ranks, one scan counts the rows before the bracket, one returns the bracket,
    which numpy sorts; the view's missing keys come last in row order. None when the bracket
    would pass ``most`` rows.

    Example::

        sample = sample_sql(con, "TRUE", [], '"size"', n)
        select_rows_sql(con, "TRUE", [], '"size"', False, 5_000_000, 5_000_100, sample)
    """
    valid = con.execute(f"SELECT count({key}) FROM t WHERE {where}", params).fetchone()[0]
    a, hi_rank = max(0, a), min(b, valid)
    nulls = None
    if b > valid:  # past the keys: the missing ones, in row order
        skip = max(0, a - valid)
        nulls = con.execute(f"SELECT {ROW} FROM t WHERE ({where}) AND {key} IS NULL ORDER BY {ROW} "
                            f"LIMIT {b - max(a, valid)} OFFSET {skip}", params).fetchnumpy()[ROW]
        nulls = np.asarray(nulls, dtype=np.int64)
    if a >= valid:
        return nulls if nulls is not None else np.zeros(0, dtype=np.int64)
    if not ascending:
        sample = sample[::-1]
    m = len(sample)
    for widen in (2, 8, 32):
        margin = widen / np.sqrt(max(m, 1)) + 2 / max(m, 1)
        i, j = int((a / valid - margin) * m), int(np.ceil((hi_rank / valid + margin) * m))
        first = sample[i].item() if 0 < i < m else None  # the bracket's bound on the page's side of rank 0
        last = sample[j].item() if 0 <= j < m else None
        before, inside, p = "FALSE", [], []
        if first is not None:
            before = f"{key} {'<' if ascending else '>'} ?"
            inside.append(f"{key} {'>=' if ascending else '<='} ?")
            p.append(first)
        if last is not None:
            inside.append(f"{key} {'<=' if ascending else '>='} ?")
            p.append(last)
        cond = " AND ".join(inside) or "TRUE"
        below = 0 if first is None else con.execute(
            f"SELECT count(*) FROM t WHERE ({where}) AND {key} IS NOT NULL AND {before}", params + p[:1]).fetchone()[0]
        if below > a:
            continue  # the sample missed: a wider bracket
        got = con.execute(f"SELECT {ROW}, {key} AS k FROM t WHERE ({where}) AND {key} IS NOT NULL AND {cond} "
                          f"LIMIT {most + 1}", params + p).fetchnumpy()
        rows, keys = np.asarray(got[ROW], dtype=np.int64), np.asarray(got["k"])
        if len(rows) > most:
            return None
        if below + len(rows) < hi_rank:
            continue
        ranked = np.lexsort((rows, keys)) if ascending else np.lexsort((-rows, keys))[::-1]
        page = rows[ranked][a - below : hi_rank - below]
        return page if nulls is None else np.concatenate([page, nulls])
    return None
