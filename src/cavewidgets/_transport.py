"""The one request/response transport every widget uses for binary payloads.

The front-end (``js/shared/transport.ts``) sends ``{"kind": "cw:req", "id", "method", "params"}``
as an anywidget custom message once it has rendered; the widget answers with
``{"kind": "cw:res", "id", "ok", "result" | "error"}`` and Arrow IPC / typed-array buffers.
Sending data only on request keeps it out of the initial state, which Colab drops buffers from.

``{"kind": "cw:cancel", "id"}`` says the browser no longer wants the reply to request ``id``
(superseded on its channel, or timed out). A cancelled request the widget has not started is
not computed; it is answered ``{"ok": false, "cancelled": true}`` without buffers, so the
browser's channel is freed. The kernel handles messages in order, so most superseded reads
never reach it at all: the browser holds them back while their channel has a request out.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any, Callable

log = logging.getLogger(__name__)

Handler = Callable[..., "tuple[Any, list[bytes]] | Any"]
#: how many cancelled request ids a widget remembers (a cancel for a request that already ran
#: is never matched, so the memory must be bounded)
MAX_CANCELLED = 256


class RequestHandlerMixin:
    """Mixin for anywidget widgets: routes ``cw:req`` messages to ``_rpc_<method>`` methods.

    Example::

        class MyWidget(RequestHandlerMixin, anywidget.AnyWidget):
            def _rpc_page(self, start, count):
                return {"start": start}, [arrow_bytes]
    """

    def _init_transport(self) -> None:
        self._cw_cancelled: OrderedDict[str, bool] = OrderedDict()
        self.on_msg(self._on_request)

    def _on_request(self, _widget, content, buffers) -> None:
        if not isinstance(content, dict):
            return
        if content.get("kind") == "cw:cancel":
            self._cancel(content.get("id"))
            return
        if content.get("kind") != "cw:req":
            return
        request_id = content.get("id")
        if self._cw_cancelled.pop(request_id, None) is not None:
            self.send({"kind": "cw:res", "id": request_id, "ok": False, "cancelled": True, "error": "cancelled"})
            return
        method = content.get("method", "")
        handler = getattr(self, f"_rpc_{method}", None)
        try:
            if handler is None or not isinstance(method, str) or not method.isidentifier():
                raise ValueError(f"unknown request {method!r}")
            params = content.get("params") or {}
            if not isinstance(params, dict):
                raise ValueError("request params must be an object")
            answer = handler(**params)
            result, out_buffers = answer if isinstance(answer, tuple) else (answer, [])
            self.send({"kind": "cw:res", "id": request_id, "ok": True, "result": result}, buffers=out_buffers)
        except Exception as err:  # the front-end shows the message; the kernel keeps running
            log.debug("request %s failed", method, exc_info=True)
            self.send({"kind": "cw:res", "id": request_id, "ok": False, "error": f"{type(err).__name__}: {err}"})

    def _cancel(self, request_id) -> None:
        if not isinstance(request_id, str):
            return
        self._cw_cancelled[request_id] = True
        while len(self._cw_cancelled) > MAX_CANCELLED:
            self._cw_cancelled.popitem(last=False)
