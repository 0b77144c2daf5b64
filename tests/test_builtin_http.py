"""Extism's built-in HTTP (``http_request``, ``http_status_code``, ``http_headers``; go-pdk's
``pdk.NewHTTPRequest``) as Navidrome's Go SDK serves it (nd_notebook/runtime/builtin_http.py),
through real wasm against a local server: allowed hosts, the panics that fail the call, the
status and headers, redirects, cassettes and faults."""

from __future__ import annotations

import json
import socket
from http.server import BaseHTTPRequestHandler

import pytest
from test_cassette import local_server
from watplugins import _ENV, _HELPERS, wat

import nd_notebook
from nd_notebook import Host
from nd_notebook.errors import LoadError, PluginCallFailedError
from nd_notebook.runtime.builtin_http import glob_match

LOOPBACK = {"http": {"requiredHosts": ["127.0.0.1"]}}


class _Handler(BaseHTTPRequestHandler):
    """/echo: the request as JSON, with two X-Twice headers; /hop/<n>: a redirect to n+1;
    /away: a redirect to localhost; /empty: 204; /big/<n>: n bytes."""

    def do_GET(self):
        self.server.seen.append((self.command, self.path, self.headers.get("Host")))
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/hop/"):
            n = int(self.path.rsplit("/", 1)[1])
            self._reply(302, [("Location", f"/hop/{n + 1}")], b"")
        elif self.path == "/away":
            port = self.server.server_address[1]
            self._reply(302, [("Location", f"http://localhost:{port}/echo")], b"")
        elif self.path == "/empty":
            self._reply(204, [], b"")
        elif self.path.startswith("/big/"):
            self._reply(200, [], b"a" * int(self.path.rsplit("/", 1)[1]))
        else:
            echo = {"method": self.command, "path": self.path, "body": body.decode(),
                    "x-test": self.headers.get("X-Test"),
                    "user-agent": self.headers.get("User-Agent")}
            self._reply(201, [("Content-Type", "application/json"), ("X-Twice", "a"),
                              ("x-twice", "b")], json.dumps(echo).encode())

    do_POST = do_GET

    def _reply(self, status, headers, body):
        self.send_response_only(status)
        for name, value in headers:
            self.send_header(name, value)
        if status != 204:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    with local_server(_Handler) as srv:
        yield srv


@pytest.fixture
def host(tmp_path):
    with Host(tmp_path) as h:
        yield h


# The request document is the call input; the output is the body; "meta" answers the status
# code (4 bytes, little-endian) then the headers JSON, before any request and after one.
RAW_SOURCE = ("(module\n" + _ENV + """
  (import "extism:host/env" "http_request" (func $http_request (param i64 i64) (result i64)))
  (import "extism:host/env" "http_status_code" (func $status (result i32)))
  (import "extism:host/env" "http_headers" (func $headers (result i64)))
""" + _HELPERS + """
  (func (export "fetch") (result i32)
    (local $r i64)
    (local.set $r (call $http_request (call $input_block) (i64.const 0)))
    (if (i64.ne (local.get $r) (i64.const 0))
      (then (call $output_set (local.get $r) (call $length (local.get $r)))))
    (i32.const 0))
  (func (export "status") (result i32)
    (call $status))
  (func (export "headers") (result i32)
    (local $h i64)
    (local.set $h (call $headers))
    (if (i64.ne (local.get $h) (i64.const 0))
      (then (call $output_set (local.get $h) (call $length (local.get $h)))))
    (i32.const 0))
)""")
RAW_WAT = wat(RAW_SOURCE)

GO_PLUGIN = r'''
package main

import (
	"encoding/json"

	pdk "github.com/extism/go-pdk"
)

func main() {}

type call struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

//go:wasmexport fetch
func fetch() int32 {
	var c call
	if err := json.Unmarshal(pdk.Input(), &c); err != nil {
		pdk.SetError(err)
		return 1
	}
	method := pdk.MethodGet
	if c.Method == "POST" {
		method = pdk.MethodPost
	}
	req := pdk.NewHTTPRequest(method, c.URL)
	for k, v := range c.Headers {
		req.SetHeader(k, v)
	}
	if c.Body != "" {
		req.SetBody([]byte(c.Body))
	}
	resp := req.Send()
	out, _ := json.Marshal(map[string]any{"status": resp.Status(), "body": string(resp.Body()),
		"headers": resp.Headers()})
	pdk.Output(out)
	return 0
}
'''


@pytest.fixture(scope="module")
def go_wasm():
    return nd_notebook.build(GO_PLUGIN)


def doc(url: str, method: str = "GET", headers: dict | None = None) -> str:
    return json.dumps({"url": url, "method": method, "headers": headers or {}})


def fetch(plugin, url: str, method: str = "GET", **more) -> dict:
    return plugin.call("fetch", {"method": method, "url": url, **more})


# -- the allowed hosts ------------------------------------------------------------------------

def test_a_refused_host_fails_the_call_with_the_go_sdks_panic(host, server):
    plugin = host.load(RAW_WAT, name="raw",
                       permissions={"http": {"requiredHosts": ["api.example.invalid"]}})
    url = server.base + "/echo"
    with pytest.raises(PluginCallFailedError) as e:
        plugin.call("fetch", doc(url))
    assert str(e.value) == (f"plugin call failed: HTTP request to '{url}' is not allowed "
                            "(recovered by wazero)")
    assert e.value.reason == f"HTTP request to '{url}' is not allowed"
    assert server.seen == []


def test_without_the_http_permission_every_request_is_refused(host, server):
    plugin = host.load(RAW_WAT, name="raw")
    with pytest.raises(PluginCallFailedError, match="is not allowed"):
        plugin.call("fetch", doc(server.base + "/echo"))
    assert server.seen == []


@pytest.mark.parametrize(("pattern", "allowed"), [
    ("127.0.0.1", True), ("127.0.0.*", True), ("127.?.0.1", True), ("{localhost,127.0.0.1}", True),
    ("127.0.0.[0-9]", True), ("127.0.0.[!1]", False), ("*.0.0.1", True), ("localhost", False),
])
def test_allowed_hosts_are_exact_names_or_globs(tmp_path, server, pattern, allowed):
    with Host(tmp_path) as host:
        plugin = host.load(RAW_WAT, name="raw", permissions={"http": {"requiredHosts": [pattern]}})
        if allowed:
            assert json.loads(plugin.call("fetch", doc(server.base + "/echo"), raw=True))
        else:
            with pytest.raises(PluginCallFailedError, match="is not allowed"):
                plugin.call("fetch", doc(server.base + "/echo"))


def test_glob_match_follows_gobwas_glob():
    assert glob_match("*.example.com", "api.example.com")
    assert glob_match("*.example.com", "a.b.example.com")  # no separators: * crosses dots
    assert not glob_match("*.example.com", "example.com")
    assert glob_match("api.{one,two}.com", "api.two.com")
    assert glob_match(r"a\*b", "a*b") and not glob_match(r"a\*b", "axb")
    assert not glob_match("[", "[")  # a pattern gobwas cannot compile matches nothing


# After its request the guest logs, stores a cache value and sends a second request (the
# input twice over: both requests are the call input).
AFTER_SOURCE = ("(module\n" + _ENV + """
  (import "extism:host/env" "http_request" (func $http_request (param i64 i64) (result i64)))
  (import "extism:host/env" "log_warn" (func $log_warn (param i64)))
  (import "extism:host/user" "cache_setstring" (func $cache_setstring (param i64) (result i64)))
""" + _HELPERS + """
  (data (i32.const 64) "{\\"key\\":\\"after\\",\\"value\\":\\"x\\"}")
  (func $cache_doc (result i64)
    (local $i i64) (local $blk i64)
    (local.set $blk (call $alloc (i64.const 29)))
    (block $done (loop $next
      (br_if $done (i64.ge_u (local.get $i) (i64.const 29)))
      (call $store_u8 (i64.add (local.get $blk) (local.get $i))
                      (i32.load8_u (i32.add (i32.const 64) (i32.wrap_i64 (local.get $i)))))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br $next)))
    (local.get $blk))
  (func (export "twice") (result i32)
    (call $log_warn (call $message_block))
    (drop (call $http_request (call $input_block) (i64.const 0)))
    (call $log_warn (call $message_block))
    (drop (call $cache_setstring (call $cache_doc)))
    (drop (call $http_request (call $input_block) (i64.const 0)))
    (i32.const 0))
)""")
AFTER_WAT = wat(AFTER_SOURCE)

# Up to 20 tries half a second apart; the output is the body of the first 2xx answer.
GO_RETRY = r'''
package main

import (
	"time"

	pdk "github.com/extism/go-pdk"
)

func main() {}

//go:wasmexport retry
func retry() int32 {
	url := pdk.InputString()
	for i := 0; i < 20; i++ {
		resp := pdk.NewHTTPRequest(pdk.MethodGet, url).Send()
		if resp.Status() >= 200 && resp.Status() < 300 {
			pdk.Output(resp.Body())
			return 0
		}
		time.Sleep(500 * time.Millisecond)
	}
	pdk.SetErrorString("gave up")
	return 1
}
'''


@pytest.fixture(scope="module")
def go_retry_wasm():
    return nd_notebook.build(GO_RETRY)


def test_a_failed_request_ends_the_call_there(host, server):
    # As Navidrome's call ends at the Go SDK's panic, the guest stops at the failed request
    # (the module's calls of http_request trap on its panic answer): nothing after it runs.
    plugin = host.load(AFTER_WAT, name="after",
                       permissions={"http": {"requiredHosts": ["127.0.0.2"]}, "cache": {}})
    url = server.base + "/echo"
    with pytest.raises(PluginCallFailedError) as e:
        plugin.call("twice", doc(url))
    assert str(e.value) == (f"plugin call failed: HTTP request to '{url}' is not allowed "
                            "(recovered by wazero)")
    assert server.seen == []
    assert [e.data["message"] for e in host.events if e.kind == "plugin_log"] == ["guest says no"]
    calls = [(e.data["function"], e.data["error"]) for e in host.events if e.kind == "host_call"]
    assert calls == [("http_request", f"HTTP request to '{url}' is not allowed")]
    assert plugin.cache.get_string("after") == ("", False)


def test_a_module_the_rewrite_refuses_runs_on_but_is_served_nothing_more(host, server):
    # http_request in a table: its calls cannot all be redirected, so the guest runs on to its
    # return; the host serves it nothing more, drops what it logs afterwards, and the call
    # fails with the panic all the same.
    in_table = wat(AFTER_SOURCE.replace(
        "(func (export \"twice\")", "(table 1 funcref) (elem (i32.const 0) $http_request)\n"
        "  (func (export \"twice\")"))
    plugin = host.load(in_table, name="after",
                       permissions={"http": {"requiredHosts": ["127.0.0.2"]}, "cache": {}})
    url = server.base + "/echo"
    with pytest.raises(PluginCallFailedError) as e:
        plugin.call("twice", doc(url))
    assert e.value.reason == f"HTTP request to '{url}' is not allowed"
    assert server.seen == []
    assert [e.data["message"] for e in host.events if e.kind == "plugin_log"] == ["guest says no"]
    calls = [(e.data["function"], e.data["error"]) for e in host.events if e.kind == "host_call"]
    refused = (f"nd-notebook: this call already failed (HTTP request to '{url}' is not "
               "allowed); Navidrome ended it there")
    assert calls == [("http_request", f"HTTP request to '{url}' is not allowed"),
                     ("cache_setstring", refused), ("http_request", refused)]
    assert plugin.cache.get_string("after") == ("", False)
    assert ("a failed Extism http_request does not stop this plugin's call (the guest runs on "
            "to its return, served nothing more): its http_request import is in a table") in [
        e.data["message"] for e in host.events.select("service_log")]


def test_a_go_plugin_retrying_a_refused_request_stops_at_the_first_refusal(host, server,
                                                                          go_retry_wasm):
    plugin = host.load(go_retry_wasm, name="retry", permissions=LOOPBACK)
    with pytest.raises(PluginCallFailedError, match=r"^plugin call failed: HTTP request to "
                       r"'http://127\.0\.0\.2/x' is not allowed \(recovered by wazero\)$"):
        plugin.call("retry", "http://127.0.0.2/x")
    # One request: a guest running on would have tried 20 times, 0.5 s apart.
    assert [e.data["function"] for e in host.events if e.kind == "host_call"] == ["http_request"]
    assert json.loads(plugin.call("retry", server.base + "/echo", raw=True))["path"] == "/echo"


def test_a_failed_request_leaves_the_next_calls_alone(host, server):
    plugin = host.load(RAW_WAT, name="raw", permissions=LOOPBACK)
    for _ in range(60):
        with pytest.raises(PluginCallFailedError, match="not allowed"):
            plugin.call("fetch", doc("http://127.0.0.2/"))
        assert json.loads(plugin.call("fetch", doc(server.base + "/echo"), raw=True))["path"] \
            == "/echo"


# -- what the plugin reads --------------------------------------------------------------------

def test_status_body_and_headers_as_the_go_sdk_answers_them(host, server):
    plugin = host.load(RAW_WAT, name="raw", permissions=LOOPBACK)
    assert plugin.call("status") is None  # exit code 0: no request yet
    assert plugin.call("headers", raw=True) == b""  # 0: no headers yet
    echo = json.loads(plugin.call("fetch", doc(server.base + "/echo", "POST",
                                               {"x-test": "yes"}), raw=True))
    assert echo == {"method": "POST", "path": "/echo", "body": "", "x-test": "yes",
                    "user-agent": "Go-http-client/1.1"}


@pytest.mark.slow
def test_a_go_plugin_reads_status_body_and_lower_cased_joined_headers(host, server, go_wasm):
    plugin = host.load(go_wasm, name="go", permissions=LOOPBACK)
    answer = fetch(plugin, server.base + "/echo", "POST", body="hello",
                   headers={"x-test": "yes"})
    assert answer["status"] == 201
    assert json.loads(answer["body"]) == {"method": "POST", "path": "/echo", "body": "hello",
                                          "x-test": "yes", "user-agent": "Go-http-client/1.1"}
    headers = answer["headers"]
    assert headers["x-twice"] == "a,b"
    assert headers["content-type"] == "application/json"
    assert all(k == k.lower() for k in headers)
    # an answer without headers: an empty object (the Go SDK keeps a map per response)
    assert fetch(plugin, server.base + "/empty") == {"status": 204, "body": "", "headers": {}}


def test_a_request_that_does_not_decode_is_the_go_sdks_panic(host):
    plugin = host.load(RAW_WAT, name="raw", permissions=LOOPBACK)
    with pytest.raises(PluginCallFailedError) as e:
        plugin.call("fetch", "{not json")
    assert str(e.value) == ("plugin call failed: Invalid HTTP Request: invalid character 'n' "
                            "looking for beginning of object key string (recovered by wazero)")
    with pytest.raises(PluginCallFailedError) as e:
        plugin.call("fetch", '{"url": 7}')
    assert e.value.reason == ("Invalid HTTP Request: json: cannot unmarshal number into Go "
                              "struct field HttpRequest.url of type string")


def test_a_transport_error_is_gos_client_error(host):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    plugin = host.load(RAW_WAT, name="raw", permissions=LOOPBACK)
    with pytest.raises(PluginCallFailedError) as e:
        plugin.call("fetch", doc(f"http://127.0.0.1:{port}/"))
    assert e.value.reason == (f'Get "http://127.0.0.1:{port}/": dial tcp 127.0.0.1:{port}: '
                              "connect: connection refused")


# -- redirects: http.DefaultClient ------------------------------------------------------------

def test_redirects_are_followed_to_hosts_outside_the_allowed_ones(host, server):
    plugin = host.load(RAW_WAT, name="raw", permissions=LOOPBACK)
    echo = json.loads(plugin.call("fetch", doc(server.base + "/away"), raw=True))
    assert echo["path"] == "/echo"
    assert server.seen[-1][2].startswith("localhost:")  # the Go SDK checks the first URL only


def test_the_eleventh_redirect_is_gos_error(host, server):
    plugin = host.load(RAW_WAT, name="raw", permissions=LOOPBACK)
    with pytest.raises(PluginCallFailedError) as e:
        plugin.call("fetch", doc(server.base + "/hop/0"))
    assert e.value.reason == 'Get "/hop/10": stopped after 10 redirects'
    assert len(server.seen) == 10


# -- the notebook's tools: events, cassettes, faults ------------------------------------------

def test_each_request_is_a_host_call_in_the_event_log(host, server):
    plugin = host.load(RAW_WAT, name="raw", permissions=LOOPBACK)
    plugin.call("fetch", doc(server.base + "/echo"))
    call = [e for e in host.events if e.kind == "host_call"][-1]
    assert (call.data["service"], call.data["function"], call.data["error"]) == \
        ("HTTP", "http_request", None)
    assert call.data["response"]["statusCode"] == 201


def test_a_cassette_records_and_replays_builtin_requests(tmp_path, server, go_wasm):
    cassette = tmp_path / "builtin.json"
    url = server.base + "/echo"
    with Host(tmp_path / "rec") as host, host.recording(cassette):
        plugin = host.load(RAW_WAT, name="raw", permissions=LOOPBACK)
        live = plugin.call("fetch", doc(url, "GET", {"x-test": "recorded"}), raw=True)
        go = host.load(go_wasm, name="go", permissions=LOOPBACK)
        live_headers = fetch(go, url + "?go")["headers"]
    assert [e["request"]["url"] for e in json.loads(cassette.read_text())["interactions"]] == [
        url, url + "?go"]
    assert live_headers["x-twice"] == "a,b"
    seen = len(server.seen)
    with Host(tmp_path / "play", cassette=cassette) as host:
        plugin = host.load(RAW_WAT, name="raw", permissions=LOOPBACK)
        assert host.logs().empty  # no warning: nothing escapes the cassette any more
        assert plugin.call("fetch", doc(url, "GET", {"x-test": "recorded"}), raw=True) == live
        go = host.load(go_wasm, name="go", permissions=LOOPBACK)
        assert fetch(go, url + "?go")["headers"] == live_headers  # repeated values: joined
        with pytest.raises(PluginCallFailedError) as e:
            plugin.call("fetch", doc(url + "?other"))
    assert len(server.seen) == seen
    assert e.value.reason == ("nd-notebook cassette builtin.json: no recorded response for "
                              f"GET {url}?other")


def test_a_fault_rule_fails_builtin_requests_too(host, server):
    plugin = host.load(RAW_WAT, name="raw", permissions=LOOPBACK)
    host.faults.add("http_request", error="timeout", times=1)
    with pytest.raises(PluginCallFailedError) as e:
        plugin.call("fetch", doc(server.base + "/echo", "POST"))
    assert e.value.reason == f'Post "{server.base}/echo": context deadline exceeded'
    assert server.seen == []
    assert json.loads(plugin.call("fetch", doc(server.base + "/echo"), raw=True))["path"] == "/echo"


def test_a_body_the_plugins_memory_cannot_hold_is_the_go_sdks_panic(tmp_path, server):
    with Host(tmp_path, max_memory="16MiB") as h:
        plugin = h.load(RAW_WAT, name="raw", permissions=LOOPBACK)
        with pytest.raises(PluginCallFailedError) as e:
            plugin.call("fetch", doc(f"{server.base}/big/{20 * 1024 * 1024}"))
        assert str(e.value) == ("plugin call failed: Failed to write resposne body to memory "
                                "(recovered by wazero)")
        assert json.loads(plugin.call("fetch", doc(server.base + "/echo"), raw=True))["path"] \
            == "/echo"


GO_INIT_FETCH = r'''
package main

import pdk "github.com/extism/go-pdk"

var status = fetch()

func fetch() uint16 {
	pdk.Log(pdk.LogInfo, "init before")
	resp := pdk.NewHTTPRequest(pdk.MethodGet, "http://127.0.0.2/x").Send()
	pdk.Log(pdk.LogInfo, "init after")
	return resp.Status()
}

func main() {}

//go:wasmexport status
func st() int32 { return int32(status) }
'''


LOOP_PLUGIN = r'''
package main

import pdk "github.com/extism/go-pdk"

func main() {}

//go:wasmexport loop
func loop() int32 {
	for {
		_ = pdk.NewHTTPRequest(pdk.MethodGet, pdk.InputString()).Send().Body()
	}
}
'''


def test_a_deadline_reached_among_requests_is_a_timeout(tmp_path, server):
    # Past the deadline the response body could not be written into the interrupted guest:
    # that failure ("Failed to write resposne body to memory") named the call's end, 8 in 8.
    wasm = nd_notebook.build(LOOP_PLUGIN)
    url = f"http://127.0.0.1:{server.server_address[1]}/echo"
    with Host(tmp_path, timeout_ms=300) as h:
        plugin = h.load(wasm, name="loop", permissions=LOOPBACK)
        for _ in range(4):
            with pytest.raises(PluginCallFailedError) as e:
                plugin.call("loop", url)
            assert str(e.value) == "plugin call failed: timeout"


def test_a_request_failing_in_the_init_fails_the_call_there(host):
    # The Go SDK runs the init at an instance's first call: its panic is that call's failure.
    plugin = host.load(nd_notebook.build(GO_INIT_FETCH), name="initfetch", permissions=LOOPBACK)
    with pytest.raises(PluginCallFailedError) as e:
        plugin.call("status")
    assert str(e.value) == ("plugin call failed: failed to initialize runtime: HTTP request to "
                            "'http://127.0.0.2/x' is not allowed (recovered by wazero)")
    assert [e.data["message"] for e in host.events if e.kind == "plugin_log"] == ["init before"]


START_CALLS = {
    "directly": "(func $st (drop (call $http_request (i64.const 0) (i64.const 0))))",
    "through a table": ("(table 1 funcref) (elem (i32.const 0) $via)"
                        "(func $via (drop (call $http_request (i64.const 0) (i64.const 0))))"
                        "(func $st (call_indirect (i32.const 0)))"),
}


@pytest.mark.parametrize("how", list(START_CALLS))
def test_a_start_function_calling_a_python_host_function_is_refused_at_load(host, how):
    # libextism crashes the process when a start function calls a host function of ours.
    module = wat(RAW_SOURCE.replace('(func (export "fetch")',
                                    START_CALLS[how] + ' (start $st)\n  (func (export "fetch")'))
    with pytest.raises(LoadError) as e:
        host.load(module, name="start", permissions=LOOPBACK)
    assert str(e.value) == (
        "creating instance: its start function calls extism:host/env::http_request, which "
        "libextism cannot serve while it instantiates a module (the process would crash); call "
        "it from an export or from _initialize instead")


def test_a_start_function_calling_nothing_of_ours_loads(host, server):
    module = wat(RAW_SOURCE.replace('(func (export "fetch")',
                                    '(func $st (drop (call $alloc (i64.const 8)))) (start $st)\n'
                                    '  (func (export "fetch")'))
    plugin = host.load(module, name="start", permissions=LOOPBACK)
    assert json.loads(plugin.call("fetch", doc(server.base + "/echo"), raw=True))["path"] == "/echo"
