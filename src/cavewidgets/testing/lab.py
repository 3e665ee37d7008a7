"""Real JupyterLab in real headless Chromium, for tests and benchmarks.

``LabServer`` runs ``jupyter lab`` on loopback with an isolated config; ``Browser`` drives
Debian's Chromium through Playwright (never a downloaded browser); ``LabNotebook`` opens a
notebook, runs cells through JupyterLab's own commands, and reads the kernel's Python state
through a second client of the same kernel.

Example::

    with LabServer() as lab, Browser() as browser:
        nb = LabNotebook.open(lab, browser, "t.ipynb", ["import cavewidgets", "b = cavewidgets.TableBrowser(df); b"])
        nb.run_all()
        nb.page.wait_for_selector(".cw-row[data-row]")
        assert nb.py("b.filtered_rows") == len(df)
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("CAVEWIDGETS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--enable-unsafe-swiftshader",
    "--use-angle=swiftshader",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """A JupyterLab server on 127.0.0.1 with a random token and its own config, runtime and root dirs."""

    def __init__(self, root_dir: str | Path | None = None, timeout: float = 90):
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
        cmd = [
            sys.executable, "-m", "jupyterlab",
            "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            f"--LabApp.workspaces_dir={self.tmp / 'workspaces'}",
            "--LabApp.expose_app_in_browser=True",
            *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
        ]
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + self.timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited early:\n{self.log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"jupyter lab did not start in {self.timeout}s:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> LabServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class Browser:
    """Headless Debian Chromium through Playwright, with a fresh profile."""

    def __init__(self, executable: str = CHROMIUM):
        self.executable = executable

    def start(self) -> Browser:
        if not Path(self.executable).exists():
            raise RuntimeError(f"{self.executable} not found: install Debian's chromium (apt-get install chromium)")
        from playwright.sync_api import sync_playwright

        self.profile = tempfile.mkdtemp(prefix="cw-chromium-")
        self._pw = sync_playwright().start()
        self.context = self._pw.chromium.launch_persistent_context(
            self.profile,
            executable_path=self.executable,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        return self

    def new_page(self):
        page = self.context.new_page()
        page.set_default_timeout(30_000)
        return page

    def stop(self) -> None:
        try:
            self.context.close()
        finally:
            self._pw.stop()
            shutil.rmtree(self.profile, ignore_errors=True)

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
    """One notebook open in JupyterLab in the browser, plus a side client on its kernel."""

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
        page.goto(f"{lab.url}/lab/tree/{name}?token={lab.token}&reset")
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
