"""The ``model.Lyrics`` shape every lyrics parser returns (lyrics.py, ttml.py), the language
rule they share, and Navidrome's shared cue clean-up (``model/lyrics_normalize.go``).

Parsers build lines as plain dicts: ``start``/``end`` (ms, ``None`` or absent when unknown),
``value`` and an optional ``cue`` list of ``{start?, end?, value, byteStart, byteEnd,
agentId?}``. :func:`lyrics` normalises them and returns the JSON shape of ``model.Lyrics``
with Go's ``omitempty`` rules::

    {"displayArtist"?, "displayTitle"?, "kind"?, "lang", "agents"?: [{"id", "role", "name"?}],
     "line": [{"start"?, "end"?, "value", "cue"?: [{"start"?, "end"?, "value", "byteStart",
               "byteEnd", "agentId"?}]}], "offset"?, "synced"}

Cue byte offsets index the UTF-8 bytes of the line's ``value``, both ends inclusive.
"""

from __future__ import annotations

from typing import Any

DEFAULT_LANG = "xxx"

KIND_MAIN, KIND_TRANSLATION, KIND_PRONUNCIATION = "main", "translation", "pronunciation"

# Go's unicode.IsSpace (what strings.TrimSpace trims). Python's str.strip() also strips
# U+001C..U+001F, which Go keeps.
GO_SPACE = ("\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
            "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


def go_strip(text: str) -> str:
    """``strings.TrimSpace``: trims Go's Unicode white space."""
    return text.strip(GO_SPACE)


def lyrics(*, lang: str, lines: list[dict[str, Any]], synced: bool, artist: str = "",
           title: str = "", offset: int | None = None, kind: str = "",
           agents: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A ``model.Lyrics`` dict (JSON names and field order; optional keys only when set).

    The lines go through ``normalizeLyrics`` first (:func:`normalize_cue_lines`): only lines
    with cues change. Lines keep their times as given: an end before its start, and a
    negative start, stay (Navidrome's model has no such rule). ``kind`` is absent when blank
    (LRC, SRT); ``agents`` is absent when empty."""
    out: dict[str, Any] = {}
    if artist:
        out["displayArtist"] = artist
    if title:
        out["displayTitle"] = title
    if kind:
        out["kind"] = kind
    out["lang"] = lang
    if agents:
        out["agents"] = [_agent_json(a) for a in agents]
    out["line"] = [_line_json(ln) for ln in normalize_cue_lines(lines)]
    if offset is not None:
        out["offset"] = offset
    out["synced"] = synced
    return out


def _agent_json(agent: dict[str, Any]) -> dict[str, Any]:
    out = {"id": agent["id"], "role": agent["role"]}
    if agent.get("name"):
        out["name"] = agent["name"]
    return out


def _timed_json(item: dict[str, Any]) -> dict[str, Any]:
    """``start``/``end`` when known (Go's pointer fields with omitempty), then ``value``."""
    out = {k: item[k] for k in ("start", "end") if item.get(k) is not None}
    out["value"] = item["value"]
    return out


def _line_json(line: dict[str, Any]) -> dict[str, Any]:
    out = _timed_json(line)
    if line.get("cue"):
        out["cue"] = [_cue_json(c) for c in line["cue"]]
    return out


def _cue_json(cue: dict[str, Any]) -> dict[str, Any]:
    out = _timed_json(cue)
    out["byteStart"] = cue.get("byteStart", 0)
    out["byteEnd"] = cue.get("byteEnd", 0)
    if cue.get("agentId"):
        out["agentId"] = cue["agentId"]
    return out


def normalize_lang(lang: str) -> str:
    """Lower-cased, trimmed; ``"xxx"`` when empty (SRT, TTML and Lyricsfile)."""
    lang = go_strip(lang or "").lower()
    return lang or DEFAULT_LANG


# --------------------------------------------------------------------------- cue clean-up

def normalize_cue_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``normalizeCueLines``: a copy of the lines (the input is not changed) where each line
    with cues gets its cue ends resolved per agent, with the line's end, else the next
    line's start, as the fallback end, and then its own start/end filled from the cues
    (:func:`normalize_line_timing`). Lines without cues are left as they are."""
    out = []
    for i, line in enumerate(lines):
        line = dict(line)
        if line.get("cue"):
            fallback = line.get("end")
            if fallback is None and i + 1 < len(lines):
                fallback = lines[i + 1].get("start")
            line["cue"] = _normalize_cue_ends_by_agent(line["cue"], fallback)
            line = normalize_line_timing(line)
        out.append(line)
    return out


def normalize_line_timing(line: dict[str, Any]) -> dict[str, Any]:
    """``normalizeLineTiming``: a line with cues and no start takes the earliest cue start;
    without an end it takes the latest cue end (a cue without an end counts its start)."""
    cues = line.get("cue") or []
    if not cues:
        return line
    starts = [c["start"] for c in cues if c.get("start") is not None]
    ends = [c["end"] if c.get("end") is not None else c["start"] for c in cues
            if c.get("end") is not None or c.get("start") is not None]
    line = dict(line)
    if line.get("start") is None and starts:
        line["start"] = min(starts)
    if line.get("end") is None and ends:
        line["end"] = max(ends)
    return line


def _normalize_cue_ends_by_agent(cues: list[dict[str, Any]],
                                 fallback_end: int | None) -> list[dict[str, Any]]:
    """``normalizeCueEndsByAgent``: cues grouped by their exact agent id (in order of first
    appearance) are resolved group by group, each in document order, so a background layer
    does not clamp the lead's ends; results go back to the cues' own positions."""
    groups: dict[str, list[int]] = {}
    for i, cue in enumerate(cues):
        groups.setdefault(cue.get("agentId") or "", []).append(i)
    if len(groups) <= 1:
        return normalize_cue_ends(cues, fallback_end)
    out = list(cues)
    for idxs in groups.values():
        for pos, cue in zip(idxs, normalize_cue_ends([cues[i] for i in idxs], fallback_end)):
            out[pos] = cue
    return out


def normalize_cue_ends(cues: list[dict[str, Any]],
                       fallback_end: int | None = None) -> list[dict[str, Any]]:
    """``NormalizeCueEnds`` over one ordered cue group (copies; the input is not changed): a
    missing end is the next cue's start, else ``fallback_end``; an end past the next cue's
    start is clamped to it, an end before the cue's own start is raised to it. All or none:
    when any cue still has no end, every end is cleared."""
    out = [dict(c) for c in cues]
    for i, cue in enumerate(out):
        next_start = out[i + 1].get("start") if i + 1 < len(out) else None
        end = cue.get("end")
        if end is None:
            end = next_start if next_start is not None else fallback_end
        if end is not None and next_start is not None and end > next_start:
            end = next_start
        if end is not None and cue.get("start") is not None and end < cue["start"]:
            end = cue["start"]
        cue["end"] = end
    if any(c["end"] is None for c in out):
        for c in out:
            c["end"] = None
    return out


def clip_cues(raw: str, pieces: list[tuple[int, int, dict[str, Any] | None]]
              ) -> tuple[str, list[dict[str, Any]]]:
    """The trimmed text of ``raw`` and its cues, shared by enhanced LRC and TTML: each
    ``(byte_start, byte_end, cue)`` piece of ``raw`` (end exclusive; ``cue`` None for plain
    text) is clipped to the part of ``raw`` that survives ``strings.TrimSpace``; a piece
    left empty has no cue. The cue's ``value`` is its clipped bytes and its inclusive byte
    offsets are relative to the trimmed text."""
    data = raw.encode()
    left = len(data) - len(raw.lstrip(GO_SPACE).encode())
    trimmed_end = max(len(data) - (len(data) - len(raw.rstrip(GO_SPACE).encode())), left)
    cues = []
    for start, end, cue in pieces:
        if cue is None:
            continue
        bs, be = max(start, left), min(end, trimmed_end)
        if bs >= be:
            continue
        cues.append({**cue, "value": data[bs:be].decode("utf-8", "replace"),
                     "byteStart": bs - left, "byteEnd": be - left - 1})
    return go_strip(raw), cues
