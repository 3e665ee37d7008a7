"""Explorer (table + viewer + 3D panel, one selection) and the drafts it posts.

Example::

    ex = cavewidgets.Explorer(cavewidgets.sample.client(), "nucleus_detection_v0")
"""

from .widget import Explorer

__all__ = ["Explorer"]
