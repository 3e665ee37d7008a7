"""What a saved notebook shows of a Viewer once its kernel is gone.

A live viewer is an anywidget view; without its kernel (a notebook reopened later, an
nbconvert HTML export) JupyterLab shows "Error displaying widget: model not found" for it,
even when the same output also carries ``text/html`` (the widget renderer outranks HTML in a
trusted notebook). So the widget displays a *second* output next to itself: a small static
snapshot (the last screenshot as a downscaled JPEG, the layer list, a token-free neuroglancer
link and the last share link), refreshed through its ``display_id``. The live view hides that
snapshot while it runs; the snapshot's own style hides the dead widget output above it when the
live view is absent. nbconvert skips widget views without saved widget state and renders the
snapshot's HTML.

The builders are pure (bytes and dicts in, strings out) and unit-tested directly;
:class:`Snapshot` displays one viewer's snapshot and refreshes it: a browser screenshot once
the state has been quiet for ``delay`` seconds (and on ``viewer.screenshot()``).

Example::

    image = thumbnail(png_bytes)                      # JPEG, at most ~150 KB
    bundle = mimebundle("k3y", state, image, link="https://…/#!{…}")
    IPython.display.display(bundle, raw=True, display_id="cw-viewer-k3y")
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import logging
import threading
import time
import uuid
import weakref
from typing import Any, Callable, Mapping

from . import state as st

log = logging.getLogger(__name__)

MAX_IMAGE_BYTES = 150_000
MAX_WIDTH = 800
#: links longer than this are left out of the snapshot (a big annotation layer would bloat the file)
MAX_LINK_CHARS = 16_000
MAX_IDS_LISTED = 5


def thumbnail(image: bytes, max_width: int = MAX_WIDTH, max_bytes: int = MAX_IMAGE_BYTES) -> bytes:
    """A JPEG of ``image`` (PNG or JPEG bytes) at most ``max_width`` pixels wide and (by
    lowering quality, then size) at most ``max_bytes`` long."""
    from PIL import Image

    img = Image.open(io.BytesIO(image))
    img = img.convert("RGB")
    width = min(max_width, img.width)
    for _ in range(6):
        scaled = img if width == img.width else img.resize((width, max(1, round(img.height * width / img.width))), Image.LANCZOS)
        for quality in (80, 65, 50):
            buf = io.BytesIO()
            # 4:4:4: thin coloured segments (meshes seen from afar) keep their colour
            scaled.save(buf, format="JPEG", quality=quality, optimize=True, subsampling=0)
            if buf.tell() <= max_bytes:
                return buf.getvalue()
        width = max(16, int(width * 0.7))
    return buf.getvalue()


def layer_rows(state: Mapping) -> list[dict]:
    """One dict per layer: ``name``, ``type``, and for segmentation layers ``segments`` (the
    visible ids, exact ints) — what the snapshot lists."""
    out = []
    for layer in st._layers(state):
        if not isinstance(layer, Mapping):
            continue
        row: dict[str, Any] = {"name": str(layer.get("name", "")), "type": str(layer.get("type", "?"))}
        if row["type"] == "segmentation":
            try:
                row["segments"] = sorted(st.segments_of(state, row["name"]))
            except ValueError:
                row["segments"] = []
        elif row["type"] == "annotation":
            row["annotations"] = len(layer.get("annotations") or [])
        out.append(row)
    return out


def _layer_text(row: dict) -> str:
    text = f"{row['name']} ({row['type']}"
    if "segments" in row:
        ids = row["segments"]
        shown = ", ".join(str(i) for i in ids[:MAX_IDS_LISTED]) + (", …" if len(ids) > MAX_IDS_LISTED else "")
        text += f", {len(ids)} segment{'s' if len(ids) != 1 else ''}" + (f": {shown}" if ids else "")
    elif "annotations" in row:
        text += f", {row['annotations']} annotation{'s' if row['annotations'] != 1 else ''}"
    return text + ")"


def _style(key: str) -> str:
    k = html.escape(key, quote=True)
    # the widget output just above this one, when it holds no live viewer (no kernel, no widget
    # state: "Loading widget..." or "Error displaying widget: model not found"), is hidden
    return (
        "<style>"
        f'.jp-OutputArea-child:not(:has(.cw-viewer)):has(+ .jp-OutputArea-child [data-cw-fallback="{k}"]){{display:none}}'
        "</style>"
    )


def html_snapshot(key: str, state: Mapping, image: bytes | None = None, link: str | None = None, share_link: str | None = None, taken: dt.datetime | None = None) -> str:
    """The snapshot as HTML: image (``image``: JPEG bytes), layer list and links."""
    parts = [f'<div class="cw-viewer-fallback" data-cw-fallback="{html.escape(key, quote=True)}" '
             'style="font:13px/1.4 sans-serif;border:1px solid #ccc;padding:6px;max-width:820px">', _style(key)]
    if image:
        data = base64.b64encode(image).decode("ascii")
        parts.append(f'<img src="data:image/jpeg;base64,{data}" alt="neuroglancer view (last screenshot)" style="display:block;max-width:100%;height:auto">')
    else:
        parts.append('<div style="color:#666;padding:12px 0">(no screenshot yet)</div>')
    rows = layer_rows(state)
    parts.append('<div><b>Layers:</b> ' + (html.escape("; ".join(_layer_text(r) for r in rows)) if rows else "none") + "</div>")
    links = []
    if link and len(link) <= MAX_LINK_CHARS:
        links.append(f'<a href="{html.escape(link, quote=True)}" target="_blank" rel="noopener">Open this view in neuroglancer</a>')
    if share_link:
        links.append(f'shared state: <a href="{html.escape(share_link, quote=True)}" target="_blank" rel="noopener">{html.escape(share_link)}</a>')
    if links:
        parts.append("<div>" + " · ".join(links) + "</div>")
    when = f" ({taken.strftime('%Y-%m-%d %H:%M')})" if taken else ""
    parts.append(f'<div style="color:#666">cavewidgets.Viewer snapshot{when}: run the cell again for the live viewer.</div></div>')
    return "".join(parts)


def text_snapshot(state: Mapping, link: str | None = None, share_link: str | None = None) -> str:
    """A plain-text version (consoles, ``nbconvert --to markdown``)."""
    rows = layer_rows(state)
    lines = ["cavewidgets.Viewer (neuroglancer) — layers: " + ("; ".join(_layer_text(r) for r in rows) or "none")]
    if share_link:
        lines.append(f"shared state: {share_link}")
    elif link and len(link) <= MAX_LINK_CHARS:
        lines.append(f"link: {link}")
    return "\n".join(lines)


def mimebundle(key: str, state: Mapping, image: bytes | None = None, link: str | None = None, share_link: str | None = None, taken: dt.datetime | None = None) -> dict:
    """``{"text/html": …, "text/plain": …}`` for ``IPython.display.display(..., raw=True)``."""
    return {
        "text/html": html_snapshot(key, state, image, link, share_link, taken),
        "text/plain": text_snapshot(state, link, share_link),
    }


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython

        return getattr(getattr(get_ipython(), "kernel", None), "io_loop", None) is not None
    except Exception:
        return False


class Snapshot:
    """The saved-notebook snapshot of one viewer: displayed after it, refreshed when its state
    settles. ``run_on_kernel(fn)`` returns a thread-safe function that runs ``fn`` on the
    kernel's thread (display messages go out from there).

    Example::

        snap = Snapshot(viewer, run_on_kernel)
        snap.display()          # right after the widget's own output
        snap.changed()          # on every state change: refreshed ``delay`` s after the last
    """

    def __init__(self, viewer, run_on_kernel: Callable[[Callable[[], None]], Callable[[], None]], delay: float = 5.0, timeout: float = 60.0):
        self.key = uuid.uuid4().hex
        self.display_id = f"cw-viewer-snapshot-{self.key}"
        self.delay, self.timeout = delay, timeout
        self.image: bytes | None = None
        self.taken: dt.datetime | None = None
        self.share_link: str | None = None
        self.shown = False
        #: refresh after changes; only in a Jupyter kernel (a terminal would print each update)
        self.live = _in_kernel()
        self.published = 0  # snapshot updates sent (diagnostics, tests)
        self._viewer = weakref.ref(viewer)
        self._lock = threading.Lock()
        self._due_at = 0.0
        self._timer: threading.Timer | None = None
        self._cancel_shot: Callable[[], None] | None = None
        self._deadline: threading.Timer | None = None
        self._shot_generation = None  # the state generation the current image shows
        self._closed = False
        self._publish_soon = run_on_kernel(self.publish)

    @property
    def waiting(self) -> bool:
        """A screenshot for the snapshot is requested and not answered yet."""
        return self._cancel_shot is not None

    def bundle(self) -> dict:
        viewer = self._viewer()
        if viewer is None:
            return {}
        state = viewer.state
        try:
            link = viewer.url()
        except Exception:
            link = None
        return mimebundle(self.key, state, self.image, link, self.share_link, self.taken)

    def display(self) -> None:
        """Show the snapshot as a new output (the live view hides it); kernel thread."""
        from IPython.display import display

        display(self.bundle(), raw=True, display_id=self.display_id)
        self.shown = True
        self.changed()

    def publish(self) -> None:
        """Replace every displayed copy with the current snapshot; kernel thread."""
        if not self.shown or self._closed:
            return
        from IPython.display import update_display

        update_display(self.bundle(), display_id=self.display_id, raw=True)
        self.published += 1

    def shared(self, link: str) -> None:
        self.share_link = link
        if self.shown:
            self._publish_soon()

    def took(self, png: bytes) -> None:
        """Use ``png`` (a fresh screenshot) as the snapshot's image."""
        try:
            self.image = thumbnail(png)
        except Exception:
            log.debug("snapshot thumbnail failed", exc_info=True)
            return
        self.taken = dt.datetime.now()
        if self.shown:
            self._publish_soon()

    # ---------- debounced refresh ----------
    # A picture costs the browser a full draw: it is taken only once the state has been quiet
    # for ``delay`` s, and a request still waiting for neuroglancer to be ready is withdrawn as
    # soon as the state changes.
    def changed(self) -> None:
        """The viewer's state changed: refresh ``delay`` s after the last change (any thread)."""
        if not self.shown or not self.live or self._closed:
            return
        with self._lock:
            self._due_at = time.monotonic() + self.delay
            if self._timer is None:
                self._start_timer(self.delay)
            cancel, self._cancel_shot = self._cancel_shot, None
            if cancel is not None:
                self._shot_generation = None
                if self._deadline is not None:
                    self._deadline.cancel()
                    self._deadline = None
        if cancel is not None:
            cancel()

    def _start_timer(self, wait: float) -> None:
        self._timer = threading.Timer(wait, self._tick)
        self._timer.daemon = True
        self._timer.start()

    def _tick(self) -> None:  # timer thread
        with self._lock:
            if self._closed:
                return
            left = self._due_at - time.monotonic()
            if left > 0.01:
                self._start_timer(left)
                return
            self._timer = None
            if self._cancel_shot is not None:  # already asked for this state
                return
            viewer = self._viewer()
            if viewer is None or viewer._closed:
                return
            generation = viewer._ng.shared_state.raw_state_and_generation[1]
            if generation == self._shot_generation and self.image is not None:
                return  # the picture already shows this state
            self._shot_generation = generation
            self._cancel_shot = viewer._thumbnails.request(self._got)
            self._deadline = threading.Timer(self.timeout, self._gave_up)
            self._deadline.daemon = True
            self._deadline.start()

    def _got(self, png: bytes) -> None:  # the comm's thread: no heavy work here
        with self._lock:
            self._cancel_shot = None
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None
        threading.Thread(target=self.took, args=(png,), daemon=True).start()  # PIL work off the comm's thread

    def _gave_up(self) -> None:  # no browser answered: keep the old image, update the rest
        with self._lock:
            cancel, self._cancel_shot, self._deadline = self._cancel_shot, None, None
        if cancel is not None:
            cancel()
        self._publish_soon()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            timers = [self._timer, self._deadline]
            cancel, self._cancel_shot = self._cancel_shot, None
            self._timer = self._deadline = None
        for timer in timers:
            if timer is not None:
                timer.cancel()
        if cancel is not None:
            cancel()
