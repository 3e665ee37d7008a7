"""Morphology: L2 skeletons (``skeleton_from_l2``, ``Skeleton``) and the 3D ``MorphologyPanel``.

Example::

    from cavewidgets.morphology import MorphologyPanel, skeleton_from_l2
    sk = skeleton_from_l2(client, root_id)
    panel = MorphologyPanel(client); panel.show(root_id); panel
"""

from __future__ import annotations

from .build import skeletonize
from .l2 import skeleton_from_l2
from .skeleton import Skeleton


def __getattr__(name: str):
    # the panel pulls in anywidget and ipywidgets: import it only when asked for
    if name in ("MorphologyPanel", "MorphologyError"):
        from . import panel

        return getattr(panel, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Skeleton", "skeleton_from_l2", "skeletonize", "MorphologyPanel", "MorphologyError"]
