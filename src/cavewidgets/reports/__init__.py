"""Reports: standard summaries of a selection of neurons, as pictures and tables.

``connectivity_report(client, root_ids, *, version=None, by="cell_type")`` (also
``cavewidgets.connectivity_report``) returns a :class:`ConnectivityReport` that renders inline
and saves as HTML/PNG/CSV. Its queries are recorded in the provenance log (``source="report"``).

``snapshot_reports(flat)`` (also ``cavewidgets.snapshot_reports``) turns a flat connectome export
(``cavewidgets.flat_connectome``) into flyem-snapshot's reports: proofreading status counts,
connectivity captured by partner status, cumulative connectivity, downstream capture.

Example::

    report = cavewidgets.connectivity_report(client, roots)
    report.save("report_dir")
    cavewidgets.snapshot_reports(cavewidgets.flat_connectome(client, roots)).save("snapshot_dir")
"""

from .connectivity import clean_root_ids, connectivity_report
from .report import ConnectivityReport
from .snapshot_report import SnapshotReport, SnapshotReports, snapshot_reports

__all__ = ["connectivity_report", "ConnectivityReport", "clean_root_ids", "snapshot_reports",
           "SnapshotReport", "SnapshotReports"]
