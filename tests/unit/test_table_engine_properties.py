"""The TableBrowser's engine (DuckDB over Arrow) against a plain pandas/Python oracle, on
generated frames: uint64 ids above 2**53, int and nullable Int64, floats with NaN/inf/-0.0,
bools with NA, unicode text with None, pandas strings, categoricals in a custom order,
tz-aware datetimes with NaT, 3-vector positions, duplicate column and index labels, empty
frames; times generated sorts (several columns, either direction), filters (lists, ranges,
substrings), search text, clicks and key selections, and pages.

Every example checks the view's rows and order, the row count, each page's rows, values and
Arrow types, the selection flags and the selected rows' dtypes. The oracle is written from the
documented behaviour, not from the engine: nulls sort last in both directions, ties keep the
frame's order, categoricals sort in category order (as pandas does), text search is a
case-insensitive substring match and an integer typed in the search box finds equal ids.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given
from hypothesis import strategies as st

from cavewidgets import TableBrowser
from cavewidgets.table import order
from cavewidgets.table.engine import TOP_N
from hyp import examples

BIG = 864691135808684573
KINDS = ["uint64", "int64", "Int64", "float", "bool", "boolean", "text", "string", "category", "datetime", "position"]
LABELS = ["a", "b", "pt_root_id", "size", "id", "é 列", 'we"ird', "index"]
TZS = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"]

_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=6)
_scalars = {
    "uint64": st.one_of(st.sampled_from([0, 1, 2**53, 2**53 + 1, BIG, BIG + 1, 2**63, 2**64 - 1]),
                        st.integers(0, 2**64 - 1)),
    "int64": st.one_of(st.sampled_from([-(2**63), -1, 0, 1, 2**53 + 1, 2**63 - 1]), st.integers(-(2**63), 2**63 - 1)),
    "Int64": st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.sampled_from([0, 2**53 + 1])),
    "float": st.one_of(st.floats(), st.sampled_from([0.0, -0.0, np.nan, np.inf, -np.inf, 2.0**53 + 2])),
    "bool": st.booleans(),
    "boolean": st.one_of(st.none(), st.booleans()),
    "text": st.one_of(st.none(), _text, st.sampled_from(["Spine", "shaft", "İstanbul", "STRASSE", "ß", "ǅ", "ﬀ"])),
    "string": st.one_of(st.none(), _text),
    "category": st.one_of(st.none(), st.sampled_from(["23P", "4P", "BC", "bc", "Ω"])),
    # microseconds: the page's Python datetimes hold no nanoseconds
    "datetime": st.one_of(st.none(), st.integers(-(2**40), 2**51)),
    "position": st.one_of(st.none(), st.lists(st.integers(-5, 5), min_size=3, max_size=3).map(tuple)),
}


@st.composite
def columns(draw, n: int):
    """(kind, pandas values, oracle values with None for missing, sort keys, extra)."""
    kind = draw(st.sampled_from(KINDS))
    pool = draw(st.lists(_scalars[kind], min_size=1, max_size=5))
    raw = draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
    extra = None
    if kind == "uint64":
        values = np.array(raw, dtype=np.uint64)
    elif kind == "int64":
        values = np.array(raw, dtype=np.int64)
    elif kind == "Int64":
        values = pd.array(raw, dtype="Int64")
    elif kind == "float":
        values = np.array(raw, dtype=np.float64)
        raw = [None if v != v else float(v) for v in raw]
    elif kind == "bool":
        values = np.array(raw, dtype=bool)
    elif kind == "boolean":
        values = pd.array(raw, dtype="boolean")
    elif kind == "text":
        values = np.array(raw, dtype=object)
    elif kind == "string":
        values = pd.array(raw, dtype="string")
    elif kind == "category":
        cats = draw(st.permutations(["23P", "4P", "BC", "bc", "Ω"]))
        values = pd.Categorical(raw, categories=cats, ordered=draw(st.booleans()))
        extra = {c: i for i, c in enumerate(cats)}
    elif kind == "datetime":
        tz = draw(st.sampled_from(TZS))
        values = pd.DatetimeIndex([pd.NaT if v is None else pd.Timestamp(v, unit="us") for v in raw]).tz_localize("UTC").tz_convert(tz)
        values = pd.array(values)
        raw = [None if v is None else pd.Timestamp(v, unit="us", tz="UTC") for v in raw]
    else:  # position: 3-vectors in an object column
        values = np.empty(n, dtype=object)
        for i, v in enumerate(raw):
            values[i] = None if v is None else list(v)
    if kind == "position" and all(v is None for v in raw):
        kind = "text"  # an object column without a value is shown as (empty) text
    sort_keys = raw if kind != "category" else [None if v is None else extra[v] for v in raw]
    if kind == "datetime":
        sort_keys = [None if v is None else v.value for v in raw]
    return kind, values, raw, sort_keys


@st.composite
def frames(draw):
    n = draw(st.integers(0, 30))
    ncols = draw(st.integers(0, 5))
    cols = [draw(columns(n)) for _ in range(ncols)]
    labels = [draw(st.sampled_from(LABELS)) for _ in range(ncols)]  # duplicates happen
    df = pd.DataFrame({i: c[1] for i, c in enumerate(cols)}, index=pd.RangeIndex(n))
    df.columns = labels
    index_kind = draw(st.sampled_from(["range", "range", "offset", "dup-int", "text"]))
    index = None
    if index_kind == "offset":
        index = ("int", list(range(5, 5 + n)))
    elif index_kind == "dup-int":
        index = ("int", draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    elif index_kind == "text":
        index = ("text", draw(st.lists(_text, min_size=n, max_size=n)))
    name = None
    if index is not None:
        name = draw(st.sampled_from([None, "idx", "a"]))
        df.index = pd.Index(index[1], dtype=np.int64 if index[0] == "int" else object, name=name)
    # the displayed columns, as the engine documents them: the index first unless it is the
    # default range (or a column has its name), then each column, duplicates suffixed " (2)"
    shown = []
    seen = set()
    if index is not None:
        iname = name if name is not None else "index"
        if iname not in labels:
            shown.append((iname, index[0], index[1], index[1]))
            seen.add(iname)
    for label, (kind, _, raw, keys) in zip(labels, cols):
        display, k = label, 2
        while display in seen:
            display, k = f"{label} ({k})", k + 1
        seen.add(display)
        shown.append((display, kind, raw, keys))
    return df, shown


TEXT_KINDS = {"text", "string", "category"}
INT_KINDS = {"uint64", "int64", "Int64", "int"}
RANGE_KINDS = INT_KINDS | {"float", "datetime"}


@st.composite
def filter_specs(draw, shown):
    out = {}
    for display, kind, raw, _ in shown:
        if kind == "position" or not draw(st.booleans()) or not draw(st.booleans()):
            continue
        present = [v for v in raw if v is not None] or [None]
        shape = draw(st.sampled_from(["in", "range", "contains"] if kind in TEXT_KINDS else ["in", "range"]))
        if shape == "range" and kind in RANGE_KINDS:
            lo = draw(st.one_of(st.none(), st.sampled_from(present)))
            hi = draw(st.one_of(st.none(), st.sampled_from(present)))
            if lo is None and hi is None:
                continue
            out[display] = ("range", lo, hi)
        elif shape == "contains":
            word = draw(st.sampled_from([v for v in present if v is not None] or [""]))
            a = draw(st.integers(0, len(word)))
            b = draw(st.integers(a, len(word)))
            piece = word[a:b]
            piece = draw(st.sampled_from([piece, piece.upper(), piece.lower()]))
            if piece:
                out[display] = ("contains", piece)
        else:
            values = draw(st.lists(st.sampled_from(present + [None]), min_size=1, max_size=3))
            if kind == "bool" and None in values:
                values = [v for v in values if v is not None] or [True]
            out[display] = ("in", values)
    return out


def _spec_for_api(kind, spec):
    """The filter as a user passes it to ``TableBrowser.filter``."""
    if spec[0] == "range":
        return (spec[1], spec[2])
    if spec[0] == "contains":
        return {"contains": spec[1]}
    return list(spec[1])


def _filter_mask(kind, raw, spec) -> list[bool]:
    if spec[0] == "range":
        lo, hi = spec[1], spec[2]
        return [v is not None and (lo is None or v >= lo) and (hi is None or v <= hi) for v in raw]
    if spec[0] == "contains":
        needle = lower(spec[1])
        return [v is not None and needle in lower(v) for v in raw]
    wanted = spec[1]
    present = [w for w in wanted if w is not None]
    return [(v is None and None in wanted) or (v is not None and any(v == w for w in present)) for v in raw]


def lower(text: str) -> str:
    """Case folding as documented for search: Unicode's simple lowercase mapping (Arrow's
    ``utf8_lower``; Python's ``str.lower`` applies the full mapping, "İ" -> "i" + a dot)."""
    return pc.utf8_lower(pa.scalar(text, pa.string())).as_py()


def _search_mask(shown, n, text) -> list[bool] | None:
    needle = lower(text.strip())
    if not needle:
        return None
    number = int(needle) if re.fullmatch(r"-?[0-9]+", needle) and len(needle) < 21 else None
    mask = [False] * n
    for _, kind, raw, _ in shown:
        for i, v in enumerate(raw):
            if v is None:
                continue
            if kind in TEXT_KINDS and needle in lower(v):
                mask[i] = True
            elif kind in INT_KINDS and number is not None and v == number:
                mask[i] = True
    return mask


def oracle_view(shown, n, sort, filters, search) -> list[int]:
    by_name = {s[0]: s for s in shown}
    keep = [True] * n
    for display, spec in filters.items():
        _, kind, raw, _ = by_name[display]
        keep = [a and b for a, b in zip(keep, _filter_mask(kind, raw, spec))]
    found = _search_mask(shown, n, search)
    if found is not None:
        keep = [a and b for a, b in zip(keep, found)]
    order = [i for i in range(n) if keep[i]]
    for display, ascending in reversed(sort):  # stable sorts, last key first: ties keep row order
        keys = by_name[display][3]
        present = [i for i in order if keys[i] is not None]
        missing = [i for i in order if keys[i] is None]
        present.sort(key=lambda i: keys[i], reverse=not ascending)
        order = present + missing  # nulls last in both directions
    return order


def _page_value(kind, v):
    if v is None:
        return None
    if kind == "position":
        return [float(x) for x in v]
    if kind == "datetime":
        return pd.Timestamp(v).value
    return v


def _arrow_value(kind, v):
    if v is None:
        return None
    if kind == "position":
        return [float(x) for x in v]
    if kind == "datetime":
        return pd.Timestamp(v).value
    if kind == "float" and v != v:
        return None
    return v


ARROW_TYPES = {
    "uint64": pa.types.is_uint64, "int64": pa.types.is_int64, "Int64": pa.types.is_int64, "int": pa.types.is_int64,
    "float": pa.types.is_float64, "bool": pa.types.is_boolean, "boolean": pa.types.is_boolean,
    "text": pa.types.is_string, "string": pa.types.is_string, "category": pa.types.is_dictionary,
    "datetime": pa.types.is_timestamp, "position": pa.types.is_fixed_size_list,
}


def check_page(browser, shown, view, start, count, selected_rows):
    page = pa.ipc.open_stream(browser._engine.page(start, count, browser._selected_mask)).read_all()
    rows = view[start:start + count]
    assert page.column("__row").to_pylist() == rows
    assert page.column("__sel").to_pylist() == [r in selected_rows for r in rows]
    for display, kind, raw, _ in shown:
        col = page.column(display)
        assert ARROW_TYPES[kind](col.type), (display, kind, col.type)
        got = [_arrow_value(kind, v) for v in col.to_pylist()]
        assert got == [_page_value(kind, raw[r]) for r in rows], display


def _keys_of(df: pd.DataFrame):
    labels = [str(c) for c in df.columns]
    if labels.count("id") == 1:
        try:
            if not pd.Index(df["id"]).has_duplicates:
                return pd.Index(df["id"])
        except TypeError:  # lists cannot key rows
            pass
    if df.index.is_unique:
        return df.index
    return pd.RangeIndex(len(df))


def _same_key(x, y) -> bool:
    """Equal keys, a missing key (NaN, NA, None) being equal to another missing one."""
    def missing(v):
        return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, (float, np.floating)) and v != v)
    return (missing(x) and missing(y)) or (not missing(x) and not missing(y) and x == y)


@st.composite
def cases(draw):
    df, shown = draw(frames())
    names = [s[0] for s in shown]
    sort_cols = draw(st.lists(st.sampled_from(names), max_size=3, unique=True)) if names else []
    sort = [(c, draw(st.booleans())) for c in sort_cols]
    filters = draw(filter_specs(shown))
    words = [v for _, k, raw, _ in shown if k in TEXT_KINDS for v in raw if v] + \
            [str(v) for _, k, raw, _ in shown if k in INT_KINDS for v in raw if v is not None]
    search = draw(st.one_of(st.just(""), _text, st.sampled_from(words) if words else st.just(" "),
                            st.sampled_from(["--5", "-", "²", "١٢", " 7 ", "İ", "%", "_", "'"])))
    clicks = draw(st.lists(st.tuples(st.sampled_from(["replace", "toggle", "range", "add-range", "clear"]),
                                     st.floats(0, 1), st.one_of(st.none(), st.floats(0, 1))), max_size=4))
    pages = draw(st.lists(st.tuples(st.integers(0, 35), st.integers(0, 40)), min_size=1, max_size=3))
    picks = draw(st.lists(st.integers(0, max(0, len(df) - 1)), max_size=4)) if len(df) else []
    return df, shown, sort, filters, search, clicks, pages, picks


@examples(2000)
@given(cases())
def test_engine_matches_the_oracle(case):
    df, shown, sort, filters, search, clicks, pages, picks = case
    n = len(df)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate keys: keyed by position, with a warning
        b = TableBrowser(df)
    assert [c["name"] for c in b.columns] == [s[0] for s in shown]
    kinds = {s[0]: s[1] for s in shown}
    if sort:
        b.sort_by([c for c, _ in sort], ascending=[a for _, a in sort])
    if filters:
        b.filter(**{c: _spec_for_api(kinds[c], spec) for c, spec in filters.items()})
    b.search(search)
    assert b.error == ""
    expected = oracle_view(shown, n, sort, filters, search)
    if sort:  # the top-N query that answers while the full order sorts in the background
        top = min(TOP_N, 25)
        assert b._engine._top_rows(0, top).tolist() == expected[:top]
    view = b._engine.view.tolist()
    assert view == expected
    source = b._engine._one_column(sort)
    if source is not None:  # pages by selection, which answer while the full order sorts
        column, within = b._engine.table.column(source), b._engine._view_mask
        saved = order.SAMPLE
        try:
            for order.SAMPLE in (saved, 4):  # every row, and the bracket of a sample
                for start, count in pages:
                    got = order.select_rows(column, sort[0][1], start, start + count, within)
                    assert got is not None and got.tolist() == expected[start:start + count]
        finally:
            order.SAMPLE = saved
    assert b.filtered_rows == len(expected)
    assert b.filtered.index.equals(df.index[expected]) and b.filtered.dtypes.equals(df.dtypes)

    selected: list[int] = []
    for mode, where, anchor in clicks:
        if mode == "clear" or not view:
            b._rpc_click(position=-1, mode="clear")
            selected = []
            continue
        pos = min(int(where * len(view)), len(view) - 1)
        a = None if anchor is None else min(int(anchor * len(view)), len(view) - 1)
        b._rpc_click(position=pos, mode=mode, anchor=a)
        row = view[pos]
        if mode == "replace":
            selected = [row]
        elif mode == "toggle":
            selected = [r for r in selected if r != row] if row in selected else [*selected, row]
        else:
            lo, hi = sorted((pos if a is None else a, pos))
            span = view[lo:hi + 1]
            selected = span if mode == "range" else list(dict.fromkeys([*selected, *span]))
        assert b._selected_rows == selected
    assert b.selected.index.equals(df.index[selected]) and b.selected.dtypes.equals(df.dtypes)
    for start, count in pages:
        check_page(b, shown, view, start, count, set(selected))

    if picks:  # selection by key: the rows of those keys, in the order given
        keys = _keys_of(df)
        b.select([keys[p] for p in picks])
        assert b._selected_rows == list(dict.fromkeys(picks))
        wanted = [keys[p] for p in dict.fromkeys(picks)]
        assert len(b.selection) == len(wanted)
        assert all(_same_key(x, y) for x, y in zip(b.selection, wanted))
    b.close()


def test_huge_cells_are_cut_on_the_page_but_found_by_search():
    """10 MB cells: the page carries 300 characters, search and filters still see the whole text."""
    big = "é" * 5_000_000 + "needle" + "x" * 5_000_000
    df = pd.DataFrame({"s": [big, "plain", None], "n": np.array([BIG, 2**64 - 1, 1], dtype=np.uint64)})
    b = TableBrowser(df)
    page = pa.ipc.open_stream(b._engine.page(0, 10, b._selected_mask)).read_all()
    assert page.column("s").to_pylist() == [big[:300], "plain", None]
    assert page.column("n").to_pylist() == [BIG, 2**64 - 1, 1]
    b.search("NEEDLE")
    assert b._engine.view.tolist() == [0]
    b.search("").filter(s={"contains": "le"}).sort_by("s", ascending=False)
    assert b._engine.view.tolist() == [0]
    b.filter(s=None).sort_by("s")  # "plain" < "é…" (code points), None last
    assert b._engine.view.tolist() == [1, 0, 2]
