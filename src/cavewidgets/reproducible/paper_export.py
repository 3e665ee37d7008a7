"""``preview_export(paper=...)`` and ``export(path, paper=...)``: one bundle per paper.

The queries of the chosen analyses are read from the paper's log on disk (``papers``), merged
(``merge``: overlapping restrictions on one table and version become one query) and, on
export, re-run at their recorded version or timestamp.
"""

from __future__ import annotations

import pandas as pd

from .log import LOG, _client_identity
from .merge import MergedQuery, bytes_per_row, expected_rows, merge_entries
from .papers import read_paper

PREVIEW_COLUMNS = ["query", "table", "method", "version", "timestamp", "version_conflict", "filters", "n_queries",
                   "analyses", "record_ids", "expected_rows", "rows_from", "bytes", "merged", "note",
                   "datastack", "server"]


def paper_entries(paper: str, analyses=None) -> list[dict]:
    """The logged entries of ``paper``, narrowed to ``analyses`` (names; all when None).

    Example::

        paper_entries("v1_wiring_2026", analyses=["fig2"])
    """
    entries = read_paper(paper)
    if analyses is None:
        return entries
    if isinstance(analyses, str):
        analyses = [analyses]
    known = sorted({e.get("analysis") for e in entries if e.get("analysis")})
    missing = [a for a in analyses if a not in known]
    if missing:
        raise KeyError(f"paper {paper!r} has no analysis {', '.join(map(repr, missing))} "
                       f"(logged analyses: {', '.join(known)})")
    return [e for e in entries if e.get("analysis") in set(analyses)]


def client_for(query: MergedQuery, client=None):
    """A ``CAVEclient`` for the query's datastack and server.

    ``client`` when it matches; else a client of this kernel's provenance log that does; else a
    new ``CAVEclient`` finding its token where caveclient looks.

    Example::

        client_for(merge_entries(paper_entries("v1_wiring_2026"))[0])
    """
    wanted = (query.datastack, query.server)
    if client is not None and _client_identity(client) == wanted:
        return client
    for rec in reversed(LOG.select()):
        live = rec._client_ref() if rec._client_ref is not None else None
        if live is not None and _client_identity(live) == wanted:
            return live
    if client is not None and query.datastack is None:
        return client
    from caveclient import CAVEclient

    return CAVEclient(query.datastack, server_address=query.server, write_server_cache=False)


def preview_export(paper: str, analyses=None, *, client=None, count: bool = True) -> pd.DataFrame:
    """What ``export(path, paper=paper)`` will contain: one row per (merged) query, by table.

    Columns: ``query`` (its number in the bundle), ``table``, ``method``, ``version`` / ``timestamp`` (the snapshot queried),
    ``version_conflict`` (the same table was also queried at another version or timestamp:
    those rows are kept apart), ``filters`` (the merged restriction), ``n_queries`` (recorded
    queries it stands for), ``analyses``, ``record_ids``, ``expected_rows`` and ``rows_from``
    (``recorded``: a member's own row count; ``counted`` / ``queried``: asked from the server,
    only when ``count``; ``unknown``), ``bytes`` (estimated in-memory size: expected rows times
    the largest bytes per row among the members' results), ``merged``, ``note`` (why a query
    was kept apart). See ``cavewidgets.reproducible.merge`` for exactly what merges.

    Example::

        cavewidgets.preview_export(paper="v1_wiring_2026")[["table", "filters", "expected_rows"]]
    """
    queries = merge_entries(paper_entries(paper, analyses))
    rows = []
    for n, q in enumerate(queries):
        rows_n, how = expected_rows(q, client_for(q, client) if count else None)
        rate = bytes_per_row(q)
        rows.append({
            "query": n, "table": q.table, "method": q.method, "version": q.version,
            "timestamp": q.timestamp, "version_conflict": q.version_conflict, "filters": q.filters,
            "n_queries": len(q.members), "analyses": q.analyses,
            "record_ids": [m["record_id"] for m in q.members], "expected_rows": rows_n,
            "rows_from": how, "bytes": None if rows_n is None or rate is None else int(round(rows_n * rate)),
            "merged": len(q.members) > 1, "note": q.note, "datastack": q.datastack, "server": q.server,
        })
    frame = pd.DataFrame(rows, columns=PREVIEW_COLUMNS)
    frame["version"] = frame["version"].astype("Int64")
    frame["expected_rows"] = frame["expected_rows"].astype("Int64")
    frame["bytes"] = frame["bytes"].astype("Int64")
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    order = frame.assign(_t=frame["table"].fillna("")).sort_values(["_t", "version"], kind="stable").index
    return frame.loc[order].reset_index(drop=True)
