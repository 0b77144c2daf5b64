"""MetadataAgent: Navidrome's host-side adapter and its not-found rules (HEAD).

``fetch(call, export, request)`` returns the whole response struct as a dict, or raises
``AgentNotFound`` when Navidrome would report ``agents.ErrNotFound``:

- the output is ``null`` (nil pointer), or the response's key field is empty (an empty
  string, an empty list); ``nd_get_album_info`` counts only ``null`` as not found;
- the export is missing (``function not found``) or returns -2 (``function not implemented``).

Any other plugin error stays an error (HEAD 59a4ed8e7, so the caller backs off); one whose
text holds ``agent(retry_later)`` or ``agent(retry_later:<seconds>)`` is raised as
``AgentRetryLater`` with the delay it asks for (Navidrome's ``agents.ErrRetryLater``, newer
than HEAD; what Navidrome's chain then does with the delay is not modelled). At the seed
API every plugin error was wrapped as not found (``errors.Join(ErrNotFound, err)``), except the
similar-songs exports, which returned errors as they were; nd-notebook follows HEAD.
"""

from __future__ import annotations

import struct
from typing import Any

from ..errors import FunctionNotFoundError, NotImplementedByPluginError, PluginCallError
from .codec import Call, invoke, request
from .errors import AgentNotFound, AgentRetryLater, retry_later_seconds

# export -> the response field whose emptiness means "not found" (None: only null counts).
KEY_FIELDS: dict[str, str | None] = {
    "nd_get_artist_mbid": "mbid",
    "nd_get_artist_url": "url",
    "nd_get_artist_biography": "biography",
    "nd_get_similar_artists": "artists",
    "nd_get_artist_images": "images",
    "nd_get_artist_top_songs": "songs",
    "nd_get_album_info": None,
    "nd_get_album_images": "images",
    "nd_get_similar_songs_by_track": "songs",
    "nd_get_similar_songs_by_album": "songs",
    "nd_get_similar_songs_by_artist": "songs",
}


def fetch(call: Call, export: str, req: dict[str, Any] | None = None, *,
          agent: str = "") -> dict[str, Any]:
    """Call a metadata export; the decoded response, or ``AgentNotFound`` (or
    ``AgentRetryLater`` for an error asking for it)."""
    try:
        result = invoke(call, export, req)
    except (NotImplementedByPluginError, FunctionNotFoundError) as e:
        # Not found for the chain; the reason (not implemented, not exported) stays attached.
        raise AgentNotFound(agent=agent, export=export, cause=e) from e
    except PluginCallError as e:
        delay = retry_later_seconds(str(e))
        if delay is None:
            raise
        raise AgentRetryLater(e, delay, agent=agent) from e
    if result is None:
        raise AgentNotFound(agent=agent, export=export)
    key = KEY_FIELDS[export]
    if key is not None and not result.get(key):
        raise AgentNotFound(agent=agent, export=export)
    return result


def fetch_or_none(call: Call, export: str, req: dict[str, Any] | None = None):
    """``fetch`` with not found as None: what ``plugin.metadata.<helper>(...)`` returns."""
    try:
        return fetch(call, export, req)
    except AgentNotFound:
        return None


class MetadataAgent:
    """One plugin seen as a Navidrome agent: the ``agents.*Retriever`` methods.

    Values are what Navidrome's adapter hands its agents chain: strings, lists of artists,
    images and songs (song durations in milliseconds), album info. Not found raises
    ``AgentNotFound``; other failures raise the plugin's error.
    """

    def __init__(self, name: str, call: Call):
        self.name = name
        self._call = call

    def _fetch(self, export: str, **fields) -> dict[str, Any]:
        return fetch(self._call, export, request(export, **fields), agent=self.name)

    def artist_mbid(self, id: str = "", name: str = "") -> str:
        return self._fetch("nd_get_artist_mbid", id=id, name=name)["mbid"]

    def artist_url(self, id: str = "", name: str = "", mbid: str = "") -> str:
        return self._fetch("nd_get_artist_url", id=id, name=name, mbid=mbid)["url"]

    def artist_biography(self, id: str = "", name: str = "", mbid: str = "") -> str:
        return self._fetch("nd_get_artist_biography", id=id, name=name, mbid=mbid)["biography"]

    def similar_artists(self, id: str = "", name: str = "", mbid: str = "",
                        limit: int = 0) -> list[dict[str, Any]]:
        res = self._fetch("nd_get_similar_artists", id=id, name=name, mbid=mbid, limit=limit)
        return [artist(a) for a in res["artists"]]

    def artist_images(self, id: str = "", name: str = "", mbid: str = "") -> list[dict]:
        res = self._fetch("nd_get_artist_images", id=id, name=name, mbid=mbid)
        return [image(i) for i in res["images"]]

    def artist_top_songs(self, id: str = "", name: str = "", mbid: str = "",
                         count: int = 0) -> list[dict[str, Any]]:
        res = self._fetch("nd_get_artist_top_songs", id=id, name=name, mbid=mbid, count=count)
        return [song(s) for s in res["songs"]]

    def album_info(self, name: str = "", artist: str = "", mbid: str = "") -> dict[str, Any]:
        res = self._fetch("nd_get_album_info", name=name, artist=artist, mbid=mbid)
        return {k: res[k] for k in ("name", "mbid", "description", "url")}

    def album_images(self, name: str = "", artist: str = "", mbid: str = "") -> list[dict]:
        res = self._fetch("nd_get_album_images", name=name, artist=artist, mbid=mbid)
        return [image(i) for i in res["images"]]

    def similar_songs_by_track(self, id: str = "", name: str = "", artist: str = "",
                               mbid: str = "", count: int = 0) -> list[dict[str, Any]]:
        res = self._fetch("nd_get_similar_songs_by_track", id=id, name=name, artist=artist,
                          mbid=mbid, count=count)
        return [song(s) for s in res["songs"]]

    def similar_songs_by_album(self, id: str = "", name: str = "", artist: str = "",
                               mbid: str = "", count: int = 0) -> list[dict[str, Any]]:
        res = self._fetch("nd_get_similar_songs_by_album", id=id, name=name, artist=artist,
                          mbid=mbid, count=count)
        return [song(s) for s in res["songs"]]

    def similar_songs_by_artist(self, id: str = "", name: str = "", mbid: str = "",
                                count: int = 0) -> list[dict[str, Any]]:
        res = self._fetch("nd_get_similar_songs_by_artist", id=id, name=name, mbid=mbid,
                          count=count)
        return [song(s) for s in res["songs"]]


def artist(ref: dict[str, Any]) -> dict[str, Any]:
    """An ArtistRef as the agents chain sees it: ``agents.Artist`` holds id, name and mbid
    only (the adapter drops sortName, role and subRole)."""
    return {"id": ref.get("id") or "", "name": ref.get("name") or "",
            "mbid": ref.get("mbid") or ""}


def image(info: dict[str, Any]) -> dict[str, Any]:
    """``agents.ExternalImage``: url and size."""
    return {"url": info["url"], "size": info["size"]}


def song(ref: dict[str, Any]) -> dict[str, Any]:
    """A SongRef as Navidrome's ``songRefToAgentSong`` makes an ``agents.Song`` (id, name,
    mbid, isrc, album, albumMbid, artists, duration; the single artist fields and anything
    else dropped): the duration in milliseconds (``durationMs`` preferred (HEAD) over the
    float32 ``duration`` seconds x 1000 in float32, truncated; a negative one is 0), and
    ``artists`` as ``[{id, name, mbid}]``: the refs the plugin gave (other fields dropped),
    else its single ``artist``/``artistMbid`` folded into one, else None."""
    out = {k: ref.get(k) or "" for k in _AGENT_SONG_TEXT}
    out["durationMs"] = duration_ms(ref)
    refs = ref.get("artists") or []
    if refs:
        out["artists"] = [{"id": a.get("id") or "", "name": a.get("name") or "",
                           "mbid": a.get("mbid") or ""} for a in refs]
    elif ref.get("artist") or ref.get("artistMbid"):
        out["artists"] = [{"id": "", "name": ref.get("artist") or "",
                           "mbid": ref.get("artistMbid") or ""}]
    else:
        out["artists"] = None
    return out


_AGENT_SONG_TEXT = ("id", "name", "mbid", "isrc", "album", "albumMbid")


def duration_ms(ref: dict[str, Any]) -> int:
    """A SongRef's duration in ms as ``songRefToAgentSong`` reads it (the matcher too):
    ``durationMs`` when set, else the float32 ``duration`` seconds x 1000 in float32,
    truncated; a negative one is 0."""
    ms = ref.get("durationMs") or 0
    if ms > 0:
        return ms
    seconds = _float32(float(ref.get("duration") or 0.0))
    return int(_float32(seconds * 1000)) if seconds > 0 else 0


def _float32(value: float) -> float:
    """``value`` rounded to Go's float32 (a product of two float32 values is exact in a
    float64, so rounding it once gives Go's float32 multiplication)."""
    return struct.unpack("f", struct.pack("f", value))[0]
