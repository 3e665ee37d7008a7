"""The isolated browser sees only the Jupyter server, as users' browsers on Colab/JupyterHub/Binder do.

A listening server on another host loopback port (standing in for a neuroglancer or data server the
kernel starts) is reachable from the ordinary browser and unreachable from the isolated one.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cavewidgets.testing.lab import page_can_fetch


@pytest.fixture
def host_server():
    """A listening HTTP server on another host loopback port; ``.hits`` lists the paths it was asked for."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            server.hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.hits = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_jupyterlab_notebook_runs_in_isolated_browser(isolated_notebook):
    nb = isolated_notebook(["x = 1 + 1"])
    nb.run_all()
    assert nb.py("x") == 2


def test_other_host_port_unreachable_only_when_isolated(isolated_notebook, notebook, host_server):
    url = f"http://127.0.0.1:{host_server.server_port}/probe"
    isolated = isolated_notebook(["pass"])
    assert page_can_fetch(isolated.page, f"{isolated.lab.url}/api/status")  # the Jupyter server: reachable
    assert not page_can_fetch(isolated.page, url)
    assert host_server.hits == []
    ordinary = notebook(["pass"])
    assert page_can_fetch(ordinary.page, url)
    assert host_server.hits == ["/probe"]


def test_notebook7_notebook_runs_in_isolated_browser(notebook7_notebook):
    nb = notebook7_notebook(["x = 1 + 1"])
    assert "/notebooks/" in nb.page.url
    nb.run_all()
    assert nb.py("x") == 2
    nb.add_cell("y = x * 3")
    assert nb.py("y") == 6
