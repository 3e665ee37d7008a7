"""ReviewQueue: step through neurons, record a status per neuron, post each decision once.

Example::

    queue = cavewidgets.ReviewQueue(client, proofread_root_ids, "review_2026_11")
    queue                        # viewer + 3D panel, status buttons (keys 1-4), notes, next/previous
    queue.decide("clean")        # or click / press 1; posts a point at the soma with the status
    queue.decisions              # DataFrame: root_id, status, notes, time, annotation_id
"""

from __future__ import annotations

import html
import logging
from typing import Sequence

import anywidget
import ipywidgets as widgets
import numpy as np
import pandas as pd
import requests
import traitlets as t

from .._ids import parse_root_ids
from .._checks import check_client, check_height
from .._loader import LatestLoader
from ..explorer.columns import position_column, positions_nm, root_columns
from ..posting import AnnotationPoster, DraftStore, PostError, make_draft, read_posted_log
from ..posting.poster import plain_fields
from .decisions import ReviewDecisions

log = logging.getLogger(__name__)

DEFAULT_STATUSES = ("clean", "needs work", "merge error", "split error")


class _Keys(anywidget.AnyWidget):
    """Keyboard shortcuts for the queue box: the queue's keys pressed inside it come to Python
    (keys typed in the viewer reach Python through ``Viewer.on_key`` instead: neuroglancer takes them)."""

    _esm = """
    const KEYS = new Set(["1","2","3","4","5","6","7","8","9","ArrowLeft","ArrowRight","j","k","n","p"]);
    export default { render({ model, el }) {
      el.style.display = "none";
      const onKey = (e) => {
        const tag = (e.target && e.target.tagName) || "";
        if (tag === "TEXTAREA" || tag === "INPUT" || tag === "SELECT" || e.target.isContentEditable) return;
        if (e.ctrlKey || e.metaKey || e.altKey || !KEYS.has(e.key)) return;
        model.send({ key: e.key });
        // stopped here: JupyterLab would take 1-6, j, k and arrows as notebook commands
        e.preventDefault(); e.stopPropagation();
      };
      // the view is rendered before it is in the page: find the queue's box once it is
      let root = null, frames = 0, stopped = false;
      const attach = () => {
        if (stopped) return;
        root = el.closest(".cavewidgets-review");
        if (!root) { if (frames++ < 1200) requestAnimationFrame(attach); return; }
        if (root.tabIndex < 0) root.tabIndex = 0;   // a click anywhere in the box focuses it
        root.addEventListener("keydown", onKey);
      };
      attach();
      return () => { stopped = true; if (root) root.removeEventListener("keydown", onKey); };
    } };
    """


class ReviewQueue(widgets.VBox):
    """Review neurons one at a time; every decision is saved locally, then posted exactly once.

    ``root_ids_or_df``: root ids, or a DataFrame with a root-id column (and a position column
    used as the point to post; else the soma from the datastack's soma table, else the neuron's
    first level-2 chunk). ``table`` is created with ``schema`` when missing. The status goes to
    the schema's first text field (``tag``); notes to a second one when the schema has it
    (``bound_double_tag``: ``tag2``), else they are kept in ``decisions`` only.

    Args:
        client: a ``caveclient.CAVEclient`` (``cavewidgets.sample.client()`` for the offline sample).
        root_ids_or_df: root ids, or a DataFrame with a root-id column (and optionally positions).
        table: the annotation table the decisions are posted to (created when missing).
        statuses: the decision buttons, in order (keys 1..9).
        schema: the schema of ``table`` when it is created.
        description: the description of ``table`` when it is created.
        directory: where decisions and drafts are saved (default: the user data directory).
        height: pixels, at least 150 pixels (the same rule for every widget).
        show: whether to show the viewer and the 3D panel beside the buttons.

    Example::

        queue = cavewidgets.ReviewQueue(client, [864691135808684573, 864691135808684574], "my_review")
        queue.decide("merge error", notes="axon from neighbour")
        queue.next(); queue.previous(); queue.jump(0)
    """

    #: index of the neuron shown
    position = t.Int(0)

    def __init__(self, client, root_ids_or_df, table: str, statuses: Sequence[str] = DEFAULT_STATUSES,
                 schema: str = "bound_tag", *, description: str | None = None, directory=None,
                 height: int = 480, show: bool = True, **kwargs):
        self.client = check_client(client, "ReviewQueue", needs=("annotation",))
        height = check_height(height, "ReviewQueue")
        self.table = table
        self.statuses = _check_statuses(statuses)
        self.root_ids, given_positions = _roots_and_positions(root_ids_or_df)
        from ..reproducible.log import posted_recorder

        # posted decisions go to the provenance log, tagged with the active analysis
        self._poster = AnnotationPoster(client, on_posted=posted_recorder(client))
        md = self._poster.ensure_table(table, create=True, schema=schema,
                                       description=description or "proofreading review decisions (cavewidgets)")
        md.setdefault("table_name", table)
        self._md = md
        text_fields = [k for k, v in plain_fields(client.schema.schema_definition(md["schema_type"])).items()
                       if "string" in np.atleast_1d(v.get("type", [])).tolist()]
        if not text_fields:
            raise ValueError(f"table '{table}' (schema {md['schema_type']}) has no text field for the status")
        self.status_field = text_fields[0]
        self.notes_field = text_fields[1] if len(text_fields) > 1 else None
        self._decisions = ReviewDecisions.open(client.datastack_name, table, self.root_ids, directory)
        self._drafts = DraftStore(client.datastack_name, directory=self._decisions.drafts_dir)
        self._positions = dict(zip(self.root_ids, given_positions)) if given_positions is not None else {}
        self._show_parts = show
        self._build_ui(height)
        super().__init__(self._children, **kwargs)
        self.add_class("cavewidgets-review")
        self.post_pending(quiet=True)
        self.position = self._decisions.first_undecided() if self.root_ids else 0
        self._show_current()
        from ..reproducible.papers import watch_active_export

        watch_active_export(self._refresh)  # the header names the active analysis

    # ------------------------------------------------------------------ public API

    @property
    def current(self) -> int | None:
        """The root id shown now (None when every neuron has been stepped past)."""
        return self.root_ids[self.position] if 0 <= self.position < len(self.root_ids) else None

    @property
    def decisions(self) -> pd.DataFrame:
        """One row per decided neuron: root_id (uint64), status, notes, time, annotation_id, posted."""
        rows = [{"root_id": r, **{k: d.get(k) for k in ("status", "notes", "time", "annotation_id")},
                 "posted": d.get("annotation_id") is not None}
                for r, d in ((r, self._decisions.decisions.get(r)) for r in self.root_ids) if d is not None]
        frame = pd.DataFrame(rows, columns=["root_id", "status", "notes", "time", "annotation_id", "posted"])
        frame["root_id"] = pd.array(list(frame["root_id"]), dtype="uint64")
        frame["annotation_id"] = pd.array(list(frame["annotation_id"]), dtype="Int64")
        return frame

    def decide(self, status: str, notes: str | None = None, advance: bool = True) -> None:
        """Record ``status`` (one of ``statuses``) for the current neuron, post it, move on.

        Example::

            queue.decide("clean")
        """
        if not isinstance(status, str) or status not in self.statuses:
            raise ValueError(f"status must be one of {list(self.statuses)}, got {repr(status)[:100]}")
        if notes is not None and not isinstance(notes, str):
            raise TypeError(f"notes must be text (a str) or None, got {type(notes).__name__}")
        if not isinstance(advance, (bool, np.bool_)):
            raise TypeError(f"advance must be True or False, got {type(advance).__name__} {repr(advance)[:80]}")
        root = self.current
        if root is None:
            raise IndexError("the queue is finished: no current neuron (use jump() to go back)")
        notes = self._notes.value if notes is None else str(notes)
        pos = self._position_nm(root)
        fields = {self.status_field: status}
        if self.notes_field:
            fields[self.notes_field] = notes
        draft = make_draft(pos, root_id=root, fields=fields, source="review")
        # validate before saving anything: a schema mismatch must not leave a half decision
        self._poster.rows_for([draft], self._md, {})
        self._decisions.decide(root, status, notes, draft["uid"])
        self._drafts.add([draft])
        self.post_pending()
        if advance:
            self.next()
        else:
            self._refresh()

    def post_pending(self, quiet: bool = False, wait: bool = False) -> int:
        """Post decisions saved locally but not yet confirmed (after a failure); returns how many
        are still waiting. Safe to call any time: nothing is posted twice. After a post the server
        did not answer, decisions it may still write wait until it no longer can (the message says
        until when); ``wait=True`` sleeps until then and posts.

        Example::

            queue.post_pending()          # 0: every decision is in the table
        """
        error = None
        try:
            if self._has_unposted():
                self._poster.post(self._drafts, self.table, wait=wait)
        except (PostError, requests.exceptions.RequestException) as err:
            error = err
        # from the posted log, not from this call's answer: a kernel that died after the server
        # confirmed a decision, or a batch confirmed before a later one failed, is settled too
        logged = read_posted_log(self.client.datastack_name, self._drafts.directory)
        self._decisions.settle({d["uid"]: int(d["annotation_id"]) for d in logged if d.get("table") == self.table})
        if error is not None:
            self._message(f"⚠ {error}", error=True)
            if not quiet:
                log.warning("%s", error)
            self._refresh()
            return self._waiting()
        self._delete_superseded()
        self._message("")
        self._refresh()
        return self._waiting()

    def next(self) -> None:
        """Show the next neuron."""
        self.jump(min(self.position + 1, len(self.root_ids)))

    def previous(self) -> None:
        """Show the previous neuron."""
        self.jump(max(self.position - 1, 0))

    def jump(self, index: int) -> None:
        """Show neuron number ``index`` (0-based) of the queue."""
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be a whole number (an int), got {type(index).__name__} {repr(index)[:80]}")
        index = int(index)
        if not 0 <= index <= len(self.root_ids):
            raise IndexError(f"index must be between 0 and {len(self.root_ids)}")
        self.position = index
        self._show_current()

    # ------------------------------------------------------------------ internals

    def _has_unposted(self) -> bool:
        return bool(self._drafts.drafts() or any(s.drafts() for s in self._drafts.table_stores()))

    def _waiting(self) -> int:
        return len(self._drafts.drafts()) + sum(len(s.drafts()) for s in self._drafts.table_stores())

    def _delete_superseded(self) -> None:
        if not self._decisions.to_delete:
            return
        try:
            self.client.annotation.delete_annotation(self.table, list(self._decisions.to_delete))
        except requests.exceptions.HTTPError as err:
            if getattr(err.response, "status_code", None) != 404:  # 404: already gone (a retried delete)
                self._message(f"⚠ could not remove superseded decisions: {err}", error=True)
                return
        except Exception as err:  # noqa: BLE001
            self._message(f"⚠ could not remove superseded decisions: {err}", error=True)
            return
        self._decisions.to_delete = []
        self._decisions.save()

    def _position_nm(self, root: int) -> list[float]:
        if root not in self._positions:
            self._positions.update(_soma_positions(self.client, [r for r in self.root_ids if r not in self._positions]))
        if root not in self._positions:
            self._positions[root] = _l2_position(self.client, root)
        return [float(v) for v in self._positions[root]]

    def _build_ui(self, height: int) -> None:
        self._header = widgets.HTML()
        self._msg = widgets.HTML()
        nav = [widgets.Button(description="◀ Previous", tooltip="previous (←)"),
               widgets.Button(description="Next ▶", tooltip="next (→)")]
        nav[0].on_click(lambda _b: self.previous())
        nav[1].on_click(lambda _b: self.next())
        self._jump = widgets.BoundedIntText(value=1, min=1, max=max(1, len(self.root_ids)), description="go to",
                                            layout=widgets.Layout(width="140px"))
        go = widgets.Button(description="Go", layout=widgets.Layout(width="50px"))
        go.on_click(lambda _b: self.jump(self._jump.value - 1))
        self._status_buttons = []
        for i, status in enumerate(self.statuses):
            b = widgets.Button(description=f"{i + 1} · {status}", tooltip=f"key {i + 1}")
            b.on_click(lambda _b, s=status: self.decide(s))
            self._status_buttons.append(b)
        self._notes = widgets.Textarea(placeholder="notes" + ("" if self.notes_field else " (kept locally: the schema has no notes field)"),
                                       layout=widgets.Layout(width="100%", height="48px"))
        self._keys = _Keys()
        self._keys.on_msg(self._on_key)
        parts = []
        if self._show_parts:
            from ..morphology import MorphologyPanel
            from ..viewer import Viewer

            self.viewer = Viewer(self.client, height=height)
            # inside neuroglancer the same keys: digits for a status, j / k to move
            # (neuroglancer's arrows pan, so they stay neuroglancer's)
            for i in range(len(self.statuses)):
                self.viewer.on_key(f"digit{i + 1}", lambda _k, n=i + 1: self._handle_key(str(n)))
            self.viewer.on_key("keyj", lambda _k: self._handle_key("j"))
            self.viewer.on_key("keyk", lambda _k: self._handle_key("k"))
            self.panel = MorphologyPanel(self.client, height=height)
            self.panel.empty_text = "Queue finished: every neuron was shown (◀ Previous or go to revisits one)."
            # root 0 (no segment) clears the panel, in order with the loads before it
            self._loader = LatestLoader(lambda root: self.panel.show(root, synapses=False, progress=False)
                                        if root else self.panel.clear())
            parts = [widgets.HBox([widgets.Box([self.viewer], layout=widgets.Layout(flex="1 1 55%")),
                                   widgets.Box([self.panel], layout=widgets.Layout(flex="1 1 45%"))])]
        else:
            self.viewer = self.panel = None
        hint = widgets.HTML(f"<small>keys: 1–{len(self.statuses)} status · → or j next · ← or k previous"
                            + (" (inside the viewer too, with j and k)" if self._show_parts else "") + "</small>")
        self._children = [self._header, widgets.HBox(nav + [self._jump, go]), widgets.HBox(self._status_buttons),
                          self._notes, hint, self._msg, self._keys, *parts]

    def _on_key(self, _widget, content, _buffers) -> None:
        self._handle_key(str((content or {}).get("key", "")))

    def _handle_key(self, key: str) -> None:
        """A key from the queue's box or from inside the viewer (``1``-``9``, arrows, j/k/n/p)."""
        try:
            if key.isdigit() and 1 <= int(key) <= len(self.statuses):
                self.decide(self.statuses[int(key) - 1])
            elif key in ("ArrowRight", "j", "n"):
                self.next()
            elif key in ("ArrowLeft", "k", "p"):
                self.previous()
        except Exception as err:  # noqa: BLE001 - a key press has no cell to show a traceback in
            self._message(f"⚠ {err}", error=True)

    def _show_current(self) -> None:
        root = self.current
        decided = self._decisions.decisions.get(root) if root is not None else None
        self._notes.value = (decided or {}).get("notes") or ""
        if root is not None and self.viewer is not None:
            with self.viewer.batch():  # one redraw in the browser
                self.viewer.segments = {root}
                try:
                    self.viewer.go_to(self._position_nm(root))
                except Exception:  # noqa: BLE001 - no position: the viewer stays where it is
                    log.debug("no position for %s", root, exc_info=True)
            self._loader.request(root)
        elif self.viewer is not None:  # finished: the last neuron shown would look like one still to review
            self.viewer.segments = set()
            self._loader.request(0)
        self._refresh()

    def wait_for_panel(self, timeout: float = 120.0) -> bool:
        """Block until the 3D panel shows the current neuron (scripts and tests)."""
        return self._loader.wait_idle(timeout) if self.panel is not None else True

    def _refresh(self) -> None:
        n = len(self.root_ids)
        done = len(self._decisions.decisions)
        counts = pd.Series([d["status"] for d in self._decisions.decisions.values()], dtype=object).value_counts()
        root = self.current
        waiting = self._waiting()
        lines = [f"<b>{done} of {n} reviewed</b> · " + " · ".join(
            f"{html.escape(s)}: {int(counts.get(s, 0))}" for s in self.statuses)]
        if root is None:
            lines.append("queue finished: every neuron was shown")
        else:
            d = self._decisions.decisions.get(root)
            mark = f" — decided <b>{html.escape(d['status'])}</b>" if d else ""
            lines.append(f"neuron {self.position + 1} of {n}: <code>{root}</code>{mark}")
        from ..reproducible.papers import active_export_html

        if active_export_html():
            lines.append(active_export_html())
        if waiting:
            lines.append(f"<span style='color:#b45309'>{waiting} decision(s) saved locally, not yet posted "
                         f"(<code>queue.post_pending()</code>)</span>")
        self._header.value = "<br>".join(lines)
        for b, s in zip(self._status_buttons, self.statuses):
            d = self._decisions.decisions.get(root) if root is not None else None
            b.button_style = "info" if d and d["status"] == s else ""

    def _message(self, text: str, error: bool = False) -> None:
        color = "#b91c1c" if error else "inherit"
        self._msg.value = f"<span style='color:{color}'>{html.escape(text)}</span>" if text else ""

    def close(self) -> None:
        for part in (getattr(self, "viewer", None), getattr(self, "panel", None), getattr(self, "_keys", None)):
            if part is not None:
                part.close()
        super().close()


def _check_statuses(statuses) -> tuple[str, ...]:
    out = tuple(str(s) for s in statuses)
    if not out or len(set(out)) != len(out) or any(not s.strip() for s in out):
        raise ValueError(f"statuses must be distinct non-empty strings, got {list(statuses)!r}")
    if len(out) > 9:
        raise ValueError("at most 9 statuses (keys 1-9)")
    return out


def _roots_and_positions(source) -> tuple[list[int], np.ndarray | None]:
    positions = None
    if isinstance(source, pd.DataFrame):
        cols = root_columns(source)
        if not cols:
            raise ValueError(f"the DataFrame has no root-id column; columns: {', '.join(map(str, source.columns))}")
        values = parse_root_ids(source[cols[0]], what=f"{cols[0]} values")
        pcol = position_column(source, cols[0])
        if pcol is not None:
            positions = positions_nm(source, pcol)
    else:
        values = parse_root_ids(source)
    roots = values.tolist()
    if not roots:
        raise ValueError("the review queue needs at least one root id")
    keep = list(dict.fromkeys(roots))
    if positions is not None:
        first = {}
        for r, p in zip(roots, positions):
            first.setdefault(r, p)
        positions = np.array([first[r] for r in keep])
    return keep, positions


def _soma_positions(client, roots: list[int]) -> dict[int, np.ndarray]:
    soma = client.info.get_datastack_info().get("soma_table")
    if not soma or not roots:
        return {}
    try:
        df = client.materialize.query_table(soma, filter_in_dict={"pt_root_id": roots}, desired_resolution=[1, 1, 1])
    except Exception:  # noqa: BLE001 - fall back to the L2 position
        log.debug("soma query failed", exc_info=True)
        return {}
    pos = positions_nm(df, "pt_position") if len(df) else np.zeros((0, 3))
    return {int(r): p for r, p in zip(df["pt_root_id"], pos)}


def _l2_position(client, root: int) -> np.ndarray:
    l2 = client.chunkedgraph.get_leaves(root, stop_layer=2)
    if len(l2) == 0:
        raise ValueError(f"root id {root} has no level-2 chunks (unknown or outdated root id?)")
    data = client.l2cache.get_l2data([int(l2[0])], attributes=["rep_coord_nm"])
    return np.asarray(data[str(int(l2[0]))]["rep_coord_nm"], dtype=float)
