"""``ConnectivityReport``: tables + figures, rendered inline and saved as HTML/PNG/CSV."""

from __future__ import annotations

import base64
import html
import json
import time
from pathlib import Path

import pandas as pd

from .._storage import output_dir
from . import figures as fg
from .labels import type_order

FIGURES = {
    "connectivity_matrix": "Connectivity matrix",
    "partners_by_type": "Inputs and outputs by partner type",
    "synapse_sizes": "Synapse size distributions",
    "soma_depth_volume": "Soma depth vs nucleus volume",
}
TABLES = ("cells", "connectome", "outputs_by_type", "inputs_by_type", "top_partners")
_HTML_ROWS = 25


class ConnectivityReport:
    """Connectivity summary of a set of neurons (made by ``cavewidgets.connectivity_report``).

    Tables (DataFrames): ``connectome`` (pre_root_id, post_root_id, n_synapses, summed_size within
    the selection), ``cells`` (root id, type, soma depth µm, nucleus volume µm³, synapse counts),
    ``outputs_by_type`` / ``inputs_by_type`` (synapses per neuron by partner type),
    ``top_partners``. ``figures``: matplotlib Figures; ``png``: their PNG bytes; ``meta``: version,
    timestamp, tables used, counts, timings.

    Example::

        report = cavewidgets.connectivity_report(client, roots)
        report                       # renders inline
        report.save("report_dir")    # report.html + PNGs + CSVs
    """

    def __init__(self, tables: dict, context: dict, meta: dict, started: float | None = None):
        self.tables = tables
        self.meta = dict(meta)
        label = context["by"]
        cells = tables["cells"]
        present = list(cells[label]) + list(tables["outputs_by_type"].columns) + list(tables["inputs_by_type"].columns)
        self.colors = fg.palette(type_order(context["all_types"], label, present))
        t0 = time.perf_counter()
        self.figures = {
            "connectivity_matrix": fg.connectivity_matrix(tables["connectome"], cells, label, meta["version"]),
            "partners_by_type": fg.partners_by_type(tables["outputs_by_type"], tables["inputs_by_type"],
                                                    cells, label, self.colors),
            "synapse_sizes": fg.synapse_sizes(context["outputs"], context["inputs"], context["type_of"],
                                              label, self.colors),
            "soma_depth_volume": fg.soma_depth_volume(cells, context["all_types"], label, self.colors),
        }
        self.png = {name: fg.png(fig) for name, fig in self.figures.items()}
        self.meta["figure_seconds"] = round(time.perf_counter() - t0, 3)
        if started is not None:
            self.meta["total_seconds"] = round(time.perf_counter() - started, 3)

    @property
    def connectome(self) -> pd.DataFrame:
        """Flat connectome of the selection: pre_root_id, post_root_id, n_synapses, summed_size."""
        return self.tables["connectome"]

    @property
    def cells(self) -> pd.DataFrame:
        return self.tables["cells"]

    @property
    def outputs_by_type(self) -> pd.DataFrame:
        return self.tables["outputs_by_type"]

    @property
    def inputs_by_type(self) -> pd.DataFrame:
        return self.tables["inputs_by_type"]

    @property
    def top_partners(self) -> pd.DataFrame:
        return self.tables["top_partners"]

    def __repr__(self) -> str:
        m = self.meta
        return (f"<ConnectivityReport {m['n_neurons']} neurons, {len(self.connectome)} connections "
                f"({int(self.connectome['n_synapses'].sum())} synapses) within the selection, "
                f"{m['datastack']} version {m['version']}>")

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/html": self._repr_html_(), "text/plain": repr(self)}

    def _repr_html_(self) -> str:
        return self.to_html()

    def to_html(self, images: dict[str, str] | None = None) -> str:
        """The report as one HTML document; PNGs embedded as data URIs unless ``images`` maps a
        figure name to a file name.

        Example::

            Path("report.html").write_text(report.to_html())
        """
        m = self.meta
        esc = html.escape
        parts = [
            "<div class='cavewidgets-report' style='font-family:sans-serif;max-width:1400px'>",
            f"<h2>Connectivity report: {m['n_neurons']} neurons</h2>",
            "<p>" + esc(f"{m['datastack']} · materialization version {m['version']} ({m['timestamp']}) · "
                        f"grouped by {m['by']} from {m['cell_type_table']} · "
                        f"{m['n_output_synapses']} output and {m['n_input_synapses']} input synapses")
            + (esc(f" · {m['duplicates_dropped']} duplicate ids dropped") if m.get("duplicates_dropped") else "")
            + "</p>",
        ]
        tables = [("connectome", "Flat connectome of the selection"), ("top_partners", "Top partners"),
                  ("cells", "Neurons")]
        for name, title in FIGURES.items():
            src = (images or {}).get(name) or "data:image/png;base64," + base64.b64encode(self.png[name]).decode()
            parts.append(f"<h3>{esc(title)}</h3><img alt='{esc(title)}' src='{src}' style='max-width:100%'>")
            if name == "connectivity_matrix":
                parts.append(self._table_html(*tables[0]))
            if name == "partners_by_type":
                parts.append(self._table_html(*tables[1]))
        parts.append(self._table_html(*tables[2]))
        parts.append("</div>")
        return "\n".join(parts)

    def _table_html(self, name: str, title: str) -> str:
        return table_html(self.tables[name], title)

    def save(self, directory, *, overwrite: bool = False) -> Path:
        """Write ``report.html`` (PNGs embedded), one PNG per figure and one CSV per table.

        ``directory`` is created; an existing non-empty one is refused unless ``overwrite=True``
        (which replaces only the report's own files). Returns the directory.

        Example::

            report.save("proofread_report")   # report.html, connectivity_matrix.png, connectome.csv, ...
        """
        target = output_dir(directory, overwrite=overwrite)
        target.mkdir(parents=True, exist_ok=True)
        for name, data in self.png.items():
            (target / f"{name}.png").write_bytes(data)
        for name in TABLES:
            frame = self.tables[name]
            frame.to_csv(target / f"{name}.csv", index=name in ("outputs_by_type", "inputs_by_type"))
        (target / "report.json").write_text(json.dumps(self.meta, indent=2, default=str) + "\n")
        (target / "report.html").write_text("<!doctype html><html><head><meta charset='utf-8'>"
                                            "<title>Connectivity report</title></head><body>"
                                            + self.to_html() + "</body></html>\n")
        return target


def table_html(frame: pd.DataFrame, title: str, digits: int = 1) -> str:
    """A titled HTML table of the first rows of ``frame`` (the reports' inline tables).

    Example::

        table_html(report.connectome, "Flat connectome of the selection")
    """
    shown = frame.head(_HTML_ROWS)
    note = f" (first {_HTML_ROWS} of {len(frame)} rows)" if len(frame) > _HTML_ROWS else ""
    body = shown.to_html(index=False, border=0, float_format=lambda v: f"{v:.{digits}f}") if len(frame) \
        else "<p><i>no rows</i></p>"
    return f"<h3>{html.escape(title)}{note}</h3>{body}"
