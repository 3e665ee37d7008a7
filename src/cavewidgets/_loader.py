"""One worker thread that loads the latest requested neuron into a 3D panel.

Example::

    loader = LatestLoader(lambda root: panel.show(root))
    loader.request(864691135808684573)
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
from typing import Callable

log = logging.getLogger(__name__)


class LatestLoader:
    """Runs panel loads in one worker thread; a newer request replaces a waiting one, so a
    proofreader clicking through rows never queues up stale neurons."""

    def __init__(self, load: Callable[[int], None]):
        self._load = load
        self._wanted: int | None = None
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="cavewidgets-explorer-loader", daemon=True)
        self._thread.start()
        self.busy = False

    def request(self, root_id: int) -> None:
        with self._cond:
            self._wanted = root_id
            self._cond.notify()

    def wait_idle(self, timeout: float = 120.0) -> bool:
        """Block until no load is waiting or running (tests, scripts)."""
        end = _dt.datetime.now().timestamp() + timeout
        with self._cond:
            while (self._wanted is not None or self.busy) and _dt.datetime.now().timestamp() < end:
                self._cond.wait(0.05)
            return self._wanted is None and not self.busy

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._wanted is None:
                    self._cond.wait()
                root, self._wanted = self._wanted, None
                self.busy = True
            try:
                self._load(root)
            except Exception:  # noqa: BLE001 - the panel shows the error itself
                log.debug("panel load of %s failed", root, exc_info=True)
            finally:
                with self._cond:
                    self.busy = False
                    self._cond.notify_all()
