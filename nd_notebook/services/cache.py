"""Cache host service (``cache_*``): Navidrome's per-plugin in-memory ttlcache.

Rules (spec 2.3 / 6.1):
- one cache per loaded plugin, keys not prefixed, no size limit, emptied by ``close()``;
- values keep the Go type of the setter that stored them (string, int64, float64, []byte) and a
  getter of another type answers a miss, while ``has`` is true for any type;
- ``ttl_seconds <= 0`` means the default 24 h; setting a key replaces value, type and TTL;
- an entry is gone once its expiry is strictly in the past; every lookup that finds it (``get*``
  of any type and ``has``) pushes the expiry to now + its own TTL (ttlcache v3's default
  touch-on-hit; inferred from the library, not asserted by Navidrome's tests).
Time comes from ``ctx.clock``, so a virtual clock expires entries too.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ServiceError

if TYPE_CHECKING:
    from ..clock import Clock
    from ..context import PluginContext

DEFAULT_TTL_SECONDS = 24 * 60 * 60

_STRING, _INT64, _FLOAT64, _BYTES = "string", "int64", "float64", "[]byte"


class CacheService:
    """Navidrome's CacheService: typed values with a TTL, one instance per plugin."""

    def __init__(self, ctx: PluginContext):
        self._clock: Clock = ctx.clock
        self._items: dict[str, _Item] = {}
        self._lock = threading.Lock()

    def set_string(self, key: str, value: str, ttl_seconds: int = 0) -> None:
        self._set(key, _STRING, value, ttl_seconds)

    def get_string(self, key: str) -> tuple[str, bool]:
        return self._get(key, _STRING, "")

    def set_int(self, key: str, value: int, ttl_seconds: int = 0) -> None:
        self._set(key, _INT64, int(value), ttl_seconds)

    def get_int(self, key: str) -> tuple[int, bool]:
        return self._get(key, _INT64, 0)

    def set_float(self, key: str, value: float, ttl_seconds: int = 0) -> None:
        """Stores a float64. NaN and ±Inf are refused with the error Go's JSON encoder gives
        for them, since such a value could never travel back to a plugin."""
        value = float(value)
        if math.isnan(value) or math.isinf(value):
            raise ServiceError(f"json: unsupported value: {_go_float_text(value)}")
        self._set(key, _FLOAT64, value, ttl_seconds)

    def get_float(self, key: str) -> tuple[float, bool]:
        return self._get(key, _FLOAT64, 0.0)

    def set_bytes(self, key: str, value: bytes | None, ttl_seconds: int = 0) -> None:
        self._set(key, _BYTES, None if value is None else bytes(value), ttl_seconds)

    def get_bytes(self, key: str) -> tuple[bytes | None, bool]:
        return self._get(key, _BYTES, None)

    def has(self, key: str) -> bool:
        """True for a live entry of any type (and touches it, like a get)."""
        with self._lock:
            return self._lookup(key) is not None

    def remove(self, key: str) -> None:
        """Drops the entry; removing a missing key is not an error."""
        with self._lock:
            self._items.pop(key, None)

    def close(self) -> None:
        """Plugin unloaded: every entry is dropped."""
        with self._lock:
            self._items.clear()

    # -- helpers ---------------------------------------------------------------------------

    def _set(self, key: str, kind: str, value: Any, ttl_seconds: int) -> None:
        ttl = _effective_ttl(int(ttl_seconds or 0))
        with self._lock:
            now = self._clock.now()
            self._items[key] = _Item(kind, value, ttl, None if ttl is None else now + ttl)

    def _get(self, key: str, kind: str, zero: Any) -> tuple[Any, bool]:
        with self._lock:
            item = self._lookup(key)
        if item is None or item.kind != kind:
            return zero, False
        return item.value, True

    def _lookup(self, key: str) -> _Item | None:
        """The live entry (touched) or None; an expired entry is dropped on the way."""
        item = self._items.get(key)
        if item is None:
            return None
        now = self._clock.now()
        if item.expires_at is not None and item.expires_at < now:
            del self._items[key]
            return None
        if item.ttl is not None:
            item.expires_at = now + item.ttl
        return item


@dataclass
class _Item:
    kind: str
    value: Any
    ttl: float | None  # seconds; None = never expires
    expires_at: float | None


def _effective_ttl(ttl_seconds: int) -> float | None:
    """Navidrome's ``time.Duration(ttlSeconds) * time.Second`` as ttlcache sees it.

    ``<= 0`` selects the 24 h default. The nanosecond product wraps like Go's int64 for
    absurd TTLs: a wrapped negative duration never expires, a wrapped zero is the default.
    """
    if ttl_seconds <= 0:
        return float(DEFAULT_TTL_SECONDS)
    ns = (ttl_seconds * 1_000_000_000) & 0xFFFF_FFFF_FFFF_FFFF
    if ns >= 1 << 63:
        ns -= 1 << 64
    if ns == 0:
        return float(DEFAULT_TTL_SECONDS)
    if ns < 0:
        return None
    return ns / 1_000_000_000


def _go_float_text(value: float) -> str:
    """How Go's ``strconv.FormatFloat(v, 'g', -1, 64)`` spells non-finite values."""
    if math.isnan(value):
        return "NaN"
    return "+Inf" if value > 0 else "-Inf"
