"""Drafts saved to disk as they are made: nothing a user marks is lost to a kernel restart.

One JSON file per datastack and table under the user data directory::

    <data dir>/drafts/<datastack>/_unassigned.json   drafts not yet sent anywhere
    <data dir>/drafts/<datastack>/<table>.json       drafts being posted to <table>

A draft is removed from its file only once the annotation engine has confirmed its id.
Each draft carries a client-generated ``uid`` so that a retry after a failure (service down,
5xx, lost response, kernel restart) can tell which drafts already reached the server.

Writes are atomic (temporary file + ``os.replace``) and serialised across processes with an
advisory lock (both from ``cavewidgets._storage``), so two kernels on one machine do not lose
each other's drafts.

Example::

    store = DraftStore("minnie65_sample")
    store.add([{"position_nm": [1000.0, 2000.0, 3000.0], "root_id": 864691135000000001,
                "fields": {"tag": "check me"}}])
    store.drafts()
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import threading
import uuid
from pathlib import Path
from typing import Any, Iterable

from .._storage import atomic_write, data_dir, exclusive_lock, file_lock, safe_name

from .._ids import parse_root_id

UNASSIGNED = "_unassigned"
_POSTING_LOCKS: dict[Path, threading.Lock] = {}  # this kernel's threads; the file lock excludes other kernels
_POSTING_GUARD = threading.Lock()


def now_iso() -> str:
    """The current UTC time as ISO 8601 text (what drafts and decisions record)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


def _read(path: Path) -> list[dict]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        # keep the damaged file for the user instead of overwriting it with an empty list
        backup = path.with_name(f"{path.name}.damaged-{uuid.uuid4().hex[:8]}")  # not *.json: never re-read
        path.replace(backup)
        raise RuntimeError(f"drafts file {path} was not valid JSON ({err}); it was moved to {backup}") from None
    return list(data.get("drafts", [])) if isinstance(data, dict) else []


def _write(path: Path, drafts: list[dict]) -> None:
    if not drafts:
        path.unlink(missing_ok=True)
        return
    # one draft per line: readable, and each line goes through the C encoder (an indented
    # dump runs the pure-Python one, ~10x slower for 25,000 drafts)
    atomic_write(path, '{"format": 1, "drafts": [\n' + ",\n".join(json.dumps(d) for d in drafts) + "\n]}\n",
                 prefix=".drafts-")


def make_draft(position_nm: Iterable[float], root_id: int | None = None, fields: dict | None = None,
               end_nm: Iterable[float] | None = None, source: str = "python", uid: str | None = None) -> dict:
    """A new draft record (positions in nm; the root id kept as text so it stays exact).

    Example::

        make_draft([1000, 2000, 3000], root_id=864691135000000001, fields={"tag": "a"})
    """
    pos = [float(v) for v in position_nm]
    if len(pos) != 3 or any(v != v or v in (float("inf"), float("-inf")) for v in pos):
        raise ValueError(f"a draft position must be 3 finite numbers in nm, got {list(position_nm)!r}")
    draft: dict[str, Any] = {
        "uid": uid or f"d-{uuid.uuid4().hex}",
        "created": now_iso(),
        "position_nm": pos,
        "root_id": None if root_id is None else str(parse_root_id(root_id)),
        "fields": dict(fields or {}),
        "source": source,
        "state": "draft",
    }
    if end_nm is not None:
        end = [float(v) for v in end_nm]
        if len(end) != 3:
            raise ValueError(f"a line end must be 3 numbers in nm, got {list(end_nm)!r}")
        draft["end_nm"] = end
    json.dumps(draft["fields"])  # fields must survive the file: fail now, not at save time
    return draft


class DraftStore:
    """The drafts of one datastack and table, on disk.

    ``table=None`` is the store of drafts not yet assigned to a table.

    Example::

        store = DraftStore("minnie65_sample")
        store.add([make_draft([1, 2, 3], fields={"tag": "x"})])
        store.move_to("my_tags", [d["uid"] for d in store.drafts()])
    """

    def __init__(self, datastack: str, table: str | None = None, directory: str | Path | None = None):
        self.datastack = str(datastack)
        self.table = table
        self.directory = Path(directory) if directory is not None else data_dir() / "drafts" / safe_name(datastack)
        self.path = self.directory / f"{safe_name(table) if table else UNASSIGNED}.json"

    def __repr__(self) -> str:
        return f"DraftStore({self.datastack!r}, table={self.table!r}, {len(self.drafts())} drafts)"

    def drafts(self) -> list[dict]:
        """Every draft in this file (for the unassigned store, minus any already moved to a table)."""
        with file_lock(self.path):
            return self._load()

    def _load(self) -> list[dict]:
        drafts = _read(self.path)
        if self.table is None:
            # a crash between writing the table file and rewriting this one leaves a copy here:
            # finish that move now (once the table's copy is posted and gone, this copy would
            # look like a new draft and be posted again)
            moved = {d["uid"] for p in self.directory.glob("*.json") if p != self.path for d in _read(p)}
            kept = [d for d in drafts if d["uid"] not in moved]
            if len(kept) != len(drafts):
                _write(self.path, kept)
            drafts = kept
        return drafts

    def table_stores(self) -> list[DraftStore]:
        """The stores of drafts already assigned to tables (being posted), in this directory."""
        out = []
        for p in sorted(self.directory.glob("*.json")):
            if p.stem != UNASSIGNED and not p.name.startswith("."):
                table = next((d.get("table") for d in _read(p) if d.get("table")), p.stem)
                out.append(DraftStore(self.datastack, table, self.directory))
        return out

    @contextlib.contextmanager
    def posting(self, table: str):
        """Hold while posting this directory's drafts to ``table``: one poster at a time, across
        kernels and threads (two posters would both send the drafts the other has not confirmed yet).

        Example::

            with store.posting("my_tags"):
                ...  # read, send, confirm
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        path = (self.directory / f".posting-{safe_name(table)}.lock").resolve()
        with _POSTING_GUARD:
            lock = _POSTING_LOCKS.setdefault(path, threading.Lock())
        with lock, exclusive_lock(path):
            yield

    def add(self, drafts: list[dict]) -> list[dict]:
        """Append drafts (saved before this returns)."""
        with file_lock(self.path):
            current = self._load()
            seen = {d["uid"] for d in current}
            new = [d for d in drafts if d["uid"] not in seen]
            _write(self.path, current + new)
        return new

    def update(self, drafts: list[dict]) -> None:
        """Replace drafts with the same uid (e.g. to mark them pending)."""
        by_uid = {d["uid"]: d for d in drafts}
        with file_lock(self.path):
            _write(self.path, [by_uid.get(d["uid"], d) for d in self._load()])

    def remove(self, uids: Iterable[str]) -> None:
        """Forget drafts (call only once the server has confirmed them, or on the user's request)."""
        gone = set(uids)
        with file_lock(self.path):
            _write(self.path, [d for d in self._load() if d["uid"] not in gone])

    def move_to(self, table: str, uids: Iterable[str]) -> DraftStore:
        """Move drafts from this store into ``table``'s store (target written first: nothing lost)."""
        target = DraftStore(self.datastack, table, self.directory)
        wanted = set(uids)
        with file_lock(self.path):
            moving = [d for d in self._load() if d["uid"] in wanted]
            have = {d["uid"] for d in _read(target.path)}
            _write(target.path, _read(target.path) + [dict(d, table=table) for d in moving if d["uid"] not in have])
            _write(self.path, [d for d in _read(self.path) if d["uid"] not in wanted])
        return target

    def clear(self) -> None:
        """Delete every draft in this store (drafts that were never posted are lost)."""
        with file_lock(self.path):
            _write(self.path, [])
