"""runtime/native.py: the C helper that prepares an instance (create, allow response headers, its
id, its init) and frees a batch in one libextism round trip each, built with the real compiler
into the test cache; and the plain calls it falls back to without one."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from unittest import mock

import pytest
from extism_sys import ffi as _ffi
from extism_sys import lib as _lib
from watplugins import wat

from nd_notebook import Host
from nd_notebook.runtime import native, prepared
from nd_notebook.runtime.output import instance_id

# _initialize writes 7 to address 8 unless its input is "fail", where it sets an error.
MODULE = wat("""
(module
  (import "extism:host/env" "input_length" (func $input_length (result i64)))
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (import "extism:host/env" "error_set" (func $error_set (param i64)))
  (memory (export "memory") 1)
  (func (export "_initialize")
    (if (i64.eq (call $input_length) (i64.const 4))
      (then (call $error_set (call $alloc (i64.const 1))) (return)))
    (i32.store (i32.const 8) (i32.const 7)))
  (func (export "read") (result i32)
    (local $b i64)
    (local.set $b (call $alloc (i64.const 1)))
    (call $store_u8 (local.get $b) (i32.add (i32.const 48) (i32.load (i32.const 8))))
    (call $output_set (local.get $b) (i64.const 1))
    (i32.const 0)))
""")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    with Host(tmp_path_factory.mktemp("native")) as h:
        plugin = h.load(MODULE, name="native")
        yield plugin.instances._lanes[0].compiled


def _read(ptr) -> bytes:
    assert _lib.extism_plugin_call_with_host_context(ptr, b"read", b"", 0, _ffi.NULL) == 0
    n = _lib.extism_plugin_output_length(ptr)
    return bytes(_ffi.buffer(_lib.extism_plugin_output_data(ptr), n))


def test_the_helper_is_built_into_the_project_cache():
    module = native.helper()
    assert module is not None, native.status
    assert native.status == "in use"
    built = Path(module.__file__)
    assert built.parent.parent == native.paths.cache_dir() / "native"
    assert built.name.startswith("_nd_native.")
    assert not list(built.parent.glob("build-*"))  # no build folder left behind


def test_prepare_creates_initialises_and_names_an_instance(compiled):
    assert native.helper() is not None, native.status
    init = prepared._INIT_EXPORTS["_initialize"]  # the load renamed it (prepared.py)
    ptr, id_, rc = native.prepare(compiled, init, b"")
    try:
        assert rc == 0 and id_ == instance_id(ptr)
        assert _read(ptr) == b"7"  # its init ran
    finally:
        native.free_all([ptr])
    ptr, _, rc = native.prepare(compiled, None, b"")  # no init: created only
    try:
        assert rc == 0 and _read(ptr) == b"0"
    finally:
        native.free_all([ptr])


def test_an_init_that_sets_an_error_gives_minus_one(compiled):
    assert native.helper() is not None, native.status
    ptr, _, rc = native.prepare(compiled, prepared._INIT_EXPORTS["_initialize"], b"fail")
    try:
        assert rc == -1 and _lib.extism_plugin_error(ptr) != _ffi.NULL
    finally:
        native.free_all([ptr])


def test_an_unknown_init_export_fails_with_libextisms_code(compiled):
    assert native.helper() is not None, native.status
    ptr, _, rc = native.prepare(compiled, "no_such_export", b"")
    try:
        assert rc == -1
        assert _ffi.string(_lib.extism_plugin_error(ptr)) == b"Function not found: no_such_export"
    finally:
        native.free_all([ptr])


def test_free_all_frees_a_batch_and_nothing(compiled):
    assert native.helper() is not None, native.status
    ptrs = [native.prepare(compiled, None, b"")[0] for _ in range(5)]
    native.free_all(ptrs)
    native.free_all([])


def _in_subprocess(code: str, env: dict[str, str]) -> str:
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, env={**os.environ, **env}, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


PROBE = """
    from nd_notebook.runtime import native
    print(native.helper() is None, native.status)
"""


def test_turned_off_by_the_environment():
    assert _in_subprocess(PROBE, {"ND_NOTEBOOK_NATIVE": "0"}) == "True off"


def test_built_from_scratch_in_a_fresh_cache_without_a_word_on_stdio(tmp_path):
    # The compiler runs in a child process: nothing reaches this process's stdout/stderr.
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(PROBE)], capture_output=True,
                         text=True, timeout=300, check=False,
                         env={**os.environ, "ND_NOTEBOOK_CACHE_DIR": str(tmp_path)})
    assert (run.returncode, run.stdout, run.stderr) == (0, "False in use\n", "")
    built = list((tmp_path / "native").glob("*/*"))
    assert len(built) == 1 and built[0].name.startswith("_nd_native.")


def test_without_a_compiler_plain_calls_serve_every_call(tmp_path):
    # A fresh cache (nothing built) and no compiler: the helper says why, and a plugin's calls
    # (snapshot, prepared instances, inline ones, frees) all run without it.
    code = PROBE + """
    import pathlib, sys
    sys.path.insert(0, {tests!r})
    from snapplugins import REACTOR, reactor_expected
    from watplugins import wat
    from nd_notebook import Host
    with Host(pathlib.Path({folder!r})) as h:
        plugin = h.load(wat(REACTOR), name="plain")
        outs = {{plugin.call("nd_state", raw=True) for _ in range(60)}}
        print(outs == {{reactor_expected()}}, plugin.instances.snapshot,
              native.status.split(":")[0])
    """.format(tests=os.path.dirname(__file__), folder=str(tmp_path / "host"))
    out = _in_subprocess(code, {"ND_NOTEBOOK_CACHE_DIR": str(tmp_path / "cache"),
                                "CC": str(tmp_path / "no-such-cc"),
                                "ND_NOTEBOOK_SNAPSHOT_AFTER": "0"})
    first, second = out.splitlines()
    assert first.startswith("True not available: ")
    assert second == "True in use not available"


@pytest.mark.parametrize("helper", [True, False], ids=["helper", "plain"])
def test_call_reads_error_and_output_with_the_call(compiled, helper):
    assert native.helper() is not None, native.status
    module = native._helper if helper else None
    init = prepared._INIT_EXPORTS["_initialize"]
    ptr = native.prepare(compiled, init, b"")[0]
    try:
        with mock.patch.object(native, "_helper", module):
            assert native.call(ptr, b"read", b"", 100) == (0, None, 1, b"7")
            assert native.call(ptr, b"read", b"", 0) == (0, None, 1, None)  # over the limit
            assert native.call(ptr, b"nope", b"", 100) == (
                -1, b"Function not found: nope", 0, b"")
    finally:
        native.free_all([ptr])


# -- the pool thread (NativePool): instances prepared without the interpreter lock -------------

INIT = prepared._INIT_EXPORTS["_initialize"]


def _wait(predicate, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


@pytest.fixture
def pool():
    assert native.helper() is not None, native.status
    made = []

    def make(**options):
        options = {"ahead": 2, "max_age": 30.0, "idle": 30.0, **options}
        made.append(native.NativePool(INIT, **options))
        return made[-1]

    yield make
    for p in made:
        p.close()


def test_the_pool_thread_keeps_initialised_named_instances_ready(compiled, pool):
    p = pool(ahead=3)
    slot = p.add(compiled)
    assert slot == 0
    assert _wait(lambda: p.prepared == 3)
    time.sleep(0.05)
    assert p.prepared == 3  # `ahead` of them, no more
    before = time.monotonic()
    ptr, id_, born, failed = p.take(slot)
    assert ptr is not None and failed == 0
    assert id_ == instance_id(ptr) and born <= before
    assert _read(ptr) == b"7"  # its init ran
    p.release(slot, ptr)  # freed behind, on the pool's thread
    assert _wait(lambda: p.prepared == 4)  # the one taken is replaced
    # Every instance is a different one.
    taken = [p.take(slot) for _ in range(3)]
    assert len({t[1] for t in taken} | {id_}) == 4
    for t in taken:
        p.release(slot, t[0])


def test_the_pool_reports_a_failed_init_once_and_stops_preparing_until_then(compiled, pool):
    p = pool()
    slot = p.add(compiled)
    assert _wait(lambda: p.prepared == 2)
    p.set_input(b"fail")  # this module's init sets an error for a 4-byte input
    for _ in range(2):  # the two made before are good
        ptr, _, _, failed = p.take(slot)
        assert ptr is not None and failed == 0 and _read(ptr) == b"7"
        p.release(slot, ptr)
    assert _wait(lambda: p.take(slot, want=False)[3] == -1)  # its rc: error set (-1)
    p.release(slot, None)
    assert p.prepared == 2  # none since
    with p.held():  # (a prepare in flight is done)
        p.take(slot, want=False)
        assert p.take(slot, want=False)[3] == 0  # a failure is reported once
        p.set_input(b"")
    p.release(slot, None)
    assert _wait(lambda: p.prepared == 4)


def test_the_pool_frees_instances_older_than_max_age_and_rests_when_idle(compiled, pool):
    p = pool(max_age=0.05, idle=0.6)
    slot = p.add(compiled)
    assert _wait(lambda: p.prepared >= 2)
    p.take(slot, want=False)  # (a take: not idle)
    p.release(slot, None)
    time.sleep(0.2)  # the first ones were freed and replaced
    ptr, _, born, _ = p.take(slot)
    assert ptr is not None and time.monotonic() - born <= 0.05 + 0.05
    p.release(slot, ptr)
    time.sleep(0.9)  # no take for longer than `idle`: it prepares no more
    resting = p.prepared
    time.sleep(0.3)
    assert p.prepared == resting
    assert p.take(slot)[0] is None  # those it had grew old and were freed
    p.release(slot, None)
    assert _wait(lambda: p.prepared > resting)  # a take wakes it


def test_held_pool_makes_nothing_and_a_closed_pool_hands_out_nothing(compiled, pool):
    p = pool(max_age=0.05)
    slot = p.add(compiled)
    with p.held():
        n = p.prepared
        time.sleep(0.2)  # its instances grow old, none replaces them
        assert p.prepared == n
    assert _wait(lambda: p.prepared > n)
    ptr, *_ = p.take(slot)
    p.close()
    p.close()  # again: nothing
    assert p.take(slot)[0] is None and p.add(compiled) is None and p.prepared == 0
    p.release(slot, ptr)  # freed here once the pool is closed
    with p.held():
        pass


def test_a_plugin_uses_the_pool_thread_once_its_snapshot_is_in_use(tmp_path):
    from snapplugins import REACTOR, reach_snapshot, reactor_expected

    with Host(tmp_path) as h:
        plugin = h.load(wat(REACTOR), name="pooled")
        assert reach_snapshot(plugin, "nd_state") == "in use"
        outs = set()
        for _ in range(40):
            outs.add(plugin.call("nd_state", raw=True))
            time.sleep(0.002)
        assert outs == {reactor_expected()}  # each call a fresh instance
        pool = plugin.instances._native
        assert pool is not None and pool.prepared > 20
        assert plugin.instances.prepared_hits > 20
    assert plugin.instances._native is None and pool.prepared == 0  # closed with the Host


def test_failures_of_the_pool_turn_it_off_only_when_nothing_is_served_between_them(tmp_path):
    # A call's deadline can end a reseed the pool was making: a failure now and then between
    # served calls keeps instances prepared ahead; only failures in a row turn them off.
    from snapplugins import REACTOR, reach_snapshot

    with Host(tmp_path) as h:
        plugin = h.load(wat(REACTOR), name="failing")
        assert reach_snapshot(plugin, "nd_state") == "in use"
        plugin.call("nd_state", raw=True)
        pool = plugin.instances
        pool.use_touch_list(None)
        for _ in range(3 * prepared.NATIVE_FAILURES):
            pool._native_failed(None)
            hits = pool.prepared_hits
            for _ in range(200):  # until a call is served from the pool: the count restarts
                plugin.call("nd_state", raw=True)
                if pool.prepared_hits > hits:
                    break
                time.sleep(0.005)
        assert pool.status == "prepared ahead" and pool._native is not None
        for _ in range(prepared.NATIVE_FAILURES - 1):
            pool._native_failed(None)
        assert pool.status == "prepared ahead"
        pool._native_failed(None)
        assert pool.status == "off: its init fails (init runs inline, in each call)"
        assert pool._native is None


def test_a_forked_child_drops_the_pool_without_waiting_for_its_thread(tmp_path):
    from snapplugins import REACTOR, reach_snapshot

    with Host(tmp_path) as h:
        plugin = h.load(wat(REACTOR), name="forked")
        assert reach_snapshot(plugin, "nd_state") == "in use"
        plugin.call("nd_state", raw=True)
        pool = plugin.instances._native
        assert pool is not None and _wait(lambda: pool.prepared > 0)
        child = os.fork()
        if child == 0:  # the pool thread does not exist here: closing it must not wait for it
            try:
                pool.close()
                code = 0 if pool.take(0)[0] is None else 3
            finally:
                os._exit(locals().get("code", 4))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            done, status = os.waitpid(child, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        else:
            os.kill(child, 9)
            os.waitpid(child, 0)
            pytest.fail("the child hung closing the pool")
        assert os.waitstatus_to_exitcode(status) == 0
        assert plugin.call("nd_state", raw=True)  # the parent's pool is untouched
