"""The materialization query engine: filters, joins, column selection, resolution, Arrow replies.

Mirrors MaterializationEngine's QueryManager: filters are keyed by table then column (the
table's own column names), selected columns that appear in more than one table get the table's
suffix, a position ``pt_position`` travels as ``pt_position_x/_y/_z`` (multiplied by
``voxel_resolution / desired_resolution`` when a resolution is asked for), and the reply is one
Arrow IPC stream with content type ``data.arrow`` (zstd/lz4 compressed when the client accepts
it) plus the ``dataframe_resolution`` and ``column_names`` headers. Everything is vectorised
pyarrow compute: uint64/int64 ids never pass through float64.

Example::

    table, names = run_query(store, [["synapses_pni_2", None]], body, version=2)
    return arrow_response(table, names, body.get("desired_resolution"))
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from flask import Response, request

from .app import ServiceError
from .tables import TableStore

DEFAULT_SUFFIXES = ["x", "y", "z", "xx", "yy", "zz", "xxx", "yyy", "zzz"]
FILTER_KEYS = {
    "filter_in_dict": "in",
    "filter_notin_dict": "notin",
    "filter_out_dict": "notin",
    "filter_equal_dict": "equal",
    "filter_greater_dict": "greater",
    "filter_less_dict": "less",
    "filter_greater_equal_dict": "greater_equal",
    "filter_less_equal_dict": "less_equal",
    "filter_spatial_dict": "spatial",
    "filter_regex_dict": "regex",
}
_COMPARE = {"greater": pc.greater, "less": pc.less, "greater_equal": pc.greater_equal,
            "less_equal": pc.less_equal, "equal": pc.equal}


def _positions(table: pa.Table) -> list[str]:
    """Base names of position columns (``pt_position`` for ``pt_position_x/_y/_z``)."""
    cols = set(table.column_names)
    return [c[:-2] for c in table.column_names
            if c.endswith("_x") and c[:-2] + "_y" in cols and c[:-2] + "_z" in cols]


def logical_columns(table: pa.Table) -> list[str]:
    """Column names with each position triple collapsed to one name, in table order."""
    out, seen = [], set()
    pos = set(_positions(table))
    for c in table.column_names:
        base = c[:-2] if c[-2:] in ("_x", "_y", "_z") and c[:-2] in pos else c
        if base not in seen:
            seen.add(base)
            out.append(base)
    return out


def _column(table: pa.Table, tname: str, col: str) -> pa.ChunkedArray:
    if col not in table.column_names:
        raise ServiceError(400, f"column '{col}' not found in table '{tname}'")
    return table.column(col)


# PostgreSQL's boolean input (src/backend/utils/adt/bool.c ``parse_bool_with_len``): case and
# surrounding blanks ignored, any unique prefix of true/false/yes/no, "on"/"off" (two letters at
# least), "1"/"0". The real engine hands filter values to PostgreSQL, so status_axon="t" works.
_PG_BOOL_WORDS = (("true", True, 1), ("false", False, 1), ("yes", True, 1), ("no", False, 1),
                  ("on", True, 2), ("off", False, 2), ("1", True, 1), ("0", False, 1))


def pg_bool(value, what: str):
    """A filter value for a boolean column, read the way PostgreSQL reads boolean input.

    Example::

        pg_bool("t", "status_axon")   # True
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):  # SQLAlchemy's Boolean binds 0/1 too
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        for word, result, shortest in _PG_BOOL_WORDS:
            if len(text) >= shortest and word.startswith(text):
                return result
    raise ServiceError(400, f"{what}: invalid input syntax for type boolean: {value!r}")


def _values_array(values, column: pa.ChunkedArray, what: str) -> pa.Array:
    if not isinstance(values, (list, tuple)):
        raise ServiceError(400, f"{what}: expected a list of values, got {type(values).__name__}")
    if pa.types.is_boolean(column.type):
        values = [pg_bool(v, what) for v in values]
    try:
        return pa.array(values, type=column.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError) as err:
        raise ServiceError(400, f"{what}: values do not fit column type {column.type}: {err}") from None


def _scalar(value, column: pa.ChunkedArray, what: str) -> pa.Scalar:
    if isinstance(value, (list, dict)):
        raise ServiceError(400, f"{what}: expected a single value, got {type(value).__name__}")
    if pa.types.is_boolean(column.type):
        value = pg_bool(value, what)
    try:
        return pa.scalar(value, type=column.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError) as err:
        raise ServiceError(400, f"{what}: value {value!r} does not fit column type {column.type}: {err}") from None


def filter_mask(table: pa.Table, tname: str, kind: str, col: str, value) -> pa.ChunkedArray:
    """Boolean mask of one filter on one column (400 for an unknown column or bad value)."""
    what = f"{kind} filter on '{tname}.{col}'"
    if kind == "spatial":
        if col not in _positions(table):
            raise ServiceError(400, f"{what}: '{col}' is not a position column of '{tname}'")
        try:
            lo, hi = np.asarray(value, dtype=float).reshape(2, 3)
        except (TypeError, ValueError):
            raise ServiceError(400, f"{what}: expected [[min_x, min_y, min_z], [max_x, max_y, max_z]]") from None
        mask = None
        for axis, a, b in zip("xyz", lo, hi):
            c = table.column(f"{col}_{axis}")
            m = pc.and_(pc.greater_equal(c, a), pc.less(c, b))
            mask = m if mask is None else pc.and_(mask, m)
        return mask
    column = _column(table, tname, col)
    if kind in ("in", "notin"):
        values = _values_array(values=value, column=column, what=what)
        mask = pc.is_in(column, value_set=values)
        return pc.invert(mask) if kind == "notin" else mask
    if kind == "regex":
        if not isinstance(value, str):
            raise ServiceError(400, f"{what}: expected a regular expression string")
        if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
            raise ServiceError(400, f"{what}: regex filters need a string column, '{col}' is {column.type}")
        try:
            return pc.match_substring_regex(column, pattern=value)
        except pa.ArrowInvalid as err:
            raise ServiceError(400, f"{what}: bad regular expression: {err}") from None
    return _COMPARE[kind](column, _scalar(value, column, what))


def apply_filters(table: pa.Table, tname: str, body: dict) -> pa.Table:
    """Apply every filter of ``body`` addressed to table ``tname``."""
    mask = None
    for key, kind in FILTER_KEYS.items():
        spec = body.get(key)
        if not spec:
            continue
        if not isinstance(spec, dict):
            raise ServiceError(400, f"{key} must be an object keyed by table name")
        per_table = spec.get(tname)
        if per_table is None:
            continue
        if not isinstance(per_table, dict):
            raise ServiceError(400, f"{key}['{tname}'] must be an object keyed by column name")
        for col, value in per_table.items():
            m = filter_mask(table, tname, kind, col, value)
            mask = m if mask is None else pc.and_(mask, m)
    return table if mask is None else table.filter(mask)


def _check_filter_tables(body: dict, tnames: list[str]) -> None:
    for key in FILTER_KEYS:
        spec = body.get(key)
        if isinstance(spec, dict):
            for t in spec:
                if t not in tnames:
                    raise ServiceError(400, f"{key} names table '{t}', which is not in this query {tnames}")


#: the most joined rows the sample builds for one query without a limit (``count=True``): each
#: costs 16 bytes of indices; PostgreSQL would count them on disk
MAX_JOIN_ROWS = 20_000_000


def _join_codes(lk: pa.Array, rk: pa.Array, names: tuple, cols: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Both key columns as one set of integer codes (-1 for null, which joins nothing in SQL)."""
    if rk.type != lk.type:
        try:
            rk = rk.cast(lk.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise ServiceError(400, f"cannot join {names[0]}.{cols[0]} ({lk.type}) with {names[1]}.{cols[1]} "
                                    f"({rk.type}): operator does not exist") from None
    try:
        codes = pc.dictionary_encode(pa.concat_arrays([lk, rk])).indices
    except pa.ArrowNotImplementedError:
        raise ServiceError(400, f"cannot join on {names[0]}.{cols[0]} ({lk.type}): not a column SQL "
                                "compares with =") from None
    codes = pc.fill_null(codes, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes[:len(lk)], codes[len(lk):]


def _join(left: pa.Table, lcol: str, right: pa.Table, rcol: str, names: tuple,
          need: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Inner-join row indices of ``left.lcol == right.rcol``: every matching pair, as SQL joins
    (a key on several rows of both sides gives each combination), in left-row order; only the
    first ``need`` pairs when given (the engine's LIMIT stops the join there too).

    Example::

        li, ri = _join(cells, "pt_root_id", synapses, "post_pt_root_id", ("cells", "synapses"))
    """
    lk = _column(left, names[0], lcol)
    rk = _column(right, names[1], rcol)
    lk = lk.combine_chunks() if isinstance(lk, pa.ChunkedArray) else lk
    rk = rk.combine_chunks() if isinstance(rk, pa.ChunkedArray) else rk
    lcodes, rcodes = _join_codes(lk, rk, names, (lcol, rcol))
    order = np.argsort(rcodes, kind="stable")
    sorted_r = rcodes[order]
    lo = np.searchsorted(sorted_r, lcodes, "left")
    counts = np.searchsorted(sorted_r, lcodes, "right") - lo
    counts[lcodes < 0] = 0
    ends = np.cumsum(counts)
    total = int(ends[-1]) if len(ends) else 0
    if need is not None and need < total:
        last = int(np.searchsorted(ends, need, "left")) + 1  # the left rows that hold the first `need`
        counts, lo, ends, total = counts[:last], lo[:last], ends[:last], need
    elif total > MAX_JOIN_ROWS:
        raise ServiceError(400, f"join {names[0]}.{lcol} = {names[1]}.{rcol} has {total} rows; the sample "
                                f"builds at most {MAX_JOIN_ROWS} without a limit (filter the tables first)")
    li = np.repeat(np.arange(len(counts)), counts)[:total]
    within = np.arange(len(li)) - np.repeat(ends - counts, counts)[:total]
    ri = order[np.repeat(lo, counts)[:total] + within]
    return li, ri


def run_query(store: TableStore, tables: list, body: dict, version: int | None = None,
              timestamp=None) -> tuple[pa.Table, dict]:
    """Run one query: ``tables`` is ``[[name, join_column], ...]`` (join column None if alone).

    Returns the result table and ``{table: {column: output name}}`` (MaterializationEngine's
    ``column_names``).

    Example::

        run_query(store, [["cells", "target_id"], ["nuclei", "id"]], {"suffix_map": {...}}, version=1)
    """
    if not isinstance(body, dict):
        raise ServiceError(400, "request body must be a JSON object")
    tnames = [t[0] for t in tables]
    if len(set(tnames)) != len(tnames):
        raise ServiceError(400, f"a table may appear only once in a query: {tnames}")
    _check_filter_tables(body, tnames)
    frames = [apply_filters(store.snapshot(t, version=version, timestamp=timestamp), t, body) for t in tnames]
    frames[0] = _random_sample(frames[0], body.get("random_sample"))
    selected = _selected_columns(body, tnames, frames)
    offset, limit = _int_arg(body, "offset", 0), _int_arg(body, "limit", None)
    rows = _joined_rows(tables, tnames, frames, None if limit is None else offset + limit)
    suffixes, desired = _suffixes(body, tnames), _desired_resolution(body)
    # offset/limit apply to the joined rows, before columns are materialized
    n = frames[0].num_rows if rows[0] is None else len(rows[0])
    keep = np.arange(n)[offset: (offset + limit) if limit is not None else None]
    return _output(store, tnames, frames, selected, rows, keep, suffixes, desired)


def _random_sample(frame: pa.Table, sample) -> pa.Table:
    if not sample or sample >= frame.num_rows:
        return frame
    # a fixed seed keeps repeated samples identical (the real service uses TABLESAMPLE)
    pick = np.sort(np.random.default_rng(0).choice(frame.num_rows, int(sample), replace=False))
    return frame.take(pa.array(pick))


def _selected_columns(body: dict, tnames: list[str], frames: list[pa.Table]) -> list[list[str]]:
    """The logical columns asked for, per table (``select_column_map`` or ``select_columns``)."""
    select_map = body.get("select_column_map")
    select_list = body.get("select_columns")
    if select_map is not None and not isinstance(select_map, dict):
        raise ServiceError(400, "select_column_map must be an object keyed by table name")
    if select_list is not None and isinstance(select_list, dict):
        select_map, select_list = select_list, None  # live_live_query sends a dict here
    if select_list is not None and not isinstance(select_list, list):
        raise ServiceError(400, "select_columns must be a list of column names")
    selected = []
    for t, frame in zip(tnames, frames):
        available = logical_columns(frame)
        if select_map is not None:
            cols = select_map.get(t, [])
            if not isinstance(cols, list):
                raise ServiceError(400, f"select_column_map['{t}'] must be a list of column names, "
                                        f"got {type(cols).__name__}")
        elif select_list is not None:
            cols = select_list if len(tnames) == 1 else [c for c in select_list if c in available]
        else:
            cols = available
        for c in cols:
            if c not in available:
                raise ServiceError(400, f"column '{c}' not found in table '{t}' (columns: {available})")
        selected.append(list(cols))
    return selected


def _joined_rows(tables: list, tnames: list[str], frames: list[pa.Table], need: int | None = None) -> list:
    """Row indices into each frame of the joined result (``[None]`` for a single table); the
    last join stops after ``need`` rows."""
    rows = [None] * len(frames)
    if len(frames) == 1:
        return rows
    # each further table joins onto the first table's rows so far
    base_idx = np.arange(frames[0].num_rows)
    for i in range(1, len(frames)):
        left_col, right_col = tables[0][1], tables[i][1]
        if left_col is None or right_col is None:
            raise ServiceError(400, "join queries need a join column for every table")
        li, ri = _join(frames[0].take(base_idx), left_col, frames[i], right_col, (tnames[0], tnames[i]),
                       need if i == len(frames) - 1 else None)
        base_idx = base_idx[li]
        rows = [r[li] if r is not None else None for r in rows]
        rows[i] = ri
    rows[0] = base_idx
    return rows


def _output(store: TableStore, tnames, frames, selected, rows, keep, suffixes,
            desired) -> tuple[pa.Table, dict]:
    """The kept rows' selected columns, suffixed where names clash, positions split and rescaled."""
    counts: dict[str, int] = {}
    for cols in selected:
        for c in cols:
            counts[c] = counts.get(c, 0) + 1
    n = frames[0].num_rows if rows[0] is None else len(rows[0])
    names, arrays, column_names = [], [], {}
    for i, (t, frame, cols) in enumerate(zip(tnames, frames, selected)):
        take = keep if rows[i] is None else rows[i][keep]
        part = frame.take(pa.array(take, type=pa.int64())) if (rows[i] is not None or len(keep) != n) else frame
        ratio = None
        if desired is not None:
            ratio = store.voxel_resolution(t) / desired
            if np.all(ratio == 1):
                ratio = None
        column_names[t] = {}
        positions = set(_positions(frame))
        for c in cols:
            out = c + suffixes[i] if counts[c] > 1 else c
            column_names[t][c] = out
            if c in positions:
                for k, axis in enumerate("xyz"):
                    arr = part.column(f"{c}_{axis}")
                    if ratio is not None:
                        arr = pc.multiply(arr.cast(pa.float64()), float(ratio[k]))
                    names.append(f"{out}_{axis}")
                    arrays.append(arr)
            else:
                names.append(out)
                arrays.append(part.column(c))
    if len(set(names)) != len(names):
        raise ServiceError(400, f"duplicate output column names {names}; pass distinct suffixes")
    return pa.Table.from_arrays(arrays, names=names), column_names


def _suffixes(body: dict, tnames: list[str]) -> list[str]:
    smap = body.get("suffix_map") or {}
    slist = body.get("suffixes")
    if isinstance(slist, dict):
        smap, slist = slist, None
    if not isinstance(smap, dict):
        raise ServiceError(400, "suffix_map must be an object keyed by table name")
    out = []
    for i, t in enumerate(tnames):
        if t in smap:
            out.append(str(smap[t]))
        elif isinstance(slist, list) and i < len(slist):
            out.append(str(slist[i]))
        else:
            out.append(DEFAULT_SUFFIXES[i])
    if len(set(out)) != len(out):
        raise ServiceError(400, f"duplicate suffixes {out}")
    return out


def _desired_resolution(body: dict):
    res = body.get("desired_resolution")
    if res is None:
        return None
    try:
        arr = np.asarray(res, dtype=float).reshape(3)
    except (TypeError, ValueError):
        raise ServiceError(400, f"desired_resolution must be 3 numbers, got {res!r}") from None
    if not np.all(arr > 0):
        raise ServiceError(400, f"desired_resolution must be positive, got {res!r}")
    return arr


def _int_arg(body: dict, key: str, default):
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ServiceError(400, f"{key} must be a non-negative integer, got {value!r}")
    return value


def arrow_response(table: pa.Table, column_names: dict, desired_resolution=None,
                   warnings: list | None = None) -> Response:
    """An Arrow IPC stream as MaterializationEngine's ``create_query_response`` sends it.

    Example::

        arrow_response(table, {"t": {"id": "id"}}, [4, 4, 40])
    """
    accept = request.headers.get("Accept-Encoding", "").lower()
    compression = "zstd" if "zstd" in accept else ("lz4" if "lz4" in accept else None)
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression=compression)
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table, max_chunksize=1 << 20)
    response = Response(sink.getvalue().to_pybytes(), content_type="data.arrow")
    if desired_resolution is not None:
        # requests joins repeated headers with ", "; caveclient splits on exactly that
        response.headers["dataframe_resolution"] = ", ".join(str(float(r)) for r in desired_resolution)
    # the engine puts the dict itself in its headers, which werkzeug writes as str(): a Python
    # repr, not JSON (caveclient keeps the text in df.attrs without parsing it)
    response.headers["column_names"] = str(column_names)
    add_warnings(response, warnings)
    return response


def add_warnings(response: Response, warnings: list | None) -> Response:
    """One ``Warning`` header per message, newlines made spaces, as MaterializationEngine's
    ``add_warnings_to_headers`` (``blueprints/client/utils.py``) sends a list of them.

    Example::

        add_warnings(response, ['201 - "Limited query to 200000 rows'])
    """
    for w in warnings or ():
        response.headers.add("Warning", w.replace("\n", " "))
    return response
