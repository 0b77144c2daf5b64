"""Frames, charts and the dashboard given what a user types: bad bounds, unknown names, wrong
types, huge spans, one-time schedules, a closed Host. Each was a raw pandas/matplotlib error, a
silent empty result or a hang before; the logs here are written event by event (no plugin)."""

from __future__ import annotations

import math
import threading
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from nd_notebook import Host, events
from nd_notebook.events import EventLog
from nd_notebook.viz import charts, frames

T0 = 1767225600.0  # 2026-01-01 00:00 UTC


class Log(EventLog):
    """An event log whose clock the test moves."""

    def __init__(self):
        self.t = T0
        super().__init__(lambda: self.t)

    def at(self, seconds: float, kind: str, plugin: str | None = "p", **data):
        self.t = T0 + seconds
        return self.emit(kind, plugin, **data)


def task_run(hours: float = 6) -> Log:
    """Queue ``q`` of plugin ``p``: a task every 10 minutes, its attempt 0.5 s; one with a 20 s
    attempt that failed and is retried after 60 s."""
    log = Log()
    log.at(0, events.QUEUE_CREATED, queue="q", max_retries=3)
    for i in range(int(hours * 6)):
        t, tid = i * 600.0, f"task{i:04d}"
        log.at(t, events.TASK_ENQUEUED, queue="q", task_id=tid, payload_size=1)
        log.at(t, events.TASK_ATTEMPT_STARTED, queue="q", task_id=tid, attempt=1, worker=0)
        log.at(t + 0.5, events.TASK_ATTEMPT_FINISHED, queue="q", task_id=tid, attempt=1,
               outcome="completed", message="ok")
        log.at(t + 0.5, events.TASK_COMPLETED, queue="q", task_id=tid, attempt=1, message="ok")
    slow = "slowtask"
    log.at(10, events.TASK_ENQUEUED, queue="q", task_id=slow, payload_size=1)
    log.at(10, events.TASK_ATTEMPT_STARTED, queue="q", task_id=slow, attempt=1, worker=1)
    log.at(30, events.TASK_ATTEMPT_FINISHED, queue="q", task_id=slow, attempt=1,
           outcome="retry", error="busy")
    log.at(30, events.TASK_RETRY_SCHEDULED, queue="q", task_id=slow, attempt=1, backoff_ms=60_000,
           next_run_at=T0 + 90)
    log.at(31, events.SERVICE_LOG, "p", service="TaskQueue", level="warn", message="retrying")
    log.at(32, events.SERVICE_LOG, "p", service="HTTP", level="warning", message="slow answer")
    log.at(33, events.PLUGIN_LOG, "p", level="warn", message="careful")
    log.at(34, events.HOST_CALL, "p", service="KVStore", function="kvstore_get", request={},
           response={}, duration=0.001)
    return log


# -- time bounds ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("since", "error", "text"), [
    ("garbage", ValueError, (r"^since='garbage': not a time \(ISO text like '2026-01-01 02:00', a "
                            r"datetime or Unix seconds\)")),
    ("", ValueError, r"^since='': not a time"),
    (float("nan"), ValueError, r"^since=nan: not a time$"),
    (1767232800000, ValueError, (r"^since=1767232800000: Unix seconds past the year 5000; in "
                                r"milliseconds\? \(give 1767232800\)$")),
    (True, TypeError, r"^since must be a time, not True$"),
    ([1], TypeError, r"^since must be Unix seconds, a datetime or ISO text, not list \[1\]$"),
])
def test_a_bad_time_bound_names_its_argument(since, error, text):
    with pytest.raises(error, match=text):
        frames.tasks(task_run(1), since=since)


def test_numpy_and_date_bounds_mean_what_they_say():
    log = task_run(2)
    hour = frames.tasks(log, since=T0 + 3600)
    assert len(hour) == 6
    for same in (np.int64(T0 + 3600), np.float32(T0 + 3600), np.datetime64("2026-01-01T01:00"),
                 pd.Timestamp("2026-01-01 01:00"), "2026-01-01T01:00:00Z",
                 datetime(2026, 1, 1, 1, tzinfo=timezone.utc)):
        assert frames.tasks(log, since=same).equals(hour), same
    assert len(frames.tasks(log, since=date(2026, 1, 1))) == 13


# -- names and values ------------------------------------------------------------------------------
def test_unknown_names_are_errors_listing_the_known_ones():
    log = task_run(1)
    with pytest.raises(ValueError, match=r"^no plugin 'nope' in the event log; plugins in it: p$"):
        frames.tasks(log, plugin="nope")
    with pytest.raises(ValueError, match=r"^no queue 'nope' in the event log; queues in it: q$"):
        frames.attempts(log, queue="nope")
    with pytest.raises(ValueError, match=r"^unknown status 'COMPLETED'; statuses: pending, "
                                         r"running, completed, failed, cancelled, retrying$"):
        frames.tasks(log, status="COMPLETED")
    with pytest.raises(ValueError, match=r"^unknown level 'bogus'; levels: trace, debug, info, "):
        frames.logs(log, level="bogus")
    with pytest.raises(ValueError, match=r"^unknown service 'nope'; services: Config, "):
        frames.host_calls(log, service="nope")
    with pytest.raises(TypeError, match=r"^plugin must be a plugin name \(str\), not int 123$"):
        frames.tasks(log, plugin=123)
    with pytest.raises(TypeError, match=r"^kind must be an event kind \(str\) or several, not "
                                        r"123$"):
        frames.events(log, kind=123)
    with pytest.raises(ValueError, match=r"^no plugin 'nope' in the event log"):
        charts.throughput(log, "nope")  # said "no task activity in the event log"
    assert len(frames.host_calls(log, service="kvstore")) == 1  # any case
    assert len(frames.tasks(log, "p", queue="q", status="completed")) == 6


def test_warn_and_warning_are_one_level():
    log = task_run(1)
    warn = frames.logs(log, level="warn")
    assert list(warn["message"]) == ["retrying", "slow answer", "careful"]
    assert set(warn["level"]) == {"warn"}
    assert frames.logs(log, level="WARNING").equals(warn)


def test_a_host_is_taken_for_its_event_log(tmp_path):
    with Host(tmp_path) as host:
        assert frames.tasks(host).empty and list(frames.events(host)["kind"]) == \
            list(frames.events(host.events)["kind"])
    with pytest.raises(TypeError, match=r"^expected the Host's event log \(host.events\), not "
                                        r"int$"):
        frames.tasks(5)


# -- charts ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("interval", [0, -60, float("nan"), "bogus", True, [60]])
def test_a_bad_throughput_interval_is_a_clear_error(interval):
    with pytest.raises(ValueError, match=r"^interval must be a positive number of seconds, a "
                                         r"duration text like '5min' or a timedelta, not "):
        charts.throughput(task_run(1), interval=interval)


def test_throughput_refuses_an_interval_of_thousands_of_bars_and_takes_durations():
    log = task_run(6)
    with pytest.raises(ValueError, match=r"^interval=1 makes 21,001 bars over 350 min; at most "
                                         r"2,000: give interval=11 or more, or a shorter "
                                         r"since=/until=$"):
        charts.throughput(log, interval=1)
    heights = {}
    for interval in (300, "5min", timedelta(minutes=5), pd.Timedelta("5min"),
                     np.timedelta64(300, "s")):
        ax = charts.throughput(log, interval=interval).axes[0]
        heights[str(interval)] = sum(r.get_height() for c in ax.containers for r in c)
    assert set(heights.values()) == {37.0}  # 36 completed, 1 retried


def test_throughput_over_decades_picks_whole_days():
    fig = charts.throughput(task_run(1), since="2000-01-01")
    bars = fig.axes[0].containers[0]
    assert len(bars) <= charts.MAX_BINS + 1
    assert bars[0].get_width() == pytest.approx(math.ceil((T0 + 3000 - 946684800) / 60 / 86400))


def test_scheduler_firings_calls_a_schedule_without_cron_one_time():
    log = Log()
    log.at(0, events.SCHEDULE_CREATED, schedule_id="welcome", cron=None, recurring=False,
           payload="", next_run=T0 + 60)
    log.at(0, events.SCHEDULE_CREATED, schedule_id="tick", cron="0 * * * *", recurring=True,
           payload="", next_run=T0 + 3600)
    log.at(60, events.SCHEDULE_FIRED, schedule_id="welcome", recurring=False, expected=T0 + 60,
           actual=T0 + 60, firing=1)
    ax = charts.scheduler_firings(log).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["welcome\n(one-time)",
                                                           "tick\n(0 * * * *)"]  # was "(nan)"
    assert charts.cron_text(float("nan")) == charts.cron_text(None) == "one-time"


def test_retry_timeline_shows_the_deadline_and_the_backoff_it_draws():
    ax = charts.retry_timeline(task_run(1), tasks="slowtask", deadline_s=30).axes[0]
    assert [t.get_text()[:8] for t in ax.get_yticklabels()] == ["slowtask"]  # one id
    (deadline,) = [c for c in ax.collections if c.get_label() == "30 s call deadline"]
    assert deadline.get_segments()[0][0][0] == 30.0  # 30 s after the attempt's start
    right = ax.get_xlim()[1]
    assert right >= 80.0  # the 60 s backoff after the 20 s attempt (it ended at x = 20)


@pytest.mark.parametrize("limit", ["3", 0, -1, 2.5, True])
def test_retry_timeline_limit_must_be_a_count(limit):
    with pytest.raises(ValueError, match=r"^limit must be a whole number of tasks, at least 1, "):
        charts.retry_timeline(task_run(1), limit=limit)


# -- the dashboard -------------------------------------------------------------------------------
def dashboard_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "nd-dashboard" and t.is_alive())


def test_dashboards_stop_with_their_host_and_when_a_cell_makes_them_again(tmp_path):
    before = dashboard_threads()
    host = Host(tmp_path)
    first = host.dashboard()
    again = host.dashboard()  # the same cell run again
    other = host.dashboard(status="failed")  # another view: both keep going
    assert first.mode == "stopped" and "replaced by a newer dashboard" in first.status_line.value
    assert again.mode == "live" and other.mode == "live"
    assert dashboard_threads() == before + 2
    host.close()
    assert again.mode == other.mode == "stopped"
    assert "its Host is closed" in again.status_line.value
    assert dashboard_threads() == before
    with pytest.raises(RuntimeError, match=r"^dashboard: this Host is closed"):
        host.dashboard()
    for d in (first, again, other):
        d.close()


@pytest.mark.parametrize("interval", ["fast", -1, 0, float("inf")])
def test_a_dashboard_interval_must_be_a_positive_number(tmp_path, interval):
    with Host(tmp_path) as host, pytest.raises(ValueError, match=r"^interval must be a positive "
                                                                  r"number of seconds, not "):
        host.dashboard(interval=interval)


def test_dashboard_replay_of_a_bad_time_names_it(tmp_path):
    with Host(tmp_path) as host:
        d = host.dashboard(start=False)
        try:
            with pytest.raises(ValueError, match=r"^t='garbage': not a time"):
                d.replay("garbage")
            assert d.mode == "live"  # still following the clock
        finally:
            d.close()
