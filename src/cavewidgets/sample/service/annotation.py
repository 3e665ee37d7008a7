"""Annotation engine (``/annotation/api/v2/aligned_volume/{av}/table...``) over one SQLite file.

User tables live in ``WORK_DIR/annotations.sqlite``; the generated sample tables are listed and
described too but are read-only (403 on writes). Every write request is one SQLite transaction:
a batch is validated whole against the table's JSON schema first, so one bad row rejects the
batch with a 422 naming the row and the field, and nothing is written.

Bound points get their supervoxel id at post time, read from the sample segmentation with
cloud-volume at the point; root ids are derived at query time from the chunkedgraph, so
``query_table`` / ``live_live_query`` return them as of the version / timestamp asked for.

Contract of the real AnnotationEngine (``annotationengine/api.py`` ``Annotations``, DynamicAnnotationDB
``insert_annotations``): a post answers 200 with the list of new ids; more than 10,000 rows is a
413 (``insertion_limit``); a batch that does not validate is a 422; there is no idempotency key
and no de-duplication, so a re-sent batch is written twice (exactly-once is the client's job).

Example::

    client.annotation.create_table("my_tags", "bound_tag", "test", [4, 4, 40])
    client.annotation.post_annotation_df("my_tags", df, position_columns=["pt_position"])
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import threading

import numpy as np
import pyarrow as pa
from flask import Blueprint, Response, current_app, jsonify, request

from .annotation_store import get_db, now_text
from .app import ServiceError, current_stack, data_dir, datastack_meta, request_json
from .info import check_aligned_volume
from .schema import all_schemas, schema_fields, validate_rows
from .tables import get_store

TABLE_NAME = re.compile(r"[a-z][a-z0-9_]{0,99}")

bp = Blueprint("annotation", __name__)

#: DynamicAnnotationDB ``annotation.py`` ``insert_annotations``: ``insertion_limit = 10_000``; the
#: app's ``INSERTION_LIMIT`` config overrides it (tests force a 413 without 10,001 rows)
MAX_BATCH = 10_000

# A missing table is no abort in the real engine: DynamicAnnotationDB's ``get_table_metadata``
# returns None and the route crashes on it (AnnotationEngine ``api.py`` ``AnnotationTable.get``:
# ``md.get("notice_text")``; every other route through ``anno_database.py``
# ``check_read_permission`` / ``check_write_permission`` / ``check_ownership``:
# ``metadata["..."]``), answered as any crash: 500 with the TypeError's text
NO_TABLE_GET = "'NoneType' object has no attribute 'get'"
NO_TABLE = "'NoneType' object is not subscriptable"
_CV_LOCK = threading.Lock()


def lookup_supervoxels(points_vox: np.ndarray, resolution) -> np.ndarray:
    """Supervoxel id under each point (points in voxels of ``resolution`` nm; 0 outside the volume).

    Example::

        lookup_supervoxels(np.array([[100, 200, 30]]), [4, 4, 40])
    """
    from cloudvolume import CloudVolume

    ext = current_stack().extensions
    with _CV_LOCK:
        cv = ext.get("cavewidgets_segmentation_cv")
        if cv is None:
            seg_dir = data_dir() / datastack_meta().get("segmentation_dir", "precomputed/segmentation")
            cv = CloudVolume(f"file://{seg_dir}", mip=0, fill_missing=True, bounded=False,
                             progress=False, cache=False)
            ext["cavewidgets_segmentation_cv"] = cv
    seg_res = np.asarray(cv.resolution, dtype=float)
    vox = np.floor(np.asarray(points_vox, dtype=float) * np.asarray(resolution, dtype=float) / seg_res).astype(np.int64)
    lo = np.asarray(cv.bounds.minpt, dtype=np.int64)
    hi = np.asarray(cv.bounds.maxpt, dtype=np.int64)
    inside = np.all((vox >= lo) & (vox < hi), axis=1)
    out = np.zeros(len(vox), dtype=np.uint64)
    if inside.any():
        pts = [tuple(int(v) for v in p) for p in vox[inside]]
        with _CV_LOCK:  # one shared CloudVolume; posts are rare, so serialising them is cheap
            labels = cv.scattered_points(pts)
        out[inside] = np.array([int(labels[p]) for p in pts], dtype=np.uint64)
    return out


# ---------------------------------------------------------------------------------- helpers


def _body() -> dict:
    body = request_json()
    if not isinstance(body, dict):
        raise ServiceError(400, "request body must be a JSON object")
    return body


#: annotation ids are PostgreSQL BIGINTs in the real engine (and SQLite INTEGERs here)
_BIGINT = (-(2**63), 2**63)
#: ids looked up per SQL statement (SQLite binds at most 32,766 parameters)
_ID_CHUNK = 500


def annotation_ids(values, what: str = "annotation_ids") -> list[int]:
    """``values`` as annotation ids: integers (not bools) that fit a BIGINT; 400 naming the first
    that is not.

    Example::

        annotation_ids([1, 2, 3])     # [1, 2, 3]
        annotation_ids([2**63])       # ServiceError 400
    """
    if not isinstance(values, list):
        raise ServiceError(400, f"'{what}' must be a list of integers")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ServiceError(400, f"'{what}' must be a list of integers, got {v!r}")
        if not _BIGINT[0] <= v < _BIGINT[1]:
            raise ServiceError(400, f"'{what}' contains {v}, which is out of range for an annotation id (BIGINT)")
    return values


def insert_limit() -> int:
    """Rows one POST may insert (DynamicAnnotationDB's ``insertion_limit``, or the app's override)."""
    return current_app.config.get("INSERTION_LIMIT", MAX_BATCH)


def _existing(table: str, crash: str = NO_TABLE) -> None:
    """404 unless ``table`` exists, carrying the real engine's crash on a missing table."""
    try:
        get_store().check_table(table)
    except ServiceError as err:
        err.crash = crash
        raise


def _writable(av: str, table: str) -> dict:
    check_aligned_volume(av)
    if table in get_store().sample_tables():
        raise ServiceError(403, f"table '{table}' is part of the generated sample and is read-only")
    _existing(table)
    return get_db().table_metadata(table)


def _prepare(schema_type: str, md: dict, annotations) -> list[dict]:
    """Validate a whole batch, then fill supervoxel ids of bound points (no root ids stored)."""
    if not isinstance(annotations, list) or not annotations:
        raise ServiceError(400, "'annotations' must be a non-empty list of objects")
    limit = insert_limit()
    if len(annotations) > limit:
        # api.py: abort(413, str(limit_error)); AnnotationInsertLimitExceeded.__str__ (errors.py)
        raise ServiceError(413, f"{limit} -> The insertion limit is {limit}, "
                                f"{len(annotations)} were attempted to be inserted")
    problems = validate_rows(schema_type, annotations)
    if problems:
        # api.py: a marshmallow ValidationError is abort(422, validation_error.messages)
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise ServiceError(422, "invalid annotations, nothing was written: " + "; ".join(problems[:5]) + more)
    fields = schema_fields(schema_type)
    rows = [dict(a) for a in annotations]
    if "target_id" in fields.plain and md.get("reference_table"):
        _check_targets(md["reference_table"], rows)
    res = [md["voxel_resolution_x"], md["voxel_resolution_y"], md["voxel_resolution_z"]]
    for pt in fields.bound:
        pos = np.array([r[pt]["position"] for r in rows], dtype=float)
        svs = lookup_supervoxels(pos, res)
        for r, sv in zip(rows, svs):
            r[pt] = {"position": list(r[pt]["position"]), "supervoxel_id": int(sv)}
    for r in rows:
        r.pop("id", None)
        r.pop("valid", None)
    return rows


def _check_targets(reference_table: str, rows: list[dict]) -> None:
    store = get_store()
    ids = set(store.raw(reference_table).column("id").to_pylist())
    for i, r in enumerate(rows):
        if r.get("target_id") not in ids:
            raise ServiceError(400, f"row {i}, field 'target_id': {r.get('target_id')} is not an id of "
                                    f"reference table '{reference_table}'; nothing was written")


# ---------------------------------------------------------------------------------- routes

T = "/api/v2/aligned_volume/<av>/table"


@bp.get(T)
def list_tables(av):
    check_aligned_volume(av)
    return jsonify(get_store().sample_tables() + get_db().table_names())


@bp.post(T)
def create_table(av):
    check_aligned_volume(av)
    body = _body()
    name, schema_type, md = body.get("table_name"), body.get("schema_type"), body.get("metadata")
    if not isinstance(name, str) or not name.strip():
        raise ServiceError(400, "'table_name' is required")
    if schema_type not in all_schemas():
        raise ServiceError(400, f"unknown schema_type {schema_type!r}")
    if not isinstance(md, dict) or not md.get("description"):
        raise ServiceError(400, "'metadata' with a 'description' is required")
    name = name.lower().replace(" ", "_")
    if not TABLE_NAME.fullmatch(name):
        raise ServiceError(400, f"table_name {name[:80]!r} must be 1-100 characters: lowercase letters, digits and "
                                "underscores, starting with a letter")
    try:
        res = [float(md[f"voxel_resolution_{a}"]) for a in "xyz"]
    except (KeyError, TypeError, ValueError):
        raise ServiceError(400, "metadata needs numeric voxel_resolution_x/_y/_z") from None
    table_md = md.get("table_metadata") or {}
    if not isinstance(table_md, dict):
        raise ServiceError(400, f"metadata.table_metadata must be an object, got {type(table_md).__name__}")
    ref = table_md.get("reference_table")
    if ref is not None and not isinstance(ref, str):
        raise ServiceError(400, f"table_metadata.reference_table must be a table name, got {ref!r}")
    if "target_id" in schema_fields(schema_type).plain:
        if not ref:
            raise ServiceError(400, f"schema {schema_type} is a reference schema: table_metadata.reference_table is required")
        get_store().check_table(ref)
    stored = {k: v for k, v in md.items() if k != "table_metadata"}
    stored.update(reference_table=ref, voxel_resolution_x=res[0], voxel_resolution_y=res[1],
                  voxel_resolution_z=res[2], user_id=str(md.get("user_id") or "1"))
    db = get_db()
    if name in get_store().sample_tables():
        raise ServiceError(400, f"Table {name} already exists")
    with db.transaction() as conn:
        if conn.execute("SELECT 1 FROM ann_tables WHERE name = ?", (name,)).fetchone():
            raise ServiceError(400, f"Table {name} already exists")
        conn.execute("INSERT INTO ann_tables VALUES (?, ?, ?, ?, NULL)",
                     (name, schema_type, json.dumps(stored), now_text()))
    # api.py Table.post: ``Response(table_info)``, the bare name as Flask's default text/html
    return Response(name, status=200)


@bp.put(T)
def update_table(av):
    check_aligned_volume(av)
    body = _body()
    name, md = body.get("table_name"), body.get("metadata")
    if not isinstance(name, str):
        raise ServiceError(400, "'table_name' is required")
    if not isinstance(md, dict):
        raise ServiceError(400, "'metadata' must be an object")
    current = _writable(av, name)
    allowed = {"description", "flat_segmentation_source", "read_permission", "write_permission",
               "user_id", "notice_text"}
    stored = {k: v for k, v in current.items() if k not in ("schema_type", "created")}
    stored.update({k: v for k, v in md.items() if k in allowed and v is not None})
    with get_db().transaction() as conn:
        conn.execute("UPDATE ann_tables SET metadata = ? WHERE name = ?", (json.dumps(stored), name))
    return jsonify(get_store().annotation_metadata(name))  # update_table_metadata -> get_table_metadata


@bp.get(T + "/<table>")
def table_info(av, table):
    check_aligned_volume(av)
    _existing(table, NO_TABLE_GET)
    # api.py AnnotationTable.get: ``return md, 201, headers`` (201, although nothing was created)
    return _engine_reply(get_store().annotation_metadata(table), table, status=201)


@bp.delete(T + "/<table>")
def delete_table(av, table):
    _writable(av, table)
    with get_db().transaction() as conn:
        conn.execute("UPDATE ann_tables SET deleted = ? WHERE name = ?", (now_text(), table))
    return jsonify(True)


@bp.get(T + "/<table>/count")
def count(av, table):
    check_aligned_volume(av)
    store = get_store()
    _existing(table)
    raw = store.raw(table)
    if "deleted" in raw.column_names:
        return jsonify(int(raw.column("deleted").null_count))  # alive rows have no deleted time
    return jsonify(raw.num_rows)


@bp.get(T + "/<table>/annotations")
def get_annotations(av, table):
    check_aligned_volume(av)
    text = request.args.get("annotation_ids", "")
    try:
        ids = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ServiceError(400, f"annotation_ids must be comma-separated integers, got {text[:200]!r}") from None
    annotation_ids(ids)
    store = get_store()
    _existing(table)
    if store.is_user_table(table) and len(ids) <= 900:  # SQLite's bound-parameter limit
        rows = get_db().arrow_rows(table, ids)
    else:
        import pyarrow.compute as pc

        raw = store.raw(table)
        rows = raw.filter(pc.is_in(raw.column("id"), value_set=pa.array(ids, pa.int64())))
    # DynamicAnnotationDB get_annotations loads the matching rows (deleted ones too) and answers
    # [] when none matches: the engine's 404 is for a None that never comes
    return _engine_reply(engine_rows(rows), table)


@bp.post(T + "/<table>/annotations")
def post_annotations(av, table):
    md = _writable(av, table)
    body = _body()
    # AnnotationEngine api.py Annotations.post: no idempotency key, no de-duplication; the same
    # rows posted twice are two sets of rows (exactly-once is the client's job)
    rows = _prepare(md["schema_type"], md, body.get("annotations"))
    db = get_db()
    now = now_text()
    with db.transaction() as conn:
        first = conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM annotations WHERE table_name = ?",
                             (table,)).fetchone()[0]
        ids = list(range(first, first + len(rows)))
        conn.executemany("INSERT INTO annotations VALUES (?, ?, ?, NULL, NULL, 1, ?)",
                         [(table, i, now, json.dumps(r)) for i, r in zip(ids, rows)])
    return jsonify(ids)


@bp.put(T + "/<table>/annotations")
def update_annotations(av, table):
    md = _writable(av, table)
    annotations = _body().get("annotations")
    if not isinstance(annotations, list) or not annotations:
        raise ServiceError(400, "'annotations' must be a non-empty list of objects")
    for i, a in enumerate(annotations):
        if not isinstance(a, dict) or isinstance(a.get("id"), bool) or not isinstance(a.get("id"), int):
            raise ServiceError(400, f"row {i}, field 'id': every updated annotation needs its integer id")
        annotation_ids([a["id"]], f"row {i}, field 'id'")
    rows = _prepare(md["schema_type"], md, [{k: v for k, v in a.items() if k != "id"} for a in annotations])
    now = now_text()
    out = {}  # api.py Annotations.put (since 2023): one {old_id: new_id, ...} for the whole batch
    with get_db().transaction() as conn:
        for i, (a, row) in enumerate(zip(annotations, rows)):
            old = conn.execute("SELECT valid FROM annotations WHERE table_name = ? AND id = ?",
                               (table, a["id"])).fetchone()
            if old is None or not old["valid"]:
                raise ServiceError(409 if old is not None else 404,
                                   f"row {i}: annotation {a['id']} is not a valid annotation of '{table}'; nothing was written")
            new_id = conn.execute("SELECT MAX(id) + 1 FROM annotations WHERE table_name = ?", (table,)).fetchone()[0]
            conn.execute("INSERT INTO annotations VALUES (?, ?, ?, NULL, NULL, 1, ?)",
                         (table, new_id, now, json.dumps(row)))
            conn.execute("UPDATE annotations SET deleted = ?, valid = 0, superceded_id = ? "
                         "WHERE table_name = ? AND id = ?", (now, new_id, table, a["id"]))
            out[a["id"]] = new_id
    return jsonify(out)


@bp.delete(T + "/<table>/annotations")
def delete_annotations(av, table):
    _writable(av, table)
    ids = sorted(set(annotation_ids(_body().get("annotation_ids"))))
    now = now_text()
    found = []
    with get_db().transaction() as conn:
        for start in range(0, len(ids), _ID_CHUNK):
            chunk = ids[start:start + _ID_CHUNK]
            marks = ",".join("?" * len(chunk))
            found += [r["id"] for r in conn.execute(
                f"SELECT id FROM annotations WHERE table_name = ? AND valid = 1 AND id IN ({marks})",
                (table, *chunk))]
        if not found:
            shown = f"{ids[:20]}{' ...' if len(ids) > 20 else ''}"
            raise ServiceError(404, f"annotation_id {shown} not in table {table}")
        conn.executemany("UPDATE annotations SET deleted = ?, valid = 0 WHERE table_name = ? AND id = ?",
                         [(now, table, i) for i in found])
    return jsonify(found)


def engine_rows(rows: pa.Table) -> list[dict]:
    """Rows as DynamicAnnotationDB ``get_annotations`` loads them from the annotation table: each
    point as ``<pt>_position`` ``[x, y, z]`` (PostGIS POINTZ read back as integers by
    emannotationschemas' ``PostGISField``), no supervoxel or root ids (those live in the
    segmentation table), ``created`` and ``deleted`` passed through ``str()`` (so a live row's
    ``deleted`` is the string ``"None"``).

    Example::

        engine_rows(get_db().arrow_rows("my_tags", [1]))
        # [{"id": 1, "created": "2026-01-01 10:00:00.123456", "deleted": "None", "valid": True,
        #   "superceded_id": None, "tag": "a", "pt_position": [10, 20, 30]}]
    """
    names = rows.column_names
    points = [c[: -len("_position_x")] for c in names if c.endswith("_position_x")]
    split = {f"{p}_position_{a}" for p in points for a in "xyz"}
    out = []
    for r in rows.to_pylist():
        row = {k: v for k, v in r.items()
               if k not in split and not k.endswith(("_supervoxel_id", "_root_id"))}
        row["created"], row["deleted"] = str(_naive_utc(r.get("created"))), str(_naive_utc(r.get("deleted")))
        for p in points:
            row[f"{p}_position"] = [int(r[f"{p}_position_{a}"]) for a in "xyz"]
        out.append(row)
    return out


def _naive_utc(value):
    # the engine's DateTime columns hold UTC without a zone
    if isinstance(value, _dt.datetime) and value.tzinfo is not None:
        return value.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return value


def _engine_reply(body, table: str, status: int = 200) -> Response:
    """A JSON answer of the annotation engine, with its ``Warning: Table Owner Notice: ...``
    header when the table has a notice (``api.py`` ``AnnotationTable.get``, ``Annotations.get``)."""
    response = Response(json.dumps(body, default=_json_default), status=status, mimetype="application/json")
    notice = get_store().annotation_metadata(table).get("notice_text")
    if notice is not None:
        response.headers["Warning"] = f"Table Owner Notice: {notice}"
    return response


def _json_default(obj):
    if isinstance(obj, (_dt.datetime, _dt.date)):
        return obj.isoformat()
    if isinstance(obj, np.generic):
        return obj.item()
    return str(obj)
