"""The widget channel's own round trip, with and without cavewidgets' Jupyter server extension.

Jupyter server leaves Nagle's algorithm on for kernel websockets; cavewidgets' server extension
(``cavewidgets/server_extension.py``) sets TCP_NODELAY on them. This measures what that changes
for a widget: a ``Viewer`` (no layers drawn, so only the channel is timed) in real JupyterLab,
in the isolated Chromium that reaches only Jupyter, the page sending ``ng_ping`` requests one at a
time (``cwPing``: the kernel answers with its clock), each split into page → kernel and
kernel → page. The two server setups alternate (``--rounds`` each, a fresh server and browser per
round), 60 pings per round, 50 ms apart: a channel at rest, as when a user acts on a view they
have been looking at. Writes ``benchmarks/results/channel_latency.json``.

Example::

    .venv/bin/python benchmarks/channel_latency.py            # 2 rounds per setup
    .venv/bin/python benchmarks/channel_latency.py --rounds 3 --pings 100
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

from _machine import machine  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
from _timing import stats  # noqa: E402

from cavewidgets.testing.lab import WITH_NAGLE, Browser, LabNotebook, LabServer

RESULTS = Path(__file__).resolve().parent / "results" / "channel_latency.json"
SETUPS = {
    "with the extension (TCP_NODELAY)": (),
    "without it (Jupyter server's default, Nagle on)": WITH_NAGLE,
}
CELL = "import cavewidgets\nclient = cavewidgets.sample.client()\nv = cavewidgets.Viewer(client, height=300)\nv"
READY = "() => { const r = document.querySelector('.cw-viewer'); return !!r && r.dataset.status === 'ready'; }"
PING = "async () => await document.querySelector('.cw-viewer').cwPing()"


def one_round(server_args: tuple, pings: int) -> dict:
    """A fresh Jupyter server and isolated browser; ``pings`` round trips on a channel at rest."""
    with LabServer(args=server_args) as lab, Browser(isolate_to=lab.port) as browser:
        nb = LabNotebook.open(lab, browser, "channel.ipynb", [CELL])
        try:
            nb.run_all(timeout=300)
            nb.page.wait_for_function(READY, timeout=180_000, polling=200)
            time.sleep(2)
            up, down = [], []
            for _ in range(pings):
                p = nb.page.evaluate(PING)
                up.append(p["kernel"] - p["sent"])
                down.append(p["back"] - p["kernel"])
                time.sleep(0.05)
            return {"page_to_kernel_ms": up, "kernel_to_page_ms": down}
        finally:
            nb.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2, help="rounds per server setup, alternating")
    ap.add_argument("--pings", type=int, default=60, help="round trips per round")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    started = time.time()
    results: dict = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                     "machine": machine(["cavewidgets", "jupyter_server", "jupyterlab", "tornado", "ipykernel", "anywidget"]),
                     "browser": "isolated Chromium (reaches only the Jupyter server, socat bridge with TCP_NODELAY), JupyterLab",
                     "rounds": args.rounds, "pings_per_round": args.pings, "samples": {s: {} for s in SETUPS}}
    for r in range(args.rounds):
        for setup, server_args in SETUPS.items():
            got = one_round(server_args, args.pings)
            for measure, values in got.items():
                results["samples"][setup].setdefault(measure, []).extend(round(v, 1) for v in values)
            print(f"[{time.time() - started:4.0f}s] round {r + 1}, {setup}: "
                  + ", ".join(f"{m} {stats(v)['median']}" for m, v in got.items()), flush=True)
    results["stats_ms"] = {s: {m: stats(v) for m, v in ms.items()} for s, ms in results["samples"].items()}
    results["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["total_wall_s"] = round(time.time() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"\n{'setup':50} {'measure':20} {'median':>7} {'p90':>7} {'max':>7}")
    for setup, ms in results["stats_ms"].items():
        for m, s in ms.items():
            print(f"{setup:50} {m:20} {s['median']:7} {s['p90']:7} {s['max']:7}")
    print(f"\nwrote {args.out} in {results['total_wall_s']:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
