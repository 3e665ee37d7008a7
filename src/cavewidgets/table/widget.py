"""TableBrowser: browse, sort, filter and select a large DataFrame in the notebook."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Iterable

import anywidget
import numpy as np
import pandas as pd
import traitlets as t

from .._checks import check_height
from .._transport import RequestHandlerMixin
from .engine import TableEngine
from .keys import FrameKeys
from .layout import resolve_layout
from .values import RowBits

STATIC = Path(__file__).resolve().parent.parent / "static"


def _resolve_key(frame: pd.DataFrame, key: str | None) -> tuple[str | None, Any]:
    """The key column's name (None = row position) and its values, or a clear error."""
    names = [str(c) for c in frame.columns]
    if key is not None and not isinstance(key, str):
        raise TypeError(f"key must be the name of a column (a str), got {type(key).__name__} {repr(key)[:100]}")
    if key is not None:
        if key in names:
            values = frame.iloc[:, names.index(key)]
        elif frame.index.name is not None and str(frame.index.name) == key:
            values = frame.index.to_series()
        else:
            raise ValueError(f"key column {key!r} is not in the DataFrame; columns are: {', '.join(names) or '(none)'}")
        try:
            keys = FrameKeys(values)
            duplicated = keys.has_duplicates()
        except TypeError:  # lists, dicts...: cells that cannot be hashed cannot key rows
            raise ValueError(f"key column {key!r} holds values that cannot be keys (e.g. lists); pass another key") from None
        if duplicated:
            count, examples = keys.duplicated_examples()
            raise ValueError(f"key column {key!r} has {count} duplicate values (e.g. {', '.join(map(str, examples))}); "
                             f"pass a unique key")
        return key, keys
    if "id" in names and names.count("id") == 1:
        try:
            keys = FrameKeys(frame["id"])
            unique = not keys.has_duplicates()
        except TypeError:  # lists, dicts...: cells that cannot be hashed cannot key rows
            unique = False
        if unique:
            return "id", keys
        warnings.warn("column 'id' has duplicate or unhashable values; rows are keyed by the index instead", stacklevel=3)
    if frame.index.is_unique:
        name = str(frame.index.name) if frame.index.name is not None else "index"
        return name, frame.index
    warnings.warn("no unique key (no unique 'id' column, duplicate index): rows are keyed by position", stacklevel=3)
    return None, pd.RangeIndex(len(frame))


class TableBrowser(RequestHandlerMixin, anywidget.AnyWidget):
    """Browse a DataFrame: virtual scrolling, sort, filters, search and selection, computed in the kernel.

    Only the rows in view travel to the browser (Arrow IPC), so frames of millions of rows stay
    fast. Root ids (uint64) stay exact both ways.

    Args:
        df: the DataFrame to browse (kept by reference; the widget never copies it).
        key: the column whose values identify rows in ``selection`` (default: ``id`` when unique,
            else a unique index, else the row position).
        columns: show just these columns, in this order.
        hidden: hide these columns and show the rest as they come.
        height: pixels, at least 150 pixels (the same rule for every widget).

    Example::

        df = client.materialize.query_table("nucleus_detection_v0")
        browser = cavewidgets.TableBrowser(df)        # key: the 'id' column
        browser.filter(volume=(100, None))
        browser.sort_by("volume", ascending=False)
        browser                                       # shows the table
        browser.selected                              # the rows a user clicked, as a DataFrame

    Besides a DataFrame: a parquet / feather file, a directory or glob of them, a
    ``pyarrow.Table`` / ``pyarrow.dataset.Dataset`` or a DuckDB relation, read in place by DuckDB
    (never loaded whole); ``filtered_relation()`` / ``write_filtered(path)`` give big views.

    Example::

        browser = cavewidgets.TableBrowser("synapses/*.parquet", key="id")
        browser.filter(size=(500, None)).write_filtered("big_synapses.parquet")

    Columns: for CAVE tables root ids and cell types come first and bookkeeping (``created``,
    ``valid``, ``superceded_id``, ``deleted``, supervoxel ids) starts hidden; the "Columns" menu
    or ``browser.visible_columns`` shows it again. ``columns=[...]`` shows just those, in that
    order; ``hidden=[...]`` hides those and shows the rest as they come.

    Example::

        cavewidgets.TableBrowser(df, columns=["pt_root_id", "cell_type", "volume"])
        browser.visible_columns                       # what is shown, in order
        browser.visible_columns = [*browser.visible_columns, "created"]
    """

    _esm = STATIC / "table.js"
    _css = STATIC / "table.css"

    columns = t.List(t.Dict()).tag(sync=True)
    total_rows = t.Int(0).tag(sync=True)
    filtered_rows = t.Int(0).tag(sync=True)
    selected_count = t.Int(0).tag(sync=True)
    view_version = t.Int(0).tag(sync=True)
    sort = t.List().tag(sync=True)
    filters = t.Dict().tag(sync=True)
    search_text = t.Unicode("").tag(sync=True)
    #: names of the hidden columns (the front-end's "Columns" menu edits it); see ``visible_columns``
    hidden_columns = t.List(t.Unicode()).tag(sync=True)
    height = t.Int(420).tag(sync=True)
    error = t.Unicode("").tag(sync=True)
    key = t.Unicode(None, allow_none=True, read_only=True).tag(sync=True)

    #: key values of the selected rows (Python ints for integer keys: exact for uint64 ids)
    selection = t.List()

    def __init__(self, df, key: str | None = None, *, columns: list[str] | None = None,
                 hidden: list[str] | None = None, height: int = 420, **kwargs):
        height = check_height(height, "TableBrowser")
        if df is None:
            raise TypeError("TableBrowser needs a DataFrame (or a Parquet/CSV path, an Arrow table or dataset, "
                            "a DuckDB relation); got None")
        self._source = None if isinstance(df, pd.DataFrame) else df
        if self._source is not None:  # a file, dataset, Arrow table or DuckDB relation: read in place
            engine, df, key_name, key_values = _open_out_of_core(df, key)
        else:
            key_name, key_values = _resolve_key(df, key)
            engine = TableEngine(df, key_name)
        info = {c.name: c.as_dict() for c in engine.columns}
        order, hide = resolve_layout(df, list(info), columns, hidden)  # bad names raise before anything is built
        self._df = df
        self._keys = key_values
        self._engine = engine
        self._selected_rows: list[int] = []
        self._selected_mask = RowBits(len(df))  # one bit a row: a 10M-row table's selection is 1.25 MB
        self._updating_selection = False
        self._row_colors: np.ndarray | None = None
        super().__init__(height=height, **kwargs)
        self.set_trait("key", key_name)
        self.columns = [info[n] for n in order]
        self.hidden_columns = hide
        self.total_rows = len(df)
        self.filtered_rows = len(df)
        self._init_transport()

    # ---------- DataFrames out ----------
    @property
    def selected(self) -> pd.DataFrame:
        """The selected rows, with the original dtypes, in selection order."""
        return self._df.iloc[self._selected_rows]

    #: ``filtered`` of an out-of-core source refuses views longer than this (use ``filtered_relation``)
    max_filtered_rows = 1_000_000

    @property
    def filtered(self) -> pd.DataFrame:
        """The current view: filtered and sorted as shown. For an out-of-core source, a view of
        more than ``max_filtered_rows`` rows raises instead of loading it: use
        :meth:`filtered_relation` or :meth:`write_filtered`."""
        if self._source is not None and self._engine.view_rows > self.max_filtered_rows:
            raise MemoryError(
                f"the view has {self._engine.view_rows:,} rows, more than browser.filtered loads into memory "
                f"(max_filtered_rows = {self.max_filtered_rows:,}); use browser.filtered_relation() for a DuckDB "
                f"relation or browser.write_filtered('view.parquet'), or filter further")
        return self._df.iloc[np.asarray(self._engine.view)]

    def filtered_relation(self):
        """The current view (filtered and sorted as shown) as a DuckDB relation, evaluated lazily.

        Example::

            rel = browser.filtered_relation()
            rel.aggregate("post_pt_root_id, count(*) AS n").df()
        """
        if self._source is None:
            import duckdb

            con = duckdb.connect()
            return con.from_df(self.filtered)
        sql, params = self._engine.view_sql()
        return self._engine.con.sql(sql, params=params) if params else self._engine.con.sql(sql)

    def write_filtered(self, path) -> int:
        """Write the current view (filtered and sorted as shown) to a parquet file, streaming
        (never the whole view in memory); returns the number of rows written.

        Example::

            browser.write_filtered("strong_synapses.parquet")
        """
        if self._source is None:
            self.filtered.to_parquet(path)
        else:
            self.filtered_relation().write_parquet(str(path))
        return int(self._engine.view_rows)

    @property
    def data(self):
        """What is being browsed: the DataFrame, or the file / dataset / table / relation given."""
        return self._df if self._source is None else self._source

    @property
    def visible_columns(self) -> list[str]:
        """The columns shown, in display order (what the "Columns" menu has ticked). Assign a list
        to show just those, in that order; the others stay one click away in the menu.

        Example::

            browser.visible_columns                                   # ['pt_root_id', 'id', ...]
            browser.visible_columns = ["pt_root_id", "volume", "created"]
        """
        hidden = set(self.hidden_columns)
        return [c["name"] for c in self.columns if c["name"] not in hidden]

    @visible_columns.setter
    def visible_columns(self, names: list[str]) -> None:
        info = {c["name"]: c for c in self.columns}
        order, hide = resolve_layout(self._df, list(info), columns=names)
        with self.hold_trait_notifications():
            self.columns = [info[n] for n in order]
            self.hidden_columns = hide

    # ---------- programmatic control ----------
    def sort_by(self, column: str | list[str] | None, ascending: bool | list[bool] = True) -> TableBrowser:
        """Sort by one column (or several); ``None`` restores the original order.

        Example::

            browser.sort_by("size", ascending=False)
        """
        if column is None:
            self.sort = []
            return self
        cols = [column] if isinstance(column, str) else list(column)
        asc = [ascending] * len(cols) if isinstance(ascending, bool) else list(ascending)
        if len(asc) != len(cols):
            raise ValueError("give one ascending flag per sort column")
        for c in cols:
            self._engine._check_column(c)
        self.sort = [[c, bool(a)] for c, a in zip(cols, asc)]
        return self

    def filter(self, **conditions: Any) -> TableBrowser:
        """Add or replace per-column filters; ``column=None`` removes one.

        A list keeps rows whose value is in it, a ``(min, max)`` tuple is an inclusive range
        (either end may be None), ``{"contains": "text"}`` matches a substring, a scalar means
        equality.

        Example::

            browser.filter(cell_type=["23P", "4P"], size=(100, None))
        """
        new = dict(self.filters)
        for column, spec in conditions.items():
            norm = self._engine.normalise_filter(column, spec)
            if norm is None:
                new.pop(column, None)
            else:
                new[column] = norm
        self._engine.set_view(self.sort, new, self.search_text)  # raises on bad input before anything changes
        self.filters = new
        return self

    def clear_filters(self) -> TableBrowser:
        """Remove every column filter and the search text.

        Example::

            browser.clear_filters()
        """
        with self.hold_trait_notifications():
            self.filters = {}
            self.search_text = ""
        return self

    def search(self, text: str) -> TableBrowser:
        """Keep rows where any text column contains ``text`` (or an id column equals it).

        Example::

            browser.search("864691135808684573")
        """
        if not isinstance(text, str):
            raise TypeError("search text must be a string")
        self.search_text = text
        return self

    def select(self, keys: Any) -> TableBrowser:
        """Select rows by key value (one key or many); replaces the selection.

        Example::

            browser.select([864691135808684573, 864691135808684574])
        """
        rows = self._rows_for_keys(keys)
        self._set_selection(rows)
        return self

    def color_rows(self, column: str | None, colors: dict | None = None) -> TableBrowser:
        """Mark rows with a colour stripe by the value of ``column`` (``colors``: value -> CSS colour).

        Used by the Explorer so that one root id has one colour in every widget;
        ``color_rows(None)`` removes the stripes.

        Example::

            browser.color_rows("pt_root_id", {864691135808684573: "#e6194b"})
        """
        if colors is not None and not isinstance(colors, dict):
            raise TypeError(f"colors must be a dict of value -> CSS colour, got {type(colors).__name__}")
        if column is None or not colors:
            self._row_colors = None
        else:
            if column not in self._df.columns:
                raise KeyError(f"no column {column!r} in the table")
            if self._source is not None:  # colours are looked up per page, not per row of the source
                bad = [c for c in colors.values() if not isinstance(c, str) or not c or len(c) > 64]
                if bad:
                    raise ValueError(f"colours must be CSS colour strings, got {bad[0]!r}")
                self._row_colors = (column, dict(colors))
                self.view_version += 1
                return self
            values = self._df[column]
            lookup = {}
            for key, color in colors.items():
                if not isinstance(color, str) or not color or len(color) > 64:
                    raise ValueError(f"colour for {key!r} must be a CSS colour string, got {color!r}")
                lookup[key] = color
            try:
                wanted = pd.Index(list(lookup), dtype=values.dtype)
            except (OverflowError, ValueError, TypeError):
                wanted = pd.Index(list(lookup), dtype=object)
            out = np.full(len(values), None, dtype=object)
            hits = pd.Index(values).get_indexer_for(wanted) if pd.Index(values).is_unique else None
            if hits is not None:
                for pos, color in zip(hits, lookup.values()):
                    if pos >= 0:
                        out[pos] = color
            else:  # several rows per value (e.g. synapses of one neuron): vectorised isin per colour
                arr = values.to_numpy()
                for key, color in zip(wanted, lookup.values()):
                    out[arr == key] = color
            self._row_colors = out
        self.view_version += 1
        return self

    def scroll_to(self, position: int) -> TableBrowser:
        """Scroll the view so that row ``position`` of the current view is on top.

        Example::

            browser.scroll_to(900_000)
        """
        if isinstance(position, (bool, np.bool_)) or not isinstance(position, (int, np.integer)) or position < 0:
            raise ValueError(f"scroll_to position must be a row number (an int >= 0), got {repr(position)[:100]}")
        self.send({"kind": "cw:scroll_to", "position": int(position)})
        return self

    # ---------- internals ----------
    def _rows_for_keys(self, keys: Any) -> list[int]:
        if keys is None:
            return []
        if isinstance(keys, (str, bytes)) or np.isscalar(keys):
            keys = [keys]
        keys = list(keys)
        if not keys:
            return []
        try:
            wanted = pd.Index(keys, dtype=self._keys.dtype if _same_kind(keys, self._keys) else None)
        except (OverflowError, ValueError, TypeError):  # e.g. a negative number for uint64 ids
            wanted = pd.Index(keys, dtype=object)
        positions = self._keys.get_indexer(wanted)
        missing = [k for k, p in zip(keys, positions) if p < 0]
        if missing:
            shown = ", ".join(map(str, missing[:5])) + (" …" if len(missing) > 5 else "")
            raise KeyError(f"{len(missing)} key(s) not in the table (key column {self.key!r}): {shown}")
        return [int(p) for p in positions]

    def _set_selection(self, rows: list[int]) -> None:
        seen: set[int] = set()
        ordered = [r for r in rows if not (r in seen or seen.add(r))]
        self._selected_rows = ordered
        self._selected_mask = RowBits(len(self._df), ordered)
        self._updating_selection = True
        try:
            with self.hold_trait_notifications():
                self.selection = self._keys[ordered].tolist() if ordered else []
                self.selected_count = len(ordered)
                self.view_version += 1  # pages carry selection flags: the front-end refetches
        finally:
            self._updating_selection = False

    @t.observe("selection")
    def _selection_assigned(self, change) -> None:
        if not self._updating_selection:
            self._set_selection(self._rows_for_keys(change["new"]))

    @t.validate("sort")
    def _valid_sort(self, proposal) -> list:
        # the shape only (a bad column is reported in ``error``, like a sort from the browser)
        value = proposal["value"]
        if not all(isinstance(s, (list, tuple)) and len(s) == 2 and isinstance(s[0], str)
                   and isinstance(s[1], (bool, np.bool_)) for s in value):
            raise t.TraitError(f"sort must be a list of [column, ascending] pairs (a name and a bool), "
                               f"got {repr(value)[:200]}")
        return [[c, bool(a)] for c, a in value]

    @t.observe("sort", "filters", "search_text")
    def _view_changed(self, _change=None) -> None:
        try:
            rows = self._engine.set_view([tuple(s) for s in self.sort], self.filters, self.search_text)
        except ValueError as err:
            self.error = str(err)
            return
        self.error = ""
        with self.hold_trait_notifications():
            self.filtered_rows = rows
            self.view_version += 1

    def _rpc_page(self, start: int, count: int, view_version: int | None = None):
        data = self._engine.page(start, count, self._selected_mask, self._row_colors)
        return {"start": int(start), "view_version": self.view_version}, [data]

    def _rpc_view(self, start: int = 0, count: int = 100, sort=None, filters=None, search_text=None):
        # one round trip for a view change: apply it (traits and observers as usual), reply with the first page
        with self.hold_trait_notifications():
            if sort is not None:
                self.sort = [[str(c), bool(a)] for c, a in sort]
            if filters is not None:
                self.filters = dict(filters)
            if search_text is not None:
                self.search_text = str(search_text)
        return self._rpc_page(start, count)

    def _rpc_summary(self, column: str):
        return self._engine.summary(column)

    def _view_rows(self, start: int, stop: int) -> list[int]:
        """Frame rows at view positions [start, stop): a page's worth by selection while a sort
        is still running (a click right after a sort does not wait for its full order)."""
        if stop - start <= 5000:
            return [int(r) for r in self._engine._page_rows(start, stop - start)]
        return self._engine.view[start:stop].tolist()

    def _rpc_click(self, position: int, mode: str, anchor: int | None = None, view_version: int | None = None):
        if mode == "clear":
            self._set_selection([])
            return {"selected": 0}
        n_view = self._engine.view_rows
        if not 0 <= position < n_view:
            raise ValueError(f"row {position} is outside the view")
        row = self._view_rows(position, position + 1)[0]
        if mode == "replace":
            rows = [row]
        elif mode == "toggle":
            rows = [r for r in self._selected_rows if r != row] if self._selected_mask[row] else [*self._selected_rows, row]
        elif mode in ("range", "add-range"):
            a = position if anchor is None else max(0, min(int(anchor), n_view - 1))
            lo, hi = sorted((a, position))
            span = self._view_rows(lo, hi + 1)
            rows = span if mode == "range" else [*self._selected_rows, *span]
        else:
            raise ValueError(f"unknown selection mode {mode!r}")
        self._set_selection(rows)
        return {"selected": len(self._selected_rows)}


def _open_out_of_core(obj, key: str | None):
    """Engine, frame stand-in, key name and keys for a file, dataset, Arrow table or relation."""
    from .outofcore import SourceEngine, SourceFrame, SourceKeys
    from .sources import open_source

    engine = SourceEngine(open_source(obj), key)
    if key is None:  # no guessing an 'id' key: checking it is unique would scan the whole source
        return engine, SourceFrame(engine), None, pd.RangeIndex(engine.n)
    if key not in engine.kinds or engine.kinds[key] == "position":
        raise ValueError(f"key column {key!r} is not in the table; columns are: {', '.join(engine.filterable())}")
    return engine, SourceFrame(engine), key, SourceKeys(engine, key)


def _same_kind(keys: Iterable[Any], index: pd.Index) -> bool:
    """Whether keys can be coerced to the index dtype without loss (ints onto uint64 ids)."""
    if index.dtype.kind in "iu":
        return all(isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in keys)
    return False
