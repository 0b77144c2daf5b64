"""Plugin projects: folders of several files and packages, third-party modules, %%ndfile cells.

Everything runs offline: third-party modules come from a file-based GOPROXY, a vendor/ folder
or nothing, all created here; GOPROXY is "off" unless a test says otherwise.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import uuid
import zipfile
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.testing import globalipapp
from IPython.utils.capture import capture_output

from nd_notebook import Host
from nd_notebook.build import SourceNotFoundError, build, build_detailed, pdk_dir
from nd_notebook.build.diagnostics import BINARY_DATA_HINT
from nd_notebook.build.project import adapt_go_mod
from nd_notebook.build.toolchain import go_env, resolve_go
from nd_notebook.errors import CompileError
from nd_notebook.pdk import EXTISM_DIR

pytestmark = pytest.mark.slow

PDK = "github.com/navidrome/navidrome/plugins/pdk/go"

MAIN_GO = """package main

import (
	"example.com/hello/greeting"

	"github.com/navidrome/navidrome/plugins/pdk/go/pdk"
)

//go:wasmexport greet
func greet() int32 {
	pdk.OutputString(greeting.Hello(pdk.InputString()) + suffix())
	return 0
}

func main() {}
"""
HELPER_GO = 'package main\n\nfunc suffix() string { return "!" }\n'
GREETING_GO = 'package greeting\n\nfunc Hello(name string) string { return "hello " + name }\n'
# Navidrome's examples: go 1.25, the PDK required and replaced by a path of Navidrome's tree.
GO_MOD = f"""module example.com/hello

go 1.25

require {PDK} v0.0.0

replace {PDK} => ../../pdk/go
"""
MANIFEST = {"name": "Hello", "author": "tests", "version": "1.0.0"}


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No module proxy unless the test sets one; no user module cache either."""
    monkeypatch.setenv("GOPROXY", "off")
    monkeypatch.setenv("GOMODCACHE", "/nonexistent-module-cache")


def write(folder: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return folder


@pytest.fixture
def project(tmp_path) -> Path:
    """A three-file, two-package plugin with its go.mod and manifest (unique, so uncached)."""
    return write(tmp_path / "hello", {
        "go.mod": GO_MOD, "main.go": MAIN_GO + f"\n// {uuid.uuid4()}\n", "helper.go": HELPER_GO,
        "greeting/greeting.go": GREETING_GO, "manifest.json": json.dumps(MANIFEST)})


def call(wasm: bytes, export: str, data: bytes) -> bytes:
    import extism

    return extism.Plugin(wasm, wasi=True, functions=[]).call(export, data)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# -- folders ---------------------------------------------------------------------------------------
def test_folder_of_several_files_and_packages_builds_and_runs(project):
    assert call(build(project), "greet", b"bob") == b"hello bob!"


def test_folder_given_as_a_string_path_builds(project):
    assert call(build(str(project)), "greet", b"ann") == b"hello ann!"


def test_folder_build_leaves_the_folder_untouched(project):
    before = snapshot(project)
    build(project)
    assert snapshot(project) == before


def test_folder_build_picks_up_the_manifest_and_lists_the_files(project):
    result = build_detailed(project)
    assert result.manifest == project / "manifest.json"
    assert result.files == ("go.mod", "greeting/greeting.go", "helper.go", "main.go",
                            "manifest.json")


def test_unchanged_folder_is_a_cache_hit(project):
    first = build_detailed(project)
    assert (first.cached, build_detailed(project).cached) == (False, True)


def test_cache_key_includes_every_file_of_the_folder(project):
    first = build_detailed(project)
    (project / "greeting" / "notes.txt").write_text("not Go, still part of the plugin")
    second = build_detailed(project)
    assert second.cached is False and second.key != first.key


def test_folder_without_go_mod_builds_as_module_ndplugin(tmp_path):
    folder = write(tmp_path / "p", {
        "main.go": MAIN_GO.replace("example.com/hello/greeting", "ndplugin/greeting"),
        "helper.go": HELPER_GO + f"// {uuid.uuid4()}\n", "greeting/greeting.go": GREETING_GO})
    assert call(build(folder), "greet", b"x") == b"hello x!"


def test_a_package_folder_below_its_modules_go_mod_builds_as_go_build_would(tmp_path):
    # go.mod at the repository's root, package main in plugin/ beside internal/ packages (the
    # layout `go build ./plugin` builds): the folder given is the package, its module above.
    repo = write(tmp_path / "repo", {
        "go.mod": "module example.com/mood\n\ngo 1.25\n",
        "internal/words/words.go": 'package words\n\nconst Mood = "calm"\n',
        "plugin/main.go": ('package main\n\nimport (\n\t"example.com/mood/internal/words"\n\n'
                           '\t"github.com/extism/go-pdk"\n)\n\n//go:wasmexport mood\nfunc mood() '
                           'int32 { pdk.OutputString(words.Mood); return 0 }\n\nfunc main() {}\n'
                           f'// {uuid.uuid4()}\n'),
        "plugin/manifest.json": json.dumps(MANIFEST)})
    result = build_detailed(repo / "plugin")
    assert call(result.wasm, "mood", b"") == b"calm"
    assert result.manifest == repo / "plugin" / "manifest.json"
    # The repository's root is no plugin: the error says where its package main is.
    with pytest.raises(CompileError) as e:
        build(repo)
    assert str(e.value).endswith("repo: no .go file at the top of the plugin folder (the "
                                 "plugin's package main); package main is in plugin/: build "
                                 "that folder")


def test_an_import_of_a_missing_folder_of_the_module_says_so(tmp_path):
    # Go looks for the package in every module of go.mod and, offline, names one it could
    # not fetch (the PDK's indirect go-spew here): the folder missing is what to report.
    folder = write(tmp_path / "musikat", {
        "go.mod": (f"module musikat\n\ngo 1.25\n\nrequire {PDK} v0.0.0\n\n"
                   "require github.com/davecgh/go-spew v1.1.1 // indirect\n"),
        "main.go": ('package main\n\nimport (\n\t"github.com/extism/go-pdk"\n\n'
                    '\t"musikat/internal/subsonic"\n)\n\n//go:wasmexport x\nfunc x() int32 {'
                    ' pdk.OutputString(subsonic.URL); return 0 }\n\nfunc main() {}\n'
                    f'// {uuid.uuid4()}\n')})
    with pytest.raises(CompileError) as e:
        build(folder)
    text = str(e.value)
    assert ("package musikat/internal/subsonic is not in the plugin: its module musikat has no "
            "Go files in internal/subsonic/ (imported at main.go:6)") in text
    assert "missing Go module" not in text


def test_a_plugin_written_for_an_older_pdk_is_told_which_method_came_since(tmp_path):
    folder = write(tmp_path / "old", {
        "go.mod": f"module example.com/old\n\ngo 1.25\n\nrequire {PDK} v0.0.0-20260426221614-5d1c1157b5bd\n",
        "main.go": ('package main\n\nimport "github.com/navidrome/navidrome/plugins/pdk/go/scrobbler"'
                    '\n\ntype s struct{}\n\nfunc (s) IsAuthorized(scrobbler.IsAuthorizedRequest) '
                    '(bool, error) { return true, nil }\nfunc (s) NowPlaying(scrobbler.NowPlayingRequest)'
                    ' error { return nil }\nfunc (s) Scrobble(scrobbler.ScrobbleRequest) error '
                    '{ return nil }\n\nfunc init() { scrobbler.Register(s{}) }\n\nfunc main() {}\n'
                    f'// {uuid.uuid4()}\n')})
    with pytest.raises(CompileError) as e:
        build(folder)
    assert str(e.value).endswith(
        "scrobbler.Scrobbler gained PlaybackReport (nd_scrobbler_playback_report) in Navidrome "
        "ae0e0c89d, 2026-05-02: the bundled PDK is Navidrome's newest, whatever PDK version the "
        "plugin was written against (its go.mod asks for v0.0.0-20260426221614-5d1c1157b5bd); "
        "add the method (Navidrome calls it) to build here")


def test_a_websocket_plugin_reading_binary_data_as_a_string_is_told_it_is_bytes_now(tmp_path):
    # As Navidrome's own plugins/testdata/test-websocket was written: Data was a base64 string.
    folder = write(tmp_path / "ws", {
        "go.mod": f"module example.com/ws\n\ngo 1.25\n\nrequire {PDK} v0.0.0\n",
        "main.go": ('package main\n\nimport (\n\t"github.com/navidrome/navidrome/plugins/pdk/go/'
                    'pdk"\n\t"github.com/navidrome/navidrome/plugins/pdk/go/websocket"\n)\n\n'
                    'type w struct{}\n\nfunc (w) OnBinaryMessage(input websocket.'
                    'OnBinaryMessageRequest) error {\n\tpdk.Log(pdk.LogInfo, "binary:"+input.Data)'
                    '\n\treturn nil\n}\n\nfunc init() { websocket.Register(w{}) }\n\n'
                    f'func main() {{}}\n// {uuid.uuid4()}\n')})
    with pytest.raises(CompileError) as e:
        build(folder)
    text = str(e.value)
    assert "mismatched types untyped string and []byte" in text
    assert text.endswith(BINARY_DATA_HINT)


def test_relative_replace_of_another_module_is_honoured(tmp_path):
    write(tmp_path / "lib", {"go.mod": "module example.com/lib\n\ngo 1.21\n",
                             "lib.go": 'package lib\n\nconst Word = "sibling"\n'})
    folder = write(tmp_path / "plugin", {
        "go.mod": "module example.com/p\n\ngo 1.25\n\nrequire example.com/lib v0.0.0\n\n"
                  "replace example.com/lib => ../lib\n",
        "main.go": 'package main\n\nimport (\n\t"example.com/lib"\n\n\t"github.com/extism/go-pdk"'
                   f'\n)\n\n//go:wasmexport word\nfunc word() int32 {{ pdk.OutputString(lib.Word)'
                   f'; return 0 }}\n\nfunc main() {{}}\n// {uuid.uuid4()}\n'})
    assert call(build(folder), "word", b"") == b"sibling"


def test_go_mod_of_the_old_layout_with_host_as_its_own_module_builds(tmp_path):
    # Navidrome's examples once required and replaced .../pdk/go/host as a module of its own;
    # the bundled PDK has that package inside its one module.
    folder = write(tmp_path / "old", {
        "go.mod": (f"module example.com/old\n\ngo 1.25\n\nrequire (\n\t{PDK}/host v0.0.0\n"
                   f"\tgithub.com/extism/go-pdk v1.1.3\n)\n\n"
                   f"replace {PDK}/host => ../../pdk/go/host\n"),
        "main.go": ('package main\n\nimport (\n\t"github.com/extism/go-pdk"\n\n'
                    f'\t"{PDK}/host"\n)\n\n//go:wasmexport old\nfunc old() int32 {{\n'
                    '\tvar user host.User\n\tpdk.OutputString("old layout" + user.UserName)\n'
                    f'\treturn 0\n}}\n\nfunc main() {{}}\n// {uuid.uuid4()}\n')})
    assert call(build(folder), "old", b"") == b"old layout"


def test_go_mod_with_an_older_go_line_and_the_upstream_pdks_indirect_requires_builds(tmp_path):
    # A go.mod written against the upstream PDK (go 1.23, testify and friends listed as
    # indirect): offline, Go could only raise the go line itself by loading all of them.
    folder = write(tmp_path / "older", {
        "go.mod": (f"module example.com/older\n\ngo 1.23\n\nrequire {PDK} v0.0.0\n\n"
                   "require (\n\tgithub.com/davecgh/go-spew v1.1.1 // indirect\n"
                   "\tgithub.com/stretchr/testify v1.11.1 // indirect\n)\n"),
        "main.go": ('package main\n\nimport "github.com/navidrome/navidrome/plugins/pdk/go/pdk"'
                    '\n\n//go:wasmexport older\nfunc older() int32 {\n'
                    '\tpdk.OutputString("built")\n\treturn 0\n}\n\nfunc main() {}\n'
                    f'// {uuid.uuid4()}\n')})
    assert call(build(folder), "older", b"") == b"built"


def test_adapted_go_mod_raises_an_older_go_line_in_place(tmp_path):
    lines = adapt_go_mod("module m\n\ngo 1.23\n", tmp_path).splitlines()
    assert lines[2] == "go 1.24  // raised by nd-notebook from 1.23 (the bundled PDK's)"
    assert adapt_go_mod("module m\n\ngo 1.25.1\n", tmp_path).splitlines()[2] == "go 1.25.1"


def test_error_in_a_sub_package_names_its_file_in_the_folder(project):
    (project / "greeting" / "greeting.go").write_text(GREETING_GO.replace('"hello "', "hi"))
    with pytest.raises(CompileError) as info:
        build(project)
    assert str(info.value) == "greeting/greeting.go:3:41: undefined: hi"


def test_go_mod_asking_for_a_newer_go_says_how_to_fix_it(project):
    (project / "go.mod").write_text(GO_MOD.replace("go 1.25", "go 1.99"))
    with pytest.raises(CompileError) as info:
        build(project)
    assert "(the plugin's go.mod asks for Go 1.99 and this build runs go 1." in str(info.value)
    assert "lower its `go` line, or build with a newer Go" in str(info.value)


def test_missing_path_is_a_one_line_error(tmp_path):
    with pytest.raises(SourceNotFoundError) as info:
        build(tmp_path / "nope")
    assert info.value._render_traceback_() == [
        (f"SourceNotFoundError: no such plugin source: '{tmp_path / 'nope'}' "
        "(expected a .go or .wat file, or a plugin folder)")]


def test_folder_without_go_files_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CompileError, match="no .go file at the top of the plugin folder"):
        build(tmp_path / "empty")


def test_go_file_path_builds_that_file(tmp_path):
    source = tmp_path / "one.go"
    source.write_text(f"//go:wasmexport one\nfunc one() int32 {{ return 0 }}\n// {uuid.uuid4()}\n")
    assert call(build(source), "one", b"") == b""


def test_go_file_named_by_a_string_builds_that_file(tmp_path):
    source = tmp_path / "two.go"
    source.write_text(f"//go:wasmexport two\nfunc two() int32 {{ return 0 }}\n// {uuid.uuid4()}\n")
    assert call(build(str(source)), "two", b"") == b""


def test_missing_go_file_named_by_a_string_is_a_one_line_error(tmp_path):
    with pytest.raises(SourceNotFoundError, match="no such plugin source: .*gone.go"):
        build(str(tmp_path / "gone.go"))


# -- go.mod handling -------------------------------------------------------------------------------
def test_adapted_go_mod_keeps_line_numbers_and_replaces_the_pdk(tmp_path):
    text = adapt_go_mod(GO_MOD, tmp_path)
    lines = text.splitlines()
    assert lines[:5] == GO_MOD.splitlines()[:5]  # module, go 1.25, require: where they were
    assert lines[6] == f"// (replaced by nd-notebook) replace {PDK} => ../../pdk/go"
    assert f"replace {PDK} => {pdk_dir().as_posix()}" in lines
    assert lines.count(f"require {PDK} v0.0.0") == 1  # already required: not added twice


def test_adapted_go_mod_drops_require_and_replace_below_the_pdk_module(tmp_path):
    text = adapt_go_mod(f"module m\n\nrequire {PDK}/host v0.0.0\n\n"
                        f"replace {PDK}/host => ../../pdk/go/host\n", tmp_path)
    lines = text.splitlines()
    assert lines[2] == f"// (replaced by nd-notebook) require {PDK}/host v0.0.0"
    assert lines[4] == f"// (replaced by nd-notebook) replace {PDK}/host => ../../pdk/go/host"


def test_adapted_go_mod_makes_relative_replace_targets_absolute(tmp_path):
    text = adapt_go_mod("module m\n\nreplace (\n\texample.com/x => ./x\n)\n", tmp_path)
    assert f"\texample.com/x => {(tmp_path / 'x').as_posix()}" in text.splitlines()


# -- third-party modules ---------------------------------------------------------------------------
def greet_module(version: str) -> tuple[str, dict[str, str]]:
    """A tiny third-party module, example.com/greet, in a version no cache has seen."""
    return "example.com/greet", {
        "go.mod": "module example.com/greet\n\ngo 1.21\n",
        "greet.go": f'package greet\n\nfunc Hi() string {{ return "hi from {version}" }}\n'}


def module_proxy(root: Path, module: str, version: str, files: dict[str, str]) -> Path:
    """A file-based GOPROXY holding one module version: list, .info, .mod and .zip."""
    at = root / module / "@v"
    at.mkdir(parents=True)
    (at / "list").write_text(f"{version}\n")
    (at / f"{version}.info").write_text(json.dumps({"Version": version,
                                                     "Time": "2025-01-01T00:00:00Z"}))
    (at / f"{version}.mod").write_text(files["go.mod"])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(f"{module}@{version}/{name}", text)
    (at / f"{version}.zip").write_bytes(buf.getvalue())
    return root


def plugin_using(tmp_path: Path, module: str, version: str) -> Path:
    return write(tmp_path / "plugin", {
        "go.mod": f"module example.com/p\n\ngo 1.25\n\nrequire {module} {version}\n",
        "main.go": f'package main\n\nimport (\n\t"{module}"\n\n\t"github.com/extism/go-pdk"\n)\n\n'
                   "//go:wasmexport hi\nfunc hi() int32 { pdk.OutputString(greet.Hi()); "
                   "return 0 }\n\nfunc main() {}\n"})


def fresh_version() -> str:
    return f"v1.{uuid.uuid4().int % 10**9}.0"


def test_third_party_module_comes_from_the_goproxy_of_the_environment(tmp_path, monkeypatch):
    version = fresh_version()
    module, files = greet_module(version)
    proxy = module_proxy(tmp_path / "proxy", module, version, files)
    monkeypatch.setenv("GOPROXY", proxy.as_uri())
    monkeypatch.setenv("GOSUMDB", "off")  # the test module has no checksum database entry
    wasm = build(plugin_using(tmp_path, module, version))
    assert call(wasm, "hi", b"") == f"hi from {version}".encode()


def test_local_module_cache_serves_modules_offline(tmp_path, monkeypatch):
    version = fresh_version()
    module, files = greet_module(version)
    module_proxy(tmp_path / "gomodcache" / "cache" / "download", module, version, files)
    monkeypatch.setenv("GOMODCACHE", str(tmp_path / "gomodcache"))
    monkeypatch.setenv("GOSUMDB", "off")
    monkeypatch.delenv("GOPROXY")  # Go's default proxy: never reached, the cache answers first
    wasm = build(plugin_using(tmp_path, module, version))
    assert call(wasm, "hi", b"") == f"hi from {version}".encode()


def test_vendor_folder_builds_offline(tmp_path, monkeypatch):
    version = fresh_version()
    module, files = greet_module(version)
    proxy = module_proxy(tmp_path / "proxy", module, version, files)
    folder = plugin_using(tmp_path, module, version)
    with (folder / "go.mod").open("a") as f:  # go-pdk from a local copy, as Navidrome's examples
        f.write(f"require github.com/extism/go-pdk v1.1.3\n"
                f"replace github.com/extism/go-pdk => {EXTISM_DIR.as_posix()}\n")
    env = {**go_env(resolve_go(None)), "GOPROXY": proxy.as_uri(), "GOSUMDB": "off",
           "GOFLAGS": "-mod=mod"}
    for step in ("tidy", "vendor"):  # as a plugin author does: go mod tidy && go mod vendor
        subprocess.run([str(resolve_go(None).path), "mod", step], cwd=folder, env=env,
                       check=True, capture_output=True, text=True)
    shutil.rmtree(proxy)  # from now on only vendor/ has the module
    assert call(build(folder), "hi", b"") == f"hi from {version}".encode()


def test_missing_module_offline_names_it_and_the_ways_to_provide_it(tmp_path):
    version = fresh_version()
    with pytest.raises(CompileError) as info:
        build(plugin_using(tmp_path, "example.com/greet", version))
    message = str(info.value)
    assert f"missing Go module: example.com/greet {version}. To provide it:" in message
    assert "with network: through the module proxy GOPROXY (now off;" in message
    assert "offline: a vendor/ folder in the plugin (`go mod vendor`)" in message
    assert "offline: a local module cache, GOPROXY=file://" in message


# -- %%ndfile --------------------------------------------------------------------------------------
@pytest.fixture
def ip():
    shell = globalipapp.start_ipython() or globalipapp.get_ipython()
    shell.run_line_magic("load_ext", "nd_notebook")
    before = set(shell.user_ns)
    yield shell
    shell.run_line_magic("unload_ext", "nd_notebook")
    for name in set(shell.user_ns) - before:
        del shell.user_ns[name]


def run_cell(shell, text: str) -> str:
    with capture_output() as cap:
        shell.run_cell(text)
    return cap.stdout + cap.stderr


PLUGIN_CELL = """import (
	"ndplugin/greeting"

	"github.com/navidrome/navidrome/plugins/pdk/go/pdk"
)

//go:wasmexport greet
func greet() int32 {
	pdk.OutputString(greeting.Hello(pdk.InputString()) + suffix())
	return 0
}
"""


def test_ndfile_cells_become_files_of_the_next_plugin(ip):
    tag = uuid.uuid4()
    out = run_cell(ip, f'%%ndfile helper.go\nfunc suffix() string {{ return "?" }} // {tag}\n')
    assert out.startswith("%%ndfile helper.go: 1 line kept for the next %%ndplugin cell")
    run_cell(ip, f"%%ndfile greeting/greeting.go\n{GREETING_GO}")
    run_cell(ip, f"%%ndplugin multi\n{PLUGIN_CELL}")
    assert ip.user_ns["multi"].call("greet", b"cy", raw=True) == b"hello cy?"


def test_ndfile_go_mod_names_the_module_its_packages_live_in(ip):
    run_cell(ip, "%%ndfile go.mod\nmodule example.com/cells\n\ngo 1.25\n")
    run_cell(ip, f'%%ndfile helper.go\nfunc suffix() string {{ return "" }} // {uuid.uuid4()}\n')
    run_cell(ip, f"%%ndfile greeting/greeting.go\n{GREETING_GO}")
    run_cell(ip, "%%ndplugin cells\n" + PLUGIN_CELL.replace("ndplugin/", "example.com/cells/"))
    assert ip.user_ns["cells"].call("greet", b"ed", raw=True) == b"hello ed"


def test_plugin_summary_lists_the_ndfiles(ip):
    run_cell(ip, f'%%ndfile helper.go\nfunc suffix() string {{ return "" }} // {uuid.uuid4()}\n')
    run_cell(ip, f"%%ndfile greeting/greeting.go\n{GREETING_GO}")
    with capture_output() as cap:
        ip.run_cell(f"%%ndplugin listed\n{PLUGIN_CELL}")
    summary = cap.outputs[0].data["text/plain"]
    assert "  files         helper.go, greeting/greeting.go\n" in summary


def test_plugin_cell_run_again_keeps_its_ndfiles(ip):
    run_cell(ip, f'%%ndfile helper.go\nfunc suffix() string {{ return "." }} // {uuid.uuid4()}\n')
    run_cell(ip, f"%%ndfile greeting/greeting.go\n{GREETING_GO}")
    run_cell(ip, f"%%ndplugin again\n{PLUGIN_CELL}")
    run_cell(ip, f"%%ndplugin again\n{PLUGIN_CELL}")
    assert ip.user_ns["again"].call("greet", b"di", raw=True) == b"hello di."


def test_error_in_an_ndfile_names_its_cell_and_line(ip):
    ip.execution_count = 7
    run_cell(ip, f"%%ndfile helper.go\n// {uuid.uuid4()}\nfunc suffix() string {{ return nope }}\n")
    ip.execution_count = 8
    run_cell(ip, f"%%ndfile greeting/greeting.go\n{GREETING_GO}")
    out = run_cell(ip, f"%%ndplugin broken\n{PLUGIN_CELL}")
    assert "helper.go (cell [7]) line 3, col 31: undefined: nope" in out
    assert "Traceback" not in out


def test_error_in_the_plugin_cell_still_names_the_cell_line(ip):
    run_cell(ip, f"%%ndfile greeting/greeting.go\n{GREETING_GO}// {uuid.uuid4()}\n")
    out = run_cell(ip, f"%%ndplugin broken\n{PLUGIN_CELL}func suffix() string {{ return nope }}\n")
    line = 2 + PLUGIN_CELL.count("\n")  # the magic line is line 1
    assert f"cell line {line}, col 31: undefined: nope" in out


def test_ndfile_manifest_json_is_the_plugins_manifest(ip):
    run_cell(ip, f"%%ndfile manifest.json\n{json.dumps({**MANIFEST, 'name': 'From ndfile'})}")
    run_cell(ip, f'%%ndfile helper.go\nfunc suffix() string {{ return "" }} // {uuid.uuid4()}\n')
    run_cell(ip, f"%%ndfile greeting/greeting.go\n{GREETING_GO}")
    run_cell(ip, f"%%ndplugin named\n{PLUGIN_CELL}")
    assert ip.user_ns["named"].manifest.name == "From ndfile"


def test_ndfile_manifest_json_that_is_not_json_names_its_cell_once(ip):
    ip.execution_count = 26
    run_cell(ip, '%%ndfile manifest.json\n{"name": "x",}')
    run_cell(ip, f"%%ndfile greeting/greeting.go\n{GREETING_GO}")
    run_cell(ip, f'%%ndfile helper.go\nfunc suffix() string {{ return "" }} // {uuid.uuid4()}\n')
    with pytest.raises(UsageError) as e:
        ip.run_cell_magic("ndplugin", "named", PLUGIN_CELL)
    assert str(e.value) == ("%%ndfile manifest.json (cell [26]): not JSON: Expecting property "
                            "name enclosed in double quotes at line 2")  # line 1: the magic


def test_ndfile_list_and_clear(ip):
    ip.execution_count = 3
    run_cell(ip, "%%ndfile go.mod\nmodule example.com/x\n")
    assert run_cell(ip, "%ndfile --list") == (
        "pending (for the next %%ndplugin): go.mod (cell [3])\n")
    assert run_cell(ip, "%ndfile --clear") == "%ndfile: forgot 1 file\n"
    assert run_cell(ip, "%ndfile --list") == "pending (for the next %%ndplugin): none\n"


@pytest.mark.parametrize("name", ["../escape.go", "/abs.go", "a/../../b.go"])
def test_ndfile_path_outside_the_module_is_a_usage_error(ip, name):
    with pytest.raises(UsageError, match="is not a relative file name inside the plugin module"):
        ip.run_cell_magic("ndfile", name, "package main\n")


def test_ndfile_named_like_the_plugin_cell_is_a_usage_error(ip):
    with pytest.raises(UsageError, match="plugin.go is the %%ndplugin cell's own file"):
        ip.run_cell_magic("ndfile", "plugin.go", "package main\n")


def test_host_loads_a_folder_build_with_its_manifest(project, tmp_path):
    result = build_detailed(project)
    with Host(tmp_path / "data") as host:
        plugin = host.load(result.wasm, manifest=result.manifest, name="hello")
        assert plugin.manifest.name == "Hello"


@pytest.mark.slow
def test_host_loads_a_plugin_folder_with_its_manifest(tmp_path):
    from nd_notebook import Host

    folder = tmp_path / "greeter"
    folder.mkdir()
    (folder / "main.go").write_text(
        'package main\n\nimport "github.com/navidrome/navidrome/plugins/pdk/go/metadata"\n\n'
        "type p struct{}\n\n"
        "func (p) GetArtistBiography(r metadata.ArtistRequest) "
        "(*metadata.ArtistBiographyResponse, error) {\n"
        '\treturn &metadata.ArtistBiographyResponse{Biography: "hi " + r.Name}, nil\n}\n\n'
        "func init() { metadata.Register(p{}) }\n\nfunc main() {}\n")
    (folder / "manifest.json").write_text(
        '{"name": "Greeter", "author": "me", "version": "1.0.0"}')
    with Host(tmp_path / "nd") as host:
        plugin = host.load(folder)
        assert plugin.id == "greeter" and plugin.manifest.name == "Greeter"
        assert plugin.metadata.artist_biography(name="Ada") == {"biography": "hi Ada"}


def test_a_replace_of_the_pdk_by_an_authors_fork_is_built_against_the_fork(tmp_path, monkeypatch):
    # A real plugin's go.mod pointed the PDK at its author's fork (a field upstream lacks): the
    # replace was dropped without a word and the build failed on the missing field. It is kept,
    # as `go build` keeps it, and the build says so; a local path (a Navidrome checkout's
    # ../../pdk/go) still gives way to the bundled PDK.
    version = fresh_version()
    fork = "example.com/fork/pdk/go"
    proxy = module_proxy(tmp_path / "proxy", fork, version, {
        "go.mod": f"module {PDK}\n\ngo 1.21\n",  # a fork keeps upstream's module line
        "pdk/fork.go": 'package pdk\n\nfunc ForkGreeting() string { return "from the fork" }\n'})
    monkeypatch.setenv("GOPROXY", proxy.as_uri())
    monkeypatch.setenv("GOSUMDB", "off")
    folder = write(tmp_path / "plugin", {
        "go.mod": (f"module example.com/p\n\ngo 1.25\n\nrequire {PDK} v0.0.0\n\n"
                   f"replace {PDK} => {fork} {version}\n"),
        "main.go": (f'package main\n\nimport (\n\t"{PDK}/pdk"\n\n\tgopdk "github.com/extism/go-pdk"\n'
                    ")\n\n//go:wasmexport hi\nfunc hi() int32 { gopdk.OutputString("
                    "pdk.ForkGreeting()); return 0 }\n\nfunc main() {}\n")})
    built = build_detailed(folder)
    assert call(built.wasm, "hi", b"") == b"from the fork"
    assert built.warnings == ((f"go.mod replaces {PDK} with {fork} {version}: built against that "
                              "module (from the module proxy, GOPROXY), not nd-notebook's "
                              "bundled copy"),)
    adapted = adapt_go_mod((folder / "go.mod").read_text(), folder).splitlines()
    assert adapted[6] == f"replace {PDK} => {fork} {version}"
    assert not any(line.startswith(f"replace {PDK} =>") for line in adapted[7:])
