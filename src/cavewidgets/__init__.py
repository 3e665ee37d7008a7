"""cavewidgets: Jupyter widgets for connectomics on CAVE.

Example::

    import cavewidgets
    client = cavewidgets.sample.client()          # CAVE in a box, offline
    df = client.materialize.query_table("nucleus_detection_v0")
    cavewidgets.TableBrowser(df)
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["TableBrowser", "Viewer", "Skeleton", "skeleton_from_l2", "sample", "__version__"]


def __getattr__(name: str):
    # widgets import anywidget/duckdb; keep `import cavewidgets` cheap and `sample` usable alone
    if name == "TableBrowser":
        from .table import TableBrowser

        return TableBrowser
    if name == "Viewer":
        from .viewer import Viewer

        return Viewer
    if name in ("Skeleton", "skeleton_from_l2"):
        from . import morphology

        return getattr(morphology, name)
    if name == "sample":
        import importlib

        return importlib.import_module(".sample", __name__)
    raise AttributeError(f"module 'cavewidgets' has no attribute {name!r}")
