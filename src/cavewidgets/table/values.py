"""Values of the TableBrowser engines: column descriptions, the all-rows view, typed filter values.

Example::

    from cavewidgets.table.values import AllRows, parse_literal
    AllRows(10)[2:5]                              # array([2, 3, 4])
    parse_literal("size", "float", "1.5")         # 1.5
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

CHUNK_ROWS = 1 << 18  # RowBits.rows / keep work 262,144 rows at a time: a few MB of temporaries


@dataclass
class ColumnInfo:
    name: str  # display / filter name
    kind: str  # int uint float bool string category position datetime object
    key: bool = False

    def as_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "key": self.key}


class AllRows:
    """The unsorted, unfiltered view of n rows, without an array of n row numbers.

    Example::

        AllRows(10)[2:5]    # array([2, 3, 4])
    """

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, item):
        if isinstance(item, slice):
            return np.arange(*item.indices(self.n), dtype=np.int64)
        if isinstance(item, (int, np.integer)):
            i = int(item)
            if not -self.n <= i < self.n:
                raise IndexError(i)
            return i % self.n
        return np.arange(self.n, dtype=np.int64)[item]

    def __array__(self, dtype=None, copy=None):
        return np.arange(self.n, dtype=dtype or np.int64)

    def tolist(self) -> list[int]:
        return list(range(self.n))


class RowBits:
    """A set of row numbers of an n-row table as bits (n/8 bytes, not n), read like a bool array.

    Example::

        bits = RowBits(10, [2, 5])
        bits[np.array([1, 2, 5])]   # array([False,  True,  True])
        bits[5]                     # True
    """

    def __init__(self, n: int, rows=()):
        at = np.asarray(rows, dtype=np.int64)
        if np.any((at < -n) | (at >= n)):
            raise IndexError(f"row out of range for {n} rows")
        at = at % n if n else at
        self.n = n
        self._bits = np.zeros((n + 7) // 8, dtype=np.uint8)  # set bit by bit: no n-byte bool mask
        np.bitwise_or.at(self._bits, at >> 3, np.left_shift(1, at & 7).astype(np.uint8))

    @classmethod
    def of(cls, mask: np.ndarray) -> RowBits:
        """The rows where a bool array is True.

        Example::

            RowBits.of(np.array([True, False, True])).count()   # 2
        """
        bits = cls.__new__(cls)
        bits.n = len(mask)
        bits._bits = np.packbits(mask, bitorder="little")  # the padding bits are 0: never a row
        return bits

    @classmethod
    def packed(cls, n: int, bits: np.ndarray) -> RowBits:
        """The set whose bits (little-endian, as ``np.packbits(mask, bitorder="little")``) are given.

        Example::

            RowBits.packed(3, np.array([0b101], dtype=np.uint8)).rows()   # array([0, 2])
        """
        if len(bits) != (n + 7) // 8:
            raise ValueError(f"{len(bits)} bytes are not the bits of {n} rows")
        made = cls.__new__(cls)
        made.n, made._bits = n, bits
        return made

    def __len__(self) -> int:
        return self.n

    def __and__(self, other: RowBits) -> RowBits:
        if other.n != self.n:
            raise ValueError(f"row sets of {self.n} and {other.n} rows")
        both = RowBits.__new__(RowBits)
        both.n, both._bits = self.n, self._bits & other._bits
        return both

    def __getitem__(self, rows):
        at = np.asarray(rows, dtype=np.int64)
        if np.any((at < -self.n) | (at >= self.n)):
            raise IndexError(f"row out of range for {self.n} rows")
        at = at % self.n if self.n else at
        hit = self._hits(at)
        return hit.astype(bool) if hit.ndim else bool(hit)

    def _hits(self, at: np.ndarray) -> np.ndarray:
        return (self._bits[at >> 3] >> (at & 7).astype(np.uint8)) & 1

    def span(self, start: int, count: int) -> np.ndarray:
        """Rows [start, start + count) as a bool array (only those bytes unpacked).

        Example::

            RowBits(10, [2, 5]).span(1, 4)   # array([False,  True, False, False])
        """
        first = start // 8
        bits = np.unpackbits(self._bits[first : (start + count + 7) // 8], bitorder="little")
        return bits[start - 8 * first : start - 8 * first + count].view(bool)

    def count(self) -> int:
        """How many rows are in the set.

        Example::

            RowBits(10, [2, 5]).count()   # 2
        """
        return int(np.bitwise_count(self._bits).sum(dtype=np.int64))

    def arrow(self) -> pa.BooleanArray:
        """The set as an Arrow boolean array of n values, sharing these bits (no copy).

        Example::

            RowBits(3, [1]).arrow().to_pylist()   # [False, True, False]
        """
        return pa.Array.from_buffers(pa.bool_(), self.n, [None, pa.py_buffer(self._bits)])

    def rows(self, dtype=np.int64) -> np.ndarray:
        """The row numbers in the set, ascending (unpacked a chunk at a time: no n-long temporary).

        Example::

            RowBits(10, [5, 2]).rows()   # array([2, 5])
        """
        out = np.empty(self.count(), dtype=dtype)
        filled = 0
        for s in range(0, len(self._bits), CHUNK_ROWS // 8):
            part = np.flatnonzero(np.unpackbits(self._bits[s : s + CHUNK_ROWS // 8], bitorder="little")) + 8 * s
            out[filled : filled + len(part)] = part
            filled += len(part)
        return out

    def first_kept(self, order: np.ndarray, count: int, most: int = 1 << 23) -> np.ndarray | None:
        """The first ``count`` entries of ``order`` that are in the set (what ``keep(order)[:count]``
        gives), looking at no more than ``most`` entries of ``order``; None if those hold fewer.

        Example::

            RowBits(10, [2, 5]).first_kept(np.array([9, 5, 0, 2]), 1)   # array([5])
        """
        parts, found = [], 0
        for s in range(0, min(len(order), most), CHUNK_ROWS):
            chunk = order[s : s + CHUNK_ROWS]
            part = chunk[self._hits(chunk).astype(bool)]
            parts.append(part)
            found += len(part)
            if found >= count:
                return np.concatenate(parts)[:count]
        return np.concatenate([order[:0], *parts]) if len(order) <= most else None

    def keep(self, order: np.ndarray) -> np.ndarray:
        """The entries of ``order`` (row numbers) that are in the set, in ``order``'s order: what
        ``order[mask[order]]`` gives, a chunk at a time.

        Example::

            RowBits(10, [2, 5]).keep(np.array([9, 5, 0, 2]))   # array([5, 2])
        """
        parts = (chunk[self._hits(chunk).astype(bool)]
                 for chunk in (order[s : s + CHUNK_ROWS] for s in range(0, len(order), CHUNK_ROWS)))
        if len(order) != self.n:
            return np.concatenate([order[:0], *parts])
        out = np.empty(self.count(), dtype=order.dtype)  # a permutation: the set's size, known
        filled = 0
        for part in parts:
            out[filled : filled + len(part)] = part
            filled += len(part)
        return out


def parse_literal(column: str, kind: str, value: Any) -> Any:
    """A filter value typed for a column of ``kind``; ``ValueError`` naming the column if it is not one.

    Ids stay exact Python ints (uint64); a non-integer number for an integer column stays a float.

    Example::

        parse_literal("pt_root_id", "uint", "864691135808540566")   # 864691135808540566
    """
    if value is None:
        return None
    try:
        if kind in ("int", "uint"):
            if isinstance(value, (bool, np.bool_)):
                raise ValueError
            if isinstance(value, (int, np.integer)):
                return int(value)
            text = str(value).strip()
            try:
                return int(text)  # exact for uint64 ids
            except ValueError:
                f = float(text)
                if math.isnan(f):
                    raise
                return f
        if kind == "float":
            f = float(value)
            if math.isnan(f):
                raise ValueError
            return f
        if kind == "bool":
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
            text = str(value).strip().lower()
            if text in ("true", "1", "yes"):
                return True
            if text in ("false", "0", "no"):
                return False
            raise ValueError
        if kind == "datetime":
            ts = pd.Timestamp(value)
            return ts.to_pydatetime()
        return str(value)
    except (ValueError, TypeError, OverflowError):
        raise ValueError(f"{value!r} is not a valid value for column {column!r} ({kind})") from None


def json_safe(kind: str, value: Any) -> Any:
    """A parsed filter value as the browser gets it: integer ids as decimal strings, times as ISO text.

    Example::

        json_safe("uint", 2**64 - 1)   # "18446744073709551615"
    """
    # ids travel to the browser as decimal strings: a JS Number would round them
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and kind in ("int", "uint"):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
