"""Navidrome version targeting: Host(navidrome="seed" | "head" | "YYYY-MM-DD") offers the host
functions, permissions, capabilities and behaviours of that version (nd_notebook.versions,
from the ABI change history), and ``nd-notebook check`` finds the oldest version a package
loads on."""

from __future__ import annotations

import itertools
import json

import pytest
from test_cassette import local_server
from watplugins import _ENV, _HELPERS, host_call_plugin, wat

import nd_notebook
from nd_notebook import Host, abi, versions
from nd_notebook.capabilities import ScrobblerUnrecoverable
from nd_notebook.cli import main as cli_main
from nd_notebook.errors import LoadError, ManifestError
from nd_notebook.manifest import Manifest
from nd_notebook.package import write_package
from nd_notebook.versions import NotCalledByTargetError

MATCHER = """
package main

import (
	"github.com/navidrome/navidrome/plugins/pdk/go/host"
	"github.com/navidrome/navidrome/plugins/pdk/go/metadata"
	"github.com/navidrome/navidrome/plugins/pdk/go/types"
)

type agent struct{}

// GetArtistTopSongs: the songs of the library matching the artist's name.
func (agent) GetArtistTopSongs(req metadata.TopSongsRequest) (*metadata.TopSongsResponse, error) {
	tracks, err := host.MatcherMatchSongs([]types.SongRef{{Name: req.Name}}, host.MatchOptions{})
	if err != nil {
		return nil, err
	}
	songs := []metadata.SongRef{}
	for _, t := range tracks {
		if t != nil {
			songs = append(songs, metadata.SongRef{ID: t.ID, Name: t.Title})
		}
	}
	return &metadata.TopSongsResponse{Songs: songs}, nil
}

func init() { metadata.Register(agent{}) }
"""
MATCHER_MANIFEST = {"name": "matcher", "author": "test", "version": "1",
                    "permissions": {"matcher": {}, "library": {}}}
UNKNOWN_MATCHER_IMPORT = ("Unable to create Extism plugin: unknown import: "
                          "extism:host/user::matcher_matchsongs has not been defined")


@pytest.fixture(scope="module")
def matcher_wasm():
    return nd_notebook.build(MATCHER)


def callbacks_plugin() -> bytes:
    """Exports nd_on_init, nd_lyrics_get_lyrics and a failing nd_scrobbler_playback_report
    (plus the scrobbler exports of the seed)."""
    return wat("(module\n" + _ENV + _HELPERS + """
  (func (export "nd_on_init") (result i32) (i32.const 0))
  (func (export "nd_lyrics_get_lyrics") (result i32) (i32.const 0))
  (func (export "nd_scrobbler_is_authorized") (result i32) (i32.const 0))
  (func (export "nd_scrobbler_playback_report") (result i32)
    (call $error_set (call $message_block)) (i32.const -1)))""")


def lifecycle_plugin() -> bytes:
    return wat("(module\n" + _ENV + _HELPERS + """
  (func (export "nd_on_init") (result i32) (i32.const 0)))""")


# -- host functions and permissions -------------------------------------------------------------

@pytest.mark.slow
def test_plugin_importing_matcher_matchsongs_fails_to_load_on_seed(tmp_path, matcher_wasm):
    with Host(tmp_path, navidrome="seed") as host, pytest.raises(LoadError) as e:
        host.load(matcher_wasm, name="matcher", manifest=MATCHER_MANIFEST)
    assert str(e.value) == UNKNOWN_MATCHER_IMPORT
    assert e.value.__notes__ == [
        ('(Navidrome, on wazero: "matcher_matchsongs" is not exported in module '
        '"extism:host/user")'),
        ("matcher_matchsongs is new in Navidrome f580d3ea7 (2026-07-01); this host emulates "
        "navidrome='seed'")]


@pytest.mark.slow
def test_plugin_importing_matcher_matchsongs_loads_on_head(tmp_path, matcher_wasm):
    with Host(tmp_path, navidrome="head") as host:
        plugin = host.load(matcher_wasm, name="matcher", manifest=MATCHER_MANIFEST)
        assert plugin.capabilities == ["MetadataAgent"]
        assert "matcher_matchsongs" in plugin.imports


@pytest.mark.parametrize(("date", "loads"), [("2026-06-30", False), ("2026-07-01", True)])
def test_a_host_function_exists_from_the_date_of_its_commit(tmp_path, date, loads):
    wasm = host_call_plugin("matcher_matchsongs")
    with Host(tmp_path, navidrome=date) as host:
        if loads:
            host.load(wasm, name="m", manifest=MATCHER_MANIFEST)
        else:
            with pytest.raises(LoadError, match="^" + UNKNOWN_MATCHER_IMPORT):
                host.load(wasm, name="m", manifest=MATCHER_MANIFEST)


def test_seed_ignores_permission_keys_it_does_not_know(tmp_path):
    manifest = {"name": "m", "author": "a", "version": "1", "permissions": {"matcher": {}}}
    with pytest.raises(ManifestError, match="'matcher' permission requires 'library' permission"):
        Manifest.parse(manifest)  # HEAD's rule
    with Host(tmp_path, navidrome="seed") as host:
        plugin = host.load(lifecycle_plugin(), name="p", manifest=Manifest.parse(
            {**manifest, "permissions": {"matcher": {}, "library": {}}}))
        assert plugin.permissions == {"library": {"filesystem": False}}
        assert "Matcher" not in plugin.services


@pytest.mark.parametrize("permissions", [{"matcher": {}}, {"scrobbleRetriever": 5},
                                         {"storage": "yes", "cache": {}}])
def test_seed_reads_a_package_without_head_only_rules_or_types(tmp_path, permissions):
    # Seed's generated Permissions has no matcher/storage/scrobbleRetriever field: the keys
    # are skipped by its decoder, so neither their types nor their cross-field rules apply.
    manifest = {"name": "m", "author": "a", "version": "1", "permissions": permissions}
    package = write_package(tmp_path / "m.ndp", manifest, lifecycle_plugin())
    with Host(tmp_path / "seed", navidrome="seed") as host:
        plugin = host.load(package)
        assert set(plugin.permissions) <= {"cache"}
    with Host(tmp_path / "head") as host, pytest.raises(LoadError):
        host.load(package)


def test_seed_decodes_experimental_and_head_ignores_it(tmp_path):
    manifest = {"name": "m", "author": "a", "version": "1", "experimental": {"threads": "x"}}
    package = write_package(tmp_path / "m.ndp", manifest, lifecycle_plugin())
    with Host(tmp_path / "seed", navidrome="seed") as host, pytest.raises(LoadError) as e:
        host.load(package)
    assert str(e.value) == (
        "opening package: parsing manifest: parsing manifest JSON: json: cannot unmarshal "
        "string into Go struct field Experimental.experimental.threads of type "
        "plugins.ThreadsFeature")
    good = {**manifest, "experimental": {"threads": {"reason": "workers"}}}
    with Host(tmp_path / "seed2", navidrome="seed") as host:
        assert host.load(write_package(tmp_path / "g.ndp", good, lifecycle_plugin()))
    with Host(tmp_path / "head") as host:
        assert host.load(package)


@pytest.mark.parametrize("plugin_id", ["abc.", "trailing ", "back\\slash"])
def test_plugin_id_rule_applies_from_77726af59(tmp_path, plugin_id):
    with Host(tmp_path / "before", navidrome="2026-08-02") as host:
        assert host.load(lifecycle_plugin(), name=plugin_id).id == plugin_id
    with Host(tmp_path / "after", navidrome="2026-08-03") as host, \
            pytest.raises(LoadError) as e:
        host.load(lifecycle_plugin(), name=plugin_id)
    assert str(e.value) == f"invalid plugin ID {json.dumps(plugin_id)}"


@pytest.mark.parametrize("plugin_id", ["", ".", "..", "a/b"])
def test_an_id_that_cannot_name_a_data_folder_is_refused_on_every_version(tmp_path, plugin_id):
    with Host(tmp_path, navidrome="seed") as host, pytest.raises(LoadError) as e:
        host.load(lifecycle_plugin(), name=plugin_id)
    assert str(e.value) == f"invalid plugin ID {json.dumps(plugin_id)}"


def test_unknown_permission_is_ignored_so_the_import_fails_at_seed(tmp_path):
    with Host(tmp_path, navidrome="seed") as host, pytest.raises(LoadError) as e:
        host.load(host_call_plugin("storage_getstoragepath"), name="s", permissions="storage")
    assert str(e.value).startswith("Unable to create Extism plugin: unknown import: "
                                   "extism:host/user::storage_getstoragepath has not been defined")


# -- capabilities and exports ---------------------------------------------------------------

def test_seed_does_not_detect_capabilities_added_after_it(tmp_path):
    with Host(tmp_path / "seed", navidrome="seed") as seed, \
            Host(tmp_path / "head", navidrome="head") as head:
        kwargs = {"name": "p", "permissions": "users"}
        assert seed.load(callbacks_plugin(), **kwargs).capabilities == ["Scrobbler", "Lifecycle"]
        assert head.load(callbacks_plugin(), **kwargs).capabilities == [
            "Scrobbler", "Lifecycle", "Lyrics"]


def test_export_the_version_does_not_know_is_never_called(tmp_path):
    with Host(tmp_path, navidrome="seed") as host:
        plugin = host.load(callbacks_plugin(), name="p", permissions="users")
        with pytest.raises(NotCalledByTargetError) as e:
            plugin.call("nd_lyrics_get_lyrics", {})
    assert str(e.value) == ("nd-notebook: Navidrome seed does not call nd_lyrics_get_lyrics "
                            "(Lyrics capability new in f03ca44a8, 2026-03-03)")


@pytest.mark.parametrize(("date", "called"), [("2026-05-01", False), ("2026-05-02", True)])
def test_playback_report_is_sent_from_ae0e0c89d_on(tmp_path, date, called):
    with Host(tmp_path, navidrome=date) as host:
        plugin = host.load(callbacks_plugin(), name="p", permissions="users")
        if called:
            with pytest.raises(ScrobblerUnrecoverable):
                plugin.scrobbler.playback_report(username="alice", state="playing")
        else:  # Navidrome did not know the export yet: nothing reaches the plugin
            assert plugin.scrobbler.playback_report(username="alice", state="playing") is None


# -- behaviours ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("date", "status"), [("2026-03-19", 200), ("2026-03-20", 302)])
def test_no_follow_redirects_is_ignored_before_03844a9a3(tmp_path, date, status):
    with local_server() as server, Host(tmp_path, navidrome=date) as host:
        plugin = host.load(host_call_plugin("http_send"), name="h",
                           permissions={"http": {"requiredHosts": ["127.0.0.1"]}})
        request = {"request": {"method": "GET", "url": server.base + "/redirect",
                               "noFollowRedirects": True}}
        assert plugin.call("call_http_send", request)["result"]["statusCode"] == status


def scheduler_plugin() -> bytes:
    """``call`` forwards its input to scheduler_schedulerecurring; nd_scheduler_callback exists."""
    return wat("(module\n" + _ENV + '  (import "extism:host/user" "scheduler_schedulerecurring" '
               "(func $recurring (param i64) (result i64)))\n" + _HELPERS + """
  (func (export "call") (result i32)
    (local $r i64)
    (local.set $r (call $recurring (call $input_block)))
    (call $output_set (local.get $r) (call $length (local.get $r)))
    (i32.const 0))
  (func (export "nd_scheduler_callback") (result i32) (i32.const 0)))""")


@pytest.mark.parametrize(("date", "accepted"), [("2026-03-19", False), ("2026-03-20", True)])
def test_cron_with_seconds_is_accepted_from_5cd1fcb49(tmp_path, date, accepted):
    with Host(tmp_path, clock="virtual", navidrome=date) as host:
        plugin = host.load(scheduler_plugin(), name="s", permissions="scheduler")
        answer = plugin.call("call", {"cronExpression": "*/30 * * * * *", "payload": "",
                                      "scheduleId": "tick"})
    if accepted:
        assert answer == {"newScheduleId": "tick"}
    else:
        assert answer["error"].startswith("failed to schedule task: expected exactly 5 fields")


def test_service_creation_error_fails_the_load_from_205c85da5(tmp_path):
    manifest = {"name": "k", "author": "a", "version": "1",
                "permissions": {"kvstore": {"maxSize": "lots"}}}
    with Host(tmp_path / "head") as host, pytest.raises(LoadError) as e:
        host.load(callbacks_plugin(), name="k", manifest=manifest, permissions="users")
    assert str(e.value).startswith('creating KVStore service: invalid maxSize "lots"')
    with Host(tmp_path / "old", navidrome="2026-07-09") as host:
        plugin = host.load(callbacks_plugin(), name="k", manifest=manifest, permissions="users")
        assert "KVStore" not in plugin.services  # only logged; its functions are not defined
        with pytest.raises(LoadError, match="unknown import: extism:host/user::kvstore_get"):
            host.load(host_call_plugin("kvstore_get"), name="k2", manifest=manifest)


# -- the version table ------------------------------------------------------------------------

def test_every_head_only_abi_row_is_introduced_by_a_change():
    seed, head = versions.target("seed"), versions.target("head")
    rows = ([("services", s.name) for s in abi.SERVICES if s.since == "head"]
            + [("permissions", p.key) for p in abi.PERMISSIONS if p.since == "head"]
            + [("capabilities", c.name) for c in abi.CAPABILITIES if c.since == "head"]
            + [("structs", f"{s.package}.{s.name}") for s in abi.STRUCTS if s.since == "head"])
    exports = [e.name for e in abi.EXPORTS if e.since == "head"]
    for kind, name in rows:
        assert seed.introduced_by(kind, name) is not None, (kind, name)
    for name in exports:
        assert not seed.knows_export(name) and head.knows_export(name), name
    assert head.host_functions == {f.import_name for f in abi.HOST_FUNCTIONS}
    assert seed.host_functions == {f.import_name for f in abi.HOST_FUNCTIONS if f.since == "seed"}


def test_each_version_includes_everything_before_it():
    targets = versions.targets()
    assert targets[0].name == "seed" and targets[-1].name == "head"
    for older, newer in itertools.pairwise(targets):
        assert set(older.changes) < set(newer.changes)


def test_a_date_names_the_state_at_the_end_of_that_day():
    assert [c.commit for c in versions.target("2026-03-03").changes] == ["eeb1bd5f4", "f03ca44a8"]
    assert versions.target("2026-08-15").changes != versions.target("head").changes


def test_a_date_before_the_seed_is_refused():
    with pytest.raises(ValueError) as e:
        Host(navidrome="2026-03-02")
    assert str(e.value) == ("navidrome='2026-03-02' is before the seed API (668869b6c, "
                            "2026-03-03): nd-notebook emulates the seed and later versions")


def test_an_unknown_version_name_is_refused():
    with pytest.raises(ValueError, match="navidrome must be 'seed', 'head' or a date"):
        Host(navidrome="latest")


# -- nd-notebook check ------------------------------------------------------------------------

def test_check_reports_the_oldest_version_a_package_loads_on(tmp_path, capsys):
    ndp = tmp_path / "matcher.ndp"
    write_package(ndp, Manifest.parse(MATCHER_MANIFEST), host_call_plugin("matcher_matchsongs"))
    assert cli_main(["check", "--navidrome", "seed", str(ndp)]) == 1
    out = capsys.readouterr().out
    assert "  navidrome=seed: does not load" in out
    assert "  oldest target 2026-07-01" in out
    assert f"  problem       {UNKNOWN_MATCHER_IMPORT}" in out


def test_check_of_a_package_loading_everywhere_names_the_seed(tmp_path, capsys):
    ndp = tmp_path / "cache.ndp"
    manifest = {"name": "c", "author": "a", "version": "1", "permissions": {"cache": {}}}
    write_package(ndp, Manifest.parse(manifest), host_call_plugin("cache_getstring"))
    assert cli_main(["check", str(ndp)]) == 0
    out = capsys.readouterr().out
    assert "  navidrome=head: loads" in out and "  oldest target seed" in out
    assert "  imports       cache_getstring" in out


def test_check_reports_an_import_its_manifest_does_not_permit(tmp_path, capsys):
    ndp = tmp_path / "nope.ndp"
    manifest = {"name": "n", "author": "a", "version": "1"}
    write_package(ndp, Manifest.parse(manifest), host_call_plugin("cache_getstring"))
    assert cli_main(["check", str(ndp)]) == 1
    out = capsys.readouterr().out
    assert ("  problem       imports cache_getstring but the manifest does not declare the 'cache' "
            "permission") in out
    assert "  oldest target none: it loads on no version" in out


LYRICS_AND_BUILTIN_HTTP = wat("(module\n" + _ENV + '  (import "extism:host/env" "http_request" '
                              "(func $http_request (param i64 i64) (result i64)))\n" + _HELPERS + """
  (func (export "nd_lyrics_get_lyrics") (result i32) (i32.const 0))
  (func (export "nd_on_init") (result i32) (i32.const 0)))""")


def test_check_names_capabilities_the_version_does_not_call(tmp_path, capsys):
    ndp = tmp_path / "lyrics.ndp"
    manifest = {"name": "l", "author": "a", "version": "1",
                "permissions": {"http": {"requiredHosts": ["lrclib.net"]}}}
    write_package(ndp, Manifest.parse(manifest), LYRICS_AND_BUILTIN_HTTP)
    assert cli_main(["check", "--navidrome", "seed", str(ndp)]) == 0
    out = capsys.readouterr().out
    assert "  capabilities  Lifecycle\n" in out
    assert ("  note          Lyrics is not called: Navidrome seed does not call "
            "nd_lyrics_get_lyrics (Lyrics capability new in f03ca44a8, 2026-03-03)") in out
    assert cli_main(["check", str(ndp)]) == 0
    assert "  capabilities  Lifecycle, Lyrics\n" in capsys.readouterr().out


def test_check_counts_extisms_http_request_as_needing_the_http_permission(tmp_path, capsys):
    ndp = tmp_path / "fetch.ndp"
    manifest = {"name": "f", "author": "a", "version": "1",
                "permissions": {"http": {"requiredHosts": ["lrclib.net"]}}}
    write_package(ndp, Manifest.parse(manifest), LYRICS_AND_BUILTIN_HTTP)
    assert cli_main(["check", str(ndp)]) == 0
    out = capsys.readouterr().out
    assert "  imports       no Navidrome host functions; Extism's http_request\n" in out
    assert "  permissions   declared: http; needed by the imports: http\n" in out
    assert "declared but not imported" not in out and "names no http.requiredHosts" not in out
    # Without hosts Navidrome still loads it, and every request fails: a note, not a problem.
    write_package(ndp, Manifest.parse({"name": "f", "author": "a", "version": "1"}),
                  LYRICS_AND_BUILTIN_HTTP)
    assert cli_main(["check", str(ndp)]) == 0
    assert ("  note          imports Extism's http_request but the manifest names no "
            "http.requiredHosts: every such request fails (HTTP request to '<url>' is not "
            "allowed)") in capsys.readouterr().out


def test_auto_permissions_grant_http_to_extisms_http_request(tmp_path):
    with Host(tmp_path) as host:
        plugin = host.load(LYRICS_AND_BUILTIN_HTTP, name="auto", permissions="auto")
        assert plugin.permissions == {"http": {}}
        kept = host.load(LYRICS_AND_BUILTIN_HTTP, name="kept", permissions="auto",
                         manifest={"name": "k", "author": "a", "version": "1",
                                   "permissions": {"http": {"requiredHosts": ["lrclib.net"]}}})
        assert kept.permissions == {"http": {"requiredHosts": ["lrclib.net"]}}


@pytest.mark.parametrize("spec", ["1999-99-99", "2026-02-30"])
def test_a_date_no_calendar_has_is_refused_as_such(spec):
    with pytest.raises(ValueError) as e:
        versions.target(spec)
    assert str(e.value) == f"navidrome={spec!r} is no calendar date (YYYY-MM-DD)"
