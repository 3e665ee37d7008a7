"""What the answer to one POST of a batch tells the poster: posted, refused, worth re-sending
after reconciling, or unanswered (the server may still write it later).

A refusal is an answer whose request wrote nothing and which a re-send cannot fix: a 4xx, or
the 500 a deployed AnnotationEngine answers in its place. Its Flask-RESTx namespace handles
``Exception`` before anything else (``annotationengine/api.py`` ``unhandled_exception``), so every
``abort`` of ``Annotations.post`` (413 above the insertion limit, 422 for rows that do not
validate, 401 for a write the table's owner did not allow, 404 for an insert that failed) is
answered ``500 {"code": 500, "message": "413 Request Entity Too Large: ...", "traceback": [...]}``,
the message werkzeug's ``str()`` of the ``HTTPException``. Each of those aborts happens before the
insert commits (DynamicAnnotationDB ``insert_annotations`` commits last, in one transaction).

Example::

    answer = read_answer(session.post(url, json={"annotations": rows}))
    answer.ids          # the new annotation ids, or None
    answer.in_flight    # True when the engine may still write the rows (no answer from it)
    answer.refused      # 413 when the engine refused the batch (also inside its 500)
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import NamedTuple

#: statuses after which a batch may be re-sent (once reconciled); any other 4xx is final
TRANSIENT = {408, 429, 500, 502, 503, 504}
#: a gateway's answers: it gave up on the engine, which may still be writing (as after a timeout)
GATEWAY = {502, 504}
#: the start of werkzeug's ``str(HTTPException)`` for a 4xx (``"422 Unprocessable Entity: ..."``)
_ABORT_TEXT = re.compile(r"(4\d\d) [A-Z][A-Za-z' -]*: ")


class Answer(NamedTuple):
    """``ids`` when posted; else ``error`` (text), ``wait`` (seconds before a re-send; 0: back
    off; None: never re-send), ``in_flight`` (the engine may still write the rows) and
    ``refused`` (the 4xx status of a refusal: nothing was written)."""

    ids: list[int] | None
    error: str | None
    wait: float | None
    in_flight: bool
    refused: int | None = None


def read_answer(response) -> Answer:
    """The :class:`Answer` of an HTTP response to a POST of annotations.

    Example::

        read_answer(requests.post(url, json={"annotations": rows})).ids   # [17, 18]
    """
    if response.status_code == 200:
        try:
            return Answer([int(i) for i in response.json()], None, None, False)
        except (ValueError, TypeError):
            return Answer(None, f"unreadable answer {response.text[:200]!r}", 0, False)
    text = f"HTTP {response.status_code}: {message(response)}"
    refused = refusal(response)
    if refused is not None:
        return Answer(None, text, None, False, refused)
    if response.status_code in TRANSIENT:
        return Answer(None, text, retry_after(response), response.status_code in GATEWAY)
    return Answer(None, text, None, False)


def refusal(response) -> int | None:
    """The 4xx status of a response that refuses its request: the status itself, or the one a
    CAVE engine's 500 names in its message (``{"code": 500, "message": "413 Request Entity Too
    Large: ...", "traceback": [...]}``); None for anything else (a crash, a gateway, a timeout).

    Example::

        refusal(requests.post(url, json={"annotations": rows}))   # 413 for a batch above the limit
    """
    status = response.status_code
    if 400 <= status < 500 and status not in TRANSIENT:
        return status
    if status != 500:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict) or body.get("code") != 500 or "traceback" not in body:
        return None  # not the engines' unhandled_exception shape
    match = _ABORT_TEXT.match(str(body.get("message", "")))
    return None if match is None or int(match.group(1)) in TRANSIENT else int(match.group(1))


def failed_answer(err, read_timeout: float) -> Answer:
    """The :class:`Answer` of a POST that raised ``err`` (a ``requests`` exception): only a
    failure to connect proves the request never reached the server; a timeout or a dropped
    connection can come after it was sent, while the engine still works on it.

    Example::

        failed_answer(requests.exceptions.ReadTimeout(), 600).in_flight   # True
    """
    import requests
    from urllib3.exceptions import NewConnectionError

    if isinstance(err, requests.exceptions.ReadTimeout):
        return Answer(None, f"no answer within {read_timeout:g} s", 0, True)
    text = f"{type(err).__name__}: {str(err)[:200]}"
    if isinstance(err, requests.exceptions.ConnectTimeout):
        return Answer(None, text, 0, False)
    reason = getattr(err.args[0], "reason", None) if err.args else None
    return Answer(None, text, 0, not isinstance(reason, NewConnectionError))


def message(response) -> str:
    """The ``message`` of a CAVE error answer (flask-restx ``abort``), else the start of the body."""
    try:
        body = response.json()
        return str(body.get("message", body))[:300] if isinstance(body, dict) else str(body)[:300]
    except ValueError:
        return response.text[:300]


def retry_after(response) -> float:
    """Seconds from a ``Retry-After`` header (seconds or an HTTP date), 0 when absent."""
    value = response.headers.get("Retry-After")
    if not value:
        return 0
    try:
        return max(0.0, min(float(value), 300.0))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return 0
        return max(0.0, min((when - _dt.datetime.now(_dt.timezone.utc)).total_seconds(), 300.0))


def clock(when: _dt.datetime) -> str:
    """A time to retry at, in the kernel's local time (with the date when it is not today).

    Example::

        clock(datetime.datetime.now(datetime.timezone.utc))   # '14:32:05 CET'
    """
    local = when.astimezone()
    fmt = "%H:%M:%S %Z" if local.date() == _dt.datetime.now().astimezone().date() else "%Y-%m-%d %H:%M:%S %Z"
    return local.strftime(fmt)
