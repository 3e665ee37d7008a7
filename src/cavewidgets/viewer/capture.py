"""Screenshots of an embedded neuroglancer, taken by the browser that shows it."""

from __future__ import annotations

import threading


def screenshot(ng, timeout: float = 30.0) -> bytes:
    """PNG bytes from ``ng`` (a ``neuroglancer.Viewer``) via its connected browser;
    ``TimeoutError`` (and the request withdrawn) if none answers within ``timeout`` seconds."""
    done = threading.Event()
    reply: list = []

    def handler(s):  # neuroglancer's server thread
        reply.append(s)
        done.set()

    before = set(ng._screenshot_callbacks)
    ng.async_screenshot(handler)
    request_ids = set(ng._screenshot_callbacks) - before
    if not done.wait(timeout):
        for rid in request_ids:
            ng._screenshot_callbacks.pop(rid, None)
        with ng.config_state.txn() as c:
            c.screenshot = None
        raise TimeoutError(
            f"no browser answered the screenshot request within {timeout:g} s: display the viewer "
            "(e.g. `viewer` as the last line of a cell) and wait until neuroglancer has loaded"
        )
    shot = reply[0].screenshot
    image = shot.image
    if shot.image_type not in ("image/png", None, "") or not image.startswith(b"\x89PNG"):
        import io

        from PIL import Image

        buf = io.BytesIO()
        Image.open(io.BytesIO(image)).save(buf, format="PNG")
        image = buf.getvalue()
    return image
