"""Driving plugins as Navidrome does: ``host.play`` to Go scrobblers, ``host.agents`` over Go
metadata agents (bundled PDK, real wasm, the mock library)."""

from __future__ import annotations

import pytest

import nd_notebook
from nd_notebook import Host
from nd_notebook.capabilities import AgentRetryLater
from nd_notebook.errors import LibraryError, PluginCallFailedError

pytestmark = pytest.mark.slow

SCROBBLER = """
package main

import (
	"strconv"
	"strings"

	"github.com/navidrome/navidrome/plugins/pdk/go/host"
	"github.com/navidrome/navidrome/plugins/pdk/go/scrobbler"
)

type s struct{}

func (s) IsAuthorized(req scrobbler.IsAuthorizedRequest) (bool, error) {
	return req.Username != "carol", nil
}

func (s) NowPlaying(req scrobbler.NowPlayingRequest) error {
	return host.KVStoreSet("np:"+req.Username,
		[]byte(req.Track.Title+"@"+strconv.Itoa(int(req.Position))))
}

func (s) Scrobble(req scrobbler.ScrobbleRequest) error {
	if strings.Contains(req.Track.Title, "Retry") {
		return scrobbler.ScrobblerErrorRetryLater
	}
	return host.KVStoreSet("sc:"+req.Username, []byte(req.Track.ID+"|"+req.Track.Artist+"|"+
		strconv.FormatInt(req.Timestamp, 10)+"|"+req.Track.Path))
}

func (s) PlaybackReport(req scrobbler.PlaybackReportRequest) error {
	return host.KVStoreSet("pr:"+req.Username, []byte(req.State+"@"+
		strconv.FormatInt(req.PositionMs, 10)))
}

func init() { scrobbler.Register(s{}) }
"""

# Authorizes every other question: yes for now-playing, no for the scrobble that follows.
FICKLE = """
package main

import (
	"github.com/navidrome/navidrome/plugins/pdk/go/host"
	"github.com/navidrome/navidrome/plugins/pdk/go/scrobbler"
)

type s struct{}

func (s) IsAuthorized(req scrobbler.IsAuthorizedRequest) (bool, error) {
	_, asked, err := host.KVStoreGet("asked")
	if err != nil {
		return false, err
	}
	if asked {
		return false, host.KVStoreDelete("asked")
	}
	return true, host.KVStoreSet("asked", []byte("1"))
}

func (s) NowPlaying(req scrobbler.NowPlayingRequest) error { return nil }

func (s) Scrobble(req scrobbler.ScrobbleRequest) error { return nil }

func (s) PlaybackReport(req scrobbler.PlaybackReportRequest) error { return nil }

func init() { scrobbler.Register(s{}) }
"""

AGENT = """
package main

import (
	"errors"
	"strings"

	extism "github.com/extism/go-pdk"
	"github.com/navidrome/navidrome/plugins/pdk/go/metadata"
)

type agent struct{}

func (agent) GetArtistBiography(req metadata.ArtistRequest) (*metadata.ArtistBiographyResponse, error) {
	knows, _ := extism.GetConfig("knows")
	if req.Name == "Broken" {
		return nil, errors.New("upstream unavailable")
	}
	if strings.HasPrefix(req.Name, "err:") {
		return nil, errors.New(strings.TrimPrefix(req.Name, "err:"))
	}
	if knows != "*" && !strings.Contains(knows, req.Name) {
		return nil, nil
	}
	who, _ := extism.GetConfig("who")
	return &metadata.ArtistBiographyResponse{Biography: who + " on " + req.Name}, nil
}

func init() { metadata.Register(agent{}) }
"""


@pytest.fixture(scope="module")
def scrobbler_wasm():
    return nd_notebook.build(SCROBBLER)


@pytest.fixture(scope="module")
def agent_wasm():
    return nd_notebook.build(AGENT)


@pytest.fixture
def host(tmp_path):
    with Host(tmp_path, library={"seed": 3, "artists": 3, "albums": 4, "tracks": 12,
                                 "users": 1, "playlists": 0}) as h:
        yield h


@pytest.fixture
def people(host):
    lib = host.library
    return {name: lib.add_user(name) for name in ("ann", "bob", "carol")}


def load_scrobbler(host, wasm, name="scrob", **settings):
    return host.load(wasm, name=name, permissions="kvstore,users",
                     settings=settings or None)


def kv(plugin, key):
    value, found = plugin.kvstore.get(key)
    return value.decode() if found else None


# --------------------------------------------------------------------------- host.play

def test_play_sends_now_playing_then_the_scrobble_with_the_start_time(host, people,
                                                                       scrobbler_wasm):
    plugin = load_scrobbler(host, scrobbler_wasm)
    track = host.library.tracks()[0]
    [row] = host.play("ann", track["id"], at=1_700_000_000.9, position=12)
    assert row == {"plugin": "scrob", "user": "ann", "track": track["id"],
                   "timestamp": 1_700_000_000, "authorized": True, "reason": None,
                   "now_playing": "ok", "now_playing_error": None,
                   "scrobble": "ok", "scrobble_error": None, "buffered": 0}
    assert kv(plugin, "np:ann") == f"{track['title']}@12"
    # Navidrome's scrobble sender runs on a context without the user: "username" is "".
    assert kv(plugin, "sc:") == f"{track['id']}|{track['artist']}|1700000000|"


def test_play_asks_is_authorized_before_now_playing_and_again_before_the_scrobble(
        host, people, scrobbler_wasm):
    load_scrobbler(host, scrobbler_wasm)
    host.play("ann", host.library.tracks()[0]["id"])
    assert list(host.events.frame("plugin_call", "scrob")["export"]) == [
        "nd_scrobbler_is_authorized", "nd_scrobbler_now_playing",
        "nd_scrobbler_is_authorized", "nd_scrobbler_scrobble"]


def test_a_user_authorized_for_now_playing_only_is_not_scrobbled(host, people):
    load_scrobbler(host, nd_notebook.build(FICKLE), name="fickle")
    [row] = host.play("ann", host.library.tracks()[0]["id"])
    assert (row["authorized"], row["now_playing"]) == (True, "ok")
    assert (row["scrobble"], row["scrobble_error"]) == (None,
                                                        "not sent: is_authorized returned false")


def test_play_records_the_play_in_the_library(host, people, scrobbler_wasm):
    load_scrobbler(host, scrobbler_wasm)
    track = host.library.tracks()[1]
    host.play("ann", track["id"], at=1_700_000_100)
    [scrobble] = host.library.scrobbles(people["ann"]["id"])
    assert (scrobble["media_file_id"], scrobble["submission_time"]) == (track["id"],
                                                                        1_700_000_100)
    assert host.library.annotation(people["ann"]["id"], track["id"])["play_count"] == 1


def test_play_finds_the_user_by_id_or_case_insensitive_name(host, people, scrobbler_wasm):
    load_scrobbler(host, scrobbler_wasm)
    track = host.library.tracks()[0]["id"]
    assert host.play(people["bob"]["id"], track)[0]["user"] == "bob"
    assert host.play("BOB", track)[0]["user"] == "bob"
    with pytest.raises(LibraryError):
        host.play("nobody", track)


def test_user_outside_the_plugin_scope_is_not_sent_anything(host, people, scrobbler_wasm):
    plugin = load_scrobbler(host, scrobbler_wasm, all_users=False, users=[people["bob"]["id"]])
    [row] = host.play("ann", host.library.tracks()[0]["id"])
    assert (row["authorized"], row["reason"]) == (False, "user not in the plugin's users scope")
    assert (row["now_playing"], row["scrobble"]) == (None, None)
    assert kv(plugin, "np:ann") is None
    assert host.events.frame("plugin_call", "scrob").empty  # is_authorized never called


def test_user_the_plugin_does_not_authorize_is_not_sent_anything(host, people,
                                                                  scrobbler_wasm):
    plugin = load_scrobbler(host, scrobbler_wasm)
    [row] = host.play("carol", host.library.tracks()[0]["id"])
    assert (row["authorized"], row["reason"]) == (False, "is_authorized returned false")
    assert kv(plugin, "np:carol") is None
    assert len(host.library.scrobbles(people["carol"]["id"])) == 1  # still recorded


def test_retry_later_is_reported_with_its_kind(host, people, scrobbler_wasm):
    load_scrobbler(host, scrobbler_wasm)
    track = host.library.tracks()[2]
    host.library.update_track(track["id"], title="Retry Me")
    [row] = host.play("ann", track["id"])
    assert (row["now_playing"], row["scrobble"]) == ("ok", "retry_later")
    assert row["scrobble_error"] == "plugin call failed: scrobbler(retry_later)"


def test_every_scrobbler_plugin_gets_its_own_row(host, people, scrobbler_wasm):
    load_scrobbler(host, scrobbler_wasm, name="one")
    load_scrobbler(host, scrobbler_wasm, name="two", all_users=False,
                   users=[people["bob"]["id"]])
    rows = host.play("bob", host.library.tracks()[0]["id"])
    assert [(r["plugin"], r["scrobble"]) for r in rows] == [("one", "ok"), ("two", "ok")]


def test_path_reaches_only_plugins_with_filesystem_access(host, people, scrobbler_wasm):
    plugin = host.load(scrobbler_wasm, name="fs", permissions={
        "kvstore": {}, "users": {}, "library": {"filesystem": True}})
    track = host.library.tracks()[0]
    host.play("ann", track["id"], at=5)
    assert kv(plugin, "sc:").endswith("|5|" + track["path"])


def test_a_track_outside_the_library_is_sent_but_not_recorded(host, people, scrobbler_wasm):
    plugin = load_scrobbler(host, scrobbler_wasm)
    [row] = host.play("ann", {"id": "ext-1", "title": "Elsewhere", "artist": "Someone"}, at=9)
    assert row["scrobble"] == "ok"
    assert kv(plugin, "sc:") == "ext-1|Someone|9|"
    assert host.library.scrobbles(people["ann"]["id"]) == []


def test_a_track_dict_without_participants_sends_empty_lists_not_null(host, people,
                                                                      scrobbler_wasm):
    # Navidrome builds a TrackInfo from a media file (participantsToArtistRefs: make(..., n)),
    # so a track without artists reaches the plugin as "artists":[], never null.
    load_scrobbler(host, scrobbler_wasm)
    host.play("ann", {"id": "ext-2", "title": "Bare", "artist": "Someone"}, at=9)
    [sent] = [e["input"] for e in host.events.select("plugin_call")
              if e["export"] == "nd_scrobbler_scrobble"]
    assert '"artists":[],"albumArtists":[]' in sent, sent


def test_unknown_artist_tracks_are_recorded_but_not_sent(host, people, scrobbler_wasm):
    plugin = load_scrobbler(host, scrobbler_wasm)
    track = host.library.tracks()[3]
    host.library.update_track(track["id"], artist="[Unknown Artist]")
    [row] = host.play("ann", track["id"])
    assert (row["authorized"], row["now_playing"], row["scrobble"]) == (False, None, None)
    assert row["reason"] == "track artist is [Unknown Artist]: not sent"
    assert kv(plugin, "np:ann") is None
    assert len(host.library.scrobbles(people["ann"]["id"])) == 1


def test_report_playback_reaches_authorized_scrobblers(host, people, scrobbler_wasm):
    plugin = load_scrobbler(host, scrobbler_wasm)
    [row] = host.report_playback("ann", host.library.tracks()[0]["id"], "paused",
                                 position_ms=61_000)
    assert (row["report"], row["error"]) == ("ok", None)
    assert kv(plugin, "pr:ann") == "paused@61000"


def test_report_playback_refuses_an_unknown_state(host, people, scrobbler_wasm):
    load_scrobbler(host, scrobbler_wasm)
    with pytest.raises(ValueError):
        host.report_playback("ann", host.library.tracks()[0]["id"], "rewinding")


# --------------------------------------------------------------------------- host.agents

def load_agent(host, wasm, name, knows, who):
    return host.load(wasm, name=name, permissions="auto", config={"knows": knows, "who": who})


def test_first_agent_with_an_answer_wins_in_load_order(host, agent_wasm):
    load_agent(host, agent_wasm, "first", "Nina", "first")
    load_agent(host, agent_wasm, "second", "*", "second")
    assert host.agents.artist_biography(name="Nina") == "first on Nina"
    assert host.agents.artist_biography(name="Miles") == "second on Miles"


def test_agents_order_is_the_configured_order(host, agent_wasm):
    load_agent(host, agent_wasm, "first", "*", "first")
    load_agent(host, agent_wasm, "second", "*", "second")
    host.agents_order = ["second", "first"]
    assert host.agents.artist_biography(name="Nina") == "second on Nina"


def test_an_agent_error_is_recorded_and_the_chain_goes_on(host, agent_wasm):
    load_agent(host, agent_wasm, "first", "*", "first")
    load_agent(host, agent_wasm, "second", "*", "second")
    host.agents_order = ["first", "second"]
    chain = host.agents
    assert chain.artist_biography(name="Broken") is None
    assert chain.last_attempts == [
        {"agent": "first", "outcome": "error", "error": "plugin call failed: upstream unavailable"},
        {"agent": "second", "outcome": "error",
         "error": "plugin call failed: upstream unavailable"}]


def test_not_implemented_exports_pass_to_the_next_agent(host, agent_wasm):
    load_agent(host, agent_wasm, "first", "*", "first")
    chain = host.agents
    assert chain.artist_url(name="Nina") is None
    assert chain.last_attempts == [{"agent": "first", "outcome": "not_found",
                                    "error": "function not implemented: nd_get_artist_url"}]


@pytest.mark.parametrize(("token", "outcome"), [
    ("agent(retry_later)", {"outcome": "retry_later", "retry_in": 0}),
    ("agent(retry_later:120)", {"outcome": "retry_later", "retry_in": 120}),
    ("agent(retry_later:999999)", {"outcome": "retry_later", "retry_in": 3600}),
    ("agent(retry_later:18446744074)", {"outcome": "retry_later", "retry_in": 3600}),
    ("useragent(retry_later)", {"outcome": "error"})])
def test_an_agent_asking_to_retry_later_is_recorded_with_its_delay(host, agent_wasm, token,
                                                                   outcome):
    # Navidrome's agentErr table (plugins/metadata_agent_test.go): the delay in seconds,
    # capped at an hour, even where scaling it to nanoseconds would overflow; the token inside
    # a longer word is no throttle.
    load_agent(host, agent_wasm, "first", "*", "first")
    chain = host.agents
    assert chain.artist_biography(name="err:rate limited (429): " + token) is None
    assert chain.last_attempts == [
        {"agent": "first", **outcome, "error": "plugin call failed: rate limited (429): " + token}]


def test_the_typed_helper_raises_agent_retry_later(host, agent_wasm):
    plugin = load_agent(host, agent_wasm, "first", "*", "first")
    with pytest.raises(AgentRetryLater) as caught:
        plugin.metadata.artist_biography(name="err:agent(retry_later:11)")
    assert (str(caught.value), caught.value.retry_in) == (
        "plugin call failed: agent(retry_later:11)", 11)
    assert isinstance(caught.value.cause, PluginCallFailedError)
