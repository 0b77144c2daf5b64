"""Resource caps of plugin calls: wasm memory, output size, host-call request size, concurrency.

A plugin must never take the kernel down, so every call runs under caps that each name
themselves in the error they raise and say how to raise them:

- ``max_memory`` (default 1 GiB; ``Host(max_memory=...)``, ``host.load(..., max_memory=...)``):
  the Extism manifest's ``memory.max_pages``. libextism counts it over all memories of an
  instance together (the module's own and the Extism kernel's, which holds input, output and
  host-call blocks); a growth past it traps with the bare error ``oom``, which
  :func:`memory_exceeded` turns into :class:`~nd_notebook.errors.MemoryLimitError`.
- ``max_output`` (default 64 MiB, Host and per plugin): a call's output longer than that is
  refused before it is copied into Python (:class:`~nd_notebook.errors.OutputLimitError`).
- ``max_request`` (default 16 MiB, Host): a host-call request longer than that gets the
  in-band error :func:`request_too_large` without being copied (runtime/adapter.py).
- ``max_concurrent_calls`` (default 4, Host): calls of one Host running at the same moment on
  different threads; a nested call (a host function calling back into a plugin on the same
  thread) takes no new slot. Wasm memory of a Host's calls is therefore bounded by
  ``max_memory`` x ``max_concurrent_calls`` (plus one instance per level of nesting).
- ``timeout_ms`` (default 30 000, Navidrome's): a positive integer, checked by
  :func:`check_timeout_ms`.

None of these caps exists in Navidrome (its wazero runtime grows memory up to the 4 GiB of
wasm32 and copies any output); they keep a notebook kernel alive.
"""

from __future__ import annotations

import contextlib
import re
import threading
from dataclasses import dataclass

from ..errors import MemoryLimitError, OutputLimitError, PluginCallFailedError

__all__ = ["DEFAULT_MAX_CONCURRENT_CALLS", "DEFAULT_MAX_MEMORY", "DEFAULT_MAX_OUTPUT",
           "DEFAULT_MAX_REQUEST", "OOM", "CallSlots", "Caps", "HostLimits", "call_slot",
           "check_timeout_ms",
           "format_size", "memory_exceeded", "output_exceeded", "parse_size", "request_too_large"]

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
WASM_PAGE = 64 * KiB
#: wasm32 addresses at most 65536 pages: a larger cap would mean no cap.
WASM32_MAX = 65536 * WASM_PAGE

DEFAULT_MAX_MEMORY = 1 * GiB
DEFAULT_MAX_OUTPUT = 64 * MiB
DEFAULT_MAX_REQUEST = 16 * MiB
DEFAULT_MAX_CONCURRENT_CALLS = 4

#: libextism's whole error text when an instance's memory would grow past ``max_pages``.
OOM = "oom"

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3,
          "gb": 1000**3, "kib": KiB, "mib": MiB, "gib": GiB}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Caps:
    """The caps one plugin's calls run under (bytes)."""

    max_memory: int = DEFAULT_MAX_MEMORY
    max_output: int = DEFAULT_MAX_OUTPUT

    @property
    def max_pages(self) -> int:
        """``max_memory`` in 64 KiB wasm pages (rounded up): the Extism manifest value."""
        return -(-self.max_memory // WASM_PAGE)

    def manifest(self) -> dict:
        """The Extism manifest's ``memory`` entry."""
        return {"max_pages": self.max_pages}


class HostLimits:
    """A Host's caps: the defaults of its plugins, its request cap and its call slots."""

    def __init__(self, *, max_memory=DEFAULT_MAX_MEMORY, max_output=DEFAULT_MAX_OUTPUT,
                 max_request=DEFAULT_MAX_REQUEST,
                 max_concurrent_calls: int = DEFAULT_MAX_CONCURRENT_CALLS):
        self.caps = Caps(_memory(max_memory), parse_size(max_output, "max_output"))
        self.max_request = parse_size(max_request, "max_request")
        if (not isinstance(max_concurrent_calls, int) or isinstance(max_concurrent_calls, bool)
                or max_concurrent_calls < 1):
            raise ValueError(f"max_concurrent_calls must be a positive integer, not "
                             f"{max_concurrent_calls!r}")
        self.slots = CallSlots(max_concurrent_calls)

    def for_plugin(self, max_memory=None, max_output=None) -> Caps:
        """The caps of one plugin: the Host's, with the ones given here in their place."""
        return Caps(self.caps.max_memory if max_memory is None else _memory(max_memory),
                    self.caps.max_output if max_output is None
                    else parse_size(max_output, "max_output"))


class CallSlots:
    """At most ``limit`` calls at once on different threads; nested calls on one thread share
    their outer call's slot (so a plugin calling back into plugins cannot deadlock on it)."""

    def __init__(self, limit: int):
        self.limit = limit
        self._free = threading.BoundedSemaphore(limit)
        self._depth = threading.local()

    def held(self, timeout_s: float, export: str) -> _Held:
        """``with slots.held(30, export):`` around one call."""
        return _Held(self, timeout_s, export)

    def acquire(self, timeout_s: float, export: str) -> None:
        depth = getattr(self._depth, "n", 0)
        if depth == 0 and not self._free.acquire(timeout=timeout_s):
            raise PluginCallFailedError(
                f"plugin call failed: {self.limit} calls of this Host were still running after "
                f"{timeout_s:g} s (max_concurrent_calls={self.limit}; raise it with "
                "Host(max_concurrent_calls=...))", export=export)
        self._depth.n = depth + 1

    def release(self) -> None:
        self._depth.n -= 1
        if self._depth.n == 0:
            self._free.release()


class _Held:
    __slots__ = ("export", "slots", "timeout_s")

    def __init__(self, slots: CallSlots, timeout_s: float, export: str):
        self.slots, self.timeout_s, self.export = slots, timeout_s, export

    def __enter__(self) -> None:
        self.slots.acquire(self.timeout_s, self.export)

    def __exit__(self, *exc) -> None:
        self.slots.release()


def call_slot(host, export: str):
    """The Host-wide slot one call of ``export`` runs in (none for a plugin without a Host)."""
    limits = getattr(host, "limits", None)
    if limits is None:
        return contextlib.nullcontext()
    return limits.slots.held(host.timeout_ms / 1000, export)


def check_timeout_ms(value) -> int:
    """``timeout_ms`` as Extism takes it: a positive whole number of milliseconds."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"timeout_ms must be a positive integer (milliseconds per plugin call; "
                         f"Navidrome uses 30000), not {value!r}")
    return value


def parse_size(value, name: str) -> int:
    """A size in bytes from an int or a text like ``"1GiB"``, ``"512 MiB"``, ``"64MB"``."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str):
        m = _SIZE.match(value)
        if m and m.group(2).lower() in _UNITS:
            size = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
            if size > 0:
                return size
    raise ValueError(f"{name} must be a positive size in bytes or a text such as '1GiB', "
                     f"'512MiB' or '64MB', not {value!r}")


def format_size(n: int) -> str:
    """``1073741824`` -> ``"1 GiB"``, ``1500`` -> ``"1500 bytes"``."""
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= size and n % (size // 16) == 0:
            return f"{n / size:g} {unit}"
    return f"{n:,} bytes"


def memory_exceeded(caps: Caps, *, export: str, plugin_id: str) -> MemoryLimitError:
    """The error of a call whose instance tried to grow past ``caps.max_memory``."""
    limit = format_size(caps.max_pages * WASM_PAGE)
    err = MemoryLimitError(
        f"plugin call failed: out of memory: plugin {plugin_id!r} reached its memory limit of "
        f"{limit} (max_memory, {caps.max_pages} wasm pages, its own memory and Extism's "
        f"together); raise it with host.load(..., max_memory=\"2GiB\") or "
        f"Host(max_memory=...)", export=export)
    err.plugin_id, err.reason, err.limit = plugin_id, OOM, caps.max_pages * WASM_PAGE
    return err


def output_exceeded(caps: Caps, length: int, *, export: str, plugin_id: str) -> OutputLimitError:
    """The error of a call whose output is longer than ``caps.max_output`` (never copied)."""
    err = OutputLimitError(
        f"plugin call failed: output of {length:,} bytes exceeds the output limit of "
        f"{format_size(caps.max_output)} (max_output); raise it with "
        f"host.load(..., max_output=...) or Host(max_output=...)", export=export)
    err.plugin_id, err.limit = plugin_id, caps.max_output
    return err


def request_too_large(length: int, limit: int, function: str) -> str:
    """The in-band error of a host-call request longer than the Host's ``max_request``."""
    return (f"{function} request of {length:,} bytes exceeds the host-call request limit of "
            f"{format_size(limit)} (nd-notebook's max_request; raise it with "
            "Host(max_request=...))")


def _memory(value) -> int:
    size = parse_size(value, "max_memory")
    if size > WASM32_MAX:
        raise ValueError(f"max_memory can be at most 4 GiB (65536 wasm pages, all a wasm32 "
                         f"module can address), not {format_size(size)}")
    return size
