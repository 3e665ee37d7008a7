"""Reproducible analysis: the provenance log, ``track(client)`` and the export bundle.

Public (also as ``cavewidgets.track``, ``cavewidgets.provenance``, ``cavewidgets.export``)::

    tracked = cavewidgets.track(client)                     # caveclient API, queries recorded
    tracked.materialize.query_table("nucleus_detection_v0")
    cavewidgets.provenance()                                # the log as a DataFrame
    cavewidgets.export("bundle_dir", viewer=viewer)         # parquet + manifest + reproduce.py

Organised like a paper (see ``papers``)::

    with cavewidgets.start_export(paper="v1_wiring", analysis="fig2"):   # tagged, logged on disk
        tracked.materialize.query_table("synapses_pni_2", filter_in_dict={...})
    drop_query / drop_analysis / rename_analysis / rename_paper         # edit the log (``editing``)

Recording API for widgets (see ``log`` for details)::

    record_query(client, *, method, table=None, params=None, result=None, version=None,
                 timestamp=None, source="explorer") -> Record
    record_fetch(client, *, kind, root_id, timestamp=None, result_hash=None) -> Record
    record_posted_annotations(client, table, ids)
"""

from .bundle import export, package_versions, reproduce_script
from .editing import drop_analysis, drop_query, rename_analysis, rename_paper
from .hashing import frame_hash, result_hash, row_hashes
from .log import (
    LOG,
    Record,
    record_fetch,
    record_posted_annotations,
    record_query,
    unwrap,
)
from .log_frames import posted_annotations, provenance
from .paper_export import preview_export
from .papers import active_export, papers, read_paper, start_export, stop_export
from .tracking import TrackedClient, track


def clear() -> None:
    """Empty this kernel's provenance log (records, kept results, posted annotation ids).

    Example::

        cavewidgets.reproducible.clear()
    """
    LOG.clear()


__all__ = [
    "track", "provenance", "export", "record_query", "record_fetch", "record_posted_annotations",
    "posted_annotations", "frame_hash", "row_hashes", "result_hash", "package_versions",
    "reproduce_script", "clear", "unwrap", "Record", "TrackedClient", "LOG",
    "start_export", "stop_export", "preview_export", "active_export", "read_paper", "papers",
    "drop_analysis", "drop_query", "rename_analysis", "rename_paper",
]
