"""A review queue's decisions on disk, so a new kernel resumes where the last one stopped.

One JSON file per queue: ``<data dir>/reviews/<datastack>/<table>-<key>.json`` where ``key``
hashes the datastack, the table and the ordered root ids (the same inputs give the same queue).

Example::

    decisions = ReviewDecisions.open("minnie65_sample", "review_tags", [864691135808684573])
    decisions.decide(864691135808684573, "clean", "")
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .._storage import atomic_write, data_dir, file_lock, safe_name
from ..posting.drafts import now_iso


def queue_key(datastack: str, table: str, root_ids: list[int]) -> str:
    """Stable key of a queue's inputs (12 hex digits)."""
    text = "|".join([datastack, table, ",".join(str(int(r)) for r in root_ids)])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class ReviewDecisions:
    """Decisions of one queue: ``{root_id: {status, notes, time, uid, annotation_id, replaces}}``.

    Example::

        ReviewDecisions.open("minnie65_sample", "review_tags", [864691135808684573]).decisions
    """

    def __init__(self, path: Path, datastack: str, table: str, root_ids: list[int], key: str):
        self.path = path
        self.datastack, self.table, self.root_ids, self.key = datastack, table, root_ids, key
        self.decisions: dict[int, dict] = {}
        self.to_delete: list[int] = []  # annotation ids superseded by a changed decision
        # uids of drafts replaced by a newer decision before the server confirmed them: each may
        # still land (it may be pending, or its answer lost), and its row must then be deleted
        self.retired: list[str] = []
        self._load()

    @classmethod
    def open(cls, datastack: str, table: str, root_ids: list[int], directory=None) -> ReviewDecisions:
        key = queue_key(datastack, table, root_ids)
        base = Path(directory) if directory is not None else data_dir() / "reviews"
        path = base / safe_name(datastack) / f"{safe_name(table)}-{key}.json"
        return cls(path, datastack, table, root_ids, key)

    @property
    def drafts_dir(self) -> Path:
        """Where this queue's not-yet-confirmed decisions wait as drafts."""
        return self.path.with_suffix("")

    def _load(self) -> None:
        with file_lock(self.path):
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                return
        self.decisions = {int(k): v for k, v in data.get("decisions", {}).items()}
        self.to_delete = [int(i) for i in data.get("to_delete", [])]
        self.retired = [str(u) for u in data.get("retired", [])]

    def save(self) -> None:
        data = {"format": 1, "datastack": self.datastack, "table": self.table, "key": self.key,
                "root_ids": [str(r) for r in self.root_ids],
                "decisions": {str(k): v for k, v in self.decisions.items()}, "to_delete": self.to_delete,
                "retired": self.retired}
        with file_lock(self.path):
            atomic_write(self.path, json.dumps(data, indent=1), prefix=".review-")

    def decide(self, root_id: int, status: str, notes: str, uid: str) -> dict:
        old = self.decisions.get(int(root_id))
        if old and old.get("annotation_id") is None and old.get("uid"):
            self.retired.append(old["uid"])
        record = {"status": status, "notes": notes, "time": now_iso(), "uid": uid, "annotation_id": None,
                  "replaces": (old or {}).get("annotation_id") or (old or {}).get("replaces")}
        self.decisions[int(root_id)] = record
        self.save()
        return record

    def settle(self, posted: dict[str, int]) -> bool:
        """Take the server's ids of posted drafts (``uid -> annotation id``, from the posted log):
        fill the decisions' ids, queue superseded rows for deletion. Returns whether anything changed.

        Example::

            decisions.settle({"d-1f2e": 17})
        """
        changed = False
        for d in self.decisions.values():
            if d.get("annotation_id") is None and d.get("uid") in posted:
                d["annotation_id"] = int(posted[d["uid"]])
                if d.get("replaces"):
                    self.to_delete.append(int(d["replaces"]))
                    d["replaces"] = None
                changed = True
        for uid in [u for u in self.retired if u in posted]:
            self.to_delete.append(int(posted[uid]))
            self.retired.remove(uid)
            changed = True
        if changed:
            self.save()
        return changed

    def first_undecided(self) -> int:
        for i, r in enumerate(self.root_ids):
            if int(r) not in self.decisions:
                return i
        return len(self.root_ids)
