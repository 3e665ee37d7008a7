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

from .._ids import parse_root_id

IMAGE_LAYER = "img"
SEGMENTATION_LAYER = "seg"
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


def coerce_state(state: Any, client=None) -> dict:
    """A validated state dict from a dict, a neuroglancer URL (state in the fragment, or a link
    to a state on the datastack's state service, fetched with ``client``), a JSON string, a
    neuroglancer ``ViewerState`` or an nglui ``ViewerState``; a clear ``ValueError`` /
    ``TypeError`` otherwise.

    Example::

        coerce_state("https://ngl.example.org/#!%7B%22layers%22%3A%5B%5D%7D")   # {"layers": []}
        coerce_state(nglui.statebuilder.ViewerState(client=client).add_layers_from_client())
    """
    if isinstance(state, Mapping):
        try:
            out = json.loads(json.dumps(state))
        except (TypeError, ValueError) as e:
            raise TypeError(f"the state dict must hold only JSON values (dicts, lists, strings, numbers): {e}") from None
    elif isinstance(state, str):
        out = _state_from_text(state.strip(), client)
    else:
        out = None
        for attr in ("to_json", "to_dict"):  # neuroglancer.ViewerState / nglui ViewerState
            fn = getattr(state, attr, None)
            if callable(fn):
                out = fn()
                if isinstance(out, str):
                    out = json.loads(out)
                if isinstance(out, Mapping):
                    out = json.loads(json.dumps(out))
                    break
                out = None
        if out is None:
            raise TypeError(f"cannot use a {type(state).__name__} as a neuroglancer state (pass a dict, a neuroglancer URL or a ViewerState)")
    return validate_state(out)


_STATE_LINK = re.compile(r"^(?:middleauth\+)?(https?://[^/\s]+)((?:/\S*?)?/nglstate/api/v\d+/(\d+))/?$")


def _state_from_text(text: str, client) -> dict:
    if text.startswith("{"):
        try:
            return json.loads(text)
        except ValueError as e:
            raise ValueError(f"the state string is not valid JSON: {e}") from None
    fragment = text.split("#!", 1)[1] if "#!" in text else text
    if fragment.startswith(("{", "%7B", "%7b")):
        import neuroglancer

        try:
            return neuroglancer.parse_url(text if "#!" in text else "x#!" + fragment).to_json()
        except Exception as e:
            raise ValueError(f"could not read the neuroglancer state in this URL: {type(e).__name__}: {e}") from None
    if _STATE_LINK.match(fragment):
        return _fetch_state_link(fragment, client)
    raise ValueError(
        "state must be a dict, a neuroglancer URL (with '#!' followed by the state or by a link to "
        "the datastack's state service), a JSON string or a ViewerState; got " + repr(text[:120])
    )


def _fetch_state_link(link: str, client) -> dict:
    """The state behind a state-service link, fetched only from ``client``'s own server (the
    client's token goes with the request, so never to another host)."""
    m = _STATE_LINK.match(link)
    host, state_id = m.group(1), int(m.group(3))
    if client is None:
        raise ValueError(f"this link points to a state stored at {host}: create the viewer with a CAVEclient for that server, Viewer(client, state=link), or pass the state dict")
    own = getattr(client.state, "server_address", None) or ""
    if host.rstrip("/") != own.rstrip("/"):
        raise ValueError(f"this link points to a state stored at {host}, but the viewer's client uses {own or 'another server'}; cavewidgets only fetches states from the client's own server (its token goes with the request)")
    out = client.state.get_state_json(state_id)
    if not isinstance(out, Mapping):
        raise ValueError(f"the state service returned a {type(out).__name__} for state {state_id}, not a state")
    return json.loads(json.dumps(out))


def validate_state(state: Any) -> dict:
    """``state`` if the parts cavewidgets reads are well formed (layers with names and types,
    numeric position, dimensions, uint64 segment ids); else a ``ValueError`` saying what is wrong."""
    if not isinstance(state, dict):
        raise ValueError(f"a neuroglancer state is a JSON object (dict), not a {type(state).__name__}")
    layers = state.get("layers", [])
    if not isinstance(layers, (list, Mapping)):
        raise ValueError(f"state['layers'] must be a list of layers, not a {type(layers).__name__}")
    names = set()
    for i, layer in enumerate(_layers(state)):
        if not isinstance(layer, Mapping):
            raise ValueError(f"layer {i} is a {type(layer).__name__}, not a dict")
        name, kind = layer.get("name"), layer.get("type")
        if not isinstance(name, str) or not name:
            raise ValueError(f"layer {i} has no name")
        if name in names:
            raise ValueError(f"two layers are named {name!r}")
        names.add(name)
        if kind is not None and not isinstance(kind, str):
            raise ValueError(f"layer {name!r}: type must be a string, got {kind!r}")
        if layer.get("source") is not None and not _layer_sources(layer):
            raise ValueError(f"layer {name!r}: source must be a URL string, a {{'url': ...}} dict or a list of them")
        if kind == "segmentation":
            segments = layer.get("segments") or []
            if not isinstance(segments, list):
                raise ValueError(f"layer {name!r}: segments must be a list of ids")
            for v in segments:
                try:
                    parse_id(v[1:] if isinstance(v, str) and v.startswith("!") else v)
                except ValueError as e:
                    raise ValueError(f"layer {name!r}: {e}") from None
    pos = state.get("position")
    if pos is not None and (not isinstance(pos, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pos)):
        raise ValueError(f"state['position'] must be a list of numbers, got {pos!r}"[:200])
    dims = state.get("dimensions")
    if dims is not None:
        ok = isinstance(dims, Mapping) and all(
            isinstance(v, list) and len(v) == 2 and isinstance(v[0], (int, float)) and v[0] > 0 and isinstance(v[1], str) for v in dims.values()
        )
        if not ok:
            raise ValueError(f"state['dimensions'] must map axis names to [scale, unit], got {dims!r}"[:200])
    if "layout" in state and not isinstance(state["layout"], (str, Mapping)):
        raise ValueError(f"state['layout'] must be a layout name such as 'xy-3d', got {state['layout']!r}")
    try:  # what neuroglancer itself checks (layer types)
        import neuroglancer

        [l.layer for l in neuroglancer.ViewerState(state).layers]
    except Exception as e:
        raise ValueError(f"not a valid neuroglancer state: {type(e).__name__}: {e}") from None
    return state


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
    """An exact uint64 id from a state or a table column, by :mod:`cavewidgets._ids`' rules
    (0, "no segment", allowed: it is data here); ``ValueError`` otherwise.

    Example::

        parse_id("864691135808684573")   # 864691135808684573
        parse_id(-1)                     # ValueError: outside the uint64 range
    """
    return parse_root_id(value, what="segment id", allow_zero=True)


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
