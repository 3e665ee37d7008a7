"""The provenance log as DataFrames: :func:`provenance` and :func:`posted_annotations`.

Example::

    import cavewidgets
    cavewidgets.provenance()[["table", "version", "n_rows", "result_hash"]]
"""

from __future__ import annotations

import pandas as pd

from .hashing import HASH_ALGORITHM
from .log import LOG


PROVENANCE_COLUMNS = [
    "record_id", "kind", "source", "method", "datastack", "server", "version", "timestamp", "table",
    "filters", "select_columns", "n_rows", "started", "seconds", "result_hash", "result_kept",
    "root_id", "replayable", "params", "paper", "analysis",
]


def provenance(source: str | None = None) -> pd.DataFrame:
    """The provenance log of this kernel as a DataFrame, one row per query or fetch.

    Columns: ``record_id`` (export/``queries=`` key), ``kind`` (query | fetch), ``source``
    (track, explorer, report, ...), ``method`` (caveclient method, or skeleton/mesh),
    ``datastack``, ``server``, ``version`` (materialization version, nullable) or ``timestamp``
    (UTC, for live queries), ``table``, ``filters`` (dict of every filter argument),
    ``select_columns``, ``n_rows``, ``started`` (UTC), ``seconds``, ``result_hash`` (see
    ``hashing``), ``result_kept`` (result still in memory for export), ``root_id`` (fetches),
    ``replayable`` (reproduce.py can re-run it), ``params`` (all stored keyword arguments),
    ``paper`` and ``analysis`` (set while ``start_export`` is active, else None).
    The index is the record number used by ``export(queries=[...])``.

    Example::

        tracked = cavewidgets.track(client)
        tracked.materialize.query_table("nucleus_detection_v0")
        cavewidgets.provenance()[["table", "version", "n_rows", "result_hash"]]
    """
    records = LOG.select()
    if source is not None:
        records = [r for r in records if r.source == source]
    frame = pd.DataFrame([r.row() for r in records], columns=PROVENANCE_COLUMNS,
                         index=pd.Index([r.n for r in records], name="n", dtype="int64"))
    frame["version"] = frame["version"].astype("Int64")
    frame["n_rows"] = frame["n_rows"].astype("Int64")
    frame["root_id"] = pd.array([r.root_id for r in records], dtype="UInt64")
    frame["seconds"] = frame["seconds"].astype("float64")
    for col in ("timestamp", "started"):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    frame["result_kept"] = frame["result_kept"].astype(bool)
    frame["replayable"] = frame["replayable"].astype(bool)
    frame.attrs["hash_algorithm"] = HASH_ALGORITHM
    return frame


def posted_annotations() -> pd.DataFrame:
    """Annotation ids posted from this kernel: one row per id (``table``, ``annotation_id``, ...).

    Example::

        cavewidgets.reproducible.posted_annotations().groupby("table").size()
    """
    entries = LOG.posted_entries()
    rows = [{"datastack": e["datastack"], "server": e["server"], "table": e["table"], "annotation_id": i,
             "posted": e["posted"]} for e in entries for i in e["ids"]]
    frame = pd.DataFrame(rows, columns=["datastack", "server", "table", "annotation_id", "posted"])
    frame["annotation_id"] = frame["annotation_id"].astype("int64")
    frame["posted"] = pd.to_datetime(frame["posted"], utc=True)
    return frame
