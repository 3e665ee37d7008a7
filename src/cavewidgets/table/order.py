"""The sort order of one fixed-width column (numbers, times, booleans, category codes) in bounded
memory: a permutation of all rows, 4 bytes a row, and little else.

A general ORDER BY (DuckDB's) holds each row's key and row number while it sorts, and spills
past its memory limit at a tenth of the speed. One column of fixed-width keys is sorted here as
a bucket sort instead: splitters from a sample cut the keys into about ``BUCKETS`` ranges (and a
range of its own for each value that fills much of the sample: those rows need no sorting), one
pass counts the rows of each range, a second writes each chunk's rows at their range's place in
the order (in row order), and each range is then sorted in place by its keys. The memory beyond
the order is one chunk's and one range's keys. Ties keep row order, missing values come last in
both directions, as in ``ORDER BY key ASC|DESC NULLS LAST, row``.

Before the whole order is ready, one page of it comes from :func:`select_rows` by selection: a
sample of the keys brackets the page's ranks, one pass counts the rows below the bracket and
keeps those inside it, and only those are sorted (O(n) time, memory for the bracket only).

Example::

    order = column_order(table.column("size"), ascending=False)   # int32 row numbers
    page = select_rows(table.column("size"), False, 5_000_000, 5_000_100)   # == order[5_000_000:5_000_100]
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

CHUNK = 1 << 18  # rows per pass step: a chunk's keys and bucket numbers stay a few MB
BUCKETS = 32  # a 10M-row range is ~300k rows: its keys, row numbers and argsort take ~10 MB
SAMPLE = 1 << 16
MOST_SELECTED = 1 << 21  # select_rows gives up (None) rather than sort more rows than this


class Cancelled(Exception):
    """A sort stopped because its order is no longer wanted."""


def sortable(type_: pa.DataType) -> bool:
    """Whether :func:`column_order` sorts a column of this Arrow type (else use DuckDB).

    Example::

        sortable(pa.uint64())   # True; sortable(pa.string()) is False
    """
    if pa.types.is_dictionary(type_):
        return pa.types.is_integer(type_.index_type)
    return (pa.types.is_integer(type_) or pa.types.is_boolean(type_) or pa.types.is_timestamp(type_)
            or pa.types.is_date(type_) or pa.types.is_duration(type_)
            or (pa.types.is_floating(type_) and type_.bit_width in (32, 64)))


def _values(piece: pa.Array) -> np.ndarray:
    """The values of a fixed-width array as numpy, a view of its buffer (a null's slot holds
    anything: nulls are placed by their mask)."""
    if pa.types.is_dictionary(piece.type):
        piece = piece.indices
    if pa.types.is_boolean(piece.type):  # bits: unpacked, one chunk at a time
        return pc.fill_null(piece, False).to_numpy(zero_copy_only=False).view(np.uint8)
    type_ = piece.type
    code = "f" if pa.types.is_floating(type_) else "u" if pa.types.is_unsigned_integer(type_) else "i"
    dtype = np.dtype(f"{code}{type_.bit_width // 8}")
    return np.frombuffer(piece.buffers()[1], dtype=dtype, count=piece.offset + len(piece))[piece.offset :]


def _keys(values: np.ndarray, ascending: bool) -> np.ndarray:
    """Unsigned integers in the order of ``values`` (reversed when descending): exact for 64-bit
    ids, where a float or a negation would not be."""
    kind, width = values.dtype.kind, values.dtype.itemsize
    top = np.array(1 << (8 * width - 1), dtype=f"u{width}")
    if kind == "f":
        values = values + values.dtype.type(0)  # -0.0 becomes 0.0: they tie, as in pandas
        values[np.isnan(values)] = np.nan  # one NaN, above +inf (DuckDB's order)
        bits = values.view(f"u{width}")
        keys = np.where(bits & top, ~bits, bits | top)
    elif kind == "i":
        keys = values.view(f"u{width}") ^ top
    else:
        keys = values
    return keys if ascending else ~keys


def _pieces(column: pa.ChunkedArray):
    """(first row, array) for the column in pieces of at most ``CHUNK`` rows (zero-copy slices)."""
    start = 0
    for chunk in column.chunks:
        for s in range(0, len(chunk), CHUNK):
            yield start + s, chunk.slice(s, CHUNK)
        start += len(chunk)


def _piece_buckets(piece: pa.Array, ascending: bool, splitters: np.ndarray) -> np.ndarray:
    """Bucket of each row: 2i below splitter i (and above i-1), 2i+1 equal to it, the last for
    missing values."""
    keys = _keys(_values(piece), ascending)
    below = np.searchsorted(splitters, keys, "left")
    buckets = 2 * below.astype(np.int16)
    if len(splitters):
        buckets += splitters[np.minimum(below, len(splitters) - 1)] == keys
    if piece.null_count:
        buckets[piece.is_null().to_numpy(zero_copy_only=False)] = 2 * len(splitters) + 1
    return buckets


def _splitters(column, n: int, ascending: bool) -> np.ndarray:
    step = max(1, n // SAMPLE)
    sample = []
    for start, piece in _pieces(column):
        first = -start % step
        values = _values(piece)[first::step]
        if piece.null_count:
            values = values[piece.is_valid().to_numpy(zero_copy_only=False)[first::step]]
        sample.append(_keys(values, ascending))
    keys = np.sort(np.concatenate(sample)) if sample else np.zeros(0, dtype=np.uint64)
    if not len(keys):
        return keys
    return np.unique(keys[np.linspace(0, len(keys) - 1, BUCKETS + 1)[1:-1].astype(np.int64)])


def column_order(column: pa.ChunkedArray | pa.Array, ascending: bool = True,
                 cancelled: Callable[[], bool] | None = None) -> np.ndarray:
    """Row numbers of ``column`` sorted by its values (stable; missing values last), as int32
    (int64 past 2^31 rows). The column's type must be :func:`sortable`. ``cancelled`` is asked
    between steps; when it says yes, :class:`Cancelled` is raised.

    Example::

        column_order(pa.chunked_array([[3, None, 1, 3]]), ascending=False)   # [0, 3, 2, 1]
    """
    if isinstance(column, pa.Array):
        column = pa.chunked_array([column])
    n = len(column)
    splitters = _splitters(column, n, ascending)
    nb = 2 * len(splitters) + 2
    counts = np.zeros(nb, dtype=np.int64)
    for _, piece in _pieces(column):
        counts += np.bincount(_piece_buckets(piece, ascending, splitters), minlength=nb)
    ends = np.cumsum(counts)
    fill = ends - counts
    order = np.empty(n, dtype=np.int32 if n < 2**31 else np.int64)
    stop = cancelled or (lambda: False)
    for start, piece in _pieces(column):
        if stop():
            raise Cancelled
        buckets = _piece_buckets(piece, ascending, splitters)
        by_bucket = np.argsort(buckets, kind="stable")  # row order within each bucket
        edges = np.cumsum(np.bincount(buckets, minlength=nb))
        lo = 0
        for b in np.flatnonzero(edges - np.concatenate([[0], edges[:-1]])):
            hi = int(edges[b])
            order[fill[b] : fill[b] + hi - lo] = start + by_bucket[lo:hi]
            fill[b] += hi - lo
            lo = hi
    # one chunk (a frame's column): its keys are one numpy view, gathered from without a copy
    whole = _values(column.chunk(0)) if column.num_chunks == 1 and not pa.types.is_boolean(column.type) else None
    for b in range(0, nb - 1, 2):  # ranges between splitters; equal values and nulls stay in row order
        lo, hi = int(ends[b] - counts[b]), int(ends[b])
        if stop():
            raise Cancelled
        if hi - lo > 1:
            rows = order[lo:hi]
            if whole is not None:
                values = whole[rows]
            else:
                taken = column.take(pa.array(rows))
                values = _values(taken.combine_chunks() if isinstance(taken, pa.ChunkedArray) else taken)
            rows[:] = rows[np.argsort(_keys(values, ascending), kind="stable")]
    return order


def _in_view(piece: pa.Array, start: int, within) -> np.ndarray | None:
    """Which rows of a piece have a value and are in ``within`` (a RowBits; None: all), or None
    when that is every row."""
    keep = within.span(start, len(piece)) if within is not None else None
    if piece.null_count:
        valid = piece.is_valid().to_numpy(zero_copy_only=False)
        keep = valid if keep is None else keep & valid
    return keep


def _sample(column, n: int, ascending: bool, within) -> np.ndarray:
    """Sorted keys of every ``n // SAMPLE``-th row that has a value and is in the view."""
    step = max(1, n // SAMPLE)
    parts = []
    for start, piece in _pieces(column):
        first = -start % step
        keys = _keys(_values(piece)[first::step], ascending)
        keep = _in_view(piece, start, within)
        parts.append(keys if keep is None else keys[keep[first::step]])
    return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.uint64)


def _null_rows(column, within, skip: int, count: int) -> np.ndarray:
    """Rows ``skip`` to ``skip + count`` of the view's missing values, in row order (they come last)."""
    found, out = 0, []
    for start, piece in _pieces(column):
        if not piece.null_count or count <= 0:
            continue
        hit = piece.is_null().to_numpy(zero_copy_only=False)
        if within is not None:
            hit &= within.span(start, len(piece))
        rows = start + np.flatnonzero(hit)
        take = rows[max(0, skip - found):][:count]
        found += len(rows)
        count -= len(take)
        out.append(take)
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def select_rows(column: pa.ChunkedArray | pa.Array, ascending: bool, a: int, b: int, within=None,
                most: int = MOST_SELECTED) -> np.ndarray | None:
    """Rows at ranks [a, b) of the column's sorted order (what ``column_order`` gives, kept to the
    rows of ``within``, a RowBits, when given), without sorting all rows; None when the ranks'
    bracket would hold more than ``most`` rows (e.g. one value repeated millions of times): wait
    for the whole order then. The column's type must be :func:`sortable`.

    Example::

        select_rows(pa.chunked_array([[3, None, 1, 3]]), False, 0, 2)   # [0, 3]
    """
    if isinstance(column, pa.ChunkedArray) is False:
        column = pa.chunked_array([column])
    n = len(column)
    in_view = within.count() if within is not None else n
    if column.null_count:
        valid = 0
        for start, piece in _pieces(column):
            keep = _in_view(piece, start, within)
            valid += len(piece) if keep is None else int(np.count_nonzero(keep))
    else:
        valid = in_view
    a, b = max(0, a), min(b, in_view)
    if b <= a:
        return np.zeros(0, dtype=np.int64)
    nulls = _null_rows(column, within, max(0, a - valid), b - max(a, valid)) if b > valid else None
    if a >= valid:
        return nulls
    hi_rank = min(b, valid)
    sample = _sample(column, n, ascending, within) if valid > SAMPLE else None
    for widen in (2, 8, 32):
        lo = hi = None  # no bound (no sample, or none of it in the view): every row with a value
        if sample is not None and len(sample):
            m = len(sample)
            margin = widen / np.sqrt(m) + 2 / m
            i, j = int((a / valid - margin) * m), int(np.ceil((hi_rank / valid + margin) * m))
            lo = sample[i] if i > 0 else None
            hi = sample[j] if j < m else None
        picked = _bracket(column, ascending, within, lo, hi, most)
        if picked is None:
            return None
        below, rows, keys = picked
        if below <= a and below + len(rows) >= hi_rank:
            ranked = rows[np.argsort(keys, kind="stable")]  # rows came in row order: ties stay so
            page = ranked[a - below : hi_rank - below]
            return page if nulls is None else np.concatenate([page, nulls])
        if lo is None and hi is None:
            break
    return None


def _bracket(column, ascending: bool, within, lo, hi, most: int):
    """(rows below ``lo``, rows with ``lo <= key <= hi`` and their keys, in row order), counting
    only rows with a value in ``within``; None past ``most`` rows."""
    below, rows, keys, kept = 0, [], [], 0
    for start, piece in _pieces(column):
        k = _keys(_values(piece), ascending)
        keep = _in_view(piece, start, within)
        inside = keep
        if lo is not None:
            under = k < lo
            below += int(np.count_nonzero(under if keep is None else under & keep))
            inside = ~under if inside is None else inside & ~under
        if hi is not None:
            inside = (k <= hi) if inside is None else inside & (k <= hi)
        at = np.flatnonzero(inside) if inside is not None else np.arange(len(k))
        kept += len(at)
        if kept > most:
            return None
        rows.append(start + at)
        keys.append(k[at])
    if not rows:
        return 0, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64)
    return below, np.concatenate(rows), np.concatenate(keys)
