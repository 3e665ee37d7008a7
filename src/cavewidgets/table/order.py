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

Example::

    order = column_order(table.column("size"), ascending=False)   # int32 row numbers
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

CHUNK = 1 << 18  # rows per pass step: a chunk's keys and bucket numbers stay a few MB
BUCKETS = 32  # a 10M-row range is ~300k rows: its keys, row numbers and argsort take ~10 MB
SAMPLE = 1 << 16


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


def column_order(column: pa.ChunkedArray | pa.Array, ascending: bool = True) -> np.ndarray:
    """Row numbers of ``column`` sorted by its values (stable; missing values last), as int32
    (int64 past 2^31 rows). The column's type must be :func:`sortable`.

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
    for start, piece in _pieces(column):
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
        if hi - lo > 1:
            rows = order[lo:hi]
            if whole is not None:
                values = whole[rows]
            else:
                taken = column.take(pa.array(rows))
                values = _values(taken.combine_chunks() if isinstance(taken, pa.ChunkedArray) else taken)
            rows[:] = rows[np.argsort(_keys(values, ascending), kind="stable")]
    return order
