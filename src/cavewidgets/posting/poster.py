"""Post drafts to an annotation table: validated whole, all-or-nothing, each draft exactly once.

The protocol (see docs/architecture.md, "Posting annotations"):

1. Build one annotation row per draft from the table's schema (positions in nm -> the table's
   voxels) and validate every row against the schema service's JSON schema. One bad row stops
   the batch with an error naming the row and the field; nothing is sent or changed.
2. Move the drafts into the table's drafts file marked ``pending`` (saved before any request).
3. If an earlier attempt left drafts pending, first ask the server which of them arrived
   (a live query of the table: rows created since the attempt whose content matches a pending
   draft are claimed by it), so a retry never posts one twice. The annotation engine keeps no
   client ids, hence content matching; identical drafts are matched one row each.
4. Post the rest in one request. Only when the server returns their ids are the drafts removed
   from disk and appended to the posted log (``_posted.jsonl``).

Example::

    poster = AnnotationPoster(client)
    posted = poster.post(store, "my_tags", create=True, schema="bound_tag", tag="needs review")
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .drafts import DraftStore, _file_lock, now_iso

# how far back from an attempt's start a server row may be stamped and still be that attempt's
# (server and kernel clocks differ; the server stamps rows when it writes them)
CLOCK_SLACK = _dt.timedelta(minutes=10)
_POINT_REFS = ("BoundSpatialPoint", "SpatialPoint")


class DraftValidationError(ValueError):
    """Some drafts do not fit the table's schema; nothing was posted.

    ``problems`` lists ``(row, draft uid, field, message)`` tuples.
    """

    def __init__(self, table: str, problems: list[tuple[int, str, str, str]]):
        self.table = table
        self.problems = problems
        lines = [f"row {row} (draft {uid}), field '{field}': {msg}" for row, uid, field, msg in problems[:10]]
        more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
        super().__init__(f"{len(problems)} problem(s) posting to '{table}', nothing was posted:\n  "
                         + "\n  ".join(lines) + more)


class PostError(RuntimeError):
    """The post did not complete; the drafts are kept on disk, pending, and a retry is safe."""


def point_fields(definition: dict) -> list[str]:
    """The spatial point fields of a schema definition, in schema order (e.g. ``["pt"]``).

    Example::

        point_fields(client.schema.schema_definition("bound_tag"))   # ['pt']
    """
    defs = definition.get("definitions", {})
    root = definition.get("$ref", "").rsplit("/", 1)[-1]
    props = defs.get(root, {}).get("properties", {})
    out = []
    for name, spec in props.items():
        ref = str(spec.get("$ref", "")).rsplit("/", 1)[-1]
        if ref in _POINT_REFS:
            out.append(name)
    return out


def plain_fields(definition: dict) -> dict[str, dict]:
    """Non-point fields of a schema definition (name -> JSON schema), minus bookkeeping ones."""
    defs = definition.get("definitions", {})
    root = definition.get("$ref", "").rsplit("/", 1)[-1]
    props = defs.get(root, {}).get("properties", {})
    points = set(point_fields(definition))
    return {k: v for k, v in props.items() if k not in points and k not in ("valid", "id")}


class AnnotationPoster:
    """Posts drafts for one client (one datastack). Stateless apart from the files it writes.

    Example::

        poster = AnnotationPoster(client)
        poster.post(DraftStore("minnie65_sample"), "my_tags", tag="synapse?")
    """

    def __init__(self, client, *, on_posted=None):
        self.client = client
        self.datastack = client.datastack_name
        self._on_posted = on_posted  # callback(table, ids): provenance hook

    # ------------------------------------------------------------------ table and schema

    def table_exists(self, table: str) -> bool:
        return table in self.client.annotation.get_tables()

    def ensure_table(self, table: str, *, create: bool, schema: str | None, description: str | None,
                     voxel_resolution=None) -> dict:
        """The table's metadata, creating the table first when asked to."""
        if not isinstance(table, str) or not table.strip():
            raise ValueError(f"table must be a non-empty table name, got {table!r}")
        if not self.table_exists(table):
            if not create:
                raise ValueError(f"annotation table '{table}' does not exist in {self.datastack}; "
                                 f"pass create=True, schema='bound_tag' (or another schema) to create it")
            schema = schema or "bound_tag"
            if schema not in self.client.schema.get_schemas():
                raise ValueError(f"unknown schema {schema!r}; see client.schema.get_schemas()")
            res = voxel_resolution or [self.client.info.viewer_resolution()[i] for i in range(3)]
            self.client.annotation.create_table(
                table, schema, description or f"created by cavewidgets from {self.datastack} drafts",
                voxel_resolution=[float(v) for v in res])
        md = self.client.annotation.get_table_metadata(table)
        if schema is not None and create is False and md.get("schema_type") != schema:
            raise ValueError(f"table '{table}' has schema {md.get('schema_type')!r}, not {schema!r}")
        return md

    # ------------------------------------------------------------------ rows

    def rows_for(self, drafts: list[dict], md: dict, defaults: dict) -> list[dict]:
        """Schema rows for drafts (validated; raises :class:`DraftValidationError`)."""
        import jsonschema

        definition = self.client.schema.schema_definition(md["schema_type"])
        points = point_fields(definition)
        plain = plain_fields(definition)
        res = voxel_resolution(md)
        validator = jsonschema.Draft7Validator(definition)
        rows, problems = [], []
        for i, d in enumerate(drafts):
            row: dict[str, Any] = {}
            fields = {**defaults, **(d.get("fields") or {})}
            unknown = [k for k in fields if k not in plain and k not in points]
            for k in unknown:
                problems.append((i, d["uid"], k, f"not a field of schema {md['schema_type']} "
                                                  f"(fields: {', '.join(plain) or 'none'})"))
            row.update({k: _plain(v) for k, v in fields.items() if k in plain})
            ends = [d["position_nm"]] + ([d["end_nm"]] if d.get("end_nm") else [])
            if not points:
                problems.append((i, d["uid"], "-", f"schema {md['schema_type']} has no point field"))
            for name, pos in zip(points, ends):
                row[name] = {"position": [int(v) for v in np.round(np.asarray(pos, float) / res)]}
            for err in validator.iter_errors(row):
                field = ".".join(str(p) for p in err.absolute_path) or _missing_field(err)
                problems.append((i, d["uid"], field, err.message))
            rows.append(row)
        if problems:
            raise DraftValidationError(md.get("table_name") or "?", problems)
        return rows

    # ------------------------------------------------------------------ posting

    def post(self, store: DraftStore, table: str, *, uids=None, create: bool = False,
             schema: str | None = None, description: str | None = None, voxel_resolution=None,
             **defaults) -> pd.DataFrame:
        """Post drafts of ``store`` (all, or ``uids``) to ``table``; returns what was posted.

        Example::

            poster.post(store, "my_tags", create=True, schema="bound_tag", tag="check")
        """
        import requests

        try:
            md = self.ensure_table(table, create=create, schema=schema, description=description,
                                   voxel_resolution=voxel_resolution)
        except requests.exceptions.RequestException as err:
            raise PostError(f"cannot reach the annotation service to post to '{table}' ({type(err).__name__}); "
                            f"nothing was posted and every draft is kept in {store.directory}") from err
        md.setdefault("table_name", table)
        chosen = [d for d in store.drafts() if uids is None or d["uid"] in set(uids)]
        table_store = store if store.table == table else DraftStore(store.datastack, table, store.directory)
        pending = [d for d in table_store.drafts() if d.get("state") == "pending"]
        # validate everything first: an invalid row must leave every draft where it was
        self.rows_for(chosen + pending, md, defaults)
        if chosen and table_store is not store:
            store.move_to(table, [d["uid"] for d in chosen])
        outcome = []
        if pending:
            outcome += self._reconcile(table_store, table, pending, md, defaults)
        todo = [d for d in table_store.drafts() if d["uid"] not in {o["uid"] for o in outcome}]
        if todo:
            outcome += self._send(table_store, table, todo, md, defaults)
        return _posted_frame(outcome)

    def _send(self, store: DraftStore, table: str, drafts: list[dict], md: dict, defaults: dict) -> list[dict]:
        rows = self.rows_for(drafts, md, defaults)
        attempt = now_iso()
        store.update([dict(d, state="pending", attempt=attempt, defaults=defaults) for d in drafts])
        try:
            ids = self.client.annotation.post_annotation(table, rows)
        except Exception as err:  # noqa: BLE001 - any failure leaves the drafts pending
            raise PostError(f"posting {len(drafts)} draft(s) to '{table}' failed ({type(err).__name__}: "
                            f"{str(err)[:300]}). They are saved, pending, in {store.path}; call "
                            f"post_drafts again when the service is back: drafts that did reach the "
                            f"server are recognised and not posted twice.") from err
        ids = [int(i) for i in ids]
        if len(ids) != len(drafts):
            raise PostError(f"the server answered {len(ids)} ids for {len(drafts)} drafts; drafts kept pending")
        return self._confirm(store, table, drafts, ids)

    def _confirm(self, store: DraftStore, table: str, drafts: list[dict], ids: list[int]) -> list[dict]:
        done = [dict(d, table=table, annotation_id=int(i), posted=now_iso(), state="posted")
                for d, i in zip(drafts, ids)]
        _append_posted_log(store, done)  # the log first: a crash now leaves a pending draft the
        store.remove([d["uid"] for d in drafts])  # reconcile step matches to its logged id
        if self._on_posted is not None:
            self._on_posted(table, [d["annotation_id"] for d in done])
        return done

    def _reconcile(self, store: DraftStore, table: str, pending: list[dict], md: dict, defaults: dict) -> list[dict]:
        """Claim server rows for pending drafts that already arrived; returns those drafts, posted."""
        logged = {d["uid"]: d for d in read_posted_log(store.datastack, store.directory) if d.get("table") == table}
        done = [logged[d["uid"]] for d in pending if d["uid"] in logged]
        rest = [d for d in pending if d["uid"] not in logged]
        if done:
            store.remove([d["uid"] for d in done])
        if not rest:
            return done
        rows = self.rows_for(rest, md, {**defaults, **(rest[0].get("defaults") or {})})
        since = min(_parse(d.get("attempt") or d["created"]) for d in rest) - CLOCK_SLACK
        server = self._server_rows(table, md)
        known = {int(d["annotation_id"]) for d in logged.values()}
        if len(server):
            created = pd.to_datetime(server["created"], utc=True, format="ISO8601")
            server = server[(created >= since).to_numpy() & ~server["id"].isin(known).to_numpy()]
        available = {int(r["id"]): _canonical(r, md) for _, r in server.iterrows()}
        claimed_drafts, claimed_ids = [], []
        for d, row in zip(rest, rows):
            key = _canonical_row(row)
            hit = next((i for i, k in sorted(available.items()) if k == key), None)
            if hit is not None:
                del available[hit]
                claimed_drafts.append(d)
                claimed_ids.append(hit)
        if claimed_drafts:
            done += self._confirm(store, table, claimed_drafts, claimed_ids)
        return done

    def _server_rows(self, table: str, md: dict) -> pd.DataFrame:
        try:
            df = self.client.materialize.live_live_query(
                table, _dt.datetime.now(_dt.timezone.utc), allow_missing_lookups=True, split_positions=False,
                desired_resolution=list(voxel_resolution(md)),
                log_warning=False)
        except Exception as err:  # noqa: BLE001
            raise PostError(f"cannot check which pending drafts reached '{table}' ({type(err).__name__}: "
                            f"{str(err)[:300]}); nothing was posted, the drafts stay pending") from err
        return df


def voxel_resolution(md: dict) -> np.ndarray:
    """A table's voxel size in nm from its metadata (``voxel_resolution`` or ``voxel_resolution_x/y/z``)."""
    res = md.get("voxel_resolution")
    if res is None:
        res = [md.get(f"voxel_resolution_{a}") for a in "xyz"]
    res = np.asarray([np.nan if v is None else v for v in res], dtype=float)
    if res.shape != (3,) or not np.all(np.isfinite(res)) or np.any(res <= 0):
        raise ValueError(f"table '{md.get('table_name')}' has no usable voxel resolution in its metadata: {res}")
    return res


def _missing_field(err) -> str:
    if err.validator == "required":
        return str(err.message).split("'")[1] if "'" in str(err.message) else "-"
    return "-"


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    return value


def _canonical_row(row: dict) -> str:
    """Content key of a schema row (point positions in voxels, plain fields), order-independent."""
    out = {}
    for k, v in row.items():
        if isinstance(v, dict) and "position" in v:
            out[k] = [int(round(float(x))) for x in v["position"]]
        elif k not in ("id", "valid"):
            out[k] = v
    return json.dumps(out, sort_keys=True, default=str)


def _canonical(server_row: pd.Series, md: dict) -> str:
    """The content key of a row read back from a live query (``<pt>_position`` columns)."""
    out = {}
    for k, v in server_row.items():
        if k.endswith("_position") and not k.endswith("_position_x"):
            out[k[: -len("_position")]] = [int(round(float(x))) for x in np.asarray(v).ravel()[:3]]
    for k, v in server_row.items():
        if k in ("id", "valid", "created", "deleted", "superceded_id", "target_id") or k.endswith(
                ("_position", "_root_id", "_supervoxel_id")):
            continue
        out[k] = _plain(v) if not (isinstance(v, float) and np.isnan(v)) else None
    return json.dumps(out, sort_keys=True, default=str)


def _parse(text: str) -> _dt.datetime:
    return _dt.datetime.fromisoformat(text)


def _posted_log_path(datastack: str, directory: Path) -> Path:
    return Path(directory) / "_posted.jsonl"


def _append_posted_log(store: DraftStore, done: list[dict]) -> None:
    path = _posted_log_path(store.datastack, store.directory)
    with _file_lock(path):
        with open(path, "a", encoding="utf-8") as out:
            for d in done:
                out.write(json.dumps(d) + "\n")
            out.flush()


def read_posted_log(datastack: str, directory: Path) -> list[dict]:
    """Every draft ever confirmed by the server for this datastack (oldest first)."""
    path = _posted_log_path(datastack, directory)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a torn last line from a crash mid-write; the draft is still pending
    return out


def _posted_frame(done: list[dict]) -> pd.DataFrame:
    cols = ["table", "annotation_id", "uid", "root_id", "position_nm", "fields", "posted"]
    if not done:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols}).astype({"annotation_id": "int64"})
    df = pd.DataFrame([{c: d.get(c) for c in cols} for d in done])
    df["annotation_id"] = df["annotation_id"].astype("int64")
    df["root_id"] = pd.array([None if r is None else int(r) for r in df["root_id"]], dtype="UInt64")
    return df
