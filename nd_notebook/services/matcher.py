"""Matcher host service (``matcher_matchsongs``, HEAD): song references -> library tracks.

Rules (spec 2.3, Navidrome's ``plugins/host_matcher.go`` and ``core/matcher``):
- empty ``songs``: no results (the field is absent), before any other check;
- no library scope (neither all libraries nor a listed one):
  ``matcher: no libraries configured for this plugin``;
- ``username`` given: resolved case-insensitively through the plugin's user scope
  (``matcher: plugin is not authorized to scope by user`` when it has none at all, then
  ``matcher: user "<u>" not found``, ``matcher: plugin is not allowed to act as user "<u>"``);
  the match then sees that user's libraries and the tracks carry their annotations (starred,
  starredAt, rating, playCount, playDate). Without a username it runs as admin, no annotations;
- per song, in priority order: ID, MusicBrainz recording ID, ISRC (``tags.isrc``), then fuzzy
  title within the tracks of the same artist (Jaro-Winkler >= 0.85 on sanitized titles; ties
  broken by duration proximity, starred/rated >= 4, metadata specificity, album similarity);
  missing tracks never match;
- a match in a library outside the plugin's scope becomes ``null``; ``path`` is only filled
  with the ``library.filesystem`` permission.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Any, ClassVar

from ..capabilities.metadata import duration_ms as song_duration_ms
from ..errors import ServiceError
from ..gojson import go_quote
from ..library.musiclibrary import GO_ZERO_UNIX, to_unix

if TYPE_CHECKING:
    from ..context import PluginContext

NO_LIBRARIES = "matcher: no libraries configured for this plugin"
NO_USER_SCOPE = "matcher: plugin is not authorized to scope by user"
FUZZY_THRESHOLD = 0.85  # Navidrome's Matcher.FuzzyThreshold default (85)
IGNORED_ARTICLES = ("The", "El", "La", "Los", "Las", "Le", "Les", "Os", "As", "O", "A")
_ISRC_ORDER = "ann_starred DESC, ann_rating DESC, year ASC, compilation ASC"


class MatcherService:
    """Navidrome's MatcherService for one plugin."""

    # Where this emulation knowingly differs from Navidrome (shown in docs/abi.md).
    DEVIATIONS: ClassVar[dict[str, str]] = {
        "match_songs": ("fuzzy title matching is nd-notebook's Jaro-Winkler with threshold 0.85, close "
                        "to but not Navidrome's"),
    }

    def __init__(self, ctx: PluginContext):
        self.ctx = ctx

    def match_songs(self, songs: list[dict] | None, opts: dict | None = None) -> list | None:
        songs = songs or []
        if not songs:
            return None
        settings = self.ctx.settings
        if not (settings.all_libraries or settings.libraries):
            raise ServiceError(NO_LIBRARIES)
        library = self.ctx.host.library
        username = (opts or {}).get("username") or ""
        user = self._resolve(library, username) if username else None
        visible = library.user_libraries(user["id"]) if user else \
            [lib["id"] for lib in library.libraries()]
        tracks = _candidates(library, visible, user["id"] if user else None)
        matched = match_indexed(songs, tracks)
        names = {lib["id"]: lib["name"] for lib in library.libraries()}
        filesystem = (self.ctx.permission("library") or {}).get("filesystem") is True
        results: list[dict | None] = [None] * len(songs)
        for i, track in matched.items():
            if settings.all_libraries or track["library_id"] in settings.libraries:
                results[i] = to_track(track, names, scoped=user is not None,
                                      with_path=filesystem)
        return results

    def close(self) -> None:
        pass

    def _resolve(self, library, username: str) -> dict:
        settings = self.ctx.settings
        if not settings.all_users and not settings.users:
            raise ServiceError(NO_USER_SCOPE)
        user = library.user_by_name(username)
        if user is None:
            raise ServiceError(f"matcher: user {go_quote(username)} not found")
        if not settings.all_users and user["id"] not in settings.users:
            raise ServiceError(f"matcher: plugin is not allowed to act as user "
                               f"{go_quote(username)}")
        return user


def match_indexed(songs: list[dict], tracks: list[dict]) -> dict[int, dict]:
    """Navidrome's ``MatchSongsIndexed``: input index -> matched track (unmatched absent)."""
    result: dict[int, dict] = {}
    by_id = {t["id"]: t for t in tracks}
    by_mbid: dict[str, dict] = {}
    for t in tracks:
        if t["mbz_recording_id"]:
            by_mbid.setdefault(t["mbz_recording_id"], t)
    by_isrc: dict[str, dict] = {}
    for t in sorted(tracks, key=_preference):
        for isrc in (t["tags"] or {}).get("isrc", []) if isinstance(t["tags"], dict) else []:
            by_isrc.setdefault(isrc, t)
    for key, index in (("id", by_id), ("mbid", by_mbid), ("isrc", by_isrc)):
        for i, song in enumerate(songs):
            if i not in result and song.get(key) and song[key] in index:
                result[i] = index[song[key]]
    by_artist: dict[str, list] = {}
    for t in sorted(tracks, key=_preference):
        by_artist.setdefault(sanitize(t["artist"], drop_article=True), []).append(t)
    for i, song in enumerate(songs):
        if i in result:
            continue
        artist = sanitize(_song_artist(song), drop_article=True)
        if artist and artist in by_artist:
            best = _best_match(song, artist, by_artist[artist])
            if best is not None:
                result[i] = best
    return result


def to_track(t: dict, library_names: dict[int, str], *, scoped: bool, with_path: bool) -> dict:
    """The public ``types.Track`` projection of a media file (JSON names; the adapter applies
    ``omitempty``)."""
    tags = t["tags"] if isinstance(t["tags"], dict) else {}
    track: dict[str, Any] = {
        "id": t["id"], "libraryId": t["library_id"],
        "libraryName": library_names.get(t["library_id"], ""),
        "path": t["path"] if with_path else "", "missing": bool(t["missing"]),
        "title": t["title"], "album": t["album"], "artist": t["artist"],
        "albumArtist": t["album_artist"], "albumId": t["album_id"], "sortTitle": t["sort_title"],
        "sortAlbumName": t["sort_album_name"], "sortArtistName": t["sort_artist_name"],
        "trackNumber": t["track_number"], "discNumber": t["disc_number"],
        "discSubtitle": t["disc_subtitle"], "year": t["year"], "date": t["date"],
        "originalYear": t["original_year"], "originalDate": t["original_date"],
        "releaseYear": t["release_year"], "releaseDate": t["release_date"], "size": t["size"],
        "suffix": t["suffix"], "duration": float(t["duration"] or 0), "bitRate": t["bit_rate"],
        "sampleRate": t["sample_rate"], "bitDepth": t["bit_depth"], "channels": t["channels"],
        "codec": t["codec"], "genres": list(tags.get("genre") or ([t["genre"]] if t["genre"]
                                                                  else [])) or None,
        "comment": t["comment"], "bpm": t["bpm"], "explicitStatus": t["explicit_status"],
        "catalogNum": t["catalog_num"], "compilation": bool(t["compilation"]),
        "hasCoverArt": bool(t["has_cover_art"]), "mbzRecordingId": t["mbz_recording_id"],
        "mbzReleaseTrackId": t["mbz_release_track_id"], "mbzAlbumId": t["mbz_album_id"],
        "mbzReleaseGroupId": t["mbz_release_group_id"], "mbzAlbumType": t["mbz_album_type"],
        "mbzAlbumComment": t["mbz_album_comment"], "rgAlbumGain": t["rg_album_gain"],
        "rgAlbumPeak": t["rg_album_peak"], "rgTrackGain": t["rg_track_gain"],
        "rgTrackPeak": t["rg_track_peak"], "birthTime": _unix_or_zero(t["birth_time"]),
        "createdAt": _unix_or_zero(t["created_at"]), "updatedAt": _unix_or_zero(t["updated_at"]),
        "averageRating": float(t["avg_rating"] or 0),
        "tags": {k: list(v) for k, v in tags.items() if isinstance(v, list)} or None,
        "participants": _participants(t["participants"]) or None,
    }
    if scoped:
        track.update({"starred": bool(t["ann_starred"]),
                      "starredAt": _unix_ptr(t["ann_starred_at"]),
                      "rating": t["ann_rating"] or 0, "playCount": t["ann_play_count"] or 0,
                      "playDate": _unix_ptr(t["ann_play_date"])})
    return track


# -- candidates and fuzzy matching -------------------------------------------------------------
def _candidates(library, library_ids: list[int], user_id: str | None) -> list[dict]:
    """Every present track of the visible libraries, with the user's annotation and the
    average rating, in table order."""
    marks = ",".join("?" * len(library_ids)) or "NULL"
    return library.query(
        "SELECT mf.*, ann.starred AS ann_starred, ann.starred_at AS ann_starred_at, "
        "ann.rating AS ann_rating, ann.play_count AS ann_play_count, "
        "ann.play_date AS ann_play_date, (SELECT round(AVG(rating), 2) FROM annotation r WHERE "
        "r.item_id = mf.id AND r.item_type = 'media_file' AND r.rating > 0) AS avg_rating "
        "FROM media_file mf LEFT JOIN annotation ann ON ann.item_id = mf.id AND "
        "ann.item_type = 'media_file' AND ann.user_id = ? "
        f"WHERE mf.missing = 0 AND mf.library_id IN ({marks}) ORDER BY mf.rowid",
        (user_id or "", *library_ids))


def _preference(t: dict) -> tuple:
    """Navidrome's ``starred desc, rating desc, year asc, compilation asc``."""
    return (-int(t["ann_starred"] or 0), -int(t["ann_rating"] or 0), t["year"] or 0,
            int(t["compilation"] or 0))


def _song_artist(song: dict) -> str:
    artists = song.get("artists") or []
    return song.get("artist") or (artists[0].get("name", "") if artists else "")


def _best_match(song: dict, artist: str, tracks: list[dict]) -> dict | None:
    title = sanitize(song.get("name", ""))
    album = sanitize(song.get("album", ""))
    artist_mbid = song.get("artistMbid") or next(
        (a.get("mbid", "") for a in song.get("artists") or [] if a.get("mbid")), "")
    album_mbid = song.get("albumMbid", "")
    duration_ms = song_duration_ms(song)  # songRefToAgentSong's: a negative one is 0
    best, best_score = None, None
    for t in tracks:
        title_sim = similarity(title, sanitize(t["title"]))
        if title_sim < FUZZY_THRESHOLD:
            continue
        t_album = sanitize(t["album"])
        album_sim = similarity(album, t_album) if album else 0.0
        proximity = 1.0 if not duration_ms else \
            1.0 / (1.0 + abs(duration_ms / 1000.0 - float(t["duration"] or 0)))
        preferred = bool(t["ann_starred"]) or (t["ann_rating"] or 0) >= 4
        if artist_mbid and album_mbid and t["mbz_artist_id"] == artist_mbid \
                and t["mbz_album_id"] == album_mbid:
            level = 5
        elif artist_mbid and album and t["mbz_artist_id"] == artist_mbid \
                and similarity(t_album, album) >= FUZZY_THRESHOLD:
            level = 4
        elif album and similarity(t_album, album) >= FUZZY_THRESHOLD:
            level = 3  # the artist already matches: candidates are that artist's tracks
        elif artist_mbid and t["mbz_artist_id"] == artist_mbid:
            level = 2
        else:
            level = 1
        score = (title_sim, proximity, preferred, level, album_sim)
        if best_score is None or score > best_score:
            best, best_score = t, score
    return best


def sanitize(text: str, *, drop_article: bool = False) -> str:
    """Navidrome's ``SanitizeFieldForSorting`` (accents stripped, lower case, spaces collapsed);
    ``drop_article`` also removes a leading ignored article (``...NoArticle``)."""
    text = (text or "").strip()
    folded = "".join(c for c in unicodedata.normalize("NFKD", text)
                     if not unicodedata.combining(c)).strip()
    if drop_article:
        for article in IGNORED_ARTICLES:
            if folded.startswith(article + " "):
                folded = folded[len(article) + 1:].strip()
                break
    folded = folded.translate(_QUOTES).lower()
    return " ".join(folded.split())


_QUOTES = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "‐": "-", "–": "-", "—": "-"})


def similarity(a: str, b: str) -> float:
    """Jaro-Winkler similarity (boost threshold 0.7, prefix 4), 1 for equal strings."""
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    jaro = _jaro(a, b)
    if jaro < 0.7:
        return jaro
    prefix = 0
    for x, y in zip(a[:4], b[:4]):
        if x != y:
            break
        prefix += 1
    return jaro + 0.1 * prefix * (1.0 - jaro)


def _jaro(a: str, b: str) -> float:
    window = max(max(len(a), len(b)) // 2 - 1, 0)
    a_hits, b_hits = [False] * len(a), [False] * len(b)
    matches = 0
    for i, ch in enumerate(a):
        for j in range(max(0, i - window), min(len(b), i + window + 1)):
            if not b_hits[j] and b[j] == ch:
                a_hits[i] = b_hits[j] = True
                matches += 1
                break
    if not matches:
        return 0.0
    a_seq = [c for c, hit in zip(a, a_hits) if hit]
    b_seq = [c for c, hit in zip(b, b_hits) if hit]
    transpositions = sum(x != y for x, y in zip(a_seq, b_seq)) / 2
    return (matches / len(a) + matches / len(b) + (matches - transpositions) / matches) / 3


# -- projection helpers --------------------------------------------------------------------------
def _participants(parts: Any) -> list[dict]:
    if not isinstance(parts, dict):
        return []
    out = []
    for role in sorted(parts):
        for p in parts[role] or []:
            out.append({"id": p.get("id", ""), "name": p.get("name", ""),
                        "mbid": p.get("mbid", "") or p.get("mbz_artist_id", ""),
                        "sortName": p.get("sortName", "") or p.get("sort_artist_name", ""),
                        "role": role, "subRole": p.get("subRole", "") or p.get("sub_role", "")})
    return out


def _unix_or_zero(value: Any) -> int:
    unix = to_unix(value)
    return 0 if unix == GO_ZERO_UNIX else unix


def _unix_ptr(value: Any) -> int | None:
    unix = to_unix(value) if value else GO_ZERO_UNIX
    return None if unix == GO_ZERO_UNIX else unix
