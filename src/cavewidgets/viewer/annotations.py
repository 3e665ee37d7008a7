"""Annotations between pandas and neuroglancer's local annotation layers.

DataFrames carry positions in nm (a 3-vector column such as ``pt_position`` or split
``pt_position_x/_y/_z`` columns) and root ids as exact ints; neuroglancer's JSON carries
positions in the layer's voxel coordinates and segment ids as decimal strings.

Example::

    layer = annotation_layer("points", state["dimensions"], points_from_frame(df, [512, 512, 640]), "seg")
    frame(state, "points")     # id, type, position(s) in nm, segments, ...
"""

from __future__ import annotations

import json
import logging
import math
import uuid
from typing import Any, Callable, Iterable, Mapping

from . import state as st

log = logging.getLogger(__name__)

COLUMNS = ["id", "type", "point", "point_b", "radii", "description", "segments", "tags"]


def _vector(value: Any) -> list[float] | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise TypeError("a string, not 3 numbers")
    try:
        out = [float(v) for v in value]
    except TypeError:
        raise TypeError(f"{type(value).__name__}, not 3 numbers") from None
    return out


def positions_nm(df, column: str) -> list[list[float]]:
    """The (x, y, z) nm positions in ``df[column]`` (3-vectors) or ``column_x/_y/_z``; a clear
    ``ValueError`` for a missing column, a wrong length or a NaN, naming the row."""
    split = [f"{column}_{a}" for a in "xyz"]
    if column in df.columns:
        rows = list(df[column])
    elif all(c in df.columns for c in split):
        rows = [list(r) for r in zip(*(df[c] for c in split))]
    else:
        raise ValueError(f"no position column {column!r} (nor {', '.join(split)}); the DataFrame has: {', '.join(map(str, df.columns))}")
    out = []
    for label, value in zip(df.index, rows):
        try:
            vec = _vector(value)
        except TypeError as e:
            raise ValueError(f"row {label!r}: position {column!r} is {e}") from None
        if vec is None or len(vec) != 3:
            raise ValueError(f"row {label!r}: position {column!r} needs 3 coordinates (x, y, z in nm), got {value!r}")
        if not all(math.isfinite(v) for v in vec):
            raise ValueError(f"row {label!r}: position {column!r} is not finite (NaN or inf): {vec}")
        out.append(vec)
    return out


def segment_lists(df, column: str | None) -> list[list[int]]:
    """Exact uint64 segment ids per row from ``df[column]`` (an id, a list of ids, or empty)."""
    if column is None:
        return [[] for _ in range(len(df))]
    if column not in df.columns:
        raise ValueError(f"no segment column {column!r}; the DataFrame has: {', '.join(map(str, df.columns))}")
    out = []
    for label, value in zip(df.index, df[column]):
        values = value if isinstance(value, (list, tuple, set)) or (hasattr(value, "__len__") and not isinstance(value, str)) else [value]
        ids = []
        for v in values:
            if v is None or (isinstance(v, float) and math.isnan(v)):
                continue
            try:
                i = st.parse_id(v)
            except (ValueError, TypeError) as e:
                raise ValueError(f"row {label!r}: segment {column!r}: {e}") from None
            if i:
                ids.append(i)
        out.append(ids)
    return out


def to_voxels(pos_nm: Iterable[float], scales_nm: list[float]) -> list[float]:
    return [float(p) / s for p, s in zip(pos_nm, scales_nm)]


def to_nm(pos_vox: Iterable[float], scales_nm: list[float]) -> tuple[float, ...]:
    return tuple(float(p) * s for p, s in zip(pos_vox, scales_nm))


def layer_scales(state: Mapping, layer: Mapping | None, fallback=None) -> list[float]:
    """nm per voxel of the annotation layer's coordinates (its source's output dimensions, else
    the viewer's)."""
    if layer is not None:
        sources = layer.get("source")
        sources = sources if isinstance(sources, list) else [sources]
        for s in sources:
            dims = (s.get("transform") or {}).get("outputDimensions") if isinstance(s, Mapping) else None
            if dims:
                return st._scales_nm({"dimensions": dims}, None, 3)
    return st._scales_nm(state, fallback, 3)


def _column_values(df, column: str | None, default=None) -> list:
    if column is None:
        return [default] * len(df)
    if column not in df.columns:
        raise ValueError(f"no column {column!r}; the DataFrame has: {', '.join(map(str, df.columns))}")
    return [None if (isinstance(v, float) and math.isnan(v)) else v for v in df[column]]


def _entry(kind: str, points: dict, description, segments: list[int]) -> dict:
    ann = {"type": kind, "id": uuid.uuid4().hex, **points}
    if description is not None and str(description) != "":
        ann["description"] = str(description)
    if segments:
        ann["segments"] = [[str(i) for i in segments]]
    return ann


def points_from_frame(df, scales_nm: list[float], position: str = "pt_position", segment: str | None = "pt_root_id", description: str | None = None) -> list[dict]:
    """neuroglancer point annotations (JSON) for the rows of ``df``."""
    pos = positions_nm(df, position)
    segs = segment_lists(df, segment)
    descs = _column_values(df, description)
    return [_entry("point", {"point": to_voxels(p, scales_nm)}, d, s) for p, d, s in zip(pos, descs, segs)]


def lines_from_frame(df, scales_nm: list[float], a: str = "pre_pt_position", b: str = "post_pt_position", segment: str | list[str] | None = None, description: str | None = None) -> list[dict]:
    """neuroglancer line annotations (JSON) from two position columns; ``segment``: one column
    or several (e.g. ``["pre_pt_root_id", "post_pt_root_id"]``), all linked."""
    pa, pb = positions_nm(df, a), positions_nm(df, b)
    columns = [segment] if isinstance(segment, str) or segment is None else list(segment)
    per_col = [segment_lists(df, c) for c in columns]
    segs = [[i for col in per_col for i in col[k]] for k in range(len(df))]
    descs = _column_values(df, description)
    return [
        _entry("line", {"pointA": to_voxels(x, scales_nm), "pointB": to_voxels(y, scales_nm)}, d, s)
        for x, y, d, s in zip(pa, pb, descs, segs)
    ]


def annotation_layer(name: str, dimensions: Mapping, annotations: list[dict], linked: str | None = None, color: str | None = None) -> dict:
    """A neuroglancer local annotation layer (JSON) in ``dimensions`` (the viewer's)."""
    layer = {
        "type": "annotation",
        "name": name,
        "source": [{"url": "local://annotations", "transform": {"outputDimensions": dict(dimensions)}}],
        "annotations": list(annotations),
    }
    if linked:
        layer["linkedSegmentationLayer"] = {"segments": linked}
    if color:
        layer["annotationColor"] = color
    return layer


def find_annotation_layer(state: Mapping, name: str) -> dict | None:
    for layer in state.get("layers") or []:
        if isinstance(layer, Mapping) and layer.get("name") == name:
            if layer.get("type") != "annotation":
                raise ValueError(f"layer {name!r} is a {layer.get('type')} layer, not an annotation layer")
            return layer  # type: ignore[return-value]
    return None


def annotation_layers(state: Mapping) -> list[str]:
    return [l["name"] for l in state.get("layers") or [] if isinstance(l, Mapping) and l.get("type") == "annotation" and "name" in l]


def rows(state: Mapping, name: str, fallback=None) -> list[dict]:
    """The annotations of layer ``name`` as dicts, positions in nm and segment ids as ints."""
    layer = find_annotation_layer(state, name)
    if layer is None:
        raise ValueError(f"no annotation layer {name!r}; annotation layers: {', '.join(annotation_layers(state)) or 'none'}")
    scales = layer_scales(state, layer, fallback)
    tag_names = {t.get("id"): t.get("label") for t in layer.get("annotationProperties") or [] if isinstance(t, Mapping)}
    out = []
    for ann in layer.get("annotations") or []:
        kind = ann.get("type")
        row = {c: None for c in COLUMNS}
        row.update(id=ann.get("id"), type=kind, description=ann.get("description"))
        if kind == "point":
            row["point"] = to_nm(ann["point"], scales)
        elif kind in ("line", "axis_aligned_bounding_box"):
            row["point"] = to_nm(ann["pointA"], scales)
            row["point_b"] = to_nm(ann["pointB"], scales)
        elif kind == "ellipsoid":
            row["point"] = to_nm(ann["center"], scales)
            row["radii"] = to_nm(ann["radii"], scales)
        row["segments"] = [st.parse_id(s) for group in ann.get("segments") or [] for s in (group if isinstance(group, list) else [group])]
        row["tags"] = [tag_names.get(t, t) for t in ann.get("tagIds") or ann.get("tags") or []]
        out.append(row)
    return out


def frame(state: Mapping, name: str, fallback=None):
    """``rows`` as a DataFrame (columns: id, type, point, point_b, radii, description, segments, tags)."""
    import pandas as pd

    return pd.DataFrame(rows(state, name, fallback), columns=COLUMNS)


def snapshot(state: Mapping) -> dict[str, dict[str, str]]:
    """layer → annotation id → its JSON (to tell what changed)."""
    out = {}
    for layer in state.get("layers") or []:
        if isinstance(layer, Mapping) and layer.get("type") == "annotation":
            out[layer.get("name")] = {a.get("id"): json.dumps(a, sort_keys=True) for a in layer.get("annotations") or []}
    return out


def diff(old: dict[str, dict[str, str]], new: dict[str, dict[str, str]]) -> list[dict]:
    """One change record per layer whose annotations differ: ``{"layer", "added", "removed", "changed"}`` (ids)."""
    out = []
    for name in sorted(set(old) | set(new), key=str):
        a, b = old.get(name, {}), new.get(name, {})
        added = [i for i in b if i not in a]
        removed = [i for i in a if i not in b]
        changed = [i for i in b if i in a and a[i] != b[i]]
        if added or removed or changed:
            out.append({"layer": name, "added": added, "removed": removed, "changed": changed})
    return out


TOOLS = {"point": "annotatePoint", "line": "annotateLine", "box": "annotateBoundingBox", "ellipsoid": "annotateSphere"}


def arm_tool(state: dict, name: str, tool: str | None, linked: str | None = None) -> dict:
    """Select annotation layer ``name`` (created empty if missing) with its ``tool`` armed
    (``"point"``, ``"line"``, ``"box"``, ``"ellipsoid"``; ``None`` disarms): ctrl+click draws."""
    if tool is not None and tool not in TOOLS:
        raise ValueError(f"unknown annotation tool {tool!r}; use one of {', '.join(TOOLS)}")
    layer = find_annotation_layer(state, name)
    if layer is None:
        layer = annotation_layer(name, state.get("dimensions") or {}, [], linked)
        state.setdefault("layers", []).append(layer)
    if tool is None:
        layer.pop("tool", None)
    else:
        layer["tool"] = TOOLS[tool]
        state["selectedLayer"] = {"layer": name, "visible": True}
    return state


# ---------- the Viewer's annotation methods ----------
def _check_layer_name(layer) -> None:
    if not isinstance(layer, str) or not layer.strip():
        raise ValueError(f"layer must be a non-empty layer name, got {layer!r}")


def _check_frame(df) -> None:
    if not hasattr(df, "columns") or not hasattr(df, "index"):
        raise TypeError(f"expected a pandas DataFrame of annotations, got {type(df).__name__}")


class AnnotationMethods:
    """``add_points``, ``add_lines``, ``annotate``, ``annotations`` and ``on_annotation`` of
    :class:`cavewidgets.Viewer` (a mixin: it uses the viewer's ``_raw_state``, ``_update``,
    ``_sync_from_ng``, ``segmentation_layer`` and ``_fallback_resolution``)."""

    _annotation_callbacks: list
    _ann_snapshot: dict

    def add_points(self, df, position: str = "pt_position", segment: str | None = "pt_root_id", description: str | None = None, layer: str = "points", color: str | None = None) -> list[str]:
        """Add a point annotation per row of ``df`` to the local annotation layer ``layer``
        (created if missing, else appended to); returns the new annotation ids.

        ``position``: a column of (x, y, z) in nm, or split ``position_x/_y/_z`` columns;
        ``segment``: root ids linked to each point (exact uint64; skipped if the default column is
        absent); ``description``: a text column. Example::

            syn = client.materialize.synapse_query(post_ids=root, desired_resolution=[1, 1, 1])
            viewer.add_points(syn, position="pre_pt_position", segment="pre_pt_root_id", color="#ff0")
        """
        _check_frame(df)
        if segment == "pt_root_id" and segment not in df.columns:
            segment = None
        return self._add_annotations(lambda scales: points_from_frame(df, scales, position, segment, description), layer, color)

    def add_lines(self, df, a: str = "pre_pt_position", b: str = "post_pt_position", segment: str | list[str] | None = None, description: str | None = None, layer: str = "lines", color: str | None = None) -> list[str]:
        """Add a line annotation per row from positions ``a`` to ``b`` (nm, as in ``add_points``);
        ``segment``: a column or a list of columns of root ids to link. Example::

            viewer.add_lines(syn, segment=["pre_pt_root_id", "post_pt_root_id"], layer="synapses")
        """
        _check_frame(df)
        return self._add_annotations(lambda scales: lines_from_frame(df, scales, a, b, segment, description), layer, color)

    def _add_annotations(self, build: Callable[[list[float]], list[dict]], layer: str, color: str | None) -> list[str]:
        _check_layer_name(layer)
        raw = self._raw_state()
        fallback = self._fallback_resolution()
        existing = find_annotation_layer(raw, layer)
        new = build(layer_scales(raw, existing, fallback))  # validates before anything changes
        seg_layer = self.segmentation_layer

        def add(s):
            if not s.get("dimensions"):
                s["dimensions"] = st.dimensions_for(fallback or [1, 1, 1])
            target = find_annotation_layer(s, layer)
            if target is None:
                s.setdefault("layers", []).append(annotation_layer(layer, s["dimensions"], new, seg_layer, color))
            else:
                target.setdefault("annotations", []).extend(new)
                if color:
                    target["annotationColor"] = color

        self._update(add)
        self._sync_from_ng()
        return [a["id"] for a in new]

    def annotate(self, layer: str = "points", tool: str | None = "point") -> None:
        """Arm the browser's annotation ``tool`` (``"point"``, ``"line"``, ``"box"``,
        ``"ellipsoid"``; ``None`` disarms) on ``layer`` (created if missing): the user then draws
        with ctrl+click, and ``annotations(layer)`` / ``on_annotation`` see it. Example::

            viewer.annotate("clicks")            # ctrl+click in a panel places a point
        """
        _check_layer_name(layer)
        seg = self.segmentation_layer
        fallback = self._fallback_resolution()

        def arm(s):
            if not s.get("dimensions"):
                s["dimensions"] = st.dimensions_for(fallback or [1, 1, 1])
            arm_tool(s, layer, tool, seg)

        self._update(arm)

    def annotations(self, layer: str = "points"):
        """What is in annotation layer ``layer`` now, including what the user drew, as a
        DataFrame: ``id``, ``type``, ``point`` (nm; the start for lines and boxes), ``point_b``
        (nm), ``radii`` (nm, ellipsoids), ``description``, ``segments`` (ints), ``tags``.

        Example::

            viewer.annotations("points").point.tolist()   # [(x, y, z) in nm, ...]
        """
        return frame(self._raw_state(), layer, self._fallback_resolution())

    def on_annotation(self, callback: Callable[[dict], Any], remove: bool = False) -> None:
        """Call ``callback(change)`` when annotations are added, changed or deleted (in the
        browser or from Python); ``change`` is ``{"layer", "added", "removed", "changed",
        "from_browser"}`` with annotation ids. Example::

            viewer.on_annotation(lambda c: print(c["layer"], c["added"]))
        """
        if remove:
            self._annotation_callbacks = [c for c in self._annotation_callbacks if c is not callback]
        else:
            self._annotation_callbacks.append(callback)

    def _check_annotations(self, raw: dict) -> None:
        snap = snapshot(raw)
        changes = diff(self._ann_snapshot, snap)
        self._ann_snapshot = snap
        if not changes or not self._annotation_callbacks:
            return
        from_browser = self._pending_browser_change(raw)
        for change in changes:
            change["from_browser"] = from_browser
            for cb in list(self._annotation_callbacks):
                try:
                    cb(change)
                except Exception:
                    log.exception("on_annotation callback failed")
