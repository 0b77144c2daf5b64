"""A plugin's own clock on a virtual-clock Host: WASI ``clock_time_get`` answered by the Host.

``time.Now()`` in a Go plugin (``SystemTime::now()`` in Rust, ``clock_gettime`` in C) is WASI's
``clock_time_get``, which libextism answers inside itself by writing the time into the plugin's
memory, where no Python host function can write. On ``Host(clock="virtual")`` the loader runs a
rewritten module instead (:func:`with_host_clock`):

- the import ``wasi_snapshot_preview1 clock_time_get`` keeps its function index but becomes
  ``nd_notebook clock_time_get (clock_id i32) -> i64``, answered by :func:`functions`: for the
  real-time clock (0), the Host clock's time, to which the readings of an export after its
  first add the real time since that one, in whole milliseconds, and a direct call never reads
  before a reading an earlier call had (:func:`now_ns`); for the monotonic one (1), the
  real time since the instance was created, as libextism's own clock counts (Go's timers and
  ``time.Sleep`` work as on a real clock); ``EBADF`` (8) for the CPU-time clocks, as libextism
  answers them; an unknown clock id traps, as in libextism (there with the text ``Invalid enum
  value Clockid``, here wasm's ``unreachable``);
- a function appended to the module does what WASI's did with that answer (store it at the
  given address, return the errno), and every ``call`` of the import in the code calls it.

The import keeps its index and most code offsets stay where they were
(runtime/wasmimports.py, which does the rewrite, says which may move).

An init that reads the wall clock is not run ahead of the call (runtime/prepared.py): it would
read a virtual time the clock has left by the call. A module the rewrite refuses (the import
used other than by ``call``, code this reader does not know, a start function: libextism
crashes when one calls a Python host function, several memories) is run unchanged, its clock
the machine's (the reason logged).
"""

from __future__ import annotations

import functools
import threading
import time
import weakref
from collections.abc import Callable

import extism
from extism_sys import ffi as _ffi

from .wasmedit import _leb
from .wasmimports import NotRewritable, redirect_calls

__all__ = ["CLOCK_IMPORT", "INIT_READS_CLOCK", "NotRewritable", "enter", "functions", "leave",
           "started", "with_host_clock"]

#: What the rewritten module imports instead of WASI's clock_time_get.
CLOCK_IMPORT = ("nd_notebook", "clock_time_get")
_WASI_CLOCK = ("wasi_snapshot_preview1", "clock_time_get")
_CLOCK_TYPE = b"\x60\x03\x7f\x7e\x7f\x01\x7f"  # (clock_id i32, precision i64, time_at i32) -> i32
_NOW_TYPE = b"\x60\x01\x7f\x01\x7e"  # (clock_id i32) -> i64
_ERRNO_BADF = 8
#: Why an init reading the wall clock is not run ahead on a virtual-clock Host (prepared.py).
INIT_READS_CLOCK = ("its init reads the plugin's clock, on a virtual clock the time it runs at "
                    "(ahead, the virtual time would move on before the call)")
_local = threading.local()  # the instance running on this thread: see enter()
_UNKNOWN_CLOCK = -1  # the appended function traps

# The appended function: t = now(clock_id); if t == -1: trap (libextism traps on an unknown
# clock id: "Invalid enum value Clockid"); if t < 0: return -t (an errno); else store t at
# time_at and return 0.
_BODY = (b"\x01\x01\x7e"  # one local: t i64
         b"\x20\x00\x10{now}\x21\x03"
         b"\x20\x03\x42\x7f\x51\x04\x40\x00\x0b"
         b"\x20\x03\x42\x00\x53"
         b"\x04\x7f\x42\x00\x20\x03\x7d\xa7"
         b"\x05\x20\x02\x20\x03\x37\x03\x00\x41\x00\x0b\x0b")


def functions(clock, init_ahead: Callable[[str], bool]) -> list[extism.Function]:
    """The host function the rewritten module imports, reading ``clock`` (the Host's);
    ``init_ahead(reason)``: whether an init runs ahead on this thread, refusing it if so
    (``prepared.refuse_init_ahead``)."""
    name = CLOCK_IMPORT[1]
    return [extism.Function(CLOCK_IMPORT[0], name, [extism.ValType.I32], [extism.ValType.I64],
                            _trampoline, clock, init_ahead)]


def enter(born: float) -> None:
    """An instance created at ``born`` (``time.monotonic()``) starts running on this thread:
    its monotonic clock counts from its creation, as a libextism instance's does."""
    _local.base = int(born * 1e9)
    _local.running = False
    _local.first = None


def started() -> None:
    """Its export starts (its init done): its wall clock moves on from its first reading."""
    _local.running = True


def leave() -> None:
    _local.base = _local.first = None
    _local.running = False


def now_ns(clock, clock_id: int, init_ahead: Callable[[str], bool] = lambda reason: False
           ) -> int:
    """The answer for ``clock_id``: nanoseconds, a WASI errno negated, or -1 (unknown id).

    The wall clock is the Host clock's time (during a call: the virtual time does not move
    then), plus, after the export's first reading, the real time since that reading in whole
    milliseconds: the first reading of a call is the virtual time itself, whatever the
    machine's load, and a loop waiting for a wall-clock deadline still ends."""
    if clock_id == 0:
        if init_ahead(INIT_READS_CLOCK):  # its instance is freed: any value will do
            return 0
        reader = getattr(clock, "now_ns", None)
        now = reader() if reader is not None else round(clock.now() * 1e9)
        if getattr(_local, "running", False):
            if _local.first is None:
                _local.first = time.monotonic_ns()
            else:
                elapsed = time.monotonic_ns() - _local.first
                now += elapsed - elapsed % 1_000_000
        # A direct call (plugin.call while the virtual clock stands still) never reads before
        # a reading an earlier call had: it goes on from there. Calls made by the clock's own
        # events at one virtual instant all start at it, so that a run gives the same times
        # every time (a carried-over reading would hold real milliseconds).
        with _latest_lock:
            latest = max(now, _latest.get(clock, 0))
            _latest[clock] = latest
        return now if getattr(clock, "in_event", True) else latest
    if clock_id == 1:
        base = getattr(_local, "base", None)
        return time.monotonic_ns() - (base or 0)
    return -_ERRNO_BADF if clock_id in (2, 3) else _UNKNOWN_CLOCK


#: The latest wall-clock reading a plugin had, per Host clock.
_latest: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_latest_lock = threading.Lock()


def _entry_failed(exc_type, exc_value, tb) -> None:
    """cffi's ``onerror``: an exception before the trampoline's ``try`` (a kernel interrupt's
    KeyboardInterrupt; the call is being cancelled): answer the machine's clock, print nothing."""
    outputs = tb.tb_frame.f_locals.get("outputs") if tb is not None else None
    if outputs is not None:
        outputs[0].v.i64 = time.monotonic_ns()


@_ffi.callback("void(ExtismCurrentPlugin*, const ExtismVal*, ExtismSize, ExtismVal*, "
               "ExtismSize, void*)", onerror=_entry_failed)
def _trampoline(current, inputs, n_inputs, outputs, n_outputs, user_data):
    # Never raises (an exception would leave the output 0: the epoch, not an error).
    try:
        clock, init_ahead = _ffi.from_handle(user_data)
        outputs[0].v.i64 = now_ns(clock, inputs[0].v.i32, init_ahead)
    except Exception:  # noqa: BLE001 - the machine's clock rather than a wrong time
        outputs[0].v.i64 = time.time_ns() if inputs[0].v.i32 == 0 else time.monotonic_ns()


@functools.lru_cache(maxsize=4)  # a module and its rewrite each: a few MB an entry
def with_host_clock(wasm: bytes) -> bytes:
    """The module with its WASI clock answered by the Host (see the module docs); the module
    itself when it does not import the clock; :class:`NotRewritable` when it cannot be."""
    return redirect_calls(wasm, _WASI_CLOCK, _CLOCK_TYPE,
                          lambda k: _BODY.replace(b"{now}", _leb(k)),
                          retype=(*CLOCK_IMPORT, _NOW_TYPE), stores=True, python=True)
