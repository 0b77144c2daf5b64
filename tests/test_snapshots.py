"""Instances initialised ahead (runtime/prepared.py): each call still behaves as on a fresh
instance, with ``snapshots`` on and off; lanes give each running call its own deadline."""

from __future__ import annotations

import threading
import time

import pytest
from snapplugins import COUNTER
from watplugins import outcomes_plugin, wat

import nd_notebook
from nd_notebook import Host
from nd_notebook.errors import PluginCallFailedError
from nd_notebook.runtime import prepared

pytestmark = pytest.mark.slow

STATE = """
package main

import (
	"strconv"
	"time"

	"github.com/navidrome/navidrome/plugins/pdk/go/pdk"
)

var calls int
var seen = map[string]int{}
var started = time.Now()

func init() { pdk.Log(pdk.LogInfo, "init ran") }

""" + COUNTER + """
//go:wasmexport nd_order
func order() int32 {
	m := map[int]bool{1: true, 2: true, 3: true, 4: true, 5: true, 6: true, 7: true, 8: true}
	s := ""
	for k := range m {
		s += strconv.Itoa(k)
	}
	pdk.OutputString(s)
	return 0
}

//go:wasmexport nd_since_init
func sinceInit() int32 {
	pdk.OutputString(strconv.FormatInt(time.Since(started).Microseconds(), 10))
	return 0
}

func main() {}
"""

# Package init calling a Navidrome host function: never run ahead (its result could differ).
INIT_HOST_CALL = """
package main

import (
	"github.com/navidrome/navidrome/plugins/pdk/go/host"
	"github.com/navidrome/navidrome/plugins/pdk/go/pdk"
)

var greeting, _ = host.ConfigGet("greeting")

//go:wasmexport nd_greeting
func greet() int32 {
	pdk.OutputString(greeting)
	return 0
}

func main() {}
"""

INIT_PANICS = """
package main

import "github.com/navidrome/navidrome/plugins/pdk/go/pdk"

func init() { panic("init gave up") }

//go:wasmexport nd_hello
func hello() int32 {
	pdk.OutputString("hello")
	return 0
}

func main() {}
"""

# A reactor built by another toolchain: _initialize sets a global every export relies on.
REACTOR = """
(module
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (memory (export "memory") 1)
  (global $inits (mut i32) (i32.const 0))
  (global $calls (mut i32) (i32.const 0))
  (func (export "INIT") (global.set $inits (i32.add (global.get $inits) (i32.const 1))))
  (func (export "nd_state") (result i32)
    (local $b i64)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (local.set $b (call $alloc (i64.const 2)))
    (call $store_u8 (local.get $b) (i32.add (i32.const 48) (global.get $inits)))
    (call $store_u8 (i64.add (local.get $b) (i64.const 1))
                    (i32.add (i32.const 48) (global.get $calls)))
    (call $output_set (local.get $b) (i64.const 2))
    (i32.const 0)))
"""


@pytest.fixture(scope="module")
def state_wasm():
    return nd_notebook.build(STATE)


@pytest.fixture(params=[True, False], ids=["snapshots", "plain"])
def host(request, tmp_path):
    with Host(tmp_path, snapshots=request.param) as h:
        yield h


def _calls(plugin, export, n, pause=0.005):
    out = []
    for _ in range(n):
        out.append(plugin.call(export, b"x", raw=True).decode())
        time.sleep(pause)  # lets the background thread prepare the next instance
    return out


def test_a_go_package_variable_written_in_a_call_never_reaches_the_next(host, state_wasm):
    plugin = host.load(state_wasm, name="state")
    assert _calls(plugin, "nd_counter", 6) == ["1 1"] * 6


def test_calls_are_served_by_instances_initialised_ahead(tmp_path, state_wasm):
    with Host(tmp_path, snapshots=True) as h:
        plugin = h.load(state_wasm, name="state")
        _calls(plugin, "nd_counter", 6, pause=0.05)
        assert plugin.instances.status == "prepared ahead"
        assert plugin.instances.prepared_hits >= 3


def test_each_call_has_its_own_random_map_order(host, state_wasm):
    plugin = host.load(state_wasm, name="state")
    assert len(set(_calls(plugin, "nd_order", 20))) > 1


def test_time_read_in_init_is_at_most_max_age_before_the_call(host, state_wasm):
    plugin = host.load(state_wasm, name="state")
    for since in map(int, _calls(plugin, "nd_since_init", 5, pause=0.2)):
        assert 0 <= since <= (prepared.MAX_AGE + 0.25) * 1e6


def test_init_log_lines_belong_to_the_call_using_the_instance(host, state_wasm):
    plugin = host.load(state_wasm, name="state")
    _calls(plugin, "nd_counter", 4, pause=0.05)
    lines = [e for e in host.events.select("plugin_log") if e.data["message"] == "init ran"]
    # Not at load: Navidrome's instance there does not run the init (the Go SDK runs it at an
    # instance's first call).
    assert [e.data["export"] for e in lines] == ["nd_counter"] * 4


def test_an_init_calling_a_host_function_is_not_run_ahead_and_still_gets_its_answer(tmp_path):
    wasm = nd_notebook.build(INIT_HOST_CALL)
    with Host(tmp_path, snapshots=True) as h:
        plugin = h.load(wasm, name="greeter", permissions="auto", config={"greeting": "hi"})
        assert _calls(plugin, "nd_greeting", 4, pause=0.1) == ["hi"] * 4
        assert plugin.instances.status.startswith(
            "off: its init calls a Navidrome host function")
        assert plugin.instances.prepared_hits == 0
        config_calls = h.events.select("host_call")
        # One per call: none at load, none from the refused init ahead.
        assert len(config_calls) == 4


def test_an_init_that_fails_fails_every_call_as_the_go_sdk_says(host):
    # Navidrome's instance at load does not run the init: the Go SDK runs it at each
    # instance's first call, and its failure is that call's.
    plugin = host.load(nd_notebook.build(INIT_PANICS), name="panicky")
    for _ in range(3):
        with pytest.raises(PluginCallFailedError) as e:
            plugin.call("nd_hello")
        assert str(e.value) == "plugin call failed: failed to initialize runtime: panic: init gave up"


@pytest.mark.parametrize("init", ["_initialize", "__wasm_call_ctors"])
def test_a_reactor_from_another_toolchain_runs_its_init_once_per_call(host, init):
    plugin = host.load(wat(REACTOR.replace("INIT", init)), name="reactor")
    assert _calls(plugin, "nd_state", 4) == ["11"] * 4


def test_a_module_without_init_runs_as_it_is(host):
    plugin = host.load(outcomes_plugin(), name="outcomes")
    assert [plugin.call("nd_counter", raw=True) for _ in range(3)] == [b"1", b"1", b"1"]
    if host.snapshots:
        assert plugin.instances.status == "off: no init export: nothing to run ahead"


def test_snapshots_follow_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("ND_NOTEBOOK_SNAPSHOTS", "0")
    with Host(tmp_path / "a") as off:
        assert off.snapshots is False
    monkeypatch.setenv("ND_NOTEBOOK_SNAPSHOTS", "1")
    with Host(tmp_path / "b") as on:
        assert on.snapshots is True


def test_snapshots_off_runs_every_init_inline(tmp_path, state_wasm):
    with Host(tmp_path, snapshots=False) as h:
        plugin = h.load(state_wasm, name="state")
        _calls(plugin, "nd_counter", 3, pause=0.05)
        assert plugin.instances.status == "off: snapshots off"
        assert plugin.instances.prepared_hits == 0


def test_renaming_the_init_export_keeps_every_offset(state_wasm):
    from nd_notebook.runtime.wasminfo import module_info

    module, init, _ = prepared.prepared_module(state_wasm, module_info(state_wasm)
                                               .exported_functions)
    assert init == "_nd_prepare"
    assert len(module) == len(state_wasm)
    assert "_initialize" not in module_info(module).exported_functions


def test_concurrent_calls_of_one_plugin_each_get_their_own_deadline(tmp_path):
    with Host(tmp_path, timeout_ms=600) as h:
        plugin = h.load(outcomes_plugin(), name="outcomes")
        plugin.call("nd_empty")  # the first lane exists; the second comes from the cache
        took: dict[str, float] = {}

        def spin(label: str) -> None:
            started = time.perf_counter()
            with pytest.raises(PluginCallFailedError):
                plugin.call("nd_spin")
            took[label] = time.perf_counter() - started

        first = threading.Thread(target=spin, args=("first",))
        first.start()
        time.sleep(0.3)
        spin("second")  # started 0.3 s later: its deadline is its own, not the first call's
        first.join()
        assert took["first"] >= 0.55
        assert took["second"] >= 0.55


INIT_PRINTS = """package main

import (
	"fmt"

	"github.com/navidrome/navidrome/plugins/pdk/go/pdk"
)

func init() {
	fmt.Println("init ran")
}

//go:wasmexport nd_hello
func hello() int32 {
	pdk.OutputString("hello")
	return 0
}

func main() {}
"""


def test_an_init_writing_stdout_runs_in_its_call_so_each_call_gets_its_line(tmp_path):
    # Run ahead, its line went to the process's own stdout (and into whichever call was
    # capturing then): 12-14 lines for 7 calls, some calls with three.
    with Host(tmp_path) as h:
        plugin = h.load(nd_notebook.build(INIT_PRINTS), name="printer")
        for _ in range(7):
            assert plugin.call("nd_hello", raw=True) == b"hello"
            time.sleep(0.02)  # room for the background thread to prepare ahead
        assert plugin.instances.status == ("prepared ahead, init at the call: its init writes "
                                           "to stdout/stderr")
        printed = [e.data["text"] for e in h.events.select("plugin_output")]
        assert printed == ["init ran\n"] * 7


def test_the_status_says_nothing_runs_ahead_before_a_call_succeeds(tmp_path):
    failing = INIT_PRINTS.replace('fmt.Println("init ran")', 'panic(fmt.Sprint("no"))')
    with Host(tmp_path) as h:
        plugin = h.load(nd_notebook.build(failing), name="failing")
        for _ in range(3):
            with pytest.raises(PluginCallFailedError):
                plugin.call("nd_hello")
        assert plugin.instances.status == ("prepared ahead (from the first call that succeeds; "
                                           "none has yet)")
        assert plugin.instances.prepared_hits == 0
