"""Neuroglancer state as plain JSON dicts: building it from a CAVEclient, reading and writing
segments and positions exactly, and keeping tokens out of it.

Everything here is pure (no server, no widget) so it is unit-tested directly.

Example::

    state = state_from_client(client)                 # image + segmentation + centre position
    segments_of(state)                                # {864691135808684573, ...} exact ints
    scrub_tokens(state, [client.auth.token])          # a copy without the token anywhere
"""

from __future__ import annotations

import copy
import json
import re
import urllib.parse
from typing import Any, Iterable, Mapping

IMAGE_LAYER = "img"
SEGMENTATION_LAYER = "seg"
MAX_UINT64 = (1 << 64) - 1
DEFAULT_SITE = "https://neuroglancer-demo.appspot.com"

_TOKEN_PARAMS = ("middle_auth_token", "token", "access_token")


# ---------- sources ----------
def middleauth_source(source: str) -> str:
    """``graphene://https://host/...`` → ``graphene://middleauth+https://host/...`` (idempotent).

    Neuroglancer then asks its credentials manager (in the embedded viewer: Python) for the
    host's token instead of sending requests without one.
    """
    m = re.match(r"^(?P<fmt>[a-z0-9_]+)://(?P<scheme>https?)://", source)
    if m is None:
        return source
    return f"{m['fmt']}://middleauth+{source[len(m['fmt']) + 3:]}"


def source_origin(source: str) -> str | None:
    """The http(s) origin a layer source reads from (``None`` for gs://, s3://, python://...)."""
    m = re.search(r"(?:^|://|\+)(https?://[^/\s|]+)", source)
    return m.group(1) if m else None


def _layer_sources(layer: Mapping) -> list[str]:
    src = layer.get("source")
    items = src if isinstance(src, list) else [src]
    out = []
    for s in items:
        if isinstance(s, str):
            out.append(s)
        elif isinstance(s, Mapping) and isinstance(s.get("url"), str):
            out.append(s["url"])
    return out


def _map_sources(layer: dict, fn) -> None:
    src = layer.get("source")
    if isinstance(src, str):
        layer["source"] = fn(src)
    elif isinstance(src, Mapping):
        if isinstance(src.get("url"), str):
            layer["source"] = {**src, "url": fn(src["url"])}
    elif isinstance(src, list):
        layer["source"] = [
            fn(s) if isinstance(s, str) else ({**s, "url": fn(s["url"])} if isinstance(s, Mapping) and isinstance(s.get("url"), str) else s)
            for s in src
        ]


def use_middleauth(state: dict, origins: Iterable[str]) -> dict:
    """A copy of ``state`` whose graphene/precomputed http(s) sources on ``origins`` use middleauth."""
    origins = {o.rstrip("/") for o in origins}
    out = copy.deepcopy(state)

    def convert(s: str) -> str:
        if "middleauth+" in s:
            return s
        return middleauth_source(s) if source_origin(s) in origins and s.startswith("graphene://") else s

    for layer in _layers(out):
        _map_sources(layer, convert)
    return out


# ---------- building ----------
def voxel_center_nm(info: Mapping) -> list[float] | None:
    """Centre of a precomputed volume (its ``info`` document) in nm, or ``None``."""
    try:
        scale = info["scales"][0]
        off = scale.get("voxel_offset", [0, 0, 0])
        return [(float(o) + float(n) / 2.0) * float(r) for o, n, r in zip(off, scale["size"], scale["resolution"])]
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def voxel_extent_nm(info: Mapping) -> list[float] | None:
    """Size of a precomputed volume (its ``info`` document) in nm, or ``None``."""
    try:
        scale = info["scales"][0]
        return [float(n) * float(r) for n, r in zip(scale["size"], scale["resolution"])]
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def dimensions_for(resolution_nm: Iterable[float]) -> dict:
    """Neuroglancer ``dimensions`` for x, y, z voxels of ``resolution_nm``."""
    return {axis: [float(r) * 1e-9, "m"] for axis, r in zip("xyz", resolution_nm)}


def build_state(
    image_source: str | None,
    segmentation_source: str | None,
    resolution_nm: Iterable[float],
    center_nm: Iterable[float] | None = None,
    layout: str = "xy-3d",
    extent_nm: Iterable[float] | None = None,
) -> dict:
    """A starting state: image and segmentation layers, dimensions at ``resolution_nm``, centred.

    Graphene segmentation sources get ``middleauth+`` so the embedded viewer asks Python for
    the token (see :mod:`cavewidgets.viewer.credentials`).
    """
    resolution_nm = [float(r) for r in resolution_nm]
    state: dict[str, Any] = {"dimensions": dimensions_for(resolution_nm), "layers": [], "layout": layout}
    if center_nm is not None:
        state["position"] = [float(c) / r for c, r in zip(center_nm, resolution_nm)]
    if extent_nm is not None:  # the 3D view fits the volume (its height in the smallest voxel size)
        state["projectionScale"] = max(extent_nm) / min(resolution_nm) * 1.15
    if image_source:
        state["layers"].append({"type": "image", "source": image_source, "name": IMAGE_LAYER})
    if segmentation_source:
        src = middleauth_source(segmentation_source) if segmentation_source.startswith("graphene://") else segmentation_source
        state["layers"].append({"type": "segmentation", "source": src, "segments": [], "name": SEGMENTATION_LAYER})
    if state["layers"]:
        state["selectedLayer"] = {"layer": state["layers"][-1]["name"]}
    return state


def state_from_client(client, layout: str = "xy-3d", fetch_center: bool = True) -> dict:
    """The datastack's image and segmentation layers from ``client.info``, centred on the volume."""
    info = client.info
    image = info.image_source()
    seg = info.segmentation_source()
    resolution = [float(r) for r in info.viewer_resolution()]
    info_doc = _image_info(image) if fetch_center and image else None
    center = voxel_center_nm(info_doc) if info_doc else None
    extent = voxel_extent_nm(info_doc) if info_doc else None
    return build_state(image, seg, resolution, center, layout=layout, extent_nm=extent)


def _image_info(image_source: str) -> dict | None:
    m = re.match(r"^precomputed://(https?://.+?)/?$", image_source)
    if m is None:
        return None
    try:
        import requests

        r = requests.get(m.group(1) + "/info", timeout=5)
        r.raise_for_status()
        return r.json()
    except Exception:  # the viewer then picks its own starting point
        return None


def coerce_state(state: Any) -> dict:
    """A state dict from a dict, a neuroglancer URL / JSON string, a neuroglancer ``ViewerState``
    or an nglui ``ViewerState``; a clear error otherwise."""
    if isinstance(state, Mapping):
        return json.loads(json.dumps(state))
    if isinstance(state, str):
        text = state.strip()
        if text.startswith("{"):
            return json.loads(text)
        if "#!" in text:
            import neuroglancer

            return neuroglancer.parse_url(text).to_json()
        raise ValueError("state must be a dict, a neuroglancer URL (with '#!' followed by the state) or a JSON string")
    for attr in ("to_json", "to_dict"):  # neuroglancer.ViewerState / nglui ViewerState
        fn = getattr(state, attr, None)
        if callable(fn):
            out = fn()
            if isinstance(out, str):
                out = json.loads(out)
            if isinstance(out, Mapping):
                return json.loads(json.dumps(out))
    raise TypeError(f"cannot use a {type(state).__name__} as a neuroglancer state (pass a dict, a URL or a ViewerState)")


# ---------- reading and writing ----------
def _layers(state: Mapping) -> list:
    layers = state.get("layers") or []
    if isinstance(layers, Mapping):  # the older {"name": {...}} form
        return [dict(v, name=k) for k, v in layers.items()]
    return layers


def segmentation_layer_name(state: Mapping, preferred: str | None = None) -> str | None:
    """``preferred`` if it is a segmentation layer, else the first segmentation layer's name."""
    names = [l.get("name") for l in _layers(state) if l.get("type") == "segmentation"]
    if preferred in names:
        return preferred
    return names[0] if names else None


def _find_layer(state: Mapping, name: str) -> dict | None:
    for layer in _layers(state):
        if layer.get("name") == name:
            return layer
    return None


def parse_id(value: Any) -> int:
    """An exact uint64 id from an int, numpy integer or decimal string; ``ValueError`` otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"not a segment id: {value!r}")
    if isinstance(value, float):
        if not value.is_integer() or value > 2**53:
            raise ValueError(f"segment id {value!r} is a float: pass ids as ints (floats cannot hold uint64 ids)")
        value = int(value)
    try:
        out = int(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ValueError(f"not a segment id: {value!r}") from None
    if not 0 <= out <= MAX_UINT64:
        raise ValueError(f"segment id {out} is outside the uint64 range")
    return out


GRAPHENE_LAYER_BITS = 8  # PyChunkedGraph: the id's top 8 bits hold its layer (1 = supervoxel)


def is_supervoxel(segment_id: int) -> bool:
    """True for a graphene layer-1 id (a supervoxel, not a root)."""
    return segment_id >> (64 - GRAPHENE_LAYER_BITS) == 1


def is_graphene_layer(state: Mapping, layer: str | None = None) -> bool:
    name = segmentation_layer_name(state, layer)
    found = _find_layer(state, name) if name else None
    return any(s.startswith("graphene://") for s in _layer_sources(found or {}))


def segments_of(state: Mapping, layer: str | None = None, roots_only: bool = False) -> set[int]:
    """Visible segment ids of a segmentation layer (neuroglancer writes them as strings;
    ``"!id"`` marks one listed but hidden). ``roots_only``: on a graphene layer leave out
    supervoxel ids, which neuroglancer lists for a moment after a click until the chunkedgraph
    has answered with their root."""
    name = segmentation_layer_name(state, layer)
    found = _find_layer(state, name) if name else None
    drop_sv = roots_only and is_graphene_layer(state, name)
    out: set[int] = set()
    for s in (found or {}).get("segments") or []:
        text = str(s)
        if text.startswith("!"):
            continue
        value = parse_id(text)
        if drop_sv and is_supervoxel(value):
            continue
        out.add(value)
    return out


def with_segments(state: Mapping, ids: Iterable[int], layer: str | None = None, colors: Mapping[int, str] | None = None) -> dict:
    """A copy of ``state`` whose segmentation layer shows exactly ``ids`` (hidden entries kept
    hidden unless now shown)."""
    name = segmentation_layer_name(state, layer)
    if name is None:
        raise ValueError("the viewer has no segmentation layer to select segments in")
    out = copy.deepcopy(dict(state))
    target = _find_layer(out, name)
    ids = sorted({parse_id(i) for i in ids})
    keep_hidden = [s for s in target.get("segments") or [] if str(s).startswith("!") and parse_id(str(s)[1:]) not in set(ids)]
    target["segments"] = [str(i) for i in ids] + keep_hidden
    if colors:
        seg_colors = dict(target.get("segmentColors") or {})
        seg_colors.update({str(parse_id(k)): v for k, v in colors.items()})
        target["segmentColors"] = seg_colors
    return out


def position_nm(state: Mapping, fallback_resolution: Iterable[float] | None = None) -> tuple[float, ...] | None:
    """The view centre in nm (``None`` until the viewer knows one)."""
    pos = state.get("position")
    if not pos:
        return None
    scales = _scales_nm(state, fallback_resolution, len(pos))
    return tuple(float(p) * s for p, s in zip(pos, scales))


def voxels_from_nm(state: Mapping, pos_nm: Iterable[float], fallback_resolution: Iterable[float] | None = None) -> list[float]:
    pos_nm = [float(p) for p in pos_nm]
    scales = _scales_nm(state, fallback_resolution, len(pos_nm))
    if len(pos_nm) != len(scales):
        raise ValueError(f"position needs {len(scales)} coordinates (nm), got {len(pos_nm)}")
    return [p / s for p, s in zip(pos_nm, scales)]


_UNIT_NM = {"m": 1e9, "mm": 1e6, "um": 1e3, "µm": 1e3, "nm": 1.0, "pm": 1e-3}


def _scales_nm(state: Mapping, fallback_resolution, n: int) -> list[float]:
    dims = state.get("dimensions")
    if isinstance(dims, Mapping) and dims:
        out = []
        for value in dims.values():
            scale, unit = value
            out.append(float(scale) * _UNIT_NM.get(unit, 1e9))
        return out
    if fallback_resolution is not None:
        return [float(r) for r in fallback_resolution]
    return [1.0] * n


# ---------- secrets ----------
def scrub_tokens(value: Any, tokens: Iterable[str]) -> Any:
    """A copy of ``value`` (any JSON) with every token removed: token query parameters dropped
    from URLs and any remaining occurrence of a known token replaced."""
    tokens = [t for t in tokens if t]

    def clean(s: str) -> str:
        if "?" in s or "&" in s:
            s = _drop_token_params(s)
        for t in tokens:
            if t in s:
                s = s.replace(t, "REDACTED")
        return s

    def walk(x):
        if isinstance(x, str):
            return clean(x)
        if isinstance(x, Mapping):
            return {clean(k) if isinstance(k, str) else k: walk(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [walk(v) for v in x]
        return x

    return walk(value)


def _drop_token_params(s: str) -> str:
    pattern = r"([?&])(?:%s)=[^&#\s\"']*&?" % "|".join(_TOKEN_PARAMS)
    out = re.sub(pattern, lambda m: m.group(1), s)
    return re.sub(r"[?&]+(?=$|#)", "", out)


def to_url(state: Mapping, site: str | None = None) -> str:
    """A neuroglancer link carrying ``state`` in its fragment."""
    site = (site or DEFAULT_SITE).rstrip("/") + "/"
    text = json.dumps(state, separators=(",", ":"))
    return f"{site}#!{urllib.parse.quote(text, safe='')}"
