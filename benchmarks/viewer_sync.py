"""Benchmark cavewidgets.Viewer against neuroglancer's own Viewer, in real JupyterLab + headless
Chromium, in the same run and the same kernel: segment sync both ways, time to the first full
view, and the bytes the widget channel carries.

* cavewidgets.Viewer: displayed in a notebook cell; neuroglancer runs in the widget's front-end in
  the notebook page itself, and everything (code, state, data) goes over the widget's comm. It is
  measured in a Chromium that reaches nothing but the Jupyter server (its own network namespace,
  as on Colab or JupyterHub: ``Browser(isolate_to=lab.port)``).
* neuroglancer.Viewer: the plain Python-integrated viewer with the same state, its own page
  (from its tornado server) in an ordinary Chromium, at the widget's canvas size, reading the
  sample service directly over HTTP (what neuroglancer's ``Viewer`` offers a notebook user).

**Segment sync.** Per trial, each viewer in turn (interleaved, so both see the same machine load):

* Python → browser: ``t0 = time.time()`` in the kernel, then ``viewer.segments = {root}``
  (plain: ``with viewer.txn() as s: s.layers["seg"].segments = {root}``), until a listener on
  the page's neuroglancer ``viewer.state.changed`` sees the root among the segmentation layer's
  visible segments (``Date.now()`` there). Split: ``python_to_push_ms``, t0 → the new state
  handed to the transport (ours: the ``cw:ng`` message handed to ``viewer.send`` by the channel's
  sender thread; plain: the server-sent event written by neuroglancer's server);
  ``push_to_page_ms``, → the message reaches the page's JS (a listener on the kernel websocket
  registered before JupyterLab's, or on neuroglancer's ``EventSource``; it runs when the page's
  main thread is free); ``page_to_applied_ms``, → applied (ours: JupyterLab's message chain,
  the widget manager and our patch of the layer).
* browser → Python: ``Date.now()`` in the page, then the root is added to the layer's visible
  segments through neuroglancer's JS state (what a double-click does), until ``viewer.segments``
  has it (a traitlets observer records ``time.time()`` on the kernel's main thread; plain: a
  ``shared_state`` changed-callback on neuroglancer's server thread). Split:
  ``change_to_send_ms``, change → the state request leaves the page's JS (ours: the ``ng_state``
  request handed to the websocket; plain: its client's throttled POST); ``send_to_kernel_ms``,
  → its handler in the kernel (ours: ``viewer._channel._do_state``; plain: neuroglancer's
  ``SetStateHandler``); ``kernel_to_python_ms``, → the traits (ours: ``set_state`` plus the hop
  to the kernel's main loop). Ours also splits ``send_to_kernel_ms`` at the Jupyter server
  (``_server_probe.py``): ``send_to_server_ms`` (the browser's network stack and the isolation's
  socat bridge), ``server_relay_ms`` (Jupyter server, websocket → ZMQ) and
  ``server_to_kernel_ms`` (ZMQ, the kernel's shell channel thread and the viewer's subshell).

Two paces (``--pace``), each its own scenario in the results: ``busy``, trials back to back
(0.15-0.35 s apart, so each change meets a view still loading the previous change's data: the
worst case, where the state shares the one channel, and the page's main thread, with the data);
``settled`` (scenarios named ``"<layout>, settled"``), each measurement starting from both views
at rest (each ``viewer.isReady()``, then ``SETTLE_S`` = 1.5 s more, as isReady does not wait for
a graphene layer's per-chunk leaves): a user running a cell after looking at the view. Both, so
that neither tool is timed while the other's page still draws its last change on the same cores.

For ours, each settled trial also makes one round trip over the widget channel with nothing
else to do (``cwPing``: the kernel answers with its clock), split into
``channel_ping_page_to_kernel_ms`` and ``channel_ping_kernel_to_page_ms``: the floor of both
sync directions on this machine at that moment (browser, socat bridge, Jupyter server, kernel);
the first also split at the Jupyter server (``channel_ping_page_to_server_ms``,
``channel_ping_server_to_kernel_ms``).

For ours, each Python → browser trial also records how many data answers the kernel sent the
page in the second before the state ([answers, cw:fetched messages, bytes]): the comm is one
ordered pipe, so they are delivered first.

Each scenario (``--layouts``) starts once both views have loaded what the layout shows
(``viewer.isReady()``), then runs the trials with both viewers in that panel layout: ``xy``
(2D only) isolates the sync; ``xy-3d`` (the Viewer's default) also renders each root's mesh,
which SwiftShader does on the CPU. Main-thread stalls over 100 ms in each page are recorded.
The iframe mode these numbers replace cannot be re-measured (it was removed): its README figures
are kept in the JSON as ``previous_iframe_mode_ms``.

**Time to the first full view.** A cell ``fv = cavewidgets.Viewer(client, height=500);
fv.segments = {3 roots}; fv.layout = 'xy-3d'; fv`` is run (re-run per trial: a fresh viewer each
time, the previous one closed), from the kernel's ``time.time()`` at the cell's start until

* ``xy_ms``: a frame of the xy panel is drawn with every chunk it shows loaded,
* ``meshes_ms``: a frame of the 3D panel is drawn with the 3 meshes' manifests and fragments
  all on the GPU,
* ``full_ms``: a frame is drawn while ``viewer.isReady()`` holds: the readiness test neuroglancer's
  own Python screenshots use (every layer's data sources loaded, every visible panel ready),

each checked at the start of a draw and recorded at its end (``Date.now()`` in the page), once
the state is in (layers present, 3 segments visible, both panels up). Compared with
neuroglancer.Viewer's page showing the same state, reloaded per trial with the browser's HTTP
cache cleared, from ``page.goto`` (direct HTTP to the sample service). The first viewer of the
page (``cold``: the 3.5 MB neuroglancer module crosses the channel first) is reported apart from
later ones (the module is loaded once per page).

**Bytes.** For the first viewer in the page and for a second one added to it: the widget's code
(``_esm`` + ``_css``), the neuroglancer module (``ng_bundle``) and everything else the kernel
sent over the channel by kind (``viewer._channel.sent_bytes``), the data the kernel fetched for
it, and the page's websocket bytes (all of them, and those of the widget's comm, both ways),
from the cell's run until its full view.

The sample service runs in its own process (``cavewidgets sample serve``), as a CAVE deployment
runs on its own servers (``--in-kernel-service``: in the kernel's process, as
``cavewidgets.sample.client()`` does, where its responses compete with the sync for the kernel's
GIL). For our viewer the data path is kernel → channel either way (answered in process when the
service runs in the kernel, else by the kernel over loopback HTTP); the plain page reads it over
HTTP. The widget's saved-notebook snapshot refresh is on, as for a user (``--no-snapshot`` turns
it off to see its cost). Both clocks are the same host's wall clock. Roots are real sample
roots. Timings are wall clock on a shared machine: the JSON records the load average before and
after. Writes ``benchmarks/results/viewer_sync.json``. ``--split-cores`` pins the browsers to the
last core and the Jupyter server, kernel and sample service to the others (``taskset``): the
browser off the kernel's cores, as on a user's own machine (recorded under ``split_cores``).

Example::

    .venv/bin/python benchmarks/viewer_sync.py               # 30 sync trials per layout, 6 first views
    .venv/bin/python benchmarks/viewer_sync.py --trials 40 --layouts xy --first-view-trials 5
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
from _server_probe import relayed_after  # noqa: E402
from _timing import stats  # noqa: E402

from cavewidgets.testing.lab import CHROMIUM_ARGS, WITH_NAGLE, Browser, LabNotebook, LabServer

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "viewer_sync.json"
#: the Jupyter server's log of when it relayed each ng_state / ng_ping (benchmarks/_server_probe.py)
PROBE = Path(os.environ.get("TMPDIR", "/tmp")) / f"cw_viewer_sync_probe_{os.getpid()}.txt"
TARGET_MEDIAN_MS = 40
TARGET_P90_MS = 150
TARGET_FIRST_VIEW_RATIO = 1.3
TOOLS = ("cavewidgets.Viewer", "neuroglancer.Viewer")
FIRST_VIEW_SEGMENTS = 3
#: README figures of the removed iframe mode (neuroglancer's page in an iframe, its own server)
PREVIOUS_IFRAME_MODE_MS = {
    "source": "README.md, benchmarks/viewer_sync.py of the iframe mode (30 trials, same machine class); cannot be re-measured: that mode was removed",
    "xy": {"python_to_browser_ms": {"median": 62, "p90": 256}, "browser_to_python_ms": {"median": 157, "p90": 1184}},
    "xy-3d": {"python_to_browser_ms": {"median": 104, "p90": 287}, "browser_to_python_ms": {"median": 181, "p90": 434}},
}

SETUP = """
import os, time, functools, caveclient, neuroglancer, cavewidgets
client = caveclient.CAVEclient(os.environ["CW_BENCH_DATASTACK"], server_address=os.environ["CW_BENCH_SERVICE"],
                               auth_token=os.environ["CAVEWIDGETS_SAMPLE_TOKEN"], write_server_cache=False)
"""
SETUP_IN_KERNEL = """
import time, functools, neuroglancer, cavewidgets
client = cavewidgets.sample.client()
"""
ROOTS = """
nuclei = client.materialize.query_table("nucleus_detection_v0")
roots = [int(r) for r in nuclei["pt_root_id"] if r > 0]
# the first full view shows the 3 biggest cells (the most mesh data)
roots3 = list(dict.fromkeys(int(r) for r in nuclei.sort_values("volume", ascending=False)["pt_root_id"] if r > 0))[:3]
"""
# the cell a user runs; the first run in the page is the main viewer (cold page), the others are
# re-runs of one cell (each closes the viewer of its previous run)
VIEW_CELL = "_t_cell = time.time()\n{name} = cavewidgets.Viewer(client, height=500)\n{name}.segments = set(roots3)\n{name}.layout = 'xy-3d'\n{extra}{name}"
# kernel side: when the viewers' segments have the wanted root, when the state is handed to the
# transport (ours: the channel's cw:ng message to viewer.send; plain: the server-sent event) and
# when a browser state reaches its handler (ours: the ng_state request; plain: the POST)
INSTRUMENT = r"""
BENCH = {"want": None, "hits": [], "state_in": [], "pushes": [], "replies": []}
def _on_segments(change):
    if BENCH["want"] is not None and BENCH["want"] in change["new"] and not BENCH["hits"]:
        BENCH["hits"].append(time.time())
viewer.observe(_on_segments, names="segments")
def _send(content, buffers=None, _send0=viewer.send):
    if isinstance(content, dict) and content.get("kind") == "cw:ng" and content.get("k") == "s":
        BENCH["pushes"].append(time.time())
        del BENCH["pushes"][:-100]
    elif isinstance(content, dict) and content.get("kind") == "cw:fetched":  # data answers, coalesced
        BENCH["replies"].append((time.time(), len(content["answers"]), sum(len(b) for b in buffers or ())))
        del BENCH["replies"][:-20000]
    return _send0(content, buffers=buffers)
def replies_between(t0, t1):  # data answers, their messages and bytes the kernel sent the page from t0 to t1
    got = [(a, n) for t, a, n in BENCH["replies"] if t0 <= t <= t1]
    return [sum(a for a, _ in got), len(got), sum(n for _, n in got)]
viewer.send = _send
@functools.wraps(viewer._channel._do_state)
def _do_state(*args, _do_state0=viewer._channel._do_state, **kwargs):
    BENCH["state_in"].append(time.time())
    return _do_state0(*args, **kwargs)
viewer._channel._do_state = _do_state

plain = neuroglancer.Viewer()
plain.set_state(viewer.state)
PLAIN = {"want": None, "hits": [], "state_in": [], "pushes": []}
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

import neuroglancer.server as _ngs
# neuroglancer's own client (the wheel's build) registers the middleauth+ kvstore for https only:
# serve it with http registered too, so the plain page reads the sample's graphene source
# (graphene://middleauth+http://127.0.0.1:…) as cavewidgets' former iframe mode did for its page
import re as _re
from neuroglancer import static as _ngstatic
class _PlainClient:
    PATTERN = _re.compile(rb'("middleauth\+";function \w+\(\w+,\w+\)\{for\(let \w+ of\[)"https"\]')
    def __init__(self, base):
        self.base, self.patched = base, 0
    def get(self, name, query):
        data, content_type = self.base.get(name, query)
        if name.endswith(".js"):
            data, n = self.PATTERN.subn(rb'\1"https","http"]', data, count=1)
            self.patched += n
        return data, content_type
_ngs.global_static_content_source = _PlainClient(_ngs.global_static_content_source or _ngstatic.get_default_static_content_source())
def _sse(self, handler, _sse0=_ngs.EventStreamStateWatcher.maybe_send_update):
    sent = _sse0(self, handler)
    if sent and self.key == "s" and self.state is plain.shared_state:
        PLAIN["pushes"].append(time.time())
        del PLAIN["pushes"][:-100]
    return sent
_ngs.EventStreamStateWatcher.maybe_send_update = _sse
def _post(self, viewer_token, _post0=_ngs.SetStateHandler.post):
    if viewer_token == plain.token:
        PLAIN["state_in"].append(time.time())
    return _post0(self, viewer_token)
_ngs.SetStateHandler.post = _post
def first_after(times, t0):
    return next((t for t in times if t >= t0), None)
"""
# every page of both browsers: finds each neuroglancer viewer (a widget's, by its data-cw-viewer
# key; neuroglancer's own page's, as "plain"), records when it first draws a frame with the xy
# panel / the meshes / everything ready, and main-thread stalls over 100 ms
PAGE_SCRIPT = r"""(() => {
    if (window.__cwBench) return;
    const WANT_SEGMENTS = %d;
    const views = {};
    const seen = new WeakSet();
    const bench = window.__cwBench = {
        views, lags: [],
        viewer(key) {
            if (key === 'plain') return window.viewer && window.viewer.layerManager ? window.viewer : null;
            const root = document.querySelector('.cw-viewer[data-cw-viewer="' + key + '"]');
            return root && root.cwViewer ? root.cwViewer.viewer : null;
        },
    };
    // when a new viewer state from Python reaches the page's JS (ours: the cw:ng message on the
    // kernel websocket; plain: the server-sent event) and when the page sends a state (ours: the
    // ng_state request on the websocket; plain: the POST), both before anyone else handles them
    bench.msgIn = []; bench.msgOut = [];
    const note = (list) => { list.push(Date.now()); if (list.length > 200) list.shift(); };
    const decoder = new TextDecoder();
    const content = (data) => {  // the content of a Jupyter kernel websocket message (v1 protocol), as text
        if (typeof data === 'string') return data;
        if (!(data instanceof ArrayBuffer) || data.byteLength < 64) return null;
        const v = new DataView(data);
        const n = Number(v.getBigUint64(0, true));
        if (n < 6 || n > 4096 || data.byteLength < 8 * (n + 1)) return null;
        const at = (i) => Number(v.getBigUint64(8 * (i + 1), true));
        return decoder.decode(new Uint8Array(data, at(4), at(5) - at(4)));
    };
    if (location.pathname.startsWith('/v/')) {  // neuroglancer's own page
        const NativeEventSource = window.EventSource;
        window.EventSource = class extends NativeEventSource {
            constructor(...args) {
                super(...args);
                this.addEventListener('message', (e) => { if (/^\{"k":\s*"s"/.test(String(e.data).slice(0, 16))) note(bench.msgIn); });
            }
        };
        const fetch0 = window.fetch;
        window.fetch = function (url, init) {
            if (init && init.method === 'POST' && String(url).includes('/state/')) note(bench.msgOut);
            return fetch0.apply(this, arguments);
        };
    } else {
        const NativeWebSocket = window.WebSocket;
        window.WebSocket = class extends NativeWebSocket {
            constructor(...args) {
                super(...args);
                this.addEventListener('message', (e) => {
                    try {
                        const c = content(e.data);
                        if (c && /"kind":\s*"cw:ng"/.test(c) && /"k":\s*"s"/.test(c)) note(bench.msgIn);
                    } catch (err) {}
                });
            }
            send(data) {
                try {
                    const c = content(data);
                    if (c && c.includes('"ng_state"')) note(bench.msgOut);
                } catch (err) {}
                return super.send(data);
            }
        };
    }
    let last = performance.now();
    const tick = () => {
        const now = performance.now();
        if (now - last > 100) bench.lags.push(Math.round(now - last));
        last = now;
        setTimeout(tick, 20);
    };
    setTimeout(tick, 20);
    // the 3D panel's meshes: every visible segment's manifest and fragments on the GPU
    const meshesReady = (panel) => {
        panel.ensureBoundsUpdated();
        const context = { projectionParameters: panel.projectionParameters.value };
        let meshes = 0;
        for (const [layer, attachment] of panel.visibleLayerTracker.visibleLayers) {
            if (!layer.source || !layer.source.fragmentSource) continue;
            meshes++;
            if (!layer.isReady(context, attachment)) return false;
        }
        return meshes > 0;
    };
    const readiness = (viewer) => {
        const layers = viewer.layerManager.managedLayers;
        if (!layers.length || !layers.every((m) => m.isReady())) return null;
        let visible = 0;
        for (const m of layers) {
            const group = m.layer && m.layer.displayState && m.layer.displayState.segmentationGroupState;
            if (group) visible += group.value.visibleSegments.size;
        }
        if (visible < WANT_SEGMENTS) return null;
        const panels = [...viewer.display.panels].filter((p) => p.visible);
        const flat = panels.filter((p) => p.sliceView && !p.sliceViews);
        const perspective = panels.filter((p) => p.sliceViews);
        if (!flat.length || !perspective.length) return null;
        viewer.chunkQueueManager.flushPendingChunkUpdates();
        return { xy: flat.every((p) => p.isReady()), meshes: perspective.every(meshesReady), full: viewer.isReady() };
    };
    const attach = (key, viewer) => {
        const rec = views[key] = { mounted: Date.now(), draws: 0, xy: null, meshes: null, full: null, error: null };
        let atStart = null;
        viewer.display.updateStarted.add(() => {
            atStart = null;
            if (rec.full !== null) return;
            try { atStart = readiness(viewer); } catch (e) { rec.error = String((e && e.message) || e); }
        });
        viewer.display.updateFinished.add(() => {
            rec.draws++;
            if (!atStart) return;
            const now = Date.now();
            if (atStart.xy && rec.xy === null) rec.xy = now;
            if (atStart.meshes && rec.meshes === null) rec.meshes = now;
            if (atStart.full && rec.full === null) rec.full = now;
            atStart = null;
        });
    };
    // a live collection: a querySelectorAll of JupyterLab's whole DOM every 25 ms cost the
    // measured page 1.5 s of main-thread time in a 10-trial run
    const widgets = document.getElementsByClassName('cw-viewer');
    const scan = () => {
        for (const root of widgets) {
            const key = root.dataset.cwViewer, mounted = root.cwViewer;
            if (key && mounted && mounted.viewer && !seen.has(mounted.viewer)) { seen.add(mounted.viewer); attach(key, mounted.viewer); }
        }
        const plain = window.viewer;
        if (plain && plain.display && plain.layerManager && !seen.has(plain)) { seen.add(plain); attach('plain', plain); }
    };
    setInterval(scan, 25);
})();""" % FIRST_VIEW_SEGMENTS
# per viewer: Date.now() when the wanted root is among its visible segments
WATCH = """(viewer) => {
    if (viewer.__cwSync) return;
    const sync = viewer.__cwSync = { want: null, seen: null };
    // run after neuroglancer's own handler (never inside its restoreState), never throwing into it
    const check = () => Promise.resolve().then(() => { try { look(); } catch (e) {} });
    const look = () => {
        if (sync.want === null || sync.seen !== null) return;
        const managed = viewer.layerManager.getLayerByName('seg');
        const layer = managed && managed.layer;
        let has = false;
        if (layer && layer.displayState) {
            has = layer.displayState.segmentationGroupState.value.visibleSegments.has(BigInt(sync.want));
        } else {
            const spec = viewer.state.toJSON().layers.find(l => l.name === 'seg');
            has = !!(spec && spec.segments && spec.segments.map(String).includes(sync.want));
        }
        if (has) sync.seen = Date.now();
    };
    viewer.state.changed.add(check);
}"""
ADD_IN_BROWSER = """(viewer, root) => {
    const segs = viewer.layerManager.getLayerByName('seg').layer.displayState.segmentationGroupState.value.visibleSegments;
    const t = Date.now();
    segs.add(BigInt(root));
    return t;
}"""
# one round trip over the widget channel, timed on both clocks (the kernel answers with its own)
PING = """async (key) => await document.querySelector('.cw-viewer[data-cw-viewer="' + key + '"]').cwPing()"""
READY = """(viewer) => !!viewer.layerManager.getLayerByName('seg') && !!viewer.layerManager.getLayerByName('seg').layer
    && !!viewer.layerManager.getLayerByName('seg').layer.displayState"""
LAYER_STATUS = """(viewer) => viewer.layerManager.managedLayers.map(m => [m.name, m.layer ? m.layer.dataSources.map(d =>
    d.loadState ? (d.loadState.error ? 'error: ' + d.loadState.error.message : 'ok') : 'loading').join(',') : 'none'])"""
RUN_CELL = """async ([code, index]) => {
    const panel = window.jupyterapp.shell.currentWidget;
    const model = panel.content.model;
    if (code !== null) {
        model.sharedModel.insertCell(model.cells.length, {cell_type: 'code', source: code});
        index = model.cells.length - 1;
    }
    panel.content.activeCellIndex = index;
    panel.content.activeCell.node.scrollIntoView({block: 'start'});  // its output in view, as the plain page is
    await window.jupyterapp.commands.execute('notebook:run-cell');
    return index;
}"""


class View:
    """One neuroglancer viewer of a page: a widget's (``key``: its ``data-cw-viewer``, the
    viewer's ``_fallback_key``) or neuroglancer's own page (``key="plain"``). Functions given to
    ``evaluate`` and ``wait`` are called as ``fn(viewer, arg)``."""

    CALL = "([key, src, arg]) => { const v = window.__cwBench.viewer(key); return new Function('return (' + src + ')')()(v, arg); }"
    WAIT = "([key, src, arg]) => { const v = window.__cwBench && window.__cwBench.viewer(key); return !!v && new Function('return (' + src + ')')()(v, arg); }"

    def __init__(self, page, key: str):
        self.page, self.key = page, key

    def evaluate(self, fn: str, arg=None):
        return self.page.evaluate(self.CALL, [self.key, fn, arg])

    def wait(self, fn: str, arg=None, timeout: float = 60, polling: int = 20):
        self.page.wait_for_function(self.WAIT, arg=[self.key, fn, arg], timeout=timeout * 1000, polling=polling)

    def record(self) -> dict | None:
        return self.page.evaluate("(key) => window.__cwBench.views[key] || null", self.key)

    def status(self) -> str:
        """What a widget shows, and its layers' load states (for error messages)."""
        out = self.page.evaluate("() => Array.from(document.querySelectorAll('.cw-viewer')).map(v => [v.dataset.cwViewer, v.dataset.status, v.innerText.slice(0, 300)])")
        try:
            out.append(self.evaluate(LAYER_STATUS))
        except Exception as err:
            out.append(str(err)[:200])
        return json.dumps(out)[:2000]


class WsMeter:
    """Bytes of every websocket frame of a browser context's pages, both ways: in total, per comm
    and per message type (decoded from Jupyter's kernel websocket protocols: v1 binary, JSON
    text, legacy binary). Register it before the page opens: ``WsMeter().attach(browser.context)``."""

    def __init__(self):
        self.total = {"in": 0, "out": 0}
        self.comms: dict[str, dict[str, int]] = {}
        self.types: dict[str, dict[str, list[int]]] = {"in": {}, "out": {}}

    def attach(self, context) -> WsMeter:
        context.on("page", lambda page: page.on("websocket", self._socket))
        return self

    def _socket(self, ws) -> None:
        ws.on("framereceived", lambda payload: self._count(payload, "in"))
        ws.on("framesent", lambda payload: self._count(payload, "out"))

    def _count(self, payload, way: str) -> None:
        data = payload.encode() if isinstance(payload, str) else bytes(payload)
        self.total[way] += len(data)
        msg_type, comm = _describe(data)
        slot = self.types[way].setdefault(msg_type or "other", [0, 0])
        slot[0] += 1
        slot[1] += len(data)
        if comm:
            slot = self.comms.setdefault(comm, {"in": 0, "out": 0})
            slot[way] += len(data)

    def now(self) -> dict:
        return {"total": dict(self.total), "comms": {k: dict(v) for k, v in self.comms.items()},
                "types": {w: {k: list(v) for k, v in t.items()} for w, t in self.types.items()}}

    @staticmethod
    def delta(before: dict, after: dict, comm: str) -> dict:
        zero = {"in": 0, "out": 0}
        b, a = before["comms"].get(comm, zero), after["comms"].get(comm, zero)
        types = {}
        for way in ("in", "out"):
            for k, (frames, size) in after["types"][way].items():
                f0, s0 = before["types"][way].get(k, (0, 0))
                if frames > f0:
                    types[f"{way}:{k}"] = {"frames": frames - f0, "bytes": size - s0}
        return {"page_in": after["total"]["in"] - before["total"]["in"], "page_out": after["total"]["out"] - before["total"]["out"],
                "comm_in": a["in"] - b["in"], "comm_out": a["out"] - b["out"], "by_message_type": types}


def _describe(data: bytes) -> tuple[str | None, str | None]:
    """``(msg_type, comm_id)`` of a kernel websocket frame (``None`` where it has none)."""
    header = content = None
    try:
        if data[:1] == b"{":  # JSON text frame (or a server event)
            msg = json.loads(data)
            header, content = msg.get("header"), msg.get("content")
        elif len(data) >= 16:
            n = int.from_bytes(data[:8], "little")
            if 6 <= n <= 4096 and len(data) >= 8 * (n + 1):  # v1: n offsets (where channel, header, parent, metadata, content, buffers start; the end)
                offsets = [int.from_bytes(data[8 * (i + 1):8 * (i + 2)], "little") for i in range(n)]
                if offsets[0] == 8 * (n + 1):
                    header = json.loads(data[offsets[1]:offsets[2]])
                    content = json.loads(data[offsets[4]:offsets[5]])
            else:  # legacy binary: uint32 count and offsets, then the JSON message and its buffers
                k = int.from_bytes(data[:4], "big")
                if 1 <= k <= 4096:
                    start, end = int.from_bytes(data[4:8], "big"), int.from_bytes(data[8:12], "big") if k > 1 else len(data)
                    msg = json.loads(data[start:end])
                    header, content = msg.get("header"), msg.get("content")
    except (ValueError, AttributeError, TypeError):
        return None, None
    msg_type = header.get("msg_type") if isinstance(header, dict) else None
    if msg_type == "status" and isinstance(content, dict):
        msg_type = f"status:{content.get('execution_state')}"
    comm = content.get("comm_id") if isinstance(content, dict) else None
    return msg_type, comm


def wait(fn, timeout=10.0, interval=0.02):
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = fn()
        if out:
            return out
        time.sleep(interval)
    return None


def run_cell(nb, code: str | None = None, index: int | None = None, timeout: float = 300) -> int:
    """Append ``code`` as a cell (or take cell ``index``), run it through JupyterLab and wait for
    the kernel; the cell's index."""
    index = nb.page.evaluate(RUN_CELL, [code, index])
    nb.wait_idle(timeout)
    nb.raise_cell_errors()
    return index


def widget_view(nb, name: str, timeout: float = 300) -> View:
    """The page's view of the kernel's viewer ``name`` once its widget has started."""
    view = View(nb.page, nb.py(f"{name}._fallback_key"))
    try:
        nb.page.wait_for_function(
            """(key) => { const r = document.querySelector('.cw-viewer[data-cw-viewer="' + key + '"]');
                if (r && r.dataset.status === 'error') return true;
                return !!r && r.dataset.status === 'ready' && !!r.cwViewer; }""",
            arg=view.key, timeout=timeout * 1000, polling=100,
        )
    except Exception as err:
        raise TimeoutError(f"the viewer widget {name} did not start: {view.status()}") from err
    if nb.page.evaluate("(key) => document.querySelector('.cw-viewer[data-cw-viewer=\"' + key + '\"]').dataset.status", view.key) == "error":
        raise RuntimeError(f"the viewer widget {name} shows an error: {view.status()}")
    return view


def layer_failed(view: View) -> bool:
    try:
        return any("error" in v for _, v in view.evaluate(LAYER_STATUS))
    except Exception:  # no viewer (yet)
        return False


def layers_ok(view: View, timeout: float = 180) -> None:
    """Wait until every layer of ``view`` has loaded its data sources; raise if one fails."""
    ok = wait(lambda: all(v == "ok" for _, v in view.evaluate(LAYER_STATUS)) or layer_failed(view), timeout=timeout, interval=0.5)
    if not ok or layer_failed(view):
        raise RuntimeError(f"{view.key}: the layers did not load: {view.status()}")


def full_view(view: View, t0: float, nb, timeout: float = 300) -> dict:
    """Wait for ``view``'s first full frame; times from ``t0`` (s since the epoch) in ms. Meanwhile
    the kernel is asked a trivial question about once a second (``kernel_reply_ms``: how long a
    user's cell would wait while the view loads)."""
    deadline = time.time() + timeout
    pings = []
    while True:
        rec = view.record()
        if rec and (rec["full"] is not None or rec["error"] is not None):
            break
        if time.time() > deadline:
            return {"timeout": f"no full view in {timeout} s", "record": rec, "status": view.status()}
        if rec and layer_failed(view):
            return {"error": "a layer failed", "status": view.status()}
        t = time.time()
        nb.py("0", timeout=timeout)
        pings.append(round((time.time() - t) * 1000, 1))
        time.sleep(max(0.0, 1 - (time.time() - t)))
    if rec["full"] is None:
        return {"error": rec["error"], "status": view.status()}
    out = {f"{k}_ms": round(rec[k] - t0 * 1000, 1) if rec[k] is not None else None for k in ("mounted", "xy", "meshes", "full")}
    out["draws"] = rec["draws"]
    out["kernel_reply_ms"] = {"median": round(statistics.median(pings), 1), "max": max(pings), "n": len(pings)} if pings else None
    return out


def python_to_browser(nb, view: View, root, assign: str, slot: str, parts: dict) -> float | dict:
    view.evaluate("(viewer, r) => { viewer.__cwSync.want = r; viewer.__cwSync.seen = null; }", str(root))
    nb.exec(f"_t0 = time.time()\n{assign}")
    t0 = nb.py("_t0")
    try:
        view.wait("(viewer) => viewer.__cwSync.seen !== null", timeout=30)
    except Exception as err:
        try:
            shown = view.evaluate("(viewer) => (viewer.state.toJSON().layers.find(l => l.name === 'seg') || {}).segments || null")
        except Exception as e:
            shown = type(e).__name__
        return {"timeout": str(err).splitlines()[0][:120], "browser_segments": shown, "wanted": str(root)}
    seen = view.evaluate("(viewer) => viewer.__cwSync.seen")
    pushed, ahead = nb.py(f"(lambda p: [p, replies_between(p - 1, p) if p and {slot} is BENCH else None])(first_after({slot}['pushes'], _t0))")
    if ahead is not None:  # the comm is one ordered pipe: data answers sent just before the state go first
        parts["answers_sent_in_last_s_before_push"].append(ahead)
    if pushed is not None:
        parts["python_to_push_ms"].append(round((pushed - t0) * 1000, 1))
        # the last state message the page's JS received before it showed the root
        got = view.page.evaluate("([a, b]) => window.__cwBench.msgIn.filter(t => t >= a && t <= b).pop() ?? null", [pushed * 1000 - 5, seen])
        if got is not None:
            parts["push_to_page_ms"].append(round(got - pushed * 1000, 1))
            parts["page_to_applied_ms"].append(round(seen - got, 1))
    return seen - t0 * 1000


def browser_to_python(nb, view: View, root, slot: str, parts: dict) -> float | dict:
    nb.exec(f"{slot}['want'] = {root!r}; {slot}['hits'] = []; {slot}['state_in'] = []")
    view.wait(READY, timeout=60)  # a user clicks once the layer is there
    t_browser = view.evaluate(ADD_IN_BROWSER, str(root))
    # the hit time is recorded in the kernel; poll gently, as each poll occupies the kernel's thread
    hits = wait(lambda: nb.py(f"{slot}['hits']"), timeout=30, interval=0.25)
    if not hits:
        return {"timeout": "the kernel never saw the selection"}
    arrived = nb.py(f"first_after({slot}['state_in'], {t_browser / 1000!r})")
    sent = view.page.evaluate("(t) => window.__cwBench.msgOut.find(x => x >= t) ?? null", t_browser)
    if arrived is not None and sent is not None:
        parts["change_to_send_ms"].append(round(sent - t_browser, 1))
        parts["send_to_kernel_ms"].append(round(arrived * 1000 - sent, 1))
        parts["kernel_to_python_ms"].append(round((hits[0] - arrived) * 1000, 1))
        if slot == "BENCH":  # split at the Jupyter server (benchmarks/_server_probe.py)
            relayed = relayed_after(PROBE, "ng_state", sent)
            if relayed is not None:
                parts["send_to_server_ms"].append(round(relayed[0] * 1000 - sent, 1))
                parts["server_relay_ms"].append(round((relayed[1] - relayed[0]) * 1000, 1))
                parts["server_to_kernel_ms"].append(round((arrived - relayed[1]) * 1000, 1))
    return hits[0] * 1000 - t_browser


def start_service():
    """``cavewidgets sample serve`` in its own process; (process, url, datastack)."""
    import secrets

    from cavewidgets.sample import resolve_data_dir
    from cavewidgets.testing.lab import free_port

    os.environ["CAVEWIDGETS_SAMPLE_TOKEN"] = secrets.token_hex(16)  # the service and the kernel read it; never printed
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "cavewidgets", "sample", "serve", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    if not wait(lambda: _answers(url), timeout=120, interval=0.3):
        proc.kill()
        raise RuntimeError("the sample service did not start")
    datastack = json.loads((resolve_data_dir(None) / "datastack.json").read_text())["datastack"]
    return proc, url, datastack


def _answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url + "/info/version", timeout=2):
            return True
    except OSError as err:
        return getattr(err, "code", None) is not None  # an HTTP error still means it is up


def viewer_bytes(nb, name: str, meter: WsMeter, before: dict, page) -> dict:
    """What the kernel sent over viewer ``name``'s channel, and the page's websocket bytes since ``before``."""
    page.wait_for_timeout(500)  # let Playwright deliver the last frame events
    out = nb.py(timeout=300, expr=f"""{{"initial_code_bytes": len({name}._esm.encode()) + len({name}._css.encode()),
        "esm_bytes": len({name}._esm.encode()), "css_bytes": len({name}._css.encode()),
        "ng_bundle_bytes": {name}._channel.sent_bytes.get("ng_bundle", 0),
        "channel_sent_bytes_by_kind": dict({name}._channel.sent_bytes), "channel_sent_bytes": sum({name}._channel.sent_bytes.values()),
        "channel_requests_by_method": dict({name}._channel.served),
        "kernel_fetched_data_bytes": {name}._proxy.bytes_served, "kernel_fetched_requests": sum({name}._proxy.served.values()),
        "comm_id": {name}.model_id}}""")
    out["websocket_bytes"] = WsMeter.delta(before, meter.now(), out.pop("comm_id"))
    return out


def settle(nb, name: str, no_snapshot: bool) -> None:
    """Let the viewer's saved-notebook snapshot be taken (5 s after its state settles, a full
    draw and a PNG in the page) before the next trial, so it loads no one's measurement."""
    if no_snapshot:
        time.sleep(2)
        return
    wait(lambda: nb.py(f"{name}._snapshot.published >= 1 and not {name}._snapshot.waiting"), timeout=40, interval=1)
    time.sleep(1)


def run(args, results: dict, setup: str, started: float) -> None:
    extra = "{name}._snapshot.close()\n" if args.no_snapshot else ""
    show = VIEW_CELL.format(name="viewer", extra=extra.format(name="viewer"))
    first_view_cell = VIEW_CELL.format(name="fv", extra=extra.format(name="fv"))
    meter = WsMeter()
    PROBE.unlink(missing_ok=True)
    os.environ.update(CW_BENCH_SERVER_PROBE=str(PROBE), PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])))
    probe = ("--ServerApp.kernel_websocket_connection_class=_server_probe.ProbeConnection",)
    with LabServer(args=(*WITH_NAGLE, *probe) if args.nagle else probe) as lab, Browser(isolate_to=lab.port) as isolated, Browser() as browser:
        if args.split_cores:
            results["split_cores"] = split_cores(lab.proc.pid)
        for context in (isolated.context, browser.context):
            context.add_init_script(script=PAGE_SCRIPT)
        meter.attach(isolated.context)
        nb = LabNotebook.open(lab, isolated, "viewer_sync.ipynb", [setup + ROOTS])
        try:
            nb.run_all(timeout=300)
            # ---- the first viewer of the page (cold: the neuroglancer module crosses first) ----
            before = meter.now()
            run_cell(nb, show)
            t_cell = nb.py("_t_cell")
            widget = widget_view(nb, "viewer")
            cold = full_view(widget, t_cell, nb)
            results["first_view"]["cavewidgets.Viewer"]["cold"] = cold
            results["bytes"]["first_viewer_in_page"] = viewer_bytes(nb, "viewer", meter, before, nb.page)
            print(f"[{time.time() - started:5.0f}s] first viewer in the page: {cold}", flush=True)
            nb.exec(INSTRUMENT)
            plain_page = browser.new_page()
            # the same canvas size as the widget's (SwiftShader renders on the CPU: size is time)
            box = nb.page.locator(f'.cw-viewer[data-cw-viewer="{widget.key}"] .cw-viewer-ng').bounding_box()
            size = {"width": round(box["width"]), "height": round(box["height"])}
            plain_page.set_viewport_size(size)
            results["canvas_px"] = [size["width"], size["height"]]
            plain_page.goto(nb.py("plain.get_viewer_url()"))
            plain = View(plain_page, "plain")
            plain.wait(READY, timeout=180, polling=200)
            layers_ok(plain)
            settle(nb, "viewer", args.no_snapshot)
            sync(args, results, nb, {"cavewidgets.Viewer": widget, "neuroglancer.Viewer": plain}, started)
            plain_page.close()
            first_views(args, results, nb, browser, first_view_cell, size, meter, started)
        finally:
            nb.close()


def split_cores(server_pid: int) -> dict:
    """Pin every Chromium process (and its threads, and so the processes it forks later) to the
    last core, and the Jupyter server (so the kernels it starts) and the sample service to the
    others: the browser no longer takes the kernel's cores, as when it runs on the user's own
    machine. Returns what was pinned."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        raise RuntimeError("--split-cores needs at least 2 cores")
    browser_cores, host_cores = {cores[-1]}, set(cores[:-1])
    service = [int(p) for p in subprocess.run(["pgrep", "-f", "cavewidgets sample serve"], capture_output=True, text=True).stdout.split()]
    for pid in [server_pid, *service]:
        os.sched_setaffinity(pid, host_cores)
    chromium = [int(p) for p in subprocess.run(["pgrep", "-f", "chrom"], capture_output=True, text=True).stdout.split()]
    for pid in chromium:
        subprocess.run(["taskset", "-a", "-p", "-c", ",".join(map(str, browser_cores)), str(pid)], capture_output=True)
    return {"browser_cores": sorted(browser_cores), "host_cores": sorted(host_cores), "chromium_processes": len(chromium)}


def page_profile(page, stop=None, dump: Path | None = None):
    """Start the page main thread's CPU profiler; with ``stop`` (the session), stop it and return
    the functions with the most self time: [(ms, function, file:line)]."""
    if stop is None:
        cdp = page.context.new_cdp_session(page)
        cdp.send("Profiler.enable")
        cdp.send("Profiler.setSamplingInterval", {"interval": 500})
        cdp.send("Profiler.start")
        return cdp
    profile = stop.send("Profiler.stop")["profile"]
    if dump is not None:  # the whole profile, for Chromium's DevTools (Performance > Load profile)
        dump.write_text(json.dumps(profile))
    nodes = {n["id"]: n for n in profile["nodes"]}
    self_ms: dict = {}
    deltas = profile["timeDeltas"]
    for sample, dt_us in zip(profile["samples"][1:], deltas[1:]):
        frame = nodes[sample]["callFrame"]
        key = (frame["functionName"] or "(anonymous)", f"{frame['url'].rsplit('/', 1)[-1][:40]}:{frame['lineNumber']}")
        self_ms[key] = self_ms.get(key, 0) + dt_us / 1000
    return sorted(((round(ms, 1), *key) for key, ms in self_ms.items()), reverse=True)[:60]


def sync(args, results: dict, nb, views: dict, started: float) -> None:
    for view in views.values():
        view.evaluate(WATCH)
    profiler = page_profile(nb.page) if args.profile else None
    roots = nb.py("roots")
    random.Random(4).shuffle(roots)
    rng = random.Random(5)
    n = 0
    widget = views["cavewidgets.Viewer"]
    for layout in args.layouts.split(","):
        nb.exec(f"viewer.layout = {layout!r}\nplain_update(lambda s: setattr(s, 'layout', {layout!r}))")
        python_to_browser(nb, widget, roots[n], f"viewer.segments = {{{roots[n]}}}", "BENCH", {m: [] for m in ("python_to_push_ms", "push_to_page_ms", "page_to_applied_ms", "answers_sent_in_last_s_before_push")})
        python_to_browser(nb, views["neuroglancer.Viewer"], roots[n], f"plain_set({{{roots[n]}}})", "PLAIN", {m: [] for m in ("python_to_push_ms", "push_to_page_ms", "page_to_applied_ms")})
        # warm-up: both views done loading what this layout shows (neuroglancer's own readiness
        # test), so the trials start from idle viewers
        idle = {}
        for tool, view in views.items():
            try:
                view.wait("(viewer) => viewer.isReady()", timeout=300, polling=500)
                idle[tool] = True
            except Exception:
                idle[tool] = False
        time.sleep(1)
        for pace in args.pace.split(","):
            scenario = layout if pace == "busy" else f"{layout}, settled"
            n = trials(args, results, nb, views, scenario, pace == "settled", roots, n, rng, started)
            for tool in TOOLS:
                results["tools"][f"{tool} ({scenario})"]["ready_before_trials"] = idle[tool]
    results["tools"][f"cavewidgets.Viewer ({scenario})"]["snapshot_refreshes_in_run"] = nb.py("viewer._snapshot.published")
    if profiler is not None:
        top = page_profile(nb.page, stop=profiler, dump=args.profile.with_suffix(".cpuprofile"))
        args.profile.write_text(json.dumps(top, indent=1) + "\n")
        for row in top[:25]:
            print(*row, sep="\t")


#: how long a settled trial waits after the view is ready: neuroglancer's isReady() does not wait
#: for a graphene layer's per-chunk leaves, which keep loading for a while after a segment change
SETTLE_S = 1.5


def settle_views(views: dict, unsettled: dict, timeout: float = 60) -> None:
    """Wait until every view has loaded everything it shows (neuroglancer's readiness test), then
    ``SETTLE_S`` more: the machine at rest, as when a user runs a cell after looking at the view.
    All views, not only the measured one: the other tool's page still drawing its last change
    would take the cores the measured one needs (a user has one viewer drawing, not two).
    Counts the views that did not get ready in time in ``unsettled``."""
    for tool, view in views.items():
        try:
            view.wait("(viewer) => viewer.isReady()", timeout=timeout, polling=100)
        except Exception:
            unsettled[tool] += 1
    time.sleep(SETTLE_S)


def trials(args, results: dict, nb, views: dict, scenario: str, settled: bool, roots: list, n: int, rng, started: float) -> int:
    """Run ``args.trials`` sync trials both ways for each viewer, interleaved; ``settled``: each
    measurement starts from a view at rest, else back to back (0.15-0.35 s apart, so the view is
    still loading the previous change's data). Returns the next root index."""
    for view in views.values():
        view.page.evaluate("() => { window.__cwBench.lags = []; }")
    measures = ("python_to_browser_ms", "browser_to_python_ms", "python_to_push_ms", "push_to_page_ms", "page_to_applied_ms",
                "change_to_send_ms", "send_to_kernel_ms", "kernel_to_python_ms")
    runs = {t: {m: [] for m in measures} for t in TOOLS}
    runs["cavewidgets.Viewer"]["answers_sent_in_last_s_before_push"] = []  # [answers, messages, bytes] per trial
    runs["cavewidgets.Viewer"].update(send_to_server_ms=[], server_relay_ms=[], server_to_kernel_ms=[])
    if settled:
        runs["cavewidgets.Viewer"].update(channel_ping_page_to_kernel_ms=[], channel_ping_kernel_to_page_ms=[],
                                          channel_ping_page_to_server_ms=[], channel_ping_server_to_kernel_ms=[])
    unsettled = {t: 0 for t in TOOLS}
    rebuilds = 0
    t_start = time.time()
    for i in range(args.trials):
        a, b = roots[(n + 1) % len(roots)], roots[(n + 2) % len(roots)]
        n += 2
        for tool, view in views.items():
            r = runs[tool]
            ours = tool == "cavewidgets.Viewer"
            assign = f"viewer.segments = {{{a}}}" if ours else f"plain_set({{{a}}})"
            if settled:
                settle_views(views, unsettled)
            r["python_to_browser_ms"].append(python_to_browser(nb, view, a, assign, "BENCH" if ours else "PLAIN", r))
            if ours:  # a segment change from Python should patch the layer, never rebuild the list
                rebuilds += bool(nb.page.evaluate(f'() => {{ const r = document.querySelector(\'.cw-viewer[data-cw-viewer="{view.key}"]\'); const a = r && r.cwViewer.lastApply; return !!(a && a.fullLayers); }}'))
            if settled:
                settle_views(views, unsettled)
                if ours:  # the channel's floor at this moment, then a moment's rest again
                    ping = view.page.evaluate(PING, view.key)
                    r["channel_ping_page_to_kernel_ms"].append(round(ping["kernel"] - ping["sent"], 1))
                    r["channel_ping_kernel_to_page_ms"].append(round(ping["back"] - ping["kernel"], 1))
                    relayed = relayed_after(PROBE, "ng_ping", ping["sent"])
                    if relayed is not None:
                        r["channel_ping_page_to_server_ms"].append(round(relayed[0] * 1000 - ping["sent"], 1))
                        r["channel_ping_server_to_kernel_ms"].append(round(ping["kernel"] - relayed[1] * 1000, 1))
                    time.sleep(0.2)
            else:
                time.sleep(rng.uniform(0.15, 0.35))
            r["browser_to_python_ms"].append(browser_to_python(nb, view, b if ours else str(b), "BENCH" if ours else "PLAIN", r))
            if not settled:
                time.sleep(rng.uniform(0.15, 0.35))
        if i % 10 == 9:
            print(f"[{time.time() - started:5.0f}s] {scenario}: {i + 1} trials", flush=True)
    wall = time.time() - t_start
    for tool, view in views.items():
        lags = view.page.evaluate("() => window.__cwBench.lags")
        runs[tool] = {m: [round(v, 1) if isinstance(v, (int, float)) else v for v in vs] for m, vs in runs[tool].items()}
        runs[tool]["wall_s"] = round(wall, 1)
        runs[tool]["main_thread_stalls"] = {"page": "JupyterLab (the widget)" if tool.startswith("cavewidgets") else "neuroglancer's own page",
                                            "over_100ms": len(lags), "total_s": round(sum(lags) / 1000, 1), "max_ms": max(lags, default=0),
                                            "share_of_wall": round(sum(lags) / 1000 / wall, 2)}
        runs[tool]["pace"] = f"settled: each measurement from both views at rest (isReady, then {SETTLE_S} s)" if settled else "busy: back to back, 0.15-0.35 s apart"
        if settled:
            runs[tool]["settle_timeouts"] = unsettled[tool]
        results["tools"][f"{tool} ({scenario})"] = runs[tool]
    results["tools"][f"cavewidgets.Viewer ({scenario})"]["full_layer_rebuilds"] = rebuilds
    return n


def first_views(args, results: dict, nb, browser, cell: str, size: dict, meter: WsMeter, started: float) -> None:
    """Fresh viewers with the same 3 segments in xy-3d: ours re-running one cell in the page,
    neuroglancer's own page reloaded with an empty HTTP cache, interleaved."""
    page = browser.new_page()
    page.set_viewport_size(size)
    cdp = page.context.new_cdp_session(page)
    url = None
    fv = results["first_view"]
    index = None
    for i in range(args.first_view_trials):
        # ours: the cell run in JupyterLab, timed from the kernel's clock at the cell's start
        before = meter.now()
        index = run_cell(nb, cell if index is None else None, index)
        t_cell = nb.py("_t_cell")
        ours = full_view(widget_view(nb, "fv"), t_cell, nb)
        fv["cavewidgets.Viewer"]["trials"].append(ours)
        if i == 0:
            results["bytes"]["second_viewer_in_page"] = viewer_bytes(nb, "fv", meter, before, nb.page)
        settle(nb, "fv", args.no_snapshot)
        if url is None:  # the same state as our fresh viewer shows (its defaults filled in by neuroglancer)
            nb.exec("plain_fv = neuroglancer.Viewer()\nplain_fv.set_state(fv.state)")
            url = nb.py("plain_fv.get_viewer_url()")
        # plain: its page loaded afresh, data straight from the sample service
        cdp.send("Network.clearBrowserCache")
        t0 = time.time()
        page.goto(url)
        theirs = full_view(View(page, "plain"), t0, nb)
        fv["neuroglancer.Viewer"]["trials"].append(theirs)
        time.sleep(2)
        print(f"[{time.time() - started:5.0f}s] first view {i + 1}: ours {ours.get('full_ms', ours)} ms, plain {theirs.get('full_ms', theirs)} ms", flush=True)
    page.close()
    if index is not None:
        nb.exec("fv.close()")


def summarize(results: dict) -> None:
    summary = {tool: {m: stats(v) for m, v in r.items() if m.endswith("_ms")} for tool, r in results["tools"].items()}
    results["medians_ms"] = {tool: {m: s["median"] for m, s in r.items()} for tool, r in summary.items()}
    results["p90_ms"] = {tool: {m: s["p90"] for m, s in r.items()} for tool, r in summary.items()}
    results["stats_ms"] = summary
    targets: dict = {"median_ms": TARGET_MEDIAN_MS, "p90_ms": TARGET_P90_MS, "first_view_ratio": TARGET_FIRST_VIEW_RATIO}
    for tool, r in summary.items():
        if not tool.startswith("cavewidgets"):
            continue
        for m in ("python_to_browser_ms", "browser_to_python_ms"):
            s = r[m]
            targets[f"{tool} {m[:-3]} median <= {TARGET_MEDIAN_MS} ms"] = s["median"] is not None and s["median"] <= TARGET_MEDIAN_MS
            targets[f"{tool} {m[:-3]} p90 <= {TARGET_P90_MS} ms"] = s["p90"] is not None and s["p90"] <= TARGET_P90_MS
    fv = results["first_view"]
    fv_stats = {}
    for tool, r in fv.items():
        fv_stats[tool] = {m: stats([t.get(m) for t in r["trials"]]) for m in ("xy_ms", "meshes_ms", "full_ms", "mounted_ms")}
    results["first_view_stats_ms"] = fv_stats
    ratios = {}
    for m in ("xy_ms", "meshes_ms", "full_ms"):
        ours, theirs = fv_stats["cavewidgets.Viewer"][m]["median"], fv_stats["neuroglancer.Viewer"][m]["median"]
        ratios[m[:-3]] = round(ours / theirs, 2) if ours and theirs else None
    cold = fv["cavewidgets.Viewer"].get("cold") or {}
    theirs_full = fv_stats["neuroglancer.Viewer"]["full_ms"]["median"]
    ratios["full_cold_page"] = round(cold["full_ms"] / theirs_full, 2) if cold.get("full_ms") and theirs_full else None
    results["first_view_ratio_ours_to_direct_http"] = ratios
    targets[f"first full view (median) within {TARGET_FIRST_VIEW_RATIO}x of direct HTTP"] = ratios["full"] is not None and ratios["full"] <= TARGET_FIRST_VIEW_RATIO
    results["targets"] = targets


def report(args, results: dict) -> None:
    print(f"\n{args.trials} sync trials per measure and layout; ms; sample service: {results['sample_service']}")
    print(f"{'tool':32} {'measure':26} {'median':>8} {'p90':>8} {'min':>8} {'max':>8}  failed")
    for tool, r in results["stats_ms"].items():
        for m, st in r.items():
            print(f"{tool:32} {m:26} {st['median']!s:>8} {st['p90']!s:>8} {st.get('min')!s:>8} {st.get('max')!s:>8}  {st.get('failed', 0)}")
        print(f"{'':32} main-thread stalls > 100 ms: {results['tools'][tool]['main_thread_stalls']}")
    for tool, r in results["tools"].items():
        ahead = r.get("answers_sent_in_last_s_before_push")
        if ahead:
            print(f"{tool}: data answers sent in the second before each state push: median {statistics.median(a[0] for a in ahead):.0f} "
                  f"in {statistics.median(a[1] for a in ahead):.0f} messages ({statistics.median(a[2] for a in ahead) / 1e3:.0f} kB), "
                  f"max {max(a[0] for a in ahead)} ({max(a[2] for a in ahead) / 1e3:.0f} kB)")
    prev = results["previous_iframe_mode_ms"]
    print("previous iframe mode (README): " + "; ".join(f"{lay} " + ", ".join(f"{m[:-3]} {v['median']}/{v['p90']}" for m, v in prev[lay].items()) for lay in ("xy", "xy-3d")) + " (median/p90)")
    print(f"\ntime to the first full view (xy-3d, {FIRST_VIEW_SEGMENTS} segments), {args.first_view_trials} trials each; ms from the cell's start (ours) or page.goto (plain)")
    print(f"{'tool':32} {'measure':26} {'median':>8} {'p90':>8} {'min':>8} {'max':>8}  failed")
    for tool, r in results["first_view_stats_ms"].items():
        for m, st in r.items():
            print(f"{tool:32} {m:26} {st['median']!s:>8} {st['p90']!s:>8} {st.get('min')!s:>8} {st.get('max')!s:>8}  {st.get('failed', 0)}")
    cold = results["first_view"]["cavewidgets.Viewer"].get("cold", {})
    print(f"{'cavewidgets.Viewer (cold page)':32} {'':26} " + ", ".join(f"{k} {v}" for k, v in cold.items() if k.endswith("_ms")))
    print(f"ours / direct HTTP (medians): {results['first_view_ratio_ours_to_direct_http']}")
    print("\nbytes over the channel")
    for which, b in results["bytes"].items():
        ws = b["websocket_bytes"]
        print(f"{which:24} code {b['initial_code_bytes']:>9,}  ng_bundle {b['ng_bundle_bytes']:>10,}  channel total {b['channel_sent_bytes']:>10,}  "
              f"data fetched by the kernel {b['kernel_fetched_data_bytes']:>10,}  comm ws in/out {ws['comm_in']:>10,}/{ws['comm_out']:>8,}  page ws in/out {ws['page_in']:>10,}/{ws['page_out']:>8,}")
        print(f"{'':24} by kind: {b['channel_sent_bytes_by_kind']}")
    print("\ntargets: " + ", ".join(f"{k}: {v}" for k, v in results["targets"].items() if isinstance(v, bool)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=30, help="sync trials per measure, viewer and layout")
    ap.add_argument("--first-view-trials", type=int, default=6, help="first full views per viewer (after the page's first)")
    ap.add_argument("--layouts", default="xy,xy-3d", help="comma-separated panel layouts, one sync scenario each")
    ap.add_argument("--pace", default="busy,settled", help="busy (trials back to back, the view still loading) and/or settled (each from a view at rest)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--in-kernel-service", action="store_true", help="serve the sample from the kernel process (cavewidgets.sample.client())")
    ap.add_argument("--nagle", action="store_true",
                    help="run Jupyter without cavewidgets' server extension (kernel websockets keep Nagle's algorithm, as by default)")
    ap.add_argument("--no-snapshot", action="store_true", help="stop the widget's saved-notebook snapshot refreshes (to see their cost)")
    ap.add_argument("--split-cores", action="store_true",
                    help="browsers on the last core, Jupyter server, kernel and sample service on the others (as if the browser had its own machine)")
    ap.add_argument("--profile", type=Path, help="write the widget page's main-thread CPU profile of the sync trials (top functions by self time) here")
    args = ap.parse_args()
    started = time.time()
    results: dict = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                     "machine": machine(["cavewidgets", "neuroglancer", "jupyterlab", "anywidget", "ipykernel", "ipywidgets", "tornado", "playwright"]),
                     "trials": args.trials, "first_view_trials": args.first_view_trials,
                     "sample_service": "kernel process (thread)" if args.in_kernel_service else "separate process",
                     "browsers": {"cavewidgets.Viewer": "isolated Chromium (reaches only the Jupyter server), widget in JupyterLab",
                                  "neuroglancer.Viewer": "ordinary Chromium, neuroglancer's own page (its tornado server), sample data over HTTP; HTTP cache cleared before each first view"},
                     "snapshot_refresh": not args.no_snapshot,
                     "kernel_websocket_nodelay": not args.nagle, "previous_iframe_mode_ms": PREVIOUS_IFRAME_MODE_MS, "tools": {},
                     "first_view": {t: {"trials": []} for t in TOOLS}, "bytes": {},
                     "notes": ["page websocket bytes include the iopub echo (execute_input, stream) of the benchmark's own kernel calls, "
                               "about 1 kB per call; comm bytes are the widget's own",
                               "first views: kernel_reply_ms is the round trip of a trivial kernel call made about once a second while the view loads",
                               "both browsers composite on Chromium's GPU path with SwiftShader as the GPU (cavewidgets.testing.lab.CHROMIUM_ARGS, no --disable-gpu); "
                               "runs before 2026-11-29 15:00 used software compositing, which stalls the page's main thread on every WebGL frame",
                               "the kernel answers the page's data requests in batches (ng_fetch out, cw:fetched back) since 2026-11-29 15:00",
                               "since 2026-11-30 06:00 cavewidgets' Jupyter server extension sets TCP_NODELAY on kernel websockets "
                               "(kernel_websocket_nodelay; --nagle runs without it): a kernel message right behind another one "
                               "no longer waits for the browser's 40 ms delayed ACK"],
                     "chromium_args": list(CHROMIUM_ARGS)}
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
    summarize(results)
    results["total_wall_s"] = round(time.time() - started, 1)
    results["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    report(args, results)
    print(f"\nwrote {args.out} in {results['total_wall_s']:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
