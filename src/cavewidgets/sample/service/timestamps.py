"""Timestamps as the services receive them -> int64 µs since the epoch (UTC), and back.

The graph index keeps every time as int64 microseconds; caveclient sends epoch seconds, ISO
strings or datetimes depending on the call, so every route converts through :func:`to_us`.

Example::

    to_us("2025-01-06T00:00:00Z") == to_us(datetime(2025, 1, 6, tzinfo=timezone.utc))
"""

from __future__ import annotations

import datetime as _dt

import numpy as np

#: epoch seconds of 0001-01-01 and 9999-12-31T23:59:59 UTC, the range of a Python datetime (the
#: real services read times with datetime, which has no years beyond 1..9999)
FIRST_SECOND, LAST_SECOND = -62135596800.0, 253402300799.0


def to_us(timestamp) -> int | None:
    """Any timestamp form the client may send -> int64 µs since epoch (UTC); None stays None.

    Accepts datetime (naive = UTC), pandas Timestamp, numpy datetime64, epoch seconds (int/float,
    what caveclient sends as ``timestamp=``) and ISO-8601 strings.

    Example::

        to_us(1700000000.5) == 1700000000500000
    """
    if timestamp is None:
        return None
    if isinstance(timestamp, np.datetime64):
        return int(timestamp.astype("datetime64[us]").astype(np.int64))
    if isinstance(timestamp, _dt.datetime):  # includes pandas.Timestamp
        if timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=_dt.timezone.utc)
        delta = timestamp - _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
        return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    if isinstance(timestamp, (int, float, np.integer, np.floating)):
        return _seconds_to_us(float(timestamp))
    if isinstance(timestamp, str):
        text = timestamp.strip()
        try:
            seconds = float(text)
        except ValueError:
            pass
        else:
            return _seconds_to_us(seconds)
        try:
            return to_us(_dt.datetime.fromisoformat(text.replace("Z", "+00:00")))
        except ValueError:
            raise ValueError(f"cannot parse timestamp {timestamp!r}") from None
    raise ValueError(f"cannot interpret timestamp {timestamp!r}")


def _seconds_to_us(seconds: float) -> int:
    # NaN and ±Infinity (JSON may carry them) are no time: a ValueError, as for unparsable text
    if not np.isfinite(seconds):
        raise ValueError(f"timestamp {seconds!r} is not a finite number of seconds")
    if not FIRST_SECOND <= seconds <= LAST_SECOND:  # 1.8e302 s would overflow the µs as well
        raise ValueError(f"timestamp {seconds!r} is out of range (years 1 to 9999)")
    return int(round(seconds * 1e6))


def us_to_datetime(us: int) -> _dt.datetime:
    """int µs since epoch -> aware UTC datetime.

    Example::

        us_to_datetime(1700000000500000)  # -> datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=utc)
    """
    return _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc) + _dt.timedelta(microseconds=int(us))
