"""TaskQueue and Scheduler driven by a real Go plugin (real Go compiler, real Extism, real SQLite).

The plugin creates its queues and an hourly cron job from ``nd_on_init``; its task worker fails
on early attempts when asked to; its scheduler callback enqueues work. Virtual time checks that
every attempt, backoff and firing lands where Navidrome would put it; real time checks the same
plugin at wall speed; a SIGKILLed host checks crash recovery.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from nd_notebook import Host, build, events

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

GO_SOURCE = r'''
package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/navidrome/navidrome/plugins/pdk/go/host"
	"github.com/navidrome/navidrome/plugins/pdk/go/lifecycle"
	"github.com/navidrome/navidrome/plugins/pdk/go/scheduler"
	"github.com/navidrome/navidrome/plugins/pdk/go/taskworker"
)

type worker struct{}

func init() {
	lifecycle.Register(worker{})
	taskworker.Register(worker{})
	scheduler.Register(worker{})
}

func main() {}

// OnInit creates the queues (they live in memory: every load) and the hourly job.
func (worker) OnInit() error {
	queues := []struct {
		name string
		cfg  host.QueueConfig
	}{
		{"sync", host.QueueConfig{Concurrency: 2, MaxRetries: 3, BackoffMs: 60_000}},
		{"mail", host.QueueConfig{Concurrency: 1, DelayMs: 30_000}},
		{"quick", host.QueueConfig{Concurrency: 1, MaxRetries: 2, BackoffMs: 100}},
	}
	for _, q := range queues {
		if err := host.TaskCreateQueue(q.name, q.cfg); err != nil {
			return err
		}
	}
	_, err := host.SchedulerScheduleRecurring("0 * * * *", "hourly", "hourly")
	return err
}

// OnTaskExecute: "fail:N" fails every attempt below N, "sleep:MS" works for MS milliseconds,
// "enqueue:Q" adds a task to queue Q (enqueue-nil: with a nil payload), "get:ID", "cancel:ID"
// and "clear:Q" call the other task host functions.
func (worker) OnTaskExecute(req taskworker.TaskExecuteRequest) (string, error) {
	verb, arg, _ := strings.Cut(string(req.Payload), ":")
	switch verb {
	case "fail":
		n, _ := strconv.Atoi(arg)
		if int(req.Attempt) < n {
			return "", fmt.Errorf("attempt %d failed as instructed", req.Attempt)
		}
	case "sleep":
		ms, _ := strconv.Atoi(arg)
		time.Sleep(time.Duration(ms) * time.Millisecond)
	case "enqueue":
		if _, err := host.TaskEnqueue(arg, []byte("from "+req.TaskID)); err != nil {
			return "", err
		}
	case "enqueue-nil":
		if _, err := host.TaskEnqueue(arg, nil); err != nil {
			return "", err
		}
	case "get":
		info, err := host.TaskGet(arg)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s|%s|%d", info.Status, info.Message, info.Attempt), nil
	case "cancel":
		if err := host.TaskCancel(arg); err != nil {
			return "", err
		}
	case "clear":
		n, err := host.TaskClearQueue(arg)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("cleared %d", n), nil
	}
	return fmt.Sprintf("done %s at attempt %d", req.Payload, req.Attempt), nil
}

// OnCallback: the hourly job enqueues a sync task that fails twice; "queue:NAME" creates one
// more queue; "enqueue:Q" adds a task to queue Q.
func (worker) OnCallback(req scheduler.SchedulerCallbackRequest) error {
	verb, arg, _ := strings.Cut(req.Payload, ":")
	switch verb {
	case "hourly":
		_, err := host.TaskEnqueue("sync", []byte("fail:3"))
		return err
	case "queue":
		return host.TaskCreateQueue(arg, host.QueueConfig{})
	case "enqueue":
		_, err := host.TaskEnqueue(arg, []byte("scheduled"))
		return err
	}
	return nil
}
'''

MANIFEST = {"name": "taskdemo", "author": "nd-notebook tests", "version": "1.0.0",
            "permissions": {"taskqueue": {"maxConcurrency": 4}, "scheduler": {}}}
HOUR = 3600


@pytest.fixture(scope="module")
def wasm() -> bytes:
    return build(GO_SOURCE)


@pytest.fixture
def vhost(tmp_path):
    with Host(tmp_path / "navidrome", clock="virtual") as host:
        host.clock.call_duration = 0.5  # every plugin call takes half a virtual second
        yield host


@pytest.fixture
def vplugin(vhost, wasm):
    return vhost.load(wasm, manifest=MANIFEST, name="taskdemo")


def starts_by_task(host) -> dict[str, list[float]]:
    t0 = host.clock.DEFAULT_START
    out: dict[str, list[float]] = {}
    for e in host.events.select(events.TASK_ATTEMPT_STARTED):
        out.setdefault(e["task_id"], []).append(round(e.time - t0, 6))
    return out


# -- virtual time -----------------------------------------------------------------------------

def test_on_init_creates_the_queues_and_the_cron_job(vplugin):
    assert {q["name"]: (q["concurrency"], q["max_retries"], q["backoff_ms"], q["delay_ms"])
            for q in vplugin.tasks.list_queues()} == {
        "sync": (2, 3, 60_000, 0), "mail": (1, 0, 1000, 30_000), "quick": (1, 2, 100, 0)}
    assert [(s["schedule_id"], s["cron"]) for s in vplugin.scheduler.schedules()] == \
        [("hourly", "0 * * * *")]


def test_six_virtual_hours_put_every_firing_attempt_and_backoff_in_place(vhost, vplugin):
    vhost.run_for(hours=6)
    t0 = vhost.clock.DEFAULT_START
    firings = [round(e.time - t0) for e in vhost.events.select(events.SCHEDULE_FIRED)]
    assert firings == [1 * HOUR, 2 * HOUR, 3 * HOUR, 4 * HOUR, 5 * HOUR, 6 * HOUR]
    starts = sorted(starts_by_task(vhost).values())
    # The callback enqueues at the tick; attempt 1 starts right away and fails 0.5 s later,
    # the retry waits 60 s, fails 0.5 s later, waits 120 s, then completes. The 6th task has
    # just started when the six hours are up.
    expected = [[h, h + 60.5, h + 181.0] for h in range(HOUR, 6 * HOUR, HOUR)]
    assert starts == [*expected, [6 * HOUR]]


def test_hourly_tasks_end_completed_with_the_plugin_message(vhost, vplugin):
    vhost.run_for(hours=1, minutes=30)
    (task,) = vplugin.tasks.tasks()
    assert (task["status"], task["attempt"], task["message"]) == \
        ("completed", 3, "done fail:3 at attempt 3")


def test_failed_attempts_carry_the_plugin_error_text(vhost, vplugin):
    vhost.run_for(hours=1, minutes=5)
    messages = [e["message"] for e in vhost.events.select(events.TASK_ATTEMPT_FINISHED)
                if e["outcome"] == "retry"]
    assert messages == ["plugin call failed: attempt 1 failed as instructed",
                        "plugin call failed: attempt 2 failed as instructed"]


def test_retries_exhausted_fail_the_task(vhost, vplugin):
    task_id = vplugin.tasks.enqueue("quick", b"fail:9")
    vhost.run_until_idle(max_seconds=60)
    assert vplugin.tasks.get(task_id) == {
        "status": "failed", "attempt": 3,
        "message": "plugin call failed: attempt 3 failed as instructed"}


def test_rate_limited_queue_dispatches_every_30_seconds(vhost, vplugin):
    ids = [vplugin.tasks.enqueue("mail", b"m") for _ in range(3)]
    vhost.run_until_idle(max_seconds=600)
    assert [starts_by_task(vhost)[i] for i in ids] == [[0], [30], [60]]


def test_a_task_enqueued_by_a_task_runs_on_its_queue(vhost, vplugin):
    vplugin.tasks.enqueue("quick", b"enqueue:mail")
    vhost.run_until_idle(max_seconds=600)
    mail = vplugin.tasks.tasks(queue_name="mail")
    assert [(t["status"], t["payload"][:5]) for t in mail] == [("completed", b"from ")]


def run_task(vhost, vplugin, payload: bytes) -> dict:
    task_id = vplugin.tasks.enqueue("quick", payload)
    vhost.run_until_idle(max_seconds=60)
    return vplugin.tasks.get(task_id)


def test_task_get_from_the_plugin_sees_status_message_and_attempt(vhost, vplugin):
    done = vplugin.tasks.enqueue("quick", b"fail:2")
    vhost.run_until_idle(max_seconds=60)
    assert run_task(vhost, vplugin, b"get:" + done.encode())["message"] == \
        "completed|done fail:2 at attempt 2|2"


def test_task_get_of_a_fresh_task_keeps_the_zero_fields(vhost, vplugin):
    fresh = vplugin.tasks.enqueue("sync", b"x")
    vplugin.tasks.clear_queue("sync")
    assert run_task(vhost, vplugin, b"get:" + fresh.encode())["message"] == "cancelled||0"


def test_task_get_of_an_unknown_id_fails_in_the_plugin(vhost, vplugin):
    assert run_task(vhost, vplugin, b"get:nope")["message"] == \
        'plugin call failed: task "nope" not found'


def test_task_cancel_from_the_plugin_of_a_finished_task_fails(vhost, vplugin):
    done = vplugin.tasks.enqueue("quick", b"")
    vhost.run_until_idle(max_seconds=60)
    assert run_task(vhost, vplugin, b"cancel:" + done.encode())["message"] == \
        f'plugin call failed: task "{done}" cannot be cancelled (status: completed)'


def test_task_clear_queue_from_the_plugin_returns_the_count(vhost, vplugin):
    vhost.run_for(0)  # every worker has done its first drain and waits
    clearer = vplugin.tasks.enqueue("quick", b"clear:sync")  # its worker is woken first
    vplugin.tasks.enqueue("sync", b"a")
    vplugin.tasks.enqueue("sync", b"b")
    vhost.run_until_idle(max_seconds=60)
    assert vplugin.tasks.get(clearer)["message"] == "cleared 2"


def test_task_clear_queue_from_the_plugin_of_an_empty_queue_returns_0(vhost, vplugin):
    assert run_task(vhost, vplugin, b"clear:mail")["message"] == "cleared 0"


def test_task_clear_queue_from_the_plugin_of_an_unknown_queue_fails(vhost, vplugin):
    assert run_task(vhost, vplugin, b"clear:nope")["message"] == \
        'plugin call failed: queue "nope" does not exist'


def test_enqueue_of_a_nil_payload_from_the_plugin_fails_on_not_null(vhost, vplugin):
    assert run_task(vhost, vplugin, b"enqueue-nil:mail")["message"] == \
        "plugin call failed: enqueuing task: NOT NULL constraint failed: tasks.payload"


def test_budget_error_reaches_the_plugin_with_navidrome_text(vhost, vplugin):
    vplugin.scheduler.schedule_one_time(0, "queue:extra", "more")
    vhost.run_until_idle(max_seconds=60)
    (done,) = vhost.events.select(events.SCHEDULE_CALLBACK_FINISHED)
    assert done["error"] == "plugin call failed: concurrency budget exhausted (4/4 allocated)"


def test_unload_cancels_schedules_and_stops_the_queues(vhost, vplugin):
    vplugin.tasks.enqueue("sync", b"fail:3")
    vhost.run_for(10)
    vhost.unload("taskdemo")
    assert vhost.clock.pending() == []
    vhost.run_for(hours=3)
    assert vhost.events.select(events.SCHEDULE_FIRED) == []


def test_reload_recovers_and_finishes_the_pending_retry(vhost, vplugin, wasm):
    task_id = vplugin.tasks.enqueue("sync", b"fail:3")
    vhost.run_for(10)  # attempt 1 failed; the retry waits 60 s
    vhost.unload("taskdemo")
    again = vhost.load(wasm, manifest=MANIFEST, name="taskdemo")
    vhost.run_for(minutes=10)
    assert again.tasks.get(task_id) == {"status": "completed", "attempt": 3,
                                        "message": "done fail:3 at attempt 3"}


def test_two_runs_of_the_same_plugin_give_the_same_event_log(tmp_path, wasm):
    def run(folder):
        with Host(folder, clock="virtual") as host:
            host.clock.call_duration = 0.25
            plugin = host.load(wasm, manifest=MANIFEST, name="taskdemo")
            for payload in (b"fail:2", b"sleep:1", b"enqueue:mail", b"fail:9"):
                plugin.tasks.enqueue("quick", payload)
            host.run_for(hours=3)
            return [(e.seq, e.time, e.kind, {k: v for k, v in e.data.items()
                                             if "duration" not in k and "seconds" not in k})
                    for e in host.events]

    first, second = run(tmp_path / "a"), run(tmp_path / "b")
    assert first == second and len(first) > 50


# -- real time -------------------------------------------------------------------------------

@pytest.fixture
def rhost(tmp_path):
    with Host(tmp_path / "navidrome", clock="real") as host:
        yield host


def test_real_time_retries_then_completes(rhost, wasm):
    plugin = rhost.load(wasm, manifest=MANIFEST, name="taskdemo")
    task_id = plugin.tasks.enqueue("quick", b"fail:3")
    assert rhost.run_until_idle(max_seconds=120)
    assert plugin.tasks.get(task_id) == {"status": "completed", "attempt": 3,
                                         "message": "done fail:3 at attempt 3"}
    starts = [e.time for e in rhost.events.select(events.TASK_ATTEMPT_STARTED)]
    assert starts[1] - starts[0] >= 0.1 and starts[2] - starts[1] >= 0.2


def test_real_time_one_time_schedule_calls_the_plugin(rhost, wasm):
    plugin = rhost.load(wasm, manifest=MANIFEST, name="taskdemo")
    plugin.scheduler.schedule_one_time(1, "enqueue:quick", "soon")
    assert rhost.run_until_idle(max_seconds=120)
    assert [(t["status"], t["payload"]) for t in plugin.tasks.tasks()] == \
        [("completed", b"scheduled")]


# -- crash recovery ----------------------------------------------------------------------------

CHILD = textwrap.dedent('''
    import json, sys, time
    from nd_notebook import Host
    data_dir, wasm_path, manifest, n = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
    host = Host(data_dir, clock="real")
    plugin = host.load(open(wasm_path, "rb").read(), manifest=manifest, name="taskdemo")
    ids = [plugin.tasks.enqueue("quick", b"sleep:150") for _ in range(n)]
    print(json.dumps(ids), flush=True)
    time.sleep(600)
''')


def test_sigkilled_host_loses_no_task_and_reruns_none_that_completed(tmp_path, wasm):
    data_dir = tmp_path / "navidrome"
    wasm_path = tmp_path / "taskdemo.wasm"
    wasm_path.write_bytes(wasm)
    db_path = data_dir / "plugins" / "taskdemo" / "taskqueue.db"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(data_dir), str(wasm_path), json.dumps(MANIFEST), "12"],
        stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        ids = json.loads(child.stdout.readline())
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # kill it once a few tasks are done, mid-attempt
            statuses = _statuses(db_path)
            if list(statuses.values()).count("completed") >= 3 and "running" in statuses.values():
                break
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
    before = _statuses(db_path)
    assert "running" in before.values() and "completed" in before.values()
    attempts_before = _attempts(db_path)

    with Host(data_dir, clock="real") as host:
        plugin = host.load(wasm, manifest=MANIFEST, name="taskdemo")  # CreateQueue recovers
        assert host.run_until_idle(max_seconds=120)
        rerun = [(e["task_id"], e["attempt"])
                 for e in host.events.select(events.TASK_ATTEMPT_STARTED)]
        after = {i: plugin.tasks.get(i)["status"] for i in ids}

    assert after == dict.fromkeys(ids, "completed")  # no task lost
    assert {i for i, _ in rerun} == {i for i in ids if before[i] != "completed"}
    assert all(attempt == attempts_before[i] + 1 for i, attempt in rerun)


def _statuses(db_path) -> dict[str, str]:
    if not db_path.exists():
        return {}
    with sqlite3.connect(db_path, timeout=5) as db:
        try:
            return dict(db.execute("SELECT id, status FROM tasks"))
        except sqlite3.OperationalError:
            return {}


def _attempts(db_path) -> dict[str, int]:
    with sqlite3.connect(db_path, timeout=5) as db:
        return dict(db.execute("SELECT id, attempt FROM tasks"))
