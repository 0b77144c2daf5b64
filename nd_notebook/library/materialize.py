"""Materialising a library: real folders and small, valid, tagged audio files.

``materialize(lib, root)`` writes ``<root>/<library name>/<track path>`` for every track (the
track ``path`` column is relative to its library, as Navidrome stores it), tags each file like
its row (title, artists, album, track/disc numbers, date, genres, ISRC, MusicBrainz ids), puts
a tiny ``cover.png`` in every album folder (and embeds it in tracks with ``has_cover_art``),
then points each ``library.path`` row at its new folder. Files are a fraction of a second of
silence (see ``audio.py``): the tags match the database, the durations do not. Each written
track's ``size`` becomes its file's size, as Navidrome's scanner stores it (album, playlist and
library totals follow), so a plugin matching files by size finds them.
The default library (2,000 tracks) takes one to two seconds and about 3 MB; ``limit`` keeps only
the first tracks of each library and ``library_id`` a single library.
"""

from __future__ import annotations

import io
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

from .audio import silent_audio
from .changes import safe_name

if TYPE_CHECKING:
    from .musiclibrary import MusicLibrary

COVER_NAME = "cover.png"
COVER_SIZE = 16

# Vorbis comment names (FLAC, Opus) and the columns they come from.
_VORBIS_IDS = (("MUSICBRAINZ_TRACKID", "mbz_recording_id"),
               ("MUSICBRAINZ_ALBUMID", "mbz_album_id"),
               ("MUSICBRAINZ_ARTISTID", "mbz_artist_id"),
               ("MUSICBRAINZ_ALBUMARTISTID", "mbz_album_artist_id"),
               ("MUSICBRAINZ_RELEASEGROUPID", "mbz_release_group_id"),
               ("MUSICBRAINZ_RELEASETRACKID", "mbz_release_track_id"))
# ID3 TXXX descriptions (Picard's) for the same ids; the recording id goes into UFID.
_ID3_IDS = (("MusicBrainz Album Id", "mbz_album_id"),
            ("MusicBrainz Artist Id", "mbz_artist_id"),
            ("MusicBrainz Album Artist Id", "mbz_album_artist_id"),
            ("MusicBrainz Release Group Id", "mbz_release_group_id"),
            ("MusicBrainz Release Track Id", "mbz_release_track_id"))


def materialize(lib: MusicLibrary, root, *, limit: int | None = None,
                library_id: int | None = None) -> Path:
    """Write the folder tree under ``root`` and return ``root`` (see module docstring)."""
    lib._writable()
    root = Path(root).resolve()
    covers: dict[str, bytes] = {}
    sizes: list[tuple[int, str]] = []
    for library in lib.libraries():
        if library_id is not None and library["id"] != library_id:
            continue
        folder = root / safe_name(library["name"])
        folder.mkdir(parents=True, exist_ok=True)
        tracks = lib.tracks(library_id=library["id"])
        if limit is not None:
            tracks = tracks[:limit]
        for track in tracks:
            target = folder / track["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            cover = covers.get(track["album_id"])
            if cover is None:
                cover = covers[track["album_id"]] = cover_png(track["album_id"])
                album_dir = target.parent.parent if target.parent.name.startswith("CD") \
                    else target.parent
                (album_dir / COVER_NAME).write_bytes(cover)
            write_tagged(target, track, cover if track["has_cover_art"] else None)
            sizes.append((target.stat().st_size, track["id"]))
        lib.update_library(library["id"], path=str(folder))
    with lib.lock, lib._conn:
        lib._conn.executemany("UPDATE media_file SET size = ? WHERE id = ?", sizes)
    lib.refresh_stats()
    return root


def write_tagged(path: Path, track: dict, cover: bytes | None = None) -> None:
    """Write a silent file of the track's suffix at ``path``, tagged like the track row."""
    path.write_bytes(silent_audio(track["suffix"]))
    if track["suffix"] == "mp3":
        _tag_mp3(path, track, cover)
    else:
        _tag_vorbis(path, track, cover)


def cover_png(key: str) -> bytes:
    """A tiny PNG in a colour derived from ``key`` (stable across runs)."""
    from PIL import Image

    h = zlib.crc32(key.encode())
    colour = (h & 0xFF, (h >> 8) & 0xFF, (h >> 16) & 0xFF)
    buf = io.BytesIO()
    Image.new("RGB", (COVER_SIZE, COVER_SIZE), colour).save(buf, format="PNG")
    return buf.getvalue()


def _people(track: dict, role: str, fallback: str) -> list[str]:
    names = [p.get("name", "") for p in (track.get("participants") or {}).get(role, [])]
    return [n for n in names if n] or ([fallback] if fallback else [])


def _tag_mp3(path: Path, t: dict, cover: bytes | None) -> None:
    from mutagen import id3

    tags = id3.ID3()
    tags.add(id3.TIT2(encoding=3, text=t["title"]))
    tags.add(id3.TPE1(encoding=3, text=_people(t, "artist", t["artist"])))
    tags.add(id3.TALB(encoding=3, text=t["album"]))
    tags.add(id3.TPE2(encoding=3, text=t["album_artist"]))
    tags.add(id3.TRCK(encoding=3, text=str(t["track_number"])))
    tags.add(id3.TPOS(encoding=3, text=str(t["disc_number"])))
    if t["date"] or t["year"]:
        tags.add(id3.TDRC(encoding=3, text=t["date"] or str(t["year"])))
    genres = (t.get("tags") or {}).get("genre") or ([t["genre"]] if t["genre"] else [])
    if genres:
        tags.add(id3.TCON(encoding=3, text=genres))
    isrc = (t.get("tags") or {}).get("isrc")
    if isrc:
        tags.add(id3.TSRC(encoding=3, text=isrc))
    if t["mbz_recording_id"]:
        tags.add(id3.UFID(owner="http://musicbrainz.org", data=t["mbz_recording_id"].encode()))
    for desc, column in _ID3_IDS:
        if t[column]:
            tags.add(id3.TXXX(encoding=3, desc=desc, text=t[column]))
    if cover is not None:
        tags.add(id3.APIC(encoding=3, mime="image/png", type=3, desc="Cover", data=cover))
    tags.save(path, v2_version=4, padding=lambda info: 0)


def _tag_vorbis(path: Path, t: dict, cover: bytes | None) -> None:
    import base64

    import mutagen
    from mutagen.flac import Picture

    f = mutagen.File(path)
    comments = {"TITLE": t["title"], "ARTIST": _people(t, "artist", t["artist"]),
                "ALBUM": t["album"], "ALBUMARTIST": t["album_artist"],
                "TRACKNUMBER": str(t["track_number"]), "DISCNUMBER": str(t["disc_number"])}
    if t["date"] or t["year"]:
        comments["DATE"] = t["date"] or str(t["year"])
    genres = (t.get("tags") or {}).get("genre") or ([t["genre"]] if t["genre"] else [])
    if genres:
        comments["GENRE"] = genres
    if (t.get("tags") or {}).get("isrc"):
        comments["ISRC"] = t["tags"]["isrc"]
    for name, column in _VORBIS_IDS:
        if t[column]:
            comments[name] = t[column]
    for name, value in comments.items():
        f[name] = value if isinstance(value, list) else [value]
    if cover is not None:
        pic = Picture()
        pic.type, pic.mime, pic.desc, pic.data = 3, "image/png", "Cover", cover
        pic.width = pic.height = COVER_SIZE
        pic.depth = 24
        if t["suffix"] == "flac":
            f.add_picture(pic)
        else:
            f["METADATA_BLOCK_PICTURE"] = [base64.b64encode(pic.write()).decode("ascii")]
    if t["suffix"] == "flac":
        f.save(padding=lambda info: 0)
    else:
        f.save()
