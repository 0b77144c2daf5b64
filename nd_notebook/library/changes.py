"""Changing a library: users, libraries, artists, albums, tracks, annotations and plays.

Mixed into ``MusicLibrary``. Every method writes in one transaction and returns the new row as
``MusicLibrary`` reads it. A database opened read-only (a real ``navidrome.db``) refuses with
``LibraryError("library is read-only: <path>")``. Column names are Navidrome's; unknown column
names are refused (``LibraryError("unknown column ... of table ...")``). Timestamps default to
the wall clock; pass ``at=`` (Unix seconds) for a deterministic one.
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import datetime, timezone
from typing import Any

from ..errors import LibraryError

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def new_id(randbits=secrets.randbits) -> str:
    """A Navidrome-style id: base62 of 128 random bits (22 characters)."""
    n = randbits(128)
    out = ""
    for _ in range(22):
        n, r = divmod(n, 62)
        out = _BASE62[r] + out
    return out


class LibraryChanges:
    """The add/update/remove half of ``MusicLibrary`` (reads live there)."""

    # -- users ----------------------------------------------------------------------------
    def add_user(self, user_name: str, *, name: str = "", email: str = "",
                 is_admin: bool = False, password: str = "", id: str | None = None,
                 libraries: list[int] | None = None, at: float | None = None) -> dict:
        """Add a user; ``libraries`` (ids) it may access, default every library."""
        self._writable()
        uid = id or new_id()
        now = _text(at)
        with self.lock, self._conn:
            self._insert("user", {"id": uid, "user_name": user_name, "name": name or user_name,
                                  "email": email, "password": password,
                                  "is_admin": int(bool(is_admin)), "created_at": now,
                                  "updated_at": now})
            if libraries is None:
                libraries = [r[0] for r in self._conn.execute("SELECT id FROM library")]
            self._conn.executemany("INSERT OR IGNORE INTO user_library (user_id, library_id) "
                                   "VALUES (?, ?)", [(uid, lib) for lib in libraries])
        return self.user(uid)

    def update_user(self, id: str, **columns: Any) -> dict:
        """Change columns of a user (``name=``, ``email=``, ``is_admin=``...)."""
        return self._update("user", id, columns, self.user)

    def remove_user(self, id: str) -> None:
        """Remove a user with their library access, annotations, scrobbles and playlists."""
        self._writable()
        with self.lock, self._conn:
            for sql in ("DELETE FROM user_library WHERE user_id = ?",
                        "DELETE FROM annotation WHERE user_id = ?",
                        "DELETE FROM scrobbles WHERE user_id = ?",
                        ("DELETE FROM playlist_tracks WHERE playlist_id IN "
                         "(SELECT id FROM playlist WHERE owner_id = ?)"),
                        "DELETE FROM playlist WHERE owner_id = ?",
                        "DELETE FROM user WHERE id = ?"):
                self._conn.execute(sql, (id,))

    # -- libraries ------------------------------------------------------------------------
    def set_libraries(self, libraries: list[dict]) -> list[dict]:
        """Make exactly these libraries exist (``{"id", "name", "path"}`` each, ``id``
        optional): listed ids are updated or added, every other library is removed with its
        content. Returns ``libraries()``."""
        self._writable()
        keep = {lib["id"] for lib in libraries if lib.get("id") is not None}
        for lib_id in [r["id"] for r in self.libraries() if r["id"] not in keep]:
            self.remove_library(lib_id)
        for lib in libraries:
            extra = {k: v for k, v in lib.items() if k not in ("id", "name", "path")}
            if lib.get("id") is not None and self.library(lib["id"]) is not None:
                self.update_library(lib["id"], name=lib["name"], path=lib["path"], **extra)
            else:
                self.add_library(lib["name"], lib["path"], id=lib.get("id"), **extra)
        return self.libraries()

    def add_library(self, name: str, path: str, id: int | None = None, **columns: Any) -> dict:
        """Add a library (every admin can see it; give regular users access with
        ``update_user_libraries``)."""
        self._writable()
        row = {"name": name, "path": str(path), **columns}
        if id is not None:
            row["id"] = id
        with self.lock, self._conn:
            cur = self._insert("library", row)
            lib_id = id if id is not None else cur.lastrowid
        return self.library(lib_id)

    def update_library(self, id: int, **columns: Any) -> dict:
        """Change columns of a library (``name=``, ``path=``, ``last_scan_at=``...)."""
        return self._update("library", id, columns, self.library)

    def remove_library(self, id: int) -> None:
        """Remove a library with its albums, tracks and access rows (artists stay)."""
        self._writable()
        with self.lock, self._conn:
            for sql in ("DELETE FROM media_file WHERE library_id = ?",
                        "DELETE FROM album WHERE library_id = ?",
                        "DELETE FROM library_artist WHERE library_id = ?",
                        "DELETE FROM user_library WHERE library_id = ?",
                        "DELETE FROM library WHERE id = ?"):
                self._conn.execute(sql, (id,))

    def update_user_libraries(self, user_id: str, library_ids: list[int]) -> None:
        """Set which libraries a regular user may access."""
        self._writable()
        with self.lock, self._conn:
            self._conn.execute("DELETE FROM user_library WHERE user_id = ?", (user_id,))
            self._conn.executemany("INSERT INTO user_library (user_id, library_id) VALUES (?, ?)",
                                   [(user_id, lib) for lib in library_ids])

    # -- artists, albums, tracks ------------------------------------------------------------
    def add_artist(self, name: str, *, id: str | None = None, library_id: int = 1,
                   **columns: Any) -> dict:
        """Add an artist to a library (``mbz_artist_id=``, ``biography=``... as columns)."""
        self._writable()
        aid = id or new_id()
        row = {"id": aid, "name": name, "order_artist_name": name.lower(),
               "sort_artist_name": name, "full_text": " " + name.lower(), **columns}
        with self.lock, self._conn:
            self._insert("artist", row)
            self._conn.execute("INSERT OR IGNORE INTO library_artist (library_id, artist_id) "
                               "VALUES (?, ?)", (library_id, aid))
        return self.artist(aid)

    def update_artist(self, id: str, **columns: Any) -> dict:
        return self._update("artist", id, columns, self.artist)

    def remove_artist(self, id: str) -> None:
        """Remove an artist with the albums and tracks credited to them."""
        self._writable()
        with self.lock, self._conn:
            for sql in ("DELETE FROM media_file WHERE artist_id = ?1 OR album_artist_id = ?1",
                        "DELETE FROM album WHERE album_artist_id = ?1",
                        "DELETE FROM library_artist WHERE artist_id = ?1",
                        "DELETE FROM annotation WHERE item_id = ?1",
                        "DELETE FROM artist WHERE id = ?1"):
                self._conn.execute(sql, (id,))

    def add_album(self, name: str, artist_id: str, *, id: str | None = None,
                  library_id: int | None = None, year: int = 0, genre: str = "",
                  **columns: Any) -> dict:
        """Add an album by an existing artist (library: the artist's first one by default)."""
        self._writable()
        artist = self.artist(artist_id)
        if artist is None:
            raise LibraryError(f"artist not found: {artist_id}")
        if library_id is None:
            libs = self.query("SELECT library_id FROM library_artist WHERE artist_id = ? "
                              "ORDER BY library_id", (artist_id,))
            library_id = libs[0]["library_id"] if libs else 1
        alid = id or new_id()
        credit = [{"id": artist_id, "name": artist["name"]}]
        row = {"id": alid, "name": name, "album_artist": artist["name"],
               "album_artist_id": artist_id, "min_year": year, "max_year": year,
               "date": str(year) if year else "", "genre": genre, "library_id": library_id,
               "order_album_name": name.lower(), "order_album_artist_name": artist["name"].lower(),
               "sort_album_name": name, "sort_album_artist_name": artist["name"],
               "tags": json.dumps({"genre": [genre]} if genre else {}),
               "participants": json.dumps({"albumartist": credit}),
               "created_at": _text(None), "updated_at": _text(None), **columns}
        with self.lock, self._conn:
            self._insert("album", row)
            self._conn.execute("INSERT OR IGNORE INTO library_artist (library_id, artist_id) "
                               "VALUES (?, ?)", (library_id, artist_id))
        return self.album(alid)

    def update_album(self, id: str, **columns: Any) -> dict:
        return self._update("album", id, columns, self.album)

    def remove_album(self, id: str) -> None:
        """Remove an album with its tracks."""
        self._writable()
        with self.lock, self._conn:
            self._conn.execute("DELETE FROM media_file WHERE album_id = ?", (id,))
            self._conn.execute("DELETE FROM album WHERE id = ?", (id,))

    def add_track(self, title: str, album_id: str, *, id: str | None = None,
                  track_number: int | None = None, disc_number: int = 1,
                  duration: float = 180.0, suffix: str = "mp3", artist_id: str | None = None,
                  genre: str | None = None, isrc: str = "", **columns: Any) -> dict:
        """Add a track to an existing album (artist: the album artist by default). The path is
        ``<artist>/<album>/<NN> - <title>.<suffix>``; ``isrc`` goes into ``tags``."""
        self._writable()
        album = self.album(album_id)
        if album is None:
            raise LibraryError(f"album not found: {album_id}")
        artist = self.artist(artist_id or album["album_artist_id"]) or {
            "id": album["album_artist_id"], "name": album["album_artist"]}
        if track_number is None:
            track_number = 1 + self.query("SELECT COALESCE(MAX(track_number), 0) AS n FROM "
                                          "media_file WHERE album_id = ?", (album_id,))[0]["n"]
        genre = album["genre"] if genre is None else genre
        tags: dict[str, list] = {}
        if genre:
            tags["genre"] = [genre]
        if isrc:
            tags["isrc"] = [isrc]
        tid = id or new_id()
        row = {"id": tid, "title": title, "album": album["name"], "album_id": album_id,
               "artist": artist["name"], "artist_id": artist["id"],
               "album_artist": album["album_artist"],
               "album_artist_id": album["album_artist_id"], "track_number": track_number,
               "disc_number": disc_number, "year": album["min_year"], "date": album["date"],
               "duration": duration, "suffix": suffix, "genre": genre or "",
               "library_id": album["library_id"], "order_title": title.lower(),
               "sort_title": title, "order_album_name": album["order_album_name"],
               "order_artist_name": artist["name"].lower(), "mbz_album_id": album["mbz_album_id"],
               "path": f"{safe_name(album['album_artist'])}/{safe_name(album['name'])}/"
                       f"{track_number:02d} - {safe_name(title)}.{suffix}",
               "tags": json.dumps(tags),
               "participants": json.dumps({
                   "artist": [{"id": artist["id"], "name": artist["name"]}],
                   "albumartist": [{"id": album["album_artist_id"],
                                    "name": album["album_artist"]}]}),
               "created_at": _text(None), "updated_at": _text(None), **columns}
        with self.lock, self._conn:
            self._insert("media_file", row)
        return self.track(tid)

    def update_track(self, id: str, **columns: Any) -> dict:
        return self._update("media_file", id, columns, self.track)

    def remove_track(self, id: str) -> None:
        """Remove a track with its playlist entries and annotations (scrobbles stay)."""
        self._writable()
        with self.lock, self._conn:
            self._conn.execute("DELETE FROM playlist_tracks WHERE media_file_id = ?", (id,))
            self._conn.execute("DELETE FROM annotation WHERE item_id = ? AND "
                               "item_type = 'media_file'", (id,))
            self._conn.execute("DELETE FROM media_file WHERE id = ?", (id,))

    # -- playlists ---------------------------------------------------------------------------
    def add_playlist(self, name: str, owner_id: str, tracks: list[str] = (), *,
                     id: str | None = None, comment: str = "", public: bool = False,
                     at: float | None = None) -> dict:
        """Add a playlist of ``owner_id`` holding ``tracks`` (media-file ids, in order)."""
        self._writable()
        pid = id or new_id()
        now = _text(at)
        with self.lock, self._conn:
            self._insert("playlist", {"id": pid, "name": name, "comment": comment,
                                      "owner_id": owner_id, "public": int(bool(public)),
                                      "created_at": now, "updated_at": now})
            self._set_playlist_tracks(pid, list(tracks))
        return self.playlist(pid)

    def update_playlist(self, id: str, *, tracks: list[str] | None = None,
                        at: float | None = None, **columns: Any) -> dict:
        """Change a playlist's columns (``name=``, ``comment=``, ``public=``) and, with
        ``tracks``, replace its tracks; ``updated_at`` becomes ``at`` or now."""
        self._writable()
        if self.playlist(id) is None:
            raise LibraryError(f"playlist not found: {id}")
        columns = {**columns, "updated_at": _text(at)}
        _check_columns("playlist", columns)
        sets = ", ".join(f'"{k}" = ?' for k in columns)
        with self.lock, self._conn:
            self._conn.execute(f'UPDATE playlist SET {sets} WHERE id = ?',
                               [_sql_value(v) for v in columns.values()] + [id])
            if tracks is not None:
                self._set_playlist_tracks(id, list(tracks))
        return self.playlist(id)

    def remove_playlist(self, id: str) -> None:
        """Remove a playlist and its entries."""
        self._writable()
        with self.lock, self._conn:
            self._conn.execute("DELETE FROM playlist_tracks WHERE playlist_id = ?", (id,))
            self._conn.execute("DELETE FROM playlist WHERE id = ?", (id,))

    def _set_playlist_tracks(self, pid: str, tracks: list[str]) -> None:
        """The entries, numbered from 1, then the counters from the tracks that exist (as
        Navidrome's playlist repository counts them: an entry of no track counts nothing)."""
        self._conn.execute("DELETE FROM playlist_tracks WHERE playlist_id = ?", (pid,))
        self._conn.executemany("INSERT INTO playlist_tracks (id, playlist_id, media_file_id) "
                               "VALUES (?, ?, ?)",
                               [(n + 1, pid, tid) for n, tid in enumerate(tracks)])
        self._conn.execute(
            "UPDATE playlist SET song_count = t.n, duration = t.d, size = t.s FROM (SELECT "
            "count(mf.id) AS n, COALESCE(sum(mf.duration), 0) AS d, COALESCE(sum(mf.size), 0) "
            "AS s FROM playlist_tracks pt JOIN media_file mf ON mf.id = pt.media_file_id "
            "WHERE pt.playlist_id = ?) AS t WHERE playlist.id = ?", (pid, pid))

    # -- internet radio stations -------------------------------------------------------------
    def put_radio(self, name: str, stream_url: str, home_page_url: str = "", *,
                  id: str | None = None, at: float | None = None) -> dict:
        """Add a station, or with ``id`` change that one (added under that id when there is
        none, as Navidrome's radio repository does). Names are unique."""
        self._writable()
        rid = id or new_id()
        now = _text(at)
        with self.lock, self._conn:
            changed = self._conn.execute(
                "UPDATE radio SET name = ?, stream_url = ?, home_page_url = ?, updated_at = ? "
                "WHERE id = ?", (name, stream_url, home_page_url, now, rid)).rowcount if id else 0
            if not changed:
                self._insert("radio", {"id": rid, "name": name, "stream_url": stream_url,
                                       "home_page_url": home_page_url, "created_at": now,
                                       "updated_at": now})
        return self.query("SELECT * FROM radio WHERE id = ?", (rid,))[0]

    def remove_radio(self, id: str) -> None:
        self._writable()
        with self.lock, self._conn:
            self._conn.execute("DELETE FROM radio WHERE id = ?", (id,))

    # -- annotations and plays --------------------------------------------------------------
    def star(self, user_id: str, item_id: str, item_type: str = "media_file", *,
             at: float | None = None) -> dict:
        """Star an item for a user (``starred_at`` = ``at`` or now)."""
        return self._annotate(user_id, item_id, item_type, starred=1, starred_at=_text(at))

    def unstar(self, user_id: str, item_id: str, item_type: str = "media_file") -> dict:
        return self._annotate(user_id, item_id, item_type, starred=0, starred_at=None)

    def set_rating(self, user_id: str, item_id: str, rating: int,
                   item_type: str = "media_file", *, at: float | None = None) -> dict:
        """Rate an item 0-5 for a user (0 removes the rating)."""
        if not 0 <= int(rating) <= 5:
            raise LibraryError(f"rating must be between 0 and 5, not {rating}")
        return self._annotate(user_id, item_id, item_type, rating=int(rating),
                              rated_at=_text(at) if rating else None)

    def record_play(self, user_id: str, track_id: str, time: float | None = None) -> dict:
        """A play as Navidrome's scrobble records it: a ``scrobbles`` row at ``time`` (Unix s,
        default now) and ``play_count + 1`` / ``play_date`` on the track, its album and its
        artist for that user. Returns the scrobble row."""
        self._writable()
        track = self.track(track_id)
        if track is None:
            raise LibraryError(f"track not found: {track_id}")
        ts = int(_now() if time is None else time)
        when = _text(ts)
        with self.lock, self._conn:
            cur = self._conn.execute("INSERT INTO scrobbles (media_file_id, user_id, "
                                     "submission_time) VALUES (?, ?, ?)", (track_id, user_id, ts))
            for item_id, kind in ((track_id, "media_file"), (track["album_id"], "album"),
                                  (track["artist_id"], "artist")):
                self._conn.execute(
                    "INSERT INTO annotation (user_id, item_id, item_type, play_count, play_date) "
                    "VALUES (?, ?, ?, 1, ?) ON CONFLICT (user_id, item_id, item_type) DO UPDATE "
                    "SET play_count = COALESCE(play_count, 0) + 1, play_date = excluded.play_date",
                    (user_id, item_id, kind, when))
            row_id = cur.lastrowid
        return self.query("SELECT * FROM scrobbles WHERE id = ?", (row_id,))[0]

    def refresh_stats(self) -> None:
        """Recompute library totals and album song counts/durations/sizes from the tracks."""
        self._writable()
        with self.lock, self._conn:
            refresh_stats(self._conn)

    # -- helpers ----------------------------------------------------------------------------
    def _writable(self) -> None:
        if self.read_only:
            raise LibraryError(f"library is read-only: {self.path} was opened read-only "
                               "(a real Navidrome database is never written)")

    def _insert(self, table: str, row: dict):
        _check_columns(table, row)
        names = ", ".join(f'"{k}"' for k in row)
        marks = ", ".join("?" for _ in row)
        values = [_sql_value(v) for v in row.values()]
        return self._conn.execute(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', values)

    def _update(self, table: str, id: Any, columns: dict, read):
        self._writable()
        if read(id) is None:
            raise LibraryError(f"{table} not found: {id}")
        if columns:
            _check_columns(table, columns)
            sets = ", ".join(f'"{k}" = ?' for k in columns)
            with self.lock, self._conn:
                self._conn.execute(f'UPDATE "{table}" SET {sets} WHERE id = ?',
                                   [_sql_value(v) for v in columns.values()] + [id])
        return read(id)

    def _annotate(self, user_id: str, item_id: str, item_type: str, **columns: Any) -> dict:
        self._writable()
        if item_type not in ("media_file", "album", "artist"):
            raise LibraryError(f"item_type must be media_file, album or artist, not {item_type!r}")
        names = ", ".join(columns)
        marks = ", ".join("?" for _ in columns)
        sets = ", ".join(f"{k} = excluded.{k}" for k in columns)
        with self.lock, self._conn:
            self._conn.execute(
                f"INSERT INTO annotation (user_id, item_id, item_type, {names}) "
                f"VALUES (?, ?, ?, {marks}) ON CONFLICT (user_id, item_id, item_type) "
                f"DO UPDATE SET {sets}", (user_id, item_id, item_type, *columns.values()))
        return self.annotation(user_id, item_id, item_type)


def refresh_stats(conn) -> None:
    """Album song counts/durations/sizes and library totals recomputed from the tracks."""
    conn.execute("""
        UPDATE album SET
          song_count = (SELECT COUNT(*) FROM media_file m WHERE m.album_id = album.id),
          duration = (SELECT ROUND(COALESCE(SUM(duration), 0), 2) FROM media_file m
                      WHERE m.album_id = album.id),
          size = (SELECT COALESCE(SUM(size), 0) FROM media_file m WHERE m.album_id = album.id)""")
    conn.execute("""
        UPDATE library SET
          total_songs = (SELECT COUNT(*) FROM media_file m WHERE m.library_id = library.id),
          total_files = (SELECT COUNT(*) FROM media_file m WHERE m.library_id = library.id),
          total_albums = (SELECT COUNT(*) FROM album a WHERE a.library_id = library.id),
          total_artists = (SELECT COUNT(*) FROM library_artist la
                           WHERE la.library_id = library.id),
          total_size = (SELECT COALESCE(SUM(size), 0) FROM media_file m
                        WHERE m.library_id = library.id),
          total_duration = (SELECT ROUND(COALESCE(SUM(duration), 0), 2) FROM media_file m
                            WHERE m.library_id = library.id)""")


def safe_name(name: str) -> str:
    """A file or folder name for ``name`` (path separators and reserved characters replaced)."""
    out = "".join("_" if c in '/\\:*?"<>|' or ord(c) < 32 else c for c in name).strip(" .")
    return out or "_"


def _check_columns(table: str, row: dict) -> None:
    from .realdb import schema_columns

    known = {name for name, _ in schema_columns()[table]}
    unknown = [k for k in row if k not in known]
    if unknown:
        raise LibraryError(f"unknown column {unknown[0]!r} of table {table}")


def _sql_value(v: Any) -> Any:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False)
    return v


def _now() -> float:
    return time.time()


def _text(at: float | None) -> str:

    return datetime_text(_now() if at is None else at)


def datetime_text(unix: float) -> str:
    """Unix seconds as the ``YYYY-MM-DD HH:MM:SS`` UTC text the library stores."""
    return datetime.fromtimestamp(int(unix), timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
