"""Memory snapshots of an initialised plugin instance (issue 10, item 2).

A Go plugin's fresh instance spends most of its life in Go's ``_initialize`` (runtime start and
package ``init``): about 0.9 ms of a 1.7 ms call for the sample plugin. :func:`take` runs that
initialisation once, in an instance nd-notebook drives itself (wasmtime-py, its WASI imports
answered here), and returns the module rewritten to *start* in the initialised state
(runtime/wasmedit.py: memory in data segments, mutable globals at their values), so each call's
fresh libextism instance skips the init. Every call still gets an instance of its own; what a
call writes never reaches the next call.

What the init reads, and why the result behaves like a fresh instance:

- **Environment**: arguments, environment variables, the stdio descriptors' state and the
  preopened directories (``/storage``, ``/libraries/<id>``) are answered exactly as libextism
  answers them for this plugin's manifest: :func:`probe` asks a real libextism instance first.
- **Random numbers**: Go seeds its generators from 32 bytes of ``random_get``. The snapshot
  finds the two generator states (``runtime.globalRand`` and the thread's ``chacha8``, with the
  ``cheaprand`` words beside it) by initialising twice with different random bytes, and its
  ``__nd_reseed`` export refills them from ``random_get`` in every instance before the call:
  map iteration order, ``math/rand`` at call time and new map seeds differ from call to call
  as on Navidrome. What the init itself derived from them (the hash seeds and layouts of maps
  built during init, the runtime's hash key) is the same in every call: each call sees one of
  the states a fresh instance could have.
- **Clock**: the monotonic clock of a libextism instance starts at zero when the instance is
  created, so the init's monotonic readings (Go's start time) are answered the same way, a
  few microseconds apart: deterministic, so the same module gives the same snapshot module
  and Extism's compiled-module cache answers its compile on later loads.

A module is not snapshotted (calls then initialise their own instances, as before, with the
reason in ``plugin.instances.status``) when its init:

- reads the wall clock (``time.Now()`` in a package variable would be frozen),
- reads more random bytes than Go's runtime seed (``crypto/rand``, UUIDs),
- writes to stdout/stderr or logs (a fresh instance would repeat it in every call),
- calls a Navidrome host function, another import or exits, or makes any WASI call not above,
- links ``math/rand`` or ``math/rand/v2`` (its package init could draw from the generator,
  which no WASI call would show),
- or when the module's shape rules it out (runtime/wasmedit.py), or its init randomness is not
  Go's (random bytes read but no generator state found).
"""

from __future__ import annotations

import hashlib
import math
import os
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import wasmtime

from . import wasmclock, wasmedit
from .envprobe import Environment, probe_environment
from .wasmedit import NotSnapshottable

__all__ = ["Environment", "NotSnapshottable", "Snapshot", "probe_environment", "take"]

_WASI = "wasi_snapshot_preview1"
_ERRNO_BADF, _ERRNO_NOSYS = 8, 52
#: Bytes of random_get that Go's runtime reads at start (runtime.randinit's seed).
GO_SEED_BYTES = 32
#: Packages whose presence rules a snapshot out (their init-time draws leave no trace).
#: (The name section writes a package path's "/" as "_": math_rand.Intn, math_rand_v2.IntN.)
RANDOM_PACKAGES = ("math/rand", "math/rand/v2")
#: Nanoseconds the emulated monotonic clock advances per reading (a libextism instance's clock
#: starts at zero when it is created; Go's init reads it a few times within a millisecond).
_TICK = 20_000
#: The most memory a snapshot is taken of (an init growing past it is refused): each run holds
#: its memory, and taking the snapshot copies it several times.
MAX_MEMORY = 64 << 20
#: Seconds an init may run (the Host passes its timeout_ms).
DEADLINE = 30.0
_EPOCH_SECONDS = 0.01
_KEPT_OUTPUT = 512  # bytes of an init's stdout/stderr kept for the refusal's reason
_STATE = 256 + 32  # chacha8rand.State: buf [32]uint64, seed [4]uint64 (then i, n, c uint32)


@dataclass(frozen=True)
class Snapshot:
    memory: bytes
    globals: list[int]
    reseed: list[tuple[int, int]]  # (address, length) refilled from random_get per instance
    module: bytes  # the rewritten module (wasmedit.from_snapshot)
    touches: bool = False  # whether its reseed reads a touch list (runtime/pagetouch.py)


def take(wasm: bytes, init_export: str, environment: Environment,
         drop_exports: tuple[str, ...] = (), *, max_memory: int = MAX_MEMORY,
         deadline: float = DEADLINE) -> Snapshot:
    """Initialise ``wasm`` (its init export renamed ``init_export``, runtime/prepared.py) twice
    and return the snapshot module; :class:`NotSnapshottable` says why not. Remembered per
    module and environment for the process (a reload of the same plugin takes none; Hosts
    asking for the same one at once wait for the first instead of each taking it).

    Each init may grow its memory to ``max_memory`` bytes (at most :data:`MAX_MEMORY`) and run
    ``deadline`` seconds (a call's deadline: its init would not finish in a call either)."""
    max_memory = min(max_memory, MAX_MEMORY)
    key = (hashlib.sha256(wasm).hexdigest(), init_export, repr(environment), drop_exports,
           max_memory, deadline)
    with _taken_lock:
        taking = _taking.get(key)
        if taking is None and key not in _taken:  # this thread takes it
            _taking[key] = threading.Event()
    if taking is not None:  # another Host's thread is taking the same one: its result
        taking.wait()
    with _taken_lock:
        if key in _taken:
            found = _taken[key]
            if isinstance(found, NotSnapshottable):
                raise NotSnapshottable(str(found))
            return found
    try:
        result = _take(wasm, init_export, environment, drop_exports, max_memory, deadline)
    except NotSnapshottable as e:
        result = e
    except BaseException:
        _done_taking(key)  # a waiter takes it itself
        raise
    with _taken_lock:
        _taken[key] = result
        while len(_taken) > _REMEMBERED:
            _taken.pop(next(iter(_taken)))
    _done_taking(key)
    if isinstance(result, NotSnapshottable):
        raise NotSnapshottable(str(result))
    return result


def _done_taking(key) -> None:
    with _taken_lock:
        done = _taking.pop(key, None)
    if done is not None:
        done.set()


#: Snapshots remembered per process (each holds its memory and module: several MB).
_REMEMBERED = 4
_taken: dict = {}
_taking: dict = {}  # key -> Event set when the thread taking that snapshot is done
_taken_lock = threading.Lock()


def _take(wasm: bytes, init_export: str, environment: Environment,
          drop_exports: tuple[str, ...], max_memory: int = MAX_MEMORY,
          deadline: float = DEADLINE) -> Snapshot:
    _refuse_random_packages(wasm)
    probed = wasmedit.with_global_exports(wasm)
    types = [valtype for valtype, _, _ in wasmedit.layout(wasm).globals]
    engine = _engine()
    module = wasmtime.Module(engine, probed)
    limits = (max_memory, deadline)
    first = _initialise(engine, module, init_export, environment, types, limits, seed=1)
    second = _initialise(engine, module, init_export, environment, types, limits, seed=2)
    if len(first.memory) != len(second.memory):
        raise NotSnapshottable("its init ends with a memory size that depends on random numbers")
    if first.globals != second.globals:
        raise NotSnapshottable("its init ends with globals that depend on random numbers")
    reseed = _generator_states(first.memory, second.memory) if first.random_bytes else []
    if first.random_bytes and not reseed:
        raise NotSnapshottable("its init reads random bytes but no Go generator state was found")
    module_bytes = wasmedit.from_snapshot(wasm, first.memory, first.globals, reseed,
                                          (init_export, *drop_exports))
    return Snapshot(first.memory, first.globals, reseed, module_bytes,
                    touches=wasmedit.reseed_touches(wasm))


# -- one initialisation ------------------------------------------------------------------------

@dataclass
class _Run:
    memory: bytes
    globals: list[int]
    random_bytes: int


class _Refused(Exception):
    pass


def _initialise(engine, module, init_export: str, environment: Environment, types: list[int],
                limits: tuple[int, float], *, seed: int) -> _Run:
    max_memory, deadline = limits
    store = wasmtime.Store(engine)
    store.set_limits(memory_size=max_memory)  # a memory.grow past it fails, as in libextism
    store.set_epoch_deadline(max(1, math.ceil(deadline / _EPOCH_SECONDS)))
    wasi = _Wasi(environment, seed)
    linker = wasmtime.Linker(engine)
    defined = set()
    for imp in module.imports:
        if (imp.module, imp.name) in defined:
            continue
        defined.add((imp.module, imp.name))
        if not isinstance(imp.type, wasmtime.FuncType):
            raise NotSnapshottable(f"the module imports {imp.module} {imp.name} (not a function)")
        linker.define_func(imp.module, imp.name, imp.type, wasi.function(imp.module, imp.name),
                           access_caller=True)
    try:
        with _epochs:
            instance = linker.instantiate(store, module)
            exports = instance.exports(store)
            exports[init_export](store)
    except _Refused as e:
        raise NotSnapshottable(_reason(wasi, str(e), max_memory)) from None
    except wasmtime.Trap as e:
        if e.trap_code == wasmtime.TrapCode.INTERRUPT:
            raise NotSnapshottable(f"its init runs longer than a call may ({deadline:g} s)") \
                from None
        raise NotSnapshottable(_reason(wasi, f"its init traps: {str(e).splitlines()[0]}",
                                       max_memory)) from None
    except wasmtime.WasmtimeError as e:
        raise NotSnapshottable(_reason(wasi, f"its init fails: {str(e).splitlines()[0]}",
                                       max_memory)) from None
    if wasi.refused or wasi.slept:
        raise NotSnapshottable(_reason(wasi, wasi.refused, max_memory))
    memory = exports["memory"]
    data = bytes(memory.read(store, 0, memory.data_len(store)))
    values = []
    for k, valtype in enumerate(types):
        value = exports[f"{wasmedit.GLOBAL_EXPORT_PREFIX}{k}"].value(store)
        values.append(_raw(value, valtype))
    return _Run(data, values, wasi.random_bytes)


def _reason(wasi: _Wasi, default: str, max_memory: int) -> str:
    reason = wasi.reason(default)
    if "out of memory" in reason:
        reason += f" (a snapshot's init may grow its memory to {max_memory >> 20} MiB)"
    return reason


def _raw(value, valtype: int) -> int:
    """A global's value as the 64 raw bits wasmedit.from_snapshot writes back."""
    if valtype == 0x7D:  # f32
        return struct.unpack("<I", struct.pack("<f", value))[0]
    if valtype == 0x7C:  # f64
        return struct.unpack("<Q", struct.pack("<d", value))[0]
    return int(value) & 0xFFFFFFFFFFFFFFFF


class _Wasi:
    """WASI preview 1 as libextism answers a plugin's init, with a seeded random source and
    a refusal for everything a snapshot cannot reproduce."""

    def __init__(self, environment: Environment, seed: int):
        import random

        self.environment = environment
        self.rng = random.Random(seed)
        self.random_bytes = 0
        self.refused = ""
        self.output = b""  # the first bytes an init wrote to stdout/stderr
        self.slept = False  # whether it called poll_oneoff (answered at once)
        self.now = 0
        self.fdstat = dict(environment.fdstat)

    def function(self, module: str, name: str) -> Callable:
        if (module, name) == wasmclock.CLOCK_IMPORT:  # WASI's clock, on a virtual-clock Host
            return self._host_clock
        handler = getattr(self, f"_{name}", None) if module == _WASI else None
        if handler is not None:
            return handler
        if module == "extism:host/user":
            what = f"the Navidrome host function {name}"
        elif module == "extism:host/env" and (name.startswith("log_") or name == "get_log_level"):
            what = f"Extism's {name} (it logs: a fresh instance would log in every call)"
        elif module == "extism:host/env":
            what = (f"Extism's {name} (it logs, reads its input or calls a host function, "
                    "which needs Extism's memory)")
        else:
            what = f"WASI {name}" if module == _WASI else f"{module} {name}"
        return lambda caller, *args: self._refuse(f"its init calls {what}")

    def _refuse(self, reason: str):
        self.refused = self.refused or reason
        raise _Refused(reason)

    @staticmethod
    def _memory(caller):
        return caller["memory"]

    def _write(self, caller, address: int, data: bytes) -> None:
        self._memory(caller).write(caller, data, address)

    # -- the calls Go's runtime makes at start -----------------------------------------------
    def _args_sizes_get(self, caller, count_at, size_at):
        args = self.environment.args
        self._write(caller, count_at, struct.pack("<I", len(args)))
        self._write(caller, size_at, struct.pack("<I", sum(len(a) + 1 for a in args)))
        return 0

    def _args_get(self, caller, pointers_at, buffer_at):
        return self._strings(caller, self.environment.args, pointers_at, buffer_at)

    def _environ_sizes_get(self, caller, count_at, size_at):
        env = self.environment.env
        self._write(caller, count_at, struct.pack("<I", len(env)))
        self._write(caller, size_at, struct.pack("<I", sum(len(e) + 1 for e in env)))
        return 0

    def _environ_get(self, caller, pointers_at, buffer_at):
        return self._strings(caller, self.environment.env, pointers_at, buffer_at)

    def _strings(self, caller, items, pointers_at, buffer_at):
        for k, item in enumerate(items):
            self._write(caller, pointers_at + 4 * k, struct.pack("<I", buffer_at))
            self._write(caller, buffer_at, item + b"\0")
            buffer_at += len(item) + 1
        return 0

    def _clock_time_get(self, caller, clock_id, precision, time_at):
        self._write(caller, time_at, struct.pack("<Q", self._host_clock(caller, clock_id)))
        return 0

    def _host_clock(self, caller, clock_id):
        if clock_id != 1:
            self._refuse("its init reads the wall clock (a value like time.Now() in a package "
                         "variable would be the same in every call)")
        self.now += _TICK  # deterministic: the same module gives the same snapshot (cached)
        return self.now

    def _random_get(self, caller, buffer_at, length):
        self.random_bytes += length
        if self.random_bytes > GO_SEED_BYTES:
            self._refuse("its init reads random bytes beyond Go's runtime seed (crypto/rand or "
                         "the like: the values would be the same in every call)")
        self._write(caller, buffer_at, self.rng.randbytes(length))
        return 0

    def _fd_fdstat_get(self, caller, fd, stat_at):
        stat = self.fdstat.get(fd)
        if stat is None:
            return _ERRNO_BADF
        self._write(caller, stat_at, stat)
        return 0

    def _fd_fdstat_set_flags(self, caller, fd, flags):
        if fd not in self.environment.set_flags or flags != 4:
            self._refuse(f"its init calls WASI fd_fdstat_set_flags({fd}, {flags})")
        errno = self.environment.set_flags[fd]
        if errno == 0:
            self.fdstat[fd] = self.environment.fdstat_after[fd]
        return errno

    def _fd_prestat_get(self, caller, fd, prestat_at):
        name = dict(self.environment.preopens).get(fd)
        if name is None:
            return _ERRNO_BADF
        self._write(caller, prestat_at, struct.pack("<II", 0, len(name)))
        return 0

    def _fd_prestat_dir_name(self, caller, fd, path_at, length):
        name = dict(self.environment.preopens).get(fd)
        if name is None:
            return _ERRNO_BADF
        self._write(caller, path_at, name[:length])
        return 0

    def _sched_yield(self, caller):
        return 0

    # -- what an init that fails does: answered, refused, and its message kept --------------
    def _fd_write(self, caller, fd, iovs_at, count, written_at):
        """stdout/stderr: not reproducible (a fresh instance writes in every call), so the
        snapshot is refused, but the text is kept for the reason (a panic's message)."""
        if fd not in (1, 2):
            self._refuse("its init calls WASI fd_write")
        memory = self._memory(caller)
        total = 0
        for k in range(count):
            address, length = struct.unpack("<II", memory.read(caller, iovs_at + 8 * k,
                                                               iovs_at + 8 * k + 8))
            if len(self.output) < _KEPT_OUTPUT:
                self.output += memory.read(caller, address, address + min(length, _KEPT_OUTPUT))
            total += length
        self._write(caller, written_at, struct.pack("<I", total))
        self.refused = self.refused or f"its init writes to {'stdout' if fd == 1 else 'stderr'}"
        return 0

    def _poll_oneoff(self, caller, subscriptions_at, events_at, count, found_at):
        """A sleep (Go's runtime sleeps on its way to printing a panic): over at once."""
        memory = self._memory(caller)
        for k in range(count):
            subscription = memory.read(caller, subscriptions_at + 48 * k,
                                       subscriptions_at + 48 * k + 9)
            # event: userdata, errno (0), type: a clock's subscription ends, others are refused
            if subscription[8] != 0:
                self._refuse("its init calls WASI poll_oneoff")
            self._write(caller, events_at + 32 * k, subscription[:8] + bytes(24))
        self._write(caller, found_at, struct.pack("<I", count))
        self.slept = True
        return 0

    def reason(self, default: str) -> str:
        """Why the snapshot is refused: the first refusal, then what the init wrote."""
        reason = self.refused or ("its init calls WASI poll_oneoff" if self.slept else default)
        text = self.output.decode("utf-8", "replace").strip()
        if text:
            first = " ".join(line.strip() for line in text.splitlines()[:2] if line.strip())
            reason += f": {first[:160]}"
        return reason


# -- finding Go's generator states -------------------------------------------------------------

def _generator_states(first: bytes, second: bytes) -> list[tuple[int, int]]:
    """Byte ranges of every chacha8rand.State (buf and seed) and the cheaprand words after it:
    288 bytes that differ between two inits seeded differently, followed by the (i, n, c)
    counters that do not."""
    import numpy as np

    a = np.frombuffer(first, dtype=np.uint8)
    b = np.frombuffer(second, dtype=np.uint8)
    differs = a != b
    if not differs.any():
        return []
    candidates = _state_windows(differs)
    ranges: list[tuple[int, int]] = []
    for start in candidates:
        if ranges and start < ranges[-1][0] + ranges[-1][1]:
            continue
        i, n, c = struct.unpack_from("<III", first, start + _STATE)
        if first[start + _STATE:start + _STATE + 12] != second[start + _STATE:start + _STATE + 12]:
            continue
        if n not in (32, 28) or i > n or c % 4 or c >= 16:
            continue
        ranges.append((start, _STATE))
        after = start + _STATE + 12
        tail = [k for k in range(after, after + 20) if differs[k]]
        if tail:  # runtime.m's cheaprand (uint32) and cheaprand64 (uint64) follow its chacha8
            ranges.append((tail[0], tail[-1] + 1 - tail[0]))
    return ranges


def _state_windows(differs) -> list[int]:
    """8-aligned offsets of the 288-byte windows with at most 8 equal bytes (a random byte
    equals its counterpart once in 256), ascending. Counted from the offsets that differ (a
    few hundred), not over the whole memory: a window's first or second 8 bytes hold one."""
    import numpy as np

    where = np.flatnonzero(differs)
    aligned = where - where % 8
    starts = np.unique(np.concatenate((aligned, aligned - 8)))
    starts = starts[(starts >= 0) & (starts + _STATE <= len(differs))]
    counts = np.searchsorted(where, starts + _STATE) - np.searchsorted(where, starts)
    return [int(x) for x in starts[counts >= _STATE - 8]]


def _refuse_random_packages(wasm: bytes) -> None:
    names = wasmedit.function_names(wasm)
    for package in RANDOM_PACKAGES:
        prefixes = (package + ".", package.replace("/", "_") + ".")
        if any(n.startswith(prefixes) for n in names):
            raise NotSnapshottable(f"it links {package} (its package init could draw "
                                   "from Go's generator, which no WASI call would show)")




class _EpochTicker:
    """Advances the snapshot engine's epoch every _EPOCH_SECONDS while an init runs, so that
    each store's epoch deadline ends an init running past its deadline."""

    def __init__(self):
        self._lock = threading.Lock()
        self._running = 0
        self._thread: threading.Thread | None = None

    def __enter__(self):
        with self._lock:
            self._running += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._tick, name="nd-snapshot-epoch",
                                                daemon=True)
                self._thread.start()

    def __exit__(self, *exc):
        with self._lock:
            self._running -= 1

    def _tick(self) -> None:
        engine = _engine()
        while True:
            time.sleep(_EPOCH_SECONDS)
            with self._lock:
                if not self._running:
                    self._thread = None
                    return
            engine.increment_epoch()


_epochs = _EpochTicker()
_engine_lock = threading.Lock()
_engine_memo: list = []


def _engine() -> wasmtime.Engine:
    """One engine for snapshot runs; Cranelift without optimisation (compiles ~1.5x faster,
    and the init runs once)."""
    with _engine_lock:
        if not _engine_memo:
            config = wasmtime.Config()
            config.cranelift_opt_level = "none"
            config.epoch_interruption = True  # an init's deadline (_EpochTicker)
            cache = os.environ.get("EXTISM_CACHE_CONFIG")  # the project's (paths.py)
            if cache:
                config.cache = cache
            _engine_memo.append(wasmtime.Engine(config))
        return _engine_memo[0]
