"""Schema service (EMAnnotationSchemas) plus the schema helpers the other services share.

``schemas.json`` holds the JSON-schema documents exactly as the real schema service serves them
(``marshmallow_jsonschema.JSONSchema().dump(Schema())`` of emannotationschemas 5.26.3, all 57
types). The real package is not a dependency because it pins old numpy/jsonschema/SQLAlchemy.

Example::

    fields = schema_fields("bound_tag")   # SchemaFields(bound=['pt'], spatial=[], plain=['tag'])
    errors = validate_rows("bound_tag", [{"pt": {"position": [1, 2, 3]}, "tag": "x"}])
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
from flask import Blueprint, jsonify, request

from .app import ServiceError

bp = Blueprint("schema", __name__)

SCHEMA_SERVICE_VERSION = "5.26.3"


@functools.lru_cache(maxsize=1)
def all_schemas() -> dict:
    """Every schema document, keyed by schema type (loaded once)."""
    return json.loads((Path(__file__).with_name("schemas.json")).read_text())


def schema_doc(schema_type: str) -> dict:
    """The JSON schema of ``schema_type``; ServiceError 404 if unknown.

    Example::

        schema_doc("bound_tag")["$ref"] == "#/definitions/BoundTagAnnotation"
    """
    doc = all_schemas().get(schema_type)
    if doc is None:
        raise ServiceError(404, f"schema type '{schema_type}' not found")
    return doc


@dataclass
class SchemaFields:
    """Top-level fields of a schema, by kind (each list sorted by name)."""

    bound: list = field(default_factory=list)  # bound spatial points: position + sv + root
    spatial: list = field(default_factory=list)  # unbound spatial points: position only
    plain: dict = field(default_factory=dict)  # name -> JSON-schema type ("string", ...)


@functools.lru_cache(maxsize=None)
def schema_fields(schema_type: str) -> SchemaFields:
    """Classify the fields of ``schema_type`` (the server fills sv/root ids of ``bound`` ones).

    Example::

        schema_fields("synapse").bound == ["post_pt", "pre_pt"]
    """
    doc = schema_doc(schema_type)
    ref = doc["$ref"].split("/")[-1]
    props = doc["definitions"][ref]["properties"]
    out = SchemaFields()
    for name, prop in props.items():
        if name == "valid":
            continue  # server-managed column
        target = prop.get("$ref", "").split("/")[-1]
        if target:
            point_props = doc["definitions"][target].get("properties", {})
            (out.bound if "supervoxel_id" in point_props else out.spatial).append(name)
        else:
            kind = prop.get("type", "string")
            if isinstance(kind, list):
                kind = next((k for k in kind if k != "null"), "string")
            out.plain[name] = kind
    return out


@functools.lru_cache(maxsize=None)
def _validator(schema_type: str) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(schema_doc(schema_type))


def validate_rows(schema_type: str, rows: list) -> list[str]:
    """Problems of each invalid row, as ``"row i, field f: message"`` (empty if all valid).

    Besides the JSON schema (which only says ``position`` is an array) every point must be three
    finite numbers, because the service turns it into a voxel lookup.

    Example::

        validate_rows("bound_tag", [{"pt": {"position": [1, 2]}, "tag": "a"}])
        # ["row 0, field 'pt.position': position must be 3 numbers, got [1, 2]"]
    """
    if not isinstance(rows, list):
        return ["annotations must be a list of objects"]
    validator = _validator(schema_type)
    fields = schema_fields(schema_type)
    problems = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            problems.append(f"row {i}: expected an object, got {type(row).__name__}")
            continue
        for err in sorted(validator.iter_errors(row), key=lambda e: list(e.path)):
            where = ".".join(str(p) for p in err.path)
            if not where and err.validator == "required":
                where = err.message.split("'")[1] if "'" in err.message else ""
            problems.append(f"row {i}, field '{where}': {err.message}")
        for name in fields.bound + fields.spatial:
            point = row.get(name)
            if not isinstance(point, dict) or "position" not in point:
                continue  # already reported by the schema when required
            pos = point["position"]
            if not _is_point(pos):
                problems.append(
                    f"row {i}, field '{name}.position': position must be 3 numbers, got {pos!r}"
                )
    return problems


def _is_point(pos) -> bool:
    if not isinstance(pos, (list, tuple)) or len(pos) != 3:
        return False
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) and _finite(v) for v in pos)


def _finite(value) -> bool:
    # JSON may carry Infinity, NaN and integers beyond float range (10**400): none is a voxel
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


# ---------------------------------------------------------------- routes (caveclient SchemaClient)


@bp.get("/versions")
def versions():
    return jsonify([2])  # emannotationschemas app.py: ``jsonify([2]), 200``


@bp.get("/version")
def version():
    return jsonify(SCHEMA_SERVICE_VERSION)


@bp.get("/type")
@bp.get("/api/v2/type")
def types():
    return jsonify(list(all_schemas()))


@bp.get("/type/<schema_type>")
@bp.get("/api/v2/type/<schema_type>")
def type_definition(schema_type: str):
    return jsonify(schema_doc(schema_type))


@bp.post("/api/v2/types")
def types_multi():
    # caveclient sends schema_names as a comma-joined query parameter
    names = [n for n in request.args.get("schema_names", "").split(",") if n]
    if not names:
        raise ServiceError(400, "schema_names query parameter is required")
    return jsonify({n: schema_doc(n) for n in names})


@bp.get("/api/v2/types_all")
def types_all():
    return jsonify(all_schemas())
