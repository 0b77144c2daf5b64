"""``MusicLibrary``: the mock Navidrome music library, a SQLite file with Navidrome's tables.

Three ways to get one: ``MusicLibrary.generate(path, seed=0, ...)`` (a deterministic realistic
dataset, identical every run), ``MusicLibrary.empty(path)`` and ``MusicLibrary.open(path)`` (a
real ``navidrome.db``, read-only). Reads return plain Python data: one dict per row keyed by
Navidrome's column names, booleans as ``bool``, the JSON columns (``tags``, ``participants``,
``similar_artists``, ``lyrics``, ``stats``) decoded. Every list comes in a documented, stable order.

The connection is shared across threads and serialised by ``lib.lock``; consumers may run their
own SELECTs on ``lib.connection()`` (hold ``lib.lock`` while they do).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import LibraryError
from .changes import LibraryChanges
from .schema import DDL, META_DDL

# Go's zero time.Time as Unix seconds: what Navidrome reports for "never" (e.g. lastScanAt).
GO_ZERO_UNIX = -62135596800

BOOL_COLUMNS = frozenset({
    "missing", "compilation", "has_cover_art", "is_admin", "public", "sync", "starred",
    "default_new_users"})
JSON_COLUMNS = frozenset({"tags", "participants", "similar_artists", "lyrics", "stats"})


class MusicLibrary(LibraryChanges):
    """A Navidrome music library in SQLite: reads here, changes in ``LibraryChanges``."""

    def __init__(self, conn: sqlite3.Connection, path: Path | None, *, read_only: bool,
                 seed: int | None = None):
        """Use ``generate``, ``empty`` or ``open``; this wraps an already prepared connection."""
        self._conn = conn
        self.path = path
        self.read_only = read_only
        self.seed = seed
        self.lock = threading.RLock()

    # -- constructors ---------------------------------------------------------------------
    @classmethod
    def generate(cls, path: str | os.PathLike | None = None, seed: int = 0, *, artists: int = 50,
                 albums: int = 200, tracks: int = 2000, users: int = 5,
                 playlists: int = 12) -> MusicLibrary:
        """A deterministic generated library (same seed and sizes: same rows, every run).

        ``users`` regular users besides the admin ``admin``; ``path=None`` keeps it in memory.
        An existing file at ``path`` is replaced.
        """
        from .generate import populate

        lib = cls._create(path, seed=seed)
        params = {"seed": seed, "artists": artists, "albums": albums, "tracks": tracks,
                  "users": users, "playlists": playlists}
        with lib.lock, lib._conn:
            populate(lib._conn, **params)
            lib._set_meta("generated", json.dumps(params, sort_keys=True))
        return lib

    @classmethod
    def empty(cls, path: str | os.PathLike | None = None) -> MusicLibrary:
        """A library with Navidrome's tables and no rows (an existing file is replaced)."""
        lib = cls._create(path, seed=None)
        with lib.lock, lib._conn:
            lib._set_meta("generated", "")
        return lib

    @classmethod
    def open(cls, path: str | os.PathLike, *, read_only: bool = True) -> MusicLibrary:
        """Open an existing database: a real ``navidrome.db`` (read-only, SQLite ``mode=ro``) or,
        with ``read_only=False``, a library file nd-notebook wrote earlier.

        A real database must have every table of ``REQUIRED_TABLES``; a missing one raises
        ``LibraryError("not a Navidrome database: missing tables user, scrobbles")``. Columns
        Navidrome added or dropped across versions are tolerated: missing optional columns read
        as their defaults, extra ones are ignored.
        """
        from .realdb import connect_existing

        path = Path(path)
        conn = connect_existing(path, read_only=read_only)
        lib = cls(conn, path, read_only=read_only)
        meta = lib._meta("generated")
        if meta:
            lib.seed = json.loads(meta).get("seed")
        return lib

    @classmethod
    def _create(cls, path, *, seed) -> MusicLibrary:
        if path is None:
            target = ":memory:"
        else:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            target = str(path)
        conn = _connect(target)
        conn.executescript(DDL + ";\n" + META_DDL)
        return cls(conn, path, read_only=False, seed=seed)

    # -- raw access -------------------------------------------------------------------------
    def connection(self) -> sqlite3.Connection:
        """The shared connection (``row_factory = sqlite3.Row``); hold ``lib.lock`` while using it."""
        return self._conn

    def query(self, sql: str, params: tuple | dict = ()) -> list[dict]:
        """Run a SELECT and return its rows as dicts (booleans and JSON columns decoded)."""
        with self.lock:
            rows = self._conn.execute(sql, params).fetchall()
        return [row_dict(r) for r in rows]

    def close(self) -> None:
        """Close the database connection."""
        with self.lock:
            self._conn.close()

    def generation(self) -> dict | None:
        """The generator parameters of this file (seed, sizes), ``{}`` for an empty library,
        ``None`` for a database nd-notebook did not write."""
        meta = self._meta("generated")
        if meta is None:
            return None
        return json.loads(meta) if meta else {}

    # -- reads ----------------------------------------------------------------------------
    def libraries(self) -> list[dict]:
        """Every library, ``ORDER BY id`` (Navidrome's datastore order)."""
        return self.query("SELECT * FROM library ORDER BY id")

    def library(self, id: int) -> dict | None:
        return self._one("SELECT * FROM library WHERE id = ?", (id,))

    def users(self) -> list[dict]:
        """Every user in id order: Navidrome's ``GetAll()`` without a sort option groups by
        ``user.id`` with no ORDER BY, and SQLite reads the groups from the id's index. (User
        ids are random on Navidrome, so the admin created first need not come first.)"""
        return self.query("SELECT * FROM user ORDER BY id")

    def user(self, id: str) -> dict | None:
        return self._one("SELECT * FROM user WHERE id = ?", (id,))

    def user_by_name(self, user_name: str) -> dict | None:
        """Case-insensitive lookup, as Navidrome's ``FindByUsername``."""
        return self._one("SELECT * FROM user WHERE user_name = ? COLLATE NOCASE", (user_name,))

    def user_libraries(self, user_id: str) -> list[int]:
        """The library ids a user may access (admins: all), ascending."""
        user = self.user(user_id)
        if user is None:
            return []
        if user["is_admin"]:
            return [lib["id"] for lib in self.libraries()]
        rows = self.query("SELECT library_id FROM user_library WHERE user_id = ? "
                          "ORDER BY library_id", (user_id,))
        return [r["library_id"] for r in rows]

    def artists(self, library_id: int | None = None) -> list[dict]:
        """Artists ordered by ``order_artist_name`` then id; with ``library_id``, only the
        artists of that library (table ``library_artist``)."""
        if library_id is None:
            return self.query("SELECT * FROM artist ORDER BY order_artist_name, id")
        return self.query(
            "SELECT artist.* FROM artist JOIN library_artist la ON la.artist_id = artist.id "
            "WHERE la.library_id = ? ORDER BY order_artist_name, id", (library_id,))

    def artist(self, id: str) -> dict | None:
        return self._one("SELECT * FROM artist WHERE id = ?", (id,))

    def albums(self, library_id: int | None = None, artist_id: str | None = None) -> list[dict]:
        """Albums ordered by album artist, year, name, id."""
        where, params = _filters(library_id=library_id, album_artist_id=artist_id)
        return self.query(f"SELECT * FROM album{where} ORDER BY order_album_artist_name, "
                          "min_year, order_album_name, id", params)

    def album(self, id: str) -> dict | None:
        return self._one("SELECT * FROM album WHERE id = ?", (id,))

    def tracks(self, library_id: int | None = None, album_id: str | None = None,
               artist_id: str | None = None) -> list[dict]:
        """Media files ordered by library, then path (artist/album/disc-track), then id.
        ``artist_id`` matches the track artist or the album artist."""
        where, params = _filters(library_id=library_id, album_id=album_id)
        if artist_id is not None:
            where += (" AND" if where else " WHERE") + " (artist_id = ? OR album_artist_id = ?)"
            params += (artist_id, artist_id)
        return self.query(f"SELECT * FROM media_file{where} ORDER BY library_id, path, id", params)

    def track(self, id: str) -> dict | None:
        return self._one("SELECT * FROM media_file WHERE id = ?", (id,))

    def genres(self) -> list[dict]:
        """``{value, song_count, album_count}`` per genre (from the tracks' ``tags.genre``),
        ordered by value."""
        songs: dict[str, int] = {}
        albums: dict[str, set] = {}
        with self.lock:
            rows = self._conn.execute("SELECT album_id, tags, genre FROM media_file").fetchall()
        for row in rows:
            names = _decode(row["tags"]).get("genre") or ([row["genre"]] if row["genre"] else [])
            for name in dict.fromkeys(names):
                songs[name] = songs.get(name, 0) + 1
                albums.setdefault(name, set()).add(row["album_id"])
        return [{"value": g, "song_count": songs[g], "album_count": len(albums[g])}
                for g in sorted(songs)]

    def playlists(self, user_id: str | None = None) -> list[dict]:
        """Playlists ordered by name then id; with ``user_id``, those the user owns plus the
        public ones (what Navidrome shows that user)."""
        if user_id is None:
            return self.query("SELECT * FROM playlist ORDER BY name, id")
        return self.query("SELECT * FROM playlist WHERE owner_id = ? OR public = 1 "
                          "ORDER BY name, id", (user_id,))

    def playlist(self, id: str) -> dict | None:
        """One playlist with ``"tracks"``: its media-file ids in playlist order."""
        row = self._one("SELECT * FROM playlist WHERE id = ?", (id,))
        if row is None:
            return None
        with self.lock:
            ids = self._conn.execute("SELECT media_file_id FROM playlist_tracks "
                                     "WHERE playlist_id = ? ORDER BY id", (id,)).fetchall()
        row["tracks"] = [r[0] for r in ids]
        return row

    def radios(self) -> list[dict]:
        """Internet radio stations, in the order they were added."""
        return self.query("SELECT * FROM radio ORDER BY rowid")

    def annotation(self, user_id: str, item_id: str, item_type: str = "media_file") -> dict:
        """A user's annotation of an item (``media_file``, ``album`` or ``artist``); zeros
        (``play_count`` 0, ``rating`` 0, ``starred`` False, dates None) when there is none."""
        row = self._one("SELECT * FROM annotation WHERE user_id = ? AND item_id = ? "
                        "AND item_type = ?", (user_id, item_id, item_type))
        base = {"user_id": user_id, "item_id": item_id, "item_type": item_type, "play_count": 0,
                "play_date": None, "rating": 0, "starred": False, "starred_at": None,
                "rated_at": None}
        if row:
            base.update({k: v for k, v in row.items() if k in base})
            base["play_count"] = base["play_count"] or 0
            base["rating"] = base["rating"] or 0
        return base

    def annotations(self, user_id: str, item_type: str | None = None) -> list[dict]:
        """All of a user's annotations, ordered by item type then item id."""
        where, params = _filters(user_id=user_id, item_type=item_type)
        return self.query(f"SELECT * FROM annotation{where} ORDER BY item_type, item_id", params)

    def scrobbles(self, user_id: str, from_ts: int | None = None, to_ts: int | None = None,
                  descending: bool = False, limit: int | None = None,
                  offset: int = 0) -> list[dict]:
        """A user's scrobbles ``{id, media_file_id, user_id, submission_time}`` with
        ``from_ts <= submission_time <= to_ts`` (inclusive, Unix seconds), ordered by
        ``(submission_time, id)`` ascending or descending."""
        where = " WHERE user_id = ?"
        params: list[Any] = [user_id]
        if from_ts is not None:
            where += " AND submission_time >= ?"
            params.append(from_ts)
        if to_ts is not None:
            where += " AND submission_time <= ?"
            params.append(to_ts)
        order = "DESC" if descending else "ASC"
        sql = (f"SELECT id, media_file_id, user_id, submission_time FROM scrobbles{where} "
               f"ORDER BY submission_time {order}, id {order}")
        if limit is not None or offset:
            sql += " LIMIT ? OFFSET ?"
            params += [-1 if limit is None else limit, offset]
        return self.query(sql, tuple(params))

    def scrobble_count(self, user_id: str, from_ts: int | None = None,
                       to_ts: int | None = None) -> int:
        """How many scrobbles a user has in the inclusive range."""
        where = " WHERE user_id = ?"
        params: list[Any] = [user_id]
        if from_ts is not None:
            where += " AND submission_time >= ?"
            params.append(from_ts)
        if to_ts is not None:
            where += " AND submission_time <= ?"
            params.append(to_ts)
        with self.lock:
            return self._conn.execute(f"SELECT COUNT(*) FROM scrobbles{where}",
                                      tuple(params)).fetchone()[0]

    def track_info(self, track_id: str) -> dict:
        """The scrobbler/lyrics ``TrackInfo`` JSON of a media file (spec 3.2), keyed by its
        JSON names; ``libraryId``/``path`` (HEAD, filesystem-only) are left to the caller."""
        t = self.track(track_id)
        if t is None:
            raise LibraryError(f"track not found: {track_id}")
        parts = t["participants"] or {}

        def refs(role: str, fallback_id: str, fallback_name: str) -> list[dict]:
            people = parts.get(role) or ([{"id": fallback_id, "name": fallback_name}]
                                         if fallback_name else [])
            return [{k: v for k, v in (("id", p.get("id", "")), ("name", p.get("name", "")),
                                       ("mbid", p.get("mbid", ""))) if v or k == "name"}
                    for p in people]

        info = {"id": t["id"], "title": t["title"], "album": t["album"], "artist": t["artist"],
                "albumArtist": t["album_artist"],
                "artists": refs("artist", t["artist_id"], t["artist"]),
                "albumArtists": refs("albumartist", t["album_artist_id"] or "",
                                     t["album_artist"]),
                "duration": float(t["duration"]), "trackNumber": t["track_number"],
                "discNumber": t["disc_number"]}
        for key, col in (("mbzRecordingId", "mbz_recording_id"), ("mbzAlbumId", "mbz_album_id"),
                         ("mbzReleaseGroupId", "mbz_release_group_id"),
                         ("mbzReleaseTrackId", "mbz_release_track_id")):
            if t[col]:
                info[key] = t[col]
        return info

    # -- files ------------------------------------------------------------------------------
    def materialize(self, root: str | os.PathLike, *, limit: int | None = None,
                    library_id: int | None = None) -> Path:
        """Write real folders and small valid tagged audio files (plus ``cover.png`` per album)
        under ``root/<library name>/``, and point each ``library.path`` row at its folder.

        Takes about two seconds for the default library; ``limit`` keeps the first tracks of
        each library, ``library_id`` a single library. See ``nd_notebook.library.materialize``.
        """
        from .materialize import materialize

        return materialize(self, root, limit=limit, library_id=library_id)

    # -- helpers ----------------------------------------------------------------------------
    def _one(self, sql: str, params: tuple) -> dict | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def _meta(self, key: str) -> str | None:
        with self.lock:
            try:
                row = self._conn.execute("SELECT value FROM nd_notebook_meta WHERE key = ?",
                                         (key,)).fetchone()
            except sqlite3.OperationalError:  # a real navidrome.db has no such table
                return None
        return None if row is None else row[0]

    def _set_meta(self, key: str, value: str) -> None:
        self._conn.execute("INSERT OR REPLACE INTO nd_notebook_meta (key, value) VALUES (?, ?)",
                           (key, value))

    def __repr__(self) -> str:
        with self.lock:
            counts = [self._conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                      for t in ("library", "artist", "album", "media_file", "user")]
        mode = " read-only" if self.read_only else ""
        return (f"<MusicLibrary{mode} {counts[0]} libraries, {counts[1]} artists, {counts[2]} "
                f"albums, {counts[3]} tracks, {counts[4]} users>")


# -- row and time helpers -----------------------------------------------------------------
def row_dict(row: sqlite3.Row) -> dict:
    """A row as a dict: boolean columns as bool, JSON columns decoded."""
    out = dict(row)
    for key, value in out.items():
        if key in BOOL_COLUMNS and value is not None:
            out[key] = bool(value)
        elif key in JSON_COLUMNS and isinstance(value, str):
            out[key] = _decode(value)
    return out


def to_unix(value: Any) -> int:
    """A Navidrome datetime column as Unix seconds; NULL, empty and Go's zero time (year 0 or
    1) give ``GO_ZERO_UNIX``, as Go's ``time.Time{}.Unix()`` does."""
    if value is None or value == "":
        return GO_ZERO_UNIX
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value).strip().replace("T", " ")
    if text[:4] in ("0000", "0001"):
        return GO_ZERO_UNIX
    for cut in (" +", " -", "+", "Z"):  # Go writes "2024-01-02 03:04:05.123+00:00"
        head, sep, _ = text[10:].partition(cut)
        if sep:
            text = text[:10] + head
            break
    text = text.split(".")[0]
    try:
        dt = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        try:
            dt = datetime.strptime(text[:10], "%Y-%m-%d")
        except ValueError:
            return GO_ZERO_UNIX
    return int(dt.replace(tzinfo=timezone.utc).timestamp())


def _decode(text: Any) -> Any:
    if not isinstance(text, str) or not text:
        return {} if text in (None, "") else text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _filters(**columns: Any) -> tuple[str, tuple]:
    parts = [(k, v) for k, v in columns.items() if v is not None]
    if not parts:
        return "", ()
    return " WHERE " + " AND ".join(f"{k} = ?" for k, _ in parts), tuple(v for _, v in parts)


def _connect(target: str, *, uri: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(target, uri=uri, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    return conn


def from_spec(spec: Any, folder: Path) -> MusicLibrary:
    """The library a ``Host(library=spec)`` uses; generated files live in ``folder``.

    ``None``: generated with seed 0 (default sizes); a dict: ``generate`` keyword arguments
    (``{"seed": 1, "tracks": 500}``); ``"empty"``: no rows; a ``MusicLibrary``: itself; a path
    (``str``/``PathLike``): a real ``navidrome.db`` opened read-only. A generated file already
    in ``folder`` with the same parameters is reopened (keeping its changes), else rebuilt.
    """
    if isinstance(spec, MusicLibrary):
        return spec
    if isinstance(spec, (str, os.PathLike)) and str(spec) != "empty":
        return MusicLibrary.open(spec)
    target = Path(folder) / "navidrome.db"
    if spec == "empty":
        wanted: dict | None = {}
    elif spec is None or isinstance(spec, dict):
        wanted = dict(spec or {})
    else:
        raise TypeError("library must be None, 'empty', a dict of generate() arguments, a "
                        f"MusicLibrary or a navidrome.db path, not {type(spec).__name__}")
    if target.is_file():
        try:
            existing = MusicLibrary.open(target, read_only=False)
        except LibraryError:
            existing = None
        if existing is not None:
            made = existing.generation()
            if made == ({} if spec == "empty" else _generate_params(wanted)):
                return existing
            existing.close()
    if spec == "empty":
        return MusicLibrary.empty(target)
    return MusicLibrary.generate(target, **wanted)


def _generate_params(kwargs: dict) -> dict:
    import inspect

    sig = inspect.signature(MusicLibrary.generate)
    params = {name: p.default for name, p in sig.parameters.items() if name not in ("cls", "path")}
    unknown = set(kwargs) - set(params)
    if unknown:
        raise TypeError(f"unknown library option {min(unknown)!r}")
    params.update(kwargs)
    return params
