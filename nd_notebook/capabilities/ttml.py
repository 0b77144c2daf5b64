"""TTML lyrics as Navidrome reads them (``model/lyrics_ttml.go``, main lyric lines only).

A document is TTML when its root element is ``tt``. Each ``<p>`` with text is a line in the
language of its nearest ``xml:lang`` (lines are grouped per language, in order of first use).
``begin``/``end``/``dur`` inherit and resolve through ``<body>``/``<div>``/``<p>`` as in
Navidrome: clock times (``00:01:02.5``, ``01:02.5``), frame times (``hh:mm:ss:ff.sub`` with
``ttp:frameRate``/``frameRateMultiplier``/``subFrameRate``), offsets (``1.5s``, ``200ms``,
``2m``, ``1h``, ``10f``, ``30t`` with ``ttp:tickRate``) and bare seconds (``0.170``, resolved
as absolute or offset by Navidrome's heuristic). An element with an unparsable time is
skipped. Whitespace collapses as in TTML's default ``xml:space``; ``<br/>`` breaks a line.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from typing import Any

from .lyricsmodel import lyrics, normalize_lang

_ENCODING_RE = re.compile(rb"""(?i)<\?xml([^>]*?)encoding\s*=\s*["'][^"']+["']([^>]*)\?>""")
_OFFSET_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(h|m|s|ms|f|t)$")
_SKIPPED = ("translation", "transliteration", "agent")  # not reproduced (see lyrics.py)
_ABSOLUTE, _OFFSET, _AMBIGUOUS = range(3)


@dataclass(frozen=True)
class _Ctx:
    lang: str
    begin: int = 0
    has_begin: bool = False
    end: int = 0
    has_end: bool = False
    invalid: bool = False


@dataclass
class _Rates:
    frame: float = 30.0
    sub_frame: float = 1.0
    tick: float = 1.0


def parse_ttml(lang: str, contents: bytes) -> list[dict[str, Any]]:
    """The lyrics of a TTML document (one per language), or [] when it is not TTML."""
    contents = _ENCODING_RE.sub(rb'<?xml\1encoding="UTF-8"\2?>', contents.strip())
    try:
        root = ET.fromstring(contents)
    except ET.ParseError as e:
        if b"<tt" in contents[:4096].lower():
            raise ValueError(f"malformed TTML document: {e}") from None
        return []
    if _local(root.tag) != "tt":
        return []
    rates = _rates(root.attrib)
    by_lang: dict[str, list[dict[str, Any]]] = {}
    _walk(root, _Ctx(lang=normalize_lang(lang)), rates, by_lang)
    return [lyrics(lang=lg, lines=lines, synced=any("start" in ln for ln in lines))
            for lg, lines in by_lang.items() if lines]


def _walk(el: ET.Element, parent: _Ctx, rates: _Rates, out: dict) -> None:
    local = _local(el.tag)
    if local in _SKIPPED:
        return
    ctx = _context(el.attrib, parent, rates, normalize_lang)
    if local == "p":
        value = _paragraph(el)
        if ctx.invalid or not value:
            return
        line: dict[str, Any] = {"value": value}
        if ctx.has_begin:
            line["start"] = ctx.begin
        if ctx.has_end:
            line["end"] = ctx.end
        out.setdefault(ctx.lang, []).append(line)
        return
    for child in el:
        _walk(child, parent if ctx.invalid else ctx, rates, out)


# --------------------------------------------------------------------------- text

_BREAK = object()


def _paragraph(p: ET.Element) -> str:
    pieces: list[Any] = [p.text or ""]
    for child in p:
        pieces += _inline(child)
        pieces.append(child.tail or "")
    logical: list[list[str]] = [[]]
    prev_space = True  # leading whitespace of a fresh line is dropped
    for piece in pieces:
        if piece is _BREAK:
            logical.append([])
            prev_space = True
            continue
        raw = _collapse(piece)
        if prev_space:
            raw = raw.removeprefix(" ")
        if not raw:
            continue
        logical[-1].append(raw)
        prev_space = raw.endswith(" ")
    texts = ["".join(parts).strip() for parts in logical]
    while texts and not texts[0]:
        texts.pop(0)
    while texts and not texts[-1]:
        texts.pop()
    return "\n".join(texts)


def _inline(el: ET.Element) -> list[Any]:
    if _local(el.tag) == "br":
        return [_BREAK]
    pieces: list[Any] = [el.text or ""]
    for child in el:
        pieces += _inline(child)
        pieces.append(child.tail or "")
    return pieces


def _collapse(raw: str) -> str:
    """XML whitespace (space, tab, CR, LF) runs become one space; other spaces are content."""
    return re.sub(r"[ \t\r\n]+", " ", raw)


# --------------------------------------------------------------------------- timing

def _context(attrs: dict[str, str], parent: _Ctx, rates: _Rates, normalize_lang) -> _Ctx:
    ctx = parent
    lang = _attr(attrs, "lang")
    if lang is not None:
        ctx = replace(ctx, lang=normalize_lang(lang))
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
