"""Morphology: L2 skeletons (``skeleton_from_l2``, ``Skeleton``).

Example::

    from cavewidgets.morphology import skeleton_from_l2
    sk = skeleton_from_l2(client, root_id)
"""

from __future__ import annotations

from .skeleton import Skeleton, skeleton_from_l2, skeletonize

__all__ = ["Skeleton", "skeleton_from_l2", "skeletonize"]
