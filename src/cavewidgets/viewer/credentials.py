"""CAVE tokens for the embedded neuroglancer, through neuroglancer's own credentials path.

The embedded neuroglancer forwards every credentials request to the kernel (``ng_credentials``
over the widget channel with ``{"key", "parameters", "invalid"}``, see :mod:`.channel`); the
Python package only knows brainmaps/gcs/boss/dvid keys. A ``middleauth+https://host/...`` source
asks for key ``"middleauthapp"`` with the host's origin as parameter (answered as
``{tokenType, accessToken, url, appUrls}``). This module registers ``middleauthapp`` and
``middleauth`` providers that answer from the CAVEclient registered for that origin. The token
only travels in that reply, on request, never in state or URLs; for origins the kernel itself
answers (:mod:`.proxy`) the browser gets a placeholder instead.

Example::

    register_origin("http://127.0.0.1:8000", lambda: client.auth.token)
"""

from __future__ import annotations

import concurrent.futures
import logging
import re
import threading
from typing import Callable

log = logging.getLogger(__name__)

_lock = threading.Lock()
_origins: dict[str, list[tuple[int, Callable[[], str | None]]]] = {}
_installed = False
#: how many credentials requests were answered, per origin (tests and diagnostics; no tokens)
served: dict[str, int] = {}


class CredentialsError(RuntimeError):
    pass


def register_origin(origin: str, get_token: Callable[[], str | None], owner: int) -> None:
    """Answer middleauth requests for ``origin`` with ``get_token()`` (the newest owner wins)."""
    install()
    with _lock:
        entries = [e for e in _origins.get(origin.rstrip("/"), []) if e[0] != owner]
        entries.append((owner, get_token))
        _origins[origin.rstrip("/")] = entries


def unregister_owner(owner: int) -> None:
    with _lock:
        for origin in list(_origins):
            entries = [e for e in _origins[origin] if e[0] != owner]
            if entries:
                _origins[origin] = entries
            else:
                del _origins[origin]


def origins_of(owner: int) -> list[str]:
    """The origins ``owner`` registered (``register_origin``), in registration order.

    Example::

        register_origin("https://cave.example.org", lambda: token, owner=id(viewer))
        origins_of(id(viewer))     # ["https://cave.example.org"]
    """
    with _lock:
        return [o for o, entries in _origins.items() if any(e[0] == owner for e in entries)]


def token_for(origin: str | None) -> str | None:
    if not origin:
        return None
    origin = _origin_of(origin)
    with _lock:
        entries = list(_origins.get(origin, []))
    for _owner, get in reversed(entries):
        token = get()
        if token:
            return token
    return None


def known_tokens() -> list[str]:
    """Every token currently registered (for scrubbing)."""
    with _lock:
        getters = [g for entries in _origins.values() for _o, g in entries]
    out = []
    for g in getters:
        try:
            t = g()
        except Exception:
            t = None
        if t:
            out.append(t)
    return out


def _origin_of(url: str) -> str:
    m = re.match(r"^(https?://[^/]+)", url.strip())
    return m.group(1) if m else url.strip().rstrip("/")


def middleauth_credentials(origin: str) -> dict:
    """The credentials neuroglancer's middleauth providers hand to its fetches."""
    token = token_for(origin)
    if not token:
        raise CredentialsError(f"no CAVE token registered for {origin}")
    origin = _origin_of(origin)
    return {"tokenType": "Bearer", "accessToken": token, "url": origin, "appUrls": [origin]}


def _make_provider_class():
    from neuroglancer import credentials_provider

    class MiddleAuthProvider(credentials_provider.CredentialsProvider):
        """Answers from the registered client; a second request after the browser reported the
        token invalid (a 401 with it) fails instead of looping on the same token."""

        def __init__(self, origin: str):
            super().__init__()
            self.origin = origin
            self._last_token: str | None = None

        def get(self, invalid_generation=None):
            # always re-read the token (it can change: client.auth.token = ...)
            with self._lock:
                if self.credentials is not None and invalid_generation is not None and invalid_generation == self.credentials["generation"]:
                    token = token_for(self.origin)
                    if token == self._last_token:
                        f = concurrent.futures.Future()
                        f.set_exception(CredentialsError(f"the CAVE token for {self.origin} was rejected"))
                        return f
                self.future = None
                self.credentials = None
            return super().get(invalid_generation)

        def get_new(self):
            f = concurrent.futures.Future()
            try:
                creds = middleauth_credentials(self.origin)
                self._last_token = creds["accessToken"]
                served[self.origin] = served.get(self.origin, 0) + 1
                f.set_result(creds)
            except Exception as err:
                f.set_exception(err)
            return f

    return MiddleAuthProvider


_providers: dict[str, object] = {}


def _provider_for(parameters) -> object:
    origin = _origin_of(str(parameters or ""))
    with _lock:
        p = _providers.get(origin)
        if p is None:
            p = _providers[origin] = _make_provider_class()(origin)
    return p


def install() -> None:
    """Register the middleauth providers (idempotent)."""
    global _installed
    if _installed:
        return
    from neuroglancer.default_credentials_manager import default_credentials_manager

    default_credentials_manager.register("middleauthapp", _provider_for)
    default_credentials_manager.register("middleauth", _provider_for)
    _installed = True
