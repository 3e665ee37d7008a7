"""Annotation tables as Arrow: materialized versions, live snapshots and their metadata.

The generator writes each table once (``tables/<t>.parquet``, rows as the annotation engine stores
them, no root ids). A *snapshot* of a table at a time ``ts`` keeps the rows alive at ``ts``
(``created <= ts`` and ``deleted`` null or later) and adds ``<pt>_root_id`` next to every
``<pt>_supervoxel_id``, looked up vectorised in the chunkedgraph index (:mod:`.graph`). Version
snapshots are cached (one per table and version); user tables (posted through the annotation
service) are read fresh each time because they change.

Ids leave as int64, as MaterializationEngine sends them (Postgres BIGINT); every sample id is
below 2**63 so the cast is exact and checked.

Example::

    store = get_store()
    syn = store.snapshot("synapses_pni_2", version=2)   # pyarrow.Table with pre_pt_root_id ...
"""

from __future__ import annotations

import datetime as _dt
import json
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .annotation_store import get_db
from .app import ServiceError, app_singleton, data_dir
from .graph import get_graph
from .timestamps import to_us

_NEVER = np.iinfo(np.int64).max
FRONT_COLUMNS = ["id", "created", "superceded_id", "valid"]


def iso(ts) -> str | None:
    """``YYYY-mm-ddTHH:MM:SS.ffffff`` (no zone): the only form caveclient's convert_timestamp parses."""
    if ts is None:
        return None
    us = to_us(ts)
    dt = _dt.datetime(1970, 1, 1) + _dt.timedelta(microseconds=us)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f")


def times_us(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Timestamp (or null) column -> int64 µs since epoch, null -> 'never'."""
    if pa.types.is_null(column.type):
        return np.full(len(column), _NEVER, dtype=np.int64)
    if pa.types.is_timestamp(column.type):
        column = column.cast(pa.timestamp("us", tz=column.type.tz)).cast(pa.int64())
    else:  # strings from a JSON-ish source
        column = pc.cast(column, pa.timestamp("us")).cast(pa.int64())
    return column.fill_null(_NEVER).to_numpy(zero_copy_only=False).astype(np.int64)


class TableStore:
    """Read-only view of the sample's tables plus the service's user tables.

    Example::

        TableStore(data_dir).snapshot("nucleus_detection_v0", version=1).num_rows
    """

    def __init__(self, data_dir: str | Path):
        self.data_dir = Path(data_dir)
        self.meta = json.loads((self.data_dir / "datastack.json").read_text())
        meta_path = self.data_dir / "tables" / "metadata.json"
        self.table_meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        self._raw: dict[str, pa.Table] = {}
        self._snapshots: dict[tuple, pa.Table] = {}
        self._locks: dict[tuple, threading.Lock] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ versions

    def versions(self, expired: bool = True) -> list[dict]:
        """Version records of datastack.json (only valid ones unless ``expired``)."""
        out = []
        for rec in self.meta.get("versions", []):
            if expired or rec.get("valid", True):
                out.append(rec)
        return out

    def version(self, version: int) -> dict:
        """The record of ``version``; ServiceError 404 if there is none."""
        for rec in self.meta.get("versions", []):
            if int(rec["version"]) == int(version):
                return rec
        known = [int(r["version"]) for r in self.meta.get("versions", [])]
        raise ServiceError(404, f"version {version} not found (available: {known})")

    def version_us(self, version: int) -> int:
        return to_us(self.version(version)["time_stamp"])

    def version_record(self, version: int) -> dict:
        """The version as MaterializationEngine's AnalysisVersionSchema dumps it."""
        rec = self.version(version)
        return {
            "id": int(rec["version"]),
            "datastack": self.meta["datastack"],
            "version": int(rec["version"]),
            "time_stamp": iso(rec["time_stamp"]),
            "expires_on": iso(rec.get("expires_on") or "2100-01-01T00:00:00"),
            "valid": bool(rec.get("valid", True)),
            "status": "AVAILABLE",
            "is_merged": True,
        }  # no parent_version: it is a foreign key, which SQLAlchemyAutoSchema leaves out

    # ------------------------------------------------------------------ tables

    def sample_tables(self) -> list[str]:
        """Tables the generator wrote (those with a parquet file)."""
        names = set(self.table_meta)
        names |= {p.stem for p in (self.data_dir / "tables").glob("*.parquet")}
        return sorted(n for n in names if (self.data_dir / "tables" / f"{n}.parquet").exists())

    def user_tables(self) -> list[str]:
        return get_db().table_names()

    def tables_at(self, version: int) -> list[str]:
        """Tables present in ``version``: sample tables created by then, plus user tables."""
        ts = self.version_us(version)
        out = []
        for name in self.sample_tables():
            created = self.table_meta.get(name, {}).get("created")
            if created is None or to_us(created) <= ts:
                out.append(name)
        return out + self.user_tables()

    def is_user_table(self, name: str) -> bool:
        return name not in self.table_meta and not (self.data_dir / "tables" / f"{name}.parquet").exists()

    def check_table(self, name: str, version: int | None = None) -> None:
        """ServiceError 404 unless ``name`` exists (in ``version``, if given)."""
        names = self.tables_at(version) if version is not None else self.sample_tables() + self.user_tables()
        if name not in names:
            where = f" in version {version}" if version is not None else ""
            raise ServiceError(404, f"table '{name}' not found{where}")

    def _record(self, name: str, version: int | None = None) -> tuple[dict, dict | None]:
        """The table's two DynamicAnnotationDB rows as dicts: ``AnnoMetadata`` and, for a schema
        with bound points (``is_segmentation_table_required``), ``SegmentationMetadata``."""
        from .schema import schema_fields

        self.check_table(name, version)
        if self.is_user_table(name):
            md = dict(get_db().table_metadata(name))
        else:
            md = dict(self.table_meta.get(name, {}))
        seg_res = self.meta.get("segmentation_resolution", [1, 1, 1])
        created = iso(md.get("created") or self.versions()[0]["time_stamp"])
        schema_type = md.get("schema_type")
        anno = {
            "id": (sorted(self.sample_tables() + self.user_tables()).index(name) + 1),
            "schema_type": schema_type,
            "table_name": name,
            "valid": True,
            "created": created,
            "deleted": None,
            "user_id": str(md.get("user_id", "0")),
            "description": md.get("description", ""),
            "notice_text": md.get("notice_text"),
            "reference_table": md.get("reference_table") or None,
            "flat_segmentation_source": md.get("flat_segmentation_source"),
            "voxel_resolution_x": float(md.get("voxel_resolution_x", seg_res[0])),
            "voxel_resolution_y": float(md.get("voxel_resolution_y", seg_res[1])),
            "voxel_resolution_z": float(md.get("voxel_resolution_z", seg_res[2])),
            "write_permission": md.get("write_permission", "PRIVATE"),
            "read_permission": md.get("read_permission", "PUBLIC"),
            "last_modified": iso(md.get("last_modified") or md.get("created") or created),
        }
        if not schema_type or not schema_fields(schema_type).bound:
            return anno, None
        seg = {
            "id": anno["id"],
            "schema_type": schema_type,
            "table_name": f"{name}__{self.meta['pcg_table']}",  # key_utils.build_segmentation_table_name
            "valid": True,
            "created": created,
            "deleted": None,
            "segmentation_source": "",
            "pcg_table_name": self.meta["pcg_table"],
            "last_updated": created,
            "annotation_table": name,
        }
        return anno, seg

    def metadata(self, name: str, version: int | None = None) -> dict:
        """Table metadata as MaterializationEngine's ``FrozenTableMetadata`` returns it: the
        ``AnalysisTable`` row (``id, aligned_volume, schema, table_name, valid, created``) updated
        with DynamicAnnotationDB's joined metadata less ``id``, ``deleted`` and
        ``annotation_table`` (``table_name`` stays the annotation table's).

        Example::

            store.metadata("synapses_pni_2")["schema_type"] == "synapse"
        """
        anno, seg = self._record(name, version)
        out = {"id": anno["id"], "aligned_volume": self.meta["aligned_volume"], "schema": anno["schema_type"],
               "table_name": name, "valid": True, "created": anno["created"]}
        out.update({k: v for k, v in {**anno, **(seg or {})}.items() if k not in ("id", "deleted", "annotation_table")})
        out["table_name"] = name
        return out

    def annotation_metadata(self, name: str) -> dict:
        """Table metadata as the AnnotationEngine returns it: DynamicAnnotationDB's
        ``get_table_metadata``, the ``AnnoMetadata`` row joined with the ``SegmentationMetadata``
        row when there is one (``flatten_join``: the latter's ``table_name``, ``<t>__<pcg>``, wins).

        Example::

            store.annotation_metadata("synapses_pni_2")["annotation_table"] == "synapses_pni_2"
        """
        anno, seg = self._record(name)
        return {**anno, **(seg or {})}

    def voxel_resolution(self, name: str) -> np.ndarray:
        md = self.metadata(name)
        return np.array([md["voxel_resolution_x"], md["voxel_resolution_y"], md["voxel_resolution_z"]])

    def raw(self, name: str) -> pa.Table:
        """All stored rows of a table (sample parquet cached; user tables fresh)."""
        if self.is_user_table(name):
            return get_db().arrow_rows(name)
        table = self._raw.get(name)
        if table is None:
            with self._lock:
                table = self._raw.get(name)
                if table is None:
                    table = pq.read_table(self.data_dir / "tables" / f"{name}.parquet")
                    self._raw[name] = table
        return table

    # ------------------------------------------------------------------ snapshots

    def snapshot(self, name: str, version: int | None = None, timestamp=None) -> pa.Table:
        """Rows of ``name`` alive at ``version``'s time (cached) or at ``timestamp``, with root ids.

        User tables in a version snapshot keep all their currently alive rows: the sample's
        versions are frozen in the past, so posted rows would otherwise never be queryable with
        ``query_table`` (the real service would pick them up at the next materialization).

        Example::

            store.snapshot("nucleus_detection_v0", timestamp=datetime.now(timezone.utc))
        """
        if version is not None:
            ts_us = self.version_us(version)
            self.check_table(name, version)
            if self.is_user_table(name):
                return self._materialize(name, row_time_us=to_us(_dt.datetime.now(_dt.timezone.utc)),
                                         root_time_us=ts_us)
            key = (name, int(version))
            cached = self._snapshots.get(key)
            if cached is not None:
                return cached
            with self._lock:
                lock = self._locks.setdefault(key, threading.Lock())
            with lock:  # concurrent first queries build the snapshot once
                cached = self._snapshots.get(key)
                if cached is None:
                    cached = self._materialize(name, ts_us, ts_us)
                    self._snapshots[key] = cached
            return cached
        self.check_table(name)
        ts_us = to_us(timestamp) if timestamp is not None else to_us(_dt.datetime.now(_dt.timezone.utc))
        return self._materialize(name, ts_us, ts_us)

    def _materialize(self, name: str, row_time_us: int, root_time_us: int) -> pa.Table:
        raw = self.raw(name)
        created = times_us(raw.column("created")) if "created" in raw.column_names else None
        deleted = times_us(raw.column("deleted")) if "deleted" in raw.column_names else None
        keep = np.ones(raw.num_rows, dtype=bool)
        if created is not None:
            keep &= created <= row_time_us
        if deleted is not None:
            keep &= deleted > row_time_us
        rows = raw.filter(pa.array(keep)) if not keep.all() else raw
        graph = get_graph(self.data_dir)
        root_ts = root_time_us / 1e6
        names, arrays = [], []
        for col in FRONT_COLUMNS:
            if col == "valid":
                names.append(col)
                arrays.append(pa.array(np.ones(rows.num_rows, dtype=bool)))
            elif col in rows.column_names:
                names.append(col)
                arrays.append(_as_int64(rows.column(col)) if col != "created" else rows.column(col))
            elif col == "superceded_id":
                names.append(col)
                arrays.append(pa.nulls(rows.num_rows, pa.int64()))
        for col in rows.column_names:
            if col in FRONT_COLUMNS or col == "deleted" or col.endswith("_root_id"):
                continue
            values = rows.column(col)
            if col.endswith("_supervoxel_id"):
                sv = values.to_numpy(zero_copy_only=False).astype(np.uint64)
                roots = graph.root_ids_at(sv, timestamp=root_ts)
                names += [col, col[: -len("_supervoxel_id")] + "_root_id"]
                arrays += [_as_int64(pa.array(sv)), _as_int64(pa.array(roots))]
            elif pa.types.is_unsigned_integer(values.type) and values.type.bit_width == 64:
                names.append(col)  # e.g. target_id, valid_id: BIGINT in CAVE
                arrays.append(_as_int64(values))
            else:
                names.append(col)
                arrays.append(values)
        return pa.Table.from_arrays([a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a for a in arrays],
                                    names=names)


def _as_int64(values) -> pa.Array:
    """uint64 ids -> int64 (checked: an id above 2**63 raises instead of wrapping)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_int64(values.type):
        return values
    if pa.types.is_floating(values.type):  # pandas may have stored a nullable id as float + NaN
        values = pc.if_else(pc.is_nan(values), pa.scalar(None, values.type), values)
    return values.cast(pa.int64(), safe=True)


def get_store() -> TableStore:
    """The running app's :class:`TableStore` (built on first use)."""
    return app_singleton("cavewidgets_tables", lambda: TableStore(str(data_dir())))


