"""A plugin's own clock on a virtual-clock Host (runtime/wasmclock.py): WASI's clock_time_get
answered by the Host's clock through a rewritten module; the real-clock Host runs the module as
built; a module the rewrite cannot take keeps the machine's clock and says so."""

from __future__ import annotations

import json
import re
import struct
import time
from datetime import datetime, timezone

import pytest
import wasmtime
from snapplugins import refused_source
from watplugins import function_bodies, wat

from nd_notebook import Host, build
from nd_notebook.clock import VirtualClock
from nd_notebook.runtime import wasmclock, wasmimports

START = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc).timestamp()

GO_CLOCK = r'''
package main

import (
	"encoding/json"
	"time"

	"github.com/navidrome/navidrome/plugins/pdk/go/host"
	"github.com/navidrome/navidrome/plugins/pdk/go/lifecycle"
	"github.com/navidrome/navidrome/plugins/pdk/go/scheduler"
	"github.com/extism/go-pdk"
)

type clockPlugin struct{}

func init() {
	lifecycle.Register(clockPlugin{})
	scheduler.Register(clockPlugin{})
}

func main() {}

func (clockPlugin) OnInit() error {
	_, err := host.SchedulerScheduleRecurring("*/15 * * * *", "tick", "ticks")
	return err
}

// Each firing stores the plugin's own idea of the time.
func (clockPlugin) OnCallback(req scheduler.SchedulerCallbackRequest) error {
	return host.KVStoreSet("fired/"+time.Now().UTC().Format(time.RFC3339), []byte(req.Payload))
}

//go:wasmexport now
func now() int32 {
	start := time.Now()
	time.Sleep(3 * time.Millisecond) // Go's timers run on the monotonic clock
	out, _ := json.Marshal(map[string]any{
		"now":   start.UTC().Format(time.RFC3339Nano),
		"unix":  start.Unix(),
		"slept": time.Since(start).Milliseconds(),
	})
	pdk.Output(out)
	return 0
}

// Its second wall-clock reading, 5 ms of real time after its first.
//go:wasmexport later
func later() int32 {
	first := time.Now()
	time.Sleep(5 * time.Millisecond)
	pdk.OutputString(first.Add(time.Since(first)).UTC().Format(time.RFC3339Nano) + " " +
		time.Now().UTC().Format(time.RFC3339Nano))
	return 0
}

//go:wasmexport fired
func fired() int32 {
	keys, err := host.KVStoreList("fired/")
	if err != nil {
		pdk.SetError(err)
		return 1
	}
	out, _ := json.Marshal(keys)
	pdk.Output(out)
	return 0
}
'''
MANIFEST = {"name": "clock", "author": "t", "version": "1", "description": "its own clock",
            "permissions": {"scheduler": {}, "kvstore": {}}}

CLOCK_WAT = r'''
(module
  (import "wasi_snapshot_preview1" "clock_time_get" (func $ct (param i32 i64 i32) (result i32)))
  (import "extism:host/env" "input_load_u8" (func $in (param i64) (result i32)))
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u64" (func $s64 (param i64 i64)))
  (import "extism:host/env" "output_set" (func $out (param i64 i64)))
  (memory (export "memory") 1)
  (table 2 funcref)
  (type $unary (func (param i32) (result i32)))
  (func $twice (type $unary) (i32.shl (local.get 0) (i32.const 1)))
  (elem (i32.const 0) $twice)
  %(extra)s
  ;; clock(id): [errno, time] of clock_time_get(id) as two u64; the instructions before the
  ;; call are there for the rewrite's reader to walk over.
  (func (export "clock") (result i32) (local $o i64) (local $e i32) (local $v v128)
    (i64.store (i32.const 16) (i64.const 7))
    (local.set $v (i8x16.shuffle 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15
      (v128.const i64x2 -1 0x7fffffffffff) (v128.const f32x4 1.5 2 3 4)))
    (drop (i64x2.extract_lane 1 (local.get $v)))
    (memory.fill (i32.const 1024) (i32.const 0) (i32.const 8))
    (memory.copy (i32.const 1040) (i32.const 1024) (i32.const 8))
    (drop (select (result f64) (f64.const 1.25) (f64.const -2) (i32.const 1)))
    (drop (f32.const 0.5))
    (drop (call_indirect (type $unary) (i32.const 3) (i32.const 0)))
    (drop (i32.trunc_sat_f64_s (f64.const 3.9)))
    (block $b (block $a (br_table $a $b $a (i32.const 1))))
    (block $null (drop (br_on_null $null (ref.null func))))
    ;; ref.as_non_null has no immediate: the constant after it is not code ("10 00": call 0)
    ref.func $twice
    ref.as_non_null
    v128.const i8x16 0x10 0 1 1 1 1 1 1 1 1 1 1 1 1 1 1
    local.set $v
    drop
    (local.set $e (call $ct (call $in (i64.const 0)) (i64.const 1) (i32.const 16)))
    (local.set $o (call $alloc (i64.const 16)))
    (call $s64 (local.get $o) (i64.extend_i32_u (local.get $e)))
    (call $s64 (i64.add (local.get $o) (i64.const 8)) (i64.load (i32.const 16)))
    (call $out (local.get $o) (i64.const 16))
    (i32.const 0)))
'''
WAT_MANIFEST = {"name": "wat-clock", "author": "t", "version": "1", "description": "d",
                "permissions": {}}


def clock_wat(extra: str = "") -> bytes:
    return wat(CLOCK_WAT % {"extra": extra})


def read_clock(plugin, clock_id: int) -> tuple[int, int]:
    return struct.unpack("<QQ", plugin.call("clock", bytes([clock_id]), raw=True))


@pytest.fixture(scope="module")
def go_clock():
    return build(GO_CLOCK)


@pytest.mark.parametrize("snapshots", ["off", "at load"])
def test_time_now_in_a_go_plugin_is_the_virtual_clocks(tmp_path, go_clock, snapshots,
                                                       monkeypatch):
    if snapshots == "at load":
        monkeypatch.setenv("ND_NOTEBOOK_SNAPSHOT_AFTER", "0")
    with Host(tmp_path, clock=VirtualClock(start=START), snapshots=snapshots != "off") as h:
        plugin = h.load(go_clock, manifest=MANIFEST)
        first = json.loads(plugin.call("now", raw=True))
        h.run_for(2 * 3600 + 0.25)
        later = json.loads(plugin.call("now", raw=True))
        state = plugin.instances.snapshot
    # A call's first reading is the virtual time itself (later ones add the real time since).
    assert (first["now"], first["unix"]) == ("2026-03-01T12:00:00Z", int(START))
    assert (later["now"], later["unix"]) == ("2026-03-01T14:00:00.25Z", int(START) + 7200)
    assert first["slept"] >= 3 and later["slept"] >= 3  # time.Sleep still returns, and waits
    assert state == ("in use" if snapshots == "at load" else "off")


def test_a_call_never_reads_a_time_before_an_earlier_calls_reading(tmp_path, go_clock):
    # The virtual clock stands still between direct calls; a call's first reading used to be
    # the virtual time again, before the last one's later readings (time.Since < 0).
    with Host(tmp_path, clock=VirtualClock(start=START)) as h:
        plugin = h.load(go_clock, manifest=MANIFEST)
        _, second = plugin.call("later", raw=True).decode().split()
        assert second >= "2026-03-01T12:00:00.005Z"
        following = json.loads(plugin.call("now", raw=True))["now"]
        assert following == second  # it goes on from there, not from 12:00:00
        h.run_for(60)
        assert json.loads(plugin.call("now", raw=True))["now"] == "2026-03-01T12:01:00Z"


GO_INIT = r'''
package main

import (
	"time"

	"github.com/extism/go-pdk"
)

var loadedAt = time.Now()   // read by the init: on a virtual Host, not run ahead
var fired = false
var timer = time.AfterFunc(5*time.Second, func() { fired = true })

func main() {}

//go:wasmexport times
func times() int32 {
	time.Sleep(20 * time.Millisecond)
	pdk.OutputString(loadedAt.UTC().Format(time.RFC3339) + " " +
		time.Now().UTC().Format(time.RFC3339) + " " + map[bool]string{true: "fired", false: "waiting"}[fired])
	return 0
}
'''


def test_an_init_reading_the_clock_runs_at_the_call_not_ahead(tmp_path):
    module = build(GO_INIT)
    with Host(tmp_path, clock=VirtualClock(start=START)) as h:
        plugin = h.load(module, manifest=WAT_MANIFEST)
        seen = []
        for _ in range(6):
            seen.append(plugin.call("times", raw=True).decode())
            h.run_for(3600)
        status = plugin.instances.status
    assert seen == [f"2026-03-01T{12 + n}:00:00Z 2026-03-01T{12 + n}:00:00Z waiting"
                    for n in range(6)]
    assert status == f"off: {wasmclock.INIT_READS_CLOCK} (init runs inline, in each call)"


def test_a_timer_started_by_the_init_waits_on_the_snapshot_too(tmp_path, monkeypatch):
    # The monotonic clock counts from the instance's creation, as libextism's does, so the
    # snapshot's init (its clock from zero) and the call agree: 5 s have not passed.
    monkeypatch.setenv("ND_NOTEBOOK_SNAPSHOT_AFTER", "0")
    source = GO_INIT.replace("var loadedAt = time.Now()", "var loadedAt time.Time")
    with Host(tmp_path, clock=VirtualClock(start=START)) as h:
        plugin = h.load(build(source), manifest=WAT_MANIFEST)
        outputs = [plugin.call("times", raw=True).decode() for _ in range(3)]
        state = plugin.instances.snapshot
    assert state == "in use"
    assert [o.split()[2] for o in outputs] == ["waiting"] * 3


def test_a_scheduled_callback_sees_the_time_it_fires_at(tmp_path, go_clock):
    with Host(tmp_path, clock=VirtualClock(start=START)) as h:
        plugin = h.load(go_clock, manifest=MANIFEST)
        h.run_for(3600)
        fired = json.loads(plugin.call("fired", raw=True))
    assert fired == [f"fired/2026-03-01T{t}:00Z" for t in ("12:15", "12:30", "12:45", "13:00")]


def test_a_real_clock_host_runs_the_module_as_built(tmp_path, go_clock):
    with Host(tmp_path) as h:
        plugin = h.load(go_clock, manifest=MANIFEST)
        before = time.time()
        seen = json.loads(plugin.call("now", raw=True))["unix"]
    assert before - 1 <= seen <= time.time() + 1
    assert wasmclock.with_host_clock(b"\0asm\x01\0\0\0") == b"\0asm\x01\0\0\0"  # no clock: as is


@pytest.mark.parametrize("clock", ["real", "virtual"])
def test_clock_ids_answer_as_libextism_answers_them(tmp_path, clock):
    host = Host(tmp_path, clock=VirtualClock(start=START) if clock == "virtual" else "real")
    with host as h:
        plugin = h.load(clock_wat(), manifest=WAT_MANIFEST)
        realtime = read_clock(plugin, 0)
        monotonic = [read_clock(plugin, 1) for _ in range(2)]
        cpu = [read_clock(plugin, 2), read_clock(plugin, 3)]
        with pytest.raises(Exception) as unknown:
            read_clock(plugin, 9)
    if clock == "virtual":
        assert realtime == (0, round(START * 1e9))
    else:
        assert realtime[0] == 0 and abs(realtime[1] / 1e9 - time.time()) < 60
    assert [errno for errno, _ in monotonic] == [0, 0] and all(t > 0 for _, t in monotonic)
    assert cpu == [(8, 7), (8, 7)]  # EBADF, the memory left as it was
    assert ("Invalid enum value Clockid" if clock == "real" else "unreachable") in str(
        unknown.value)


def test_a_module_importing_the_clock_twice_gets_the_virtual_clock_from_both(tmp_path):
    second = ('(import "wasi_snapshot_preview1" "clock_time_get" '
              '(func $ct2 (param i32 i64 i32) (result i32)))')
    source = CLOCK_WAT.replace("(memory", second + "\n  (memory", 1) % {"extra": (
        '(func (export "clock2") (result i32) (drop (call $ct2 (i32.const 0) (i64.const 1) '
        '(i32.const 32))) (call $s64 (call $alloc (i64.const 8)) (i64.load (i32.const 32))) '
        '(i32.const 0))')}
    module = wat(source)
    rewritten = wasmclock.with_host_clock(module)
    assert rewritten.count(b"\x0bnd_notebook\x0eclock_time_get") == 2
    with Host(tmp_path, clock=VirtualClock(start=START)) as h:
        plugin = h.load(module, manifest=WAT_MANIFEST)
        assert read_clock(plugin, 0) == (0, round(START * 1e9))
        plugin.call("clock2", raw=True)  # its call was redirected too (else: a type mismatch)


def test_the_rewrite_reads_every_instruction_with_its_immediates(tmp_path):
    module = clock_wat()
    constant = bytes([0x10, 0]) + b"\x01" * 14
    assert wasmclock.with_host_clock(module).count(constant) == module.count(constant) == 1
    with Host(tmp_path, clock=VirtualClock(start=START)) as h:
        assert read_clock(h.load(module, manifest=WAT_MANIFEST), 0) == (0, round(START * 1e9))


REFUSED = {
    "in a table": ("(elem (i32.const 1) $ct)", "its clock_time_get import is in a table"),
    "table init": ("(table $t2 1 funcref (ref.func $ct))",
                   "a table may start with a reference to clock_time_get"),
    "exported": ('(export "ct" (func $ct))', "it exports its clock_time_get import"),
    "two memories": ("(memory $second 1)", "it has 2 memories"),
    # libextism crashes the process when a start function calls a Python host function.
    "start": ("(func $s (drop (call $ct (i32.const 0) (i64.const 1) (i32.const 64)))) (start $s)",
              "it has a start function (libextism cannot run a Python host function from one)"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_module_the_rewrite_cannot_take_keeps_the_machines_clock_and_says_why(tmp_path,
                                                                               case):
    extra, reason = REFUSED[case]
    module = clock_wat(extra)
    with pytest.raises(wasmclock.NotRewritable, match=f"^{re.escape(reason)}$"):
        wasmclock.with_host_clock(module)
    with Host(tmp_path, clock=VirtualClock(start=START)) as h:
        plugin = h.load(module, manifest=WAT_MANIFEST)
        errno, now_ns = read_clock(plugin, 0)
        messages = [e.data["message"] for e in h.events.select("service_log")]
    assert errno == 0 and abs(now_ns / 1e9 - time.time()) < 60
    assert ("the plugin's own clock (time.Now()) is the machine's, not the virtual clock: "
            + reason) in messages


def test_a_padded_reference_in_a_global_is_seen():
    assert wasmimports._may_reference(b"\x01\x70\x00\xd2\x80\x80\x00\x0b", 0)
    assert not wasmimports._may_reference(b"\x01\x70\x00\xd2\x81\x00\x0b", 0)


def test_an_init_reading_the_clock_still_refuses_the_snapshot_on_a_virtual_clock(tmp_path):
    module = build(refused_source("wall_clock"))
    with Host(tmp_path, clock="virtual") as h:
        plugin = h.load(module, name="refused", permissions="auto", config={"greeting": "hi"})
        for i in range(5):
            assert plugin.call("nd_hello", f"n{i}", raw=True) == f"hello n{i}".encode()
        assert plugin.instances.snapshot_ready.wait(60)
        assert plugin.instances.snapshot == (
            "not used: its init reads the wall clock (a value like time.Now() in a package "
            "variable would be the same in every call)")


def test_a_go_module_keeps_its_code_offsets_but_between_the_clock_call_and_the_next_padding(
        go_clock):
    rewritten = wasmclock.with_host_clock(go_clock)
    wasmtime.Module(wasmtime.Engine(), rewritten)  # valid
    before, after = function_bodies(go_clock), function_bodies(rewritten)
    assert len(after) == len(before) + 1
    moved = [n for n, (b, a) in enumerate(zip(before, after, strict=False)) if b[0] != a[0]]
    grown = [n for n, (b, a) in enumerate(zip(before, after, strict=False))
             if len(b[1]) != len(a[1])]
    # The clock's wrapper grows by a byte; a later body gives it back; nothing else changes.
    assert len(grown) == 2 and moved == list(range(grown[0] + 1, grown[1] + 1))
    assert before[grown[-1] + 1:] == after[grown[-1] + 1:-1]
    # The reader walks every body of a real Go module (not only those calling the clock).
    for _, body in before:
        wasmimports._redirect(body, {10**6}, 5)
