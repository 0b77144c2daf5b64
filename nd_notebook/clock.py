"""Injected time. Every service reads the Host's clock, never ``time.time()`` directly.

``RealClock`` is wall time. ``VirtualClock`` is deterministic discrete-event time that only
moves when the Host's event loop advances it.
"""

from __future__ import annotations

import threading
import time


class Clock:
    """Interface: ``now()`` in Unix seconds (float) and ``now_ms()`` in Unix milliseconds."""

    is_virtual = False

    def now(self) -> float:
        raise NotImplementedError

    def now_ms(self) -> int:
        return int(self.now() * 1000)


class RealClock(Clock):
    def now(self) -> float:
        return time.time()


class VirtualClock(Clock):
    """Deterministic time starting at ``start`` (default 2026-01-01T00:00:00Z)."""

    is_virtual = True
    DEFAULT_START = 1767225600.0

    def __init__(self, start: float | None = None):
        self._now = float(self.DEFAULT_START if start is None else start)
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._now

    def advance_to(self, t: float) -> None:
        with self._lock:
            if t > self._now:
                self._now = float(t)
