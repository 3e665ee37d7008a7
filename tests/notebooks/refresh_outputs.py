"""Re-execute notebooks and store only the outputs nbval compares.

Cells tagged ``nbval-ignore-output`` (widgets, plots, progress bars, temp paths: outputs that
legitimately vary) are saved empty; every other code cell keeps its output, which
``tests/notebooks/test_nbval.py`` then checks exactly (after ``sanitize.cfg``). Run after
editing a notebook::

    .venv/bin/python tests/notebooks/refresh_outputs.py notebooks/02_microns_tutorial.ipynb

Refuses to save a notebook whose kept outputs exceed ``MAX_OUTPUT_BYTES``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

IGNORE = "nbval-ignore-output"
MAX_OUTPUT_BYTES = 64_000


def refresh(path: Path, timeout: int = 600) -> float:
    """Execute ``path`` on a fresh kernel in its directory, keep checked outputs; returns seconds."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    kept = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if IGNORE in cell.metadata.get("tags", []):
            cell.outputs = []
            continue
        # (nbval treats a cell with outputs but no execution count as never run: keep the counts)
        kept += len(json.dumps(cell.outputs))
    if kept > MAX_OUTPUT_BYTES:
        raise SystemExit(f"{path}: {kept:,} bytes of checked outputs (limit {MAX_OUTPUT_BYTES:,}); "
                         "tag big cells nbval-ignore-output or print less")
    nb.metadata.pop("widgets", None)  # widget state is regenerated on every run
    nbformat.write(nb, path)
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    for path in args.notebooks:
        seconds = refresh(path.resolve())
        print(f"{path}: executed in {seconds:.0f} s, checked outputs stored")
    return 0


if __name__ == "__main__":
    sys.exit(main())
