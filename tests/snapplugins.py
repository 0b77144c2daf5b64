"""Go and WAT sources and helpers shared by the memory-snapshot tests
(test_memory_snapshots.py, test_memory_snapshots_modules.py)."""

from __future__ import annotations

import struct
from pathlib import Path

from nd_notebook.runtime import prepared

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "nd_notebook" / "samples" / "hello.go"
SAMPLE_MANIFEST = REPO / "nd_notebook" / "samples" / "hello.manifest.json"

# A Go export counting its calls and distinct inputs in package variables (fresh every call).
COUNTER = """
//go:wasmexport nd_counter
func counter() int32 {
	calls++
	seen[pdk.InputString()]++
	pdk.OutputString(strconv.Itoa(calls) + " " + strconv.Itoa(len(seen)))
	return 0
}
"""

# Package state written by calls, and randomness drawn in calls; nothing in init the snapshot
# would refuse (no clock, no log). The map built in init is iterated in every call.
STATE = """
package main

import (
	"hash/maphash"
	"strconv"

	"github.com/navidrome/navidrome/plugins/pdk/go/pdk"
)

var calls int
var seen = map[string]int{}
var built = map[int]bool{1: true, 2: true, 3: true, 4: true, 5: true, 6: true, 7: true, 8: true}

""" + COUNTER + """
func keys(m map[int]bool) string {
	s := ""
	for k := range m {
		s += strconv.Itoa(k)
	}
	return s
}

//go:wasmexport nd_order
func order() int32 {
	m := map[int]bool{}
	for k := 1; k <= 8; k++ {
		m[k] = true
	}
	pdk.OutputString(keys(m))
	return 0
}

//go:wasmexport nd_init_map_order
func initMapOrder() int32 {
	pdk.OutputString(keys(built))
	return 0
}

//go:wasmexport nd_maphash
func mapHash() int32 {
	pdk.OutputString(strconv.FormatUint(maphash.String(maphash.MakeSeed(), "x"), 16))
	return 0
}

func main() {}
"""

_GREET = """
//go:wasmexport nd_hello
func hello() int32 {
	pdk.OutputString("hello " + pdk.InputString())
	return 0
}

func main() {}
"""

# Inits a snapshot cannot reproduce, each with the reason snapshot.py gives; every module still
# answers nd_hello correctly.
_PDK = '"github.com/navidrome/navidrome/plugins/pdk/go/pdk"'
_ROLL = """
//go:wasmexport nd_roll
func roll() int32 {
	pdk.OutputString(strconv.Itoa(ROLL(6)))
	return 0
}
"""
REFUSED = {
    "wall_clock": (
        (f'import (\n\t"time"\n\t{_PDK}\n)\n\nvar started = time.Now()\n\n'
         "func init() { _ = started }\n"),
        ("its init reads the wall clock (a value like time.Now() in a package variable would be "
         "the same in every call)")),
    "crypto_rand": (
        (f'import (\n\t"crypto/rand"\n\t{_PDK}\n)\n\nvar token = make([]byte, 16)\n\n'
         "func init() { _, _ = rand.Read(token) }\n"),
        ("its init reads random bytes beyond Go's runtime seed (crypto/rand or the like: the "
         "values would be the same in every call)")),
    "pdk_log": (
        f'import {_PDK}\n\nfunc init() {{ pdk.Log(pdk.LogInfo, "init ran") }}\n',
        ("its init calls Extism's get_log_level (it logs: a fresh instance would log in every "
         "call)")),
    # A Navidrome host function: the first import its request needs is the kernel's alloc.
    "host_config": (
        (f'import (\n\t"github.com/navidrome/navidrome/plugins/pdk/go/host"\n\t{_PDK}\n)\n\n'
         'var greeting, _ = host.ConfigGet("greeting")\n\n'
         "//go:wasmexport nd_greeting\nfunc greet() int32 {\n"
         "\tpdk.OutputString(greeting)\n\treturn 0\n}\n"),
        ("its init calls Extism's alloc (it logs, reads its input or calls a host function, "
         "which needs Extism's memory)")),
    "math_rand": (
        f'import (\n\t"math/rand"\n\t"strconv"\n\t{_PDK}\n)\n'
        + _ROLL.replace("ROLL", "rand.Intn"),
        ("it links math/rand (its package init could draw from Go's generator, which no WASI "
         "call would show)")),
    "math_rand_v2": (
        f'import (\n\t"math/rand/v2"\n\t"strconv"\n\t{_PDK}\n)\n'
        + _ROLL.replace("ROLL", "rand.IntN"),
        ("it links math/rand/v2 (its package init could draw from Go's generator, which no WASI "
         "call would show)")),
}

REFUSALS = list(REFUSED)


def refused_source(name: str) -> str:
    return "package main\n\n" + REFUSED[name][0] + _GREET


# A reactor built by another toolchain: _initialize sets one mutable global of each number type
# and writes into memory (page 0 and page 1); nd_state outputs them, then overwrites them all.
REACTOR = """
(module
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (memory (export "memory") 2 4)
  (global $a (mut i32) (i32.const 0))
  (global $b (mut i64) (i64.const 0))
  (global $c (mut f32) (f32.const 0))
  (global $d (mut f64) (f64.const 0))
  (func (export "_initialize")
    (global.set $a (i32.const -123456))
    (global.set $b (i64.const -81985529216486896))
    (global.set $c (f32.const 1.5))
    (global.set $d (f64.const -2.25e300))
    (i64.store (i32.const 64) (i64.const 0x6c61697469696e69))
    (i64.store (i32.const 100000) (i64.const 0x686769682d656761)))
  (func (export "nd_state") (result i32)
    (local $blk i64) (local $i i32)
    (i32.store (i32.const 0) (global.get $a))
    (i64.store (i32.const 4) (global.get $b))
    (f32.store (i32.const 12) (global.get $c))
    (f64.store (i32.const 16) (global.get $d))
    (i64.store (i32.const 24) (i64.load (i32.const 64)))
    (i64.store (i32.const 32) (i64.load (i32.const 100000)))
    (local.set $blk (call $alloc (i64.const 40)))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (i32.const 40)))
      (call $store_u8 (i64.add (local.get $blk) (i64.extend_i32_u (local.get $i)))
                      (i32.load8_u (local.get $i)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (call $output_set (local.get $blk) (i64.const 40))
    (global.set $a (i32.const 1))
    (global.set $b (i64.const 2))
    (global.set $c (f32.const 3))
    (global.set $d (f64.const 4))
    (i64.store (i32.const 64) (i64.const 0x7979747269642121))
    (i64.store (i32.const 100000) (i64.const 0x7979747269642121))
    (i32.const 0)))
"""
LOW, HIGH = 0x6C61697469696E69, 0x686769682D656761  # written by the init (page 0, page 1)


def reactor_expected() -> bytes:
    return struct.pack("<iqfdqq", -123456, -81985529216486896, 1.5, -2.25e300, LOW, HIGH)


# -- helpers -------------------------------------------------------------------------------------

def reach_snapshot(plugin, export: str, input: object = b"x") -> str:
    """Make the calls after which the snapshot is taken; wait for it; its state."""
    for _ in range(prepared.SNAPSHOT_AFTER):
        plugin.call(export, input, raw=True)
    assert plugin.instances.snapshot_ready.wait(60)
    return plugin.instances.snapshot


