"""Scrobbler: Navidrome's host-side adapter (``plugins/scrobbler_adapter.go``).

- ``is_authorized(user_id, user_name)``: the user (by ID) must be in the plugin's users scope
  (``allUsers`` or the listed IDs; an empty list allows nobody) before the plugin is asked;
  any failure of ``nd_scrobbler_is_authorized`` means "not authorized".
- ``now_playing``/``scrobble``: a plugin error becomes ``ScrobblerNotAuthorized``,
  ``ScrobblerRetryLater`` or ``ScrobblerUnrecoverable`` by substring of its text.
- ``playback_report`` (HEAD): a missing or not-implemented export is silently ignored.
- TrackInfo carries ``libraryId``/``path`` only when the plugin has ``library.filesystem`` and
  that library in its scope (HEAD); otherwise they are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import FunctionNotFoundError, NotImplementedByPluginError, PluginCallError
from .codec import Call, invoke, request
from .errors import ScrobblerError, map_scrobbler_error

PLAYBACK_STATES = ("starting", "playing", "paused", "stopped", "expired")


@dataclass
class ScrobblerPlugin:
    """A loaded Scrobbler plugin with the admin settings Navidrome gates users by."""

    id: str
    call: Call
    all_users: bool = True
    users: list[str] = field(default_factory=list)  # user IDs
    permissions: dict[str, Any] = field(default_factory=dict)  # the manifest's permissions
    all_libraries: bool = True
    libraries: list[int] = field(default_factory=list)

    # -- authorization -----------------------------------------------------------------
    def user_allowed(self, user_id: str) -> bool:
        """Navidrome's ``isUserAllowed``: allUsers, else the ID is listed."""
        if self.all_users:
            return True
        return bool(self.users) and user_id in self.users

    def is_authorized(self, user_id: str, user_name: str) -> bool:
        """Scope check first, then ``nd_scrobbler_is_authorized``; a failure is False."""
        return self.authorization(user_id, user_name)[0]

    def authorization(self, user_id: str, user_name: str) -> tuple[bool, str | None]:
        """``(authorized, why not)``: the reason is None when authorized."""
        if not self.user_allowed(user_id):
            return False, "user not in the plugin's users scope"
        try:
            ok = invoke(self.call, "nd_scrobbler_is_authorized",
                        request("nd_scrobbler_is_authorized", username=user_name))
        except PluginCallError as e:
            return False, f"is_authorized failed: {e}"
        return (True, None) if ok else (False, "is_authorized returned false")

    # -- calls -------------------------------------------------------------------------
    def now_playing(self, user_name: str, track: dict[str, Any], position: int = 0) -> None:
        """Send now-playing (position in seconds); raises a mapped ``ScrobblerError``."""
        req = request("nd_scrobbler_now_playing", username=user_name,
                      track=self.track_info(track), position=position)
        _mapped(self.call, "nd_scrobbler_now_playing", req)

    def scrobble(self, user_name: str, track: dict[str, Any], timestamp: int) -> None:
        """Send a scrobble (timestamp = start of play, Unix seconds)."""
        req = request("nd_scrobbler_scrobble", username=user_name,
                      track=self.track_info(track), timestamp=int(timestamp))
        _mapped(self.call, "nd_scrobbler_scrobble", req)

    def playback_report(self, user_name: str, track: dict[str, Any], state: str, *,
                        position_ms: int = 0, playback_rate: float = 1.0, player_id: str = "",
                        player_name: str = "", timestamp: int = 0) -> bool:
        """Send a playback report; False when the plugin does not implement it (ignored)."""
        req = request("nd_scrobbler_playback_report", username=user_name,
                      track=self.track_info(track), state=state, position_ms=position_ms,
                      playback_rate=playback_rate, player_id=player_id,
                      player_name=player_name, timestamp=int(timestamp))
        try:
            _mapped(self.call, "nd_scrobbler_playback_report", req)
        except ScrobblerError as e:
            if isinstance(e.__cause__, (FunctionNotFoundError, NotImplementedByPluginError)):
                return False
            raise
        return True

    def track_info(self, info: dict[str, Any]) -> dict[str, Any]:
        """The TrackInfo this plugin may see: no ``libraryId``/``path`` without filesystem
        access to the track's library."""
        info = dict(info)
        if not self._filesystem_access(info.get("libraryId")):
            info.pop("libraryId", None)
            info.pop("path", None)
        return info

    def _filesystem_access(self, library_id: Any) -> bool:
        lib = self.permissions.get("library")
        if not isinstance(lib, dict) or not lib.get("filesystem"):
            return False
        if not library_id:
            return False
        return self.all_libraries or int(library_id) in [int(x) for x in self.libraries]


def _mapped(call: Call, export: str, req: dict[str, Any]) -> None:
    try:
        invoke(call, export, req)
    except PluginCallError as e:
        raise map_scrobbler_error(e) from e


def send(call: Call, export: str, req: dict[str, Any]) -> None:
    """A scrobbler export with Navidrome's error mapping (``plugin.scrobbler.<helper>``)."""
    if export == "nd_scrobbler_playback_report":
        try:
            _mapped(call, export, req)
        except ScrobblerError as e:
            if not isinstance(e.__cause__, (FunctionNotFoundError, NotImplementedByPluginError)):
                raise
        return
    _mapped(call, export, req)


def is_authorized(call: Call, req: dict[str, Any]) -> bool:
    """``nd_scrobbler_is_authorized`` as Navidrome reads it: any failure is False."""
    try:
        return bool(invoke(call, "nd_scrobbler_is_authorized", req))
    except PluginCallError:
        return False
