"""Screenshots of an embedded neuroglancer, taken by the browser that shows it.

neuroglancer keeps one pending screenshot request per viewer (``config_state.screenshot``): a
second request replaces the first, whose callback then never fires. :class:`Shooter` keeps one
request in flight and hands its answer to everyone waiting (``viewer.screenshot()`` and the
saved-notebook snapshot's refresh), and withdraws it when nobody waits any more.

The saved-notebook snapshot asks for a smaller picture through :class:`Thumbnails` instead: the
browser takes it without stalling the page (``js/viewer/ng/thumbnail.ts``), where neuroglancer's
full-size screenshot encodes the canvas on the page's main thread.

Example::

    shooter = Shooter(ng_viewer)
    png = shooter.png(timeout=30)
"""

from __future__ import annotations

import io
import threading
import uuid
from typing import Callable


class Shooter:
    """Screenshot requests to one ``neuroglancer.Viewer``'s browser, shared by their waiters."""

    def __init__(self, ng):
        self._ng = ng
        self._lock = threading.Lock()
        self._waiters: list[Callable] = []
        self._request: str | None = None

    @property
    def pending(self) -> bool:
        return self._request is not None

    def request(self, callback: Callable[[bytes], None]) -> Callable[[], None]:
        """Call ``callback(png_bytes)`` (on the comm's thread) when the browser answers; returns a
        function that withdraws this wait (and the request, when nobody else waits)."""
        ng = self._ng
        with self._lock:
            self._waiters.append(callback)
            if self._request is None:
                before = set(ng._screenshot_callbacks)
                ng.async_screenshot(self._answered)
                new = set(ng._screenshot_callbacks) - before
                self._request = next(iter(new), "?")

        def cancel() -> None:
            with self._lock:
                if callback in self._waiters:
                    self._waiters.remove(callback)
                if self._waiters or self._request is None:
                    return
                rid, self._request = self._request, None
            ng._screenshot_callbacks.pop(rid, None)

            def withdraw(c):
                if c.screenshot == rid:
                    c.screenshot = None

            ng.config_state.retry_txn(withdraw, lock=True)

        return cancel

    def _answered(self, action_state) -> None:  # the comm's thread (ng_action)
        with self._lock:
            waiters, self._waiters, self._request = self._waiters, [], None
        if not waiters:
            return
        try:
            png = as_png(action_state.screenshot)
        except Exception:  # a broken image: nobody gets one
            return
        for cb in waiters:
            cb(png)

    def png(self, timeout: float = 30.0) -> bytes:
        """PNG bytes from the connected browser; ``TimeoutError`` (and the request withdrawn) if
        none answers within ``timeout`` seconds."""
        done = threading.Event()
        reply: list[bytes] = []

        def got(png: bytes) -> None:
            reply.append(png)
            done.set()

        cancel = self.request(got)
        if not done.wait(timeout):
            cancel()
            raise TimeoutError(
                f"no browser answered the screenshot request within {timeout:g} s: display the viewer "
                "(e.g. `viewer` as the last line of a cell) and wait until neuroglancer has loaded"
            )
        return reply[0]


class Thumbnails:
    """Pictures at most ``width`` px wide, asked of the browsers showing ``widget`` over its comm
    (``cw:thumbnail`` out; the answer comes back as the ``ng_thumbnail`` request, see
    :meth:`answered`). One request at a time: a new one replaces the one waiting.

    Example::

        thumbs = Thumbnails(viewer_widget, width=800)
        cancel = thumbs.request(lambda png: print(len(png)))
    """

    def __init__(self, widget, width: int):
        self._widget = widget
        self.width = width
        self._lock = threading.Lock()
        self._waiting: tuple[str, Callable[[bytes], None]] | None = None

    def request(self, callback: Callable[[bytes], None]) -> Callable[[], None]:
        """Call ``callback(png_bytes)`` (on the comm's thread) when a browser answers; returns a
        function that withdraws the request."""
        rid = uuid.uuid4().hex
        with self._lock:
            self._waiting = (rid, callback)
        self._send(rid)

        def cancel() -> None:
            with self._lock:
                if self._waiting is None or self._waiting[0] != rid:
                    return
                self._waiting = None
            self._send(None)

        return cancel

    def answered(self, rid: str, png: bytes) -> None:
        """A browser's picture for request ``rid`` (the first answer wins; later ones are dropped)."""
        with self._lock:
            if self._waiting is None or self._waiting[0] != rid:
                return
            _, callback = self._waiting
            self._waiting = None
        callback(png)

    def _send(self, rid: str | None) -> None:
        try:
            self._widget.send({"kind": "cw:thumbnail", "id": rid, "width": self.width})
        except Exception:  # a closed comm: nobody shows the view
            pass


def as_png(shot) -> bytes:
    """The PNG bytes of a neuroglancer ``ScreenshotReply`` (converted if the browser sent another type)."""
    image = shot.image
    if shot.image_type not in ("image/png", None, "") or not image.startswith(b"\x89PNG"):
        from PIL import Image

        buf = io.BytesIO()
        Image.open(io.BytesIO(image)).save(buf, format="PNG")
        image = buf.getvalue()
    return image
