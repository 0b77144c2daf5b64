"""Hand-written WebAssembly-text plugins for ABI edge cases (compiled with wasmtime.wat2wasm)."""

from __future__ import annotations

import wasmtime

_ENV = """
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "length" (func $length (param i64) (result i64)))
  (import "extism:host/env" "load_u8" (func $load_u8 (param i64) (result i32)))
  (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
  (import "extism:host/env" "input_length" (func $input_length (result i64)))
  (import "extism:host/env" "input_load_u8" (func $input_load_u8 (param i64) (result i32)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (import "extism:host/env" "error_set" (func $error_set (param i64)))
"""

_HELPERS = """
  (memory (export "memory") 1)
  (data (i32.const 0) "guest says no")
  ;; copy the call input into a new Extism block, return its offset
  (func $input_block (result i64)
    (local $n i64) (local $i i64) (local $blk i64)
    (local.set $n (call $input_length))
    (local.set $blk (call $alloc (local.get $n)))
    (block $done (loop $next
      (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
      (call $store_u8 (i64.add (local.get $blk) (local.get $i))
                      (call $input_load_u8 (local.get $i)))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br $next)))
    (local.get $blk))
  ;; an Extism block holding linear memory [0, 13): "guest says no"
  (func $message_block (result i64)
    (local $i i64) (local $blk i64)
    (local.set $blk (call $alloc (i64.const 13)))
    (block $done (loop $next
      (br_if $done (i64.ge_u (local.get $i) (i64.const 13)))
      (call $store_u8 (i64.add (local.get $blk) (local.get $i))
                      (i32.load8_u (i32.wrap_i64 (local.get $i))))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br $next)))
    (local.get $blk))
"""


def host_call_plugin(*import_names: str) -> bytes:
    """A module exporting ``call_<import>``: sends the call input as the request, outputs the
    raw response block of the host function."""
    imports = "".join(
        f'  (import "extism:host/user" "{n}" (func ${n} (param i64) (result i64)))\n'
        for n in import_names)
    exports = "".join(
        f"""  (func (export "call_{n}") (result i32)
    (local $r i64)
    (local.set $r (call ${n} (call $input_block)))
    (call $output_set (local.get $r) (call $length (local.get $r)))
    (i32.const 0))
""" for n in import_names)
    return wat("(module\n" + _ENV + imports + _HELPERS + exports + ")")


def outcomes_plugin() -> bytes:
    """A module whose exports end in every way a call can end (spec 3.1)."""
    body = """
  (func (export "nd_echo") (result i32)
    (local $b i64)
    (local.set $b (call $input_block))
    (call $output_set (local.get $b) (call $length (local.get $b)))
    (i32.const 0))
  (func (export "nd_empty") (result i32) (i32.const 0))
  (func (export "nd_not_implemented") (result i32) (i32.const -2))
  (func (export "nd_minus_one") (result i32) (i32.const -1))
  (func (export "nd_exit_seven") (result i32) (i32.const 7))
  (func (export "nd_error_set") (result i32)
    (call $error_set (call $message_block))
    (i32.const -1))
  (func (export "nd_error_set_rc0") (result i32)
    (call $error_set (call $message_block))
    (i32.const 0))
  (func (export "nd_trap") (result i32) (unreachable))
  (func (export "nd_spin") (result i32) (loop $forever (br $forever)) (i32.const 0))
  (func (export "nd_on_init") (result i32) (i32.const 0))
  ;; guest state must not survive between calls: every call answers "1"
  (global $calls (mut i32) (i32.const 0))
  (func (export "nd_counter") (result i32)
    (local $b i64)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (local.set $b (call $alloc (i64.const 1)))
    (call $store_u8 (local.get $b) (i32.add (i32.const 48) (global.get $calls)))
    (call $output_set (local.get $b) (i64.const 1))
    (i32.const 0))
"""
    return wat("(module\n" + _ENV + _HELPERS + body + ")")


def wat(text: str) -> bytes:
    return bytes(wasmtime.wat2wasm(text))


def function_bodies(module: bytes) -> list[tuple[int, bytes]]:
    """(file offset, bytes) of every function body of a module."""
    from nd_notebook.runtime.wasminfo import _uleb

    pos = 8
    while module[pos] != 10:
        size, start = _uleb(module, pos + 1)
        pos = start + size
    pos = _uleb(module, pos + 1)[1]
    count, pos = _uleb(module, pos)
    out = []
    for _ in range(count):
        size, start = _uleb(module, pos)
        out.append((start, module[start:start + size]))
        pos = start + size
    return out
