"""The columns of every frame of ``nd_notebook.viz.frames``: name, pandas dtype and meaning.

One table read by the frame builders (each frame has exactly these columns, even when empty),
by the test that keeps docs/frames.md complete, and by anything that shows a frame.
"""

from __future__ import annotations

from dataclasses import dataclass

TIME = "datetime64[ns, UTC]"


@dataclass(frozen=True)
class Column:
    """One column of a frame: its name, pandas dtype and meaning."""

    name: str
    dtype: str
    doc: str


def _cols(*specs: tuple[str, str, str]) -> tuple[Column, ...]:
    return tuple(Column(*s) for s in specs)


COLUMNS: dict[str, tuple[Column, ...]] = {
    "events": _cols(
        ("seq", "int64", "position in the log (0, 1, 2...), the order things happened in"),
        ("timestamp", TIME, "when it happened on the Host clock"),
        ("kind", "object", "event kind (`host_call`, `task_attempt_started`...)"),
        ("plugin_id", "object", "the plugin it concerns (None for the Host's own events)"),
    ),
    "logs": _cols(
        ("timestamp", TIME, "when the line was logged"),
        ("plugin_id", "object", "the plugin it concerns (None for the Host itself)"),
        ("source", "object", ("`plugin` (pdk.Log), `stdout`/`stderr` (WASI output of the guest) "
                              "or the host service that logged it (`TaskQueue`, `Scheduler`...)")),
        ("level", "object", ("`trace`, `debug`, `info`, `warn`/`warning`, `error`; stream "
                             "output: `stdout` or `stderr`")),
        ("message", "object", "the full text"),
        ("export", "object", "the plugin export running when it was logged, when known"),
    ),
    "tasks": _cols(
        ("plugin_id", "object", "the plugin owning the queue"),
        ("queue", "object", "queue name"),
        ("task_id", "object", "Navidrome's task id"),
        ("status", "object", ("what TaskGet answers: `pending`, `running`, `completed`, "
                              "`failed`, `cancelled`")),
        ("state", "object", ("`status`, with a pending task that already failed an attempt "
                             "shown as `retrying` (waiting its backoff)")),
        ("attempt", "Int64", "attempts made so far (Navidrome's attempt counter)"),
        ("max_retries", "Int64", "retries allowed (the queue's maxRetries at enqueue)"),
        ("message", "object", ("Navidrome's stored message: the output of a completed task or "
                               "the error of a failed one; empty otherwise")),
        ("error", "object", "the error of the latest failed attempt (also while retrying)"),
        ("enqueued", TIME, ("when it was enqueued (NaT for a task recovered from an earlier "
                            "run)")),
        ("started", TIME, "start of its first attempt"),
        ("next_run", TIME, "when a retrying task is due again"),
        ("updated", TIME, "its latest event"),
        ("finished", TIME, "when it completed, failed or was cancelled"),
        ("payload_size", "Int64", "payload length in bytes"),
        ("cleaned_up", TIME, "when retention deleted it from the queue's database"),
    ),
    "attempts": _cols(
        ("plugin_id", "object", "the plugin owning the queue"),
        ("queue", "object", "queue name"),
        ("task_id", "object", "Navidrome's task id"),
        ("attempt", "Int64", "attempt number (1 for the first try)"),
        ("worker", "Int64", "index of the queue worker that ran it"),
        ("start", TIME, "when `nd_task_execute` was called"),
        ("end", TIME, "when the attempt's result was recorded (NaT while running)"),
        ("duration_s", "float64", ("end - start, in seconds (virtual time: the call duration "
                                   "model)")),
        ("wall_s", "float64", "wall-clock seconds the plugin call really took"),
        ("outcome", "object", ("`completed`, `retry` (failed, retried after a backoff), "
                               "`failed` (failed, no retries left), `interrupted` (the queue "
                               "stopped; not counted) or `running`")),
        ("message", "object", "the task's output when completed, the error text otherwise"),
        ("error", "object", "the error text of a failed attempt (None when it completed)"),
        ("backoff_s", "float64", "backoff before the next attempt, in seconds (NaN: none)"),
        ("next_run", TIME, "when the next attempt is due after that backoff"),
        ("gap_s", "float64", "seconds from this attempt's end to the next attempt's start"),
        ("limiter_wait_s", "float64", "seconds the queue's rate limiter held it before the call"),
    ),
    "firings": _cols(
        ("plugin_id", "object", "the plugin owning the schedule"),
        ("schedule_id", "object", "schedule id"),
        ("kind", "object", "`recurring` (cron) or `one-time`"),
        ("cron", "object", "the cron expression (None for one-time)"),
        ("firing", "Int64", "1 for the schedule's first firing, 2 for the next..."),
        ("expected", TIME, "when the tick or timer was due"),
        ("actual", TIME, "when it fired"),
        ("lag_s", "float64", "actual - expected, in seconds"),
        ("end", TIME, "when `nd_scheduler_callback` returned (NaT while running)"),
        ("duration_s", "float64", "end - actual, in seconds"),
        ("outcome", "object", ("`ok`, `error`, `missing` (schedule gone), `skipped` (no "
                               "callback export) or `running`")),
        ("error", "object", "the callback's error text"),
        ("payload", "object", "the schedule's payload"),
    ),
    "host_calls": _cols(
        ("timestamp", TIME, "when the call was answered"),
        ("plugin_id", "object", "the calling plugin"),
        ("service", "object", "Navidrome host service (`Cache`, `Task`...)"),
        ("function", "object", "host function import name (`cache_getstring`...)"),
        ("request", "object", "the request JSON text the plugin sent"),
        ("response", "object", "the response JSON text it got"),
        ("error", "object", "the in-band error text (None when it succeeded)"),
        ("ok", "bool", "True when the response carries no error"),
        ("duration_s", "float64", "wall-clock seconds the host spent answering"),
    ),
    "queue_depth": _cols(
        ("timestamp", TIME, "when the counts changed"),
        ("plugin_id", "object", "the plugin owning the queue"),
        ("queue", "object", "queue name"),
        ("pending", "int64", "tasks waiting their first attempt"),
        ("running", "int64", "tasks in an attempt"),
        ("retrying", "int64", "tasks waiting a backoff after a failed attempt"),
    ),
    "schedules": _cols(
        ("plugin_id", "object", "the plugin owning the schedule"),
        ("schedule_id", "object", "schedule id"),
        ("kind", "object", "`recurring` or `one-time`"),
        ("cron", "object", "the cron expression (None for one-time)"),
        ("payload", "object", "the payload handed to every callback"),
        ("created", TIME, "when it was created"),
        ("next_run", TIME, "its next due tick or timer (NaT once cancelled or done)"),
        ("fired", "int64", "firings so far"),
        ("cancelled", TIME, "when it was cancelled (or removed by an unload)"),
    ),
}
