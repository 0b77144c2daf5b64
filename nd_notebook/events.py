"""Typed events and the Host's append-only, thread-safe event log.

Every service reports what it does here (host calls, task state changes, attempts, schedule
firings, websocket messages...). DataFrames, charts and widgets read only this log.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

# Event kinds. One constant per kind so that producers and readers cannot drift apart.
HOST_CALL = "host_call"
PLUGIN_CALL = "plugin_call"
PLUGIN_LOADED = "plugin_loaded"
PLUGIN_UNLOADED = "plugin_unloaded"
PLUGIN_LOG = "plugin_log"
PLUGIN_OUTPUT = "plugin_output"  # a call's WASI stdout/stderr (stream, text, export)
TASK_ENQUEUED = "task_enqueued"
TASK_ATTEMPT_STARTED = "task_attempt_started"
TASK_ATTEMPT_FINISHED = "task_attempt_finished"
TASK_RETRY_SCHEDULED = "task_retry_scheduled"
TASK_COMPLETED = "task_completed"
TASK_FAILED = "task_failed"
TASK_CANCELLED = "task_cancelled"
TASK_REVERTED = "task_reverted"
TASK_CLEANED_UP = "task_cleaned_up"
QUEUE_CREATED = "queue_created"
SCHEDULE_CREATED = "schedule_created"
SCHEDULE_FIRED = "schedule_fired"
SCHEDULE_CANCELLED = "schedule_cancelled"
WEBSOCKET_MESSAGE = "websocket_message"
WEBSOCKET_OPENED = "websocket_opened"
WEBSOCKET_CLOSED = "websocket_closed"


@dataclass(frozen=True, slots=True)  # slots: no __dict__, one object less per event to collect
class Event:
    """One thing that happened. ``time`` is the Host clock's Unix time in seconds."""

    seq: int
    time: float
    kind: str
    plugin_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def as_row(self) -> dict[str, Any]:
        return {"seq": self.seq, "time": self.time, "kind": self.kind,
                "plugin_id": self.plugin_id, **self.data}


class EventLog:
    """Append-only list of events; safe to append from worker threads."""

    def __init__(self, clock: Callable[[], float]):
        self._now = clock
        self._events: list[Event] = []
        self._lock = threading.Lock()
        self._seq = itertools.count()
        self._listeners: list[Callable[[Event], None]] = []

    def emit(self, kind: str, plugin_id: str | None = None, /, **data: Any) -> Event:
        with self._lock:
            ev = Event(next(self._seq), self._now(), kind, plugin_id, data)
            self._events.append(ev)
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(ev)
            except Exception:  # noqa: BLE001, S110 - a broken listener must never break a service
                pass
        return ev

    def subscribe(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``listener(event)`` for every new event; returns an unsubscribe function."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def __iter__(self) -> Iterator[Event]:
        with self._lock:
            return iter(list(self._events))

    def __len__(self) -> int:
        return len(self._events)

    def select(self, kind: str | tuple[str, ...] | None = None,
               plugin_id: str | None = None) -> list[Event]:
        kinds = (kind,) if isinstance(kind, str) else kind
        return [e for e in self if (kinds is None or e.kind in kinds)
                and (plugin_id is None or e.plugin_id == plugin_id)]

    def clear(self) -> None:
        with self._lock:
            self._events.clear()


# Appended by the TaskQueue/Scheduler services.
SCHEDULE_CALLBACK_FINISHED = "schedule_callback_finished"
SERVICE_LOG = "service_log"  # what Navidrome's host services log (warnings, errors)
