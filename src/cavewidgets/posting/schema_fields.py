"""A table schema's fields as the poster needs them: its point fields, its plain fields, the
table's voxel size.

Example::

    point_fields(client.schema.schema_definition("bound_tag"))   # ['pt']
"""

from __future__ import annotations

import numpy as np

_POINT_REFS = ("BoundSpatialPoint", "SpatialPoint")


def point_fields(definition: dict) -> list[str]:
    """The spatial point fields of a schema definition, in schema order (e.g. ``["pt"]``).

    Example::

        point_fields(client.schema.schema_definition("bound_tag"))   # ['pt']
    """
    defs = definition.get("definitions", {})
    root = definition.get("$ref", "").rsplit("/", 1)[-1]
    props = defs.get(root, {}).get("properties", {})
    out = []
    for name, spec in props.items():
        ref = str(spec.get("$ref", "")).rsplit("/", 1)[-1]
        if ref in _POINT_REFS:
            out.append(name)
    return out


def plain_fields(definition: dict) -> dict[str, dict]:
    """Non-point fields of a schema definition (name -> JSON schema), minus bookkeeping ones."""
    defs = definition.get("definitions", {})
    root = definition.get("$ref", "").rsplit("/", 1)[-1]
    props = defs.get(root, {}).get("properties", {})
    points = set(point_fields(definition))
    return {k: v for k, v in props.items() if k not in points and k not in ("valid", "id")}


def voxel_resolution(md: dict) -> np.ndarray:
    """A table's voxel size in nm from its metadata (``voxel_resolution`` or ``voxel_resolution_x/y/z``)."""
    res = md.get("voxel_resolution")
    if res is None:
        res = [md.get(f"voxel_resolution_{a}") for a in "xyz"]
    res = np.asarray([np.nan if v is None else v for v in res], dtype=float)
    if res.shape != (3,) or not np.all(np.isfinite(res)) or np.any(res <= 0):
        raise ValueError(f"table '{md.get('table_name')}' has no usable voxel resolution in its metadata: {res}")
    return res


def missing_field(err) -> str:
    if err.validator == "required":
        return str(err.message).split("'")[1] if "'" in str(err.message) else "-"
    return "-"
