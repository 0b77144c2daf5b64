"""The live dashboard, ``host.dashboard()``: an ipywidgets view of the Host's event log.

Counts per state per queue, a throughput sparkline, the retry timeline, the firing raster and
the latest log lines, with filters (plugin, queue, status), pause/resume and a time slider that
replays the run (``frames`` with ``until=``). Like the frames and charts it reads only the event
log, so it works the same for real and virtual time.

Threading: an event only marks the views stale (the listener never blocks the thread that
emitted it, a worker or the kernel inside ``run_for``); one refresher thread per dashboard
redraws at most every ``interval`` seconds by setting widget traits, which ipywidgets sends to
the browser from any thread. Nothing here writes to an ``Output`` widget from a thread.
"""

from __future__ import annotations

import contextlib
import html
import math
import threading
import time
from datetime import datetime, timezone

import ipywidgets as widgets
from traitlets import Dict, Float, Int, Unicode

from ..cellout import LEVEL_COLOURS
from . import frames
from .charts import FIRING_COLOURS, NICE_INTERVALS, OUTCOME_COLOURS, OUTCOME_LABELS, cron_text

__all__ = ["STATES", "Dashboard", "dashboard"]

#: The task states counted per queue (``tasks()["state"]``: retrying apart from failed).
STATES = ("pending", "running", "retrying", "completed", "failed", "cancelled")
STATE_COLOURS = {"pending": "#9467bd", "running": "#1f77b4", "retrying": "#ff7f0e",
                 "completed": "#2ca02c", "failed": "#d62728", "cancelled": "#333333"}
#: Redraws at most this often while events arrive (seconds).
DEFAULT_INTERVAL = 0.25
#: With no new event, the clock and slider still move this often (seconds).
IDLE_SECONDS = 1.0
SPARK_BINS = 40
TIMELINE_TASKS = 12
LOG_LINES = 8


def dashboard(host, plugin: str | None = None, *, queue: str | None = None,
              status: str | None = None, interval: float = DEFAULT_INTERVAL,
              start: bool = True) -> Dashboard:
    """A ``Dashboard`` of ``host``'s event log (``host.dashboard()`` is the same). With
    ``start=False`` no refresher thread runs: it redraws on ``refresh()`` and on its controls."""
    return Dashboard(host, plugin, queue=queue, status=status, interval=interval, start=start)


class Dashboard(widgets.VBox):
    """Live view of a Host: display it in a cell; it redraws while the plugins work.

    Its state is in the traits below (synced with the browser), so it can be checked without
    one. ``refresh()`` redraws now on the calling thread; ``close()`` stops the refresher.
    """

    counts = Dict(help="tasks per state per queue: {'plugin/queue': {'pending': n, ...}}"
                  ).tag(sync=True)
    throughput = Dict(help="the sparkline's data: start, interval_s and attempts ended per bin "
                           "by outcome").tag(sync=True)
    mode = Unicode("live", help="`live` (follows the clock), `paused`, `replay` (the slider "
                                "is before the end) or `stopped` (its Host closed, or a newer "
                                "dashboard replaced it)").tag(sync=True)
    until = Float(None, allow_none=True, help="the replayed moment (Unix seconds), None when "
                                              "live").tag(sync=True)
    updates = Int(0, help="how many times the views were redrawn").tag(sync=True)
    error = Unicode("", help="the last redraw's error, empty when it worked").tag(sync=True)

    def __init__(self, host, plugin: str | None = None, *, queue: str | None = None,
                 status: str | None = None, interval: float = DEFAULT_INTERVAL,
                 start: bool = True):
        if status is not None and status not in STATES:
            raise ValueError(f"unknown status {status!r}; statuses: {', '.join(STATES)}")
        if (isinstance(interval, bool) or not isinstance(interval, (int, float))
                or not 0 < interval < math.inf):
            raise ValueError(f"interval must be a positive number of seconds, not {interval!r}")
        check_open = getattr(host, "_check_open", None)
        if check_open is not None:
            check_open("dashboard")
        log = frames.event_list(host.events)
        loaded = set(getattr(host, "plugins", ()))
        if plugin is not None and plugin not in loaded:
            frames.check_names(log, plugin, None)  # neither loaded nor in the log: a typo
        if queue is not None and log and not any(e.get("queue") == queue for e in log):
            frames.check_names(log, None, queue)
        self._host = host
        self._filters = (plugin, queue, status)
        self.interval = float(interval)
        self._pause_s = self.interval
        self._origin = None  # time of the first event: the slider's 0
        self._follow = True
        self._applying: int | None = None  # thread id while the refresher sets widget values
        self._render_lock = threading.RLock()
        self._cv = threading.Condition()
        self._dirty = True
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._last_now = None

        self.title = widgets.HTML("<b>nd-notebook dashboard</b>")
        self.status_line = widgets.HTML()
        self.plugin_filter = widgets.Dropdown(description="plugin", options=[("all", "")],
                                              layout=widgets.Layout(width="200px"))
        self.queue_filter = widgets.Dropdown(description="queue", options=[("all", "")],
                                             layout=widgets.Layout(width="200px"))
        self.status_filter = widgets.Dropdown(
            description="status", options=[("all", "")] + [(s, s) for s in STATES],
            value=status or "", layout=widgets.Layout(width="200px"))
        self.pause_button = widgets.ToggleButton(description="Pause", icon="pause",
                                                 tooltip="stop redrawing (the run goes on)")
        self.counts_view = widgets.HTML()
        self.sparkline_view = widgets.HTML()
        self.timeline_view = widgets.HTML()
        self.raster_view = widgets.HTML()
        self.log_view = widgets.HTML()
        self.slider = widgets.IntSlider(min=0, max=0, value=0, description="time",
                                        readout=False, continuous_update=False,
                                        layout=widgets.Layout(width="420px"))
        self.player = widgets.Play(min=0, max=0, value=0, interval=200, step=1)
        self._play_link = widgets.jslink((self.player, "value"), (self.slider, "value"))
        self.time_label = widgets.HTML()
        self._set_options(self.plugin_filter, [plugin] if plugin else [], plugin or "")
        self._set_options(self.queue_filter, [queue] if queue else [], queue or "")
        super().__init__(children=[
            widgets.HBox([self.title, self.status_line]),
            widgets.HBox([self.plugin_filter, self.queue_filter, self.status_filter,
                          self.pause_button]),
            widgets.HBox([self.counts_view, self.sparkline_view]),
            self.timeline_view, self.raster_view, self.log_view,
            widgets.HBox([self.player, self.slider, self.time_label]),
        ])
        self.add_class("nd-dashboard")
        for w in (self.plugin_filter, self.queue_filter, self.status_filter):
            w.observe(self._on_filter, "value")
        self.slider.observe(self._on_slider, "value")
        self.pause_button.observe(self._on_pause, "value")
        self._unsubscribe = host.events.subscribe(self._on_event)
        self.refresh()
        shown = getattr(host, "_dashboards", None)
        if shown is not None:
            # A cell run again makes a new dashboard of the same view: the one it replaces
            # stops redrawing (five re-runs left five refreshers redrawing on every event).
            for old in [d for d in shown if d._filters == self._filters]:
                old.stop("replaced by a newer dashboard of the same view")
            shown.add(self)
        if start:
            self._thread = threading.Thread(target=self._run, name="nd-dashboard", daemon=True)
            self._thread.start()

    # -- public ------------------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        return self.pause_button.value

    def pause(self) -> None:
        """Stop redrawing (events still go to the log); ``resume()`` catches up."""
        self.pause_button.value = True
        with self._render_lock:  # a redraw under way ends before this returns
            pass

    def resume(self) -> None:
        self.pause_button.value = False

    def replay(self, t) -> None:
        """Redraw the state at ``t`` (Unix seconds, datetime or ISO text; to the second), as
        the time slider does; ``replay(None)`` follows the clock again."""
        at = frames.unix_seconds(t, "t")
        with self._render_lock:
            self._follow = t is None
            if t is not None:
                origin = self._origin if self._origin is not None else self._host.now()
                self._apply_slider(max(0, math.ceil(self._host.now() - origin)))
                with self._setting():
                    self.slider.value = max(0, min(self.slider.max, math.floor(at - origin)))
            self.refresh()

    def refresh(self) -> None:
        """Redraw every view now, on this thread, from one snapshot of the event log."""
        with self._cv:
            self._dirty = False
        with self._render_lock:
            try:
                self._render()
            except Exception as e:  # noqa: BLE001 - a bad redraw must not stop the refresher
                self.error = f"{type(e).__name__}: {e}"
                self.status_line.value = (f"<span style='color:#b91c1c'>dashboard error: "
                                          f"{html.escape(self.error)}</span>")
            else:
                self.error = ""

    def stop(self, why: str = "stopped") -> None:
        """Stop following the Host (the widget keeps its last view): on ``host.close()``, and
        when a newer dashboard of the same view replaces this one."""
        if self._stopped:
            return
        self._stop()
        with self._render_lock:
            self.mode = "stopped"
            self.status_line.value = (f"<span class='nd-dash-status' data-mode='stopped'>&#160;"
                                      f"<b style='color:#6b7280'>stopped</b> · "
                                      f"{html.escape(why)}</span>")

    def close(self) -> None:
        """Stop the refresher and close every part of the widget."""
        if hasattr(self, "_cv"):  # not when __init__ failed
            self._stop()
        for w in [*getattr(self, "children", ()), getattr(self, "_play_link", None)]:
            for part in [*getattr(w, "children", ()), w]:
                if part is not None:
                    part.close()
        super().close()

    # -- the redraw ----------------------------------------------------------------------------
    def _render(self) -> None:
        host = self._host
        log = list(host.events)
        now = host.now()
        self._last_now = now
        if self._origin is None or (log and log[0].time < self._origin):
            self._origin = log[0].time if log else now
        origin = self._origin
        span = max(0, math.ceil(now - origin))
        self._apply_slider(span)
        until = None if self._follow else origin + self.slider.value
        end = now if until is None else until
        plugin = self.plugin_filter.value or None
        self._apply_options(log, plugin)
        queue = self.queue_filter.value or None
        status = self.status_filter.value or None
        if (plugin is not None and not any(e.plugin_id == plugin for e in log)) or (
                queue is not None and not any(e.get("queue") == queue for e in log)):
            log = []  # a plugin or queue without events yet: an empty view, not an error
            plugin = queue = None

        tasks = frames.tasks(log, plugin, queue=queue, until=until)
        attempts = frames.attempts(log, plugin, queue=queue, until=until)
        depth = frames.queue_depth(log, plugin, queue=queue, until=until)
        counts = count_states(tasks, depth)
        spark = throughput_bins(attempts, origin, end)
        shown = tasks if status is None else tasks[(tasks["status"] == status)
                                                   | (tasks["state"] == status)]
        timeline = timeline_svg(attempts, shown, end)
        raster = raster_svg(frames.firings(log, plugin, until=until),
                            frames.schedules(log, plugin, until=until), origin, end)
        lines = frames.logs(log, plugin, until=until).tail(LOG_LINES)

        with self._setting(), self.hold_sync():
            self.counts = counts
            self.throughput = spark
            self.until = until
            self.mode = self._mode()
            self.updates += 1
        self.counts_view.value = counts_html(counts, status)
        self.sparkline_view.value = sparkline_html(spark)
        self.timeline_view.value = timeline
        self.raster_view.value = raster
        self.log_view.value = logs_html(lines)
        self.time_label.value = _time_text(end, origin)
        self.status_line.value = self._status_text(end, len(log))

    def _apply_slider(self, span: int) -> None:
        with self._setting(), self.slider.hold_sync(), self.player.hold_sync():
            if span > self.slider.max:
                self.slider.max = self.player.max = span
                self.player.step = max(1, span // 100)
            if self._follow:
                self.slider.value = self.slider.max

    def _apply_options(self, log, plugin: str | None) -> None:
        plugins = sorted({e.plugin_id for e in log if e.plugin_id is not None})
        queues = sorted({e.get("queue") for e in log if e.get("queue") is not None
                         and (plugin is None or e.plugin_id == plugin)})
        with self._setting():
            self._set_options(self.plugin_filter, plugins, self.plugin_filter.value)
            self._set_options(self.queue_filter, queues, self.queue_filter.value)

    @contextlib.contextmanager
    def _setting(self):
        """Widget values set here are the dashboard's own, not a user's move (thread-wise)."""
        self._applying = threading.get_ident()
        try:
            yield
        finally:
            self._applying = None

    @staticmethod
    def _set_options(dropdown, names: list[str], keep: str) -> None:
        names = list(dict.fromkeys([*names, *([keep] if keep else [])]))
        options = [("all", "")] + [(n, n) for n in names]
        if list(dropdown.options) != options:
            dropdown.options = options  # resets the value: put it back
            dropdown.value = keep

    def _mode(self) -> str:
        if self._stopped:
            return "stopped"
        return "paused" if self.paused else "live" if self._follow else "replay"

    def _status_text(self, end: float, n_events: int) -> str:
        colour = {"live": "#2ca02c", "paused": "#b45309", "replay": "#1f77b4",
                  "stopped": "#6b7280"}[self._mode()]
        clock = "virtual" if getattr(self._host.clock, "is_virtual", False) else "real"
        return (f"<span class='nd-dash-status' data-mode='{self._mode()}'>&#160;"
                f"<b style='color:{colour}'>{self._mode()}</b> · {_clock(end)} UTC "
                f"({clock} time) · {n_events} events</span>")

    # -- events, filters and the refresher thread ---------------------------------------------
    def _on_event(self, _event) -> None:
        with self._cv:
            self._dirty = True
            self._cv.notify()

    def _on_filter(self, _change) -> None:
        if self._applying != threading.get_ident():
            self._poke()

    def _on_slider(self, change) -> None:
        if self._applying == threading.get_ident():
            return
        self._follow = change["new"] >= self.slider.max
        self._poke()

    def _on_pause(self, change) -> None:
        self.pause_button.description = "Resume" if change["new"] else "Pause"
        self.pause_button.icon = "play" if change["new"] else "pause"
        self.mode = self._mode()
        self._poke()

    def _poke(self) -> None:
        if self._thread is None:  # no refresher: redraw here
            self.refresh()
        else:
            self._on_event(None)

    def _run(self) -> None:
        last = 0.0
        while True:
            with self._cv:
                if not self._dirty or self.paused:
                    self._cv.wait(IDLE_SECONDS)
                if self._stopped:
                    return
                deadline = last + self._pause_s  # throttle: coalesce this interval's events
                while not self._stopped and time.monotonic() < deadline:
                    self._cv.wait(deadline - time.monotonic())
                if self._stopped:
                    return
                if self.paused:
                    continue
                dirty, self._dirty = self._dirty, False
            if dirty or self._clock_moved():
                began = time.monotonic()
                with self._render_lock:
                    if not self.paused:
                        self.refresh()
                last = time.monotonic()
                # a slow redraw (a long log) waits longer: at most a third of a core goes here
                self._pause_s = max(self.interval, 2 * (last - began))

    def _clock_moved(self) -> bool:
        """Idle: redraw when virtual time moved without events; move the slider in real time."""
        now = self._host.now()
        if getattr(self._host.clock, "is_virtual", False):
            return now != self._last_now
        if self._follow and self._origin is not None:
            with self._render_lock:
                self._apply_slider(max(0, math.ceil(now - self._origin)))
                self.time_label.value = _time_text(now, self._origin)
                self.status_line.value = self._status_text(now, len(self._host.events))
        return False

    def _stop(self) -> None:
        with self._cv:
            self._stopped = True
            self._cv.notify_all()
        unsubscribe = getattr(self, "_unsubscribe", None)
        if unsubscribe is not None:
            unsubscribe()
            self._unsubscribe = None
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)


# -- the views' data and markup (pure functions of frames) --------------------------------------
def count_states(tasks, depth) -> dict[str, dict[str, int]]:
    """``{"plugin/queue": {state: n for every state}}`` from ``frames.tasks`` (queues known
    only from ``queue_depth``, e.g. created but still empty, count zeros)."""
    out: dict[str, dict[str, int]] = {}
    for pid, queue in [*zip(depth["plugin_id"], depth["queue"]),
                       *zip(tasks["plugin_id"], tasks["queue"])]:
        out.setdefault(f"{pid}/{queue}", dict.fromkeys(STATES, 0))
    for pid, queue, state in zip(tasks["plugin_id"], tasks["queue"], tasks["state"]):
        if state in STATES:
            out[f"{pid}/{queue}"][state] += 1
    return out


def throughput_bins(attempts, start: float, end: float) -> dict:
    """Attempts ended per bin by outcome, from ``start`` to ``end``: a round bin width
    (``charts.NICE_INTERVALS``) giving at most ``SPARK_BINS`` bins."""
    span = max(end - start, 1.0)
    step = next((s for s in NICE_INTERVALS if span / s <= SPARK_BINS), NICE_INTERVALS[-1])
    lo = math.floor(start / step) * step
    n = max(1, math.ceil((end - lo) / step))
    bins = {o: [0] * n for o in ("completed", "retry", "failed")}
    for t, outcome in zip(_seconds(attempts["end"]), attempts["outcome"]):
        if outcome in bins and not math.isnan(t):
            bins[outcome][min(n - 1, max(0, int((t - lo) // step)))] += 1
    return {"start": lo, "interval_s": step, **bins}


def counts_html(counts: dict[str, dict[str, int]], status: str | None = None) -> str:
    """The counts as a table; each cell carries ``data-queue`` and ``data-state``."""
    states = [status] if status else list(STATES)
    head = "".join(f"<th style='padding:0 6px;color:{STATE_COLOURS[s]}'>{s}</th>"
                   for s in states)
    rows = []
    for key, by_state in counts.items():
        pid, _, queue = key.partition("/")
        cells = "".join(
            f"<td class='nd-count' data-queue='{_a(key)}' data-state='{s}' "
            f"style='text-align:right;padding:0 6px'>{by_state.get(s, 0)}</td>" for s in states)
        rows.append(f"<tr><td style='padding:0 6px'><b>{_t(queue)}</b> "
                    f"<span style='color:#888'>({_t(pid)})</span></td>{cells}</tr>")
    if not rows:
        rows.append(f"<tr><td colspan='{len(states) + 1}' style='color:#888'>no task queue "
                    "yet</td></tr>")
    return (f"<table class='nd-dash-counts' style='border-collapse:collapse;font-size:12px;"
            f"line-height:1.5'>"
            f"<tr><th style='text-align:left;padding:0 6px'>queue</th>{head}</tr>"
            f"{''.join(rows)}</table>")


def sparkline_html(spark: dict, width: int = 240, height: int = 36) -> str:
    """Stacked bars of attempts ended per bin (completed, retried, failed) and a summary."""
    outcomes = ("completed", "retry", "failed")
    n = len(spark["completed"])
    totals = [sum(spark[o][i] for o in outcomes) for i in range(n)]
    top = max(totals + [1])
    bar = width / n
    parts = []
    for i in range(n):
        y = height
        for o in outcomes:
            h = spark[o][i] / top * height
            if h > 0:
                y -= h
                parts.append(f"<rect x='{i * bar:.1f}' y='{y:.1f}' width='{max(bar - 1, 1):.1f}' "
                             f"height='{h:.1f}' fill='{_hex(OUTCOME_COLOURS[o])}' "
                             f"data-outcome='{o}' data-bin='{i}' data-count='{spark[o][i]}'/>")
    summary = " · ".join(f"<span style='color:{_hex(OUTCOME_COLOURS[o])}'>{sum(spark[o])} "
                         f"{OUTCOME_LABELS[o]}</span>" for o in outcomes)
    return (f"<div class='nd-dash-throughput' style='font-size:11px;margin-left:16px;"
            f"line-height:1.35'>"
            f"attempts ended per {_duration(spark['interval_s'])}<br/>"
            f"<svg width='{width}' height='{height}' style='background:#f7f7f7'>"
            f"{''.join(parts)}</svg><br/>{summary}</div>")


def timeline_svg(attempts, tasks, now: float, *, limit: int = TIMELINE_TASKS,
                 width: int = 640) -> str:
    """The retry timeline of ``charts.retry_timeline``, small: a row per task (the latest
    ``limit``), x the time since it was enqueued, a bar per attempt, dotted backoffs."""
    label_w, row_h, pad = 170, 15, 4
    if tasks.empty:
        return _box("Retry timeline", "<i style='color:#888'>no tasks</i>", "nd-dash-timeline")
    origin = tasks["enqueued"].fillna(tasks["started"]).fillna(tasks["updated"])
    tk = tasks.assign(_origin=_seconds(origin)).sort_values("_origin", kind="stable")
    tk = tk.tail(limit)
    keys = list(zip(tk["plugin_id"], tk["task_id"]))
    row_of = {k: i for i, k in enumerate(keys)}
    start_of = dict(zip(keys, tk["_origin"]))
    mine = [i for i, k in enumerate(zip(attempts["plugin_id"], attempts["task_id"]))
            if k in row_of]
    att = attempts.iloc[mine]
    starts, ends = _seconds(att["start"]), [now if math.isnan(e) else e
                                           for e in _seconds(att["end"])]
    akeys = list(zip(att["plugin_id"], att["task_id"]))
    right = max([e - start_of[k] for e, k in zip(ends, akeys)]
                + [f - start_of[k] for f, k in zip(_seconds(tk["finished"]), keys)
                   if not math.isnan(f)] + [1.0])
    plot_w = width - label_w - 30
    x = lambda rel: label_w + max(0.0, rel) / right * plot_w
    parts = []
    for i, (tid, queue, state) in enumerate(zip(tk["task_id"], tk["queue"], tk["state"])):
        y = pad + i * row_h
        parts.append(f"<text x='0' y='{y + 10}' font-size='10'>{_t(str(tid)[:8])} {_t(queue)} "
                     f"<tspan fill='{STATE_COLOURS.get(state, '#333')}'>{_t(state)}</tspan>"
                     "</text>")
    for j, k in enumerate(akeys):
        row, o = row_of[k], att["outcome"].iloc[j]
        x0, x1 = x(starts[j] - start_of[k]), x(ends[j] - start_of[k])
        y = pad + row * row_h + 2
        parts.append(f"<rect x='{x0:.1f}' y='{y}' width='{max(x1 - x0, 2):.1f}' height='10' "
                     f"fill='{_hex(OUTCOME_COLOURS.get(o, 'gray'))}' data-task='{_a(k[1])}' "
                     f"data-attempt='{att['attempt'].iloc[j]}' data-outcome='{_a(o)}'>"
                     f"<title>attempt {att['attempt'].iloc[j]}: {_t(o)} "
                     f"{_t(att['message'].iloc[j] or '')}</title></rect>")
        backoff, gap = att["backoff_s"].iloc[j], att["gap_s"].iloc[j]
        if not math.isnan(backoff):
            wait = backoff if math.isnan(gap) else gap
            x2 = x(min(ends[j] + wait, now) - start_of[k])  # no further than the clock
            parts.append(f"<line x1='{x1:.1f}' x2='{x2:.1f}' y1='{y + 5}' y2='{y + 5}' "
                         f"stroke='#888' stroke-dasharray='2,2' data-backoff='{backoff:g}'/>"
                         f"<text x='{(x1 + x2) / 2:.1f}' y='{y + 3}' font-size='8' fill='#666' "
                         f"text-anchor='middle'>{_duration(backoff)}</text>")
    for (pid, tid), status, fin in zip(keys, tk["status"], _seconds(tk["finished"])):
        if status in ("failed", "cancelled") and not math.isnan(fin):
            colour = "#d62728" if status == "failed" else "#000"
            parts.append(f"<text x='{x(fin - start_of[(pid, tid)]) + 2:.1f}' "
                         f"y='{pad + row_of[(pid, tid)] * row_h + 11}' font-size='11' "
                         f"fill='{colour}' data-end='{status}'>&#215;</text>")
    height = pad + len(keys) * row_h + 14
    parts.append(f"<text x='{label_w}' y='{height - 2}' font-size='9' fill='#666'>0 s</text>"
                 f"<text x='{label_w + plot_w}' y='{height - 2}' font-size='9' fill='#666' "
                 f"text-anchor='end'>{right:.3g} s since enqueued</text>")
    svg = f"<svg width='{width}' height='{height}'>{''.join(parts)}</svg>"
    return _box("Retry timeline (a bar per attempt, dotted: backoff)", svg, "nd-dash-timeline")


def raster_svg(firings, schedules, start: float, end: float, *, width: int = 640) -> str:
    """The firing raster of ``charts.scheduler_firings``, small: a row per schedule, its due
    ticks (grey marks) and its firings (dots coloured by callback outcome)."""
    keys = list(dict.fromkeys([*zip(schedules["plugin_id"], schedules["schedule_id"]),
                               *zip(firings["plugin_id"], firings["schedule_id"])]))
    if not keys:
        return _box("Scheduler firings", "<i style='color:#888'>no schedules</i>",
                    "nd-dash-raster")
    label_w, row_h, pad = 170, 16, 6
    plot_w = width - label_w - 10
    span = max(end - start, 1.0)
    x = lambda t: label_w + min(max((t - start) / span, 0.0), 1.0) * plot_w
    row_of = {k: i for i, k in enumerate(keys)}
    cron = dict(zip(zip(schedules["plugin_id"], schedules["schedule_id"]), schedules["cron"]))
    parts = [f"<text x='0' y='{pad + i * row_h + 11}' font-size='10'>{_t(sid)} "
             f"({_t(cron_text(cron.get((pid, sid))))})</text>" for i, (pid, sid) in
             enumerate(keys)]
    for pid, sid, exp, act, outcome in zip(firings["plugin_id"], firings["schedule_id"],
                                           _seconds(firings["expected"]),
                                           _seconds(firings["actual"]), firings["outcome"]):
        y = pad + row_of[(pid, sid)] * row_h + 8
        if not math.isnan(exp):
            parts.append(f"<line x1='{x(exp):.1f}' x2='{x(exp):.1f}' y1='{y - 6}' y2='{y + 6}' "
                         "stroke='#999'/>")
        parts.append(f"<circle cx='{x(act):.1f}' cy='{y}' r='4' "
                     f"fill='{_hex(FIRING_COLOURS.get(outcome, 'gray'))}' "
                     f"data-schedule='{_a(sid)}' data-outcome='{_a(outcome)}'/>")
    height = pad + len(keys) * row_h + 14
    parts.append(f"<text x='{label_w}' y='{height - 2}' font-size='9' fill='#666'>"
                 f"{_clock(start)}</text><text x='{label_w + plot_w}' y='{height - 2}' "
                 f"font-size='9' fill='#666' text-anchor='end'>{_clock(end)} UTC</text>")
    svg = f"<svg width='{width}' height='{height}'>{''.join(parts)}</svg>"
    return _box("Scheduler firings (grey: due tick, dot: firing)", svg, "nd-dash-raster")


def logs_html(lines) -> str:
    """The latest log lines, coloured by level; a long line is cut on screen (its full text
    is the line's tooltip)."""
    rows = []
    for ts, pid, level, message, export in zip(_seconds(lines["timestamp"]), lines["plugin_id"],
                                               lines["level"], lines["message"], lines["export"]):
        pid, level, export = (v if isinstance(v, str) else "" for v in (pid, level, export))
        who = f"{pid or 'host'}{' ' + export if export else ''}"
        text = str(message if isinstance(message, str) else "").rstrip("\n")
        colour = LEVEL_COLOURS.get(level or "info", LEVEL_COLOURS["info"])
        rows.append(f"<div class='nd-dash-log' title='{_a(text)}' style='color:{colour};"
                    "white-space:nowrap;overflow:hidden;text-overflow:ellipsis'>"
                    f"{_clock(ts)} [{_t(who)}] {_t((level or '').upper())} {_t(text)}</div>")
    body = "".join(rows) or "<i style='color:#888'>no log lines</i>"
    return _box("Latest log lines", f"<div style='font-family:monospace;font-size:11px;"
                f"max-width:900px'>{body}</div>", "nd-dash-logs")


# -- helpers ------------------------------------------------------------------------------------
def _box(title: str, body: str, css: str) -> str:
    return (f"<div class='{css}' style='margin-top:6px;line-height:1.35'><div "
            f"style='font-size:12px;font-weight:bold'>{_t(title)}</div>{body}</div>")


def _seconds(series) -> list[float]:
    """A datetime column as Unix seconds (NaN for NaT)."""
    import pandas as pd

    return [float("nan") if pd.isna(v) else v.value / 1e9 for v in series]


def _hex(colour: str) -> str:
    from matplotlib.colors import to_hex

    return to_hex(colour)


def _t(text) -> str:
    return html.escape(str(text), quote=False)


def _a(text) -> str:
    return html.escape(str(text), quote=True)


def _clock(t: float) -> str:
    if t is None or math.isnan(t):
        return "?"
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _duration(seconds: float) -> str:
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"


def _time_text(t: float, origin: float) -> str:
    minutes, seconds = divmod(max(0, round(t - origin)), 60)
    hours, minutes = divmod(minutes, 60)
    return (f"<span class='nd-dash-time'>{_clock(t)} UTC "
            f"(+{hours}:{minutes:02d}:{seconds:02d})</span>")
