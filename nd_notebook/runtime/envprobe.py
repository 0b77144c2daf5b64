"""What libextism's WASI tells a plugin's init, asked of a real libextism instance.

A memory snapshot (runtime/snapshot.py) initialises the plugin outside libextism, so it must
answer the init's WASI calls exactly as libextism would for this plugin: its arguments,
environment, the state of fds 0-2 before and after Go sets them non-blocking, and the
preopened directories (fd numbers and guest paths of ``allowed_paths``). A small WAT module,
run with the plugin's ``allowed_paths``, makes those calls and hands back what it got.
"""

from __future__ import annotations

import json
import struct
import threading
from dataclasses import dataclass, field

from .wasmedit import NotSnapshottable

__all__ = ["Environment", "probe_environment"]

_SLOTS = 16  # preopens probed (fds 3..18)
_OUT = 49152

_PROBE = """(module
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u64" (func $store_u64 (param i64 i64)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $env_sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $env (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_fdstat_get" (func $fdstat (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_fdstat_set_flags" (func $setflags (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $prestat (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_dir_name" (func $dirname (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "probe") (result i32)
    (local $fd i32) (local $b i32) (local $k i32) (local $blk i64) (local $i i64)
    (i32.store (i32.const 208) (call $args_sizes (i32.const 0) (i32.const 4)))
    (i32.store (i32.const 212) (call $env_sizes (i32.const 8) (i32.const 12)))
    (if (i32.and (i32.le_u (i32.load (i32.const 0)) (i32.const 64))
                 (i32.le_u (i32.load (i32.const 4)) (i32.const 4096)))
      (then (drop (call $args (i32.const 8192) (i32.const 8448)))))
    (if (i32.and (i32.le_u (i32.load (i32.const 8)) (i32.const 64))
                 (i32.le_u (i32.load (i32.const 12)) (i32.const 32768)))
      (then (drop (call $env (i32.const 16384) (i32.const 16640)))))
    (loop $fds
      (local.set $b (i32.add (i32.const 16) (i32.mul (local.get $fd) (i32.const 64))))
      (i32.store offset=24 (local.get $b) (call $fdstat (local.get $fd) (local.get $b)))
      (i32.store offset=28 (local.get $b) (call $setflags (local.get $fd) (i32.const 4)))
      (i32.store offset=56 (local.get $b)
        (call $fdstat (local.get $fd) (i32.add (local.get $b) (i32.const 32))))
      (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
      (br_if $fds (i32.lt_u (local.get $fd) (i32.const 3))))
    (loop $pre
      (local.set $b (i32.add (i32.const 256) (i32.mul (local.get $k) (i32.const 16))))
      (i32.store offset=8 (local.get $b)
        (call $prestat (i32.add (local.get $k) (i32.const 3)) (local.get $b)))
      (if (i32.eqz (i32.load offset=8 (local.get $b)))
        (then (if (i32.le_u (i32.load offset=4 (local.get $b)) (i32.const 256))
          (then (i32.store offset=12 (local.get $b)
            (call $dirname (i32.add (local.get $k) (i32.const 3))
                           (i32.add (i32.const 1024) (i32.mul (local.get $k) (i32.const 256)))
                           (i32.load offset=4 (local.get $b))))))))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $pre (i32.lt_u (local.get $k) (i32.const SLOTS))))
    (local.set $blk (call $alloc (i64.const OUT)))
    (loop $copy
      (call $store_u64 (i64.add (local.get $blk) (local.get $i))
                       (i64.load (i32.wrap_i64 (local.get $i))))
      (local.set $i (i64.add (local.get $i) (i64.const 8)))
      (br_if $copy (i64.lt_u (local.get $i) (i64.const OUT))))
    (call $output_set (local.get $blk) (i64.const OUT))
    (i32.const 0)))
""".replace("SLOTS", str(_SLOTS)).replace("OUT", str(_OUT))

@dataclass(frozen=True)
class Environment:
    """What libextism's WASI answers a plugin's init, as :func:`probe` found it."""

    args: tuple[bytes, ...] = ()
    env: tuple[bytes, ...] = ()
    fdstat: dict = field(default_factory=dict)  # fd -> 24-byte fdstat (0, 1, 2)
    set_flags: dict = field(default_factory=dict)  # fd -> errno of fd_fdstat_set_flags(NONBLOCK)
    fdstat_after: dict = field(default_factory=dict)  # fd -> fdstat after that call
    preopens: tuple[tuple[int, bytes], ...] = ()  # (fd, guest path)


_lock = threading.Lock()
_memo: dict[str, object] = {}


def probe_environment(allowed_paths: dict | None):
    """The :class:`Environment` libextism gives a plugin with these ``allowed_paths``
    (remembered per set of paths)."""
    key = json.dumps(allowed_paths or {}, sort_keys=True)
    with _lock:
        if key in _memo:
            return _memo[key]
    raw = _run(allowed_paths)
    u32 = lambda at: struct.unpack_from("<I", raw, at)[0]
    if u32(208) or u32(212):
        raise NotSnapshottable("libextism's WASI refused the argument or environment sizes")
    if u32(0) > 64 or u32(4) > 4096 or u32(8) > 64 or u32(12) > 32768:
        raise NotSnapshottable("the WASI arguments or environment are too large to probe")
    args = tuple(_c_string(raw, u32(8192 + 4 * k)) for k in range(u32(0)))
    env = tuple(_c_string(raw, u32(16384 + 4 * k)) for k in range(u32(8)))
    fdstat, set_flags, after = {}, {}, {}
    for fd in range(3):
        block = 16 + 64 * fd
        if u32(block + 24) == 0:
            fdstat[fd] = raw[block:block + 24]
        set_flags[fd] = u32(block + 28)
        if u32(block + 56) == 0:
            after[fd] = raw[block + 32:block + 56]
    preopens = []
    for k in range(_SLOTS):
        block = 256 + 16 * k
        errno = u32(block + 8)
        if errno == 8:  # EBADF: the end of the preopens
            break
        if errno or raw[block] != 0 or u32(block + 4) > 256 or u32(block + 12):
            raise NotSnapshottable(f"fd {k + 3} is not a plain preopened directory")
        preopens.append((k + 3, raw[1024 + 256 * k:1024 + 256 * k + u32(block + 4)]))
    else:
        raise NotSnapshottable(f"more than {_SLOTS} preopened directories")
    environment = Environment(args, env, fdstat, set_flags, after, tuple(preopens))
    with _lock:
        _memo[key] = environment
    return environment


def _c_string(raw: bytes, at: int) -> bytes:
    return raw[at:raw.index(b"\0", at)]


def _run(allowed_paths: dict | None) -> bytes:
    import extism
    import wasmtime

    manifest: dict = {"wasm": [{"data": bytes(wasmtime.wat2wasm(_PROBE))}]}
    if allowed_paths:
        manifest["allowed_paths"] = allowed_paths
    with extism.Plugin(manifest, wasi=True) as plugin:
        return bytes(plugin.call("probe", b""))
