"""Real JupyterLab in real headless Chromium, for tests and benchmarks.

``LabServer`` runs ``jupyter lab`` (or Notebook 7 with ``app="notebook"``) on loopback with an
isolated config; ``Browser`` drives Debian's Chromium through Playwright (never a downloaded
browser), optionally in its own network namespace where only the Jupyter server's port is
reachable (``Browser(isolate_to=lab.port)``), as on Colab/JupyterHub/Binder; ``LabNotebook`` opens
a notebook, runs cells through the front-end's own commands, and reads the kernel's Python state
through a second client of the same kernel.

Example::

    with LabServer() as lab, Browser() as browser:
        nb = LabNotebook.open(lab, browser, "t.ipynb", ["import cavewidgets", "b = cavewidgets.TableBrowser(df); b"])
        nb.run_all()
        nb.page.wait_for_selector(".cw-row[data-row]")
        assert nb.py("b.filtered_rows") == len(df)

    # the browser reaches only the Jupyter server, nothing else on the host's loopback
    with LabServer(app="notebook") as nb7, Browser(isolate_to=nb7.port) as browser:
        LabNotebook.open(nb7, browser, "t.ipynb", ["1 + 1"]).run_all()
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("CAVEWIDGETS_CHROMIUM", "/usr/bin/chromium")
# No --disable-gpu: that switches Chromium to software compositing, which reads every WebGL frame
# back on the page's main thread (0.5–2 s stalls while neuroglancer loads, during which no widget
# message is handled). A user's browser composites on its GPU; here SwiftShader plays the GPU.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--enable-unsafe-swiftshader",
    "--use-angle=swiftshader",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: Chromium options for pages without WebGL (the table browser and its peers): software
#: compositing (``Browser(args=SOFTWARE_COMPOSITING)``). With SwiftShader as the GPU every DOM
#: frame's compositing runs through an emulated GL on the CPU, which a user's GPU does for almost
#: nothing; the 1M-row table's round trips measured 169-232 ms that way and 56-113 ms without it.
SOFTWARE_COMPOSITING = ("--disable-gpu",)

#: Jupyter server options that leave cavewidgets' server extension off: kernel websockets keep
#: Nagle's algorithm, as Jupyter server does by default (``LabServer(args=WITH_NAGLE)``)
WITH_NAGLE = ("--ServerApp.jpserver_extensions=cavewidgets=False",)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


APPS = {"lab": ("jupyterlab", "LabApp"), "notebook": ("notebook", "JupyterNotebookApp")}


class LabServer:
    """A Jupyter server on 127.0.0.1 with a random token and its own config, runtime and root dirs.

    ``app="lab"`` runs JupyterLab, ``app="notebook"`` runs Notebook 7 (``/notebooks/<name>``).

    Example::

        with LabServer(app="notebook") as nb7:
            urllib.request.urlopen(f"{nb7.url}/api/status?token={nb7.token}")
    """

    def __init__(self, root_dir: str | Path | None = None, timeout: float = 90, app: str = "lab", args: tuple[str, ...] = ()):
        if app not in APPS:
            raise ValueError(f"app must be one of {sorted(APPS)}, not {app!r}")
        self.app = app
        self.args = tuple(args)  # more command-line options for the server
        self.tmp = Path(tempfile.mkdtemp(prefix="cw-lab-"))
        self.root = Path(root_dir) if root_dir else self.tmp / "root"
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.runtime_dir = self.tmp / "runtime"
        self.timeout = timeout
        self.proc: subprocess.Popen | None = None
        self.log_path = self.tmp / "lab.log"

    def start(self) -> LabServer:
        config = self.tmp / "config"
        (config / "labconfig").mkdir(parents=True)
        # no news/update pop-ups over the notebook in tests
        (config / "labconfig" / "page_config.json").write_text(
            json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
        )
        env = dict(os.environ, JUPYTER_CONFIG_DIR=str(config), JUPYTER_RUNTIME_DIR=str(self.runtime_dir))
        env.pop("JUPYTER_TOKEN", None)
        module, app_class = APPS[self.app]
        cmd = [
            sys.executable, "-m", module,
            "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            f"--{app_class}.workspaces_dir={self.tmp / 'workspaces'}",
            # window.jupyterapp: LabNotebook drives the front-end through its shell and commands
            f"--{app_class}.expose_app_in_browser=True",
            *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
            *self.args,
        ]
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + self.timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter {self.app} exited early:\n{self.log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"jupyter {self.app} did not start in {self.timeout}s:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def notebook_url(self, name: str) -> str:
        """The page that opens notebook ``name`` (relative to the root dir) in this server's front-end."""
        if self.app == "notebook":
            return f"{self.url}/notebooks/{name}?token={self.token}"
        return f"{self.url}/lab/tree/{name}?token={self.token}&reset"

    def __enter__(self) -> LabServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# Runs inside the browser's own network namespace (``unshare --net``): only loopback, brought up
# here, and one relay from 127.0.0.1:PORT to a unix socket (a filesystem path is reachable from any
# network namespace) where the host side relays on to the Jupyter server. Playwright talks to
# Chromium over fds 3 and 4 (--remote-debugging-pipe), so the browser needs no other way out.
_NETNS_SCRIPT = """\
set -e
ip link set lo up
# only Chromium may hold Playwright's pipe (fds 3, 4): the relay gets none of it
socat TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr,nodelay UNIX-CONNECT:{sock} </dev/null 3>&- 4>&- &
relay=$!
# a normal close ends the relay here; if Playwright must kill, it kills the whole process group
trap 'kill $relay 2>/dev/null' EXIT
set +e
{chromium} "$@"
"""

_FETCH_JS = """async (url) => {
    try { await fetch(url, {mode: 'no-cors', cache: 'no-store'}); return true; } catch (e) { return false; }
}"""


# One Playwright per process, shared by every open Browser: a second sync_playwright() in the same
# thread refuses to start ("Sync API inside the asyncio loop") while the first is running.
_playwright: list = []  # [instance, number of open Browsers]


def _playwright_acquire():
    from playwright.sync_api import sync_playwright

    if not _playwright:
        _playwright[:] = [sync_playwright().start(), 0]
    _playwright[1] += 1
    return _playwright[0]


def _playwright_release() -> None:
    _playwright[1] -= 1
    if _playwright[1] == 0:
        _playwright.pop(0).stop()
        _playwright.clear()


def page_can_fetch(page, url: str) -> bool:
    """Whether ``fetch(url)`` from ``page`` reaches a server (an opaque response counts; CORS is not checked).

    Example::

        assert not page_can_fetch(nb.page, "http://127.0.0.1:9000/")  # isolated: host ports are not reachable
    """
    return page.evaluate(_FETCH_JS, url)


class Browser:
    """Headless Debian Chromium through Playwright, with a fresh profile.

    With ``isolate_to=PORT`` Chromium runs in its own network namespace where only
    127.0.0.1:PORT (the Jupyter server) is reachable, as on Colab, JupyterHub or Binder: anything a
    widget fetches from another kernel-side port fails. Setting that up needs ``unshare`` (root, or
    unprivileged user namespaces), ``ip`` and ``socat``; when it cannot be set up or verified,
    ``start`` raises (never a silent fallback to an ordinary browser).

    ``args`` adds Chromium options to :data:`CHROMIUM_ARGS` (``SOFTWARE_COMPOSITING`` for pages
    without WebGL).

    Example::

        with LabServer() as lab, Browser(isolate_to=lab.port) as browser:
            nb = LabNotebook.open(lab, browser, "t.ipynb", ["1 + 1"])
    """

    def __init__(self, executable: str = CHROMIUM, isolate_to: int | None = None, args: tuple[str, ...] = ()):
        self.executable = executable
        self.isolate_to = isolate_to
        self.args = [*CHROMIUM_ARGS, *args]  # more Chromium options (SOFTWARE_COMPOSITING)
        self.context = self._pw = self._relay = self._netdir = None

    def start(self) -> Browser:
        if not Path(self.executable).exists():
            raise RuntimeError(f"{self.executable} not found: install Debian's chromium (apt-get install chromium)")
        self.profile = tempfile.mkdtemp(prefix="cw-chromium-")
        try:
            executable = self._isolate() if self.isolate_to is not None else self.executable
            self._pw = _playwright_acquire()
            self.context = self._pw.chromium.launch_persistent_context(
                self.profile,
                executable_path=executable,
                headless=True,
                args=self.args,
                viewport={"width": 1400, "height": 1000},
            )
            if self.isolate_to is not None:
                self._check_isolation()
        except BaseException:
            self.stop()
            raise
        return self

    def _isolate(self) -> str:
        """Start the host side of the bridge and write the wrapper Playwright launches as "Chromium"."""
        port = self.isolate_to
        missing = [tool for tool in ("unshare", "ip", "socat") if not shutil.which(tool)]
        if missing:
            raise RuntimeError(f"cannot isolate the browser: {', '.join(missing)} not found (apt-get install util-linux iproute2 socat)")
        # root in CI; elsewhere an unprivileged user namespace may do
        unshare = ["unshare", "--net"] + ([] if os.geteuid() == 0 else ["--map-root-user"])
        probe = subprocess.run([*unshare, "--", "ip", "link", "set", "lo", "up"], capture_output=True, text=True)
        if probe.returncode:
            raise RuntimeError(f"cannot isolate the browser: {' '.join(unshare)} failed (needs root or user namespaces): {probe.stderr.strip()}")
        self._netdir = Path(tempfile.mkdtemp(prefix="cw-netns-"))
        sock = self._netdir / "jupyter.sock"
        log = self._netdir / "relay.log"
        # its own session, so stop() ends it together with the children it forked per connection
        with open(log, "wb") as err:
            self._relay = subprocess.Popen(
                ["socat", f"UNIX-LISTEN:{sock},fork,unlink-early,mode=600", f"TCP:127.0.0.1:{port},nodelay"],
                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
            )
        deadline = time.time() + 10
        while not sock.exists():
            if self._relay.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"cannot isolate the browser: the host relay did not start: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        inside = self._netdir / "inside.sh"
        inside.write_text(_NETNS_SCRIPT.format(port=port, sock=shlex.quote(str(sock)), chromium=shlex.quote(self.executable)))
        wrapper = self._netdir / "chromium"
        wrapper.write_text(f'#!/bin/sh\nexec {shlex.join(unshare)} -- /bin/sh {shlex.quote(str(inside))} "$@"\n')
        wrapper.chmod(0o755)
        return str(wrapper)

    def _check_isolation(self) -> None:
        """Raise unless the Jupyter port answers and another listening host port does not."""
        hits: list[str] = []

        class Probe(BaseHTTPRequestHandler):
            def do_GET(self):
                hits.append(self.path)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        probe = ThreadingHTTPServer(("127.0.0.1", 0), Probe)
        threading.Thread(target=probe.serve_forever, daemon=True).start()
        page = self.new_page()
        try:
            try:
                page.goto(f"http://127.0.0.1:{self.isolate_to}/")
            except Exception as e:
                raise RuntimeError(f"isolated Chromium cannot reach 127.0.0.1:{self.isolate_to} through the bridge: {e}") from None
            if page_can_fetch(page, f"http://127.0.0.1:{probe.server_port}/isolation-probe") or hits:
                raise RuntimeError(f"browser is NOT isolated: it reached a host server on 127.0.0.1:{probe.server_port}")
        finally:
            page.close()
            probe.shutdown()
            probe.server_close()

    def new_page(self):
        page = self.context.new_page()
        page.set_default_timeout(30_000)
        return page

    def stop(self) -> None:
        try:
            if self.context is not None:
                self.context, context = None, self.context
                context.close()
        finally:
            if self._pw is not None:
                self._pw = None
                _playwright_release()
            if self._relay is not None and self._relay.poll() is None:
                os.killpg(self._relay.pid, signal.SIGTERM)
                self._relay.wait(10)
            shutil.rmtree(self.profile, ignore_errors=True)
            if self._netdir is not None:
                shutil.rmtree(self._netdir, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def write_notebook(path: Path, cells: list[str]) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


class LabNotebook:
    """One notebook open in JupyterLab or Notebook 7 in the browser, plus a side client on its kernel."""

    def __init__(self, lab: LabServer, page, name: str):
        self.lab = lab
        self.page = page
        self.name = name
        self.kernel_client = None

    @classmethod
    def open(cls, lab: LabServer, browser: Browser, name: str, cells: list[str] | None = None, timeout: float = 90) -> LabNotebook:
        if cells is not None:
            write_notebook(lab.root / name, cells)
        page = browser.new_page()
        nb = cls(lab, page, name)
        page.goto(lab.notebook_url(name))
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell", timeout=timeout * 1000)
        page.wait_for_function(
            """(name) => {
                const w = window.jupyterapp.shell.currentWidget;
                return w && w.context && w.context.path.endsWith(name) && w.sessionContext.session
                    && w.sessionContext.session.kernel && w.sessionContext.session.kernel.connectionStatus === 'connected';
            }""",
            arg=name,
            timeout=timeout * 1000,
        )
        nb._connect_kernel()
        return nb

    def _connect_kernel(self) -> None:
        from jupyter_client import BlockingKernelClient

        kernel_id = self.page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.id")
        path = self.lab.runtime_dir / f"kernel-{kernel_id}.json"
        deadline = time.time() + 30
        while not path.exists() and time.time() < deadline:
            time.sleep(0.2)
        kc = BlockingKernelClient(connection_file=str(path))
        kc.load_connection_file()
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        self.kernel_client = kc

    # ---------- running cells ----------
    def run_all(self, timeout: float = 180) -> None:
        """Run every cell through JupyterLab (as a user would) and wait until the kernel is done."""
        self.page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        self.wait_idle(timeout)
        self.raise_cell_errors()

    def add_cell(self, code: str, timeout: float = 120) -> None:
        """Append a code cell, run it in the browser, and wait for the kernel."""
        self.page.evaluate(
            """async (code) => {
                const panel = window.jupyterapp.shell.currentWidget;
                const model = panel.content.model;
                model.sharedModel.insertCell(model.cells.length, {cell_type: 'code', source: code});
                panel.content.activeCellIndex = model.cells.length - 1;
                await window.jupyterapp.commands.execute('notebook:run-cell');
            }""",
            code,
        )
        self.wait_idle(timeout)
        self.raise_cell_errors()

    def raise_cell_errors(self) -> None:
        errors = self.page.evaluate(
            """() => {
                const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
                const found = [];
                for (let i = 0; i < cells.length; i++) {
                    const cell = cells.get(i);
                    if (cell.type !== 'code') continue;
                    for (const o of cell.outputs.toJSON())
                        if (o.output_type === 'error') found.push(`cell ${i}: ${o.ename}: ${o.evalue}`);
                }
                return found;
            }"""
        )
        if errors:
            raise AssertionError("a notebook cell failed:\n" + "\n---\n".join(errors))

    def wait_idle(self, timeout: float = 120) -> None:
        """Wait until every cell queued before now has run (kernels run requests in order)."""
        self.py("None", timeout=timeout)

    # ---------- kernel state ----------
    def py(self, expr: str, timeout: float = 60) -> Any:
        """Evaluate ``expr`` in the notebook's kernel and return it through JSON (ints stay exact)."""
        code = (
            "import json as __cw_json\n"
            f"print('__CW__' + __cw_json.dumps({expr}, default=str))"
        )
        return self._run(code, timeout, want_output=True)

    def exec(self, code: str, timeout: float = 60) -> None:
        """Run statements in the notebook's kernel (no output expected)."""
        self._run(code, timeout, want_output=False)

    def _run(self, code: str, timeout: float, want_output: bool) -> Any:
        out: list[str] = []
        err: list[str] = []

        def hook(msg):
            t = msg["header"]["msg_type"]
            if t == "stream":
                out.append(msg["content"]["text"])
            elif t == "error":
                err.append("\n".join(msg["content"]["traceback"]))

        reply = self.kernel_client.execute_interactive(code, timeout=timeout, output_hook=hook, store_history=False)
        if reply["content"]["status"] != "ok" or err:
            raise AssertionError(f"kernel error running {code!r}:\n" + "\n".join(err))
        if want_output:
            for line in "".join(out).splitlines():
                if line.startswith("__CW__"):
                    return json.loads(line[6:])
            raise AssertionError(f"no result from {code!r}: {''.join(out)!r}")
        return None

    def close(self) -> None:
        if self.kernel_client is not None:
            self.kernel_client.stop_channels()
        try:  # shut the kernel down through the REST API: the menu command asks for confirmation
            kernel_id = self.page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.id")
            req = urllib.request.Request(f"{self.lab.url}/api/kernels/{kernel_id}?token={self.lab.token}", method="DELETE")
            urllib.request.urlopen(req, timeout=10).close()
        except Exception:
            pass
        self.page.close()
