"""Navidrome's host-side capability adapters (nd_notebook.capabilities), through real wasm.

WAT plugins answer each export with a fixed outcome (an output, an error text or a return code)
so every rule of Navidrome's adapters is pinned without a Go build; the lyrics parsers are
also tested directly, one format at a time.
"""

from __future__ import annotations

import json

import pytest
from watplugins import wat

from nd_notebook import Host
from nd_notebook.capabilities import (
    AgentNotFound,
    ScrobblerNotAuthorized,
    ScrobblerRetryLater,
    ScrobblerUnrecoverable,
    parse_lyrics,
)
from nd_notebook.capabilities.agents import (
    UNKNOWN_ARTIST_ID,
    VARIOUS_ARTISTS_ID,
    AgentPlugin,
    AgentsChain,
)
from nd_notebook.capabilities.lyrics import parse_response
from nd_notebook.capabilities.metadata import MetadataAgent
from nd_notebook.capabilities.scrobbler import ScrobblerPlugin
from nd_notebook.errors import PluginCallError, PluginCallFailedError

_ENV = """
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (import "extism:host/env" "error_set" (func $error_set (param i64)))
  (memory (export "memory") 1)
  ;; copy linear memory [off, off+len) into a new Extism block
  (func $block (param $off i32) (param $len i64) (result i64)
    (local $i i64) (local $blk i64)
    (local.set $blk (call $alloc (local.get $len)))
    (block $done (loop $next
      (br_if $done (i64.ge_u (local.get $i) (local.get $len)))
      (call $store_u8 (i64.add (local.get $blk) (local.get $i))
                      (i32.load8_u (i32.add (local.get $off) (i32.wrap_i64 (local.get $i)))))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br $next)))
    (local.get $blk))
"""


def answers(**exports: tuple[str, object]) -> bytes:
    """A module whose export ``name`` ends as told: ``("out", text)`` outputs text,
    ``("error", text)`` sets the error and returns -1, ``("rc", n)`` returns n."""
    data, funcs, offset = [], [], 0
    for name, (kind, value) in exports.items():
        if kind == "rc":
            funcs.append(f'  (func (export "{name}") (result i32) (i32.const {value}))')
            continue
        raw = str(value).encode()
        escaped = "".join(f"\\{b:02x}" for b in raw)
        data.append(f'  (data (i32.const {offset}) "{escaped}")')
        blk = f"(call $block (i32.const {offset}) (i64.const {len(raw)}))"
        if kind == "out":
            body = f"(call $output_set {blk} (i64.const {len(raw)})) (i32.const 0)"
        else:
            body = f"(call $error_set {blk}) (i32.const -1)"
        funcs.append(f'  (func (export "{name}") (result i32) {body})')
        offset += len(raw) + 1
    return wat("(module\n" + _ENV + "\n".join(data + funcs) + ")")


@pytest.fixture
def host(tmp_path):
    with Host(tmp_path) as h:
        yield h


def load(host, name="p", permissions=None, **exports):
    return host.load(answers(**exports), name=name, permissions=permissions)


# --------------------------------------------------------------------------- MetadataAgent

def test_metadata_response_has_every_field_with_zero_values(host):
    p = load(host, nd_get_artist_images=("out", '{"images":[{"url":"https://img/1"}]}'))
    assert p.metadata.artist_images(name="Nina") == {"images": [{"url": "https://img/1",
                                                                 "size": 0}]}


def test_typed_helpers_refuse_values_navidrome_never_sends(host):
    # name=5 reached the plugin as "5"; a request Navidrome could not send is a TypeError
    # naming the field and its Go type, and nothing is called.
    p = load(host, nd_get_artist_biography=("out", '{"biography":"b"}'),
             nd_get_similar_artists=("out", '{"artists":[{"name":"Hal"}]}'))
    with pytest.raises(TypeError, match=r"^nd_get_artist_biography: name must be a str \(Go "
                                        r"string, as Navidrome sends it\), not int 5$"):
        p.metadata.artist_biography(name=5)
    for limit in (2**31, True, 2.0):
        with pytest.raises(TypeError, match=r"^nd_get_similar_artists: limit must be a whole "
                                            r"number from -2147483648 to 2147483647 \(Go int32"):
            p.metadata.similar_artists(name="Nina", limit=limit)
    assert len(host.events("plugin_call")) == 0
    assert p.metadata.similar_artists(name="Nina", limit=2**31 - 1)["artists"][0]["name"] == "Hal"
    assert p.metadata.artist_biography(name="Nina") == {"biography": "b"}
    assert len(host.events("plugin_call")) == 2


def test_nested_request_values_are_checked_too():
    from nd_notebook.capabilities.codec import request

    with pytest.raises(TypeError, match=r"^nd_scrobbler_scrobble: track\.duration must be a "
                                        r"number \(Go float32, as Navidrome sends it\), not str "
                                        r"'3:12'$"):
        request("nd_scrobbler_scrobble", username="u", track={"id": "t", "duration": "3:12"})
    assert request("nd_scrobbler_scrobble", username="u", track={"id": "t", "duration": 192},
                   timestamp=1)["track"]["duration"] == 192


def test_null_output_is_not_found(host):
    p = load(host, nd_get_artist_biography=("out", "null"))
    assert p.metadata.artist_biography(name="Nina") is None


def test_empty_output_is_not_found(host):
    p = load(host, nd_get_artist_url=("rc", 0))
    assert p.metadata.artist_url(name="Nina") is None


@pytest.mark.parametrize("export,helper,output", [
    ("nd_get_artist_biography", "artist_biography", '{"biography":""}'),
    ("nd_get_artist_mbid", "artist_mbid", '{"mbid":""}'),
    ("nd_get_similar_artists", "similar_artists", '{"artists":[]}'),
    ("nd_get_artist_top_songs", "artist_top_songs", '{"songs":null}'),
    ("nd_get_album_images", "album_images", "{}"),
])
def test_empty_key_field_is_not_found(host, export, helper, output):
    p = load(host, **{export: ("out", output)})
    assert getattr(p.metadata, helper)(name="x") is None


def test_album_info_is_not_found_only_when_null(host):
    p = load(host, nd_get_album_info=("out", "{}"))
    assert p.metadata.album_info(name="Blue") == {"name": "", "mbid": "", "description": "",
                                                  "url": ""}
    q = load(host, name="q", nd_get_album_info=("out", "null"))
    assert q.metadata.album_info(name="Blue") is None


def test_not_implemented_is_not_found(host):
    p = load(host, nd_get_artist_biography=("rc", -2))
    assert p.metadata.artist_biography(name="x") is None


def test_missing_export_is_not_found(host):
    p = load(host, nd_get_artist_url=("out", '{"url":"u"}'))
    assert p.metadata.artist_biography(name="x") is None


def test_plugin_error_stays_an_error_at_head(host):
    p = load(host, nd_get_artist_biography=("error", "upstream down"))
    with pytest.raises(PluginCallFailedError) as e:
        p.metadata.artist_biography(name="x")
    assert str(e.value) == "plugin call failed: upstream down"


def test_undecodable_output_is_the_go_decode_error(host):
    p = load(host, nd_get_artist_biography=("out", '{"biography":5}'))
    with pytest.raises(PluginCallError) as e:
        p.metadata.artist_biography(name="x")
    assert str(e.value) == ("json: cannot unmarshal number into Go struct field "
                            "ArtistBiographyResponse.biography of type string")


def test_agent_adapter_raises_agent_not_found_with_navidrome_text(host):
    p = load(host, nd_get_artist_biography=("rc", -2))
    agent = MetadataAgent("p", lambda e, i: p.call(e, i, raw=True))
    with pytest.raises(AgentNotFound) as e:
        agent.artist_biography(name="x")
    assert str(e.value) == "not found"
    assert str(e.value.cause) == "function not implemented: nd_get_artist_biography"


def test_agent_songs_carry_duration_in_milliseconds(host):
    out = '{"songs":[{"name":"a","duration":215.5},{"name":"b","duration":1,"durationMs":999}]}'
    p = load(host, nd_get_artist_top_songs=("out", out))
    agent = MetadataAgent("p", lambda e, i: p.call(e, i, raw=True))
    songs = agent.artist_top_songs(name="x", count=2)
    assert [(s["name"], s["durationMs"]) for s in songs] == [("a", 215500), ("b", 999)]


@pytest.mark.parametrize("ref, artists", [
    # the single artist folded into a one-element list (songRefToAgentSong)
    ('{"name":"Solo","artist":"Drake","artistMbid":"m-drake"}',
     [{"id": "", "name": "Drake", "mbid": "m-drake"}]),
    ('{"name":"Solo","artistMbid":"m-drake"}', [{"id": "", "name": "", "mbid": "m-drake"}]),
    ('{"name":"Solo"}', None),
    # refs given: each mapped to {id, name, mbid}, the single artist ignored
    (('{"name":"Collab","artist":"Drake","artists":[{"id":"id-drake","name":"Drake",'
      '"mbid":"m-drake","sortName":"drake","role":"main"},{"name":"Future","mbid":"m-future"}]}'),
     [{"id": "id-drake", "name": "Drake", "mbid": "m-drake"},
      {"id": "", "name": "Future", "mbid": "m-future"}]),
])
def test_agent_songs_carry_artists_as_navidrome_folds_them(host, ref, artists):
    p = load(host, nd_get_similar_songs_by_track=("out", f'{{"songs":[{ref}]}}'))
    agent = MetadataAgent("p", lambda e, i: p.call(e, i, raw=True))
    [song] = agent.similar_songs_by_track(id="t", name="x", count=1)
    assert song["artists"] == artists


@pytest.mark.parametrize("ref, ms", [('{"name":"a","durationMs":247333,"duration":99}', 247333),
                                     ('{"name":"a","duration":210.5}', 210500),
                                     ('{"name":"a","duration":-1}', 0),
                                     # float32 seconds x 1000 in float32, truncated (Go)
                                     ('{"name":"a","duration":1.005}', 1005)])
def test_agent_song_duration_prefers_ms_and_clamps_negative_seconds(host, ref, ms):
    p = load(host, nd_get_similar_songs_by_track=("out", f'{{"songs":[{ref}]}}'))
    agent = MetadataAgent("p", lambda e, i: p.call(e, i, raw=True))
    [song] = agent.similar_songs_by_track(id="t", name="x", count=1)
    assert song["durationMs"] == ms


def test_agent_songs_and_artists_keep_only_the_agents_fields(host):
    # agents.Song: ID, Name, MBID, ISRC, Artists, Album, AlbumMBID, Duration; agents.Artist:
    # ID, Name, MBID.
    p = load(host, nd_get_similar_songs_by_track=("out", (
                 '{"songs":[{"id":"s","name":"n","mbid":"m","isrc":"i","artist":"A",'
                 '"artistMbid":"am","album":"al","albumMbid":"alm","duration":2,"extra":1}]}')),
             nd_get_similar_artists=("out", (
                 '{"artists":[{"id":"a","name":"A","mbid":"am","sortName":"a","role":"main",'
                 '"subRole":"x"}]}')))
    agent = MetadataAgent("p", lambda e, i: p.call(e, i, raw=True))
    assert agent.similar_songs_by_track(id="t", name="x", count=1) == [
        {"id": "s", "name": "n", "mbid": "m", "isrc": "i", "album": "al", "albumMbid": "alm",
         "durationMs": 2000, "artists": [{"id": "", "name": "A", "mbid": "am"}]}]
    assert agent.similar_artists(name="x", limit=1) == [{"id": "a", "name": "A", "mbid": "am"}]


def test_not_implemented_is_not_found_with_its_reason_attached(host):
    p = load(host, nd_get_artist_mbid=("rc", -2))
    with pytest.raises(AgentNotFound) as e:
        MetadataAgent("p", lambda e, i: p.call(e, i, raw=True)).artist_mbid(id="a", name="x")
    assert str(e.value) == "not found"
    assert str(e.value.__cause__) == "function not implemented: nd_get_artist_mbid"


# --------------------------------------------------------------------------- agents chain

def chain(host, *plugins, order=None):
    return AgentsChain([AgentPlugin(p.id, lambda e, i, p=p: p.call(e, i, raw=True))
                        for p in plugins], order=order)


def test_chain_skips_not_found_and_errors_and_records_them(host):
    a = load(host, "a", nd_get_artist_biography=("out", "null"))
    b = load(host, "b", nd_get_artist_biography=("error", "rate limited"))
    c = load(host, "c", nd_get_artist_biography=("out", '{"biography":"from c"}'))
    ch = chain(host, a, b, c)
    assert ch.artist_biography(name="Nina") == "from c"
    assert ch.last_attempts == [
        {"agent": "a", "outcome": "not_found", "error": None},
        {"agent": "b", "outcome": "error", "error": "plugin call failed: rate limited"},
        {"agent": "c", "outcome": "found", "error": None}]


def test_chain_asks_in_configured_order_and_ignores_unknown_names(host):
    a = load(host, "a", nd_get_artist_url=("out", '{"url":"from a"}'))
    b = load(host, "b", nd_get_artist_url=("out", '{"url":"from b"}'))
    assert chain(host, a, b).artist_url(name="x") == "from a"
    assert chain(host, a, b, order=["nope", "b", "a"]).artist_url(name="x") == "from b"


def test_chain_with_no_answer_is_none(host):
    a = load(host, "a", nd_get_artist_images=("out", '{"images":[]}'))
    ch = chain(host, a)
    assert ch.artist_images(name="x") is None
    assert ch.last_attempts == [{"agent": "a", "outcome": "not_found", "error": None}]


def test_chain_special_artist_ids_ask_nobody(host):
    a = load(host, "a", nd_get_similar_artists=("out", '{"artists":[{"name":"B"}]}'))
    ch = chain(host, a)
    assert ch.similar_artists(id=UNKNOWN_ARTIST_ID, name="x") is None
    assert ch.similar_artists(id=VARIOUS_ARTISTS_ID, name="x") is None
    assert ch.last_attempts == []
    assert host.events.frame("plugin_call", "a").empty


def test_chain_asks_for_one_and_a_half_times_the_limit(host):
    a = load(host, "a", nd_get_similar_artists=("out", '{"artists":[{"name":"B"}]}'))
    chain(host, a).similar_artists(name="x", limit=10)
    sent = host.events.frame("plugin_call", "a")["input"].iloc[-1]
    assert '"limit":15' in sent


# --------------------------------------------------------------------------- Scrobbler

def scrobbler(host, name="s", **exports):
    return load(host, name, permissions="users", **exports)


def test_is_authorized_decodes_the_json_bool(host):
    s = scrobbler(host, nd_scrobbler_is_authorized=("out", "true"))
    assert s.scrobbler.is_authorized(username="ann") is True


def test_failed_is_authorized_is_not_authorized(host):
    s = scrobbler(host, nd_scrobbler_is_authorized=("error", "no session"))
    assert s.scrobbler.is_authorized(username="ann") is False


@pytest.mark.parametrize("text,cls,mapped", [
    ("scrobbler(not_authorized): token revoked", ScrobblerNotAuthorized, "not authorized"),
    ("failed: scrobbler(retry_later)", ScrobblerRetryLater, "retry later"),
    ("scrobbler(unrecoverable)", ScrobblerUnrecoverable, "unrecoverable"),
    ("connection refused", ScrobblerUnrecoverable, "unrecoverable"),
])
def test_scrobble_errors_are_mapped_by_substring(host, text, cls, mapped):
    s = scrobbler(host, nd_scrobbler_scrobble=("error", text))
    with pytest.raises(cls) as e:
        s.scrobbler.scrobble(username="ann", timestamp=1)
    assert str(e.value) == mapped
    assert e.value.cause == f"plugin call failed: {text}"


def test_successful_now_playing_is_none(host):
    s = scrobbler(host, nd_scrobbler_now_playing=("rc", 0))
    assert s.scrobbler.now_playing(username="ann", position=3) is None


@pytest.mark.parametrize("output", ["{}", '{"anything": [1, 2]}', "null"])
def test_no_output_export_tolerates_any_object_or_null(host, output):
    s = scrobbler(host, nd_scrobbler_now_playing=("out", output))
    assert s.scrobbler.now_playing(username="ann", position=3) is None


@pytest.mark.parametrize("output, cause", [
    ("[1]", "json: cannot unmarshal array into Go value of type struct {}"),
    ('"done"', "json: cannot unmarshal string into Go value of type struct {}"),
    ("5", "json: cannot unmarshal number into Go value of type struct {}"),
    ("ok", "invalid character 'o' looking for beginning of value"),
])
def test_no_output_export_decodes_its_output_into_an_empty_struct(host, output, cause):
    # callPluginFunctionNoOutput decodes a non-empty output into struct{}; the scrobbler maps
    # that error like any other (no marker: unrecoverable).
    s = scrobbler(host, nd_scrobbler_scrobble=("out", output))
    with pytest.raises(ScrobblerUnrecoverable) as e:
        s.scrobbler.scrobble(username="ann", timestamp=1)
    assert e.value.cause == cause


def test_on_init_output_that_is_no_object_is_logged_as_its_failure(host):
    p = load(host, nd_on_init=("out", "5"))
    [log] = [e for e in host.events.select("plugin_log", "p") if e["export"] == "nd_on_init"]
    assert log["message"] == ("nd_on_init failed: json: cannot unmarshal number into Go value "
                              "of type struct {}")
    assert p.id in host.plugins  # only logged: the plugin stays loaded


def test_scheduler_callback_output_that_is_no_object_fails_the_callback(tmp_path):
    with Host(tmp_path / "v", clock="virtual") as h:
        p = h.load(answers(nd_scheduler_callback=("out", "[1]")), name="cb",
                   permissions="scheduler")
        p.services["Scheduler"].schedule_one_time(5, "", "once")
        h.run_for(10)
        finished = h.events.select("schedule_callback_finished", "cb")
        assert [(e["outcome"], e["error"]) for e in finished] == [
            ("error", "json: cannot unmarshal array into Go value of type struct {}")]


def test_playback_report_not_implemented_is_ignored(host):
    s = scrobbler(host, nd_scrobbler_playback_report=("rc", -2),
                  nd_scrobbler_scrobble=("rc", 0))
    assert s.scrobbler.playback_report(username="ann", state="playing") is None


def test_playback_report_error_is_mapped(host):
    s = scrobbler(host, nd_scrobbler_playback_report=("error", "scrobbler(retry_later)"))
    with pytest.raises(ScrobblerRetryLater):
        s.scrobbler.playback_report(username="ann", state="playing")


def test_user_outside_the_scope_is_refused_before_the_plugin_is_asked(host):
    s = scrobbler(host, nd_scrobbler_is_authorized=("out", "true"))
    gated = ScrobblerPlugin(s.id, lambda e, i: s.call(e, i, raw=True), all_users=False,
                            users=["u-2"])
    assert gated.authorization("u-1", "ann") == (False, "user not in the plugin's users scope")
    assert host.events.frame("plugin_call", "s").empty
    assert gated.authorization("u-2", "bob") == (True, None)


def test_empty_users_list_allows_nobody(host):
    s = scrobbler(host, nd_scrobbler_is_authorized=("out", "true"))
    gated = ScrobblerPlugin(s.id, lambda e, i: s.call(e, i, raw=True), all_users=False)
    assert gated.is_authorized("u-1", "ann") is False


def test_track_info_hides_library_id_and_path_without_filesystem_access():
    info = {"id": "t1", "libraryId": 2, "path": "a/b.mp3"}
    plain = ScrobblerPlugin("s", None, permissions={"users": {}})
    fs = ScrobblerPlugin("s", None, permissions={"library": {"filesystem": True}},
                         all_libraries=False, libraries=[2])
    other = ScrobblerPlugin("s", None, permissions={"library": {"filesystem": True}},
                            all_libraries=False, libraries=[1])
    assert plain.track_info(info) == {"id": "t1"}
    assert fs.track_info(info) == info
    assert other.track_info(info) == {"id": "t1"}


# --------------------------------------------------------------------------- other exports

def test_task_execute_returns_the_status_message(host):
    p = load(host, nd_task_execute=("out", '"done"'))
    assert p.taskworker.execute(queue_name="q", task_id="t", payload=b"x") == "done"


def test_task_execute_empty_output_is_empty_message(host):
    p = load(host, nd_task_execute=("rc", 0))
    assert p.taskworker.execute(queue_name="q", task_id="t") == ""


def test_task_execute_non_string_output_is_a_decode_error(host):
    p = load(host, nd_task_execute=("out", "{}"))
    with pytest.raises(PluginCallError) as e:
        p.taskworker.execute(queue_name="q", task_id="t")
    assert str(e.value) == "json: cannot unmarshal object into Go value of type string"


def test_on_init_and_scheduler_callback_return_none(host):
    p = load(host, nd_on_init=("rc", 0), nd_scheduler_callback=("rc", 0))
    assert p.lifecycle.on_init() is None
    assert p.scheduler.scheduler_callback(schedule_id="s1", payload="x") is None


def test_missing_websocket_callback_is_ignored_and_errors_raise(host):
    p = load(host, nd_websocket_on_text_message=("error", "bad frame"))
    assert p.websocket.on_close(connection_id="c", code=1000, reason="bye") is None
    with pytest.raises(PluginCallFailedError):
        p.websocket.on_text_message(connection_id="c", message="hi")


def test_sonic_similarity_returns_matches_with_full_song_refs(host):
    p = load(host, nd_get_sonic_similar_tracks=(
        "out", '{"matches":[{"song":{"id":"mf-1","name":"A"},"similarity":0.75}]}'))
    matches = p.sonicsimilarity.sonic_similar_tracks(song={"name": "B"}, count=1)
    assert matches == [{"song": {"id": "mf-1", "name": "A", "mbid": "", "isrc": "",
                                 "artist": "", "artistMbid": "", "artists": None,
                                 "album": "", "albumMbid": "", "duration": 0.0,
                                 "durationMs": 0},
                        "similarity": 0.75}]


def test_lyrics_entries_are_parsed_missing_lang_is_xxx_and_empty_ones_skipped(host):
    out = ('{"lyrics":[{"lang":"eng","text":"[00:01.00]Hi"},{"text":"plain"},'
           '{"lang":"fr","text":"   "}]}')
    p = load(host, nd_lyrics_get_lyrics=("out", out))
    assert p.lyrics.get_lyrics(track={"id": "t1", "title": "Song"}) == [
        {"lang": "eng", "line": [{"start": 1000, "value": "Hi"}], "synced": True},
        {"lang": "xxx", "line": [{"value": "plain"}], "synced": False}]


def test_lyrics_of_a_library_track_id_send_navidromes_track_info(host):
    track = host.library.tracks()[0]
    expected = host.library.track_info(track["id"])

    def sent(plugin) -> dict:
        plugin.lyrics.get_lyrics(track=track["id"])
        call = [e for e in host.events if e.kind == "plugin_call"][-1]
        return json.loads(call.data["input"])["track"]

    out = '{"lyrics":[{"text":"plain"}]}'
    assert sent(load(host, nd_lyrics_get_lyrics=("out", out))) == expected
    # libraryId and path only for a plugin with filesystem access to the track's library
    files = load(host, "files", permissions={"library": {"filesystem": True}},
                 nd_lyrics_get_lyrics=("out", out))
    assert sent(files) == {**expected, "libraryId": track["library_id"], "path": track["path"]}


def test_raw_call_stays_raw(host):
    p = load(host, nd_get_artist_biography=("out", "null"))
    assert p.call("nd_get_artist_biography", {"name": "x"}) is None
    assert p.call("nd_get_artist_biography", {"name": "x"}, raw=True) == b"null"


# --------------------------------------------------------------------------- lyrics: LRC

def test_lrc_timestamps_are_milliseconds_and_synced():
    [lyric] = parse_lyrics("[00:01.5]one\n[00:02.25]two\n[01:00:03.456]three")
    assert lyric["synced"] is True
    assert lyric["line"] == [{"start": 1500, "value": "one"}, {"start": 2250, "value": "two"},
                             {"start": 3603456, "value": "three"}]


def test_lrc_id_tags_set_artist_title_offset_and_lang():
    [lyric] = parse_lyrics("[ar: Nina ]\n[ti:Feeling Good]\n[offset:-250]\n[lang:en]\n"
                           "[00:01.00]Birds")
    assert lyric == {"displayArtist": "Nina", "displayTitle": "Feeling Good", "lang": "en",
                     "line": [{"start": 1000, "value": "Birds"}], "offset": -250,
                     "synced": True}


@pytest.mark.parametrize("offset", ["soon", "9223372036854775808", "-9223372036854775809"])
def test_lrc_offset_that_is_no_int64_is_ignored(offset):
    [lyric] = parse_lyrics(f"[offset:{offset}]\n[00:01.00]x")
    assert "offset" not in lyric


def test_lrc_repeated_timestamps_repeat_the_line_sorted_by_time():
    [lyric] = parse_lyrics("[00:10.00][00:01.00]chorus\n[00:05.00]verse")
    assert lyric["line"] == [{"start": 1000, "value": "chorus"},
                             {"start": 5000, "value": "verse"},
                             {"start": 10000, "value": "chorus"}]


def test_lrc_untimed_lines_continue_the_previous_line():
    [lyric] = parse_lyrics("[00:01.00]first\nsecond\n\n[00:02.00]third")
    assert lyric["line"] == [{"start": 1000, "value": "first\nsecond"},
                             {"start": 2000, "value": "third"}]


def test_lrc_enhanced_word_markers_become_cues():
    # The markers are cut from the text and become word cues; their clean-up gives the line
    # its end (model/lyrics_lrc.go, lyrics_normalize.go)
    [lyric] = parse_lyrics("[00:01.00]<00:01.00>Hel<00:01.50>lo <00:02.00>you")
    assert lyric["line"] == [{"start": 1000, "end": 2000, "value": "Hello you", "cue": [
        {"start": 1000, "value": "Hel", "byteStart": 0, "byteEnd": 2},
        {"start": 1500, "value": "lo ", "byteStart": 3, "byteEnd": 5},
        {"start": 2000, "value": "you", "byteStart": 6, "byteEnd": 8}]}]


def test_plain_text_keeps_non_empty_lines_without_times():
    [lyric] = parse_lyrics("  Verse one \n\n<b>Verse</b> &amp; two\n", "deu")
    assert lyric == {"lang": "deu", "line": [{"value": "Verse one"},
                                             {"value": "Verse & two"}], "synced": False}


def test_empty_text_has_no_lyrics():
    assert parse_lyrics(" \n ") == []


def test_byte_order_mark_is_ignored():
    [lyric] = parse_lyrics("\ufeff[00:01.00]x")
    assert lyric["line"] == [{"start": 1000, "value": "x"}]


# --------------------------------------------------------------------------- lyrics: SRT

SRT = "1\n00:00:01,500 --> 00:00:03,000\nHello\nthere\n\n2\n00:00:04.2 --> 00:00:05,000\nBye\n"


def test_srt_blocks_become_lines_with_start_and_end():
    [lyric] = parse_lyrics(SRT, "EN")
    assert lyric == {"lang": "en", "line": [
        {"start": 1500, "end": 3000, "value": "Hello\nthere"},
        {"start": 4200, "end": 5000, "value": "Bye"}], "synced": True}


def test_srt_with_a_bad_time_falls_back_to_plain_text():
    [lyric] = parse_lyrics("1\n00:00:01,500 --> soon\nHello")
    assert lyric["synced"] is False
    assert lyric["line"][1] == {"value": "00:00:01,500 --> soon"}


def test_srt_end_before_start_is_kept():
    # lyrics_srt.go keeps both times; the clean-up only touches lines with cues
    [lyric] = parse_lyrics("00:00:05,000 --> 00:00:01,000\nBackwards")
    assert lyric["line"] == [{"start": 5000, "end": 1000, "value": "Backwards"}]


def test_srt_suffix_selects_the_parser():
    assert parse_lyrics(SRT, suffix=".srt")[0]["synced"] is True
    assert parse_lyrics(SRT, suffix=".txt")[0]["synced"] is False


# --------------------------------------------------------------------------- lyrics: TTML

TTML = """<?xml version="1.0" encoding="UTF-16"?>
<tt xmlns="http://www.w3.org/ns/ttml" xml:lang="EN">
  <body><div begin="10s">
    <p begin="1s" end="2.5s">Hello <span>big</span>
       world</p>
    <p begin="00:00:14.000">Two<br/>lines</p>
    <p xml:lang="fr" begin="00:20.5">Bonjour</p>
    <p begin="later">skipped</p>
  </div></body>
</tt>"""


def test_ttml_paragraphs_are_lines_per_language_with_resolved_times():
    en, fr = parse_lyrics(TTML)
    assert en == {"kind": "main", "lang": "en", "line": [
        {"start": 11000, "end": 13500, "value": "Hello big world"},
        {"start": 14000, "value": "Two\nlines"}], "synced": True}
    assert fr == {"kind": "main", "lang": "fr", "line": [{"start": 20500, "value": "Bonjour"}],
                  "synced": True}


def test_ttml_frame_and_tick_times_use_the_document_rates():
    doc = ('<tt xmlns="http://www.w3.org/ns/ttml" xmlns:ttp="http://www.w3.org/ns/ttml#parameter"'
           ' ttp:frameRate="25" ttp:tickRate="10"><body><div>'
           '<p begin="00:00:01:05">a</p><p begin="30t">b</p></div></body></tt>')
    [lyric] = parse_lyrics(doc)
    assert [ln["start"] for ln in lyric["line"]] == [1200, 3000]


def test_ttml_without_times_is_unsynced_with_default_language():
    [lyric] = parse_lyrics("<tt><body><p>one</p><p>  </p><p>two</p></body></tt>", "")
    assert lyric == {"kind": "main", "lang": "xxx", "line": [{"value": "one"}, {"value": "two"}],
                     "synced": False}


def test_malformed_ttml_falls_back_to_plain_text():
    [lyric] = parse_lyrics("<tt><body><p>unclosed</body>")
    assert lyric == {"lang": "xxx", "line": [{"value": "unclosed"}], "synced": False}


# --------------------------------------------------------------------------- lyrics: YAML

LYRICSFILE = """version: "1.0"
metadata:
  title: Song
  artist: Band
  language: PT
  offset_ms: 120
lines:
  - text: one
    start_ms: 1000
  - text: ignored when words are given
    start_ms: 2000
    words:
      - {text: "tw", start_ms: 2000}
      - {text: "o", start_ms: 2200, end_ms: 2600}
  - text: three
    start_ms: 3000
"""


def test_lyricsfile_lines_get_ends_from_words_or_the_next_line():
    [lyric] = parse_lyrics(LYRICSFILE)
    # The line with words has a cue per word (one voice: no agentId, no agents)
    assert lyric == {"displayArtist": "Band", "displayTitle": "Song", "kind": "main",
                     "lang": "pt",
                     "line": [{"start": 1000, "end": 2000, "value": "one"},
                              {"start": 2000, "end": 2600, "value": "two", "cue": [
                                  {"start": 2000, "end": 2200, "value": "tw",
                                   "byteStart": 0, "byteEnd": 1},
                                  {"start": 2200, "end": 2600, "value": "o",
                                   "byteStart": 2, "byteEnd": 2}]},
                              {"start": 3000, "value": "three"}],
                     "offset": 120, "synced": True}


def test_lyricsfile_plain_text_is_unsynced_in_the_callers_language():
    [lyric] = parse_lyrics('version: "1.0"\nplain: |\n  first\n\n  second\n', "ita")
    assert lyric == {"kind": "main", "lang": "ita", "line": [{"value": "first"}, {"value": "second"}],
                     "synced": False}


def test_yaml_of_another_version_is_plain_text():
    [lyric] = parse_lyrics('version: "2.0"\nplain: hi')
    assert lyric["line"] == [{"value": 'version: "2.0"'}, {"value": "plain: hi"}]


def test_instrumental_lyricsfile_is_an_empty_lyric_the_adapter_drops():
    text = 'version: "1.0"\nmetadata:\n  instrumental: true\n'
    # Go marshals its nil Line as "line": null; [] here (the adapter drops it either way)
    assert parse_lyrics(text) == [{"kind": "main", "lang": "xxx", "line": [],
                                   "synced": False}]
    assert parse_response({"lyrics": [{"text": text}]}) == []
