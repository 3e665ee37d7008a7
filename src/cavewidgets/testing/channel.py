"""The browser's side of a Viewer's widget channel, without a browser (unit tests, benchmarks).

It sends the same ``cw:req`` messages the front-end sends (``js/viewer/index.ts``) into the
viewer's real channel code and collects what the kernel sends back.

Example::

    side = ChannelClient(viewer)
    hello = side.request("ng_hello")
    side.request("ng_action", action="cw-key-digit1", state="{}")
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any


class ChannelClient:
    """Talks to ``viewer`` as its front-end would; records every message the kernel sends."""

    def __init__(self, viewer):
        self.viewer = viewer
        self.messages: list[tuple[dict, list]] = []
        self._cond = threading.Condition()
        self._ids = itertools.count(1)

        def send(content, buffers=None):
            with self._cond:
                self.messages.append((content, list(buffers or [])))
                self._cond.notify_all()

        viewer.send = send  # the comm's send: what would travel to the browser

    def request(self, method: str, buffers: list | None = None, timeout: float = 30, **params) -> Any:
        """Send one request; its result (``RuntimeError`` with the kernel's message if it failed)."""
        content, _ = self.request_with_buffers(method, buffers=buffers, timeout=timeout, **params)
        return content

    def request_with_buffers(self, method: str, buffers: list | None = None, timeout: float = 30, **params):
        request_id = f"test-{next(self._ids)}"
        self.viewer._channel._on_msg(self.viewer, {"kind": "cw:req", "id": request_id, "method": method, "params": params}, buffers or [])
        reply = self.wait(lambda c: c.get("kind") == "cw:res" and c.get("id") == request_id, timeout)
        content, out = reply
        if not content["ok"]:
            raise RuntimeError(content["error"])
        return content["result"], out

    def wait(self, match, timeout: float = 30) -> tuple[dict, list]:
        """The first message (content, buffers) sent by the kernel that ``match(content)`` accepts."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for msg in self.messages:
                    if match(msg[0]):
                        return msg
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("the kernel sent no matching message")
                self._cond.wait(left)

    def pushes(self, key: str = "s") -> list[dict]:
        """The states pushed to the browser for ``key`` ("s" viewer, "c" config), oldest first."""
        with self._cond:
            return [{"g": c["g"], "s": json.loads(c["s"])} for c, _ in self.messages if c.get("kind") == "cw:ng" and c.get("k") == key]
