"""Scheduler host service: one-time and cron schedules calling ``nd_scheduler_callback`` (spec 5).

One ``SchedulerService`` per loaded plugin with the ``scheduler`` permission. Schedule ids are
unique per plugin; nothing is persisted (plugins re-create their schedules, usually from
``nd_on_init``) and ``close()`` (unload) cancels everything.

Timers come from the Host clock: in real time a firing runs its callback on its own thread (a
tick never waits for the previous one); in virtual time it runs on the event loop at the exact
due time and is considered finished ``clock.call_duration`` later, when a one-time entry is
removed (so the id still exists while its callback runs, as in Navidrome).

Python use::

    sched.schedule_one_time(60, "payload", "my-id")       # -> "my-id"
    sched.schedule_recurring("*/5 * * * *", "payload")     # -> generated 22-char id
    sched.cancel_schedule("my-id")
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

from .. import events
from ..errors import PluginCallError, ServiceError
from ..gojson import go_quote
from . import cron

EXPORT = "nd_scheduler_callback"


class SchedulerService:
    """Navidrome's ``SchedulerService`` for one plugin.

    ``dialect`` is the cron syntax accepted by ``schedule_recurring``: ``"head"`` (Navidrome
    after 5cd1fcb49: optional seconds, ``~``, bare durations) or ``"seed"`` (5 fields).
    """

    def __init__(self, ctx, *, dialect: str | None = None):
        self.ctx = ctx
        self.clock = ctx.clock
        self.dialect = dialect or getattr(ctx.host, "cron_dialect", None) or "head"
        if self.dialect not in cron.DIALECTS:
            raise ValueError(f"unknown cron dialect {self.dialect!r}")
        self._lock = threading.RLock()
        self._schedules: dict[str, _Entry] = {}

    # -- the three host functions -----------------------------------------------------------
    def schedule_one_time(self, delay_seconds: int = 0, payload: str = "",
                          schedule_id: str = "") -> str:
        """``ScheduleOneTime``: call back once after ``delay_seconds`` (<= 0: right away)."""
        if not schedule_id:
            schedule_id = self.clock.new_id()
        payload = _text(payload)
        with self._lock:
            if schedule_id in self._schedules:
                raise ServiceError(f"schedule ID {go_quote(schedule_id)} already exists")
            delay = int(delay_seconds)
            entry = _Entry(schedule_id, payload, recurring=False, delay_seconds=delay)
            entry.next_run = self.clock.now() + max(0, delay)
            entry.handle = self.clock.call_later(max(0, delay), partial(self._fire_one_time, entry),
                                                 label=self._label(schedule_id))
            self._schedules[schedule_id] = entry
        self.ctx.emit(events.SCHEDULE_CREATED, schedule_id=schedule_id, recurring=False,
                      delay_seconds=delay, cron=None, next_run=entry.next_run, payload=payload)
        return schedule_id

    def schedule_recurring(self, cron_expression: str, payload: str = "",
                           schedule_id: str = "") -> str:
        """``ScheduleRecurring``: call back on every tick of ``cron_expression``."""
        if not schedule_id:
            schedule_id = self.clock.new_id()
        payload = _text(payload)
        with self._lock:
            if schedule_id in self._schedules:
                raise ServiceError(f"schedule ID {go_quote(schedule_id)} already exists")
            try:
                schedule = cron.parse(cron_expression, dialect=self.dialect, rng=self.clock.random)
            except cron.CronError as e:
                raise ServiceError(f"failed to schedule task: {e}") from None
            entry = _Entry(schedule_id, payload, recurring=True, cron=cron_expression,
                           schedule=schedule)
            self._schedules[schedule_id] = entry
            self._arm(entry, self.clock.now())
        self.ctx.emit(events.SCHEDULE_CREATED, schedule_id=schedule_id, recurring=True,
                      delay_seconds=None, cron=cron_expression, next_run=entry.next_run,
                      payload=payload)
        return schedule_id

    def cancel_schedule(self, schedule_id: str) -> None:
        """``CancelSchedule``: stop a one-time timer or remove a cron job."""
        with self._lock:
            entry = self._schedules.pop(schedule_id, None)
            if entry is None:
                raise ServiceError(f"schedule ID {go_quote(schedule_id)} not found")
            self._disarm(entry)
        self.ctx.emit(events.SCHEDULE_CANCELLED, schedule_id=schedule_id,
                      recurring=entry.recurring, via="cancel")

    def close(self) -> None:
        """Cancel every schedule of the plugin (unload, reload, shutdown)."""
        with self._lock:
            entries = list(self._schedules.values())
            self._schedules = {}
            for entry in entries:
                self._disarm(entry)
        for entry in entries:
            self.ctx.emit(events.SCHEDULE_CANCELLED, schedule_id=entry.id,
                          recurring=entry.recurring, via="close")

    # -- read helpers for notebooks ----------------------------------------------------------
    def schedules(self) -> list[dict[str, Any]]:
        """The live schedules: id, kind, cron, payload, next run (Unix s), firings so far."""
        with self._lock:
            entries = list(self._schedules.values())
        return [{"schedule_id": e.id, "recurring": e.recurring, "cron": e.cron,
                 "delay_seconds": e.delay_seconds, "payload": e.payload, "next_run": e.next_run,
                 "fired": e.fired} for e in entries]

    def has(self, schedule_id: str) -> bool:
        with self._lock:
            return schedule_id in self._schedules

    def __len__(self) -> int:
        with self._lock:
            return len(self._schedules)

    # -- firing ------------------------------------------------------------------------------
    def _arm(self, entry: _Entry, after: float) -> None:
        """Set the cron entry's timer for its next tick (robfig: ``Schedule.Next(now)``)."""
        entry.next_run = entry.schedule.next(after, self.clock.tz)
        if entry.next_run is None:  # no tick within robfig's five years: never fires
            entry.handle = None
            return
        entry.handle = self.clock.call_at(entry.next_run, partial(self._tick, entry),
                                          label=self._label(entry.id), daemon=True)

    def _disarm(self, entry: _Entry) -> None:
        entry.cancelled = True
        self.clock.cancel(entry.handle)
        entry.handle = None

    def _fire_one_time(self, entry: _Entry) -> None:
        entry.fired += 1
        self.ctx.emit(events.SCHEDULE_FIRED, schedule_id=entry.id, recurring=False,
                      expected=entry.next_run, actual=self.clock.now(), firing=entry.fired,
                      next_run=None)
        self._dispatch(partial(self._invoke, entry.id, True, entry.fired))

    def _tick(self, entry: _Entry) -> None:
        with self._lock:
            if entry.cancelled:
                return
            expected, actual = entry.next_run, self.clock.now()
            entry.fired += 1
            firing = entry.fired
            self._arm(entry, actual)
        self.ctx.emit(events.SCHEDULE_FIRED, schedule_id=entry.id, recurring=True,
                      expected=expected, actual=actual, firing=firing, next_run=entry.next_run)
        self._dispatch(partial(self._invoke, entry.id, False, firing))

    def _dispatch(self, job) -> None:
        # Go runs every firing in its own goroutine; virtual time runs it right here.
        if self.clock.is_virtual:
            job()
        else:
            self.clock.spawn(job, label=self._label("callback"))

    def _invoke(self, schedule_id: str, one_time: bool, firing: int = 0) -> None:
        """Navidrome's ``invokeCallback`` (then, for a one-time timer, delete the id)."""
        with self._lock:
            entry = self._schedules.get(schedule_id)
        if entry is None:
            self._log("warn", "Schedule entry not found during callback", schedule_id=schedule_id)
            self._finished(schedule_id, one_time, "missing", None, 0.0, 0.0, firing)
            return
        if not self.ctx.has_export(EXPORT):
            self._log("warn", "Plugin does not have scheduler capability", schedule_id=schedule_id)
            self._finished(schedule_id, one_time, "skipped", None, 0.0, 0.0, firing)
            return
        request = {"scheduleId": schedule_id, "payload": entry.payload,
                   "isRecurring": entry.recurring}
        started = time.perf_counter()
        error = None
        try:
            self.ctx.call_export(EXPORT, request)
        except PluginCallError as e:
            error = str(e)
        except Exception as e:  # noqa: BLE001 - a callback failure is only logged
            error = str(e) or type(e).__name__
        wall = time.perf_counter() - started
        outcome = "ok" if error is None else "error"
        if error is not None:
            self._log("error", "Scheduler callback failed", schedule_id=schedule_id, error=error)
        if self.clock.is_virtual:
            duration = self.clock.virtual_duration(EXPORT, request, wall)
            self.clock.call_later(duration, partial(self._finished, schedule_id, one_time, outcome,
                                                    error, duration, wall, firing),
                                  label=self._label(schedule_id), daemon=not one_time)
        else:
            self._finished(schedule_id, one_time, outcome, error, wall, wall, firing)

    def _finished(self, schedule_id: str, one_time: bool, outcome: str, error: str | None,
                  duration: float, wall: float, firing: int = 0) -> None:
        removed = False
        if one_time:
            with self._lock:  # Navidrome deletes whatever is under the id by now
                removed = self._schedules.pop(schedule_id, None) is not None
        self.ctx.emit(events.SCHEDULE_CALLBACK_FINISHED, schedule_id=schedule_id,
                      recurring=not one_time, outcome=outcome, error=error, duration=duration,
                      wall_duration=wall, removed=removed, firing=firing)

    def _log(self, level: str, message: str, **fields) -> None:
        self.ctx.emit(events.SERVICE_LOG, service="Scheduler", level=level, message=message,
                      **fields)

    def _label(self, what: str) -> str:
        return f"scheduler {self.ctx.plugin_id} {what}"


@dataclass
class _Entry:
    id: str
    payload: str
    recurring: bool
    delay_seconds: int | None = None
    cron: str | None = None
    schedule: Any = None
    next_run: float | None = None
    handle: Any = None
    cancelled: bool = False
    fired: int = 0


def _text(payload: Any) -> str:
    if payload is None:
        return ""
    if isinstance(payload, (bytes, bytearray)):
        return bytes(payload).decode("utf-8", "replace")
    return str(payload)
