"""The benchmarks are not run in CI (they take minutes and need a quiet machine), so a rename in
``cavewidgets`` can break one unnoticed until someone wants its figures. This reads every
benchmark's imports of cavewidgets (module level and inside functions) and checks that each named
module and attribute still exists."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[2] / "benchmarks").glob("*.py"))


def cavewidgets_imports(path: Path) -> list[tuple[str, str | None]]:
    """``(module, name)`` for every ``from cavewidgets… import name`` and ``(module, None)`` for
    every ``import cavewidgets…`` in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "cavewidgets":
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names if alias.name.split(".")[0] == "cavewidgets"]
    return found


@pytest.mark.parametrize("path", BENCHMARKS, ids=[p.name for p in BENCHMARKS])
def test_benchmark_imports_of_cavewidgets_resolve(path):
    missing = []
    for module, name in cavewidgets_imports(path):
        mod = importlib.import_module(module)
        if name is not None and not hasattr(mod, name):
            try:  # a submodule imported by name
                importlib.import_module(f"{module}.{name}")
            except ImportError:
                missing.append(f"from {module} import {name}")
    assert not missing, f"{path.name} imports names cavewidgets no longer has: {missing}"


def test_the_benchmarks_are_found():
    assert len(BENCHMARKS) >= 5 and any(cavewidgets_imports(p) for p in BENCHMARKS)
