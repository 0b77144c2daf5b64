"""Lifecycle, Scheduler, TaskWorker, WebSocket and SonicSimilarity: how Navidrome reads them.

- ``nd_on_init``, ``nd_scheduler_callback``: no output; a failure is the plugin's error
  (Navidrome only logs it).
- ``nd_task_execute``: the output is a JSON string, the task's status message (empty output is
  ``""``; any other JSON is a decode error, i.e. a failed attempt).
- ``nd_websocket_on_*``: no output; a missing export is not an error (Navidrome does not even
  log it), other failures are the plugin's error.
- ``nd_get_sonic_similar_tracks``/``nd_find_sonic_path``: the list of ``{song, similarity}``
  matches (SongRef with every field, zero values filled); errors are errors.
"""

from __future__ import annotations

from typing import Any

from ..errors import FunctionNotFoundError
from .codec import Call, invoke, request


def on_init(call: Call) -> None:
    invoke(call, "nd_on_init", {})


def scheduler_callback(call: Call, schedule_id: str, payload: str = "",
                       is_recurring: bool = False) -> None:
    invoke(call, "nd_scheduler_callback", request(
        "nd_scheduler_callback", schedule_id=schedule_id, payload=payload,
        is_recurring=is_recurring))


def task_execute(call: Call, queue_name: str, task_id: str, payload: bytes = b"",
                 attempt: int = 1) -> str:
    return invoke(call, "nd_task_execute", request(
        "nd_task_execute", queue_name=queue_name, task_id=task_id, payload=payload,
        attempt=attempt))


def websocket_callback(call: Call, export: str, req: dict[str, Any]) -> None:
    """One ``nd_websocket_on_*`` callback; a plugin without it ignores the event."""
    try:
        invoke(call, export, req)
    except FunctionNotFoundError:
        pass


def sonic_matches(call: Call, export: str, req: dict[str, Any]) -> list[dict[str, Any]]:
    """The matches of a SonicSimilarity export, ``[]`` for an empty answer."""
    resp = invoke(call, export, req)
    return list(resp.get("matches") or [])


def sonic_similar_tracks(call: Call, song: dict[str, Any], count: int = 10) -> list[dict]:
    export = "nd_get_sonic_similar_tracks"
    return sonic_matches(call, export, request(export, song=song, count=count))


def find_sonic_path(call: Call, start_song: dict[str, Any], end_song: dict[str, Any],
                    count: int = 10) -> list[dict]:
    export = "nd_find_sonic_path"
    return sonic_matches(call, export, request(export, start_song=start_song,
                                               end_song=end_song, count=count))
