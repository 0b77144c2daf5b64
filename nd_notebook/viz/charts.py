"""matplotlib charts of the Host's event log, reachable as ``host.plot.<name>()``.

Each chart reads the frames of ``nd_notebook.viz.frames`` (so only the event log), draws on a
new ``Figure`` made without pyplot (no global state: safe headless and from worker threads) and
returns it: a notebook shows it as a PNG, a script saves it with ``fig.savefig(...)``. Every chart has a
title, axis labels with units, one colour per outcome and a legend; times are UTC.

- ``throughput``: completed and failed attempts per interval per queue, and queue depth.
- ``retry_timeline``: a row per task, a bar per attempt, backoff gaps labelled.
- ``scheduler_firings``: a row per schedule, expected ticks against actual firings.
- ``host_calls``: latency per service and function, errors marked.
"""

from __future__ import annotations

import io
import math
from datetime import datetime, timezone
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from . import frames

OUTCOME_COLOURS = {"completed": "tab:green", "retry": "tab:orange", "failed": "tab:red",
                   "interrupted": "tab:gray", "running": "tab:blue"}
OUTCOME_LABELS = {"completed": "completed", "retry": "failed, retried", "failed":
                  "failed, no retries left", "interrupted": "interrupted", "running": "running"}
STATE_COLOURS = {"pending": "tab:purple", "running": "tab:blue", "retrying": "tab:orange"}
FIRING_COLOURS = {"ok": "tab:green", "error": "tab:red", "missing": "tab:gray",
                  "skipped": "tab:brown", "running": "tab:blue"}
CALL_COLOURS = {"ok": "tab:blue", "error": "tab:red"}
# Bin widths ``throughput`` picks from (seconds): the first giving at most MAX_BINS bins.
NICE_INTERVALS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
                  43200, 86400)
MAX_BINS = 60
#: An ``interval`` giving more bars than this is refused (65,352 bars took half a minute).
MAX_EXPLICIT_BINS = 2000
DAY = 86400.0
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def throughput(log, plugin: str | None = None, *, queue: str | None = None,
               interval: Any = None, since: Any = None, until: Any = None, figsize=None):
    """Per queue: attempts ended per interval (stacked by outcome) above the queue's depth
    (tasks pending, running, retrying) over time. ``interval``: seconds or a pandas duration
    text (``"5min"``); default: a round width giving at most 60 bins."""
    log = frames.event_list(log)  # one snapshot: the frames below agree while workers append
    step = _interval(interval) if interval is not None else None
    att = frames.attempts(log, plugin, queue=queue, since=since, until=until)
    depth = frames.queue_depth(log, plugin, queue=queue, since=since, until=until)
    queues = list(dict.fromkeys(
        [*zip(depth["plugin_id"], depth["queue"]), *zip(att["plugin_id"], att["queue"])]))
    if not queues:
        return _empty("Task throughput", "no task activity in the event log", figsize)
    ended = att[att["end"].notna()]
    times = [*_unix(att["start"]), *_unix(ended["end"]), *_unix(depth["timestamp"])]
    lo = min(times) if since is None else frames.unix_seconds(since, "since")
    hi = max(times) if until is None else frames.unix_seconds(until, "until")
    if step is None:
        step = _nice_interval(hi - lo)
    elif (hi - lo) / step > MAX_EXPLICIT_BINS:
        raise ValueError(f"interval={interval!r} makes {math.ceil((hi - lo) / step):,} bars over "
                         f"{_duration_text(round(hi - lo))}; at most {MAX_EXPLICIT_BINS:,}: give "
                         f"interval={math.ceil((hi - lo) / MAX_EXPLICIT_BINS)} or more, or a "
                         f"shorter since=/until=")
    edges = np.arange(math.floor(lo / step) * step, hi + step, step)
    if len(edges) < 2:
        edges = np.array([edges[0], edges[0] + step])
    fig = _figure(figsize or (9, 2.6 * len(queues) + 0.6), nrows=2 * len(queues), sharex=True)
    axes = fig.axes
    unit = _duration_text(step)
    for i, (pid, name) in enumerate(queues):
        counts_ax, depth_ax = axes[2 * i], axes[2 * i + 1]
        mine = ended[(ended["plugin_id"] == pid) & (ended["queue"] == name)]
        bottom = np.zeros(len(edges) - 1)
        for outcome in ("completed", "retry", "failed"):
            n, _ = np.histogram(_unix(mine[mine["outcome"] == outcome]["end"]), bins=edges)
            counts_ax.bar(_num(edges[:-1]), n, width=step / DAY, bottom=bottom, align="edge",
                          color=OUTCOME_COLOURS[outcome], label=OUTCOME_LABELS[outcome])
            bottom = bottom + n
        counts_ax.set_title(f"queue {name!r} ({pid}): attempts ended per {unit}")
        counts_ax.set_ylabel(f"attempts / {unit}")
        counts_ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        counts_ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
        q = depth[(depth["plugin_id"] == pid) & (depth["queue"] == name)]
        x = [*_unix(q["timestamp"]), hi]
        for state in ("pending", "running", "retrying"):
            y = [*q[state].tolist(), q[state].iloc[-1] if len(q) else 0]
            depth_ax.step(_num(x), y, where="post", color=STATE_COLOURS[state], label=state)
        depth_ax.set_title(f"queue {name!r} ({pid}): depth")
        depth_ax.set_ylabel("tasks")
        depth_ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        depth_ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    _time_axis(axes[-1])
    fig.suptitle("Task throughput")
    return fig


def retry_timeline(log, plugin: str | None = None, *, queue: str | None = None,
                   tasks: list[str] | None = None, limit: int = 40, deadline_s: float = 30.0,
                   since: Any = None, until: Any = None, figsize=None):
    """A row per task (the latest ``limit``, or the ``tasks`` ids), a bar per attempt coloured
    by outcome, on a per-task time axis: x is the time since that task was enqueued, so a 60 s
    backoff reads as 60 s whether the run lasted a minute or a week. Backoff gaps are dotted and
    labelled; failed and cancelled tasks end with a marker; attempts longer than half the call
    deadline show where the deadline (``deadline_s``, Navidrome: 30 s) falls."""
    log = frames.event_list(log)  # one snapshot: the frames below agree while workers append
    if isinstance(tasks, str):
        tasks = [tasks]  # one task id
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a whole number of tasks, at least 1, not {limit!r}")
    att = frames.attempts(log, plugin, queue=queue, until=until)
    tk = frames.tasks(log, plugin, queue=queue, until=until, since=since)
    if tasks is not None:
        tk = tk[tk["task_id"].isin(list(tasks))]
    tk = tk[tk["task_id"].isin(att["task_id"]) | (tk["status"] == "cancelled")]
    if tk.empty:
        return _empty("Retry timeline", "no task attempts in the event log", figsize)
    tk = tk.assign(_origin=tk["enqueued"].fillna(tk["started"]).fillna(tk["finished"]))
    tk = tk.sort_values("_origin", kind="stable").tail(limit)
    row_of = {(p, t): i for i, (p, t) in enumerate(zip(tk["plugin_id"], tk["task_id"]))}
    origin = dict(zip(row_of, _unix(tk["_origin"])))
    now = frames.unix_seconds(until, "until") if until is not None else _last_time(log)
    att = att[np.array([k in row_of for k in zip(att["plugin_id"], att["task_id"])], bool)]
    fig = _figure(figsize or (9, 1.2 + 0.32 * len(row_of)))
    ax = fig.axes[0]
    keys = list(zip(att["plugin_id"], att["task_id"]))
    rel_start = [s - origin[k] for s, k in zip(_unix(att["start"]), keys)]
    ends = [now if math.isnan(e) else e for e in _unix(att["end"])]
    length = [e - s for e, s in zip(ends, _unix(att["start"]))]
    rows = [row_of[k] for k in keys]
    for outcome, colour in OUTCOME_COLOURS.items():
        sel = [i for i, o in enumerate(att["outcome"]) if o == outcome]
        if sel:
            ax.barh([rows[i] for i in sel], [length[i] for i in sel],
                    left=[rel_start[i] for i in sel], height=0.6, color=colour,
                    edgecolor=colour, linewidth=1.5, label=OUTCOME_LABELS[outcome])
    cancelled = tk[tk["status"] == "cancelled"]
    stops = {row_of[k]: f - origin[k] for f, k in zip(
        _unix(cancelled["finished"]), zip(cancelled["plugin_id"], cancelled["task_id"]))}
    _backoff_gaps(ax, att, rows, rel_start, length, stops)
    for status, marker, colour, label in (("failed", "X", "tab:red", "task failed"),
                                          ("cancelled", "x", "black", "task cancelled")):
        done = tk[tk["status"] == status]
        if len(done):
            xs = [f - origin[k] for f, k in zip(_unix(done["finished"]),
                                                zip(done["plugin_id"], done["task_id"]))]
            ys = [row_of[k] for k in zip(done["plugin_id"], done["task_id"])]
            ax.scatter(xs, ys, marker=marker, s=70, color=colour, zorder=3, label=label)
    long = [i for i, d in enumerate(length) if d >= deadline_s / 2]
    marks = [rel_start[i] + deadline_s for i in long]
    if long:
        ax.vlines([rel_start[i] + deadline_s for i in long], [rows[i] - 0.4 for i in long],
                  [rows[i] + 0.4 for i in long], colors="black", linestyles="dashed",
                  label=f"{_duration_text(deadline_s)} call deadline")
    ax.set_yticks(range(len(row_of)))
    ax.set_yticklabels([f"{t[:8]}  {q} · {_clock_text(o)}" for t, q, o in
                        zip(tk["task_id"], tk["queue"], _unix(tk["_origin"]))], fontsize="small")
    ax.set_ylim(len(row_of) - 0.5, -0.5)
    right = max([s + n for s, n in zip(rel_start, length)] + list(stops.values()) + marks
                + [x for line in ax.get_lines() for x in line.get_xdata()] + [1.0])
    ax.set_xlim(min([0.0, *rel_start]) - 0.02 * right, right * 1.04)
    ax.set_xlabel("time since the task was enqueued (s)")
    ax.set_ylabel("task  (queue · enqueued, UTC)")
    ax.set_title("Retry timeline: a bar per attempt, dotted: backoff")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    return fig


def scheduler_firings(log, plugin: str | None = None, *, since: Any = None, until: Any = None,
                      figsize=None):
    """A row per schedule: the ticks it was due (``|``), the firings that happened (dots
    coloured by callback outcome, joined to their tick when late) and the next due tick."""
    log = frames.event_list(log)  # one snapshot: the frames below agree while workers append
    fi = frames.firings(log, plugin, since=since, until=until)
    sc = frames.schedules(log, plugin, until=until)
    keys = list(dict.fromkeys([*zip(sc["plugin_id"], sc["schedule_id"]),
                               *zip(fi["plugin_id"], fi["schedule_id"])]))
    if not keys:
        return _empty("Scheduler firings", "no schedules in the event log", figsize)
    row_of = {k: i for i, k in enumerate(keys)}
    fig = _figure(figsize or (9, 1.4 + 0.45 * len(keys)))
    ax = fig.axes[0]
    frows = [row_of[k] for k in zip(fi["plugin_id"], fi["schedule_id"])]
    expected, actual = _unix(fi["expected"]), _unix(fi["actual"])
    if len(fi):
        ax.scatter(_num(expected), frows, marker="|", s=300, color="black", linewidths=1.2,
                   label="expected tick", zorder=2)
        late = [i for i, lag in enumerate(fi["lag_s"]) if lag > 0]
        if late:
            ax.hlines([frows[i] for i in late], _num([expected[i] for i in late]),
                      _num([actual[i] for i in late]), colors="gray", label="lag")
    for outcome, colour in FIRING_COLOURS.items():
        sel = [i for i, o in enumerate(fi["outcome"]) if o == outcome]
        if sel:
            ax.scatter(_num([actual[i] for i in sel]), [frows[i] for i in sel], s=40,
                       color=colour, zorder=3, label=f"fired: callback {outcome}")
    upcoming = sc[sc["next_run"].notna()]
    if len(upcoming):
        ax.scatter(_num(_unix(upcoming["next_run"])),
                   [row_of[k] for k in zip(upcoming["plugin_id"], upcoming["schedule_id"])],
                   marker="|", s=300, color="gray", linewidths=1.2, label="next tick (not due)")
    info = {k: (kind, cron) for k, kind, cron in zip(zip(sc["plugin_id"], sc["schedule_id"]),
                                                     sc["kind"], sc["cron"])}
    ax.set_yticks(range(len(keys)))
    ax.set_yticklabels([f"{sid}\n({cron_text(info.get((p, sid), ('', None))[1])})"
                        for p, sid in keys], fontsize="small")
    ax.set_ylim(len(keys) - 0.5, -0.5)
    ax.set_ylabel("schedule")
    ax.set_title("Scheduler firings: expected ticks and actual firings")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    _time_axis(ax)
    return fig


def host_calls(log, plugin: str | None = None, *, since: Any = None, until: Any = None,
               figsize=None):
    """A row per service and function: every call's latency as a dot (errors as red crosses),
    the median as a bar, and the call and error counts. Latency is the host's wall time."""
    log = frames.event_list(log)  # one snapshot: the frames below agree while workers append
    hc = frames.host_calls(log, plugin, since=since, until=until)
    if hc.empty:
        return _empty("Host calls", "no host calls in the event log", figsize)
    names = sorted({f"{s} · {f}" for s, f in zip(hc["service"], hc["function"])})
    row_of = {n: i for i, n in enumerate(names)}
    ms = [max(d * 1000.0, 1e-3) for d in hc["duration_s"].fillna(0.0)]
    rows = [row_of[f"{s} · {f}"] for s, f in zip(hc["service"], hc["function"])]
    jitter = [r + ((i % 7) - 3) * 0.05 for i, r in enumerate(rows)]
    fig = _figure(figsize or (9, 1.4 + 0.4 * len(names)))
    ax = fig.axes[0]
    for ok, marker, key, label in ((True, "o", "ok", "ok"), (False, "x", "error", "error")):
        sel = [i for i, v in enumerate(hc["ok"]) if bool(v) == ok]
        if sel:
            ax.scatter([ms[i] for i in sel], [jitter[i] for i in sel], marker=marker, s=18,
                       color=CALL_COLOURS[key], alpha=0.7, label=label, zorder=2)
    medians, labels = [], []
    for name in names:
        mine = sorted(ms[i] for i, r in enumerate(rows) if r == row_of[name])
        medians.append(_median(mine))
        errors = sum(1 for i, r in enumerate(rows) if r == row_of[name] and not hc["ok"].iloc[i])
        labels.append(f"{name}\n{len(mine)} calls, {errors} errors")
    ax.scatter(medians, range(len(names)), marker="|", s=400, color="black", label="median",
               zorder=3)
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0), numticks=12))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # 0.2, not 2x10^-1
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(labels, fontsize="small")
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("service · function")
    ax.set_title("Host calls: latency per service and function")
    ax.grid(axis="x", alpha=0.3, which="both")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    return fig


class ChartFigure(Figure):
    """A matplotlib Figure that a notebook shows as a PNG whether or not pyplot's inline backend
    is active (the charts are made without pyplot)."""

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", bbox_inches="tight")
        return buf.getvalue()


CHARTS = {"throughput": throughput, "retry_timeline": retry_timeline,
          "scheduler_firings": scheduler_firings, "host_calls": host_calls}


# -- helpers ------------------------------------------------------------------------------------
def _figure(figsize, nrows: int = 1, sharex: bool = False) -> ChartFigure:
    """A new figure outside pyplot's figure manager (no global state, any thread)."""
    fig = ChartFigure(figsize=figsize, layout="constrained")
    fig.subplots(nrows, 1, sharex=sharex, squeeze=False)
    return fig


def _empty(title: str, text: str, figsize):
    fig = _figure(figsize or (6, 1.6))
    ax = fig.axes[0]
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()
    ax.set_title(title)
    return fig


def _backoff_gaps(ax, att, rows, rel_start, length, stops: dict[int, float]) -> None:
    """Dotted lines from a failed attempt's end to the next start (or the due time, or the
    cancel time in ``stops``)."""
    for i, backoff in enumerate(att["backoff_s"]):
        if math.isnan(backoff):
            continue
        x0 = rel_start[i] + length[i]
        gap = att["gap_s"].iloc[i]
        x1 = x0 + (backoff if math.isnan(gap) else gap)
        x1 = min(x1, stops.get(rows[i], x1))
        ax.plot([x0, x1], [rows[i], rows[i]], linestyle=":", color="gray", linewidth=1.2,
                label="backoff" if i == next(j for j, b in enumerate(att["backoff_s"])
                                            if not math.isnan(b)) else "_nolegend_")
        ax.annotate(_duration_text(backoff), ((x0 + x1) / 2, rows[i]), xytext=(0, 3),
                    textcoords="offset points", ha="center", va="bottom", fontsize="x-small",
                    color="dimgray")


def _time_axis(ax) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(tz=timezone.utc)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=timezone.utc))
    ax.set_xlabel("time (UTC)")


def _interval(interval: Any) -> float:
    """``throughput``'s bin width in seconds: a number of seconds, a pandas duration text
    (``"5min"``) or a timedelta."""
    import numbers
    from datetime import timedelta

    import pandas as pd

    seconds = None
    if isinstance(interval, (str, timedelta, np.timedelta64)):
        try:
            seconds = pd.Timedelta(interval).total_seconds()
        except (ValueError, TypeError):
            seconds = None
    elif isinstance(interval, numbers.Real) and not isinstance(interval, bool):
        seconds = float(interval)
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"interval must be a positive number of seconds, a duration text like "
                         f"'5min' or a timedelta, not {interval!r}")
    return seconds


def _nice_interval(span: float) -> float:
    """A round width giving at most MAX_BINS bins (whole days past NICE_INTERVALS)."""
    nice = next((s for s in NICE_INTERVALS if span / s <= MAX_BINS), None)
    return nice if nice is not None else math.ceil(span / MAX_BINS / DAY) * DAY


def cron_text(cron: Any) -> str:
    """A schedule's cron, or ``one-time`` (the frame's missing value is None or NaN)."""
    return cron if isinstance(cron, str) and cron else "one-time"


def _unix(series) -> list[float]:
    """Datetime column -> Unix seconds (NaN for NaT)."""
    import pandas as pd

    return [float("nan") if pd.isna(v) else v.value / 1e9 for v in series]


def _num(seconds) -> list[float]:
    """Unix seconds -> matplotlib date numbers (days since matplotlib's date epoch)."""
    import matplotlib.dates as mdates

    offset = mdates.date2num(_EPOCH)
    return [offset + s / DAY for s in seconds]


def _last_time(log) -> float:
    last = None
    for e in log:
        last = e.time
    return last if last is not None else 0.0


def _median(values: list[float]) -> float:
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def _duration_text(seconds: float) -> str:
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"


def _clock_text(seconds: float) -> str:
    if math.isnan(seconds):
        return "?"
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
