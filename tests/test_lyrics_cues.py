"""Navidrome's lyrics parsing tests (model/lyrics_*_test.go, newest), restated as data: word
cues of TTML, enhanced LRC and Lyricsfile YAML, TTML agents, translation and pronunciation
tracks, the shared cue clean-up, and the line rules around them."""

from __future__ import annotations

import pytest

from nd_notebook.capabilities.lyrics import (
    parse_lrc,
    parse_lyrics,
    parse_lyricsfile,
    parse_response,
    parse_srt,
)
from nd_notebook.capabilities.lyricsmodel import normalize_cue_ends, normalize_cue_lines
from nd_notebook.capabilities.ttml import parse_ttml

XML = '<?xml version="1.0" encoding="UTF-8"?>\n'
TTM = ('<tt xmlns="http://www.w3.org/ns/ttml" '
       'xmlns:ttm="http://www.w3.org/ns/ttml#metadata">\n')


def ttml(doc: str) -> list[dict]:
    return parse_ttml("xxx", doc.encode())


def body(inner: str, lang: str = "eng") -> str:
    return XML + TTM + f'  <body xml:lang="{lang}">\n    <div>\n{inner}\n    </div>\n  </body>\n</tt>'


def cue(start, end, value, bs, be, agent=None):
    out = {}
    if start is not None:
        out["start"] = start
    if end is not None:
        out["end"] = end
    out.update(value=value, byteStart=bs, byteEnd=be)
    if agent:
        out["agentId"] = agent
    return out


# --------------------------------------------------------------------------- TTML

def test_t1_multi_language_and_timing():
    doc = XML + '''<tt xmlns="http://www.w3.org/ns/ttml" xmlns:ttp="http://www.w3.org/ns/ttml#parameter" ttp:frameRate="30" ttp:subFrameRate="2" ttp:tickRate="10">
  <body>
    <div xml:lang="eng" begin="1s">
      <p begin="2s">Line one</p>
      <p begin="00:00:04:15.1"><span>Line two</span><br/>with break</p>
    </div>
    <div xml:lang="por">
      <p begin="45t">Linha</p>
    </div>
  </body>
</tt>'''
    eng, por = ttml(doc)
    assert eng == {"kind": "main", "lang": "eng", "line": [
        {"start": 3000, "value": "Line one"},
        {"start": 4517, "value": "Line two\nwith break"}], "synced": True}
    assert por == {"kind": "main", "lang": "por", "line": [{"start": 4500, "value": "Linha"}],
                   "synced": True}


def test_t2_wallclock_is_skipped():
    [lyric] = ttml(body('      <p begin="wallclock(2026-01-01T00:00:00Z)">Skip me</p>\n'
                        '      <p begin="1s">Keep me</p>'))
    assert lyric["line"] == [{"start": 1000, "value": "Keep me"}]


def test_t3_nested_begin_end_dur():
    doc = XML + '''<tt xmlns="http://www.w3.org/ns/ttml">
  <body xml:lang="eng" begin="10s">
    <div begin="5s" dur="8s">
      <p begin="1s" dur="2s">First line</p>
      <p begin="3s" end="5s">Second line</p>
    </div>
  </body>
</tt>'''
    [lyric] = ttml(doc)
    assert lyric["lang"] == "eng"
    assert [(ln["start"], ln["value"]) for ln in lyric["line"]] == [
        (16000, "First line"), (18000, "Second line")]


def test_t4_bare_seconds():
    doc = XML + '''<tt xmlns="http://www.w3.org/ns/ttml">
  <body xml:lang="eng" begin="10">
    <div>
      <p begin="0.170">First line</p>
      <p begin="3.710">Second line</p>
    </div>
  </body>
</tt>'''
    [lyric] = ttml(doc)
    assert [(ln["start"], ln["value"]) for ln in lyric["line"]] == [
        (10170, "First line"), (13710, "Second line")]


def test_t5_word_cues_with_background_role():
    [lyric] = ttml(body('''      <p begin="00:01.000" end="00:03.000">
        <span begin="00:01.000" end="00:01.400">He</span><span begin="00:01.400" end="00:01.800">llo</span>
        <span ttm:role="x-bg"><span begin="00:02.000" end="00:02.500">echo</span></span>
      </p>'''))
    assert lyric == {"kind": "main", "lang": "eng",
                     "agents": [{"id": "main", "role": "main"},
                                {"id": "__nd_bg__|main", "role": "bg"}],
                     "line": [{"start": 1000, "end": 3000, "value": "Hello echo", "cue": [
                         cue(1000, 1400, "He", 0, 1, "main"),
                         cue(1400, 1800, "llo", 2, 4, "main"),
                         cue(2000, 2500, "echo", 6, 9, "__nd_bg__|main")]}],
                     "synced": True}


def test_t6_role_tokens_match_exactly():
    [lyric] = ttml(body(
        '      <p begin="00:01.000" end="00:03.000" ttm:role="not-x-bg"><span begin="00:01.000"'
        ' end="00:01.400">Lead</span><span ttm:role="x-bg"><span begin="00:02.000"'
        ' end="00:02.500">Echo</span></span></p>'))
    assert lyric["agents"] == [{"id": "main", "role": "main"},
                               {"id": "__nd_bg__|main", "role": "bg"}]
    assert [c["agentId"] for c in lyric["line"][0]["cue"]] == ["main", "__nd_bg__|main"]


def _with_agents(agents: str, inner: str) -> str:
    return XML + TTM + f'''  <head>
    <metadata>
{agents}
    </metadata>
  </head>
  <body xml:lang="eng">
    <div>
{inner}
    </div>
  </body>
</tt>'''


def test_t7_named_agents_main_voice_group():
    doc = _with_agents(
        '      <ttm:agent xml:id="v1" type="person"><ttm:name>Chris Martin</ttm:name></ttm:agent>\n'
        '      <ttm:agent xml:id="v2" type="person"><ttm:name>Jin</ttm:name></ttm:agent>\n'
        '      <ttm:agent xml:id="v1000" type="group"><ttm:name>All</ttm:name></ttm:agent>',
        '      <p begin="1s" end="2s" ttm:agent="v1"><span begin="1s" end="1.5s">You</span></p>\n'
        '      <p begin="2s" end="3s" ttm:agent="v2"><span begin="2s" end="2.5s">and</span></p>\n'
        '      <p begin="3s" end="4s" ttm:agent="v1000"><span begin="3s" end="3.5s">All</span></p>')
    [lyric] = ttml(doc)
    assert lyric["agents"] == [{"id": "v1", "role": "main", "name": "Chris Martin"},
                               {"id": "v2", "role": "voice", "name": "Jin"},
                               {"id": "v1000", "role": "group", "name": "All"}]
    assert [ln["cue"][0]["agentId"] for ln in lyric["line"]] == ["v1", "v2", "v1000"]


def test_t8_background_ids_do_not_collide_with_explicit_ids():
    doc = _with_agents(
        '      <ttm:agent xml:id="lead" type="person"><ttm:name>Lead</ttm:name></ttm:agent>\n'
        '      <ttm:agent xml:id="lead__bg" type="person"><ttm:name>Existing Background Id'
        '</ttm:name></ttm:agent>',
        '''      <p begin="1s" end="2s" ttm:agent="lead">
        <span begin="1s" end="1.4s">Lead</span>
        <span ttm:role="x-bg"><span begin="1.5s" end="1.8s">Echo</span></span>
      </p>
      <p begin="2s" end="3s" ttm:agent="lead__bg">
        <span begin="2s" end="2.5s">Named</span>
      </p>''')
    [lyric] = ttml(doc)
    assert lyric["agents"] == [{"id": "lead", "role": "main", "name": "Lead"},
                               {"id": "__nd_bg__|lead", "role": "bg", "name": "Lead"},
                               {"id": "lead__bg", "role": "voice",
                                "name": "Existing Background Id"}]
    assert [[c["agentId"] for c in ln["cue"]] for ln in lyric["line"]] == [
        ["lead", "__nd_bg__|lead"], ["lead__bg"]]


def test_t9_cues_without_agent_get_the_main_agent():
    doc = _with_agents(
        '      <ttm:agent xml:id="guest" type="person"><ttm:name>Guest Vocal</ttm:name>'
        '</ttm:agent>',
        '''      <p begin="1s" end="3s">
        <span begin="1s" end="1.4s">Lead</span>
        <span begin="2s" end="2.4s" ttm:agent="guest">Guest</span>
      </p>''')
    [lyric] = ttml(doc)
    assert lyric["agents"] == [{"id": "guest", "role": "main", "name": "Guest Vocal"}]
    assert [c["agentId"] for c in lyric["line"][0]["cue"]] == ["guest", "guest"]


def test_t10_pretty_printed_whitespace_collapses_to_spaces():
    [lyric] = ttml(body('''      <p begin="1:22.889" end="1:26.859" ttm:agent="v2">
        <span begin="1:22.889" end="1:23.127">It</span>
        <span begin="1:23.374" end="1:23.938">in,</span>
        <span ttm:role="x-bg">
          <span begin="1:23.881" end="1:24.243">(When you</span>
          <span begin="1:26.232" end="1:26.859">slide)</span>
        </span>
      </p>'''))
    [line] = lyric["line"]
    assert line["value"] == "It in, (When you slide)"
    assert line["cue"] == [cue(82889, 83127, "It", 0, 1, "v2"),
                           cue(83374, 83938, "in,", 3, 5, "v2"),
                           cue(83881, 84243, "(When you", 7, 15, "__nd_bg__|v2"),
                           cue(86232, 86859, "slide)", 17, 22, "__nd_bg__|v2")]


def test_t11_br_is_a_line_break():
    [lyric] = ttml(body('''      <p begin="00:01.000" end="00:03.000">
        <span begin="00:01.000" end="00:01.400">first</span>
        <br/>
        <span begin="00:02.000" end="00:02.500">second</span>
      </p>'''))
    assert [ln["value"] for ln in lyric["line"]] == ["first\nsecond"]


def test_t12_other_unicode_spaces_are_content():
    [lyric] = ttml(body('''      <p begin="00:01.000" end="00:03.000">
        <span begin="00:01.000" end="00:01.400">あ\u3000い</span>
        <span begin="00:02.000" end="00:02.500">う</span>
      </p>''', lang="jpn"))
    [line] = lyric["line"]
    assert line["value"] == "あ\u3000い う"
    assert line["cue"][0]["value"] == "あ\u3000い"


def test_t13_interleaved_background_cues_keep_their_own_ends():
    [lyric] = ttml(body(
        '      <p begin="1:22.889" end="1:26.859" ttm:agent="v2"><span begin="1:25.593"'
        ' end="1:25.934">real</span> <span begin="1:25.934" end="1:26.751">slow</span>'
        ' <span ttm:role="x-bg"><span begin="1:23.881" end="1:24.243">(When you</span>'
        ' <span begin="1:26.232" end="1:26.859">slide)</span></span></p>'))
    cues = lyric["line"][0]["cue"]
    assert len(cues) == 4
    main = [c for c in cues if c["agentId"] == "v2"]
    bg = [c for c in cues if c["agentId"] == "__nd_bg__|v2"]
    assert [(c["start"], c["end"]) for c in main] == [(85593, 85934), (85934, 86751)]
    assert [c["end"] for c in bg] == [84243, 86859]


def test_t14_ambiguous_decimals_prefer_absolute_inside_the_parent():
    doc = XML + '''<tt xmlns="http://www.w3.org/ns/ttml">
  <body xml:lang="eng">
    <div begin="37.870" end="45.570">
      <p begin="43.444" end="45.570">
        <span begin="43.444" end="43.716">go</span>
        <span begin="43.716" end="43.887">go</span>
      </p>
    </div>
  </body>
</tt>'''
    [lyric] = ttml(doc)
    assert "agents" not in lyric
    assert lyric["line"] == [{"start": 43444, "end": 45570, "value": "go go", "cue": [
        cue(43444, 43716, "go", 0, 1), cue(43716, 43887, "go", 3, 4)]}]


def test_t15_unsynced():
    doc = XML + ('<tt xmlns="http://www.w3.org/ns/ttml">\n  <body>\n    <div>\n'
                 '      <p>No timing here</p>\n    </div>\n  </body>\n</tt>')
    assert ttml(doc) == [{"kind": "main", "lang": "xxx",
                          "line": [{"value": "No timing here"}], "synced": False}]


METADATA_TTML = XML + '''<tt xmlns="http://www.w3.org/ns/ttml" xmlns:itunes="http://music.apple.com/lyric-ttml-internal">
  <head>
    <metadata>
      <iTunesMetadata xmlns="http://music.apple.com/lyric-ttml-internal">
        <translations>
          <translation xml:lang="es">
            <text for="L1">Hola</text>
            <text for="MISSING">Skip me</text>
          </translation>
        </translations>
        <transliterations>
          <transliteration xml:lang="ja-Latn">
            <text for="L2"><span begin="00:02.000" end="00:02.300" xmlns="http://www.w3.org/ns/ttml">ko</span><span begin="00:02.300" end="00:02.600" xmlns="http://www.w3.org/ns/ttml">nni</span></text>
          </transliteration>
        </transliterations>
      </iTunesMetadata>
    </metadata>
  </head>
  <body xml:lang="ja">
    <div>
      <p begin="00:01.000" end="00:01.500" itunes:key="L1">こんにちは</p>
      <p begin="00:02.000" end="00:02.700" itunes:key="L2">こんばんは</p>
    </div>
  </body>
</tt>'''


def test_t16_metadata_tracks():
    main, translation, pronunciation = ttml(METADATA_TTML)
    assert main == {"kind": "main", "lang": "ja", "line": [
        {"start": 1000, "end": 1500, "value": "こんにちは"},
        {"start": 2000, "end": 2700, "value": "こんばんは"}], "synced": True}
    assert translation == {"kind": "translation", "lang": "es", "line": [
        {"start": 1000, "end": 1500, "value": "Hola"}], "synced": True}
    assert pronunciation == {"kind": "pronunciation", "lang": "ja-latn", "line": [
        {"start": 2000, "end": 2600, "value": "konni", "cue": [
            cue(2000, 2300, "ko", 0, 1), cue(2300, 2600, "nni", 2, 4)]}], "synced": True}


def test_t17_pronunciation_with_bare_decimal_times():
    doc = XML + '''<tt xmlns="http://www.w3.org/ns/ttml" xmlns:itunes="http://music.apple.com/lyric-ttml-internal">
  <head>
    <metadata>
      <iTunesMetadata xmlns="http://music.apple.com/lyric-ttml-internal">
        <transliterations>
          <transliteration xml:lang="ja-Latn">
            <text for="L1"><span begin="2.747" end="3.018" xmlns="http://www.w3.org/ns/ttml">I</span> <span begin="3.018" end="3.179" xmlns="http://www.w3.org/ns/ttml">woke</span> <span begin="3.179" end="3.582" xmlns="http://www.w3.org/ns/ttml">up</span></text>
          </transliteration>
        </transliterations>
      </iTunesMetadata>
    </metadata>
  </head>
  <body xml:lang="ja">
    <div>
      <p begin="00:02.747" end="00:04.000" itunes:key="L1">起きた</p>
    </div>
  </body>
</tt>'''
    [pron] = [ly for ly in ttml(doc) if ly.get("kind") == "pronunciation"]
    [line] = pron["line"]
    assert (line["start"], line["value"]) == (2747, "I woke up")
    assert line["cue"] == [cue(2747, 3018, "I", 0, 0), cue(3018, 3179, "woke", 2, 5),
                           cue(3179, 3582, "up", 7, 8)]


# --------------------------------------------------------------------------- LRC

def test_l1_id_tags():
    lyric = parse_lrc("xxx", "[lang:  eng  ]\n[offset: 1551 ]\n[ti: A title ]\n"
                             "[ar: An artist ]\n[00:00.00]Hi there")
    assert lyric == {"displayArtist": "An artist", "displayTitle": "A title", "lang": "eng",
                     "line": [{"start": 0, "value": "Hi there"}], "offset": 1551,
                     "synced": True}


def test_l2_bad_offset_is_absent():
    assert "offset" not in parse_lrc("xxx", "[offset: NotANumber ]\n[00:00.00]Hi there")


def s(start, value):
    return {"start": start, "value": value}


@pytest.mark.parametrize("text, lines", [
    ("[00:00.00]Hi there\n\n\n[00:10.040]\n[00:40]Test\n[01:00:00]late",
     [s(0, "Hi there"), s(10040, ""), s(40000, "Test"), s(3600000, "late")]),
    ("[00:00.00]  [00:10.00]Repeated\n[13:00][51:00:00.00]",
     [s(0, "Repeated"), s(10000, "Repeated"), s(780000, ""), s(183600000, "")]),
    ("[00:00.00]This is\na multiline  \n\n  [:0] string\n[10:00.001]This is\nalso one",
     [s(0, "This is\na multiline\n\n[:0] string"), s(600001, "This is\nalso one")]),
    ("  [00:00] This is [00:00:00] be a synced file\n\t\t[00:01]Line 2",
     [s(0, "This is [00:00:00] be a synced file"), s(1000, "Line 2")]),
    ("This is some prelude\nThat doesn't\nmatter\n[00:00]Text", [s(0, "Text")]),
    ("[00:00.001]a\n[00:00.01]b\n[00:00.1]c", [s(1, "a"), s(10, "b"), s(100, "c")]),
    ("[00:00.00]  [13:00]Repeated\n[00:10.00][51:00:00.00]Test\n[00:40.00]Not repeated",
     [s(0, "Repeated"), s(10000, "Test"), s(40000, "Not repeated"), s(780000, "Repeated"),
      s(183600000, "Test")]),
], ids=["L3", "L4", "L5", "L7", "L8", "L9", "L10"])
def test_lrc_lines(text, lines):
    lyric = parse_lrc("xxx", text)
    assert lyric["synced"] is True
    assert lyric["line"] == lines


def test_l6_unsynced_text_with_a_stamp_inside():
    text = "This could [00:00:00] be a synced file"
    assert parse_lrc("xxx", text) == {"lang": "xxx", "line": [{"value": text}], "synced": False}


@pytest.mark.parametrize("text, lines", [
    (("[00:01.00]<00:01.00>Some <00:01.50>lyrics <00:02.00>here\n"
     "[00:03.00]<00:03.00>More <00:03.50>words"),
     [{"start": 1000, "end": 3000, "value": "Some lyrics here", "cue": [
         cue(1000, 1500, "Some ", 0, 4), cue(1500, 2000, "lyrics ", 5, 11),
         cue(2000, 3000, "here", 12, 15)]},
      {"start": 3000, "end": 3500, "value": "More words", "cue": [
          cue(3000, None, "More ", 0, 4), cue(3500, None, "words", 5, 9)]}]),
    ("[00:01.00]<00:01a50>Not a marker", [{"start": 1000, "value": "<00:01a50>Not a marker"}]),
    (("[00:01.00]<00:01.00>Some <00:01.50>lyrics\n[00:03.00]Plain line\n"
     "[00:05.00]<00:05.00>More <00:05.50>words"),
     [{"start": 1000, "end": 3000, "value": "Some lyrics", "cue": [
         cue(1000, 1500, "Some ", 0, 4), cue(1500, 3000, "lyrics", 5, 10)]},
      {"start": 3000, "value": "Plain line"},
      {"start": 5000, "end": 5500, "value": "More words", "cue": [
          cue(5000, None, "More ", 0, 4), cue(5500, None, "words", 5, 9)]}]),
    ("[00:00.00]<00:00.00>Oh <00:00.90>love<00:01.30> me <00:01.60>tonight",
     [{"start": 0, "end": 1600, "value": "Oh love me tonight", "cue": [
         cue(0, None, "Oh ", 0, 2), cue(900, None, "love", 3, 6),
         cue(1300, None, " me ", 7, 10), cue(1600, None, "tonight", 11, 17)]}]),
    ("[00:01.00]<00:01.00>Some <00:01.50>lyrics<00:02.00>\n[00:30.00]Instrumental over",
     [{"start": 1000, "end": 2000, "value": "Some lyrics", "cue": [
         cue(1000, 1500, "Some ", 0, 4), cue(1500, 2000, "lyrics", 5, 10)]},
      {"start": 30000, "value": "Instrumental over"}]),
    ("[00:10.00][00:30.00]<00:10.10>Hello <00:10.50>world<00:10.90>",
     [{"start": 10000, "end": 10900, "value": "Hello world", "cue": [
         cue(10100, 10500, "Hello ", 0, 5), cue(10500, 10900, "world", 6, 10)]},
      {"start": 30000, "end": 30900, "value": "Hello world", "cue": [
          cue(30100, 30500, "Hello ", 0, 5), cue(30500, 30900, "world", 6, 10)]}]),
    ("[00:10.00][00:30.00]<00:10.10>Hello <00:10.50>world",
     [{"start": 10000, "end": 30000, "value": "Hello world", "cue": [
         cue(10100, 10500, "Hello ", 0, 5), cue(10500, 30000, "world", 6, 10)]},
      {"start": 30000, "end": 30500, "value": "Hello world", "cue": [
          cue(30100, None, "Hello ", 0, 5), cue(30500, None, "world", 6, 10)]}]),
], ids=["E1", "E2", "E3", "E4", "E5", "E6", "E7"])
def test_enhanced_lrc(text, lines):
    lyric = parse_lrc("xxx", text)
    assert lyric["line"] == lines
    assert "kind" not in lyric and "agents" not in lyric


# --------------------------------------------------------------------------- Lyricsfile

def yf(lang: str, text: str) -> list[dict]:
    return parse_lyricsfile(lang, text.encode())


@pytest.mark.parametrize("text", [
    "hello: world\n",
    "metadata:\n  title: x\nlines:\n  - text: a\n    start_ms: 1\n",
])
def test_y1_unversioned_yaml_is_not_a_lyricsfile(text):
    assert yf("xxx", text) == []


def test_y2_invalid_yaml_is_an_error():
    with pytest.raises(ValueError):
        yf("xxx", "not: valid: yaml: [")


def test_y3_line_level_lyricsfile():
    text = """version: '1.0'
metadata:
  title: 'Sample Track'
  artist: 'Test Artist'
  language: 'eng'
  offset_ms: -100
lines:
  - text: "We're no strangers to love"
    start_ms: 18800
  - text: "You know the rules and so do I"
    start_ms: 22801
"""
    assert yf("xxx", text) == [{
        "displayArtist": "Test Artist", "displayTitle": "Sample Track", "kind": "main",
        "lang": "eng", "line": [
            {"start": 18800, "end": 22801, "value": "We're no strangers to love"},
            {"start": 22801, "value": "You know the rules and so do I"}],
        "offset": -100, "synced": True}]


@pytest.mark.parametrize("meta, caller, lang", [
    ("eng", "deu", "eng"), ("", "deu", "deu"), ("", "", "xxx")])
def test_y4_language_falls_back_to_the_callers(meta, caller, lang):
    text = f"version: '1.0'\nmetadata:\n  language: '{meta}'\nlines:\n  - text: a\n    start_ms: 1\n"
    assert yf(caller, text)[0]["lang"] == lang


def test_y5_plain_only():
    text = ("version: '1.0'\nmetadata:\n  language: 'en'\nlines: []\n"
            "plain: \"[Verse 1]\\nFirst line\\n\\nSecond line\\n\"\n")
    assert yf("xxx", text) == [{"kind": "main", "lang": "en", "line": [
        {"value": "[Verse 1]"}, {"value": "First line"}, {"value": "Second line"}],
        "synced": False}]


def test_y6_words_are_cues_without_agents():
    text = """version: '1.0'
lines:
  - text: Hello world
    start_ms: 1000
    end_ms: 3000
    words:
      - {text: "Hello ", start_ms: 1000, end_ms: 1500}
      - {text: "world", start_ms: 1500, end_ms: 3000}
"""
    [lyric] = yf("eng", text)
    assert "agents" not in lyric
    assert lyric["line"] == [{"start": 1000, "end": 3000, "value": "Hello world", "cue": [
        cue(1000, 1500, "Hello ", 0, 5), cue(1500, 3000, "world", 6, 10)]}]


def test_y7_overlap_through_word_end_is_a_second_voice():
    text = """version: '1.0'
lines:
  - text: Long vocal
    start_ms: 1000
    words:
      - {text: "Long ", start_ms: 1000, end_ms: 2000}
      - {text: "vocal", start_ms: 2000, end_ms: 4000}
  - text: echo
    start_ms: 3000
    end_ms: 3500
    words:
      - {text: "echo", start_ms: 3000, end_ms: 3500}
"""
    [lyric] = yf("eng", text)
    assert lyric["agents"] == [{"id": "voice-0", "role": "main"},
                               {"id": "voice-1", "role": "voice"}]
    a, b = lyric["line"]
    assert a["end"] == 4000 and a["cue"][1]["end"] == 4000
    assert [c["agentId"] for c in b["cue"]] == ["voice-1"]


def test_y8_duet():
    text = """version: '1.0'
lines:
  - text: Lead vocal
    start_ms: 1000
    end_ms: 4000
    words:
      - {text: "Lead ", start_ms: 1000, end_ms: 2000}
      - {text: "vocal", start_ms: 2000, end_ms: 4000}
  - text: echo
    start_ms: 2000
    end_ms: 3000
    words:
      - {text: "echo", start_ms: 2000, end_ms: 3000}
"""
    [lyric] = yf("eng", text)
    assert lyric["agents"] == [{"id": "voice-0", "role": "main"},
                               {"id": "voice-1", "role": "voice"}]
    a, b = lyric["line"]
    assert [(c["agentId"], c["byteStart"], c["byteEnd"]) for c in a["cue"]] == [
        ("voice-0", 0, 4), ("voice-0", 5, 9)]
    assert b == {"start": 2000, "end": 3000, "value": "echo",
                 "cue": [cue(2000, 3000, "echo", 0, 3, "voice-1")]}


def test_y9_instrumental():
    text = ("version: '1.0'\nmetadata:\n  title: Solo Piano\n  artist: Composer\n"
            "  language: eng\n  instrumental: true\n")
    assert yf("xxx", text) == [{"displayArtist": "Composer", "displayTitle": "Solo Piano",
                                "kind": "main", "lang": "eng", "line": [], "synced": False}]


def test_y10_overlapping_lines_without_words_have_no_agents():
    text = """version: '1.0'
lines:
  - {text: Lead, start_ms: 1000, end_ms: 4000}
  - {text: echo, start_ms: 2000, end_ms: 3000}
"""
    [lyric] = yf("eng", text)
    assert "agents" not in lyric
    assert lyric["line"] == [{"start": 1000, "end": 4000, "value": "Lead"},
                             {"start": 2000, "end": 3000, "value": "echo"}]


# --------------------------------------------------------------------------- normalize

def test_n1_cue_lines_get_ends_and_the_input_is_not_changed():
    lines = [{"start": 1000, "value": "Some lyrics", "cue": [
        {"start": 1000, "value": "Some ", "byteStart": 0, "byteEnd": 4},
        {"start": 1500, "value": "lyrics", "byteStart": 5, "byteEnd": 10}]},
        {"start": 3000, "value": "Next line"}]
    before = repr(lines)
    out = normalize_cue_lines(lines)
    assert [c["end"] for c in out[0]["cue"]] == [1500, 3000]
    assert repr(lines) == before


@pytest.mark.parametrize("cues, fallback, ends", [
    ([], 3000, []),
    ([{"start": 1000}, {"start": 1500}], 3000, [1500, 3000]),
    ([{"start": 1000, "end": 1200}, {"start": 1500}], 3000, [1200, 3000]),
    ([{"start": 1000, "end": 9999}, {"start": 1500, "end": 2000}], 3000, [1500, 2000]),
    ([{"start": 1000, "end": 500}], None, [1000]),
    ([{"start": 1000, "end": 1200}, {"start": 1500}], None, [None, None]),
])
def test_normalize_cue_ends(cues, fallback, ends):
    assert [c["end"] for c in normalize_cue_ends(cues, fallback)] == ends


# --------------------------------------------------------------------------- ParseLyrics

SRT2 = "1\n00:00:01,000 --> 00:00:02,000\nsrt line\n"
YAML_LINE = 'version: "1.0"\nmetadata:\n  language: eng\nlines:\n  - text: yaml line\n    start_ms: 1000\n'
TTML_LINE = ('<tt xmlns="http://www.w3.org/ns/ttml"><body><div><p begin="00:00.000"'
             ' end="00:01.000">ttml line</p></div></body></tt>')


@pytest.mark.parametrize("suffix, text, synced, value", [
    (".lrc", "[00:01.00]lrc line", True, "lrc line"),
    (".txt", "plain line", False, "plain line"),
    (".srt", SRT2, True, "srt line"),
    (".ttml", TTML_LINE, True, "ttml line"),
    (".yaml", YAML_LINE, True, "yaml line"),
    ("", TTML_LINE, True, "ttml line"),
    ("auto", TTML_LINE, True, "ttml line"),
    ("", YAML_LINE, True, "yaml line"),
    ("auto", YAML_LINE, True, "yaml line"),
    (".srt", "not actually an srt file", False, "not actually an srt file"),
])
def test_parse_lyrics_routing(suffix, text, synced, value):
    [lyric] = parse_lyrics(text, "eng", suffix)
    assert lyric["synced"] is synced
    assert [ln["value"] for ln in lyric["line"]] == [value]


def test_parse_lyrics_ttml_agent_and_caller_language():
    doc = ('<tt xmlns="http://www.w3.org/ns/ttml" xmlns:ttm="http://www.w3.org/ns/ttml#metadata">'
           '<head><metadata><ttm:agent xml:id="lead" ttm:type="person"><ttm:name>Lead Vocal'
           '</ttm:name></ttm:agent></metadata></head><body><div><p begin="00:01.000"'
           ' end="00:02.000" ttm:agent="lead"><span begin="00:01.000" end="00:01.500">Hello'
           ' </span><span begin="00:01.500" end="00:02.000">world</span></p></div></body></tt>')
    [lyric] = parse_lyrics(doc, "ENG")
    assert (lyric["kind"], lyric["lang"], lyric["synced"]) == ("main", "eng", True)
    assert lyric["line"][0]["value"] == "Hello world"
    assert lyric["agents"] == [{"id": "lead", "role": "main", "name": "Lead Vocal"}]


def test_parse_lyrics_metadata_ttml_only_l1():
    doc = METADATA_TTML.replace('<p begin="00:02.000" end="00:02.700" itunes:key="L2">'
                                'こんばんは</p>', "")
    doc = doc.replace("L2", "L1").replace('<text for="MISSING">Skip me</text>', "")
    out = parse_lyrics(doc, "eng")
    assert [(ly["kind"], ly["lang"], ly["line"][0]["value"]) for ly in out] == [
        ("main", "ja", "こんにちは"), ("translation", "es", "Hola"),
        ("pronunciation", "ja-latn", "konni")]
    assert len(out[2]["line"][0]["cue"]) == 2


def test_parse_lyrics_srt_exact():
    text = ("1\n00:00:18,800 --> 00:00:22,800\nWe're from subtitles\n\n"
            "2\n00:00:22,801 --> 00:00:26,000\nAnother subtitle line\n")
    assert parse_lyrics(text, "POR") == [{"lang": "por", "line": [
        {"start": 18800, "end": 22800, "value": "We're from subtitles"},
        {"start": 22801, "end": 26000, "value": "Another subtitle line"}], "synced": True}]


def test_parse_lyrics_srt_with_a_blank_looking_separator():
    text = "1\n00:00:01,000 --> 00:00:02,000\nOne\n   \n2\n00:00:03,000 --> 00:00:04,000\nTwo\n"
    [lyric] = parse_lyrics(text, "eng")
    assert [ln["value"] for ln in lyric["line"]] == ["One", "Two"]
    assert lyric["synced"] is True


def test_parse_lyrics_enhanced_lrc():
    [lyric] = parse_lyrics("[00:01.00]<00:01.00>Lead <00:01.50>words", "eng")
    assert (lyric["lang"], lyric["synced"]) == ("eng", True)
    assert lyric["line"][0]["value"] == "Lead words"
    assert len(lyric["line"][0]["cue"]) == 2


def test_parse_lyrics_invalid_ttml_falls_back_to_plain():
    doc = ('<tt xmlns="http://www.w3.org/ns/ttml"><body><p begin="not-a-time">Broken</p>'
           '</body></tt>')
    [lyric] = parse_lyrics(doc, "eng")
    assert (lyric["lang"], lyric["synced"]) == ("eng", False)
    assert any("Broken" in ln["value"] for ln in lyric["line"])


def test_plugin_adapter_keeps_every_parsed_lyric_in_order():
    out = parse_response({"lyrics": [{"lang": "eng", "text": METADATA_TTML}]})
    assert [ly["kind"] for ly in out] == ["main", "translation", "pronunciation"]


# --------------------------------------------------------------------------- SRT

def test_srt_basic_and_not_srt():
    text = ("1\n00:00:01,000 --> 00:00:02,000\nFirst subtitle\n\n"
            "2\n00:00:03,000 --> 00:00:04,000\nSecond subtitle")
    assert parse_srt("xxx", text.encode()) == [{"lang": "xxx", "line": [
        {"start": 1000, "end": 2000, "value": "First subtitle"},
        {"start": 3000, "end": 4000, "value": "Second subtitle"}], "synced": True}]
    assert parse_srt("xxx", b"not actually an srt file") == []


# --------------------------------------------------------------------------- line rules around cues

def test_srt_end_before_start_is_kept():
    [lyric] = parse_lyrics("1\n00:00:05,000 --> 00:00:02,000\nBackwards\n", "eng")
    assert lyric["line"] == [{"start": 5000, "end": 2000, "value": "Backwards"}]


def test_lyricsfile_negative_start_is_kept():
    text = 'version: "1.0"\nlines:\n  - text: neg\n    start_ms: -500\n    end_ms: 100\n'
    assert parse_lyrics(text, "eng") == [{"kind": "main", "lang": "eng", "line": [
        {"start": -500, "end": 100, "value": "neg"}], "synced": True}]


def test_ttml_p_without_timing_takes_it_from_its_spans():
    # An offset ``end`` counts from the element's own begin (lyrics_ttml.go, childContext:
    # base = ctx.begin), so the second span ends at 2 s + 3 s
    doc = ('<tt xmlns="http://www.w3.org/ns/ttml"><body><div><p><span begin="1s" end="2s">a'
           '</span> <span begin="2s" end="3s">b</span></p></div></body></tt>')
    assert parse_lyrics(doc, "eng") == [{"kind": "main", "lang": "eng", "line": [
        {"start": 1000, "end": 5000, "value": "a b", "cue": [
            cue(1000, 2000, "a", 0, 0), cue(2000, 5000, "b", 2, 2)]}], "synced": True}]
