"""Fuzzing capability exports from the ABI (nd_notebook.testing): the request strategy, the
failure kinds of plugin.fuzz, outputs checked as Navidrome decodes them, and the Go plugins of
the sample and the tutorials fuzzed clean."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import find as hypothesis_find
from watplugins import _ENV, _HELPERS, wat

import nd_notebook
from nd_notebook import Host, abi
from nd_notebook.errors import PluginCallError
from nd_notebook.gojson import decode_value, encode_struct
from nd_notebook.manifest import parse_permission_spec
from nd_notebook.testing import requests
from nd_notebook.testing.fuzz import COLUMNS

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent

COMMA_PANIC = """
package main

import (
	"strings"

	"github.com/navidrome/navidrome/plugins/pdk/go/metadata"
)

type agent struct{}

// GetArtistBiography forgets that a name may hold a comma.
func (agent) GetArtistBiography(req metadata.ArtistRequest) (*metadata.ArtistBiographyResponse, error) {
	parts := strings.Split(req.Name, ",")
	if len(parts) > 1 {
		var credits []string
		return &metadata.ArtistBiographyResponse{Biography: credits[len(parts)-1]}, nil
	}
	return &metadata.ArtistBiographyResponse{Biography: "About " + req.Name}, nil
}

func init() { metadata.Register(agent{}) }
"""


def outputs_plugin(**outputs: str) -> bytes:
    """A module whose export ``name`` outputs the fixed text ``outputs[name]``; special values:
    ``echo`` (the input), ``loop``, ``trap``, ``error`` (error_set), ``rc:<n>``."""
    data, funcs, offset = [], [], 64
    for name, text in outputs.items():
        if text == "echo":
            body = ("(local $b i64) (local.set $b (call $input_block)) "
                    "(call $output_set (local.get $b) (call $length (local.get $b))) (i32.const 0)")
        elif text == "loop":
            body = "(loop $l (br $l)) (i32.const 0)"
        elif text == "trap":
            body = "unreachable"
        elif text == "error":
            body = "(call $error_set (call $message_block)) (i32.const -1)"
        elif text.startswith("rc:"):
            body = f"(i32.const {int(text[3:])})"
        else:
            raw = text.encode()
            data.append(f'(data (i32.const {offset}) "{_wat_string(raw)}")')
            body = (f"(call $output_set (call $copy (i32.const {offset}) (i32.const {len(raw)})) "
                    f"(i64.const {len(raw)})) (i32.const 0)")
            offset += len(raw) + 8
        funcs.append(f'(func (export "{name}") (result i32) {body})')
    copy = """
  (func $copy (param $at i32) (param $n i32) (result i64)
    (local $i i32) (local $blk i64)
    (local.set $blk (call $alloc (i64.extend_i32_u (local.get $n))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (call $store_u8 (i64.add (local.get $blk) (i64.extend_i32_u (local.get $i)))
                      (i32.load8_u (i32.add (local.get $at) (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (local.get $blk))
"""
    return wat("(module\n" + _ENV + _HELPERS + copy + "\n".join(data + funcs) + ")")


def _wat_string(raw: bytes) -> str:
    return "".join(chr(b) if 32 <= b < 127 and chr(b) not in '"\\' else f"\\{b:02x}"
                   for b in raw)


@pytest.fixture(scope="module")
def comma_wasm():
    return nd_notebook.build(COMMA_PANIC)


@pytest.fixture
def host(tmp_path):
    with Host(tmp_path, timeout_ms=200) as h:
        yield h


def load_outputs(host, **outputs):
    return host.load(outputs_plugin(**outputs), name="outputs", permissions="users")


# -- plugin.fuzz ------------------------------------------------------------------------------

def test_fuzz_catches_a_panic_on_names_with_a_comma_shrunk_to_a_comma(host, comma_wasm):
    plugin = host.load(comma_wasm, name="comma")
    failures = plugin.fuzz("nd_get_artist_biography", examples=200, seed=0)
    assert len(failures) == 1
    failure = failures.iloc[0]
    assert failure["kind"] == "panic"
    assert failure["input"] == {"id": "", "name": ","}
    assert failure["message"] == ("plugin call failed: panic: runtime error: index out of range "
                                  "[1] with length 0")
    assert failure["location"].startswith("ndplugin/plugin.go:")


def test_fuzz_finding_nothing_is_an_empty_frame_with_the_columns(host):
    plugin = load_outputs(host, nd_get_artist_url='{"url":"https://example.org"}')
    failures = plugin.fuzz("nd_get_artist_url", examples=20)
    assert failures.empty
    assert list(failures.columns) == COLUMNS == ["export", "kind", "message", "location", "input"]


def test_fuzz_reports_a_call_past_the_deadline_as_timeout(host):
    failures = load_outputs(host, nd_get_artist_url="loop").fuzz("nd_get_artist_url", examples=5)
    assert failures[["kind", "message"]].values.tolist() == [
        ["timeout", "plugin call failed: timeout"]]


def test_fuzz_reports_a_wasm_trap_as_trap(host):
    failures = load_outputs(host, nd_get_artist_url="trap").fuzz("nd_get_artist_url", examples=5)
    assert failures[["kind", "message"]].values.tolist() == [
        ["trap", "plugin call failed: wasm trap: wasm `unreachable` instruction executed"]]


def test_fuzz_shrinks_to_the_minimal_request(host):
    failures = load_outputs(host, nd_get_similar_artists="trap").fuzz(
        "nd_get_similar_artists", examples=5)
    assert failures["input"].tolist() == [{"id": "", "name": "", "limit": 0}]


def test_fuzz_reports_output_navidrome_cannot_decode_with_the_go_error(host):
    plugin = load_outputs(host, nd_scrobbler_is_authorized="echo")
    failures = plugin.fuzz("nd_scrobbler_is_authorized", examples=5)
    assert failures[["kind", "message"]].values.tolist() == [
        ["invalid output", "json: cannot unmarshal object into Go value of type bool"]]


def test_fuzz_ignores_plugin_errors_unless_asked(host):
    plugin = load_outputs(host, nd_get_artist_url="error", nd_get_artist_mbid="rc:3")
    assert plugin.fuzz("nd_get_artist_url", examples=5).empty
    assert plugin.fuzz("nd_get_artist_url", examples=5, errors=True)[
        ["kind", "message"]].values.tolist() == [["error", "plugin call failed: guest says no"]]
    assert plugin.fuzz("nd_get_artist_mbid", examples=5, errors=True)[
        ["kind", "message"]].values.tolist() == [["error", "plugin call exited with code 3"]]


def test_fuzz_never_counts_function_not_implemented(host):
    plugin = load_outputs(host, nd_get_artist_url="rc:-2")
    assert plugin.fuzz("nd_get_artist_url", examples=5, errors=True).empty


def test_fuzz_refuses_an_export_the_plugin_does_not_have(host):
    plugin = load_outputs(host, nd_get_artist_url="rc:-2")
    with pytest.raises(ValueError, match="plugin 'outputs' does not export nd_get_album_info"):
        plugin.fuzz("nd_get_album_info")


def test_fuzz_refuses_an_export_without_a_navidrome_request_and_zero_examples(host):
    plugin = load_outputs(host, nd_get_artist_url="rc:-2", custom="echo")
    with pytest.raises(ValueError, match="custom is not a Navidrome capability export: fuzz "
                                         "sends the requests Navidrome sends, so it needs one "
                                         "of nd_get_artist_url"):
        plugin.fuzz("custom")
    with pytest.raises(ValueError, match="examples must be a whole number of at least 1, not 0"):
        plugin.fuzz("nd_get_artist_url", examples=0)


def test_a_kernel_interrupt_stops_the_fuzz_and_its_running_call(tmp_path):
    import os
    import signal
    import threading
    import time

    from nd_notebook.errors import FuzzInterrupted
    from nd_notebook.runtime import interrupt

    def interrupt_in_the_first_call():
        deadline = time.monotonic() + 60
        while not interrupt._running and time.monotonic() < deadline:  # a call under way
            time.sleep(0.01)
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGINT)

    with Host(tmp_path, timeout_ms=30_000) as h:
        plugin = load_outputs(h, nd_get_artist_url="loop")  # every call runs until cancelled
        threading.Thread(target=interrupt_in_the_first_call, daemon=True).start()
        started = time.monotonic()
        with pytest.raises(FuzzInterrupted) as e:
            plugin.fuzz("nd_get_artist_url", examples=1000)
        assert time.monotonic() - started < 25  # not the 30 s deadline of the looping call
        assert str(e.value) == (
            f"fuzz of nd_get_artist_url (plugin 'outputs') interrupted after {e.value.calls} "
            "calls by a kernel interrupt (KeyboardInterrupt); the Host and the plugin stay usable")
        assert e.value.calls == 1
        made = len(h.events.select("plugin_call"))
        time.sleep(0.5)
        assert len(h.events.select("plugin_call")) == made  # no call after the interrupt
        assert not [t for t in threading.enumerate()
                    if t.name.startswith("nd-notebook-fuzz") and t.is_alive()]


# -- outputs as Navidrome decodes them ---------------------------------------------------------

@pytest.mark.parametrize(("export", "output", "text"), [
    ("nd_get_artist_images", '{"images":[{"url":"x","size":"big"}]}',
     "json: cannot unmarshal string into Go struct field ImageInfo.images.size of type int32"),
    ("nd_get_artist_top_songs", '{"songs":[{"name":"x","durationMs":-1}]}',
     ("json: cannot unmarshal number -1 into Go struct field SongRef.songs.durationMs of type "
     "uint32")),
    ("nd_get_artist_images", '{"images":[5]}',
     ("json: cannot unmarshal number into Go struct field ArtistImagesResponse.images of type "
     "capabilities.ImageInfo")),
    ("nd_get_album_info", '{"url":1,"name":2}',
     "json: cannot unmarshal number into Go struct field AlbumInfoResponse.url of type string"),
    ("nd_get_artist_biography", "[1]",
     "json: cannot unmarshal array into Go value of type capabilities.ArtistBiographyResponse"),
    ("nd_get_artist_biography", "biography",
     "invalid character 'b' looking for beginning of value"),
])
def test_typed_call_of_undecodable_output_raises_the_go_decode_error(host, export, output, text):
    plugin = load_outputs(host, **{export: output})
    helper = getattr(plugin.metadata, abi.export(export).py_name)
    with pytest.raises(PluginCallError) as e:
        helper(name="x")
    assert str(e.value) == text


def test_fuzz_output_error_names_the_first_bad_field_in_document_order(host):
    plugin = load_outputs(host, nd_get_album_info='{"url":1,"name":2}')
    failures = plugin.fuzz("nd_get_album_info", examples=3)
    assert failures["message"].tolist() == [
        "json: cannot unmarshal number into Go struct field AlbumInfoResponse.url of type string"]


# -- the request strategy ---------------------------------------------------------------------

@pytest.mark.parametrize("export", [e.name for e in abi.EXPORTS if e.input])
def test_requests_are_what_go_marshals_for_the_export_input(export):
    row = abi.export(export)
    package = abi.capability(row.capability).package
    from nd_notebook.capabilities.codec import lookup_in

    lookup = lookup_in(package)
    struct = lookup(row.input)

    @settings(max_examples=25, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(requests(export))
    def check(request):
        decoded = decode_value(request, row.input, row.input, lookup)
        assert encode_struct(decoded, struct.fields, lookup=lookup) == request

    check()


def test_requests_reach_the_bounds_of_the_go_type():
    assert hypothesis_find(requests("nd_get_similar_artists"),
                           lambda r: r["limit"] == 2**31 - 1)["limit"] == 2147483647
    assert hypothesis_find(requests("nd_get_similar_artists"),
                           lambda r: r["limit"] == -(2**31))["limit"] == -2147483648


def test_requests_leave_out_empty_omitempty_fields():
    request = hypothesis_find(requests("nd_get_artist_biography"), lambda r: "mbid" not in r)
    assert request == {"id": "", "name": ""}


def test_requests_nest_artist_refs_in_tracks():
    request = hypothesis_find(requests("nd_scrobbler_scrobble"),
                              lambda r: len(r["track"]["artists"] or []) >= 2)
    assert all("name" in artist for artist in request["track"]["artists"])


def test_requests_at_seed_leave_out_fields_added_after_it():
    @settings(max_examples=40, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(requests("nd_scrobbler_scrobble", navidrome="seed"))
    def check(request):
        assert "path" not in request["track"] and "libraryId" not in request["track"]
        for artist in request["track"]["artists"] or []:
            assert not {"sortName", "role", "subRole"} & set(artist)

    check()
    at_head = hypothesis_find(requests("nd_scrobbler_scrobble"), lambda r: "path" in r["track"])
    assert at_head["track"]["path"] != ""


# -- the repository's own Go plugins, fuzzed --------------------------------------------------

def _notebook_plugins():
    """(name, Go source, permissions, config) of every %%ndplugin cell of the tutorials."""
    out = []
    for path in sorted((REPO / "notebooks").glob("0*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code" and cell.source.startswith("%%ndplugin"):
                line, _, source = cell.source.partition("\n")
                words = line.split()
                perms = words[words.index("--permissions") + 1] if "--permissions" in words \
                    else ""
                out.append((f"{path.stem}:{words[1]}", source, perms))
    return out


SAMPLE = REPO / "nd_notebook" / "samples" / "hello.go"
PLUGINS = [("samples/hello.go", SAMPLE.read_text(), "cache,kvstore:maxSize=10KB"),
           *_notebook_plugins()]


@pytest.mark.parametrize(("name", "source", "perms"), PLUGINS, ids=[p[0] for p in PLUGINS])
def test_repository_plugins_fuzz_clean(tmp_path, name, source, perms):
    wasm = nd_notebook.build(source)
    with Host(tmp_path, timeout_ms=5_000) as host:
        plugin = host.load(wasm, name="fuzzed", permissions=parse_permission_spec(perms),
                           init=False)
        exports = [e for e in plugin.exports if e in {x.name for x in abi.EXPORTS}]
        assert exports
        for export in exports:
            failures = plugin.fuzz(export, examples=40)
            assert failures.empty, failures.to_dict("records")


def test_fuzz_stores_what_hypothesis_keeps_in_the_cache_folder_not_the_working_one(tmp_path):
    # hypothesis wrote .hypothesis/ (constants/, unicode_data/) into the current folder; in a
    # fresh process (hypothesis has chosen no folder yet) a fuzz keeps it in nd-notebook's cache.
    import os
    import subprocess
    import sys

    wasm = tmp_path / "p.wasm"
    wasm.write_bytes(outputs_plugin(nd_get_artist_url='{"url":"https://example.org"}'))
    work, cache = tmp_path / "work", tmp_path / "cache"
    work.mkdir()
    code = (f"from nd_notebook import Host\n"
            f"with Host({str(tmp_path / 'data')!r}) as host:\n"
            f"    plugin = host.load({str(wasm)!r}, name='p', permissions='auto')\n"
            f"    print(plugin.fuzz('nd_get_artist_url', examples=30).empty)\n")
    env = {k: v for k, v in os.environ.items() if k != "HYPOTHESIS_STORAGE_DIRECTORY"}
    run = subprocess.run([sys.executable, "-c", code], cwd=work, capture_output=True, text=True,
                         env={**env, "ND_NOTEBOOK_CACHE_DIR": str(cache)}, timeout=300,
                         check=False)
    assert (run.returncode, run.stdout) == (0, "True\n"), run.stderr
    assert sorted(p.name for p in work.iterdir()) == []
    assert (cache / "hypothesis").is_dir()
