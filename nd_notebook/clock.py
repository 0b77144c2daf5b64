"""Injected time. Every service reads the Host's clock, never ``time.time()`` directly.

``RealClock`` is wall time: timers fire on one timer thread. ``VirtualClock`` is deterministic
discrete-event time: it only moves when ``run_for``/``run_until``/``run_until_idle`` advance it
to the next due event (in ``(time, insertion order)`` order) and run that event on the calling
thread, so hours of retries and cron firings run in a moment and give the same result every run.

Both offer the same interface, so service code and notebooks read the same in both modes::

    clock.now(), clock.now_ms(), clock.now_ns()
    handle = clock.call_at(when_s, fn, label="...", daemon=False)   # or call_at_ns(when_ns, ...)
    handle = clock.call_later(delay_s, fn, ...);  clock.call_soon(fn, ...);  clock.cancel(handle)
    clock.spawn(fn)                  # run concurrently: a thread (real) / the next event (virtual)
    clock.add_busy_check(predicate)  # "a service still has work" (for run_until_idle)
    clock.run_for(s); clock.run_until(t); clock.run_until_idle(max_seconds=None) -> bool
    clock.new_id()                   # Navidrome random id: 22-char zero-padded base62
    clock.random                     # random.Random (seeded in virtual time)
    clock.call_duration              # (export, input, wall_seconds) -> virtual seconds
    clock.tz                         # zone for cron schedules without TZ= (Navidrome: Local)

A *daemon* timer is background activity (a cron tick, a poll, a cleanup) that never makes
``run_until_idle`` wait; every other timer is pending work.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import math
import os
import random
import sys
import threading
import time
import traceback
from collections.abc import Callable
from datetime import timezone, tzinfo
from typing import Any

_NS = 1_000_000_000
_BASE62 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

# run_until_idle with no limit, when only daemon timers are left but a busy check still reports
# work (a task waiting for the 5 s poll, say), runs at most this much more host time.
IDLE_SAFETY_SECONDS = 3600.0

CallDuration = Callable[[str, Any, float], float]


class TimerHandle:
    """A scheduled callback; pass it to ``clock.cancel``. ``when`` is Unix seconds."""

    __slots__ = ("cancelled", "daemon", "done", "fn", "label", "seq", "when_ns")

    def __init__(self, when_ns: int, seq: int, fn: Callable[[], Any], label: str, daemon: bool):
        self.when_ns = when_ns
        self.seq = seq
        self.fn = fn
        self.label = label
        self.daemon = daemon
        self.cancelled = False
        self.done = False

    @property
    def when(self) -> float:
        return self.when_ns / _NS

    @property
    def active(self) -> bool:
        return not (self.cancelled or self.done)

    def __lt__(self, other: TimerHandle) -> bool:
        return (self.when_ns, self.seq) < (other.when_ns, other.seq)

    def __repr__(self) -> str:
        state = "cancelled" if self.cancelled else "done" if self.done else "pending"
        kind = " daemon" if self.daemon else ""
        return f"<TimerHandle {self.label or self.fn!r} at {self.when:.3f} {state}{kind}>"


class Clock:
    """Common timer machinery: a heap of ``TimerHandle`` ordered by (time, insertion seq)."""

    is_virtual = False

    def __init__(self, *, tz: tzinfo | None = None, call_duration: CallDuration | float | None = None,
                 rng: random.Random | None = None):
        self.tz = tz
        self.random = rng if rng is not None else random.SystemRandom()
        self._call_duration: CallDuration = _measured
        if call_duration is not None:
            self.call_duration = call_duration
        self._cv = threading.Condition(threading.RLock())
        self._heap: list[TimerHandle] = []
        self._seq = itertools.count()
        self._live_work = 0  # scheduled, non-daemon, neither run nor cancelled
        self._active = 0  # callbacks or spawned functions running right now
        self._busy_checks: list[Callable[[], bool]] = []
        self.errors: list[tuple[float, str, BaseException]] = []
        self.on_error: Callable[[BaseException, str], None] | None = None
        # Called before each event of a virtual run; may raise to stop the run between two
        # events (Ctrl-C, nd_notebook.runtime.interrupt).
        self.before_event: Callable[[], None] | None = None

    # -- time ------------------------------------------------------------------------------
    def now(self) -> float:
        """Unix time in seconds."""
        return self.now_ns() / _NS

    def now_ms(self) -> int:
        """Unix time in milliseconds (what Navidrome stores in its task tables)."""
        return self.now_ns() // 1_000_000

    @property
    def in_event(self) -> bool:
        """Whether one of its timer callbacks (or a function it spawned) is running now: a
        plugin call made there is part of a run of the clock, not a direct call."""
        return self._active > 0

    def now_ns(self) -> int:
        raise NotImplementedError

    # -- the plugin-call duration model -----------------------------------------------------
    @property
    def call_duration(self) -> CallDuration:
        """``(export_name, input, wall_seconds) -> seconds`` a plugin call takes on this clock.

        Default: the measured wall time. Set a number for a constant duration, or a function.
        Virtual time is reproducible run after run only with a deterministic model.
        """
        return self._call_duration

    @call_duration.setter
    def call_duration(self, model: CallDuration | float | None) -> None:
        if model is None:
            self._call_duration = _measured
        elif isinstance(model, (int, float)):
            seconds = float(model)
            self._call_duration = lambda _export, _input, _wall: seconds
        elif callable(model):
            self._call_duration = model
        else:
            raise TypeError("call_duration must be a number, a callable or None")

    def virtual_duration(self, export: str, input: Any, wall: float) -> float:
        """The duration model applied to one call, never negative."""
        return max(0.0, float(self._call_duration(export, input, wall)))

    # -- timers ----------------------------------------------------------------------------
    def call_at(self, when: float, fn: Callable[[], Any], *, label: str = "",
                daemon: bool = False) -> TimerHandle:
        """Run ``fn()`` at Unix time ``when`` (right away if it is already past)."""
        return self._push(_seconds_to_ns(when), fn, label, daemon)

    def call_at_ns(self, when_ns: int, fn: Callable[[], Any], *, label: str = "",
                   daemon: bool = False) -> TimerHandle:
        """``call_at`` with an exact integer time in Unix nanoseconds."""
        return self._push(int(when_ns), fn, label, daemon)

    def call_later(self, delay: float, fn: Callable[[], Any], *, label: str = "",
                   daemon: bool = False) -> TimerHandle:
        """Run ``fn()`` ``delay`` seconds from now (0 or negative: as soon as possible)."""
        return self._push(self.now_ns() + max(0, round(delay * _NS)), fn, label, daemon)

    def call_soon(self, fn: Callable[[], Any], *, label: str = "",
                  daemon: bool = False) -> TimerHandle:
        """Run ``fn()`` as soon as possible, after the timers already due now."""
        return self._push(self.now_ns(), fn, label, daemon)

    def cancel(self, handle: TimerHandle | None) -> bool:
        """Cancel a pending timer; False if it already ran or was cancelled."""
        if handle is None:
            return False
        with self._cv:
            if not handle.active:
                return False
            handle.cancelled = True
            if not handle.daemon:
                self._live_work -= 1
            self._cv.notify_all()
            return True

    def pending(self, *, daemon: bool = True) -> list[TimerHandle]:
        """The timers still to run, earliest first (daemon ones too unless ``daemon=False``)."""
        with self._cv:
            live = [h for h in self._heap if h.active and (daemon or not h.daemon)]
        return sorted(live)

    def add_busy_check(self, predicate: Callable[[], bool]) -> Callable[[], None]:
        """Register "there is still work" for ``run_until_idle``; returns the unregister call."""
        with self._cv:
            self._busy_checks.append(predicate)

        def remove() -> None:
            with self._cv:
                if predicate in self._busy_checks:
                    self._busy_checks.remove(predicate)

        return remove

    def spawn(self, fn: Callable[[], Any], *, label: str = "") -> None:
        raise NotImplementedError

    def new_id(self) -> str:
        """A Navidrome random id (``id.NewRandom``): 16 random bytes as 22-char base62."""
        return base62_id(self.random.getrandbits(128))

    # -- running ---------------------------------------------------------------------------
    def run_for(self, seconds: float) -> None:
        raise NotImplementedError

    def run_until(self, t: float) -> None:
        raise NotImplementedError

    def run_until_idle(self, max_seconds: float | None = None) -> bool:
        raise NotImplementedError

    def is_idle(self) -> bool:
        """No pending (non-daemon) timer, no callback running and no busy service."""
        with self._cv:
            if self._live_work > 0 or self._active > 0:
                return False
        return not self._busy()

    def close(self) -> None:
        """Drop every pending timer."""
        with self._cv:
            for h in self._heap:
                h.cancelled = True
            self._heap.clear()
            self._live_work = 0
            self._cv.notify_all()

    # -- internals -------------------------------------------------------------------------
    def _push(self, when_ns: int, fn, label: str, daemon: bool) -> TimerHandle:
        with self._cv:
            handle = TimerHandle(when_ns, next(self._seq), fn, label, daemon)
            heapq.heappush(self._heap, handle)
            if not daemon:
                self._live_work += 1
            self._cv.notify_all()
            return handle

    def _peek(self) -> TimerHandle | None:
        """The earliest live timer (cancelled ones are dropped on the way). Lock held."""
        heap = self._heap
        while heap and not heap[0].active:
            heapq.heappop(heap)
        return heap[0] if heap else None

    def _take(self, handle: TimerHandle) -> None:
        """Pop ``handle`` (the heap top) as about to run. Lock held."""
        heapq.heappop(self._heap)
        handle.done = True
        if not handle.daemon:
            self._live_work -= 1
        self._active += 1

    def _run(self, handle: TimerHandle) -> None:
        try:
            handle.fn()
        except KeyboardInterrupt:  # Ctrl-C stops the run (the event is done with, not reported)
            raise
        except BaseException as e:  # noqa: BLE001 - a callback must never stop the clock
            self._report(e, handle.label)
        finally:
            with self._cv:
                self._active -= 1
                self._cv.notify_all()

    def _busy(self) -> bool:
        with self._cv:
            checks = list(self._busy_checks)
        for check in checks:
            try:
                if check():
                    return True
            except Exception as e:  # noqa: BLE001 - a broken check must not stop the clock
                self._report(e, "busy check")
        return False

    def _report(self, exc: BaseException, label: str) -> None:
        self.errors.append((self.now(), label, exc))
        del self.errors[:-100]
        hook = self.on_error
        if hook is not None:
            try:
                hook(exc, label)
            except Exception as e:  # noqa: BLE001 - fall back to stderr below
                exc = e
            else:
                return
        print(f"nd-notebook clock: callback {label or '?'} raised:", file=sys.stderr)
        print(_format_without_carets(exc), end="", file=sys.stderr)


def _format_without_carets(exc: BaseException) -> str:
    """The traceback of ``exc`` without its ``^^^`` lines: Python 3.11 places them with
    ``ast.parse``, which must not run on a clock's thread while another thread builds an AST
    (manifest.prefetch_schema_support says why)."""
    shown = traceback.TracebackException.from_exception(exc)
    for link in _chain(shown):
        for frame in link.stack:
            frame.colno = frame.end_colno = None
    return "".join(shown.format())


def _chain(shown: traceback.TracebackException):
    seen: set[int] = set()
    todo = [shown]
    while todo:
        link = todo.pop()
        if id(link) in seen:
            continue
        seen.add(id(link))
        yield link
        todo.extend(x for x in (link.__cause__, link.__context__) if x is not None)
        todo.extend(getattr(link, "exceptions", None) or ())


class RealClock(Clock):
    """Wall time. Timers run on one daemon timer thread; ``spawn`` starts a thread."""

    def __init__(self, *, tz: tzinfo | None = None, call_duration: CallDuration | float | None = None):
        super().__init__(tz=tz if tz is not None else local_zone(), call_duration=call_duration)
        self._thread: threading.Thread | None = None
        self._closed = False

    def now(self) -> float:
        return time.time()

    def now_ns(self) -> int:
        return time.time_ns()

    def _push(self, when_ns, fn, label, daemon):
        handle = super()._push(when_ns, fn, label, daemon)
        with self._cv:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._timer_loop, name="nd-clock-timers",
                                                daemon=True)
                self._thread.start()
        return handle

    def spawn(self, fn: Callable[[], Any], *, label: str = "") -> None:
        """Run ``fn()`` on a new daemon thread (counted as work until it returns)."""
        with self._cv:
            self._active += 1

        def target() -> None:
            try:
                fn()
            except BaseException as e:  # noqa: BLE001
                self._report(e, label)
            finally:
                with self._cv:
                    self._active -= 1
                    self._cv.notify_all()

        threading.Thread(target=target, name=f"nd-{label or 'spawn'}", daemon=True).start()

    def run_for(self, seconds: float) -> None:
        """Sleep ``seconds`` while the timer and worker threads do their work."""
        if seconds > 0:
            time.sleep(seconds)

    def run_until(self, t: float) -> None:
        self.run_for(t - self.now())

    def advance_to(self, t: float) -> None:
        self.run_until(t)

    def run_until_idle(self, max_seconds: float | None = None) -> bool:
        """Wait until nothing is pending (True) or ``max_seconds`` have passed (False)."""
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        while True:
            if self.is_idle():
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            with self._cv:
                self._cv.wait(0.01)

    def close(self) -> None:
        with self._cv:
            self._closed = True
        super().close()

    def _timer_loop(self) -> None:
        while True:
            with self._cv:
                while True:
                    if self._closed:
                        return
                    top = self._peek()
                    if top is None:
                        self._cv.wait()
                        continue
                    delay = (top.when_ns - time.time_ns()) / _NS
                    if delay <= 0:
                        self._take(top)
                        break
                    self._cv.wait(min(delay, 1.0))
            self._run(top)


class VirtualClock(Clock):
    """Deterministic time starting at ``start`` (default 2026-01-01T00:00:00Z).

    Time only moves in ``run_for``/``run_until``/``run_until_idle``/``advance_to``, which run the
    due timers on the calling thread in (time, insertion) order. ``seed`` seeds ``random`` (ids,
    ``~`` cron ranges) so that the same inputs give the same event log run after run.
    """

    is_virtual = True
    DEFAULT_START = 1767225600.0

    def __init__(self, start: float | None = None, *, seed: int = 0, tz: tzinfo | None = timezone.utc,
                 call_duration: CallDuration | float | None = None):
        super().__init__(tz=tz, call_duration=call_duration, rng=random.Random(seed))
        self._now_ns = _seconds_to_ns(self.DEFAULT_START if start is None else start)
        self._running = threading.Lock()

    def now_ns(self) -> int:
        return self._now_ns

    def spawn(self, fn: Callable[[], Any], *, label: str = "") -> None:
        """Run ``fn()`` as the next event (virtual time has no concurrency of its own)."""
        self.call_soon(fn, label=label)

    def run_for(self, seconds: float) -> None:
        """Advance ``seconds`` of virtual time, running every timer due on the way."""
        self._run_to(self._now_ns + max(0, round(seconds * _NS)))

    def run_until(self, t: float) -> None:
        """Advance to Unix time ``t``, running every timer due up to and including ``t``."""
        self._run_to(_seconds_to_ns(t))

    def advance_to(self, t: float) -> None:
        """Same as ``run_until`` (kept for callers that only move time forward)."""
        self._run_to(_seconds_to_ns(t))

    def run_until_idle(self, max_seconds: float | None = None) -> bool:
        """Run events until no work is left (True) or ``max_seconds`` have passed (False).

        Daemon timers (cron ticks, polls, cleanups) run on the way but never keep it going,
        unless a busy check still reports work that only they can move forward.
        """
        with self._guard():
            deadline = None if max_seconds is None else self._now_ns + round(max_seconds * _NS)
            safety = None
            while True:
                with self._cv:
                    work = self._live_work > 0
                if not work:
                    if not self._busy():
                        return True
                    if deadline is None and safety is None:
                        safety = self._now_ns + round(IDLE_SAFETY_SECONDS * _NS)
                    limit = deadline if deadline is not None else safety
                else:
                    safety = None
                    limit = deadline
                handle = self._next_due(limit)
                if handle is None:
                    if limit is not None and limit > self._now_ns:
                        self._now_ns = limit
                    return False
                self._run(handle)

    def _run_to(self, limit_ns: int) -> None:
        with self._guard():
            while True:
                handle = self._next_due(limit_ns)
                if handle is None:
                    break
                self._run(handle)
            self._now_ns = max(self._now_ns, limit_ns)

    def _next_due(self, limit_ns: int | None) -> TimerHandle | None:
        if self.before_event is not None:
            self.before_event()
        with self._cv:
            top = self._peek()
            if top is None or (limit_ns is not None and top.when_ns > limit_ns):
                return None
            self._take(top)
            self._now_ns = max(self._now_ns, top.when_ns)
            return top

    def _guard(self):
        if not self._running.acquire(blocking=False):
            raise RuntimeError("the virtual clock is already running (run_* called from a clock "
                               "callback or from two threads at once)")
        return _Release(self._running)


class _Release:
    def __init__(self, lock: threading.Lock):
        self._lock = lock

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._lock.release()


def base62_id(value: int) -> str:
    """``value`` (< 2**128) in base62 (0-9a-zA-Z), zero-padded to 22 characters."""
    digits = []
    while value:
        value, r = divmod(value, 62)
        digits.append(_BASE62[r])
    return "".join(reversed(digits)).rjust(22, "0")


def local_zone() -> tzinfo:
    """The machine's zone (``TZ`` or /etc/localtime), what Navidrome's cron calls Local."""
    from zoneinfo import ZoneInfo

    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        with contextlib.suppress(ValueError, OSError, KeyError):
            return ZoneInfo(name)
    try:
        with open("/etc/localtime", "rb") as f:
            return ZoneInfo.from_file(f, key="localtime")
    except (ValueError, OSError):
        return timezone.utc


def _measured(_export: str, _input: Any, wall: float) -> float:
    return wall


def _seconds_to_ns(t: float) -> int:
    # Absolute times go through microseconds so that e.g. T0 + 0.3 lands on ...300 ms exactly.
    if isinstance(t, int):
        return t * _NS
    if not math.isfinite(t):
        raise ValueError(f"not a finite time: {t!r}")
    return round(t * 1_000_000) * 1000
