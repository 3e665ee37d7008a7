"""Explorer: a TableBrowser, a Viewer and a MorphologyPanel linked by one selection.

Example::

    client = cavewidgets.sample.client()
    ex = cavewidgets.Explorer(client, "nucleus_detection_v0")
    ex                                   # table | viewer, 3D panel below
    ex.select([864691135808684573])      # drives all three
    ex.selection                         # DataFrame: root_id, color, and the selected rows
"""

from __future__ import annotations

import html
import logging
import os
from typing import Any, Callable, Iterable

import ipywidgets as widgets
import numpy as np
import pandas as pd
import traitlets as t

from .._ids import parse_root_ids
from .._checks import MIN_HEIGHT, check_callback, check_client, check_height
from .._loader import LatestLoader
from ..paging import query_whole
from .colors import ColorBook
from .columns import position_column, positions_nm, root_columns, root_ids_of
from .draft_layer import DraftsMixin

log = logging.getLogger(__name__)


def _record(client, **kwargs) -> None:
    """Provenance hook (cavewidgets.reproducible); never lets logging break the widget."""
    try:
        from ..reproducible import record_query
    except ImportError:
        return
    try:
        record_query(client, source="explorer", **kwargs)
    except Exception:  # noqa: BLE001
        log.debug("provenance record failed", exc_info=True)


def _with_progress(table: str, when: str, load: Callable[[Callable[[int, int | None], None]], pd.DataFrame]) -> pd.DataFrame:
    """Run ``load(progress)`` while a bar shows the rows loaded of the expected total (a table
    above the service's row cap arrives in several replies, see :func:`cavewidgets.paging.query_whole`)."""
    import threading

    from tqdm.auto import tqdm

    result: dict[str, Any] = {}
    seen: dict[str, Any] = {"loaded": 0, "total": None}

    def progress(loaded: int, total: int | None) -> None:
        seen["loaded"], seen["total"] = loaded, total

    def work():
        try:
            result["df"] = load(progress)
        except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
            result["error"] = err

    worker = threading.Thread(target=work, daemon=True)
    with tqdm(total=None, desc=f"{table} ({when})", unit=" rows", leave=False) as bar:
        worker.start()
        while worker.is_alive():
            worker.join(0.25)
            if seen["total"] is not None and bar.total != seen["total"]:
                bar.total = seen["total"]
                bar.set_description(f"{table} ({when}, {seen['total']:,} rows)")
            bar.update(seen["loaded"] - bar.n)
        if "df" in result:
            bar.update(len(result["df"]) - bar.n)
    if "error" in result:
        raise result["error"]
    return result["df"]


class Explorer(DraftsMixin, widgets.VBox):
    """Table, viewer and 3D panel as one: a selection made anywhere round-trips into a DataFrame.

    ``table``: an annotation table name (queried at the pinned version/timestamp, positions in
    nm) or a DataFrame (e.g. a ``synapse_query`` result). ``root_column`` picks the root-id
    column that drives the selection when there are several (a dropdown offers them too).

    Args:
        client: a ``caveclient.CAVEclient`` (``cavewidgets.sample.client()`` for the offline sample).
        table: an annotation table name, or a DataFrame.
        version: the materialization version to pin (default: the client's, else the latest).
        timestamp: query live at this moment instead of a version.
        root_column: the root-id column that drives the selection.
        height: pixels, at least 150 pixels (the same rule for every widget).
        drafts_dir: where drafts are saved (default: the user data directory).

    Example::

        ex = cavewidgets.Explorer(client, "nucleus_detection_v0", version=1)
        ex.select([864691135808684573])
        ex.on_selection(lambda sel: print(sel["root_id"].tolist()))
        ex.add_draft([120_000, 90_000, 20_000], tag="check")
        ex.post_drafts("my_tags", create=True, schema="bound_tag")
    """

    #: selected root ids (exact Python ints, first = the one in the 3D panel)
    selected_root_ids = t.List()

    def __init__(self, client, table: str | pd.DataFrame | None = None, version: int | None = None,
                 timestamp=None, *, root_column: str | None = None, height: int = 560,
                 drafts_dir=None, **kwargs):
        from .._libraries import quiet_libraries
        from ..morphology import MorphologyPanel
        from ..table import TableBrowser
        from ..viewer import Viewer

        quiet_libraries()
        client = check_client(client, "Explorer", needs=("materialize",))
        height = check_height(height, "Explorer")
        self.client = client
        self.version, self.timestamp = self._pin(version, timestamp)
        self.table_name = table if isinstance(table, str) else None  # (a path is shown as its name too)
        self.colors = ColorBook()
        self._callbacks: list[Callable[[pd.DataFrame], Any]] = []
        self._syncing = False
        self._outdated: list[int] = []
        frame = self._load(table)
        if isinstance(frame, pd.DataFrame):
            table_widget = None
            columns_of = frame
        else:  # a file, dataset, Arrow table or DuckDB relation: read in place, rows keyed by number
            table_widget = TableBrowser(frame, height=height)
            columns_of = table_widget._df
        self._roots = root_columns(columns_of)
        if root_column is not None and root_column not in columns_of.columns:
            if table_widget is not None:
                table_widget.close()
            raise KeyError(f"no column {root_column!r}; root-id columns: {', '.join(self._roots) or 'none'}")
        self.root_column = root_column or (self._roots[0] if self._roots else None)

        self.header = widgets.HTML()
        self.table = table_widget or TableBrowser(
            frame, key="id" if "id" in frame.columns and frame["id"].is_unique else None, height=height)
        self._lead_with_root_column()
        self.viewer = Viewer(client, height=height)
        self.panel = MorphologyPanel(client, height=max(MIN_HEIGHT, height - 60), timestamp=self.timestamp)
        self.panel.empty_text = "Click a row (or double-click a neuron in the viewer) to see it here in 3D."
        self._column_picker = widgets.Dropdown(options=self._roots, value=self.root_column,
                                               description="root ids:", layout=widgets.Layout(width="300px"),
                                               disabled=len(self._roots) < 2)
        self._column_picker.observe(self._root_column_changed, names="value")
        self._init_drafts(drafts_dir)
        self._loader = LatestLoader(self._show_in_panel)

        # boxes carry the flex layout: Viewer.layout is neuroglancer's panel layout, not ipywidgets'
        def box(part, flex, **layout):
            return widgets.Box([part], layout=widgets.Layout(flex=flex, min_width="320px", overflow="hidden", **layout))

        # the table shrinks to its box and scrolls inside it (wider, it was cut off with its
        # Columns button); the viewer keeps its height instead of stretching black to the table's
        self.table.layout.width = "100%"
        self.table.layout.min_width = "0"
        self.panel.layout.width = "100%"  # empty, it shrank to half its box
        top = widgets.HBox([box(self.table, "1 1 45%"), box(self.viewer, "1 1 55%", align_items="flex-start")],
                           layout=widgets.Layout(width="100%"))
        bottom = widgets.HBox([box(self.panel, "1 1 75%"), self._drafts_box], layout=widgets.Layout(width="100%"))
        super().__init__([widgets.HBox([self.header, self._column_picker]), top, bottom], **kwargs)
        self.add_class("cavewidgets-explorer")

        self.table.observe(self._table_selected, names="selection")
        self.viewer.observe(self._viewer_segments, names="segments")
        self.panel.on_pick(self._panel_picked)
        from ..reproducible.papers import watch_active_export

        watch_active_export(self._update_header)  # the status line names the active analysis
        self._update_header()

    # ------------------------------------------------------------------ time and data

    def _pin(self, version, timestamp):
        mat = self.client.materialize
        if timestamp is not None:
            ts = pd.Timestamp(timestamp)
            ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
            return None, ts.to_pydatetime()
        if version is None:
            version = getattr(mat, "version", None) or mat.most_recent_version()
        version = int(version)
        if version not in mat.get_versions():
            raise ValueError(f"materialization version {version} is not available; available: {mat.get_versions()}")
        meta = mat.get_version_metadata(version)
        ts = pd.Timestamp(meta["time_stamp"])
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        return version, ts.to_pydatetime()

    def _load(self, table) -> pd.DataFrame:
        if table is None:
            return pd.DataFrame({"pt_root_id": pd.Series(dtype="uint64")})
        if isinstance(table, pd.DataFrame):
            return table
        if not isinstance(table, str) or table.lower().endswith((".parquet", ".feather", ".arrow", "*")) \
                or os.path.isdir(table):
            return table  # a parquet/feather path, dataset, Arrow table or relation; TableBrowser checks it
        mat = self.client.materialize
        available = mat.get_tables(version=self.version) if self.version is not None else mat.get_tables()
        if table not in available:
            raise ValueError(f"no table {table!r} in {self.client.datastack_name}"
                             f"{f' version {self.version}' if self.version else ''}")
        kw = dict(desired_resolution=[1, 1, 1], split_positions=False)
        # the whole table, through the service's row cap (never its first 200,000 rows only)
        if self.version is not None:
            df = _with_progress(table, f"version {self.version}",
                                lambda progress: query_whole(self.client, table, version=self.version,
                                                             progress=progress, **kw))
        else:
            df = _with_progress(table, "live",
                                lambda progress: query_whole(self.client, table, timestamp=self.timestamp,
                                                             progress=progress, **kw))
        if self.version is not None:
            _record(self.client, method="query_table", table=table, params=kw, result=df, version=self.version)
        else:
            _record(self.client, method="live_live_query", table=table, params=kw, result=df, timestamp=self.timestamp)
        return df

    # ------------------------------------------------------------------ selection model

    @property
    def selection(self) -> pd.DataFrame:
        """The selection: ``root_id`` (uint64), ``color``, ``is_latest`` and the selected table rows.

        One row per selected table row; root ids selected elsewhere (viewer) with no table row
        get a row of their own.
        """
        roots = list(self.selected_root_ids)
        rows = self.table.selected
        col = self.root_column
        out = []
        if col is not None and len(rows):
            sel = rows.copy()
            ids = [int(v) for v in sel[col]]
            sel.insert(0, "root_id", pd.array(ids, dtype="uint64"))
            out.append(sel)
            roots = [r for r in roots if r not in set(ids)]
        if roots:
            out.append(pd.DataFrame({"root_id": pd.array(roots, dtype="uint64")}))
        frame = pd.concat(out, ignore_index=True) if out else pd.DataFrame({"root_id": pd.array([], dtype="uint64")})
        frame.insert(1, "color", [self.colors.color(int(r)) for r in frame["root_id"]])
        frame.insert(2, "is_latest", [int(r) not in self._outdated for r in frame["root_id"]])
        return frame

    def on_selection(self, callback: Callable[[pd.DataFrame], Any], remove: bool = False) -> None:
        """Call ``callback(selection_dataframe)`` whenever the selection changes.

        Example::

            ex.on_selection(lambda sel: print(len(sel)))
        """
        check_callback(callback, "Explorer", "on_selection")
        if remove:
            self._callbacks = [c for c in self._callbacks if c is not callback]
        else:
            self._callbacks.append(callback)

    def select(self, root_ids: Iterable[int] | int) -> Explorer:
        """Select root ids from Python: table rows, viewer segments and the 3D panel follow.

        Example::

            ex.select([864691135808684573, 864691135808684574])
        """
        roots = list(dict.fromkeys(parse_root_ids(root_ids).tolist()))
        self.viewer._check_count(len(roots))  # refused before the table, colours or viewer change
        self._apply(roots, source="python")
        return self

    def _apply(self, roots: list[int], source: str, rows: pd.DataFrame | None = None, where=None) -> None:
        if self._syncing:
            return
        self._syncing = True
        try:
            colors = self.colors.colors_for(roots)
            if source != "table" and self.root_column is not None:
                self._select_rows_of(roots)
            if self.root_column is not None:
                self.table.color_rows(self.root_column, colors)
            target = where if where is not None else self._position_of(rows if rows is not None else self.table.selected)
            with self.viewer.batch():  # one redraw in the browser, not three
                if source != "viewer":
                    self.viewer.segments = set(roots)
                if roots:
                    self.viewer.add_segments(roots, colors=colors)
                if target is not None and source != "viewer":
                    self.viewer.go_to(target)
            self.selected_root_ids = roots
        finally:
            self._syncing = False
        if roots:
            self.panel.color = colors[roots[0]]
            if self.panel.root_id != roots[0]:
                self._loader.request(roots[0])
        self._check_latest(roots)
        self._update_header()
        sel = self.selection
        for cb in list(self._callbacks):
            try:
                cb(sel)
            except Exception:  # noqa: BLE001
                log.exception("on_selection callback failed")

    def _select_rows_of(self, roots: list[int]) -> None:
        df = self.table.data
        col = self.root_column
        if not roots or not self.table.total_rows:
            self.table.select([])
            return
        if not isinstance(df, pd.DataFrame):  # out of core: the rows are found in SQL
            self.table.select(self.table._engine.rows_where(col, roots))
            return
        values = df[col].to_numpy()
        try:
            mask = np.isin(values, np.array(roots, dtype=values.dtype))
        except (OverflowError, ValueError, TypeError):
            mask = np.isin(values.astype(object), np.array(roots, dtype=object))
        positions = np.flatnonzero(mask)
        keys = df[self.table.key].iloc[positions] if self.table.key else df.index[positions]
        self.table.select(list(keys))

    def _position_of(self, rows: pd.DataFrame) -> list[float] | None:
        if rows is None or not len(rows) or self.root_column is None:
            return None
        column = position_column(rows, self.root_column)
        if column is None:
            return None
        pos = positions_nm(rows.iloc[:1], column)[0]
        return None if not np.all(np.isfinite(pos)) else [float(v) for v in pos]

    def _show_in_panel(self, root_id: int) -> None:
        # a background load: its tqdm bar would land in whatever cell runs now; the panel shows progress
        self.panel.show(root_id, synapses=True, timestamp=self.timestamp, progress=False)
        try:
            from ..reproducible import record_fetch

            for kind in ("mesh", "skeleton"):
                record_fetch(self.client, kind=kind, root_id=root_id, timestamp=self.timestamp)
        except Exception:  # noqa: BLE001 - provenance must never break the panel
            log.debug("provenance record failed", exc_info=True)

    def wait_for_panel(self, timeout: float = 120.0) -> bool:
        """Block until the 3D panel has loaded the current selection (scripts and tests)."""
        return self._loader.wait_idle(timeout)

    # ------------------------------------------------------------------ events from the parts

    def _table_selected(self, change) -> None:
        if self._syncing or self.root_column is None:
            return
        rows = self.table.selected
        self._apply(root_ids_of(rows, self.root_column), source="table", rows=rows)

    def _viewer_segments(self, change) -> None:
        if self._syncing or not self.viewer._from_browser:  # noqa: SLF001 - only user changes
            return
        old = [r for r in self.selected_root_ids if r in change["new"]]
        added = sorted(set(change["new"]) - set(old))
        self._apply(added + old, source="viewer")

    def _panel_picked(self, pick: dict) -> None:
        if pick.get("kind") != "synapse":
            return
        syn_id = int(pick["synapse_id"])
        df = self.table.data
        if isinstance(df, pd.DataFrame) and "id" in df.columns and self.table.key == "id" and (df["id"] == syn_id).any():
            self._syncing = True
            try:
                self.table.select([syn_id])
            finally:
                self._syncing = False
        if pick.get("position_nm") is not None:
            self.viewer.go_to(pick["position_nm"])

    def _root_column_changed(self, change) -> None:
        self.root_column = change["new"]
        self._lead_with_root_column()
        self._table_selected(None)

    def _lead_with_root_column(self) -> None:
        """The column that drives the selection is the table's first (an index or an ``id`` of a
        frame that is not a CAVE table would otherwise come before it)."""
        shown = self.table.visible_columns
        if self.root_column is not None and self.root_column in shown and shown[0] != self.root_column:
            self.table.visible_columns = [self.root_column] + [c for c in shown if c != self.root_column]

    # ------------------------------------------------------------------ freshness

    def _check_latest(self, roots: list[int]) -> None:
        if not roots:
            self._outdated = []
            return
        try:
            latest = self.client.chunkedgraph.is_latest_roots(roots)
        except Exception:  # noqa: BLE001 - the header just cannot say
            log.debug("is_latest_roots failed", exc_info=True)
            return
        self._outdated = [r for r, ok in zip(roots, latest) if not ok]

    def suggest_latest(self, root_ids: Iterable[int] | None = None) -> dict[int, int]:
        """Outdated root ids (default: the selected ones that are) -> their most overlapping latest id.

        Example::

            ex.suggest_latest()          # {old_root: new_root, ...}
            ex.select(list(ex.suggest_latest().values()))
        """
        roots = self._outdated if root_ids is None else parse_root_ids(root_ids).tolist()
        return {int(r): int(self.client.chunkedgraph.suggest_latest_roots(int(r))) for r in roots}

    def _update_header(self) -> None:
        when = f"version {self.version}" if self.version is not None else "live"
        ts = self.timestamp.strftime("%Y-%m-%d %H:%M:%S UTC") if self.timestamp else ""
        parts = [f"<b>{html.escape(self.client.datastack_name)}</b>",
                 f"{when} · {ts}",
                 html.escape(self.table_name or "DataFrame"),
                 f"{len(self.selected_root_ids)} selected"]
        if self._outdated:
            shown = ", ".join(str(r) for r in self._outdated[:3]) + (" …" if len(self._outdated) > 3 else "")
            parts.append(f"<span style='color:#b45309'>⚠ {len(self._outdated)} root id(s) no longer latest "
                         f"({shown}); <code>explorer.suggest_latest()</code></span>")
        from ..reproducible.papers import active_export_html

        parts.append(active_export_html())
        self.header.value = "<div class='cw-explorer-header'>" + " · ".join(filter(None, parts)) + "</div>"

    # ------------------------------------------------------------------ reproducibility

    @property
    def provenance(self) -> pd.DataFrame:
        """The provenance log (every recorded query) as a DataFrame."""
        from ..reproducible import provenance

        return provenance()

    def export(self, path, **kwargs):
        """Write the export bundle (queries, viewer state, posted annotations) to ``path``.

        Example::

            ex.export("my_analysis")
        """
        from ..reproducible import export

        return export(path, viewer=self.viewer, **kwargs)

    def close(self) -> None:
        for name in ("table", "viewer", "panel"):  # a constructor that failed half-way has fewer
            part = getattr(self, name, None)
            if part is not None:
                part.close()
        super().close()
