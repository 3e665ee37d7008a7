"""The machine a benchmark ran on, recorded with its results (shared by the browser benchmarks)."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from importlib.metadata import version
from pathlib import Path

from cavewidgets.testing.lab import CHROMIUM


def machine(packages: list[str]) -> dict:
    """Load, cores, CPU, memory, Python, Chromium and the versions of ``packages``.

    Example::

        results["machine"] = machine(["cavewidgets", "neuroglancer", "jupyterlab"])
    """
    cpuinfo, meminfo = Path("/proc/cpuinfo").read_text().splitlines(), Path("/proc/meminfo").read_text().splitlines()
    cpu = next((x.split(":", 1)[1].strip() for x in cpuinfo if x.startswith("model name")), platform.processor())
    mem = next((x.split()[1] for x in meminfo if x.startswith("MemTotal")), "0")
    chromium = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout
    return {
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "cores": len(os.sched_getaffinity(0)), "cpu": cpu, "memory_gib": round(int(mem) / 2**20, 1),
        "python": platform.python_version(), "platform": platform.platform(),
        "chromium": (re.search(r"Chromium [\d.]+", chromium) or [chromium.strip()])[0],
        "versions": {p: version(p) for p in packages},
    }
