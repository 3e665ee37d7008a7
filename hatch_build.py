"""Hatch build hook: build the front-end bundle when it is missing, so a fresh clone installs
with one `pip install .` (or `-e .`). Set CAVEWIDGETS_SKIP_JS=1 to skip (e.g. pure-Python dev)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

ROOT = Path(__file__).parent
JS = ROOT / "js"
STATIC = ROOT / "src" / "cavewidgets" / "static"
ENTRIES = ["table.js", "viewer.js", "morphology.js", "neuroglancer.js"]


class JSBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version, build_data):
        if os.environ.get("CAVEWIDGETS_SKIP_JS"):
            return
        if all((STATIC / e).exists() for e in ENTRIES) and not os.environ.get("CAVEWIDGETS_FORCE_JS"):
            return
        if not JS.exists():  # building from an sdist that already carries static/
            return
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("cavewidgets needs Node.js and npm to build its front-end (apt-get install nodejs npm)")
        # `npm ci`: exactly the lock file (complete for every platform), which it never rewrites
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS, check=True)
        subprocess.run([npm, "run", "build"], cwd=JS, check=True)
