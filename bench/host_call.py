"""Host-function round trip cost, as ratios against a bare Extism call measured in the same run.

Run: python bench/host_call.py [--calls N]

Prints:
- bare:       extism.Plugin.call of an export that does nothing (one instance, reused)
- nd call:    LoadedPlugin.call of the same export (fresh instance per call, event recorded)
- host call:  one export that makes 100 config_get host calls; per-host-call cost
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

# Imported now: Host() would import it on a background thread during the first measurement
# (manifest.prefetch_schema_support).
import jsonschema  # noqa: F401

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import extism
from watplugins import outcomes_plugin, wat

from nd_notebook import Host

LOOP_PLUGIN = """(module
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
  (import "extism:host/user" "config_get" (func $config_get (param i64) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{\\"key\\":\\"k\\"}")
  (func $request (result i64)
    (local $i i64) (local $b i64)
    (local.set $b (call $alloc (i64.const 11)))
    (block $d (loop $l
      (br_if $d (i64.ge_u (local.get $i) (i64.const 11)))
      (call $store_u8 (i64.add (local.get $b) (local.get $i))
                      (i32.load8_u (i32.wrap_i64 (local.get $i))))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br $l)))
    (local.get $b))
  (func (export "nd_hundred_host_calls") (result i32)
    (local $n i32)
    (block $d (loop $l
      (br_if $d (i32.ge_u (local.get $n) (i32.const 100)))
      (drop (call $config_get (call $request)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $l)))
    (i32.const 0))
  (func (export "nd_no_host_calls") (result i32) (i32.const 0)))"""


def timed(fn, n: int) -> float:
    fn()  # warm up
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()

    bare = extism.Plugin(outcomes_plugin(), wasi=True, functions=[])
    t_bare = timed(lambda: bare.call("nd_empty", b"{}"), args.calls)

    with tempfile.TemporaryDirectory() as tmp, Host(tmp) as host:
        plugin = host.load(outcomes_plugin(), name="bench")
        t_nd = timed(lambda: plugin.call("nd_empty"), args.calls)
        looper = host.load(wat(LOOP_PLUGIN), name="looper", config={"k": "v"})
        t_zero = timed(lambda: looper.call("nd_no_host_calls"), args.calls)
        t_hundred = timed(lambda: looper.call("nd_hundred_host_calls"), max(args.calls // 10, 10))
    per_host_call = (t_hundred - t_zero) / 100

    print(f"bare extism call (reused instance):   {t_bare * 1e6:9.1f} us   ratio 1.00")
    print(f"nd-notebook call (fresh instance):    {t_nd * 1e6:9.1f} us   ratio {t_nd / t_bare:.2f}")
    print(f"one host-function round trip:         {per_host_call * 1e6:9.1f} us   "
          f"ratio {per_host_call / t_bare:.2f}")


if __name__ == "__main__":
    main()
