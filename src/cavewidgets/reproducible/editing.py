"""Editing a paper's log before it is exported: drop an analysis or one query, rename.

::

    from cavewidgets import reproducible
    reproducible.drop_query("v1_wiring_2026", "3f2a9c1e-0004")      # a record_id of provenance()
    reproducible.drop_analysis("v1_wiring_2026", "fig5_draft")
    reproducible.rename_analysis("v1_wiring_2026", "fig3", "fig3b")
    reproducible.rename_paper("v1_wiring_2026", "v1_wiring_2027")

The edits change the logs on disk (what ``preview_export`` and ``export(paper=...)`` read), not
this kernel's ``provenance()``. Each log file is rewritten whole and atomically (temporary file,
``os.replace``) under the same cross-process lock as the appends, so a kernel logging into the
paper at the same time loses nothing: its line lands before or after the rewrite. Lines that do
not parse (a torn line from a crash) are kept as they are. An analysis or paper that is active in
this kernel cannot be edited: ``stop_export()`` first (its next records would undo the edit).
Another kernel still logging an analysis under its old name goes on doing so.
"""

from __future__ import annotations

import json
from pathlib import Path

from .._storage import atomic_write, file_lock, safe_name
from .papers import _check_name, active_export, exports_dir, paper_log_path, read_paper


def _files(paper: str) -> list[Path]:
    return sorted(exports_dir().glob(f"*/{safe_name(paper)}.jsonl"))


def _parse(lines: list[str]) -> list:
    """Entries as dicts; an unparseable line stays its text (kept verbatim on rewrite)."""
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            out.append(line)
    return out


def _text(items: list) -> str:
    return "".join((item if isinstance(item, str) else json.dumps(item, default=str)) + "\n" for item in items)


def _rewrite(paper: str, change) -> int:
    """Apply ``change(entry) -> entry or None`` to the paper's entries in every log file.

    Returns how many entries were changed or dropped; files are rewritten only when one was.
    """
    touched = 0
    for path in _files(paper):
        with file_lock(path):
            items = _parse(path.read_text(encoding="utf-8").splitlines())
            kept, n = [], 0
            for item in items:
                if isinstance(item, str) or item.get("paper") != paper:
                    kept.append(item)
                    continue
                new = change(item)
                n += new is not item
                if new is not None:
                    kept.append(new)
            if n:
                atomic_write(path, _text(kept))
        touched += n
    return touched


def _not_active(paper: str, analysis: str | None = None) -> None:
    session = active_export()
    if session is not None and session.paper == paper and analysis in (None, session.analysis):
        what = f"analysis {session.analysis!r} of paper {paper!r}" if analysis else f"paper {paper!r}"
        raise RuntimeError(f"{what} is being logged in this kernel; stop_export() before editing it")


def _analyses(entries: list[dict]) -> list[str]:
    return sorted({e.get("analysis") for e in entries if e.get("analysis")})


def _known_analysis(paper: str, analysis: str) -> list[dict]:
    entries = read_paper(paper)
    if analysis not in _analyses(entries):
        raise KeyError(f"paper {paper!r} has no analysis {analysis!r} (logged analyses: "
                       f"{', '.join(_analyses(entries))})")
    return entries


def drop_analysis(paper: str, analysis: str) -> int:
    """Remove every entry of ``analysis`` from the paper's log; returns how many were removed.

    Example::

        cavewidgets.reproducible.drop_analysis("v1_wiring_2026", "fig5_draft")
    """
    paper, analysis = _check_name(paper, "paper"), _check_name(analysis, "analysis")
    _known_analysis(paper, analysis)
    _not_active(paper, analysis)
    return _rewrite(paper, lambda e: None if e.get("analysis") == analysis else e)


def drop_query(paper: str, record_id: str) -> dict:
    """Remove one recorded query (or fetch) from the paper's log; returns the removed entry.

    ``record_id`` is the record's id as ``provenance()``, ``preview_export(...)["record_ids"]``
    and the bundle's ``provenance.csv`` show it.

    Example::

        cavewidgets.reproducible.drop_query("v1_wiring_2026", "3f2a9c1e-0004")
    """
    paper = _check_name(paper, "paper")
    entries = read_paper(paper)
    found = [e for e in entries if e.get("record_id") == record_id]
    if not found:
        ids = [e["record_id"] for e in entries if e.get("record_id")]
        raise KeyError(f"paper {paper!r} has no record {record_id!r} (its records: "
                       f"{', '.join(ids[:20])}{' ...' if len(ids) > 20 else ''})")
    _not_active(paper, found[0].get("analysis"))
    _rewrite(paper, lambda e: None if e.get("record_id") == record_id else e)
    return found[0]


def rename_analysis(paper: str, old: str, new: str) -> int:
    """Rename analysis ``old`` of ``paper`` to ``new`` (which must not exist); returns the entries renamed.

    Example::

        cavewidgets.reproducible.rename_analysis("v1_wiring_2026", "fig3", "fig3b")
    """
    paper, old, new = _check_name(paper, "paper"), _check_name(old, "analysis"), _check_name(new, "new name")
    entries = _known_analysis(paper, old)
    if new in _analyses(entries):
        raise ValueError(f"paper {paper!r} already has an analysis {new!r}; drop or rename it first")
    _not_active(paper, old)
    return _rewrite(paper, lambda e: {**e, "analysis": new} if e.get("analysis") == old else e)


def rename_paper(old: str, new: str) -> int:
    """Rename paper ``old`` to ``new`` (which must have no log yet); returns the entries moved.

    Each datastack's log file moves to the new name: the new file is written atomically first,
    then the old one removed, so a crash between leaves both (never neither; ``read_paper``
    of either name then still works, and ``rename_paper`` again refuses until one is dropped).

    Example::

        cavewidgets.reproducible.rename_paper("v1_wiring_2026", "v1_wiring_2027")
    """
    old, new = _check_name(old, "paper"), _check_name(new, "new name")
    read_paper(old)  # KeyError naming the papers with logs
    if safe_name(new) == safe_name(old):
        raise ValueError(f"{old!r} and {new!r} name the same log file")
    if _files(new):
        raise ValueError(f"paper {new!r} already has a log; choose another name")
    _not_active(old)
    moved = 0
    for path in _files(old):
        target = paper_log_path(new, path.parent.name)
        with file_lock(path):
            items = _parse(path.read_text(encoding="utf-8").splitlines())
            # torn lines move with the file; entries of another paper whose name makes the same
            # file name stay where read_paper looks for them
            ours = [isinstance(i, str) or i.get("paper") == old for i in items]
            mine = [i if isinstance(i, str) else {**i, "paper": new} for i, o in zip(items, ours) if o]
            rest = [i for i, o in zip(items, ours) if not o]
            if target.exists():  # appeared since the check: another kernel logs into it
                raise ValueError(f"paper {new!r} already has a log ({target}); nothing was moved from {path}")
            atomic_write(target, _text(mine))
            if rest:
                atomic_write(path, _text(rest))
            else:
                path.unlink()
        moved += sum(isinstance(i, dict) for i in mine)
    return moved
