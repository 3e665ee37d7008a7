"""Stable content hash of a query result (a DataFrame), independent of row and column order.

The hash answers one question: "does this query still return the same table?". It is computed
from the *values*, so it survives a parquet round trip and a re-run on another machine:

- columns are taken in name order and rows as an (unordered) multiset: CAVE promises no row
  order, and ``select_columns`` order is cosmetic;
- integers hash by value whatever their width or signedness (uint64 root ids stay exact; an
  int64 and a uint64 column holding the same ids hash alike), floats as float64 with ``-0.0``
  folded into ``0.0`` and one NaN, datetimes as UTC nanoseconds (naive ones taken as UTC);
- cells holding equal-length numeric vectors (``pt_position`` as arrays or lists) hash per
  component, other object cells through a type-tagged text form (``1`` and ``"1"`` differ);
- the index is ignored (``synapse_query`` drops autapse rows and leaves gaps in it).

This module needs only numpy and pandas: the generated ``reproduce.py`` embeds its source, so a
bundle can be checked without cavewidgets installed.

Example::

    from cavewidgets.reproducible.hashing import frame_hash
    frame_hash(df) == frame_hash(df.sample(frac=1))   # True: order does not matter
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math

import numpy as np
import pandas as pd

HASH_ALGORITHM = "cavewidgets-rows-sha256-v1"
_MIX = np.uint64(0x9E3779B97F4A7C15)


def frame_hash(df: pd.DataFrame) -> str:
    """Hex SHA-256 of ``df``'s canonical content (see the module docstring).

    Example::

        frame_hash(client.materialize.query_table("nucleus_detection_v0"))
    """
    header, rows = _canonical_rows(df)
    digest = hashlib.sha256(json.dumps(header, sort_keys=True).encode())
    digest.update(np.sort(rows).tobytes())
    return digest.hexdigest()


def row_hashes(df: pd.DataFrame) -> np.ndarray:
    """One uint64 per row (same canonical form as :func:`frame_hash`), for row-level diffs.

    Example::

        added = np.setdiff1d(row_hashes(new), row_hashes(old)).size
    """
    return _canonical_rows(df)[1]


def result_hash(result) -> str:
    """:func:`frame_hash` for a DataFrame, else SHA-256 of the canonical JSON of ``result``.

    Example::

        result_hash(client.materialize.query_table("synapses_pni_2", get_counts=True))
    """
    if isinstance(result, pd.DataFrame):
        return frame_hash(result)
    if isinstance(result, pd.Series):
        return frame_hash(result.to_frame())
    text = json.dumps(result, sort_keys=True, default=_json_fallback)
    return hashlib.sha256(text.encode()).hexdigest()


def _json_fallback(obj):
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return repr(obj)


def _canonical_rows(df: pd.DataFrame):
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(df).__name__}")
    n = len(df)
    # sort by the column label's text; position breaks ties (duplicate labels)
    order = sorted(range(df.shape[1]), key=lambda i: (str(df.columns[i]), i))
    header = {"algorithm": HASH_ALGORITHM, "rows": n, "columns": []}
    rows = np.zeros(n, dtype=np.uint64)
    for i in order:
        name = str(df.columns[i])
        for kind, values in _canonical_parts(df.iloc[:, i]):
            header["columns"].append([name, kind])
            hashed = pd.util.hash_array(values, categorize=True)
            rows = rows * _MIX + hashed  # uint64 arithmetic wraps, which is what we want
    return header, rows


def _canonical_parts(series: pd.Series):
    """``[(kind, numpy array)]``: one part per column, or one per vector component."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype) or isinstance(dtype, pd.ArrowDtype) \
            or isinstance(dtype, pd.StringDtype) or isinstance(dtype, pd.IntervalDtype) \
            or isinstance(dtype, pd.PeriodDtype) or isinstance(dtype, pd.SparseDtype):
        return _object_parts(series.astype(object).to_numpy())
    if isinstance(dtype, pd.DatetimeTZDtype) or (isinstance(dtype, np.dtype) and dtype.kind == "M"):
        return [("datetime", _utc_ns(series))]
    if isinstance(dtype, np.dtype) and dtype.kind == "m":
        return [("timedelta", series.to_numpy().astype("m8[ns]").view("i8"))]
    if isinstance(dtype, pd.api.extensions.ExtensionDtype):  # Int64, Float64, boolean, ...
        if series.isna().any():
            return _object_parts(series.astype(object).to_numpy())
        series = series.to_numpy(dtype=getattr(dtype, "numpy_dtype", object))
        dtype = series.dtype
    values = np.asarray(series)
    if dtype.kind == "b":
        return [("bool", values.astype(np.uint8))]
    if dtype.kind in "iu":
        return [("int", values.astype(np.int64 if dtype.kind == "i" else np.uint64))]
    if dtype.kind == "f":
        return [("float", _canonical_float(values))]
    if dtype.kind == "c":
        return [("complex.real", _canonical_float(values.real)), ("complex.imag", _canonical_float(values.imag))]
    return _object_parts(values.astype(object))


def _canonical_float(values: np.ndarray) -> np.ndarray:
    out = values.astype(np.float64) + 0.0  # -0.0 -> 0.0
    out[np.isnan(out)] = np.nan  # one NaN bit pattern
    return out


def _utc_ns(series: pd.Series) -> np.ndarray:
    times = pd.to_datetime(series)
    if isinstance(times.dtype, pd.DatetimeTZDtype):
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    return times.to_numpy().astype("M8[ns]").view("i8")


def _object_parts(values: np.ndarray):
    vectors = _as_vectors(values)
    if vectors is not None:
        kind = "int" if vectors.dtype.kind in "iub" else "float"
        parts = []
        for j in range(vectors.shape[1]):
            component = vectors[:, j]
            if kind == "int":
                component = component.astype(np.uint64 if component.dtype.kind == "u" else np.int64)
            else:
                component = _canonical_float(component)
            parts.append((f"vector{vectors.shape[1]}[{j}]:{kind}", component))
        return parts
    return [("object", np.array([_cell_text(v) for v in values], dtype=object))]


def _as_vectors(values: np.ndarray):
    """A 2-D numeric array when every cell is a list-like of the same length >= 1, else None."""
    if values.size == 0:
        return None
    first = values[0]
    if not isinstance(first, (list, tuple, np.ndarray)):
        return None
    width = len(first)
    if width == 0:
        return None
    for cell in values:
        if not isinstance(cell, (list, tuple, np.ndarray)) or len(cell) != width:
            return None
    try:
        stacked = np.array([np.asarray(cell) for cell in values])
    except (ValueError, TypeError):
        return None
    if stacked.ndim != 2 or stacked.dtype.kind not in "iubf":
        return None
    return stacked


def _cell_text(value) -> str:
    """Type-tagged text of one cell; the same value gives the same text on every machine."""
    if value is None or value is pd.NA or value is pd.NaT:
        return "n:"
    if isinstance(value, (bool, np.bool_)):
        return f"b:{int(value)}"
    if isinstance(value, (int, np.integer)):
        return f"i:{int(value)}"
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return "n:"
        return f"f:{value + 0.0!r}"
    if isinstance(value, str):
        return "s:" + value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "x:" + bytes(value).hex()
    if isinstance(value, pd.Timestamp) or isinstance(value, _dt.datetime):
        stamp = pd.Timestamp(value)
        if stamp.tzinfo is not None:
            stamp = stamp.tz_convert("UTC").tz_localize(None)
        return f"t:{stamp.value}"
    if isinstance(value, (list, tuple, np.ndarray)):
        return "l:[" + ",".join(_cell_text(v) for v in list(value)) + "]"
    if isinstance(value, dict):
        items = sorted((str(k), _cell_text(v)) for k, v in value.items())
        return "d:{" + ",".join(f"{k}={v}" for k, v in items) + "}"
    if isinstance(value, (set, frozenset)):
        return "e:{" + ",".join(sorted(_cell_text(v) for v in value)) + "}"
    if isinstance(value, complex):
        return f"c:{value.real!r},{value.imag!r}"
    return f"r:{type(value).__name__}:{value!r}"
