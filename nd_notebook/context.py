"""What a host service knows about the plugin it serves."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .clock import Clock
    from .events import EventLog


@dataclass
class PluginSettings:
    """Navidrome's per-plugin admin settings (stored in its DB row, not in the manifest).

    In a notebook they default to every user and every library.
    """

    all_users: bool = True
    users: list[str] = field(default_factory=list)  # user IDs
    all_libraries: bool = True
    libraries: list[int] = field(default_factory=list)
    allow_write_access: bool = False


@dataclass
class PluginContext:
    """Handed to every service constructor: ``SomeService(ctx)``.

    ``call_export(name, input)`` runs an export on a fresh instance and returns the decoded
    output, raising ``PluginCallError`` with Navidrome's text; services use it for callbacks
    (``nd_task_execute``, ``nd_scheduler_callback``...). A service thread whose calls must die
    when the service stops (Navidrome cancels the service context) runs within
    ``cancellable_thread()``; ``cancel_thread(thread)`` then cancels its running call and any
    it starts later (runtime/interrupt.py; no-ops for a context made without a Host).
    """

    plugin_id: str
    data_dir: Path  # <Host data_dir>/plugins/<plugin_id>, created (mode 0700) before services
    permissions: dict[str, Any]  # the manifest's "permissions" object, as parsed JSON
    config: dict[str, str]  # the plugin's config map (spec 1.3: values are strings)
    settings: PluginSettings
    clock: Clock
    events: EventLog
    call_export: Callable[[str, Any], Any]
    has_export: Callable[[str], bool]
    host: Any = None  # the owning Host (library, users, loop...)
    cancellable_thread: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext
    cancel_thread: Callable[[threading.Thread], None] = lambda thread: None

    def permission(self, key: str) -> dict[str, Any] | None:
        """The options object of a declared permission, or None when not declared."""
        value = self.permissions.get(key)
        if value is None and key not in self.permissions:
            return None
        return value or {}

    def emit(self, kind: str, **data: Any):
        return self.events.emit(kind, self.plugin_id, **data)
