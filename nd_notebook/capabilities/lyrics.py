"""Lyrics: the plugin adapter and Navidrome's lyrics parsing (``model.ParseLyrics``, HEAD).

Each ``{lang, text}`` a plugin returns is parsed like a lyrics file whose format is sniffed:
TTML, then SRT, then an LRCLIB "Lyricsfile" YAML document; the first that yields lyrics wins,
and anything else is read as LRC or plain text. A missing ``lang`` is ``"xxx"``; entries that
parse to nothing are skipped. The result is a list shaped like Navidrome's ``model.Lyrics``::

    {"displayArtist"?, "displayTitle"?, "lang", "line": [{"start"?, "end"?, "value"}],
     "offset"?, "synced"}

``start``/``end`` are milliseconds (absent when unknown). The parsers are written here from
the formats' rules as Navidrome applies them (no third-party lyrics library reproduces
Navidrome's exact choices: which LRC tags count, how repeated timestamps sort, how SRT
blocks and TTML timing resolve). Not reproduced: word-level cues (enhanced LRC markers are
stripped from the text, TTML/Lyricsfile word timings are dropped), TTML agents and
translation/transliteration tracks.
"""

from __future__ import annotations

import html
import re
from typing import Any

from .codec import Call, invoke, request
from .lyricsmodel import DEFAULT_LANG, lyrics, normalize_lang
from .ttml import parse_ttml

__all__ = ["DEFAULT_LANG", "get_lyrics", "lyrics", "normalize_lang", "parse_lyrics",
           "parse_response", "sanitize_text"]


def get_lyrics(call: Call, track: dict[str, Any]) -> list[dict[str, Any]]:
    """Call ``nd_lyrics_get_lyrics`` for a TrackInfo and parse every entry as Navidrome does."""
    resp = invoke(call, "nd_lyrics_get_lyrics", request("nd_lyrics_get_lyrics", track=track))
    return parse_response(resp)


def parse_response(resp: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The lyrics list of a decoded ``GetLyricsResponse``."""
    result: list[dict[str, Any]] = []
    for entry in (resp or {}).get("lyrics") or []:
        lang = entry.get("lang") or DEFAULT_LANG
        try:
            parsed = parse_lyrics(entry.get("text") or "", lang)
        except ValueError:  # Navidrome logs "Error parsing plugin lyrics" and skips it
            continue
        result += [lyric for lyric in parsed if lyric["line"]]
    return result


def parse_lyrics(text: str | bytes, lang: str = DEFAULT_LANG, suffix: str = "") -> list[dict]:
    """Parse one lyrics document; ``suffix`` (``.ttml``, ``.srt``, ``.yaml``...) picks the
    format, an empty suffix sniffs it. Falls back to LRC/plain text."""
    contents = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    contents = contents.removeprefix("\ufeff".encode())
    sniff = suffix == "" or suffix.lower() == "auto"
    for suffixes, parser in _FORMATS:
        if not sniff and suffix.lower() not in suffixes:
            continue
        try:
            found = parser(lang, contents)
        except ValueError:  # Navidrome: "Error parsing lyrics, falling back to plain text"
            continue
        if found:
            return found
    lyric = parse_lrc(lang, contents.decode("utf-8", "replace"))
    return [lyric] if lyric["line"] else []


# --------------------------------------------------------------------------- LRC / plain

_TIME = r"\[([0-9]{1,2}:)?([0-9]{1,2}):([0-9]{1,2})(\.[0-9]{1,3})?\]"
_SYNC_RE = re.compile(r"(?:^|\n)[ \t\n\f\r]*" + _TIME)
_TIME_RE = re.compile(_TIME)
_ID_TAG_RE = re.compile(r"\[(ar|ti|offset|lang):([^]]+)]")
_ENHANCED_RE = re.compile(r"<([0-9]{1,2}:)?([0-9]{1,2}):([0-9]{1,2})(\.[0-9]{1,3})?>")
_INT_RE = re.compile(r"[+-]?[0-9]+")


def parse_lrc(lang: str, text: str) -> dict[str, Any]:
    """LRC (``[mm:ss.xx]`` lines, ``[ar:]``/``[ti:]``/``[offset:]``/``[lang:]`` tags) or plain
    text (every non-empty line, no times). Synced when a line starts with a timestamp."""
    text = sanitize_text(text)
    artist = title = ""
    offset: int | None = None
    synced = _SYNC_RE.search(text) is not None
    lines: list[dict[str, Any]] = []
    prior, valid, repeated = "", False, False
    stamps: list[int] = []

    def flush():
        value = _strip_enhanced(prior)
        lines.extend({"start": t, "value": value} for t in stamps)

    for raw in text.split("\n"):
        line = raw.strip()
        if not line:
            if valid:
                prior += "\n"
            continue
        if not synced:
            lines.append({"value": line})
            continue
        tag = _ID_TAG_RE.search(line)
        if tag:
            key, value = tag.group(1), tag.group(2).strip()
            if key == "ar":
                artist = sanitize_text(value)
            elif key == "ti":
                title = sanitize_text(value)
            elif key == "lang":
                lang = sanitize_text(value)
            elif _INT_RE.fullmatch(value) and -(1 << 63) <= int(value) < 1 << 63:
                offset = int(value)  # strconv.ParseInt(value, 10, 64): else only logged
            continue
        times = list(_TIME_RE.finditer(line))
        if len(times) > 1:
            repeated = True
        if not times or times[0].start() != 0:
            if valid:
                prior += "\n" + line
            continue
        if valid:
            flush()
            stamps = []
        end = 0
        for m in times:
            if end and line[end:m.start()].strip():
                break  # a later timestamp in the middle of the text is text
            end = m.end()
            stamps.append(_millis(m))
        prior = line[end:].strip()
        valid = True
    if valid:
        flush()
    if repeated:
        lines.sort(key=lambda ln: ln["start"])
    return lyrics(lang=lang, lines=lines, synced=synced, artist=artist, title=title,
                  offset=offset)


def _millis(m: re.Match) -> int:
    hours = int(m.group(1)[:-1]) if m.group(1) else 0
    ms = 0
    if m.group(4):
        digits = m.group(4)[1:]
        ms = int(digits) * {1: 100, 2: 10, 3: 1}[len(digits)]
    return (((hours * 60 + int(m.group(2))) * 60) + int(m.group(3))) * 1000 + ms


def _strip_enhanced(text: str) -> str:
    """The words of an enhanced-LRC line (``<mm:ss.xx>word``): text after each marker."""
    marks = list(_ENHANCED_RE.finditer(text))
    if not marks:
        return text.strip()
    words = [text[m.end():(marks[i + 1].start() if i + 1 < len(marks) else len(text))]
             for i, m in enumerate(marks)]
    joined = "".join(words)
    return joined.strip() if joined else _ENHANCED_RE.sub("", text).strip()


# --------------------------------------------------------------------------- SRT

_SRT_TIME_RE = re.compile(r"^\s*([0-9]{1,2}):([0-9]{2}):([0-9]{2})[,.]([0-9]{1,3})\s*$")
_SRT_BLOCK_SEP = re.compile(r"\n\s*\n")


def parse_srt(lang: str, contents: bytes) -> list[dict[str, Any]]:
    """SubRip: blocks of ``[index]`` / ``start --> end`` / text lines. A block without a
    ``-->`` line is skipped; a malformed time is an error (plain-text fallback)."""
    raw = contents.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n").strip()
    lines = []
    for block in (b.strip() for b in _SRT_BLOCK_SEP.split(raw) if raw):
        if not block:
            continue
        rows = [r.strip() for r in block.split("\n")]
        first = 1 if rows[0].isascii() and rows[0].isdigit() else 0
        if first >= len(rows):
            continue
        timing = rows[first].split("-->")
        if len(timing) != 2:
            continue
        start, end = _srt_time(timing[0]), _srt_time(timing[1])
        value = sanitize_text("\n".join(r for r in rows[first + 1:] if r))
        if value:
            lines.append({"start": start, "end": end, "value": value})
    if not lines:
        return []
    return [lyrics(lang=normalize_lang(lang), lines=lines, synced=True)]


def _srt_time(value: str) -> int:
    m = _SRT_TIME_RE.match(value.strip())
    if m is None:
        raise ValueError(f"invalid SRT time {value.strip()!r}")
    h, mi, s, frac = m.groups()
    ms = int(frac) * {1: 100, 2: 10, 3: 1}[len(frac)]
    return ((int(h) * 60 + int(mi)) * 60 + int(s)) * 1000 + ms


# --------------------------------------------------------------------------- Lyricsfile YAML

LYRICSFILE_VERSION = "1.0"


def parse_lyricsfile(lang: str, contents: bytes) -> list[dict[str, Any]]:
    """An LRCLIB Lyricsfile (``version: "1.0"``, ``metadata``, ``lines`` or ``plain``).
    Other YAML is not this format; text that is not a YAML mapping is an error."""
    import yaml

    try:  # BaseLoader: every scalar stays a string, as Go decodes into typed fields
        doc = yaml.load(contents.decode("utf-8", "replace"), Loader=yaml.BaseLoader)
    except yaml.YAMLError as e:
        raise ValueError(f"not a valid Lyricsfile YAML: {e}") from None
    if not isinstance(doc, dict):
        raise ValueError("not a valid Lyricsfile YAML: not a mapping")  # noqa: TRY004
    if str(doc.get("version", "")).strip() != LYRICSFILE_VERSION:
        return []
    meta = _mapping(doc.get("metadata"))
    doc_lang = meta.get("language") or ""
    offset = _yaml_int(meta.get("offset_ms"))
    base = {"lang": normalize_lang(doc_lang if doc_lang.strip() else lang),
            "artist": sanitize_text(meta.get("artist") or ""),
            "title": sanitize_text(meta.get("title") or ""), "offset": offset or None}
    if _yaml_bool(meta.get("instrumental")):
        return [lyrics(lines=[], synced=False, **base)]
    entries = [_mapping(e) for e in doc.get("lines") or []]
    if not entries:
        plain = sanitize_text(str(doc.get("plain") or ""))
        lines = [{"value": v.strip()} for v in plain.split("\n") if v.strip()]
        return [lyrics(lines=lines, synced=False, **base)] if lines else []
    lines = []
    for i, entry in enumerate(entries):
        words = [_mapping(w) for w in entry.get("words") or []]
        end = _yaml_int(entry.get("end_ms"), None)
        if end is None and words:
            end = _yaml_int(words[-1].get("end_ms"), None)
        if end is None and i + 1 < len(entries):
            end = _yaml_int(entries[i + 1].get("start_ms"))
        value = ("".join(str(w.get("text") or "") for w in words) if words
                 else sanitize_text(str(entry.get("text") or "")))
        lines.append({"start": _yaml_int(entry.get("start_ms")), "end": end, "value": value})
    return [lyrics(lines=lines, synced=True, **base)]


def _mapping(value: Any) -> dict[str, Any]:
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise ValueError("not a valid Lyricsfile YAML: expected a mapping")  # noqa: TRY004
    return value


def _yaml_int(value: Any, default: int | None = 0) -> int | None:
    if value is None or value == "":
        return default
    if not isinstance(value, str) or not _INT_RE.fullmatch(value.strip()):
        raise ValueError(f"not a valid Lyricsfile YAML: {value!r} is not an integer")
    return int(value)


def _yaml_bool(value: Any) -> bool:
    if value is None or value == "":
        return False
    text = str(value).strip().lower()
    if text in ("true", "yes", "on"):
        return True
    if text in ("false", "no", "off"):
        return False
    raise ValueError(f"not a valid Lyricsfile YAML: {value!r} is not a boolean")


# --------------------------------------------------------------------------- shared

_FORMATS = (
    ((".ttml",), parse_ttml),
    ((".srt",), parse_srt),
    ((".yaml", ".yml"), parse_lyricsfile),
)


_COMMENT_RE = re.compile(r"<!--.*?-->", re.DOTALL)
_RAWTEXT_RE = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.DOTALL | re.IGNORECASE)
_TAG_RE = re.compile(r"</?[A-Za-z][^>]*>|<[!?][^>]*>")


def sanitize_text(text: str) -> str:
    """Navidrome's ``SanitizeText``: trim, strip every HTML tag (script/style with their
    content), decode entities, trim."""
    text = text.strip()
    if not text:
        return ""
    text = _RAWTEXT_RE.sub("", _COMMENT_RE.sub("", text))
    return html.unescape(_TAG_RE.sub("", text)).strip()
