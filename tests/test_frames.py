"""Frames of the event log (nd_notebook.viz.frames) after a virtual-time run of a real Go plugin.

The plugin has two queues and two cron schedules: every hour it enqueues a task that fails twice
then completes and one that always fails (2 retries, then failed); every 20 minutes it enqueues a
mail task that completes at once. The test adds a slow task (20 s per attempt) at the start and
cancels a retrying task half-way through its backoff. Each frame must have the rows those events
imply, with typed columns, and the same columns when empty.
"""

from __future__ import annotations

import base64

import pandas as pd
import pytest

from nd_notebook import Host, build, events
from nd_notebook.viz import frames

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

GO_SOURCE = r'''
package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/navidrome/navidrome/plugins/pdk/go/host"
	"github.com/navidrome/navidrome/plugins/pdk/go/lifecycle"
	"github.com/navidrome/navidrome/plugins/pdk/go/pdk"
	"github.com/navidrome/navidrome/plugins/pdk/go/scheduler"
	"github.com/navidrome/navidrome/plugins/pdk/go/taskworker"
)

type demo struct{}

func init() {
	lifecycle.Register(demo{})
	taskworker.Register(demo{})
	scheduler.Register(demo{})
}

func main() {}

func (demo) OnInit() error {
	if err := host.TaskCreateQueue("fetch", host.QueueConfig{Concurrency: 2, MaxRetries: 2,
		BackoffMs: 60_000}); err != nil {
		return err
	}
	if err := host.TaskCreateQueue("mail", host.QueueConfig{Concurrency: 1}); err != nil {
		return err
	}
	if _, err := host.SchedulerScheduleRecurring("0 * * * *", "hourly", "hourly"); err != nil {
		return err
	}
	_, err := host.SchedulerScheduleRecurring("*/20 * * * *", "mail", "every-20-min")
	return err
}

// OnTaskExecute: "fail:N" fails every attempt below N; anything else succeeds.
func (demo) OnTaskExecute(req taskworker.TaskExecuteRequest) (string, error) {
	verb, arg, _ := strings.Cut(string(req.Payload), ":")
	if verb == "fail" {
		n, _ := strconv.Atoi(arg)
		if int(req.Attempt) < n {
			pdk.Log(pdk.LogWarn, fmt.Sprintf("attempt %d of %s failed", req.Attempt, req.TaskID))
			return "", fmt.Errorf("upstream busy (attempt %d)", req.Attempt)
		}
	}
	return fmt.Sprintf("done %s", req.Payload), nil
}

// OnCallback: "hourly" asks for an unknown task (an in-band error), then enqueues fail:3 and
// fail:9 to fetch; "mail" enqueues one mail.
func (demo) OnCallback(req scheduler.SchedulerCallbackRequest) error {
	pdk.Log(pdk.LogInfo, "tick "+req.ScheduleID)
	if req.Payload == "hourly" {
		if _, err := host.TaskGet("no-such-task"); err == nil {
			return fmt.Errorf("TaskGet of an unknown id succeeded")
		}
		for _, p := range []string{"fail:3", "fail:9"} {
			if _, err := host.TaskEnqueue("fetch", []byte(p)); err != nil {
				return err
			}
		}
		return nil
	}
	_, err := host.TaskEnqueue("mail", []byte("mail"))
	return err
}
'''

MANIFEST = {"name": "vizdemo", "author": "nd-notebook tests", "version": "1.0.0",
            "permissions": {"taskqueue": {"maxConcurrency": 3}, "scheduler": {}}}
T0 = 1767225600.0  # the virtual clock's start: 2026-01-01T00:00:00Z
MIN, HOUR = 60, 3600
SLOW = base64.b64encode(b"slow").decode()
UTC_TIME = "datetime64[ns, UTC]"


def call_duration(export, request, wall):
    """Every call takes 0.5 virtual seconds, the "slow" task's attempts 20 s."""
    if export == "nd_task_execute" and request.get("payload") == SLOW:
        return 20.0
    return 0.5


@pytest.fixture(scope="module")
def wasm() -> bytes:
    return build(GO_SOURCE)


@pytest.fixture(scope="module")
def run(wasm, tmp_path_factory):
    yield from scenario(wasm, tmp_path_factory)


def scenario(wasm: bytes, tmp_path_factory):
    """The scenario, run once per module: yields ``(host, ids)`` with the ids of the slow and
    the cancelled task, then closes the host."""
    host = Host(tmp_path_factory.mktemp("viz") / "navidrome", clock="virtual")
    host.clock.call_duration = call_duration
    plugin = host.load(wasm, manifest=MANIFEST, name="vizdemo")
    ids = {"slow": plugin.tasks.enqueue("fetch", b"slow")}
    host.run_for(minutes=30)
    ids["doomed"] = plugin.tasks.enqueue("fetch", b"fail:9")
    host.run_for(seconds=30)  # its first attempt failed at 00:30:00.5; backoff until 00:31:00.5
    plugin.tasks.cancel(ids["doomed"])
    host.clock.run_until(T0 + 2 * HOUR + 5 * MIN)
    yield host, ids
    host.close()


def at(seconds: float) -> pd.Timestamp:
    return pd.Timestamp(T0 + seconds, unit="s", tz="UTC")


def hourly_tasks(host):
    """The (fail:3, fail:9) task ids enqueued by each hourly tick, in order."""
    enq = host.events.select(events.TASK_ENQUEUED)
    fetch = [e["task_id"] for e in enq if e["queue"] == "fetch" and e.time > T0 + 31 * MIN]
    return list(zip(fetch[::2], fetch[1::2]))


# -- events ------------------------------------------------------------------------------------

def test_events_frame_times_are_utc_datetimes(run):
    host, _ = run
    df = host.events("schedule_fired")
    assert str(df["timestamp"].dtype) == UTC_TIME
    assert str(df["expected"].dtype) == UTC_TIME and str(df["actual"].dtype) == UTC_TIME
    assert df["timestamp"].iloc[0] == at(20 * MIN)


def test_events_frame_has_a_row_per_event_of_the_kind(run):
    host, _ = run
    assert len(host.events("task_enqueued")) == len(host.events.select(events.TASK_ENQUEUED))
    assert list(host.events()["seq"]) == [e.seq for e in host.events]


def test_events_frame_filters_by_queue_plugin_and_time(run):
    host, _ = run
    mail = host.events("task_enqueued", queue="mail")
    assert set(mail["queue"]) == {"mail"} and len(mail) == 6  # 00:20, 00:40 ... 02:00
    window = host.events("schedule_fired", since=at(HOUR), until=at(HOUR))
    assert sorted(window["schedule_id"]) == ["every-20-min", "hourly"]
    with pytest.raises(ValueError, match=r"^no plugin 'nobody' in the event log; plugins in "
                                         r"it: vizdemo$"):
        host.events(plugin="nobody")
    assert len(host.events(["task_completed", "task_failed"], "vizdemo")) == \
        len(host.events.select((events.TASK_COMPLETED, events.TASK_FAILED)))


def test_unknown_event_kind_is_an_error_listing_the_known_kinds(run):
    host, _ = run
    with pytest.raises(ValueError) as e:
        host.events("task_exploded")
    assert str(e.value).startswith("unknown event kind 'task_exploded'; known kinds: ")
    assert "task_attempt_finished" in str(e.value) and "schedule_fired" in str(e.value)


def test_texts_are_never_shortened(run):
    host, _ = run
    long = "x" * 5000
    host.events.emit(events.SERVICE_LOG, "other", service="Test", level="info", message=long)
    assert host.events("service_log", "other")["message"].iloc[0] == long
    assert frames.logs(host.events, "other")["message"].iloc[0] == long


def test_plugin_call_inputs_and_host_call_requests_are_kept_whole(tmp_path):
    from watplugins import host_call_plugin

    key = "k" * 3000
    with Host(tmp_path, clock="virtual") as host:
        plugin = host.load(host_call_plugin("cache_getstring"), name="cachey",
                           permissions="cache")
        plugin.call("call_cache_getstring", {"key": key}, raw=True)
        sent = '{"key":"' + key + '"}'
        assert host.events("plugin_call")["input"].iloc[0] == sent
        assert host.host_calls()["request"].iloc[0] == sent


# -- tasks -------------------------------------------------------------------------------------

def test_tasks_frame_has_a_row_per_enqueued_task(run):
    host, _ = run
    df = host.tasks()
    assert len(df) == len(host.events.select(events.TASK_ENQUEUED)) == 1 + 6 + 1 + 2 * 2


def test_tasks_end_in_the_status_their_events_imply(run):
    host, ids = run
    df = host.tasks().set_index("task_id")
    (ok, doomed), _ = hourly_tasks(host)
    assert tuple(df.loc[ok, ["status", "attempt", "message"]]) == ("completed", 3, "done fail:3")
    assert tuple(df.loc[doomed, ["status", "attempt", "message"]]) == \
        ("failed", 3, "plugin call failed: upstream busy (attempt 3)")
    assert tuple(df.loc[ids["doomed"], ["status", "attempt"]]) == ("cancelled", 1)
    assert df.loc[ids["slow"], "finished"] == at(20)


def test_tasks_frame_agrees_with_the_task_service(run):
    host, _ = run
    service = {t["task_id"]: (t["status"], t["attempt"], t["message"])
               for t in host["vizdemo"].tasks.tasks()}
    df = host.tasks()
    rows = dict(zip(df["task_id"], zip(df["status"], df["attempt"], df["message"])))
    assert {k: v for k, v in rows.items() if k in service} == service
    # retention (1 h) deleted the others from the database; the frame keeps them
    gone = df[~df["task_id"].isin(service)]
    assert len(gone) and gone["cleaned_up"].notna().all()


def test_a_task_waiting_its_backoff_is_retrying(run):
    host, _ = run
    (ok, _), _ = hourly_tasks(host)
    df = host.tasks(until=at(HOUR + 30)).set_index("task_id")
    assert tuple(df.loc[ok, ["status", "state", "attempt"]]) == ("pending", "retrying", 1)
    assert df.loc[ok, "next_run"] == at(HOUR + 60.5)
    assert df.loc[ok, "error"] == "plugin call failed: upstream busy (attempt 1)"


def test_tasks_frame_filters_by_queue_and_status(run):
    host, _ = run
    assert set(host.tasks(queue="mail")["status"]) == {"completed"}
    assert len(host.tasks(status="failed")) == 2
    assert len(host.tasks(status="retrying", until=at(HOUR + 30))) == 2


# -- attempts ----------------------------------------------------------------------------------

def test_attempts_frame_has_a_row_per_attempt_started(run):
    host, _ = run
    assert len(host.attempts()) == len(host.events.select(events.TASK_ATTEMPT_STARTED))


def test_attempts_of_a_retried_task_with_times_backoffs_and_outcomes(run):
    host, _ = run
    (ok, _), _ = hourly_tasks(host)
    df = host.attempts(task_id=ok)
    assert list(df["attempt"]) == [1, 2, 3]
    assert list(df["start"]) == [at(HOUR), at(HOUR + 60.5), at(HOUR + 181)]
    assert list(df["end"]) == [at(HOUR + 0.5), at(HOUR + 61), at(HOUR + 181.5)]
    assert list(df["duration_s"]) == [0.5, 0.5, 0.5]
    assert list(df["outcome"]) == ["retry", "retry", "completed"]
    assert list(df["message"]) == ["plugin call failed: upstream busy (attempt 1)",
                                   "plugin call failed: upstream busy (attempt 2)", "done fail:3"]
    assert list(df["backoff_s"].fillna(-1)) == [60.0, 120.0, -1]
    assert list(df["gap_s"].fillna(-1)) == [60.0, 120.0, -1]
    assert df["next_run"].iloc[1] == at(HOUR + 181)


def test_a_task_out_of_retries_ends_with_a_failed_attempt(run):
    host, _ = run
    (_, doomed), _ = hourly_tasks(host)
    assert list(host.attempts(task_id=doomed)["outcome"]) == ["retry", "retry", "failed"]


def test_slow_attempt_lasts_its_modelled_duration(run):
    host, ids = run
    (row,) = host.attempts(task_id=ids["slow"]).to_dict("records")
    assert (row["start"], row["end"], row["duration_s"], row["outcome"]) == \
        (at(0), at(20), 20.0, "completed")


def test_an_attempt_still_running_has_no_end(run):
    host, _ = run
    (ok, _), _ = hourly_tasks(host)
    row = host.attempts(task_id=ok, until=at(HOUR + 0.25)).iloc[0]
    assert row["outcome"] == "running" and pd.isna(row["end"]) and pd.isna(row["duration_s"])


def test_attempts_since_keeps_the_later_starts(run):
    host, _ = run
    df = host.attempts(since=at(2 * HOUR))
    assert len(df) and (df["start"] >= at(2 * HOUR)).all()


# -- firings -----------------------------------------------------------------------------------

def test_firings_frame_has_a_row_per_firing(run):
    host, _ = run
    df = host.firings()
    assert len(df) == len(host.events.select(events.SCHEDULE_FIRED)) == 2 + 6
    hourly = df[df["schedule_id"] == "hourly"]
    assert list(hourly["expected"]) == list(hourly["actual"]) == [at(HOUR), at(2 * HOUR)]
    assert list(hourly["kind"]) == ["recurring"] * 2 and set(hourly["cron"]) == {"0 * * * *"}
    assert list(hourly["firing"]) == [1, 2] and list(hourly["lag_s"]) == [0.0, 0.0]


def test_firings_record_the_callback_outcome_and_duration(run):
    host, _ = run
    df = host.firings()
    assert set(df["outcome"]) == {"ok"} and set(df["duration_s"]) == {0.5}
    assert (df["end"] - df["actual"] == pd.Timedelta(seconds=0.5)).all()


def test_firings_filter_by_schedule_and_time(run):
    host, _ = run
    df = host.firings(schedule_id="every-20-min", since=at(HOUR), until=at(2 * HOUR))
    assert list(df["actual"]) == [at(HOUR), at(HOUR + 20 * MIN), at(HOUR + 40 * MIN),
                                  at(2 * HOUR)]


# -- host calls, logs --------------------------------------------------------------------------

def test_host_calls_frame_has_a_row_per_host_call(run):
    host, _ = run
    df = host.host_calls("vizdemo")
    assert len(df) == len(host.events.select(events.HOST_CALL, "vizdemo"))
    enqueues = df[df["function"] == "task_enqueue"]
    assert len(enqueues) == 6 + 2 * 2 and enqueues["ok"].all()
    assert enqueues["request"].iloc[0] == '{"queueName":"mail","payload":"bWFpbA=="}'
    assert str(df["timestamp"].dtype) == UTC_TIME


def test_host_calls_frame_carries_the_in_band_error(run):
    host, _ = run
    df = host.host_calls(function="task_get")
    assert len(df) == 2 and not df["ok"].any()
    assert set(df["error"]) == {'task "no-such-task" not found'}
    assert set(df["response"]) == {'{"error":"task \\"no-such-task\\" not found"}'}


def test_host_calls_filter_by_service(run):
    host, _ = run
    assert set(host.host_calls(service="Scheduler")["function"]) == {"scheduler_schedulerecurring"}


def test_logs_frame_holds_the_plugin_log_lines_with_their_export(run):
    host, _ = run
    df = host.logs("vizdemo")
    ticks = df[df["message"].str.startswith("tick ")]
    assert len(ticks) == len(host.events.select(events.SCHEDULE_FIRED))
    assert set(ticks["level"]) == {"info"} and set(ticks["export"]) == {"nd_scheduler_callback"}
    assert ticks["timestamp"].iloc[0] == at(20 * MIN)


def test_logs_frame_filters_by_level(run):
    host, _ = run
    warn = host.logs("vizdemo", level="warn")
    failed = host.attempts(queue="fetch")
    assert len(warn[warn["source"] == "plugin"]) == \
        (failed["outcome"].isin(["retry", "failed"])).sum()


def test_logs_frame_holds_the_service_logs(run):
    host, _ = run
    df = frames.logs(host.events, "vizdemo")
    warn = df[df["source"] == "TaskQueue"]
    assert len(warn) and set(warn["level"]) == {"warn"}
    assert str(df["timestamp"].dtype) == UTC_TIME


# -- empty frames ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["events", "tasks", "attempts", "firings", "host_calls"])
def test_an_empty_frame_has_its_columns(name):
    with Host(clock="virtual") as host:
        df = getattr(host, name)()
    assert df.empty
    assert list(df.columns) == [c.name for c in frames.COLUMNS[name]]
    times = [c.name for c in frames.COLUMNS[name] if c.dtype == frames.TIME]
    assert all(str(df[t].dtype) == UTC_TIME for t in times)


def test_status_of_an_empty_tasks_frame_is_an_empty_column():
    with Host(clock="virtual") as host:
        assert host.tasks()["status"].tolist() == []


def test_every_frame_column_is_documented():
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "frames.md").read_text()
    for name, cols in frames.COLUMNS.items():
        section = doc.split(f"## `{name}`", 1)[1].split("\n## ", 1)[0]
        for c in cols:
            assert f"| `{c.name}` |" in section, (name, c.name)
