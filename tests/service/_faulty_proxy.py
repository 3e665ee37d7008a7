"""A real HTTP proxy in front of the sample service that can fail on purpose.

Fault injection for the posting tests: requests go over real sockets to the real service;
the proxy only decides, per request, whether to forward it and whether the client gets the
answer. ``faults`` is a list of ``(method, path_substring, action)`` consumed in order:

- ``"500"``: answer 500 without forwarding (the service never sees the request);
- ``"lost"``: forward, let the service write, then drop the connection (a lost response);
- ``"reset"``: forward, let the service write, then reset the connection (TCP RST);
- ``"slow"``: forward, let the service write, answer ``slow_seconds`` later (past the client's timeout);
- ``"hold"``: hold the request ``hold_seconds`` (past the client's timeout) or until
  :meth:`FaultyProxy.release`, then forward it: the service writes after the client gave up (a
  slow server or a queue in front of it);
- ``"down"``: drop the connection without forwarding;
- ``"restart"`` / ``"restart_after"``: restart the service (``on_restart``) before forwarding
  (the request never arrives) or after the service wrote (the answer is lost);
- ``"kill"`` / ``"kill_after"``: SIGKILL the process ``victim`` (a posting "kernel") before
  forwarding or after the service wrote, then drop the connection;
- ``"crash_after"``: forward, let the service write, then answer the 500 a deployed CAVE engine
  answers when it crashes after its commit (``{"code": 500, "message", "traceback"}``, as
  AnnotationEngine's ``unhandled_exception`` writes it when ``trigger_supervoxel_lookup`` cannot
  reach the materialization service);
- ``"pass"``: forward normally (lets a schedule hit the n-th matching request).

``in_flight`` counts the requests that may still reach the service (held, or being forwarded):
when it is 0, nothing a client sent earlier can be written later.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# hop-by-hop and length headers: the proxy sets its own
#: a crash after the insert committed: the engine's call to the materialization service failed
CRASH_MESSAGE = ("HTTPSConnectionPool(host='minnie.microns-daf.com', port=443): Max retries exceeded with url: "
                 "/materialize/api/v2/datastack/minnie65_phase3_v1/lookup_supervoxel_ids")
_SKIP = {"content-length", "transfer-encoding", "connection", "keep-alive"}


class FaultyProxy:
    def __init__(self, upstream: str, on_restart=None, slow_seconds: float = 1.0, hold_seconds: float = 1.0):
        self.upstream = upstream.rstrip("/")
        self.faults: list[tuple[str, str, str]] = []
        self.forwarded: list[tuple[str, str]] = []
        self.taken: list[str] = []  # the actions of the faults consumed, in order
        self.on_restart = on_restart  # () -> None: stop and start the service on the same port
        self.slow_seconds = slow_seconds
        self.hold_seconds = hold_seconds
        self.holding = 0  # held requests not yet forwarded and answered
        self.in_flight = 0  # requests taken and not yet dropped or answered by the service: writes that may land
        self._release = threading.Event()
        self.victim: int | None = None  # pid killed by "kill" / "kill_after"
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body leave in two writes: with Nagle's algorithm on, the body waited for
            # the client's delayed ACK of the headers (~40 ms an answer, half a review schedule)
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def _drop(self, reset: bool = False):
                if reset:  # linger 0: close sends RST instead of FIN
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                self._gone = False  # one handler serves every request of a kept-alive connection
                action = proxy._take(self.command, self.path)
                try:
                    self._answer(action, body)
                finally:
                    proxy._landed(self)

            def _answer(self, action, body):
                if action == "500":
                    data = b'{"message": "injected failure"}'
                    self.send_response(500)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                if action in ("down", "restart", "kill"):
                    if action == "restart":
                        proxy.on_restart()
                    if action == "kill":
                        proxy._kill()
                    self._drop()
                    return
                if action == "hold":
                    with proxy._lock:
                        proxy.holding += 1
                    proxy._release.wait(proxy.hold_seconds)
                try:
                    with proxy._lock:
                        proxy.forwarded.append((self.command, self.path))
                    try:
                        status, headers, content = proxy._forward(self.command, self.path, self.headers, body)
                    except (OSError, http.client.HTTPException):  # the service is down: so is the connection
                        self._drop()
                        return
                finally:
                    if action == "hold":
                        with proxy._lock:
                            proxy.holding -= 1
                    proxy._landed(self)  # the service answered (or is down): nothing of it lands later
                if action in ("lost", "reset", "restart_after", "kill_after"):
                    if action == "restart_after":
                        proxy.on_restart()
                    if action == "kill_after":
                        proxy._kill()
                    self._drop(reset=action == "reset")
                    return
                if action == "crash_after":
                    status, headers = 500, [("Content-Type", "application/json")]
                    content = json.dumps({"code": 500, "message": CRASH_MESSAGE,
                                          "traceback": ["Traceback (most recent call last):\n", CRASH_MESSAGE]}).encode()
                if action == "slow":
                    time.sleep(proxy.slow_seconds)
                try:
                    self.send_response(status)
                    for k, v in headers:
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(content)))
                    self.end_headers()
                    self.wfile.write(content)
                except OSError:  # the client gave up waiting (a "slow" or "hold" answer)
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _forward(self, method: str, path: str, headers, body: bytes | None):
        """One request to the service on a new connection, body and headers as they came (Host
        kept: the service builds URLs from it); returns ``(status, headers, body)`` as received
        (repeated headers such as ``Warning`` stay separate, the body stays encoded)."""
        up = urlsplit(self.upstream)
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=120)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for k, v in headers.items():
                if k.lower() not in _SKIP:
                    conn.putheader(k, v)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            r = conn.getresponse()
            content = r.read()
            return r.status, [(k, v) for k, v in r.getheaders() if k.lower() not in _SKIP], content
        finally:
            conn.close()

    def _take(self, method: str, path: str) -> str | None:
        with self._lock:
            self.in_flight += 1
            for i, (m, part, action) in enumerate(self.faults):
                if m == method and part in path:
                    del self.faults[i]
                    self.taken.append(action)
                    return action
        return None

    def _landed(self, handler) -> None:
        """Once per request taken: it can no longer reach the service."""
        if not handler._gone:
            handler._gone = True
            with self._lock:
                self.in_flight -= 1

    def _kill(self) -> None:
        if self.victim is not None:
            try:
                os.kill(self.victim, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def release(self) -> None:
        """Forward every held request now (and any later one at once)."""
        self._release.set()

    def posts(self, part: str = "/annotations") -> int:
        """How many POSTs containing ``part`` reached the service."""
        return sum(1 for m, p in self.forwarded if m == "POST" and part in p)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
