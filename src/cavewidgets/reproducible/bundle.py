"""``export(path)``: the recorded queries, their results and a ``reproduce.py`` in one directory.

Bundle layout::

    manifest.json          format, creation time, hash algorithm, datastacks/servers, one entry per
                           query (provenance row + the exact call that re-runs it + file names)
    queries/NNNN_<table>.parquet   each kept result (uint64 exact; 3-vector position columns as
                                   list columns); NNNN_<table>.json next to it: its provenance row
    provenance.csv         the exported provenance rows, for people
    viewer_state.json      token-free neuroglancer state (when ``viewer`` is given)
    annotations.json       annotation ids posted from this kernel, by table (``annotations=True``)
    versions.json          Python and package versions
    reproduce.py           re-runs every query at the same version/timestamp and checks the hashes

The directory is written next to its destination and moved into place at the end, so a failure
leaves nothing half-written. No token is ever written: every text file is checked against the
tokens of the clients in the log before the bundle is moved into place.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import pandas as pd

from .bundle_files import (FORMAT, FORMAT_VERSION, jsonable_result, package_versions, reproduce_script,
                           sample_services, slug, viewer_state, write_json, write_result_parquet)
from .hashing import HASH_ALGORITHM, frame_hash
from .log import LOG, Record

__all__ = ["export", "package_versions", "reproduce_script", "write_result_parquet"]


def export(path, *, queries=None, viewer=None, annotations: bool = True, overwrite: bool = False,
           paper: str | None = None, analyses=None, viewers: dict | None = None, client=None) -> Path:
    """Write the recorded queries of this kernel as a reproducible bundle in directory ``path``.

    ``queries`` narrows the export to record numbers or record ids (the index and ``record_id``
    of ``cavewidgets.provenance()``); ``viewer`` is a ``cavewidgets.Viewer``, any object with a
    ``.state`` dict, or a state dict; ``annotations`` adds the annotation ids posted from this
    kernel. ``path`` must not exist or be an empty directory; ``overwrite=True`` replaces an
    earlier bundle (never a directory that is not one). Returns the bundle's path.

    With ``paper``, the bundle holds that paper's logged analyses (``start_export``), all of
    them or the names in ``analyses``, from every kernel that logged them: merged queries re-run
    now at their recorded version/timestamp (with ``client`` or a client found as
    ``paper_export.client_for`` says), per-analysis folders, ``viewers={analysis: viewer}``,
    a pinned ``requirements.txt``; layout in ``cavewidgets.reproducible.paper_export``.
    ``queries``, ``viewer`` and ``annotations`` apply to the plain export only.

    Example::

        tracked = cavewidgets.track(cavewidgets.sample.client())
        tracked.materialize.query_table("nucleus_detection_v0")
        bundle = cavewidgets.export("my_analysis", viewer=viewer)
        # later, anywhere with caveclient:  python my_analysis/reproduce.py
    """
    target = Path(os.fspath(path)).expanduser()
    _check_target(target, overwrite)
    if paper is not None:
        if queries is not None or viewer is not None:
            raise TypeError("export(paper=...) takes analyses= and viewers={analysis: viewer}, not "
                            "queries= or viewer=")
        return _staged(target, lambda staging: _paper(staging, paper, analyses, viewers, client))
    if analyses is not None or viewers is not None:
        raise TypeError("analyses= and viewers= need paper=...")
    records = LOG.select(queries)
    if not records:
        raise ValueError("nothing to export: no query has been recorded in this kernel "
                         "(query through cavewidgets.track(client), an Explorer or a report first)")
    state = viewer_state(viewer) if viewer is not None else None

    def write(staging: Path) -> list:
        _write_bundle(staging, records, state, annotations)
        return [rec._client_ref() for rec in records if rec._client_ref is not None]

    return _staged(target, write)


def _paper(staging: Path, paper, analyses, viewers, client) -> list:
    from .paper_export import export_paper

    return export_paper(staging, paper, analyses, viewers=viewers, client=client)


def _staged(target: Path, write) -> Path:
    """Run ``write(staging)`` in a fresh directory beside ``target``, check it, move it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        clients = write(staging)
        _check_no_tokens(staging, clients)
        _move_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _check_target(target: Path, overwrite: bool) -> None:
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(f"{target} is a file; export() writes a directory")
    if target.is_dir() and any(target.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{target} is not empty; choose a new directory or pass overwrite=True")
        if not _is_bundle(target):
            raise FileExistsError(f"{target} is not empty and is not a cavewidgets export bundle; "
                                  "overwrite=True only replaces an earlier bundle")


def _is_bundle(directory: Path) -> bool:
    try:
        return json.loads((directory / "manifest.json").read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _move_into_place(staging: Path, target: Path) -> None:
    if target.is_dir():
        old = target.with_name(f".{target.name}.replaced")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(target)


def _write_bundle(root: Path, records: list[Record], state: dict | None, annotations: bool) -> None:
    (root / "queries").mkdir()
    entries = []
    for rec in records:
        entries.append(_write_record(root, rec))
    created = _dt.datetime.now(_dt.timezone.utc).isoformat()
    versions = package_versions()
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "created": created,
        "hash_algorithm": HASH_ALGORITHM,
        "datastacks": sorted({e["datastack"] for e in entries if e["datastack"]}),
        "servers": sorted({e["server"] for e in entries if e["server"]}),
        "queries": entries,
        "sample_services": sample_services(entries),
        "viewer_state": None, "annotations": None, "packages": versions,
        "files": {"provenance": "provenance.csv", "versions": "versions.json", "reproduce": "reproduce.py"},
    }
    if state is not None:
        write_json(root / "viewer_state.json", state)
        manifest["viewer_state"] = "viewer_state.json"
    if annotations:
        posted = LOG.posted_entries()
        write_json(root / "annotations.json", {"posted": posted})
        manifest["annotations"] = "annotations.json"
    write_json(root / "versions.json", versions)
    rows = pd.DataFrame([{k: v for k, v in e.items() if k not in ("replay", "params")} for e in entries])
    rows.to_csv(root / "provenance.csv", index=False)
    write_json(root / "manifest.json", manifest)
    script = root / "reproduce.py"
    script.write_text(reproduce_script())
    script.chmod(0o755)


def _write_record(root: Path, rec: Record) -> dict:
    stem = f"queries/{rec.n:04d}_{slug(rec.table or rec.method)}"
    entry = rec.entry()
    entry.update(result_file=None, provenance_file=f"{stem}.json")
    result = rec.result
    if isinstance(result, pd.DataFrame):
        entry["result_modified_after_query"] = frame_hash(result) != rec.result_hash
        if entry["result_modified_after_query"]:
            warnings.warn(f"the result of query #{rec.n} ({rec.table}) was changed in place after the query; "
                          "its parquet holds the changed frame, reproduce.py checks the recorded hash",
                          stacklevel=3)
        entry.update(write_result_parquet(result, root / f"{stem}.parquet"))
        entry["result_file"] = f"{stem}.parquet"
    elif result is not None:
        write_json(root / f"{stem}.result.json", jsonable_result(result))
        entry["result_file"] = f"{stem}.result.json"
    elif rec.kind == "query":
        entry["result_note"] = "result no longer in memory (dropped to bound memory); hash kept"
    write_json(root / entry["provenance_file"], entry)
    return entry


def _check_no_tokens(root: Path, clients: list) -> None:
    tokens = set()
    for client in clients:
        token = getattr(getattr(client, "auth", None), "token", None) if client is not None else None
        if isinstance(token, str) and len(token) >= 8:
            tokens.add(token)
    if not tokens:
        return
    for file in root.rglob("*"):
        if file.is_file() and file.suffix in (".json", ".csv", ".py", ".txt"):
            text = file.read_text(errors="replace")
            if any(t in text for t in tokens):
                raise RuntimeError(f"refusing to export: {file.name} would contain an auth token")
