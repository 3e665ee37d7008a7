"""The browser's side of a Viewer's widget channel, without a browser (unit tests, benchmarks).

It sends the same ``cw:req`` messages the front-end sends (``js/viewer/index.ts``) into the
viewer's real channel code and collects what the kernel sends back.

Example::

    side = ChannelClient(viewer)
    hello = side.request("ng_hello")
    side.request("ng_action", action="cw-key-digit1", state="{}")
    meta, body = side.fetch("http://127.0.0.1:9000/info")   # a data request, batched as the page does
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

    def fetch(self, url: str, method: str = "GET", headers: dict | None = None, body: bytes | None = None, timeout: float = 30):
        """One data request in an ``ng_fetch`` batch; ``(meta, body bytes)`` from its ``cw:fetched``
        answer (``RuntimeError`` with the kernel's message if it failed)."""
        (answer, data), = self.fetch_many([{"url": url, "method": method, "headers": headers or {}, "body": body}], timeout=timeout)
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return {k: answer[k] for k in ("status", "statusText", "headers")}, data

    def fetch_many(self, requests: list[dict], cancel: list[str] = (), timeout: float = 30) -> list[tuple[dict, bytes | None]]:
        """Send one batch; ``[(answer, body)]`` in request order once every answer arrived."""
        reqs, buffers = [], []
        for r in requests:
            rid = f"f-{next(self._ids)}"
            body = r.get("body")
            reqs.append({"id": rid, "url": r["url"], "method": r.get("method", "GET"), "headers": r.get("headers") or {}, "body": len(buffers) if body is not None else -1})
            if body is not None:
                buffers.append(body)
        self.viewer._channel._on_msg(self.viewer, {"kind": "cw:req", "id": f"b-{next(self._ids)}", "method": "ng_fetch", "params": {"reqs": reqs, "cancel": list(cancel)}}, buffers)
        wanted = {r["id"] for r in reqs}
        found: dict[str, tuple[dict, bytes | None]] = {}
        deadline = time.monotonic() + timeout
        while wanted - found.keys():
            self.wait(lambda c: c.get("kind") == "cw:fetched" and any(a["id"] in wanted - found.keys() for a in c["answers"]), max(0.0, deadline - time.monotonic()))
            with self._cond:
                for content, bufs in self.messages:
                    if content.get("kind") == "cw:fetched":
                        for a in content["answers"]:
                            if a["id"] in wanted:
                                found[a["id"]] = (a, bytes(bufs[a["buf"]]) if "buf" in a else None)
        return [found[r["id"]] for r in reqs]

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
