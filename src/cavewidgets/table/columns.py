"""DataFrame columns to Arrow arrays for the TableBrowser, with a display kind per column.

Ids keep their integer type (no float64 detour), 3-vector object columns become
FixedSizeList<3> arrays, anything else that is not text is shown as JSON.

Example::

    array, kind = convert_column(df["pt_position"])   # (FixedSizeListArray, "position")
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

MAX_DICTIONARY = 1000


def _is_vector3(value: Any) -> bool:
    if isinstance(value, (list, tuple, np.ndarray)) and len(value) == 3:
        return all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in value)
    return False


def _json_text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.ndarray):
        value = value.tolist()
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return str(value)


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def positions_array(values: np.ndarray) -> pa.Array:
    """FixedSizeList<3> Arrow array from an object array of 3-vectors (None for missing)."""
    nulls = pd.isna(pd.Series(values, dtype=object)).to_numpy() if len(values) else np.zeros(0, dtype=bool)
    present = values[~nulls]
    try:
        flat = np.concatenate(present) if len(present) else np.zeros(0)
        ok = flat.size == 3 * len(present)
    except (ValueError, TypeError):
        ok = False
    if not ok:  # ragged or non-numeric rows count as missing
        bad = np.array([not _is_vector3(v) for v in present], dtype=bool)
        idx = np.flatnonzero(~nulls)
        nulls[idx[bad]] = True
        present = values[~nulls]
        flat = np.concatenate(present) if len(present) else np.zeros(0)
    if not nulls.any():
        return pa.FixedSizeListArray.from_arrays(pa.array(flat), 3)
    full = np.full((len(values), 3), np.nan)
    full[~nulls] = flat.reshape(-1, 3)
    return pa.FixedSizeListArray.from_arrays(pa.array(full.reshape(-1)), 3, mask=pa.array(nulls))


def object_kind(series: pd.Series) -> str:
    """'position' for 3-vectors, 'string' for text, else 'object' (shown as JSON)."""
    present = [v for v in series.iloc[:200].tolist() if not _is_missing(v)]
    if present and all(_is_vector3(v) for v in present):
        return "position"
    if all(isinstance(v, str) for v in present):
        return "string"
    return "object"


def _object_column(series: pd.Series) -> tuple[pa.Array, str]:
    """Arrow array and kind for an object column: strings, 3-vectors, or anything else as JSON."""
    values = series.to_numpy(dtype=object)
    kind = object_kind(series)
    if kind == "position":
        return positions_array(values), "position"
    if kind == "string":
        try:
            return pa.array(values, type=pa.string(), from_pandas=True), "string"
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass
    return pa.array([_json_text(v) for v in values], type=pa.string()), "object"


def _dictionary_array(series: pd.Series) -> pa.DictionaryArray:
    """A categorical as an Arrow dictionary whose indices are the categorical's own codes (no copy)
    when nothing is missing; Arrow's conversion (a copy with a null mask) otherwise."""
    codes = series.array.codes
    if len(codes) and codes.min() >= 0:
        ref = pa.array(series.iloc[:0], from_pandas=True)  # the dictionary and types Arrow would pick
        if ref.type.index_type == pa.from_numpy_dtype(codes.dtype):
            indices = pa.array(codes, type=ref.type.index_type)
            return pa.DictionaryArray.from_arrays(indices, ref.dictionary, ordered=ref.type.ordered)
    return pa.array(series, from_pandas=True)


def convert_column(series: pd.Series) -> tuple[pa.Array, str]:
    """Arrow array and display kind for one column, keeping ids exact (no float64 detour)."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        arr = _dictionary_array(series)
        if len(dtype.categories) > MAX_DICTIONARY:
            arr = arr.cast(pa.string()) if pa.types.is_string(arr.type.value_type) else pa.array(series.astype(str))
            return arr, "string"
        return arr, "category"
    if pd.api.types.is_bool_dtype(dtype):
        return pa.array(series, from_pandas=True), "bool"
    if pd.api.types.is_unsigned_integer_dtype(dtype):
        return pa.array(series, from_pandas=True), "uint"
    if pd.api.types.is_integer_dtype(dtype):
        return pa.array(series, from_pandas=True), "int"
    if pd.api.types.is_float_dtype(dtype):
        return pa.array(series, from_pandas=True), "float"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return pa.array(series, from_pandas=True), "datetime"
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        return pa.array(series, type=pa.string(), from_pandas=True), "string"
    if pd.api.types.is_object_dtype(dtype):
        return _object_column(series)
    return pa.array(series.astype(str), type=pa.string()), "string"


def split_position_columns(columns: list[str], frame: pd.DataFrame) -> dict[str, list[str]]:
    """``{prefix: [x, y, z]}`` for split position columns (``pt_position_x`` …)."""
    found = {}
    names = set(columns)
    for c in columns:
        if c.endswith("_x"):
            base = c[:-2]
            trio = [f"{base}_x", f"{base}_y", f"{base}_z"]
            if all(t in names for t in trio) and base not in names and all(
                pd.api.types.is_numeric_dtype(frame[t].dtype) for t in trio
            ):
                found[base] = trio
    return found
