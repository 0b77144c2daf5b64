"""Matcher: song references matched against the mock library (ID > MBID > ISRC > fuzzy title),
with Navidrome's scope rules and texts, through wasm."""

from __future__ import annotations

import json

import pytest
from watplugins import host_call_plugin

import nd_notebook
from nd_notebook import Host
from nd_notebook.services.matcher import similarity

MATCHER = {"library": {}, "matcher": {}}


@pytest.fixture(scope="module")
def matcher_wasm():
    return host_call_plugin("matcher_matchsongs")


@pytest.fixture
def host(tmp_path):
    with Host(tmp_path / "data") as h:
        yield h


@pytest.fixture
def plugin(host, matcher_wasm):
    return host.load(matcher_wasm, name="match", permissions=MATCHER)


def match(plugin, songs: list[dict], username: str = "") -> dict:
    request = {"songs": songs, "opts": {"username": username}}
    return json.loads(plugin.call("call_matcher_matchsongs", json.dumps(request), raw=True))


def ids(response: dict) -> list:
    return [r and r["id"] for r in response["results"]]


def a_track(host, **where) -> dict:
    return next(t for t in host.library.tracks() if all(t[k] == v for k, v in where.items()))


# -- scope and errors -----------------------------------------------------------------------------

def test_empty_songs_give_no_results(plugin):
    assert match(plugin, []) == {}


def test_empty_songs_come_before_the_library_check(plugin):
    plugin.ctx.settings.all_libraries = False
    assert match(plugin, []) == {}


def test_no_library_scope_is_refused(plugin):
    plugin.ctx.settings.all_libraries = False  # the admin unticked every library after the load
    assert match(plugin, [{"name": "x"}]) == \
        {"error": "matcher: no libraries configured for this plugin"}


def test_unknown_user_is_not_found(plugin):
    assert match(plugin, [{"name": "x"}], "nobody") == {"error": 'matcher: user "nobody" not found'}


def test_user_outside_the_plugins_users_is_refused(host, matcher_wasm):
    alice = host.library.user_by_name("alice")
    plugin = host.load(matcher_wasm, name="match", permissions=MATCHER,
                       settings={"all_users": False, "users": [alice["id"]]})
    assert match(plugin, [{"name": "x"}], "bob") == \
        {"error": 'matcher: plugin is not allowed to act as user "bob"'}


def test_plugin_without_user_scope_cannot_scope_by_user(plugin):
    plugin.ctx.settings.all_users = False
    assert match(plugin, [{"name": "x"}], "alice") == \
        {"error": "matcher: plugin is not authorized to scope by user"}


def test_user_lookup_is_case_insensitive(host, plugin):
    t = a_track(host)
    assert ids(match(plugin, [{"id": t["id"], "name": ""}], "ALICE")) == [t["id"]]


# -- matching order ---------------------------------------------------------------------------------

def test_results_keep_the_input_length_with_null_for_no_match(host, plugin):
    t = a_track(host)
    assert ids(match(plugin, [{"name": "no such song"}, {"id": t["id"], "name": ""}])) == \
        [None, t["id"]]


def test_match_by_id(host, plugin):
    t = host.library.tracks()[10]
    assert ids(match(plugin, [{"id": t["id"], "name": "whatever"}])) == [t["id"]]


def test_match_by_musicbrainz_recording_id(host, plugin):
    t = host.library.tracks()[11]
    assert ids(match(plugin, [{"name": "", "mbid": t["mbz_recording_id"]}])) == [t["id"]]


def test_match_by_isrc(host, plugin):
    t = next(t for t in host.library.tracks() if t["tags"].get("isrc"))
    assert ids(match(plugin, [{"name": "", "isrc": t["tags"]["isrc"][0]}])) == [t["id"]]


def test_id_wins_over_mbid(host, plugin):
    a, b = host.library.tracks()[1], host.library.tracks()[2]
    assert ids(match(plugin, [{"id": a["id"], "name": "", "mbid": b["mbz_recording_id"]}])) == \
        [a["id"]]


def test_mbid_wins_over_isrc(host, plugin):
    a, b = [t for t in host.library.tracks() if t["tags"].get("isrc")][:2]
    songs = [{"name": "", "mbid": a["mbz_recording_id"], "isrc": b["tags"]["isrc"][0]}]
    assert ids(match(plugin, songs)) == [a["id"]]


def test_unknown_id_falls_through_to_the_title(host, plugin):
    t = host.library.tracks()[3]
    assert ids(match(plugin, [{"id": "gone", "name": t["title"], "artist": t["artist"]}])) == \
        [t["id"]]


def test_fuzzy_title_tolerates_a_typo_and_case(host, plugin):
    t = next(t for t in host.library.tracks() if len(t["title"]) > 8)
    typo = t["title"].upper()[:-1] + "x"
    assert ids(match(plugin, [{"name": typo, "artist": t["artist"]}])) == [t["id"]]


def test_title_below_the_fuzzy_threshold_is_no_match(host, plugin):
    t = host.library.tracks()[4]
    assert ids(match(plugin, [{"name": "Completely Different Words", "artist": t["artist"]}])) \
        == [None]


def test_fuzzy_title_needs_an_artist(host, plugin):
    t = host.library.tracks()[4]
    assert ids(match(plugin, [{"name": t["title"]}])) == [None]


def test_artist_may_come_from_the_artists_list(host, plugin):
    t = host.library.tracks()[5]
    song = {"name": t["title"], "artists": [{"name": t["artist"]}]}
    assert ids(match(plugin, [song])) == [t["id"]]


def test_leading_article_of_the_artist_is_ignored(host, plugin):
    t = next(t for t in host.library.tracks() if t["artist"].startswith("The "))
    song = {"name": t["title"], "artist": t["artist"][4:], "album": t["album"]}
    assert ids(match(plugin, [song])) == [t["id"]]


def test_closer_duration_wins_between_equal_titles(host, plugin):
    album = host.library.albums()[0]
    short = host.library.add_track("Twin Song", album["id"], duration=120.0)
    long = host.library.add_track("Twin Song", album["id"], duration=300.0)
    songs = [{"name": "Twin Song", "artist": album["album_artist"], "durationMs": 295000},
             {"name": "Twin Song", "artist": album["album_artist"], "duration": 121.0}]
    assert ids(match(plugin, songs)) == [long["id"], short["id"]]


def test_a_negative_duration_counts_as_no_duration(host, plugin):
    # songRefToAgentSong clamps a negative seconds duration to zero: no proximity to score,
    # so the first of two equal titles wins (here the longer), not the one nearer -1 s.
    album = host.library.albums()[0]
    long = host.library.add_track("Twin Song", album["id"], duration=300.0)
    host.library.add_track("Twin Song", album["id"], duration=120.0)
    songs = [{"name": "Twin Song", "artist": album["album_artist"], "duration": -1}]
    assert ids(match(plugin, songs)) == [long["id"]]


def test_average_rating_is_rounded_to_two_decimals(host, plugin):
    # Navidrome stores round(avg(rating), 2) in media_file.average_rating.
    t = a_track(host)
    for name, rating in (("r1", 5), ("r2", 4), ("r3", 4)):
        host.library.set_rating(host.library.add_user(name)["id"], t["id"], rating)
    assert match(plugin, [{"id": t["id"], "name": ""}])["results"][0]["averageRating"] == 4.33


def test_missing_track_never_matches(host, plugin):
    t = host.library.tracks()[6]
    host.library.update_track(t["id"], missing=True)
    assert ids(match(plugin, [{"id": t["id"], "name": ""}])) == [None]


def test_similarity_is_jaro_winkler():
    assert round(similarity("martha", "marhta"), 4) == 0.9611
    assert round(similarity("dwayne", "duane"), 4) == 0.84


# -- scope of the results ------------------------------------------------------------------------

def test_match_outside_the_plugins_libraries_is_null(host, matcher_wasm):
    plugin = host.load(matcher_wasm, name="match", permissions=MATCHER,
                       settings={"all_libraries": False, "libraries": [2]})
    in_1, in_2 = a_track(host, library_id=1), a_track(host, library_id=2)
    assert ids(match(plugin, [{"id": in_1["id"], "name": ""},
                              {"id": in_2["id"], "name": ""}])) == [None, in_2["id"]]


def test_user_scope_applies_the_users_libraries(host, plugin):
    host.library.add_user("carol", libraries=[2])
    in_1 = a_track(host, library_id=1)
    assert ids(match(plugin, [{"id": in_1["id"], "name": ""}], "carol")) == [None]


# -- the Track projection ----------------------------------------------------------------------

def test_track_carries_library_name_genres_tags_and_participants(host, plugin):
    t = host.library.tracks()[0]
    got = match(plugin, [{"id": t["id"], "name": ""}])["results"][0]
    assert got["libraryId"] == 1 and got["libraryName"] == "Music"
    assert got["genres"] == t["tags"]["genre"] and got["tags"] == t["tags"]
    assert [(p["role"], p["name"]) for p in got["participants"]] == \
        [("albumartist", t["album_artist"]), ("artist", t["artist"])]
    assert got["duration"] == t["duration"] and got["createdAt"] > 0


def test_without_username_no_annotations_are_given(host, plugin):
    alice = host.library.user_by_name("alice")
    t = a_track(host)
    host.library.star(alice["id"], t["id"], at=1_700_000_000)
    got = match(plugin, [{"id": t["id"], "name": ""}])["results"][0]
    assert not {"starred", "starredAt", "rating", "playCount", "playDate"} & set(got)


def test_with_username_the_users_annotations_are_given(host, plugin):
    alice = host.library.user_by_name("alice")
    t = a_track(host)
    host.library.star(alice["id"], t["id"], at=1_700_000_000)
    host.library.set_rating(alice["id"], t["id"], 4)
    got = match(plugin, [{"id": t["id"], "name": ""}], "alice")["results"][0]
    assert (got["starred"], got["starredAt"], got["rating"]) == (True, 1_700_000_000, 4)


def test_path_is_hidden_without_filesystem_permission(host, plugin):
    t = a_track(host)
    assert "path" not in match(plugin, [{"id": t["id"], "name": ""}])["results"][0]


def test_path_is_given_with_filesystem_permission(host, matcher_wasm):
    plugin = host.load(matcher_wasm, name="match",
                       permissions={"library": {"filesystem": True}, "matcher": {}})
    t = a_track(host)
    assert match(plugin, [{"id": t["id"], "name": ""}])["results"][0]["path"] == t["path"]


# -- a Go plugin built with the bundled PDK -------------------------------------------------------

GO_MATCHER = r'''
package main

import (
	"fmt"
	"strings"

	pdk "github.com/extism/go-pdk"
	"github.com/navidrome/navidrome/plugins/pdk/go/host"
	"github.com/navidrome/navidrome/plugins/pdk/go/types"
)

func main() {}

//go:wasmexport match
func match() int32 {
	parts := strings.SplitN(pdk.InputString(), "|", 2)
	tracks, err := host.MatcherMatchSongs(
		[]types.SongRef{{Name: parts[0], Artist: parts[1]}, {Name: "no such song", Artist: "nobody"}},
		host.MatchOptions{Username: "alice"})
	if err != nil {
		pdk.OutputString("error: " + err.Error())
		return 0
	}
	out := []string{}
	for _, t := range tracks {
		if t == nil {
			out = append(out, "nil")
		} else {
			out = append(out, fmt.Sprintf("%s/%s/%s", t.ID, t.Title, t.LibraryName))
		}
	}
	pdk.OutputString(strings.Join(out, " "))
	return 0
}
'''


@pytest.fixture(scope="module")
def go_matcher_wasm():
    return nd_notebook.build(GO_MATCHER)


@pytest.mark.slow
def test_go_plugin_matches_songs_with_nil_for_no_match(host, go_matcher_wasm):
    plugin = host.load(go_matcher_wasm, name="gomatch", permissions="auto")
    t = a_track(host)
    assert plugin.call("match", f"{t['title']}|{t['artist']}") == \
        f"{t['id']}/{t['title']}/Music nil"
