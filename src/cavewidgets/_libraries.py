"""How cavewidgets uses its libraries quietly: HTTP pools sized for the threads that share them,
and the libraries' expected chatter routed to a logger that is quiet by default.

A normal run prints nothing: a warning in a notebook cell reads as "something broke". What the
libraries say about our own, expected use goes to the ``cavewidgets.libraries`` logger at DEBUG
(silent unless you ask for it); real failures are raised as exceptions and shown in the widget.

Example::

    import logging
    logging.basicConfig()
    logging.getLogger("cavewidgets.libraries").setLevel(logging.DEBUG)   # see the chatter again
"""

from __future__ import annotations

import inspect
import logging
import re
import threading

__all__ = ["LIBRARY_LOG", "quiet_libraries", "size_cloudfiles_pool"]

#: where expected library chatter goes, at DEBUG
LIBRARY_LOG = logging.getLogger("cavewidgets.libraries")

# (logger name, message pattern) of records that are expected in a normal run. Each entry says
# why it is not a problem; anything else passes through untouched.
_EXPECTED = [
    # urllib3 closes a finished connection instead of keeping it when more threads than the pool
    # holds share one adapter: slower, never wrong. We size our pools (size_cloudfiles_pool);
    # this catches what another library opens with its default of 10.
    ("urllib3.connectionpool", re.compile(r"^Connection pool is full, discarding connection")),
    # caveclient logs this on the root logger from every live_live_query, the endpoint it offers
    # for queries newer than the last materialization; we use it on purpose.
    ("root", re.compile(r"^Deprecation: this method is to facilitate beta testing")),
]

_lock = threading.Lock()
_installed = False
_pool_sized = False


class _ExpectedChatter(logging.Filter):
    """Drops an expected record from its logger and re-logs it to ``cavewidgets.libraries``."""

    def __init__(self, pattern: re.Pattern):
        super().__init__()
        self.pattern = pattern

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is not ours to judge
            return True
        if not self.pattern.search(message):
            return True
        LIBRARY_LOG.debug("%s: %s", record.name, message)
        return False


def quiet_libraries() -> None:
    """Route the libraries' expected chatter (see ``_EXPECTED``) to ``cavewidgets.libraries`` at
    DEBUG. Idempotent; called when a widget that fetches is created.

    Example::

        quiet_libraries()
    """
    global _installed
    with _lock:
        if _installed:
            return
        for name, pattern in _EXPECTED:
            logger = logging.getLogger() if name == "root" else logging.getLogger(name)
            logger.addFilter(_ExpectedChatter(pattern))
        _installed = True


def size_cloudfiles_pool() -> int:
    """Give cloud-files' shared HTTP adapter one pooled connection per download thread.

    cloud-files downloads a mesh's fragments with ``CloudFiles(num_threads=20)`` threads through
    one class-wide ``requests`` adapter that keeps urllib3's default of 10 connections per host,
    so every download beyond ten logged "Connection pool is full" and reconnected. Returns the
    pool size now in place. Idempotent.

    Example::

        size_cloudfiles_pool()   # 20
    """
    global _pool_sized
    from cloudfiles import CloudFiles
    from cloudfiles.interfaces import HttpInterface
    from requests.adapters import HTTPAdapter

    with _lock:
        current = HttpInterface.adaptor
        if _pool_sized:
            return current._pool_maxsize
        threads = inspect.signature(CloudFiles).parameters["num_threads"].default
        want = max(int(threads), 10)
        if getattr(current, "_pool_maxsize", 0) < want:
            HttpInterface.adaptor = HTTPAdapter(pool_connections=10, pool_maxsize=want)
        _pool_sized = True
        return HttpInterface.adaptor._pool_maxsize
