"""The pinned software environment of an export: ``requirements.txt`` from what is installed.

The roots are the packages a bundle's data and ``reproduce.py`` go through (caveclient, pandas,
pyarrow, numpy, cavewidgets); every installed distribution they require, transitively, is
pinned to its installed version (``importlib.metadata``). Requirements behind extras or whose
environment marker does not hold here are left out, as pip would.
"""

from __future__ import annotations

import importlib.metadata
import platform
import re
import sys

ROOTS = ("caveclient", "pandas", "pyarrow", "numpy", "cavewidgets")
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _applies(requirement: str) -> bool:
    if ";" not in requirement:
        return True
    try:
        from packaging.requirements import Requirement
    except ImportError:  # without packaging, keep only unconditional requirements
        return False
    marker = Requirement(requirement).marker
    return marker is None or marker.evaluate({"extra": ""})


def pinned_requirements(roots=ROOTS) -> dict[str, str]:
    """``{name: installed version}`` of ``roots`` and everything they require, transitively.

    Example::

        pinned_requirements()["caveclient"]    # e.g. '8.2.1'
    """
    pinned: dict[str, str] = {}
    todo = list(roots)
    while todo:
        name = _canonical(todo.pop())
        if name in pinned:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # an optional dependency that is not installed
        pinned[name] = dist.version
        for requirement in dist.requires or []:
            match = _NAME.match(requirement)
            if match and _applies(requirement):
                todo.append(match.group(1))
    return dict(sorted(pinned.items()))


def requirements_text(roots=ROOTS) -> str:
    """``requirements.txt`` content: the Python version as a comment, then ``name==version`` lines.

    Example::

        Path("requirements.txt").write_text(requirements_text())
    """
    head = (f"# Python {platform.python_version()} ({platform.python_implementation()}, "
            f"{platform.system()} {platform.machine()}); made by cavewidgets.export\n"
            "# pip install -r requirements.txt && python reproduce.py\n")
    return head + "".join(f"{name}=={version}\n" for name, version in pinned_requirements(roots).items())


def python_version() -> dict:
    """The running Python (what the pinned versions were installed for).

    Example::

        python_version()["version"]
    """
    return {"version": platform.python_version(), "implementation": platform.python_implementation(),
            "executable_abi": sys.implementation.cache_tag, "platform": platform.platform()}
