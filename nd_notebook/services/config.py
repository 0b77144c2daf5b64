"""Config host service (``config_get``, ``config_getint``, ``config_keys``): always available.

Reads the plugin's configuration map (spec 1.3: string values, complex values as JSON text).
Never fails: a missing key or an unparsable integer is just ``exists=False``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..context import PluginContext

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1


class ConfigService:
    """Navidrome's ConfigService over ``ctx.config``."""

    def __init__(self, ctx: PluginContext):
        self._config: dict[str, str] = dict(ctx.config or {})

    def get(self, key: str) -> tuple[str, bool]:
        """The value and whether the key exists (an empty value still exists, unlike GetConfig)."""
        if key in self._config:
            return self._config[key], True
        return "", False

    def get_int(self, key: str) -> tuple[int, bool]:
        """The value parsed like Go ``strconv.ParseInt(v, 10, 64)``; ``(0, False)`` if it is not."""
        value = self._config.get(key)
        if value is None:
            return 0, False
        parsed = parse_int64(value)
        if parsed is None:
            return 0, False
        return parsed, True

    def keys(self, prefix: str = "") -> list[str]:
        """Keys starting with ``prefix`` (all keys for ``""``), sorted ascending by bytes."""
        return sorted(k for k in self._config if k.startswith(prefix))

    def close(self) -> None:
        """Nothing to release."""


_BASE10 = re.compile(r"[+-]?[0-9]+")


def parse_int64(text: str) -> int | None:
    """Go ``strconv.ParseInt(text, 10, 64)``: optional sign, ASCII digits only, int64 range.

    Python's ``int()`` is laxer (spaces, ``_`` separators, non-ASCII digits), hence the regex.
    """
    if not _BASE10.fullmatch(text):
        return None
    value = int(text)
    if not _INT64_MIN <= value <= _INT64_MAX:
        return None
    return value
