"""The scale runs of ``table_browser.py`` (``--scale 10M,100M``): TableBrowser, quak and perspective
(and, at 10M, itables and ipydatagrid) in the same JupyterLab + headless Chromium run.

What each measure is, per tool, is described in ``table_browser.py``'s docstring; this module holds
the per-tool page probes (JS), the kernel memory watch and the run loop.

Example::

    .venv/bin/python benchmarks/table_browser.py --scale 10M,100M
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import statistics
import threading
import time
from pathlib import Path

import _scale_data as data
from _machine import machine

from cavewidgets.testing.lab import Browser, LabNotebook, LabServer

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "table_browser_scale.json"
SCALES = {"10M": (10_000_000, "DataFrame"), "100M": (100_000_000, "parquet file")}
TARGETS = {"first_page_ms": {"10M": 1000, "100M": 1500}, "round_trip_ms_10M": 300, "kernel_peak_mb_100M": 2000}

# The rows a tool shows, top first, as [{column name: cell text}]: the tool's own DOM (all three
# draw DOM rows; perspective's datagrid is a regular-table inside its custom elements' shadow roots).
ROWS = {
    "TableBrowser": """(() => { const t = window.__cwCell.querySelector('.cw-table'); if (!t) return [];
        const names = Array.from(t.querySelectorAll('.cw-hcell')).map(h => h.dataset.column);
        return Array.from(t.querySelectorAll('.cw-row[data-row]')).filter(r => r.style.display !== 'none' && r.offsetHeight > 0)
            .sort((a, b) => Number(a.dataset.pos) - Number(b.dataset.pos))
            .map(r => Object.fromEntries(names.map((n, j) => [n, r.children[j].textContent]))); })()""",
    "quak": """(() => { const host = Array.from(window.__cwCell.querySelectorAll('*')).find(e => e.shadowRoot && e.shadowRoot.querySelector('.quak'));
        if (!host) return []; const h = host.shadowRoot;
        const names = Array.from(h.querySelectorAll('thead th')).map(th => (th.querySelector('span') || th).textContent.trim());
        return Array.from(h.querySelectorAll('tbody tr')).filter(r => r.children.length > 1)
            .map(r => Object.fromEntries(Array.from(r.children).map((td, j) => [names[j], td.textContent]))); })()""",
    "perspective": """(() => { const v = window.__cwCell.querySelector('perspective-viewer');
        const dg = v && v.querySelector('perspective-viewer-datagrid'); const rt = dg && dg.shadowRoot && dg.shadowRoot.querySelector('regular-table');
        if (!rt) return []; const names = Array.from(rt.querySelectorAll('thead th.psp-sort-enabled')).map(th => th.textContent.trim());
        return Array.from(rt.querySelectorAll('tbody tr')).map(r => Object.fromEntries(Array.from(r.children).map((td, j) => [names[j], td.textContent])))
            .filter(r => Object.values(r).some(x => x.trim())); })()""",
    "itables": """Array.from(window.__cwCell.querySelectorAll('table.dataTable tbody tr')).filter(r => !/Loading/.test(r.textContent))
        .map(r => ({id: (r.children[1] || r.children[0] || {}).textContent}))""",
}
NUM = "(s => Number(String(s).replace(/[,\\s\\u202f]/g, '')))"
# ipydatagrid draws on a canvas: first page = a painted, non-blank canvas (its own rendering, no DOM rows)
GRID_PAINTED = """(() => { for (const c of window.__cwCell.querySelectorAll('canvas')) {
    if (!c.width || !c.height || !c.offsetHeight) continue;
    const d = c.getContext('2d').getImageData(0, 0, Math.min(c.width, 400), Math.min(c.height, 120)).data;
    for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && Math.min(d[i], d[i + 1], d[i + 2]) < 200) return true;
} return false; })()"""

# Like table_browser.START, but the clock starts at the next pointerdown anywhere in the page (a real
# mouse click that Playwright then makes): "from the user's click to the rows on screen".
START_ON_CLICK = """([condition, timeoutMs]) => {
    window.__cwResult = null;
    const check = new Function('return (' + condition + ')');
    let done = false, t0 = null, obs = null;
    const finish = (r) => { if (done) return; done = true; obs && obs.disconnect(); window.__cwResult = r; };
    const test = () => { if (t0 === null) return; try { if (check()) finish({ms: performance.now() - t0}); } catch (e) {} };
    document.addEventListener('pointerdown', () => { t0 = performance.now(); }, {capture: true, once: true});
    obs = new MutationObserver(test);
    obs.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
    const raf = () => { if (!done) { test(); requestAnimationFrame(raf); } };
    requestAnimationFrame(raf);
    setTimeout(() => finish({timeout: true, after_ms: timeoutMs}), timeoutMs);
}"""


class KernelWatch:
    """The kernel process's memory from /proc: peak (VmHWM) since ``reset``, and a hard cap.

    A thread reads VmRSS every 100 ms; above ``cap_gb`` it SIGKILLs the kernel (the machine is shared)
    and records ``killed_at_gb``.

    Example::

        watch = KernelWatch(pid, cap_gb=12); watch.reset(); ...; watch.peak_mb()
    """

    def __init__(self, pid: int, cap_gb: float):
        self.pid, self.cap = pid, cap_gb * 1e9
        self.killed_at_gb: float | None = None
        self.max_rss = 0
        self._stop = threading.Event()
        threading.Thread(target=self._watch, daemon=True).start()

    def field(self, name: str) -> int | None:
        try:
            with open(f"/proc/{self.pid}/status") as fh:
                for line in fh:
                    if line.startswith(name + ":"):
                        return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None

    def reset(self) -> None:
        """Start the kernel's peak (VmHWM) afresh: the widget's peak, not the frame's construction."""
        with open(f"/proc/{self.pid}/clear_refs", "w") as fh:
            fh.write("5")

    def peak_mb(self) -> float | None:
        hwm = self.field("VmHWM")
        return round(hwm / 1e6, 1) if hwm else None

    def _watch(self) -> None:
        while not self._stop.wait(0.1):
            rss = self.field("VmRSS")
            if rss is None:
                return
            self.max_rss = max(self.max_rss, rss)
            if rss > self.cap:
                self.killed_at_gb = round(rss / 1e9, 2)
                os.kill(self.pid, signal.SIGKILL)
                return

    def stop(self) -> None:
        self._stop.set()


def timed_js(nb, action: str, condition: str, timeout: float, failure: str = "false") -> dict:
    from table_browser import timed

    return timed(nb, action, condition, timeout, failure)


class PointAt:
    """A mouse click at the centre of the element a JS expression finds (where Playwright's selectors
    do not reach: perspective's header cells, slotted inside nested shadow roots)."""

    def __init__(self, page, element_js: str):
        self.page, self.js = page, element_js

    def click(self, timeout: float = 10_000, force: bool = False) -> None:
        box = self.page.evaluate(f"""() => {{ const e = {self.js}; if (!e) return null; e.scrollIntoView({{block: 'nearest', inline: 'nearest'}});
            const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }}""")
        if box is None:
            raise LookupError(f"no element for {self.js[:120]}")
        self.page.mouse.click(*box)


def timed_click(nb, locator, condition: str, timeout: float, hover=None, force: bool = False, rows: str = "[]") -> dict:
    """A real mouse click on ``locator`` (Playwright), timed in the page from its pointerdown.

    ``rows`` (JS) gives the rows shown before the click as ``window.__cwBefore`` (conditions check
    that the top row changed)."""
    page = nb.page
    try:
        page.evaluate(f"() => {{ window.__cwBefore = JSON.stringify(({rows})[0]); }}")
        if hover is not None:
            hover.hover(timeout=10_000)
        page.evaluate(START_ON_CLICK, [condition, int(timeout * 1000)])
        locator.click(timeout=10_000, force=force)
        page.wait_for_function("() => window.__cwResult", timeout=(timeout + 15) * 1000, polling=100)
        return page.evaluate("() => window.__cwResult")
    except Exception as err:
        return {"error": f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"}


def shot(nb, name: str) -> None:
    """A screenshot of a failed step, for the record (CAVEWIDGETS_BENCH_SHOTS=dir)."""
    where = os.environ.get("CAVEWIDGETS_BENCH_SHOTS")
    if where:
        try:
            nb.page.screenshot(path=str(Path(where) / f"{name}.png"))
        except Exception:
            pass


def ms(results: list[dict]) -> list:
    return [round(r["ms"], 1) if "ms" in r else r for r in results]


def median(runs: list) -> float | None:
    ok = [r for r in runs if isinstance(r, (int, float))]
    return round(statistics.median(ok), 1) if ok else None


def sorted_on(tool: str, col: str, ext: list[float]) -> str:
    """JS: the top row shows an extreme of ``col`` (ascending or descending: tools differ in the first click)."""
    return (f"(r => r.length > 3 && JSON.stringify(r[0]) !== window.__cwBefore"
            f" && {json.dumps(ext)}.includes({NUM}(r[0][{json.dumps(col)}])))({ROWS[tool]})")


def filtered_to(tool: str, cat: str, col: str, ext: list[float]) -> str:
    """JS: the top rows are all ``cat`` and the first shows its extreme of the sorted column (not "the top
    row changed": the sorted view's top row may already be of that type)."""
    return (f"(r => r.length > 5 && r.slice(0, 8).every(x => x.cell_type.trim() === {json.dumps(cat)})"
            f" && {json.dumps(ext)}.includes({NUM}(r[0][{json.dumps(col)}])))({ROWS[tool]})")


def data_cell(scale: str, n: int, path: Path, tool: str) -> str:
    """The notebook cell that makes the data each tool is given (the kernel's own memory counts)."""
    head = f"import sys, time\nsys.path.insert(0, {str(HERE)!r})\nimport _scale_data\n"
    int64 = "int64" in tool  # ipydatagrid cannot deserialise uint64: its variant gets int64 roots (2^60 + k fits)
    if tool == "quak (roots as text)":  # quak draws no rows with ids above 2^53: a view casts them to text
        return head + "import duckdb\n" + (f"raw = _scale_data.frame({n})" if scale == "10M" else f"path = {str(path)!r}")
    if scale == "10M":
        return head + f"df = _scale_data.frame({n}, roots_as_int64={int64})"
    if tool.startswith("quak"):  # quak's documented way to big data: a DuckDB connection, read in place
        return head + f"import duckdb\npath = {str(path)!r}"
    if tool.startswith("perspective"):  # perspective holds its own copy: read the file into Arrow for it
        return head + f"import pyarrow.parquet as pq\ndf = pq.read_table({str(path)!r})"
    return head + f"path = {str(path)!r}"


def widget_code(scale: str, tool: str) -> str:
    src = "path" if scale == "100M" else "df"
    if tool == "TableBrowser":
        return f"w = cavewidgets.TableBrowser({src}, key='id')"
    if tool.startswith("quak") and (scale == "100M" or "text" in tool):
        # a connection per widget: a second quak.Widget on a connection the first still queries
        # fails (duckdb ResourceInUseException)
        cast = " REPLACE (pre_pt_root_id::VARCHAR AS pre_pt_root_id, post_pt_root_id::VARCHAR AS post_pt_root_id)" if "text" in tool else ""
        base = "read_parquet('\" + path + \"')" if scale == "100M" else "raw"
        return ("con = duckdb.connect()\n" + ("con.register('raw', raw)\n" if scale == "10M" else "")
                + f"con.sql(\"CREATE VIEW df AS SELECT *{cast} FROM {base}\")\nw = quak.Widget(con, table='df')")
    if tool.startswith("quak"):
        return "w = quak.Widget(df)"
    if tool.startswith("perspective"):
        return "w = PerspectiveWidget(df)"
    if tool == "itables.show":
        return "w = None; show(df)"
    if tool.startswith("ipydatagrid"):
        return "w = DataGrid(df)"
    raise ValueError(tool)


IMPORTS = {"TableBrowser": "import cavewidgets", "quak": "import quak", "perspective": "from perspective.widget import PerspectiveWidget",
           "itables.show": "from itables import init_notebook_mode, show\ninit_notebook_mode(all_interactive=False, connected=False)",
           "ipydatagrid": "from ipydatagrid import DataGrid"}


def kind(tool: str) -> str:
    return next(k for k in IMPORTS if tool.startswith(k.split(".")[0]))


def first_condition(tool: str) -> str:
    k = kind(tool)
    if k == "ipydatagrid":
        return GRID_PAINTED
    return f"(r => r.length > 0 && r[0].id !== undefined && r[0].id.trim() !== '')({ROWS[k if k != 'itables.show' else 'itables']})"


def run_tool(lab, browser, tool: str, scale: str, n: int, path: Path, ext: dict, args) -> dict:
    """One tool in a fresh kernel: open → first page (repeats), sorts, filters, scroll jumps, peak RSS."""
    from table_browser import FAILED, RUN_NEW_CELL

    out: dict = {"first_page_ms": []}
    k = kind(tool)
    nb = watch = None
    t0 = time.time()
    try:
        nb = LabNotebook.open(lab, browser, f"{tool.replace('.', '_').replace(' ', '_')}_{scale}.ipynb", ["import os"])
        nb.run_all(timeout=60)
        watch = KernelWatch(nb.py("os.getpid()"), args.cap_gb)
        nb.exec(data_cell(scale, n, path, tool) + "\n" + IMPORTS[k], timeout=args.timeout + 600)
        out["kernel_data_mb"] = round(watch.field("VmRSS") / 1e6, 1)  # the frame (or nothing, for a file)
        watch.reset()
        # quak draws no rows when a column holds ids above 2^53 (seen at 2,000 rows): a minute shows it
        first_timeout = min(args.timeout, 60) if tool == "quak" else args.timeout
        # perspective: a second PerspectiveWidget in the same page fails ("regular-layout" is already
        # defined in the CustomElementRegistry): one open per page
        for _ in range(1 if k == "perspective" else args.repeats):
            nb.exec("w = None\nimport gc; gc.collect()")
            code = "_t = time.perf_counter()\n" + widget_code(scale, tool) + "\n_build = time.perf_counter() - _t\n" + ("w" if k != "itables.show" else "")
            res = timed_js(nb, RUN_NEW_CELL % json.dumps(code), first_condition(tool), first_timeout, FAILED)
            out["first_page_ms"].append(round(res["ms"], 1) if "ms" in res else res)
            if "ms" not in res or res["ms"] > 30_000:
                break  # a failure, or a slow tool: one run tells the story (and the kernel may be gone)
            nb.wait_idle(args.timeout)
            out.setdefault("kernel_construct_ms", []).append(round(1000 * nb.py("_build"), 1))
        opened = all(isinstance(x, (int, float)) for x in out["first_page_ms"])
        if opened and k in ("TableBrowser", "quak", "perspective"):
            interact(nb, tool, k, n, ext, args, out)
        elif opened:
            out["note"] = "first page only: this peer is here to show whether it can hold the data at all"
    except Exception as err:
        out["error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}"
    finally:
        if watch is not None:
            out["kernel_peak_mb"] = watch.peak_mb() if watch.killed_at_gb is None else None
            out["kernel_max_rss_sampled_mb"] = round(watch.max_rss / 1e6, 1)
            if watch.killed_at_gb is not None:
                out["out_of_memory"] = f"kernel killed at {watch.killed_at_gb} GB RSS (cap {args.cap_gb} GB)"
            watch.stop()
        if nb is not None:
            try:
                nb.close()
            except Exception:
                pass
        out["wall_s"] = round(time.time() - t0, 1)
    return out


def interact(nb, tool: str, k: str, n: int, ext: dict, args, out: dict) -> None:
    """Header-click sorts on new columns, filters to one cell type, and page fetches after scroll jumps."""
    page = nb.page
    cell = page.locator(".jp-Notebook .jp-CodeCell").last
    if k == "perspective":  # its settings panel opens over the right-hand columns: close it (untimed)
        page.evaluate("() => window.__cwCell.querySelector('perspective-viewer').toggleConfig(false)")
        page.wait_for_timeout(500)
    col = None
    sorts = []
    for new_col in data.SORTABLE:  # each a column never sorted before: the engine computes the order
        cond = sorted_on(k, new_col, ext[new_col]["all"])
        col = new_col
        if k == "TableBrowser":
            res = timed_click(nb, cell.locator(f".cw-hcell[data-column='{col}'] .cw-hlabel"), cond, args.timeout, rows=ROWS[k])
        elif k == "quak":  # the sort button shows on hover
            th = cell.locator("th", has=page.locator(f"span:text-is('{col}')"))
            res = timed_click(nb, th.locator(".sort-button"), cond, args.timeout, hover=th, force=True, rows=ROWS[k])
            if "ms" in res and new_col != data.SORTABLE[-1]:
                # quak sorts by every column whose button is set, in column order: unset this one
                # (asc -> desc -> unset), untimed, so the next click sorts by a new column alone
                for _ in range(2):
                    th.locator(".sort-button").click(force=True)
                    page.wait_for_timeout(300)
                page.wait_for_function(f"(r => r.length > 3 && {NUM}(r[0].id) === 0)({ROWS[k]})", timeout=args.timeout * 1000)
        else:
            res = timed_click(nb, PointAt(page, f"""Array.from(window.__cwCell.querySelector('perspective-viewer-datagrid').shadowRoot
                .querySelector('regular-table').querySelectorAll('thead th.psp-sort-enabled')).find(th => th.textContent.trim() === '{col}')"""),
                              cond, args.timeout, rows=ROWS[k])
        sorts.append(res)
        if "ms" not in res:
            shot(nb, f"{k}-sort")
            col = data.SORTABLE[len(sorts) - 2] if len(sorts) > 1 else None
            break
    out["sort_cold_ms"] = ms(sorts)
    filters = []
    for cat in ([] if col is None else ["BC", "MC", "4P"][: args.repeats]):
        cond = filtered_to(k, cat, col, ext[col][cat])
        if k == "TableBrowser":  # the pick list of the categorical column, as in the 1M run
            page.evaluate("() => document.body.dispatchEvent(new MouseEvent('mousedown', {bubbles: true}))")
            cell.locator(".cw-hcell[data-column='cell_type'] .cw-filter-button").click()
            page.wait_for_selector(".cw-popover .cw-pick")
            page.evaluate("(cat) => document.querySelectorAll('.cw-popover .cw-pick input')"
                          ".forEach(b => { b.checked = JSON.parse(b.dataset.value) === cat; })", cat)
            res = timed_click(nb, page.locator(".cw-popover .cw-apply"), cond, args.timeout, rows=ROWS[k])
        elif k == "quak":  # a click on the category's bar in the column's value-count summary
            res = timed_click(nb, cell.locator(f"th div[title='{cat}']"), cond, args.timeout, force=True, rows=ROWS[k])
        else:  # the viewer's own filter API (its UI is a typed expression in the settings panel)
            page.evaluate(f"() => {{ window.__cwBefore = JSON.stringify(({ROWS[k]})[0]); }}")
            res = timed_js(nb, f"window.__cwCell.querySelector('perspective-viewer').restore({{filter: [['cell_type', '==', '{cat}']]}})",
                           cond, args.timeout)
        filters.append(res)
        if "ms" not in res:
            shot(nb, f"{k}-filter")
            break
    out["filter_ms"] = ms(filters)
    out["filter_note"] = {"TableBrowser": "pick list of cell_type: Apply", "quak": "click on the category's bar in the header summary",
                          "perspective": "viewer.restore({filter}) (the tool's filter, set through its API)"}[k]
    rnd = random.Random(7)
    jumps = []
    for _ in range(args.jumps):
        if k == "TableBrowser":
            from table_browser import TB_JUMP, TB_JUMPED

            res = timed_js(nb, TB_JUMP % rnd.random(), TB_JUMPED, args.timeout)
        elif k == "quak":  # quak grows the DOM page by page: the furthest jump is to the end of what is loaded
            res = timed_js(nb, f"""const h = Array.from(window.__cwCell.querySelectorAll('*')).find(e => e.shadowRoot && e.shadowRoot.querySelector('.quak')).shadowRoot;
                window.__cwN = {ROWS[k]}.length; const s = h.querySelector('.table-container'); s.scrollTop = s.scrollHeight""",
                           f"{ROWS[k]}.length > window.__cwN", args.timeout)
        else:
            res = timed_js(nb, f"""const dg = window.__cwCell.querySelector('perspective-viewer-datagrid'), rt = dg.shadowRoot.querySelector('regular-table');
                window.__cwFirstRow = JSON.stringify({ROWS[k]}[0]);
                let s = rt; while (s && !(s.scrollHeight > s.clientHeight + 10)) s = s.parentElement;
                s = s || rt; s.scrollTop = {rnd.random()!r} * (s.scrollHeight - s.clientHeight)""",
                           f"(r => r.length > 3 && JSON.stringify(r[0]) !== window.__cwFirstRow && r.every(x => x.id && x.id.trim()))({ROWS[k]})",
                           args.timeout)
        jumps.append(res)
        if "ms" not in res:
            shot(nb, f"{k}-jump")
            break
    out["scroll_page_ms"] = ms(jumps)
    if k == "quak":
        out["scroll_note"] = "quak appends pages as the user scrolls: a jump reaches only the end of the rows loaded so far"


def summarise(results: dict) -> dict:
    out: dict = {}
    for scale, block in results["scales"].items():
        tools = block["tools"]
        tb = tools.get("TableBrowser", {})
        s: dict = {}
        fp = median(tb.get("first_page_ms", []))
        s["first_page_ms"] = fp
        s["first_page_ok"] = fp is not None and fp <= TARGETS["first_page_ms"][scale]
        if scale == "10M":
            for m in ["sort_cold_ms", "filter_ms", "scroll_page_ms"]:
                v = median(tb.get(m, []))
                s[f"{m[:-3]}_le_300ms"] = v is not None and v <= TARGETS["round_trip_ms_10M"]
        if scale == "100M":
            peak = tb.get("kernel_peak_mb")
            s["kernel_peak_le_2GB"] = peak is not None and peak <= TARGETS["kernel_peak_mb_100M"]
        for peer in [t for t in tools if t.startswith(("quak", "perspective"))]:
            cmp = {}
            for m in ["first_page_ms", "sort_cold_ms", "filter_ms", "scroll_page_ms"]:
                ours, theirs = median(tb.get(m, [])), median(tools[peer].get(m, []))
                if m == "scroll_page_ms" and peer.startswith("quak") and theirs is not None:
                    cmp[m] = f"not comparable: quak has no jump (ours {ours} ms; its next page at the end of the loaded rows {theirs} ms)"
                    continue
                cmp[m] = ("no result for the peer" if theirs is None else
                          None if ours is None else ("ahead" if ours < theirs else "behind") + f" ({ours} vs {theirs})")
            ours, theirs = tb.get("kernel_peak_mb"), tools[peer].get("kernel_peak_mb")
            cmp["kernel_peak_mb"] = (tools[peer].get("out_of_memory") or "no result for the peer") if theirs is None else \
                None if ours is None else ("ahead" if ours < theirs else "behind") + f" ({ours} vs {theirs})"
            s[f"vs {peer}"] = cmp
        out[scale] = s
    return out


NOT_RUN = {
    "10M": {"ipydatagrid": "its 10M-row state travels as one websocket message over 512 MB, which crashed Playwright's "
                           "driver (Node: 'Cannot create a string longer than 0x1fffffe8 characters') after the kernel "
                           "peaked at 2.4 GB serialising it (2026-11-30 run): a limit of this harness, but no first page "
                           "within 160 s either; --tools 'ipydatagrid (uint64 as int64)' runs it"},
    "100M": {"itables, ipydatagrid": "they take a pandas DataFrame only: the file would have to be loaded whole "
                                     "(4.1 GB in pandas), which is what browsing a file is meant to avoid"},
}


def finish(results: dict, out: Path, started: float, merge: bool) -> None:
    """Write what has been measured so far (after every tool: a crash later loses nothing)."""
    if out.exists() and merge:  # keep the other scales' results from an earlier run
        for s, b in json.loads(out.read_text()).get("scales", {}).items():
            results["scales"].setdefault(s, b)
    results["targets"] = {"goals": TARGETS, **summarise(results)}
    results["medians_ms"] = {s: {t: {m: median(v) for m, v in r.items() if m.endswith("_ms") and isinstance(v, list)}
                                 for t, r in b["tools"].items()} for s, b in results["scales"].items()}
    results["total_wall_s"] = round(time.time() - started, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


def run(args) -> None:
    from table_browser import COMPOSITING  # table_browser.py runs this module for --scale

    started = time.time()
    out = Path(args.out) if args.out else RESULTS
    results = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
               "machine": machine(["cavewidgets", "quak", "perspective-python", "ipydatagrid", "itables", "jupyterlab",
                                   "anywidget", "pandas", "pyarrow", "duckdb", "playwright"]),
               "repeats": args.repeats, "timeout_s": args.timeout, "memory_cap_gb": args.cap_gb, "scales": {}}
    with LabServer() as lab, Browser(args=COMPOSITING[args.compositing]) as browser:
        results["chromium_args"] = browser.args
        for scale in args.scale.split(","):
            n, source = SCALES[scale]
            n = args.scale_rows or n  # a quick check of the probes on a small table
            block: dict = {"rows": n, "source": source, "loadavg_at_start": [round(x, 2) for x in os.getloadavg()], "tools": {}}
            results["scales"][scale] = block
            path = None
            if scale == "100M":
                t0 = time.time()
                path = data.cached_parquet(n)
                block["parquet"] = {"path": str(path), "mb_on_disk": round(path.stat().st_size / 1e6, 1),
                                    "seconds_to_get": round(time.time() - t0, 1)}
            t0 = time.time()
            ext = data.column_extremes(n)
            block["extremes_s"] = round(time.time() - t0, 1)
            tools = args.tools.split(",") if args.tools else (
                ["TableBrowser", "quak", "quak (roots as text)", "perspective", "itables.show"]
                if scale == "10M" else ["TableBrowser", "quak", "quak (roots as text)", "perspective"])
            if not args.tools:
                block["not_run"] = NOT_RUN[scale]
            for tool in tools:
                print(f"[{time.time() - started:6.0f}s] {scale} {tool} …", flush=True)
                block["tools"][tool] = run_tool(lab, browser, tool, scale, n, path, ext, args)
                print(json.dumps(block["tools"][tool]), flush=True)
                block["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
                finish(results, out, started, args.merge)
    print(json.dumps(results["medians_ms"], indent=1))
    print(json.dumps(results["targets"], indent=1))
    print(f"wrote {out} in {results['total_wall_s']:.0f} s")
