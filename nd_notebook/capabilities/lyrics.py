"""Lyrics: the plugin adapter and Navidrome's lyrics parsing (``model.ParseLyrics``, HEAD).

Each ``{lang, text}`` a plugin returns is parsed like a lyrics file whose format is sniffed:
TTML, then SRT, then an LRCLIB "Lyricsfile" YAML document; the first that yields lyrics wins,
and anything else is read as LRC or plain text. A missing ``lang`` is ``"xxx"``; entries that
parse to nothing are skipped. One entry can give several lyrics (a TTML document gives one
main lyric per language, then its translations, then its pronunciations). The result is a
list shaped like Navidrome's ``model.Lyrics`` (see lyricsmodel.py)::

    {"displayArtist"?, "displayTitle"?, "kind"?, "lang", "agents"?,
     "line": [{"start"?, "end"?, "value", "cue"?}], "offset"?, "synced"}

``start``/``end`` are milliseconds (absent when unknown). ``kind`` is ``main``,
``translation`` or ``pronunciation`` for TTML and Lyricsfile, absent for LRC and SRT. Word
cues come from enhanced-LRC ``<mm:ss.xx>`` markers, timed TTML ``<span>``s and Lyricsfile
``words``; ``agents`` from TTML ``ttm:agent``/``x-bg`` roles and overlapping Lyricsfile lines.
The parsers are written here from the formats' rules as Navidrome applies them (no
third-party lyrics library reproduces Navidrome's exact choices: which LRC tags count, how
repeated timestamps sort, how SRT blocks and TTML timing resolve, how cue byte offsets and
ends are computed).
"""

from __future__ import annotations

import html
import itertools
import re
from typing import Any

from .codec import Call, invoke, request
from .lyricsmodel import (
    DEFAULT_LANG,
    KIND_MAIN,
    clip_cues,
    go_strip,
    lyrics,
    normalize_lang,
)
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
    text (every non-empty line, no times). Synced when a line starts with a timestamp.

    The text of a timed line (with its continuation lines) is read for enhanced-LRC word
    markers (:func:`parse_enhanced_line`); a line with several leading timestamps repeats
    with its cues shifted by each timestamp's distance from the first. With repeated
    timestamps the lines are sorted by start. Then the cue clean-up (lyricsmodel) gives
    cue lines their ends. No ``kind``, no agents."""
    text = sanitize_text(text)
    artist = title = ""
    offset: int | None = None
    synced = _SYNC_RE.search(text) is not None
    lines: list[dict[str, Any]] = []
    prior, valid, repeated = "", False, False
    stamps: list[int] = []

    def flush():
        value, cues = parse_enhanced_line(prior)
        for t in stamps:
            line: dict[str, Any] = {"start": t, "value": value}
            if cues:
                line["cue"] = _shift_cues(cues, t - stamps[0])
            lines.append(line)

    for raw in text.split("\n"):
        line = go_strip(raw)
        if not line:
            if valid:
                prior += "\n"
            continue
        if not synced:
            lines.append({"value": line})
            continue
        tag = _ID_TAG_RE.search(line)
        if tag:
            key, value = tag.group(1), go_strip(tag.group(2))
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
            if end and go_strip(line[end:m.start()]):
                break  # a later timestamp in the middle of the text is text
            end = m.end()
            stamps.append(_millis(m))
        prior = go_strip(line[end:])
        valid = True
    if valid:
        flush()
    if repeated:  # Go's slices.SortFunc is not stable: ties may come out in another order
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


def parse_enhanced_line(text: str) -> tuple[str, list[dict[str, Any]]]:
    """The value and word cues of an enhanced-LRC line (``<mm:ss.xx>word <mm:ss.xx>word``),
    as Navidrome's ``parseEnhancedLine`` reads them.

    Without markers the value is the trimmed text and there are no cues. Otherwise the text
    before the first marker is dropped; each marker times the text up to the next marker
    (the value is these words concatenated, trimmed). A marker with no text after it is
    skipped, and when it is the last one its time is the last cue's end. A cue keeps the
    spaces inside it (``"Some "``); only the line's outer white space is clipped from the
    cues, whose byte offsets index the trimmed value. Cues have a start, no end (the cue
    clean-up adds ends) and no agent. Markers without any word: the text with the markers
    removed, trimmed."""
    marks = list(_ENHANCED_RE.finditer(text))
    if not marks:
        return go_strip(text), []
    raw, size = [], 0
    pieces: list[tuple[int, int, dict[str, Any] | None]] = []
    trailing_end = None
    for i, m in enumerate(marks):
        word = text[m.end():(marks[i + 1].start() if i + 1 < len(marks) else len(text))]
        if not word:
            if i == len(marks) - 1:
                trailing_end = _millis(m)
            continue
        n = len(word.encode())
        pieces.append((size, size + n, {"start": _millis(m)}))
        raw.append(word)
        size += n
    if not pieces:
        return go_strip(_ENHANCED_RE.sub("", text)), []
    value, cues = clip_cues("".join(raw), pieces)
    if trailing_end is not None and cues:
        cues[-1]["end"] = trailing_end
    return value, cues


def _shift_cues(cues: list[dict[str, Any]], delta: int) -> list[dict[str, Any]]:
    """Copies of a line's cues for a repeat of the line ``delta`` ms after its first time."""
    out = []
    for cue in cues:
        cue = dict(cue)
        for key in ("start", "end"):
            if cue.get(key) is not None:
                cue[key] += delta
        out.append(cue)
    return out


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
    """An LRCLIB Lyricsfile (``version: "1.0"``, ``metadata``, ``lines`` or ``plain``), one
    ``kind: main`` lyric. Other YAML is not this format; text that is not a YAML mapping is
    an error. The language is the document's, else the caller's.

    ``lines`` are synced: a line's end is its ``end_ms``, else its last word's ``end_ms``,
    else the next line's start. Lines with ``words`` get one cue per word (the value is the
    words' texts joined as they are) and lines that overlap an earlier line still singing
    sing with another voice (the lowest free ``voice-N``); agents are listed only when more
    than one voice sings and some line has cues. ``plain`` gives unsynced trimmed lines."""
    import yaml

    try:  # BaseLoader: every scalar stays a string, as Go decodes into typed fields
        doc = yaml.load(contents.decode("utf-8", "replace"), Loader=yaml.BaseLoader)
    except yaml.YAMLError as e:
        raise ValueError(f"not a valid Lyricsfile YAML: {e}") from None
    if not isinstance(doc, dict):
        raise ValueError("not a valid Lyricsfile YAML: not a mapping")  # noqa: TRY004
    if go_strip(str(doc.get("version", ""))) != LYRICSFILE_VERSION:
        return []
    meta = _mapping(doc.get("metadata"))
    doc_lang = _yaml_str(meta.get("language"))
    offset = _yaml_int(meta.get("offset_ms"))
    base = {"lang": normalize_lang(doc_lang if go_strip(doc_lang) else lang),
            "artist": sanitize_text(_yaml_str(meta.get("artist"))),
            "title": sanitize_text(_yaml_str(meta.get("title"))), "offset": offset or None,
            "kind": KIND_MAIN}
    if _yaml_bool(meta.get("instrumental")):
        return [lyrics(lines=[], synced=False, **base)]
    entries = [_mapping(e) for e in doc.get("lines") or []]
    if not entries:
        plain = sanitize_text(_yaml_str(doc.get("plain")))
        lines = [{"value": go_strip(v)} for v in plain.split("\n") if go_strip(v)]
        return [lyrics(lines=lines, synced=False, **base)] if lines else []
    lines, agents = _lyricsfile_lines(entries)
    return [lyrics(lines=lines, synced=True, agents=agents, **base)]


def _lyricsfile_lines(entries: list[dict[str, Any]]) -> tuple[list[dict], list[dict] | None]:
    """Lines, cues and voice agents of a Lyricsfile's ``lines`` (``buildLyricsfileLines``)."""
    starts = [_yaml_int(e.get("start_ms")) for e in entries]
    ends: list[int | None] = []
    for i, entry in enumerate(entries):
        words = [_mapping(w) for w in entry.get("words") or []]
        end = _yaml_int(entry.get("end_ms"), None)
        if end is None and words:
            end = _yaml_int(words[-1].get("end_ms"), None)
        if end is None and i + 1 < len(entries):
            end = starts[i + 1]
        ends.append(end)
    active: dict[int, int] = {}  # voice -> when it stops singing
    max_voice, any_cues, lines = -1, False, []
    for i, entry in enumerate(entries):
        active = {v: e for v, e in active.items() if e > starts[i]}
        voice = 0
        while voice in active:
            voice += 1
        max_voice = max(max_voice, voice)
        value, cues = _lyricsfile_words(entry, f"voice-{voice}")
        any_cues = any_cues or bool(cues)
        line: dict[str, Any] = {"start": starts[i], "end": ends[i], "value": value}
        if cues:
            line["cue"] = cues
        lines.append(line)
        active[voice] = ends[i] if ends[i] is not None else starts[i]
    if max_voice <= 0 or not any_cues:  # one voice, or no cue to carry it: no agents
        for line in lines:
            for cue in line.get("cue") or []:
                cue["agentId"] = ""
        return lines, None
    agents = [{"id": f"voice-{v}", "role": "main" if v == 0 else "voice"}
              for v in range(max_voice + 1)]
    return lines, agents


def _lyricsfile_words(entry: dict[str, Any], agent: str) -> tuple[str, list[dict[str, Any]]]:
    """A Lyricsfile line's value and cues (``wordsToLineCues``). Without words: the sanitized
    text (not trimmed), no cues. With words: the value is their texts joined as they are
    (not sanitized, not trimmed); each word is a cue over its bytes (an empty word is a
    zero-width cue at the cursor, kept); a cue without an end, but the last, ends where
    the next one starts."""
    words = [_mapping(w) for w in entry.get("words") or []]
    if not words:
        return sanitize_text(_yaml_str(entry.get("text"))), []
    cues, cursor = [], 0
    for word in words:
        text = _yaml_str(word.get("text"))
        size = len(text.encode())
        bs = be = cursor
        if size:
            be = bs + size - 1
            cursor = be + 1
        cues.append({"start": _yaml_int(word.get("start_ms")),
                     "end": _yaml_int(word.get("end_ms"), None), "value": text,
                     "byteStart": bs, "byteEnd": be, "agentId": agent})
    for cue, nxt in itertools.pairwise(cues):
        if cue["end"] is None:
            cue["end"] = nxt["start"]
    return "".join(c["value"] for c in cues), cues


def _yaml_str(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"not a valid Lyricsfile YAML: {value!r} is not a string")  # noqa: TRY004
    return value


_YAML_NULLS = ("", "~", "null", "Null", "NULL")  # a YAML null leaves Go's zero value / nil


def _mapping(value: Any) -> dict[str, Any]:
    if value is None or value in _YAML_NULLS:
        return {}
    if not isinstance(value, dict):
        raise ValueError("not a valid Lyricsfile YAML: expected a mapping")  # noqa: TRY004
    return value


def _yaml_int(value: Any, default: int | None = 0) -> int | None:
    if value is None or value in _YAML_NULLS:
        return default
    if not isinstance(value, str) or not _INT_RE.fullmatch(value.strip()):
        raise ValueError(f"not a valid Lyricsfile YAML: {value!r} is not an integer")
    return int(value)


def _yaml_bool(value: Any) -> bool:
    if value is None or value in _YAML_NULLS:
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
    """Navidrome's ``str.SanitizeText``: strip HTML tags (script/style with their content,
    comments), decode entities. It does not trim: callers trim where Navidrome does."""
    if not text:
        return ""
    text = _RAWTEXT_RE.sub("", _COMMENT_RE.sub("", text))
    return html.unescape(_TAG_RE.sub("", text))
