"""The mock music library: the generator, reads, changes, real navidrome.db files, materialising."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import mutagen
import pytest

from nd_notebook import Host
from nd_notebook.library import EPOCH, GO_ZERO_UNIX, LibraryError, MusicLibrary, to_unix
from nd_notebook.library.audio import _crc8, _crc16, silent_audio
from nd_notebook.library.schema import DDL

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
ISRC = re.compile(r"^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$")


@pytest.fixture(scope="module")
def lib():
    return MusicLibrary.generate(None, seed=0)


@pytest.fixture
def fresh(tmp_path):
    return MusicLibrary.generate(tmp_path / "navidrome.db", seed=0, artists=6, albums=12,
                                 tracks=60, users=2)


def _dump(library: MusicLibrary) -> dict:
    tables = ("library", "artist", "album", "media_file", "user", "user_library", "playlist",
              "playlist_tracks", "annotation", "scrobbles", "library_artist")
    return {t: library.query(f"SELECT * FROM {t} ORDER BY rowid") for t in tables}


# -- generator ----------------------------------------------------------------------------
def test_generated_library_has_the_default_sizes(lib):
    assert [(r["id"], r["name"], r["path"]) for r in lib.libraries()] == [
        (1, "Music", "/music"), (2, "Jazz & Classical", "/jazz-classical")]
    assert (len(lib.artists()), len(lib.albums()), len(lib.tracks())) == (50, 200, 2000)
    assert len(lib.users()) == 6 and len(lib.playlists()) == 12


def test_same_seed_gives_identical_rows_on_every_run(lib):
    assert _dump(MusicLibrary.generate(None, seed=0)) == _dump(lib)


def test_another_seed_gives_another_library(lib):
    other = MusicLibrary.generate(None, seed=1)
    assert [a["name"] for a in other.artists()] != [a["name"] for a in lib.artists()]


def test_users_are_one_admin_and_regular_users_in_id_order(lib):
    users = {u["user_name"]: u for u in lib.users()}
    assert [(name, users[name]["is_admin"]) for name in ("admin", "alice", "bob", "chloe")] == [
        ("admin", True), ("alice", False), ("bob", False), ("chloe", False)]
    assert users["chloe"]["name"] == "Chloé Lefèvre"
    assert users["alice"]["email"] == "alice@example.com"
    ids = [u["id"] for u in lib.users()]
    assert ids == sorted(ids)  # Navidrome's GetAll(): grouped by user.id, no ORDER BY


def test_some_names_are_not_ascii(lib):
    assert any(not a["name"].isascii() for a in lib.artists())


def test_tracks_carry_musicbrainz_ids_isrcs_and_formats(lib):
    tracks = lib.tracks()
    assert all(UUID.match(t["mbz_recording_id"]) for t in tracks)
    assert all(UUID.match(t["mbz_album_id"]) and UUID.match(t["mbz_release_group_id"])
               for t in tracks)
    isrcs = [t["tags"]["isrc"][0] for t in tracks if "isrc" in t["tags"]]
    assert len(isrcs) > 1500 and all(ISRC.match(i) for i in isrcs)
    assert {t["suffix"] for t in tracks} == {"mp3", "flac", "opus"}
    assert all(t["genre"] in t["tags"]["genre"] for t in tracks)


def test_track_paths_are_relative_artist_album_number_title(lib):
    track = next(t for t in lib.tracks() if t["disc_number"] == 1 and "/CD" not in t["path"])
    assert track["path"] == (f"{track['album_artist']}/{track['album']}/"
                             f"{track['track_number']:02d} - {track['title']}.{track['suffix']}")


def test_jazz_and_classical_artists_live_in_library_two(lib):
    assert {a["genre"] for a in lib.albums(library_id=2)} <= {"Jazz", "Classical"}
    assert lib.library(2)["total_songs"] == len(lib.tracks(library_id=2))


def test_library_totals_add_up(lib):
    assert sum(r["total_songs"] for r in lib.libraries()) == 2000
    assert sum(r["total_albums"] for r in lib.libraries()) == 200


def test_scrobbles_span_months_before_the_fixed_epoch(lib):
    times = [r["submission_time"] for r in lib.query("SELECT submission_time FROM scrobbles")]
    assert max(times) < EPOCH and EPOCH - min(times) > 150 * 86400


def test_play_counts_match_the_scrobble_history(lib):
    alice = lib.user_by_name("alice")
    played = lib.scrobbles(alice["id"])
    track_id = played[0]["media_file_id"]
    count = sum(1 for s in played if s["media_file_id"] == track_id)
    assert lib.annotation(alice["id"], track_id)["play_count"] == count


def test_users_have_stars_and_ratings(lib):
    alice = lib.user_by_name("alice")["id"]
    notes = lib.annotations(alice, "media_file")
    assert any(n["starred"] for n in notes) and any(n["rating"] for n in notes)


def test_annotation_of_an_unannotated_item_is_zeros(lib):
    note = lib.annotation("nobody", "nothing")
    assert (note["play_count"], note["rating"], note["starred"], note["play_date"]) == (
        0, 0, False, None)


def test_playlist_lists_its_tracks_in_order(lib):
    playlist = lib.playlist(lib.playlists()[0]["id"])
    assert len(playlist["tracks"]) == playlist["song_count"]
    assert all(lib.track(t) is not None for t in playlist["tracks"])


def test_user_by_name_is_case_insensitive(lib):
    assert lib.user_by_name("ALICE")["user_name"] == "alice"


def test_genres_count_songs_and_albums(lib):
    genres = {g["value"]: g for g in lib.genres()}
    assert genres["Jazz"]["song_count"] == sum(
        1 for t in lib.tracks() if "Jazz" in t["tags"]["genre"])


def test_scrobbles_range_is_inclusive_and_ordered(lib):
    alice = lib.user_by_name("alice")["id"]
    rows = lib.scrobbles(alice)
    lo, hi = rows[1]["submission_time"], rows[3]["submission_time"]
    assert [r["id"] for r in lib.scrobbles(alice, from_ts=lo, to_ts=hi)] == [
        r["id"] for r in rows[1:4]]
    assert lib.scrobbles(alice, descending=True, limit=1)[0]["id"] == rows[-1]["id"]


def test_track_info_is_the_scrobbler_json(lib):
    track = lib.tracks()[0]
    info = lib.track_info(track["id"])
    assert info["albumArtists"] == [{"id": track["album_artist_id"],
                                     "name": track["album_artist"]}]
    assert info["mbzRecordingId"] == track["mbz_recording_id"]
    assert info["duration"] == track["duration"] and info["trackNumber"] == 1


# -- changes ------------------------------------------------------------------------------
def test_add_user_then_read_it_back(fresh):
    user = fresh.add_user("zoe", name="Zoë", email="zoe@example.com")
    assert fresh.user_by_name("Zoe") == user
    assert (user["name"], user["is_admin"]) == ("Zoë", False)
    assert user in fresh.users()


def test_update_and_remove_user(fresh):
    bob = fresh.user_by_name("bob")
    assert fresh.update_user(bob["id"], is_admin=True)["is_admin"] is True
    fresh.remove_user(bob["id"])
    assert fresh.user(bob["id"]) is None and fresh.scrobbles(bob["id"]) == []


def test_unknown_column_is_refused(fresh):
    with pytest.raises(LibraryError, match="unknown column 'colour' of table user"):
        fresh.update_user(fresh.users()[0]["id"], colour="red")


def test_set_libraries_replaces_the_set_and_drops_removed_content(fresh):
    fresh.set_libraries([{"id": 1, "name": "Everything", "path": "/srv/music"},
                         {"id": 7, "name": "Podcasts", "path": "/srv/podcasts"}])
    assert [(r["id"], r["name"]) for r in fresh.libraries()] == [(1, "Everything"),
                                                                 (7, "Podcasts")]
    assert fresh.tracks(library_id=2) == []


def test_add_artist_album_track(fresh):
    artist = fresh.add_artist("Björk-ish", mbz_artist_id="11111111-1111-4111-8111-111111111111")
    album = fresh.add_album("Débuts", artist["id"], year=1993, genre="Pop")
    track = fresh.add_track("Human Behaviour", album["id"], isrc="GBAAA9300001")
    assert track["path"] == "Björk-ish/Débuts/01 - Human Behaviour.mp3"
    assert track["tags"] == {"genre": ["Pop"], "isrc": ["GBAAA9300001"]}
    assert fresh.artists(library_id=1)[0]["name"] == "Björk-ish"
    fresh.refresh_stats()
    assert fresh.album(album["id"])["song_count"] == 1


def test_remove_track_drops_it_from_playlists(fresh):
    playlist = fresh.playlist(fresh.playlists()[0]["id"])
    first = playlist["tracks"][0]
    fresh.remove_track(first)
    assert first not in fresh.playlist(playlist["id"])["tracks"]


def test_star_unstar_and_rate(fresh):
    user = fresh.users()[1]["id"]
    track = fresh.tracks()[0]["id"]
    assert fresh.star(user, track, at=EPOCH)["starred_at"] == "2026-01-01 00:00:00"
    assert fresh.unstar(user, track)["starred"] is False
    assert fresh.set_rating(user, track, 4)["rating"] == 4
    with pytest.raises(LibraryError, match="rating must be between 0 and 5"):
        fresh.set_rating(user, track, 6)


def test_record_play_adds_a_scrobble_and_bumps_track_album_artist_counts(fresh):
    user = fresh.users()[2]["id"]
    track = fresh.tracks()[5]
    before = [fresh.annotation(user, i, k)["play_count"] for i, k in (
        (track["id"], "media_file"), (track["album_id"], "album"), (track["artist_id"], "artist"))]
    row = fresh.record_play(user, track["id"], time=EPOCH + 60)
    assert (row["media_file_id"], row["submission_time"]) == (track["id"], EPOCH + 60)
    after = [fresh.annotation(user, i, k)["play_count"] for i, k in (
        (track["id"], "media_file"), (track["album_id"], "album"), (track["artist_id"], "artist"))]
    assert after == [n + 1 for n in before]
    assert fresh.annotation(user, track["id"])["play_date"] == "2026-01-01 00:01:00"


def test_empty_library_has_tables_and_no_rows(tmp_path):
    empty = MusicLibrary.empty(tmp_path / "e.db")
    assert empty.libraries() == [] and empty.users() == [] and empty.genres() == []


# -- real navidrome.db ----------------------------------------------------------------------
def _navidrome_like_db(path, *, drop=()) -> None:
    """A database shaped like a real Navidrome's: extra columns, some optional ones missing,
    no id column in scrobbles, no user_library table."""
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE library (id INTEGER PRIMARY KEY, name TEXT, path TEXT,
            last_scan_at DATETIME, full_scan_in_progress BOOLEAN DEFAULT 0,
            total_songs INTEGER DEFAULT 0);
        CREATE TABLE artist (id TEXT PRIMARY KEY, name TEXT, order_artist_name TEXT,
            mbz_artist_id TEXT, external_info_updated_at DATETIME);
        CREATE TABLE album (id TEXT PRIMARY KEY, name TEXT, album_artist_id TEXT,
            library_id INTEGER, imported_at DATETIME);
        CREATE TABLE media_file (id TEXT PRIMARY KEY, path TEXT, title TEXT, album_id TEXT,
            library_id INTEGER, duration REAL, hash TEXT, folder_id TEXT);
        CREATE TABLE user (id TEXT PRIMARY KEY, user_name TEXT, name TEXT, email TEXT,
            password TEXT, is_admin BOOLEAN, last_login_at DATETIME);
        CREATE TABLE playlist (id TEXT PRIMARY KEY, name TEXT, owner_id TEXT);
        CREATE TABLE annotation (user_id TEXT, item_id TEXT, item_type TEXT, play_count INTEGER,
            play_date DATETIME, rating INTEGER, starred BOOLEAN, starred_at DATETIME);
        CREATE TABLE scrobbles (media_file_id TEXT, user_id TEXT, submission_time INTEGER);
        INSERT INTO library VALUES (1, 'Music', '/data/music', '2025-03-04 05:06:07.123+00:00',
            0, 3);
        INSERT INTO user VALUES ('u1', 'Admin', 'The Admin', 'a@b.c', 'x', 1, NULL);
        INSERT INTO media_file VALUES ('t1', 'A/B/01 - C.flac', 'C', 'al1', 1, 200.5, 'h', 'f');
        INSERT INTO scrobbles VALUES ('t1', 'u1', 1700000000), ('t1', 'u1', 1700000100);
    """)
    for table in drop:
        conn.execute(f"DROP TABLE {table}")
    conn.commit()
    conn.close()


def test_open_real_database_tolerates_extra_and_missing_columns(tmp_path):
    _navidrome_like_db(tmp_path / "navidrome.db")
    real = MusicLibrary.open(tmp_path / "navidrome.db")
    track = real.track("t1")
    assert (track["title"], track["duration"], track["suffix"], track["missing"]) == (
        "C", 200.5, "", False)
    assert "hash" not in track
    assert real.library(1)["total_albums"] == 0
    assert to_unix(real.library(1)["last_scan_at"]) == 1741064767


def test_open_real_database_numbers_scrobbles_by_rowid(tmp_path):
    _navidrome_like_db(tmp_path / "navidrome.db")
    real = MusicLibrary.open(tmp_path / "navidrome.db")
    assert [(s["id"], s["submission_time"]) for s in real.scrobbles("u1")] == [
        (1, 1700000000), (2, 1700000100)]


def test_open_real_database_lists_every_missing_table(tmp_path):
    _navidrome_like_db(tmp_path / "navidrome.db", drop=("user", "scrobbles"))
    with pytest.raises(LibraryError) as e:
        MusicLibrary.open(tmp_path / "navidrome.db")
    assert str(e.value) == "not a Navidrome database: missing tables user, scrobbles"


def test_real_database_is_opened_read_only(tmp_path):
    _navidrome_like_db(tmp_path / "navidrome.db")
    real = MusicLibrary.open(tmp_path / "navidrome.db")
    with pytest.raises(LibraryError, match="library is read-only"):
        real.add_user("zoe")
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        real.connection().execute("INSERT INTO main.user (id) VALUES ('x')")


def test_user_by_name_on_a_real_database_is_case_insensitive(tmp_path):
    _navidrome_like_db(tmp_path / "navidrome.db")
    assert MusicLibrary.open(tmp_path / "navidrome.db").user_by_name("admin")["id"] == "u1"


def test_go_zero_time_means_never():
    assert to_unix("0000-00-00 00:00:00") == GO_ZERO_UNIX == -62135596800
    assert to_unix(None) == GO_ZERO_UNIX


# -- Host ----------------------------------------------------------------------------------
def test_host_creates_no_library_until_asked(tmp_path):
    host = Host(tmp_path)
    assert not (tmp_path / "library").exists()
    assert len(host.library.tracks()) == 2000
    assert (tmp_path / "library" / "navidrome.db").is_file()


def test_host_reopens_its_generated_library_with_its_changes(tmp_path):
    Host(tmp_path, library={"tracks": 300, "albums": 30}).library.add_user("zoe")
    again = Host(tmp_path, library={"tracks": 300, "albums": 30}).library
    assert again.user_by_name("zoe") is not None


def test_host_regenerates_when_the_parameters_change(tmp_path):
    Host(tmp_path, library={"seed": 1}).library.add_user("zoe")
    assert Host(tmp_path, library={"seed": 2}).library.user_by_name("zoe") is None


def test_host_takes_an_empty_library_a_library_object_or_a_database_path(tmp_path):
    assert Host(tmp_path / "a", library="empty").library.users() == []
    mine = MusicLibrary.empty(None)
    assert Host(tmp_path / "b", library=mine).library is mine
    _navidrome_like_db(tmp_path / "navidrome.db")
    assert Host(tmp_path / "c", library=str(tmp_path / "navidrome.db")).library.read_only


# -- materialising --------------------------------------------------------------------------
def test_flac_checksums_are_the_standard_ones():
    # CRC-8 (poly 0x07) and CRC-16 (poly 0x8005) check values of "123456789"
    assert (_crc8(b"123456789"), _crc16(b"123456789")) == (0xF4, 0xFEE8)


@pytest.mark.parametrize("suffix,kind", [("mp3", "MP3"), ("flac", "FLAC"), ("opus", "OggOpus")])
def test_silent_audio_parses_as_its_format(tmp_path, suffix, kind):
    path = tmp_path / f"x.{suffix}"
    path.write_bytes(silent_audio(suffix))
    audio = mutagen.File(path)
    assert type(audio).__name__ == kind and 0 < audio.info.length < 1


@pytest.fixture(scope="module")
def materialized(tmp_path_factory):
    library = MusicLibrary.generate(None, seed=0)
    root = tmp_path_factory.mktemp("materialized")
    library.materialize(root)
    return library, root


def test_materialize_points_library_paths_at_real_folders(materialized):
    library, root = materialized
    assert [r["path"] for r in library.libraries()] == [str(root / "Music"),
                                                        str(root / "Jazz & Classical")]


def test_every_track_file_exists_where_its_path_says(materialized):
    library, _ = materialized
    folders = {r["id"]: r["path"] for r in library.libraries()}
    missing = [t["path"] for t in library.tracks()
               if not (Path(folders[t["library_id"]]) / t["path"]).is_file()]
    assert missing == []


@pytest.mark.parametrize("suffix", ["mp3", "flac", "opus"])
def test_file_tags_match_the_database(materialized, suffix):
    library, _ = materialized
    track = next(t for t in library.tracks() if t["suffix"] == suffix and "isrc" in t["tags"])
    audio = mutagen.File(f"{library.library(track['library_id'])['path']}/{track['path']}",
                         easy=True)
    assert audio["title"] == [track["title"]]
    assert audio["album"] == [track["album"]]
    assert audio["albumartist"] == [track["album_artist"]]
    assert audio["tracknumber"] == [str(track["track_number"])]
    assert audio["genre"] == track["tags"]["genre"]
    assert audio["isrc"] == track["tags"]["isrc"]
    assert audio["musicbrainz_trackid"] == [track["mbz_recording_id"]]
    assert audio["musicbrainz_albumid"] == [track["mbz_album_id"]]


def test_tracks_with_cover_art_embed_it_and_albums_have_a_cover_png(materialized):
    library, _ = materialized
    track = next(t for t in library.tracks() if t["suffix"] == "flac" and t["has_cover_art"])
    path = f"{library.library(track['library_id'])['path']}/{track['path']}"
    assert mutagen.File(path).pictures[0].mime == "image/png"
    album_folder = path.rsplit("/", 2 if "/CD" in track["path"] else 1)[0]
    assert Path(f"{album_folder}/cover.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_materialized_tracks_size_is_its_files_size_and_totals_follow(tmp_path):
    """Navidrome's scanner stores the file's size (mf.Size = md.Size()): kepelet's lrclib
    plugin finds a song's file in the library by its size."""
    library = MusicLibrary.generate(None, seed=0, artists=6, albums=12, tracks=60)
    before = {t["id"]: t["size"] for t in library.tracks()}
    library.materialize(tmp_path, limit=3, library_id=1)
    folder = Path(library.library(1)["path"])
    written = [t for t in library.tracks(library_id=1) if (folder / t["path"]).is_file()]
    assert len(written) == 3
    for t in written:
        assert t["size"] == (folder / t["path"]).stat().st_size != before[t["id"]]
    kept = [t for t in library.tracks() if t not in written]
    assert all(t["size"] == before[t["id"]] for t in kept)
    album = written[0]["album_id"]
    assert library.album(album)["size"] == sum(t["size"] for t in library.tracks()
                                               if t["album_id"] == album)
    assert library.library(1)["total_size"] == sum(t["size"] for t in library.tracks(library_id=1))


def test_materialize_can_limit_tracks_and_pick_one_library(tmp_path):
    library = MusicLibrary.generate(None, seed=0, artists=6, albums=12, tracks=60)
    library.materialize(tmp_path, limit=3, library_id=1)
    audio = [p for p in (tmp_path / "Music").rglob("*") if p.suffix in (".mp3", ".flac", ".opus")]
    assert len(audio) == 3
    assert not (tmp_path / "Jazz & Classical").exists()
    assert library.library(2)["path"] == "/jazz-classical"


def test_materialize_refuses_a_read_only_database(tmp_path):
    _navidrome_like_db(tmp_path / "navidrome.db")
    with pytest.raises(LibraryError, match="read-only"):
        MusicLibrary.open(tmp_path / "navidrome.db").materialize(tmp_path / "out")


def test_ddl_is_navidromes_table_names():
    assert json.dumps(sorted(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", DDL))) == json.dumps(
        sorted(["library", "artist", "library_artist", "album", "media_file", "user",
                "user_library", "playlist", "playlist_tracks", "radio", "annotation", "scrobbles"]))


def test_the_library_imports_no_service_and_nothing_of_the_runtime():
    import ast

    folder = Path(__file__).resolve().parent.parent / "nd_notebook" / "library"
    imported = set()
    for source in folder.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level >= 2:
                imported.add((node.module or "").split(".")[0])
    assert not imported & {"services", "runtime", "capabilities", "magics", "testing"}
