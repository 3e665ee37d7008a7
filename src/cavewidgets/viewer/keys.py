"""Keyboard shortcuts typed inside the embedded neuroglancer, answered by Python.

Keys pressed in the viewer are neuroglancer's (the widget turns the notebook's own shortcuts off
while the viewer has the keyboard), so a widget around the viewer (the review queue's status
keys) cannot hear them. neuroglancer can bind a key to a named action that Python receives (over
the widget channel, ``ng_action``); :class:`KeyMethods` uses that.

Key names are neuroglancer's: ``digit1``, ``keyj``, ``shift+keyn``, ``arrowright``,
``control+enter``… A binding replaces neuroglancer's own for that key in this viewer only
(``digit1`` normally toggles layer 1's visibility).

Example::

    viewer.on_key("keyj", lambda key: print("next!"))
    viewer.on_key("keyj", None)          # unbind: neuroglancer's default returns
"""

from __future__ import annotations

import logging
import re
from typing import Any, Callable

log = logging.getLogger(__name__)

_KEY = re.compile(r"^((alt|control|shift|meta)\+)*(key[a-z]|digit[0-9]|arrow(left|right|up|down)|f[0-9]{1,2}|"
                  r"enter|escape|space|tab|backspace|delete|home|end|pageup|pagedown|comma|period|slash|"
                  r"semicolon|quote|bracketleft|bracketright|backslash|minus|equal|backquote)$")


def check_key(key: Any) -> str:
    """``key`` in neuroglancer's spelling, lower case; ``ValueError`` naming the problem if not.

    Example::

        check_key("Shift+KeyN")    # "shift+keyn"
    """
    if not isinstance(key, str) or not _KEY.match(key.strip().lower()):
        raise ValueError(f"{key!r} is not a key in neuroglancer's spelling: e.g. 'digit1', 'keyj', "
                         "'shift+keyn', 'arrowright', 'control+enter'")
    return key.strip().lower()


class KeyMethods:
    """Viewer mixin: ``on_key``. Needs ``self._ng`` and ``self._key_scheduler``."""

    def on_key(self, key: str, callback: Callable[[str], Any] | None) -> None:
        """Call ``callback(key)`` (in the kernel) when ``key`` is pressed inside the viewer;
        ``callback=None`` removes the binding.

        Example::

            viewer.on_key("digit1", lambda key: queue.decide("clean"))
        """
        key = check_key(key)
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable or None, got {type(callback).__name__}")
        action = "cw-key-" + key.replace("+", "-")
        bindings = self.__dict__.setdefault("_key_callbacks", {})
        if callback is None:
            if bindings.pop(key, None) is None:
                return
            self._ng.actions.remove(action, self._key_handler(key))
            with self._ng.config_state.txn() as c:
                c.input_event_bindings.viewer.pop(key, None)  # neuroglancer's default is back
            return
        first = key not in bindings
        bindings[key] = callback
        if first:
            self._ng.actions.add(action, self._key_handler(key))
            with self._ng.config_state.txn() as c:
                c.input_event_bindings.viewer[key] = action

    def _key_handler(self, key: str) -> Callable:
        handlers = self.__dict__.setdefault("_key_handlers", {})
        if key not in handlers:
            run = self._key_scheduler(lambda: self._run_key(key))

            def handle(_action_state):  # the comm's thread: hand over to the kernel's main loop, return
                run()

            handlers[key] = handle
        return handlers[key]

    def _run_key(self, key: str) -> None:
        callback = self.__dict__.get("_key_callbacks", {}).get(key)
        if callback is None or getattr(self, "_closed", False):
            return
        try:
            callback(key)
        except Exception:  # noqa: BLE001 - a failing shortcut must not break the viewer
            log.exception("on_key callback for %s failed", key)
