"""Kernel interrupts (Ctrl-C, SIGINT) during plugin calls: the running call is cancelled through
libextism's cancel handle and the error says the call was interrupted.

Why no SIGINT handler does it: Python runs signal handlers on the main thread between two
bytecodes, and a plugin call is one long C call (cffi releases the GIL around it), so a handler
would only run once the call has ended (at its 30 s deadline for a looping plugin). Python's
C-level handler, though, writes the signal number to the *wakeup fd* (``signal.set_wakeup_fd``)
the moment the signal arrives. While a call runs on the main thread, that fd is ours: a daemon
thread blocked on it cancels the main thread's running calls (``extism_plugin_cancel``) and
passes the byte on to the previous wakeup fd (an asyncio loop's, say). Per call this costs two
``set_wakeup_fd`` and a lock, a few microseconds (``bench/limits.py``); no thread hop.

- A call on the main thread ends with :class:`~nd_notebook.errors.PluginCallInterrupted`, a
  ``KeyboardInterrupt`` (so ``except Exception`` lets it through and Jupyter shows the cell as
  interrupted), whose message names the export, the plugin and how long it ran.
- Within ``host.run_for`` / ``run_until_idle`` in virtual time (:func:`deferred`), SIGINT only
  marks the run: the running call is cancelled and fails as an ordinary failed call
  (``plugin call failed: interrupted ...``), which the service handles as any failure (a task
  attempt fails and is retried, a schedule logs it), and the clock stops before its next event
  with :class:`~nd_notebook.errors.RunInterrupted`: the Host stays consistent. A second
  SIGINT before the event has ended raises at once, inside it (an event stuck in Python code).
- Calls on other threads are not cancelled: an interrupt belongs to the main thread. But
  libextism's cancel bumps the epoch of the plugin's engine, so a call of the *same* plugin
  running on another thread at that moment fails too (with ``timeout``).

A service thread may also make its calls cancellable by the service itself
(:func:`cancellable_thread`, :func:`cancel_thread`): a TaskQueue worker's call dies when the
service closes, as Navidrome's does when it cancels the service context. A call entered after
its thread was cancelled fails at once, without starting.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from typing import Self

from extism_sys import lib as _lib

from ..abi import PLUGIN_CALL_FAILED
from ..errors import PluginCallFailedError, PluginCallInterrupted, RunInterrupted
from .processwide import ProcessWide

__all__ = ["cancel_thread", "cancellable_thread", "deferred", "forget", "guard", "interrupted_error"]

_MAIN_THREAD = threading.main_thread()


def guard(instance_ptr) -> Guard | _NoGuard:
    """``with guard(instance.plugin) as g:`` around the C call of an export; afterwards
    ``g.interrupted`` says whether an interrupt cancelled it (or arrived as it ended)."""
    if threading.current_thread() is not _MAIN_THREAD:
        return _ThreadGuard(instance_ptr) if getattr(_local, "cancellable", False) else _NO_GUARD
    return Guard(_Watcher.get(), instance_ptr)


@contextlib.contextmanager
def cancellable_thread() -> Iterator[None]:
    """Within it, the current (non-main) thread's plugin calls can be cancelled by
    :func:`cancel_thread`."""
    ident = threading.get_ident()
    _local.cancellable = True
    try:
        yield
    finally:
        _local.cancellable = False
        with _cancel_lock:  # a later thread may get the same ident
            _running.pop(ident, None)
            _stopped.discard(ident)


def cancel_thread(thread: threading.Thread) -> None:
    """Cancel the plugin call ``thread`` is running, and every call it starts from now on
    (those fail without starting). libextism drops a cancel that reaches an instance before
    its call has started, and loses one for good that its timer thread handles while the call
    is starting (between registering the call and setting its epoch deadline: the deadline
    then lies one epoch past the bump, and nothing bumps it again, not even the call's own
    timeout). So a call is only cancelled once it has been under way for
    :data:`SETTLE_SECONDS`, and a caller waiting for the thread to end calls this again
    while it runs (TaskQueue's close, every 50 ms)."""
    with _cancel_lock:
        if not thread.is_alive():
            return
        _stopped.add(thread.ident)
        running = _running.get(thread.ident)
        if running is not None and time.monotonic() - running[1] >= SETTLE_SECONDS:
            _lib.extism_plugin_cancel(running[0])


def forget(instance_ptr) -> None:
    """Before an instance is freed: no guard of a call on it stays with the watcher. A
    KeyboardInterrupt can land anywhere in the main thread's Python, also inside a guard's
    exit before it removed itself (a burst of Ctrl-C did: 1 run in 3 of 1,000 interrupts); the
    watcher then cancelled through the freed instance's handle at the next SIGINT and the
    process crashed."""
    w = _Watcher.__dict__.get("_instance")
    if w is None or not w.running:  # the usual case: nothing left behind
        return
    handle = _lib.extism_plugin_cancel_handle(instance_ptr)
    with w.lock:
        w.running[:] = [g for g in w.running if g.handle != handle]


def interrupted_error(g: Guard, *, export: str, plugin_id: str) -> BaseException:
    """What an interrupted call raises: PluginCallInterrupted, or within a deferred run of the
    clock a PluginCallFailedError the service handles like any failed call."""
    seconds = time.perf_counter() - g.started
    run = _Watcher.get().deferring
    if run is not None:
        run.cancelled.append((export, plugin_id))
        return PluginCallFailedError(
            f"plugin call failed: interrupted by a kernel interrupt (KeyboardInterrupt) after "
            f"{seconds:.2f} s", export=export)
    return PluginCallInterrupted(
        f"call of {export} (plugin {plugin_id!r}) interrupted after {seconds:.2f} s: cancelled "
        "by a kernel interrupt (KeyboardInterrupt); the Host and the plugin stay usable",
        export=export, plugin_id=plugin_id, seconds=seconds)


@contextlib.contextmanager
def deferred(clock, what: str) -> Iterator[None]:
    """Around a run of the virtual clock on the main thread: SIGINT cancels the running call
    and stops the run before its next event with RunInterrupted (see the module docstring)."""
    watcher = _Watcher.get()
    if (not getattr(clock, "is_virtual", False) or watcher.deferring is not None
            or threading.current_thread() is not _MAIN_THREAD
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield  # real time sleeps (a KeyboardInterrupt ends it), or someone else owns SIGINT
        return
    run = _Run(what, clock)
    previous = signal.signal(signal.SIGINT, run.on_signal)
    clock.before_event = run.check
    watcher.deferring = run
    try:
        yield
    finally:
        watcher.deferring = None
        clock.before_event = None
        signal.signal(signal.SIGINT, previous)
    run.check()  # an interrupt during the last event


class Guard:
    """One main-thread call registered with the watcher while it runs."""

    __slots__ = ("cancelled", "handle", "interrupted", "started", "watcher")

    def __init__(self, watcher: _Watcher, instance_ptr):
        self.watcher = watcher
        self.handle = _lib.extism_plugin_cancel_handle(instance_ptr)
        self.cancelled = False
        self.interrupted = False
        self.started = 0.0

    def __enter__(self) -> Self:
        w = self.watcher
        with w.lock:
            w.running.append(self)
        if w.depth == 0:
            previous = signal.set_wakeup_fd(w.write_fd, warn_on_full_buffer=False)
            if previous != w.write_fd:  # else left over from an exit cut short: keep the saved
                w.previous_fd = previous
        w.depth += 1
        self.started = time.perf_counter()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        w = self.watcher
        w.depth -= 1
        if w.depth == 0:
            signal.set_wakeup_fd(w.previous_fd)  # as its owner had it (warnings on)
        with w.lock:  # after this the watcher no longer touches the handle (freed with the call)
            w.running.remove(self)
        # Python's SIGINT handler ran right after the C call returned (the usual way an
        # interrupt shows up here): it belongs to this call.
        suppressed = exc_type is not None and issubclass(exc_type, KeyboardInterrupt)
        self.interrupted = self.cancelled or suppressed
        return suppressed


class _NoGuard:
    """A call off the main thread: no interrupt reaches it."""

    __slots__ = ()
    interrupted = cancelled = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> bool:
        return False


_NO_GUARD = _NoGuard()
#: A call on a cancelled thread fails as libextism's cancel ends a running one.
CANCELLED_BEFORE_START = PLUGIN_CALL_FAILED % "timeout"

_local = threading.local()
_cancel_lock = threading.Lock()
#: thread ident -> (cancel handle, monotonic start) of its running call
_running: dict[int | None, tuple[object, float]] = {}
#: How long a call runs before cancel_thread cancels it (see there).
SETTLE_SECONDS = 0.02
_stopped: set[int | None] = set()  # threads cancel_thread was called for


class _ThreadGuard:
    """A call on a cancellable thread, registered while it runs (no interrupt reaches it)."""

    __slots__ = ("handle", "ident")
    interrupted = cancelled = False

    def __init__(self, instance_ptr):
        self.handle = _lib.extism_plugin_cancel_handle(instance_ptr)
        self.ident = threading.get_ident()

    def __enter__(self) -> Self:
        with _cancel_lock:
            if self.ident in _stopped:
                # Cancelled before it started: it never starts. (A cancel sent while libextism
                # starts the call can be lost for good: its timer thread drops the call's
                # entry and bumps the epoch before the call sets its deadline one epoch
                # ahead, and the call then runs on, past its own timeout.)
                raise PluginCallFailedError(CANCELLED_BEFORE_START)
            _running[self.ident] = (self.handle, time.monotonic())
        return self

    def __exit__(self, *exc) -> bool:
        with _cancel_lock:  # after this nobody touches the handle (freed with the call)
            _running.pop(self.ident, None)
        return False



class _Run:
    """A deferred run of the virtual clock: SIGINT marks it; ``check`` raises between events."""

    def __init__(self, what: str, clock):
        self.what = what
        self.clock = clock
        self.signalled = False
        self.cancelled: list[tuple[str, str]] = []

    def on_signal(self, signum, frame) -> None:
        if self.signalled:  # a second Ctrl-C before the event ended: stop inside it
            raise RunInterrupted(f"{self.what} interrupted twice (KeyboardInterrupt): stopped "
                                 "inside an event, which may have been left half done")
        self.signalled = True

    def check(self) -> None:
        if not self.signalled:
            return
        self.signalled = False
        calls = "; ".join(f"{e} of plugin {p!r}" for e, p in self.cancelled)
        done = (f" the call then running ({calls}) was cancelled and handled as a failed call;"
                if calls else "")
        raise RunInterrupted(
            f"{self.what} interrupted (KeyboardInterrupt): the clock stopped between two events "
            f"at {_iso(self.clock.now())};{done} run it again to go on")


class _Watcher(ProcessWide):
    """The wakeup-fd socket and the daemon thread that cancels main-thread calls on SIGINT."""

    def __init__(self):
        self._read, self._write = socket.socketpair()
        self._write.setblocking(False)  # set_wakeup_fd requires it
        self.write_fd = self._write.fileno()
        self.previous_fd = -1
        self.depth = 0  # main-thread calls running (nested ones included)
        self.lock = threading.Lock()
        self.running: list[Guard] = []
        self.deferring: _Run | None = None
        threading.Thread(target=self._loop, name="nd-interrupt-watcher", daemon=True).start()

    def _loop(self) -> None:
        while True:
            try:
                data = self._read.recv(512)
            except OSError:
                return
            if not data:
                return
            if signal.SIGINT in data:
                # A call starting right now waits out SETTLE_SECONDS first (cancel_thread says
                # why: the cancel would be lost and the call would run on past its timeout).
                with self.lock:
                    now = time.perf_counter()
                    wait = max((SETTLE_SECONDS - (now - g.started) for g in self.running
                                if g.started), default=0.0)
                if wait > 0:
                    time.sleep(wait)
                with self.lock:
                    for g in self.running:
                        if not g.cancelled:
                            g.cancelled = True
                            _lib.extism_plugin_cancel(g.handle)
            previous = self.previous_fd  # its owner (an asyncio loop...) sees the signal too
            if previous != -1:
                with contextlib.suppress(OSError):
                    os.write(previous, data)


def _iso(t: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(t, timezone.utc).isoformat().replace("+00:00", "Z")
