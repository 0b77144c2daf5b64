"""A plugin built by another toolchain: C compiled by clang (Zig's, from the ``ziglang`` package)
against wasi-libc, the LLVM back end TinyGo and Rust also use. It runs as a fresh instance per
call on the plain path and on its memory snapshot, traps cleanly, and on a virtual-clock Host its
``clock_gettime`` is the Host's clock (runtime/wasmclock.py), with the code offsets kept."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import wasmtime
from watplugins import function_bodies

from nd_notebook import Host
from nd_notebook.clock import VirtualClock
from nd_notebook.errors import PluginCallFailedError
from nd_notebook.runtime import wasmclock

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
pytest.importorskip("ziglang", reason="the dev extra's ziglang (clang for wasm32-wasi)")

SOURCE = r'''
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXTISM(n) __attribute__((import_module("extism:host/env"), import_name(n)))
EXTISM("alloc") uint64_t extism_alloc(uint64_t);
EXTISM("store_u8") void extism_store_u8(uint64_t, uint8_t);
EXTISM("output_set") void extism_output_set(uint64_t, uint64_t);

static void output(const char *s) {
    uint64_t n = strlen(s), block = extism_alloc(n);
    for (uint64_t i = 0; i < n; i++) extism_store_u8(block + i, (uint8_t)s[i]);
    extism_output_set(block, n);
}

static int calls;       /* what one call writes: a fresh instance starts again at 0 */
static char *greeting;  /* made by the reactor's init (_initialize runs the constructors) */

__attribute__((constructor)) static void setup(void) {
    greeting = malloc(16);
    strcpy(greeting, "hello");
}

__attribute__((export_name("now"))) int32_t now(void) {
    struct timespec wall, mono;
    clock_gettime(CLOCK_REALTIME, &wall);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    char text[96];
    calls++;
    snprintf(text, sizeof text, "%s %d %lld %d", greeting, calls, (long long)wall.tv_sec,
             mono.tv_sec > 0 || mono.tv_nsec > 0);
    output(text);
    return 0;
}

__attribute__((export_name("crash"))) int32_t crash(void) {
    __builtin_trap();
}
'''
MANIFEST = {"name": "c-plugin", "author": "t", "version": "1", "description": "built by clang",
            "permissions": {}}
START = 1_800_000_000


@pytest.fixture(scope="module")
def c_module(tmp_path_factory) -> bytes:
    folder = tmp_path_factory.mktemp("clang")
    (folder / "plugin.c").write_text(SOURCE)
    cache = os.path.join(os.environ["ND_NOTEBOOK_CACHE_DIR"], "zig")  # conftest: in the repo
    env = dict(os.environ, ZIG_GLOBAL_CACHE_DIR=cache, ZIG_LOCAL_CACHE_DIR=cache)
    subprocess.run([sys.executable, "-m", "ziglang", "cc", "--target=wasm32-wasi", "-O2",
                    "-mexec-model=reactor", "plugin.c", "-o", "plugin.wasm"],
                   cwd=folder, env=env, check=True, capture_output=True, timeout=500)
    return (folder / "plugin.wasm").read_bytes()


@pytest.mark.parametrize("snapshots", ["off", "at load"])
@pytest.mark.parametrize("clock", ["real", "virtual"])
def test_a_clang_built_plugin_runs_fresh_per_call_and_reads_the_hosts_clock(
        tmp_path, c_module, clock, snapshots, monkeypatch):
    if snapshots == "at load":
        monkeypatch.setenv("ND_NOTEBOOK_SNAPSHOT_AFTER", "0")
    host = Host(tmp_path, clock=VirtualClock(start=START) if clock == "virtual" else "real",
                snapshots=snapshots != "off")
    with host as h:
        plugin = h.load(c_module, manifest=MANIFEST)
        before = int(time.time())
        outputs = [plugin.call("now", raw=True).decode().split() for _ in range(3)]
        after = int(time.time())
        with pytest.raises(PluginCallFailedError, match="unreachable"):
            plugin.call("crash")
        assert plugin.call("now", raw=True).startswith(b"hello 1 ")  # the trap cost nothing
        state = plugin.instances.snapshot
    assert [(greeting, calls, monotonic) for greeting, calls, _, monotonic in outputs] == [
        ("hello", "1", "1")] * 3
    seconds = {int(wall) for *_, wall, _ in outputs}
    if clock == "virtual":
        assert seconds == {START}
    else:
        assert before <= min(seconds) <= max(seconds) <= after
    assert state == ("in use" if snapshots == "at load" else "off")


def test_the_clock_rewrite_keeps_an_llvm_modules_code_where_it_was(c_module):
    rewritten = wasmclock.with_host_clock(c_module)
    wasmtime.Module(wasmtime.Engine(), rewritten)
    before, after = function_bodies(c_module), function_bodies(rewritten)
    # LLVM writes relocated call targets five bytes long: the new target fits in them, so
    # every body keeps its offset and its size; only the clock calls' bytes differ.
    assert [(offset, len(body)) for offset, body in after[:-1]] == [
        (offset, len(body)) for offset, body in before]
    changed = [n for n, (b, a) in enumerate(zip(before, after[:-1], strict=True)) if b != a]
    assert changed  # wasi-libc's clock_gettime calls the clock
