"""The runtime against hand-written wasm: call outcomes, host-call encoding, permissions."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from watplugins import _ENV, _HELPERS, host_call_plugin, outcomes_plugin, wat

from nd_notebook import Host, events
from nd_notebook.errors import (
    ExitCodeError,
    FunctionNotFoundError,
    LoadError,
    NotImplementedByPluginError,
    PluginCallFailedError,
    explained,
)
from nd_notebook.package import write_package


@pytest.fixture
def host(tmp_path):
    with Host(tmp_path / "data", timeout_ms=2000) as h:
        yield h


@pytest.fixture
def outcomes(host):
    return host.load(outcomes_plugin(), name="outcomes")


def raw_host_call(plugin, import_name: str, request: bytes | str) -> bytes:
    return plugin.call(f"call_{import_name}", request, raw=True)


# -- export outcomes (spec 3.1) ---------------------------------------------------------

def test_successful_call_returns_decoded_json_output(outcomes):
    assert outcomes.call("nd_echo", {"a": [1, 2]}) == {"a": [1, 2]}


def test_empty_output_is_none(outcomes):
    assert outcomes.call("nd_empty") is None


def test_minus_two_without_error_is_function_not_implemented(outcomes):
    with pytest.raises(NotImplementedByPluginError) as e:
        outcomes.call("nd_not_implemented")
    assert str(e.value) == "function not implemented: nd_not_implemented"


def test_other_nonzero_code_reports_it_as_uint32(outcomes):
    with pytest.raises(ExitCodeError) as e:
        outcomes.call("nd_minus_one")
    assert str(e.value) == "plugin call exited with code 4294967295"
    with pytest.raises(ExitCodeError) as e:
        outcomes.call("nd_exit_seven")
    assert str(e.value) == "plugin call exited with code 7"


def test_error_set_is_plugin_call_failed_whatever_the_code(outcomes):
    for export in ("nd_error_set", "nd_error_set_rc0"):
        with pytest.raises(PluginCallFailedError) as e:
            outcomes.call(export)
        assert str(e.value) == "plugin call failed: guest says no"


def test_missing_export_is_function_not_found(outcomes):
    with pytest.raises(FunctionNotFoundError) as e:
        outcomes.call("nd_get_artist_mbid")
    assert str(e.value) == "function not found: nd_get_artist_mbid"


def test_trap_is_plugin_call_failed_and_plugin_stays_usable(outcomes):
    with pytest.raises(PluginCallFailedError) as e:
        outcomes.call("nd_trap")
    assert str(e.value).startswith("plugin call failed: ")
    assert outcomes.call("nd_echo", {"ok": True}) == {"ok": True}


def test_infinite_loop_hits_the_call_deadline(tmp_path):
    with Host(tmp_path, timeout_ms=300) as host:
        plugin = host.load(outcomes_plugin(), name="spinner")
        with pytest.raises(PluginCallFailedError) as e:
            plugin.call("nd_spin")
        assert str(e.value).startswith("plugin call failed: ")
        assert "timeout" in str(e.value).lower()


def test_every_call_gets_a_fresh_instance(outcomes):
    assert [outcomes.call("nd_counter", raw=True) for _ in range(3)] == [b"1", b"1", b"1"]


def test_capabilities_are_detected_by_export_names(outcomes):
    assert outcomes.capabilities == ["Lifecycle"]


# -- host-function encoding (spec 2.1) --------------------------------------------------

@pytest.fixture
def cache_plugin(host):
    return host.load(host_call_plugin("cache_setbytes", "cache_getbytes", "cache_setstring",
                                      "cache_getstring", "cache_getint"),
                     name="cachey", permissions="cache")


def test_bytes_travel_as_base64(cache_plugin):
    assert raw_host_call(cache_plugin, "cache_setbytes",
                         '{"key":"k","value":"AAEC/w==","ttlSeconds":0}') == b"{}"
    assert raw_host_call(cache_plugin, "cache_getbytes", '{"key":"k"}') == \
        b'{"value":"AAEC/w==","exists":true}'


def test_cache_miss_is_an_empty_object(cache_plugin):
    assert raw_host_call(cache_plugin, "cache_getstring", '{"key":"nope"}') == b"{}"


def test_empty_string_value_is_omitted(cache_plugin):
    raw_host_call(cache_plugin, "cache_setstring", '{"key":"e","value":"","ttlSeconds":0}')
    assert raw_host_call(cache_plugin, "cache_getstring", '{"key":"e"}') == b'{"exists":true}'


def test_malformed_request_json_is_answered_in_band(cache_plugin):
    assert raw_host_call(cache_plugin, "cache_getstring", "{bad") == \
        b'{"error":"invalid character \'b\' looking for beginning of object key string"}'


def test_empty_request_is_unexpected_end_of_json_input(cache_plugin):
    assert raw_host_call(cache_plugin, "cache_getstring", b"") == \
        b'{"error":"unexpected end of JSON input"}'


def test_wrong_field_type_is_a_go_unmarshal_error(cache_plugin):
    out = json.loads(raw_host_call(cache_plugin, "cache_getstring", '{"key":5}'))
    assert out["error"].startswith("json: cannot unmarshal number into Go struct field ")
    assert out["error"].endswith(" of type string")


def test_fractional_number_for_int_field_is_refused(cache_plugin):
    out = json.loads(raw_host_call(cache_plugin, "cache_setstring",
                                   '{"key":"k","value":"v","ttlSeconds":1.5}'))
    assert out["error"].startswith("json: cannot unmarshal number 1.5 into Go struct field ")


def test_every_host_call_is_recorded(host, cache_plugin):
    raw_host_call(cache_plugin, "cache_getstring", '{"key":"nope"}')
    raw_host_call(cache_plugin, "cache_getstring", "{bad")
    calls = host.events.select(events.HOST_CALL, "cachey")
    assert [(c["service"], c["function"]) for c in calls] == [("Cache", "cache_getstring")] * 2
    assert calls[0]["request"] == {"key": "nope"} and calls[0]["response"] == "{}"
    assert calls[0]["error"] is None
    assert calls[1]["error"].startswith("invalid character")
    frame = host.host_calls()
    assert list(frame["function"]) == ["cache_getstring", "cache_getstring"]


# -- permissions at load (spec 1.4 step 4) ----------------------------------------------

def test_import_of_unpermitted_service_fails_at_load_with_the_fix(host):
    with pytest.raises(LoadError) as e:
        host.load(host_call_plugin("cache_getstring", "kvstore_get"), name="greedy")
    # The message is libextism's text exactly; nd-notebook's advice rides along as notes.
    assert str(e.value) == ("Unable to create Extism plugin: unknown import: "
                            "extism:host/user::cache_getstring has not been defined")
    text = explained(e.value)
    assert "does not declare the 'cache' permission" in text
    assert "does not declare the 'kvstore' permission" in text
    assert '"cache": {}, "kvstore": {}' in text
    assert "greedy" not in host.plugins


def test_auto_permissions_grant_exactly_what_the_imports_need(host):
    plugin = host.load(host_call_plugin("cache_getstring", "kvstore_get"), name="auto",
                       permissions="auto")
    assert set(plugin.permissions) == {"cache", "kvstore"}


def test_unknown_user_import_fails_at_load(host):
    with pytest.raises(LoadError) as e:
        host.load(host_call_plugin("cache_getsomething"), name="typo")
    assert str(e.value) == ("Unable to create Extism plugin: unknown import: "
                            "extism:host/user::cache_getsomething has not been defined")
    assert e.value.__notes__ == ["cache_getsomething is not a Navidrome host function"]


def test_config_is_always_available_and_uses_the_string_map(host):
    plugin = host.load(host_call_plugin("config_get", "config_keys"), name="cfg",
                       config={"n": 5, "s": "x", "flag": True})
    assert raw_host_call(plugin, "config_get", '{"key":"n"}') == b'{"value":"5","exists":true}'
    assert raw_host_call(plugin, "config_keys", '{"prefix":""}') == \
        b'{"keys":["flag","n","s"]}'


def test_auto_permissions_add_what_a_needed_permission_requires(host):
    plugin = host.load(host_call_plugin("subsonicapi_call"), name="sub", permissions="auto")
    assert set(plugin.permissions) == {"subsonicapi", "users"}


def test_contradictory_permissions_are_a_load_error(host):
    with pytest.raises(LoadError) as e:
        host.load(host_call_plugin("subsonicapi_call"), name="sub", permissions="subsonicapi")
    assert str(e.value) == ("validating manifest: 'subsonicapi' permission requires 'users' "
                            "permission to be declared")


def test_service_of_an_undeclared_permission_says_which_permission(outcomes):
    with pytest.raises(AttributeError) as e:
        outcomes.tasks  # noqa: B018
    assert str(e.value) == ("plugin 'outcomes' has no Task service: its manifest does not "
                            "declare the 'taskqueue' permission")


def test_declared_services_are_reachable_from_python(cache_plugin):
    cache_plugin.cache.set_string("k", "v", 0)
    assert cache_plugin.cache.get_string("k") == ("v", True)


def test_unloading_an_unknown_plugin_says_plugin_not_found(host):
    with pytest.raises(KeyError) as err:
        host.unload("ghost")
    assert str(err.value) == 'plugin "ghost" not found'


# -- how a module reaches libextism's compiler ----------------------------------------------

def test_a_module_is_compiled_from_an_anonymous_memory_file(tmp_path):
    # libextism copies its manifest into every instance: a path, not the module's bytes.

    from nd_notebook.runtime.host import module_path

    module = outcomes_plugin()
    with module_path(module, tmp_path) as path:
        assert path.startswith("/proc/self/fd/")
        assert os.readlink(path).startswith("/memfd:nd-notebook-module")
        with open(path, "rb") as f:
            assert f.read() == module
    assert list(tmp_path.iterdir()) == []
    try:
        still = os.readlink(path)
    except OSError:
        still = ""
    assert not still.startswith("/memfd:nd-notebook-module")  # closed once compiled


def test_without_memory_files_a_module_file_in_the_folder_is_removed_after(tmp_path,
                                                                           monkeypatch):
    from nd_notebook.runtime.host import module_path

    monkeypatch.delattr("os.memfd_create")
    module = outcomes_plugin()
    with module_path(module, tmp_path) as path:
        assert [p.name for p in tmp_path.iterdir()] == [os.path.basename(path)]
        assert path.startswith(str(tmp_path)) and path.endswith(".wasm")
        assert Path(path).read_bytes() == module
    assert list(tmp_path.iterdir()) == []


def test_a_plugin_compiled_without_memory_files_answers(tmp_path, monkeypatch):
    monkeypatch.delattr("os.memfd_create")
    with Host(tmp_path / "data") as h:
        assert h.load(outcomes_plugin(), name="outcomes").call("nd_echo", {"a": 1}) == {"a": 1}
        assert not list((tmp_path / "data" / "plugins" / "outcomes").glob(".module-*"))


def test_a_manifest_is_taken_as_json_text_a_path_string_or_a_path(host, tmp_path):
    # Long JSON text once reached Path(text).exists(): "File name too long" (OSError).
    doc = {"name": "m", "author": "a", "version": "1", "description": "x" * 400,
           "permissions": {"cache": {"reason": "r"}}}
    text = json.dumps(doc, indent=2)
    file = tmp_path / "plugin.manifest.json"
    file.write_text(text)
    for i, manifest in enumerate((text, str(file), file, text.encode())):
        plugin = host.load(outcomes_plugin(), manifest=manifest, name=f"m{i}")
        assert plugin.manifest.description == "x" * 400
        assert "Cache" in plugin.services


@pytest.mark.parametrize("source", ["missing.wasm", "(module)" + " " * 5000, "a\0b"],
                         ids=["missing", "long text", "nul byte"])
def test_a_source_that_is_no_file_is_a_load_error(host, source):
    from nd_notebook.errors import LoadError

    with pytest.raises(LoadError, match=r"^no such plugin file: .* \(give a path, or the "
                                        r"module's bytes\)$"):
        host.load(source, name="nofile")


def test_jsonschema_is_imported_in_the_background_once_a_host_exists(tmp_path):
    # Its import takes about a second where Jupyter's format extras are installed; a Host
    # starts it on a thread so the first manifest with a config schema does not wait for it.
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(f"""
        import sys, time
        import nd_notebook
        before = "jsonschema" in sys.modules
        host = nd_notebook.Host({str(tmp_path)!r})
        deadline = time.monotonic() + 60
        while "referencing" not in sys.modules and time.monotonic() < deadline:
            time.sleep(0.01)
        print(before, "jsonschema" in sys.modules, "referencing" in sys.modules)
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=False)
    assert (run.returncode, run.stdout) == (0, "False True True\n"), run.stderr


def test_a_process_ending_right_after_host_waits_for_the_background_import(tmp_path):
    # Killing the import thread at exit, inside a compiled extension's module init, aborted the
    # process (SIGABRT, "FATAL: exception not rethrown"): the exit waits for the import instead.
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(f"""
        import atexit, sys
        import nd_notebook
        atexit.register(lambda: print("jsonschema.validators" in sys.modules))
        nd_notebook.Host({str(tmp_path)!r})
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=False)
    assert (run.returncode, run.stdout) == (0, "True\n"), run.stderr


def test_the_background_import_never_breaks_an_ast_built_meanwhile(tmp_path):
    # CPython counts an AST construction's depth per interpreter: the import's grammars
    # (ast.literal_eval) interleaved with the cell's ast.parse/compile made that fail with
    # "SystemError: AST constructor recursion depth mismatch" (37-47 of 500-600 parses here,
    # with the import on a plain thread; threads switch inside a construction when the
    # collector runs a finalizer, which the Junk objects below provide). A notebook cell's
    # parse, or pytest rewriting an import, must never see that.
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(f"""
        import ast, gc, threading
        import nd_notebook

        class Junk:
            def __init__(self):
                self.me = self  # a cycle: only the collector frees it
            def __del__(self):
                sum(range(200))

        source = "\\n".join(f"def f{{i}}(a, b=[1, {{{{'k': (3, 4)}}}}]):\\n    return [a for _ in b]"
                           for i in range(300))
        host = nd_notebook.Host({str(tmp_path)!r})
        thread = next(t for t in threading.enumerate() if t.name == "nd-prefetch-jsonschema")
        parses, failures = 0, []
        while thread.is_alive() or parses == 0:
            junk = [Junk() for _ in range(300)]
            del junk
            try:
                compile(ast.parse(source), "<cell>", "exec")
            except SystemError as e:
                failures.append(str(e))
            parses += 1
        thread.join()
        print(parses > 0, failures[:1], gc.isenabled())
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=False)
    assert (run.returncode, run.stdout) == (0, "True [] True\n"), run.stderr


def test_a_bad_config_is_reported_before_the_package_is_read(host, tmp_path):
    # Navidrome parses the config stored for the plugin before it opens the package.
    broken = tmp_path / "broken.wasm"
    broken.write_bytes(b"not wasm at all")
    with pytest.raises(LoadError) as e:
        host.load(broken, config="[1]")
    assert str(e.value) == ("parsing plugin config: json: cannot unmarshal array into Go value "
                            "of type map[string]interface {}")


def test_a_broken_module_with_a_good_config_is_an_invalid_wasm_module(host, tmp_path):
    broken = tmp_path / "broken.wasm"
    broken.write_bytes(b"not wasm at all")
    with pytest.raises(LoadError) as e:
        host.load(broken, config={"a": 1})
    assert str(e.value).startswith("invalid wasm module: ")


def test_a_service_creation_error_comes_before_the_modules_errors(host, tmp_path):
    # Navidrome creates the services (HEAD: a creation error fails the load) before compiling.
    manifest = {"name": "n", "author": "a", "version": "1",
                "permissions": {"kvstore": {"maxSize": "lots"}}}
    expected = ('creating KVStore service: invalid maxSize "lots": strconv.ParseFloat: '
                'parsing "": invalid syntax')
    for module in (b"not wasm at all", host_call_plugin("task_get")):
        with pytest.raises(LoadError) as e:
            host.load(module, name="kv", manifest=manifest)
        assert str(e.value) == expected


@pytest.mark.parametrize(("imports", "service"), [
    (("task_createqueue",), "Task"), (("kvstore_get",), "KVStore")])
def test_a_file_where_the_plugins_data_folder_should_be_fails_the_service_that_needs_it(
        tmp_path, imports, service):
    # Navidrome's own test ("reports the Task service creation error instead of a missing host
    # function"): the services make <DataFolder>/plugins/<id> with os.MkdirAll, which stops at
    # the file.
    with Host(tmp_path / "data") as host:
        (tmp_path / "data" / "plugins").write_bytes(b"")
        with pytest.raises(LoadError) as e:
            host.load(host_call_plugin(*imports), name="blocked", permissions="auto")
    assert str(e.value) == (f"creating {service} service: creating plugin data directory: "
                            f"mkdir {tmp_path / 'data' / 'plugins'}: not a directory")


def test_a_plugin_without_files_loads_with_a_file_where_the_data_folder_should_be(tmp_path):
    with Host(tmp_path / "data") as host:
        (tmp_path / "data" / "plugins").write_bytes(b"")
        plugin = host.load(host_call_plugin("config_get"), name="light", permissions="auto")
        assert plugin.call("call_config_get", {"key": "k"}) == {}


def test_an_init_that_traps_fails_the_call_not_the_load(host):
    # Navidrome instantiates the plugin once at load without running _initialize: the Go SDK
    # runs it at an instance's first call (here nd_on_init's, at load, which is only logged).
    module = wat("(module\n" + _ENV + _HELPERS + """
  (func (export "_initialize") unreachable)
  (func (export "nd_on_init") (result i32) (i32.const 0)))""")
    plugin = host.load(module, name="w")
    with pytest.raises(PluginCallFailedError) as e:
        plugin.call("nd_on_init")
    assert str(e.value) == ("plugin call failed: failed to initialize runtime: wasm trap: wasm "
                            "`unreachable` instruction executed")


def test_a_package_named_only_ndp_has_the_empty_id(host, tmp_path):
    path = write_package(tmp_path / ".ndp", {"name": "n", "author": "a", "version": "1"},
                         host_call_plugin("config_get"))
    with pytest.raises(LoadError) as e:
        host.load(path)
    assert str(e.value) == 'invalid plugin ID ""'


@pytest.mark.parametrize("bad", [
    {"source": b"not wasm at all"},
    {"source": None, "config": "[1]"},
    {"source": None, "manifest": {"name": "n", "author": "a", "version": "1",
                                  "permissions": {"kvstore": {"maxSize": "lots"}}}},
], ids=["broken-module", "bad-config", "bad-service-option"])
def test_a_failed_load_under_a_loaded_id_leaves_that_id_unloaded(host, bad):
    # Navidrome unloads a plugin before it loads it again; a failed load leaves it disabled.
    module = host_call_plugin("kvstore_get")
    old = host.load(module, name="p", permissions="auto")
    source = bad.pop("source") or module
    with pytest.raises(LoadError):
        host.load(source, name="p", **bad)
    assert "p" not in host.plugins
    assert old.closed


def test_the_settings_gate_comes_before_the_modules_errors(host):
    manifest = {"name": "n", "author": "a", "version": "1", "permissions": {"users": {}}}
    with pytest.raises(LoadError) as e:
        host.load(b"not wasm at all", name="u", manifest=manifest,
                  settings={"all_users": False})
    assert str(e.value) == ("users permission requires configuration: select users or enable "
                            "'all users' access")


def test_auto_permissions_read_the_module_first(host):
    with pytest.raises(LoadError) as e:
        host.load(b"not wasm at all", name="auto", permissions="auto")
    assert str(e.value).startswith("invalid wasm module: ")


def test_auto_permissions_grant_users_to_a_scrobbler_that_imports_nothing(host):
    # Navidrome requires 'users' of any plugin with the Scrobbler capability.
    scrobbler = wat('(module (memory (export "memory") 1)'
                    ' (func (export "nd_scrobbler_scrobble") (result i32) (i32.const 0)))')
    plugin = host.load(scrobbler, name="scr", permissions="auto")
    assert plugin.permissions == {"users": {}}
    assert plugin.capabilities == ["Scrobbler"]
