"""The Explorer's drafts: points drawn in the viewer's ``drafts`` layer or added from Python,
saved to disk as they are made and posted to an annotation table exactly once.

Example::

    ex.add_draft([120_000, 90_000, 20_000], root_id=864691135808684573, tag="bouton?")
    ex.drafts                                          # DataFrame
    ex.post_drafts("my_tags", create=True, schema="bound_tag")
    ex.posted                                          # table, annotation_id, ...
"""

from __future__ import annotations

import logging
from typing import Iterable

import ipywidgets as widgets
import pandas as pd

from ..posting import AnnotationPoster, DraftStore, make_draft, read_posted_log

log = logging.getLogger(__name__)

DRAFT_LAYER = "drafts"
POSTED_LAYER = "posted"


class DraftsMixin:
    """Draft handling for :class:`Explorer` (needs ``self.client`` and ``self.viewer``)."""

    def _init_drafts(self, directory) -> None:
        self._draft_store = DraftStore(self.client.datastack_name, directory=directory)
        self._poster = AnnotationPoster(self.client, on_posted=_record_posted(self.client))
        self._posted_here: list[pd.DataFrame] = []
        self._draft_count = widgets.HTML()
        self._draw_button = widgets.ToggleButton(description="Draw drafts", icon="map-marker",
                                                 tooltip="ctrl+click in the viewer adds a draft point")
        self._draw_button.observe(self._toggle_draw, names="value")
        self._drafts_box = widgets.VBox([widgets.HTML("<b>Drafts</b>"), self._draft_count, self._draw_button],
                                        layout=widgets.Layout(width="220px", padding="4px"))
        self.viewer.on_annotation(self._viewer_annotation_changed)
        self._refresh_draft_count()

    # ---------------------------------------------------------------- public API

    def add_draft(self, position_nm: Iterable[float], root_id: int | None = None, *, end_nm=None, **fields) -> str:
        """Add a draft point (nm) with free-text fields; saved to disk before this returns.

        Returns the draft's uid. Example::

            ex.add_draft([120_000, 90_000, 20_000], tag="spine")
        """
        draft = make_draft(position_nm, root_id=root_id, fields=fields, end_nm=end_nm, source="python")
        self._draft_store.add([draft])
        self._refresh_draft_count()
        return draft["uid"]

    def _catch_up_with_viewer(self) -> None:
        """Save points of the viewer's drafts layer that no change event brought in (self-healing:
        an event lost while the kernel was busy must not lose a draft); posted ones are skipped."""
        try:
            ids = [str(i) for i in self.viewer.annotations(DRAFT_LAYER)["id"]]
        except (ValueError, KeyError):
            return
        known = {d["uid"] for d in self._draft_store.drafts()}
        known |= {d["uid"] for s in self._draft_store.table_stores() for d in s.drafts()}
        known |= {d["uid"] for d in read_posted_log(self.client.datastack_name, self._draft_store.directory)}
        missing = [i for i in ids if f"ng-{i}" not in known]
        if missing:
            self._viewer_annotation_changed({"layer": DRAFT_LAYER, "added": missing, "removed": [], "changed": []})

    @property
    def drafts(self) -> pd.DataFrame:
        """Drafts not yet posted: ``uid, x, y, z`` (nm), ``root_id`` (uint64), fields, source, created."""
        self._catch_up_with_viewer()
        rows = []
        every = self._draft_store.drafts() + [d for s in self._draft_store.table_stores() for d in s.drafts()]
        for d in every:
            x, y, z = d["position_nm"]
            rows.append({"uid": d["uid"], "table": d.get("table"), "state": d.get("state"), "x": x, "y": y, "z": z,
                         "root_id": None if d.get("root_id") is None else int(d["root_id"]),
                         **(d.get("fields") or {}), "source": d.get("source"), "created": d.get("created")})
        frame = pd.DataFrame(rows, columns=None if rows else ["uid", "table", "state", "x", "y", "z", "root_id", "source", "created"])
        frame["root_id"] = pd.array(list(frame["root_id"]), dtype="UInt64")
        return frame

    def discard_drafts(self, uids: Iterable[str] | None = None) -> None:
        """Forget drafts (all, or the given uids) without posting them."""
        store = self._draft_store
        store.remove([d["uid"] for d in store.drafts()] if uids is None else list(uids))
        self._refresh_draft_count()

    def post_drafts(self, table: str, *, create: bool = False, schema: str | None = None,
                    description: str | None = None, wait: bool = False, **fields) -> pd.DataFrame:
        """Post every draft to ``table`` (validated first; all or nothing; each exactly once).

        ``fields`` fill schema fields the drafts do not set (e.g. ``tag="putative"``); with
        ``create=True`` a missing table is created with ``schema`` (default ``bound_tag``).
        Returns the posted rows (``table, annotation_id, uid, root_id, ...``). After a post the
        server did not answer, a retry raises ``PostPendingError`` naming when the server can no
        longer write those drafts; ``wait=True`` sleeps until then and posts.

        Example::

            ex.post_drafts("my_tags", create=True, schema="bound_tag", tag="check")
        """
        self._catch_up_with_viewer()
        try:
            posted = self._poster.post(self._draft_store, table, create=create, schema=schema,
                                       description=description, wait=wait, **fields)
        finally:
            self._refresh_draft_count()
        if len(posted):
            self._posted_here.append(posted)
            self._move_posted_in_viewer(posted)
        return posted

    @property
    def posted(self) -> pd.DataFrame:
        """Drafts this explorer posted (table, annotation_id, uid, root_id, position_nm, fields, posted)."""
        if not self._posted_here:
            return pd.DataFrame(columns=["table", "annotation_id", "uid", "root_id", "position_nm", "fields", "posted"])
        return pd.concat(self._posted_here, ignore_index=True)

    def posted_log(self) -> pd.DataFrame:
        """Everything ever posted from drafts for this datastack on this machine (from disk)."""
        return pd.DataFrame(read_posted_log(self.client.datastack_name, self._draft_store.directory))

    # ---------------------------------------------------------------- viewer link

    def _toggle_draw(self, change) -> None:
        self.viewer.annotate(DRAFT_LAYER, "point" if change["new"] else None)

    def _viewer_annotation_changed(self, event: dict) -> None:
        if event.get("layer") != DRAFT_LAYER:
            return
        try:
            rows = {r["id"]: r for r in self.viewer.annotations(DRAFT_LAYER).to_dict("records")}
        except ValueError:
            rows = {}
        gone = [f"ng-{i}" for i in event.get("removed", [])]
        if gone:
            unposted = {d["uid"] for d in self._draft_store.drafts() if d.get("state") != "pending"}
            self._draft_store.remove([u for u in gone if u in unposted])
        new = []
        for ann_id in list(event.get("added", [])) + list(event.get("changed", [])):
            row = rows.get(ann_id)
            if row is None or row.get("point") is None:
                continue
            segments = [s for s in row.get("segments") or [] if s]
            draft = make_draft(row["point"], root_id=segments[0] if segments else None,
                               end_nm=row.get("point_b"), source="viewer", uid=f"ng-{ann_id}",
                               fields={"description": row["description"]} if row.get("description") else {})
            new.append(draft)
        if new:
            existing = {d["uid"] for d in self._draft_store.drafts()}
            self._draft_store.update([d for d in new if d["uid"] in existing])
            self._draft_store.add([d for d in new if d["uid"] not in existing])
        self._refresh_draft_count()

    def _move_posted_in_viewer(self, posted: pd.DataFrame) -> None:
        ng_ids = {u[3:] for u in posted["uid"] if str(u).startswith("ng-")}
        try:
            frame = pd.DataFrame({"pt_position": list(posted["position_nm"]),
                                  "description": [f"{t}#{i}" for t, i in zip(posted["table"], posted["annotation_id"])]})
            with self.viewer.batch():
                state = self.viewer.state
                for layer in state.get("layers", []):
                    if layer.get("name") == DRAFT_LAYER and layer.get("type") == "annotation":
                        layer["annotations"] = [a for a in layer.get("annotations", []) if a.get("id") not in ng_ids]
                self.viewer.state = state
                self.viewer.add_points(frame, segment=None, description="description", layer=POSTED_LAYER, color="#22c55e")
        except Exception:  # noqa: BLE001 - the post itself succeeded; the picture is secondary
            log.debug("could not move posted drafts in the viewer", exc_info=True)

    def _refresh_draft_count(self) -> None:
        try:
            drafts = self._draft_store.drafts() + [d for s in self._draft_store.table_stores() for d in s.drafts()]
        except RuntimeError as err:
            self._draft_count.value = f"<span style='color:#b91c1c'>{err}</span>"
            return
        pending = sum(d.get("state") == "pending" for d in drafts)
        text = f"{len(drafts)} draft(s) saved"
        if pending:
            text += f", {pending} pending: post again to finish"
        self._draft_count.value = text


def _record_posted(client):
    from ..reproducible.log import posted_recorder

    return posted_recorder(client)
