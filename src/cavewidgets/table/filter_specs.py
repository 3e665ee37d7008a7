"""Filter specs of the TableBrowser: what a user passes, normalised, and as SQL.

One spec format for every engine (in memory and out of core): ``{"kind": "in", "values": [...]}``,
``{"kind": "range", "min": ..., "max": ...}`` or ``{"kind": "contains", "text": ...}``, values
kept JSON-safe (uint64 ids as exact strings where JSON would round them).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .duck import quote
from .values import json_safe, parse_literal


def normalise_filter(kinds: dict, column: str, spec: Any) -> dict | None:
    """Turn what a user passes (list, (min, max) tuple, scalar, or a spec dict) for ``column``
    (of ``kinds``, name → column kind) into a spec dict, or None for no filter.

    Example::

        >>> normalise_filter({"size": "int"}, "size", (10, None))
        {'kind': 'range', 'min': '10', 'max': None}
        >>> normalise_filter({"cell_type": "category"}, "cell_type", "L2a")
        {'kind': 'in', 'values': ['L2a']}
    """
    kind = kinds[column]
    if spec is None:
        return None
    if isinstance(spec, dict):
        k = spec.get("kind")
        if k is None and len(spec) == 1:
            ((k, v),) = spec.items()
            spec = {"kind": "contains", "text": v} if k == "contains" else spec
            k = spec.get("kind")
        if k == "range":
            lo, hi = spec.get("min"), spec.get("max")
            lo = None if lo in ("", None) else lo
            hi = None if hi in ("", None) else hi
            return _range(kinds, column, lo, hi)
        if k == "in":
            values = spec.get("values")
            if not isinstance(values, (list, tuple)):
                raise ValueError(f"filter on {column!r}: 'values' must be a list")
            return normalise_filter(kinds, column, list(values))
        if k == "contains":
            text = spec.get("text")
            if not isinstance(text, str):
                raise ValueError(f"filter on {column!r}: 'text' must be a string")
            return {"kind": "contains", "text": text} if text else None
        raise ValueError(f"filter on {column!r}: unknown filter {spec!r}")
    if isinstance(spec, tuple):
        if len(spec) != 2:
            raise ValueError(f"filter on {column!r}: a range is a (min, max) tuple, got {spec!r}")
        return _range(kinds, column, *spec)
    if isinstance(spec, (list, set, np.ndarray, pd.Series, pd.Index)):
        values = list(spec)
        if kind == "position":
            raise ValueError(f"column {column!r} holds positions; filter its _x/_y/_z parts or use search")
        parsed = [parse_literal(column, kinds[column], v) for v in values]
        return {"kind": "in", "values": [json_safe(kinds[column], v) for v in parsed]}
    return normalise_filter(kinds, column, [spec])

def _range(kinds: dict, column: str, lo: Any, hi: Any) -> dict | None:
    kind = kinds[column]
    if kind not in ("int", "uint", "float", "datetime"):
        raise ValueError(f"column {column!r} ({kind}) has no range filter; pass a list of values")
    if lo is None and hi is None:
        return None
    lo_v, hi_v = parse_literal(column, kinds[column], lo), parse_literal(column, kinds[column], hi)
    return {"kind": "range", "min": json_safe(kinds[column], lo_v), "max": json_safe(kinds[column], hi_v)}

def condition(kinds: dict, column: str, spec: dict) -> tuple[str, list]:
    """A normalised filter spec as a DuckDB WHERE clause and its parameters.

    Example::

        >>> condition({"size": "int"}, "size", {"kind": "range", "min": 10, "max": None})
        ('"size" >= ?', [10])
    """
    q = quote(column)
    kind = spec["kind"]
    if kind == "range":
        parts, params = [], []
        if spec.get("min") is not None:
            parts.append(f"{q} >= ?")
            params.append(parse_literal(column, kinds[column], spec["min"]))
        if spec.get("max") is not None:
            parts.append(f"{q} <= ?")
            params.append(parse_literal(column, kinds[column], spec["max"]))
        return " AND ".join(parts) or "TRUE", params
    if kind == "in":
        values = [parse_literal(column, kinds[column], v) for v in spec["values"]]
        present = [v for v in values if v is not None]
        parts, params = [], []
        if present:
            if kinds[column] in ("int", "uint") and all(isinstance(v, int) for v in present):
                # exact integer literals: a bound list could be typed as DOUBLE
                parts.append(f"{q} IN ({', '.join(str(int(v)) for v in present)})")
            else:
                parts.append(f"{q} IN (SELECT UNNEST(?))")
                params.append(present)
        if len(present) < len(values):
            parts.append(f"{q} IS NULL")
        return "(" + (" OR ".join(parts) or "FALSE") + ")", params
    raise ValueError(f"unknown filter kind {kind!r}")
