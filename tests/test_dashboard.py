"""The live dashboard (nd_notebook.viz.dashboard) checked on its widget state, without a browser.

A real Go plugin runs in virtual time: a `fetch` queue (2 retries, 60 s backoff) gets a task that
fails twice then completes and one that always fails every hour; a `mail` queue gets a task that
completes every 20 minutes; the plugin logs a warning per failed attempt. The dashboard's traits
(what the browser is sent) must say what the frames say. A real-time run checks the refresher
thread: it follows worker threads, throttled, through trait updates.
"""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET
from typing import ClassVar

import comm
import ipywidgets
import pytest

from nd_notebook import Host, build
from nd_notebook.viz import frames
from nd_notebook.viz.dashboard import LOG_LINES, STATES, Dashboard

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

// OnTaskExecute: "fail:N" fails every attempt below N, "sleep:MS" works MS milliseconds.
func (demo) OnTaskExecute(req taskworker.TaskExecuteRequest) (string, error) {
	verb, arg, _ := strings.Cut(string(req.Payload), ":")
	n, _ := strconv.Atoi(arg)
	if verb == "fail" && int(req.Attempt) < n {
		pdk.Log(pdk.LogWarn, fmt.Sprintf("attempt %d of %s failed", req.Attempt, req.TaskID))
		return "", fmt.Errorf("upstream busy (attempt %d)", req.Attempt)
	}
	if verb == "sleep" {
		time.Sleep(time.Duration(n) * time.Millisecond)
	}
	return fmt.Sprintf("done %s", req.Payload), nil
}

func (demo) OnCallback(req scheduler.SchedulerCallbackRequest) error {
	if req.Payload == "hourly" {
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

MANIFEST = {"name": "dashdemo", "author": "nd-notebook tests", "version": "1.0.0",
            "permissions": {"taskqueue": {"maxConcurrency": 3}, "scheduler": {}}}
T0 = 1767225600.0  # the virtual clock's start: 2026-01-01T00:00:00Z
HOUR = 3600
RUN_END = T0 + 2 * HOUR + 30  # 02:00:30: the 02:00 fetch tasks wait their first backoff


@pytest.fixture(scope="module")
def wasm() -> bytes:
    return build(GO_SOURCE)


@pytest.fixture(scope="module")
def run(wasm, tmp_path_factory):
    """Two and a half hours... of a virtual run, to 02:00:30."""
    host = Host(tmp_path_factory.mktemp("dash") / "navidrome", clock="virtual")
    host.clock.call_duration = 0.5
    host.load(wasm, manifest=MANIFEST, name="dashdemo")
    host.clock.run_until(RUN_END)
    yield host
    host.close()


@pytest.fixture
def dash(run):
    """A dashboard without its refresher thread: ``refresh()`` redraws it."""
    d = run.dashboard(start=False)
    yield d
    d.close()


def svg(view) -> ET.Element:
    """A view's markup parsed as XML (the views are well-formed on purpose)."""
    return ET.fromstring(view.value)


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


# -- counts ---------------------------------------------------------------------------------------

def test_counts_per_state_per_queue_keep_retrying_apart_from_failed(dash):
    assert dash.counts == {
        # 01:00 batch: fail:3 completed, fail:9 failed; 02:00 batch: both in their backoff
        "dashdemo/fetch": {"pending": 0, "running": 0, "retrying": 2, "completed": 1,
                           "failed": 1, "cancelled": 0},
        # a mail every 20 minutes: 00:20 ... 02:00
        "dashdemo/mail": {"pending": 0, "running": 0, "retrying": 0, "completed": 6,
                          "failed": 0, "cancelled": 0},
    }


def test_counts_match_the_tasks_frame(dash, run):
    states = frames.tasks(run.events).groupby(["queue", "state"]).size()
    for (queue, state), n in states.items():
        assert dash.counts[f"dashdemo/{queue}"][state] == n


def test_rendered_count_cells_carry_queue_and_state(dash):
    cells = {(td.get("data-queue"), td.get("data-state")): int(td.text)
             for td in svg(dash.counts_view).iter("td") if td.get("class") == "nd-count"}
    assert cells[("dashdemo/fetch", "retrying")] == 2
    assert cells[("dashdemo/fetch", "failed")] == 1
    assert cells[("dashdemo/mail", "completed")] == 6
    assert {s for _, s in cells} == set(STATES)


def test_counts_are_in_the_model_state_sent_to_the_browser(dash):
    state = dash.get_state()
    assert state["counts"]["dashdemo/fetch"]["retrying"] == 2
    assert state["mode"] == "live" and state["until"] is None
    assert "data-state='retrying'" in dash.counts_view.get_state()["value"]


# -- filters --------------------------------------------------------------------------------------

def test_filters_offer_the_plugins_and_queues_of_the_log(dash):
    assert [v for _, v in dash.plugin_filter.options] == ["", "dashdemo"]
    assert [v for _, v in dash.queue_filter.options] == ["", "fetch", "mail"]
    assert [v for _, v in dash.status_filter.options] == ["", *STATES]


def test_queue_filter_keeps_that_queue_only(dash):
    dash.queue_filter.value = "mail"
    assert list(dash.counts) == ["dashdemo/mail"]
    rows = [r.get("data-task") for r in svg(dash.timeline_view).iter("rect")]
    mail = set(frames.tasks(dash._host.events, queue="mail")["task_id"])
    assert rows and set(rows) <= mail


def test_an_unknown_plugin_is_an_error_and_a_plugin_without_events_an_empty_view(run):
    # dashboard("nope") showed counts={} and no error.
    with pytest.raises(ValueError, match=r"^no plugin 'nobody' in the event log; plugins in "
                                         r"it: dashdemo$"):
        run.dashboard("nobody", start=False)
    d = run.dashboard(start=False)
    try:
        d.plugin_filter.options = [*d.plugin_filter.options, ("later", "later")]
        d.plugin_filter.value = "later"  # a plugin whose events have not come yet
        assert d.counts == {} and d.error == ""
        assert "no task queue yet" in d.counts_view.value
    finally:
        d.close()


def test_status_filter_narrows_the_timeline_to_retrying_tasks(dash, run):
    dash.status_filter.value = "retrying"
    retrying = set(frames.tasks(run.events, status="retrying")["task_id"])
    assert len(retrying) == 2
    assert {r.get("data-task") for r in svg(dash.timeline_view).iter("rect")} == retrying
    assert [th.text for th in svg(dash.counts_view).iter("th")] == ["queue", "retrying"]


def test_unknown_status_is_an_error_listing_the_statuses(run):
    with pytest.raises(ValueError, match="unknown status 'done'; statuses: pending, running, "
                                         "retrying, completed, failed, cancelled"):
        run.dashboard(status="done", start=False)


# -- views ----------------------------------------------------------------------------------------

def test_sparkline_counts_attempts_ended_per_bin_by_outcome(dash, run):
    spark = dash.throughput
    att = frames.attempts(run.events)
    assert spark["interval_s"] == 300  # 2.5 hours in at most 40 round bins
    for outcome in ("completed", "retry", "failed"):
        assert sum(spark[outcome]) == (att["outcome"] == outcome).sum()
    one_am = int((T0 + HOUR - spark["start"]) // 300)  # 01:00-01:05: the whole 01:00 batch
    assert (spark["retry"][one_am], spark["failed"][one_am]) == (4, 1)
    bars = [r for r in svg(dash.sparkline_view).iter("rect") if r.get("data-outcome") == "retry"]
    assert {(int(r.get("data-bin")), int(r.get("data-count"))) for r in bars} == {
        (one_am, 4), (len(spark["retry"]) - 1, 2)}


def test_retry_timeline_has_a_bar_per_attempt_and_labelled_backoffs(dash, run):
    tree = svg(dash.timeline_view)
    bars = [(r.get("data-task"), int(r.get("data-attempt")), r.get("data-outcome"))
            for r in tree.iter("rect")]
    att = frames.attempts(run.events)
    assert sorted(bars) == sorted(zip(att["task_id"], att["attempt"], att["outcome"]))
    backoffs = sorted(float(line.get("data-backoff")) for line in tree.iter("line"))
    # the 01:00 batch: 60 and 120 s for each task; the 02:00 batch: 60 s each so far
    assert backoffs == [60.0] * 4 + [120.0] * 2
    assert [t.get("data-end") for t in tree.iter("text") if t.get("data-end")] == ["failed"]


def test_firing_raster_has_a_dot_per_firing(dash, run):
    dots = [(c.get("data-schedule"), c.get("data-outcome")) for c in svg(dash.raster_view)
            .iter("circle")]
    assert sorted(dots) == sorted([("every-20-min", "ok")] * 6 + [("hourly", "ok")] * 2)
    assert len(dots) == len(run.firings())


def test_latest_log_lines_are_the_last_of_the_logs_frame(dash, run):
    lines = [d for d in svg(dash.log_view).iter("div") if d.get("class") == "nd-dash-log"]
    expected = frames.logs(run.events).tail(LOG_LINES)["message"].tolist()
    assert [d.get("title") for d in lines] == expected
    assert any("attempt 1 of" in d.get("title") and "WARN" in d.text for d in lines)


# -- the time slider --------------------------------------------------------------------------

def test_slider_spans_the_run_and_follows_the_clock(dash):
    origin = dash._origin
    assert dash.slider.max == dash.slider.value == round(RUN_END - origin)
    assert "2026-01-01 02:00:30 UTC" in dash.time_label.value


def test_replay_shows_the_state_at_that_moment(dash, run):
    dash.replay(T0 + HOUR + 30)  # 01:00:30: both fetch tasks of 01:00 wait their backoff
    assert (dash.mode, dash.until) == ("replay", T0 + HOUR + 30)
    assert dash.counts["dashdemo/fetch"] == {"pending": 0, "running": 0, "retrying": 2,
                                             "completed": 0, "failed": 0, "cancelled": 0}
    assert dash.counts["dashdemo/mail"]["completed"] == 3
    replayed = frames.tasks(run.events, until=T0 + HOUR + 30)
    assert sum(sum(c.values()) for c in dash.counts.values()) == len(replayed)


def test_moving_the_slider_to_the_end_follows_the_clock_again(dash):
    dash.slider.value = 10
    assert dash.mode == "replay"
    dash.slider.value = dash.slider.max
    assert (dash.mode, dash.until) == ("live", None)
    assert dash.counts["dashdemo/fetch"]["retrying"] == 2


# -- live updates ---------------------------------------------------------------------------

@pytest.fixture
def virtual(wasm, tmp_path):
    host = Host(tmp_path / "navidrome", clock="virtual")
    host.clock.call_duration = 0.5
    host.load(wasm, manifest=MANIFEST, name="dashdemo")
    yield host
    host.close()


def test_dashboard_follows_run_for_in_virtual_time(virtual):
    d = virtual.dashboard(interval=0.05)
    try:
        assert d.counts == {"dashdemo/fetch": dict.fromkeys(STATES, 0),
                            "dashdemo/mail": dict.fromkeys(STATES, 0)}
        virtual.run_for(hours=1, minutes=5)
        assert wait_for(lambda: d.counts.get("dashdemo/fetch", {}).get("failed") == 1)
        assert d.counts["dashdemo/fetch"]["completed"] == 1
        assert wait_for(lambda: d.slider.max == 3900 and d.slider.value == 3900)
        virtual.run_for(minutes=10)  # no task event, only time: the slider still follows
        assert wait_for(lambda: d.slider.max == 4500)
    finally:
        d.close()


def test_paused_dashboard_does_not_redraw_until_resumed(virtual):
    d = virtual.dashboard(interval=0.05)
    try:
        d.pause()
        assert d.mode == "paused" and d.pause_button.description == "Resume"
        before = d.updates
        virtual.run_for(hours=1, minutes=5)
        time.sleep(0.5)
        assert d.updates == before and d.counts["dashdemo/fetch"]["failed"] == 0
        d.resume()
        assert wait_for(lambda: d.counts["dashdemo/fetch"]["failed"] == 1)
        assert d.mode == "live"
    finally:
        d.close()


class RecordingComm(comm.DummyComm):
    """Stands in for the browser: keeps every message the widgets send, with its thread."""

    sent: ClassVar[list[tuple[str, dict]]] = []

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        RecordingComm.sent.append((threading.current_thread().name, data or {}))


def test_worker_threads_drive_throttled_trait_updates_in_real_time(wasm, tmp_path,
                                                                   monkeypatch):
    monkeypatch.setattr(comm, "create_comm", lambda *a, **k: RecordingComm(*a, **k))
    RecordingComm.sent = []
    with Host(tmp_path / "navidrome", clock="real") as host:
        plugin = host.load(wasm, manifest=MANIFEST, name="dashdemo")
        d = host.dashboard(interval=0.25)
        try:
            started = time.monotonic()
            ids = [plugin.tasks.enqueue("fetch", b"sleep:50") for _ in range(40)]
            assert host.run_until_idle(max_seconds=60)
            assert wait_for(lambda: d.counts["dashdemo/fetch"]["completed"] == len(ids))
            redraws, elapsed = d.updates, time.monotonic() - started
        finally:
            d.close()
    # ~160 task events, but at most one redraw per 0.25 s (plus the first and the last)
    assert redraws <= elapsed / 0.25 + 3
    updates = [(thread, data["state"]["counts"]) for thread, data in RecordingComm.sent
               if data.get("method") == "update" and "counts" in data.get("state", {})]
    assert updates and {thread for thread, _ in updates[1:]} == {"nd-dashboard"}
    assert updates[-1][1]["dashdemo/fetch"]["completed"] == 40
    assert any(0 < counts["dashdemo/fetch"]["completed"] < 40 for _, counts in updates)


def test_close_stops_the_refresher_and_unsubscribes(virtual):
    d = virtual.dashboard(interval=0.05)
    thread = d._thread
    d.close()
    assert not thread.is_alive()
    before = d.updates
    virtual.run_for(hours=1)
    assert d.updates == before


def test_host_dashboard_displays_as_a_widget_view(virtual):
    d = virtual.dashboard(start=False)
    try:
        assert isinstance(d, Dashboard) and isinstance(d, ipywidgets.VBox)
        bundle = d._repr_mimebundle_()
        assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == d.model_id
        assert "nd-dashboard" in d._dom_classes
    finally:
        d.close()
