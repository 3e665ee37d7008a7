"""The posted log: every draft the server confirmed, one JSON line each (``_posted.jsonl`` in the
drafts directory). Written before a confirmed draft leaves its drafts file, so a kernel that dies
in between leaves a pending draft that the next retry matches to its logged id.

Example::

    read_posted_log("minnie65_sample", DraftStore("minnie65_sample").directory)
"""

from __future__ import annotations

import json
from pathlib import Path

from .._storage import file_lock


def posted_log_path(directory: Path) -> Path:
    return Path(directory) / "_posted.jsonl"


def append_posted_log(store, done: list[dict]) -> None:
    """Append confirmed drafts (each with ``table`` and ``annotation_id``) to ``store``'s log."""
    path = posted_log_path(store.directory)
    with file_lock(path):
        with open(path, "a", encoding="utf-8") as out:
            for d in done:
                out.write(json.dumps(d) + "\n")
            out.flush()


def read_posted_log(datastack: str, directory: Path) -> list[dict]:
    """Every draft ever confirmed by the server for this datastack (oldest first).

    Example::

        [d["annotation_id"] for d in read_posted_log("minnie65_sample", store.directory)]
    """
    path = posted_log_path(directory)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a torn last line from a crash mid-write; the draft is still pending
    return out
