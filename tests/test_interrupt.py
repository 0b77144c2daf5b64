"""A kernel interrupt (SIGINT) cancels the running plugin call through libextism's cancel handle;
in virtual time it stops host.run_for between two events; timeout_ms takes positive integers."""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import pytest
from watplugins import outcomes_plugin, wat

from nd_notebook import Host, events
from nd_notebook.errors import PluginCallFailedError, PluginCallInterrupted, RunInterrupted

TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def loop_wasm():
    return outcomes_plugin()  # nd_spin loops forever without a host call, nd_echo echoes


@pytest.fixture
def host(tmp_path):
    with Host(tmp_path, timeout_ms=20_000) as h:
        yield h


@pytest.fixture
def plugin(host, loop_wasm):
    return host.load(loop_wasm, name="loop")


def interrupt_after(seconds: float) -> list[float]:
    """Send this process a SIGINT (as Jupyter's interrupt does) ``seconds`` from now; the list
    receives the moment it was sent."""
    sent: list[float] = []

    def send():
        time.sleep(seconds)
        sent.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=send, daemon=True).start()
    return sent


def test_interrupt_cancels_a_looping_call_within_half_a_second(plugin):
    sent = interrupt_after(0.3)
    with pytest.raises(PluginCallInterrupted):
        plugin.call("nd_spin")
    assert time.perf_counter() - sent[0] < 0.5


def test_an_interrupt_as_a_call_starts_waits_until_the_call_is_under_way(plugin, monkeypatch):
    # A cancel libextism handles while the call is starting is lost (and the call then runs
    # past its timeout): the watcher cancels a call only once it has run SETTLE_SECONDS.
    from nd_notebook.runtime import interrupt

    monkeypatch.setattr(interrupt, "SETTLE_SECONDS", 0.6)
    sent = interrupt_after(0.05)
    started = time.perf_counter()
    with pytest.raises(PluginCallInterrupted):
        plugin.call("nd_spin")
    ended = time.perf_counter()
    assert sent[0] - started < 0.6 <= ended - started


def test_interrupted_call_is_a_keyboard_interrupt_saying_the_call_was_interrupted(plugin):
    interrupt_after(0.3)
    with pytest.raises(KeyboardInterrupt) as e:
        plugin.call("nd_spin")
    assert str(e.value).startswith("call of nd_spin (plugin 'loop') interrupted after 0.")
    assert str(e.value).endswith("cancelled by a kernel interrupt (KeyboardInterrupt); the Host "
                                 "and the plugin stay usable")
    assert (e.value.export, e.value.plugin_id) == ("nd_spin", "loop")


def test_plugin_and_host_stay_usable_after_an_interrupt(host, plugin, loop_wasm):
    interrupt_after(0.3)
    with pytest.raises(PluginCallInterrupted):
        plugin.call("nd_spin")
    assert plugin.call("nd_echo", {"a": 1}) == {"a": 1}
    assert host.load(loop_wasm, name="again").call("nd_echo", {"b": 2}) == {"b": 2}


def test_interrupt_is_not_swallowed_by_except_exception_in_a_loop_of_calls(plugin):
    interrupt_after(0.3)
    started = time.perf_counter()
    with pytest.raises(PluginCallInterrupted):
        for _ in range(10):
            try:
                plugin.call("nd_spin")
            except Exception:  # noqa: BLE001, S110 - what a notebook loop does
                pass
    assert time.perf_counter() - started < 1.0


def test_interrupted_call_is_recorded_as_a_failed_call(host, plugin):
    interrupt_after(0.3)
    with pytest.raises(PluginCallInterrupted):
        plugin.call("nd_spin")
    call = [e for e in host.events if e.kind == "plugin_call"][-1]
    assert call.data["export"] == "nd_spin"
    assert "interrupted" in call.data["error"]


def test_a_previous_wakeup_fd_still_receives_the_signal_and_is_restored(plugin):
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    previous = signal.set_wakeup_fd(writer.fileno())
    try:
        interrupt_after(0.3)
        with pytest.raises(PluginCallInterrupted):
            plugin.call("nd_spin")
        assert signal.set_wakeup_fd(writer.fileno()) == writer.fileno()
        reader.settimeout(2)
        assert bytes([signal.SIGINT]) in reader.recv(16)
    finally:
        signal.set_wakeup_fd(previous)
        reader.close()
        writer.close()


def test_a_guard_a_ctrl_c_left_registered_is_dropped_before_its_instance_is_freed(plugin):
    # A KeyboardInterrupt landing inside a guard's exit (a burst of Ctrl-C) skips its removal;
    # the watcher would cancel through the freed instance's handle at the next SIGINT (a
    # crash). Releasing the instance drops it first.
    from nd_notebook.runtime import interrupt

    watcher = interrupt._Watcher.get()
    plugin.call("nd_echo", b"x")  # (its instances ready)
    try:
        with plugin.instances.take() as instance:
            left = interrupt.Guard(watcher, instance.ptr).__enter__()
            watcher.depth -= 1  # its exit ran as far as this, then the interrupt landed
            if watcher.depth == 0:
                signal.set_wakeup_fd(watcher.previous_fd)
            assert left in watcher.running
        assert left not in watcher.running
    finally:
        with watcher.lock:
            if left in watcher.running:
                watcher.running.remove(left)
    assert plugin.call("nd_echo", b"y", raw=True) == b"y"


def test_calls_leave_no_wakeup_fd_behind(plugin):
    assert plugin.call("nd_echo", {"a": 1}) == {"a": 1}
    assert signal.set_wakeup_fd(-1) == -1


HOST_CALL_LOOP = """(module
  (import "extism:host/user" "config_get" (func $config_get (param i64) (result i64)))
  (memory (export "memory") 1)
  (func (export "nd_host_calls_forever") (result i32)
    (loop $again (drop (call $config_get (i64.const 0))) (br $again))
    (i32.const 0)))"""


def test_interrupt_lands_while_the_plugin_is_in_a_host_function(host):
    # The signal's KeyboardInterrupt is raised inside the Python host function, whose
    # trampoline must not raise into Extism: the cancel handle still ends the call.
    plugin = host.load(wat(HOST_CALL_LOOP), name="chatty")
    sent = interrupt_after(0.3)
    with pytest.raises(PluginCallInterrupted):
        plugin.call("nd_host_calls_forever")
    assert time.perf_counter() - sent[0] < 0.5


ONE_HOST_CALL = """(module
  (import "extism:host/user" "config_get" (func $config_get (param i64) (result i64)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (memory (export "memory") 1)
  (func (export "nd_one_host_call") (result i32)
    (i64.store (i32.const 0) (i64.const 7))
    (i64.store (i32.const 0) (call $config_get (i64.const 0)))
    (call $output_set (i64.const 0) (i64.const 0))
    (i32.eqz (i64.eqz (i64.load (i32.const 0))))))"""


def test_an_interrupt_at_the_host_functions_first_bytecode_is_not_printed(host, monkeypatch):
    # The signal can land before the trampoline's own try: cffi would print "Exception
    # ignored from cffi callback" into the notebook. Here a trace function raises it there.
    from nd_notebook.runtime import adapter

    plugin = host.load(wat(ONE_HOST_CALL), name="entry")
    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)

    def tracer(frame, event, arg):
        if event == "call" and frame.f_code.co_filename == adapter.__file__ \
                and frame.f_code.co_name == "_trampoline":
            raise KeyboardInterrupt

    sys.settrace(tracer)
    try:
        result = plugin.call("nd_one_host_call", raw=True)
    finally:
        sys.settrace(None)
    # The guest read 0 from the host function (exit code 0: its stored 7 was overwritten).
    assert result == b""
    assert unraisable == []
    assert not host.events.select("host_call")  # the host function never ran


def test_timeout_still_ends_a_call_that_nobody_interrupts(tmp_path, loop_wasm):
    with Host(tmp_path, timeout_ms=200) as h, pytest.raises(PluginCallFailedError) as e:
        h.load(loop_wasm, name="loop").call("nd_spin")
    assert str(e.value) == "plugin call failed: timeout"


HOST_LOOPS = """package main

import "github.com/navidrome/navidrome/plugins/pdk/go/pdk"

//go:wasmexport nd_log_loop
func logLoop() int32 {
	for {
		pdk.Log(pdk.LogDebug, "again")
	}
}

//go:wasmexport nd_config_loop
func configLoop() int32 {
	for {
		_, _ = pdk.GetConfig("greeting")
	}
}

func main() {}
"""


@pytest.mark.parametrize("export", ["nd_log_loop", "nd_config_loop"])
def test_a_deadline_inside_libextisms_own_host_functions_is_a_timeout(tmp_path, export):
    # The deadline interrupts Extism's kernel too; a host function reading there then failed
    # ("invalid handle offset for log message: 91", one call in three) and named the call's end.
    import nd_notebook

    wasm = nd_notebook.build(HOST_LOOPS)
    with Host(tmp_path, timeout_ms=150) as h:
        plugin = h.load(wasm, name="loops", config={"greeting": "hi"})
        for _ in range(6):
            with pytest.raises(PluginCallFailedError) as e:
                plugin.call(export)
            assert str(e.value) == "plugin call failed: timeout"


# -- host.run_for in virtual time ------------------------------------------------------------

@pytest.fixture
def virtual(tmp_path, loop_wasm):
    """A virtual-time Host with three events at +1 s (a looping call), +2 s and +3 s."""
    with Host(tmp_path, clock="virtual", timeout_ms=20_000) as h:
        plugin = h.load(loop_wasm, name="loop")
        ran: list[tuple[float, str]] = []

        def event(export):
            try:
                plugin.call(export, {})
                ran.append((h.now(), "ok"))
            except Exception as e:  # noqa: BLE001 - what a service does with a failed call
                ran.append((h.now(), str(e)))

        t0 = h.now()
        for delay, export in ((1, "nd_spin"), (2, "nd_echo"), (3, "nd_echo")):
            h.clock.call_later(delay, lambda export=export: event(export))
        yield h, ran, t0


def test_run_for_stops_between_events_within_half_a_second(virtual):
    host, ran, t0 = virtual
    sent = interrupt_after(0.3)
    with pytest.raises(RunInterrupted):
        host.run_for(10)
    assert time.perf_counter() - sent[0] < 0.5
    assert host.now() == t0 + 1
    assert len(ran) == 1


def test_call_interrupted_in_an_event_fails_as_an_ordinary_call_for_the_service(virtual):
    host, ran, _t0 = virtual
    interrupt_after(0.3)
    with pytest.raises(RunInterrupted):
        host.run_for(10)
    assert ran[0][1].startswith(
        "plugin call failed: interrupted by a kernel interrupt (KeyboardInterrupt) after 0.")


def test_run_interrupted_says_where_the_clock_stopped_and_what_was_cancelled(virtual):
    host, _, _ = virtual
    interrupt_after(0.3)
    with pytest.raises(RunInterrupted) as e:
        host.run_for(10)
    assert str(e.value) == (
        "host.run_for interrupted (KeyboardInterrupt): the clock stopped between two events at "
        "2026-01-01T00:00:01Z; the call then running (nd_spin of plugin 'loop') was cancelled "
        "and handled as a failed call; run it again to go on")


def test_run_for_goes_on_after_an_interrupt(virtual):
    host, ran, t0 = virtual
    interrupt_after(0.3)
    with pytest.raises(RunInterrupted):
        host.run_for(10)
    host.run_for(10)
    assert [t - t0 for t, _ in ran] == [1, 2, 3]
    assert ran[1:] == [(t0 + 2, "ok"), (t0 + 3, "ok")]
    assert host.now() == t0 + 11


def test_run_for_restores_the_sigint_handler(virtual):
    host, _, _ = virtual
    interrupt_after(0.3)
    with pytest.raises(RunInterrupted):
        host.run_for(10)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    host.run_for(10)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_run_until_idle_is_interrupted_too(virtual):
    host, _ran, t0 = virtual
    interrupt_after(0.3)
    with pytest.raises(RunInterrupted) as e:
        host.run_until_idle()
    assert str(e.value).startswith("host.run_until_idle interrupted (KeyboardInterrupt)")
    assert host.now() == t0 + 1


def test_keyboard_interrupt_from_an_event_stops_a_bare_clock_run(tmp_path):
    with Host(tmp_path, clock="virtual") as h:
        ran = []

        def stop():
            raise KeyboardInterrupt

        h.clock.call_later(1, stop)
        h.clock.call_later(2, lambda: ran.append(2))
        with pytest.raises(KeyboardInterrupt):
            h.clock.run_for(5)
        assert ran == []
        h.clock.run_for(5)
        assert ran == [2]


# -- timeout_ms ------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [None, 0, -5, 1.5, "30000", True])
def test_timeout_ms_accepts_only_positive_integers(tmp_path, value):
    with pytest.raises(ValueError) as e:
        Host(tmp_path, timeout_ms=value)
    assert str(e.value) == ("timeout_ms must be a positive integer (milliseconds per plugin call; "
                            f"Navidrome uses 30000), not {value!r}")


def test_a_bad_timeout_ms_set_later_is_refused_at_load(tmp_path, loop_wasm):
    with Host(tmp_path) as h:
        h.timeout_ms = None
        with pytest.raises(ValueError, match="timeout_ms must be a positive integer"):
            h.load(loop_wasm, name="loop")


# -- a Go plugin, and a real Jupyter kernel --------------------------------------------------

@pytest.mark.slow
def test_interrupt_cancels_a_looping_go_plugin(tmp_path):
    from capsplugins import hog_wasm

    with Host(tmp_path, timeout_ms=20_000) as h:
        plugin = h.load(hog_wasm(), name="gospin")
        sent = interrupt_after(0.5)
        with pytest.raises(PluginCallInterrupted):
            plugin.call("nd_spin")
        assert time.perf_counter() - sent[0] < 0.5
        assert plugin.call("nd_hello") == "hello"


@pytest.mark.slow
def test_interrupt_of_a_looping_call_on_a_real_jupyter_kernel(tmp_path):
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path))
    try:
        setup = (f"import sys\nsys.path.insert(0, {str(TESTS)!r})\n"
                 "from watplugins import outcomes_plugin\nfrom nd_notebook import Host\n"
                 f"h = Host({str(tmp_path / 'data')!r})\n"
                 "p = h.load(outcomes_plugin(), name='loop')\n")
        assert kc.execute_interactive(setup, timeout=120)["content"]["status"] == "ok"

        msg_id = kc.execute("print('calling', flush=True)\np.call('nd_spin')")
        _wait_for_stream(kc, msg_id, "calling")
        time.sleep(0.3)  # inside the call now
        started = time.monotonic()
        km.interrupt_kernel()
        reply = _reply(kc, msg_id, timeout=10)
        elapsed = time.monotonic() - started

        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "PluginCallInterrupted"
        assert "call of nd_spin (plugin 'loop') interrupted after" in reply["content"]["evalue"]
        assert elapsed < 2.0

        time.sleep(0.5)  # as a person would: ipykernel aborts what was queued behind an error
        results = []
        reply = kc.execute_interactive(
            "p.call('nd_echo', {'a': 1})", timeout=30,
            output_hook=lambda m: results.append(m["content"].get("data", {}).get("text/plain")))
        assert reply["content"]["status"] == "ok"
        assert "{'a': 1}" in results
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def _wait_for_stream(kc, msg_id: str, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = kc.get_iopub_msg(timeout=deadline - time.monotonic())
        if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream"
                and text in msg["content"]["text"]):
            return
    raise AssertionError(f"the kernel never printed {text!r}")


def _reply(kc, msg_id: str, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        msg = kc.get_shell_msg(timeout=max(0.01, deadline - time.monotonic()))
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg


@pytest.mark.slow
def test_task_interrupted_in_virtual_time_is_retried_and_the_queue_goes_on(tmp_path):
    from capsplugins import task_wasm

    with Host(tmp_path, clock="virtual", timeout_ms=20_000) as h:
        plugin = h.load(task_wasm(), name="worker", permissions="auto")
        task_id = plugin.tasks.enqueue("q", b"spin")
        interrupt_after(0.5)
        with pytest.raises(RunInterrupted):
            h.run_for(10)
        h.run_until_idle()
        task = plugin.tasks.get(task_id)
        finished = [e for e in h.events if e.kind == events.TASK_ATTEMPT_FINISHED]
    assert (task["status"], task["attempt"], task["message"]) == ("completed", 2, "done")
    assert [e["outcome"] for e in finished] == ["retry", "completed"]
    assert finished[0]["error"].startswith("plugin call failed: interrupted by a kernel interrupt")


def test_a_second_interrupt_stops_an_event_stuck_in_python_code(tmp_path):
    with Host(tmp_path, clock="virtual") as h:
        h.clock.call_later(1, lambda: time.sleep(30))
        interrupt_after(0.2)
        interrupt_after(0.4)
        started = time.perf_counter()
        with pytest.raises(RunInterrupted) as e:
            h.run_for(10)
    assert time.perf_counter() - started < 1.0
    assert str(e.value) == ("host.run_for interrupted twice (KeyboardInterrupt): stopped inside "
                            "an event, which may have been left half done")


# -- calls cancelled by a service (runtime/interrupt.cancel_thread: TaskQueue's close) -------

def _on_cancellable_thread(fn):
    """Run ``fn`` on a cancellable thread; (thread, outcome dict filled when it ends)."""
    from nd_notebook.runtime import interrupt

    outcome: dict = {}

    def run():
        with interrupt.cancellable_thread():
            try:
                outcome["result"] = fn()
            except Exception as e:  # noqa: BLE001 - the test reads it
                outcome["error"] = e
            outcome["ended"] = time.monotonic()

    thread = threading.Thread(target=run, daemon=True)
    return thread, outcome


def test_a_call_is_cancelled_only_once_under_way_then_dies(plugin, monkeypatch):
    """libextism loses a cancel its timer handles while the call is starting (the call then
    runs past its own timeout): cancel_thread leaves a call alone for SETTLE_SECONDS."""
    from nd_notebook.runtime import interrupt

    monkeypatch.setattr(interrupt, "SETTLE_SECONDS", 0.5)
    thread, outcome = _on_cancellable_thread(lambda: plugin.call("nd_spin", b"", raw=True))
    thread.start()
    time.sleep(0.1)
    interrupt.cancel_thread(thread)  # under way for ~0.1 s: not cancelled yet
    thread.join(0.3)
    assert thread.is_alive()
    time.sleep(0.2)
    cancelled = time.monotonic()
    interrupt.cancel_thread(thread)  # now it is
    thread.join(5)
    assert not thread.is_alive()
    assert str(outcome["error"]) == "plugin call failed: timeout"
    assert outcome["ended"] - cancelled < 2


def test_a_call_made_after_its_thread_was_cancelled_never_starts(host):
    from watplugins import host_call_plugin

    from nd_notebook.runtime import interrupt

    plugin = host.load(host_call_plugin("kvstore_set"), name="kv", permissions="auto")
    gate = threading.Event()

    def call():
        gate.wait(5)
        return plugin.call("call_kvstore_set", {"key": "k", "value": "dg=="})

    thread, outcome = _on_cancellable_thread(call)
    thread.start()
    interrupt.cancel_thread(thread)
    gate.set()
    thread.join(5)
    assert str(outcome["error"]) == interrupt.CANCELLED_BEFORE_START
    assert plugin.kvstore.list() == []  # the guest never ran: nothing was stored
