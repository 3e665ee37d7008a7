"""DuckDB and Arrow plumbing of the TableBrowser engines (in memory and out of core).

One in-memory DuckDB database per process, a cursor per engine; sort orders streamed into one
array of row numbers; pages sent as Arrow IPC streams.

Example::

    from cavewidgets.table.duck import cursor, fetch_order, ipc_bytes
    con = cursor(); con.register("t", arrow_table)
    order = fetch_order(con, "SELECT __row FROM t ORDER BY size", len(arrow_table))
"""

from __future__ import annotations

import ctypes
import ctypes.util
import tempfile
import threading

import duckdb
import numpy as np
import pyarrow as pa

MEMORY_LIMIT = "48MB"  # the process's DuckDB database: a 10M-row sort spills past it (two at once still fit)
FLUSH_THRESHOLD = "16MB"
CACHE_BYTES = 100_000_000  # cached sort orders (and, apart, filter masks) beyond two each stay under this


def ipc_bytes(table: pa.Table) -> bytes:
    """``table`` as one Arrow IPC stream (what the front-end decodes with flechette).

    Example::

        ipc_bytes(pa.table({"a": [1, 2]}))[:6]
    """
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def cache_slots(nbytes: int, most: int, budget: int | None = None) -> int:
    """How many cached orders (or masks) of this size to keep: ``most``, fewer for huge tables;
    with a ``budget`` (bytes), as many as fit in it, at least one.

    Example::

        cache_slots(order.nbytes, 8)                     # 2 to 8
        cache_slots(order.nbytes, 8, budget=frame_bytes // 8)
    """
    if budget is None:
        return max(2, min(most, CACHE_BYTES // max(1, nbytes)))
    return max(1, min(most, budget // max(1, nbytes)))


def fetch_order(con: duckdb.DuckDBPyConnection, sql: str, n: int) -> np.ndarray:
    """The one-column row-number result of ``sql``, streamed into one array of 4-byte row numbers
    (8 when n needs them): never the whole result twice in memory.

    Example::

        order = fetch_order(con, "SELECT __row FROM t ORDER BY size", n)
    """
    out = np.empty(n, dtype=np.int32 if n < 2**31 else np.int64)
    filled = 0
    for batch in con.sql(sql).to_arrow_reader(1 << 18):
        part = batch.column(0).to_numpy(zero_copy_only=False)
        out[filled : filled + len(part)] = part
        filled += len(part)
    return out[:filled]


def _malloc_trim():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to trim
        return None


_TRIM = _malloc_trim()


def give_back_memory() -> None:
    """Return the C heap's free pages to the system (glibc's ``malloc_trim``; elsewhere nothing).

    A sort or a mask frees tens of MB of chunk-sized temporaries, which glibc keeps in its heap
    (they are below its adaptive mmap threshold): the kernel's RSS would stay that much higher
    and add to the next step's peak.

    Example::

        order = column_order(column); give_back_memory()
    """
    if _TRIM is not None:
        _TRIM(0)


def quote(name: str) -> str:
    """``name`` as a DuckDB identifier (double quotes, inner quotes doubled).

    Example::

        quote("size")   # "\"size\"", safe in SQL whatever the column name
    """
    return '"' + name.replace('"', '""') + '"'


_DB: duckdb.DuckDBPyConnection | None = None
_DB_LOCK = threading.Lock()


def cursor() -> duckdb.DuckDBPyConnection:
    """A new connection to the process's one in-memory DuckDB database.

    Opening a database costs tens of milliseconds, which every TableBrowser and every new sort
    column paid; a cursor costs microseconds and keeps its own registered tables.

    Example::

        con = cursor(); con.register("t", arrow_table)
    """
    global _DB
    with _DB_LOCK:
        if _DB is None:
            _DB = duckdb.connect()
            _DB.execute("SET threads TO 2")
            _DB.execute("SET enable_progress_bar = false")
            # a sort spills to disk past this instead of doubling the kernel's memory
            _DB.execute(f"SET temp_directory = '{tempfile.gettempdir()}'")
            _DB.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
            # give freed sort memory back after each query instead of keeping it for the next
            _DB.execute(f"SET allocator_flush_threshold = '{FLUSH_THRESHOLD}'")
        return _DB.cursor()
