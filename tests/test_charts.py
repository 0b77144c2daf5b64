"""Charts (host.plot.*) read back from their artists: bar positions and lengths, counts per bin,
marker positions; never pixels. Same virtual-time run of a Go plugin as tests/test_frames.py:
a slow task at 00:00 (20 s), a mail task every 20 minutes, at 01:00 and 02:00 a task that
completes on its third attempt and one that fails for good, and a task enqueued at 00:30 and
cancelled during its 60 s backoff.
"""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure
from test_frames import GO_SOURCE, HOUR, MANIFEST, MIN, T0, hourly_tasks, scenario

from nd_notebook import Host, build

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

DAY = 86400.0


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    yield from scenario(build(GO_SOURCE), tmp_path_factory)


def rel(datenum: float) -> float:
    """A matplotlib date number as seconds since the run's start (rounded to the ms)."""
    return round(datenum * DAY - T0, 3)


def legend_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def container(ax, label: str):
    (found,) = [c for c in ax.containers if c.get_label() == label]
    return found


def collection(ax, label: str):
    (found,) = [c for c in ax.collections if c.get_label() == label]
    return found


def row_of(ax, prefix: str) -> int:
    labels = [t.get_text() for t in ax.get_yticklabels()]
    (row,) = [i for i, t in enumerate(labels) if t.startswith(prefix)]
    return row


# -- throughput --------------------------------------------------------------------------------

def counts_per_bin(ax, label: str) -> dict[float, float]:
    """{bin start (s since T0): bar height} of the non-empty bars of one outcome."""
    return {rel(r.get_x()): r.get_height() for r in container(ax, label) if r.get_height()}


def test_throughput_counts_attempts_per_bin_by_outcome(run):
    host, _ = run
    fig = host.plot.throughput(interval=300)
    fetch = fig.axes[0]
    assert fetch.get_title() == "queue 'fetch' (vizdemo): attempts ended per 5 min"
    assert counts_per_bin(fetch, "completed") == {0.0: 1, HOUR: 1, 2 * HOUR: 1}
    assert counts_per_bin(fetch, "failed, retried") == {30 * MIN: 1, HOUR: 4, 2 * HOUR: 4}
    assert counts_per_bin(fetch, "failed, no retries left") == {HOUR: 1, 2 * HOUR: 1}
    mail = fig.axes[2]
    assert counts_per_bin(mail, "completed") == {m * 20 * MIN: 1 for m in range(1, 7)}


def test_throughput_bars_are_one_interval_wide_and_stacked(run):
    host, _ = run
    fetch = host.plot.throughput(interval="5min").axes[0]
    retried = {rel(r.get_x()): r for r in container(fetch, "failed, retried")}
    assert {round(r.get_width() * DAY, 6) for r in retried.values()} == {300.0}
    assert retried[HOUR].get_y() == 1  # on top of the completed attempt of that bin


def test_throughput_picks_a_round_interval_for_the_span(run):
    host, _ = run
    fig = host.plot.throughput()
    assert fig.axes[0].get_ylabel() == "attempts / 5 min"  # 2 h 5 min in at most 60 bins


def test_throughput_draws_queue_depth_per_state(run):
    host, _ = run
    depth = host.plot.throughput().axes[1]
    lines = {line.get_label(): line for line in depth.get_lines()}
    assert set(lines) == {"pending", "running", "retrying"}

    def value_at(state: str, seconds: float) -> float:
        xs, ys = lines[state].get_xdata(), lines[state].get_ydata()
        return [y for x, y in zip(xs, ys) if rel(x) <= seconds][-1]

    assert value_at("running", 10) == 1  # the slow task, 00:00:00 to 00:00:20
    assert value_at("running", 30) == 0
    assert value_at("retrying", HOUR + 30) == 2  # both hourly tasks wait their 60 s backoff
    assert value_at("retrying", HOUR + 5 * MIN) == 0
    assert depth.get_ylabel() == "tasks"


def test_throughput_has_titles_units_and_legends(run):
    host, _ = run
    fig = host.plot.throughput()
    assert fig.get_suptitle() == "Task throughput"
    assert fig.axes[-1].get_xlabel() == "time (UTC)"
    assert legend_texts(fig.axes[0]) == ["completed", "failed, retried", "failed, no retries left"]
    assert legend_texts(fig.axes[1]) == ["pending", "running", "retrying"]


def test_throughput_filters_by_queue(run):
    host, _ = run
    fig = host.plot.throughput(queue="mail")
    assert len(fig.axes) == 2 and "'mail'" in fig.axes[0].get_title()


# -- retry timeline ----------------------------------------------------------------------------

def bars_of_row(ax, row: int) -> list[tuple[str, float, float]]:
    """(outcome label, start, length) of the attempt bars on one row, in time order."""
    out = []
    for c in ax.containers:
        for r in c:
            if round(r.get_y() + r.get_height() / 2) == row:
                out.append((c.get_label(), round(r.get_x(), 3), round(r.get_width(), 3)))
    return sorted(out, key=lambda b: b[1])


def test_retry_timeline_draws_a_bar_per_attempt_at_its_time_since_enqueue(run):
    host, _ = run
    ax = host.plot.retry_timeline().axes[0]
    (ok, doomed), _ = hourly_tasks(host)
    assert bars_of_row(ax, row_of(ax, ok[:8])) == [
        ("failed, retried", 0.0, 0.5), ("failed, retried", 60.5, 0.5), ("completed", 181.0, 0.5)]
    assert bars_of_row(ax, row_of(ax, doomed[:8])) == [
        ("failed, retried", 0.0, 0.5), ("failed, retried", 60.5, 0.5),
        ("failed, no retries left", 181.0, 0.5)]


def test_retry_timeline_has_a_row_per_task_with_an_attempt_or_cancelled(run):
    host, _ = run
    ax = host.plot.retry_timeline().axes[0]
    assert len(ax.get_yticklabels()) == len(host.tasks()) == 1 + 6 + 1 + 4


def test_retry_timeline_keeps_backoff_gaps_visible_over_a_two_hour_run(run):
    host, _ = run
    ax = host.plot.retry_timeline().axes[0]
    assert ax.get_xlim()[1] < 200  # the axis spans a task's life (181.5 s), not the 2 h run
    gaps = [t.get_text() for t in ax.texts]
    assert gaps.count("1 min") == 2 * 2 + 1 and gaps.count("2 min") == 2 * 2
    assert ax.get_xlabel() == "time since the task was enqueued (s)"


def test_retry_timeline_ends_failed_and_cancelled_tasks_with_a_marker(run):
    host, ids = run
    ax = host.plot.retry_timeline().axes[0]
    (_, doomed), (_, doomed2) = hourly_tasks(host)
    failed = {(round(x, 3), round(y)) for x, y in collection(ax, "task failed").get_offsets()}
    assert failed == {(181.5, row_of(ax, doomed[:8])), (181.5, row_of(ax, doomed2[:8]))}
    (cancel,) = collection(ax, "task cancelled").get_offsets()
    assert (round(cancel[0], 3), round(cancel[1])) == (30.0, row_of(ax, ids["doomed"][:8]))


def test_retry_timeline_stops_the_backoff_line_at_the_cancel(run):
    host, ids = run
    ax = host.plot.retry_timeline().axes[0]
    row = row_of(ax, ids["doomed"][:8])
    (line,) = [ln for ln in ax.get_lines() if list(ln.get_ydata()) == [row, row]]
    assert list(line.get_xdata()) == [0.5, 30.0]


def test_retry_timeline_draws_the_call_deadline_for_long_attempts(run):
    host, ids = run
    ax = host.plot.retry_timeline().axes[0]
    assert bars_of_row(ax, row_of(ax, ids["slow"][:8])) == [("completed", 0.0, 20.0)]
    (segment,) = collection(ax, "30 s call deadline").get_segments()
    assert [tuple(p) for p in segment] == [(30.0, row_of(ax, ids["slow"][:8]) - 0.4),
                                           (30.0, row_of(ax, ids["slow"][:8]) + 0.4)]


def test_retry_timeline_legend_has_one_entry_per_outcome_and_marker(run):
    host, _ = run
    ax = host.plot.retry_timeline().axes[0]
    assert set(legend_texts(ax)) == {"completed", "failed, retried", "failed, no retries left",
                                     "backoff", "task failed", "task cancelled",
                                     "30 s call deadline"}
    colours = {c.get_label(): c.patches[0].get_facecolor() for c in ax.containers}
    assert len(set(colours.values())) == len(colours)


def test_retry_timeline_shows_a_task_cancelled_before_any_attempt(tmp_path):
    with Host(tmp_path, clock="virtual") as host:
        plugin = host.load(build(GO_SOURCE), manifest=MANIFEST, name="vizdemo")
        host.run_for(5)
        task_id = plugin.tasks.enqueue("fetch", b"x")
        plugin.tasks.cancel(task_id)  # virtual time: no worker ran in between
        ax = host.plot.retry_timeline().axes[0]
    assert ax.containers == [] and [t.get_text()[:8] for t in ax.get_yticklabels()] == \
        [task_id[:8]]
    assert [tuple(o) for o in collection(ax, "task cancelled").get_offsets()] == [(0.0, 0.0)]


def test_retry_timeline_limit_keeps_the_latest_tasks(run):
    host, _ = run
    ax = host.plot.retry_timeline(limit=3).axes[0]
    assert [t.get_text()[-8:] for t in ax.get_yticklabels()] == ["02:00:00"] * 3


# -- scheduler firings -------------------------------------------------------------------------

def test_scheduler_firings_has_a_row_per_schedule(run):
    host, _ = run
    ax = host.plot.scheduler_firings().axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "hourly\n(0 * * * *)", "every-20-min\n(*/20 * * * *)"]


def test_scheduler_firings_marks_expected_ticks_and_actual_firings(run):
    host, _ = run
    ax = host.plot.scheduler_firings().axes[0]
    fired = sorted((round(y), rel(x)) for x, y in
                   collection(ax, "fired: callback ok").get_offsets())
    assert fired == [(0, HOUR), (0, 2 * HOUR), *((1, m * 20 * MIN) for m in range(1, 7))]
    expected = sorted((round(y), rel(x)) for x, y in collection(ax, "expected tick").get_offsets())
    assert expected == fired  # no lag in virtual time
    upcoming = sorted((round(y), rel(x)) for x, y in
                      collection(ax, "next tick (not due)").get_offsets())
    assert upcoming == [(0, 3 * HOUR), (1, 2 * HOUR + 20 * MIN)]
    assert ax.get_xlabel() == "time (UTC)"


# -- host calls --------------------------------------------------------------------------------

def test_host_calls_chart_plots_every_call_latency_and_marks_errors(run):
    host, _ = run
    ax = host.plot.host_calls().axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    row = labels.index("Task · task_get\n2 calls, 2 errors")
    errors = collection(ax, "error").get_offsets()
    assert len(errors) == 2 and {round(y) for _, y in errors} == {row}
    calls = host.host_calls()
    assert len(collection(ax, "ok").get_offsets()) == calls["ok"].sum()
    ms = sorted(round(x, 6) for x, _ in errors)
    assert ms == sorted(round(d * 1000, 6) for d in calls[~calls["ok"]]["duration_s"])
    assert len(collection(ax, "median").get_offsets()) == len(labels)
    assert ax.get_xlabel() == "latency (ms, log scale)" and ax.get_xscale() == "log"


# -- every chart -------------------------------------------------------------------------------

CHARTS = ["throughput", "retry_timeline", "scheduler_firings", "host_calls"]


@pytest.mark.parametrize("name", CHARTS)
def test_chart_returns_a_figure_that_renders_headless_without_pyplot_state(run, name):
    host, _ = run
    before = plt.get_fignums()
    fig = getattr(host.plot, name)()
    assert isinstance(fig, Figure) and fig.axes[0].get_title()
    png = io.BytesIO()
    fig.savefig(png, format="png")
    assert png.getvalue().startswith(b"\x89PNG") and plt.get_fignums() == before


def test_a_chart_shows_itself_as_one_png_in_a_notebook(run):
    from IPython.core.formatters import PNGFormatter

    host, _ = run
    assert PNGFormatter()(host.plot.retry_timeline()).startswith(b"\x89PNG")


@pytest.mark.parametrize("name", CHARTS)
def test_chart_of_an_empty_log_says_so(name):
    with Host(clock="virtual") as host:
        fig = getattr(host.plot, name)()
    assert fig.axes[0].texts[0].get_text().startswith("no ")


def test_unknown_chart_lists_the_charts():
    with Host(clock="virtual") as host, pytest.raises(AttributeError) as e:
        host.plot.pie()
    assert str(e.value) == ("no chart 'pie'; charts: throughput, retry_timeline, "
                            "scheduler_firings, host_calls")
