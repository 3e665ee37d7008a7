"""The kernel's provenance log: every query cavewidgets makes or is handed, one record each.

Recording API for the other widgets (the Explorer, the morphology panel, the reports)::

    from cavewidgets.reproducible import record_query, record_fetch, record_posted_annotations

    # a materialization query the widget ran itself; params are the keyword arguments of
    # client.materialize.<method> besides the table and the version/timestamp
    record_query(client, method="query_table", table="synapses_pni_2",
                 params={"filter_in_dict": {"pre_pt_root_id": [root]}}, result=df,
                 version=2, source="explorer")
    # a DataFrame handed in without a query: recorded, hashed and exported, not re-runnable
    record_query(client, method="dataframe", result=df, source="explorer")
    # a skeleton or mesh fetch (the hash is whatever stable digest the caller has, or None)
    record_fetch(client, kind="skeleton", root_id=root, timestamp=ts, result_hash=None)
    # annotation ids the server confirmed after a post
    record_posted_annotations(client, "my_tags", [1, 2, 3])

``record_query`` resolves the effective version when neither ``version`` nor ``timestamp`` is
given (the client's pinned version, else the latest), hashes the result (see ``hashing``) and
keeps a *reference* to it for ``export``; it does not copy. Handing it a result object that is
already in the log (the Explorer querying through a ``track``-ed client) returns that record
instead of adding a second one. ``provenance()`` documents the columns of the log.

Kept results are bounded: past ``MAX_KEPT_RESULTS`` results or ``MAX_KEPT_BYTES`` bytes, the
oldest references are dropped (their records stay, with ``result_kept`` False; ``reproduce.py``
still checks them by hash).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import threading
import time
import uuid
import weakref
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from .._ids import parse_root_id, parse_root_ids
from .hashing import result_hash
from .params import clean_params, filter_params, jsonable, n_rows, result_nbytes, utc

MAX_KEPT_RESULTS = 500
MAX_KEPT_BYTES = 2 * 1024**3

# caveclient materialization methods reproduce.py can re-run, and the name of the argument that
# carries the table (None: the table travels in another argument, e.g. join_query's ``tables``)
REPLAYABLE = {
    "query_table": "table",
    "live_query": "table",
    "live_live_query": "table",
    "query_view": "view_name",
    "synapse_query": "synapse_table",
    "join_query": None,
}
LIVE_METHODS = {"live_query", "live_live_query"}

_SESSION = uuid.uuid4().hex[:8]


@dataclass
class Record:
    """One row of the provenance log (see :func:`provenance` for the meaning of each field).

    Example::

        rec = record_query(client, method="query_table", table="nucleus_detection_v0", result=df)
        rec.record_id, rec.version, rec.result_hash
    """

    n: int
    record_id: str
    kind: str
    source: str
    method: str
    datastack: str | None
    server: str | None
    version: int | None
    timestamp: _dt.datetime | None
    table: str | None
    filters: dict
    select_columns: list | None
    params: dict
    n_rows: int | None
    started: _dt.datetime
    seconds: float | None
    result_hash: str | None
    root_id: int | None = None
    replayable: bool = False
    replay_problem: str | None = None
    result_bytes: int = 0
    paper: str | None = None
    analysis: str | None = None
    _result: Any = field(default=None, repr=False)
    _client_ref: Any = field(default=None, repr=False)

    @property
    def result(self):
        """The result object (a reference, not a copy), or None once dropped from memory."""
        return self._result

    @property
    def result_kept(self) -> bool:
        return self._result is not None

    def replay_call(self) -> dict | None:
        """``{"method", "kwargs"}`` that re-runs this query at the same version/timestamp."""
        if not self.replayable:
            return None
        return replay_call(self.method, self.table, self.params, self.version, self.timestamp)

    def entry(self) -> dict:
        """This record as JSON-ready data (what bundles and the on-disk paper logs store).

        Example::

            json.dumps(LOG.records[-1].entry())
        """
        replay = self.replay_call()
        return {
            "n": self.n, "record_id": self.record_id, "kind": self.kind, "source": self.source,
            "method": self.method, "paper": self.paper, "analysis": self.analysis,
            "datastack": self.datastack, "server": self.server, "version": self.version,
            "timestamp": self.timestamp.isoformat() if self.timestamp else None, "table": self.table,
            "filters": self.filters, "select_columns": self.select_columns, "params": self.params,
            "n_rows": self.n_rows, "result_bytes": self.result_bytes, "started": self.started.isoformat(),
            "seconds": self.seconds, "result_hash": self.result_hash, "root_id": self.root_id,
            "replayable": self.replayable, "replay_problem": self.replay_problem,
            "replay": jsonable(replay) if replay else None,
        }

    def row(self) -> dict:
        return {
            "record_id": self.record_id, "kind": self.kind, "source": self.source, "method": self.method,
            "datastack": self.datastack, "server": self.server, "version": self.version,
            "timestamp": self.timestamp, "table": self.table, "filters": self.filters,
            "select_columns": self.select_columns, "n_rows": self.n_rows, "started": self.started,
            "seconds": self.seconds, "result_hash": self.result_hash, "result_kept": self.result_kept,
            "root_id": self.root_id, "replayable": self.replayable, "params": self.params,
            "paper": self.paper, "analysis": self.analysis,
        }


def replay_call(method: str, table: str | None, params: dict, version: int | None, timestamp) -> dict:
    """``{"method", "kwargs"}`` for ``client.materialize.<method>(**kwargs)`` at a version/timestamp.

    Example::

        replay_call("query_table", "synapses_pni_2", {"limit": 3}, 2, None)["kwargs"]
    """
    kwargs = dict(params)
    arg = REPLAYABLE[method]
    if arg is not None and table is not None:
        kwargs[arg] = table
    if timestamp is not None:
        kwargs["timestamp"] = timestamp
        kwargs.pop("materialization_version", None)
    elif method not in LIVE_METHODS and version is not None:
        kwargs["materialization_version"] = version
    return {"method": method, "kwargs": kwargs}


class ProvenanceLog:
    """Thread-safe in-memory log for this kernel (one module-level instance, ``LOG``).

    Example::

        from cavewidgets.reproducible.log import LOG
        len(LOG), LOG.records[-1].table
    """

    def __init__(self):
        self._lock = threading.RLock()
        self.records: list[Record] = []
        self.posted: list[dict] = []
        self._counter = 0
        # (paper, analysis) stamped on every new record and posted entry; set by start_export
        self.tags: tuple[str, str] | None = None
        # called with each new Record or posted entry (the paper log writes them to disk)
        self.observers: list = []

    def __len__(self) -> int:
        return len(self.records)

    @contextlib.contextmanager
    def txn(self) -> Iterator[ProvenanceLog]:
        """Hold the log still for a group of changes (no record is added meanwhile; re-entrant).

        Example::

            with LOG.txn() as log:
                log.tags = ("v1_wiring_2026", "fig2")
                log.observers.append(write_to_disk)
        """
        with self._lock:
            yield self

    def posted_entries(self) -> list[dict]:
        """A copy of every posted-annotations entry (safe to read while other threads post).

        Example::

            sum(len(e["ids"]) for e in LOG.posted_entries())
        """
        with self._lock:
            return [dict(e) for e in self.posted]

    def clear(self) -> None:
        """Forget every record, kept result and posted annotation id (numbering restarts)."""
        with self._lock:
            self.records.clear()
            self.posted.clear()
            self._counter = 0

    def add(self, make) -> Record:
        with self._lock:
            rec = make(self._counter)
            self._counter += 1
            if self.tags is not None:
                rec.paper, rec.analysis = self.tags
            self.records.append(rec)
            self._bound_kept()
            self._notify(rec)
            return rec

    def add_posted(self, entry: dict) -> dict:
        with self._lock:
            if self.tags is not None:
                entry["paper"], entry["analysis"] = self.tags
            self.posted.append(entry)
            self._notify(entry)
            return entry

    def _notify(self, item) -> None:
        for observer in list(self.observers):
            observer(item)

    def find_result(self, result) -> Record | None:
        if result is None:
            return None
        with self._lock:
            for rec in reversed(self.records):
                if rec._result is result:
                    return rec
        return None

    def _bound_kept(self) -> None:
        kept = [r for r in self.records if r._result is not None]
        total = sum(r.result_bytes for r in kept)
        while kept and (len(kept) > MAX_KEPT_RESULTS or total > MAX_KEPT_BYTES):
            oldest = kept.pop(0)
            total -= oldest.result_bytes
            oldest._result = None

    def select(self, queries=None) -> list[Record]:
        """Records by position (``n``) or ``record_id``; all when ``queries`` is None."""
        with self._lock:
            records = list(self.records)
        if queries is None:
            return records
        if isinstance(queries, (int, np.integer, str)):
            queries = [queries]
        by_n = {r.n: r for r in records}
        by_id = {r.record_id: r for r in records}
        chosen, missing = [], []
        for q in queries:
            if isinstance(q, (bool, np.bool_)) or not isinstance(q, (int, np.integer, str)):
                raise TypeError(f"queries must be record numbers or record ids, got {type(q).__name__} {q!r}")
            rec = by_id.get(q) if isinstance(q, str) else by_n.get(int(q))
            if rec is None:
                missing.append(q)
            elif rec not in chosen:
                chosen.append(rec)
        if missing:
            known = ", ".join(f"{r.n} ({r.record_id})" for r in records[:20]) or "none"
            raise KeyError(f"no recorded query {missing!r} in the provenance log (recorded: {known})")
        return chosen


LOG = ProvenanceLog()


def unwrap(client):
    """The plain ``CAVEclient`` under a ``track``-ed client (the client itself otherwise)."""
    return getattr(client, "_cavewidgets_untracked", client)


def _client_identity(client) -> tuple[str | None, str | None]:
    client = unwrap(client)
    datastack = getattr(client, "datastack_name", None)
    server = getattr(client, "server_address", None)
    return (str(datastack) if datastack else None, str(server).rstrip("/") if server else None)


def _weak(client):
    try:
        return weakref.ref(unwrap(client))
    except TypeError:
        return None


def _effective_version(client, method: str) -> int | None:
    mat = getattr(unwrap(client), "materialize", None)
    if mat is None or method in LIVE_METHODS:
        return None
    try:
        return int(mat.version)
    except Exception:  # noqa: BLE001 - a client without a materialization service
        return None


def record_query(client, *, method: str, table: str | None = None, params: dict | None = None,
                 result=None, version: int | None = None, timestamp=None, source: str = "explorer",
                 seconds: float | None = None, started=None) -> Record:
    """Add one query to the provenance log and return its :class:`Record`.

    ``method`` is the ``client.materialize`` method that ran (``query_table``, ``live_query``,
    ``live_live_query``, ``synapse_query``, ``query_view``, ``join_query``) or any other word for
    a result that was not queried (``"dataframe"``): those are logged and exported but not
    re-run. Without ``version`` and ``timestamp`` the effective version is resolved from the
    client. ``params`` must not carry the table or the version/timestamp.

    Example::

        df = client.materialize.query_table("nucleus_detection_v0", materialization_version=2)
        record_query(client, method="query_table", table="nucleus_detection_v0", result=df, version=2)
    """
    if not isinstance(method, str) or not method:
        raise ValueError(f"method must be a non-empty string, got {method!r}")
    if table is not None and not isinstance(table, str):
        raise TypeError(f"table must be a string, got {type(table).__name__}")
    if params is not None and not isinstance(params, dict):
        raise TypeError(f"params must be a dict of keyword arguments, got {type(params).__name__}")
    existing = LOG.find_result(result)
    if existing is not None:
        if source != existing.source and existing.source == "track":
            existing.source = source  # the widget that asked is the more useful source
        return existing
    datastack, server = _client_identity(client)
    timestamp = utc(timestamp)
    if version is not None and timestamp is not None:
        raise ValueError("give a version or a timestamp, not both")
    if version is None and timestamp is None:
        version = _effective_version(client, method)
    if version is not None:
        version = int(version)
    clean, problem = clean_params(params)
    replayable = method in REPLAYABLE and problem is None
    if method in REPLAYABLE and REPLAYABLE[method] is not None and table is None and method != "synapse_query":
        replayable, problem = False, f"{method} needs the table name to be re-run"
    if method in LIVE_METHODS and timestamp is None:
        replayable, problem = False, f"{method} needs a timestamp to be re-run"
    if method not in REPLAYABLE:
        problem = f"{method!r} is not a query reproduce.py can re-run"
    digest = result_hash(result) if result is not None else None
    started = utc(started) or _dt.datetime.now(_dt.timezone.utc)

    def make(n: int) -> Record:
        return Record(
            n=n, record_id=f"{_SESSION}-{n:04d}", kind="query", source=str(source), method=method,
            datastack=datastack, server=server, version=version, timestamp=timestamp, table=table,
            filters=filter_params(clean), select_columns=clean.get("select_columns"), params=clean,
            n_rows=n_rows(result), started=started, seconds=seconds, result_hash=digest,
            replayable=replayable, replay_problem=problem, result_bytes=result_nbytes(result),
            _result=result, _client_ref=_weak(client))

    return LOG.add(make)


def record_fetch(client, *, kind: str, root_id, timestamp=None, result_hash: str | None = None,
                 source: str = "explorer", seconds: float | None = None) -> Record:
    """Log a skeleton or mesh fetch (``kind`` e.g. ``"skeleton"``, ``"mesh"``) of ``root_id``.

    Fetches appear in ``provenance()`` and in the export's manifest; ``reproduce.py`` lists them
    without re-running them.

    Example::

        record_fetch(client, kind="skeleton", root_id=864691135808684573, timestamp=ts)
    """
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"kind must be a non-empty string such as 'skeleton', got {kind!r}")
    root = parse_root_id(root_id)
    datastack, server = _client_identity(client)

    def make(n: int) -> Record:
        return Record(
            n=n, record_id=f"{_SESSION}-{n:04d}", kind="fetch", source=str(source), method=kind,
            datastack=datastack, server=server, version=None, timestamp=utc(timestamp), table=None,
            filters={}, select_columns=None, params={}, n_rows=None,
            started=_dt.datetime.now(_dt.timezone.utc), seconds=seconds, result_hash=result_hash,
            root_id=root, replayable=False, replay_problem=f"{kind} fetches are logged, not re-run",
            _client_ref=_weak(client))

    return LOG.add(make)


def record_posted_annotations(client, table: str, ids) -> dict:
    """Log annotation ids the server confirmed for ``table`` (exported with ``annotations=True``).

    Example::

        ids = client.annotation.post_annotation("my_tags", rows)
        record_posted_annotations(client, "my_tags", ids)
    """
    if not isinstance(table, str) or not table:
        raise ValueError(f"table must be a non-empty string, got {table!r}")
    ids = parse_root_ids(ids, what="annotation ids").tolist()
    datastack, server = _client_identity(client)
    entry = {"datastack": datastack, "server": server, "table": table, "ids": ids,
             "posted": _dt.datetime.now(_dt.timezone.utc).isoformat()}
    return LOG.add_posted(entry)


def timed(fn, *args, **kwargs):
    """``(result, seconds, started)`` of one call, for callers that record afterwards.

    Example::

        df, seconds, started = timed(client.materialize.query_table, "nucleus_detection_v0")
        record_query(client, method="query_table", table="nucleus_detection_v0", result=df,
                     seconds=seconds, started=started)
    """
    started = _dt.datetime.now(_dt.timezone.utc)
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - t0, started


def posted_recorder(client):
    """An ``AnnotationPoster(on_posted=...)`` hook recording posted ids in the provenance log.

    Recording never breaks a post (a failure is logged at debug level). The ids are tagged with
    the active paper and analysis, like every record.

    Example::

        AnnotationPoster(client, on_posted=posted_recorder(client))
    """
    def hook(table, ids):
        try:
            record_posted_annotations(client, table, ids)
        except Exception:  # noqa: BLE001
            import logging

            logging.getLogger(__name__).debug("provenance record failed", exc_info=True)

    return hook
