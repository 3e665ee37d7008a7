"""Reading and writing the viewer's neuroglancer state, one change or a batch of them.

neuroglancer's browser client rebuilds every layer (and its panels, which drops the keyboard
focus for a moment) on each state it receives from Python. Selecting a neuron (segments, colours,
position) is three changes; :meth:`StateMethods.batch` sends them as one.

Example::

    with viewer.batch():
        viewer.segments = {root}
        viewer.go_to(soma_nm, zoom=40)
"""

from __future__ import annotations

import contextlib
import copy
import threading
from typing import Any, Callable, Iterator

from .merge import merge_states


class StateMethods:
    """Viewer mixin: ``batch()``, and the state access every other method goes through
    (``_raw_state``, ``_update``). Needs ``self._ng`` and ``self._sync_from_ng``."""

    _batch_state: dict | None = None
    _batch_thread: threading.Thread | None = None

    def _batching(self) -> bool:
        return self._batch_state is not None and self._batch_thread is threading.current_thread()

    def _raw_state(self) -> dict:
        """A copy of the state (inside a batch: as the batch has it so far)."""
        if self._batching():
            return copy.deepcopy(self._batch_state)
        raw, _gen = self._ng.shared_state.raw_state_and_generation
        return copy.deepcopy(raw)

    def _update(self, fn: Callable[[dict], Any]) -> None:
        """Apply ``fn`` to a copy of the raw JSON state (returning a new dict or editing it in
        place) and set it atomically (inside a batch: only in the batch)."""
        if self._batching():
            out = fn(self._batch_state)
            if isinstance(out, dict):
                self._batch_state = out
            return
        shared = self._ng.shared_state
        with shared._lock:
            raw = copy.deepcopy(shared.raw_state)
            out = fn(raw)
            shared.set_state(out if isinstance(out, dict) else raw)

    def _replace_state(self, new: dict) -> None:
        if self._batching():
            self._batch_state = new
        else:
            self._ng.set_state(new)

    @contextlib.contextmanager
    def batch(self) -> Iterator:
        """Send every change made inside the ``with`` block to the browser as one; if the
        block raises, none of them is sent. Changes the user makes meanwhile are kept.

        Example::

            with viewer.batch():
                viewer.segments = {864691135808684573}
                viewer.go_to([120_000, 90_000, 20_000], zoom=40)
        """
        if self._batching():  # nested: the outer batch sends
            yield self
            return
        if self._batch_state is not None:
            raise RuntimeError("another thread is batching changes to this viewer")
        base = self._raw_state()
        self._batch_state, self._batch_thread = copy.deepcopy(base), threading.current_thread()
        ok = False
        try:
            yield self
            ok = True
        finally:
            pending = self._batch_state
            self._batch_state = self._batch_thread = None
            if ok:
                shared = self._ng.shared_state
                with shared._lock:
                    current = shared.raw_state
                    # the browser (or another thread) changed the state meanwhile: keep both
                    shared.set_state(pending if current == base else merge_states(base, pending, current))
            self._sync_from_ng()
