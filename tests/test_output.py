"""What a plugin says while it runs: pdk.Log lines, WASI stdout/stderr, panics and traps,
attributed to the call that said it and shown under the notebook cell that made the call."""

from __future__ import annotations

import os
import threading
import time

import nbformat
import pytest
from IPython.testing import globalipapp
from IPython.utils.capture import capture_output
from nbclient import NotebookClient
from watplugins import _ENV, _HELPERS, outcomes_plugin, wat

import nd_notebook
from nd_notebook import Host, events
from nd_notebook.errors import MemoryLimitError, PluginCallFailedError
from nd_notebook.runtime import output

pytestmark = pytest.mark.slow

GO_PLUGIN = r"""
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	pdk "github.com/extism/go-pdk"
)

//go:wasmexport logs
func logs() int32 {
	pdk.Log(pdk.LogTrace, "a trace line")
	pdk.Log(pdk.LogDebug, "a debug line")
	pdk.Log(pdk.LogInfo, "an info line")
	pdk.Log(pdk.LogWarn, "a warn line")
	pdk.Log(pdk.LogError, "an error line\non two lines")
	pdk.LogMemory(pdk.LogInfo, pdk.AllocateString("from a block"))
	return 0
}

//go:wasmexport echo_log
func echoLog() int32 {
	for i := 0; i < 50; i++ {
		pdk.Log(pdk.LogInfo, pdk.InputString())
	}
	return 0
}

//go:wasmexport prints
func prints() int32 {
	fmt.Println("to stdout:", pdk.InputString())
	fmt.Fprint(os.Stderr, "to stderr, no newline")
	return 0
}

//go:wasmexport nap
func nap() int32 {
	ms, _ := strconv.Atoi(pdk.InputString())
	time.Sleep(time.Duration(ms) * time.Millisecond)
	return 0
}

//go:wasmexport index
func index() int32 {
	xs := []int{1, 2, 3}
	fmt.Println(xs[len(pdk.Input())+5])
	return 0
}

//go:wasmexport divide
func divide() int32 {
	fmt.Println(10 / len(pdk.Input()))
	return 0
}

//go:wasmexport nilmap
func nilmap() int32 {
	var m map[string]int
	m["key"] = 1
	return 0
}

var kept [][]byte

//go:wasmexport hog
func hog() int32 {
	for i := 0; i < 100; i++ {
		kept = append(kept, make([]byte, 1<<30))
	}
	return 0
}

//go:wasmexport exit3
func exit3() int32 {
	os.Exit(3)
	return 0
}

func main() {}
"""


def go_line(text: str) -> int:
    """The line of ``text`` in GO_PLUGIN as Go numbers it (the build adds nothing before)."""
    lines = GO_PLUGIN.splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


@pytest.fixture(scope="module")
def go_wasm():
    return nd_notebook.build(GO_PLUGIN)


@pytest.fixture
def host(tmp_path):
    with Host(tmp_path / "data") as h:
        yield h


@pytest.fixture
def plugin(host, go_wasm):
    return host.load(go_wasm, name="loud")


def logged(host, plugin_id="loud"):
    return [(e["level"], e["message"], e["export"])
            for e in host.events.select(events.PLUGIN_LOG, plugin_id)]


def printed(host, plugin_id="loud"):
    return [(e["stream"], e["text"], e["export"])
            for e in host.events.select(events.PLUGIN_OUTPUT, plugin_id)]


# -- pdk.Log -----------------------------------------------------------------------------------

def test_log_lines_at_every_level_become_plugin_log_events(host, plugin):
    plugin.call("logs")
    # go-pdk sends LogTrace through log_error: libextism (and Navidrome) see an error line.
    assert logged(host) == [("error", "a trace line", "logs"), ("debug", "a debug line", "logs"),
                            ("info", "an info line", "logs"), ("warn", "a warn line", "logs"),
                            ("error", "an error line\non two lines", "logs"),
                            ("info", "from a block", "logs")]


def test_host_logs_is_a_frame_of_the_log_lines(host, plugin):
    plugin.call("logs")
    df = host.logs("loud")
    assert list(df["message"])[:3] == ["a trace line", "a debug line", "an info line"]
    assert set(df["export"]) == {"logs"}


def test_log_lines_of_concurrent_calls_stay_with_their_call(host, go_wasm):
    plugins = [host.load(go_wasm, name=f"p{i}") for i in range(3)]
    threads = [threading.Thread(target=lambda p=p: [p.call("echo_log", p.id) for _ in range(5)])
               for p in plugins]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in plugins:
        assert [m for _, m, _ in logged(host, p.id)] == [p.id] * 250


# -- stdout / stderr ---------------------------------------------------------------------------

def test_stdout_and_stderr_become_plugin_output_events(host, plugin):
    plugin.call("prints", "hi")
    assert printed(host) == [("stdout", "to stdout: hi\n", "prints"),
                             ("stderr", "to stderr, no newline", "prints")]


def test_guest_output_is_passed_on_to_the_process_stdout(plugin, capfd):
    plugin.call("prints", "hi")
    out, err = capfd.readouterr()
    assert (out, err) == ("to stdout: hi\n", "to stderr, no newline")


def test_what_the_process_writes_during_a_call_is_not_lost(plugin, capfd):
    caller = threading.Thread(target=plugin.call, args=("nap", "300"))
    caller.start()
    while not output._STDIO._running:  # fds 1/2 are redirected from here on
        time.sleep(0.001)
    os.write(1, b"the host speaks\n")
    caller.join()
    assert "the host speaks\n" in capfd.readouterr().out


def test_concurrent_calls_each_receive_their_own_output(host, go_wasm):
    plugins = [host.load(go_wasm, name=f"p{i}") for i in range(3)]
    threads = [threading.Thread(target=lambda p=p: [p.call("prints", p.id) for _ in range(5)])
               for p in plugins]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in plugins:
        stdout = [text for stream, text, _ in printed(host, p.id) if stream == "stdout"]
        assert len(stdout) == 5
        assert all(f"to stdout: {p.id}\n" in text for text in stdout)


# -- Go panics ---------------------------------------------------------------------------------

def test_index_out_of_range_panic_is_the_error_message(plugin):
    with pytest.raises(PluginCallFailedError) as e:
        plugin.call("index", b"")
    assert str(e.value) == ("plugin call failed: panic: runtime error: index out of range [5] "
                            "with length 3")
    assert e.value.location == f"ndplugin/plugin.go:{go_line('xs[len')}, in main.index"


def test_integer_divide_by_zero_panic_is_the_error_message(plugin):
    with pytest.raises(PluginCallFailedError) as e:
        plugin.call("divide", b"")
    assert str(e.value) == "plugin call failed: panic: runtime error: integer divide by zero"
    assert e.value.location == f"ndplugin/plugin.go:{go_line('10 /')}, in main.divide"


def test_nil_map_write_panic_is_the_error_message(plugin):
    with pytest.raises(PluginCallFailedError) as e:
        plugin.call("nilmap")
    assert str(e.value) == "plugin call failed: panic: assignment to entry in nil map"
    assert e.value.location == f"ndplugin/plugin.go:{go_line('m[')}, in main.nilmap"


def test_out_of_memory_at_the_memory_cap_names_the_limit(plugin):
    # The Host's 1 GiB max_memory stops the runaway allocation before Go's own
    # "fatal error: out of memory" would (runtime/limits.py).
    with pytest.raises(MemoryLimitError) as e:
        plugin.call("hog")
    assert str(e.value).startswith("plugin call failed: out of memory: ")
    assert e.value.limit == 1 << 30


def test_exit_code_is_the_error_message(plugin):
    with pytest.raises(PluginCallFailedError) as e:
        plugin.call("exit3")
    assert str(e.value) == "plugin call failed: exit code 3"
    assert e.value.exit_code == 3
    assert e.value.location == "wasm function main.exit3"


def test_the_raw_wasm_backtrace_stays_on_the_exception(plugin):
    with pytest.raises(PluginCallFailedError) as e:
        plugin.call("index", b"")
    assert e.value.backtrace.startswith("error while executing at wasm backtrace:")
    assert "main.index" in e.value.backtrace
    assert "backtrace" not in str(e.value)


def test_the_goroutine_trace_is_the_calls_stderr(host, plugin):
    with pytest.raises(PluginCallFailedError) as e:
        plugin.call("index", b"")
    [(stream, text, export)] = printed(host)
    assert (stream, export) == ("stderr", "index")
    assert text.startswith("panic: runtime error: index out of range [5] with length 3\n")
    assert f"ndplugin/plugin.go:{go_line('xs[len')}" in text
    assert e.value.stderr == text


def test_a_guest_error_keeps_navidromes_exact_text(host):
    plugin = host.load(outcomes_plugin(), name="outcomes")
    with pytest.raises(PluginCallFailedError) as e:
        plugin.call("nd_error_set")
    assert str(e.value) == "plugin call failed: guest says no"
    assert e.value.backtrace is None


# -- wasm traps --------------------------------------------------------------------------------

TRAPS = wat("(module\n" + _ENV + _HELPERS + """
  (func $crash (export "unreachable") (result i32) (unreachable))
  (func (export "divide") (result i32)
    (i32.div_s (i32.const 1) (i32.wrap_i64 (call $input_length))))
  (func (export "oob") (result i32) (i32.load (i32.const 0x7ffffff0)))
)""")


@pytest.fixture
def traps(host):
    return host.load(TRAPS, name="traps")


@pytest.mark.parametrize(("export", "reason"), [
    ("unreachable", "wasm trap: wasm `unreachable` instruction executed"),
    ("divide", "wasm trap: integer divide by zero"),
    ("oob", ("wasm trap: out of bounds memory access (memory fault at wasm address 0x7ffffff0 "
             "in linear memory of size 0x10000)")),
])
def test_a_trap_reason_is_the_error_message(traps, export, reason):
    with pytest.raises(PluginCallFailedError) as e:
        traps.call(export, b"")
    assert str(e.value) == f"plugin call failed: {reason}"


def test_a_trap_names_the_wasm_function_it_happened_in(traps):
    with pytest.raises(PluginCallFailedError) as e:
        traps.call("unreachable")
    assert e.value.location == "wasm function crash"


# crash.c, built with clang 14 and DWARF (debug line tables):
#   __attribute__((export_name("divide")))
#   int divide(void) {
#       volatile int zero = 0;
#       int x = 10;
#       return x / zero;
#   }
#   clang-14 --target=wasm32 -nostdlib -g -O0 -Wl,--no-entry -fuse-ld=wasm-ld-14 \
#       -fdebug-prefix-map=$PWD=. -o crash.wasm crash.c
CRASH_C_WASM = bytes.fromhex(
    "0061736d010000000105016000017f030201000405017001010105030100020608017f01418088040b071302"
    "066d656d6f727902000664697669646500000a47014501087f238080808000210041102101200020016b2102"
    "410021032002200336020c410a21042002200436020820022802082105200228020c2106200520066d210720"
    "070f0b00740b2e64656275675f696e666f6400000004000000000004011a0000000c00120000000000000036"
    "000000020000004500000002020000004500000004ed00029f0b00000001025b0000000302910c0600000001"
    "0362000000030291080000000001045b0000000004020000000504055b00000000005a0d2e64656275675f61"
    "6262726576011101250e1305030e10171b0e110112060000022e01110112064018030e3a0b3b0b271949133f"
    "1900000334000218030e3a0b3b0b49130000042400030e3e0b0b0b0000053500491300000000570b2e646562"
    "75675f6c696e654700000004001f000000010101fb0e0d0001010101000000010000010063726173682e6300"
    "00000000000502020000001305120a08590509ad050cad05100674050e74050574020400010100430a2e6465"
    "6275675f7374727800696e74007a65726f006469766964650063726173682e630044656269616e20636c616e"
    "672076657273696f6e2031342e302e36002e000024046e616d650109010006646976696465071201000f5f5f"
    "737461636b5f706f696e746572003c0970726f64756365727302086c616e67756167650103433939000c7072"
    "6f6365737365642d6279010c44656269616e20636c616e670631342e302e36")


def test_a_trap_names_its_source_line_from_the_modules_dwarf(host):
    crash = host.load(CRASH_C_WASM, name="crash")
    with pytest.raises(PluginCallFailedError) as e:
        crash.call("divide")
    assert str(e.value) == "plugin call failed: wasm trap: integer divide by zero"
    assert e.value.location == "./crash.c:5, in divide"


def test_a_failed_extism_host_function_is_the_error_message(host):
    # libextism's var_set refuses a value that does not fit its 1 MiB store.
    filler = host.load(wat("(module\n" + _ENV + """
  (import "extism:host/env" "var_set" (func $var_set (param i64 i64)))
""" + _HELPERS + """
  (func (export "fill") (result i32)
    (call $var_set (call $input_block) (call $alloc (i64.const 1048576)))
    (i32.const 0))
)"""), name="filler")
    with pytest.raises(PluginCallFailedError) as e:
        filler.call("fill", "key")
    assert str(e.value) == "plugin call failed: Variable store is full"


# -- under the notebook cell -------------------------------------------------------------------

LOUD_CELL = """\
package main

import (
	"os"
	"strings"

	pdk "github.com/extism/go-pdk"
)

//go:wasmexport prints
func prints() int32 {
	os.Stdout.WriteString(strings.Repeat("line\\n", 20000))
	return 0
}

//go:wasmexport logs
func logs() int32 {
	pdk.Log(pdk.LogInfo, "hello from the plugin")
	pdk.Log(pdk.LogWarn, "careful")
	return 0
}

//go:wasmexport index
func index() int32 {
	xs := []int{1, 2, 3}
	return int32(xs[len(pdk.Input())+5])
}
"""
INDEX_CELL_LINE = 1 + 1 + LOUD_CELL.splitlines().index("\treturn int32(xs[len(pdk.Input())+5])")

INIT_CELL = """\
package main

//go:wasmexport nd_on_init
func onInit() int32 {
	var m map[string]int
	m["x"] = 1
	return 0
}
"""


@pytest.fixture
def ip():
    shell = globalipapp.start_ipython() or globalipapp.get_ipython()
    formatter = shell.display_formatter
    active = formatter.active_types
    formatter.active_types = formatter.format_types
    shell.run_line_magic("load_ext", "nd_notebook")
    before = set(shell.user_ns)
    yield shell
    shell.run_line_magic("unload_ext", "nd_notebook")
    formatter.active_types = active
    for name in set(shell.user_ns) - before:
        del shell.user_ns[name]


def run_cell(shell, text: str):
    with capture_output() as cap:
        shell.run_cell(text)
    return cap


def html_lines(cap) -> list[str]:
    return [o.data["text/html"] for o in cap.outputs if "text/html" in o.data]


def plain_lines(cap) -> list[str]:
    return [o.data["text/plain"] for o in cap.outputs]


def test_log_lines_appear_under_the_cell_with_their_level(ip):
    ip.run_cell_magic("ndplugin", "loud", LOUD_CELL)
    cap = run_cell(ip, "loud.call('logs')")
    assert plain_lines(cap) == ["[loud logs] INFO: hello from the plugin",
                                "[loud logs] WARN: careful"]
    info, warn = html_lines(cap)
    assert "color:#1d4ed8" in info and "hello from the plugin" in info
    assert "color:#b45309" in warn


def test_a_cell_shows_at_most_200_lines_then_points_at_host_logs(ip):
    ip.run_cell_magic("ndplugin", "loud", LOUD_CELL)
    cap = run_cell(ip, "for _ in range(101): loud.call('logs')")
    lines = plain_lines(cap)
    assert len(lines) == 201
    assert lines[-1] == ("[nd-notebook] more than 200 lines of plugin output: the rest of this "
                         "cell's is in host.logs()")
    assert len(run_cell(ip, "loud.call('logs')").outputs) == 2  # a new cell starts again


def test_one_long_output_counts_its_lines(ip):
    # One call printing 20,000 lines was one event, all of it shown under the cell.
    ip.run_cell_magic("ndplugin", "loud", LOUD_CELL)
    cap = run_cell(ip, "loud.call('logs'); loud.call('prints')")
    lines = plain_lines(cap)
    assert len(lines) == 4
    assert lines[2].splitlines() == ["[loud prints] STDOUT: line"] + ["line"] * 197
    assert lines[3].startswith("[nd-notebook] more than 200 lines of plugin output")
    assert html_lines(cap)[2].count("line") == 198
    assert len(run_cell(ip, "loud.call('prints')").outputs) == 2  # a new cell starts again


def test_a_panic_shows_its_message_and_cell_line_under_the_cell(ip):
    ip.run_cell_magic("ndplugin", "loud", LOUD_CELL)
    cap = run_cell(ip, "loud.call('index', b'')")
    assert cap.stdout.startswith("PluginCallFailedError: plugin call failed: panic: runtime "
                                 "error: index out of range [5] with length 3\n")
    assert f"  at cell line {INDEX_CELL_LINE}, in main.index" in cap.stdout
    assert "Traceback" not in cap.stdout
    [stderr] = plain_lines(cap)
    assert stderr.startswith("[loud index] STDERR: panic: runtime error: index out of range")


def test_a_failed_nd_on_init_is_shown_under_the_loading_cell(ip):
    cap = run_cell(ip, "%%ndplugin starter\n" + INIT_CELL)
    warning = next(p for p in plain_lines(cap) if "nd_on_init failed" in p)
    assert warning == ("[starter nd_on_init] ERROR: nd_on_init failed: plugin call failed: "
                       "panic: assignment to entry in nil map\n  at cell line 7, in main.onInit "
                       "(ndplugin/plugin.go:7)")
    assert "starter" in ip.user_ns  # Navidrome keeps the plugin loaded


def test_calls_on_worker_threads_are_not_shown_under_the_cell(ip):
    ip.run_cell_magic("ndplugin", "loud", LOUD_CELL)
    cap = run_cell(ip, "import threading\n"
                       "t = threading.Thread(target=lambda: loud.call('logs'))\n"
                       "t.start(); t.join()")
    assert plain_lines(cap) == []
    host = ip.run_line_magic("ndplugin", "host")
    assert len(host.events.select(events.PLUGIN_LOG, "loud")) == 2


def test_a_callback_failure_driven_by_the_cell_is_shown_under_it(ip):
    ip.user_ns["vhost"] = Host(clock="virtual")
    ip.run_cell_magic("ndplugin", "ticker --host vhost --permissions scheduler", f"""(module
  (import "extism:host/user" "scheduler_scheduleonetime" (func $once (param i64) (result i64)))
{_ENV}{_HELPERS}
  (func (export "schedule") (result i32) (drop (call $once (call $input_block))) (i32.const 0))
  (func (export "nd_scheduler_callback") (result i32) (unreachable)))""")
    run_cell(ip, """ticker.call("schedule", {"delaySeconds": 5, "scheduleId": "once"})""")
    cap = run_cell(ip, "vhost.run_for(10)")
    [shown] = [p for p in plain_lines(cap) if "Scheduler" in p]
    assert shown.startswith("[ticker] ERROR: Scheduler: Scheduler callback failed")
    assert "plugin call failed: wasm trap: wasm `unreachable` instruction executed" in shown
    ip.user_ns["vhost"].close()


def test_nothing_is_shown_without_the_extension(ip):
    ip.run_cell_magic("ndplugin", "loud", LOUD_CELL)
    ip.run_line_magic("unload_ext", "nd_notebook")
    try:
        cap = run_cell(ip, "loud.call('logs')")
        assert plain_lines(cap) == []
    finally:
        ip.run_line_magic("load_ext", "nd_notebook")


def test_a_panic_appears_under_the_cell_in_a_real_kernel():
    # ipykernel runs the cells and watches fds 1/2 itself: the guest's stderr must still reach
    # the cell as plugin output, not as the kernel's own stream.
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in (
        "%load_ext nd_notebook", "%%ndplugin loud\n" + LOUD_CELL, "loud.call('index', b'')")])
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True).execute()
    shown, error = nb.cells[2].outputs
    assert shown["output_type"] == "display_data"
    assert shown["data"]["text/plain"].startswith("[loud index] STDERR: panic: runtime error: "
                                                  "index out of range [5] with length 3\n")
    assert error["output_type"] == "error"
    first, where = error["traceback"][:2]
    assert first == ("PluginCallFailedError: plugin call failed: panic: runtime error: index out "
                     "of range [5] with length 3")
    assert where == (f"  at cell line {INDEX_CELL_LINE}, in main.index "
                     f"(ndplugin/plugin.go:{INDEX_CELL_LINE})")
