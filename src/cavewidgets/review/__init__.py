"""Proofreading review queue: one neuron at a time, decisions posted exactly once.

Example::

    queue = cavewidgets.ReviewQueue(client, root_ids, "my_review")
"""

from .queue import DEFAULT_STATUSES, ReviewQueue

__all__ = ["DEFAULT_STATUSES", "ReviewQueue"]
