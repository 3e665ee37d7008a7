"""``track(client)``: a CAVEclient that records every materialization query it runs.

The wrapper keeps caveclient's API: ``tracked.materialize.query_table(...)``, ``live_query``,
``live_live_query``, ``synapse_query``, ``query_view``, ``join_query`` and the table/view
managers (``tracked.materialize.tables.synapses_pni_2(pre_pt_root_id=...).query()``) are
recorded; everything else (``tracked.info``, ``tracked.chunkedgraph``, ``tracked.l2cache``,
``tracked.annotation``, attribute assignment) passes through to the wrapped client untouched.

Before a query runs, the wrapper pins what the call left to the client's defaults — the
materialization version (the client's pinned version, else the latest at the time of the
call), ``desired_resolution`` and the synapse table — so the record says exactly what ran and a
re-run asks for the same thing.
"""

from __future__ import annotations

import datetime as _dt
import functools
import inspect
import time
import warnings

from ..paging import server_limits
from .log import LIVE_METHODS, REPLAYABLE, record_query, unwrap

TRACKED_METHODS = tuple(REPLAYABLE)
_NOT_PARAMS = {"self", "datastack_name"}


def track(client, *, source: str = "track"):
    """Wrap ``client`` so each materialization query is added to ``cavewidgets.provenance()``.

    ``source`` labels the records (``provenance()["source"]``). Tracking an already tracked
    client with the same source returns it unchanged. The plain client stays reachable as
    ``tracked.untracked``.

    Example::

        client = cavewidgets.track(cavewidgets.sample.client())
        nuc = client.materialize.query_table("nucleus_detection_v0")
        client.info.get_datastack_info()          # passes through, not recorded
        cavewidgets.provenance().tail(1)          # table, version, filters, rows, hash, ...
    """
    if isinstance(client, TrackedClient):
        if client._cavewidgets_source == source:
            return client
        client = client.untracked
    if client is None or not hasattr(client, "materialize"):
        raise TypeError(f"track() needs a caveclient.CAVEclient, got {type(client).__name__}")
    return TrackedClient(client, source=str(source))


class TrackedClient:
    """A pass-through proxy of a ``CAVEclient`` whose ``materialize`` records queries.

    Example::

        tracked = TrackedClient(client)
        tracked.materialize.synapse_query(pre_ids=root)
    """

    __slots__ = ("_cavewidgets_untracked", "_cavewidgets_source", "_tracked_materialize")

    def __init__(self, client, source: str = "track"):
        object.__setattr__(self, "_cavewidgets_untracked", client)
        object.__setattr__(self, "_cavewidgets_source", source)
        object.__setattr__(self, "_tracked_materialize", None)

    @property
    def untracked(self):
        """The wrapped ``CAVEclient``."""
        return self._cavewidgets_untracked

    @property
    def materialize(self):
        mat = self._cavewidgets_untracked.materialize
        proxy = self._tracked_materialize
        if proxy is None or proxy._mat is not mat:
            proxy = TrackedMaterialize(self, mat)
            object.__setattr__(self, "_tracked_materialize", proxy)
        return proxy

    def __getattr__(self, name):
        return getattr(self._cavewidgets_untracked, name)

    def __setattr__(self, name, value):
        setattr(self._cavewidgets_untracked, name, value)

    def __dir__(self):
        return sorted(set(dir(self._cavewidgets_untracked)) | {"untracked", "materialize"})

    def __repr__(self) -> str:
        return f"<tracked {self._cavewidgets_untracked!r}>"


class TrackedMaterialize:
    """``client.materialize`` with the query methods recorded (everything else passes through).

    Example::

        tracked.materialize.live_query("nucleus_detection_v0", timestamp=datetime.now(timezone.utc))
    """

    def __init__(self, tracked: TrackedClient, mat):
        object.__setattr__(self, "_tracked", tracked)
        object.__setattr__(self, "_mat", mat)
        object.__setattr__(self, "_managers", {})

    def __getattr__(self, name):
        attr = getattr(self._mat, name)
        if name in TRACKED_METHODS and callable(attr):
            return _recording(self, name, attr)
        return attr

    def __setattr__(self, name, value):
        setattr(self._mat, name, value)

    def __dir__(self):
        return dir(self._mat)

    def __repr__(self) -> str:
        return f"<tracked {self._mat!r}>"

    @property
    def tables(self):
        """caveclient's ``TableManager``, built on the tracked client so its queries are recorded."""
        return self._manager("tables")

    @property
    def views(self):
        """caveclient's ``ViewManager``, built on the tracked client so its queries are recorded."""
        return self._manager("views")

    def _manager(self, kind: str):
        from caveclient.tools.table_manager import TableManager, ViewManager

        key = (kind, self._tracked.version if hasattr(self._tracked, "version") else None)
        manager = self._managers.get(key)
        if manager is None:
            if kind == "tables":
                manager = TableManager(self._tracked, self._mat.get_tables_metadata(),
                                       self._tracked.schema.schema_definition_all())
            else:
                manager = ViewManager(self._tracked, self._mat.get_views(), self._mat.get_view_schemas())
            self._managers[key] = manager
        return manager


def _recording(proxy: TrackedMaterialize, name: str, method):
    signature = inspect.signature(method)

    @functools.wraps(method)
    def call(*args, **kwargs):
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            return method(*args, **kwargs)  # let caveclient raise its own error for a bad call
        arguments = dict(bound.arguments)
        extra = arguments.pop(_var_keyword(signature), {}) if _var_keyword(signature) else {}
        arguments.update(extra)
        _pin_defaults(proxy._mat, name, signature, arguments)
        started = time.time()
        t0 = time.perf_counter()
        with server_limits(proxy._tracked) as limits:
            result = method(**arguments)
        seconds = time.perf_counter() - t0
        user_limit = arguments.get("limit")
        if limits.limited and (user_limit is None or min(limits.applied) < user_limit):
            # caveclient only logs the service's Warning header; a tracked result must say it (a
            # user limit that is reached is reported by the server the same way: not a surprise)
            warnings.warn(f"{name}: the materialization service returned only its row cap of "
                          f"{max(limits.applied):,} rows; the result is incomplete "
                          "(cavewidgets.paging.query_whole loads whole tables)", RuntimeWarning, stacklevel=2)
        table_arg = REPLAYABLE[name]
        table = arguments.get(table_arg) if table_arg else _join_label(arguments.get("tables"))
        timestamp = arguments.get("timestamp")
        version = arguments.get("materialization_version") if timestamp is None else None
        params = {k: v for k, v in arguments.items()
                  if k not in _NOT_PARAMS and k != table_arg and k not in ("timestamp", "materialization_version")}
        client = proxy._tracked
        if arguments.get("datastack_name") not in (None, getattr(unwrap(client), "datastack_name", None)):
            params["datastack_name"] = arguments["datastack_name"]
        record_query(client, method=name, table=table, params=params, result=result, version=version,
                     timestamp=timestamp, source=client._cavewidgets_source, seconds=seconds,
                     started=_dt.datetime.fromtimestamp(started, _dt.timezone.utc))
        return result

    return call


def _join_label(tables) -> str | None:
    """``"a+b"`` for join_query's ``[[table, column], ...]`` (a label only; replay uses ``tables``)."""
    try:
        return "+".join(str(t[0]) for t in tables) or None
    except (TypeError, IndexError, KeyError):
        return None


def _var_keyword(signature: inspect.Signature) -> str | None:
    for p in signature.parameters.values():
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            return p.name
    return None


def _pin_defaults(mat, name: str, signature: inspect.Signature, arguments: dict) -> None:
    """Make the client's implicit choices explicit in ``arguments`` (version, resolution, table)."""
    params = signature.parameters
    if name not in LIVE_METHODS and "materialization_version" in params \
            and arguments.get("timestamp") is None and arguments.get("materialization_version") is None:
        arguments["materialization_version"] = int(mat.version)
    if "desired_resolution" in params and arguments.get("desired_resolution") is None \
            and getattr(mat, "desired_resolution", None) is not None:
        arguments["desired_resolution"] = list(mat.desired_resolution)
    if name == "synapse_query" and arguments.get("synapse_table") is None \
            and getattr(mat, "synapse_table", None) is not None:
        arguments["synapse_table"] = mat.synapse_table
