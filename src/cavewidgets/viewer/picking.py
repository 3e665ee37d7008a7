"""Segment picking in the embedded neuroglancer, answered by Python.

A double-click in any panel toggles the segment under the mouse, as neuroglancer's own
``select`` does, but through Python so the click position is known: graphene supervoxels are
resolved to their root with the CAVEclient (else by the browser), and ``on_select`` callbacks get
the root and where the user clicked, in nm. :class:`PickMethods` is mixed into the Viewer; it
uses the viewer's neuroglancer state (``_ng``), client and state helpers.

Example::

    viewer.on_select(lambda root, pos: print(root, pos))
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from .._checks import check_callback
from . import state as st

log = logging.getLogger(__name__)


class PickMethods:
    """``on_select`` and the double-click that toggles a segment (mixed into the Viewer)."""

    def on_select(self, callback: Callable[[int, tuple | None], Any], remove: bool = False) -> None:
        """Call ``callback(root_id, position_nm)`` when the user selects a segment in the browser
        (once per newly shown id). ``position_nm`` is where the user double-clicked, in nm; for
        a segment shown another way (the layer panel) it is the view centre."""
        check_callback(callback, "Viewer", "on_select")
        if remove:
            self._select_callbacks = [c for c in self._select_callbacks if c is not callback]
        else:
            self._select_callbacks.append(callback)

    def _install_pick(self) -> None:
        """Double-click in any panel toggles the segment under the mouse, as neuroglancer's own
        ``select`` does, but through Python so the click position is known: graphene
        supervoxels are resolved to their root with the CAVEclient (else by the browser)."""
        self._ng.actions.add("cw-select", self._on_pick_action)
        with self._ng.config_state.txn() as c:
            c.input_event_bindings.data_view["dblclick0"] = "cw-select"

    def _on_pick_action(self, action_state) -> None:  # the comm's thread: no blocking
        from neuroglancer.viewer_config_state import SegmentIdMapEntry

        layer = self._seg_layer
        selected = action_state.selected_values.get(layer) if layer else None
        value = getattr(selected, "value", None)
        if isinstance(value, SegmentIdMapEntry):
            value = value.value if value.value is not None else value.key
        if not value:
            return
        voxel = action_state.mouse_voxel_coordinates
        raw = self._raw_state()
        pos = None
        if voxel is not None:
            scales = st._scales_nm(raw, self._fallback_resolution(), len(voxel))
            pos = tuple(float(v) * sc for v, sc in zip(voxel, scales))
        threading.Thread(target=self._toggle_pick, args=(int(value), pos, st.is_graphene_layer(raw, layer)), daemon=True).start()

    def _toggle_pick(self, segment: int, pos: tuple | None, graphene: bool) -> None:
        root = segment
        if graphene and st.is_supervoxel(segment) and self._client is not None:
            try:
                root = int(self._client.chunkedgraph.get_root_id(segment))
            except Exception:  # the browser's graphene source resolves it instead
                log.debug("root lookup for %s failed", segment, exc_info=True)
        self._picks[root] = pos
        layer = self._seg_layer

        def toggle(s):
            current = st.segments_of(s, layer)
            return st.with_segments(s, current - {root} if root in current else current | {root}, layer)

        if not self._closed:
            self._update(toggle)

