"""Navidrome's scrobble buffer behind ``host.play``: a Go scrobbler (bundled PDK, real wasm)
that answers ``retry_later`` while its KVStore says the service is down."""
from __future__ import annotations

import pytest

import nd_notebook
from nd_notebook import Host, events

pytestmark = pytest.mark.slow

SCROBBLER = """
package main

import (
	"errors"
	"strconv"
	"strings"

	"github.com/navidrome/navidrome/plugins/pdk/go/host"
	"github.com/navidrome/navidrome/plugins/pdk/go/scrobbler"
)

type s struct{}

func bump(key string) error {
	n := 0
	if v, ok, _ := host.KVStoreGet(key); ok {
		n, _ = strconv.Atoi(string(v))
	}
	return host.KVStoreSet(key, []byte(strconv.Itoa(n+1)))
}

func (s) IsAuthorized(req scrobbler.IsAuthorizedRequest) (bool, error) {
	return true, bump("asked")
}
func (s) NowPlaying(req scrobbler.NowPlayingRequest) error { return nil }
func (s) Scrobble(req scrobbler.ScrobbleRequest) error {
	if _, down, _ := host.KVStoreGet("down"); down {
		return scrobbler.ScrobblerErrorRetryLater
	}
	if strings.Contains(req.Track.Title, "Bad") {
		return errors.New("rejected by the service")
	}
	sent, _, _ := host.KVStoreGet("sent")
	return host.KVStoreSet("sent", append(sent, []byte(req.Track.Title+"@"+
		strconv.FormatInt(req.Timestamp, 10)+";")...))
}
func (s) PlaybackReport(req scrobbler.PlaybackReportRequest) error { return nil }
func init() { scrobbler.Register(s{}) }
"""

RETRY = "plugin call failed: scrobbler(retry_later)"


@pytest.fixture(scope="module")
def wasm():
    return nd_notebook.build(SCROBBLER)


@pytest.fixture
def host(tmp_path):
    with Host(tmp_path, clock="virtual", library={"seed": 5, "artists": 2, "albums": 2,
                                                  "tracks": 6, "users": 1,
                                                  "playlists": 0}) as h:
        h.library.add_user("ann")
        for i, track in enumerate(h.library.tracks()[:4]):
            h.library.update_track(track["id"], title=f"T{i}")
        yield h


def load(host, wasm):
    return host.load(wasm, name="scrob", permissions="kvstore,users")


def kv(plugin, key):
    value, found = plugin.kvstore.get(key)
    return value.decode() if found else None


def tracks(host):
    return [t["id"] for t in host.library.tracks()[:4]]


def test_retry_later_keeps_the_scrobble_and_sends_it_5_s_later(host, wasm):
    plugin = load(host, wasm)
    plugin.kvstore.set("down", b"1")
    [row] = host.play("ann", tracks(host)[0], at=100)
    assert (row["scrobble"], row["scrobble_error"], row["buffered"]) == ("retry_later", RETRY, 1)
    plugin.kvstore.delete("down")
    host.run_for(4.9)
    assert kv(plugin, "sent") is None
    assert [e["attempts"] for e in host.scrobble_buffer()] == [1]
    host.run_for(0.2)
    assert kv(plugin, "sent") == "T0@100;"
    assert host.scrobble_buffer() == []


def test_the_retry_comes_back_every_5_s_while_the_plugin_says_retry_later(host, wasm):
    plugin = load(host, wasm)
    plugin.kvstore.set("down", b"1")
    host.play("ann", tracks(host)[0], at=100)
    host.run_for(16)
    [entry] = host.scrobble_buffer("scrob")
    assert (entry["attempts"], entry["last_error"]) == (4, RETRY)  # at 0, 5, 10 and 15 s


def test_a_later_scrobble_waits_behind_the_one_to_retry(host, wasm):
    plugin = load(host, wasm)
    plugin.kvstore.set("down", b"1")
    host.play("ann", tracks(host)[0], at=100)
    [row] = host.play("ann", tracks(host)[1], at=200)
    assert (row["scrobble"], row["buffered"]) == ("buffered", 2)
    assert row["scrobble_error"] == "waiting behind an earlier scrobble to be retried"
    assert [e["attempts"] for e in host.scrobble_buffer()] == [2, 0]  # the older one re-sent


def test_stored_scrobbles_go_out_oldest_play_first_at_the_next_scrobble(host, wasm):
    plugin = load(host, wasm)
    plugin.kvstore.set("down", b"1")
    host.play("ann", tracks(host)[0], at=300)
    host.play("ann", tracks(host)[1], at=100)
    plugin.kvstore.delete("down")
    [row] = host.play("ann", tracks(host)[2], at=200)
    assert (row["scrobble"], row["buffered"]) == ("ok", 0)
    assert kv(plugin, "sent") == "T1@100;T2@200;T0@300;"


def test_a_stored_scrobble_is_sent_without_asking_is_authorized_again(host, wasm):
    plugin = load(host, wasm)
    plugin.kvstore.set("down", b"1")
    host.play("ann", tracks(host)[0], at=100)
    asked = kv(plugin, "asked")
    plugin.kvstore.delete("down")
    host.run_for(6)
    assert kv(plugin, "sent") == "T0@100;"
    assert kv(plugin, "asked") == asked == "2"  # now-playing's question and the scrobble's


def test_any_other_error_drops_the_scrobble_with_navidromes_log(host, wasm):
    plugin = load(host, wasm)
    host.library.update_track(tracks(host)[3], title="Bad")
    [row] = host.play("ann", tracks(host)[3], at=100)
    assert (row["scrobble"], row["buffered"]) == ("unrecoverable", 0)
    assert host.scrobble_buffer() == []
    [log] = [e for e in host.events.select(events.SERVICE_LOG) if e["service"] == "Scrobbler"]
    assert (log["level"], log["message"]) == ("error",
                                              "Error sending scrobble to service. Discarding")
    assert plugin.id == log.plugin_id


def test_retry_later_logs_that_the_scrobble_will_be_retried(host, wasm):
    plugin = load(host, wasm)
    plugin.kvstore.set("down", b"1")
    host.play("ann", tracks(host)[0], at=100)
    [log] = [e for e in host.events.select(events.SERVICE_LOG) if e["service"] == "Scrobbler"]
    assert (log["level"], log["message"], log["error"]) == (
        "warn", "Could not send scrobble. Will be retried", RETRY)


def test_unloading_stops_the_retries_and_a_reload_sends_what_was_stored(host, wasm):
    plugin = load(host, wasm)
    plugin.kvstore.set("down", b"1")
    host.play("ann", tracks(host)[0], at=100)
    host.unload("scrob")
    host.run_for(30)
    assert [e["attempts"] for e in host.scrobble_buffer()] == [1]
    plugin = load(host, wasm)  # same id, same data folder: its KVStore still says down
    plugin.kvstore.delete("down")
    host.play("ann", tracks(host)[1], at=200)
    assert kv(plugin, "sent") == "T0@100;T1@200;"


def test_a_stored_track_removed_from_the_library_is_sent_as_it_was_played(host, wasm):
    plugin = load(host, wasm)
    plugin.kvstore.set("down", b"1")
    first = tracks(host)[0]
    host.play("ann", first, at=100)
    host.library.remove_track(first)
    plugin.kvstore.delete("down")
    host.run_for(6)
    assert kv(plugin, "sent") == "T0@100;"


def test_users_with_fewer_stored_scrobbles_go_first(host, wasm):
    plugin = load(host, wasm)
    host.library.add_user("bob")
    plugin.kvstore.set("down", b"1")
    host.play("ann", tracks(host)[0], at=100)
    host.play("ann", tracks(host)[1], at=101)
    host.play("bob", tracks(host)[2], at=300)
    plugin.kvstore.delete("down")
    host.run_for(6)
    assert kv(plugin, "sent") == "T2@300;T0@100;T1@101;"
