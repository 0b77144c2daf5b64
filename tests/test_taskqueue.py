"""TaskQueueService: every rule of spec section 4, on a real SQLite file and a virtual clock.

The plugin is a Python ``call_export`` here (the real-plugin tests are in
test_taskqueue_plugin.py); each test pins one rule with Navidrome's exact text or number.
"""

from __future__ import annotations

import base64
import re
import sqlite3

import pytest

from nd_notebook import events
from nd_notebook.clock import VirtualClock
from nd_notebook.context import PluginContext, PluginSettings
from nd_notebook.errors import PluginCallFailedError, ServiceError
from nd_notebook.events import EventLog
from nd_notebook.services.taskqueue import TaskQueueService, backoff_ms

T0 = VirtualClock.DEFAULT_START
T0_MS = int(T0 * 1000)
PLUGIN = "tqplugin"


class Env:
    """A plugin context over ``tmp_path`` with a virtual clock and a scripted plugin."""

    def __init__(self, tmp_path, *, max_concurrency=None, duration=0.0, seed=0, handler=None):
        self.clock = VirtualClock(call_duration=duration, seed=seed)
        self.events = EventLog(self.clock.now)
        self.calls: list[tuple[float, dict]] = []
        self.handler = handler or (lambda request: "done")
        options = {} if max_concurrency is None else {"maxConcurrency": max_concurrency}
        self.data_dir = tmp_path / "plugins" / PLUGIN
        self.ctx = PluginContext(
            plugin_id=PLUGIN, data_dir=self.data_dir, permissions={"taskqueue": options},
            config={}, settings=PluginSettings(), clock=self.clock, events=self.events,
            call_export=self._call, has_export=lambda name: True)
        self.services: list[TaskQueueService] = []

    def _call(self, export, request):
        assert export == "nd_task_execute"
        self.calls.append((round(self.clock.now() - T0, 6), dict(request)))
        return self.handler(request)

    def service(self) -> TaskQueueService:
        svc = TaskQueueService(self.ctx)
        self.services.append(svc)
        return svc

    def starts(self, task_id=None) -> list[float]:
        return [t for t, r in self.calls if task_id is None or r["taskId"] == task_id]

    def kinds(self, kind) -> list[events.Event]:
        return self.events.select(kind)

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.data_dir / "taskqueue.db")

    def close(self):
        for svc in self.services:
            svc.close()


@pytest.fixture
def env(tmp_path):
    e = Env(tmp_path, max_concurrency=8)
    yield e
    e.close()


@pytest.fixture
def tq(env):
    return env.service()


def fail(text="task failed as instructed"):
    raise PluginCallFailedError(f"plugin call failed: {text}")


def fail_until(n):
    """A plugin failing every attempt before attempt ``n``."""
    def handler(request):
        if request["attempt"] < n:
            fail()
        return f"succeeded at attempt {request['attempt']}"
    return handler


def error_of(fn, *args, **kwargs) -> str:
    with pytest.raises(ServiceError) as err:
        fn(*args, **kwargs)
    return str(err.value)


def rel(t_ms: int) -> float:
    return (t_ms - T0_MS) / 1000


# -- storage ------------------------------------------------------------------------------

def test_database_is_taskqueue_db_in_the_plugin_data_dir_at_user_version_3(env, tq):
    assert (env.data_dir / "taskqueue.db").is_file()
    with env.db() as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 3


def test_database_uses_wal_journal(env, tq):
    with env.db() as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_schema_matches_navidrome(env, tq):
    with env.db() as db:
        queues = {r[1]: (r[2], r[3], r[4]) for r in db.execute("PRAGMA table_info(queues)")}
        tasks = {r[1]: (r[2], r[3], r[4]) for r in db.execute("PRAGMA table_info(tasks)")}
        index = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='index' "
                                          "AND tbl_name='tasks' AND sql IS NOT NULL")]
        columns = [r[2] for r in db.execute("PRAGMA index_info(idx_tasks_dequeue)")]
    assert queues == {"name": ("TEXT", 0, None), "concurrency": ("INTEGER", 1, "1"),
                      "max_retries": ("INTEGER", 1, "0"), "backoff_ms": ("INTEGER", 1, "1000"),
                      "delay_ms": ("INTEGER", 1, "0"), "retention_ms": ("INTEGER", 1, "3600000")}
    assert tasks == {"id": ("TEXT", 0, None), "queue_name": ("TEXT", 1, None),
                     "payload": ("BLOB", 1, None), "status": ("TEXT", 1, "'pending'"),
                     "attempt": ("INTEGER", 1, "0"), "max_retries": ("INTEGER", 1, None),
                     "next_run_at": ("INTEGER", 1, None), "created_at": ("INTEGER", 1, None),
                     "updated_at": ("INTEGER", 1, None), "message": ("TEXT", 1, "''")}
    assert index == ["idx_tasks_dequeue"]
    assert columns == ["queue_name", "status", "next_run_at"]


def test_tasks_survive_a_new_service_instance(env):
    first = env.service()
    first.create_queue("q", {})
    task_id = first.enqueue("q", b"kept")
    first.close()
    second = env.service()
    assert second.get(task_id) == {"status": "pending", "message": "", "attempt": 0}


# -- CreateQueue ---------------------------------------------------------------------------

def test_create_queue_rejects_an_empty_name(tq):
    assert error_of(tq.create_queue, "", {}) == "queue name cannot be empty"


def test_create_queue_rejects_a_name_over_128_bytes(tq):
    assert error_of(tq.create_queue, "q" * 129, {}) == \
        "queue name exceeds maximum length of 128 bytes"


def test_create_queue_accepts_a_name_of_exactly_128_bytes(tq):
    tq.create_queue("q" * 128, {})
    assert [q["name"] for q in tq.list_queues()] == ["q" * 128]


def test_queue_name_limit_counts_bytes_not_characters(tq):
    assert error_of(tq.create_queue, "é" * 65, {}) == \
        "queue name exceeds maximum length of 128 bytes"


def test_zero_config_gets_navidrome_defaults(env, tq):
    tq.create_queue("q", {"concurrency": 0, "maxRetries": 0, "backoffMs": 0, "delayMs": 0,
                          "retentionMs": 0})
    with env.db() as db:
        row = db.execute("SELECT concurrency, max_retries, backoff_ms, delay_ms, retention_ms "
                         "FROM queues WHERE name='q'").fetchone()
    assert row == (1, 0, 1000, 0, 3_600_000)


def test_missing_config_keys_mean_zero(env, tq):
    tq.create_queue("q", {"maxRetries": 2})
    assert tq.list_queues()[0] | {"workers": None} == {
        "name": "q", "concurrency": 1, "max_retries": 2, "backoff_ms": 1000, "delay_ms": 0,
        "retention_ms": 3_600_000, "workers": None}


def test_negative_values_get_defaults_except_max_retries_and_delay(env, tq):
    tq.create_queue("q", {"concurrency": -3, "maxRetries": -1, "backoffMs": -5, "delayMs": -7,
                          "retentionMs": -9})
    with env.db() as db:
        row = db.execute("SELECT concurrency, max_retries, backoff_ms, delay_ms, retention_ms "
                         "FROM queues WHERE name='q'").fetchone()
    assert row == (1, -1, 1000, -7, 3_600_000)


def test_retention_below_one_minute_is_clamped_to_60000(tq):
    tq.create_queue("q", {"retentionMs": 1000})
    assert tq.list_queues()[0]["retention_ms"] == 60_000


def test_retention_above_one_week_is_clamped_to_604800000(tq):
    tq.create_queue("q", {"retentionMs": 10**12})
    assert tq.list_queues()[0]["retention_ms"] == 604_800_000


def test_retention_clamp_is_logged_as_a_warning(env, tq):
    tq.create_queue("q", {"retentionMs": 1000})
    logs = [e for e in env.kinds(events.SERVICE_LOG) if e["level"] == "warn"]
    assert [e["message"] for e in logs] == ["TaskQueue retention clamped to minimum"]


def test_concurrency_budget_exhausted_text(tmp_path):
    e = Env(tmp_path, max_concurrency=2)
    tq = e.service()
    tq.create_queue("a", {"concurrency": 2})
    assert error_of(tq.create_queue, "b", {}) == "concurrency budget exhausted (2/2 allocated)"
    e.close()


def test_max_concurrency_defaults_to_1(tmp_path):
    e = Env(tmp_path, max_concurrency=None)
    tq = e.service()
    tq.create_queue("a", {"concurrency": 5})
    assert tq.list_queues()[0]["concurrency"] == 1
    assert error_of(tq.create_queue, "b", {}) == "concurrency budget exhausted (1/1 allocated)"
    e.close()


def test_concurrency_over_the_remaining_budget_is_clamped(tmp_path):
    e = Env(tmp_path, max_concurrency=3)
    tq = e.service()
    tq.create_queue("a", {"concurrency": 2})
    tq.create_queue("b", {"concurrency": 5})
    assert {q["name"]: q["concurrency"] for q in tq.list_queues()} == {"a": 2, "b": 1}
    e.close()


def test_budget_check_runs_before_the_duplicate_check(tmp_path):
    e = Env(tmp_path, max_concurrency=1)
    tq = e.service()
    tq.create_queue("a", {})
    assert error_of(tq.create_queue, "a", {}) == "concurrency budget exhausted (1/1 allocated)"
    e.close()


def test_creating_an_existing_queue_fails(tq):
    tq.create_queue("a", {})
    assert error_of(tq.create_queue, "a", {}) == 'queue "a" already exists'


def test_create_queue_overwrites_the_stored_config_of_an_earlier_instance(env):
    first = env.service()
    first.create_queue("q", {"maxRetries": 1, "backoffMs": 10})
    first.close()
    second = env.service()
    second.create_queue("q", {"maxRetries": 4})
    with env.db() as db:
        row = db.execute("SELECT max_retries, backoff_ms FROM queues WHERE name='q'").fetchone()
    assert row == (4, 1000)


def test_create_queue_resets_stale_running_tasks_without_decrementing_attempt(env):
    first = env.service()
    first.create_queue("q", {})
    task_id = first.enqueue("q", b"x")
    first.close()
    with env.db() as db:  # what a crash mid-attempt leaves behind
        db.execute("UPDATE tasks SET status='running', attempt=2 WHERE id=?", (task_id,))
    second = env.service()
    assert second.get(task_id)["status"] == "running"
    second.create_queue("q", {})
    assert second.get(task_id) == {"status": "pending", "message": "", "attempt": 2}


def test_recovered_task_runs_again_with_the_next_attempt_number(env):
    first = env.service()
    first.create_queue("q", {"maxRetries": 5})
    task_id = first.enqueue("q", b"x")
    first.close()
    with env.db() as db:
        db.execute("UPDATE tasks SET status='running', attempt=2 WHERE id=?", (task_id,))
    second = env.service()
    second.create_queue("q", {"maxRetries": 5})
    env.clock.run_until_idle()
    assert [r["attempt"] for _, r in env.calls] == [3]


def test_crash_recovery_only_touches_the_created_queue(env):
    first = env.service()
    first.create_queue("a", {})
    first.create_queue("b", {})
    in_a, in_b = first.enqueue("a", b""), first.enqueue("b", b"")
    first.close()
    with env.db() as db:
        db.execute("UPDATE tasks SET status='running'")
    second = env.service()
    second.create_queue("a", {})
    assert second.get(in_a)["status"] == "pending"
    assert second.get(in_b)["status"] == "running"


def test_queues_live_in_memory_so_a_new_instance_must_create_them_again(env):
    first = env.service()
    first.create_queue("q", {})
    first.close()
    second = env.service()
    assert error_of(second.enqueue, "q", b"") == 'queue "q" does not exist'
    assert error_of(second.clear_queue, "q") == 'queue "q" does not exist'


def test_persisted_tasks_wait_until_their_queue_is_created_again(env):
    first = env.service()
    first.create_queue("q", {})
    first.enqueue("q", b"")
    first.close()
    second = env.service()
    env.clock.run_for(3600)
    assert env.calls == []
    second.create_queue("q", {})
    env.clock.run_until_idle()
    assert env.starts() == [3600]


# -- Enqueue -------------------------------------------------------------------------------

def test_enqueue_on_an_unknown_queue_fails(tq):
    assert error_of(tq.enqueue, "nope", b"x") == 'queue "nope" does not exist'


def test_enqueue_checks_the_queue_before_the_payload_size(tq):
    assert error_of(tq.enqueue, "nope", b"x" * (1024 * 1024 + 1)) == \
        'queue "nope" does not exist'


def test_payload_of_exactly_1_mib_is_accepted(tq):
    tq.create_queue("q", {})
    assert tq.get(tq.enqueue("q", b"x" * 1048576))["status"] == "pending"


def test_payload_over_1_mib_is_refused(tq):
    tq.create_queue("q", {})
    assert error_of(tq.enqueue, "q", b"x" * 1048577) == \
        "payload size 1048577 exceeds maximum of 1048576 bytes"


def test_nil_payload_violates_the_not_null_column(tq):
    tq.create_queue("q", {})
    assert error_of(tq.enqueue, "q", None) == \
        "enqueuing task: NOT NULL constraint failed: tasks.payload"


def test_enqueue_returns_a_22_char_base62_id(tq):
    tq.create_queue("q", {})
    assert re.fullmatch(r"[0-9A-Za-z]{22}", tq.enqueue("q", b""))


def test_enqueued_row_is_pending_with_times_now_and_max_retries_copied(env, tq):
    env.clock.run_for(1.234)
    tq.create_queue("q", {"maxRetries": 3})
    task_id = tq.enqueue("q", b"\x00\x01")
    with env.db() as db:
        row = db.execute("SELECT queue_name, payload, status, attempt, max_retries, next_run_at, "
                         "created_at, updated_at, message FROM tasks WHERE id=?",
                         (task_id,)).fetchone()
    now = T0_MS + 1234
    assert row == ("q", b"\x00\x01", "pending", 0, 3, now, now, now, "")


def test_max_retries_is_the_queue_value_at_enqueue_time(env):
    first = env.service()
    first.create_queue("q", {"maxRetries": 1})
    task_id = first.enqueue("q", b"")
    first.close()
    env.handler = lambda request: fail()
    second = env.service()
    second.create_queue("q", {"maxRetries": 5})
    env.clock.run_until_idle()
    assert second.get(task_id)["attempt"] == 2


# -- Get -----------------------------------------------------------------------------------

def test_get_of_an_unknown_task_fails(tq):
    assert error_of(tq.get, "nope") == 'task "nope" not found'


def test_get_of_a_fresh_task(tq):
    tq.create_queue("q", {})
    assert tq.get(tq.enqueue("q", b"")) == {"status": "pending", "message": "", "attempt": 0}


def test_get_works_before_the_queue_is_created_again(env):
    first = env.service()
    first.create_queue("q", {})
    task_id = first.enqueue("q", b"")
    first.close()
    assert env.service().get(task_id)["status"] == "pending"


# -- Cancel --------------------------------------------------------------------------------

def test_cancel_marks_a_pending_task_cancelled(tq):
    tq.create_queue("q", {})
    task_id = tq.enqueue("q", b"")
    tq.cancel(task_id)
    assert tq.get(task_id)["status"] == "cancelled"


def test_cancelled_task_never_runs(env, tq):
    tq.create_queue("q", {})
    tq.cancel(tq.enqueue("q", b""))
    env.clock.run_until_idle()
    assert env.calls == []


def test_cancel_of_an_unknown_task_fails(tq):
    assert error_of(tq.cancel, "nope") == 'task "nope" not found'


def test_cancel_of_a_completed_task_fails_with_its_status(env, tq):
    tq.create_queue("q", {})
    task_id = tq.enqueue("q", b"")
    env.clock.run_until_idle()
    assert error_of(tq.cancel, task_id) == \
        f'task "{task_id}" cannot be cancelled (status: completed)'


def test_cancel_of_a_running_task_fails(tmp_path):
    e = Env(tmp_path, max_concurrency=1, duration=10)
    tq = e.service()
    tq.create_queue("q", {})
    task_id = tq.enqueue("q", b"")
    e.clock.run_for(5)
    assert error_of(tq.cancel, task_id) == \
        f'task "{task_id}" cannot be cancelled (status: running)'
    e.close()


def test_a_task_waiting_for_its_backoff_can_be_cancelled(env, tq):
    env.handler = lambda request: fail()
    tq.create_queue("q", {"maxRetries": 3, "backoffMs": 60_000})
    task_id = tq.enqueue("q", b"")
    env.clock.run_for(1)
    tq.cancel(task_id)
    env.clock.run_for(3600)
    assert (tq.get(task_id), len(env.calls)) == (
        {"status": "cancelled", "message": "", "attempt": 1}, 1)


def test_cancel_does_not_need_the_queue(env):
    first = env.service()
    first.create_queue("q", {})
    task_id = first.enqueue("q", b"")
    first.close()
    second = env.service()
    second.cancel(task_id)
    assert second.get(task_id)["status"] == "cancelled"


# -- ClearQueue ----------------------------------------------------------------------------

def test_clear_queue_of_an_unknown_queue_fails(tq):
    assert error_of(tq.clear_queue, "nope") == 'queue "nope" does not exist'


def test_clear_queue_cancels_pending_tasks_and_returns_the_count(tq):
    tq.create_queue("q", {})
    ids = [tq.enqueue("q", b"") for _ in range(3)]
    assert tq.clear_queue("q") == 3
    assert {tq.get(i)["status"] for i in ids} == {"cancelled"}


def test_clear_queue_keeps_the_rows(env, tq):
    tq.create_queue("q", {})
    tq.enqueue("q", b"")
    tq.clear_queue("q")
    with env.db() as db:
        assert db.execute("SELECT count(*) FROM tasks").fetchone()[0] == 1


def test_clear_queue_leaves_running_tasks_alone(tmp_path):
    e = Env(tmp_path, max_concurrency=1, duration=10)
    tq = e.service()
    tq.create_queue("q", {})
    running, waiting = tq.enqueue("q", b""), tq.enqueue("q", b"")
    e.clock.run_for(1)
    assert tq.clear_queue("q") == 1
    assert (tq.get(running)["status"], tq.get(waiting)["status"]) == ("running", "cancelled")
    e.close()


def test_clear_queue_of_an_empty_queue_returns_0(tq):
    tq.create_queue("q", {})
    assert tq.clear_queue("q") == 0


def test_clear_queue_only_touches_its_queue(tq):
    tq.create_queue("a", {})
    tq.create_queue("b", {})
    other = tq.enqueue("b", b"")
    tq.enqueue("a", b"")
    tq.clear_queue("a")
    assert tq.get(other)["status"] == "pending"


# -- execution -----------------------------------------------------------------------------

def test_nd_task_execute_receives_queue_id_base64_payload_and_attempt(env, tq):
    tq.create_queue("jobs", {})
    task_id = tq.enqueue("jobs", b"\x00hello")
    env.clock.run_until_idle()
    assert env.calls[0][1] == {"queueName": "jobs", "taskId": task_id,
                               "payload": base64.b64encode(b"\x00hello").decode(), "attempt": 1}


def test_empty_payload_is_sent_as_an_empty_base64_string(env, tq):
    tq.create_queue("q", {})
    tq.enqueue("q", b"")
    env.clock.run_until_idle()
    assert env.calls[0][1]["payload"] == ""


def test_success_stores_the_returned_message(env, tq):
    env.handler = lambda request: "completed successfully"
    tq.create_queue("q", {})
    task_id = tq.enqueue("q", b"")
    env.clock.run_until_idle()
    assert tq.get(task_id) == {"status": "completed", "message": "completed successfully",
                               "attempt": 1}


def test_empty_output_completes_with_an_empty_message(env, tq):
    env.handler = lambda request: None
    tq.create_queue("q", {})
    task_id = tq.enqueue("q", b"")
    env.clock.run_until_idle()
    assert tq.get(task_id) == {"status": "completed", "message": "", "attempt": 1}


def test_failure_message_is_the_plugin_error_text(env, tq):
    env.handler = lambda request: fail()
    tq.create_queue("q", {})
    task_id = tq.enqueue("q", b"")
    env.clock.run_until_idle()
    assert tq.get(task_id) == {"status": "failed",
                               "message": "plugin call failed: task failed as instructed",
                               "attempt": 1}


def test_non_string_output_is_a_failed_attempt(env, tq):
    env.handler = lambda request: {"not": "a string"}
    tq.create_queue("q", {})
    task_id = tq.enqueue("q", b"")
    env.clock.run_until_idle()
    assert tq.get(task_id) == {
        "status": "failed", "attempt": 1,
        "message": "json: cannot unmarshal object into Go value of type string"}


def test_max_retries_2_means_3_calls_then_failed(env, tq):
    env.handler = lambda request: fail()
    tq.create_queue("q", {"maxRetries": 2, "backoffMs": 10})
    task_id = tq.enqueue("q", b"")
    env.clock.run_until_idle()
    assert (len(env.calls), tq.get(task_id)["status"], tq.get(task_id)["attempt"]) == \
        (3, "failed", 3)


def test_negative_max_retries_fails_after_one_attempt(env, tq):
    env.handler = lambda request: fail()
    tq.create_queue("q", {"maxRetries": -1})
    task_id = tq.enqueue("q", b"")
    env.clock.run_until_idle()
    assert (len(env.calls), tq.get(task_id)["status"]) == (1, "failed")


def test_a_retry_does_not_write_the_message(env, tq):
    env.handler = lambda request: fail()
    tq.create_queue("q", {"maxRetries": 1, "backoffMs": 60_000})
    task_id = tq.enqueue("q", b"")
    env.clock.run_for(1)
    assert tq.get(task_id) == {"status": "pending", "message": "", "attempt": 1}


def test_success_after_retries_keeps_the_final_message(env, tq):
    env.handler = fail_until(3)
    tq.create_queue("q", {"maxRetries": 5, "backoffMs": 10})
    task_id = tq.enqueue("q", b"")
    env.clock.run_until_idle()
    assert tq.get(task_id) == {"status": "completed", "message": "succeeded at attempt 3",
                               "attempt": 3}


def test_backoff_doubles_from_backoff_ms(env, tq):
    env.handler = lambda request: fail()
    tq.create_queue("q", {"maxRetries": 4, "backoffMs": 1000})
    task_id = tq.enqueue("q", b"")
    env.clock.run_until_idle()
    assert env.starts(task_id) == [0, 1, 3, 7, 15]


def test_backoff_counts_from_the_end_of_the_attempt(tmp_path):
    e = Env(tmp_path, max_concurrency=1, duration=0.5)
    e.handler = lambda request: fail()
    tq = e.service()
    tq.create_queue("q", {"maxRetries": 2, "backoffMs": 1000})
    tq.enqueue("q", b"")
    e.clock.run_until_idle()
    assert e.starts() == [0, 1.5, 4]
    e.close()


def test_backoff_is_capped_at_one_hour(env, tq):
    env.handler = lambda request: fail()
    tq.create_queue("q", {"maxRetries": 3, "backoffMs": 1_000_000})
    task_id = tq.enqueue("q", b"")
    env.clock.run_until_idle()
    assert env.starts(task_id) == [0, 1000, 3000, 6600]


def test_retry_scheduled_event_carries_backoff_and_next_run(env, tq):
    env.handler = lambda request: fail()
    tq.create_queue("q", {"maxRetries": 1, "backoffMs": 2500})
    task_id = tq.enqueue("q", b"")
    env.clock.run_until_idle()
    (retry,) = env.kinds(events.TASK_RETRY_SCHEDULED)
    assert (retry["task_id"], retry["attempt"], retry["backoff_ms"], retry["next_run_at"]) == \
        (task_id, 1, 2500, T0 + 2.5)


@pytest.mark.parametrize(("base", "attempt", "expected"), [
    (1000, 1, 1000), (1000, 2, 2000), (1000, 12, 2_048_000), (1000, 13, 3_600_000),
    (3_600_000, 1, 3_600_000), (3_600_001, 1, 3_600_000), (1000, 64, 3_600_000),
    (1, 63, 3_600_000), (1, 64, 3_600_000), (1, 100, 3_600_000),
])
def test_backoff_formula_with_int64_overflow(base, attempt, expected):
    assert backoff_ms(base, attempt) == expected


# -- workers, wake-ups and the rate limiter -------------------------------------------------

def test_workers_run_concurrency_tasks_at_once(tmp_path):
    e = Env(tmp_path, max_concurrency=3, duration=10)
    tq = e.service()
    tq.create_queue("q", {"concurrency": 3})
    for _ in range(7):
        tq.enqueue("q", b"")
    e.clock.run_until_idle()
    assert e.starts() == [0, 0, 0, 10, 10, 10, 20]
    e.close()


def test_one_worker_runs_tasks_one_after_the_other(tmp_path):
    e = Env(tmp_path, max_concurrency=1, duration=2)
    tq = e.service()
    tq.create_queue("q", {})
    for _ in range(3):
        tq.enqueue("q", b"")
    e.clock.run_until_idle()
    assert e.starts() == [0, 2, 4]
    e.close()


def test_an_attempts_result_and_the_next_dequeue_are_one_transaction(env, tq):
    # One commit and one hold of the database lock per attempt: the result's UPDATE and the
    # next task's dequeue run between one BEGIN IMMEDIATE and its COMMIT.
    tq.create_queue("q", {})
    for _ in range(3):
        tq.enqueue("q", b"")
    statements: list[str] = []
    tq._db.set_trace_callback(statements.append)

    def kind(sql: str) -> str:
        if "'running', attempt = attempt + 1" in sql:
            return "dequeue"
        if "'completed'" in sql:
            return "completed"
        return " ".join(sql.split())

    env.clock.run_until_idle()
    tq._db.set_trace_callback(None)
    kinds = [kind(sql) for sql in statements if not sql.lstrip().startswith("SELECT")]
    attempt = ["BEGIN IMMEDIATE", "completed", "dequeue", "COMMIT"]
    # The first dequeue on its own; the third result's dequeue finds nothing; the worker then
    # drains once more for the signal the enqueues left (Navidrome's capacity-1 channel).
    assert kinds == ["dequeue", *attempt * 3, "dequeue"]
    assert [t["status"] for t in tq.tasks()] == ["completed"] * 3


def test_the_next_dequeue_never_picks_the_task_just_retried(tmp_path):
    # backoffMs 1: the retried task is pending again 1 ms later; the dequeue made with its
    # result does not pick it (not ready yet), the other task runs first.
    e = Env(tmp_path, max_concurrency=1, duration=0)
    tq = e.service()
    tq.create_queue("q", {"maxRetries": 1, "backoffMs": 1})
    e.handler = lambda r: fail() if base64.b64decode(r["payload"]) == b"a" else "ok"
    first = tq.enqueue("q", b"a")
    second = tq.enqueue("q", b"b")
    e.clock.run_until_idle()
    assert [r["taskId"] for _, r in e.calls] == [first, second, first]
    assert [(t["status"], t["attempt"], t["message"]) for t in tq.tasks()] == [
        ("failed", 2, "plugin call failed: task failed as instructed"), ("completed", 1, "ok")]


def test_a_retry_keeps_the_message_and_a_result_keeps_next_run_at(env, tq):
    tq.create_queue("q", {"maxRetries": 1, "backoffMs": 1000})
    env.handler = lambda r: fail() if r["attempt"] == 1 else "second time"
    task = tq.enqueue("q", b"")
    env.clock.run_for(0.5)  # the first attempt failed: pending, message untouched
    row = next(t for t in tq.tasks() if t["task_id"] == task)
    assert (row["status"], row["message"], row["next_run_at"]) == ("pending", "", T0_MS + 1000)
    env.clock.run_until_idle()
    row = next(t for t in tq.tasks() if t["task_id"] == task)
    assert (row["status"], row["message"], row["next_run_at"]) == (
        "completed", "second time", T0_MS + 1000)


def test_a_close_during_a_call_dequeues_nothing_after_it(tmp_path):
    e = Env(tmp_path, max_concurrency=1, duration=1)
    tq = e.service()
    tq.create_queue("q", {})

    def close_then_answer(request):
        tq.close()
        return "done"

    e.handler = close_then_answer
    tq.enqueue("q", b"a")
    tq.enqueue("q", b"b")
    e.clock.run_until_idle()
    assert len(e.calls) == 1
    db = e.db()
    rows = db.execute("SELECT payload, status, attempt FROM tasks ORDER BY rowid").fetchall()
    db.close()
    # The running one went back to pending, its attempt not counted (interrupted); the second
    # was never dequeued, though its dequeue would have shared the first's transaction.
    assert rows == [(b"a", "pending", 0), (b"b", "pending", 0)]
    e.close()


def test_enqueue_wakes_an_idle_worker_immediately(env, tq):
    tq.create_queue("q", {})
    env.clock.run_for(61.25)
    tq.enqueue("q", b"")
    env.clock.run_until_idle()
    assert env.starts() == [61.25]


def test_tasks_run_in_next_run_at_then_created_at_order(tmp_path):
    e = Env(tmp_path, max_concurrency=1, duration=1)
    e.handler = lambda request: fail() if request["payload"] == "YQ==" and \
        request["attempt"] == 1 else "ok"
    tq = e.service()
    tq.create_queue("q", {"maxRetries": 1, "backoffMs": 1500})
    a = tq.enqueue("q", b"a")  # fails 0-1, ready again at 2.5
    b = tq.enqueue("q", b"b")  # 1-2
    e.clock.run_for(2.2)
    c = tq.enqueue("q", b"c")  # 2.2-3.2: the worker is busy from here on
    e.clock.run_for(0.1)
    d = tq.enqueue("q", b"d")  # ready at 2.3, before a
    e.clock.run_for(0.2)
    f = tq.enqueue("q", b"f")  # ready at 2.5 like a, but created after it
    e.clock.run_until_idle()
    assert [(t, r["taskId"]) for t, r in e.calls] == \
        [(0, a), (1, b), (2.2, c), (3.2, d), (4.2, a), (5.2, f)]
    e.close()


def test_rate_limiter_spaces_dispatches_by_delay_ms(tmp_path):
    e = Env(tmp_path, max_concurrency=3, duration=0.1)
    tq = e.service()
    tq.create_queue("q", {"concurrency": 3, "delayMs": 2000})
    for _ in range(4):
        tq.enqueue("q", b"")
    e.clock.run_until_idle()
    assert e.starts() == [0, 2, 4, 6]
    e.close()


def test_rate_limiter_first_dispatch_after_idle_is_immediate(tmp_path):
    e = Env(tmp_path, max_concurrency=1, duration=0)
    tq = e.service()
    tq.create_queue("q", {"delayMs": 2000})
    tq.enqueue("q", b"")
    e.clock.run_for(100)
    tq.enqueue("q", b"")
    tq.enqueue("q", b"")
    e.clock.run_until_idle()
    assert e.starts() == [0, 100, 102]
    e.close()


def test_task_waiting_for_a_rate_token_is_already_running(tmp_path):
    e = Env(tmp_path, max_concurrency=2, duration=0.1)
    tq = e.service()
    tq.create_queue("q", {"concurrency": 2, "delayMs": 10_000})
    tq.enqueue("q", b"")
    waiting = tq.enqueue("q", b"")
    e.clock.run_for(1)
    assert tq.get(waiting) == {"status": "running", "message": "", "attempt": 1}
    assert error_of(tq.cancel, waiting) == \
        f'task "{waiting}" cannot be cancelled (status: running)'
    e.close()


def test_negative_delay_means_no_rate_limit(tmp_path):
    e = Env(tmp_path, max_concurrency=2, duration=1)
    tq = e.service()
    tq.create_queue("q", {"concurrency": 2, "delayMs": -5})
    tq.enqueue("q", b"")
    tq.enqueue("q", b"")
    e.clock.run_until_idle()
    assert e.starts() == [0, 0]
    e.close()


@pytest.mark.parametrize("delay_ms", [9_223_372_036_855, 2**62])
def test_delay_whose_go_duration_wraps_negative_means_no_rate_limit(tmp_path, delay_ms):
    # time.Duration(delayMs) * time.Millisecond wraps below zero in int64, and rate.Every of
    # a duration <= 0 is rate.Inf.
    e = Env(tmp_path, max_concurrency=2, duration=1)
    tq = e.service()
    tq.create_queue("q", {"concurrency": 2, "delayMs": delay_ms})
    for _ in range(3):
        tq.enqueue("q", b"")
    e.clock.run_until_idle()
    assert e.starts() == [0, 0, 1]
    e.close()


def test_delay_just_below_the_wrap_still_limits(tmp_path):
    e = Env(tmp_path, max_concurrency=2, duration=1)
    tq = e.service()
    tq.create_queue("q", {"concurrency": 2, "delayMs": 9_223_372_036_854})
    tq.enqueue("q", b"")
    waiting = tq.enqueue("q", b"")
    e.clock.run_for(10)
    assert e.starts() == [0]
    assert tq.get(waiting)["status"] == "running"  # holding its worker, waiting for a token
    e.close()


def test_a_virtual_clock_restarted_on_the_same_folder_draws_fresh_task_ids(tmp_path):
    first = Env(tmp_path, max_concurrency=1)
    tq = first.service()
    tq.create_queue("q", {"retentionMs": 600_000})
    stored = tq.enqueue("q", b"one")
    first.clock.run_until_idle()
    first.close()
    second = Env(tmp_path, max_concurrency=1)  # same seed: the same ids come up again
    assert second.clock.new_id() == stored
    second = Env(tmp_path, max_concurrency=1)
    tq = second.service()
    tq.create_queue("q", {"retentionMs": 600_000})
    fresh = tq.enqueue("q", b"two")
    assert fresh != stored and len(fresh) == 22
    assert tq.get(stored) == {"status": "completed", "message": "done", "attempt": 1}
    second.clock.run_until_idle()
    assert tq.get(fresh) == {"status": "completed", "message": "done", "attempt": 1}
    second.close()


def test_a_clock_behind_the_stored_tasks_dequeues_by_created_at(tmp_path):
    # Session 1 stores A at T0+5 s; session 2's clock restarts at T0 and stores B (older by
    # created_at). Both are ready at the same next_run_at: Navidrome runs B first.
    first = Env(tmp_path, max_concurrency=1)
    tq = first.service()
    tq.create_queue("q", {})
    first.clock.run_for(5)
    a = tq.enqueue("q", b"a")
    first.close()  # before A ran: it stays pending
    with first.db() as db:
        db.execute("UPDATE tasks SET next_run_at = ? WHERE id = ?", (T0_MS + 10_000, a))
    second = Env(tmp_path, max_concurrency=1, seed=1)
    tq = second.service()
    tq.create_queue("q", {})
    b = tq.enqueue("q", b"b")
    with second.db() as db:
        db.execute("UPDATE tasks SET next_run_at = ? WHERE id = ?", (T0_MS + 10_000, b))
    second.clock.run_until_idle()
    assert [r["taskId"] for _, r in second.calls] == [b, a]
    second.close()


def test_poll_picks_up_a_task_that_became_ready_without_a_signal(env):
    first = env.service()
    first.create_queue("q", {})
    task_id = first.enqueue("q", b"")
    first.close()
    with env.db() as db:  # a retry whose wake-up timer died with the previous process
        db.execute("UPDATE tasks SET next_run_at=? WHERE id=?", (T0_MS + 7000, task_id))
    second = env.service()
    second.create_queue("q", {})  # drains at 0 (not ready), then ticks every 5 s
    env.clock.run_until_idle()
    assert env.starts() == [10]


def test_workers_of_different_queues_run_independently(tmp_path):
    e = Env(tmp_path, max_concurrency=2, duration=5)
    tq = e.service()
    tq.create_queue("a", {})
    tq.create_queue("b", {})
    tq.enqueue("a", b"")
    tq.enqueue("b", b"")
    e.clock.run_until_idle()
    assert e.starts() == [0, 0]
    e.close()


def test_a_task_enqueued_from_inside_nd_task_execute_runs_next(tmp_path):
    e = Env(tmp_path, max_concurrency=1, duration=1)
    tq = e.service()

    def handler(request):
        if request["payload"] == "":
            tq.enqueue("q", b"child")
        return "ok"

    e.handler = handler
    tq.create_queue("q", {})
    tq.enqueue("q", b"")
    e.clock.run_until_idle()
    assert [(t, r["payload"]) for t, r in e.calls] == [(0, ""), (1, "Y2hpbGQ=")]
    e.close()


# -- cleanup of terminal tasks ---------------------------------------------------------------

def test_cleanup_deletes_terminal_tasks_past_retention_at_the_5_minute_tick(env, tq):
    tq.create_queue("q", {"retentionMs": 60_000})
    task_id = tq.enqueue("q", b"")
    env.clock.run_for(299)
    assert tq.get(task_id)["status"] == "completed"
    env.clock.run_for(1)
    assert error_of(tq.get, task_id) == f'task "{task_id}" not found'


def test_cleanup_keeps_terminal_tasks_within_retention(env, tq):
    tq.create_queue("q", {"retentionMs": 3_600_000})
    task_id = tq.enqueue("q", b"")
    env.clock.run_for(3600)  # tick at 3600: updated_at + retention == now, not older
    assert tq.get(task_id)["status"] == "completed"
    env.clock.run_for(300)
    assert error_of(tq.get, task_id) == f'task "{task_id}" not found'


def test_cleanup_removes_failed_and_cancelled_tasks_too(env, tq):
    env.handler = lambda request: fail()
    tq.create_queue("q", {"retentionMs": 60_000})
    failed, cancelled = tq.enqueue("q", b""), tq.enqueue("q", b"")
    tq.cancel(cancelled)
    env.clock.run_for(300)
    assert tq.tasks() == []
    assert {e["task_id"]: e["status"] for e in env.kinds(events.TASK_CLEANED_UP)} == \
        {failed: "failed", cancelled: "cancelled"}


def test_cleanup_never_deletes_pending_tasks(env, tq):
    env.handler = lambda request: fail()
    tq.create_queue("q", {"maxRetries": 1, "backoffMs": 3_600_000, "retentionMs": 60_000})
    task_id = tq.enqueue("q", b"")
    env.clock.run_for(1200)
    assert tq.get(task_id)["status"] == "pending"


def test_cleanup_ticks_from_service_creation_not_from_queue_creation(env, tq):
    env.clock.run_for(200)
    tq.create_queue("q", {"retentionMs": 60_000})
    task_id = tq.enqueue("q", b"")
    env.clock.run_for(100)  # tick at 300 s: completed at 200 s, 200+60 < 300
    assert error_of(tq.get, task_id) == f'task "{task_id}" not found'


def test_no_cleanup_runs_at_startup(env):
    first = env.service()
    first.create_queue("q", {"retentionMs": 60_000})
    task_id = first.enqueue("q", b"")
    env.clock.run_for(1)
    first.close()
    env.clock.run_for(86400)  # a day later the task is long past its retention
    second = env.service()
    second.create_queue("q", {"retentionMs": 60_000})
    env.clock.run_for(299)
    assert second.get(task_id)["status"] == "completed"
    env.clock.run_for(1)
    assert error_of(second.get, task_id) == f'task "{task_id}" not found'


def test_cleanup_event_per_deleted_task(env, tq):
    tq.create_queue("q", {"retentionMs": 60_000})
    task_id = tq.enqueue("q", b"")
    env.clock.run_for(300)
    (cleaned,) = env.kinds(events.TASK_CLEANED_UP)
    assert (cleaned["queue"], cleaned["task_id"], cleaned["status"], cleaned.time) == \
        ("q", task_id, "completed", T0 + 300)


# -- Close and what follows ------------------------------------------------------------------

def test_close_reverts_an_interrupted_attempt_to_pending_with_attempt_minus_one(tmp_path):
    e = Env(tmp_path, max_concurrency=1, duration=60)
    tq = e.service()
    tq.create_queue("q", {})
    task_id = tq.enqueue("q", b"")
    e.clock.run_for(10)
    tq.close()
    with e.db() as db:
        row = db.execute("SELECT status, attempt FROM tasks WHERE id=?", (task_id,)).fetchone()
    assert row == ("pending", 0)


def test_close_reverts_a_task_waiting_for_a_rate_token(tmp_path):
    e = Env(tmp_path, max_concurrency=2, duration=1)
    tq = e.service()
    tq.create_queue("q", {"concurrency": 2, "delayMs": 60_000})
    tq.enqueue("q", b"")
    waiting = tq.enqueue("q", b"")
    e.clock.run_for(5)
    tq.close()
    with e.db() as db:
        row = db.execute("SELECT status, attempt FROM tasks WHERE id=?", (waiting,)).fetchone()
    assert row == ("pending", 0)


def test_close_resets_every_running_row_keeping_its_attempt(env):
    first = env.service()
    first.create_queue("q", {})
    task_id = first.enqueue("q", b"")
    first.close()
    with env.db() as db:
        db.execute("UPDATE tasks SET status='running', attempt=3 WHERE id=?", (task_id,))
    second = env.service()  # never creates "q": the stale row is not its worker's
    second.close()
    with env.db() as db:
        row = db.execute("SELECT status, attempt FROM tasks WHERE id=?", (task_id,)).fetchone()
    assert row == ("pending", 3)


def test_interrupted_task_runs_again_as_the_same_attempt_after_reload(tmp_path):
    e = Env(tmp_path, max_concurrency=1, duration=60)
    tq = e.service()
    tq.create_queue("q", {})
    task_id = tq.enqueue("q", b"")
    e.clock.run_for(10)
    tq.close()
    again = e.service()
    again.create_queue("q", {})
    e.clock.run_until_idle()
    assert [r["attempt"] for _, r in e.calls] == [1, 1]
    assert again.get(task_id) == {"status": "completed", "message": "done", "attempt": 1}
    e.close()


def test_close_leaves_nothing_pending_on_the_clock(env, tq):
    env.handler = lambda request: fail()
    tq.create_queue("q", {"maxRetries": 3, "backoffMs": 60_000})
    tq.enqueue("q", b"")
    env.clock.run_for(1)
    tq.close()
    assert env.clock.pending() == []


def test_enqueue_after_close_fails_with_database_closed(tq):
    tq.create_queue("q", {})
    tq.close()
    assert error_of(tq.enqueue, "q", b"") == "enqueuing task: sql: database is closed"


def test_get_after_close_fails_with_database_closed(tq):
    tq.create_queue("q", {})
    task_id = tq.enqueue("q", b"")
    tq.close()
    assert error_of(tq.get, task_id) == "getting task info: sql: database is closed"


def test_cancel_after_close_fails_with_database_closed(tq):
    tq.close()
    assert error_of(tq.cancel, "x") == "cancelling task: sql: database is closed"


def test_clear_queue_after_close_fails_with_database_closed(tq):
    tq.create_queue("q", {})
    tq.close()
    assert error_of(tq.clear_queue, "q") == "clearing queue: sql: database is closed"


def test_create_queue_after_close_fails_with_database_closed(tq):
    tq.close()
    assert error_of(tq.create_queue, "q", {}) == "creating queue: sql: database is closed"


def test_queues_stay_registered_after_close(tq):
    tq.create_queue("q", {})
    tq.close()
    assert error_of(tq.enqueue, "other", b"") == 'queue "other" does not exist'


def test_close_twice_is_harmless(tq):
    tq.close()
    tq.close()
    assert tq.closed


# -- events ----------------------------------------------------------------------------------

def test_lifecycle_events_of_a_task_that_retries_then_completes(tmp_path):
    e = Env(tmp_path, max_concurrency=1, duration=0.25)
    e.handler = fail_until(2)
    tq = e.service()
    tq.create_queue("q", {"maxRetries": 1, "backoffMs": 1000})
    task_id = tq.enqueue("q", b"")
    e.clock.run_until_idle()
    task_events = [(round(ev.time - T0, 3), ev.kind, ev.get("attempt"), ev.get("outcome"))
                   for ev in e.events if ev.get("task_id") == task_id
                   and ev.kind != events.SERVICE_LOG]
    assert task_events == [
        (0, events.TASK_ENQUEUED, 0, None),
        (0, events.TASK_ATTEMPT_STARTED, 1, None),
        (0.25, events.TASK_ATTEMPT_FINISHED, 1, "retry"),
        (0.25, events.TASK_RETRY_SCHEDULED, 1, None),
        (1.25, events.TASK_ATTEMPT_STARTED, 2, None),
        (1.5, events.TASK_ATTEMPT_FINISHED, 2, "completed"),
        (1.5, events.TASK_COMPLETED, 2, None),
    ]
    e.close()


def test_attempt_finished_carries_outcome_message_and_duration(tmp_path):
    e = Env(tmp_path, max_concurrency=1, duration=0.75)
    e.handler = lambda request: fail()
    tq = e.service()
    tq.create_queue("q", {})
    tq.enqueue("q", b"")
    e.clock.run_until_idle()
    (done,) = e.events.select(events.TASK_ATTEMPT_FINISHED)
    assert (done.plugin_id, done["queue"], done["outcome"], done["message"], done["duration"]) == \
        (PLUGIN, "q", "failed", "plugin call failed: task failed as instructed", 0.75)


def test_cancel_and_clear_queue_emit_task_cancelled(tq, env):
    tq.create_queue("q", {})
    a, b = tq.enqueue("q", b""), tq.enqueue("q", b"")
    tq.cancel(a)
    tq.clear_queue("q")
    assert [(ev["task_id"], ev["via"]) for ev in env.kinds(events.TASK_CANCELLED)] == \
        [(a, "cancel"), (b, "clear_queue")]


def test_two_identical_runs_give_identical_event_logs(tmp_path):
    def run(folder):
        e = Env(folder, max_concurrency=3, duration=lambda export, request, wall:
                0.1 + 0.01 * request["attempt"], seed=42)
        e.handler = lambda request: fail() if int(base64.b64decode(request["payload"])) % 3 \
            and request["attempt"] < 3 else "ok"
        tq = e.service()
        tq.create_queue("q", {"concurrency": 3, "maxRetries": 3, "backoffMs": 700,
                              "delayMs": 50, "retentionMs": 60_000})
        for i in range(20):
            tq.enqueue("q", f"{i}".encode())
        e.clock.run_for(900)
        tq.close()
        return [(ev.seq, ev.time, ev.kind, {k: v for k, v in ev.data.items()
                                            if k != "wall_duration"}) for ev in e.events]

    first, second = run(tmp_path / "one"), run(tmp_path / "two")
    assert first == second
    assert len(first) > 100


# -- notebook helpers ------------------------------------------------------------------------

def test_tasks_lists_rows_with_their_state(env, tq):
    tq.create_queue("q", {})
    task_id = tq.enqueue("q", b"p")
    env.clock.run_until_idle()
    (row,) = tq.tasks()
    assert {k: row[k] for k in ("task_id", "queue", "status", "attempt", "message", "payload")} \
        == {"task_id": task_id, "queue": "q", "status": "completed", "attempt": 1,
            "message": "done", "payload": b"p"}


def test_create_queue_accepts_snake_case_options(tq):
    tq.create_queue("q", max_retries=2, backoff_ms=50)
    assert (tq.list_queues()[0]["max_retries"], tq.list_queues()[0]["backoff_ms"]) == (2, 50)


def test_run_until_idle_returns_once_every_task_is_terminal(env, tq):
    env.handler = fail_until(3)
    tq.create_queue("q", {"maxRetries": 5, "backoffMs": 30_000})
    ids = [tq.enqueue("q", b"") for _ in range(3)]
    assert env.clock.run_until_idle() is True
    assert {tq.get(i)["status"] for i in ids} == {"completed"}
    assert env.clock.now() - T0 == 90


def test_a_failed_commit_of_a_result_is_logged_and_rolled_back(env, tq):
    # The attempt's result and the next dequeue share one transaction: when its COMMIT fails
    # neither took effect (the task stays running, as when Navidrome's UPDATE fails), the text
    # is logged, and the worker lives on.
    tq.create_queue("q", {})
    first = tq.enqueue("q", b"")
    second = tq.enqueue("q", b"")

    def deny_commit(action, arg1, arg2, db, trigger):
        if action == sqlite3.SQLITE_TRANSACTION and arg1 == "COMMIT":
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK

    tq._db.set_authorizer(deny_commit)
    env.clock.run_until_idle()
    tq._db.set_authorizer(None)
    assert not tq._db.in_transaction
    status = {t["task_id"]: (t["status"], t["attempt"]) for t in tq.tasks()}
    # The second task was dequeued on its own afterwards (the enqueues' signal), and its
    # result's commit failed the same way.
    assert status == {first: ("running", 1), second: ("running", 1)}
    logs = [e for e in env.kinds(events.SERVICE_LOG) if e["level"] == "error"]
    assert [(e["message"], e["error"]) for e in logs] == [
        ("Failed to mark task as completed", "not authorized")] * 2
    assert len(env.calls) == 2
    assert all(w.state != "stopped" for w in tq._queues["q"].workers)
