"""Benchmark segment sync latency of cavewidgets.Viewer against neuroglancer's own Viewer, in
real JupyterLab + headless Chromium, in the same run and the same kernel.

* cavewidgets.Viewer: displayed in a notebook cell (its neuroglancer page in the widget's iframe).
* neuroglancer.Viewer: the plain Python-integrated viewer with the same state, its own link page
  opened as a second tab of the same Chromium, at the widget's canvas size (what neuroglancer's
  ``Viewer`` offers a notebook user).

Per trial, each viewer in turn (interleaved, so both see the same machine load):

* Python → browser: ``t0 = time.time()`` in the kernel, then ``viewer.segments = {root}``
  (plain: ``with viewer.txn() as s: s.layers["seg"].segments = {root}``), until a listener on
  the page's neuroglancer ``viewer.state.changed`` sees the root among the segmentation layer's
  visible segments (``Date.now()`` there). Split: t0 → the kernel's neuroglancer server writes
  the server-sent event (``python_to_sse_ms``), and the rest (the browser).
* browser → Python: ``Date.now()`` in the page, then the root is added to the layer's visible
  segments through neuroglancer's JS state (what a double-click does), until ``viewer.segments``
  has it (a traitlets observer records ``time.time()`` on the kernel's thread; plain: a
  ``shared_state`` changed-callback on the server thread). Split: change → neuroglancer's client
  POSTs the state (``browser_change_to_post_ms``: its 100 ms throttle plus whatever holds the
  page's main thread), and POST → Python (``post_to_python_ms``).

Each scenario (``--layouts``) runs the trials with both viewers in that panel layout: ``xy``
(2D only) isolates the sync; ``xy-3d`` (the Viewer's default) also renders each root's mesh,
which SwiftShader does on the CPU. Main-thread stalls over 100 ms in each page are recorded.
Both clocks are the same host's wall clock. Roots are real sample roots. The sample service runs
in its own process (``cavewidgets sample serve``), as a CAVE deployment runs on its own servers
(``--in-kernel-service``: in the kernel's process, as ``cavewidgets.sample.client()`` does,
where its responses compete with the sync for the kernel's GIL). The widget's saved-notebook
snapshot refresh is on, as for a user (``--no-snapshot`` turns it off to see its cost).
Timings are wall clock on a shared machine: the JSON records the load average before and after.
Writes ``benchmarks/results/viewer_sync.json``.

Example::

    .venv/bin/python benchmarks/viewer_sync.py               # 30 trials per measure and layout
    .venv/bin/python benchmarks/viewer_sync.py --trials 40 --layouts xy
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _machine import machine  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

from cavewidgets.testing.lab import Browser, LabNotebook, LabServer

RESULTS = Path(__file__).resolve().parent / "results" / "viewer_sync.json"
TARGET_MS = 200
TOOLS = ("cavewidgets.Viewer", "neuroglancer.Viewer")

SETUP = """
import os, time, caveclient, neuroglancer, cavewidgets
client = caveclient.CAVEclient(os.environ["CW_BENCH_DATASTACK"], server_address=os.environ["CW_BENCH_SERVICE"],
                               auth_token=os.environ["CAVEWIDGETS_SAMPLE_TOKEN"], write_server_cache=False)
nuclei = client.materialize.query_table("nucleus_detection_v0")
roots = [int(r) for r in nuclei["pt_root_id"] if r > 0]
"""
SETUP_IN_KERNEL = """
import time, neuroglancer, cavewidgets
client = cavewidgets.sample.client()
nuclei = client.materialize.query_table("nucleus_detection_v0")
roots = [int(r) for r in nuclei["pt_root_id"] if r > 0]
"""
SHOW = "viewer = cavewidgets.Viewer(client, height=500)\nviewer"
# kernel side: when each viewer's segments have the wanted root, and when the server writes the
# server-sent event carrying a new state (neuroglancer's EventStreamStateWatcher, wrapped)
INSTRUMENT = """
BENCH = {"want": None, "hits": []}
def _on_segments(change):
    if BENCH["want"] is not None and BENCH["want"] in change["new"] and not BENCH["hits"]:
        BENCH["hits"].append(time.time())
viewer.observe(_on_segments, names="segments")

plain = neuroglancer.Viewer()
plain.set_state(viewer.state)
PLAIN = {"want": None, "hits": []}
def _on_plain():
    want = PLAIN["want"]
    if want is None or PLAIN["hits"]:
        return
    for layer in plain.shared_state.raw_state.get("layers", []):
        if layer.get("name") == "seg" and want in (layer.get("segments") or []):
            PLAIN["hits"].append(time.time())
plain.shared_state.add_changed_callback(_on_plain)
def plain_update(fn):
    with plain.txn() as s:
        fn(s)
def plain_set(ids):
    plain_update(lambda s: setattr(s.layers["seg"], "segments", ids))

SSE = {}
import neuroglancer.server as _ngs
_send0 = _ngs.EventStreamStateWatcher.maybe_send_update
def _send(self, handler, _send0=_send0):
    sent = _send0(self, handler)
    if sent and self.key == "s":
        SSE[id(self.state)] = time.time()
    return sent
_ngs.EventStreamStateWatcher.maybe_send_update = _send
def sse_after(state, t0):
    t = SSE.get(id(state))
    return t if t is not None and t >= t0 else None
"""
# in a neuroglancer page: Date.now() when the wanted root is among the visible segments, when
# the client POSTs its state to Python, and main-thread stalls over 100 ms
WATCH = """() => {
    if (window.__cwWatch) return;
    window.__cwWatch = true;
    window.__cwWant = null; window.__cwSeen = null; window.__cwPosted = null; window.__cwLags = [];
    // run after neuroglancer's own handler (never inside its restoreState), never throwing into it
    const check = () => Promise.resolve().then(() => { try { look(); } catch (e) {} });
    const look = () => {
        if (window.__cwWant === null || window.__cwSeen !== null) return;
        const managed = viewer.layerManager.getLayerByName('seg');
        const layer = managed && managed.layer;
        let has = false;
        if (layer && layer.displayState) {
            has = layer.displayState.segmentationGroupState.value.visibleSegments.has(BigInt(window.__cwWant));
        } else {
            const spec = viewer.state.toJSON().layers.find(l => l.name === 'seg');
            has = !!(spec && spec.segments && spec.segments.map(String).includes(window.__cwWant));
        }
        if (has) window.__cwSeen = Date.now();
    };
    viewer.state.changed.add(check);
    const fetch0 = window.fetch;
    window.fetch = function (url, init) {
        if (window.__cwPosted === null && init && init.method === 'POST' && String(url).includes('/state/')) window.__cwPosted = Date.now();
        return fetch0.apply(this, arguments);
    };
    let last = performance.now();
    const tick = () => {
        const now = performance.now();
        if (now - last > 100) window.__cwLags.push(Math.round(now - last));
        last = now;
        setTimeout(tick, 20);
    };
    setTimeout(tick, 20);
}"""
ADD_IN_BROWSER = """(root) => {
    const segs = viewer.layerManager.getLayerByName('seg').layer.displayState.segmentationGroupState.value.visibleSegments;
    window.__cwPosted = null;
    const t = Date.now();
    segs.add(BigInt(root));
    return t;
}"""
READY = """() => typeof viewer !== 'undefined' && !!viewer.layerManager
    && !!viewer.layerManager.getLayerByName('seg') && !!viewer.layerManager.getLayerByName('seg').layer
    && !!viewer.layerManager.getLayerByName('seg').layer.displayState"""
LAYER_STATUS = """() => viewer.layerManager.managedLayers.map(m => [m.name, m.layer ? m.layer.dataSources.map(d =>
    d.loadState ? (d.loadState.error ? 'error: ' + d.loadState.error.message : 'ok') : 'loading').join(',') : 'none'])"""


def ng_frame(page, timeout=180):
    """The widget's neuroglancer frame once its segmentation layer is up."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        for frame in page.frames:
            if "/v/" in frame.url:
                try:
                    if frame.evaluate(READY):
                        return frame
                except Exception as err:
                    last = err
        time.sleep(0.5)
    status = page.evaluate("() => Array.from(document.querySelectorAll('.cw-viewer')).map(v => [v.dataset.status, v.innerText.slice(0, 300)])")
    for frame in page.frames:
        if "/v/" in frame.url:
            try:
                status.append(frame.evaluate(LAYER_STATUS))
            except Exception as err:
                status.append(str(err)[:200])
    raise TimeoutError(f"no neuroglancer frame with a segmentation layer in {[f.url for f in page.frames]}: {last}; {status}")


def wait(fn, timeout=10.0, interval=0.02):
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = fn()
        if out:
            return out
        time.sleep(interval)
    return None


def python_to_browser(nb, frame, root, assign: str, state_expr: str, parts: dict) -> float | dict:
    frame.evaluate("(r) => { window.__cwWant = r; window.__cwSeen = null; }", str(root))
    nb.exec(f"_t0 = time.time()\n{assign}")
    t0 = nb.py("_t0")
    try:
        frame.wait_for_function("() => window.__cwSeen !== null", timeout=30_000, polling=20)
    except Exception as err:
        try:
            shown = frame.evaluate("() => (viewer.state.toJSON().layers.find(l => l.name === 'seg') || {}).segments || null")
        except Exception as e:
            shown = type(e).__name__
        return {"timeout": str(err).splitlines()[0][:120], "browser_segments": shown, "wanted": str(root)}
    sse = nb.py(f"sse_after({state_expr}, _t0)")
    if sse is not None:
        parts["python_to_sse_ms"].append(round((sse - t0) * 1000, 1))
    return frame.evaluate("() => window.__cwSeen") - t0 * 1000


def browser_to_python(nb, frame, root, slot: str, parts: dict) -> float | dict:
    nb.exec(f"{slot}['want'] = {root!r}; {slot}['hits'] = []")
    # neuroglancer rebuilds its layers on each state from Python: a user clicks once it is back
    frame.wait_for_function(READY, timeout=60_000, polling=20)
    t_browser = frame.evaluate(ADD_IN_BROWSER, str(root))
    # the hit time is recorded in the kernel; poll gently, as each poll occupies the kernel's thread
    hits = wait(lambda: nb.py(f"{slot}['hits']"), timeout=30, interval=0.25)
    if not hits:
        return {"timeout": "the kernel never saw the selection"}
    posted = frame.evaluate("() => window.__cwPosted")
    if posted is not None:
        parts["browser_change_to_post_ms"].append(round(posted - t_browser, 1))
        parts["post_to_python_ms"].append(round(hits[0] * 1000 - posted, 1))
    return hits[0] * 1000 - t_browser


def stats(values: list) -> dict:
    ok = sorted(v for v in values if isinstance(v, (int, float)))
    if not ok:
        return {"median": None, "p90": None, "n": 0, "failed": len(values)}
    p90 = ok[min(len(ok) - 1, int(round(0.9 * (len(ok) - 1))))]
    return {"median": round(statistics.median(ok), 1), "p90": round(p90, 1), "min": round(ok[0], 1), "max": round(ok[-1], 1),
            "n": len(ok), "failed": len(values) - len(ok)}


def start_service():
    """``cavewidgets sample serve`` in its own process; (process, url, datastack)."""
    import secrets

    from cavewidgets.sample import _resolve_data_dir
    from cavewidgets.testing.lab import free_port

    os.environ["CAVEWIDGETS_SAMPLE_TOKEN"] = secrets.token_hex(16)  # the service and the kernel read it; never printed
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "cavewidgets", "sample", "serve", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    if not wait(lambda: _answers(url), timeout=120, interval=0.3):
        proc.kill()
        raise RuntimeError("the sample service did not start")
    datastack = json.loads((_resolve_data_dir(None) / "datastack.json").read_text())["datastack"]
    return proc, url, datastack


def _answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url + "/info/version", timeout=2):
            return True
    except OSError as err:
        return getattr(err, "code", None) is not None  # an HTTP error still means it is up


def run(args, results: dict, setup: str, started: float) -> None:
    with LabServer() as lab, Browser() as browser:
        nb = LabNotebook.open(lab, browser, "viewer_sync.ipynb", [setup, SHOW])
        try:
            nb.run_all(timeout=300)
            widget_frame = ng_frame(nb.page)
            nb.exec(INSTRUMENT)
            if args.no_snapshot:
                nb.exec("viewer._snapshot.close()")
            plain_page = browser.new_page()
            # the same canvas size as the widget's (SwiftShader renders on the CPU: size is time)
            box = nb.page.locator(".jp-OutputArea .cw-viewer iframe").bounding_box()
            plain_page.set_viewport_size({"width": round(box["width"]), "height": round(box["height"])})
            results["canvas_px"] = [round(box["width"]), round(box["height"])]
            plain_page.goto(nb.py("plain.get_viewer_url()"))
            plain_page.wait_for_function(READY, timeout=180_000)
            plain_frame = plain_page.main_frame
            frames = {"cavewidgets.Viewer": widget_frame, "neuroglancer.Viewer": plain_frame}
            for frame in frames.values():
                frame.evaluate(WATCH)
            roots = nb.py("roots")
            random.Random(4).shuffle(roots)
            rng = random.Random(5)
            n = 0
            for layout in args.layouts.split(","):
                nb.exec(f"viewer.layout = {layout!r}\nplain_update(lambda s: setattr(s, 'layout', {layout!r}))")
                python_to_browser(nb, widget_frame, roots[n], f"viewer.segments = {{{roots[n]}}}", "viewer._ng.shared_state", {"python_to_sse_ms": []})
                python_to_browser(nb, plain_frame, roots[n], f"plain_set({{{roots[n]}}})", "plain.shared_state", {"python_to_sse_ms": []})
                time.sleep(3)  # warm-up done: layers loaded in this layout
                for frame in frames.values():
                    frame.evaluate("() => { window.__cwLags = []; }")
                runs = {t: {m: [] for m in ("python_to_browser_ms", "browser_to_python_ms", "python_to_sse_ms", "browser_change_to_post_ms", "post_to_python_ms")} for t in TOOLS}
                t_layout = time.time()
                for i in range(args.trials):
                    a, b = roots[(n + 1) % len(roots)], roots[(n + 2) % len(roots)]
                    n += 2
                    for tool, frame in frames.items():
                        r = runs[tool]
                        ours = tool == "cavewidgets.Viewer"
                        assign = f"viewer.segments = {{{a}}}" if ours else f"plain_set({{{a}}})"
                        r["python_to_browser_ms"].append(python_to_browser(nb, frame, a, assign, "viewer._ng.shared_state" if ours else "plain.shared_state", r))
                        time.sleep(rng.uniform(0.15, 0.35))
                        r["browser_to_python_ms"].append(browser_to_python(nb, frame, b if ours else str(b), "BENCH" if ours else "PLAIN", r))
                        time.sleep(rng.uniform(0.15, 0.35))
                    if i % 10 == 9:
                        print(f"[{time.time() - started:5.0f}s] {layout}: {i + 1} trials", flush=True)
                wall = time.time() - t_layout
                for tool, frame in frames.items():
                    lags = frame.evaluate("() => window.__cwLags")
                    runs[tool] = {m: [round(v, 1) if isinstance(v, (int, float)) else v for v in vs] for m, vs in runs[tool].items()}
                    runs[tool]["main_thread_stalls"] = {"over_100ms": len(lags), "total_s": round(sum(lags) / 1000, 1), "max_ms": max(lags, default=0),
                                                        "share_of_wall": round(sum(lags) / 1000 / wall, 2)}
                    results["tools"][f"{tool} ({layout})"] = runs[tool]
            results["tools"][f"cavewidgets.Viewer ({layout})"]["snapshot_refreshes_in_run"] = nb.py("viewer._snapshot.published")
            plain_page.close()
        finally:
            nb.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=30, help="trials per measure, viewer and layout")
    ap.add_argument("--layouts", default="xy,xy-3d", help="comma-separated panel layouts, one scenario each")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--in-kernel-service", action="store_true", help="serve the sample from the kernel process (cavewidgets.sample.client())")
    ap.add_argument("--no-snapshot", action="store_true", help="stop the widget's saved-notebook snapshot refreshes (to see their cost)")
    args = ap.parse_args()
    started = time.time()
    results: dict = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "machine": machine(["cavewidgets", "neuroglancer", "jupyterlab", "anywidget", "ipykernel", "tornado", "playwright"]), "trials": args.trials,
                     "sample_service": "kernel process (thread)" if args.in_kernel_service else "separate process",
                     "snapshot_refresh": not args.no_snapshot, "tools": {}}
    service = None
    setup = SETUP
    if args.in_kernel_service:
        setup = SETUP_IN_KERNEL
    else:
        service, url, datastack = start_service()
        os.environ.update(CW_BENCH_SERVICE=url, CW_BENCH_DATASTACK=datastack)  # the kernel inherits these
    try:
        run(args, results, setup, started)
    finally:
        if service is not None:
            service.terminate()
            service.wait(10)
    summary = {tool: {m: stats(v) for m, v in r.items() if m.endswith("_ms")} for tool, r in results["tools"].items()}
    results["medians_ms"] = {tool: {m: s["median"] for m, s in r.items()} for tool, r in summary.items()}
    results["p90_ms"] = {tool: {m: s["p90"] for m, s in r.items()} for tool, r in summary.items()}
    results["stats_ms"] = summary
    results["targets"] = {"goal_ms": TARGET_MS, **{
        f"{tool} {m[:-3]} median <= {TARGET_MS} ms": s["median"] is not None and s["median"] <= TARGET_MS
        for tool, r in summary.items() if tool.startswith("cavewidgets") for m, s in r.items() if m in ("python_to_browser_ms", "browser_to_python_ms")}}
    results["total_wall_s"] = round(time.time() - started, 1)
    results["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n{args.trials} trials per measure; ms; sample service: {results['sample_service']}")
    print(f"{'tool':32} {'measure':26} {'median':>8} {'p90':>8} {'min':>8} {'max':>8}  failed")
    for tool, r in summary.items():
        for m, st in r.items():
            print(f"{tool:32} {m:26} {st['median']!s:>8} {st['p90']!s:>8} {st.get('min')!s:>8} {st.get('max')!s:>8}  {st.get('failed', 0)}")
        print(f"{'':32} main-thread stalls > 100 ms: {results['tools'][tool]['main_thread_stalls']}")
    print(f"\nwrote {args.out} in {results['total_wall_s']:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
