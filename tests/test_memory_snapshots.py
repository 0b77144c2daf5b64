"""Memory snapshots of initialised instances (runtime/snapshot.py, issue 10 item 2), through the
real Extism runtime and real Go builds: the snapshot path answers as a fresh instance does, its
state never leaks, its randomness is re-seeded per instance, and the modules it cannot reproduce
are refused with the reason in ``plugin.instances.snapshot``."""

from __future__ import annotations

import json
import os
import struct
import threading
import time
from unittest import mock

import pytest
from extism_sys import ffi as _ffi
from extism_sys import lib as _lib
from snapplugins import SAMPLE, SAMPLE_MANIFEST, STATE, reach_snapshot

import nd_notebook
from nd_notebook import Host
from nd_notebook.errors import PluginCallFailedError
from nd_notebook.runtime import native, pagetouch, prepared, snapshot, wasmedit
from nd_notebook.runtime.wasmedit import RESEED_EXPORT
from nd_notebook.runtime.wasminfo import module_info

pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def sample_wasm():
    return nd_notebook.build(SAMPLE.read_text())


@pytest.fixture(scope="module")
def state_wasm():
    return nd_notebook.build(STATE)


# -- 1. the sample plugin: same answers with and without the snapshot ----------------------------

def _sample_session(host: Host, wasm: bytes) -> tuple[list, dict]:
    plugin = host.load(wasm, manifest=SAMPLE_MANIFEST, name="hello", config={"greeting": "Hi"})
    if host.snapshots:
        assert reach_snapshot(plugin, "nd_get_artist_url", {"id": "1", "name": "Warm"}) == "in use"
    results = []
    for name in ("Nina", "Nina", "Björk & <Sons>", "Nina"):
        results.append(plugin.metadata.artist_biography(name=name))
        results.append(plugin.metadata.artist_url(name=name))
        results.append(plugin.metadata.artist_images(name=name))
        results.append(plugin.metadata.similar_artists(name=name))
    results.append(plugin.lifecycle.on_init())
    logs = [e.data["message"] for e in host.events.select("plugin_log")]
    results.append(logs)
    store = {k: plugin.kvstore.get(k) for k in ("lookups:Nina", "lookups:Björk & <Sons>")}
    return results, store


def test_the_sample_plugin_answers_the_same_from_its_snapshot(tmp_path, sample_wasm):
    with Host(tmp_path / "on") as on:
        with_snapshot = _sample_session(on, sample_wasm)
    with Host(tmp_path / "off", snapshots=False) as off:
        without = _sample_session(off, sample_wasm)
    assert with_snapshot == without
    assert with_snapshot[0][0] == {"biography": "Hi, Nina! (written on lookup #1)"}
    assert with_snapshot[1] == {"lookups:Nina": (b"3", True),
                                "lookups:Björk & <Sons>": (b"1", True)}


def test_calls_after_the_snapshot_are_served_by_its_module(tmp_path, sample_wasm):
    with Host(tmp_path) as h:
        plugin = h.load(sample_wasm, manifest=SAMPLE_MANIFEST, name="hello")
        assert plugin.instances.snapshot == f"after {prepared.SNAPSHOT_AFTER} calls"
        assert reach_snapshot(plugin, "nd_get_artist_url", {"name": "a"}) == "in use"
        assert plugin.instances.init_export == wasmedit.RESEED_EXPORT
        messages = [e.data["message"] for e in h.events.select("service_log")]
        assert not any("memory snapshot" in m for m in messages)  # only a refusal is logged


PANICS = """
package main

import "github.com/navidrome/navidrome/plugins/pdk/go/pdk"

type box struct{ x int }

var nothing *box

//go:wasmexport nd_ok
func ok() int32 {
	pdk.OutputString("ok")
	return 0
}

//go:wasmexport nd_boom
func boom() int32 {
	panic("boom " + pdk.InputString())
}

//go:wasmexport nd_nil
func nilDeref() int32 {
	pdk.OutputString(string(rune(nothing.x)))
	return 0
}

func main() {}
"""


def _failures(host: Host, wasm: bytes) -> list[tuple]:
    plugin = host.load(wasm, name="panicky")
    if host.snapshots:
        assert reach_snapshot(plugin, "nd_ok") == "in use"
    out = []
    for export in ("nd_boom", "nd_nil"):
        with pytest.raises(PluginCallFailedError) as e:
            plugin.call(export, "x")
        err = e.value
        out.append((str(err), err.reason, err.location, err.stderr, err.backtrace))
    return out


@pytest.fixture(scope="module")
def panic_failures(tmp_path_factory):
    """The failures of the same calls with the snapshot in use, and with snapshots off."""
    wasm = nd_notebook.build(PANICS)
    with Host(tmp_path_factory.mktemp("on")) as on:
        with_snapshot = _failures(on, wasm)
    with Host(tmp_path_factory.mktemp("off"), snapshots=False) as off:
        return with_snapshot, _failures(off, wasm)


def _frames(backtrace: str) -> list[str]:
    return [line.split(" - ", 1)[-1] for line in backtrace.splitlines()]


def test_a_panic_reads_the_same_from_the_snapshot_module(panic_failures):
    with_snapshot, plain = panic_failures
    assert [f[:4] for f in with_snapshot] == [f[:4] for f in plain]  # text, reason, where, stderr
    assert [_frames(f[4]) for f in with_snapshot] == [_frames(f[4]) for f in plain]
    assert with_snapshot[0][:2] == ("plugin call failed: panic: boom x", "panic: boom x")
    assert with_snapshot[1][2].startswith("ndplugin/plugin.go:")


def test_a_trap_backtrace_has_the_same_offsets_from_the_snapshot_module(panic_failures):
    with_snapshot, plain = panic_failures
    assert [f[4] for f in with_snapshot] == [f[4] for f in plain]


# -- 2. state never leaks ------------------------------------------------------------------------

def test_package_state_written_in_a_call_never_reaches_the_next_on_the_snapshot(tmp_path,
                                                                                state_wasm):
    with Host(tmp_path) as h:
        plugin = h.load(state_wasm, name="state")
        assert reach_snapshot(plugin, "nd_counter") == "in use"
        assert [plugin.call("nd_counter", f"k{i}", raw=True) for i in range(8)] == [b"1 1"] * 8


def test_calls_before_the_snapshot_is_taken_use_the_plain_module(tmp_path, state_wasm):
    with Host(tmp_path) as h:
        plugin = h.load(state_wasm, name="state")
        for _ in range(prepared.SNAPSHOT_AFTER - 1):
            assert plugin.call("nd_counter", raw=True) == b"1 1"
        assert plugin.instances.snapshot == f"after {prepared.SNAPSHOT_AFTER} calls"
        assert plugin.instances.init_export == "_nd_prepare"
        assert not plugin.instances.snapshot_ready.is_set()


def test_concurrent_calls_while_the_snapshot_comes_in_each_get_a_fresh_instance(tmp_path,
                                                                                state_wasm):
    with Host(tmp_path, max_concurrent_calls=4) as h:
        plugin = h.load(state_wasm, name="state")
        results: list[bytes] = []

        def calls() -> None:
            for i in range(25):
                results.append(plugin.call("nd_counter", f"k{i}", raw=True))

        threads = [threading.Thread(target=calls) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert plugin.instances.snapshot_ready.wait(60)
        assert plugin.instances.snapshot == "in use"
        results += [plugin.call("nd_counter", raw=True) for _ in range(3)]
        assert results == [b"1 1"] * 103


def test_one_background_thread_prepares_once_the_snapshot_is_in_use(tmp_path, state_wasm):
    with Host(tmp_path, max_concurrent_calls=4) as h:
        plugin = h.load(state_wasm, name="state")
        plugin.call("nd_counter", raw=True)
        pool = plugin.instances
        with pool._lock:  # a second thread, as calls arriving faster than one prepares start
            pool._workers.append(threading.Thread(target=pool._work, name="nd-prepare",
                                                  daemon=True))
            pool._workers[-1].start()
        assert len(pool._workers) == prepared.WORKERS == 2
        assert reach_snapshot(plugin, "nd_counter") == "in use"
        deadline = time.monotonic() + 30
        while len(pool._workers) > prepared.SNAPSHOT_WORKERS and time.monotonic() < deadline:
            assert plugin.call("nd_counter", raw=True) == b"1 1"
        assert len(pool._workers) == prepared.SNAPSHOT_WORKERS == 1
        assert [plugin.call("nd_counter", raw=True) for _ in range(20)] == [b"1 1"] * 20
        assert len(pool._workers) == 1


# -- 2b. the touch list: pages calls write, written first off the call path ----------------------

def _instance_pages(lane, given: bytes, touch) -> tuple[set[int], set[int]]:
    """(mapped pages, private copies) of a new instance of ``lane`` right after its reseed ran
    with ``given`` as input (read from /proc/self/pagemap, as pagetouch does)."""
    before = pagetouch.image_mappings()
    ptr = prepared._create(lane.compiled)
    try:
        assert _lib.extism_plugin_call_with_host_context(
            ptr, wasmedit.RESEED_EXPORT.encode(), given, len(given), _ffi.NULL) == 0
        return _pages(touch.memory_base(before, pagetouch.image_mappings()), touch)
    finally:
        _lib.extism_plugin_free(ptr)


def _pages(base: int | None, touch) -> tuple[set[int], set[int]]:
    assert base is not None
    pages = len(touch._memory) // pagetouch._PAGE
    with open("/proc/self/pagemap", "rb") as f:
        f.seek(base // pagetouch._PAGE * 8)
        entries = struct.unpack(f"{pages}Q", f.read(pages * 8))
    return ({i for i, e in enumerate(entries) if e >> 63},
            {i for i, e in enumerate(entries) if e >> 63 and not e >> 61 & 1})


@pytest.mark.skipif(not pagetouch.supported(), reason="needs Linux's /proc page states")
def test_prepared_instances_get_the_pages_calls_write_written_first(tmp_path, state_wasm):
    with Host(tmp_path) as h:
        plugin = h.load(state_wasm, name="state")
        assert reach_snapshot(plugin, "nd_counter") == "in use"
        pool = plugin.instances
        # Learnt from the instances that served these calls, read before they are freed.
        deadline = time.monotonic() + 30
        while pool.touch.instances_read < 3 and time.monotonic() < deadline:
            assert plugin.call("nd_counter", raw=True) == b"1 1"
            time.sleep(0.01)
        touch = pool.touch
        assert touch.instances_read >= 3 and 0 < touch.pages <= pagetouch.MAX_PAGES
        taken = next(t for t in snapshot._taken.values()
                     if isinstance(t, snapshot.Snapshot) and t.memory is touch._memory)
        entries = [struct.unpack_from("<II", touch.input, k) for k in range(0, len(touch.input), 8)]
        writes = [(address, value) for address, value in entries if not address & 1]
        reads = [address - 1 for address, _ in entries if address & 1]
        assert entries == writes + [(address + 1, 0) for address in reads]  # the writes first
        assert len(writes) == touch.pages and reads
        for address, value in writes:  # each page with the value the snapshot holds there
            assert address % pagetouch._PAGE == 0 and address < len(taken.memory)
            assert value == int.from_bytes(taken.memory[address:address + 4], "little")
        assert len({address // 65536 for address in reads}) == len(reads)  # one per window
        for address in reads:
            assert address % pagetouch._PAGE == 0 and address < len(taken.memory)
        # Reseeded with the list, an instance has the written pages as its own copies before
        # any call (each taken by one write fault) and the read windows mapped; without the
        # list, neither (the reseed itself writes only the generator states).
        written = {address // pagetouch._PAGE for address, _ in writes}
        read = {address // pagetouch._PAGE for address in reads}
        lane = pool._lanes[0]
        mapped, private = _instance_pages(lane, touch.input, touch)
        assert written <= private and read <= mapped
        mapped, private = _instance_pages(lane, b"", touch)
        assert written - private and not read & mapped
        # An instance a call makes itself (none ready) gets the list too, and initialises:
        # reseeded as it is made by the C helper (runtime/native.py), else within the call.
        assert native.helper() is not None, native.status  # a compiler is there in CI
        before = pagetouch.image_mappings()
        inline = pool._new_instance(lane)
        try:
            assert inline.init_input == touch.input and inline.init_export is None
            mapped, private = _pages(touch.memory_base(before, pagetouch.image_mappings()), touch)
            assert written <= private and read <= mapped
        finally:
            _lib.extism_plugin_free(inline.ptr)
        with mock.patch.object(native, "_helper", None), \
                mock.patch.object(native, "status", "off"), \
                mock.patch.dict(os.environ, {"ND_NOTEBOOK_NATIVE": "0"}):
            inline = pool._new_instance(lane)
        try:
            assert inline.init_input == touch.input and inline.init_export == RESEED_EXPORT
            assert inline.initialize() == 0
        finally:
            _lib.extism_plugin_free(inline.ptr)
        # And the calls answer as fresh instances: the counter written in each call is 1.
        assert [plugin.call("nd_counter", raw=True) for _ in range(20)] == [b"1 1"] * 20


def test_a_touch_list_that_fails_is_dropped_not_the_prepared_instances(tmp_path, state_wasm):
    with Host(tmp_path) as h:
        plugin = h.load(state_wasm, name="state")
        assert reach_snapshot(plugin, "nd_counter") == "in use"
        pool = plugin.instances
        bad = pagetouch.TouchList(bytes(65536))
        bad.input = struct.pack("<II", 0xFFFFFFF0, 1)  # beyond its memory: the reseed traps
        pool.use_touch_list(bad)
        hits = pool.prepared_hits
        # The calls go on answering as fresh instances while the list fails and is dropped.
        for _ in range(30):
            assert plugin.call("nd_counter", raw=True) == b"1 1"
            time.sleep(0.01)
        assert pool.touch is None
        assert pool.status == "prepared ahead" and pool.snapshot == "in use"
        assert pool.prepared_hits > hits + 10


# -- 3. randomness is re-seeded per instance ---------------------------------------------------

@pytest.fixture(scope="module")
def state_host(tmp_path_factory, state_wasm):
    with Host(tmp_path_factory.mktemp("state")) as h:
        plugin = h.load(state_wasm, name="state")
        assert reach_snapshot(plugin, "nd_counter") == "in use"
        yield plugin


def _distinct(plugin, export: str, n: int = 30) -> set[bytes]:
    return {plugin.call(export, raw=True) for _ in range(n)}


def test_a_map_built_in_a_call_iterates_in_differing_orders_on_the_snapshot(state_host):
    assert len(_distinct(state_host, "nd_order")) >= 2


def test_a_map_built_in_init_iterates_in_differing_orders_on_the_snapshot(state_host):
    assert len(_distinct(state_host, "nd_init_map_order")) >= 2


def test_maphash_seeds_differ_from_call_to_call_on_the_snapshot(state_host):
    assert len(_distinct(state_host, "nd_maphash", 10)) == 10


# -- 5. preopened directories ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def fs_wasm():
    from test_services_storage import GO_FS

    return nd_notebook.build(GO_FS)


def _fs(plugin, op: str, path: str = "", data: str = ""):
    return plugin.call("fs", json.dumps({"op": op, "path": path, "data": data}))


def test_storage_written_in_one_call_is_read_in_a_later_one_on_the_snapshot(tmp_path, fs_wasm):
    with Host(tmp_path, library="empty") as h:
        plugin = h.load(fs_wasm, name="p", permissions={"storage": {}, "library": {},
                                                        "users": {}})
        assert reach_snapshot(plugin, "fs", json.dumps({"op": "storagepath"})) == "in use"
        assert _fs(plugin, "write", "/storage/note", "kept") == {"result": "ok"}
        assert _fs(plugin, "read", "/storage/note") == {"result": "kept"}
        assert (tmp_path / "plugins" / "p" / "storage" / "note").read_text() == "kept"


def test_a_library_mount_is_readable_on_the_snapshot(tmp_path, fs_wasm):
    small = {"artists": 2, "albums": 2, "tracks": 4, "users": 1}
    with Host(tmp_path, library=small) as h:
        h.library.materialize(tmp_path / "music")
        plugin = h.load(fs_wasm, name="p", permissions={"library": {"filesystem": True},
                                                        "users": {}, "storage": {}})
        assert reach_snapshot(plugin, "fs", json.dumps({"op": "storagepath"})) == "in use"
        track = h.library.tracks(library_id=1)[0]
        data = _fs(plugin, "read", f"/libraries/1/{track['path']}")["result"]
        assert data.startswith({"mp3": "ID3", "flac": "fLaC", "opus": "OggS"}[track["suffix"]])


# -- 8. off switches ------------------------------------------------------------------------------

def _assert_never_snapshotted(h: Host, wasm: bytes) -> None:
    for thread in threading.enumerate():  # an earlier test's snapshot, just finishing
        if thread.name == "nd-snapshot":
            thread.join(60)
    plugin = h.load(wasm, name="state")
    for i in range(prepared.SNAPSHOT_AFTER + 2):
        assert plugin.call("nd_counter", f"k{i}", raw=True) == b"1 1"
    assert plugin.instances.snapshot == "off"
    assert plugin.instances.snapshot_ready.is_set()
    assert not any(t.name == "nd-snapshot" for t in threading.enumerate())
    messages = [e.data["message"] for e in h.events.select("service_log")]
    assert not any("memory snapshot" in m for m in messages)


def test_host_snapshots_false_takes_no_snapshot(tmp_path, state_wasm):
    with Host(tmp_path, snapshots=False) as h:
        _assert_never_snapshotted(h, state_wasm)


def test_the_environment_variable_turns_snapshots_off(tmp_path, monkeypatch, state_wasm):
    monkeypatch.setenv("ND_NOTEBOOK_SNAPSHOTS", "0")
    with Host(tmp_path) as h:
        _assert_never_snapshotted(h, state_wasm)


# -- 10. determinism ------------------------------------------------------------------------------

def test_a_snapshot_taken_twice_is_the_same_module(state_wasm):
    module, init_export, _ = prepared.prepared_module(
        state_wasm, module_info(state_wasm).exported_functions)
    environment = snapshot.probe_environment(None)
    # _take, not take: take remembers its result per module for the process.
    first = snapshot._take(module, init_export, environment, ())
    second = snapshot._take(module, init_export, environment, ())
    assert first.module == second.module
    assert first.reseed == second.reseed and first.reseed


def test_a_snapshot_its_host_closed_before_it_was_ready_is_not_compiled(tmp_path, state_wasm):
    # Its thread went on to compile the snapshot module (seconds on a cold cache, and a
    # process exit waits for it): a test suite's Hosts, each closed after a few calls, left
    # their snapshots compiling long after the tests had ended.
    host = Host(tmp_path)
    plugin = host.load(state_wasm, name="state")
    pool = plugin.instances
    gate, compiled = threading.Event(), []
    take = pool._snapshotter

    def slow_snapshot():
        gate.wait(60)  # still initialising when the Host closes
        compile, memory = take()
        return (lambda: compiled.append(True) or compile()), memory

    pool._snapshotter = slow_snapshot
    for _ in range(prepared.SNAPSHOT_AFTER):
        plugin.call("nd_counter", raw=True)
    host.close()
    gate.set()
    pool._snapshot_thread.join(60)
    assert compiled == []
    assert pool.snapshot == "not used: the plugin was closed or stopped preparing first"


def test_hosts_asking_for_the_same_snapshot_at_once_take_it_once(state_wasm, monkeypatch):
    # Three Hosts of one plugin (a test suite's) each took the same snapshot on their own
    # thread at the same time: three compiles and six inits where one of each does.
    module, init_export, _ = prepared.prepared_module(
        state_wasm, module_info(state_wasm).exported_functions)
    environment = snapshot.probe_environment(None)
    real_take, taken, gate = snapshot._take, [], threading.Event()

    def counted(*args):
        taken.append(args[0])
        gate.wait(30)  # still taking while the others ask
        return real_take(*args)

    monkeypatch.setattr(snapshot, "_take", counted)
    monkeypatch.setattr(snapshot, "_taken", {})
    results = []
    threads = [threading.Thread(target=lambda: results.append(
        snapshot.take(module, init_export, environment, deadline=29.0))) for _ in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    gate.set()
    for thread in threads:
        thread.join(60)
    assert len(taken) == 1 and len(results) == 3
    assert results[0] is results[1] is results[2]
