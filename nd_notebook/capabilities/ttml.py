"""TTML lyrics as Navidrome reads them (``model/lyrics_ttml.go``).

A document is TTML when its root element is ``tt``. Each ``<p>`` with text is a main line in
the language of its nearest ``xml:lang`` (one ``kind: main`` lyric per language, in order of
first use). ``begin``/``end``/``dur`` inherit and resolve through ``<body>``/``<div>``/``<p>``
as in Navidrome: clock times (``00:01:02.5``, ``01:02.5``), frame times (``hh:mm:ss:ff.sub``
with ``ttp:frameRate``/``frameRateMultiplier``/``subFrameRate``), offsets (``1.5s``,
``200ms``, ``2m``, ``1h``, ``10f``, ``30t`` with ``ttp:tickRate``) and bare seconds
(``0.170``, resolved as absolute or offset by Navidrome's heuristic). An element with an
unparsable time is skipped. Whitespace collapses as in TTML's default ``xml:space``;
``<br/>`` breaks a line.

Word cues: the innermost ``<span>``s with their own valid timing are cues (a span with only
``begin`` inherits the enclosing end), with UTF-8 byte offsets into the line value. Agents:
``ttm:agent`` (nearest ancestor) names a cue's singer, ``ttm:role="x-bg"`` makes it that
singer's background layer (``__nd_bg__|<agent or main>``); ``<ttm:agent xml:id type>`` with
``<ttm:name>`` defines them (see :meth:`_Parser.agents`). Apple-style
``<translation>``/``<transliteration>`` tracks of ``<text for="key">`` entries become
``kind: translation``/``pronunciation`` lyrics per language, after the main ones, lined up
with the main lines of the same ``key`` attribute (``itunes:key``).
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from typing import Any

from .lyricsmodel import (
    KIND_MAIN,
    KIND_PRONUNCIATION,
    KIND_TRANSLATION,
    clip_cues,
    go_strip,
    lyrics,
    normalize_lang,
    normalize_line_timing,
)

_ENCODING_RE = re.compile(rb"""(?i)<\?xml([^>]*?)encoding\s*=\s*["'][^"']+["']([^>]*)\?>""")
_OFFSET_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(h|m|s|ms|f|t)$")
_TRACKS = {"translation": KIND_TRANSLATION, "transliteration": KIND_PRONUNCIATION}
_BG_PREFIX = "__nd_bg__|"
_ABSOLUTE, _OFFSET, _AMBIGUOUS = range(3)


@dataclass(frozen=True)
class _Ctx:
    lang: str
    begin: int = 0
    has_begin: bool = False
    end: int = 0
    has_end: bool = False
    invalid: bool = False
    agent: str = ""
    role: str = ""


@dataclass
class _Rates:
    frame: float = 30.0
    sub_frame: float = 1.0
    tick: float = 1.0


@dataclass
class _Parser:
    """What a walk over the document collects: main lines per language, the main lines by
    ``key`` (with their document order), metadata entries per kind and language, agent
    definitions."""
    rates: _Rates
    main: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    keys: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    order: int = 0
    meta: dict[str, dict[str, list[tuple[str, dict[str, Any], int]]]] = field(
        default_factory=lambda: {KIND_TRANSLATION: {}, KIND_PRONUNCIATION: {}})
    seq: int = 0
    defined: dict[str, dict[str, str]] = field(default_factory=dict)

    def add_main(self, lang: str, key: str, line: dict[str, Any]) -> None:
        """The first ``<p>`` with a key owns it; every line counts in the document order."""
        self.main.setdefault(normalize_lang(lang), []).append(line)
        key = go_strip(key)
        if key and key not in self.keys:
            self.keys[key] = (self.order, line)
        self.order += 1

    def add_meta(self, kind: str, lang: str, key: str, line: dict[str, Any]) -> None:
        self.meta[kind].setdefault(normalize_lang(lang), []).append((key, line, self.seq))
        self.seq += 1

    def result(self) -> list[dict[str, Any]]:
        """Main lyrics per language, then translations, then pronunciations."""
        out = [self.finalize(KIND_MAIN, lang, lines) for lang, lines in self.main.items()
               if lines]
        for kind in (KIND_TRANSLATION, KIND_PRONUNCIATION):
            for lang, entries in self.meta[kind].items():
                lines = self.metadata_lines(entries)
                if lines:
                    out.append(self.finalize(kind, lang, lines))
        return out

    def metadata_lines(self, entries: list[tuple[str, dict[str, Any], int]]) -> list[dict]:
        """A track's lines: the first entry per key, for keys a main line has (others are
        skipped); a missing start/end is the main line's; sorted by the main line's order,
        then by the entry's."""
        seen, resolved = set(), []
        for key, line, seq in entries:
            if key in seen:
                continue
            seen.add(key)
            if key not in self.keys:  # Navidrome logs "without matching key"
                continue
            order, ref = self.keys[key]
            line = dict(line)
            for k in ("start", "end"):
                if line.get(k) is None and ref.get(k) is not None:
                    line[k] = ref[k]
            line = normalize_line_timing(line)
            if line["value"] == "" and not line.get("cue"):
                continue
            resolved.append((order, seq, line))
        resolved.sort(key=lambda r: (r[0], r[1]))
        return [line for _, _, line in resolved]

    def finalize(self, kind: str, lang: str, lines: list[dict[str, Any]]) -> dict[str, Any]:
        synced = any(ln.get("start") is not None
                     or any(c.get("start") is not None for c in ln.get("cue") or [])
                     for ln in lines)
        lines, agents = self.agents(lines)
        return lyrics(kind=kind, lang=lang, lines=lines, synced=synced, agents=agents)

    def agents(self, lines: list[dict[str, Any]]) -> tuple[list[dict], list[dict] | None]:
        """The agents the cues use, in order of first use, and the cues with their ids.

        The main agent is the first used that is neither a background layer nor a
        ``group``; else ``main`` when some cue has no agent; else the first that is not a
        background layer; else the first used. It is listed first when no cue names it,
        and cues without an agent get it. Roles: ``main``, ``bg`` (``__nd_bg__|`` ids),
        ``group`` (defined with ``type="group"``), else ``voice``. Names come from the
        definitions (a background layer has its singer's name). No cue with an agent: no
        agents."""
        used: list[str] = []
        saw_empty = False
        for line in lines:
            for cue in line.get("cue") or []:
                agent = go_strip(cue.get("agentId") or "")
                if not agent:
                    saw_empty = True
                elif agent not in used:
                    used.append(agent)
        if not used:
            return lines, None
        main = next((a for a in used if self.role(a) not in ("bg", "group")), "")
        if not main and saw_empty:
            main = "main"
        main = main or next((a for a in used if self.role(a) != "bg"), "") or used[0]
        if main not in used:
            used.insert(0, main)
        lines = [{**ln, "cue": [c if go_strip(c.get("agentId") or "") else {**c, "agentId": main}
                                for c in ln["cue"]]} if ln.get("cue") else ln for ln in lines]
        agents = [{"id": a, "role": "main" if a == main else self.role(a), "name": self.name(a)}
                  for a in used]
        return lines, agents

    def role(self, agent: str) -> str:
        if agent.startswith(_BG_PREFIX):
            return "bg"
        return "group" if self.defined.get(agent, {}).get("type") == "group" else "voice"

    def name(self, agent: str) -> str:
        if agent.startswith(_BG_PREFIX):
            agent = agent[len(_BG_PREFIX):]
            if agent == "main":
                return ""
        return self.defined.get(agent, {}).get("name", "")


def parse_ttml(lang: str, contents: bytes) -> list[dict[str, Any]]:
    """The lyrics of a TTML document (main per language, then translations, then
    pronunciations), or [] when it is not TTML."""
    contents = _ENCODING_RE.sub(rb'<?xml\1encoding="UTF-8"\2?>', contents.strip())
    try:
        root = ET.fromstring(contents)
    except ET.ParseError as e:
        if b"<tt" in contents[:4096].lower():
            raise ValueError(f"malformed TTML document: {e}") from None
        return []
    if _local(root.tag) != "tt":
        return []
    parser = _Parser(_rates(root.attrib))
    _walk(root, _Ctx(lang=normalize_lang(lang)), parser)
    return parser.result()


def _walk(el: ET.Element, parent: _Ctx, parser: _Parser) -> None:
    local = _local(el.tag)
    if local in _TRACKS:
        _metadata_track(el, parent, parser, _TRACKS[local])
        return
    if local == "agent":
        _agent_definition(el, parser)
        return
    ctx = _context(el.attrib, parent, parser.rates)
    if local == "p":
        value, cues = _build_line(_children_pieces(el, ctx, parser.rates))
        if ctx.invalid or not value:
            return
        parser.add_main(ctx.lang, _attr(el.attrib, "key") or "", _line(ctx, value, cues))
        return
    for child in el:
        _walk(child, parent if ctx.invalid else ctx, parser)


def _line(ctx: _Ctx, value: str, cues: list[dict[str, Any]]) -> dict[str, Any]:
    """A line with the element's timing; a line without its own start/end takes them from
    its cues."""
    line: dict[str, Any] = {"value": value}
    if ctx.has_begin:
        line["start"] = ctx.begin
    if ctx.has_end:
        line["end"] = ctx.end
    if cues:
        line["cue"] = cues
    return normalize_line_timing(line)


def _metadata_track(el: ET.Element, parent: _Ctx, parser: _Parser, kind: str) -> None:
    """A ``<translation>``/``<transliteration>``: its ``<text for=K>`` entries are lines of
    the track's language (its own ``xml:lang``, else the inherited one); an entry without
    ``for``, with invalid timing or without text is skipped. Other children are walked as
    usual (a ``<p>`` there is a main line)."""
    ctx = _context(el.attrib, parent, parser.rates)
    for child in el:
        if _local(child.tag) != "text":
            _walk(child, parent if ctx.invalid else ctx, parser)
            continue
        key = _attr(child.attrib, "for")
        pieces = _inline(child, ctx, parser.rates)
        if not key:
            continue
        text_ctx = _context(child.attrib, ctx, parser.rates)
        if text_ctx.invalid:
            continue
        value, cues = _build_line(pieces)
        line = _line(text_ctx, value, cues)
        if value or line.get("cue"):
            parser.add_meta(kind, ctx.lang, key, line)


def _agent_definition(el: ET.Element, parser: _Parser) -> None:
    """``<ttm:agent xml:id=ID type=T><ttm:name>N</ttm:name></ttm:agent>``: the first
    non-empty name counts; an agent without an id is ignored."""
    agent_id = _attr(el.attrib, "id")
    if not agent_id:
        return
    agent = {"type": (_attr(el.attrib, "type") or "").lower(), "name": ""}
    for child in el:
        if _local(child.tag) == "name":
            name = _sanitize_ttml_text("".join(child.itertext()))
            if name and not agent["name"]:
                agent["name"] = name
    parser.defined[agent_id] = agent


# --------------------------------------------------------------------------- text

_BREAK = object()


@dataclass
class _Piece:
    raw: str
    cue: dict[str, Any] | None = None


def _children_pieces(el: ET.Element, ctx: _Ctx, rates: _Rates) -> list[Any]:
    """Character data (plain pieces), ``<br>`` (breaks) and inline elements of ``el``."""
    pieces: list[Any] = [_Piece(el.text or "")]
    for child in el:
        pieces += _inline(child, ctx, rates)
        pieces.append(_Piece(child.tail or ""))
    return pieces


def _inline(el: ET.Element, parent: _Ctx, rates: _Rates) -> list[Any]:
    """The pieces of an inline element. A ``<span>`` with its own ``begin``/``end``/``dur``,
    valid, with text and no cue inside is one cue piece (its raw text is its content
    normalised; a ``<br>`` inside is lost), timed by its context (an end it lacks is
    inherited) and sung by the context's agent (its background layer under ``x-bg``)."""
    if _local(el.tag) == "br":
        return [_BREAK]
    ctx = _context(el.attrib, parent, rates)
    pieces = _children_pieces(el, ctx, rates)
    timed = any(_attr(el.attrib, k) is not None for k in ("begin", "end", "dur"))
    if (_local(el.tag) == "span" and timed and not ctx.invalid
            and not any(isinstance(p, _Piece) and p.cue is not None for p in pieces)):
        raw = "".join(_normalize(p.raw) for p in pieces if p is not _BREAK)
        if _sanitize_ttml_text(raw):
            cue: dict[str, Any] = {"agentId": _cue_agent(ctx)}
            if ctx.has_begin:
                cue["start"] = ctx.begin
            if ctx.has_end:
                cue["end"] = ctx.end
            return [_Piece(raw, cue)]
    return pieces


def _cue_agent(ctx: _Ctx) -> str:
    agent = go_strip(ctx.agent)
    if "x-bg" in ctx.role.lower().split():
        return _BG_PREFIX + (agent or "main")
    return agent


def _build_line(pieces: list[Any]) -> tuple[str, list[dict[str, Any]]]:
    """The value and cues of a ``<p>`` (or metadata ``<text>``): pieces split at breaks into
    logical lines (a piece's leading space is dropped when the text so far ends with one
    or the line is fresh), each trimmed with its cues clipped (lyricsmodel.clip_cues);
    empty logical lines at both ends dropped; joined with ``"\\n"``, cue offsets shifted
    to index the whole value."""
    logical: list[list[_Piece]] = [[]]
    prev_space = True  # leading whitespace of a fresh line is dropped
    for piece in pieces:
        if piece is _BREAK:
            logical.append([])
            prev_space = True
            continue
        raw = _normalize(piece.raw)
        if prev_space:
            raw = raw.removeprefix(" ")
        if not raw:
            continue
        logical[-1].append(_Piece(raw, dict(piece.cue) if piece.cue else None))
        prev_space = raw.endswith(" ")
    finished = []
    for parts in logical:
        spans, cursor = [], 0
        for part in parts:
            size = len(part.raw.encode())
            spans.append((cursor, cursor + size, part.cue))
            cursor += size
        finished.append(clip_cues("".join(_normalize(p.raw) for p in parts), spans))
    while finished and not finished[0][0] and not finished[0][1]:
        finished.pop(0)
    while finished and not finished[-1][0] and not finished[-1][1]:
        finished.pop()
    cues, offset = [], 0
    for i, (text, line_cues) in enumerate(finished):
        offset += 1 if i else 0
        cues += [{**c, "byteStart": c["byteStart"] + offset, "byteEnd": c["byteEnd"] + offset}
                 for c in line_cues]
        offset += len(text.encode())
    return "\n".join(text for text, _ in finished), cues


def _normalize(raw: str) -> str:
    """A piece's text: sanitized (tags stripped, entities decoded, not trimmed), then XML
    whitespace (space, tab, CR, LF) runs become one space; other spaces are content."""
    return re.sub(r"[ \t\r\n]+", " ", _sanitize(raw))


def _sanitize_ttml_text(raw: str) -> str:
    """Sanitized text with each line and the whole trimmed (agent names; is a span empty)."""
    raw = _sanitize(raw).replace("\r\n", "\n").replace("\r", "\n")
    return go_strip("\n".join(go_strip(ln) for ln in raw.split("\n")))


def _sanitize(raw: str) -> str:
    from .lyrics import sanitize_text  # lyrics.py imports this module

    return sanitize_text(raw)


# --------------------------------------------------------------------------- timing

def _context(attrs: dict[str, str], parent: _Ctx, rates: _Rates) -> _Ctx:
    """The element's context: ``xml:lang``, ``ttm:agent`` (nearest wins), ``ttm:role``
    tokens (added to the inherited ones), and its resolved timing (invalid when a time
    does not parse)."""
    ctx = parent
    lang = _attr(attrs, "lang")
    if lang is not None:
        ctx = replace(ctx, lang=normalize_lang(lang))
    agent = _attr(attrs, "agent")
    if agent is not None:
        ctx = replace(ctx, agent=agent)
    role = _attr(attrs, "role")
    if role:
        ctx = replace(ctx, role=_add_roles(ctx.role, role))
    begin_expr, end_expr, dur_expr = (_attr(attrs, k) for k in ("begin", "end", "dur"))
    if begin_expr is not None:
        parsed = _time(begin_expr, rates)
        if parsed is None:
            return replace(ctx, invalid=True)
        base = parent.begin if parent.has_begin else 0
        ctx = replace(ctx, begin=_resolve(*parsed, base, parent), has_begin=True)
    end, has_end = 0, False
    if end_expr is not None:
        parsed = _time(end_expr, rates)
        if parsed is None:
            return replace(ctx, invalid=True)
        base = ctx.begin if ctx.has_begin else parent.begin
        end, has_end = _resolve(*parsed, base, parent), True
    if dur_expr is not None:
        parsed = _time(dur_expr, rates)
        if parsed is None:
            return replace(ctx, invalid=True)
        if ctx.has_begin and (not has_end or ctx.begin + parsed[0] < end):
            end, has_end = ctx.begin + parsed[0], True
    if not has_end and parent.has_end:
        end, has_end = parent.end, True
    return replace(ctx, end=end, has_end=has_end)


def _add_roles(existing: str, roles: str) -> str:
    """Role tokens appended once each (compared case-insensitively)."""
    for role in roles.split():
        if role.lower() not in existing.lower().split():
            existing = f"{existing} {role}" if existing else role
    return existing


def _resolve(value: int, kind: int, base: int, parent: _Ctx) -> int:
    if kind == _ABSOLUTE:
        return value
    if kind == _OFFSET:
        return base + value
    absolute, offset = value, base + value  # a bare number: seconds, absolute or offset
    if not parent.has_begin and not parent.has_end and base != 0:
        return absolute
    if parent.has_begin and parent.has_end:
        abs_in = parent.begin <= absolute <= parent.end
        off_in = parent.begin <= offset <= parent.end
        if abs_in and not off_in:
            return absolute
        if off_in and not abs_in:
            return offset
    if parent.has_begin:
        if absolute < parent.begin <= offset:
            return offset
        if absolute >= parent.begin and offset > absolute:
            return absolute
    return offset


def _time(expr: str, rates: _Rates) -> tuple[int, int] | None:
    """``(milliseconds, kind)`` of a TTML time expression, None when unsupported."""
    expr = expr.strip()
    lower = expr.lower()
    if not expr or "wallclock(" in lower or ".begin" in lower or ".end" in lower:
        return None
    if re.fullmatch(r"[0-9]+(\.[0-9]*)?|\.[0-9]+", lower):
        return round(float(lower) * 1000), _AMBIGUOUS
    m = _OFFSET_RE.match(lower)
    if m:
        value, unit = float(m.group(1)), m.group(2)
        seconds = {"h": value * 3600, "m": value * 60, "s": value, "ms": value / 1000,
                   "f": value / rates.frame, "t": value / rates.tick}[unit]
        return round(seconds * 1000), _OFFSET
    parts = expr.split(":")
    try:
        if len(parts) in (2, 3):
            hours = int(parts[0]) if len(parts) == 3 else 0
            minutes, seconds = int(parts[-2]), float(parts[-1])
            total = hours * 3600 + minutes * 60 + seconds
        elif len(parts) == 4:
            frames, _, sub = parts[3].partition(".")
            total = int(parts[0]) * 3600 + int(parts[1]) * 60 + int(parts[2])
            total += float(frames) / rates.frame
            total += (float(sub) if sub else 0.0) / (rates.sub_frame * rates.frame)
        else:
            return None
    except ValueError:
        return None
    if not math.isfinite(total):
        return None
    return round(total * 1000), _ABSOLUTE


def _rates(attrs: dict[str, str]) -> _Rates:
    rates = _Rates()
    frame = _positive(_attr(attrs, "frameRate"))
    if frame:
        rates.frame = frame
    multiplier = (_attr(attrs, "frameRateMultiplier") or "").split()
    if len(multiplier) == 2:
        num, den = _positive(multiplier[0], allow_zero=True), _positive(multiplier[1])
        if num is not None and den:
            rates.frame = rates.frame * (num / den) or 30.0
    rates.sub_frame = _positive(_attr(attrs, "subFrameRate")) or rates.sub_frame
    rates.tick = _positive(_attr(attrs, "tickRate")) or rates.tick
    return rates


def _positive(text: str | None, allow_zero: bool = False) -> float | None:
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    if value is None or not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        return None
    return value


def _attr(attrs: dict[str, str], key: str) -> str | None:
    for name, value in attrs.items():
        if _local(name).lower() == key.lower():
            return value.strip()
    return None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].split(":")[-1].lower() if isinstance(tag, str) else ""
