"""Whole tables through the materialization row cap, and no silent truncation anywhere.

The real MaterializationEngine answers at most ``QUERY_LIMIT_SIZE`` rows per query (200,000 on
MICrONS; ``materializationengine/config.py``) and says so only in a ``Warning`` header that
caveclient merely logs (``caveclient/base.py`` ``_raise_for_status``):

- ``201 - "Limited query to N rows`` from ``query_table``/``join_query``
  (``blueprints/client/common.py``), sent when the result has exactly the applied limit;
- ``result has N entries, which is equal or more than limit of N ...`` from ``live_live_query``
  (``blueprints/client/api2.py`` ``execute_materialized_query``).

:func:`server_limits` reads those headers off the client's own session, so a caller learns that
the server limited a reply without guessing the deployment's cap. :func:`query_whole` pages
through the cap on ``id`` ranges (the engine applies OFFSET without ORDER BY, so offset pages are
not stable; disjoint id ranges are). :func:`refuse_truncated` runs any other call and raises
:class:`TruncatedQueryError` when the server limited it.

Example::

    df = query_whole(client, "synapses_pni_2", version=2,
                     progress=lambda loaded, total: print(loaded, total))
"""

from __future__ import annotations

import contextlib
import re
import threading
from typing import Any, Callable

import pandas as pd

#: the two messages the real engine sends when it applied a limit (N = the applied limit)
_LIMITED = (re.compile(r'201 - "Limited query to (\d+) rows'),
            re.compile(r"which is equal or more\s+than limit of (\d+)"))
_ID_MAX = 2**63 - 1  # annotation ids are PostgreSQL bigints (the bound must fit one too)


class TruncatedQueryError(RuntimeError):
    """The service answered fewer rows than the query matches (its row cap applied)."""


class _Limits:
    """What the server said about limits during one ``with server_limits(...)`` block."""

    def __init__(self):
        self.applied: list[int] = []

    @property
    def limited(self) -> bool:
        """Whether any reply in the block was limited."""
        return bool(self.applied)


@contextlib.contextmanager
def server_limits(client):
    """Collect the row limits the materialization service applied to replies in this block.

    Only responses received by the calling thread count (caveclient sends from the caller's
    thread; other threads may share the session).

    Example::

        with server_limits(client) as limits:
            df = client.materialize.query_table("synapses_pni_2")
        limits.limited   # True when the reply stopped at the cap
    """
    session = client.materialize.session
    me = threading.get_ident()
    limits = _Limits()

    def hook(response, *args, **kwargs):
        if threading.get_ident() == me:
            # requests joins repeated Warning headers with ", "
            for pattern in _LIMITED:
                limits.applied += [int(n) for n in pattern.findall(response.headers.get("Warning", ""))]
        return response

    session.hooks.setdefault("response", []).append(hook)
    try:
        yield limits
    finally:
        session.hooks["response"].remove(hook)


def refuse_truncated(client, call: Callable[[], Any], what: str):
    """Run ``call()`` (a caveclient query) and raise if the service limited its reply.

    Example::

        syn = refuse_truncated(client, lambda: client.materialize.synapse_query(post_ids=root),
                               f"synapses of {root}")
    """
    with server_limits(client) as limits:
        result = call()
    if limits.limited:
        raise TruncatedQueryError(
            f"{what}: the materialization service returned only its row cap of {max(limits.applied):,} rows; "
            "the result would be incomplete. Narrow the query (filters, fewer ids) or page it.")
    return result


def query_whole(client, table: str, *, version: int | None = None, timestamp=None,
                progress: Callable[[int, int | None], None] | None = None,
                on_page: Callable[[pd.DataFrame, dict], None] | None = None, **kwargs) -> pd.DataFrame:
    """All rows of ``table`` (with ``kwargs`` filters) however many the service's cap allows per reply.

    One query when the table fits under the cap. Otherwise the rows are loaded in disjoint ``id``
    ranges: at a materialization ``version`` the ranges are sized with ``count`` queries (which
    the real engine does not cap); for a live ``timestamp`` (``live_live_query``, which has no
    count) a limited range is split at the median id it returned. ``progress(loaded, total)`` is
    called after each reply (``total`` is ``None`` in live mode). ``on_page(page, kw)`` is called
    for each reply that goes into the result, with the keyword arguments that fetched it (the
    user's plus the page's id range): each such query is complete on its own, so a provenance
    record of it re-runs exactly (the first, limited reply of a paged load is not passed).

    Example::

        syn = query_whole(client, "synapses_pni_2", version=2, select_columns=["id", "pre_pt_root_id"])
    """
    if (version is None) == (timestamp is None):
        raise ValueError("pass exactly one of version= (query_table) or timestamp= (live_live_query)")
    for key in ("offset", "limit", "get_counts", "random_sample"):
        if kwargs.get(key) is not None:
            raise ValueError(f"query_whole loads every row: {key}= does not apply")
    fetch = _fetcher(client, table, version, timestamp, kwargs)
    count = _counter(client, table, version, kwargs)
    report = progress or (lambda loaded, total: None)
    page_taken = on_page or (lambda page, kw: None)

    total = count(None, None) if version is not None else None
    first, limited, first_kw = fetch(None, None)
    if not limited:
        page_taken(first, first_kw)
        report(len(first), total)
        return first
    if "id" not in first.columns:
        raise TruncatedQueryError(
            f"{table!r}: the service returned only its row cap of {len(first):,} rows and the result has "
            "no 'id' column to page on; select 'id' too, or narrow the query")
    parts: list[pd.DataFrame] = []
    loaded = 0

    def take(df, kw):
        nonlocal loaded
        page_taken(df, kw)
        parts.append(df)
        loaded += len(df)
        report(loaded, total)

    if version is not None:
        _page_around(fetch, count, take, first, total)
    else:
        _by_medians(fetch, take, 0, _ID_MAX, first)
    return _joined(table, parts, first, total)


def _fetcher(client, table: str, version: int | None, timestamp, kwargs: dict):
    """``fetch(lo, hi) -> (page, limited, kw)``: one query of the ids in ``[lo, hi)`` (None: open)."""
    mat = client.materialize

    def fetch(lo: int | None, hi: int | None) -> tuple[pd.DataFrame, bool, dict]:
        kw = _with_id_range(kwargs, lo, hi, table if timestamp is not None else None)
        with server_limits(client) as limits:
            if timestamp is not None:
                df = mat.live_live_query(table, timestamp, log_warning=False, **kw)
            else:
                df = mat.query_table(table, materialization_version=version, log_warning=False, **kw)
        return df, limits.limited, kw

    return fetch


def _counter(client, table: str, version: int | None, kwargs: dict):
    """``count(lo, hi) -> int``: rows with ids in ``[lo, hi)`` at ``version`` (counts are not capped)."""
    mat = client.materialize

    def count(lo: int | None, hi: int | None) -> int:
        kw = _with_id_range(kwargs, lo, hi, None)
        for key in ("desired_resolution", "split_positions", "select_columns"):
            kw.pop(key, None)  # they shape rows; a count query refuses them
        counted = mat.query_table(table, materialization_version=version, get_counts=True,
                                  log_warning=False, **kw)
        if "count" not in counted.columns:  # caveclient joins a reference table, and joins never count
            raise ValueError(f"{table!r} cannot be counted (a reference table is joined to its target "
                             "table, and join queries have no count): pass merge_reference=False")
        return int(counted["count"].iloc[0])

    return count


def _page_around(fetch, count, take, first: pd.DataFrame, total: int) -> None:
    """Load everything at a version in count-sized ranges below, inside and above ``first``'s ids."""
    cap = len(first)
    # the capped page's id span seeds the ranges, so the count-guided splits work at the
    # scale where the ids are (they rarely start near 0)
    a, b = int(first["id"].min()), int(first["id"].max()) + 1
    below, middle = count(0, a), count(a, b)
    above, h = total - below - middle, min(b + max(b - a, 1), _ID_MAX)
    while h < _ID_MAX and count(b, h) < above:
        h = min(b + 2 * (h - b), _ID_MAX)
    for lo, hi, n in ((0, a, below), (a, b, middle), (b, h, above)):
        _by_counts(fetch, count, take, lo, hi, n, cap)


def _joined(table: str, parts: list[pd.DataFrame], first: pd.DataFrame, total: int | None) -> pd.DataFrame:
    """The pages as one frame, refused when they miss rows or overlap."""
    out = pd.concat(parts, ignore_index=True) if parts else first.iloc[:0]
    if total is not None and len(out) != total:
        raise TruncatedQueryError(f"{table!r}: loaded {len(out):,} rows but the service counts {total:,}")
    if out["id"].duplicated().any():  # disjoint ranges: a duplicate means the table changed under us
        raise TruncatedQueryError(f"{table!r}: id ranges overlapped while paging; the table changed, load again")
    return out


def _by_counts(fetch, count, take, lo: int, hi: int, n: int, cap: int) -> None:
    """Fetch ``[lo, hi)`` (``n`` rows) in ranges that each count fewer rows than the cap."""
    if n == 0:
        return
    if n < cap:  # strictly below: a reply of exactly ``cap`` rows is reported as limited
        df, limited, kw = fetch(lo, hi)
        if limited or len(df) != n:
            raise TruncatedQueryError(f"ids [{lo}, {hi}): expected {n:,} rows, got {len(df):,}")
        take(df, kw)
        return
    if hi - lo < 2:
        raise TruncatedQueryError(f"id {lo} alone matches {n:,} rows, more than the cap")
    pieces = min(hi - lo, -(-n // max(cap // 2, 1)))  # aim at half a cap per piece
    step = -(-(hi - lo) // pieces)
    for a in range(lo, hi, step):
        b = min(a + step, hi)
        _by_counts(fetch, count, take, a, b, count(a, b), cap)


def _by_medians(fetch, take, lo: int, hi: int, page: pd.DataFrame) -> None:
    """Split a limited ``[lo, hi)`` at the median id of the page it returned, until none is limited."""
    ids = page["id"].astype("int64").sort_values().to_numpy()
    mid = int(ids[len(ids) // 2])
    if mid <= lo:
        mid = lo + 1
    for a, b in ((lo, mid), (mid, hi)):
        if a >= b:
            continue
        df, limited, kw = fetch(a, b)
        if not limited:
            take(df, kw)
        elif b - a < 2:
            raise TruncatedQueryError(f"id {a} alone matches more rows than the cap")
        else:
            _by_medians(fetch, take, a, b, df)


def _with_id_range(kwargs: dict, lo: int | None, hi: int | None, live_table: str | None) -> dict:
    """``kwargs`` with ``lo <= id < hi`` added to the user's own filters (bounds intersected).

    query_table filters are keyed by column; live_live_query's by table, then column.
    """
    kw = dict(kwargs)
    for key, bound, pick in (("filter_greater_equal_dict", lo, max), ("filter_less_dict", hi, min)):
        if bound is None:
            continue
        spec = dict(kw.get(key) or {})
        cols = dict(spec.get(live_table) or {}) if live_table else spec
        cols["id"] = pick(cols["id"], bound) if "id" in cols else bound
        if live_table:
            spec[live_table] = cols
        else:
            spec = cols
        kw[key] = spec
    return kw
