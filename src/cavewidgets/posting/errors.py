"""The errors of a post: the drafts did not fit the schema, the post did not complete, the
engine refused a batch, or an unanswered POST may still be written.

Example::

    try:
        AnnotationPoster(client).post(store, "my_tags")
    except PostRefusedError as err:
        print(err.status)          # 413, 422, 401, 404: nothing of the batch was written
    except PostError as err:
        print(err)                 # the drafts are kept, pending; a retry is safe
"""

from __future__ import annotations

import datetime as _dt


class DraftValidationError(ValueError):
    """Some drafts do not fit the table's schema; nothing was posted.

    ``problems`` lists ``(row, draft uid, field, message)`` tuples.
    """

    def __init__(self, table: str, problems: list[tuple[int, str, str, str]]):
        self.table = table
        self.problems = problems
        lines = [f"row {row} (draft {uid}), field '{field}': {msg}" for row, uid, field, msg in problems[:10]]
        more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
        super().__init__(f"{len(problems)} problem(s) posting to '{table}', nothing was posted:\n  "
                         + "\n  ".join(lines) + more)


class PostError(RuntimeError):
    """The post did not complete; the drafts are kept on disk, pending, and a retry is safe."""


class MissingTableError(PostError, ValueError):
    """The annotation table does not exist (any more); nothing was posted and the drafts are kept.
    A ValueError too: naming a table that is not there is bad input when ``create=False``.

    Example::

        try:
            poster.post(store, "no_such_table")
        except MissingTableError as err:
            print(err)          # ... pass create=True, schema='bound_tag' ... to create it
    """


class PostRefusedError(PostError):
    """The annotation engine refused a batch (``status``: 413, 422, 401, 404, ...; on real CAVE it
    arrives inside a 500). Nothing of it was written and it was not re-sent; the drafts are kept
    on disk, pending.

    Example::

        try:
            poster.post(store, "my_tags")
        except PostRefusedError as err:
            print(err.status, err.reason)   # 422 "422 Unprocessable Entity: {...}"
    """

    def __init__(self, message: str, status: int, reason: str):
        super().__init__(message)
        self.status = status
        self.reason = reason


#: what a refusal means for the user, by the status the engine names
REFUSAL_HINTS = {
    401: "you may not write to this table (it is another user's, or its group is not yours)",
    404: "the engine could not insert the rows (is the table still there?)",
    413: "the batch is larger than the engine (10,000 rows) or CAVE's ingress (10 MiB) takes in one request",
    422: "the engine's own schema validation rejected rows that the schema service's JSON schema accepted",
}


class PostPendingError(PostError):
    """An earlier POST of some drafts went unanswered and may still be written until ``retry_after``
    (a UTC datetime); nothing is re-sent before then. The drafts are kept on disk, pending.

    Example::

        try:
            poster.post(store, "my_tags")
        except PostPendingError as err:
            print(err.retry_after)         # post again after this, or with wait=True
    """

    def __init__(self, message: str, retry_after: _dt.datetime):
        super().__init__(message)
        self.retry_after = retry_after
