"""Fresh instances prepared ahead: each call gets an instance no other call has touched, whose
initialisation (Go's runtime start and package ``init``) already ran off the call path.

Where a Go plugin's call time goes through libextism (a 4.5 MB module): creating the instance
about 0.3-0.9 ms, its ``_initialize`` (Go's runtime and package init) 0.5-0.6 ms, the export
itself as little as 0.03 ms, freeing the instance 0.2 ms. With ``Host(snapshots=True)`` (the
default; ``ND_NOTEBOOK_SNAPSHOTS=0`` or ``Host(snapshots=False)`` turns it off) instances are
created and initialised ahead on up to :data:`WORKERS` background threads per plugin and freed
behind there; once the memory snapshot is in use, the C helper's pool thread does that without
the interpreter lock (runtime/native.py: ``NativePool``; the Python thread where the helper is
not built). Calls finding none ready (right after the load, or calls back to back faster than
the threads prepare) create and initialise their own inline, as with snapshots off.

- **Init run by nd-notebook, in both modes.** The module is compiled with its init export
  (``_initialize``, or ``__wasm_call_ctors`` which libextism prefers) renamed to a name of the
  same length (every code offset, hence DWARF locations in trap backtraces, stays the same), so
  libextism finds no init to run and nd-notebook calls the renamed export itself: ahead, or
  inline within the call as libextism would (libextism's own auto-init crashes the process when
  a Go package ``init`` logs through ``pdk.Log`` while the log sink of runtime/output.py is
  installed; an ordinary call does not). An init that fails fails the call, as before.
- **Then a memory snapshot.** After :data:`SNAPSHOT_AFTER` calls a background thread takes
  one (runtime/snapshot.py: the init run once outside libextism, the module rewritten to start
  initialised) and new lanes use it: an instance then only runs ``__nd_reseed``, which gives
  Go's random generators fresh seeds, so map iteration order and the like still differ from
  call to call; it first writes the pages calls write (the touch list of
  runtime/pagetouch.py, its call input), so the call takes fewer page faults. Modules whose
  init reads the clock or random bytes, logs or links math/rand keep running their own init
  (``instances.snapshot`` says why).
- **What differs from an instance made at the call**: the clock read during init is earlier,
  by at most :data:`MAX_AGE` seconds (older prepared instances are freed unused; on a
  virtual-clock Host an init reading the wall clock is not run ahead, runtime/wasmclock.py).
  A plugin with mounts (``/storage``, libraries) whose module can open files has its instances
  created ahead but initialised in the call (an init could read a file the previous call was
  about to write; ``instances.status`` says so). An init
  calling a Navidrome host function is refused on the background thread (that host call gets
  no answer and has no effect, the instance is freed) and the plugin then initialises inline
  in every call, the reason in ``plugin.instances.status`` and a ``service_log`` event. Log
  lines of an init ahead are handed to the call using the instance; its stdout/stderr go to
  the process's own fds unattributed (redirecting them from the background thread would take
  what the process prints meanwhile).
- **Lanes**: libextism's deadline (``timeout_ms``) and cancel bump the epoch of the engine of
  a compiled plugin, which would end every call running on it. Each running call therefore
  holds a lane of its own: a compiled plugin (the first is the load's compile, later ones come
  from Extism's compiled-module cache in tens of milliseconds, up to :data:`MAX_LANES`), so a
  call's deadline and a Ctrl-C end that call only. Lanes are used in both modes.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from extism_sys import ffi as _ffi
from extism_sys import lib as _lib

from . import interrupt, native, pagetouch, wasmclock
from .output import CallOutput, capture_call, instance_id
from .wasmedit import RESEED_EXPORT

__all__ = ["MAX_AGE", "Instance", "InstancePool", "guard_context", "prepared_module",
           "refuse_init_ahead", "snapshots_default"]

# libextism's errors are anyhow errors, which capture a Rust backtrace each when
# RUST_BACKTRACE=1 is set (as on many developer machines): about 50 ms per failed call, never
# shown (only the message is). RUST_LIB_BACKTRACE=0 turns that capture off and leaves panic
# backtraces alone; read once, at the first error, so it is set before any call.
os.environ.setdefault("RUST_LIB_BACKTRACE", "0")

_INIT_AT_THE_CALL = "prepared ahead, init at the call: %s"
#: Seconds a prepared instance may wait before it is freed unused (its init clock gets stale).
MAX_AGE = 1.0
#: Prepared instances kept ready per lane.
AHEAD = 2
#: ... by the helper's pool thread (runtime/native.py), which makes them faster than calls
#: use them but not evenly (bench/taskqueue.py's virtual run: 8.3-8.7 s wall with 4, 9.6-11.0
#: s with 2, 10.8 s with 1).
NATIVE_AHEAD = 4
#: Failures of the pool thread in a row after which instances are no longer prepared ahead.
NATIVE_FAILURES = 8
#: Lanes (compiled plugins) per plugin; beyond it concurrent calls share the last one.
MAX_LANES = 8
#: Background threads per plugin (more start only while the lanes are behind).
WORKERS = 2
#: ... once the memory snapshot is in use: preparing an instance is then shorter than a call,
#: and a second thread only adds contention (bench/taskqueue.py's virtual run: 12.3-13.0 s
#: wall with one, 13.8-14.8 s with two; real time the same or better).
SNAPSHOT_WORKERS = 1
#: The background thread ends after this long without calls (it restarts on the next call).
IDLE_SECONDS = 10.0
#: Calls after which the memory snapshot is taken (runtime/snapshot.py): plugins called once or
#: twice (most cells, most tests) never pay its background compile (about a second of CPU).
#: ``ND_NOTEBOOK_SNAPSHOT_AFTER`` overrides it (1: right after the first call; 0: at the load,
#: before it returns, so that every call uses it: how CI runs the wire tests a third time).
SNAPSHOT_AFTER = 4
#: libextism runs the first of these exports it finds before the first call (hs_init aside).
_INIT_EXPORTS = {"__wasm_call_ctors": "__nd_prepare_ctor", "_initialize": "_nd_prepare"}


def _snapshot_after() -> int:
    raw = os.environ.get("ND_NOTEBOOK_SNAPSHOT_AFTER", "").strip()
    return int(raw) if raw.isdigit() else SNAPSHOT_AFTER


def snapshots_default() -> bool:
    """``ND_NOTEBOOK_SNAPSHOTS``: ``0``/``false``/``off`` turns prepared instances off."""
    return native.env_flag("ND_NOTEBOOK_SNAPSHOTS")


def prepared_module(wasm: bytes, exports: list[str]) -> tuple[bytes, str | None, str]:
    """``(module, init_export, reason)``: the module with its init export renamed (same length),
    the new name to call before each export (None: run as it is) and why not when not."""
    if "hs_init" in exports:
        return wasm, None, "Haskell runtime (hs_init): libextism's own init kept"
    old = next((name for name in _INIT_EXPORTS if name in exports), None)
    if old is None:
        return wasm, None, "no init export: nothing to run ahead"
    new = _INIT_EXPORTS[old]
    if new in exports:
        return wasm, None, f"module already exports {new}"
    return _rename_export(wasm, old, new), new, ""


class Instance:
    """One fresh Extism instance of a lane, maybe already initialised."""

    __slots__ = ("born", "id", "init_export", "init_input", "init_output", "memory_base", "ptr")

    def __init__(self, ptr, init_export: str | None, init_output: CallOutput | None = None,
                 init_input: bytes = b"", id: str | None = None):
        self.ptr = ptr
        self.init_input = init_input  # the init export's call input (a reseed's touch list)
        # What its log lines name (ahead too: off the call path).
        self.id = id if id is not None else instance_id(ptr)
        self.init_export = init_export  # still to call before the export (None: done / none)
        self.init_output = init_output  # what a background init said, for the call's record
        self.born = time.monotonic()
        self.memory_base: int | None = None  # where its memory lies, when read after its call

    def initialize(self) -> int:
        """Run the init export inline if it has not run: 0, or the failed init's rc."""
        name, self.init_export = self.init_export, None
        if name is None:
            return 0
        given = self.init_input
        rc = _lib.extism_plugin_call_with_host_context(self.ptr, name.encode(), given, len(given),
                                                       _ffi.NULL)
        return rc if rc != 0 or _lib.extism_plugin_error(self.ptr) == _ffi.NULL else -1


class _Lane:
    __slots__ = ("busy", "compiled", "init_export", "preparing", "ready", "slot")

    def __init__(self, compiled, init_export: str | None):
        self.compiled = compiled
        self.init_export = init_export  # what its instances run before the export
        self.ready: collections.deque[Instance] = collections.deque()
        self.busy = 0
        self.preparing = 0  # instances being prepared for it right now
        self.slot: int | None = None  # its slot in the helper's pool thread, when it has one


class InstancePool:
    """A plugin's lanes and instances. ``with pool.take() as instance:`` around one call."""

    def __init__(self, compiled, compile: Callable[[], Any], *, init_export: str | None,
                 prepare: bool, on_refused: Callable[[str], None],
                 reason: str = "", init_ahead: str = "",
                 snapshotter: Callable[[], tuple[Callable[[], Any], bytes | None]] | None = None):
        self._compile = compile
        self.init_export = init_export
        self.prepare = prepare and init_export is not None
        self._status = ("prepared ahead" if self.prepare
                        else f"off{': ' + reason if reason else ''}")
        self._on_refused = on_refused
        # Why the init (not a snapshot's reseed) waits for the call, when it must: instances
        # are still created ahead, the init runs inline.
        self.init_inline = init_ahead
        if init_ahead and self.prepare:
            self._status = _INIT_AT_THE_CALL % init_ahead
        self._lanes = [_Lane(compiled, init_export)]
        self._retired: list[_Lane] = []  # lanes of the module before its snapshot
        # The memory snapshot (runtime/snapshot.py): taken in the background after
        # SNAPSHOT_AFTER calls; ``snapshot`` says where it stands.
        self._snapshotter = snapshotter if self.prepare else None
        self._snapshot_after = _snapshot_after()
        self._snapshot_thread: threading.Thread | None = None
        self.snapshot = (f"after {self._snapshot_after} calls" if self._snapshotter
                         else "off" if not prepare
                         else f"not used: {reason or 'instances are not prepared ahead'}")
        self.snapshot_ready = threading.Event()  # set once the snapshot is in use or refused
        if self._snapshotter is None:
            self.snapshot_ready.set()
        self.calls = 0
        self._lock = threading.Condition()
        self._to_free: list = []
        # The snapshot module's touch list (runtime/pagetouch.py), and the used instances whose
        # written pages it reads before they are freed: (ptr, memory base).
        self.touch: pagetouch.TouchList | None = None
        self._to_read: list[tuple[Any, int]] = []
        self._workers: list[threading.Thread] = []
        # Once the snapshot is in use, the helper's own thread prepares its instances
        # (runtime/native.py: NativePool) where the helper is built.
        self._native: native.NativePool | None = None
        self._native_misses = 0  # its failures reported since it last served a call
        self._last_call = 0.0
        self.closed = False
        self.prepared_hits = 0  # calls served by an instance prepared ahead (tests, benches)
        # Nothing runs ahead before a call has succeeded: an init that always fails would
        # otherwise write its panic to the process's stderr while a call is capturing it.
        self._proven = False
        _POOLS.add(self)
        if self._snapshotter is not None and self._snapshot_after == 0:
            self.snapshot = "taking"
            self._take_snapshot()  # at the load, in this thread

    @property
    def status(self) -> str:
        """Whether instances are prepared ahead, and why not when they are not."""
        if self.prepare and not self._proven and not self.closed:
            return f"{self._status} (from the first call that succeeds; none has yet)"
        return self._status

    def init_writes_output(self) -> None:
        """Its init writes to stdout/stderr (an inline init under the call's capture did): run
        ahead, that would go to the process's own output, unattributed, for instances
        no call may use. Its instances are still created ahead, their init runs in the call."""
        with self._lock:
            if self.init_inline or not self.prepare:
                return
            self.init_inline = "its init writes to stdout/stderr"
            self._status = _INIT_AT_THE_CALL % self.init_inline
            self._drop_ready(lambda lane: lane.init_export != RESEED_EXPORT)  # initialised
            self._wake()

    def _drop_ready(self, which: Callable[[_Lane], bool] = lambda lane: True) -> None:
        """Free the ready instances of the lanes ``which`` accepts, behind (lock held)."""
        for lane in self._lanes:
            if which(lane):
                self._to_free.extend(i.ptr for i in lane.ready)
                lane.ready.clear()

    @contextlib.contextmanager
    def take(self) -> Iterator[Instance]:
        """A fresh instance on a lane no other running call holds; freed (behind) afterwards."""
        lane = self._acquire_lane()
        instance = None
        try:
            if lane.slot is not None:
                instance = self._native_instance(lane)
            else:
                instance = self._ready_instance(lane) or self._new_instance(lane)
            yield instance
            self._proven = True
        finally:
            self._release(lane, instance)

    def close(self) -> None:
        """Stop preparing; free every instance not in use."""
        with self._lock:
            self.closed = True
            doomed = [i.ptr for lane in self._lanes for i in lane.ready] + self._to_free
            doomed += [ptr for ptr, _ in self._to_read]
            for lane in self._lanes:
                lane.ready.clear()
            self._to_free, self._to_read = [], []
            pool = self._detach_native()
            self._lock.notify_all()
        if pool is not None:
            pool.close()
        for ptr in doomed:
            _lib.extism_plugin_free(ptr)

    # -- call side -----------------------------------------------------------------------
    def _acquire_lane(self) -> _Lane:
        with self._lock:
            self._last_call = time.monotonic()
            self.calls += 1
            if self.calls == self._snapshot_after and self._snapshotter is not None:
                self.snapshot = "taking"
                self._snapshot_thread = threading.Thread(
                    target=self._take_snapshot, name="nd-snapshot", daemon=True)
                self._snapshot_thread.start()
            for lane in self._lanes:
                if not lane.busy:
                    lane.busy += 1
                    return lane
            if len(self._lanes) >= MAX_LANES:
                lane = self._lanes[-1]
                lane.busy += 1
                return lane
        compile, init_export = self._compile, self.init_export
        lane = _Lane(compile(), init_export)  # from Extism's module cache: tens of ms
        lane.busy = 1
        with self._lock:
            if compile is self._compile:
                self._lanes.append(lane)
                if self._native is not None:
                    lane.slot = self._native.add(lane.compiled)
            else:  # the snapshot came in meanwhile: this lane serves this call only
                self._retired.append(lane)
        return lane

    def _ready_instance(self, lane: _Lane) -> Instance | None:
        if not self.prepare:
            return None
        stale = []
        with self._lock:
            found = None
            now = time.monotonic()
            while lane.ready:
                candidate = lane.ready.popleft()
                if now - candidate.born <= MAX_AGE:
                    found = candidate
                    break
                stale.append(candidate.ptr)
            self._to_free.extend(stale)
            self._wake()
        if found is not None:
            self.prepared_hits += 1
        return found

    def _new_instance(self, lane: _Lane) -> Instance:
        # A call making its own instance gives its reseed the touch list too (pagetouch.py: its
        # addresses are inside the snapshot's memory, so the reseed cannot trap on them).
        touch = self.touch if lane.init_export == RESEED_EXPORT else None
        given = touch.input if touch is not None else b""
        if lane.init_export == RESEED_EXPORT and native.helper(build=False) is not None:
            # Created and reseeded in one call (runtime/native.py). The reseed is nd-notebook's
            # own code: it logs nothing and ends in microseconds, so it need not run inside the
            # call's capture and interrupt guard. Should it fail (never expected), a plain
            # instance runs it within the call, which then fails as it would have.
            ptr, id_, rc = native.prepare(lane.compiled, RESEED_EXPORT, given)
            if rc != 0 and given:  # the touch list made it fail (never expected): dropped
                _lib.extism_plugin_free(ptr)
                self._drop_touch_list(touch)
                given = b""
                ptr, id_, rc = native.prepare(lane.compiled, RESEED_EXPORT, given)
            if rc == 0:
                return Instance(ptr, None, init_input=given, id=id_)
            _lib.extism_plugin_free(ptr)
        return Instance(_create(lane.compiled), lane.init_export, init_input=given)

    def _native_instance(self, lane: _Lane) -> Instance:
        """A call's instance from the helper's pool thread, or made here when none is ready.
        Instances whose pages the touch list wants to read are made here (the pool held: the
        one new memory mapping is this one's)."""
        pool, touch, slot = self._native, self.touch, lane.slot
        if pool is None or slot is None:  # refused or closed meanwhile
            return self._ready_instance(lane) or self._new_instance(lane)
        learn = touch is not None and touch.wants()
        ptr, id_, born, failed = pool.take(slot, want=not learn)
        if failed:
            self._native_failed(touch)
            touch, learn = self.touch, False
        if ptr is not None:
            self.prepared_hits += 1
            self._native_misses = 0
            instance = Instance(ptr, None, id=id_)
            instance.born = born
            return instance
        given = touch.input if touch is not None else b""
        if not learn:
            return self._new_instance(lane)
        with pool.held():
            before = pagetouch.image_mappings()
            ptr, id_, rc = native.prepare(lane.compiled, RESEED_EXPORT, given)
            after = pagetouch.image_mappings()
        if rc != 0:  # never expected: made again as any call makes its own
            _lib.extism_plugin_free(ptr)
            return self._new_instance(lane)
        instance = Instance(ptr, None, init_input=given, id=id_)
        instance.memory_base = touch.memory_base(before, after)
        return instance

    def use_touch_list(self, touch: pagetouch.TouchList | None) -> None:
        """Prepare instances with ``touch`` from now on (those ready are freed, except the
        few the helper's pool thread holds)."""
        with self._lock:
            self.touch = touch
            self._drop_ready()
            pool = self._native
            self._wake()
        if pool is not None:
            pool.set_input(touch.input if touch is not None else b"")

    def _native_failed(self, touch: pagetouch.TouchList | None) -> None:
        """A prepare of the pool thread failed: the touch list is dropped if there is one;
        without one, after :data:`NATIVE_FAILURES` failures with no instance served between
        them, instances are no longer prepared ahead. (A call's deadline on the same compiled
        plugin can end a reseed the pool was making: calls hitting their deadlines one after
        the other do that now and then.)"""
        if touch is not None and touch.input:
            self._drop_touch_list(touch)
            return
        self._native_misses += 1
        if self._native_misses >= NATIVE_FAILURES:
            self._refuse("its init fails")

    def _drop_touch_list(self, touch: pagetouch.TouchList) -> None:
        with self._lock:
            if self.touch is not touch:
                return
            self.touch = None
            pool = self._native
        if pool is not None:
            pool.set_input(b"")

    def _release(self, lane: _Lane, instance: Instance | None) -> None:
        if instance is not None:
            interrupt.forget(instance.ptr)  # before it can be freed
        slot = lane.slot
        if slot is not None:
            pool, touch = self._native, self.touch
            if instance is not None and instance.memory_base is not None and touch is not None:
                known = touch.input
                touch.learn(instance.memory_base)  # before it is freed (pagetouch.py)
                if touch.input != known and pool is not None:
                    pool.set_input(touch.input)
            with self._lock:
                lane.busy -= 1
            if pool is not None:
                pool.release(slot, None if instance is None else instance.ptr)
            elif instance is not None:
                _lib.extism_plugin_free(instance.ptr)
            return
        with self._lock:
            lane.busy -= 1
            if instance is not None and self.prepare and not self.closed:
                if instance.memory_base is not None and self.touch is not None:
                    self._to_read.append((instance.ptr, instance.memory_base))
                else:
                    self._to_free.append(instance.ptr)  # freed behind
                instance = None
            self._wake()
        if instance is not None:
            _lib.extism_plugin_free(instance.ptr)

    def _wake(self) -> None:
        """Start the background thread if needed, or wake it (the lock is held)."""
        if not self.prepare or self.closed or not self._proven:
            return
        if self._native is None and self.init_export == RESEED_EXPORT:
            self._start_native()
        python_work = (self._to_free or self._to_read
                       or any(lane.slot is None for lane in self._lanes))
        if python_work and len(self._workers) < self._worker_limit() and (
                not self._workers or self._behind()):
            worker = threading.Thread(target=self._work, name="nd-prepare", daemon=True)
            self._workers.append(worker)
            worker.start()
        self._lock.notify()

    def _start_native(self) -> None:
        """The helper's pool thread for the snapshot's lanes, when the helper is built (the
        lock is held)."""
        if native.helper(build=False) is None:
            return
        try:
            pool = native.NativePool(RESEED_EXPORT, ahead=NATIVE_AHEAD, max_age=MAX_AGE,
                                     idle=IDLE_SECONDS)
        except RuntimeError:
            return
        if self.touch is not None:
            pool.set_input(self.touch.input)
        for lane in self._lanes:
            lane.slot = pool.add(lane.compiled)
            self._to_free.extend(i.ptr for i in lane.ready)  # made by the Python thread
            lane.ready.clear()
        self._native = pool
        weakref.finalize(self, pool.close)

    # -- background side -------------------------------------------------------------------
    def _work(self) -> None:
        _state.pool = self
        try:
            while True:
                with self._lock:
                    if len(self._workers) > self._worker_limit():  # the snapshot came in
                        self._workers.remove(threading.current_thread())
                        return
                    job = self._next_job()
                    while job is None:
                        if self.closed or time.monotonic() - self._last_call > IDLE_SECONDS:
                            self._workers.remove(threading.current_thread())
                            return
                        self._lock.wait(MAX_AGE / 2)
                        job = self._next_job()
                job()
        finally:
            _state.pool = None

    def _worker_limit(self) -> int:
        return SNAPSHOT_WORKERS if self.init_export == RESEED_EXPORT else WORKERS

    def _next_job(self) -> Callable[[], None] | None:
        if self._to_free or self._to_read:
            doomed, self._to_free = self._to_free, []
            read, self._to_read = self._to_read, []
            idle = [lane for lane in self._retired if not lane.busy]
            self._retired = [lane for lane in self._retired if lane.busy]
            touch = self.touch

            def free() -> None:  # instances first, then the compiled plugins they came from
                for ptr, base in read:
                    if touch is not None:
                        touch.learn(base)
                    doomed.append(ptr)
                native.free_all(doomed)
                idle.clear()

            return free
        if not self.prepare or self.closed:
            return None
        now = time.monotonic()
        for lane in self._lanes:
            if lane.slot is not None:  # the helper's pool thread prepares its instances
                continue
            while lane.ready and now - lane.ready[0].born > MAX_AGE:
                self._to_free.append(lane.ready.popleft().ptr)
            if self._to_free:
                return self._next_job()
            if (len(lane.ready) + lane.preparing < AHEAD
                    and now - self._last_call <= IDLE_SECONDS):
                lane.preparing += 1
                return lambda lane=lane: self._prepare_one(lane)
        return None

    def _behind(self) -> bool:
        """Whether some lane has fewer instances ready or coming than it should (lock held)."""
        return any(len(lane.ready) + lane.preparing < AHEAD for lane in self._lanes
                   if lane.slot is None)

    def _prepare_one(self, lane: _Lane) -> None:
        try:
            self._prepare_into(lane)
        finally:
            with self._lock:
                lane.preparing -= 1

    def _prepare_into(self, lane: _Lane) -> None:
        # A snapshot's reseed takes the touch list as its input (runtime/pagetouch.py).
        touch = self.touch if lane.init_export == RESEED_EXPORT else None
        given = touch.input if touch is not None else b""
        # (The instance maps its memory at its first call: mappings read before it is made
        # are read before its memory is there.)
        before = pagetouch.image_mappings() if touch is not None and touch.wants() else None
        _state.refused = None
        out = None
        if lane.init_export == RESEED_EXPORT and native.helper() is not None:
            # All in one call, without the interpreter lock (runtime/native.py). A snapshot's
            # reseed (runtime/snapshot.py) logs nothing: no record to keep.
            ptr, id_, rc = native.prepare(lane.compiled, RESEED_EXPORT, given)
            instance = Instance(ptr, None, id=id_)
            failed = rc != 0
        elif self.init_inline and lane.init_export != RESEED_EXPORT:
            ptr = _create(lane.compiled)
            instance = Instance(ptr, lane.init_export)  # its init runs in the call: __init__
            failed = False
        else:
            ptr = _create(lane.compiled)
            instance = Instance(ptr, None)
            wasmclock.enter(instance.born)  # its monotonic clock, on a virtual-clock Host
            # Its log lines only: redirecting fds 1/2 from this thread would take what the
            # process prints meanwhile; what an init writes to stdout goes to the process's own
            # fds.
            with contextlib.nullcontext() if lane.init_export == RESEED_EXPORT else \
                    capture_call(ptr, stdio=False, instance=instance.id) as out:
                try:
                    rc = _lib.extism_plugin_call_with_host_context(
                        ptr, lane.init_export.encode(), given, len(given), _ffi.NULL)
                finally:
                    wasmclock.leave()
            failed = rc != 0 or _lib.extism_plugin_error(ptr) != _ffi.NULL
        refused = _state.refused
        if failed and given:  # never expected: the list is dropped, not the prepared instances
            _lib.extism_plugin_free(ptr)
            with self._lock:
                if self.touch is touch:
                    self.touch = None
            return
        if before is not None and not failed:
            instance.memory_base = touch.memory_base(before, pagetouch.image_mappings())
        if refused or failed:
            _lib.extism_plugin_free(ptr)
            if not refused and lane.busy:  # maybe ended by the deadline of the lane's call
                return
            # An init failing ahead would fail in the call too: inline from now on.
            self._refuse(refused or "its init fails")
            return
        instance.init_output = out if out is not None and out.logs else None
        with self._lock:
            if self.closed or lane not in self._lanes:
                self._to_free.append(ptr)
                return
            lane.ready.append(instance)

    # -- the memory snapshot ---------------------------------------------------------------
    def _take_snapshot(self) -> None:
        """Background: take the snapshot, compile its module, then serve new instances from
        it (lanes of the old module finish their calls and are dropped)."""
        from .snapshot import NotSnapshottable

        closed = "not used: the plugin was closed or stopped preparing first"
        try:
            compile, memory = self._snapshotter()
            if self.closed:  # its Host closed meanwhile: no compile (seconds, uninterruptible)
                self._snapshot_done(closed)
                return
            compiled = compile()
            _lib.extism_plugin_free(_create(compiled))  # libextism links it (else: not used)
        except NotSnapshottable as e:
            self._snapshot_done(f"not used: {e}")
            return
        except Exception as e:  # noqa: BLE001 - never worse than no snapshot
            self._snapshot_done(f"not used: taking it failed ({type(e).__name__}: {e})")
            return
        with self._lock:
            used = not self.closed and self.prepare
            if used:
                for lane in self._lanes:
                    self._to_free.extend(i.ptr for i in lane.ready)
                    lane.ready.clear()
                self._retired.extend(self._lanes)
                self._lanes = [_Lane(compiled, RESEED_EXPORT)]
                self._compile, self.init_export = compile, RESEED_EXPORT
                if memory is not None and pagetouch.supported():
                    self.touch = pagetouch.TouchList(memory)
                self._wake()
        self._snapshot_done("in use" if used else closed)

    def _snapshot_done(self, state: str) -> None:
        self.snapshot = state
        self.snapshot_ready.set()
        if state != "in use":  # why not is worth a log line; "in use" is the ordinary case
            self._on_refused(f"memory snapshot {state}")

    def _refuse(self, reason: str) -> None:
        with self._lock:
            self.prepare = False
            self._status = f"off: {reason} (init runs inline, in each call)"
            self._drop_ready()
            pool = self._detach_native()
        if pool is not None:
            pool.close()
        self._on_refused(self.status)

    def _detach_native(self) -> native.NativePool | None:
        """The helper's pool, no longer used by any lane, for the caller to close (lock held)."""
        for lane in self._lanes:
            lane.slot = None
        pool, self._native = self._native, None
        return pool


def refuse_init_ahead(reason: str) -> bool:
    """For a host function: whether an init is running ahead on this thread, in which case it
    is refused (the instance freed, the plugin initialising inline from then on, ``reason`` in
    ``instances.status``)."""
    if getattr(_state, "pool", None) is None:
        return False
    _state.refused = _state.refused or reason
    return True


def guard_context(ctx):
    """The plugin context as the host functions see it: a host function called by an init
    running ahead on the background thread is refused (never served; see the module docs)."""
    return _GuardedContext(ctx)


class _HostCallDuringInit(BaseException):
    """Escapes the adapter's ``except Exception``: the guest gets no response (0)."""


class _GuardedContext:
    __slots__ = ("_ctx",)

    def __init__(self, ctx):
        self._ctx = ctx

    def __getattr__(self, name: str):
        pool = getattr(_state, "pool", None)
        if pool is not None and name in ("host", "emit"):
            _state.refused = _state.refused or "its init calls a Navidrome host function"
            raise _HostCallDuringInit(name)
        return getattr(self._ctx, name)


_state = threading.local()
_POOLS: weakref.WeakSet[InstancePool] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    """At exit, no background thread may still be inside libextism."""
    workers, snapshots = [], []
    for pool in list(_POOLS):
        workers.extend(pool._workers)
        if pool._snapshot_thread is not None:
            snapshots.append(pool._snapshot_thread)
        pool.close()
    for worker in workers:
        worker.join(timeout=1.0)
    for thread in snapshots:  # maybe compiling inside libextism: a few seconds at most
        thread.join(timeout=10.0)


def first_instance(compiled) -> str | None:
    """Navidrome instantiates a plugin once at load (to see its exports) and closes it: an
    instance libextism cannot create (an unknown import, a start function that traps) fails
    the load; the init does not run there (Extism's Go SDK runs it lazily, at an instance's
    first call). libextism's error, or None; the instance is freed."""
    try:
        ptr = _create(compiled)
    except Exception as e:  # noqa: BLE001 - libextism's refusal (an unknown import...)
        return str(e).removeprefix("plugin call failed: ")
    _lib.extism_plugin_free(ptr)
    return None


def _create(compiled):
    err = _ffi.new("char**")
    ptr = _lib.extism_plugin_new_from_compiled(compiled.pointer, err)
    if ptr == _ffi.NULL:
        raise native.creation_failed(err[0])
    _lib.extism_plugin_allow_http_response_headers(ptr)  # as Navidrome does
    return ptr


def _rename_export(wasm: bytes, old: str, new: str) -> bytes:
    """The module with export ``old`` named ``new`` (same byte length: offsets unchanged)."""
    from .wasminfo import _name, _uleb

    if len(old.encode()) != len(new.encode()):
        raise ValueError("export names must keep their length")
    pos = 8
    while pos < len(wasm):
        section_id = wasm[pos]
        size, start = _uleb(wasm, pos + 1)
        end = start + size
        if section_id == 7:
            count, p = _uleb(wasm, start)
            for _ in range(count):
                name_at = p
                name, p = _name(wasm, p)
                _, p = _uleb(wasm, p + 1)
                if name == old:
                    length, text_at = _uleb(wasm, name_at)
                    return wasm[:text_at] + new.encode() + wasm[text_at + length:]
        pos = end
    raise ValueError(f"no export {old!r}")
