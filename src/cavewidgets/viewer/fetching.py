"""The kernel's answers to the embedded neuroglancer's data requests, in few messages.

A first view of the sample loads 3,000–4,000 chunks. One comm message per request and per answer
costs the page dearly: each message the page sends makes the kernel publish a busy and an idle
status (JupyterLab repaints its kernel indicators for each), each answer is a separate trip
through JupyterLab's message queue on the page's main thread, and Jupyter server drops iopub
messages above 1,000 a second (``iopub_msg_rate_limit``), which would lose chunks on a fast
machine. So the page sends its requests in batches (``ng_fetch`` with ``reqs`` and ``cancel``)
and the kernel sends the answers that are ready together in one ``cw:fetched`` message:

- browser → kernel: ``{"kind": "cw:req", "method": "ng_fetch", "params": {"reqs": [{"id",
  "url", "method", "headers", "body": <buffer index or -1>}], "cancel": [ids]}}``, the request
  bodies as buffers (no ``cw:res`` answer: the answers below are the reply);
- kernel → browser: ``{"kind": "cw:fetched", "answers": [{"id", "status", "statusText",
  "headers", "buf": <buffer index>} or {"id", "error"}]}``, one buffer per answered body.

An answer waits at most 15 ms for other running requests to finish and join its message (and
not at all when nothing else runs), so a loading view gets few large messages.
A request the page cancelled (neuroglancer no longer needs the chunk) is skipped if it has not
started, and its answer is not sent if it has.

Example::

    answers = FetchAnswers(widget.send, proxy.fetch)
    answers.submit({"reqs": [{"id": "a-1", "url": "http://127.0.0.1:9/info", "method": "GET", "headers": {}, "body": -1}]}, [])
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)

#: data requests run here, not on the thread that reads the comm. More threads than this only
#: queue on the GIL (the in-kernel sample answers in Python), and every one of them delays the
#: thread that handles the viewer's state messages by a GIL switch interval (5 ms)
FETCH_THREADS = 8
_pool = concurrent.futures.ThreadPoolExecutor(max_workers=FETCH_THREADS, thread_name_prefix="cavewidgets-fetch")
#: one answer message carries at most this much, so a state push never waits behind a huge one
MAX_MESSAGE_BYTES = 4 << 20
MAX_MESSAGE_ANSWERS = 128
#: how long a ready answer waits for others still running to join its message
COALESCE_S = 0.015


class FetchAnswers:
    """Runs one viewer's batched data requests and sends their answers, coalesced."""

    def __init__(self, send: Callable[..., None], fetch: Callable[..., tuple[dict, bytes]]):
        self._send = send
        self._fetch = fetch
        self._lock = threading.Lock()
        self._waiting: set[str] = set()  # submitted, not yet answered
        self._cancelled: set[str] = set()
        self._done: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = False
        self.requests = 0
        self.cancelled = 0
        self.messages = 0  # cw:fetched messages sent
        self.bytes_sent = 0
        threading.Thread(target=self._send_loop, name="cavewidgets-fetch-answers", daemon=True).start()

    def submit(self, params: dict, buffers) -> None:
        """Start the requests of one ``ng_fetch`` batch and note its cancellations."""
        reqs = params.get("reqs") or []
        cancel = params.get("cancel") or []
        with self._lock:
            for rid in cancel:
                if rid in self._waiting:
                    self._cancelled.add(rid)
                    self.cancelled += 1
            for req in reqs:
                self._waiting.add(str(req.get("id")))
        self.requests += len(reqs)
        for req in reqs:
            _pool.submit(self._run, req, buffers)

    def _run(self, req: dict, buffers) -> None:
        rid = str(req.get("id"))
        if self._is_cancelled(rid):
            return
        try:
            index = req.get("body", -1)
            body = bytes(buffers[index]) if isinstance(index, int) and 0 <= index < len(buffers) else None
            meta, data = self._fetch(req["url"], method=req.get("method") or "GET", headers=req.get("headers") or {}, body=body)
            answer = {"id": rid, **meta}
        except Exception as err:  # the browser sees a failed fetch; the kernel keeps running
            log.debug("viewer data request failed", exc_info=True)
            answer, data = {"id": rid, "error": f"{type(err).__name__}: {err}"}, None
        self._done.put((answer, data))

    def _is_cancelled(self, rid: str) -> bool:
        with self._lock:
            if rid in self._cancelled:
                self._cancelled.discard(rid)
                self._waiting.discard(rid)
                return True
            return False

    def _still_running(self, ready: int) -> bool:
        with self._lock:
            return len(self._waiting) > ready

    def _send_loop(self) -> None:
        while True:
            first = self._done.get()
            if first is None:
                return
            batch, size = [first], len(first[1] or b"")
            # answers still running may join for a few ms: every message costs the page a task
            # (and often a redraw) on its main thread, so fewer, larger messages load faster
            until = time.monotonic() + COALESCE_S
            while len(batch) < MAX_MESSAGE_ANSWERS and size < MAX_MESSAGE_BYTES:
                left = until - time.monotonic() if self._still_running(len(batch)) else 0
                try:
                    item = self._done.get(timeout=left) if left > 0 else self._done.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._done.put(None)
                    break
                batch.append(item)
                size += len(item[1] or b"")
            self._send_batch(batch)

    def _send_batch(self, batch: list) -> None:
        answers, buffers = [], []
        for answer, data in batch:
            if self._is_cancelled(answer["id"]):
                continue
            with self._lock:
                self._waiting.discard(answer["id"])
            if data is not None:
                answer["buf"] = len(buffers)
                buffers.append(data)
            answers.append(answer)
        if not answers or self._closed:
            return
        try:
            self._send({"kind": "cw:fetched", "answers": answers}, buffers=buffers)
            self.messages += 1
            self.bytes_sent += sum(len(b) for b in buffers)
        except Exception:  # a closed comm: the widget is going away
            log.debug("could not send data answers", exc_info=True)

    def close(self) -> None:
        """Stop sending answers (requests still running finish unseen)."""
        self._closed = True
        self._done.put(None)
