"""Segment ids (root, supervoxel, level-2): the one parser behind every public entry point.

The rules, in one place:

- **Accepted, exactly:** Python ``int``, numpy integers and decimal strings of ASCII digits
  (``"864691135808684573"``), for values ``1 <= id < 2**64``.
- **Refused** with :class:`IdError` (a ``ValueError`` *and* a ``TypeError``, so either
  ``except`` catches it), the offending value in the message: ``bool``; every float, even
  ``3.0`` (a float cannot hold an id above 2**53 exactly, and ``3.7`` must not become ``3``);
  NaN, ``None`` and ``pd.NA``; negatives; ``2**64`` and above; strings that are not plain
  decimal digits (signs, spaces, ``"1e3"``, ``"0x1f"``, ``"1_000"``, non-ASCII digits); any
  other type.
- **Zero** means "no segment". It is refused (``allow_zero=False``, the default) wherever an
  id names a segment to show, fetch or analyse: ``Viewer.segments`` / ``add_segments`` /
  ``remove_segments``, ``Explorer.select``, ``ReviewQueue``, ``MorphologyPanel.show``,
  ``skeleton_from_l2``, ``Skeleton``/``skeletonize``'s ``root_id``, ``connectivity_report``,
  ``record_fetch`` and a draft's ``root_id`` (pass ``None`` for a draft on no segment).
  It is accepted (``allow_zero=True``) only where 0 is *data*: root-id columns of query
  results (a synapse whose partner is on no segment), segment lists inside a neuroglancer
  state and its annotations' segment links. Those callers then drop the zeros.

Example::

    parse_root_id("864691135808684573")              # 864691135808684573
    parse_root_ids([1, "2", np.uint64(2**64 - 1)])   # array([1, 2, 18446744073709551615], dtype=uint64)
    parse_root_id(3.0)                               # IdError: root id 3.0 is a float ...
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

__all__ = ["IdError", "MAX_ID", "parse_root_id", "parse_root_ids"]

#: the largest id (uint64)
MAX_ID = 2**64 - 1
_DIGITS = re.compile(r"[0-9]+")  # not \d: it matches non-ASCII digits, which int() would read


class IdError(ValueError, TypeError):
    """A value that is not a valid segment id; the message names the value and the rule broken."""


def _show(value) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_range(value: int, original, what: str, allow_zero: bool) -> int:
    if value == 0 and not allow_zero:
        raise IdError(f"{what} {_show(original)} is 0, which means 'no segment'")
    if value < 0 or value > MAX_ID:
        raise IdError(f"{what} {_show(original)} is outside the uint64 range (1 <= id < 2**64)")
    return value


def parse_root_id(value, *, what: str = "root id", allow_zero: bool = False) -> int:
    """``value`` as an exact Python ``int`` by the rules above, or :class:`IdError`.

    ``what`` names the id in the error (``"segment id"``, ``"l2 id"``...); ``allow_zero`` only
    where 0 is data meaning "no segment".

    Example::

        parse_root_id(np.uint64(864691135808684573))   # 864691135808684573
        parse_root_id("12a")                           # IdError: root id '12a' is not a decimal integer
    """
    if isinstance(value, (bool, np.bool_)):
        raise IdError(f"{what} {_show(value)} is a bool, not an id")
    if isinstance(value, numbers.Integral):
        return _check_range(int(value), value, what, allow_zero)
    if isinstance(value, str):
        if value[:1] == "-" and _DIGITS.fullmatch(value[1:]):
            raise IdError(f"{what} {_show(value)} is negative: outside the uint64 range (1 <= id < 2**64)")
        if not _DIGITS.fullmatch(value) or len(value.lstrip("0")) > 20:
            raise IdError(f"{what} {_show(value)} is not a decimal integer (digits 0-9 only)")
        return _check_range(int(value), value, what, allow_zero)
    if isinstance(value, numbers.Real):  # float, numpy floats, NaN
        raise IdError(f"{what} {_show(value)} is a float: pass ids as ints or decimal strings "
                      "(floats cannot hold ids above 2**53)")
    if value is None or value is pd.NA:
        raise IdError(f"{what} is missing ({value!r})")
    raise IdError(f"{what} {_show(value)} is a {type(value).__name__}, not an int or a decimal string")


def parse_root_ids(values, *, what: str = "root ids", allow_zero: bool = False) -> np.ndarray:
    """Many ids as an exact ``uint64`` array, each by :func:`root_id`'s rules (one id alone
    gives a one-element array; an ndarray keeps its shape). Exact above 2**53: nothing goes
    through float64.

    Example::

        parse_root_ids(pd.Series([864691135808684573, 2**64 - 1], dtype="uint64"))
        parse_root_ids(np.array([1.0, 2.0]))   # IdError: root ids: 1.0 is a float ...
    """
    one = what[:-1] if what.endswith("s") else what
    if isinstance(values, (str, numbers.Integral, np.bool_)) or isinstance(values, bool):
        return np.array([parse_root_id(values, what=one, allow_zero=allow_zero)], dtype=np.uint64)
    if isinstance(values, pd.DataFrame):
        raise IdError(f"{what} must be a list, array or Series of ids, not a DataFrame; pick a column")
    if isinstance(values, (pd.Series, pd.Index, pd.api.extensions.ExtensionArray)):
        return _from_pandas(values, what, one, allow_zero)
    if isinstance(values, np.ndarray):
        return _from_numpy(values, what, one, allow_zero)
    if isinstance(values, (bytes, Mapping)) or not isinstance(values, Iterable):
        raise IdError(f"{what} must be an id or a list, array or Series of ids, not {type(values).__name__} "
                      f"{_show(values)}")
    items = list(values)
    if items and all(type(v) is int for v in items):  # the common case, without a Python loop per id
        lo, hi = min(items), max(items)
        if lo >= (0 if allow_zero else 1) and hi <= MAX_ID:
            return np.array(items, dtype=np.uint64)
    return np.array([parse_root_id(v, what=one, allow_zero=allow_zero) for v in items], dtype=np.uint64)


def _from_numpy(arr: np.ndarray, what: str, one: str, allow_zero: bool) -> np.ndarray:
    kind = arr.dtype.kind
    if kind in "iu":
        bad = (arr < 0) | (arr == 0) if not allow_zero else arr < 0
        if bad.any():
            parse_root_id(arr.ravel()[np.flatnonzero(bad.ravel())[0]], what=one, allow_zero=allow_zero)
        return arr.astype(np.uint64, copy=False)
    if kind in "OUS" or kind == "T":  # objects and strings: each by the scalar rules
        flat = [v.decode() if isinstance(v, bytes) else v for v in arr.ravel().tolist()] if kind == "S" \
            else arr.ravel().tolist()
        out = np.array([parse_root_id(v, what=one, allow_zero=allow_zero) for v in flat], dtype=np.uint64)
        return out.reshape(arr.shape)
    if arr.size == 0:  # an empty float array (np.array([])) holds no float id
        return np.zeros(arr.shape, dtype=np.uint64)
    first = arr.ravel()[0]
    kind_name = {"f": "float", "c": "complex", "b": "bool", "M": "datetime", "m": "timedelta"}.get(kind, str(arr.dtype))
    raise IdError(f"{what} are {kind_name}s ({arr.dtype}, e.g. {_show(first.item())}), not integer ids"
                  + (": floats cannot hold ids above 2**53" if kind == "f" else ""))


def _from_pandas(values, what: str, one: str, allow_zero: bool) -> np.ndarray:
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _from_pandas(pd.Series(np.asarray(values.astype(object))), what, one, allow_zero)
    if isinstance(dtype, np.dtype):
        return _from_numpy(np.asarray(values), what, one, allow_zero)
    if pd.api.types.is_integer_dtype(dtype):  # nullable Int64 / UInt64 / pyarrow integers
        na = np.asarray(pd.isna(values))
        if na.any():
            raise IdError(f"{what}: entry {int(np.flatnonzero(na)[0])} is missing (NA), not an id")
        target = np.uint64 if pd.api.types.is_unsigned_integer_dtype(dtype) else np.int64
        return _from_numpy(np.asarray(values.to_numpy(dtype=target)), what, one, allow_zero)
    return _from_numpy(np.asarray(values.to_numpy(dtype=object)), what, one, allow_zero)
