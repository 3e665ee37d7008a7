"""Key lookups of the TableBrowser without a hash table of every key.

``pd.Index(values).has_duplicates`` and ``get_indexer`` build (and keep) a hash table of all
keys: about 25 bytes a row, more than half the size of a narrow 10M-row synapse frame. An id
column is usually sorted, and then a binary search answers both questions with no extra memory;
otherwise duplicates are found on a sorted copy (freed at once) and a few keys are looked up by
scanning.

Example::

    keys = FrameKeys(df["id"])
    keys.has_duplicates()                   # False
    keys.get_indexer(pd.Index([10, 12]))    # row positions, -1 for missing
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SCAN_KEYS = 64  # up to this many keys are looked up by scanning; more build a hash table (then freed)


def _increasing(values: np.ndarray, chunk: int = 1 << 20) -> bool:
    """Whether each value is larger than the one before, compared a chunk at a time (a 10M-row
    column's comparison in one go is a 10 MB temporary)."""
    windows = (values[s : s + chunk + 1] for s in range(0, len(values) - 1, chunk))  # overlapping by one
    return all(bool(np.all(w[1:] > w[:-1])) for w in windows)


class FrameKeys:
    """The key column of a DataFrame, looked up by binary search (sorted) or scan.

    Example::

        FrameKeys(df["id"])[[0, 5]].tolist()    # the keys of rows 0 and 5
    """

    def __init__(self, values):
        self.index = pd.Index(values)  # shares the column's data; no hash table until asked
        self.dtype = self.index.dtype
        self._values = self.index.to_numpy()
        # fast paths for plain numpy numbers only: a nullable column's NA turns into NaN (or an
        # object) in to_numpy, which neither sorts nor compares as a key
        self._numeric = isinstance(self.dtype, np.dtype) and self.dtype.kind in "iuf" and \
            not (self.dtype.kind == "f" and bool(np.isnan(self._values).any()))  # NaN equals nothing
        self._sorted = self._numeric and len(self._values) > 0 and _increasing(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def has_duplicates(self) -> bool:
        """Whether any key repeats (a sorted copy for numbers, freed at once)."""
        if self._sorted:
            return False
        if self._numeric:
            ordered = np.sort(self._values)
            return bool(np.any(ordered[1:] == ordered[:-1]))
        return self._hashed(lambda index: index.has_duplicates)

    def duplicated_examples(self, count: int = 3) -> tuple[int, list]:
        """How many rows repeat an earlier key, and a few such keys."""
        dup = self._hashed(lambda index: index.duplicated())
        return int(dup.sum()), list(self.index[dup][:count])

    def _hashed(self, question):
        index = pd.Index(self.index)  # same dtype (nullable ids keep their NA), its own hash table
        try:
            return question(index)
        finally:
            index._cleanup()  # pandas keeps the hash table on the Index otherwise

    def get_indexer(self, wanted: pd.Index) -> np.ndarray:
        """Row positions of the wanted keys, -1 for keys not in the column."""
        values = self._values
        if len(wanted) == 0:
            return np.zeros(0, dtype=np.int64)
        if wanted.dtype != self.dtype and wanted.isna().all():
            # a missing key (NaT, NA) built without the column's dtype (its time zone, say)
            try:
                wanted = pd.Index(pd.array([None] * len(wanted), dtype=self.dtype))
            except (TypeError, ValueError):
                pass
        if self._sorted and wanted.dtype == values.dtype:
            at = np.searchsorted(values, wanted.to_numpy())
            inside = at < len(values)
            hit = np.zeros(len(wanted), dtype=bool)
            hit[inside] = values[at[inside]] == wanted.to_numpy()[inside]
            return np.where(hit, at, -1).astype(np.int64)
        if len(wanted) <= SCAN_KEYS and wanted.dtype == values.dtype and self._numeric:
            out = np.full(len(wanted), -1, dtype=np.int64)
            for i, key in enumerate(wanted.to_numpy()):
                found = np.flatnonzero(values == key)
                if len(found):
                    out[i] = found[0]
            return out
        return self._hashed(lambda index: index.get_indexer(wanted))

    def __getitem__(self, rows) -> pd.Index:
        return self.index[rows]
