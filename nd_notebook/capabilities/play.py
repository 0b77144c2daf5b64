"""``host.play(user, track)``: one listen, as Navidrome's play tracker handles it.

A Subsonic client reports now-playing (``scrobble?submission=false``) and, later, the
scrobble (``submission=true``). Navidrome then:

1. sends ``nd_scrobbler_now_playing`` (position in seconds) to every Scrobbler plugin whose
   users scope holds the user and which says the user is authorized;
2. records the play in its database (play counts and dates of track, album and artist, the
   scrobble history row): ``library.record_play``;
3. sends ``nd_scrobbler_scrobble`` (timestamp = start of play, Unix seconds) to every
   Scrobbler plugin whose users scope holds the user and which says, asked again, that the user
   is authorized (``nd_scrobbler_is_authorized`` is called before each of the two sends).

A track whose artist is ``[Unknown Artist]`` is recorded but not sent to any plugin. The
report has one row per Scrobbler plugin. A scrobble goes through Navidrome's scrobble buffer
(``capabilities/scrobblebuffer.py``): stored, then sent after the plugin's older stored
scrobbles of that user; ``retry_later`` keeps it for a retry 5 s later, and a row's
``scrobble`` is ``buffered`` when an older scrobble still waits to be retried (``buffered``
counts what waits for that plugin and user).
``nd_scrobbler_playback_report`` is not part of this flow (Navidrome sends it for a client's
playback reports): ``report_playback`` sends one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import LibraryError
from .errors import ScrobblerError
from .scrobblebuffer import ScrobbleBuffer
from .scrobbler import PLAYBACK_STATES, ScrobblerPlugin

UNKNOWN_ARTIST = "[Unknown Artist]"


def play(library, plugins: Iterable[ScrobblerPlugin], user: str | dict, track: str | dict, *,
         at: float, position: int = 0, buffer: ScrobbleBuffer) -> list[dict[str, Any]]:
    """Now playing + scrobble to every authorized scrobbler, the play recorded in between."""
    u = find_user(library, user)
    info, in_library = track_info(library, track)
    timestamp = int(at)
    send = info.get("artist") != UNKNOWN_ARTIST
    entries = []
    for plugin in plugins:  # Navidrome's now-playing dispatch: ask, then send
        ok, why = plugin.authorization(u["id"], u["user_name"]) if send else (False, None)
        row = {"plugin": plugin.id, "user": u["user_name"], "track": info.get("id", ""),
               "timestamp": timestamp, "authorized": ok,
               "reason": why if send else "track artist is [Unknown Artist]: not sent",
               "now_playing": None, "now_playing_error": None,
               "scrobble": None, "scrobble_error": None, "buffered": 0}
        entries.append((plugin, row))
        if ok:
            row["now_playing"], row["now_playing_error"] = _outcome(
                plugin.now_playing, u["user_name"], info, position)
    if in_library:
        library.record_play(u["id"], info["id"], timestamp)
    for plugin, row in entries:  # the scrobble dispatch asks each plugin again
        if not send:
            continue
        ok, why = plugin.authorization(u["id"], u["user_name"])
        if ok:  # stored, then sent behind the user's older stored scrobbles
            entry = buffer.store(plugin.id, u, info, timestamp, in_library=in_library)
            row["scrobble"], row["scrobble_error"] = buffer.send(plugin).get(
                entry.seq, ("buffered", "waiting behind an earlier scrobble to be retried"))
            row["buffered"] = len(buffer.waiting(plugin.id, u["id"]))
        elif row["authorized"]:  # authorized for now-playing only
            row["scrobble_error"] = f"not sent: {why}"
    return [row for _, row in entries]


def report_playback(library, plugins: Iterable[ScrobblerPlugin], user: str | dict,
                    track: str | dict, state: str, *, at: float, position_ms: int = 0,
                    playback_rate: float = 1.0, player_id: str = "",
                    player_name: str = "") -> list[dict[str, Any]]:
    """``nd_scrobbler_playback_report`` to every authorized scrobbler (HEAD); a plugin
    without it is reported as ``ignored``."""
    if state not in PLAYBACK_STATES:
        raise ValueError(f"state must be one of {', '.join(PLAYBACK_STATES)}, not {state!r}")
    u = find_user(library, user)
    info, _ = track_info(library, track)
    rows = []
    for plugin in plugins:
        ok, why = plugin.authorization(u["id"], u["user_name"])
        row = {"plugin": plugin.id, "user": u["user_name"], "track": info.get("id", ""),
               "state": state, "authorized": ok, "reason": why, "report": None, "error": None}
        rows.append(row)
        if not ok:
            continue
        try:
            sent = plugin.playback_report(
                u["user_name"], info, state, position_ms=position_ms,
                playback_rate=playback_rate, player_id=player_id, player_name=player_name,
                timestamp=int(at))
            row["report"] = "ok" if sent else "ignored"
        except ScrobblerError as e:
            row["report"], row["error"] = e.kind, e.cause
    return rows


def stored_track_info(library, entry) -> dict[str, Any]:
    """A stored scrobble's TrackInfo as sent now: a library track read again (Navidrome joins
    the media file when it sends), else (not in the library, or removed since) as stored."""
    if not entry.in_library:
        return entry.track
    try:
        return track_info(library, entry.track.get("id", ""))[0]
    except LibraryError:  # removed since
        return entry.track


def find_user(library, user: str | dict) -> dict[str, Any]:
    """A user row by id or user name (case-insensitive), or a dict with ``id``/``user_name``."""
    if isinstance(user, dict):
        return {"id": user.get("id", ""), "user_name": user.get("user_name") or
                user.get("userName") or user.get("username", "")}
    found = library.user(user) or library.user_by_name(user)
    if found is None:
        raise LibraryError(f"user not found: {user}")
    return found


def track_info(library, track: str | dict) -> tuple[dict[str, Any], bool]:
    """``(TrackInfo, in the library)``: by media file id, or a dict (a library track's row or
    id, else TrackInfo fields). ``libraryId``/``path`` are added for filesystem plugins.
    Navidrome builds every TrackInfo from a media file, so its ``artists`` and ``albumArtists``
    are lists (``[]`` without participants, never ``null``): a dict without them gets ``[]``."""
    if isinstance(track, dict):
        row = library.track(track["id"]) if track.get("id") else None
        if row is None:
            info = dict(track)
            for key in ("artists", "albumArtists"):  # a media file's: a list, maybe empty
                if info.get(key) is None:
                    info[key] = []
            return info, False
    else:
        row = library.track(track)
        if row is None:
            raise LibraryError(f"track not found: {track}")
    info = library.track_info(row["id"])
    info["libraryId"] = row.get("library_id") or 0
    info["path"] = row.get("path") or ""
    return info, True


def _outcome(send, *args) -> tuple[str, str | None]:
    try:
        send(*args)
    except ScrobblerError as e:
        return e.kind, e.cause
    return "ok", None
