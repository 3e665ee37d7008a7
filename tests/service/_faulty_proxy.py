"""A real HTTP proxy in front of the sample service that can fail on purpose.

Fault injection for the posting tests: requests go over real sockets to the real service;
the proxy only decides, per request, whether to forward it and whether the client gets the
answer. ``faults`` is a list of ``(method, path_substring, action)`` consumed in order:

- ``"500"``: answer 500 without forwarding (the service never sees the request);
- ``"lost"``: forward, let the service write, then drop the connection (a lost response);
- ``"down"``: drop the connection without forwarding;
- ``"pass"``: forward normally (lets a schedule hit the n-th matching request).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests


class FaultyProxy:
    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self.faults: list[tuple[str, str, str]] = []
        self.forwarded: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                action = proxy._take(self.command, self.path)
                if action == "500":
                    data = b'{"message": "injected failure"}'
                    self.send_response(500)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                if action == "down":
                    self.close_connection = True
                    self.connection.close()
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() != "content-length"}  # keep Host: the service builds URLs from it
                with proxy._lock:
                    proxy.forwarded.append((self.command, self.path))
                r = requests.request(self.command, proxy.upstream + self.path, data=body, headers=headers,
                                     allow_redirects=False, timeout=120)
                if action == "lost":
                    self.close_connection = True
                    self.connection.close()
                    return
                self.send_response(r.status_code)
                for k, v in r.headers.items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(r.content)))
                self.end_headers()
                self.wfile.write(r.content)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _take(self, method: str, path: str) -> str | None:
        with self._lock:
            for i, (m, part, action) in enumerate(self.faults):
                if m == method and part in path:
                    del self.faults[i]
                    return action
        return None

    def posts(self, part: str = "/annotations") -> int:
        """How many POSTs containing ``part`` reached the service."""
        return sum(1 for m, p in self.forwarded if m == "POST" and part in p)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
