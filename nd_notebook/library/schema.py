"""The mock library's SQLite schema: the tables and columns of Navidrome's own ``navidrome.db``.

Only the tables the host services read are created, with Navidrome's table and column names
(a subset of its columns), so that the same queries run against a generated library and, opened
read-only, against a real Navidrome database. ``REQUIRED_TABLES`` is what a real database must
have for ``Host(library="navidrome.db")``.

Conventions kept from Navidrome: ids are text (media files, albums, artists, users, playlists),
library ids are integers; timestamps are SQLite datetime text in UTC
(``YYYY-MM-DD HH:MM:SS``), except ``scrobbles.submission_time`` (Unix seconds); booleans are 0/1;
``tags`` and ``participants`` are JSON objects (``{"genre": ["Rock", "Pop"]}`` and
``{"artist": [{"id": ..., "name": ...}], "albumartist": [...]}``).
"""

from __future__ import annotations

REQUIRED_TABLES = ("library", "artist", "album", "media_file", "user", "playlist",
                   "annotation", "scrobbles")

# nd-notebook's own table (not Navidrome's): how a generated file was made (seed, sizes).
META_DDL = "CREATE TABLE IF NOT EXISTS nd_notebook_meta (key TEXT PRIMARY KEY, value TEXT)"

DDL = """
CREATE TABLE IF NOT EXISTS library (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL UNIQUE,
    remote_path TEXT DEFAULT '',
    last_scan_at DATETIME NOT NULL DEFAULT '0000-00-00 00:00:00',
    updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    total_songs INTEGER NOT NULL DEFAULT 0,
    total_albums INTEGER NOT NULL DEFAULT 0,
    total_artists INTEGER NOT NULL DEFAULT 0,
    total_folders INTEGER NOT NULL DEFAULT 0,
    total_files INTEGER NOT NULL DEFAULT 0,
    total_missing_files INTEGER NOT NULL DEFAULT 0,
    total_size INTEGER NOT NULL DEFAULT 0,
    total_duration REAL NOT NULL DEFAULT 0,
    default_new_users BOOLEAN DEFAULT 0
);

CREATE TABLE IF NOT EXISTS artist (
    id TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    full_text TEXT DEFAULT '',
    biography TEXT NOT NULL DEFAULT '',
    small_image_url TEXT NOT NULL DEFAULT '',
    medium_image_url TEXT NOT NULL DEFAULT '',
    large_image_url TEXT NOT NULL DEFAULT '',
    external_url TEXT NOT NULL DEFAULT '',
    order_artist_name TEXT NOT NULL DEFAULT '',
    sort_artist_name TEXT NOT NULL DEFAULT '',
    mbz_artist_id TEXT NOT NULL DEFAULT '',
    missing BOOLEAN NOT NULL DEFAULT 0,
    similar_artists TEXT NOT NULL DEFAULT '[]',
    updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS library_artist (
    library_id INTEGER NOT NULL DEFAULT 1,
    artist_id TEXT NOT NULL,
    stats TEXT DEFAULT '{}',
    UNIQUE (library_id, artist_id)
);

CREATE TABLE IF NOT EXISTS album (
    id TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    album_artist TEXT NOT NULL DEFAULT '',
    album_artist_id TEXT DEFAULT '',
    min_year INTEGER NOT NULL DEFAULT 0,
    max_year INTEGER NOT NULL DEFAULT 0,
    compilation BOOLEAN NOT NULL DEFAULT 0,
    song_count INTEGER NOT NULL DEFAULT 0,
    duration REAL NOT NULL DEFAULT 0,
    genre TEXT NOT NULL DEFAULT '',
    created_at DATETIME,
    updated_at DATETIME,
    size INTEGER NOT NULL DEFAULT 0,
    description TEXT NOT NULL DEFAULT '',
    date TEXT NOT NULL DEFAULT '',
    original_date TEXT NOT NULL DEFAULT '',
    release_date TEXT NOT NULL DEFAULT '',
    order_album_name TEXT NOT NULL DEFAULT '',
    order_album_artist_name TEXT NOT NULL DEFAULT '',
    sort_album_name TEXT NOT NULL DEFAULT '',
    sort_album_artist_name TEXT NOT NULL DEFAULT '',
    catalog_num TEXT NOT NULL DEFAULT '',
    comment TEXT NOT NULL DEFAULT '',
    mbz_album_id TEXT NOT NULL DEFAULT '',
    mbz_album_artist_id TEXT NOT NULL DEFAULT '',
    mbz_album_type TEXT NOT NULL DEFAULT '',
    mbz_album_comment TEXT NOT NULL DEFAULT '',
    mbz_release_group_id TEXT NOT NULL DEFAULT '',
    library_id INTEGER NOT NULL DEFAULT 1,
    missing BOOLEAN NOT NULL DEFAULT 0,
    tags TEXT NOT NULL DEFAULT '{}',
    participants TEXT NOT NULL DEFAULT '{}',
    explicit_status TEXT NOT NULL DEFAULT ''
);

CREATE TABLE IF NOT EXISTS media_file (
    id TEXT NOT NULL PRIMARY KEY,
    path TEXT NOT NULL DEFAULT '',
    title TEXT NOT NULL DEFAULT '',
    album TEXT NOT NULL DEFAULT '',
    artist TEXT NOT NULL DEFAULT '',
    artist_id TEXT NOT NULL DEFAULT '',
    album_artist TEXT NOT NULL DEFAULT '',
    album_id TEXT NOT NULL DEFAULT '',
    album_artist_id TEXT DEFAULT '',
    has_cover_art BOOLEAN NOT NULL DEFAULT 0,
    track_number INTEGER NOT NULL DEFAULT 0,
    disc_number INTEGER NOT NULL DEFAULT 0,
    disc_subtitle TEXT NOT NULL DEFAULT '',
    year INTEGER NOT NULL DEFAULT 0,
    date TEXT NOT NULL DEFAULT '',
    original_year INTEGER NOT NULL DEFAULT 0,
    original_date TEXT NOT NULL DEFAULT '',
    release_year INTEGER NOT NULL DEFAULT 0,
    release_date TEXT NOT NULL DEFAULT '',
    size INTEGER NOT NULL DEFAULT 0,
    suffix TEXT NOT NULL DEFAULT '',
    duration REAL NOT NULL DEFAULT 0,
    bit_rate INTEGER NOT NULL DEFAULT 0,
    sample_rate INTEGER NOT NULL DEFAULT 0,
    bit_depth INTEGER,
    channels INTEGER NOT NULL DEFAULT 0,
    codec TEXT NOT NULL DEFAULT '',
    genre TEXT NOT NULL DEFAULT '',
    compilation BOOLEAN NOT NULL DEFAULT 0,
    comment TEXT NOT NULL DEFAULT '',
    bpm INTEGER,
    catalog_num TEXT NOT NULL DEFAULT '',
    explicit_status TEXT NOT NULL DEFAULT '',
    order_title TEXT NOT NULL DEFAULT '',
    order_album_name TEXT NOT NULL DEFAULT '',
    order_artist_name TEXT NOT NULL DEFAULT '',
    sort_title TEXT NOT NULL DEFAULT '',
    sort_album_name TEXT NOT NULL DEFAULT '',
    sort_artist_name TEXT NOT NULL DEFAULT '',
    sort_album_artist_name TEXT NOT NULL DEFAULT '',
    mbz_recording_id TEXT NOT NULL DEFAULT '',
    mbz_album_id TEXT NOT NULL DEFAULT '',
    mbz_artist_id TEXT NOT NULL DEFAULT '',
    mbz_album_artist_id TEXT NOT NULL DEFAULT '',
    mbz_album_type TEXT NOT NULL DEFAULT '',
    mbz_album_comment TEXT NOT NULL DEFAULT '',
    mbz_release_track_id TEXT NOT NULL DEFAULT '',
    mbz_release_group_id TEXT NOT NULL DEFAULT '',
    rg_album_gain REAL,
    rg_album_peak REAL,
    rg_track_gain REAL,
    rg_track_peak REAL,
    lyrics TEXT NOT NULL DEFAULT '[]',
    library_id INTEGER NOT NULL DEFAULT 1,
    missing BOOLEAN NOT NULL DEFAULT 0,
    tags TEXT NOT NULL DEFAULT '{}',
    participants TEXT NOT NULL DEFAULT '{}',
    birth_time DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    created_at DATETIME,
    updated_at DATETIME
);
CREATE INDEX IF NOT EXISTS media_file_album_id ON media_file (album_id);
CREATE INDEX IF NOT EXISTS media_file_artist_id ON media_file (artist_id);
CREATE INDEX IF NOT EXISTS media_file_mbz_track_id ON media_file (mbz_recording_id);
CREATE INDEX IF NOT EXISTS media_file_title ON media_file (title);

CREATE TABLE IF NOT EXISTS user (
    id TEXT NOT NULL PRIMARY KEY,
    user_name TEXT NOT NULL DEFAULT '' UNIQUE,
    name TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    password TEXT NOT NULL DEFAULT '',
    is_admin BOOLEAN NOT NULL DEFAULT 0,
    last_login_at DATETIME,
    last_access_at DATETIME,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS user_library (
    user_id TEXT NOT NULL,
    library_id INTEGER NOT NULL,
    PRIMARY KEY (user_id, library_id)
);

CREATE TABLE IF NOT EXISTS playlist (
    id TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    comment TEXT NOT NULL DEFAULT '',
    duration REAL NOT NULL DEFAULT 0,
    song_count INTEGER NOT NULL DEFAULT 0,
    public BOOLEAN NOT NULL DEFAULT 0,
    created_at DATETIME,
    updated_at DATETIME,
    path TEXT NOT NULL DEFAULT '',
    sync BOOLEAN NOT NULL DEFAULT 0,
    size INTEGER NOT NULL DEFAULT 0,
    rules TEXT,
    owner_id TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS playlist_tracks (
    id INTEGER NOT NULL DEFAULT 0,
    playlist_id TEXT NOT NULL,
    media_file_id TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS playlist_tracks_pos ON playlist_tracks (playlist_id, id);

CREATE TABLE IF NOT EXISTS radio (
    id TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    stream_url TEXT NOT NULL,
    home_page_url TEXT NOT NULL DEFAULT '',
    created_at DATETIME,
    updated_at DATETIME
);

CREATE TABLE IF NOT EXISTS annotation (
    user_id TEXT NOT NULL,
    item_id TEXT NOT NULL DEFAULT '',
    item_type TEXT NOT NULL DEFAULT '',
    play_count INTEGER DEFAULT 0,
    play_date DATETIME,
    rating INTEGER DEFAULT 0,
    starred BOOLEAN NOT NULL DEFAULT 0,
    starred_at DATETIME,
    rated_at DATETIME,
    UNIQUE (user_id, item_id, item_type)
);

CREATE TABLE IF NOT EXISTS scrobbles (
    id INTEGER PRIMARY KEY,
    media_file_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    submission_time INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS scrobbles_user_time ON scrobbles (user_id, submission_time);
"""
