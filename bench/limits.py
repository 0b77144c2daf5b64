"""Interrupts and resource caps: per-call overhead, interrupt latency, peak RSS under the caps.

Run: python bench/limits.py [--calls N] [--trials N] [--uncapped]

Prints:
- overhead: a bare Extism call (fresh instance, nothing else) against LoadedPlugin.call, and
  what the interrupt guard + call slot add per call, next to the thread hop per call that the
  wakeup-fd design avoids (runtime/interrupt.py)
- interrupt latency: SIGINT sent to this process -> PluginCallInterrupted caught, for a looping
  WAT export, a looping Go export, and host.run_for in virtual time (RunInterrupted)
- peak RSS (getrusage in a fresh interpreter per case): a Go plugin appending 1 MiB slices
  forever under the default 1 GiB cap, one call and two concurrent calls; a plugin asked to
  return 3 GiB; one returning 400 MiB (past max_output); with --uncapped, the unbounded plugin
  at max_memory=4GiB (what a call could take before the caps) for the ratio
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# Imported now: Host() would import it on a background thread during the first measurement
# (manifest.prefetch_schema_support).
import jsonschema  # noqa: F401

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

from capsplugins import hog_wasm
from extism.extism import Plugin
from extism_sys import ffi, lib
from watplugins import outcomes_plugin

from nd_notebook import Host
from nd_notebook.errors import PluginCallInterrupted, RunInterrupted
from nd_notebook.runtime import interrupt, limits

MiB, GiB = 1 << 20, 1 << 30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--uncapped", action="store_true",
                        help="also measure the unbounded plugin at max_memory=4GiB (~4 GB RSS)")
    args = parser.parse_args()
    go = hog_wasm()
    with tempfile.TemporaryDirectory() as tmp:
        overhead(Path(tmp), args.calls)
        latency(Path(tmp), go, args.trials)
        rss(Path(tmp), go, args.uncapped)


# -- per-call overhead -----------------------------------------------------------------------

def overhead(tmp: Path, calls: int) -> None:
    with Host(tmp / "overhead") as host:
        plugin = host.load(outcomes_plugin(), name="o")
        compiled = plugin._compiled

        def bare():
            with Plugin(compiled) as instance:
                lib.extism_plugin_call_with_host_context(instance.plugin, b"nd_echo", b"{}", 2,
                                                         ffi.NULL)

        instance = Plugin(compiled)

        def guarded():
            with limits.call_slot(host, "nd_echo"), interrupt.guard(instance.plugin):
                pass

        with ThreadPoolExecutor(1) as pool:
            t_bare = _per_call(bare, calls)
            t_full = _per_call(lambda: plugin.call("nd_echo", {}), calls)
            t_guard = _per_call(guarded, calls * 10)
            t_empty = _per_call(_noop, calls * 10)
            t_hop = _per_call(lambda: pool.submit(_noop).result(), calls * 10)
        instance.__exit__(None, None, None)
    g = t_guard - t_empty
    print("per-call overhead (main thread)")
    print(f"  bare extism call (fresh instance)   {t_bare * 1e6:9.1f} us")
    print(f"  LoadedPlugin.call                   {t_full * 1e6:9.1f} us   "
          f"{t_full / t_bare:.2f}x bare")
    print(f"  interrupt guard + call slot         {g * 1e6:9.1f} us   "
          f"{g / t_bare * 100:.1f}% of a bare call")
    hop = t_hop - t_empty
    print(f"  a thread hop instead (rejected)     {hop * 1e6:9.1f} us   "
          f"{hop / t_bare * 100:.1f}% of a bare call, {hop / g:.1f}x the guard")


def _noop() -> None:
    pass


def _per_call(fn, n: int) -> float:
    for _ in range(min(n, 100)):
        fn()
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - started) / n)
    return best


# -- interrupt latency -----------------------------------------------------------------------

def latency(tmp: Path, go: bytes, trials: int) -> None:
    print("interrupt latency: SIGINT -> exception caught (ms)")
    with Host(tmp / "latency", timeout_ms=30_000) as host:
        wat = host.load(outcomes_plugin(), name="wat")
        gop = host.load(go, name="go")
        for label, fn in (("WAT loop (nd_spin)", lambda: wat.call("nd_spin")),
                          ("Go loop (nd_spin)", lambda: gop.call("nd_spin"))):
            _report(label, [_interrupt(fn, PluginCallInterrupted) for _ in range(trials)])
    samples = []
    for i in range(trials):
        with Host(tmp / f"virtual{i}", clock="virtual", timeout_ms=30_000) as host:
            p = host.load(outcomes_plugin(), name="wat")
            host.clock.call_later(1, lambda p=p: _swallow(p.call, "nd_spin"))
            samples.append(_interrupt(lambda host=host: host.run_for(10), RunInterrupted))
    _report("host.run_for, virtual time", samples)


def _interrupt(fn, expected) -> float:
    sent: list[float] = []

    def send():
        time.sleep(0.1)
        sent.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=send, daemon=True).start()
    try:
        fn()
    except expected:
        return (time.perf_counter() - sent[0]) * 1000
    raise AssertionError("not interrupted")


def _swallow(fn, *args):
    try:
        fn(*args)
    except Exception:  # noqa: BLE001, S110 - a service's view: a failed call
        pass


def _report(label: str, ms: list[float]) -> None:
    print(f"  {label:30s} median {statistics.median(ms):7.2f}   max {max(ms):7.2f}   "
          f"(n={len(ms)}; limit 500)")


# -- peak RSS --------------------------------------------------------------------------------

_CASE = """
import json, resource, sys, threading, time
sys.path.insert(0, {tests!r})
from nd_notebook import Host
h = Host({data!r}, max_memory={max_memory!r})
p = h.load(open({wasm!r}, 'rb').read(), name='hog')
outcome = []
def run():
    try:
        out = p.call({export!r}, {input!r}, raw=True)
        outcome.append(f'ok, {{len(out):,}} bytes')
    except Exception as e:
        outcome.append(type(e).__name__)
started = time.perf_counter()
threads = [threading.Thread(target=run) for _ in range({threads})]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({{"rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "outcome": outcome, "seconds": time.perf_counter() - started}}))
"""


def rss(tmp: Path, go: bytes, uncapped: bool) -> None:
    wasm = tmp / "hog.wasm"
    wasm.write_bytes(go)
    base = _case(tmp, wasm, "nd_hello", b"", 1, "1GiB")
    print("peak RSS of a fresh interpreter (getrusage), default caps: max_memory 1 GiB, "
          "max_output 64 MiB")
    print(f"  {'baseline: one small call':44s} {base['rss'] / MiB:7.0f} MiB")
    cases = [("unbounded append, 1 call", "nd_hog", b"", 1, "1GiB"),
             ("unbounded append, 2 concurrent calls", "nd_hog", b"", 2, "1GiB"),
             ("returns 3 GiB", "nd_big", b"3221225472", 1, "1GiB"),
             ("returns 400 MiB (past max_output)", "nd_big", str(400 * MiB).encode(), 1, "1GiB")]
    if uncapped:
        cases.append(("unbounded append at max_memory=4GiB", "nd_hog", b"", 1, "4GiB"))
    for label, export, data, threads, cap in cases:
        r = _case(tmp, wasm, export, data, threads, cap)
        print(f"  {label:44s} {r['rss'] / MiB:7.0f} MiB   "
              f"{(r['rss'] - base['rss']) / GiB:5.2f} GiB over baseline   "
              f"{r['seconds']:6.2f} s   {', '.join(r['outcome'])}")


def _case(tmp: Path, wasm: Path, export: str, data: bytes, threads: int, cap: str) -> dict:
    code = _CASE.format(tests=str(TESTS), data=str(tmp / f"rss-{export}-{threads}-{cap}"),
                        wasm=str(wasm), export=export, input=data, threads=threads,
                        max_memory=cap)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
