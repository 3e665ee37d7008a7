"""cavewidgets: Jupyter widgets for connectomics on CAVE.

Example::

    import cavewidgets
    client = cavewidgets.sample.client()          # CAVE in a box, offline
    df = client.materialize.query_table("nucleus_detection_v0")
    cavewidgets.TableBrowser(df)
"""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import TYPE_CHECKING

try:  # one place for the version: pyproject.toml, read from the installed package's metadata
    __version__ = importlib.metadata.version("cavewidgets")
except importlib.metadata.PackageNotFoundError:  # a source tree on sys.path, not installed
    __version__ = "0+unknown"

if TYPE_CHECKING:  # what the lazy names are, for editors and type checkers (never run)
    from . import sample
    from .connectome import FlatConnectome, flat_connectome
    from .explorer import Explorer
    from .morphology import MorphologyPanel, Skeleton, skeleton_from_l2
    from .reports import connectivity_report, snapshot_reports
    from .reproducible import export, preview_export, provenance, start_export, stop_export, track
    from .review import ReviewQueue
    from .table import TableBrowser
    from .viewer import Viewer

# Public name -> submodule that defines it. Imported on first use: the widgets pull in
# anywidget/duckdb/three.js bundles, and `import cavewidgets` must stay cheap.
_LAZY = {
    "TableBrowser": ".table",
    "Viewer": ".viewer",
    "Skeleton": ".morphology",
    "skeleton_from_l2": ".morphology",
    "MorphologyPanel": ".morphology",
    "track": ".reproducible",
    "provenance": ".reproducible",
    "export": ".reproducible",
    "start_export": ".reproducible",
    "stop_export": ".reproducible",
    "preview_export": ".reproducible",
    "connectivity_report": ".reports",
    "snapshot_reports": ".reports",
    "flat_connectome": ".connectome",
    "FlatConnectome": ".connectome",
    "Explorer": ".explorer",
    "ReviewQueue": ".review",
}

__all__ = [*_LAZY, "sample", "__version__"]


def __getattr__(name: str):
    if name == "sample":
        return importlib.import_module(".sample", __name__)
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'cavewidgets' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *__all__])


def _jupyter_server_extension_points():
    """Jupyter server finds the package's server extension here (see ``server_extension``)."""
    return [{"module": "cavewidgets.server_extension"}]
