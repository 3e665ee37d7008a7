"""`bash scripts/run.sh lab` opens Lab without the "Jupyter news?" pop-up: the settings directory
it passes disables the announcements plugin, as the test harness does."""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ANNOUNCEMENTS = "@jupyterlab/apputils-extension:announcements"


def lab_flags() -> list[str]:
    """The `--LabApp.*` flags of run.sh's lab command, with $ROOT filled in."""
    text = (ROOT / "scripts" / "run.sh").read_text()
    command = text[text.index('exec "$VENV/bin/jupyter" lab'):].split("\n    ;;")[0]
    return [f.replace("$ROOT", str(ROOT)).replace('"', "") for f in re.findall(r'--LabApp\.\S+', command)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_run_sh_lab_disables_the_news_pop_up(tmp_path):
    flags = lab_flags()
    assert any(f.startswith("--LabApp.app_settings_dir=") for f in flags)
    port, token = free_port(), secrets.token_hex(8)
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}", "--allow-root", *flags]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            env={**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config")})
    try:
        deadline, html = time.time() + 90, None
        while html is None and time.time() < deadline:
            try:
                html = urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}", timeout=3).read().decode()
            except OSError:
                time.sleep(0.5)
        assert html is not None, "jupyter lab did not start"
        config = json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                                      html, re.S).group(1))
        assert ANNOUNCEMENTS in config["disabledExtensions"]
    finally:
        proc.terminate()
        proc.wait(15)
