"""Bundled PDK parity with upstream: the exported identifiers name for name, the
github.com/extism/go-pdk stand-in on its own, and what each go-pdk helper puts on the wire.

The identifiers Navidrome's Go PDK exports are transcribed in tests/data/go-pdk-api-identifiers.txt
(from the spec's go-pdk-api.md) and compared in both directions with the generated Go sources.
The wire tests run real Go plugins under Extism against an HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import http.server
import re
import subprocess
import threading
from pathlib import Path

import pytest

from nd_notebook import Host
from nd_notebook.errors import NotImplementedByPluginError, PluginNotFoundError
from nd_notebook.pdk import EXTISM_DIR, EXTISM_MODULE, GO_DIR

API_FILE = Path(__file__).parent / "data" / "go-pdk-api-identifiers.txt"
NAVIDROME_PACKAGES = ["host", "lifecycle", "lyrics", "metadata", "pdk", "scheduler", "scrobbler",
                      "sonicsimilarity", "taskworker", "types", "websocket"]
CAPABILITY_PACKAGES = ["lifecycle", "lyrics", "metadata", "scheduler", "scrobbler",
                       "sonicsimilarity", "taskworker", "websocket"]

# Identifiers the bundled PDK exports beyond the list, each with the reason it is deliberate.
DELIBERATE_EXTRAS: dict[str, str] = {}

# github.com/extism/go-pdk/http as upstream v1.1.3 has it.
EXTISM_HTTP_API = {"HTTPTransport", "HTTPTransport.RoundTrip"}


# ---- exported identifiers of Go sources ------------------------------------------------------

_TOP = re.compile(r"^(?:func (?:\(\w+ \*?(\w+)\) )?([A-Z]\w*)\(|type ([A-Z]\w*) (.*)$"
                  r"|(?:const|var) ([A-Z]\w*)\b|(?:const|var) \($)", re.MULTILINE)


def exported(folder: Path, aliases_from: dict[str, set[str]] | None = None) -> set[str]:
    """Exported names of the Go package in ``folder``: ``Name`` and ``Type.Member``.

    Members of a type alias ``X = extism.Y`` are taken from ``aliases_from`` (the stand-in's).
    """
    names: set[str] = set()
    for path in sorted(folder.glob("*.go")):
        text = path.read_text()
        for m in _TOP.finditer(text):
            receiver, func, typ, rest, single = m.group(1, 2, 3, 4, 5)
            if func:
                names.add(f"{receiver}.{func}" if receiver else func)
            elif typ:
                names.add(typ)
                names |= {f"{typ}.{member}" for member in _members(text, m.end(), rest)}
                target = re.fullmatch(r"= extism\.(\w+)", rest)
                if target and aliases_from is not None:
                    names |= {f"{typ}.{n.split('.', 1)[1]}" for n in aliases_from
                              if n.startswith(target.group(1) + ".")}
            elif single:
                names.add(single)
            else:
                block = text[m.end():text.index("\n)", m.end())]
                names |= set(re.findall(r"^\t([A-Z]\w*)\b", block, re.MULTILINE))
    return names


def _members(text: str, start: int, rest: str) -> list[str]:
    """Exported fields of a struct or methods of an interface declared at ``start``."""
    if rest not in ("struct {", "interface {"):
        return []
    body = text[start:text.index("\n}", start)]
    pattern = r"^\t([A-Z]\w*) " if rest == "struct {" else r"^\t([A-Z]\w*)\("
    return re.findall(pattern, body, re.MULTILINE)


def listed() -> set[str]:
    lines = (line.strip() for line in API_FILE.read_text().splitlines())
    return {line for line in lines if line and not line.startswith("#")}


def bundled() -> set[str]:
    extism = exported(EXTISM_DIR)
    return {f"{pkg}.{name}" for pkg in NAVIDROME_PACKAGES
            for name in exported(GO_DIR / pkg, aliases_from=extism)}


def test_every_listed_identifier_is_in_the_bundled_pdk():
    assert sorted(listed() - bundled()) == []


def test_bundled_pdk_exports_nothing_unlisted_but_deliberate_extras():
    assert sorted(bundled() - listed() - set(DELIBERATE_EXTRAS)) == []


def test_deliberate_extras_are_really_extras():
    assert sorted(set(DELIBERATE_EXTRAS) & listed()) == []
    assert sorted(set(DELIBERATE_EXTRAS) - bundled()) == []


def test_identifier_list_covers_every_package():
    assert {name.split(".")[0] for name in listed()} == set(NAVIDROME_PACKAGES)


@pytest.mark.parametrize("package", CAPABILITY_PACKAGES)
def test_capability_package_declares_not_implemented_code_as_int32_minus_two(package):
    text = (GO_DIR / package / f"{package}.go").read_text()
    assert "\nconst NotImplementedCode int32 = -2\n" in text


@pytest.mark.parametrize("package", CAPABILITY_PACKAGES)
def test_unimplemented_exports_return_not_implemented_code(package):
    text = (GO_DIR / package / "nd_exports.go").read_text()
    exports = text.count("//go:wasmexport ")
    assert exports and text.count("\t\treturn NotImplementedCode\n") == exports
    assert "return -2" not in text


# ---- the github.com/extism/go-pdk stand-in ---------------------------------------------------


def test_stand_in_root_package_exports_what_navidromes_pdk_package_aliases():
    navidrome = {name.split(".", 1)[1] for name in listed() if name.startswith("pdk.")}
    assert exported(EXTISM_DIR) == navidrome


def test_stand_in_http_package_exports_the_upstream_transport():
    assert exported(EXTISM_DIR / "http") == EXTISM_HTTP_API


def test_stand_in_wasi_reactor_is_package_reactor_exporting_no_go_names():
    files = sorted((EXTISM_DIR / "wasi-reactor").glob("*.go"))
    assert files and all("\npackage reactor\n" in p.read_text() for p in files)
    assert exported(EXTISM_DIR / "wasi-reactor") == set()


def test_stand_in_wasi_reactor_exports_initialize_only_under_tinygo():
    tinygo = [p for p in (EXTISM_DIR / "wasi-reactor").glob("*.go")
              if "//export _initialize" in p.read_text()]
    assert [p.read_text().split("\n\n")[1] for p in tinygo] == ["//go:build tinygo"]


def test_stand_in_go_mod_requires_nothing():
    text = (EXTISM_DIR / "go.mod").read_text()
    assert text.splitlines()[0] == f"module {EXTISM_MODULE}"
    assert "require" not in text and "replace" not in text


def test_new_http_request_starts_with_an_empty_header_map():
    text = (EXTISM_DIR / "pdk.go").read_text()
    body = text[text.index("func NewHTTPRequest("):]
    body = body[:body.index("\n}\n")]
    assert "Headers: map[string]string{}" in body


def test_unloading_an_unknown_plugin_says_not_found(tmp_path):
    with Host(tmp_path) as host, pytest.raises(PluginNotFoundError) as e:
        host.unload("x")
    assert str(e.value) == 'plugin "x" not found'


# ---- on the wire: real Go plugins under Extism -----------------------------------------------

WIRE_PLUGIN = """\
package main

import (
	"strconv"

	"github.com/navidrome/navidrome/plugins/pdk/go/lifecycle"
	"github.com/navidrome/navidrome/plugins/pdk/go/lyrics"
	"github.com/navidrome/navidrome/plugins/pdk/go/metadata"
	"github.com/navidrome/navidrome/plugins/pdk/go/pdk"
	"github.com/navidrome/navidrome/plugins/pdk/go/scheduler"
	"github.com/navidrome/navidrome/plugins/pdk/go/scrobbler"
	"github.com/navidrome/navidrome/plugins/pdk/go/sonicsimilarity"
	"github.com/navidrome/navidrome/plugins/pdk/go/taskworker"
	"github.com/navidrome/navidrome/plugins/pdk/go/websocket"
)

type fetched struct {
	Status  uint16            `json:"status"`
	Body    string            `json:"body"`
	Headers map[string]string `json:"headers"`
}

func output(v any) int32 {
	if err := pdk.OutputJSON(v); err != nil {
		pdk.SetError(err)
		return 1
	}
	return 0
}

func text(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}

//go:wasmexport fetch_plain
func fetchPlain() int32 {
	resp := pdk.NewHTTPRequest(pdk.MethodGet, pdk.InputString()).Send()
	return output(fetched{resp.Status(), string(resp.Body()), resp.Headers()})
}

//go:wasmexport fetch_with_headers
func fetchWithHeaders() int32 {
	resp := pdk.NewHTTPRequest(pdk.MethodPost, pdk.InputString()).
		SetHeader("X-One", "1").
		SetHeader("X-Two", "two").
		SetBody([]byte("payload")).
		Send()
	return output(fetched{resp.Status(), string(resp.Body()), resp.Headers()})
}

//go:wasmexport config_get
func configGet() int32 {
	value, ok := pdk.GetConfig(pdk.InputString())
	return output(map[string]any{"value": value, "ok": ok})
}

//go:wasmexport vars_roundtrip
func varsRoundtrip() int32 {
	before := pdk.GetVar("word")
	pdk.SetVar("word", []byte("hello"))
	after := pdk.GetVar("word")
	pdk.SetVarInt("count", 41)
	count := pdk.GetVarInt("count") + 1
	pdk.SetVar("empty", []byte{})
	empty := pdk.GetVar("empty")
	pdk.RemoveVar("word")
	removed := pdk.GetVar("word")
	return output(map[string]any{"before": text(before), "after": text(after), "count": count,
		"empty": text(empty), "removed": text(removed)})
}

//go:wasmexport log_levels
func logLevels() int32 {
	for _, level := range []pdk.LogLevel{pdk.LogTrace, pdk.LogDebug, pdk.LogInfo, pdk.LogWarn, pdk.LogError} {
		pdk.Log(level, "level "+strconv.Itoa(int(level)))
	}
	pdk.LogMemory(pdk.LogInfo, pdk.AllocateString("from a memory block"))
	pdk.OutputString("logged")
	return 0
}

//go:wasmexport not_implemented_codes
func notImplementedCodes() int32 {
	var codes []int32 = []int32{lifecycle.NotImplementedCode, lyrics.NotImplementedCode,
		metadata.NotImplementedCode, scheduler.NotImplementedCode, scrobbler.NotImplementedCode,
		sonicsimilarity.NotImplementedCode, taskworker.NotImplementedCode, websocket.NotImplementedCode}
	return output(codes)
}

func main() {}
"""

# Imports github.com/extism/go-pdk (and its http and wasi-reactor) only; built in a folder whose
# go.mod requires nothing else, with a plain `go build`: it calls OutputJSON, so it imports
# go-pdk/stdjson itself (nd-notebook's build would add that import).
DIRECT_PLUGIN = """\
package main

import (
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/extism/go-pdk"
	pdkhttp "github.com/extism/go-pdk/http"
	_ "github.com/extism/go-pdk/stdjson"
	_ "github.com/extism/go-pdk/wasi-reactor"
)

//go:wasmexport direct_fetch
func directFetch() int32 {
	resp := pdk.NewHTTPRequest(pdk.MethodGet, pdk.InputString()).Send()
	pdk.OutputString(strconv.Itoa(int(resp.Status())) + " " + string(resp.Body()))
	return 0
}

//go:wasmexport transport_fetch
func transportFetch() int32 {
	client := http.Client{Transport: &pdkhttp.HTTPTransport{}}
	req, err := http.NewRequest(http.MethodPut, pdk.InputString(), strings.NewReader("sent"))
	if err != nil {
		pdk.SetError(err)
		return 1
	}
	req.Header.Set("X-Via", "transport")
	req.Header.Add("X-Multi", "a")
	req.Header.Add("X-Multi", "b")
	resp, err := client.Do(req)
	if err != nil {
		pdk.SetError(err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if err := pdk.OutputJSON(map[string]any{"status": resp.StatusCode, "body": string(body),
		"reply": resp.Header.Get("X-Reply")}); err != nil {
		pdk.SetError(err)
		return 1
	}
	return 0
}

func main() {}
"""

HTTP_ONLY_LOCAL = {"http": {"requiredHosts": ["127.0.0.1"]}}


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers every request with 200 "pong" and X-Reply: ok, recording what it received."""

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.server.requests.append({
            "method": self.command, "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": self.rfile.read(length),
        })
        self.send_response(200)
        self.send_header("X-Reply", "ok")
        self.send_header("Content-Length", "4")
        self.end_headers()
        self.wfile.write(b"pong")

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """An HTTP server on 127.0.0.1 (port 0) for one test; ``.requests`` lists what it saw."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    srv.requests = []
    srv.url = f"http://127.0.0.1:{srv.server_port}/wire?q=1"
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join()


@pytest.fixture(scope="module")
def wire_wasm() -> bytes:
    from nd_notebook import build

    return build(WIRE_PLUGIN)


@pytest.fixture(scope="module")
def direct_wasm(tmp_path_factory) -> bytes:
    """DIRECT_PLUGIN built offline in a folder whose go.mod requires only github.com/extism/go-pdk."""
    from nd_notebook.build import go_env
    from nd_notebook.build.toolchain import resolve_go

    tc = resolve_go()
    folder = tmp_path_factory.mktemp("direct")
    (folder / "main.go").write_text(DIRECT_PLUGIN)
    go_mod = (f"module direct\n\ngo 1.24\n\nrequire {EXTISM_MODULE} v1.1.3\n\n"
              f"replace {EXTISM_MODULE} => {EXTISM_DIR.as_posix()}\n")
    (folder / "go.mod").write_text(go_mod)
    proc = subprocess.run([str(tc.path), "build", "-buildmode=c-shared", "-o", "plugin.wasm", "."],
                          cwd=folder, env=go_env(tc), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert (folder / "go.mod").read_text() == go_mod
    return (folder / "plugin.wasm").read_bytes()


@pytest.fixture
def wire(tmp_path, wire_wasm):
    with Host(tmp_path) as host:
        # the scrobbler capability (imported for NotImplementedCode) needs the users permission
        yield host.load(wire_wasm, name="wire", permissions={**HTTP_ONLY_LOCAL, "users": {}},
                        config={"set": "value", "empty": ""})


@pytest.fixture
def direct(tmp_path, direct_wasm):
    with Host(tmp_path) as host:
        yield host.load(direct_wasm, name="direct", permissions=HTTP_ONLY_LOCAL)


@pytest.mark.slow
def test_http_request_without_headers_succeeds(wire, server):
    out = wire.call("fetch_plain", server.url)
    assert (out["status"], out["body"], out["headers"]["x-reply"]) == (200, "pong", "ok")


@pytest.mark.slow
def test_http_request_without_headers_sends_method_url_and_no_plugin_header(wire, server):
    wire.call("fetch_plain", server.url)
    [seen] = server.requests
    assert (seen["method"], seen["path"], seen["body"]) == ("GET", "/wire?q=1", b"")
    assert not [name for name in seen["headers"] if name.startswith("x-")]


@pytest.mark.slow
def test_http_request_headers_and_body_reach_the_server(wire, server):
    out = wire.call("fetch_with_headers", server.url)
    assert (out["status"], out["body"]) == (200, "pong")
    [seen] = server.requests
    assert (seen["method"], seen["path"], seen["body"]) == ("POST", "/wire?q=1", b"payload")
    assert (seen["headers"]["x-one"], seen["headers"]["x-two"]) == ("1", "two")


@pytest.mark.slow
def test_get_config_of_a_set_key(wire):
    assert wire.call("config_get", "set") == {"value": "value", "ok": True}


@pytest.mark.slow
def test_get_config_of_an_empty_value_reports_it_missing(wire):
    assert wire.call("config_get", "empty") == {"value": "", "ok": False}


@pytest.mark.slow
def test_get_config_of_a_missing_key(wire):
    assert wire.call("config_get", "missing") == {"value": "", "ok": False}


@pytest.mark.slow
def test_vars_round_trip_within_a_call(wire):
    out = wire.call("vars_roundtrip")
    assert out == {"before": None, "after": "hello", "count": 42, "empty": None, "removed": None}


@pytest.mark.slow
def test_vars_do_not_survive_across_calls(wire):
    wire.call("vars_roundtrip")
    assert wire.call("vars_roundtrip")["before"] is None


@pytest.mark.slow
def test_logging_at_every_level_succeeds(wire):
    assert wire.call("log_levels") == "logged"


@pytest.mark.slow
def test_not_implemented_code_is_minus_two_in_every_capability_package(wire):
    assert wire.call("not_implemented_codes") == [-2] * len(CAPABILITY_PACKAGES)


@pytest.mark.slow
def test_unregistered_export_answers_function_not_implemented(wire):
    with pytest.raises(NotImplementedByPluginError) as e:
        wire.call("nd_get_artist_url", {"id": "1", "name": "Bob"})
    assert str(e.value) == "function not implemented: nd_get_artist_url"


@pytest.mark.slow
def test_go_pdk_alone_builds_offline_and_fetches_without_headers(direct, server):
    assert direct.call("direct_fetch", server.url, raw=True) == b"200 pong"


@pytest.mark.slow
def test_go_pdk_http_transport_serves_a_net_http_client(direct, server):
    out = direct.call("transport_fetch", server.url)
    assert out == {"status": 200, "body": "pong", "reply": "ok"}
    [seen] = server.requests
    assert (seen["method"], seen["path"], seen["body"]) == ("PUT", "/wire?q=1", b"sent")
    assert (seen["headers"]["x-via"], seen["headers"]["x-multi"]) == ("transport", "a,b")


@pytest.mark.slow
def test_go_pdk_direct_plugin_exports_initialize(direct_wasm):
    import wasmtime

    module = wasmtime.Module(wasmtime.Engine(), direct_wasm)
    assert "_initialize" in {e.name for e in module.exports}
