"""The project's notebooks run top to bottom in real JupyterLab, and their widgets render."""

from __future__ import annotations

import shutil
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def test_getting_started_runs_and_shows_tables(lab, browser, request):
    from cavewidgets.testing.lab import LabNotebook

    shutil.copy(NOTEBOOKS / "01_getting_started.ipynb", lab.root / "01_getting_started.ipynb")
    nb = LabNotebook.open(lab, browser, "01_getting_started.ipynb")
    try:
        nb.run_all(timeout=420)  # the first run may build the sample datastack (cached afterwards)
        page = nb.page
        page.wait_for_function("() => document.querySelectorAll('.cw-table').length === 2", timeout=60_000)
        page.wait_for_function(
            "() => Array.from(document.querySelectorAll('.cw-table')).every(t => t.querySelectorAll('.cw-row[data-row]').length > 0)",
            timeout=60_000,
        )
        status = page.eval_on_selector_all(".cw-table .cw-status", "els => els.map(e => e.textContent)")
        total = nb.py("browser.total_rows")
        assert total >= 500_000 and f"of {total:,} rows" in status[0] and "5 selected" in status[0]
        assert nb.py("bool((browser.filtered['size'] >= 500).all())")
        # the selection shown in the browser is the one Python made, with exact uint64 ids
        assert nb.py("[int(v) > 2**53 for v in browser.selected['pre_pt_root_id']]") == [True] * 5
        assert page.eval_on_selector_all(".cw-table", "els => els[0].querySelectorAll('.cw-row.cw-selected').length") == 5
        assert nb.py("sorted(set(cell_browser.filtered['classification_system']))") == ["inhibitory_neuron"]
    finally:
        nb.close()
