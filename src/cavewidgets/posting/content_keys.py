"""Content keys of annotation rows: how a pending draft recognises the row it already wrote.

The AnnotationEngine keeps no client ids (no idempotency key), so after a lost reply the poster
matches rows by content: the row it sent (:func:`row_key`) and the row read back with
``get_annotation`` (:func:`server_row_key`, whose point and bookkeeping columns are shaped
differently) give the same key.

Example::

    row_key(sent_row) == server_row_key(client.annotation.get_annotation(table, [id])[0])
"""

from __future__ import annotations

import json

import numpy as np


def plain_value(value):
    """A numpy scalar as the Python value JSON writes (other values unchanged).

    Example::

        plain_value(np.int64(3))  # -> 3
    """
    if isinstance(value, np.generic):
        return value.item()
    return value


def row_key(row: dict) -> str:
    """Content key of a schema row as posted (point positions in voxels, plain fields), order-independent.

    Example::

        row_key({"pt": {"position": [1, 2, 3]}, "tag": "a"})  # -> '{"pt": [1, 2, 3], "tag": "a"}'
    """
    out = {}
    for k, v in row.items():
        if isinstance(v, dict) and "position" in v:
            out[k] = [int(round(float(x))) for x in v["position"]]
        elif k not in ("id", "valid"):
            out[k] = v
    return json.dumps(out, sort_keys=True, default=str)


def server_row_key(row: dict) -> str:
    """The content key of a row read back with ``get_annotation``: points as ``<pt>_position``
    ([x, y, z]), ``<pt>_position_x/_y/_z`` or ``{<pt>: {"position": ...}}``; bookkeeping dropped.
    Equal to :func:`row_key` of the row that was posted.

    Example::

        server_row_key({"id": 7, "pt_position": [1, 2, 3], "tag": "a"})  # -> '{"pt": [1, 2, 3], "tag": "a"}'
    """
    out = {}
    for k, v in row.items():
        if isinstance(v, dict) and "position" in v:
            out[k] = [int(round(float(x))) for x in v["position"]]
        elif k.endswith("_position_x") and k[:-2] + "_y" in row and k[:-2] + "_z" in row:
            base = k[: -len("_position_x")]
            out[base] = [int(round(float(row[f"{base}_position_{a}"]))) for a in "xyz"]
        elif k.endswith("_position") and isinstance(v, (list, tuple)) and len(v) == 3:
            out[k[: -len("_position")]] = [int(round(float(x))) for x in v]
    for k, v in row.items():
        if k in ("id", "valid", "created", "deleted", "superceded_id") or isinstance(v, dict) \
                or k.endswith(("_position", "_position_x", "_position_y", "_position_z", "_root_id", "_supervoxel_id")):
            continue
        out[k] = plain_value(v) if not (isinstance(v, float) and np.isnan(v)) else None
    return json.dumps(out, sort_keys=True, default=str)
