"""Posting annotations back to CAVE: drafts on disk, schema validation, exactly-once posts.

Example::

    from cavewidgets.posting import AnnotationPoster, DraftStore, make_draft
    store = DraftStore(client.datastack_name)
    store.add([make_draft([1000, 2000, 3000], fields={"tag": "a"})])
    AnnotationPoster(client).post(store, "my_tags", create=True, schema="bound_tag")
"""

from .._storage import data_dir
from .drafts import DraftStore, make_draft
from .poster import (AnnotationPoster, DraftValidationError, MissingTableError, PostError, PostPendingError,
                     PostRefusedError, read_posted_log)

__all__ = ["AnnotationPoster", "DraftStore", "DraftValidationError", "MissingTableError", "PostError", "PostPendingError",
           "PostRefusedError", "data_dir",
           "make_draft",
           "read_posted_log"]
