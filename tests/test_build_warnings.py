"""What a build warns of: a PDK ``Register`` call in ``func main()``, which never runs.

A Go plugin is a WASI reactor: Navidrome (Extism) runs its ``_initialize`` (the runtime and the
package ``init`` functions) and then its exports; ``main`` is never called. A real plugin
registered its metadata agent in ``main()`` and every export answered "not implemented".
"""

from __future__ import annotations

import warnings

import pytest
from test_cli import nd_notebook

from nd_notebook import Host
from nd_notebook.build import build_detailed
from nd_notebook.build.source import registrations_in_main
from nd_notebook.errors import NotImplementedByPluginError
from nd_notebook.magics import PluginSummary

PDK = "github.com/navidrome/navidrome/plugins/pdk/go"

AGENT = """package main

import (
	"github.com/navidrome/navidrome/plugins/pdk/go/metadata"
)

type agent struct{}

func (agent) GetArtistBiography(req metadata.ArtistRequest) (*metadata.ArtistBiographyResponse, error) {
	return &metadata.ArtistBiographyResponse{Biography: "bio of " + req.Name}, nil
}

%s
"""
IN_MAIN = "func main() {\n\tmetadata.Register(agent{})\n}"
IN_INIT = "func init() {\n\tmetadata.Register(agent{})\n}\n\nfunc main() {}"


def test_register_calls_in_main_are_found_by_their_pdk_package():
    source = f"""package main

import (
	md "{PDK}/metadata"
	"{PDK}/lifecycle"
	"{PDK}/scheduler"
	"example.com/metrics"
)

func init() {{ scheduler.Register(x{{}}) }}

func main() {{
	// md.Register(commented{{}})
	_ = "lifecycle.Register(quoted{{}})"
	if ready {{
		md.Register(x{{}})
	}}
	lifecycle.Register(x{{}})
	metrics.Register(x{{}})
}}
"""
    assert registrations_in_main(source) == ["md.Register", "lifecycle.Register"]
    assert registrations_in_main(source.replace("func main()", "func setup()")) == []
    single = f'package main\nimport "{PDK}/scrobbler"\nfunc main() {{ scrobbler.Register(s{{}}) }}\n'
    assert registrations_in_main(single) == ["scrobbler.Register"]


def test_a_register_call_in_main_is_warned_of_and_indeed_never_runs(tmp_path):
    built = build_detailed(AGENT % IN_MAIN)
    assert len(built.warnings) == 1
    assert built.warnings[0].startswith("func main() calls metadata.Register(...), but a "
                                        "plugin's main() never runs")
    assert "Call it from func init() instead." in built.warnings[0]
    assert build_detailed(AGENT % IN_MAIN).warnings == built.warnings  # a cache hit says it too
    with Host(tmp_path / "main") as host:
        plugin = host.load(built.wasm, name="agent")
        summary = dict(PluginSummary(plugin, build=built).rows())
        assert summary["warning"] == built.warnings[0]
        with pytest.raises(NotImplementedByPluginError) as e:
            plugin.call("nd_get_artist_biography", {"id": "1", "name": "Björk"})
        assert str(e.value) == "function not implemented: nd_get_artist_biography"

    fixed = build_detailed(AGENT % IN_INIT)
    assert fixed.warnings == ()
    with Host(tmp_path / "init") as host:
        plugin = host.load(fixed.wasm, name="agent")
        assert "warning" not in dict(PluginSummary(plugin, build=fixed).rows())
        assert plugin.metadata.artist_biography(id="1", name="Björk") == {
            "biography": "bio of Björk"}


def test_a_plugin_folder_warns_from_its_main_package_on_the_command_line_and_at_load(tmp_path):
    folder = tmp_path / "agent"
    folder.mkdir()
    (folder / "agent.go").write_text(AGENT % "")
    (folder / "main.go").write_text(f'package main\n\nimport "{PDK}/metadata"\n\n{IN_MAIN}\n')
    out = tmp_path / "agent.wasm"
    result = nd_notebook("build", str(folder), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert f"{folder}: warning: func main() calls metadata.Register(...)" in result.stderr
    assert out.is_file()
    with Host(tmp_path / "data") as host, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        host.load(folder, name="agent")
    assert [str(w.message).split(": func main()")[0] for w in caught] == [f"building {folder}"]


def test_check_finds_a_register_call_main_makes_in_a_built_module(tmp_path):
    # No source in a .ndp: the module's name section and main.main's calls tell (a Register
    # the compiler inlined into main leaves no call to see).
    from nd_notebook.check import main_registrations
    from nd_notebook.package import write_package

    manifest = {"name": "agent", "author": "a", "version": "1", "permissions": {}}
    for body, expected in ((IN_MAIN, ["metadata.Register"]), (IN_INIT, [])):
        wasm = build_detailed(AGENT % body).wasm
        assert main_registrations(wasm) == expected
        package = tmp_path / f"agent{len(expected)}.ndp"
        write_package(package, manifest, wasm)
        result = nd_notebook("check", str(package))
        assert result.returncode == 0, result.stderr
        warned = [line for line in result.stdout.splitlines() if "warning" in line]
        assert warned == ([f"  warning       {built_warning(['metadata.Register'])}"]
                          if expected else [])


def built_warning(names: list[str]) -> str:
    from nd_notebook.build.source import main_registration_warning

    return main_registration_warning(names)


def test_a_plugin_without_a_capability_is_warned_of_in_its_summary(tmp_path):
    # A cell of comments only (or a module exporting none of Navidrome's functions) loads, as in
    # Navidrome, but nothing would ever call it: the summary says so.
    from watplugins import wat

    from nd_notebook.magics import NO_CAPABILITY

    with Host(tmp_path) as host:
        plugin = host.load(wat('(module (memory (export "memory") 1) '
                               '(func (export "helper") (result i32) (i32.const 0)))'), name="bare")
        rows = PluginSummary(plugin).rows()
        assert ("capabilities", "none") in rows and ("warning", NO_CAPABILITY) in rows
        assert NO_CAPABILITY.startswith("no capability: the plugin exports none of the functions "
                                        "Navidrome calls (nd_on_init, ")
        assert "no capability" in repr(PluginSummary(plugin))
