"""``snapshot_reports(flat)``: the four snapshot reports of a flat connectome export, as report objects.

Each :class:`SnapshotReport` renders inline (HTML with its PNG embedded) and saves like the
connectivity report: ``report.html``, ``<name>.png``, and the table behind it as CSV and feather.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import pandas as pd

from .._storage import output_dir
from . import figures as fg
from . import snapshot as sn
from . import snapshot_figures as sf
from .report import table_html

TITLES = {
    "status_counts": "Proofreading status counts",
    "captured_connectivity": "Connectivity captured by partner status",
    "cumulative_connectivity": "Cumulative connectivity by ranked partner",
    "downstream_capture": "Downstream capture",
}
_ROLE_OF = {"proofread": "proofreading_table", "typed": "cell_type_table", "somatic": "soma_table"}


class SnapshotReport:
    """One snapshot report: ``table`` (DataFrame), ``figure`` (matplotlib), ``png``, ``meta``.

    Example::

        report = cavewidgets.snapshot_reports(flat)["downstream_capture"]
        report.table.head(); report.save("downstream_capture")
    """

    def __init__(self, name: str, table: pd.DataFrame, figure, meta: dict, notes: list[str]):
        self.name, self.title = name, TITLES[name]
        self.table, self.figure, self.meta, self.notes = table, figure, dict(meta), list(notes)
        self.png = fg.png(figure)

    def __repr__(self) -> str:
        return (f"<SnapshotReport {self.name}: {len(self.table)} rows, {self.meta['datastack']} "
                f"version {self.meta['version']}>")

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/html": self._repr_html_(), "text/plain": repr(self)}

    def _repr_html_(self) -> str:
        return self.to_html()

    def to_html(self, image: str | None = None) -> str:
        """The report as an HTML fragment; the PNG embedded unless ``image`` names its file.

        Example::

            Path("status.html").write_text(report.to_html())
        """
        m, esc = self.meta, html.escape
        src = image or "data:image/png;base64," + base64.b64encode(self.png).decode()
        notes = "".join(f"<li>{esc(n)}</li>" for n in self.notes)
        return "\n".join([
            "<div class='cavewidgets-report' style='font-family:sans-serif;max-width:1400px'>",
            f"<h2>{esc(self.title)}</h2>",
            "<p>" + esc(f"{m['datastack']} · materialization version {m['version']} ({m['timestamp']}) · "
                        f"{m['n_neurons']} selected neurons · synapses from {m['tables'].get('synapse_table')}, "
                        f"scope {m.get('scope')}") + "</p>",
            f"<ul>{notes}</ul>" if notes else "",
            f"<img alt='{esc(self.title)}' src='{src}' style='max-width:100%'>",
            table_html(self.table, self.title + " (table)", digits=3),
            "</div>"])

    def save(self, directory, *, overwrite: bool = False) -> Path:
        """Write ``report.html``, ``<name>.png``, ``<name>.csv``, ``<name>.feather`` and ``report.json``.

        Example::

            report.save("snapshot/status_counts")
        """
        target = _target(directory, overwrite)
        (target / f"{self.name}.png").write_bytes(self.png)
        self.table.to_csv(target / f"{self.name}.csv", index=False)
        self.table.reset_index(drop=True).to_feather(target / f"{self.name}.feather")
        (target / "report.json").write_text(json.dumps({**self.meta, "report": self.name, "notes": self.notes},
                                                       indent=2, default=str) + "\n")
        (target / "report.html").write_text(_document(self.title, self.to_html(image=f"{self.name}.png")))
        return target


class SnapshotReports(dict):
    """The four snapshot reports by name (``TITLES`` order); renders them all and saves them all.

    Example::

        reports = cavewidgets.snapshot_reports(flat)
        reports.save("snapshot_reports")     # one directory per report + index.html
    """

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/html": self._repr_html_(), "text/plain": repr(self)}

    def _repr_html_(self) -> str:
        return "\n".join(report.to_html() for report in self.values())

    def __repr__(self) -> str:
        return f"<SnapshotReports {list(self)}>"

    def save(self, directory, *, overwrite: bool = False) -> Path:
        """Each report into ``directory/<name>/`` plus an ``index.html`` showing all of them.

        Example::

            reports.save("snapshot_reports", overwrite=True)
        """
        target = _target(directory, overwrite)
        for name, report in self.items():
            report.save(target / name, overwrite=True)
        body = "\n".join(report.to_html(image=f"{name}/{name}.png") for name, report in self.items())
        (target / "index.html").write_text(_document("Snapshot reports", body))
        return target


def snapshot_reports(flat, *, capture: str = "proofread") -> SnapshotReports:
    """The snapshot reports of a flat connectome export (a ``FlatConnectome`` or its directory).

    ``capture`` decides which partners count as captured in the downstream-capture report
    (``"proofread"``, ``"typed"`` or ``"somatic"``). A role the datastack has no table for leaves
    its numbers empty (NaN) and the report says so.

    Example::

        flat = cavewidgets.flat_connectome(client, roots, out="flat")
        reports = cavewidgets.snapshot_reports(flat)       # or snapshot_reports("flat")
        reports["cumulative_connectivity"].table.head()
        reports.save("snapshot_reports")
    """
    from ..connectome import FlatConnectome

    if isinstance(flat, (str, Path)):
        flat = FlatConnectome.read(flat)
    if not isinstance(flat, FlatConnectome):
        raise TypeError(f"snapshot_reports needs a FlatConnectome or an export directory, got {type(flat).__name__}")
    if capture not in sn.CAPTURE:
        raise ValueError(f"capture must be one of {list(sn.CAPTURE)}, got {capture!r}")
    meta = {k: flat.meta.get(k) for k in ("datastack", "version", "timestamp", "scope", "n_neurons", "min_weight", "tables")}
    tables = meta["tables"] or {}
    missing = tuple(flag for flag, role in _ROLE_OF.items() if not tables.get(role))
    notes = [f"no {role.replace('_', ' ')} in the datastack: '{flag}' is left empty"
             for flag, role in _ROLE_OF.items() if flag in missing]
    if meta["scope"] == "within":
        notes.append("scope 'within': only synapses between selected neurons were exported; "
                     "fractions are of those")
    roots, ann, partners, version = flat.body_stats["body"], flat.body_annotations, flat.partners, meta["version"]
    status = sn.status_counts(ann)
    captured = sn.captured_by_partner_status(partners, ann, roots, missing)
    cumulative = sn.cumulative_connectivity(partners, ann, roots)
    downstream = sn.downstream_capture(partners, ann, roots, capture, missing)
    return SnapshotReports({
        "status_counts": SnapshotReport("status_counts", status, sf.status_counts(status, version), meta, notes),
        "captured_connectivity": SnapshotReport("captured_connectivity", captured,
                                                sf.captured_connectivity(captured, version), meta, notes),
        "cumulative_connectivity": SnapshotReport("cumulative_connectivity", cumulative,
                                                  sf.cumulative_connectivity(cumulative, version), meta, notes),
        "downstream_capture": SnapshotReport("downstream_capture", downstream,
                                             sf.downstream_capture(downstream, capture, version),
                                             {**meta, "capture": capture}, notes),
    })


def _target(directory, overwrite: bool) -> Path:
    target = output_dir(directory, overwrite=overwrite)
    target.mkdir(parents=True, exist_ok=True)
    return target


def _document(title: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
            f"<body>{body}</body></html>\n")
