"""Navidrome's Subsonic API, answered from the mock library (what ``subsonicapi_call`` reaches).

``SubsonicResponder(library).handle("/getAlbum.view?id=...&c=app&v=1.16.1&f=json", "alice")``
returns ``(content_type, body)`` as Navidrome's router would for that user (internal auth: no
password). Rules kept from Navidrome (``server/subsonic``):
- endpoints answer with or without ``.view``; an endpoint Navidrome does not route answers chi's
  plain-text ``404 page not found`` (HTTP 404, not a Subsonic error), one it routes to "not
  implemented" answers its 501 text, a deprecated one its 410 text (both with no content type,
  after the parameter and user checks, as they sit in the authenticated group);
- ``v`` and ``c`` are required (``missing parameter: 'v'``, code 10); an unknown user is
  error 40; ``f=json``/``jsonp`` select JSON, anything else XML (Navidrome's default);
- parameter errors read ``missing parameter: 'id'`` (10) and ``invalid parameter 'size':
  expected integer, got 'x'`` (0); a missing entity ``Album not found`` etc. (70);
- every read is limited to the user's libraries (``user_library``; admins see all);
- lists clamp ``size``/``count`` to 500; ``size=0`` (or negative) means no limit, as Navidrome's
  query builder does;
- writes change the mock library: ``scrobble``, ``star``/``unstar``, ``setRating``, and the
  playlists (``createPlaylist`` new or with ``playlistId`` its tracks replaced, answering the
  playlist; ``updatePlaylist`` name/comment/public, ``songIndexToRemove`` then ``songIdToAdd``;
  ``deletePlaylist``): another user's private playlist is ``data not found`` (70), writing to
  another user's public one Navidrome's plain error (code 0, ``Internal Server Error: permission
  denied``; ``not authorized`` from createPlaylist), an admin may update or delete any;
  internet radio stations (``get/create/update/deleteInternetRadioStation``; writes by an
  admin only, names unique, an update of an unknown id adds it, as Navidrome's repository does).
Responses are built as dicts in Go struct field order; scalars become XML attributes.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape as _xml_escape

from ..gojson import dumps, format_float

API_VERSION = "1.16.1"
# The first Navidrome with this plugin API (its PDK) is 0.60.0; a plugin checking the server's
# version must not find an older one.
SERVER_VERSION = "0.60.0 (nd-notebook)"
XMLNS = "http://subsonic.org/restapi"
IGNORED_ARTICLES = "The El La Los Las Le Les Os As O A"

GENERIC, MISSING_PARAMETER, AUTHENTICATION_FAIL, NOT_AUTHORIZED, NOT_FOUND = 0, 10, 40, 50, 70
AUTHENTICATION_FAIL_TEXT = "Invalid username, password, or API key"

TEXT_PLAIN = "text/plain; charset=utf-8"
NOT_FOUND_BODY = b"404 page not found\n"
NOT_IMPLEMENTED_BODY = b"This endpoint is not implemented, but may be in future releases"
GONE_BODY = b"This endpoint will not be implemented"
_NOT_IMPLEMENTED = frozenset(str.split(
    "getPodcasts getNewestPodcasts refreshPodcasts createPodcastChannel deletePodcastChannel "
    "deletePodcastEpisode downloadPodcastEpisode createUser updateUser deleteUser changePassword "
    "getShares createShare updateShare deleteShare jukeboxControl"))
_GONE = frozenset(str.split("search getChatMessages addChatMessage getVideos getVideoInfo "
                            "getCaptions hls"))
# Routed by Navidrome but not answered by nd-notebook (a Subsonic error 0 says so).
_NOT_EMULATED = frozenset(str.split(
    "getOpenSubsonicExtensions getMusicDirectory getAlbumInfo getAlbumInfo2 getArtistInfo "
    "getArtistInfo2 getTopSongs getSimilarSongs getSimilarSongs2 getAlbumList getStarred "
    "getBookmarks createBookmark deleteBookmark "
    "getPlayQueue savePlayQueue search2 getUsers getScanStatus startScan getAvatar getLyrics "
    "getLyricsBySongId stream download"))

_CONTENT_TYPES = {"mp3": "audio/mpeg", "flac": "audio/flac", "ogg": "audio/ogg",
                  "opus": "audio/ogg", "oga": "audio/ogg", "m4a": "audio/mp4",
                  "mp4": "audio/mp4", "aac": "audio/aac", "wav": "audio/x-wav",
                  "wma": "audio/x-ms-wma", "aiff": "audio/x-aiff", "dsf": "audio/dsd"}
_COVER_NAMES = ("cover.jpg", "cover.png", "folder.jpg", "folder.png", "front.jpg", "front.png")
_now_playing: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class _Internal(Exception):
    """An error Navidrome's router maps to code 0, ``Internal Server Error: <text>``."""


class SubsonicError(Exception):
    """A Subsonic-level failure: ``{"status": "failed", "error": {code, message}}``."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class SubsonicResponder:
    """Answers Subsonic API requests from a ``MusicLibrary`` as a given user.

    ``image_url(artwork_id, size)`` builds public image URLs (``artistImageUrl``); ``clock``
    gives Unix seconds (scrobble and star times, now-playing age). Now-playing entries are kept
    per library, so every responder over the same library shares them.
    """

    def __init__(self, library, *, clock: Callable[[], float] = time.time,
                 image_url: Callable[[str, int], str] | None = None,
                 report_real_path: bool = False):
        self.library = library
        # The player's "Report Real Path": a song's ``path`` is the file's path on the server
        # (``mf.AbsolutePath()``: the library's path joined with the file's), else Navidrome's
        # made-up ``<album artist>/<album>/<disc>-<track> - <title>.<suffix>``.
        self.report_real_path = report_real_path
        self.clock = clock
        self.image_url = image_url
        try:
            self.now_playing: list[dict] = _now_playing.setdefault(library, [])
        except TypeError:  # a library object that cannot be weakly referenced
            self.now_playing = []

    def handle(self, path_and_query: str, user: str) -> tuple[str, bytes]:
        """One request: ``"/getAlbum.view?id=...&c=...&v=..."`` as user name ``user``."""
        parts = urlsplit(path_and_query)
        endpoint = posixpath.basename(parts.path.rstrip("/")) or parts.path
        query = parse_qs(parts.query, keep_blank_values=True)
        name = endpoint.removesuffix(".view")
        handler = getattr(self, f"_ep_{name}", None)
        if handler is None and name not in _NOT_EMULATED | _GONE | _NOT_IMPLEMENTED:
            return TEXT_PLAIN, NOT_FOUND_BODY
        req = _Request(query)
        try:
            for required in ("v", "c"):
                req.string(required)
            req.user = self.library.user_by_name(user) if user else None
            if req.user is None:
                raise SubsonicError(AUTHENTICATION_FAIL, AUTHENTICATION_FAIL_TEXT)
            req.libraries = self.library.user_libraries(req.user["id"])
            # Routed inside the authenticated group; h410/h501 write their status, then the
            # text, with no Content-Type (nothing is sniffed once the status is written).
            if name in _GONE:
                return "", GONE_BODY
            if name in _NOT_IMPLEMENTED:
                return "", NOT_IMPLEMENTED_BODY
            if handler is None:
                raise SubsonicError(GENERIC, f"nd-notebook does not emulate {name} yet")
            result = handler(req)
            if isinstance(result, tuple):  # raw body (getCoverArt)
                return result
            body = {**_envelope("ok"), **(result or {})}
        except SubsonicError as e:
            body = {**_envelope("failed"), "error": {"code": e.code, "message": e.message}}
        except Exception as e:  # noqa: BLE001 - Navidrome maps any other error to code 0
            body = {**_envelope("failed"),
                    "error": {"code": GENERIC, "message": f"Internal Server Error: {e}"}}
        return _render(body, req)

    # -- system --------------------------------------------------------------------------
    def _ep_ping(self, req):
        return {}

    def _ep_getLicense(self, req):
        return {"license": {"valid": True}}

    # -- browsing ------------------------------------------------------------------------
    def _ep_getMusicFolders(self, req):
        libs = [lib for lib in self.library.libraries() if lib["id"] in req.libraries]
        return {"musicFolders": _opt("musicFolder",
                                     [{"id": lib["id"], "name": lib["name"]} for lib in libs])}

    def _ep_getIndexes(self, req):
        indexes = self._index(req, self._artist_entry)
        return {"indexes": {**_opt("index", indexes), **self._index_attrs()}}

    def _ep_getArtists(self, req):
        indexes = self._index(req, self._artist_id3)
        return {"artists": {**_opt("index", indexes), **self._index_attrs()}}

    def _ep_getArtist(self, req):
        artist = self._artists(req, "ar.id = ?", (req.string_or("id", ""),))
        if not artist:
            raise SubsonicError(NOT_FOUND, "Artist not found")
        albums = self._albums(req, "al.album_artist_id = ?", (artist[0]["id"],), "al.max_year")
        return {"artist": {**self._artist_id3(artist[0]),
                           **_opt("album", [self._album_id3(a) for a in albums])}}

    def _ep_getAlbum(self, req):
        album = self._albums(req, "al.id = ?", (req.string_or("id", ""),))
        if not album:
            raise SubsonicError(NOT_FOUND, "Album not found")
        songs = self._tracks(req, "mf.album_id = ?", (album[0]["id"],),
                             "mf.disc_number, mf.track_number, mf.title")
        return {"album": {**self._album_id3(album[0]),
                          **_opt("song", [self._child(t) for t in songs])}}

    def _ep_getSong(self, req):
        song = self._tracks(req, "mf.id = ?", (req.string_or("id", ""),))
        if not song:
            raise SubsonicError(NOT_FOUND, "Song not found")
        return {"song": self._child(song[0])}

    def _ep_getGenres(self, req):
        genres = {}
        for t in self._tracks(req, "1", ()):
            for g in _genres(t) or [""]:
                entry = genres.setdefault(g or "<Empty>", [0, set()])
                entry[0] += 1
                entry[1].add(t["album_id"])
        rows = sorted(genres.items(), key=lambda kv: (-kv[1][0], -len(kv[1][1]), kv[0]))
        return {"genres": _opt("genre", [{"value": g, "songCount": n, "albumCount": len(a)}
                                         for g, (n, a) in rows])}

    # -- album and song lists ------------------------------------------------------------
    def _ep_getAlbumList2(self, req):
        kind = req.string("type")
        where, params, order = "1", (), "al.order_album_name, al.id"
        if kind == "newest":
            order = "al.created_at DESC, al.id"
        elif kind == "recent":
            where, order = "ann.play_date IS NOT NULL", "ann.play_date DESC, al.id"
        elif kind == "random":
            order = "RANDOM()"
        elif kind == "alphabeticalByArtist":
            order = "al.compilation, al.order_album_artist_name, al.order_album_name, al.id"
        elif kind == "frequent":
            where, order = "COALESCE(ann.play_count, 0) > 0", "ann.play_count DESC, al.id"
        elif kind == "starred":
            where, order = "ann.starred = 1", "ann.starred_at DESC, al.id"
        elif kind == "highest":
            where, order = "COALESCE(ann.rating, 0) > 0", "ann.rating DESC, al.id"
        elif kind == "byGenre":
            genre = req.string("genre")
            where = ("EXISTS (SELECT 1 FROM json_each(al.tags, '$.genre') g "
                     "WHERE g.value LIKE ?) OR al.genre LIKE ?")
            params = (genre, genre)
        elif kind == "byYear":
            lo, hi = req.int("fromYear"), req.int("toYear")
            order = "al.max_year, al.order_album_name, al.id"
            if lo > hi:
                lo, hi, order = hi, lo, "al.max_year DESC, al.order_album_name, al.id"
            where = "(al.min_year BETWEEN ? AND ?) OR (al.max_year BETWEEN ? AND ?)"
            params = (lo, hi, lo, hi)
        elif kind != "alphabeticalByName":
            raise SubsonicError(GENERIC, f"type '{kind}' not implemented")
        folders = self._folders(req)
        size, offset = min(req.int_or("size", 10), 500), req.int_or("offset", 0)
        albums = self._albums(req, f"({where})", params, order, size, offset, folders)
        return {"albumList2": _opt("album", [self._album_id3(a) for a in albums])}

    def _ep_getRandomSongs(self, req):
        size = min(req.int_or("size", 10), 500)
        where, params = ["1"], []
        genre = req.string_or("genre", "")
        if genre:
            where.append(_GENRE_MATCH)
            params += [genre, genre]
        for name, op in (("fromYear", ">="), ("toYear", "<=")):
            year = req.int_or(name, 0)
            if year:
                where.append(f"mf.year {op} ?")
                params.append(year)
        songs = self._tracks(req, " AND ".join(where), tuple(params), "RANDOM()", size, 0,
                             self._folders(req))
        return {"randomSongs": _opt("song", [self._child(t) for t in songs])}

    def _ep_getSongsByGenre(self, req):
        genre = req.string_or("genre", "")
        count, offset = min(req.int_or("count", 10), 500), req.int_or("offset", 0)
        songs = self._tracks(req, _GENRE_MATCH, (genre, genre), "mf.title, mf.id", count, offset,
                             self._folders(req))
        return {"songsByGenre": _opt("song", [self._child(t) for t in songs])}

    def _ep_getStarred2(self, req):
        folders = self._folders(req)
        artists = self._artists(req, "ann.starred = 1", (), "ann.starred_at DESC", folders)
        albums = self._albums(req, "ann.starred = 1", (), "ann.starred_at DESC", 0, 0, folders)
        songs = self._tracks(req, "ann.starred = 1", (), "ann.starred_at DESC", 0, 0, folders)
        return {"starred2": {**_opt("artist", [self._artist_id3(a) for a in artists]),
                             **_opt("album", [self._album_id3(a) for a in albums]),
                             **_opt("song", [self._child(t) for t in songs])}}

    def _ep_getNowPlaying(self, req):
        now = self.clock()
        self.now_playing[:] = [e for e in self.now_playing if e["until"] >= now]
        entries = []
        for i, e in enumerate(self.now_playing, 1):
            owner = self.library.user(e["user_id"]) or {}
            track = self._tracks(req, "mf.id = ?", (e["track_id"],), user_id=e["user_id"])
            if track:
                entries.append({**self._child(track[0]), "username": owner.get("user_name", ""),
                                "minutesAgo": int((now - e["start"]) // 60), "playerId": i,
                                **_nonzero("playerName", e["player"])})
        return {"nowPlaying": _opt("entry", entries)}

    # -- searching, playlists, user ------------------------------------------------------
    def _ep_search3(self, req):
        words = _sanitize(req.string_or("query", "").strip('"').rstrip("*")).split()
        found = {}
        for key, fetch, text in (("artist", self._artists, ("ar.name",)),
                                 ("album", self._albums, ("al.name", "al.album_artist")),
                                 ("song", self._tracks, ("mf.title", "mf.album", "mf.artist"))):
            count = req.int_or(f"{key}Count", 20)
            offset = req.int_or(f"{key}Offset", 0)
            if count == 0:
                found[key] = []
                continue
            rows = [r for r in fetch(req, "1", ()) if _matches(words, [r[c.split(".")[1]]
                                                                       for c in text])]
            found[key] = rows[offset:offset + count] if count > 0 else rows[offset:]
        return {"searchResult3": {
            **_opt("artist", [self._artist_id3(a) for a in found["artist"]]),
            **_opt("album", [self._album_id3(a) for a in found["album"]]),
            **_opt("song", [self._child(t) for t in found["song"]])}}

    def _ep_getPlaylists(self, req):
        rows = self._playlists(req)
        return {"playlists": _opt("playlist", [self._playlist(p) for p in rows])}

    def _ep_getPlaylist(self, req):
        return self._playlist_with_songs(req, req.string("id"))

    def _playlist_with_songs(self, req, pid: str) -> dict:
        rows = [p for p in self._playlists(req) if p["id"] == pid]
        if not rows:
            raise SubsonicError(NOT_FOUND, "playlist not found")
        order = {tid: i for i, tid in enumerate((self.library.playlist(pid) or {})
                                                .get("tracks", []))}
        songs = self._tracks(req, "mf.id IN (SELECT media_file_id FROM playlist_tracks "
                             "WHERE playlist_id = ?)", (pid,))
        songs.sort(key=lambda t: order.get(t["id"], 0))
        return {"playlist": {**self._playlist(rows[0]),
                             **_opt("entry", [self._child(t) for t in songs])}}

    def _ep_createPlaylist(self, req):
        """A new playlist of the user (``name``), or the user's playlist ``playlistId`` with
        its tracks replaced; both get the ``songId`` tracks in order. Answers the playlist."""
        songs = req.query.get("songId", [])
        pid, name = req.string_or("playlistId", ""), req.string_or("name", "")
        if not pid and not name:
            raise _Internal("required parameter name is missing")
        uid = req.user["id"]
        if pid:
            if self._visible_playlist(req, pid)["owner_id"] != uid:
                raise _Internal("not authorized")  # model.ErrNotAuthorized
            self.library.update_playlist(pid, tracks=songs, at=self.clock())
        else:
            pid = self.library.add_playlist(name, uid, songs, at=self.clock())["id"]
        return self._playlist_with_songs(req, pid)

    def _ep_updatePlaylist(self, req):
        """``name``, ``comment``, ``public`` when given; ``songIndexToRemove`` (0-based
        positions) removed, then ``songIdToAdd`` appended."""
        pid = req.string("playlistId")
        pls = self._writable_playlist(req, pid)
        columns = {key: req.query[key][0] for key in ("name", "comment") if key in req.query}
        if "public" in req.query:
            columns["public"] = int(req.bool_or("public", False))
        remove = {int(i) for i in req.query.get("songIndexToRemove", []) if _is_int(i)}
        add = req.query.get("songIdToAdd", [])
        tracks = None
        if remove or add:
            tracks = [t for i, t in enumerate(pls["tracks"]) if i not in remove] + add
        self.library.update_playlist(pid, tracks=tracks, at=self.clock(), **columns)
        return {}

    def _ep_deletePlaylist(self, req):
        pid = req.string("id")
        self._writable_playlist(req, pid)
        self.library.remove_playlist(pid)
        return {}

    def _ep_getInternetRadioStations(self, req):
        return {"internetRadioStations": _opt("internetRadioStation", [
            {"id": r["id"], "name": r["name"], "streamUrl": r["stream_url"],
             **_nonzero("homePageUrl", r["home_page_url"])} for r in self.library.radios()])}

    def _ep_createInternetRadioStation(self, req):
        stream_url, name = req.string("streamUrl"), req.string("name")
        self._radio_writer(req)
        self.library.put_radio(name, stream_url, req.string_or("homepageUrl", ""),
                               at=self.clock())
        return {}

    def _ep_updateInternetRadioStation(self, req):
        rid, stream_url, name = req.string("id"), req.string("streamUrl"), req.string("name")
        self._radio_writer(req)
        self.library.put_radio(name, stream_url, req.string_or("homepageUrl", ""), id=rid,
                               at=self.clock())
        return {}

    def _ep_deleteInternetRadioStation(self, req):
        rid = req.string("id")
        self._radio_writer(req)
        self.library.remove_radio(rid)
        return {}

    def _radio_writer(self, req) -> None:
        if not req.user["is_admin"]:  # the radio repository: only an admin writes
            raise _Internal("permission denied")

    def _visible_playlist(self, req, pid: str) -> dict:
        """The playlist as the user may see it (theirs, public, or any for an admin)."""
        if not any(p["id"] == pid for p in self._playlists(req)):
            raise SubsonicError(NOT_FOUND, "data not found")  # model.ErrNotFound
        return self.library.playlist(pid)

    def _writable_playlist(self, req, pid: str) -> dict:
        pls = self._visible_playlist(req, pid)
        if not req.user["is_admin"] and pls["owner_id"] != req.user["id"]:
            raise _Internal("permission denied")  # the playlist repository's refusal
        return pls

    def _ep_getUser(self, req):
        u = req.user
        return {"user": {"username": u["user_name"], **_nonzero("email", u["email"]),
                         "scrobblingEnabled": True, "adminRole": bool(u["is_admin"]),
                         "settingsRole": False, "downloadRole": True, "uploadRole": False,
                         "playlistRole": False, "coverArtRole": False, "commentRole": False,
                         "podcastRole": False, "streamRole": True, "jukeboxRole": False,
                         "shareRole": False, "videoConversionRole": False,
                         **_opt("folder", list(req.libraries))}}

    # -- annotation ----------------------------------------------------------------------
    def _ep_scrobble(self, req):
        ids = req.strings("id")
        times = [_int_or_now(t, self.clock) for t in req.query.get("time", [])]
        if times and len(times) != len(ids):
            raise SubsonicError(GENERIC, f"Wrong number of timestamps: {len(times)}, "
                                         f"should be {len(ids)}")
        uid = req.user["id"]
        if req.bool_or("submission", True):
            for i, tid in enumerate(ids):
                if self._tracks(req, "mf.id = ?", (tid,)):  # Navidrome skips unknown ids
                    self.library.record_play(uid, tid, times[i] if times else self.clock())
        elif self._tracks(req, "mf.id = ?", (ids[0],)):
            track = self.library.track(ids[0])
            now = self.clock()
            player = req.string_or("c", "")
            self.now_playing[:] = [e for e in self.now_playing
                                   if (e["user_id"], e["player"]) != (uid, player)]
            self.now_playing.append({"user_id": uid, "track_id": ids[0], "player": player,
                                     "start": now, "until": now + float(track["duration"])})
        return {}

    def _ep_star(self, req):
        return self._set_star(req, True)

    def _ep_unstar(self, req):
        return self._set_star(req, False)

    def _set_star(self, req, star: bool):
        ids = [i for p in ("id", "albumId", "artistId") for i in req.query.get(p, [])]
        if not ids:
            raise SubsonicError(MISSING_PARAMETER, "Required id parameter is missing")
        for item in ids:
            kind = self._kind_of(item) or "media_file"
            if star:
                self.library.star(req.user["id"], item, kind, at=self.clock())
            else:
                self.library.unstar(req.user["id"], item, kind)
        return {}

    def _ep_setRating(self, req):
        item, rating = req.string("id"), req.int("rating")
        kind = self._kind_of(item)
        if kind is None:
            raise SubsonicError(NOT_FOUND, "data not found")
        self.library.set_rating(req.user["id"], item, rating, kind, at=self.clock())
        return {}

    # -- media ---------------------------------------------------------------------------
    def _ep_getCoverArt(self, req):
        art_id, size = req.string_or("id", ""), max(req.int_or("size", 0), 0)
        return cover_art(self.library, art_id, size)

    # -- queries -------------------------------------------------------------------------
    def _folders(self, req) -> list[int]:
        """``musicFolderId`` values (all must be accessible) or every accessible library."""
        wanted = [int(v) for v in req.query.get("musicFolderId", []) if _is_int(v)]
        for lib_id in wanted:
            if lib_id not in req.libraries:
                raise SubsonicError(NOT_FOUND, f"Library {lib_id} not found or not accessible")
        return wanted or list(req.libraries)

    def _select(self, table, alias, item_type, req, where, params, order, limit, offset,
                libraries, user_id=None, lib_filter=None):
        libs = req.libraries if libraries is None else libraries
        marks = ",".join("?" * len(libs)) or "NULL"
        lib_sql = (lib_filter or f"{alias}.library_id IN ({{}})").format(marks)
        sql = (f"SELECT {alias}.*, ann.play_count AS ann_play_count, ann.play_date AS "
               "ann_play_date, ann.rating AS ann_rating, ann.starred AS ann_starred, "
               f"ann.starred_at AS ann_starred_at FROM {table} {alias} LEFT JOIN annotation ann "
               f"ON ann.item_id = {alias}.id AND ann.item_type = '{item_type}' AND ann.user_id = ? "
               f"WHERE {lib_sql} AND ({where})")
        if table != "artist":
            sql += f" AND {alias}.missing = 0"
        sql += f" ORDER BY {order}"
        if limit and limit > 0:
            sql += f" LIMIT {int(limit)} OFFSET {max(int(offset), 0)}"
        elif offset and offset > 0:
            sql += f" LIMIT -1 OFFSET {int(offset)}"
        args = (user_id or req.user["id"], *libs, *params)
        return self.library.query(sql, args)

    def _tracks(self, req, where, params, order="mf.library_id, mf.path, mf.id", limit=0,
                offset=0, libraries=None, user_id=None):
        return self._select("media_file", "mf", "media_file", req, where, params, order, limit,
                            offset, libraries, user_id)

    def _albums(self, req, where, params, order="al.order_album_name, al.id", limit=0, offset=0,
                libraries=None):
        return self._select("album", "al", "album", req, where, params, order, limit, offset,
                            libraries)

    def _artists(self, req, where, params, order="ar.order_artist_name, ar.id", libraries=None):
        return self._select("artist", "ar", "artist", req, where, params, order, 0, 0, libraries,
                            lib_filter="ar.id IN (SELECT artist_id FROM library_artist "
                                       "WHERE library_id IN ({}))")

    def _playlists(self, req) -> list[dict]:
        if req.user["is_admin"]:
            return self.library.playlists()
        return self.library.playlists(req.user["id"])

    def _kind_of(self, item_id: str) -> str | None:
        for table, kind in (("album", "album"), ("artist", "artist"), ("media_file", "media_file")):
            if self.library.query(f"SELECT 1 FROM {table} WHERE id = ?", (item_id,)):
                return kind
        return None

    def _index(self, req, entry) -> list[dict]:
        try:
            folders = self._folders(req)
        except SubsonicError:  # Navidrome ignores a bad musicFolderId here
            folders = list(req.libraries)
        marks = ",".join("?" * len(folders)) or "NULL"
        artists = self._artists(req, "ar.id IN (SELECT album_artist_id FROM album WHERE "
                                f"missing = 0 AND library_id IN ({marks}))", tuple(folders))
        if not artists:
            raise SubsonicError(NOT_FOUND, "Library not found or empty")
        groups: dict[str, list] = {}
        for a in sorted(artists, key=lambda a: (_sort_key(a["name"]), a["id"])):
            first = _sort_key(a["name"])[:1].upper()
            groups.setdefault(first if first.isalpha() else "#", []).append(entry(a))
        return [{"name": k, "artist": v} for k, v in sorted(groups.items())]

    def _index_attrs(self) -> dict:
        return {"lastModified": int(self.clock() * 1000), "ignoredArticles": IGNORED_ARTICLES}

    # -- response building (Go struct field order) ---------------------------------------
    def _path(self, t: dict) -> str:
        if not self.report_real_path:
            return _fake_path(t)
        lib = self.library.library(t["library_id"]) or {}
        return posixpath.normpath(posixpath.join(lib.get("path") or "", t["path"]))

    def _child(self, t: dict) -> dict:
        participants = t.get("participants") or {}
        child = {"id": t["id"], **_nonzero("parent", t["album_id"]), "isDir": False,
                 **_nonzero("title", t["title"]), **_nonzero("album", t["album"]),
                 **_nonzero("artist", t["artist"]), **_nonzero("track", t["track_number"]),
                 **_nonzero("year", t["year"]), **_nonzero("genre", t["genre"]),
                 "coverArt": f"mf-{t['id']}" if t["has_cover_art"] else f"al-{t['album_id']}",
                 **_nonzero("size", t["size"]),
                 **_nonzero("contentType", _CONTENT_TYPES.get(t["suffix"].lower(), "")),
                 **_nonzero("suffix", t["suffix"]),
                 **_nonzero("starred", _ts(t["ann_starred_at"]) if t["ann_starred"] else None),
                 **_nonzero("duration", int(t["duration"] or 0)),
                 **_nonzero("bitRate", t["bit_rate"]), "path": self._path(t),
                 **_nonzero("playCount", t["ann_play_count"]),
                 **_nonzero("discNumber", t["disc_number"]),
                 "created": _ts(t["created_at"]) or "0001-01-01T00:00:00Z",
                 **_nonzero("albumId", t["album_id"]), **_nonzero("artistId", t["artist_id"]),
                 "type": "music", **_nonzero("userRating", t["ann_rating"]),
                 **_nonzero("played", _ts(t["ann_play_date"]) if t["ann_play_count"] else None),
                 "bpm": t["bpm"] or 0, "comment": t["comment"],
                 "sortName": t["order_title"], "mediaType": "song",
                 "musicBrainzId": t["mbz_recording_id"], "isrc": (t["tags"] or {}).get("isrc", []),
                 "genres": [{"name": g} for g in _genres(t)], "replayGain": _replay_gain(t),
                 "channelCount": t["channels"], "samplingRate": t["sample_rate"],
                 "bitDepth": t["bit_depth"] or 0, "moods": [], "displayArtist": t["artist"],
                 "artists": _refs(participants.get("artist"), t["artist_id"], t["artist"]),
                 "displayAlbumArtist": t["album_artist"],
                 "albumArtists": _refs(participants.get("albumartist"), t["album_artist_id"],
                                       t["album_artist"]),
                 "contributors": [], "displayComposer": "",
                 "explicitStatus": _EXPLICIT.get(t["explicit_status"], ""),
                 "groupings": [], "works": [], "movements": []}
        return child

    def _album_id3(self, a: dict) -> dict:
        participants = a.get("participants") or {}
        return {"id": a["id"], "name": a["name"], **_nonzero("artist", a["album_artist"]),
                **_nonzero("artistId", a["album_artist_id"]), "coverArt": f"al-{a['id']}",
                **_nonzero("songCount", a["song_count"]),
                **_nonzero("duration", int(a["duration"] or 0)),
                **_nonzero("playCount", a["ann_play_count"]),
                "created": _ts(a["created_at"] or a["updated_at"]) or "0001-01-01T00:00:00Z",
                **_nonzero("starred", _ts(a["ann_starred_at"]) if a["ann_starred"] else None),
                **_nonzero("year", a["max_year"]), **_nonzero("genre", a["genre"]),
                **_nonzero("played", _ts(a["ann_play_date"]) if a["ann_play_count"] else None),
                "userRating": a["ann_rating"] or 0, "genres": [{"name": g} for g in _genres(a)],
                "musicBrainzId": a["mbz_album_id"], "isCompilation": bool(a["compilation"]),
                "sortName": a["order_album_name"],
                "discTitles": [], "originalReleaseDate": _item_date(a["original_date"]),
                "releaseDate": _item_date(a["release_date"]),
                "artists": _refs(participants.get("albumartist"), a["album_artist_id"],
                                 a["album_artist"]),
                "displayArtist": a["album_artist"], "releaseTypes": [], "moods": [],
                "recordLabels": [], "explicitStatus": _EXPLICIT.get(a["explicit_status"], "")}

    def _artist_entry(self, a: dict) -> dict:
        """``Artist`` (getIndexes)."""
        return {"id": a["id"], "name": a["name"],
                **_nonzero("starred", _ts(a["ann_starred_at"]) if a["ann_starred"] else None),
                **_nonzero("userRating", a["ann_rating"]), "coverArt": f"ar-{a['id']}",
                **self._artist_image(a)}

    def _artist_id3(self, a: dict) -> dict:
        albums = self.library.query("SELECT COUNT(*) AS n FROM album WHERE album_artist_id = ? "
                                    "AND missing = 0", (a["id"],))[0]["n"]
        return {"id": a["id"], "name": a["name"], "coverArt": f"ar-{a['id']}",
                **_nonzero("albumCount", albums),
                **_nonzero("starred", _ts(a["ann_starred_at"]) if a["ann_starred"] else None),
                **_nonzero("userRating", a["ann_rating"]), **self._artist_image(a),
                "musicBrainzId": a["mbz_artist_id"],
                "sortName": a["order_artist_name"],
                "roles": self._artist_roles(a["id"])}

    def _artist_roles(self, artist_id: str) -> list[str]:
        """Navidrome's ``Artist.Roles()``: the keys of the artist's stats, one per role it is
        credited in on a track (``artist``, ``albumartist``, ``composer``...) and
        ``maincredit`` when one of those is artist or album artist. Go lists them in its map's
        random order; sorted here."""
        rows = self.library.query(
            "SELECT DISTINCT p.key AS role FROM media_file m, json_each(m.participants) p, "
            "json_each(p.value) c WHERE m.missing = 0 AND json_extract(c.value, '$.id') = ?",
            (artist_id,))
        roles = {r["role"] for r in rows}
        if roles & {"artist", "albumartist"}:
            roles.add("maincredit")
        return sorted(roles)

    def _artist_image(self, a: dict) -> dict:
        return {"artistImageUrl": self.image_url(f"ar-{a['id']}", 600)} if self.image_url else {}

    def _playlist(self, p: dict) -> dict:
        owner = self.library.user(p["owner_id"]) or {}
        return {"id": p["id"], "name": p["name"], **_nonzero("comment", p["comment"]),
                "songCount": p["song_count"], "duration": int(p["duration"] or 0),
                "public": bool(p["public"]), **_nonzero("owner", owner.get("user_name")),
                "created": _ts(p["created_at"]) or "0001-01-01T00:00:00Z",
                "changed": _ts(p["updated_at"]) or "0001-01-01T00:00:00Z",
                "coverArt": f"pl-{p['id']}"}


# -- cover art ----------------------------------------------------------------------------
def cover_art(library, art_id: str, size: int = 0) -> tuple[str, bytes]:
    """The image of an artwork id (``al-``, ``ar-``, ``mf-``, ``pl-``): the album's cover file
    when the library was materialised, else a PNG drawn for the id (Navidrome's placeholder
    role). ``size`` > 0 scales to fit that square."""
    from PIL import Image

    path = _cover_file(library, art_id)
    if path is not None:
        data = path.read_bytes()
        if size <= 0:
            return _image_type(data), data
        img = Image.open(io.BytesIO(data))
        img.thumbnail((size, size))
        out = io.BytesIO()
        img.save(out, format=img.format or "PNG")
        return _image_type(out.getvalue()), out.getvalue()
    side = size or 300
    digest = hashlib.sha256(art_id.encode()).digest()
    img = Image.new("RGB", (side, side), tuple(digest[:3]))
    inner = Image.new("RGB", (side // 2, side // 2), tuple(digest[3:6]))
    img.paste(inner, (side // 4, side // 4))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return "image/png", out.getvalue()


def _cover_file(library, art_id: str) -> Path | None:
    kind, _, item = art_id.partition("-")
    item = item.split("_")[0]
    sql = {"al": "SELECT path, library_id FROM media_file WHERE album_id = ? LIMIT 1",
           "mf": "SELECT path, library_id FROM media_file WHERE id = ?"}.get(kind)
    if sql is None:
        return None
    rows = library.query(sql, (item,))
    if not rows:
        return None
    lib = library.library(rows[0]["library_id"]) or {}
    folder = (Path(lib.get("path") or "/") / rows[0]["path"]).parent
    for name in _COVER_NAMES:
        if (folder / name).is_file():
            return folder / name
    return None


def _image_type(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    return "application/octet-stream"


# -- request parameters (Navidrome's utils/req) -------------------------------------------
class _Request:
    def __init__(self, query: dict[str, list[str]]):
        self.query = query
        self.user: dict | None = None
        self.libraries: list[int] = []

    def string(self, name: str) -> str:
        value = (self.query.get(name) or [""])[0]
        if value == "":
            raise SubsonicError(MISSING_PARAMETER, f"missing parameter: '{name}'")
        return value

    def string_or(self, name: str, default: str) -> str:
        return (self.query.get(name) or [""])[0] or default

    def strings(self, name: str) -> list[str]:
        if not self.query.get(name):
            raise SubsonicError(MISSING_PARAMETER, f"missing parameter: '{name}'")
        return self.query[name]

    def int(self, name: str) -> int:
        value = self.string(name)
        if not _is_int(value):
            raise SubsonicError(GENERIC, f"invalid parameter '{name}': expected integer, "
                                         f"got '{value}'")
        return int(value)

    def int_or(self, name: str, default: int) -> int:
        value = self.string_or(name, "")
        return int(value) if _is_int(value) else default

    def bool_or(self, name: str, default: bool) -> bool:
        value = self.string_or(name, "")
        return default if value == "" else value.lower() in ("true", "on", "1")


def _is_int(value: str) -> bool:
    text = value[1:] if value[:1] in "+-" else value
    return text.isdigit() and text.isascii() and -2**63 <= int(value) < 2**63


def _int_or_now(value: str, clock) -> float:
    return int(value) / 1000 if _is_int(value) else clock()


# -- rendering ----------------------------------------------------------------------------
def _envelope(status: str) -> dict:
    return {"status": status, "version": API_VERSION, "type": "navidrome",
            "serverVersion": SERVER_VERSION, "openSubsonic": True}


def _render(body: dict, req: _Request) -> tuple[str, bytes]:
    fmt = req.string_or("f", "")
    if fmt == "json":
        return "application/json", dumps({"subsonic-response": body})
    if fmt == "jsonp":
        callback = req.string_or("callback", "")
        return ("application/javascript",
                callback.encode() + b"(" + dumps({"subsonic-response": body}) + b")")
    return "application/xml", _xml("subsonic-response", body, root=True).encode()


# OpenSubsonic fields JSON always writes but XML leaves out when empty
# (``xml:"bpm,attr,omitempty" json:"bpm"`` in Navidrome's responses.go), and the elements whose
# MarshalXML writes nothing when empty (ReplayGain, ItemDate).
_XML_OMITEMPTY = frozenset(str.split(
    "bpm comment sortName mediaType musicBrainzId channelCount samplingRate bitDepth "
    "displayArtist displayAlbumArtist displayComposer explicitStatus userRating isCompilation "
    "version readonly"))
_XML_EMPTY_ELEMENTS = frozenset(("replayGain", "originalReleaseDate", "releaseDate"))


def _xml(tag: str, node: dict, root: bool = False) -> str:
    """Go's encoding/xml of a response struct: scalars are attributes, dicts and lists of
    dicts child elements; a genre's ``value`` is its character data."""
    attrs = [f' xmlns="{XMLNS}"'] if root else []
    children, text = [], ""
    for key, value in node.items():
        if key in _XML_OMITEMPTY and value in ("", 0, False) and not root:
            continue
        if tag == "genre" and key == "value":
            text = _xml_escape(str(value))
        elif isinstance(value, dict):
            if value or key not in _XML_EMPTY_ELEMENTS:
                children.append(_xml(key, value))
        elif isinstance(value, list):
            children += [_xml(key, v) if isinstance(v, dict) else f"<{key}>{_xml_text(v)}</{key}>"
                         for v in value]
        elif value is not None:
            attrs.append(f' {key}="{_xml_text(value)}"')
    return f"<{tag}{''.join(attrs)}>{text}{''.join(children)}</{tag}>"


def _xml_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format_float(value)
    return _xml_escape(str(value), {'"': "&#34;", "'": "&#39;", "\t": "&#x9;", "\n": "&#xA;",
                                    "\r": "&#xD;"})


# -- small helpers ------------------------------------------------------------------------
_GENRE_MATCH = ("(EXISTS (SELECT 1 FROM json_each(mf.tags, '$.genre') g WHERE g.value = ?) "
                "OR mf.genre = ?)")
_EXPLICIT = {"c": "clean", "e": "explicit"}


def _opt(key: str, items: list) -> dict:
    """A slice field with ``omitempty``: absent when empty."""
    return {key: items} if items else {}


def _nonzero(key: str, value: Any) -> dict:
    """A scalar field with ``omitempty``: absent when zero, empty or None."""
    return {key: value} if value not in (None, "", 0, False) else {}


def _ts(value: Any) -> str | None:
    """A library datetime (``YYYY-MM-DD HH:MM:SS`` UTC) as Go's RFC 3339 JSON time."""
    if not value:
        return None
    text = str(value).replace("T", " ").split("+")[0].rstrip("Z").split(".")[0]
    return text.replace(" ", "T") + "Z" if len(text) > 10 else text + "T00:00:00Z"


def _genres(row: dict) -> list[str]:
    tags = row.get("tags") or {}
    names = tags.get("genre") if isinstance(tags, dict) else None
    return list(names) if names else ([row["genre"]] if row.get("genre") else [])


def _refs(people, fallback_id, fallback_name) -> list[dict]:
    if not people:
        people = [{"id": fallback_id, "name": fallback_name}] if fallback_name else []
    return [{"id": p.get("id", ""), "name": p.get("name", "")} for p in people]


def _replay_gain(t: dict) -> dict:
    pairs = (("trackGain", "rg_track_gain"), ("albumGain", "rg_album_gain"),
             ("trackPeak", "rg_track_peak"), ("albumPeak", "rg_album_peak"))
    return {k: float(t[c]) for k, c in pairs if t.get(c)}


def _item_date(date: str) -> dict:
    parts = [int(p) if p.isdigit() else 0 for p in (date or "").split("-")[:3]]
    return {k: v for k, v in zip(("year", "month", "day"), parts) if v}


def _fake_path(t: dict) -> str:
    """Navidrome's ``fakePath``: ``<album artist>/<album>/<disc>-<track> - <title>.<suffix>``."""
    out = f"{t['album_artist'].replace('/', '_')}/{t['album'].replace('/', '_')}/"
    if t["disc_number"]:
        out += f"{t['disc_number']:02d}-"
    if t["track_number"]:
        out += f"{t['track_number']:02d} - "
    return out + f"{t['title'].replace('/', '_')}.{t['suffix']}"


def _sort_key(name: str) -> str:
    """An artist name without a leading ignored article, lower-cased (index grouping)."""
    for article in IGNORED_ARTICLES.split():
        if name.startswith(article + " "):
            name = name[len(article) + 1:]
            break
    return _sanitize(name)


def _sanitize(text: str) -> str:
    import unicodedata

    text = unicodedata.normalize("NFKD", text or "")
    return " ".join("".join(c for c in text if not unicodedata.combining(c)).lower().split())


def _matches(words: list[str], fields: list[str]) -> bool:
    """Navidrome's full-text rule: every query word starts a word of the item's text."""
    haystack = " " + " ".join(_sanitize(f) for f in fields if f)
    return all(f" {w}" in haystack for w in words)

