"""The SQLite store of user annotation tables (``WORK_DIR/annotations.sqlite``), free of routes.

The annotation engine's routes (``annotation.py``) write through it and the materialization
side (``tables.py``) reads through it, so neither route module imports the other.

Example::

    db = AnnotationDB("/tmp/work/annotations.sqlite")
    db.table_names()
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import sqlite3
from pathlib import Path

import numpy as np
import pyarrow as pa

from .app import ServiceError, app_singleton, work_dir
from .schema import schema_fields

_ARROW_TYPES = {"string": pa.string(), "number": pa.float64(), "integer": pa.int64(), "boolean": pa.bool_()}
_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS ann_tables (name TEXT PRIMARY KEY, schema_type TEXT NOT NULL,
    metadata TEXT NOT NULL, created TEXT NOT NULL, deleted TEXT);
CREATE TABLE IF NOT EXISTS annotations (table_name TEXT NOT NULL, id INTEGER NOT NULL,
    created TEXT NOT NULL, deleted TEXT, superceded_id INTEGER, valid INTEGER NOT NULL,
    data TEXT NOT NULL, PRIMARY KEY (table_name, id));
"""


def now_text() -> str:
    """The current UTC time as the store writes it (``created``/``deleted`` columns)."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")


class AnnotationDB:
    """The SQLite store of user tables (one connection per call; SQLite serialises writers).

    Example::

        db = AnnotationDB("/tmp/work/annotations.sqlite")
        db.table_names()
    """

    def __init__(self, path: str | Path):
        self.path = str(path)
        with self.read() as conn:
            conn.executescript(_SCHEMA_SQL)

    @contextlib.contextmanager
    def read(self):
        """A connection for reads, closed afterwards."""
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        try:
            yield conn
        finally:
            conn.close()

    @contextlib.contextmanager
    def transaction(self):
        """One write transaction (BEGIN IMMEDIATE: checks and writes see no other writer)."""
        with self.read() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def table_names(self) -> list[str]:
        with self.read() as conn:
            rows = conn.execute("SELECT name FROM ann_tables WHERE deleted IS NULL ORDER BY name").fetchall()
        return [r["name"] for r in rows]

    def table_row(self, name: str):
        with self.read() as conn:
            return conn.execute("SELECT * FROM ann_tables WHERE name = ? AND deleted IS NULL", (name,)).fetchone()

    def table_metadata(self, name: str) -> dict:
        row = self.table_row(name)
        if row is None:
            raise ServiceError(404, f"table '{name}' not found")
        md = json.loads(row["metadata"])
        md.update(schema_type=row["schema_type"], created=row["created"])
        return md

    def arrow_rows(self, name: str, ids: list[int] | None = None) -> pa.Table:
        """Rows of a user table (all, or those with ``ids``) in the layout of ``tables/<t>.parquet``
        (DATA_LAYOUT.md)."""
        schema_type = self.table_metadata(name)["schema_type"]
        fields = schema_fields(schema_type)
        only = "" if ids is None else f" AND id IN ({','.join('?' * len(ids))})"
        with self.read() as conn:
            rows = conn.execute(
                "SELECT id, created, deleted, superceded_id, valid, data FROM annotations "
                f"WHERE table_name = ?{only} ORDER BY id", (name, *(ids or ()))).fetchall()
        datas = [json.loads(r["data"]) for r in rows]
        cols = {
            "id": pa.array([r["id"] for r in rows], pa.int64()),
            "created": _utc([r["created"] for r in rows]),
            "deleted": _utc([r["deleted"] for r in rows]),
            "valid": pa.array([bool(r["valid"]) for r in rows], pa.bool_()),
            "superceded_id": pa.array([r["superceded_id"] for r in rows], pa.int64()),
        }
        for fname, kind in fields.plain.items():
            cols[fname] = pa.array([d.get(fname) for d in datas], _ARROW_TYPES.get(kind, pa.string()))
        for pt in sorted(fields.bound + fields.spatial):
            pos = np.array([d[pt]["position"] if d.get(pt) else [0, 0, 0] for d in datas],
                           dtype=float).reshape(-1, 3)
            for k, axis in enumerate("xyz"):
                cols[f"{pt}_position_{axis}"] = pa.array(np.round(pos[:, k]).astype(np.int64))
            if pt in fields.bound:
                cols[f"{pt}_supervoxel_id"] = pa.array(
                    [int((d.get(pt) or {}).get("supervoxel_id") or 0) for d in datas], pa.uint64())
        return pa.table(cols)


def _utc(texts: list) -> pa.Array:
    """Stored UTC time strings -> timestamp[us, UTC], like the sample tables' columns."""
    return pa.array(texts, pa.string()).cast(pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC"))


def get_db() -> AnnotationDB:
    """The running app's :class:`AnnotationDB` (``WORK_DIR/annotations.sqlite``)."""
    return app_singleton(
        "cavewidgets_annotations", lambda: AnnotationDB(work_dir() / "annotations.sqlite")
    )
