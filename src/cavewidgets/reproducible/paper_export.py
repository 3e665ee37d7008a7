"""``preview_export(paper=...)`` and ``export(path, paper=...)``: one bundle per paper.

The queries of the chosen analyses are read from the paper's log on disk (``papers``), merged
(``merge``: overlapping restrictions on one table and version become one query) and, on
export, re-run at their recorded version or timestamp.

Bundle layout of ``export(path, paper=...)``::

    manifest.json          layout "paper": the paper, its analyses (folder, record ids, bundle
                           queries, fetches, posted ids), one entry per merged query (the call,
                           row count, hash, result file, and its members: the recorded queries it
                           stands for, each ``verified`` when its rows are exactly the merged
                           result's rows for its own restriction)
    queries/NNNN_<table>.parquet   each merged query's result, each needed row once
    queries/NNNN_<table>.json      its manifest entry
    analyses/<analysis>/provenance.csv    the analysis's recorded queries and fetches, with the
                                          bundle query (``bundle_query``) each one maps to
    analyses/<analysis>/annotations.json  annotation ids posted during the analysis
    analyses/<analysis>/viewer_state.json token-free viewer state (``viewers={analysis: viewer}``)
    provenance.csv         every exported record
    requirements.txt       exact versions of caveclient, pandas, pyarrow, numpy, cavewidgets and
                           every installed package they require; the Python version on top
    versions.json          the same, with the platform
    reproduce.py           re-runs every merged query and checks its hash (exit 1 names the query
                           whose rows changed)
"""

from __future__ import annotations

import datetime as _dt
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .bundle_files import (FORMAT, FORMAT_VERSION, package_versions, reproduce_script, sample_services, slug,
                           viewer_state, write_json, write_result_parquet)
from .environment import python_version, requirements_text
from .hashing import HASH_ALGORITHM, frame_hash, result_hash
from .log import LOG, _client_identity
from .merge import MergedQuery, _restriction, bytes_per_row, expected_rows, merge_entries
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


def export_paper(staging: Path, paper: str, analyses=None, *, viewers=None, client=None) -> list:
    """Write the paper's bundle into the empty directory ``staging``; returns the clients used.

    Called by ``export(path, paper=...)``, which stages, checks for tokens and moves into place.
    """
    entries = paper_entries(paper, analyses)
    queries = merge_entries(entries)
    if not queries:
        raise ValueError(f"nothing to export for paper {paper!r}: its analyses logged no query")
    names = sorted({e.get("analysis") or "" for e in entries})
    viewers = dict(viewers or {})
    unknown = sorted(set(viewers) - set(names))
    if unknown:
        raise KeyError(f"viewers given for analyses {unknown} that are not exported (exported: {names})")
    states = {name: viewer_state(v) for name, v in viewers.items()}  # bad input fails before any query
    (staging / "queries").mkdir()
    clients, written = [], []
    for n, q in enumerate(queries):
        c = client_for(q, client) if q.replay() else None
        if c is not None and all(c is not k for k in clients):
            clients.append(c)
        written.append(_write_query(staging, n, q, c))
    record_to_query = {m["record_id"]: e["n"] for e in written for m in e["members"]}
    folders = {}
    for name in names:
        folders[name] = _write_analysis(staging, name, [e for e in entries if (e.get("analysis") or "") == name],
                                        record_to_query, states.get(name))
    _write_top(staging, paper, written, folders, entries, record_to_query)
    return clients


def _write_query(root: Path, n: int, q: MergedQuery, client) -> dict:
    from ._reproduce_template import decode

    stem = f"queries/{n:04d}_{slug(q.table or q.method)}"
    call = q.replay()
    entry = {
        "n": n, "record_id": f"q{n:04d}", "kind": "query", "source": "paper", "method": q.method,
        "datastack": q.datastack, "server": q.server, "version": q.version, "timestamp": q.timestamp,
        "table": q.table, "filters": q.filters, "params": q.params, "analyses": q.analyses,
        "version_conflict": q.version_conflict, "note": q.note, "replayable": call is not None,
        "replay_problem": None if call else "not re-runnable (a result handed in, or an unstorable argument)",
        "replay": call, "n_rows": None, "result_hash": None, "result_file": None,
        "provenance_file": f"{stem}.json", "members": [],
    }
    result = None
    if call is not None:
        result = getattr(client.materialize, call["method"])(**decode(call["kwargs"]))
        entry["n_rows"] = len(result) if hasattr(result, "__len__") else None
        entry["result_hash"] = result_hash(result)
        if isinstance(result, pd.DataFrame):
            entry.update(write_result_parquet(result, root / f"{stem}.parquet"))
            entry["result_file"] = f"{stem}.parquet"
    for m in q.members:
        verified = _verify_member(q, m, result)
        entry["members"].append({"record_id": m["record_id"], "analysis": m.get("analysis"),
                                 "n_rows": m.get("n_rows"), "result_hash": m.get("result_hash"),
                                 "params": m.get("params"), "verified": verified})
        if verified is False:
            warnings.warn(f"query {m['record_id']} of analysis {m.get('analysis')!r} ({q.table}) returns other "
                          f"rows now than when it was recorded; the bundle holds today's rows (query q{n:04d})",
                          stacklevel=4)
    write_json(root / entry["provenance_file"], entry)
    return entry


def _member_rows(q: MergedQuery, member: dict, result: pd.DataFrame) -> pd.DataFrame | None:
    """The rows of the merged ``result`` that ``member``'s own call returns (None: cannot tell)."""
    mine, merged = _restriction(member.get("params") or {}), _restriction(q.params)
    rows = np.ones(len(result), dtype=bool)
    for key, values in mine.items():
        if merged.get(key) == values:
            continue
        column = {"pre_ids": "pre_pt_root_id", "post_ids": "post_pt_root_id"}.get(key[0]) \
            if len(key) == 1 else key[1] if key[0] == "filter_in_dict" and len(key) == 2 else None
        if column is None or column not in result.columns:
            return None
        series = result[column]
        rows &= series.isin(pd.Series(values, dtype=series.dtype)).to_numpy()
    return result[rows]


def _verify_member(q: MergedQuery, member: dict, result) -> bool | None:
    if result is None or not member.get("result_hash"):
        return None
    if (member.get("params") or {}) == q.params:
        return result_hash(result) == member["result_hash"]
    if not isinstance(result, pd.DataFrame):
        return None
    rows = _member_rows(q, member, result)
    return None if rows is None else frame_hash(rows) == member["result_hash"]


def _write_analysis(root: Path, name: str, entries: list[dict], record_to_query: dict, state) -> dict:
    folder = f"analyses/{slug(name)}"
    (root / folder).mkdir(parents=True)
    records = [e for e in entries if e.get("kind") in ("query", "fetch")]
    rows = pd.DataFrame([{**{k: v for k, v in e.items() if k not in ("replay", "params")},
                          "bundle_query": record_to_query.get(e.get("record_id"))} for e in records])
    rows.to_csv(root / folder / "provenance.csv", index=False)
    posted = [e for e in entries if e.get("kind") == "posted"]
    write_json(root / folder / "annotations.json", {"posted": posted})
    info = {"folder": folder, "records": [e["record_id"] for e in records],
            "queries": sorted({record_to_query[e["record_id"]] for e in records if e["record_id"] in record_to_query}),
            "fetches": [{"kind": e["method"], "root_id": e.get("root_id"), "timestamp": e.get("timestamp")}
                        for e in records if e.get("kind") == "fetch"],
            "posted_annotations": sum(len(e.get("ids") or []) for e in posted),
            "provenance": f"{folder}/provenance.csv", "annotations": f"{folder}/annotations.json",
            "viewer_state": None}
    if state is not None:
        write_json(root / folder / "viewer_state.json", state)
        info["viewer_state"] = f"{folder}/viewer_state.json"
    return info


def _write_top(root: Path, paper: str, written: list[dict], folders: dict, entries: list[dict],
               record_to_query: dict) -> None:
    versions = package_versions()
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "layout": "paper", "paper": paper,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(), "hash_algorithm": HASH_ALGORITHM,
        "datastacks": sorted({e["datastack"] for e in written if e["datastack"]}),
        "servers": sorted({e["server"] for e in written if e["server"]}),
        "sample_services": sample_services(written), "analyses": folders, "queries": written,
        "version_conflicts": sorted({e["table"] for e in written if e["version_conflict"]}),
        "python": python_version(), "packages": versions,
        "files": {"provenance": "provenance.csv", "requirements": "requirements.txt",
                  "versions": "versions.json", "reproduce": "reproduce.py"},
    }
    records = [e for e in entries if e.get("kind") in ("query", "fetch")]
    pd.DataFrame([{**{k: v for k, v in e.items() if k not in ("replay", "params")},
                   "bundle_query": record_to_query.get(e.get("record_id"))} for e in records]
                 ).to_csv(root / "provenance.csv", index=False)
    write_json(root / "versions.json", {**versions, "python_details": python_version()})
    (root / "requirements.txt").write_text(requirements_text())
    write_json(root / "manifest.json", manifest)
    script = root / "reproduce.py"
    script.write_text(reproduce_script())
    script.chmod(0o755)
