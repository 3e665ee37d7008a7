"""Out-of-core inputs of the TableBrowser: parquet / feather files, datasets, Arrow tables and
DuckDB relations, queried in place by DuckDB as a view ``t`` with a stable row number ``__row``.

Parquet is read where it lies (``read_parquet(..., file_row_number=true)``: a page of rows reads
only the row groups that hold it). Inputs DuckDB cannot address by row (feather / Arrow IPC,
non-parquet datasets, DuckDB relations, whose query may not return rows in a stable order) are
streamed once, batch by batch, into a temporary parquet file, which is then read in place; a
``pyarrow.Table`` is already in memory and is scanned as it is.

Example::

    source = open_source("synapses/*.parquet")
    source.n_rows, source.schema.names
    con = source.connect()          # a DuckDB connection with the view ``t``
"""

from __future__ import annotations

import glob
import os
import tempfile
import weakref
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from pyarrow.fs import LocalFileSystem

ROW = "__row"
MEMORY_LIMIT = "256MB"  # per DuckDB connection of a source
_PARQUET = (".parquet", ".pq", ".parq")
_IPC = (".feather", ".arrow", ".ipc", ".arrows")
ACCEPTED = ("a pandas DataFrame, a path to a parquet or feather (Arrow IPC) file, a directory or glob of them, "
            "a pyarrow.Table, a pyarrow.dataset.Dataset or a DuckDB relation")


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _format_of(path: str) -> str:
    lower = path.lower()
    if lower.endswith(_PARQUET):
        return "parquet"
    if lower.endswith(_IPC):
        return "ipc"
    with open(path, "rb") as fh:
        head = fh.read(6)
    if head[:4] == b"PAR1":
        return "parquet"
    if head == b"ARROW1":
        return "ipc"
    raise ValueError(f"{path} is neither parquet nor feather (Arrow IPC); name it .parquet or .feather")


def _files_of(path: str | os.PathLike) -> list[str]:
    text = os.fspath(path)
    if os.path.isdir(text):
        files = [f for f in sorted(glob.glob(os.path.join(text, "**", "*"), recursive=True))
                 if os.path.isfile(f) and f.lower().endswith(_PARQUET + _IPC)]
        if not files:
            raise FileNotFoundError(f"no .parquet or .feather files in directory {text!r}")
        return files
    if any(ch in text for ch in "*?["):
        files = sorted(f for f in glob.glob(text, recursive=True) if os.path.isfile(f))
        if not files:
            raise FileNotFoundError(f"no files match {text!r}")
        return files
    if not os.path.exists(text):
        raise FileNotFoundError(f"no such file: {text!r}")
    return [text]


class Source:
    """Parquet files (or one registered Arrow table) behind a DuckDB view ``t`` with ``__row``.

    Example::

        source = Source.parquet(["a.parquet", "b.parquet"])
        source.connect().execute("SELECT count(*) FROM t").fetchone()
    """

    def __init__(self, schema: pa.Schema, n_rows: int, view_sql: str, files: list[str] | None = None,
                 table: pa.Table | None = None, temporary: str | None = None, label: str = ""):
        self.schema = schema  # the original Arrow schema, with its pandas metadata: dtypes come back from it
        self.n_rows = int(n_rows)
        self.view_sql = view_sql
        self.files = files or []
        self.table = table
        self.label = label
        self._categories: dict[str, list] = {}
        if temporary is not None:  # the spill file lives as long as the source
            weakref.finalize(self, _remove, temporary)

    @classmethod
    def parquet(cls, files: list[str], schema: pa.Schema | None = None, temporary: str | None = None,
                label: str = "") -> Source:
        counts = [pq.ParquetFile(f).metadata.num_rows for f in files]  # footers only
        schema = schema if schema is not None else pq.read_schema(files[0])
        parts, offset = [], 0
        for f, count in zip(files, counts):
            # one scan per file, each numbered from its offset: a filter on __row prunes row groups
            parts.append(f"SELECT * EXCLUDE (file_row_number), file_row_number + {offset} AS {ROW} "
                         f"FROM read_parquet({_sql_string(f)}, file_row_number = true)")
            offset += count
        return cls(schema, offset, " UNION ALL ".join(parts), files=files, temporary=temporary, label=label)

    @classmethod
    def arrow(cls, table: pa.Table) -> Source:
        with_row = table.append_column(ROW, pa.array(np.arange(table.num_rows, dtype=np.int64)))
        return cls(table.schema, table.num_rows, "SELECT * FROM __arrow", table=with_row, label="pyarrow.Table")

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A new DuckDB connection (one per thread) with the view ``t`` over the source.

        Example::

            source.connect().execute("SELECT max(__row) FROM t").fetchone()
        """
        con = duckdb.connect()
        con.execute("SET threads TO 2")
        con.execute("SET enable_progress_bar = false")  # it would print into the notebook cell
        # a sort of 100M rows spills to disk instead of growing the kernel past a laptop's memory
        con.execute(f"SET temp_directory = {_sql_string(tempfile.gettempdir())}")
        con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        con.execute("SET enable_external_file_cache = false")  # the file stays on disk, not in the kernel
        if self.table is not None:
            con.register("__arrow", self.table)
        con.execute(f"CREATE VIEW t AS {self.view_sql}")
        return con

    def categories(self, name: str, con: duckdb.DuckDBPyConnection) -> list:
        """The categories of a dictionary column: the stored dictionary when the file keeps it
        (pandas' own order), else the distinct values, sorted."""
        cats = self._categories.get(name)
        if cats is None:
            cats = None
            if self.table is not None:
                col = self.table.column(name)
                if col.num_chunks:
                    cats = col.chunk(0).dictionary.to_pylist()
            elif self.files:
                f = pq.ParquetFile(self.files[0])
                if f.metadata.num_row_groups:
                    col = f.read_row_group(0, columns=[name]).column(0)
                    if pa.types.is_dictionary(col.type) and col.num_chunks:
                        cats = col.chunk(0).dictionary.to_pylist()
            distinct = [v for (v,) in con.execute(f"SELECT DISTINCT {_quote(name)} FROM t WHERE {_quote(name)} IS NOT NULL ORDER BY 1").fetchall()]
            if cats is None:
                cats = distinct
            else:  # values of later files or row groups that the first dictionary lacks
                known = set(cats)
                cats = cats + [v for v in distinct if v not in known]
            self._categories[name] = cats
        return cats

    def to_pandas(self, table: pa.Table, rows: np.ndarray, con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
        """Rows fetched by DuckDB back to a DataFrame with the source's original dtypes; the index
        is the row number (as ``df.iloc`` of a RangeIndex frame gives)."""
        arrays, fields = [], []
        for field in self.schema:
            if field.name not in table.column_names:
                continue
            col = table.column(field.name)
            if pa.types.is_dictionary(field.type):
                cats = self.categories(field.name, con)
                values = col.to_pandas()
                arrays.append(pa.array(pd.Categorical(values, categories=cats), type=field.type)
                              if len(cats) else col.cast(field.type))
            else:
                try:
                    arrays.append(col.cast(field.type))
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                    arrays.append(col)
                    field = pa.field(field.name, col.type)
            fields.append(field)
        out = pa.table(arrays, schema=pa.schema(fields, metadata=self.schema.metadata))
        frame = out.to_pandas()
        if isinstance(frame.index, pd.RangeIndex):
            frame.index = pd.Index(np.asarray(rows, dtype=np.int64))
        return frame


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def _spill(batches, schema: pa.Schema, label: str) -> Source:
    """Stream record batches into a temporary parquet file (memory: one batch at a time)."""
    fd, path = tempfile.mkstemp(prefix="cavewidgets-table-", suffix=".parquet")
    os.close(fd)
    try:
        with pq.ParquetWriter(path, schema) as writer:
            for batch in batches:
                writer.write_batch(batch, row_group_size=1 << 20)
    except BaseException:
        _remove(path)
        raise
    return Source.parquet([path], schema=schema, temporary=path, label=label)


def _ipc_source(files: list[str], label: str) -> Source:
    readers = [pa.ipc.open_file(pa.memory_map(f)) for f in files]
    schema = readers[0].schema

    def batches():
        for reader in readers:
            for i in range(reader.num_record_batches):
                yield reader.get_batch(i)  # decompressed one at a time

    return _spill(batches(), schema, label)


def open_source(obj: Any) -> Source:
    """A :class:`Source` for anything the TableBrowser takes besides a DataFrame; a clear
    ``TypeError`` for anything else.

    Example::

        open_source("syn.parquet").n_rows
        open_source(duckdb.sql("SELECT * FROM 'syn/*.parquet' WHERE size > 100"))
    """
    if isinstance(obj, (str, os.PathLike)):
        files = _files_of(obj)
        kinds = {_format_of(f) for f in files}
        if len(kinds) > 1:
            raise ValueError(f"{os.fspath(obj)} mixes parquet and feather files; give one format")
        label = os.fspath(obj)
        return Source.parquet(files, label=label) if kinds == {"parquet"} else _ipc_source(files, label)
    if isinstance(obj, pa.Table):
        return Source.arrow(obj)
    if isinstance(obj, pads.Dataset):
        if isinstance(obj, pads.FileSystemDataset) and isinstance(obj.format, pads.ParquetFileFormat) \
                and isinstance(obj.filesystem, LocalFileSystem):
            return Source.parquet(list(obj.files), schema=obj.schema, label="pyarrow.dataset")
        return _spill(obj.to_batches(), obj.schema, "pyarrow.dataset")
    if isinstance(obj, duckdb.DuckDBPyRelation):
        # the relation's query may order rows differently on every run: pin them once, on disk
        fd, path = tempfile.mkstemp(prefix="cavewidgets-table-", suffix=".parquet")
        os.close(fd)
        try:
            obj.write_parquet(path)
        except BaseException:
            _remove(path)
            raise
        return Source.parquet([path], temporary=path, label="DuckDB relation")
    if isinstance(obj, Path):
        return open_source(os.fspath(obj))
    raise TypeError(f"TableBrowser needs {ACCEPTED}; got {type(obj).__name__}")
