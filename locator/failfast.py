"""A fail-fast gate for a dependency that can hang instead of refusing.

A database or a routing engine that is down refuses a connection at once; one behind a
network fault, stopped by a signal, swapping or stuck does not answer at all, and every
request would wait out its timeout, until a crowd of them holds every worker thread.
Behind a gate, after a failure only one request per ``cooldown_s`` probes the
dependency; the rest are refused on the spot (the caller answers 503 quickly), and the
dependency is noticed back within ``cooldown_s`` of its return.

Top level, beside ``errors``, because the database engines (``locator.db.engine``) and
the routing engine's client (``locator.travel.osrm.client``) both use it, and the
database layer may import nothing above itself.
"""

from __future__ import annotations

import threading
import time


class Gate:
    """``admit()`` before each attempt (False: refuse it now), ``settle(ok)`` after."""

    def __init__(self, cooldown_s: float) -> None:
        self.cooldown_s = cooldown_s
        self._failed_at: float | None = None
        self._probing = False
        self._lock = threading.Lock()

    def admit(self) -> bool:
        with self._lock:
            if self._failed_at is None:
                return True
            if self._probing or time.monotonic() - self._failed_at < self.cooldown_s:
                return False
            self._probing = True
            return True

    def settle(self, ok: bool) -> None:
        with self._lock:
            self._failed_at = None if ok else time.monotonic()
            self._probing = False
