"""Call arguments as the provenance log stores them: JSON-ready, secrets dropped, exact ids.

Example::

    from cavewidgets.reproducible.params import clean_params, jsonable
    jsonable({"filter_in_dict": {"pt_root_id": np.array([2**63 + 5], np.uint64)}})
    clean_params({"limit": 3, "auth_token": "..."})   # ({"limit": 3}, None): the token is dropped
"""

from __future__ import annotations

import datetime as _dt
import math

import numpy as np
import pandas as pd

FILTER_KEYS = {"pre_ids", "post_ids", "bounding_box", "bounding_box_column", "joins"}
_SECRET_WORDS = ("token", "secret", "password", "auth")


def utc(ts) -> _dt.datetime | None:
    """``ts`` as an aware UTC datetime (naive means UTC, as in caveclient); None stays None.

    Example::

        utc("2024-01-01 12:00")   # datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
    """
    if ts is None:
        return None
    stamp = pd.Timestamp(ts)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")  # caveclient treats naive timestamps as UTC
    return stamp.tz_convert("UTC").to_pydatetime()


def jsonable(value, path: str = "params"):
    """``value`` as JSON-ready data that decodes back to an equal call argument.

    Datetimes become ``{"__datetime__": iso}``, non-finite floats ``{"__float__": "nan"}``, arrays
    and sets lists (uint64 ids stay exact Python ints). Raises ``TypeError`` naming ``path`` for
    anything else (callables, arbitrary objects).
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, (pd.Timestamp, _dt.datetime)):
        return {"__datetime__": utc(value).isoformat()}
    if isinstance(value, _dt.date):
        return {"__date__": value.isoformat()}
    if isinstance(value, dict):
        return {str(k): jsonable(v, f"{path}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        items = [jsonable(v, path) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(value, (list, tuple, np.ndarray, pd.Series, pd.Index)):
        return [jsonable(v, f"{path}[{i}]") for i, v in enumerate(list(value))]
    raise TypeError(f"{path}: {type(value).__name__} {value!r:.80} cannot be stored for a re-run")


def clean_params(params: dict | None) -> tuple[dict, str | None]:
    """JSON-ready params without secrets; the problem text when some value cannot be stored.

    Example::

        clean_params({"limit": 3, "token": "x"})   # ({"limit": 3}, None)
    """
    out, problem = {}, None
    for key, value in (params or {}).items():
        key = str(key)
        if any(word in key.lower() for word in _SECRET_WORDS):
            continue  # never keep anything that looks like a credential
        try:
            out[key] = jsonable(value, key)
        except TypeError as err:
            out[key] = {"__unstorable__": repr(value)[:200]}
            problem = str(err)
    return out, problem


def filter_params(params: dict) -> dict:
    """The filter arguments of a query's params (``filter_*`` and :data:`FILTER_KEYS`).

    Example::

        filter_params({"filter_in_dict": {}, "limit": 3})   # {"filter_in_dict": {}}
    """
    return {k: v for k, v in params.items() if k.startswith("filter_") or k in FILTER_KEYS}


def n_rows(result) -> int | None:
    """Row count of a frame, series or list result; None for anything else.

    Example::

        n_rows(df)   # len(df)
    """
    if isinstance(result, (pd.DataFrame, pd.Series)):
        return len(result)
    if isinstance(result, (list, tuple)):
        return len(result)
    return None


def result_nbytes(result) -> int:
    """Shallow memory size of a DataFrame result (what the log's kept-results bound counts); else 0.

    Example::

        result_nbytes(df)
    """
    if isinstance(result, pd.DataFrame):
        return int(result.memory_usage(index=False, deep=False).sum())
    return 0
