"""Viewer: a live neuroglancer inside the cell output, its state a Python object.

neuroglancer runs in the widget's own front-end (built from the npm package, sent to the page
once over the widget channel); the kernel keeps the typed ``neuroglancer`` viewer state
(:class:`~.merge.MergingViewer`, no HTTP server). State, actions, screenshots, credentials and
the requests for kernel-hosted data all travel over the widget's comm (:mod:`.channel`,
:mod:`.proxy`), so the viewer works wherever the browser reaches only the notebook server:
Colab, JupyterHub, Binder, VS Code remote. This class mirrors what users care about into
traitlets, on the kernel's thread.

Long file: the Viewer's public surface (traits with their validators, segments, position, zoom,
sharing, display and closing) is one class users read top to bottom; state batching, annotations,
keys and picking already live in their own mixins.
"""

from __future__ import annotations

import logging
import math
import numbers
import threading
import weakref
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import anywidget
import numpy as np
import traitlets as t

from .._checks import check_height, choice_trait
from .._ids import parse_root_id, parse_root_ids
from . import annotations as ann
from . import capture, credentials, fallback, keys, picking
from . import state as st
from .channel import Channel, bundle
from .proxy import KernelProxy, is_loopback
from .batch import StateMethods

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent.parent / "static"
LAYOUTS = ("xy", "yz", "xz", "3d", "4panel", "xy-3d", "yz-3d", "xz-3d", "4panel-alt")

# viewers created by each cell: re-running the cell closes the ones from its previous run
_BY_CELL: dict[str, list[tuple[str, weakref.ref]]] = {}


def _run_in_kernel_thread(fn: Callable[[], None]) -> Callable[[], None]:
    """A thread-safe scheduler onto the kernel's main loop (inline when there is no kernel)."""
    try:
        from IPython import get_ipython

        kernel = getattr(get_ipython(), "kernel", None)
        loop = getattr(kernel, "io_loop", None)
    except Exception:
        loop = None
    if loop is None:
        return fn
    main = threading.main_thread()

    def schedule():
        if threading.current_thread() is main:
            fn()
        else:
            loop.add_callback(fn)

    return schedule


def _id_list(ids) -> list:
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
        return [ids]
    return list(ids)


def _segment_ids(ids) -> list[int]:
    """Exact segment ids from one id or many; arrays and long lists without a Python loop per id
    (a 10**6-element list is refused by the count check in a moment, not parsed for seconds)."""
    if isinstance(ids, np.ndarray) and ids.ndim != 1:
        raise ValueError(f"segment ids must be a flat list or 1-d array, got an array of shape {ids.shape}")
    return parse_root_ids(ids if isinstance(ids, np.ndarray) else _id_list(ids), what="segment ids").tolist()


def _coordinates(position) -> list[float]:
    """(x, y, z) as finite floats; a clear ``ValueError`` otherwise."""
    if isinstance(position, (str, bytes)) or not isinstance(position, Iterable):
        raise ValueError(f"position needs 3 coordinates (x, y, z in nm), got {position!r}"[:160])
    try:
        out = [float(v) for v in position]
    except (TypeError, ValueError):
        raise ValueError(f"position needs 3 numbers (x, y, z in nm), got {position!r}"[:160]) from None
    if len(out) != 3:
        raise ValueError(f"position needs 3 coordinates (x, y, z in nm), got {len(out)}")
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"position must be finite numbers, got {out}")
    return out


def _check_zoom(nm_per_pixel) -> None:
    if isinstance(nm_per_pixel, bool) or not isinstance(nm_per_pixel, numbers.Real) or not math.isfinite(nm_per_pixel) or nm_per_pixel <= 0:
        raise ValueError(f"zoom must be a positive number of nm per screen pixel, got {nm_per_pixel!r}")


class Viewer(StateMethods, ann.AnnotationMethods, keys.KeyMethods, picking.PickMethods, anywidget.AnyWidget):
    """Neuroglancer in the notebook, two-way: ``segments``, ``position``, ``layout``, ``state``.

    Example::

        client = cavewidgets.sample.client()
        viewer = cavewidgets.Viewer(client)          # image + segmentation, centred
        viewer                                       # shows it (resize by dragging the bottom bar)
        viewer.segments = {864691135808684573}       # exact uint64 root ids (Python ints)
        viewer.go_to([120_000, 90_000, 20_000])      # nm
        viewer.on_select(lambda root_id, position_nm: print(root_id))
        viewer.state                                 # token-free dict; viewer.url() a link
        viewer.share()                               # short link via the datastack's state service
        viewer.add_points(df)                        # pt_position (nm), pt_root_id -> "points" layer
        viewer.annotate("clicks"); viewer.annotations("clicks")   # drawn in the browser -> DataFrame
        viewer.screenshot()                          # PNG bytes (the widget must be displayed)
        cavewidgets.Viewer(client, state=vs)         # vs: a dict, a neuroglancer URL, a link to the
                                                     # client's state service, or an nglui ViewerState

    ``position`` is in nanometres (the viewer's voxel coordinates times its dimensions).
    Data the kernel hosts (the sample datastack on its loopback) reaches the browser over the
    widget channel; a real CAVE is read by the browser directly, its token handed to neuroglancer
    through its credentials path only (never state, URLs, traits or the saved notebook).
    ``via_kernel=True`` sends every request through the kernel: the token never reaches the
    browser at all.

    Displayed, the viewer also leaves a small static snapshot in the notebook (last screenshot,
    layer list, token-free link; see :mod:`cavewidgets.viewer.fallback`), hidden while the live
    viewer runs and shown when the notebook is reopened without its kernel or exported to HTML.
    """

    _esm = STATIC / "viewer.js"
    _css = STATIC / "viewer.css"

    height = t.Int(600).tag(sync=True)
    #: mouse wheel: "click" (the page scrolls until a click into the view or Ctrl/⌘) or "always"
    wheel = choice_trait(["click", "always"], "click").tag(sync=True)
    #: origins whose requests the kernel answers besides loopback hosts (["*"]: all, via_kernel)
    kernel_origins = t.List(t.Unicode()).tag(sync=True)
    #: which neuroglancer build the page needs (loaded once per page, shared by all viewers)
    _ng_bundle_hash = t.Unicode("").tag(sync=True)
    #: pairs the live view with its saved-notebook snapshot (which it hides while it runs)
    _fallback_key = t.Unicode("").tag(sync=True)

    #: visible root ids of the segmentation layer (exact Python ints; not synced: ids > 2^53)
    segments = t.Set()
    #: most segments Python may show at once (each visible segment makes the browser load its mesh)
    max_segments = 10_000
    #: view centre in nm (None until known)
    position = t.Tuple(allow_none=True, default_value=None)

    def __init__(self, client=None, state: Any = None, height: int = 600, *, segmentation_layer: str | None = None,
                 via_kernel: bool = False, **kwargs):
        from .merge import MergingViewer

        height = check_height(height, "Viewer")
        if client is not None and not all(hasattr(client, a) for a in ("info", "auth", "state")):
            raise TypeError(f"client must be a caveclient.CAVEclient, not a {type(client).__name__}")
        if not isinstance(via_kernel, bool):
            raise TypeError(f"via_kernel must be True or False, got {via_kernel!r}")
        self._client = client
        self._select_callbacks: list[Callable] = []
        self._annotation_callbacks: list[Callable] = []
        self._ann_snapshot: dict = {}
        self._from_browser = False
        self._closed = False
        self._resolution = None
        self._picks: dict[int, tuple | None] = {}  # root -> where it was double-clicked (nm)
        origins: list[str] = []
        try:  # nothing stays registered when the state or the client is unusable
            if client is not None:
                origins = self._register_client(client)
            if state is not None:
                built = st.use_middleauth(st.coerce_state(state, client), origins)
            elif client is not None:
                built = st.state_from_client(client)
            else:
                built = {"layers": [], "layout": "xy-3d"}
        except Exception:
            credentials.unregister_owner(id(self))
            raise
        built = st.scrub_tokens(built, self._tokens())
        self._seg_layer = st.segmentation_layer_name(built, segmentation_layer)
        credentials.install()
        self._ng = MergingViewer()  # browser edits racing a Python push are merged, not dropped
        self._ng.set_state(built)
        self._shooter = capture.Shooter(self._ng)
        self._proxy = KernelProxy([o for o in origins if is_loopback(o)], via_kernel=via_kernel)
        super().__init__(height=height, kernel_origins=self._proxy.browser_origins(), _ng_bundle_hash=bundle()[0], **kwargs)
        self._thumbnails = capture.Thumbnails(self, width=fallback.MAX_WIDTH)
        self._channel = Channel(self, self._ng, fetch=self._proxy.fetch, credentials=self._proxy.credentials,
                                thumbnail=self._thumbnails.answered)
        self._snapshot = fallback.Snapshot(self, _run_in_kernel_thread)
        self._fallback_key = self._snapshot.key
        self._sync_from_ng()
        self.observe(self._push_segments, names="segments")
        self.observe(self._push_position, names="position")
        ref = weakref.ref(self)

        def changed():  # neuroglancer's thread (browser POSTs) or ours (txn): must not block
            me = ref()
            if me is not None and not me._closed:
                me._schedule()

        self._changed = changed
        self._schedule = _run_in_kernel_thread(lambda: (ref() and ref()._sync_from_ng()))
        self._key_scheduler = _run_in_kernel_thread
        self._ng.shared_state.add_changed_callback(changed)
        self._install_pick()
        self._claim_cell()

    # ---------- credentials ----------
    def _register_client(self, client) -> list[str]:
        origins = set()
        server = getattr(client, "server_address", None) or getattr(client.info, "server_address", None)
        if server:
            origins.add(credentials._origin_of(server))
        try:
            for src in (client.info.segmentation_source(), client.info.image_source()):
                origin = st.source_origin(src or "")
                if origin:
                    origins.add(origin)
        except Exception:
            pass
        get_token = lambda c=client: getattr(c.auth, "token", None)
        for origin in origins:
            credentials.register_origin(origin, get_token, id(self))
        return sorted(origins)

    def _tokens(self) -> list[str]:
        tokens = credentials.known_tokens()
        if self._client is not None:
            tok = getattr(self._client.auth, "token", None)
            if tok:
                tokens.append(tok)
        return tokens

    # ---------- state ----------
    @property
    def state(self) -> dict:
        """The current neuroglancer state as a JSON-ready dict, without any token."""
        return st.scrub_tokens(self._raw_state(), self._tokens())

    @state.setter
    def state(self, value: Any) -> None:
        # validated in full before anything changes
        new = st.scrub_tokens(st.use_middleauth(st.coerce_state(value, self._client), self._origins()), self._tokens())
        self._replace_state(new)
        self._seg_layer = st.segmentation_layer_name(new, self._seg_layer)
        self._sync_from_ng()

    def _origins(self) -> list[str]:
        return credentials.origins_of(id(self))

    def url(self, target_site: str | None = None) -> str:
        """A neuroglancer link with the current state (token-free) for ``target_site``
        (default: the datastack's viewer site, else neuroglancer-demo)."""
        site = target_site
        if site is None and self._client is not None:
            try:
                site = self._client.info.viewer_site()
            except Exception:
                site = None
        return st.to_url(self.state, site)

    def share(self, target_site: str | None = None) -> str:
        """Post the token-free ``state`` to the datastack's JSON state service and return a short
        link to it (on ``target_site``, default the datastack's viewer site).

        Example::

            link = viewer.share()   # 'https://.../#!middleauth+https://.../nglstate/api/v1/123'
        """
        if self._client is None:
            raise RuntimeError("share() needs a CAVEclient: create the viewer with Viewer(client) to post its state to the datastack's state service")
        state_id = self._client.state.upload_state_json(self.state)
        site = target_site
        if site is None:
            try:
                site = self._client.info.viewer_site()
            except Exception:
                site = None
        # target_site given explicitly: caveclient would otherwise fetch the site's version.json
        link = self._client.state.build_neuroglancer_url(state_id, ngl_url=(site or st.DEFAULT_SITE).rstrip("/"), target_site="mainline")
        self._snapshot.shared(link)
        return link

    @property
    def layout(self) -> str:
        """The panel layout: ``"xy"``, ``"3d"``, ``"xy-3d"``, ``"4panel"``, ..."""
        value = self._raw_state().get("layout", "4panel")
        return value if isinstance(value, str) else value.get("type", "4panel")

    @layout.setter
    def layout(self, value: str) -> None:
        if not isinstance(value, str) or value not in LAYOUTS:
            raise ValueError(f"unknown layout {value!r}; use one of {', '.join(LAYOUTS)}")
        self._update(lambda s: s.__setitem__("layout", value))

    @property
    def zoom(self) -> float | None:
        """2D panel zoom in nm per screen pixel (``None`` until known)."""
        raw = self._raw_state()
        scale = raw.get("crossSectionScale")
        if scale is None:
            return None
        return float(scale) * min(st._scales_nm(raw, self._fallback_resolution(), 3))

    @zoom.setter
    def zoom(self, nm_per_pixel: float) -> None:
        _check_zoom(nm_per_pixel)
        fallback = self._fallback_resolution()
        self._update(lambda s: s.__setitem__("crossSectionScale", float(nm_per_pixel) / min(st._scales_nm(s, fallback, 3))))

    @property
    def segmentation_layer(self) -> str | None:
        """The name of the segmentation layer ``segments`` reads and writes."""
        self._seg_layer = st.segmentation_layer_name(self._raw_state(), self._seg_layer)
        return self._seg_layer

    # ---------- segments ----------
    @t.validate("segments")
    def _validate_segments(self, proposal):
        out = set(parse_root_ids(list(proposal["value"]), what="segment ids", allow_zero=self._from_browser).tolist())
        if not self._from_browser:
            self._check_count(len(out))
        return out

    def _check_count(self, n: int) -> None:
        if n > self.max_segments:
            raise ValueError(
                f"{n:,} segments is more than the viewer shows at once ({self.max_segments:,}: each visible "
                "segment loads its mesh in the browser); pass fewer, or raise viewer.max_segments"
            )

    def _push_segments(self, change) -> None:
        if self._from_browser:
            return
        self._write_segments(change["new"])

    def _write_segments(self, ids: Iterable[int], colors: Mapping[int, str] | None = None) -> None:
        layer = self.segmentation_layer
        ids = list(ids)
        self._update(lambda s: st.with_segments(s, ids, layer, colors))

    def add_segments(self, ids: Iterable[int] | int, colors: Any = None) -> None:
        """Show more segments (exact ints or decimal strings); ``colors``: one CSS colour for
        all, a list parallel to ``ids``, or a dict id → colour."""
        parsed = _segment_ids(ids)
        color_map = None
        if colors is not None:
            if isinstance(colors, str):
                color_map = {i: colors for i in parsed}
            elif isinstance(colors, Mapping):
                color_map = {parse_root_id(k, what="colors key (a segment id)"): v for k, v in colors.items()}
            else:
                colors = list(colors)
                if len(colors) != len(parsed):
                    raise ValueError(f"{len(colors)} colors for {len(parsed)} ids")
                color_map = dict(zip(parsed, colors))
            bad = [c for c in color_map.values() if not isinstance(c, str) or not c.strip()]
            if bad:
                raise ValueError(f"colors must be CSS colour strings such as '#ff00ff', got {bad[0]!r}")
        current = st.segments_of(self._raw_state(), self.segmentation_layer)
        self._check_count(len(current | set(parsed)))
        self._write_segments(current | set(parsed), color_map)
        self._sync_from_ng()

    def remove_segments(self, ids: Iterable[int] | int) -> None:
        """Hide segments (ids not shown are ignored)."""
        drop = set(_segment_ids(ids))
        current = st.segments_of(self._raw_state(), self.segmentation_layer)
        self._write_segments(current - drop)
        self._sync_from_ng()

    # ---------- position ----------
    @t.validate("position")
    def _validate_position(self, proposal):
        value = proposal["value"]
        if value is None:
            return None
        try:
            return tuple(_coordinates(value))
        except ValueError as e:
            raise t.TraitError(str(e)) from None

    def _push_position(self, change) -> None:
        if self._from_browser or change["new"] is None:
            return
        self.go_to(change["new"])

    def go_to(self, position_nm: Iterable[float], zoom: float | None = None) -> None:
        """Centre the view on ``position_nm`` (x, y, z in nm); ``zoom``: nm per screen pixel in 2D."""
        position_nm = _coordinates(position_nm)
        if zoom is not None:
            _check_zoom(zoom)
        fallback = self._fallback_resolution()

        def move(s):
            if not s.get("dimensions") and fallback is not None:
                s["dimensions"] = st.dimensions_for(fallback)
            s["position"] = st.voxels_from_nm(s, position_nm, fallback)
            if zoom is not None:
                s["crossSectionScale"] = float(zoom) / min(st._scales_nm(s, fallback, 3))

        self._update(move)
        self._sync_from_ng()

    def _fallback_resolution(self):
        if self._resolution is None and self._client is not None:
            try:
                self._resolution = [float(r) for r in self._client.info.viewer_resolution()]
            except Exception:
                self._resolution = None
        return self._resolution

    def _sync_from_ng(self) -> None:
        """Mirror neuroglancer's state into the traits (kernel thread; after a batch, not in it)."""
        if not hasattr(self, "_ng") or self._batching():
            return
        raw = self._raw_state()
        self._check_annotations(raw)
        try:
            segments = st.segments_of(raw, self._seg_layer, roots_only=True)
        except ValueError:
            segments = set(self.segments)
        pos = st.position_nm(raw, self._fallback_resolution())
        added = segments - set(self.segments)
        changed_segments = segments != set(self.segments)
        self._from_browser = True
        try:
            if changed_segments:
                self.segments = segments
            if pos != self.position:
                self.position = pos
        finally:
            self._from_browser = False
        self._snapshot.changed()
        if changed_segments and added:
            from_browser = self._pending_browser_change(raw)
            for root in sorted(added):
                if root in self._picks:
                    where = self._picks.pop(root)
                elif from_browser:
                    where = pos  # selected another way (layer panel, a supervoxel resolved in the browser)
                else:
                    continue  # set from Python
                for cb in list(self._select_callbacks):
                    try:
                        cb(root, where)
                    except Exception:
                        log.exception("on_select callback failed")

    def _pending_browser_change(self, raw) -> bool:
        # a change whose generation came from a browser client ("<client id>/<generation>")
        _raw, gen = self._ng.shared_state.raw_state_and_generation
        return "/" in str(gen)

    # ---------- screenshot ----------
    def screenshot(self, timeout: float = 30.0) -> bytes:
        """A PNG of what the viewer shows now, taken by the browser (so the widget must be
        displayed and connected); ``TimeoutError`` if no browser answers within ``timeout`` s.

        Example::

            png = viewer.screenshot()
            IPython.display.Image(png)
        """
        if self._closed:
            raise RuntimeError("this viewer is closed")
        png = self._shooter.png(timeout)
        self._snapshot.took(png)
        return png

    # ---------- display ----------
    def _ipython_display_(self, **kwargs) -> None:
        """The live view, then the snapshot a saved notebook shows without the kernel."""
        from IPython.display import display

        bundle = self._repr_mimebundle_(**kwargs)
        if isinstance(bundle, tuple):  # (data, metadata)
            bundle = bundle[0]
        if not bundle:
            return
        bundle = dict(bundle)
        # text/plain would show in an HTML export (which skips widget views): the snapshot says it
        bundle["text/plain"] = "cavewidgets.Viewer (live neuroglancer; needs its kernel)"
        display(bundle, raw=True)
        self._snapshot.display()

    # ---------- lifecycle ----------
    def _claim_cell(self) -> None:
        try:
            from IPython import get_ipython

            ip = get_ipython()
            header = ip.kernel.get_parent("shell") if hasattr(ip.kernel, "get_parent") else ip.parent_header
            cell_id = (header.get("metadata") or {}).get("cellId")
            msg_id = (header.get("header") or {}).get("msg_id")
        except Exception:
            return
        if not cell_id:
            return
        keep = []
        for run, ref in _BY_CELL.get(cell_id, []):
            other = ref()
            if other is None or other._closed:
                continue
            if run != msg_id:
                other.close()
            else:
                keep.append((run, ref))
        keep.append((msg_id, weakref.ref(self)))
        _BY_CELL[cell_id] = keep

    def close(self) -> None:
        """Stop the viewer's channel, drop its credentials registration; close the widget."""
        if not getattr(self, "_closed", True):
            self._closed = True
            try:
                self._ng.shared_state.remove_changed_callback(self._changed)
            except Exception:
                pass
            credentials.unregister_owner(id(self))
            if hasattr(self, "_snapshot"):
                self._snapshot.close()
            if hasattr(self, "_channel"):
                self._channel.close()
        super().close()

    def __del__(self):
        try:
            credentials.unregister_owner(id(self))
        except Exception:
            pass
