"""The notebooks run without a line on stderr: a newcomer reads red text as "something broke".

Each notebook runs on a fresh kernel (nbclient, as a user's Run All); tqdm bars are widgets there,
so any stderr stream is a log record or a warning that should not be printed.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ["01_getting_started", "02_microns_tutorial", "03_proofreading_review", "04_workshop_exercises"]


def stderr_outputs(nb) -> list[str]:
    found = []
    for n, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                found.append(f"cell {n}: {out['text'][:300]}")
    return found


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_prints_nothing_on_stderr(name):
    path = ROOT / "notebooks" / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    assert stderr_outputs(nb) == []
