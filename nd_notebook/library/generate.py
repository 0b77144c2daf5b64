"""The deterministic library generator: realistic-looking rows from a seeded ``random.Random``.

Same seed and sizes give byte-identical rows on every run and machine: every random choice
comes from one ``random.Random(seed)`` drawn in a fixed order, and every timestamp is relative
to ``EPOCH`` (2026-01-01 00:00:00 UTC), never the wall clock. What it makes:
- libraries 1 "Music" (``/music``) and 2 "Jazz & Classical" (``/jazz-classical``): the artists
  of jazz and classical genres live in library 2, the others in library 1;
- artists (a few with non-ASCII names), albums (at least one per artist), tracks with genres,
  years, durations, disc/track numbers, MusicBrainz ids, ISRCs (``tags.isrc``), formats
  (mp3, flac, opus; one per album), sizes and bit rates; some featuring a second artist;
- the admin ``admin`` and regular users (``alice``, ``bob``, ``chloe``...): every regular user
  sees library 1, every other one also library 2;
- per user a scrobble history over the 180 days before ``EPOCH`` (listening sessions playing
  consecutive album tracks), the play counts it implies (track, album, artist), stars, ratings;
- playlists owned by the users, some public.
"""

from __future__ import annotations

import json
import random
import sqlite3
import uuid

from .changes import datetime_text, new_id, refresh_stats, safe_name

EPOCH = 1767225600  # 2026-01-01 00:00:00 UTC: "now" for generated data
HISTORY_DAYS = 180

LIBRARIES = ((1, "Music", "/music"), (2, "Jazz & Classical", "/jazz-classical"))
LIB2_GENRES = ("Jazz", "Classical")
GENRES = ("Rock", "Pop", "Electronic", "Hip-Hop", "Folk", "Indie", "Metal", "Soul", "Ambient",
          "Blues", "Jazz", "Classical")

SPECIAL_ARTISTS = ("Sigrún Ólafsdóttir", "Zoë Marchetti", "Mötley Owls", "Café Nocturne",
                   "Łukasz Wróbel Trio", "Hikari 光", "Anaïs & the Lanterns", "Søren Kierland")
FIRST = ("Ada", "Bruno", "Clara", "Dev", "Elena", "Felix", "Greta", "Hugo", "Iris", "Jonas",
         "Kira", "Leo", "Maya", "Nico", "Olive", "Pablo", "Quinn", "Rosa", "Sam", "Tessa",
         "Umar", "Vera", "Wes", "Yara", "Zane")
LAST = ("Abernathy", "Bellamy", "Castillo", "Delacroix", "Ellison", "Fontaine", "Garrido",
        "Holloway", "Ivers", "Jansen", "Kowalski", "Lindqvist", "Moreno", "Nakamura", "Okafor",
        "Pryce", "Quist", "Rinaldi", "Sato", "Thorne", "Ueda", "Vance", "Whitlock", "Young")
ADJ = ("Silver", "Electric", "Quiet", "Velvet", "Golden", "Broken", "Neon", "Hollow", "Crimson",
       "Paper", "Midnight", "Wild", "Lonely", "Northern", "Glass", "Restless", "Distant",
       "Burning", "Gentle", "Crooked", "Blue", "Endless", "Hidden", "Static")
NOUN = ("Harbor", "Comet", "River", "Lantern", "Engine", "Garden", "Mirror", "Signal", "Orchard",
        "Satellite", "Tide", "Meadow", "Canyon", "Echo", "Ember", "Falcon", "Horizon", "Island",
        "Kingdom", "Machine", "Ocean", "Parade", "Shadow", "Thunder", "Wolf", "Window")
ENSEMBLE = ("Quartet", "Trio", "Ensemble", "Orchestra", "Band", "Collective")
PLACES = ("Lisbon", "Reykjavík", "Kyoto", "Montréal", "the Roxy", "Berlin", "São Paulo",
          "the Blue Room", "Dublin", "Marrakech")
VERBS = ("Running", "Falling", "Waiting", "Dancing", "Drifting", "Burning", "Chasing",
         "Dreaming", "Floating", "Calling", "Breathing", "Holding")
USERS = (("alice", "Alice Moreau"), ("bob", "Bob Okafor"), ("chloe", "Chloé Lefèvre"),
         ("dmitri", "Dmitri Ivanov"), ("erin", "Erin O'Brien"), ("farah", "Farah Haddad"),
         ("gustav", "Gustav Ångström"), ("hana", "Hana Kobayashi"))
PLAYLISTS = ("Morning Coffee", "Road Trip", "Focus", "Late Night Jazz", "Workout", "Rainy Day",
             "Sunday Chill", "Best of 2025", "Dinner Party", "Deep Cuts", "Summer Vibes",
             "Throwbacks", "Sleep", "Commute")
FORMATS = (  # suffix, codec, weight, bit rates, sample rate, bit depth
    ("mp3", "MP3", 60, (320, 256, 192, 128), 44100, 0),
    ("flac", "FLAC", 28, (880, 960, 1011, 1104), 44100, 16),
    ("opus", "Opus", 12, (128, 160), 48000, 0),
)


def populate(conn: sqlite3.Connection, *, seed: int = 0, artists: int = 50, albums: int = 200,
             tracks: int = 2000, users: int = 5, playlists: int = 12) -> None:
    """Fill an empty library (Navidrome's schema) with the generated dataset."""
    rng = random.Random(seed)
    gen = _Generator(rng)
    conn.executemany(
        "INSERT INTO library (id, name, path, last_scan_at, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(i, name, path, _dt(EPOCH - 3600 * i), _dt(EPOCH - 400 * 86400), _dt(EPOCH - 3600 * i))
         for i, name, path in LIBRARIES])
    artist_rows = gen.artists(artists)
    album_rows = gen.albums(artist_rows, albums)
    track_rows = gen.tracks(album_rows, artist_rows, tracks)
    user_rows = gen.users(users)
    _insert_many(conn, "artist", [a["row"] for a in artist_rows])
    conn.executemany("INSERT INTO library_artist (library_id, artist_id) VALUES (?, ?)",
                     [(a["library_id"], a["row"]["id"]) for a in artist_rows])
    _insert_many(conn, "album", album_rows)
    _insert_many(conn, "media_file", track_rows)
    _insert_many(conn, "user", [u for u, _ in user_rows])
    conn.executemany("INSERT INTO user_library (user_id, library_id) VALUES (?, ?)",
                     [(u["id"], lib) for u, libs in user_rows for lib in libs])
    gen.history(conn, user_rows, track_rows, album_rows)
    gen.playlists(conn, user_rows, track_rows, playlists)
    refresh_stats(conn)


class _Generator:
    """Draws every row from one ``random.Random`` in a fixed order."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def id(self) -> str:
        return new_id(self.rng.getrandbits)

    # -- artists, albums, tracks ------------------------------------------------------------
    def artists(self, count: int) -> list[dict]:
        rng, names, out = self.rng, set(), []
        for i in range(count):
            name = SPECIAL_ARTISTS[i] if i < min(len(SPECIAL_ARTISTS), count // 6) else ""
            while not name or name in names:
                name = self._artist_name()
            names.add(name)
            genre = rng.choice(GENRES)
            row = {"id": self.id(), "name": name, "order_artist_name": _order(name),
                   "sort_artist_name": name, "full_text": " " + name.lower(),
                   "mbz_artist_id": self.uuid() if rng.random() < 0.9 else "",
                   "biography": "", "created_at": _dt(EPOCH - 400 * 86400),
                   "updated_at": _dt(EPOCH - 30 * 86400)}
            out.append({"row": row, "genre": genre,
                        "library_id": 2 if genre in LIB2_GENRES else 1})
        if count >= 2 and all(a["library_id"] == 1 for a in out):  # keep library 2 non-empty
            out[-1].update(genre="Jazz", library_id=2)
        return out

    def _artist_name(self) -> str:
        rng = self.rng
        form = rng.randrange(4)
        if form == 0:
            return f"The {rng.choice(ADJ)} {rng.choice(NOUN)}s"
        if form == 1:
            return f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        if form == 2:
            return f"{rng.choice(ADJ)} {rng.choice(NOUN)}"
        return f"{rng.choice(FIRST)} {rng.choice(LAST)} {rng.choice(ENSEMBLE)}"

    def albums(self, artists: list[dict], count: int) -> list[dict]:
        rng = self.rng
        owners = list(range(len(artists)))[:count]
        owners += [rng.randrange(len(artists)) for _ in range(count - len(owners))]
        owners.sort()
        out, used = [], set()
        for owner in owners:
            artist = artists[owner]
            name = ""
            while not name or (owner, name) in used:
                name = self._album_name()
            used.add((owner, name))
            year = rng.randint(1968, 2025)
            fmt = rng.choices(FORMATS, weights=[f[2] for f in FORMATS])[0]
            genres = [artist["genre"]] + ([rng.choice(GENRES)] if rng.random() < 0.2 else [])
            genres = list(dict.fromkeys(genres))
            a = artist["row"]
            credit = [{"id": a["id"], "name": a["name"]}]
            date = str(year) if rng.random() < 0.5 else f"{year}-{rng.randint(1, 12):02d}-" \
                                                         f"{rng.randint(1, 28):02d}"
            out.append({
                "id": self.id(), "name": name, "album_artist": a["name"],
                "album_artist_id": a["id"], "min_year": year, "max_year": year,
                "genre": genres[0], "date": date, "original_date": date, "release_date": date,
                "order_album_name": _order(name), "order_album_artist_name": _order(a["name"]),
                "sort_album_name": name, "sort_album_artist_name": a["name"],
                "catalog_num": f"{rng.choice('ABCDEFGHJKLMNPRSTW')}{rng.choice('ABCDEKLMRSTX')}"
                               f"-{rng.randint(100, 9999)}",
                "mbz_album_id": self.uuid(), "mbz_album_artist_id": a["mbz_artist_id"],
                "mbz_release_group_id": self.uuid(),
                "mbz_album_type": rng.choice(("album", "album", "album", "ep", "single")),
                "library_id": artist["library_id"],
                "tags": json.dumps({"genre": genres}),
                "participants": json.dumps({"albumartist": credit, "artist": credit}),
                "created_at": _dt(EPOCH - rng.randint(30, 400) * 86400),
                "updated_at": _dt(EPOCH - 30 * 86400),
                "_format": fmt, "_genres": genres, "_artist": artist,
            })
        return out

    def _album_name(self) -> str:
        rng = self.rng
        form = rng.randrange(5)
        if form == 0:
            return f"{rng.choice(ADJ)} {rng.choice(NOUN)}"
        if form == 1:
            return f"{rng.choice(NOUN)} of {rng.choice(NOUN)}s"
        if form == 2:
            return f"Live at {rng.choice(PLACES)}"
        if form == 3:
            return f"Songs for the {rng.choice(ADJ)} {rng.choice(NOUN)}"
        return rng.choice(NOUN) + "s"

    def tracks(self, albums: list[dict], artists: list[dict], count: int) -> list[dict]:
        rng = self.rng
        sizes = [1] * len(albums)
        for _ in range(count - len(albums)):
            sizes[rng.randrange(len(albums))] += 1
        out = []
        for album, size in zip(albums, sizes):
            suffix, codec, _, rates, sample_rate, depth = album["_format"]
            bit_rate = rng.choice(rates)
            discs = 2 if size > 14 else 1
            per_disc = -(-size // discs)
            titles: set[str] = set()
            artist = album["_artist"]["row"]
            has_art = rng.random() < 0.4
            for n in range(size):
                disc, number = divmod(n, per_disc)
                title = ""
                while not title or title in titles:
                    title = self._title()
                titles.add(title)
                duration = round(rng.uniform(95, 420), 2)
                parts = [{"id": artist["id"], "name": artist["name"]}]
                shown = artist["name"]
                if rng.random() < 0.05:  # a featured guest
                    guest = rng.choice(artists)["row"]
                    if guest["id"] != artist["id"]:
                        parts.append({"id": guest["id"], "name": guest["name"]})
                        shown = f"{artist['name']} feat. {guest['name']}"
                tags = {"genre": album["_genres"]}
                if rng.random() < 0.85:
                    tags["isrc"] = [self._isrc(album["min_year"])]
                folder = f"{safe_name(artist['name'])}/{safe_name(album['name'])}/"
                if discs > 1:
                    folder += f"CD{disc + 1}/"
                out.append({
                    "id": self.id(),
                    "path": f"{folder}{number + 1:02d} - {safe_name(title)}.{suffix}",
                    "title": title, "album": album["name"], "artist": shown,
                    "artist_id": artist["id"], "album_artist": artist["name"],
                    "album_id": album["id"], "album_artist_id": artist["id"],
                    "has_cover_art": int(has_art), "track_number": number + 1,
                    "disc_number": disc + 1, "year": album["min_year"], "date": album["date"],
                    "original_year": album["min_year"], "original_date": album["date"],
                    "release_year": album["min_year"], "release_date": album["date"],
                    "size": int(duration * bit_rate * 125) + 4096, "suffix": suffix,
                    "duration": duration, "bit_rate": bit_rate, "sample_rate": sample_rate,
                    "bit_depth": depth, "channels": 2, "codec": codec,
                    "genre": album["genre"], "order_title": _order(title),
                    "order_album_name": album["order_album_name"],
                    "order_artist_name": _order(artist["name"]), "sort_title": title,
                    "sort_album_name": album["name"], "sort_artist_name": artist["name"],
                    "sort_album_artist_name": artist["name"],
                    "mbz_recording_id": self.uuid(), "mbz_album_id": album["mbz_album_id"],
                    "mbz_artist_id": artist["mbz_artist_id"],
                    "mbz_album_artist_id": artist["mbz_artist_id"],
                    "mbz_album_type": album["mbz_album_type"],
                    "mbz_release_track_id": self.uuid(),
                    "mbz_release_group_id": album["mbz_release_group_id"],
                    "catalog_num": album["catalog_num"], "library_id": album["library_id"],
                    "tags": json.dumps(tags, ensure_ascii=False),
                    "participants": json.dumps({"artist": parts, "albumartist": parts[:1]},
                                               ensure_ascii=False),
                    "birth_time": album["created_at"], "created_at": album["created_at"],
                    "updated_at": album["updated_at"],
                })
        return out

    def _title(self) -> str:
        rng = self.rng
        form = rng.randrange(6)
        if form == 0:
            return f"{rng.choice(VERBS)} {rng.choice(NOUN)}s"
        if form == 1:
            return f"{rng.choice(ADJ)} {rng.choice(NOUN)}"
        if form == 2:
            return f"{rng.choice(NOUN)} in the {rng.choice(NOUN)}"
        if form == 3:
            return f"{rng.choice(VERBS)}"
        if form == 4:
            return f"The {rng.choice(NOUN)} Song"
        return f"{rng.choice(VERBS)} Through {rng.choice(PLACES)}"

    def _isrc(self, year: int) -> str:
        rng = self.rng
        return (rng.choice(("US", "GB", "DE", "FR", "SE", "JP", "BR")) +
                "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(3)) +
                f"{year % 100:02d}{rng.randint(0, 99999):05d}")

    # -- users and their history ------------------------------------------------------------
    def users(self, count: int) -> list[tuple[dict, list[int]]]:
        created = _dt(EPOCH - 365 * 86400)
        people = [("admin", "Admin", True)]
        for i in range(count):
            user_name, name = USERS[i] if i < len(USERS) else (f"user{i + 1}", f"User {i + 1}")
            people.append((user_name, name, False))
        out = []
        for i, (user_name, name, admin) in enumerate(people):
            libs = [1, 2] if admin or i % 2 == 1 else [1]
            out.append(({"id": self.id(), "user_name": user_name, "name": name,
                         "email": f"{user_name}@example.com", "password": user_name,
                         "is_admin": int(admin), "created_at": created, "updated_at": created,
                         "last_login_at": _dt(EPOCH - self.rng.randint(1, 96) * 3600),
                         "last_access_at": _dt(EPOCH - self.rng.randint(1, 96) * 3600)},
                        libs))
        return out

    def history(self, conn, users, tracks, albums) -> None:
        """Scrobbles (album listening sessions), the play counts they imply, stars, ratings."""
        rng = self.rng
        by_album: dict[str, list[dict]] = {}
        for t in tracks:
            by_album.setdefault(t["album_id"], []).append(t)
        scrobbles, annotations = [], []
        for user, libs in users:
            visible = [a for a in albums if a["library_id"] in libs]
            if not visible:
                continue
            favourites = rng.sample(visible, min(6, len(visible)))
            plays: list[tuple[int, dict]] = []
            for _ in range(rng.randint(25, 60)):
                album = rng.choice(favourites) if rng.random() < 0.6 else rng.choice(visible)
                songs = by_album[album["id"]]
                start = rng.randrange(len(songs))
                ts = EPOCH - rng.randint(1, HISTORY_DAYS * 86400)
                for song in songs[start:start + rng.randint(1, 8)]:
                    if ts >= EPOCH:
                        break
                    plays.append((ts, song))
                    ts += int(song["duration"]) + rng.randint(0, 5)
            plays.sort(key=lambda p: (p[0], p[1]["id"]))
            counts: dict[tuple[str, str], list] = {}
            for ts, song in plays:
                scrobbles.append((song["id"], user["id"], ts))
                for item, kind in ((song["id"], "media_file"), (song["album_id"], "album"),
                                   (song["artist_id"], "artist")):
                    entry = counts.setdefault((item, kind), [0, ts])
                    entry[0] += 1
                    entry[1] = max(entry[1], ts)
            notes: dict[tuple[str, str], dict] = {
                key: {"play_count": n, "play_date": _dt(last)}
                for key, (n, last) in counts.items()}
            pool = [t for t in tracks if t["library_id"] in libs]
            for song in rng.sample(pool, min(len(pool), rng.randint(10, 40))):
                notes.setdefault((song["id"], "media_file"), {}).update(
                    starred=1, starred_at=_dt(EPOCH - rng.randint(1, HISTORY_DAYS) * 86400))
            for song in rng.sample(pool, min(len(pool), rng.randint(10, 60))):
                notes.setdefault((song["id"], "media_file"), {}).update(
                    rating=rng.randint(1, 5), rated_at=_dt(EPOCH - rng.randint(1, 90) * 86400))
            for album in rng.sample(visible, min(len(visible), rng.randint(3, 10))):
                notes.setdefault((album["id"], "album"), {}).update(
                    starred=1, starred_at=_dt(EPOCH - rng.randint(1, HISTORY_DAYS) * 86400),
                    rating=rng.randint(3, 5))
            for album in favourites[:3]:
                notes.setdefault((album["album_artist_id"], "artist"), {}).update(
                    starred=1, starred_at=_dt(EPOCH - rng.randint(1, HISTORY_DAYS) * 86400))
            for (item, kind), values in sorted(notes.items()):
                annotations.append((user["id"], item, kind, values.get("play_count", 0),
                                    values.get("play_date"), values.get("rating", 0),
                                    values.get("starred", 0), values.get("starred_at"),
                                    values.get("rated_at")))
        conn.executemany("INSERT INTO scrobbles (media_file_id, user_id, submission_time) "
                         "VALUES (?, ?, ?)", scrobbles)
        conn.executemany("INSERT INTO annotation (user_id, item_id, item_type, play_count, "
                         "play_date, rating, starred, starred_at, rated_at) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", annotations)

    def playlists(self, conn, users, tracks, count: int) -> None:
        rng = self.rng
        rows, entries = [], []
        for i in range(count):
            user, libs = users[i % len(users)]
            pool = [t for t in tracks if t["library_id"] in libs]
            chosen = rng.sample(pool, min(len(pool), rng.randint(8, 40)))
            name = PLAYLISTS[i % len(PLAYLISTS)] + ("" if i < len(PLAYLISTS)
                                                    else f" {i // len(PLAYLISTS) + 1}")
            pid = self.id()
            when = _dt(EPOCH - rng.randint(1, 300) * 86400)
            rows.append({"id": pid, "name": name, "comment": "", "owner_id": user["id"],
                         "public": int(rng.random() < 0.4), "song_count": len(chosen),
                         "duration": round(sum(t["duration"] for t in chosen), 2),
                         "size": sum(t["size"] for t in chosen), "created_at": when,
                         "updated_at": when})
            entries += [(n + 1, pid, t["id"]) for n, t in enumerate(chosen)]
        _insert_many(conn, "playlist", rows)
        conn.executemany("INSERT INTO playlist_tracks (id, playlist_id, media_file_id) "
                         "VALUES (?, ?, ?)", entries)


def _insert_many(conn: sqlite3.Connection, table: str, rows: list[dict]) -> None:
    if not rows:
        return
    columns = [k for k in rows[0] if not k.startswith("_")]
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" for _ in columns)
    conn.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})',
                     [tuple(r[c] for c in columns) for r in rows])


def _order(name: str) -> str:
    """Navidrome's order_* columns: lower case, a leading article dropped."""
    low = name.lower()
    for article in ("the ", "a ", "an "):
        if low.startswith(article):
            return low[len(article):]
    return low


def _dt(unix: int) -> str:

    return datetime_text(unix)
