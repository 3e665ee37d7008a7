"""Kernel memory and kernel-side latency of TableBrowser at connectome scale, with its peers.

Each tool runs in a fresh Python process (peak RSS of a process that held other tools' data
would say nothing) on the same synapse-shaped table, built without random numbers so every run
is identical: ``id`` int64, ``pre_pt_root_id`` / ``post_pt_root_id`` uint64 above 2^53,
``ctr_pt_position_x/y/z`` float32, ``size`` int32, ``cell_type`` a 5-value categorical
(41 bytes a row in pandas). Per tool: the process's RSS once the table exists is the baseline;
a watcher thread samples RSS every 2 ms; each step's wall time is recorded and the peak RSS
beyond the baseline is the tool's **overhead** (reported in MB and as a fraction of the frame's
own bytes, ``df.memory_usage(deep=True)``).

Steps (kernel side only: what the widget's front-end would ask for, no browser):

* ``cavewidgets`` DataFrame: ``TableBrowser(df)`` + first 100-row page; header sort on ``size``
  (descending: first page from the top-N query, then the full order); a pick-list filter
  (``cell_type == BC``) with its value counts; a page after a jump to the middle of the view;
  ``selected`` of two rows.
* ``cavewidgets`` parquet file (``--parquet-rows``, written once by the benchmark into a temp
  directory, not loaded): the same steps on ``TableBrowser(path)``.
* ``quak`` 0.3: ``quak.Widget(df)`` then the SQL its Mosaic front-end sends for the same steps
  (``ORDER BY size DESC LIMIT 100``, ``WHERE cell_type = 'BC'`` count / value counts, ``LIMIT 100
  OFFSET n/2``), through the widget's own message handler.
* ``perspective`` 5: ``perspective.table(df)``, then views sorted by ``size`` desc and filtered
  on ``cell_type``, each read as a 100-row Arrow slice. (Perspective has no uint64 type: its copy
  of the root ids is not exact; recorded under ``notes``.)

ipydatagrid and itables are not in this run: ipydatagrid serialises the whole frame to JSON
when the widget is built (at 10M rows: minutes and several GB), itables shows a down-sampled
frame (``maxBytes``); ``benchmarks/table_browser.py`` compares them at 1M rows in a real browser.

Sizes (documented defaults): 10,000,000 rows for the DataFrame tools and 10,000,000 for the
parquet file. Everything but perspective finishes in ~1.5 minutes on 2 shared cores; perspective
alone took ~5 minutes and 13.6 GB at 10M rows (``--tools cavewidgets,cavewidgets-parquet,quak``
skips it). Timings are wall clock on a shared machine; the load average is recorded.

Example::

    .venv/bin/python benchmarks/table_scale.py                       # writes benchmarks/results/table_scale.json
    .venv/bin/python benchmarks/table_scale.py --rows 2000000 --parquet-rows 2000000 --tools cavewidgets

``--memory``: only TableBrowser(DataFrame), at ``--memory-rows`` (1M and 10M), the kernel's exact
peak RSS per step (VmHWM, reset before each step) beyond the RSS once the frame exists, one fresh
process per run; ``--before-src DIR`` runs another source tree (e.g. ``git archive`` of main) in
turn with this one, ``--repeat`` times, and medians both; also records what one DuckDB database
costs a process (a fixed part of the overhead). Writes ``benchmarks/results/table_memory.json``.

Example::

    .venv/bin/python benchmarks/table_scale.py --memory --repeat 3 --before-src /tmp/before/src

``--latency``: the kernel's share of the browser benchmark's round trips (``table_browser.py
--scale``), on its 10M-row DataFrame (``_scale_data.frame``), in its order and without pauses
(a background sort still runs when the next click comes): per repeat a fresh
``TableBrowser(df, key="id")``, header-click sorts on three new columns (``_rpc_view`` with the
sort: the view change and its first page, as one click sends), pick-list filters to three cell
types on the sorted view, then five pages after scroll jumps to random positions. Each time is
the engine call(s) up to the page payload the widget sends; medians over ``--repeat`` (≥ 5).
``--before-src DIR`` runs another source tree in turn with this one. Writes
``benchmarks/results/table_latency.json``.

Example::

    .venv/bin/python benchmarks/table_scale.py --latency --repeat 5 --before-src /tmp/before/src
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
BIG = 2**60
CATEGORIES = ["23P", "4P", "BC", "MC", "5P-IT"]


def columns(start: int, stop: int) -> dict:
    """The columns of rows [start, stop) (deterministic: no random numbers)."""
    i = np.arange(start, stop, dtype=np.int64)
    return {
        "id": i,
        "pre_pt_root_id": np.uint64(BIG) + (i * 7919 % 100_003).astype(np.uint64),
        "post_pt_root_id": np.uint64(BIG) + (i * 104_729 % 99_991).astype(np.uint64),
        "ctr_pt_position_x": (i % 1_000_003).astype(np.float32),
        "ctr_pt_position_y": (i % 999_983).astype(np.float32),
        "ctr_pt_position_z": (i % 99_991).astype(np.float32),
        "size": (i * 31 % 1999 + 1).astype(np.int32),
        "cell_type": (i % 5).astype(np.int8),
    }


def frame(n: int):
    import pandas as pd

    cols = columns(0, n)
    cols["cell_type"] = pd.Categorical.from_codes(cols["cell_type"], CATEGORIES)
    return pd.DataFrame(cols)


def write_parquet(path: Path, n: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    for start in range(0, n, 1 << 20):
        cols = columns(start, min(n, start + (1 << 20)))
        cols["cell_type"] = pa.DictionaryArray.from_arrays(pa.array(cols["cell_type"]), pa.array(CATEGORIES))
        table = pa.table(cols)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=1 << 20)
    writer.close()


class Meter:
    """Peak RSS beyond a baseline, and wall time, per step."""

    def __init__(self):
        import psutil

        self.proc = psutil.Process()
        self.base = self.proc.memory_info().rss
        self.peak = self.base
        self.steps: dict[str, float] = {}
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self):
        while True:
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.002)

    def step(self, name: str, fn):
        t0 = time.perf_counter()
        out = fn()
        self.steps[name] = round(time.perf_counter() - t0, 3)
        return out

    def result(self, **extra) -> dict:
        time.sleep(0.01)
        return {"steps_s": self.steps, "overhead_mb": round((self.peak - self.base) / 1e6, 1),
                "rss_after_mb": round((self.proc.memory_info().rss - self.base) / 1e6, 1), **extra}


class PeakMeter(Meter):
    """Meter with the kernel's own peak (VmHWM, reset per step through /proc/self/clear_refs): exact,
    where sampling every 2 ms can miss a short spike. Linux only."""

    def __init__(self):
        self.base = _status("VmRSS")
        self.peak = self.base
        self.steps, self.step_peaks_mb = {}, {}

    def step(self, name: str, fn):
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # VmHWM := VmRSS
        out = super().step(name, fn)
        hwm = _status("VmHWM")
        self.peak = max(self.peak, hwm)
        self.step_peaks_mb[name] = round((hwm - self.base) / 1e6, 1)
        return out

    def result(self, **extra) -> dict:
        return {"steps_s": self.steps, "step_peak_overhead_mb": self.step_peaks_mb,
                "overhead_mb": round((self.peak - self.base) / 1e6, 1),
                "rss_after_mb": round((_status("VmRSS") - self.base) / 1e6, 1), **extra}


def _status(field: str) -> int:
    """A /proc/self/status memory field, in bytes."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def run_cavewidgets(source, n: int, meter=None) -> dict:
    from cavewidgets import TableBrowser

    m = (meter or Meter)()
    b = m.step("open_first_page", lambda: (b := TableBrowser(source, key="id"), b._rpc_page(0, 100))[0])
    m.step("sort_first_page", lambda: (b.sort_by("size", ascending=False), b._rpc_page(0, 100)))
    m.step("sort_full_order", lambda: b._engine.view)
    m.step("filter_with_value_counts", lambda: (b.filter(cell_type=["BC"]), b._engine.summary("cell_type"),
                                                b._rpc_page(0, 100)))
    m.step("page_after_jump", lambda: b._rpc_page(b.filtered_rows // 2, 100))
    m.step("select_two", lambda: (b.select([123, n - 1]), b.selected))
    return m.result(filtered_rows=b.filtered_rows, exact_uint64=b.selected.pre_pt_root_id.dtype == "uint64")


def run_quak(df) -> dict:
    import quak

    m = Meter()
    w = m.step("open_first_page", lambda: (w := quak.Widget(df), _quak(w, 'SELECT * FROM "df" LIMIT 100'))[0])
    m.step("sort_first_page", lambda: _quak(w, 'SELECT * FROM "df" ORDER BY "size" DESC LIMIT 100'))
    m.step("filter_with_value_counts", lambda: (
        _quak(w, 'SELECT "cell_type", count(*) FROM "df" GROUP BY 1'),
        _quak(w, 'SELECT count(*) FROM "df" WHERE "cell_type" = \'BC\''),
        _quak(w, 'SELECT * FROM "df" WHERE "cell_type" = \'BC\' ORDER BY "size" DESC LIMIT 100')))
    m.step("page_after_jump", lambda: _quak(
        w, f'SELECT * FROM "df" WHERE "cell_type" = \'BC\' ORDER BY "size" DESC LIMIT 100 OFFSET {len(df) // 10}'))
    return m.result()


def _quak(widget, sql: str):
    replies = []
    widget.send = lambda msg, buffers=None: replies.append((msg, buffers))  # no front-end here
    widget._handle_custom_msg({"type": "arrow", "uuid": "1", "sql": sql}, [])
    if "error" in replies[-1][0]:
        raise RuntimeError(replies[-1][0]["error"])
    return replies[-1]


def run_perspective(df) -> dict:
    import perspective

    m = Meter()

    def open_():
        table = perspective.table(df)
        view = table.view()
        view.to_arrow(start_row=0, end_row=100)
        return table

    table = m.step("open_first_page", open_)
    sorted_view = m.step("sort_first_page", lambda: (v := table.view(sort=[["size", "desc"]]),
                                                      v.to_arrow(start_row=0, end_row=100))[0])
    filtered = m.step("filter_with_value_counts", lambda: (
        table.view(group_by=["cell_type"], columns=["id"], aggregates={"id": "count"}).to_arrow(),
        v := table.view(sort=[["size", "desc"]], filter=[["cell_type", "==", "BC"]]),
        v.to_arrow(start_row=0, end_row=100))[1])
    m.step("page_after_jump", lambda: filtered.to_arrow(start_row=len(df) // 10, end_row=len(df) // 10 + 100))
    schema = table.schema()
    del sorted_view
    return m.result(notes=f"root ids held as {schema.get('pre_pt_root_id')!r} (no uint64 type)")


def run_latency(n: int) -> dict:
    """One repeat of ``--latency``: ms per round trip, in the browser benchmark's order."""
    import random

    sys.path.insert(0, str(HERE))
    import _scale_data as data
    from cavewidgets import TableBrowser

    df = data.frame(n)
    out: dict = {"open_first_page": [], "sort": [], "filter": [], "page_after_jump": []}

    def timed(step, fn):
        t0 = time.perf_counter()
        fn()
        out[step].append(round(1000 * (time.perf_counter() - t0), 1))

    b = None

    def open_():
        nonlocal b
        b = TableBrowser(df, key="id")
        b._rpc_page(0, 100)

    timed("open_first_page", open_)
    for col in data.SORTABLE:
        timed("sort", lambda: b._rpc_view(sort=[[col, True]], count=100))
    for cat in ["BC", "MC", "4P"]:
        timed("filter", lambda: b._rpc_view(filters={"cell_type": {"kind": "in", "values": [cat]}}, count=100))
    rnd = random.Random(7)
    for _ in range(5):  # the widget asks for the visible 100-row block and its neighbour
        timed("page_after_jump", lambda: b._rpc_page(int(rnd.random() * b.filtered_rows) // 100 * 100, 200))
    return out


def latency_main(args) -> None:
    """``--latency``: medians of the kernel-side round trips over ``--repeat`` fresh processes."""
    trees = {"after": None} if not args.before_src else {"before": args.before_src, "after": None}
    results = {"rows": args.rows, "loadavg_at_start": list(os.getloadavg()),
               "cores": len(os.sched_getaffinity(0)), "runs": {label: [] for label in trees}}
    for repeat in range(args.repeat):
        for label, src in trees.items():  # interleaved: both trees see the same machine load
            out = _run_worker("latency", args.rows, "", src)
            results["runs"][label].append(out)
            print(label, repeat, json.dumps(out), flush=True)
    results["medians_ms"], results["max_ms"] = {}, {}
    for label, runs in results["runs"].items():
        ok = [r for r in runs if "error" not in r]
        results["medians_ms"][label] = {k: float(np.median([x for r in ok for x in r[k]])) for k in (ok[0] if ok else {})}
        # the median hides one slow round trip in five (the first jump waited for the full sort)
        results["max_ms"][label] = {k: max(x for r in ok for x in r[k]) for k in (ok[0] if ok else {})}
        print(label, "medians", json.dumps(results["medians_ms"][label]), "max", json.dumps(results["max_ms"][label]))
    results["loadavg_at_end"] = list(os.getloadavg())
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


def worker(tool: str, rows: int, parquet: str | None) -> dict:
    if tool == "latency":
        return run_latency(rows)
    if tool == "memory":  # the DataFrame engine's memory, exactly (see --memory)
        df = frame(rows)
        frame_mb = round(df.memory_usage(deep=True).sum() / 1e6, 1)
        out = run_cavewidgets(df, rows, PeakMeter)
        import cavewidgets

        out.update(frame_mb=frame_mb, overhead_fraction=round(out["overhead_mb"] / frame_mb, 3),
                   source=str(Path(cavewidgets.__file__).parent))
        return out
    if tool == "duckdb":  # what one DuckDB database costs a process, whatever its tables
        import duckdb

        base = _status("VmRSS")
        con = duckdb.connect()
        con.execute("SELECT 1").fetchall()
        return {"duckdb_database_mb": round((_status("VmRSS") - base) / 1e6, 1)}
    if tool == "cavewidgets-parquet":
        return run_cavewidgets(parquet, rows)
    df = frame(rows)
    frame_mb = round(df.memory_usage(deep=True).sum() / 1e6, 1)
    run = {"cavewidgets": lambda: run_cavewidgets(df, rows), "quak": lambda: run_quak(df),
           "perspective": lambda: run_perspective(df)}[tool]
    out = run()
    out["frame_mb"] = frame_mb
    out["overhead_fraction"] = round(out["overhead_mb"] / frame_mb, 3)
    return out


def _run_worker(tool: str, rows: int, parquet: str, src: str | None = None) -> dict:
    env = dict(os.environ)
    if src:  # another checkout's source (e.g. main before a change), for a before/after pair
        env["PYTHONPATH"] = src
    cmd = [sys.executable, __file__, "--worker", tool, "--rows", str(rows), "--parquet", str(parquet)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    lines = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
    return json.loads(lines[-1][7:]) if lines else {"error": out.stderr[-2000:]}


def memory_main(args) -> None:
    """``--memory``: peak RSS overhead and step times of TableBrowser(DataFrame), one fresh process
    per (size, source tree, repeat), the trees interleaved so both see the same machine load."""
    trees = {"after": None} if not args.before_src else {"before": args.before_src, "after": None}
    results = {"loadavg_at_start": list(os.getloadavg()), "cores": len(os.sched_getaffinity(0)),
               "duckdb_database": _run_worker("duckdb", 0, ""), "runs": {}}
    for rows in [int(r) for r in args.memory_rows.split(",")]:
        for repeat in range(args.repeat):
            for label, src in trees.items():
                out = _run_worker("memory", rows, "", src)
                results["runs"].setdefault(f"{label}_{rows}", []).append(out)
                print(label, rows, repeat, json.dumps(out), flush=True)
    results["medians"] = {key: _medians(runs) for key, runs in results["runs"].items()}
    results["loadavg_at_end"] = list(os.getloadavg())
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


def _medians(runs: list[dict]) -> dict:
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return {"error": runs[-1].get("error", "")[-300:]}
    med = lambda xs: float(np.median(xs))  # noqa: E731
    return {"overhead_mb": med([r["overhead_mb"] for r in ok]),
            "overhead_fraction": med([r["overhead_fraction"] for r in ok]),
            "frame_mb": ok[0]["frame_mb"],
            "steps_s": {k: med([r["steps_s"][k] for r in ok]) for k in ok[0]["steps_s"]},
            "step_peak_overhead_mb": {k: med([r["step_peak_overhead_mb"][k] for r in ok]) for k in ok[0]["step_peak_overhead_mb"]}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--parquet-rows", type=int, default=10_000_000)
    ap.add_argument("--tools", default="cavewidgets,cavewidgets-parquet,quak,perspective")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--parquet", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None)
    ap.add_argument("--memory", action="store_true",
                    help="peak RSS overhead of TableBrowser(DataFrame) per step (VmHWM), at --memory-rows")
    ap.add_argument("--memory-rows", default="1000000,10000000")
    ap.add_argument("--latency", action="store_true",
                    help="kernel-side round trips of the browser benchmark's sort/filter/jump sequence, at --rows")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--before-src", help="with --memory or --latency: also run this source tree (PYTHONPATH), interleaved")
    args = ap.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(worker(args.worker, args.rows, args.parquet), default=str), flush=True)
        return
    if args.memory:
        args.out = args.out or str(HERE / "results" / "table_memory.json")
        return memory_main(args)
    if args.latency:
        args.out = args.out or str(HERE / "results" / "table_latency.json")
        return latency_main(args)
    args.out = args.out or str(HERE / "results" / "table_scale.json")

    results = {"rows": args.rows, "parquet_rows": args.parquet_rows, "loadavg_at_start": list(os.getloadavg()),
               "cores": len(os.sched_getaffinity(0)), "tools": {}}
    with tempfile.TemporaryDirectory() as tmp:
        parquet = Path(tmp) / "synapses.parquet"
        for tool in args.tools.split(","):
            rows = args.parquet_rows if tool == "cavewidgets-parquet" else args.rows
            if tool == "cavewidgets-parquet" and not parquet.exists():
                t0 = time.perf_counter()
                write_parquet(parquet, rows)
                results["parquet_write_s"] = round(time.perf_counter() - t0, 1)
                results["parquet_mb_on_disk"] = round(parquet.stat().st_size / 1e6, 1)
                results["parquet_mb_in_pandas"] = round(rows * 41 / 1e6, 1)
            results["tools"][tool] = _run_worker(tool, rows, str(parquet))
            print(tool, json.dumps(results["tools"][tool]), flush=True)
    results["loadavg_at_end"] = list(os.getloadavg())
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
