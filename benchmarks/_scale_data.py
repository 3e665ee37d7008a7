"""The synapse-shaped table of the scale runs of ``table_browser.py``: deterministic, made in chunks.

Columns (41 bytes a row in pandas): ``id`` int64 (= row position), ``pre_pt_root_id`` /
``post_pt_root_id`` uint64 above 2^60, ``ctr_pt_position_x/y/z`` float32 (nm), ``size`` int32 and
``cell_type`` a 5-value categorical. No random numbers: modular formulas whose extremes are not in
row 0, so a sort visibly changes the first row.

Example::

    df = frame(1_000_000)                               # a DataFrame, for the 10M-row case
    path = cached_parquet(100_000_000)                  # written once (chunked), then reused
    extremes = column_extremes(1_000_000)["size"]       # {"all": [1, 1999], "BC": [1, 1999], ...}
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

BIG = 2**60
CATEGORIES = ["23P", "4P", "BC", "MC", "5P-IT"]
CHUNK = 1 << 20
SORTABLE = ["size", "post_pt_root_id", "pre_pt_root_id"]  # separate columns in every tool (TableBrowser merges x/y/z)
CACHE = Path(os.environ.get("CAVEWIDGETS_BENCH_CACHE", Path.home() / ".cache" / "cavewidgets" / "bench"))


def columns(start: int, stop: int, roots_as_int64: bool = False) -> dict:
    """Rows [start, stop) as numpy columns (``cell_type`` as int8 codes into CATEGORIES)."""
    i = np.arange(start, stop, dtype=np.int64)
    root = np.int64 if roots_as_int64 else np.uint64  # 2^60 + k fits int64: quak/ipydatagrid variants
    return {
        "id": i,
        "pre_pt_root_id": (np.uint64(BIG) + ((i * 7919 + 50_000) % 100_003).astype(np.uint64)).astype(root),
        "post_pt_root_id": (np.uint64(BIG) + ((i * 104_729 + 40_000) % 99_991).astype(np.uint64)).astype(root),
        "ctr_pt_position_x": ((i * 7919 + 500_000) % 1_000_003).astype(np.float32),
        "ctr_pt_position_y": ((i * 104_729 + 400_000) % 999_983).astype(np.float32),
        "ctr_pt_position_z": ((i * 15_485_863 + 50_000) % 99_991).astype(np.float32),
        "size": ((i * 31 + 1000) % 1999 + 1).astype(np.int32),
        "cell_type": (i % 5).astype(np.int8),
    }


def frame(n: int, roots_as_int64: bool = False):
    """The first ``n`` rows as a pandas DataFrame (built chunk by chunk into preallocated arrays)."""
    import pandas as pd

    cols = {k: np.empty(n, v.dtype) for k, v in columns(0, 1, roots_as_int64).items()}
    for start in range(0, n, CHUNK):
        for k, v in columns(start, min(n, start + CHUNK), roots_as_int64).items():
            cols[k][start:start + len(v)] = v
    cols["cell_type"] = pd.Categorical.from_codes(cols["cell_type"], CATEGORIES)
    return pd.DataFrame(cols, copy=False)


def cached_parquet(n: int) -> Path:
    """A parquet file of the first ``n`` rows in CACHE, written once in 1M-row groups (low memory)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = CACHE / f"synapses-v2-{n}.parquet"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    writer = None
    try:
        for start in range(0, n, CHUNK):
            cols = columns(start, min(n, start + CHUNK))
            cols["cell_type"] = pa.DictionaryArray.from_arrays(pa.array(cols["cell_type"]), pa.array(CATEGORIES))
            table = pa.table(cols)
            writer = writer or pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table, row_group_size=CHUNK)
        writer.close()
        tmp.rename(path)  # only a complete file gets the name that is reused
    finally:
        tmp.unlink(missing_ok=True)
    return path


def column_extremes(n: int) -> dict:
    """Per SORTABLE column, [min, max] over all rows and per cell type (what a sorted view shows first)."""
    out = {c: {k: [np.inf, -np.inf] for k in ["all", *CATEGORIES]} for c in SORTABLE}
    for start in range(0, n, CHUNK):
        cols = columns(start, min(n, start + CHUNK))
        masks = {"all": slice(None), **{name: cols["cell_type"] == k for k, name in enumerate(CATEGORIES)}}
        for c in SORTABLE:
            for k, m in masks.items():
                v = cols[c][m]
                if len(v):
                    lo, hi = out[c][k]
                    out[c][k] = [min(lo, float(v.min())), max(hi, float(v.max()))]
    return out


if __name__ == "__main__":  # write the 100M-row file ahead of a run: python benchmarks/_scale_data.py 100000000
    import sys
    import time

    t0 = time.time()
    print(cached_parquet(int(sys.argv[1])), f"{time.time() - t0:.0f} s")
