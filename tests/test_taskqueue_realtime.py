"""TaskQueueService in real time: worker threads, wake-ups, backoff and Close on a wall clock.

Bounds are generous on purpose (only "at least" spacings and "eventually" completions).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time

import pytest
from watplugins import _ENV, _HELPERS, wat

from nd_notebook import Host, events
from nd_notebook.clock import RealClock
from nd_notebook.context import PluginContext, PluginSettings
from nd_notebook.errors import PluginCallFailedError
from nd_notebook.events import EventLog
from nd_notebook.services.taskqueue import POLL_INTERVAL, SHUTDOWN_TIMEOUT, TaskQueueService

pytestmark = pytest.mark.timeout(120)


class RealEnv:
    def __init__(self, tmp_path, handler, max_concurrency=4):
        self.clock = RealClock()
        self.events = EventLog(self.clock.now)
        self.handler = handler
        self.starts: list[tuple[float, dict]] = []
        self.lock = threading.Lock()
        self.ctx = PluginContext(
            plugin_id="rt", data_dir=tmp_path, permissions={
                "taskqueue": {"maxConcurrency": max_concurrency}},
            config={}, settings=PluginSettings(), clock=self.clock, events=self.events,
            call_export=self._call, has_export=lambda name: True)
        self.tq = TaskQueueService(self.ctx)

    def _call(self, export, request):
        with self.lock:
            self.starts.append((time.monotonic(), dict(request)))
        return self.handler(request)

    def close(self):
        self.tq.close()
        self.clock.close()


@pytest.fixture
def make(tmp_path):
    envs = []

    def factory(handler=lambda request: "ok", **kw):
        env = RealEnv(tmp_path, handler, **kw)
        envs.append(env)
        return env

    yield factory
    for env in envs:
        env.close()


def test_enqueued_tasks_complete_on_worker_threads(make):
    threads = set()

    def handler(request):
        threads.add(threading.current_thread().name)
        return "ran"

    env = make(handler)
    env.tq.create_queue("q", {"concurrency": 2})
    ids = [env.tq.enqueue("q", b"") for _ in range(10)]
    assert env.clock.run_until_idle(max_seconds=60) is True
    assert {env.tq.get(i)["status"] for i in ids} == {"completed"}
    assert threads and all(name.startswith("nd-taskqueue rt q#") for name in threads)


def test_concurrency_3_runs_three_attempts_at_once_and_never_more(make):
    running, peak = [0], [0]
    lock = threading.Lock()

    def handler(request):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.2)
        with lock:
            running[0] -= 1
        return "ok"

    env = make(handler)
    env.tq.create_queue("q", {"concurrency": 3})
    for _ in range(9):
        env.tq.enqueue("q", b"")
    assert env.clock.run_until_idle(max_seconds=60)
    assert peak[0] == 3


def test_retry_waits_at_least_the_backoff(make):
    def handler(request):
        if request["attempt"] == 1:
            raise PluginCallFailedError("plugin call failed: first try")
        return "ok"

    env = make(handler)
    env.tq.create_queue("q", {"maxRetries": 1, "backoffMs": 300})
    task_id = env.tq.enqueue("q", b"")
    assert env.clock.run_until_idle(max_seconds=60)
    (first, _), (second, _) = env.starts
    assert second - first >= 0.29
    assert env.tq.get(task_id) == {"status": "completed", "message": "ok", "attempt": 2}


def test_rate_limit_spaces_starts_by_at_least_delay_ms(make):
    env = make()
    env.tq.create_queue("q", {"concurrency": 3, "delayMs": 150})
    for _ in range(4):
        env.tq.enqueue("q", b"")
    assert env.clock.run_until_idle(max_seconds=60)
    starts = [t for t, _ in env.starts]
    # The limiter spaces the token reservations: the n-th start is no earlier than n * 150 ms
    # after the first (a start delayed by a busy machine may come closer to the next one).
    assert len(starts) == 4
    assert all(t - starts[0] >= n * 0.15 - 0.01 for n, t in enumerate(starts))


def test_a_crashing_callback_fails_the_attempt_but_not_the_worker(make):
    def handler(request):
        if request["payload"] == "":
            raise RuntimeError("bug in the runtime")
        return "ok"

    env = make(handler)
    env.tq.create_queue("q", {})
    bad, good = env.tq.enqueue("q", b""), env.tq.enqueue("q", b"x")
    assert env.clock.run_until_idle(max_seconds=60)
    assert (env.tq.get(bad)["status"], env.tq.get(good)["status"]) == ("failed", "completed")
    assert env.tq.get(bad)["message"] == "bug in the runtime"


def test_close_during_a_call_reverts_the_task_after_the_call_returns(make):
    started = threading.Event()

    def handler(request):
        started.set()
        time.sleep(0.5)
        return "too late"

    env = make(handler)
    env.tq.create_queue("q", {})
    task_id = env.tq.enqueue("q", b"")
    assert started.wait(30)
    t = time.monotonic()
    env.tq.close()
    assert time.monotonic() - t < SHUTDOWN_TIMEOUT  # it waited for the worker, not the timeout
    reopened = TaskQueueService(env.ctx)
    try:
        assert reopened.get(task_id) == {"status": "pending", "message": "", "attempt": 0}
    finally:
        reopened.close()


def test_close_stops_every_worker_thread(make):
    env = make()
    env.tq.create_queue("q", {"concurrency": 4})
    env.tq.close()
    assert not any(t.is_alive() for t in env.tq._threads)


def test_enqueue_wakes_a_worker_well_before_the_5_s_poll(make):
    env = make()
    env.tq.create_queue("q", {})
    time.sleep(0.2)
    t = time.monotonic()
    task_id = env.tq.enqueue("q", b"")
    assert env.clock.run_until_idle(max_seconds=30)
    assert env.tq.get(task_id)["status"] == "completed"
    assert time.monotonic() - t < POLL_INTERVAL


def _switches(threads) -> dict[str, int]:
    """Each thread's voluntary context switches so far (Linux: /proc/self/task/*/status)."""
    counts = {}
    for thread in threads:
        with open(f"/proc/self/task/{thread.native_id}/status") as f:
            line = next(x for x in f if x.startswith("voluntary_ctxt_switches:"))
        counts[thread.name] = int(line.split()[1])
    return counts


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="needs Linux's /proc")
def test_a_signal_wakes_one_idle_worker_not_all(make):
    # Navidrome's capacity-1 channel hands a signal to one of the workers waiting on it; the
    # other three sleep on (each wakes only for its 5 s tick).
    env = make()
    env.tq.create_queue("q", {"concurrency": 4})
    workers = [t for t in threading.enumerate() if t.name.startswith("nd-taskqueue rt q#")]
    assert len(workers) == 4
    deadline = time.monotonic() + 10
    while len(env.tq._queues["q"].waiters) < 4:  # each appends itself, then sleeps
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.05)  # asleep by now
    before = _switches(workers)
    env.tq.enqueue("q", b"")
    while env.tq.has_pending_work():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.05)
    after = _switches(workers)
    woken = [name for name in before if after[name] != before[name]]
    assert len(woken) == 1, (before, after)


SPINNING_WORKER = """(module
""" + _ENV + """
  (import "extism:host/user" "task_createqueue" (func $createqueue (param i64) (result i64)))
  (import "extism:host/user" "task_enqueue" (func $enqueue (param i64) (result i64)))
""" + _HELPERS + """
  (func (export "call_task_createqueue") (result i32)
    (local $r i64)
    (local.set $r (call $createqueue (call $input_block)))
    (call $output_set (local.get $r) (call $length (local.get $r)))
    (i32.const 0))
  (func (export "call_task_enqueue") (result i32)
    (local $r i64)
    (local.set $r (call $enqueue (call $input_block)))
    (call $output_set (local.get $r) (call $length (local.get $r)))
    (i32.const 0))
  (func (export "nd_task_execute") (result i32) (loop $l (br $l)) (i32.const 0))
)"""


def test_unloading_kills_a_running_task_call_and_reverts_its_attempt(tmp_path):
    # Navidrome's Close cancels the service context: the call dies at once, and the worker
    # whose call returned after the cancellation puts its task back, the attempt not counted.
    with Host(tmp_path / "data", clock="real") as host:
        plugin = host.load(wat(SPINNING_WORKER), name="spin", permissions="auto")
        assert plugin.call("call_task_createqueue", {"name": "q", "config": {}}, raw=True) == b"{}"
        task_id = json.loads(plugin.call("call_task_enqueue", {"queueName": "q", "payload": ""},
                                         raw=True))["result"]
        tasks = plugin.services["Task"]
        deadline = time.monotonic() + 60
        while tasks.get(task_id)["status"] != "running" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert tasks.get(task_id) == {"status": "running", "message": "", "attempt": 1}
        host.unload("spin")
        db = sqlite3.connect(tmp_path / "data" / "plugins" / "spin" / "taskqueue.db")
        assert db.execute("SELECT status, attempt, message FROM tasks").fetchall() == \
            [("pending", 0, "")]
        db.close()
        reverted = host.events.select(events.TASK_REVERTED, "spin")
        assert [(e["task_id"], e["reason"]) for e in reverted] == [(task_id, "interrupted")]
        logs = [e["message"] for e in host.events.select(events.SERVICE_LOG, "spin")]
        assert "TaskQueue shutdown timed out" not in logs


def test_a_call_refused_because_the_plugin_is_unloading_reverts_its_task(tmp_path):
    # Host.unload refuses the plugin's calls before it closes the services: a worker whose
    # call is refused in between was interrupted too (its task goes back, attempt uncounted).
    with Host(tmp_path / "data", clock="real") as host:
        plugin = host.load(wat(SPINNING_WORKER), name="spin", permissions="auto")
        tasks = plugin.services["Task"]
        refused_now = threading.Event()
        original_call = tasks.ctx.call_export

        def late_call(export, request):  # the worker reaches its call once the unload began
            refused_now.wait(10)
            return original_call(export, request)

        tasks.ctx.call_export = late_call
        original_close = plugin.instances.close

        def close_slowly():  # between "calls refused" and the services' close
            refused_now.set()
            time.sleep(0.3)
            original_close()

        plugin.instances.close = close_slowly
        assert plugin.call("call_task_createqueue", {"name": "q", "config": {}}, raw=True) == b"{}"
        task_id = json.loads(plugin.call("call_task_enqueue", {"queueName": "q", "payload": ""},
                                         raw=True))["result"]
        deadline = time.monotonic() + 60
        while tasks.get(task_id)["status"] != "running" and time.monotonic() < deadline:
            time.sleep(0.02)
        host.unload("spin")
        db = sqlite3.connect(tmp_path / "data" / "plugins" / "spin" / "taskqueue.db")
        assert db.execute("SELECT status, attempt, message FROM tasks").fetchall() == \
            [("pending", 0, "")]
        db.close()


def test_unloading_as_a_worker_is_about_to_call_still_kills_that_call(tmp_path, monkeypatch):
    # libextism drops a cancel that reaches an instance before its call has started (here: the
    # worker's instance is ready and registered for cancelling, the export not called yet):
    # the unload cancels the call again until it ends, so the task still goes back at once.
    from nd_notebook.runtime import native

    about_to_call = threading.Event()
    call = native.call

    def late_call(ptr, export, data, limit):
        if export == b"nd_task_execute":
            about_to_call.set()
            time.sleep(0.3)  # the unload cancels meanwhile
        return call(ptr, export, data, limit)

    monkeypatch.setattr(native, "call", late_call)
    with Host(tmp_path / "data", clock="real") as host:
        plugin = host.load(wat(SPINNING_WORKER), name="spin", permissions="auto")
        plugin.call("call_task_createqueue", {"name": "q", "config": {}}, raw=True)
        plugin.call("call_task_enqueue", {"queueName": "q", "payload": ""}, raw=True)
        assert about_to_call.wait(30)
        host.unload("spin")
        logs = [e["message"] for e in host.events.select(events.SERVICE_LOG, "spin")]
        assert "TaskQueue shutdown timed out" not in logs
        db = sqlite3.connect(tmp_path / "data" / "plugins" / "spin" / "taskqueue.db")
        assert db.execute("SELECT status, attempt FROM tasks").fetchall() == [("pending", 0)]
        db.close()
