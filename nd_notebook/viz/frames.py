"""pandas frames of the Host's event log: events, logs, tasks, attempts, firings, host calls.

Every frame is computed from the event log alone (never from a service), so it reads the same
for real and virtual time, and ``until=`` replays the state at any past moment (what the
dashboard's time slider shows). Each frame has a fixed list of columns (``COLUMNS``, documented
in docs/frames.md), present even when it has no rows; times are UTC tz-aware datetimes,
durations are float seconds (columns ending in ``_s``) and texts are never shortened.

Each function takes an ``EventLog`` (or any iterable of ``Event``) first::

    from nd_notebook.viz import frames
    frames.attempts(host.events, plugin="worker", queue="fetch", since="2026-01-01 02:00")
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timezone
from typing import Any

from .. import events as ev
from ..events import Event
from .columns import COLUMNS, TIME, Column

__all__ = ["COLUMNS", "LEVELS", "STATUSES", "TIME", "Column", "attempts", "check_names",
           "event_list", "events", "firings", "host_calls", "known_kinds", "logs", "queue_depth",
           "schedules", "tasks", "unix_seconds"]

TASK_KINDS = (ev.QUEUE_CREATED, ev.TASK_ENQUEUED, ev.TASK_ATTEMPT_STARTED,
              ev.TASK_ATTEMPT_FINISHED, ev.TASK_RETRY_SCHEDULED, ev.TASK_COMPLETED,
              ev.TASK_FAILED, ev.TASK_CANCELLED, ev.TASK_REVERTED, ev.TASK_CLEANED_UP)
#: ``tasks(status=...)``: Navidrome's task statuses, and ``retrying`` (pending after a failure).
STATUSES = ("pending", "running", "completed", "failed", "cancelled", "retrying")
#: ``logs(level=...)``: the plugin's levels, the host services' and the WASI streams
#: (``warning`` is ``warn``).
LEVELS = ("trace", "debug", "info", "warn", "warning", "error", "stdout", "stderr")
#: A time bound this large is not Unix seconds (the year 5138): milliseconds, most likely.
MAX_UNIX_SECONDS = 1e11
# Data fields holding Unix seconds, shown as datetimes in ``events()``.
TIME_FIELDS = ("next_run_at", "next_run", "expected", "actual")


# -- the frames ---------------------------------------------------------------------------------
def events(log: Iterable[Event], kind: str | Iterable[str] | None = None,
           plugin: str | None = None, *, queue: str | None = None, since: Any = None,
           until: Any = None):
    """Every event: ``seq``, ``timestamp``, ``kind``, ``plugin_id``, then one column per data
    field of the selected events (first seen first; Unix times in ``TIME_FIELDS`` as datetimes).

    ``kind``: one kind or several (an unknown kind raises ``ValueError`` listing the known
    ones); ``plugin``; ``queue`` (events carrying that ``queue`` field); ``since``/``until``
    (inclusive; Unix seconds, datetime or ISO text, naive meaning UTC).
    """
    log = event_list(log)
    kinds = _kinds(kind, log)
    check_names(log, plugin, queue)
    selected = [e for e in _window(log, since, until)
                if (kinds is None or e.kind in kinds) and _match(e, plugin, queue)]
    base = [c.name for c in COLUMNS["events"]]
    rows = []
    for e in selected:
        row = {"seq": e.seq, "timestamp": e.time, "kind": e.kind, "plugin_id": e.plugin_id}
        row.update((k, v) for k, v in e.data.items() if k not in row)
        rows.append(row)
    df = _frame("events", rows, extra=True)
    for name in TIME_FIELDS:
        if name in df.columns and name not in base:
            df[name] = _datetimes(df[name])
    return df


def logs(log: Iterable[Event], plugin: str | None = None, *, level: str | None = None,
         since: Any = None, until: Any = None):
    """Log lines: the plugin's own (``plugin_log``), its WASI stdout/stderr (``plugin_output``)
    and what the host services logged about it (``service_log``), oldest first."""
    kinds = {ev.PLUGIN_LOG, getattr(ev, "PLUGIN_OUTPUT", "plugin_output"), ev.SERVICE_LOG}
    log = _checked(log, plugin, None)
    level = _level(level)
    rows = []
    for e in _window(log, since, until):
        if e.kind not in kinds or not _match(e, plugin, None):
            continue
        if e.kind == ev.SERVICE_LOG:
            source, lvl = e.get("service"), e.get("level")
            extra = {k: v for k, v in e.data.items() if k not in ("service", "level", "message")}
            text = e.get("message", "")
            if extra:
                text += " " + " ".join(f"{k}={v}" for k, v in extra.items())
        elif e.kind == ev.PLUGIN_LOG:
            source, lvl, text = "plugin", e.get("level"), e.get("message", "")
        else:
            stream = e.get("stream", "stdout")
            source, lvl, text = stream, stream, e.get("text", e.get("message", ""))
        lvl = "warn" if lvl == "warning" else lvl
        if level is not None and lvl != level:
            continue
        rows.append({"timestamp": e.time, "plugin_id": e.plugin_id, "source": source,
                     "level": lvl, "message": text, "export": e.get("export")})
    return _frame("logs", rows)


def tasks(log: Iterable[Event], plugin: str | None = None, *, queue: str | None = None,
          status: str | None = None, since: Any = None, until: Any = None):
    """A row per task, as its events leave it at ``until`` (default: now), oldest first.

    ``status`` keeps one Navidrome status (or ``retrying``, matched against ``state``);
    ``since`` keeps the tasks with an event at or after it.
    """
    log = _checked(log, plugin, queue)
    if status is not None and status not in STATUSES:
        raise ValueError(f"unknown status {status!r}; statuses: {', '.join(STATUSES)}")
    replay = _TaskReplay(_window(log, None, until), plugin, queue)
    lo = unix_seconds(since, "since")
    rows = [t for t in replay.tasks.values()
            if (lo is None or t["updated"] >= lo)
            and (status is None or status in (t["status"], t["state"]))]
    return _frame("tasks", rows)


def attempts(log: Iterable[Event], plugin: str | None = None, *, queue: str | None = None,
             task_id: str | None = None, since: Any = None, until: Any = None):
    """A row per task attempt (start, end, duration, outcome, message, backoff before the
    next), in start order; ``since`` keeps the attempts started at or after it."""
    log = _checked(log, plugin, queue)
    replay = _TaskReplay(_window(log, None, until), plugin, queue)
    lo = unix_seconds(since, "since")
    rows = [a for a in replay.attempts if (lo is None or a["start"] >= lo)
            and (task_id is None or a["task_id"] == task_id)]
    return _frame("attempts", rows)


def queue_depth(log: Iterable[Event], plugin: str | None = None, *, queue: str | None = None,
                since: Any = None, until: Any = None):
    """Tasks pending, running and retrying per queue over time: a row whenever they change
    (a step function: the counts hold until the next row of the same queue)."""
    log = _checked(log, plugin, queue)
    replay = _TaskReplay(_window(log, None, until), plugin, queue)
    lo = unix_seconds(since, "since")
    return _frame("queue_depth", [r for r in replay.depth if lo is None or r["timestamp"] >= lo])


def firings(log: Iterable[Event], plugin: str | None = None, *, schedule_id: str | None = None,
            since: Any = None, until: Any = None):
    """A row per schedule firing: expected and actual time, lag, callback duration, outcome."""
    log = _checked(log, plugin, None)
    rows: list[dict] = []
    created: dict[tuple, dict] = {}
    open_: dict[tuple, list[dict]] = {}
    for e in _window(log, None, until):
        if not _match(e, plugin, None) or (schedule_id and e.get("schedule_id") != schedule_id):
            continue
        key = (e.plugin_id, e.get("schedule_id"))
        if e.kind == ev.SCHEDULE_CREATED:
            created[key] = {"cron": e.get("cron"), "payload": e.get("payload"), "fired": 0}
        elif e.kind == ev.SCHEDULE_FIRED:
            info = created.setdefault(key, {"cron": None, "payload": None, "fired": 0})
            info["fired"] += 1
            expected = e.get("expected")
            row = {"plugin_id": e.plugin_id, "schedule_id": key[1],
                   "kind": "recurring" if e.get("recurring") else "one-time",
                   "cron": info["cron"], "firing": e.get("firing", info["fired"]),
                   "expected": expected, "actual": e.get("actual", e.time),
                   "lag_s": None, "end": None, "duration_s": None, "outcome": "running",
                   "error": None, "payload": info["payload"]}
            if expected is not None:
                row["lag_s"] = row["actual"] - expected
            rows.append(row)
            open_.setdefault(key, []).append(row)
        elif e.kind == ev.SCHEDULE_CALLBACK_FINISHED:
            pending = open_.get(key) or []
            firing = e.get("firing")
            row = next((r for r in pending if r["firing"] == firing), None) if firing else None
            row = row or (pending[0] if pending else None)
            if row is None:
                continue
            pending.remove(row)
            row.update(end=e.time, duration_s=e.time - row["actual"], outcome=e.get("outcome"),
                       error=e.get("error"))
    lo = unix_seconds(since, "since")
    return _frame("firings", [r for r in rows if lo is None or r["actual"] >= lo])


def schedules(log: Iterable[Event], plugin: str | None = None, *, until: Any = None):
    """A row per schedule ever created: kind, cron, payload, next due tick, firings so far."""
    log = _checked(log, plugin, None)
    out: dict[tuple, dict] = {}
    for e in _window(log, None, until):
        if e.kind not in (ev.SCHEDULE_CREATED, ev.SCHEDULE_FIRED, ev.SCHEDULE_CANCELLED,
                          ev.SCHEDULE_CALLBACK_FINISHED) or not _match(e, plugin, None):
            continue
        key = (e.plugin_id, e.get("schedule_id"))
        if e.kind == ev.SCHEDULE_CREATED or key not in out:
            out[key] = {"plugin_id": e.plugin_id, "schedule_id": key[1],
                        "kind": "recurring" if e.get("recurring") else "one-time",
                        "cron": e.get("cron"), "payload": e.get("payload"), "created": e.time,
                        "next_run": e.get("next_run"), "fired": 0, "cancelled": None}
        row = out[key]
        if e.kind == ev.SCHEDULE_FIRED:
            row["fired"] += 1
            row["next_run"] = e.get("next_run") if e.get("recurring") else None
        elif e.kind == ev.SCHEDULE_CANCELLED:
            row.update(cancelled=e.time, next_run=None)
    return _frame("schedules", list(out.values()))


def host_calls(log: Iterable[Event], plugin: str | None = None, *, service: str | None = None,
               function: str | None = None, since: Any = None, until: Any = None):
    """A row per host-function call: request and response JSON texts, error, latency.
    ``service`` is a Navidrome host service's name (``KVStore``; any case)."""
    log = _checked(log, plugin, None)
    service = _service(service)
    rows = []
    for e in _window(log, since, until):
        if e.kind != ev.HOST_CALL or not _match(e, plugin, None):
            continue
        if (service and e.get("service") != service) or (function and e.get("function") != function):
            continue
        error = e.get("error")
        rows.append({"timestamp": e.time, "plugin_id": e.plugin_id, "service": e.get("service"),
                     "function": e.get("function"), "request": _json_text(e.get("request")),
                     "response": _json_text(e.get("response")), "error": error,
                     "ok": error is None, "duration_s": e.get("duration")})
    return _frame("host_calls", rows)


def known_kinds(log: Iterable[Event] = ()) -> list[str]:
    """Every event kind ``nd_notebook.events`` declares, plus any other kind found in ``log``."""
    declared = {v for k, v in vars(ev).items() if k.isupper() and isinstance(v, str)
                and v.islower() and v.replace("_", "").isalpha()}
    return sorted(declared | {e.kind for e in log})


# -- task replay --------------------------------------------------------------------------------
class _TaskReplay:
    """Task, attempt and queue-depth rows from the task events, in log order."""

    def __init__(self, log: Iterable[Event], plugin: str | None, queue: str | None):
        self.tasks: dict[tuple, dict] = {}
        self.attempts: list[dict] = []
        self.depth: list[dict] = []
        self._open: dict[tuple, dict] = {}
        self._last: dict[tuple, dict] = {}
        self._max_retries: dict[tuple, int] = {}
        self._counts: dict[tuple, dict[str, int]] = {}
        for e in log:
            if e.kind in TASK_KINDS and _match(e, plugin, queue):
                self._apply(e)

    def _apply(self, e: Event) -> None:
        qkey = (e.plugin_id, e.get("queue"))
        if e.kind == ev.QUEUE_CREATED:
            self._max_retries[qkey] = e.get("max_retries")
            self._counts.setdefault(qkey, {"pending": 0, "running": 0, "retrying": 0})
            self._record_depth(e, qkey)
            return
        key = (e.plugin_id, e.get("task_id"))
        task = self.tasks.get(key)
        before = None if task is None else _depth_state(task)
        if task is None:
            task = self.tasks[key] = self._new_task(e)
        task["updated"] = e.time
        handler = getattr(self, "_on_" + e.kind, None)
        if handler is not None:
            handler(e, task, key)
        task["state"] = ("retrying" if task["status"] == "pending" and task["_failed"]
                         else task["status"])
        after = _depth_state(task)
        if before != after:
            counts = self._counts.setdefault(qkey, {"pending": 0, "running": 0, "retrying": 0})
            if before:
                counts[before] -= 1
            if after:
                counts[after] += 1
            self._record_depth(e, qkey)

    def _new_task(self, e: Event) -> dict:
        return {"plugin_id": e.plugin_id, "queue": e.get("queue"), "task_id": e.get("task_id"),
                "status": "pending", "state": "pending", "attempt": e.get("attempt", 0),
                "max_retries": self._max_retries.get((e.plugin_id, e.get("queue"))),
                "message": "", "error": None, "enqueued": None, "started": None,
                "next_run": None, "updated": e.time, "finished": None, "payload_size": None,
                "cleaned_up": None, "_failed": False}

    def _on_task_enqueued(self, e, task, key) -> None:
        task.update(enqueued=e.time, payload_size=e.get("payload_size"))

    def _on_task_attempt_started(self, e, task, key) -> None:
        task.update(status="running", attempt=e.get("attempt"), next_run=None)
        if task["started"] is None:
            task["started"] = e.time
        previous = self._last.get(key)
        if previous is not None and previous["gap_s"] is None:
            previous["gap_s"] = e.time - previous["end"]
        row = {"plugin_id": e.plugin_id, "queue": e.get("queue"), "task_id": e.get("task_id"),
               "attempt": e.get("attempt"), "worker": e.get("worker"), "start": e.time,
               "end": None, "duration_s": None, "wall_s": None, "outcome": "running",
               "message": None, "error": None, "backoff_s": None, "next_run": None,
               "gap_s": None, "limiter_wait_s": e.get("limiter_wait")}
        self.attempts.append(row)
        self._open[key] = row

    def _on_task_attempt_finished(self, e, task, key) -> None:
        outcome = e.get("outcome")
        row = self._open.pop(key, None)
        if row is not None:
            row.update(end=e.time, duration_s=e.time - row["start"],
                       wall_s=e.get("wall_duration"), outcome=outcome,
                       message=e.get("message"), error=e.get("error"))
            self._last[key] = row
        if outcome == "retry":
            task.update(status="pending", error=e.get("error"), _failed=True)
        elif outcome in ("completed", "failed"):
            self._end(task, outcome, e)

    def _on_task_retry_scheduled(self, e, task, key) -> None:
        task["next_run"] = e.get("next_run_at")
        row = self._last.get(key)
        if row is not None and row["attempt"] == e.get("attempt"):
            row.update(backoff_s=e.get("backoff_ms", 0) / 1000, next_run=e.get("next_run_at"))

    def _on_task_completed(self, e, task, key) -> None:
        self._end(task, "completed", e)

    def _on_task_failed(self, e, task, key) -> None:
        self._end(task, "failed", e)

    def _on_task_cancelled(self, e, task, key) -> None:
        task.update(status="cancelled", finished=e.time, next_run=None)

    def _on_task_reverted(self, e, task, key) -> None:
        row = self._open.pop(key, None)
        if row is not None:
            row.update(end=e.time, duration_s=e.time - row["start"], outcome="interrupted",
                       message=f"reverted to pending ({e.get('reason')})")
        task.update(status="pending", attempt=e.get("attempt"))

    def _on_task_cleaned_up(self, e, task, key) -> None:
        task["cleaned_up"] = e.time

    def _end(self, task: dict, status: str, e: Event) -> None:
        task.update(status=status, finished=e.time, next_run=None, message=e.get("message", ""))
        if status == "failed":
            task["error"] = e.get("error", task["error"])

    def _record_depth(self, e: Event, qkey: tuple) -> None:
        counts = self._counts[qkey]
        row = {"timestamp": e.time, "plugin_id": qkey[0], "queue": qkey[1], **counts}
        last = self.depth[-1] if self.depth else None
        if last is not None and (last["timestamp"], last["plugin_id"], last["queue"]) == \
                (e.time, *qkey):
            self.depth[-1] = row  # several changes at one instant: keep the settled counts
        else:
            self.depth.append(row)


def _depth_state(task: dict) -> str | None:
    state = task["state"]
    return state if state in ("pending", "running", "retrying") and not task["cleaned_up"] else None


# -- helpers ------------------------------------------------------------------------------------
def _frame(name: str, rows: list[dict], *, extra: bool = False):
    """A DataFrame with exactly the columns of ``COLUMNS[name]`` (plus, with ``extra``, any
    other key of the rows, first seen first), typed, even when there are no rows."""
    import pandas as pd

    cols = COLUMNS[name]
    names = [c.name for c in cols]
    if extra:
        seen = dict.fromkeys(names)
        for row in rows:
            seen.update(dict.fromkeys(row))
        names = list(seen)
    df = pd.DataFrame([{k: r.get(k) for k in names} for r in rows], columns=names)
    for c in cols:
        if c.dtype == TIME:
            df[c.name] = _datetimes(df[c.name])
        elif c.dtype == "Int64":
            df[c.name] = pd.array(df[c.name].tolist(), dtype="Int64")
        elif c.dtype == "float64":
            df[c.name] = pd.to_numeric(df[c.name], errors="coerce").astype("float64")
        elif c.dtype != "object" or df.empty:
            df[c.name] = df[c.name].astype(c.dtype)
    return df


def _datetimes(values):
    """Unix seconds (float, None) -> UTC datetimes, exact to the microsecond."""
    import pandas as pd

    micros = pd.to_numeric(pd.Series(values, dtype="object"), errors="coerce") * 1e6
    return pd.to_datetime(micros.round().astype("Int64"), unit="us", utc=True).astype(TIME)


def unix_seconds(value: Any, name: str = "a time bound") -> float | None:
    """A time bound as Unix seconds: a number of seconds, a datetime or date (naive = UTC), a
    pandas/numpy timestamp or ISO text. ``name`` (``since``, ``until``) is named in errors."""
    import numbers

    if value is None:
        return None
    given = value
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a time, not {value!r}")
    if isinstance(value, numbers.Real):
        seconds = float(value)
        if not math.isfinite(seconds):
            raise ValueError(f"{name}={value!r}: not a time")
        if abs(seconds) >= MAX_UNIX_SECONDS:
            raise ValueError(f"{name}={value!r}: Unix seconds past the year 5000; in "
                             f"milliseconds? (give {value / 1000:.0f})")
        return seconds
    import numpy as np
    import pandas as pd

    if isinstance(value, str):
        try:
            value = pd.Timestamp(value)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{name}={value!r}: not a time (ISO text like "
                             f"'2026-01-01 02:00', a datetime or Unix seconds): {e}") from None
    elif isinstance(value, (date, np.datetime64)):
        value = pd.Timestamp(value)
    if value is pd.NaT or (isinstance(value, datetime) and pd.isna(value)):
        raise ValueError(f"{name}={given!r}: not a time")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.timestamp()
    raise TypeError(f"{name} must be Unix seconds, a datetime or ISO text, "
                    f"not {type(value).__name__} {value!r}")


def _window(log: Iterable[Event], since: Any, until: Any) -> list[Event]:
    lo, hi = unix_seconds(since, "since"), unix_seconds(until, "until")
    return [e for e in log if (lo is None or e.time >= lo) and (hi is None or e.time <= hi)]


def _match(e: Event, plugin: str | None, queue: str | None) -> bool:
    return (plugin is None or e.plugin_id == plugin) and (queue is None or e.get("queue") == queue)


def _kinds(kind: str | Iterable[str] | None, log: list[Event]) -> set[str] | None:
    if kind is None:
        return None
    if not isinstance(kind, (str, Iterable)) or not all(isinstance(k, str) for k in
                                                         ([kind] if isinstance(kind, str)
                                                          else kind)):
        raise TypeError(f"kind must be an event kind (str) or several, not {kind!r}")
    wanted = {kind} if isinstance(kind, str) else set(kind)
    known = known_kinds(log)
    unknown = sorted(wanted.difference(known))
    if unknown:
        raise ValueError(f"unknown event kind {unknown[0]!r}; known kinds: {', '.join(known)}")
    return wanted


def _checked(log, plugin: Any, queue: Any) -> list[Event]:
    """``event_list(log)``, its ``plugin``/``queue`` filters checked (``check_names``)."""
    events = event_list(log)
    check_names(events, plugin, queue)
    return events


def event_list(log) -> list[Event]:
    """The events of ``log``: an event log (``host.events``), a list of events, or a Host."""
    from ..runtime.host import Host

    if isinstance(log, Host):
        log = log.events
    if isinstance(log, (str, bytes, Mapping)) or not isinstance(log, Iterable):
        raise TypeError(f"expected the Host's event log (host.events), not "
                        f"{type(log).__name__}")
    return list(log)


def check_names(log: list[Event], plugin: Any, queue: Any) -> None:
    """A plugin id or queue name that no event of ``log`` carries is a typo, not an empty
    result: a ValueError listing the ones it has."""
    for what, value in (("plugin", plugin), ("queue", queue)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{what} must be a {what} name (str), not "
                            f"{type(value).__name__} {value!r}")
    if plugin is not None:
        ids = sorted({e.plugin_id for e in log if e.plugin_id is not None})
        if plugin not in ids:
            raise ValueError(f"no plugin {plugin!r} in the event log; plugins in it: "
                             f"{', '.join(ids) or 'none'}")
    if queue is not None:
        names = sorted({str(e.get("queue")) for e in log if e.get("queue") is not None
                        and (plugin is None or e.plugin_id == plugin)})
        if queue not in names:
            of = f" of plugin {plugin!r}" if plugin else ""
            raise ValueError(f"no queue {queue!r}{of} in the event log; queues in it: "
                             f"{', '.join(names) or 'none'}")


def _level(level: Any) -> str | None:
    if level is None:
        return None
    wanted = str(level).lower() if isinstance(level, str) else level
    if wanted not in LEVELS:
        raise ValueError(f"unknown level {level!r}; levels: {', '.join(LEVELS)}")
    return "warn" if wanted == "warning" else wanted


def _service(service: Any) -> str | None:
    if service is None:
        return None
    from .. import abi

    names = [s.name for s in abi.SERVICES]
    found = next((n for n in names if isinstance(service, str) and n.lower() == service.lower()),
                 None)
    if found is None:
        raise ValueError(f"unknown service {service!r}; services: {', '.join(names)}")
    return found


def _json_text(value: Any) -> str | None:
    """A request/response as the JSON text the plugin saw (a decoded request re-encoded)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
