"""Exports organised like a paper: named analyses, logged on disk while they are active.

::

    cavewidgets.start_export(paper="v1_wiring_2026", analysis="fig2")
    ...                                   # queries, mesh/skeleton fetches, posted annotations
    cavewidgets.stop_export()

    with cavewidgets.start_export(paper="v1_wiring_2026", analysis="fig3"):
        ...

While an analysis is active, every record of the provenance log (``track``-ed queries, the
Explorer's queries and 3D fetches, posted annotation ids) is stamped with the paper and the
analysis and appended to the paper's log on disk, next to the drafts::

    <data dir>/exports/<datastack>/<paper>.jsonl     one JSON object per line

``<data dir>`` is the drafts' (``$CAVEWIDGETS_DATA_DIR`` or the platform's user data directory).
Lines are appended under the drafts' cross-process file lock, so two kernels logging analyses of
one paper at once do not interleave half-lines; a torn last line from a crash is skipped when
read. The log survives kernel restarts; the *active analysis* does not (start it again).
Results are not stored in the log (they can be large): ``export`` re-runs the merged queries
at their recorded version or timestamp.

Only one analysis is active per kernel: starting another stops the current one and says so
(a ``logging`` warning on ``cavewidgets.reproducible``).
"""

from __future__ import annotations

import html
import json
import logging
import weakref
from pathlib import Path

from .._storage import data_dir, file_lock, safe_name
from .log import LOG, Record

log = logging.getLogger("cavewidgets.reproducible")

NO_DATASTACK = "_no_datastack"


def _check_name(value, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    safe_name(value)  # raises when nothing of it can name a file
    return value.strip()


def exports_dir() -> Path:
    """The directory holding the papers' logs (``<data dir>/exports``, beside ``drafts``).

    Example::

        sorted(p.name for p in exports_dir().glob("*/*.jsonl"))
    """
    return data_dir() / "exports"


def paper_log_path(paper: str, datastack: str | None) -> Path:
    """The log file of ``paper`` on ``datastack``.

    Example::

        paper_log_path("v1_wiring_2026", "minnie65_sample")
    """
    return exports_dir() / safe_name(datastack or NO_DATASTACK) / f"{safe_name(paper)}.jsonl"


class ExportSession:
    """The active analysis (returned by :func:`start_export`); a context manager that stops it.

    Example::

        with cavewidgets.start_export(paper="v1_wiring_2026", analysis="fig2") as session:
            tracked.materialize.query_table("synapses_pni_2", filter_in_dict={...})
        session.active   # False
    """

    def __init__(self, paper: str, analysis: str):
        self.paper = paper
        self.analysis = analysis

    @property
    def active(self) -> bool:
        return _ACTIVE is self

    def stop(self) -> None:
        """Stop this analysis (nothing happens when another one is active by now)."""
        if self.active:
            stop_export()

    def __enter__(self) -> ExportSession:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "active" if self.active else "stopped"
        return f"<export paper={self.paper!r} analysis={self.analysis!r} ({state})>"


_ACTIVE: ExportSession | None = None
#: bound methods of widgets showing the active analysis (weak: a closed widget is dropped)
_WATCHERS: list[weakref.WeakMethod] = []


def watch_active_export(method) -> None:
    """Call the bound ``method()`` whenever an analysis starts or stops (held weakly).

    Example::

        watch_active_export(self._update_header)   # a widget's status line
    """
    _WATCHERS.append(weakref.WeakMethod(method))


def _notify() -> None:
    for ref in list(_WATCHERS):
        method = ref()
        if method is None:
            _WATCHERS.remove(ref)
            continue
        try:
            method()
        except Exception:  # noqa: BLE001 - a widget's status line must not break start_export
            log.debug("active-export watcher failed", exc_info=True)


def active_export_html() -> str:
    """The active paper and analysis for a widget's status line (HTML), or "" when none.

    Example::

        header.value = " · ".join(filter(None, [parts, active_export_html()]))
    """
    session = _ACTIVE
    if session is None:
        return ""
    return (f"<span class='cw-export' title='records are tagged for export (stop_export() to stop)'>"
            f"exporting: {html.escape(session.paper)} / {html.escape(session.analysis)}</span>")


def start_export(paper: str, analysis: str) -> ExportSession:
    """Tag everything recorded from now on with ``paper`` and ``analysis``, and log it on disk.

    Starting an analysis while another is active stops that one (a warning names both).
    Starting the active one again changes nothing. Use the returned session as a context
    manager to stop at the end of a block.

    Example::

        cavewidgets.start_export(paper="v1_wiring_2026", analysis="fig2")
        tracked.materialize.query_table("synapses_pni_2", filter_in_dict={"pre_pt_root_id": roots})
        cavewidgets.stop_export()
    """
    global _ACTIVE
    paper = _check_name(paper, "paper")
    analysis = _check_name(analysis, "analysis")
    with LOG.txn():
        current = _ACTIVE
        if current is not None and (current.paper, current.analysis) == (paper, analysis):
            return current
        if current is not None:
            log.warning("stopped export analysis %r of paper %r: analysis %r of paper %r starts now",
                        current.analysis, current.paper, analysis, paper)
        session = ExportSession(paper, analysis)
        _ACTIVE = session
        LOG.tags = (paper, analysis)
        if _persist not in LOG.observers:
            LOG.observers.append(_persist)
    _notify()
    return session


def stop_export() -> ExportSession | None:
    """Stop the active analysis (records are no longer tagged); returns it, or None if none was.

    Example::

        cavewidgets.stop_export()
    """
    global _ACTIVE
    with LOG.txn():
        session, _ACTIVE = _ACTIVE, None
        LOG.tags = None
    if session is None:
        log.info("stop_export(): no export analysis was active")
    else:
        _notify()
    return session


def active_export() -> ExportSession | None:
    """The active analysis, or None.

    Example::

        session = active_export(); session and session.analysis
    """
    return _ACTIVE


def _persist(item) -> None:
    """LOG observer: append a tagged record or posted entry to its paper's log on disk."""
    if isinstance(item, Record):
        if item.paper is None:
            return
        entry, datastack = item.entry(), item.datastack
    else:
        if item.get("paper") is None:
            return
        entry = {"kind": "posted", **item}
        datastack = item.get("datastack")
    try:
        append_entries(entry["paper"], datastack, [entry])
    except OSError as err:
        # never break the user's query; say loudly that the paper log misses it
        log.error("could not write %s %s to the log of paper %r: %s (it stays in this kernel's "
                  "provenance log only)", entry["kind"], entry.get("record_id") or entry.get("table"),
                  entry["paper"], err)


def append_entries(paper: str, datastack: str | None, entries: list[dict]) -> Path:
    """Append ``entries`` (JSON-ready dicts) to the paper's log, one line each.

    Example::

        append_entries("v1_wiring_2026", "minnie65_sample", [record.entry()])
    """
    path = paper_log_path(paper, datastack)
    text = "".join(json.dumps(e, default=str) + "\n" for e in entries)
    with file_lock(path):
        with open(path, "a", encoding="utf-8") as out:
            out.write(text)
            out.flush()
    return path


def read_paper(paper: str, datastack: str | None = None) -> list[dict]:
    """Every entry logged for ``paper`` (all datastacks unless ``datastack``), oldest first per file.

    Raises ``KeyError`` naming the papers that have logs when ``paper`` has none.

    Example::

        entries = read_paper("v1_wiring_2026")
        {e["analysis"] for e in entries}
    """
    paper = _check_name(paper, "paper")
    pattern = f"{safe_name(datastack)}/{safe_name(paper)}.jsonl" if datastack else f"*/{safe_name(paper)}.jsonl"
    entries = []
    for path in sorted(exports_dir().glob(pattern)):
        with file_lock(path):
            lines = path.read_text(encoding="utf-8").splitlines()
        for line in lines:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line from a crash mid-write
            if entry.get("paper") == paper:
                entries.append(entry)
    if not entries:
        known = sorted({p.stem for p in exports_dir().glob("*/*.jsonl")})
        raise KeyError(f"nothing is logged for paper {paper!r} (papers with logs: {', '.join(known) or 'none'}); "
                       "start_export(paper=..., analysis=...) before querying")
    return entries


def papers() -> list[str]:
    """Names of the papers with logs on this machine (as their files name them).

    Example::

        cavewidgets.reproducible.papers()
    """
    return sorted({p.stem for p in exports_dir().glob("*/*.jsonl")})
