"""Screenshots of an embedded neuroglancer, taken by the browser that shows it.

neuroglancer keeps one pending screenshot request per viewer (``config_state.screenshot``): a
second request replaces the first, whose callback then never fires. :class:`Shooter` keeps one
request in flight and hands its answer to everyone waiting (``viewer.screenshot()`` and the
saved-notebook snapshot's refresh), and withdraws it when nobody waits any more.

Example::

    shooter = Shooter(ng_viewer)
    png = shooter.png(timeout=30)
"""

from __future__ import annotations

import io
import threading
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


def as_png(shot) -> bytes:
    """The PNG bytes of a neuroglancer ``ScreenshotReply`` (converted if the browser sent another type)."""
    image = shot.image
    if shot.image_type not in ("image/png", None, "") or not image.startswith(b"\x89PNG"):
        from PIL import Image

        buf = io.BytesIO()
        Image.open(io.BytesIO(image)).save(buf, format="PNG")
        image = buf.getvalue()
    return image
