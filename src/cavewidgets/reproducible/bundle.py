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
import importlib.metadata
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .hashing import HASH_ALGORITHM, frame_hash
from .log import LOG, Record, jsonable

FORMAT = "cavewidgets-export"
FORMAT_VERSION = 1
PACKAGES = ("cavewidgets", "caveclient", "pandas", "pyarrow", "numpy", "matplotlib", "seaborn",
            "neuroglancer", "cloud-volume", "requests")


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
    state = _viewer_state(viewer) if viewer is not None else None

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


def _viewer_state(viewer) -> dict:
    state = viewer if isinstance(viewer, dict) else getattr(viewer, "state", None)
    if state is not None and not isinstance(state, dict) and hasattr(state, "to_json"):
        state = state.to_json()  # a neuroglancer.ViewerState
    if not isinstance(state, dict):
        raise TypeError(f"viewer must be a cavewidgets.Viewer, an object with a .state dict or a dict, "
                        f"got {type(viewer).__name__}")
    try:
        return json.loads(json.dumps(state))
    except (TypeError, ValueError) as err:
        raise TypeError(f"the viewer state is not JSON: {err}") from None


def _slug(text: str | None) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text or "result")[:60].strip("_") or "result"


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
        _write_json(root / "viewer_state.json", state)
        manifest["viewer_state"] = "viewer_state.json"
    if annotations:
        with LOG._lock:
            posted = [dict(e) for e in LOG.posted]
        _write_json(root / "annotations.json", {"posted": posted})
        manifest["annotations"] = "annotations.json"
    _write_json(root / "versions.json", versions)
    rows = pd.DataFrame([{k: v for k, v in e.items() if k not in ("replay", "params")} for e in entries])
    rows.to_csv(root / "provenance.csv", index=False)
    _write_json(root / "manifest.json", manifest)
    script = root / "reproduce.py"
    script.write_text(reproduce_script())
    script.chmod(0o755)


def _write_record(root: Path, rec: Record) -> dict:
    stem = f"queries/{rec.n:04d}_{_slug(rec.table or rec.method)}"
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
        _write_json(root / f"{stem}.result.json", jsonable_result(result))
        entry["result_file"] = f"{stem}.result.json"
    elif rec.kind == "query":
        entry["result_note"] = "result no longer in memory (dropped to bound memory); hash kept"
    _write_json(root / entry["provenance_file"], entry)
    return entry


def sample_services(entries: list[dict]) -> dict:
    """``{server: how to start it again}`` for the entries' servers that are cavewidgets samples.

    ``reproduce.py`` starts such a service itself (with cavewidgets installed) when the recorded
    one is gone: a sample service lives on a random port for as long as its kernel does.

    Example::

        sample_services([{"server": handle.url, "datastack": handle.datastack}])
    """
    from ..sample import service_record

    out = {}
    for entry in entries:
        server = entry.get("server")
        if server and server not in out:
            record = service_record(server, entry.get("datastack"))
            if record is not None:
                out[server] = record
    return out


def jsonable_result(result):
    try:
        return jsonable(result, "result")
    except TypeError:
        return {"__repr__": repr(result)[:10_000]}


def write_result_parquet(df: pd.DataFrame, path: Path) -> dict:
    """Write ``df`` as parquet and say how faithful it is.

    uint64 stays uint64; cells holding arrays/lists become list columns. Columns pyarrow cannot
    store (mixed objects, complex numbers) are written as JSON text and listed; non-text or
    duplicate column labels are renamed and listed. ``parquet_roundtrip_exact`` tells whether
    reading the file back gives the same content hash as ``df``.

    Example::

        write_result_parquet(df, Path("out.parquet"))["parquet_roundtrip_exact"]
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns, renamed, stringified, seen = {}, {}, [], set()
    for i in range(df.shape[1]):
        label = df.columns[i]
        name = str(label)
        while name in seen:
            name = f"{name}__{i}"
        seen.add(name)
        if not isinstance(label, str) or name != label:
            renamed[str(label) if isinstance(label, str) else repr(label)] = name
        column = df.iloc[:, i]
        if not _arrow_storable(column, pa):
            column = column.map(_json_cell).astype(object)
            stringified.append(name)
        columns[name] = column
    frame = pd.DataFrame(columns, index=df.index)
    try:
        table = pa.Table.from_pandas(frame, preserve_index=None)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError):
        table = pa.Table.from_pandas(frame, preserve_index=False)  # an index pyarrow cannot store
    pq.write_table(table, path)
    back = pd.read_parquet(path)
    exact = not renamed and not stringified and frame_hash(back) == frame_hash(df)
    return {"n_columns": int(df.shape[1]), "columns": list(columns), "renamed_columns": renamed,
            "stringified_columns": stringified, "parquet_roundtrip_exact": bool(exact)}


def _arrow_storable(column: pd.Series, pa) -> bool:
    if isinstance(column.dtype, np.dtype) and column.dtype.kind == "c":
        return False
    if isinstance(column.dtype, np.dtype) and column.dtype.kind == "O":
        try:
            pa.array(column, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError,
                OverflowError):
            return False
    return True


def _json_cell(value) -> str:
    return json.dumps(jsonable_result(value) if not isinstance(value, complex)
                      else {"__complex__": [value.real, value.imag]}, sort_keys=True)


def package_versions() -> dict:
    """Python, platform and installed versions of the packages a bundle depends on.

    Example::

        package_versions()["caveclient"]
    """
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def reproduce_script() -> str:
    """The text of ``reproduce.py``: the template with the hashing module embedded.

    Example::

        Path("reproduce.py").write_text(reproduce_script())
    """
    here = Path(__file__).resolve().parent
    template = (here / "_reproduce_template.py").read_text()
    hashing = (here / "hashing.py").read_text()
    body = hashing.split("from __future__ import annotations\n", 1)[1]
    marker = next(line for line in template.splitlines() if line.endswith("# <<HASHING>>"))
    embedded = ("# ---- embedded from cavewidgets/reproducible/hashing.py (do not edit) ----\n"
                + body.strip() + "\n# ---- end of embedded hashing ----\n")
    return template.replace(marker, embedded, 1)


def _write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=False, default=str) + "\n")


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
