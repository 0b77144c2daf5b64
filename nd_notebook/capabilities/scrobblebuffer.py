"""Navidrome's scrobble buffer: every Scrobbler plugin's scrobbles are stored, then sent.

Navidrome wraps each Scrobbler plugin in a buffered scrobbler (``core/scrobbler/
buffered_scrobbler.go``): the play tracker's scrobble only stores an entry (plugin, user, track,
play time) and wakes the plugin's sender, which then sends the stored entries of each user,
oldest play first:

- a success, or an error other than ``retry_later`` (Navidrome logs ``Error sending scrobble to
  service. Discarding``), removes the entry;
- ``retry_later`` keeps it and stops that user's entries for now (``Could not send scrobble.
  Will be retried``); the sender wakes again 5 s later (Navidrome's ``time.AfterFunc(5 *
  time.Second, ...)``, once per failed pass), or at the plugin's next scrobble, whichever comes
  first;
- a stored entry is sent as it is: ``nd_scrobbler_is_authorized`` was asked once, before it was
  stored, and is not asked again;
- the sender runs on a background context that carries no user, and the plugin adapter takes
  ``username`` from the context: every ``nd_scrobbler_scrobble`` of a play has ``"username":
  ""`` (``is_authorized`` and ``now_playing``, on the play request's context, have the name).

Here the first send happens inside ``host.play`` (Navidrome's sender runs on its own goroutine
right after the wake-up), so its outcome is in the play's report; the retries run on the Host's
clock (virtual or real). Unloading a plugin stops its retries (Navidrome's ``Stop``); its
entries stay stored, as in Navidrome's database, and go out at the next scrobble of a plugin
loaded under the same id. ``host.scrobble_buffer()`` lists what is waiting.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import events
from .errors import ScrobblerError, ScrobblerRetryLater

RETRY_SECONDS = 5.0  # Navidrome's fixed wait after a pass that left something to retry

Resolve = Callable[[str], Any]  # plugin id -> its ScrobblerPlugin now, or None (unloaded)


@dataclass
class Entry:
    """One stored scrobble (a row of Navidrome's ``scrobble_buffer`` table)."""

    seq: int
    plugin: str
    user_id: str
    user_name: str
    track: dict[str, Any]  # its TrackInfo as stored
    timestamp: int
    in_library: bool = True  # a library track is read again when sent
    attempts: int = 0
    last_error: str | None = None

    def row(self) -> dict[str, Any]:
        return {"plugin": self.plugin, "user": self.user_name, "track": self.track.get("id", ""),
                "timestamp": self.timestamp, "attempts": self.attempts,
                "last_error": self.last_error}


class ScrobbleBuffer:
    """The Host's stored scrobbles and each plugin's sender (see the module docstring)."""

    def __init__(self, clock, event_log, resolve: Resolve,
                 fresh_info: Callable[[Entry], dict[str, Any]]):
        self._clock = clock
        self._events = event_log
        self._resolve = resolve
        self._fresh_info = fresh_info  # a stored track as sent now
        self._entries: list[Entry] = []
        self._seq = itertools.count(1)
        self._timers: dict[str, list] = {}
        self._lock = threading.RLock()  # one sender at a time, as Navidrome's one goroutine

    def store(self, plugin_id: str, user: dict[str, Any], track: dict[str, Any],
              timestamp: int, *, in_library: bool = True) -> Entry:
        entry = Entry(next(self._seq), plugin_id, user["id"], user["user_name"], dict(track),
                      int(timestamp), in_library=in_library)
        with self._lock:
            self._entries.append(entry)
        return entry

    def send(self, plugin) -> dict[int, tuple[str, str | None]]:
        """One pass of ``plugin``'s sender: ``{entry seq: (outcome, plugin's error)}`` for the
        entries it sent; a retry is scheduled when something is left to retry."""
        outcomes: dict[int, tuple[str, str | None]] = {}
        with self._lock:
            retry = False
            for user_id in self._users(plugin.id):
                for entry in self._waiting(plugin.id, user_id):
                    info = self._fresh_info(entry)
                    entry.attempts += 1
                    try:
                        plugin.scrobble("", info, entry.timestamp)  # no user: module docs
                    except ScrobblerRetryLater as e:
                        entry.last_error = e.cause
                        outcomes[entry.seq] = (e.kind, e.cause)
                        self._log(plugin.id, "warn", "Could not send scrobble. Will be retried",
                                  entry, info, e.cause)
                        retry = True
                        break  # the user's later entries wait behind this one
                    except ScrobblerError as e:
                        outcomes[entry.seq] = (e.kind, e.cause)
                        self._log(plugin.id, "error",
                                  "Error sending scrobble to service. Discarding", entry, info,
                                  e.cause)
                    else:
                        outcomes[entry.seq] = ("ok", None)
                    self._entries.remove(entry)
            if retry:
                self._schedule(plugin.id)
        return outcomes

    def waiting(self, plugin_id: str | None = None, user_id: str | None = None) -> list[Entry]:
        with self._lock:
            return [e for e in self._entries
                    if (plugin_id is None or e.plugin == plugin_id)
                    and (user_id is None or e.user_id == user_id)]

    def stop(self, plugin_id: str) -> None:
        """The plugin was unloaded: its retries stop; its entries stay stored."""
        with self._lock:
            for handle in self._timers.pop(plugin_id, []):
                self._clock.cancel(handle)

    # -- inside -----------------------------------------------------------------------------
    def _users(self, plugin_id: str) -> list[str]:
        # Navidrome's UserIDs: GROUP BY user_id ORDER BY count(*), the fewest entries first.
        counts: dict[str, int] = {}
        for e in self._entries:
            if e.plugin == plugin_id:
                counts[e.user_id] = counts.get(e.user_id, 0) + 1
        return sorted(counts, key=lambda user_id: (counts[user_id], user_id))

    def _waiting(self, plugin_id: str, user_id: str) -> list[Entry]:
        # Navidrome's Next: the user's oldest play first (then the order stored).
        return sorted(self.waiting(plugin_id, user_id), key=lambda e: (e.timestamp, e.seq))

    def _schedule(self, plugin_id: str) -> None:
        holder: list = []

        def wake() -> None:
            with self._lock:
                timers = self._timers.get(plugin_id, [])
                if holder and holder[0] in timers:
                    timers.remove(holder[0])
            plugin = self._resolve(plugin_id)
            if plugin is not None:
                self.send(plugin)

        handle = self._clock.call_later(RETRY_SECONDS, wake,
                                        label=f"scrobbler {plugin_id} retry", daemon=True)
        holder.append(handle)
        self._timers.setdefault(plugin_id, []).append(handle)

    def _log(self, plugin_id: str, level: str, message: str, entry: Entry,
             info: dict[str, Any], error: str | None) -> None:
        self._events.emit(events.SERVICE_LOG, plugin_id, service="Scrobbler", level=level,
                          message=message, user_id=entry.user_id, track=info.get("title", ""),
                          artist=info.get("artist", ""), scrobbler=plugin_id, error=error)
