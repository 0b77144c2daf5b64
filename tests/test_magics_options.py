"""Magic lines as people write them: options and NAME in any order, --help alone, JSON config;
and ``plugin.call`` mistakes that name their fix (unknown export, non-JSON str input)."""

from __future__ import annotations

import pytest
import watplugins
from IPython.core.error import UsageError
from IPython.testing import globalipapp
from IPython.utils.capture import capture_output

from nd_notebook import Host
from nd_notebook.errors import FunctionNotFoundError, PluginInputError


def echo_wat(*exports: str) -> str:
    """WebAssembly text of a module whose ``exports`` output their input, plus
    ``call_config_get`` (the config_get host function's raw response to the input)."""
    echo = "".join(f"""  (func (export "{name}") (result i32)
    (local $b i64)
    (local.set $b (call $input_block))
    (call $output_set (local.get $b) (call $length (local.get $b)))
    (i32.const 0))
""" for name in exports)
    config = """  (import "extism:host/user" "config_get" (func $config_get (param i64) (result i64)))
"""
    call = """  (func (export "call_config_get") (result i32)
    (local $r i64)
    (local.set $r (call $config_get (call $input_block)))
    (call $output_set (local.get $r) (call $length (local.get $r)))
    (i32.const 0))
"""
    return "(module\n" + watplugins._ENV + config + watplugins._HELPERS + echo + call + ")\n"


@pytest.fixture
def ip():
    """A real IPython shell with the extension freshly loaded (a fresh default Host)."""
    shell = globalipapp.start_ipython() or globalipapp.get_ipython()
    shell.run_line_magic("load_ext", "nd_notebook")
    before = set(shell.user_ns)
    yield shell
    shell.run_line_magic("unload_ext", "nd_notebook")
    for name in set(shell.user_ns) - before:
        del shell.user_ns[name]


def config_of(plugin, key: str):
    return plugin.call("call_config_get", {"key": key})


# -- NAME and options in any order -------------------------------------------------------------
def test_name_after_config_is_not_swallowed(ip):
    with capture_output():
        ip.run_cell_magic("ndplugin", "--config greeting=hi cfg", echo_wat())
    assert config_of(ip.user_ns["cfg"], "greeting") == {"value": "hi", "exists": True}


def test_name_between_options_is_found(ip):
    with capture_output():
        ip.run_cell_magic("ndplugin", "--lang wat cfg --config a=1 b=2", echo_wat())
    assert config_of(ip.user_ns["cfg"], "b") == {"value": "2", "exists": True}


def test_dict_variable_after_config_stays_config(ip):
    ip.user_ns["settings"] = {"url": "http://127.0.0.1:1"}
    with capture_output():
        ip.run_cell_magic("ndplugin", "--config settings cfg", echo_wat())
    assert config_of(ip.user_ns["cfg"], "url")["value"] == "http://127.0.0.1:1"


def test_missing_name_is_reported_as_argparse_would(ip):
    with pytest.raises(UsageError, match="^%%ndplugin: the following arguments are required: "
                                         "NAME$"):
        ip.run_cell_magic("ndplugin", "--config a=1 b=2", echo_wat())


def test_usage_shows_name_as_required(ip):
    with capture_output() as cap:
        ip.run_cell("%%ndplugin --help")
    usage = cap.stdout.split("\n\n")[1]
    assert usage.rstrip().endswith("NAME") and "[NAME]" not in usage


def test_load_path_after_config_is_not_swallowed(ip, tmp_path):
    with capture_output():
        ip.run_cell_magic("ndplugin", "cfg --config greeting=hi", echo_wat())
    path = ip.user_ns["cfg"].export(tmp_path / "cfg.ndp")
    plugin = ip.run_line_magic("ndplugin", f"load --config greeting=hej {path} --name other")
    assert config_of(plugin, "greeting") == {"value": "hej", "exists": True}
    plugin = ip.run_line_magic("ndplugin", f'load {path} --name third --config {{"greeting": "a b"}}')
    assert config_of(plugin, "greeting") == {"value": "a b", "exists": True}


# -- --help without a body --------------------------------------------------------------------
def test_help_alone_in_a_cell_prints_the_help(ip):
    with capture_output() as cap:
        result = ip.run_cell("%%ndplugin --help")
    assert result.success
    assert "Compile the cell into a Navidrome plugin" in cap.stdout
    assert "--permissions" in cap.stdout


def test_empty_cell_without_help_is_still_refused(ip):
    with capture_output():
        result = ip.run_cell("%%ndplugin cfg")
    assert "the cell body is empty" in str(result.error_before_exec or result.error_in_exec)


# -- --config as a JSON object ----------------------------------------------------------------
@pytest.mark.parametrize("line", [
    """cfg --config '{"a": "1", "who": "Nina Simone"}' b=x""",
    # without shell quotes: the shell's rules dropped its quotes and split it at spaces
    """cfg --config {"a":1, "who": "Nina Simone"} b=x --permissions auto""",
])
def test_config_accepts_a_json_object_quoted_or_as_written(ip, line):
    with capture_output():
        ip.run_cell_magic("ndplugin", line, echo_wat())
    plugin = ip.user_ns["cfg"]
    assert config_of(plugin, "a")["value"] == "1"
    assert config_of(plugin, "who")["value"] == "Nina Simone"
    assert config_of(plugin, "b")["value"] == "x"


def test_a_failed_reload_says_the_plugin_loaded_before_is_unloaded(ip):
    with capture_output():
        ip.run_cell_magic("ndplugin", "cfg --config a=1", echo_wat())
    before = ip.user_ns["cfg"]
    # A manifest the load refuses (its KVStore service cannot be created), after the unload.
    ip.user_ns["bad_manifest"] = {"name": "cfg", "author": "a", "version": "1",
                                  "permissions": {"kvstore": {"maxSize": "huge"}}}
    with capture_output() as cap, pytest.raises(Exception, match="invalid maxSize"):
        ip.run_cell_magic("ndplugin", "cfg --manifest bad_manifest", echo_wat())
    assert ("(the plugin 'cfg' loaded before is unloaded too: Navidrome unloads a plugin before "
            "it loads it again; fix the cell and run it again)") in cap.stderr
    with capture_output():
        ip.run_cell_magic("ndplugin", "cfg --config a=2", echo_wat())
    with pytest.raises(Exception) as e:
        before.call("nd_get_artist_biography", {"name": "x"})
    assert str(e.value) == ("plugin call failed: plugin cfg not loaded (this object is an earlier "
                            "load; the plugin loaded as cfg now is host.plugins['cfg'])")


def test_config_json_that_is_not_an_object_is_refused(ip):
    with pytest.raises(UsageError, match=r"^--config: not a JSON object \(Expecting "):
        ip.run_cell_magic("ndplugin", "cfg --config '{a: 1}'", echo_wat())


# -- plugin.call mistakes ---------------------------------------------------------------------
@pytest.fixture
def agent(tmp_path):
    with Host(tmp_path) as host:
        yield host.load(watplugins.wat(echo_wat("nd_get_artist_biography", "nd_get_artist_url")),
                        name="agent", permissions="auto")


def test_unknown_export_keeps_navidromes_text(agent):
    with pytest.raises(FunctionNotFoundError) as e:
        agent.call("nd_get_artist_bio", {"name": "Björk"})
    assert str(e.value) == "function not found: nd_get_artist_bio"


def test_unknown_export_suggests_the_closest_exports(agent):
    with pytest.raises(FunctionNotFoundError) as e:
        agent.call("nd_get_artist_bio", {"name": "Björk"})
    assert e.value.suggestions == ["nd_get_artist_biography", "nd_get_artist_url"]
    assert e.value.__notes__[0] == "did you mean 'nd_get_artist_biography' or " \
                                   "'nd_get_artist_url'?"


def test_unknown_export_lists_every_export(agent):
    with pytest.raises(FunctionNotFoundError) as e:
        agent.call("nd_nothing_like_it", None)
    assert e.value.__notes__ == [
        "exports of plugin 'agent': call_config_get, nd_get_artist_biography, nd_get_artist_url"]


def test_unknown_export_in_a_notebook_shows_the_suggestion(agent):
    with pytest.raises(FunctionNotFoundError) as e:
        agent.call("call_config_gett", None)
    assert e.value._render_traceback_() == [
        "FunctionNotFoundError: function not found: call_config_gett",
        "did you mean 'call_config_get'?",
        "exports of plugin 'agent': call_config_get, nd_get_artist_biography, nd_get_artist_url"]


def test_str_input_that_is_not_json_says_to_pass_a_dict(agent):
    with pytest.raises(PluginInputError, match=r"^input of nd_get_artist_biography is a str "
                                               r"that is not JSON \(Expecting value at column "
                                               r"1\): 'Björk'; pass a dict"):
        agent.call("nd_get_artist_biography", "Björk")


def test_str_input_that_is_json_is_sent_as_is(agent):
    assert agent.call("nd_get_artist_biography", '{"name": "Björk"}') == {"name": "Björk"}


def test_bytes_input_is_sent_raw_even_when_not_json(agent):
    assert agent.call("nd_get_artist_biography", b"not json", raw=True) == b"not json"


def test_ndfile_help_alone_in_a_cell_prints_the_help(ip):
    with capture_output() as cap:
        result = ip.run_cell("%%ndfile --help")
    assert result.success and "%%ndfile NAME" in cap.stdout


def test_an_interrupted_build_is_one_line_and_loads_nothing(ip, monkeypatch):
    import nd_notebook.ndfile
    from nd_notebook.errors import Interrupted

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(nd_notebook.ndfile, "build_with_files", interrupted)
    with pytest.raises(Interrupted) as e:
        ip.run_cell_magic("ndplugin", "slow", echo_wat())
    assert e.value._render_traceback_() == [
        ("Interrupted: build of slow interrupted by a kernel interrupt (KeyboardInterrupt); "
         "nothing was loaded")]
    assert "slow" not in ip.user_ns
