"""Benchmark TableBrowser against ipydatagrid and itables in real JupyterLab + headless Chromium.

One run builds a synapse-table-shaped DataFrame (default 1,000,000 rows x 12 columns: int64 id,
uint64 root and supervoxel ids above 2^53, ``ctr_pt_position`` as an object column of 3-int numpy
arrays as caveclient returns it, int size, two floats, a categorical cell_type, a string tag and a
bool) in a fresh kernel per tool, then times, from the browser side:

* first page: ``performance.now()`` when the page triggers ``notebook:run-cell`` on a new cell
  holding only the widget expression, until the first data row is in the DOM (TableBrowser:
  a visible ``.cw-row[data-row]``; ipydatagrid: a painted, non-blank canvas; itables: a
  ``table.dataTable`` with a data row). A MutationObserver plus a requestAnimationFrame loop
  checks the condition; a page-side time-out (default 120 s) or a hung/crashed page is recorded.
* TableBrowser round trips, each from a DOM event in the page to the expected rows on screen:
  header-click sort on a new column (cold: the kernel computes the order), header-click sort on
  a column sorted before (cached order), pick-list filter (Apply -> status count and first rows
  match pandas), opening the pick list (value counts), global search typed into ``.cw-search``
  (includes the widget's 150 ms input debounce), and page fetch after jumping ``.cw-scroll`` to
  random far positions (all visible rows filled).
* bytes: Arrow IPC length of one 100-row page in the kernel, and the bytes the page received
  on the kernel websocket during the scroll jumps (Playwright ``websocket.framereceived``).
* peers, each in a fresh kernel: first page for ``ipydatagrid.DataGrid(df)`` (its front-end
  cannot deserialise uint64 columns, so it is also timed on an int64 copy of the frame; runs over
  30 s are not repeated), ``itables.show(df)`` (offline ``init_notebook_mode(connected=False)``
  in the setup cell, as there is no CDN here; itables downsamples the frame to ``maxBytes``) and
  ``itables.widget.ITable(df)``; header-click sort where the DOM shows rows (itables).

Timings are wall clock on a shared machine: the JSON records the load average before and after.
Prints medians and writes ``benchmarks/results/table_browser.json`` (a full run takes ~5 min).

``--scale 10M,100M`` (``_scale_browser.py``, ``_scale_data.py``): connectome scale, TableBrowser
against quak and perspective-python in the same JupyterLab + Chromium run, each tool in a fresh
kernel, on a deterministic synapse-shaped table (``id`` int64, two uint64 root ids above 2^60,
``ctr_pt_position_x/y/z`` float32, ``size`` int32, a 5-value categorical ``cell_type``):
10,000,000 rows as a DataFrame built in the kernel, and 100,000,000 rows as a parquet file written
once in 1M-row groups to ``~/.cache/cavewidgets/bench`` and reused (TableBrowser gets the path;
quak a DuckDB connection with a view over the file, its documented way to big data; perspective
an Arrow table read from the file, as it holds its own copy). Per tool, timed in the page:

* first page: from ``notebook:run-cell`` on the widget cell to the first data row in the DOM
  (all three draw DOM rows: TableBrowser ``.cw-row``, quak's ``tbody tr`` in its shadow root,
  perspective's regular-table ``tbody tr`` inside its datagrid's shadow root), median of
  ``--repeats``; a slow (> 30 s) or failed open is not repeated.
* header-click sort on a new column (``size``, then ``post_pt_root_id``, ``pre_pt_root_id``): a
  real Playwright mouse click, timed from its ``pointerdown`` until the top row shows the column's
  minimum or maximum (computed from the generator, outside the kernel). quak sorts by every column
  whose sort button is set, so its previous column is unset (untimed) before the next click.
* a filter to one cell type on the sorted view: TableBrowser's pick list (Apply clicked),
  quak's click on the category's bar in its header summary, perspective's
  ``viewer.restore({filter})``; done when the top 8 rows are all that type and the first shows
  the type's extreme of the sorted column.
* a page after a scroll jump (``--jumps``): TableBrowser and perspective jump their scrollbars to
  random positions (every visible row filled with new rows); quak has no jump (it appends pages
  while scrolling), so the furthest it goes is the end of the rows loaded so far.
* kernel memory: VmRSS once the data exists (``kernel_data_mb``), and the kernel's peak VmHWM
  from then to the end (reset through ``/proc/<pid>/clear_refs``). A watcher kills a kernel whose
  RSS passes ``--cap-gb`` (default 12; the machine is shared) and records "out of memory".

quak's front-end draws no rows when a column holds ids above 2^53 (uint64 or int64), so it is
also run with the roots cast to text by a DuckDB view ("quak (roots as text)"; at 10M the view
reads the DataFrame in place, so this variant holds no Arrow copy of it; each open makes its own
connection, as a second quak widget on a connection the first still queries fails). At 10M,
itables.show is timed to its first page only, to show whether it holds the data at all; ipydatagrid is not run by default (``--tools 'ipydatagrid (uint64 as int64)'`` runs it): its
10M-row state is one websocket message over 512 MB, which crashed Playwright's driver. At 100M
neither is run (they need the whole file in pandas). The JSON says what was not run and why, and
is rewritten after every tool. Writes ``benchmarks/results/table_browser_scale.json`` (with
``--merge``, keeps the other scale's block from an earlier run).

Example::

    .venv/bin/python benchmarks/table_browser.py                     # 1,000,000 rows, 3 repeats
    .venv/bin/python benchmarks/table_browser.py --rows 50000 --repeats 2 --timeout 60
    .venv/bin/python benchmarks/table_browser.py --scale 10M,100M    # ~25 min, ~3 GB of disk for the file
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import time
from pathlib import Path

from _machine import machine  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

from cavewidgets.testing.lab import SOFTWARE_COMPOSITING, Browser, LabNotebook, LabServer

#: ``--compositing``: the Chromium options of each mode (the table pages have no WebGL)
COMPOSITING = {"software": SOFTWARE_COMPOSITING, "gpu": ()}
RESULTS = Path(__file__).resolve().parent / "results" / "table_browser.json"
TARGETS = {"first_page_ms": 1000, "round_trip_ms": 150, "speedup_vs_ipydatagrid": 10}

FRAME = """
import time, numpy as np, pandas as pd
n = {rows}
rng = np.random.default_rng(0)
ROOT = np.uint64(864691135808684573)
tags = np.array([f"{{w}}-{{k}}" for w in ("proofread", "auto", "pending", "merged", "split") for k in range(200)], dtype=object)
df = pd.DataFrame({{
    "id": np.arange(n, dtype=np.int64),
    "pre_pt_root_id": ROOT + rng.integers(0, 50_000, n).astype(np.uint64),
    "post_pt_root_id": ROOT + rng.integers(0, 50_000, n).astype(np.uint64),
    "pre_pt_supervoxel_id": np.uint64(88_000_000_000_000_000) + rng.integers(0, 10**12, n).astype(np.uint64),
    "post_pt_supervoxel_id": np.uint64(88_000_000_000_000_000) + rng.integers(0, 10**12, n).astype(np.uint64),
    "ctr_pt_position": list(rng.integers(0, 250_000, (n, 3))),
    "size": rng.integers(20, 60_000, n),
    "confidence": rng.random(n),
    "distance_um": rng.gamma(2.0, 40.0, n).astype(np.float32),
    "cell_type": pd.Categorical(rng.choice(["23P", "4P", "5P-IT", "5P-ET", "6P", "BC", "MC", "NGC"], n)),
    "tag": tags[rng.integers(0, len(tags), n)],
    "valid": rng.random(n) < 0.97,
}})
"""

# Start `action` (JS statements), then set window.__cwResult when `condition` (a JS expression)
# holds: {ms} since performance.now() just before the action, or {timeout} / {error} (`failure`
# gives an error text). Python polls with its own time-out, so a hung renderer cannot hang us.
START = """([action, condition, timeoutMs, failure]) => {
    window.__cwResult = null;
    const check = new Function('return (' + condition + ')'), failed = new Function('return (' + failure + ')');
    let done = false, t0 = 0, obs = null;
    const finish = (r) => { if (done) return; done = true; obs && obs.disconnect(); window.__cwResult = r; };
    const test = () => {
        try {
            const f = failed();
            if (f) finish({error: String(f).slice(0, 300), after_ms: Math.round(performance.now() - t0)});
            else if (check()) finish({ms: performance.now() - t0});
        } catch (e) {}
    };
    obs = new MutationObserver(test);
    obs.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
    const raf = () => { if (!done) { test(); requestAnimationFrame(raf); } };
    setTimeout(() => finish({timeout: true, after_ms: timeoutMs}), timeoutMs);
    t0 = performance.now();
    Promise.resolve().then(() => new Function(action)()).catch((e) => finish({error: String(e)}));
    requestAnimationFrame(raf);
}"""

RUN_NEW_CELL = """
const panel = window.jupyterapp.shell.currentWidget, model = panel.content.model;
for (const w of panel.content.widgets) if (w.model.type === 'code') w.model.outputs.clear();
model.sharedModel.insertCell(model.cells.length, {cell_type: 'code', source: %s});
panel.content.activeCellIndex = model.cells.length - 1;
window.__cwCell = panel.content.widgets[model.cells.length - 1].node;
window.jupyterapp.commands.execute('notebook:run-cell');
"""
# first data visible inside the new cell's output, per tool
FIRST = {
    "TableBrowser": "Array.from(window.__cwCell.querySelectorAll('.cw-row[data-row]')).some(r => r.offsetHeight > 0)",
    "ipydatagrid": """(() => { for (const c of window.__cwCell.querySelectorAll('canvas')) {  // painted: a dark pixel
        if (!c.width || !c.height || !c.offsetHeight) continue;
        const d = c.getContext('2d').getImageData(0, 0, Math.min(c.width, 400), Math.min(c.height, 120)).data;
        for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && Math.min(d[i], d[i + 1], d[i + 2]) < 200) return true;
    } return false; })()""",
    "itables": """Array.from(window.__cwCell.querySelectorAll('table.dataTable tbody tr td'))
        .some(td => td.offsetHeight > 0 && !/Loading/.test(td.textContent))""",
}
# a widget that could not render, or a Python error in the cell
FAILED = """(() => {
    const e = window.__cwCell.querySelector('.jupyter-widgets-error-widget, [data-mime-type="application/vnd.jupyter.stderr"]');
    if (!e) return false;
    const m = (window.__cwCell.querySelector('.jp-OutputArea-output') || e).textContent.trim();
    const kind = e.classList.contains('jupyter-widgets-error-widget') ? 'widget error: ' : 'error: ';
    return kind + (m || 'JavaScript error'); })()"""
TB_ROWS = "Array.from(document.querySelectorAll('.cw-table .cw-row')).filter(r => r.style.display !== 'none')"
TB_CLICK = "document.querySelector(\".cw-table .cw-hcell[data-column='%s'] %s\").click()"
TB_SEARCH = """const s = document.querySelector('.cw-table .cw-search');
    s.value = %s; s.dispatchEvent(new Event('input', {bubbles: true}))"""
TB_JUMP = """window.__cwFirst = document.querySelector('.cw-table').dataset.firstRow;
    const s = document.querySelector('.cw-table .cw-scroll'); s.scrollTop = %r * (s.scrollHeight - s.clientHeight)"""
TB_JUMPED = f"""(() => {{ const t = document.querySelector('.cw-table'), r = {TB_ROWS};
    return t.dataset.firstRow !== window.__cwFirst && r.length > 5 && r.every(x => x.dataset.row !== undefined)
        && r[0].dataset.pos === t.dataset.firstRow; }})()"""
# kernel-side expectations, from pandas, for the rows each interaction must show
EXPECT = """
def top5(mask_or_order):
    a = np.asarray(mask_or_order)
    return (np.flatnonzero(a) if a.dtype == bool else a)[:5].tolist()
def search_mask(term):  # what TableBrowser's search keeps: text contains, or integer equality
    m = df['tag'].str.contains(term, regex=False) | df['cell_type'].astype(str).str.lower().str.contains(term, regex=False)
    for c in ["id", "pre_pt_root_id", "post_pt_root_id", "pre_pt_supervoxel_id", "post_pt_supervoxel_id", "size"]:
        m |= (df[c] == int(term)) if term.isdigit() else False
    return m
"""


def timed(nb: LabNotebook, action: str, condition: str, timeout: float, failure: str = "false") -> dict:
    """Time `action` until `condition` in the page; never raises for slow, hung or crashed pages."""
    page = nb.page
    try:
        page.evaluate(START, [action, condition, int(timeout * 1000), failure])
        page.wait_for_function("() => window.__cwResult", timeout=(timeout + 15) * 1000, polling=100)
        return page.evaluate("() => window.__cwResult")
    except Exception as err:  # renderer hung or crashed
        return {"error": f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"}


def first_rows_are(rows: list[int]) -> str:
    """JS: the view's first rows (positions 0..k) show exactly these frame rows."""
    ids = json.dumps([str(x) for x in rows])
    return f"""(() => {{ const r = {TB_ROWS}; return r.length >= {len(rows)}
        && {ids}.every((id, i) => r[i].dataset.pos === String(i) && r[i].dataset.row === id); }})()"""


def status_is(count: int) -> str:
    return f"document.querySelector('.cw-table .cw-status').textContent.startsWith('{count:,} ')"


def ms(results: list[dict]) -> list:
    return [round(r["ms"], 1) if "ms" in r else r for r in results]


def median(runs: list) -> float | None:
    ok = [r for r in runs if isinstance(r, (int, float))]
    return round(statistics.median(ok), 1) if ok else None


def open_nb(lab, browser, name, setup_cells, timeout):
    nb = LabNotebook.open(lab, browser, name, setup_cells)
    nb.run_all(timeout=timeout + 120)
    return nb


def bench_tablebrowser(lab, browser, rows, repeats, timeout, ws_bytes) -> dict:
    nb = open_nb(lab, browser, "tablebrowser.ipynb", [FRAME.format(rows=rows) + EXPECT + "import cavewidgets"], timeout)
    out: dict = {"frame_dtypes": nb.py("{c: str(t) for c, t in df.dtypes.items()}")}
    page = nb.page
    try:
        runs, kernel = [], []
        for _ in range(repeats):
            nb.exec("try:\n    browser.close()\nexcept NameError:\n    pass")
            code = "_t = time.perf_counter(); browser = cavewidgets.TableBrowser(df); _build = time.perf_counter() - _t\nbrowser"
            runs.append(timed(nb, RUN_NEW_CELL % json.dumps(code), FIRST["TableBrowser"], timeout, FAILED))
            nb.wait_idle(timeout)
            kernel.append(round(1000 * nb.py("_build"), 1))
        out["first_page_ms"], out["kernel_construct_ms"] = ms(runs), kernel
        out["page_bytes_100_rows"] = nb.py("len(browser._engine.page(0, 100, browser._selected_mask))")

        # sort: header click on a column never sorted before (cold), then on one sorted before (cached)
        cold, cached = [], []
        sort_cols = ["size", "confidence", "distance_um", "post_pt_supervoxel_id", "pre_pt_root_id", "post_pt_root_id"]
        n_cold = max(2, min(repeats, len(sort_cols)))
        for i, col in enumerate(sort_cols[:n_cold] + (sort_cols[:2] * repeats)[:repeats]):
            top = nb.py(f"top5(np.argsort(df['{col}'].to_numpy(), kind='stable'))")
            (cold if i < n_cold else cached).append(timed(nb, TB_CLICK % (col, ".cw-hlabel"), first_rows_are(top), timeout))
        out["sort_cold_ms"], out["sort_cached_ms"] = ms(cold), ms(cached)
        nb.exec("browser.sort_by(None)")
        page.wait_for_function(first_rows_are([0, 1, 2, 3, 4]))

        # filter through the pick list of the categorical column (each category a new mask)
        picks, applies = [], []
        for cat in ["23P", "4P", "5P-IT", "BC", "MC", "6P"][: max(2, repeats)]:
            count, top = nb.py(f"[int((df['cell_type'] == '{cat}').sum()), top5(df['cell_type'] == '{cat}')]")
            page.evaluate("() => document.body.dispatchEvent(new MouseEvent('mousedown', {bubbles: true}))")  # close
            opened = "document.querySelector('.cw-popover .cw-pick')"
            picks.append(timed(nb, TB_CLICK % ("cell_type", ".cw-filter-button"), opened, timeout))
            page.evaluate("(cat) => document.querySelectorAll('.cw-popover .cw-pick input')"
                          ".forEach(b => { b.checked = JSON.parse(b.dataset.value) === cat; })", cat)
            apply = "document.querySelector('.cw-popover .cw-apply').click()"
            applies.append(timed(nb, apply, f"{status_is(count)} && {first_rows_are(top)}", timeout))
        out["filter_picklist_open_ms"], out["filter_apply_ms"] = ms(picks), ms(applies)
        nb.exec("browser.clear_filters()")
        page.wait_for_function(f"() => {status_is(rows)} && {first_rows_are([0, 1, 2, 3, 4])}")

        # global search box: text in the tag column, and a root id (exact uint64 equality)
        searches = []
        terms = ["proofread-17", "merged-3", nb.py("str(df['post_pt_root_id'].iloc[12345])"), "split-199", "auto-42"]
        for term in terms[: max(2, repeats)]:
            count, top = nb.py(f"[int(search_mask({term!r}).sum()), top5(search_mask({term!r}))]")
            searches.append(timed(nb, TB_SEARCH % json.dumps(term), f"{status_is(count)} && {first_rows_are(top)}", timeout))
        out["search_ms"] = ms(searches)
        out["search_ms_note"] = "includes the widget's 150 ms input debounce"
        nb.exec("browser.search('')")
        page.wait_for_function(f"() => {status_is(rows)}")

        # page fetch after jumping the scrollbar to random far positions (every visible row filled)
        rnd = random.Random(7)
        ws_bytes.clear()
        jumps = [timed(nb, TB_JUMP % rnd.random(), TB_JUMPED, timeout) for _ in range(20)]
        page.wait_for_timeout(1000)  # let the prefetch of neighbouring blocks finish
        out["scroll_page_ms"] = ms(jumps)
        out["scroll_ws_bytes_received"], out["scroll_ws_frames_received"] = sum(ws_bytes), len(ws_bytes)
        out["dom_rows"] = page.evaluate("() => document.querySelectorAll('.cw-table .cw-row').length")
    finally:
        nb.close()
    return out


PEERS = {
    "ipydatagrid": ("from ipydatagrid import DataGrid", "grid = DataGrid(df)\ngrid", "ipydatagrid"),
    # ipydatagrid's front-end cannot deserialise uint64 columns: also time it on an int64 copy
    "ipydatagrid (uint64 as int64)": (
        "from ipydatagrid import DataGrid\ndf = df.astype({c: 'int64' for c in df.columns if df[c].dtype == 'uint64'})",
        "grid = DataGrid(df)\ngrid", "ipydatagrid"),
    "itables.show": ("from itables import init_notebook_mode, show\ninit_notebook_mode(all_interactive=False, connected=False)",
                     "show(df)", "itables"),
    "itables.widget.ITable": ("from itables.widget import ITable", "table = ITable(df)\ntable", "itables"),
}


def bench_peer(lab, browser, tool, rows, repeats, timeout) -> dict:
    setup, code, kind = PEERS[tool]
    out: dict = {"first_page_ms": []}
    nb = None
    try:
        nb = open_nb(lab, browser, f"{tool.replace('.', '_')}.ipynb", [FRAME.format(rows=rows), setup], timeout)
        for r in range(repeats):
            res = timed(nb, RUN_NEW_CELL % json.dumps(code), FIRST[kind], timeout, FAILED)
            out["first_page_ms"].append(round(res["ms"], 1) if "ms" in res else res)
            if "ms" not in res:
                break  # a time-out or crash: the page or kernel may be unusable; record and stop
            nb.wait_idle(timeout)
            if res["ms"] > 30_000:
                break  # slow peer: one run tells the story
        if kind == "itables" and all(isinstance(x, (int, float)) for x in out["first_page_ms"]):
            out["rows_shown"] = nb.page.evaluate("() => window.__cwCell.querySelector('.dt-info')?.textContent ?? null")
            sorts = []
            for _ in range(repeats):  # DataTables sorts in the browser, over the rows it was given
                first_row = "window.__cwCell.querySelector('table.dataTable tbody tr').textContent"
                before = nb.page.evaluate(f"() => {first_row}")
                click = ("Array.from(window.__cwCell.querySelectorAll('table.dataTable thead th'))"
                         ".find(th => th.textContent.trim() === 'size').querySelector('.dt-column-order').click()")
                done = f"{first_row} !== {json.dumps(before)}"
                sorts.append(timed(nb, click, done, timeout))
            out["sort_ms"] = ms(sorts)
            out["sort_note"] = "client-side DataTables sort over the downsampled rows only"
        elif kind == "ipydatagrid":
            out["sort_ms"] = "n/a"
            out["sort_note"] = "canvas-rendered: sorting is in a header context menu and the result is pixels, not DOM rows"
    except Exception as err:
        out["error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:300]}"
    finally:
        if nb is not None:
            try:
                nb.close()
            except Exception:
                pass
    return out


def summarise(results: dict) -> dict:
    tools = results["tools"]
    tb = tools["TableBrowser"]
    fp = median(tb["first_page_ms"])
    trips = {k: median(tb[k]) for k in ["sort_cold_ms", "sort_cached_ms", "filter_apply_ms", "scroll_page_ms"]}
    out = {"first_page_le_1s": fp is not None and fp <= TARGETS["first_page_ms"],
           **{f"{k[:-3]}_le_150ms": v is not None and v <= TARGETS["round_trip_ms"] for k, v in trips.items()}}
    for name in [t for t in tools if t.startswith("ipydatagrid")]:
        grid_fp = median(tools[name].get("first_page_ms", []))
        if grid_fp and fp:
            out[f"speedup_vs_{name}"] = round(grid_fp / fp, 1)
            out[f"speedup_vs_{name}_ge_10x"] = grid_fp / fp >= TARGETS["speedup_vs_ipydatagrid"]
        else:
            out[f"speedup_vs_{name}"] = f"no first page: {tools[name].get('first_page_ms') or tools[name].get('error')}"
    return out


def print_table(results: dict) -> None:
    frame = results["frame"]
    print(f"\n{frame['rows']:,} rows x {frame['columns']} columns, {results['repeats']} repeats, medians in ms")
    print(f"{'tool':30} {'measure':28} {'median':>10}  runs")
    for tool, res in results["tools"].items():
        for k, v in res.items():
            if k.endswith("_ms") and isinstance(v, list):
                shown = median(v)
                print(f"{tool:30} {k:28} {shown if shown is not None else 'failed':>10}  {v}")
            elif k == "js_errors":
                print(f"{tool:30} {k:28} {len(v):>10}  {v[0][:100]!r}")
            elif not k.endswith("note"):
                print(f"{tool:30} {k:28} {str(v):>10}")
    print("\ntargets:", json.dumps(results["targets"], indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=120, help="seconds before a first page counts as timed out")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--tools", default=",".join(["TableBrowser", *PEERS]))
    ap.add_argument("--scale", help="connectome-scale runs instead: 10M (DataFrame), 100M (parquet file), or both")
    ap.add_argument("--cap-gb", type=float, default=12, help="with --scale: kill a kernel above this RSS")
    ap.add_argument("--jumps", type=int, default=5, help="with --scale: scroll jumps per tool")
    ap.add_argument("--scale-rows", type=int, help="with --scale: this many rows instead (a quick check of the probes)")
    ap.add_argument("--merge", action="store_true", help="with --scale: keep other scales already in --out")
    ap.add_argument("--compositing", choices=COMPOSITING, default="software",
                    help="Chromium's compositing: software (--disable-gpu; the default: no WebGL on these pages, and "
                         "SwiftShader as the GPU makes every DOM frame cost what a user's GPU does for free) or gpu (SwiftShader)")
    args = ap.parse_args()
    if args.scale:
        import _scale_browser

        if args.out == RESULTS:
            args.out = _scale_browser.RESULTS
        args.tools = None if args.tools == ap.get_default("tools") else args.tools
        return _scale_browser.run(args)
    started = time.time()
    results = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "machine": machine(["cavewidgets", "ipydatagrid", "itables", "jupyterlab", "anywidget", "pandas", "pyarrow", "duckdb", "playwright"]),
               "frame": {"rows": args.rows, "columns": 12}, "repeats": args.repeats, "timeout_s": args.timeout, "tools": {}}
    ws_bytes: list[int] = []
    js_errors: list[str] = []

    def watch(page):  # count what the page receives on kernel websockets; keep JavaScript errors
        page.on("websocket", lambda ws: "/api/kernels/" in ws.url
                and ws.on("framereceived", lambda p: ws_bytes.append(len(p))))
        page.on("console", lambda m: m.type == "error" and js_errors.append(m.text[:300]))
        page.on("pageerror", lambda e: js_errors.append(str(e)[:300]))

    with LabServer() as lab, Browser(args=COMPOSITING[args.compositing]) as browser:
        results["chromium_args"] = browser.args
        browser.context.on("page", watch)
        for tool in args.tools.split(","):
            t0 = time.time()
            js_errors.clear()
            print(f"[{time.time() - started:6.0f}s] {tool} …", flush=True)
            if tool == "TableBrowser":
                results["tools"][tool] = bench_tablebrowser(lab, browser, args.rows, args.repeats, args.timeout, ws_bytes)
            else:
                results["tools"][tool] = bench_peer(lab, browser, tool, args.rows, args.repeats, args.timeout)
            results["tools"][tool]["wall_s"] = round(time.time() - t0, 1)
            if js_errors:
                results["tools"][tool]["js_errors"] = list(dict.fromkeys(js_errors))[:5]
    if "frame_dtypes" in results["tools"].get("TableBrowser", {}):
        results["frame"]["dtypes"] = results["tools"]["TableBrowser"].pop("frame_dtypes")
    results["targets"] = {"goals": TARGETS, **(summarise(results) if "TableBrowser" in results["tools"] else {})}
    results["total_wall_s"] = round(time.time() - started, 1)
    results["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["medians_ms"] = {t: {k: median(v) for k, v in r.items() if k.endswith("_ms") and isinstance(v, list)}
                             for t, r in results["tools"].items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    print(f"\nwrote {args.out} in {results['total_wall_s']:.0f} s")


if __name__ == "__main__":
    main()
