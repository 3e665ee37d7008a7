"""Reply shapes for the contract tests: a spec language small enough to read as the real reply.

A spec is matched against a parsed JSON value:

- a type (or tuple of types) is an ``isinstance`` check, except that ``bool`` never passes for
  ``int`` or ``float`` (JSON ``true`` is no number) and ``int`` passes for ``float`` only where
  the spec says ``NUMBER``;
- a ``dict`` is an object with exactly those keys, each matching its spec;
- a one-item ``list`` is an array whose items all match that item;
- :class:`Map` is an object whose keys match a pattern and whose values match one spec;
- :class:`Where` is a predicate with a name (shown when it fails).

Example::

    check({"root_id": 864691135808684573}, {"root_id": ID})
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Callable

NONE = type(None)


@dataclass(frozen=True)
class Where:
    """A named predicate on a value."""

    name: str
    test: Callable[[Any], bool]


@dataclass(frozen=True)
class Map:
    """An object keyed by strings matching ``key`` (a regex), every value matching ``value``."""

    key: str
    value: Any


def _iso(value) -> bool:
    try:
        dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return True


#: a JSON integer that is no boolean; ids are exact (uint64 fits in a Python int)
INT = Where("integer", lambda v: isinstance(v, int) and not isinstance(v, bool))
#: a positive id; the sample's root ids exceed 2**53, so a float detour would show
ID = Where("positive integer id", lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**64)
#: a JSON number written with a fraction or exponent (marshmallow ``Float``, SQL ``Float``)
FLOAT = Where("float", lambda v: isinstance(v, float))
#: any JSON number that is no boolean
NUMBER = Where("number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))
#: an ISO 8601 date-time text, as marshmallow's ``DateTime`` and ``isoformat()`` write it
ISO = Where("ISO date-time", _iso)
#: a decimal id as a JSON object key
ID_KEY = r"[1-9][0-9]*"


def opt(spec):
    """``spec`` or JSON null (a nullable column)."""
    return Where(f"{_name(spec)} or null", lambda v: v is None or not problems(v, spec))


def problems(value, spec, where: str = "reply") -> list[str]:
    """Everything in ``value`` that does not match ``spec``, as ``"where: what"`` lines."""
    if isinstance(spec, Where):
        return [] if spec.test(value) else [f"{where}: expected {spec.name}, got {value!r:.120}"]
    if isinstance(spec, Map):
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        out = [f"{where}: key {k!r} does not match {spec.key!r}" for k in value if not re.fullmatch(spec.key, k)]
        for k, v in value.items():
            out += problems(v, spec.value, f"{where}[{k!r}]")
        return out
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        out = []
        if set(value) != set(spec):
            out.append(f"{where}: keys differ; extra {sorted(set(value) - set(spec))}, "
                       f"missing {sorted(set(spec) - set(value))}")
        for k in set(value) & set(spec):
            out += problems(value[k], spec[k], f"{where}[{k!r}]")
        return out
    if isinstance(spec, list):
        if not isinstance(value, list):
            return [f"{where}: expected an array, got {type(value).__name__}"]
        out = []
        for i, item in enumerate(value):
            out += problems(item, spec[0], f"{where}[{i}]")
        return out
    kinds = spec if isinstance(spec, tuple) else (spec,)
    if isinstance(value, bool) and bool not in kinds:
        return [f"{where}: expected {_name(spec)}, got a boolean"]
    return [] if isinstance(value, kinds) else [f"{where}: expected {_name(spec)}, got {value!r:.120}"]


def check(value, spec, where: str = "reply") -> None:
    """Assert ``value`` matches ``spec``, listing every mismatch.

    Example::

        check(requests.get(url).json(), {"leaf_ids": [ID]})
    """
    found = problems(value, spec, where)
    assert not found, "reply differs from the real service's shape:\n  " + "\n  ".join(found[:20])


def _name(spec) -> str:
    if isinstance(spec, Where):
        return spec.name
    if isinstance(spec, tuple):
        return " or ".join(_name(s) for s in spec)
    return getattr(spec, "__name__", repr(spec))


def error_message(body) -> str | None:
    """The message of an error reply as the real services write it: ``message`` (Flask-RESTx,
    PyChunkedGraph, the engines) or SkeletonService's ``Error``; ``None`` when there is none.

    Example::

        error_message({"Error": "Invalid root id: 5 ..."})     # 'Invalid root id: 5 ...'
    """
    if not isinstance(body, dict):
        return None
    message = body.get("message", body.get("Error"))
    return message if isinstance(message, str) else None
