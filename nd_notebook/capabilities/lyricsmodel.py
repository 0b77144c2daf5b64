"""The ``model.Lyrics`` shape every lyrics parser returns (lyrics.py, ttml.py), and the language
rule they share."""

from __future__ import annotations

from typing import Any

DEFAULT_LANG = "xxx"


def lyrics(*, lang: str, lines: list[dict[str, Any]], synced: bool, artist: str = "",
           title: str = "", offset: int | None = None) -> dict[str, Any]:
    """A ``model.Lyrics`` dict (JSON names; optional keys only when set), lines normalised:
    an end before its start, or without a start, is dropped."""
    out: dict[str, Any] = {}
    if artist:
        out["displayArtist"] = artist
    if title:
        out["displayTitle"] = title
    out["lang"] = lang
    out["line"] = [_normalize_line(ln) for ln in lines]
    if offset is not None:
        out["offset"] = offset
    out["synced"] = synced
    return out


def _normalize_line(line: dict[str, Any]) -> dict[str, Any]:
    start, end = line.get("start"), line.get("end")
    if start is not None and start < 0:
        start = end = None
    if start is None or (end is not None and end < start):
        end = None
    out: dict[str, Any] = {}
    if start is not None:
        out["start"] = start
    if end is not None:
        out["end"] = end
    out["value"] = line["value"]
    return out


def normalize_lang(lang: str) -> str:
    """Lower-cased, trimmed; ``"xxx"`` when empty (SRT, TTML and Lyricsfile)."""
    lang = (lang or "").strip().lower()
    return lang or DEFAULT_LANG
