"""Fixtures for browser tests: one JupyterLab server and one Chromium per test session.

``isolated_*`` and ``notebook7*`` browsers run in their own network namespace and reach only their Jupyter
server, as users' browsers on Colab/JupyterHub/Binder do; they fail (never skip) when that cannot be set up.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cavewidgets.testing.lab import Browser, LabNotebook, LabServer

ARTIFACTS = Path(os.environ.get("CAVEWIDGETS_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))


@pytest.fixture(scope="session")
def lab():
    with LabServer() as server:
        yield server


@pytest.fixture(scope="session")
def browser():
    with Browser() as b:
        yield b


@pytest.fixture(scope="session")
def isolated_browser(lab):
    """Chromium that reaches only the ``lab`` server, as on Colab/JupyterHub/Binder (fails if it cannot isolate)."""
    with Browser(isolate_to=lab.port) as b:
        yield b


@pytest.fixture(scope="session")
def notebook7():
    with LabServer(app="notebook") as server:
        yield server


@pytest.fixture(scope="session")
def notebook7_browser(notebook7):
    with Browser(isolate_to=notebook7.port) as b:
        yield b


def _notebook_factory(lab, browser, request):
    """Open notebooks with given cells; close them after the test, with a screenshot if it failed."""
    opened: list[LabNotebook] = []

    def open_notebook(cells: list[str], name: str | None = None) -> LabNotebook:
        name = name or f"{request.node.name}-{len(opened)}.ipynb".replace("[", "-").replace("]", "")
        nb = LabNotebook.open(lab, browser, name, cells)
        opened.append(nb)
        return nb

    yield open_notebook
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for nb in opened:
        if failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            nb.page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        nb.close()


@pytest.fixture
def notebook(lab, browser, request):
    """Open a notebook with the given cells: ``nb = notebook(["x = 1", ...])``; screenshots on failure."""
    yield from _notebook_factory(lab, browser, request)


@pytest.fixture
def isolated_notebook(lab, isolated_browser, request):
    """Like ``notebook``, in the browser that reaches only the Jupyter server."""
    yield from _notebook_factory(lab, isolated_browser, request)


@pytest.fixture
def notebook7_notebook(notebook7, notebook7_browser, request):
    """Like ``isolated_notebook``, in Notebook 7 (``/notebooks/<name>``)."""
    yield from _notebook_factory(notebook7, notebook7_browser, request)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


def pytest_collection_modifyitems(items):
    for item in items:
        if "browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)
