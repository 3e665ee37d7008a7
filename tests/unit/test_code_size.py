"""Code a newcomer can read: no Python function over 80 lines, no source file over 500 lines
unless a line near its top says why (``Long file: <reason>``).

Function lengths are measured for Python only (with ``ast``, docstring included).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_FUNCTION_LINES = 80
MAX_FILE_LINES = 500
_REASON = re.compile(r"long file:\s*\S", re.I)


def _sources() -> list[Path]:
    files = list((ROOT / "src").rglob("*.py")) + [
        p for p in (ROOT / "js").rglob("*.ts") if "node_modules" not in p.parts]
    return sorted(files)


def test_no_function_over_80_lines():
    long = []
    for path in _sources():
        if path.suffix != ".py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, "split these into named steps:\n" + "\n".join(long)


def test_no_file_over_500_lines_without_a_reason():
    long = []
    for path in _sources():
        text = path.read_text(encoding="utf-8")
        head = "\n".join(text.splitlines()[:30])
        if text.count("\n") > MAX_FILE_LINES and not _REASON.search(head):
            long.append(f"{path.relative_to(ROOT)} ({text.count(chr(10))} lines)")
    assert not long, "split these at a natural seam, or say why at the top ('Long file: ...'):\n" + "\n".join(long)


def test_the_checks_see_the_tree():
    # a wrong root or pattern would make both checks pass on nothing
    names = {p.relative_to(ROOT).as_posix() for p in _sources()}
    assert "src/cavewidgets/paging.py" in names and "js/table/index.ts" in names
    assert "src/cavewidgets/viewer/widget.py" in names and "js/viewer/ng/runtime.ts" in names
