"""The widget channel between a Viewer's neuroglancer state in the kernel and its browser views.

neuroglancer's Python package talks to its client over HTTP on a port the kernel opens; on
Colab, JupyterHub, Binder and VS Code remote the browser cannot reach that port. Here the same
protocol travels over the widget's own comm (anywidget custom messages):

- kernel → browser: ``{"kind": "cw:ng", "k": "s"|"c", "s": <state JSON>, "g": generation}``
  whenever the viewer state (``s``) or the config state (``c``: key bindings, actions,
  screenshot requests) changes, newest state only, in order;
- browser → kernel, as ``cw:req`` requests answered with ``cw:res``:
  ``ng_hello`` (both states now), ``ng_state`` (a browser edit with its base generation, merged
  by :class:`~.merge.MergingViewer` when it races a Python change), ``ng_action`` (double-click,
  keys, screenshots), ``ng_ping`` (a round trip, answered with the kernel's time),
  ``ng_credentials`` (a CAVE token, on request), ``ng_bundle`` (the
  neuroglancer module) and ``ng_thumbnail`` (the snapshot's picture, asked for with a
  ``cw:thumbnail`` message);
- data requests the kernel answers (:mod:`.proxy`) travel in batches, ``ng_fetch`` one way and
  ``cw:fetched`` the other (:mod:`.fetching`).

With ipykernel 7 the viewer's messages are handled on a subshell thread, so they are answered
while a cell runs (``viewer.screenshot()`` waits in a cell for the browser's reply).

Example::

    channel = Channel(widget, ng_viewer, fetch=proxy.fetch)
    channel.close()
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable

from neuroglancer.json_utils import encode_json
from neuroglancer.trackable_state import ConcurrentModificationError

from .fetching import FetchAnswers

log = logging.getLogger(__name__)

BUNDLE = Path(__file__).resolve().parent.parent / "static" / "neuroglancer.js"
_bundle_lock = threading.Lock()
_bundle: tuple[str, bytes] | None = None


def bundle() -> tuple[str, bytes]:
    """``(hash, bytes)`` of the built neuroglancer module (read once per kernel).

    Example::

        digest, code = bundle()     # ("3f2a…", b"var …")
    """
    global _bundle
    with _bundle_lock:
        if _bundle is None:
            if not BUNDLE.exists():
                raise FileNotFoundError(f"{BUNDLE} is missing: build the front-end (cd js && npm run build)")
            data = BUNDLE.read_bytes()
            _bundle = (hashlib.sha256(data).hexdigest()[:16], data)
        return _bundle


class Channel:
    """Carries one neuroglancer ``ViewerBase``'s states and requests over ``widget``'s comm."""

    def __init__(self, widget, ng, fetch: Callable[..., tuple[dict, bytes]], credentials: Callable[..., dict],
                 thumbnail: Callable[[str, bytes], None] | None = None):
        self._widget = widget
        self._ng = ng
        self._thumbnail = thumbnail
        self._answers = FetchAnswers(self._send_answers, fetch)
        self._credentials = credentials
        self._sent: dict[str, str] = {}
        self._send_lock = threading.Lock()  # a push and a hello answer never cross
        self._wake = threading.Event()
        self._closed = False
        self._views = 0
        self.served: dict[str, int] = {}  # requests answered, by method (tests, diagnostics)
        self.sent_bytes: dict[str, int] = {}  # bytes sent to the browser, by method ("push": states)
        ng.shared_state.add_changed_callback(self._wake.set)
        ng.config_state.add_changed_callback(self._wake.set)
        widget.on_msg(self._on_msg)
        self._sender = threading.Thread(target=self._send_loop, name="cavewidgets-viewer-sender", daemon=True)
        self._sender.start()
        route_to_subshell(widget)

    # ---------- kernel → browser ----------
    def _send_loop(self) -> None:
        # one thread sends, reading the newest state each time: pushes never overtake each other
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._closed:
                return
            if not self._views:
                continue  # nobody listens; ng_hello gives the state to the first view
            with self._send_lock:
                for key, state in (("c", self._ng.config_state), ("s", self._ng.shared_state)):
                    raw, generation = state.raw_state_and_generation
                    if self._sent.get(key) == generation:
                        continue
                    self._sent[key] = generation
                    try:
                        text = encode_json(raw)
                        self._count("push", len(text))
                        self._widget.send({"kind": "cw:ng", "k": key, "s": text, "g": generation})
                    except Exception:  # a closed comm: the widget is going away
                        log.debug("could not push viewer state", exc_info=True)

    # ---------- browser → kernel ----------
    def _on_msg(self, _widget, content, buffers) -> None:
        if not isinstance(content, dict) or content.get("kind") != "cw:req":
            return
        method = content.get("method")
        if not isinstance(method, str) or not method.startswith("ng_"):
            return
        params = content.get("params") or {}
        request_id = content.get("id")
        if method == "ng_fetch" and isinstance(params, dict):  # a batch, answered by cw:fetched
            self.served[method] = self.served.get(method, 0) + len(params.get("reqs") or ())
            self._answers.submit(params, buffers)
            return
        handler = getattr(self, f"_do_{method[3:]}", None)
        if handler is None or not isinstance(params, dict):
            self._reply(request_id, error=f"unknown request {method!r}")
            return
        self.served[method] = self.served.get(method, 0) + 1
        if method == "ng_hello":
            with self._send_lock:  # the states in this answer, and only newer ones pushed after it
                self._answer(request_id, handler, params, buffers)
        else:
            self._answer(request_id, handler, params, buffers)

    def _answer(self, request_id, handler, params: dict, buffers) -> None:
        try:
            answer = handler(buffers=buffers, **params)
        except Exception as err:  # the browser shows it; the kernel keeps running
            log.debug("viewer request failed", exc_info=True)
            self._reply(request_id, error=f"{type(err).__name__}: {err}")
            return
        result, out = answer if isinstance(answer, tuple) else (answer, [])
        self._count(handler.__name__.replace("_do_", "ng_"), sum(len(b) for b in out) + len(json.dumps(result, default=str)))
        self._reply(request_id, result=result, buffers=out)

    def _send_answers(self, content: dict, buffers: list) -> None:
        if self._closed:
            return
        self._count("ng_fetch", sum(len(b) for b in buffers) + len(json.dumps(content)))
        self._widget.send(content, buffers=buffers)

    def _count(self, what: str, n: int) -> None:
        self.sent_bytes[what] = self.sent_bytes.get(what, 0) + n

    def _reply(self, request_id, result: Any = None, buffers=(), error: str | None = None) -> None:
        if self._closed:
            return
        msg = {"kind": "cw:res", "id": request_id, "ok": error is None}
        msg.update({"error": error} if error is not None else {"result": result})
        try:
            self._widget.send(msg, buffers=list(buffers))
        except Exception:
            log.debug("could not answer a viewer request", exc_info=True)

    def _do_bundle(self, buffers, hash=None):
        digest, data = bundle()
        return {"hash": digest}, [data]

    def _do_hello(self, buffers, client=None):
        self._views += 1
        c, gc = self._ng.config_state.raw_state_and_generation
        s, gs = self._ng.shared_state.raw_state_and_generation
        self._sent.update(c=gc, s=gs)  # under _send_lock (see _on_msg)
        return {"c": encode_json(c), "gc": gc, "s": encode_json(s), "gs": gs}

    def _do_state(self, buffers, s, g, pg, c):
        state = json.loads(s)
        own = f"{c}/{g}"
        # under the send lock: the sender must not echo the edit to its only view (it would drop
        # it as its own), and a drag sends a state per move
        with self._send_lock:
            try:
                generation = self._ng.set_state(state, own, existing_generation=pg)
            except ConcurrentModificationError:
                self._wake.set()  # the browser gets the current state (its edit was too old to merge)
                return {"conflict": True}
            if generation == own and self._views == 1:
                self._sent["s"] = generation
        return {"g": generation}

    def _do_ping(self, buffers):
        """When the kernel handled this request (``time.time()``): tests split a round trip with it."""
        return {"t": time.time()}

    def _do_action(self, buffers, action, state):
        self._ng.actions.invoke(action, json.loads(state))
        return {}

    def _do_thumbnail(self, buffers, id):
        if self._thumbnail is None or not buffers or not isinstance(id, str):
            raise ValueError("a thumbnail answer needs its request id and one PNG buffer")
        self._thumbnail(id, bytes(buffers[0]))
        return {}

    def _do_credentials(self, buffers, key, parameters=None, invalid=None):
        return self._credentials(key, parameters, invalid)

    def close(self) -> None:
        """Stop pushing states and answering requests."""
        self._closed = True
        self._wake.set()
        self._answers.close()
        for state in (self._ng.shared_state, self._ng.config_state):
            try:
                state.remove_changed_callback(self._wake.set)
            except Exception:
                pass


# ---------- ipykernel 7: answer the viewer while a cell runs ----------
_subshell_lock = threading.Lock()
_subshell_id: str | None = None


def route_to_subshell(widget) -> bool:
    """Have ``widget``'s comm messages handled on a kernel subshell thread (ipykernel ≥ 7),
    so the browser's answers arrive while the main thread runs a cell. False where the kernel
    has no subshells (its messages are then handled between cells, as for any widget)."""
    comm = getattr(widget, "comm", None)
    subshell = _shared_subshell()
    if comm is None or subshell is None or not hasattr(comm, "_reply_subshell_for"):
        return False
    comm._reply_subshell_for = lambda data, default: subshell
    return True


def _shared_subshell() -> str | None:
    global _subshell_id
    with _subshell_lock:
        if _subshell_id is not None:
            return _subshell_id
        try:
            from IPython import get_ipython

            kernel = getattr(get_ipython(), "kernel", None)
            thread = getattr(kernel, "shell_channel_thread", None)
            if thread is None or not getattr(kernel, "_supports_kernel_subshells", False):
                return None
            done = threading.Event()
            out: list[str] = []

            def create():  # the subshell manager only works on the shell channel thread
                try:
                    out.append(thread.manager._create_subshell())
                finally:
                    done.set()

            thread.io_loop.add_callback(create)
            if done.wait(10) and out:
                _subshell_id = out[0]
        except Exception:
            log.debug("no subshell for viewer messages", exc_info=True)
        return _subshell_id
