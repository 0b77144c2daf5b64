"""The %%ndplugin / %ndplugin magics, driven through a real IPython shell.

Go cells are compiled by the real Go toolchain (marked slow); WebAssembly-text cells cover the
load-time behaviour quickly.
"""

from __future__ import annotations

import json
import uuid

import pytest
from IPython.core.error import UsageError
from IPython.testing import globalipapp
from IPython.utils.capture import capture_output

from nd_notebook import Host
from nd_notebook.errors import LoadError, NotImplementedByPluginError, explained

# The done condition: config, cache and kvstore through host.*, a metadata method.
BIO_CELL = """\
package main

import (
	"strconv"

	"github.com/navidrome/navidrome/plugins/pdk/go/host"
	"github.com/navidrome/navidrome/plugins/pdk/go/metadata"
)

type agent struct{}

func init() { metadata.Register(agent{}) }

func (agent) GetArtistBiography(req metadata.ArtistRequest) (*metadata.ArtistBiographyResponse, error) {
	raw, _, err := host.KVStoreGet("lookups:" + req.Name)
	if err != nil {
		return nil, err
	}
	n, _ := strconv.Atoi(string(raw))
	if err := host.KVStoreSet("lookups:"+req.Name, []byte(strconv.Itoa(n+1))); err != nil {
		return nil, err
	}
	if bio, found, err := host.CacheGetString("bio:" + req.Name); err != nil {
		return nil, err
	} else if found {
		return &metadata.ArtistBiographyResponse{Biography: bio}, nil
	}
	greeting, _ := host.ConfigGet("greeting")
	bio := greeting + ", " + req.Name + "!"
	if err := host.CacheSetString("bio:"+req.Name, bio, 3600); err != nil {
		return nil, err
	}
	return &metadata.ArtistBiographyResponse{Biography: bio}, nil
}

func main() {}
"""
BIO_LINE = "bio --permissions cache,kvstore:maxSize=10KB --config greeting=Hi"

# Go with a type error on cell line 6 (line 1 of the notebook cell is the %%ndplugin line).
BROKEN_GO = """\
package main

func main() {}

func answer() int { return "forty-two" }
"""

# A WebAssembly-text plugin importing host functions, exporting `call_<import>`, which sends
# the call input as the request and outputs the host's response.
WAT_ENV = """
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "length" (func $length (param i64) (result i64)))
  (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
  (import "extism:host/env" "input_length" (func $input_length (result i64)))
  (import "extism:host/env" "input_load_u8" (func $input_load_u8 (param i64) (result i32)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (memory (export "memory") 1)
  (func $input_block (result i64)
    (local $n i64) (local $i i64) (local $blk i64)
    (local.set $n (call $input_length))
    (local.set $blk (call $alloc (local.get $n)))
    (block $done (loop $next
      (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
      (call $store_u8 (i64.add (local.get $blk) (local.get $i))
                      (call $input_load_u8 (local.get $i)))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br $next)))
    (local.get $blk))
  (func (export "nd_get_artist_mbid") (result i32) (i32.const -2))
  (func (export "nd_trap") (result i32) (unreachable))
"""


def wat_cell(*imports: str) -> str:
    decls = "".join(f'  (import "extism:host/user" "{n}" (func ${n} (param i64) (result i64)))\n'
                    for n in imports)
    calls = "".join(f"""  (func (export "call_{n}") (result i32)
    (local $r i64)
    (local.set $r (call ${n} (call $input_block)))
    (call $output_set (local.get $r) (call $length (local.get $r)))
    (i32.const 0))
""" for n in imports)
    return f"(module\n{decls}{WAT_ENV}{calls})\n"


@pytest.fixture
def ip():
    """A real IPython shell with the extension freshly loaded (so a fresh default Host),
    producing every MIME type as a notebook kernel does."""
    shell = globalipapp.start_ipython() or globalipapp.get_ipython()
    formatter = shell.display_formatter
    active = formatter.active_types
    formatter.active_types = formatter.format_types
    shell.run_line_magic("load_ext", "nd_notebook")
    before = set(shell.user_ns)
    yield shell
    shell.run_line_magic("unload_ext", "nd_notebook")
    formatter.active_types = active
    for name in set(shell.user_ns) - before:
        del shell.user_ns[name]


def magics(shell):
    return shell.magics_manager.registry["NDPluginMagics"]


def run_cell(shell, text: str) -> str:
    """Run a cell as a notebook would and return everything it printed."""
    with capture_output() as cap:
        shell.run_cell(text)
    return cap.stdout + cap.stderr


def shown(cap) -> list[dict]:
    return [o.data for o in cap.outputs]


# -- the done condition (real Go) --------------------------------------------------------------
@pytest.mark.slow
def test_go_cell_using_config_cache_and_kvstore_answers_like_navidrome(ip):
    ip.run_cell_magic("ndplugin", BIO_LINE, BIO_CELL)
    bio = ip.user_ns["bio"]

    request = {"id": "ar-1", "name": "Björk"}
    assert bio.call("nd_get_artist_biography", request) == {"biography": "Hi, Björk!"}
    assert bio.call("nd_get_artist_biography", request) == {"biography": "Hi, Björk!"}
    assert bio.kvstore.get("lookups:Björk") == (b"2", True)
    calls = bio.host.host_calls("bio")
    cache_gets = calls[calls.function == "cache_getstring"]
    assert [json.loads(r) for r in cache_gets.response] == [
        {}, {"value": "Hi, Björk!", "exists": True}]


@pytest.mark.slow
def test_unimplemented_metadata_method_raises_function_not_implemented(ip):
    ip.run_cell_magic("ndplugin", BIO_LINE, BIO_CELL)
    with pytest.raises(NotImplementedByPluginError) as err:
        ip.user_ns["bio"].call("nd_get_artist_mbid", {"id": "ar-1", "name": "Björk"})
    assert str(err.value) == "function not implemented: nd_get_artist_mbid"


@pytest.mark.slow
def test_exported_ndp_loads_back_with_identical_manifest_and_wasm(ip, tmp_path):
    ip.run_cell_magic("ndplugin", BIO_LINE, BIO_CELL)
    bio = ip.user_ns["bio"]
    path = bio.export(tmp_path / "bio.ndp")
    with Host(tmp_path / "data") as fresh:
        again = fresh.load(path, config={"greeting": "Hej"})
        assert again.manifest.to_dict() == bio.manifest.to_dict()
        assert again.wasm == bio.wasm
        assert again.call("nd_get_artist_biography", {"id": "1", "name": "Sade"}) == {
            "biography": "Hej, Sade!"}


@pytest.mark.slow
def test_rerunning_an_unchanged_cell_is_a_build_cache_hit(ip):
    ip.run_cell_magic("ndplugin", BIO_LINE, BIO_CELL)
    with capture_output() as cap:
        ip.run_cell_magic("ndplugin", BIO_LINE, BIO_CELL)
    (summary,) = shown(cap)
    assert "(cache hit)" in summary["text/plain"]
    assert "cache hit" in summary["text/html"]


@pytest.mark.slow
def test_go_compile_error_shows_cell_line_numbers_without_traceback(ip):
    out = run_cell(ip, f"%%ndplugin broken\n{BROKEN_GO}\n// {uuid.uuid4()}")
    assert "cell line 6" in out
    assert 'cannot use "forty-two"' in out
    assert "Traceback" not in out and "magics.py" not in out
    assert "broken" not in ip.user_ns


# -- the summary -------------------------------------------------------------------------------
def test_summary_lists_capabilities_exports_imports_permissions_size_and_timings(ip):
    with capture_output() as cap:
        ip.run_cell_magic("ndplugin", "probe --permissions cache", wat_cell("cache_getstring"))
    (summary,) = shown(cap)
    text = summary["text/plain"]
    for label in ("capabilities", "exports", "imports", "permissions", "size", "build", "load"):
        assert f"  {label} " in text
    assert "MetadataAgent" in text
    assert "nd_get_artist_mbid" in text
    assert "cache_getstring" in text
    assert "<table>" in summary["text/html"]


def test_cell_binds_the_loaded_plugin_to_name_in_the_default_host(ip):
    ip.run_cell_magic("ndplugin", "probe", wat_cell())
    assert ip.user_ns["probe"] is magics(ip).default_host.plugins["probe"]


def test_wat_is_detected_without_lang(ip):
    with capture_output() as cap:
        ip.run_cell_magic("ndplugin", "probe", wat_cell())
    assert "wat," in shown(cap)[0]["text/plain"]


# -- permissions -------------------------------------------------------------------------------
def test_permissions_auto_grants_exactly_what_the_imports_need(ip):
    ip.run_cell_magic("ndplugin", "probe --permissions auto",
                      wat_cell("cache_getstring", "kvstore_get", "config_get"))
    assert set(ip.user_ns["probe"].permissions) == {"cache", "kvstore"}


def test_permission_options_reach_the_manifest(ip):
    ip.run_cell_magic("ndplugin", "probe --permissions cache,kvstore:maxSize=10KB",
                      wat_cell("kvstore_set"))
    perms = ip.user_ns["probe"].permissions
    assert perms["kvstore"]["maxSize"] == "10KB"
    assert "cache" in perms


def test_missing_permission_names_it_and_the_fix(ip):
    with pytest.raises(LoadError) as err:
        ip.run_cell_magic("ndplugin", "probe", wat_cell("cache_getstring"))
    assert "'cache' permission" in explained(err.value)
    assert "--permissions cache" in explained(err.value)
    assert "probe" not in ip.user_ns


def test_missing_permission_is_shown_without_traceback(ip):
    out = run_cell(ip, "%%ndplugin probe\n" + wat_cell("kvstore_get"))
    assert out.startswith("LoadError: Unable to create Extism plugin: unknown import: "
                          "extism:host/user::kvstore_get has not been defined")
    assert "--permissions kvstore" in out  # the advice, shown from the error's notes
    assert "Traceback" not in out


# -- options -----------------------------------------------------------------------------------
def test_config_values_are_json_when_they_parse_else_strings(ip):
    ip.run_cell_magic("ndplugin", "probe --config n=5 on=true 'who=Nina Simone' raw={x",
                      wat_cell("config_get"))
    probe = ip.user_ns["probe"]
    got = {k: probe.call("call_config_get", {"key": k}) for k in ("n", "on", "who", "raw")}
    assert got == {"n": {"value": "5", "exists": True}, "on": {"value": "true", "exists": True},
                   "who": {"value": "Nina Simone", "exists": True},
                   "raw": {"value": "{x", "exists": True}}


def test_config_from_a_dict_variable_is_merged(ip):
    ip.user_ns["settings"] = {"url": "http://127.0.0.1:8080", "n": 5}
    ip.run_cell_magic("ndplugin", "probe --config settings extra=x", wat_cell("config_get"))
    probe = ip.user_ns["probe"]
    got = {k: probe.call("call_config_get", {"key": k}) for k in ("url", "n", "extra")}
    assert got == {"url": {"value": "http://127.0.0.1:8080", "exists": True},
                   "n": {"value": "5", "exists": True}, "extra": {"value": "x", "exists": True}}


def test_manifest_from_a_variable(ip):
    ip.user_ns["man"] = {"name": "Probe Agent", "author": "tests", "version": "2.0.0",
                         "permissions": {"cache": {}}}
    ip.run_cell_magic("ndplugin", "probe --manifest man", wat_cell("cache_has"))
    assert ip.user_ns["probe"].manifest.to_dict()["name"] == "Probe Agent"


def test_manifest_from_a_path(ip, tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"name": "From File", "author": "tests", "version": "1"}))
    ip.run_cell_magic("ndplugin", f"probe --manifest {path}", wat_cell())
    assert ip.user_ns["probe"].manifest.to_dict()["name"] == "From File"


def test_export_option_writes_a_package(ip, tmp_path):
    target = tmp_path / "probe.ndp"
    ip.run_cell_magic("ndplugin", f"probe --export {target}", wat_cell())
    with Host(tmp_path / "data") as fresh:
        assert fresh.load(target).wasm == ip.user_ns["probe"].wasm


def test_host_option_loads_into_that_host(ip, tmp_path):
    ip.user_ns["lab"] = lab = Host(tmp_path)
    try:
        ip.run_cell_magic("ndplugin", "probe --host lab", wat_cell())
        assert "probe" in lab.plugins
        assert "probe" not in magics(ip).default_host.plugins
    finally:
        lab.close()


def test_rerun_replaces_the_plugin_of_the_same_name(ip):
    ip.run_cell_magic("ndplugin", "probe", wat_cell())
    first = ip.user_ns["probe"]
    ip.run_cell_magic("ndplugin", "probe --permissions cache", wat_cell("cache_has"))
    assert ip.user_ns["probe"] is not first
    assert list(magics(ip).default_host.plugins) == ["probe"]


# -- mistakes are UsageErrors ------------------------------------------------------------------
@pytest.mark.parametrize("line, message", [
    ("probe --bogus", "%%ndplugin: unrecognized arguments: --bogus"),
    ("probe --lang rust", "%%ndplugin: argument --lang: invalid choice: 'rust'"),
    ("1probe", "NAME must be a Python identifier"),
    ("probe --config greeting", "--config expects KEY=VALUE or a dict variable, got 'greeting'"),
    ("probe --host nowhere", "--host nowhere: no variable named 'nowhere'"),
    ("probe --manifest nowhere.json", "--manifest nowhere.json: no variable or file named"),
    ("probe --permissions 'cache", "%%ndplugin: No closing quotation"),
])
def test_bad_cell_magic_lines_are_usage_errors(ip, line, message):
    with pytest.raises(UsageError) as err:
        ip.run_cell_magic("ndplugin", line, wat_cell())
    assert message in str(err.value)


def test_unknown_permission_is_a_usage_error(ip):
    with pytest.raises(UsageError) as err:
        ip.run_cell_magic("ndplugin", "probe --permissions cache,telepathy", wat_cell())
    assert str(err.value).startswith("--permissions: ")
    assert "telepathy" in str(err.value)


def test_host_option_must_name_a_host(ip):
    ip.user_ns["notahost"] = 42
    with pytest.raises(UsageError, match="'notahost' is a int, not a Host"):
        ip.run_cell_magic("ndplugin", "probe --host notahost", wat_cell())


def test_empty_cell_is_a_usage_error(ip):
    with pytest.raises(UsageError, match="the cell is empty"):
        ip.run_cell_magic("ndplugin", "probe", "\n   \n")


def test_usage_error_is_a_one_liner_in_a_cell(ip):
    out = run_cell(ip, "%%ndplugin probe --lang rust\n(module)")
    assert out.strip() == ("UsageError: %%ndplugin: argument --lang: invalid choice: 'rust' "
                           "(choose from 'go', 'tinygo', 'wat')")


def test_wat_compile_error_shows_cell_line_without_traceback(ip):
    out = run_cell(ip, "%%ndplugin probe --lang wat\n(module\n  (func (result i32)\n"
                       "    (i32.bogus)))")
    assert "cell line 4" in out
    assert "Traceback" not in out


def test_help_flag_prints_the_options_and_loads_nothing(ip):
    with capture_output() as cap:
        ip.run_cell_magic("ndplugin", "probe --help", wat_cell())
    assert "--permissions" in cap.stdout and "--export PATH" in cap.stdout
    assert "probe" not in ip.user_ns


# -- line magics -------------------------------------------------------------------------------
def test_line_help_lists_the_subcommands(ip):
    with capture_output() as cap:
        ip.run_line_magic("ndplugin", "--help")
    for command in ("load", "list", "unload", "call", "cache"):
        assert f"%ndplugin {command}" in cap.stdout


@pytest.mark.parametrize("command", ["load", "list", "unload", "cache", "call"])
def test_every_subcommand_has_help(ip, command):
    with capture_output() as cap:
        ip.run_line_magic("ndplugin", f"{command} --help")
    assert f"%ndplugin {command}" in cap.stdout


def test_load_binds_a_package_under_its_file_name(ip, tmp_path):
    ip.run_cell_magic("ndplugin", "probe --permissions cache", wat_cell("cache_has"))
    ip.user_ns["probe"].export(tmp_path / "again.ndp")
    plugin = ip.run_line_magic("ndplugin", f"load {tmp_path / 'again.ndp'}")
    assert ip.user_ns["again"] is plugin
    assert plugin.manifest.to_dict() == ip.user_ns["probe"].manifest.to_dict()


def test_load_wasm_with_name_and_permissions(ip, tmp_path):
    from nd_notebook import build

    (tmp_path / "mod.wasm").write_bytes(build(wat_cell("cache_has"), lang="wat"))
    ip.run_line_magic("ndplugin", f"load {tmp_path / 'mod.wasm'} --name cached "
                                  f"--permissions auto")
    assert set(ip.user_ns["cached"].permissions) == {"cache"}


def test_load_missing_file_fails_with_its_path(ip, tmp_path):
    with pytest.raises(LoadError, match="no such plugin file"):
        ip.run_line_magic("ndplugin", f"load {tmp_path / 'nope.ndp'}")


def test_list_shows_loaded_plugins(ip):
    ip.run_cell_magic("ndplugin", "probe --permissions cache", wat_cell("cache_has"))
    table = ip.run_line_magic("ndplugin", "list")
    assert list(table.index) == ["probe"]
    assert table.loc["probe", "capabilities"] == "MetadataAgent"
    assert table.loc["probe", "permissions"] == "cache"


def test_list_without_plugins_says_so(ip):
    with capture_output() as cap:
        assert ip.run_line_magic("ndplugin", "list") is None
    assert cap.stdout.strip() == "no plugins loaded"


def test_call_passes_json_literally_and_returns_the_output(ip):
    ip.run_cell_magic("ndplugin", "probe --config greeting=hi", wat_cell("config_get"))
    out = ip.run_line_magic("ndplugin", 'call probe call_config_get {"key": "greeting"}')
    assert out == {"value": "hi", "exists": True}


def test_call_takes_a_variable_as_input(ip):
    ip.run_cell_magic("ndplugin", "probe --config greeting=hi", wat_cell("config_get"))
    ip.user_ns["req"] = {"key": "greeting"}
    assert ip.run_line_magic("ndplugin", "call probe call_config_get req") == {
        "value": "hi", "exists": True}


def test_call_error_carries_navidromes_text(ip):
    ip.run_cell_magic("ndplugin", "probe", wat_cell())
    with pytest.raises(NotImplementedByPluginError,
                       match="^function not implemented: nd_get_artist_mbid$"):
        ip.run_line_magic("ndplugin", "call probe nd_get_artist_mbid {}")


def test_call_error_is_shown_without_traceback(ip):
    ip.run_cell_magic("ndplugin", "probe", wat_cell())
    out = run_cell(ip, "%ndplugin call probe nd_get_artist_mbid {}")
    assert out.strip() == ("NotImplementedByPluginError: function not implemented: "
                           "nd_get_artist_mbid")


def test_a_trapping_plugin_leaves_the_shell_and_the_plugin_usable(ip):
    ip.run_cell_magic("ndplugin", "probe --config greeting=hi", wat_cell("config_get"))
    out = run_cell(ip, "%ndplugin call probe nd_trap")
    assert out.startswith("PluginCallFailedError: plugin call failed: ")
    assert "Traceback" not in out
    assert ip.run_line_magic("ndplugin", 'call probe call_config_get {"key": "greeting"}') == {
        "value": "hi", "exists": True}


def test_call_unknown_plugin_is_a_usage_error(ip):
    with pytest.raises(UsageError, match="no plugin named 'ghost' is loaded"):
        ip.run_line_magic("ndplugin", "call ghost nd_on_init")


def test_call_bad_json_is_a_usage_error(ip):
    ip.run_cell_magic("ndplugin", "probe", wat_cell())
    with pytest.raises(UsageError, match="input is neither JSON nor a variable name"):
        ip.run_line_magic("ndplugin", "call probe nd_get_artist_mbid {name: x}")


def test_unload_removes_the_plugin_and_its_variable(ip):
    ip.run_cell_magic("ndplugin", "probe", wat_cell())
    ip.run_line_magic("ndplugin", "unload probe")
    assert "probe" not in magics(ip).default_host.plugins
    assert "probe" not in ip.user_ns


def test_unknown_subcommand_is_a_usage_error(ip):
    with pytest.raises(UsageError, match="unknown subcommand 'frobnicate'"):
        ip.run_line_magic("ndplugin", "frobnicate")


def test_host_subcommand_returns_the_default_host(ip):
    assert ip.run_line_magic("ndplugin", "host") is magics(ip).default_host


def test_cache_info_and_clear(ip, tmp_path, monkeypatch):
    monkeypatch.setenv("ND_NOTEBOOK_CACHE_DIR", str(tmp_path / "cache"))
    ip.run_cell_magic("ndplugin", "probe", wat_cell())
    with capture_output() as cap:
        ip.run_line_magic("ndplugin", "cache --info")
    assert "1 build," in cap.stdout
    with capture_output() as cap:
        ip.run_line_magic("ndplugin", "cache --clear")
    assert cap.stdout.startswith("build cache cleared")
    with capture_output() as cap:
        ip.run_line_magic("ndplugin", "cache")
    assert "0 builds," in cap.stdout


def test_unloading_the_extension_closes_the_default_host(ip):
    ip.run_cell_magic("ndplugin", "probe", wat_cell())
    host = magics(ip).default_host
    ip.run_line_magic("unload_ext", "nd_notebook")
    try:
        assert host.plugins == {}
        assert "ndplugin" not in ip.magics_manager.magics["cell"]
    finally:
        ip.run_line_magic("load_ext", "nd_notebook")


def test_permissions_are_described_as_navidrome_reads_them():
    from nd_notebook.magics import describe_permissions

    assert describe_permissions({
        "websocket": {"allowedUrls": ["wss://feed"], "allowLocalNetwork": False,
                      "reason": "prices"},
        "library": {"filesystem": True}, "http": {"requiredHosts": ["a.io", "b.io"]},
        "cache": {}}) == ("websocket (ignored: allowedUrls, allowLocalNetwork), "
                          "library (filesystem=true), http (requiredHosts=a.io,b.io), cache")
