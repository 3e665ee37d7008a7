"""Post drafts to an annotation table: validated whole, all-or-nothing, each draft exactly once.

The protocol (see docs/architecture.md, "Posting annotations"):

1. Build one annotation row per draft from the table's schema (positions in nm -> the table's
   voxels) and validate every row against the schema service's JSON schema. One bad row stops
   the batch with an error naming the row and the field; nothing is sent or changed.
2. Move the drafts into the table's drafts file marked ``pending`` (saved before any request).
3. If an earlier attempt left drafts pending, first ask the server which of them arrived, so a
   retry never posts one twice. Only the AnnotationEngine's own API is used (materialization
   live queries lag behind new tables on real deployments): before each batch the table's row
   count is saved with the pending drafts; the engine's ids are a PostgreSQL serial and rows are
   never removed (a delete only marks them), so rows a lost batch wrote have ids above that
   count, and ``get_annotation`` by id finds them. Rows created since the attempt whose content
   matches a pending draft are claimed by it; identical drafts are matched one row each. The
   engine keeps no client ids (no idempotency key), hence content matching.
4. Post the rest in batches of at most 10,000 (DynamicAnnotationDB ``insertion_limit``; more is
   a 413) and about 8 MiB (CAVE's ingress refuses bodies above 10 MiB with its own 413), each
   batch with one plain POST that is never re-sent blindly (caveclient's session retries POSTs
   on 502/503/504, which could double a write). Only when the server returns ids
   are the drafts removed from disk and appended to the posted log (``_posted.jsonl``).
5. A batch the engine answered with an error (a 500, 503, 429, 408: the request is over, the
   write happened or not) is reconciled as in 3 and only its missing drafts are re-sent, with
   backoff that honours ``Retry-After``. A batch the engine *refused* (a 4xx, or the 500 a
   deployed engine answers in its place, whose message begins ``"413 Request Entity Too Large:"``,
   ``"422 Unprocessable Entity:"``, ...: see :mod:`.answers`) wrote nothing and is never re-sent
   in the call: :class:`PostRefusedError` names the refusal and the drafts stay pending.
6. A batch whose answer never came (read timeout, connection dropped after the request may have
   gone out, a gateway's 502/504, a kernel that died mid-request) may still be written *later*:
   the real AnnotationEngine runs under uwsgi with no request time limit (no ``harakiri`` in its
   ``uwsgi.ini``) behind nginx with ``proxy_read_timeout 600s`` (``timeout.conf``); when nginx or
   the client gives up, the worker goes on and commits the insert (one transaction: all rows or
   none). Reconciling right away and re-sending what is missing would then write those rows
   twice. So such a batch is reconciled once at once (a lost answer to a finished write is
   recovered in the call) and, if drafts are missing, never re-sent in the same call: they stay
   pending with ``may_land_until`` = the attempt's start + the POST's connect and read timeouts
   + :data:`LATE_WRITE_MARGIN`, written before the request is sent. A later call reconciles
   first; drafts still missing whose window is open make it refuse with :class:`PostPendingError`
   naming the time to retry (or sleep until then with ``wait=True``); after the window they are
   reconciled once more and only the missing ones are sent. Only a reconcile whose reads began
   after the window closed settles a draft: one that began inside it may have read a stretch of
   ids before a late row landed there (found by the ``long`` fault schedules: two kernels, a held
   POST, the second kernel's scan outlasting the window).

   The window is an assumption, not a proof: without an idempotency key nothing can rule out a
   server that starts an insert later still. It covers every wait the client and CAVE's ingress
   allow (both 600 s) plus a minute for the commit; a 10,000-row insert takes seconds.

Example::

    poster = AnnotationPoster(client)
    posted = poster.post(store, "my_tags", create=True, schema="bound_tag", tag="needs review")
"""

from __future__ import annotations

import datetime as _dt
import json
import time
from typing import Any

import numpy as np
import pandas as pd

from .answers import Answer, clock, failed_answer, read_answer
from .content_keys import plain_value, row_key, server_row_key
from .drafts import DraftStore, now_iso
from .errors import (REFUSAL_HINTS, DraftValidationError, MissingTableError, PostError, PostPendingError,
                     PostRefusedError)
from .posted_log import append_posted_log as _append_posted_log  # a name tests wrap (kill after it)
from .posted_log import read_posted_log
from .schema_fields import missing_field, plain_fields, point_fields, voxel_resolution

# how far back from an attempt's start a server row may be stamped and still be that attempt's
# (server and kernel clocks differ; the server stamps rows when it writes them)
CLOCK_SLACK = _dt.timedelta(minutes=10)
#: DynamicAnnotationDB ``annotation.py`` ``insert_annotations``: ``insertion_limit = 10_000``
BATCH = 10_000
#: request body bytes per batch, below the 10 MiB CAVE's ingress accepts (CAVEdeployment
#: ``kubetemplates/ingress.yml`` ``proxy-body-size: 10m``: nginx answers a larger body with its own
#: 413): 10,000 rows with long text fields would exceed it
BODY_BYTES = 8 * 2**20
#: bytes of a row besides its fields' JSON: a point ``{"pt": {"position": [x, y, z]}}`` and separators
_ROW_OVERHEAD = 80
#: attempts per batch (the first send plus re-sends of what did not land) and the backoff base
ATTEMPTS = 3
BACKOFF_SECONDS = 0.5
#: (connect, read) seconds for one POST of a batch; an answer later than this counts as lost
#: (the read timeout matches nginx's ``proxy_read_timeout`` in front of the AnnotationEngine)
POST_TIMEOUT = (10.0, 600.0)
#: seconds, after the connect and read timeouts, that an unanswered POST may still be written
LATE_WRITE_MARGIN = 60.0
#: ids asked per ``get_annotation`` call while reconciling (they travel in the URL)
ID_WINDOW = 400


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
        self._definitions: dict[str, dict] = {}  # schema name -> definition (read once: fewer requests to fail)

    # ------------------------------------------------------------------ table and schema

    def table_exists(self, table: str) -> bool:
        return table in self.client.annotation.get_tables()

    def ensure_table(self, table: str, *, create: bool, schema: str | None, description: str | None,
                     voxel_resolution=None) -> dict:
        """The table's metadata, creating the table first when asked to."""
        import requests

        if not isinstance(table, str) or not table.strip():
            raise ValueError(f"table must be a non-empty table name, got {table!r}")
        try:  # one request when the table is there (every post asks): fewer requests to fail
            return self._table_metadata(table, schema, create)
        except requests.exceptions.HTTPError:
            if self.table_exists(table):  # it is there: the error was something else
                raise
        if not create:
            raise MissingTableError(f"annotation table '{table}' does not exist in {self.datastack}; "
                             f"pass create=True, schema='bound_tag' (or another schema) to create it")
        schema = schema or "bound_tag"
        if schema not in self.client.schema.get_schemas():
            raise ValueError(f"unknown schema {schema!r}; see client.schema.get_schemas()")
        res = voxel_resolution or [self.client.info.viewer_resolution()[i] for i in range(3)]
        self.client.annotation.create_table(
            table, schema, description or f"created by cavewidgets from {self.datastack} drafts",
            voxel_resolution=[float(v) for v in res])
        return self._table_metadata(table, schema, create)

    def _table_metadata(self, table: str, schema: str | None, create: bool) -> dict:
        md = self.client.annotation.get_table_metadata(table)
        if schema is not None and create is False and md.get("schema_type") != schema:
            raise ValueError(f"table '{table}' has schema {md.get('schema_type')!r}, not {schema!r}")
        return md

    # ------------------------------------------------------------------ rows

    def schema_definition(self, schema: str) -> dict:
        """The JSON schema of ``schema`` from the schema service (asked once per poster).

        Example::

            poster.schema_definition("bound_tag")   # the JSON schema rows are validated against
        """
        if schema not in self._definitions:
            self._definitions[schema] = self.client.schema.schema_definition(schema)
        return self._definitions[schema]

    def rows_for(self, drafts: list[dict], md: dict, defaults: dict, *, validate: bool = True) -> list[dict]:
        """Schema rows for drafts (validated unless ``validate=False``; raises :class:`DraftValidationError`)."""
        import jsonschema

        definition = self.schema_definition(md["schema_type"])
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
            row.update({k: plain_value(v) for k, v in fields.items() if k in plain})
            ends = [d["position_nm"]] + ([d["end_nm"]] if d.get("end_nm") else [])
            if not points:
                problems.append((i, d["uid"], "-", f"schema {md['schema_type']} has no point field"))
            for name, pos in zip(points, ends):
                row[name] = {"position": [int(v) for v in np.round(np.asarray(pos, float) / res)]}
            for err in (validator.iter_errors(row) if validate else ()):
                field = ".".join(str(p) for p in err.absolute_path) or missing_field(err)
                problems.append((i, d["uid"], field, err.message))
            rows.append(row)
        if problems:
            raise DraftValidationError(md.get("table_name") or "?", problems)
        return rows

    # ------------------------------------------------------------------ posting

    def post(self, store: DraftStore, table: str, *, uids=None, create: bool = False,
             schema: str | None = None, description: str | None = None, voxel_resolution=None,
             wait: bool = False, **defaults) -> pd.DataFrame:
        """Post drafts of ``store`` (all, or ``uids``) to ``table``; returns what was posted.

        When an earlier POST went unanswered and may still be written, raises
        :class:`PostPendingError` naming when to retry; ``wait=True`` sleeps until then instead.

        Example::

            poster.post(store, "my_tags", create=True, schema="bound_tag", tag="check")
        """
        import requests

        if not isinstance(wait, (bool, np.bool_)):
            raise TypeError(f"wait must be True or False, got {type(wait).__name__} {repr(wait)[:80]}")
        try:
            md = self.ensure_table(table, create=create, schema=schema, description=description,
                                   voxel_resolution=voxel_resolution)
        except requests.exceptions.RequestException as err:
            raise PostError(f"cannot reach the annotation service to post to '{table}' ({type(err).__name__}); "
                            f"nothing was posted and every draft is kept in {store.directory}") from err
        # once the table has its segmentation table, the engine's metadata says ``<t>__<pcg>`` as
        # table_name (DynamicAnnotationDB ``flatten_join``): errors name the table posted to
        md = {**md, "table_name": table}
        try:
            with store.posting(table):
                return self._post(store, table, md, uids, defaults, wait)
        except requests.exceptions.RequestException as err:  # e.g. the schema service, mid-retry
            raise PostError(f"posting to '{table}' failed ({type(err).__name__}: {str(err)[:200]}); the drafts "
                            f"are kept in {store.directory} and a retry is safe") from err

    def _post(self, store: DraftStore, table: str, md: dict, uids, defaults: dict, wait: bool) -> pd.DataFrame:
        chosen = [d for d in store.drafts() if uids is None or d["uid"] in set(uids)]
        table_store = store if store.table == table else DraftStore(store.datastack, table, store.directory)
        pending = [d for d in table_store.drafts() if d.get("state") == "pending"]
        # validate everything first: an invalid row must leave every draft where it was
        self.rows_for(chosen + pending, md, defaults)
        if chosen and table_store is not store:
            store.move_to(table, [d["uid"] for d in chosen])
        outcome = []
        if pending:
            # a draft is settled by a reconcile only if its late-write window closed before the
            # reads began: a row landing mid-scan, in a window of ids already read, is missed
            began = _dt.datetime.now(_dt.timezone.utc)
            outcome += self._reconcile(table_store, table, pending, md, defaults)
            outcome += self._after_late_writes(table_store, table, md, defaults, wait, began)
        reconciled = {o["uid"] for o in outcome}
        todo = [d for d in table_store.drafts() if d["uid"] not in reconciled]
        if todo:
            outcome += self._send(table_store, table, todo, md, defaults)
        return _posted_frame(outcome)

    def _after_late_writes(self, store: DraftStore, table: str, md: dict, defaults: dict, wait: bool,
                           began: _dt.datetime) -> list[dict]:
        """Drafts of unanswered POSTs still missing after a reconcile that ``began`` while they could
        still be written: refuse until they no longer can (or sleep until then), then reconcile them
        once more; returns the ones found."""
        open_ = [d for d in store.drafts() if d.get("state") == "pending" and _may_land_until(d) > began]
        if not open_:
            return []
        until = max(_may_land_until(d) for d in open_)
        if not wait and until > _dt.datetime.now(_dt.timezone.utc):  # (closed since: check again at once)
            raise PostPendingError(
                f"{len(open_)} draft(s) for '{table}' were sent in a POST the server did not answer "
                f"({open_[0].get('unanswered') or 'the posting kernel stopped before an answer'}); the server may "
                f"still write them until {clock(until)}, so nothing was sent now (re-sending could post them "
                f"twice). Your drafts are safe and pending in {store.path}; retry after {clock(until)} "
                f"(or post with wait=True), and the ones that arrived are recognised, not posted twice.", until)
        time.sleep(max(0.0, (until - _dt.datetime.now(_dt.timezone.utc)).total_seconds()))
        return self._reconcile(store, table, open_, md, defaults)

    def _send(self, store: DraftStore, table: str, drafts: list[dict], md: dict, defaults: dict) -> list[dict]:
        """Post ``drafts`` in batches of at most :data:`BATCH` rows and about :data:`BODY_BYTES`, each
        exactly once."""
        done = []
        for batch in _batches(drafts, defaults):
            done += self._send_batch(store, table, batch, md, defaults)
        return done

    def _send_batch(self, store: DraftStore, table: str, drafts: list[dict], md: dict, defaults: dict) -> list[dict]:
        done: list[dict] = []
        error = None
        for attempt_no in range(ATTEMPTS):
            if attempt_no:
                # the engine answered an error: its request is over, so what landed is all that
                # ever will; claim it and re-send only the rest
                drafts, claimed = self._claim(store, table, drafts, md, defaults)
                done += claimed
                if not drafts:
                    return done
            rows = self.rows_for(drafts, md, defaults, validate=False)  # post() validated them all
            try:
                count_before = int(self.client.annotation.get_annotation_count(table))
            except Exception as err:  # noqa: BLE001 - nothing sent yet
                self._check_still_there(table, store)
                raise PostError(f"cannot read the row count of '{table}' before posting ({type(err).__name__}: "
                                f"{str(err)[:200]}); nothing was posted, the drafts are kept in {store.path}") from err
            start = _dt.datetime.now(_dt.timezone.utc)
            drafts = [dict(d, state="pending", attempt=start.isoformat(timespec="microseconds"),
                           count_before=count_before, defaults=defaults, unanswered=None,
                           may_land_until=(start + _late_write_window()).isoformat(timespec="microseconds"))
                      for d in drafts]
            store.update(drafts)  # on disk before the request: a crash now is reconciled later
            answer = self._post_once(table, rows)
            if answer.ids is not None:
                if len(answer.ids) != len(drafts):
                    raise PostError(f"the server answered {len(answer.ids)} ids for {len(drafts)} drafts; "
                                    f"drafts kept pending")
                return done + self._confirm(store, table, drafts, answer.ids)
            error = answer.error
            if answer.in_flight:
                return done + self._unanswered(store, table, drafts, md, defaults, answer.error)
            drafts = [dict(d, may_land_until=None) for d in drafts]  # answered: nothing can land later
            store.update(drafts)
            if answer.refused is not None:
                raise self._refused(store, table, drafts, answer)
            if answer.wait is None:  # re-sending cannot help
                break
            time.sleep(answer.wait if answer.wait > 0 else BACKOFF_SECONDS * 2 ** attempt_no)
        raise PostError(f"posting {len(drafts)} draft(s) to '{table}' failed ({error}). They are saved, pending, "
                        f"in {store.path}; call post_drafts again when the service is back: drafts that did "
                        f"reach the server are recognised and not posted twice.")

    def _refused(self, store: DraftStore, table: str, drafts: list[dict], answer: Answer) -> PostRefusedError:
        reason = answer.error.split(": ", 1)[-1] if answer.error else str(answer.refused)
        hint = REFUSAL_HINTS.get(answer.refused, "the engine refused the request")
        if answer.refused == 404:
            self._check_still_there(table, store)
        return PostRefusedError(
            f"the annotation engine refused the post of {len(drafts)} draft(s) to '{table}' ({answer.error}): "
            f"{hint}. Nothing of this batch was written and it was not sent again; your drafts are kept, pending, "
            f"in {store.path}.", answer.refused, reason)

    def _check_still_there(self, table: str, store: DraftStore) -> None:
        """A PostError naming the table when it no longer exists (a real engine answers requests
        for a missing table with a 500 that does not say so)."""
        try:
            gone = not self.table_exists(table)
        except Exception:  # noqa: BLE001 - the caller reports its own failure
            return
        if gone:
            raise MissingTableError(f"annotation table '{table}' no longer exists in {self.datastack}; nothing was posted "
                            f"to it, and your drafts are kept in {store.path}")

    def _claim(self, store: DraftStore, table: str, drafts: list[dict], md: dict, defaults: dict):
        """``(drafts not found on the server, confirmed ones)`` after reconciling ``drafts``."""
        claimed = self._reconcile(store, table, drafts, md, defaults)
        landed = {c["uid"] for c in claimed}
        return [d for d in drafts if d["uid"] not in landed], claimed

    def _unanswered(self, store: DraftStore, table: str, drafts: list[dict], md: dict, defaults: dict,
                    error: str) -> list[dict]:
        """A POST without an answer: claim what already landed (a lost answer to a finished write);
        anything missing may still be written, so it is not re-sent in this call."""
        drafts = [dict(d, unanswered=error) for d in drafts]
        store.update(drafts)
        drafts, claimed = self._claim(store, table, drafts, md, defaults)
        if not drafts:
            return claimed
        until = max(_may_land_until(d) for d in drafts)
        raise PostPendingError(
            f"the server did not answer the post of {len(drafts)} draft(s) to '{table}' ({error}) and may still "
            f"write them until {clock(until)}: they were not sent again (that could post them twice). Your drafts "
            f"are safe and pending in {store.path}; retry after {clock(until)} (or post with wait=True): the "
            f"ones that arrived are recognised, the rest sent once.", until)

    def _post_once(self, table: str, rows: list[dict]) -> Answer:
        """One POST of ``rows``: the ids, or the error text with ``wait`` (seconds before a re-send;
        0: use backoff; None: do not re-send) and ``in_flight`` (the server may still write them).

        The request goes through a session without retries (caveclient's own session re-sends
        POSTs on 502/503/504: a write the server applied would be doubled).
        """
        import requests
        from caveclient.base import BaseEncoder

        ann = self.client.annotation
        mapping = dict(ann.default_url_mapping, aligned_volume_name=ann.aligned_volume_name, table_name=table)
        url = ann._endpoints["annotations"].format_map(mapping)
        with requests.Session() as session:
            session.headers.update(ann.session.headers)
            session.cookies.update(ann.session.cookies)
            session.verify = ann.session.verify
            session.trust_env, session.proxies = ann.session.trust_env, dict(ann.session.proxies)  # the user's proxy setup
            try:
                r = session.post(url, data=json.dumps({"annotations": rows}, cls=BaseEncoder),
                                 headers={"Content-Type": "application/json"}, timeout=POST_TIMEOUT)
            except requests.exceptions.RequestException as err:
                return failed_answer(err, POST_TIMEOUT[1])
        return read_answer(r)

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
        rows = self.rows_for(rest, md, {**defaults, **(rest[0].get("defaults") or {})}, validate=False)
        since = min(_parse(d.get("attempt") or d["created"]) for d in rest) - CLOCK_SLACK
        # drafts pending from before counts were saved: search the whole table
        floor = min(int(d.get("count_before") or 0) for d in rest)
        known = {int(d["annotation_id"]) for d in logged.values()}
        server = [r for r in self._rows_above(table, floor) if int(r["id"]) not in known
                  and (r.get("created") is None or _parse_server_time(r["created"]) >= since)]
        # content key -> server ids, lowest first: identical drafts claim one row each, in order
        available: dict[str, list[int]] = {}
        for r in sorted(server, key=lambda r: int(r["id"]), reverse=True):
            available.setdefault(server_row_key(r), []).append(int(r["id"]))
        claimed_drafts, claimed_ids = [], []
        for d, row in zip(rest, rows):
            ids = available.get(row_key(row))
            if ids:
                claimed_drafts.append(d)
                claimed_ids.append(ids.pop())
        if claimed_drafts:
            done += self._confirm(store, table, claimed_drafts, claimed_ids)
        return done

    def _rows_above(self, table: str, floor: int) -> list[dict]:
        """Every row of ``table`` written after its count was ``floor``, through the AnnotationEngine's API.

        Rows are never removed (a delete marks them) and ids come from a PostgreSQL serial, so
        the ``count - floor`` rows written since have the largest ids, all above ``floor``. Ids
        above ``floor`` are read in windows until that many rows were seen and a stretch of
        :data:`BATCH` ids is empty (a failed insert consumes up to a batch of ids: a gap).
        """
        ann = self.client.annotation
        try:
            expected = int(ann.get_annotation_count(table)) - floor
            out: list[dict] = []
            lo, empty = floor, 0
            while len(out) < expected or empty < BATCH:
                ids = list(range(lo + 1, lo + 1 + ID_WINDOW))
                try:
                    got = ann.get_annotation(table, ids)
                except Exception as err:  # noqa: BLE001 - a 404 is the engine's "no row in this window"
                    if getattr(getattr(err, "response", None), "status_code", None) != 404:
                        raise
                    got = []
                out += got
                empty = 0 if got else empty + ID_WINDOW
                lo += ID_WINDOW
            return out
        except Exception as err:  # noqa: BLE001
            raise PostError(f"cannot check which pending drafts reached '{table}' ({type(err).__name__}: "
                            f"{str(err)[:300]}); nothing was posted, the drafts stay pending") from err


def _batches(drafts: list[dict], defaults: dict) -> list[list[dict]]:
    """``drafts`` cut in order into batches of at most :data:`BATCH` drafts whose rows' JSON comes
    to at most :data:`BODY_BYTES` (estimated from the fields; a draft larger alone goes alone)."""
    out: list[list[dict]] = []
    size = 0
    for d in drafts:
        points = 2 if d.get("end_nm") else 1
        nbytes = len(json.dumps({**defaults, **(d.get("fields") or {})}, default=str)) + _ROW_OVERHEAD * points
        if not out or len(out[-1]) >= BATCH or size + nbytes > BODY_BYTES:
            out.append([])
            size = 0
        out[-1].append(d)
        size += nbytes
    return out


def _parse_server_time(text) -> _dt.datetime:
    ts = pd.Timestamp(str(text))
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).to_pydatetime()


def _late_write_window() -> _dt.timedelta:
    return _dt.timedelta(seconds=POST_TIMEOUT[0] + POST_TIMEOUT[1] + LATE_WRITE_MARGIN)


def _may_land_until(draft: dict) -> _dt.datetime:
    """Until when a pending draft's last POST may still be written (drafts saved before this was
    recorded: their attempt's start plus today's window)."""
    if "may_land_until" in draft:
        text = draft["may_land_until"]
        return _parse(text) if text else _dt.datetime.min.replace(tzinfo=_dt.timezone.utc)
    return _parse(draft.get("attempt") or draft["created"]) + _late_write_window()


def _parse(text: str) -> _dt.datetime:
    return _dt.datetime.fromisoformat(text)


def _posted_frame(done: list[dict]) -> pd.DataFrame:
    cols = ["table", "annotation_id", "uid", "root_id", "position_nm", "fields", "posted"]
    if not done:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols}).astype({"annotation_id": "int64"})
    df = pd.DataFrame([{c: d.get(c) for c in cols} for d in done])
    df["annotation_id"] = df["annotation_id"].astype("int64")
    df["root_id"] = pd.array([None if r is None else int(r) for r in df["root_id"]], dtype="UInt64")
    return df
