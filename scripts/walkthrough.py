"""Walk through the notebooks as a user would, in JupyterLab and Notebook 7, with a screenshot per widget.

Each notebook is opened in the real front-end (headless Chromium, by default in its own network
namespace so that it reaches only the Jupyter server, as on Colab/JupyterHub), and its code cells
are run one at a time as with Shift+Enter. After each cell that shows a widget the script scrolls
to it, waits until it is drawn (table rows, neuroglancer's layers loaded and its panels ready, the
3D panel's geometry rendered, images decoded) and saves a screenshot cropped to the widget. Once
every cell has run, each widget is shot again as the notebook left it. It writes, into ``--out``:

- ``<frontend>-<notebook>-<cell>-<kind>.png`` and ``...-final.png`` (with ``--docs``, the ones
  docs/walkthrough.md shows go to docs/images/walkthrough/ instead),
- ``walkthrough.json``: per cell, seconds to run and, for widget cells, from the run to drawn;
  the text every cell wrote to stderr and every error;
- ``timings.md``: the timings as a Markdown table, for docs/walkthrough.md.

Run it (about 15 minutes for the four notebooks in both front-ends on two cores)::

    .venv/bin/python scripts/walkthrough.py                        # into /tmp/walkthrough
    .venv/bin/python scripts/walkthrough.py --frontends lab --notebooks 01
    .venv/bin/python scripts/walkthrough.py --docs                 # refresh docs/images/walkthrough/

Example::

    python scripts/walkthrough.py --out /tmp/wt --notebooks 03 --frontends notebook
"""

from __future__ import annotations

import argparse
import io
import json
import re
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
DOCS_IMAGES = ROOT / "docs" / "images" / "walkthrough"
MAX_IMAGE_BYTES = 150_000
MAX_WIDTH = 1000
MAX_HEIGHT = 1100
VIEWPORT = {"width": 1400, "height": 1800}

# Which widgets a cell's output holds, most specific first: an Explorer contains a table, a viewer
# and a panel, and is shot as one.
KINDS = [
    ("explorer", ".cavewidgets-explorer"),
    ("review_queue", ".cavewidgets-review"),
    ("table", ".cw-table"),
    ("viewer", ".cw-viewer"),
    ("morphology", ".cw-morph"),
    ("report", ".cavewidgets-report"),
    ("figure", "img"),
]

# In the page: the cell's output state, "drawn", "error: ..." or what it is still waiting for.
DRAWN_JS = """([i, final]) => {
    const cell = window.jupyterapp.shell.currentWidget.content.widgets[i];
    const out = cell && cell.node.querySelector('.jp-OutputArea');
    if (!out) return 'no output area';
    for (const t of out.querySelectorAll('.cw-table'))
        if (!t.querySelector('.cw-row[data-row]')) return 'table rows';
    for (const v of out.querySelectorAll('.cw-viewer')) {
        if (v.dataset.status === 'error') return 'error: viewer: ' + v.textContent.slice(0, 300);
        if (v.dataset.status !== 'ready' || !v.cwViewer) return 'viewer start';
        const ng = v.cwViewer.viewer;
        for (const m of ng.layerManager.managedLayers) {
            if (!m.layer) return 'viewer layer ' + m.name;
            for (const d of m.layer.dataSources) {
                if (!d.loadState) return 'viewer layer ' + m.name;
                if (d.loadState.error) return 'error: layer ' + m.name + ': ' + d.loadState.error.message;
            }
        }
        if (!ng.display.isReady()) return 'viewer chunks';
    }
    for (const m of out.querySelectorAll('.cw-morph')) {
        const err = m.querySelector('.cw-morph-error');
        if (err && err.style.display === 'block') return 'error: 3D panel: ' + err.textContent;
        const overlay = (m.querySelector('.cw-morph-overlay') || {}).textContent || '';
        // on first draw an empty panel is drawn; once the notebook ran, a panel that stays empty is worth a look
        if (!(Number(m.dataset.renderedVersion) > 0) && (final || m.querySelector('.cw-morph-title').textContent))
            return '3D panel geometry';
        if (!(Number(m.dataset.renderedVersion) > 0) && !overlay) return '3D panel overlay';
    }
    for (const img of out.querySelectorAll('img'))
        if (!img.complete || img.naturalWidth === 0) return 'images';
    return 'drawn';
}"""

CELL_JS = """(i) => {
    const cell = window.jupyterapp.shell.currentWidget.content.model.cells.get(i);
    const out = {type: cell.type, stderr: [], errors: []};
    if (cell.type !== 'code') return out;
    for (const o of cell.outputs.toJSON()) {
        if (o.output_type === 'stream' && o.name === 'stderr') out.stderr.push([].concat(o.text).join(''));
        if (o.output_type === 'error') out.errors.push(o.ename + ': ' + o.evalue);
    }
    return out;
}"""

RUN_CELL_JS = """async (i) => {
    const panel = window.jupyterapp.shell.currentWidget;
    panel.content.activeCellIndex = i;
    panel.content.widgets[i].node.scrollIntoView({block: 'start'});
    await window.jupyterapp.commands.execute('notebook:run-cell');
}"""


def save_png(png: bytes, path: Path) -> Path:
    """Write a screenshot scaled to MAX_WIDTH, cut at MAX_HEIGHT and palette-quantized until small.

    Example::

        save_png(locator.screenshot(), Path("/tmp/walkthrough/lab/01-05-table.png"))
    """
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    if image.width > MAX_WIDTH:
        image = image.resize((MAX_WIDTH, round(image.height * MAX_WIDTH / image.width)), Image.LANCZOS)
    if image.height > MAX_HEIGHT:
        image = image.crop((0, 0, image.width, MAX_HEIGHT))
    path.parent.mkdir(parents=True, exist_ok=True)
    for colors in (None, 256, 128, 64, 32):
        out = image if colors is None else image.quantize(colors=colors, method=Image.Quantize.MEDIANCUT)
        buffer = io.BytesIO()
        out.save(buffer, format="PNG", optimize=True)
        if buffer.tell() <= MAX_IMAGE_BYTES:
            break
    path.write_bytes(buffer.getvalue())
    return path


def blank_fraction(png: bytes) -> float:
    """The share of the image's pixels that have its most common colour (1.0: one flat colour).

    Example::

        assert blank_fraction(locator.screenshot()) < 0.9
    """
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB").resize((200, 200))
    counts = image.getcolors(200 * 200)
    return max(c for c, _ in counts) / (200 * 200)


def widget_kind(page, i: int) -> tuple[str, str] | None:
    """What cell ``i``'s output shows, as a file-name part ("table-viewer") and a selector for it."""
    present = [(kind, selector) for kind, selector in KINDS if page.evaluate(
        "([i, sel]) => !!window.jupyterapp.shell.currentWidget.content.widgets[i].node.querySelector('.jp-OutputArea ' + sel)",
        [i, selector])]
    if not present:
        return None
    if present[0][0] in ("explorer", "review_queue", "report", "figure"):
        return present[0]
    # widgets side by side in one output (an HBox): named together, shot as the output holding the first
    return "-".join(k for k, _ in present if k in ("table", "viewer", "morphology")), present[0][1]


def widget_output(page, i: int, selector: str):
    """The output of cell ``i`` that holds the widget (a cell may print before it)."""
    page.evaluate("(i) => { window.jupyterapp.shell.currentWidget.content.widgets[i].node.dataset.walk = String(i); }", i)
    return page.locator(f"[data-walk='{i}'] .jp-OutputArea-output", has=page.locator(selector)).last


def wait_drawn(page, i: int, timeout: float, final: bool = False) -> tuple[str, float]:
    start = time.time()
    state = ""
    while time.time() - start < timeout:
        state = page.evaluate(DRAWN_JS, [i, final])
        if state == "drawn" or state.startswith("error"):
            break
        time.sleep(0.25)
    return state, time.time() - start


def shoot(page, i: int, selector: str, path: Path) -> dict:
    target = widget_output(page, i, selector)
    # the notebook scrolls inside its own panel, which paints only what is in view: shoot the part
    # of the widget in view (all of it, but for reports taller than the window)
    target.evaluate("e => e.scrollIntoView({block: e.getBoundingClientRect().height > window.innerHeight - 200 ? 'start' : 'center'})")
    time.sleep(1.0)  # a canvas scrolled into view repaints on the next frames
    box = target.bounding_box()
    bottom = min(box["y"] + box["height"], VIEWPORT["height"] - 40)  # above the status bar
    png = page.screenshot(type="png", clip={"x": box["x"], "y": box["y"], "width": box["width"], "height": bottom - box["y"]})
    save_png(png, path)
    return {"path": str(path), "bytes": path.stat().st_size, "blank": round(blank_fraction(png), 3)}


def walk_notebook(server, browser, notebook: Path, out: Path, frontend: str, timeout: float, docs: bool = False) -> dict:
    from cavewidgets.testing.lab import LabNotebook

    shown = docs_images() if docs else set()

    def target(name: str) -> Path:  # the docs get only the pictures their page shows
        return DOCS_IMAGES / name if name in shown else out / name

    shutil.copy(notebook, server.root / notebook.name)
    t_open = time.time()
    nb = LabNotebook.open(server, browser, notebook.name)
    page = nb.page
    page.set_viewport_size(VIEWPORT)  # tall enough that each widget fits whole, below the notebook's toolbar
    record: dict = {"notebook": notebook.name, "frontend": frontend, "open_s": round(time.time() - t_open, 1), "cells": []}
    stem = notebook.stem.split("_")[0]
    widgets: list[tuple[int, str, str]] = []
    try:
        n = page.evaluate("() => window.jupyterapp.shell.currentWidget.content.model.cells.length")
        t_all = time.time()
        for i in range(n):
            info = page.evaluate(CELL_JS, i)
            if info["type"] != "code":
                continue
            t0 = time.time()
            page.evaluate(RUN_CELL_JS, i)
            nb.wait_idle(timeout)
            cell = {"cell": i, "run_s": round(time.time() - t0, 1)}
            found = widget_kind(page, i)
            if found:
                kind, selector = found
                widget_output(page, i, selector).scroll_into_view_if_needed()
                state, _ = wait_drawn(page, i, timeout)
                cell.update(kind=kind, drawn_s=round(time.time() - t0, 1), state=state)
                cell["shot"] = shoot(page, i, selector, target(f"{frontend}-{stem}-{i:02d}-{kind}.png"))
                widgets.append((i, kind, selector))
            info = page.evaluate(CELL_JS, i)
            cell.update(stderr=info["stderr"], errors=info["errors"])
            record["cells"].append(cell)
            print(f"  [{frontend} {stem}] cell {i}: {json.dumps({k: v for k, v in cell.items() if k != 'shot'})}", flush=True)
        record["run_all_s"] = round(time.time() - t_all, 1)
        for i, kind, selector in widgets:  # as the notebook left them (selections made, queues stepped)
            widget_output(page, i, selector).scroll_into_view_if_needed()  # panels load what is in view
            state, _ = wait_drawn(page, i, 60, final=True)
            shot = shoot(page, i, selector, target(f"{frontend}-{stem}-{i:02d}-{kind}-final.png"))
            next(c for c in record["cells"] if c["cell"] == i)["final"] = dict(shot, state=state)
    except BaseException:
        out.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out / f"{frontend}-{stem}-failed.png"), full_page=True)
        raise
    finally:
        nb.close()
    return record


def docs_images() -> set[str]:
    """The walk-through pictures docs/walkthrough.md shows (the ones ``--docs`` refreshes).

    Example::

        assert "lab-01-05-table.png" in docs_images()
    """
    page = (ROOT / "docs" / "walkthrough.md").read_text()
    return set(re.findall(r"images/walkthrough/([\w.-]+\.png)", page))


def timings_markdown(records: list[dict]) -> str:
    """A Markdown table: per notebook and front-end, each widget cell's run → drawn seconds.

    Example::

        print(timings_markdown(json.loads(Path("/tmp/walkthrough/walkthrough.json").read_text())))
    """
    lines = ["| notebook | front-end | widget (cell) | cell run → drawn (s) | whole notebook (s) |", "|---|---|---|---|---|"]
    for r in records:
        widgets = [c for c in r["cells"] if "kind" in c]
        for j, c in enumerate(widgets):
            state = "" if c["state"] == "drawn" else f" ({c['state']})"
            total = f"{r['run_all_s']:.0f}" if j == 0 else ""
            lines.append(f"| {r['notebook'] if j == 0 else ''} | {r['frontend'] if j == 0 else ''} | "
                         f"{c['kind']} ({c['cell']}) | {c['drawn_s']:.1f}{state} | {total} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/walkthrough"), help="where to write (default /tmp/walkthrough)")
    parser.add_argument("--docs", action="store_true",
                        help=f"refresh the pictures docs/walkthrough.md shows, in {DOCS_IMAGES.relative_to(ROOT)}")
    parser.add_argument("--frontends", default="lab,notebook", help="lab, notebook or both (default)")
    parser.add_argument("--notebooks", default="", help="comma-separated prefixes such as 01,03 (default: all)")
    parser.add_argument("--no-isolate", action="store_true", help="let the browser reach the host's network")
    parser.add_argument("--timeout", type=float, default=420, help="seconds a cell may take to run or draw")
    args = parser.parse_args(argv)

    from cavewidgets.testing.lab import Browser, LabServer

    out = args.out
    wanted = [p for p in args.notebooks.split(",") if p]
    notebooks = [p for p in sorted(NOTEBOOKS.glob("*.ipynb")) if not wanted or any(p.name.startswith(w) for w in wanted)]
    frontends = [f for f in args.frontends.split(",") if f]
    if not notebooks or any(f not in ("lab", "notebook") for f in frontends):
        parser.error(f"no notebook matches {args.notebooks!r} or a front-end is not lab/notebook: {frontends}")
    records = []
    for frontend in frontends:
        with LabServer(app=frontend) as server, Browser(isolate_to=None if args.no_isolate else server.port) as browser:
            for notebook in notebooks:
                print(f"{frontend}: {notebook.name}", flush=True)
                records.append(walk_notebook(server, browser, notebook, out, frontend, args.timeout, args.docs))
    out.mkdir(parents=True, exist_ok=True)
    (out / "walkthrough.json").write_text(json.dumps(records, indent=1))
    (out / "timings.md").write_text(timings_markdown(records))
    print((out / "timings.md").read_text())
    noisy = [(r["frontend"], r["notebook"], c["cell"], c["stderr"] + c["errors"]) for r in records for c in r["cells"]
             if c["stderr"] or c["errors"]]
    for frontend, name, cell, text in noisy:
        print(f"NOISE {frontend} {name} cell {cell}: {''.join(text)[:500]}")
    return 1 if noisy else 0


if __name__ == "__main__":
    sys.exit(main())
