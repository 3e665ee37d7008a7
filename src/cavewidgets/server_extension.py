"""A Jupyter server extension: kernel websockets send every message at once (TCP_NODELAY).

Jupyter server relays each kernel message to the browser's websocket as it arrives, but leaves
Nagle's algorithm on (tornado's default: ``WebSocketHandler.set_nodelay`` is never called). A
small message written while the previous one is not yet acknowledged waits for the browser's
delayed ACK, 40 ms on Linux. That is the common case for a widget: the kernel's ``busy`` status
goes out, then the comm message right behind it waits. On our test machine a widget's reply took
43 ms median from kernel to page with Nagle and 10 ms without (``benchmarks/channel_latency.py``).

Installed with the package and enabled by ``jupyter-config/jupyter_server_config.d/cavewidgets.json``
in every Jupyter server of the environment (JupyterLab, Notebook 7, a JupyterHub single-user
server, Binder). It applies to every kernel's websocket, not only ours: the cost is a few more
small TCP packets. Google Colab and VS Code do not run a Jupyter server in front of the browser,
so it does not apply there. Turn it off with ``jupyter server extension disable cavewidgets``.

Example::

    from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection
    without_nagle(ZMQChannelsWebsocketConnection)  # a subclass whose connect() sets TCP_NODELAY
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)
SETTING = "kernel_websocket_connection_class"


def without_nagle(base: type) -> type:
    """A subclass of the kernel websocket connection class ``base`` that turns Nagle's algorithm
    off on the browser's websocket before connecting it to the kernel (idempotent).

    Example::

        settings["kernel_websocket_connection_class"] = without_nagle(settings["kernel_websocket_connection_class"])
    """
    if getattr(base, "_cavewidgets_nodelay", False):
        return base

    class NoDelayConnection(base):  # type: ignore[misc, valid-type]
        _cavewidgets_nodelay = True

        async def connect(self):
            try:  # open() has run: the handshake is done and ws_connection exists
                self.websocket_handler.set_nodelay(True)
            except Exception:  # never keep a kernel from connecting over a socket option
                log.debug("could not set TCP_NODELAY on a kernel websocket", exc_info=True)
            return await super().connect()

    NoDelayConnection.__name__ = NoDelayConnection.__qualname__ = f"NoDelay{base.__name__}"
    NoDelayConnection.__module__ = __name__
    return NoDelayConnection


def _load_jupyter_server_extension(serverapp) -> None:
    settings = serverapp.web_app.settings
    base = settings.get(SETTING)
    if base is None:  # jupyter_server < 2 has no connection class to extend
        serverapp.log.warning("cavewidgets: this Jupyter server has no %s; kernel messages keep Nagle's delay", SETTING)
        return
    settings[SETTING] = without_nagle(base)
    serverapp.log.info("cavewidgets: kernel websockets send without Nagle's delay (TCP_NODELAY)")
