"""Module structure: every module imports, no import cycles, no borrowed private names.

The graph is built from the source with ``ast`` (imports inside functions count too: a lazy
import that hides a cycle is still a cycle).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "cavewidgets"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


MODULES = _modules()


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str, path: Path) -> list[tuple[str, list[str]]]:
    """``(imported module, names taken from it)`` for each import in ``module``."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, path, node)
            names = [a.name for a in node.names]
            # "from . import x" imports the submodule x when there is one
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
            out += [(s, []) for s in subs]
            out.append((target, [n for n in names if f"{target}.{n}" not in MODULES]))
    return out


def _graph() -> dict[str, set[str]]:
    graph = {}
    for module, path in MODULES.items():
        edges = set()
        for target, _names in _imports(module, path):
            # importing a.b.c runs a/__init__ and a/b/__init__ first, but those edges are
            # package plumbing; the edge that can form a cycle is the one to the module itself
            if target in MODULES and target != module:
                edges.add(target)
        graph[module] = edges
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of modules (first repeated at the end), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            # a package's __init__ re-exporting its own submodules is not a cycle that bites
            if node == nxt.rsplit(".", 1)[0] or nxt == node.rsplit(".", 1)[0]:
                continue
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycles():
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_cycle_finder_finds_a_cycle():
    assert _cycle({"p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a"}}) == ["p.a", "p.b", "p.c", "p.a"]
    assert _cycle({"p.a": {"p.b"}, "p.b": set()}) is None


def test_no_private_names_borrowed_across_packages():
    """``from other_package.module import _private`` ties two packages to an internal detail."""
    borrowed = []
    for module, path in MODULES.items():
        own = module.split(".")[:2]
        for target, names in _imports(module, path):
            if not target.startswith("cavewidgets.") or target.split(".")[:2] == own:
                continue
            if target.split(".")[-1].startswith("_") and target.count(".") == 1:
                continue  # a package-wide helper module such as cavewidgets._storage
            borrowed += [f"{module} imports {target}.{n}" for n in names if n.startswith("_")]
    assert not borrowed, "\n".join(borrowed)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_imports(module):
    importlib.import_module(module)


#: neuroglancer's ``TrackableState`` offers no public compare-and-set of its raw JSON state; the
#: viewer holds its (re-entrant) lock to read, merge and set it atomically
FOREIGN_LOCKS = {("cavewidgets.viewer.batch", "shared._lock"), ("cavewidgets.viewer.merge", "shared._lock")}


def test_no_module_reaches_into_another_objects_lock():
    """``other._lock`` outside ``other``'s class bypasses the owner's API (``LOG.txn()`` and the like)."""
    reached = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and "lock" in node.attr.lower()
                    and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
                    and (module, ast.unparse(node)) not in FOREIGN_LOCKS):
                reached.append(f"{module}:{node.lineno} {ast.unparse(node)}")
    assert not reached, "\n".join(reached)
