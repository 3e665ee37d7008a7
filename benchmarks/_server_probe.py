"""Benchmark-only Jupyter server hook: when each viewer state request (``ng_state``) and channel
ping (``ng_ping``) from the page reaches the Jupyter server, and when the server has handed it to
the kernel's ZMQ socket. Splits the browser → Python trip into browser → server and server →
kernel (both on this machine's clock).

Loaded with ``--ServerApp.kernel_websocket_connection_class=_server_probe.ProbeConnection`` (this
folder on the server's ``PYTHONPATH``); cavewidgets' extension still wraps it (TCP_NODELAY).
Lines ``<method> <t_in> <t_out>`` (``time.time()`` seconds) go to the file named by
``CW_BENCH_SERVER_PROBE``.

Example::

    relayed_after("/tmp/probe.txt", "ng_state", sent_ms)   # (t_in, t_out) or None
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection

WATCHED = (b"ng_state", b"ng_ping")
_out = open(os.environ["CW_BENCH_SERVER_PROBE"], "a", buffering=1) if os.environ.get("CW_BENCH_SERVER_PROBE") else None


class ProbeConnection(ZMQChannelsWebsocketConnection):
    def handle_incoming_message(self, incoming_msg) -> None:
        t_in = time.time()
        super().handle_incoming_message(incoming_msg)
        if _out is None:
            return
        raw = incoming_msg if isinstance(incoming_msg, bytes) else str(incoming_msg).encode()
        head = raw[:4096]  # the method name is in the content, before any buffer
        for name in WATCHED:
            if b'"method":"' + name + b'"' in head or b'"method": "' + name + b'"' in head:
                _out.write(f"{name.decode()} {t_in:.6f} {time.time():.6f}\n")


def relayed_after(path: str | os.PathLike, method: str, t_ms: float) -> tuple[float, float] | None:
    """``(t_in, t_out)`` in seconds of the first ``method`` request the server received at or after
    ``t_ms`` (the page's ``Date.now()``, 2 ms of clock rounding allowed); None if there was none."""
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        return None
    for line in lines:
        parts = line.split()
        if len(parts) == 3 and parts[0] == method and float(parts[1]) * 1000 >= t_ms - 2:
            return float(parts[1]), float(parts[2])
    return None
