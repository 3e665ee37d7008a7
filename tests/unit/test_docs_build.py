"""The docs site builds with ``mkdocs build --strict`` (any warning fails), and every public
name it documents has a docstring with an example."""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
from html import escape as html_escape
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def test_docs_build_strict_without_warnings(tmp_path):
    pytest.importorskip("mkdocs", reason="docs extra not installed: pip install -e '.[docs]'")
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                          str(ROOT / "mkdocs.yml"), "--site-dir", str(site)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-4000:]
    assert not re.search(r"^WARNING", log, re.M), log[-4000:]
    # the API reference was generated from docstrings, and the widget pages carry their screenshots
    reference = (site / "reference" / "index.html").read_text()
    for anchor in ("table.TableBrowser", "viewer.Viewer", "morphology.panel.MorphologyPanel", "explorer.Explorer",
                   "review.ReviewQueue", "reports.connectivity_report", "reproducible.export", "sample.client"):
        assert f'id="cavewidgets.{anchor}"' in reference, anchor
    assert "post_drafts" in reference and "Example" in reference
    for page, image in [("widgets/table-browser", "table_browser"), ("widgets/viewer", "viewer"),
                        ("widgets/morphology-panel", "morphology_panel"), ("widgets/explorer", "explorer"),
                        ("widgets/review-queue", "review_queue"), ("widgets/reproducibility", "connectivity_report")]:
        html = (site / page / "index.html").read_text()
        assert f"images/{image}.png" in html, page
        assert (site / "images" / f"{image}.png").stat().st_size > 5_000
    _check_rendered_notebooks(site)


def _check_rendered_notebooks(site: Path) -> None:
    """Every notebook in notebooks/ is a page with its saved outputs, and no page carries widget
    state or the widget manager (the notebooks are saved without widget state; a page that embeds
    it grows by the widgets' bundles)."""
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert len(notebooks) >= 4
    for notebook in notebooks:
        page = site / "notebooks" / notebook.stem / "index.html"
        html = page.read_text()
        assert "jp-Notebook" in html and "jp-OutputArea-output" in html, notebook.name
        for line in _printed_lines(notebook):  # the saved outputs, not re-run ones (execute: false)
            assert html_escape(line, quote=False) in html, (notebook.name, line)
        assert "application/vnd.jupyter.widget-state+json" not in html, notebook.name
        assert "@jupyter-widgets/html-manager" not in html, notebook.name
        # the JupyterLab stylesheet mkdocs-jupyter inlines is ~575 KB; outputs add little on top
        assert page.stat().st_size < 1_000_000, (notebook.name, page.stat().st_size)


def _printed_lines(notebook: Path) -> list[str]:
    """The first line of each stream output saved in ``notebook`` (what its cells printed)."""
    cells = json.loads(notebook.read_text())["cells"]
    texts = ["".join(o["text"]) for c in cells for o in c.get("outputs", []) if o["output_type"] == "stream"]
    return [t.splitlines()[0] for t in texts if t.strip()]


def test_screenshots_are_commit_friendly():
    images = sorted((DOCS / "images").glob("*.png"))
    assert len(images) >= 6
    for image in images:
        assert image.stat().st_size < 200_000, image


def test_walkthrough_page_shows_small_pictures_that_exist():
    page = (DOCS / "walkthrough.md").read_text()
    shown = re.findall(r"\(images/walkthrough/([\w.-]+\.png)\)", page)
    assert len(shown) >= 10 and "TIMINGS" not in page
    on_disk = {p.name for p in (DOCS / "images" / "walkthrough").glob("*.png")}
    assert set(shown) == on_disk, "pictures the page does not show, or shows but are missing"
    for name in shown:
        assert 5_000 < (DOCS / "images" / "walkthrough" / name).stat().st_size <= 150_000, name


def test_every_public_name_has_a_docstring_with_an_example():
    import cavewidgets
    import cavewidgets.sample

    public = [(n, getattr(cavewidgets, n)) for n in cavewidgets.__all__ if n not in ("__version__", "sample")]
    public += [(f"sample.{n}", getattr(cavewidgets.sample, n)) for n in cavewidgets.sample.__all__]
    missing = [name for name, obj in public if "Example" not in (inspect.getdoc(obj) or "")]
    assert not missing, f"public names without an example in their docstring: {missing}"


def test_every_public_method_of_the_public_classes_has_a_docstring():
    import cavewidgets

    missing = []
    for name in cavewidgets.__all__:
        obj = getattr(cavewidgets, name, None)
        if not inspect.isclass(obj):
            continue
        for attr, member in vars(obj).items():
            if attr.startswith("_") or not (inspect.isfunction(member) or isinstance(member, property)):
                continue
            if not (inspect.getdoc(member) or "").strip():
                missing.append(f"{name}.{attr}")
    assert not missing, f"public methods without a docstring: {missing}"
