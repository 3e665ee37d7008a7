"""Reports: standard summaries of a selection of neurons, as pictures and tables.

``connectivity_report(client, root_ids, *, version=None, by="cell_type")`` (also
``cavewidgets.connectivity_report``) returns a :class:`ConnectivityReport` that renders inline
and saves as HTML/PNG/CSV. Its queries are recorded in the provenance log (``source="report"``).

Example::

    report = cavewidgets.connectivity_report(client, roots)
    report.save("report_dir")
"""

from .connectivity import clean_root_ids, connectivity_report
from .report import ConnectivityReport

__all__ = ["connectivity_report", "ConnectivityReport", "clean_root_ids"]
