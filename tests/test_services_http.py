"""HTTPService (``http_send``) and Extism's built-in ``http_request``, through real wasm,
against an HTTP server each test starts on 127.0.0.1 (nothing else is ever contacted: refused
hosts are refused before any connection)."""

from __future__ import annotations

import base64
import gzip
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from watplugins import _ENV, _HELPERS, host_call_plugin, wat

import nd_notebook
from nd_notebook import Host
from nd_notebook.errors import PluginCallFailedError
from nd_notebook.services.http import host_allowed, is_private_or_loopback

LOOPBACK = {"http": {"requiredHosts": ["127.0.0.1"]}}
MIB = 1024 * 1024


# -- the local server ---------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    """Routes: /echo (request as JSON), /text, /status/<n>, /hop/<n>?to=<n> (302 chain),
    /go?code=<n>&to=<url>, /big, /slow, /multi, /gzip. Only the headers written here are sent."""

    def do_GET(self):
        self.server.seen.append((self.command, self.path))
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        parts = url.path.strip("/").split("/")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if parts[0] == "echo":
            payload = json.dumps({"method": self.command, "headers": dict(self.headers.items()),
                                  "body": body.decode()}).encode()
            self._reply(200, [("Content-Type", "application/json")], payload)
        elif parts[0] == "text":
            self._reply(200, [("content-type", "text/plain")], b"hello")
        elif parts[0] == "status":
            self._reply(int(parts[1]), [], b"")
        elif parts[0] == "hop":
            n, last = int(parts[1]), int(query.get("to", 99))
            if n >= last:
                self._reply(200, [], f"arrived after {n} hops".encode())
            else:
                self._reply(302, [("Location", f"/hop/{n + 1}?to={last}")], b"")
        elif parts[0] == "go":
            self._reply(int(query.get("code", 302)), [("Location", query["to"])], b"")
        elif parts[0] == "big":
            self._reply(200, [], b"x" * (10 * MIB + 100))
        elif parts[0] == "slow":
            time.sleep(1.5)
            self._reply(200, [], b"late")
        elif parts[0] == "trickle":  # the head one header every 0.2 s, 5 s in all
            try:
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                for n in range(25):
                    time.sleep(0.2)
                    self.wfile.write(f"X-Part: {n}\r\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"Content-Length: 2\r\n\r\nok")
            except OSError:  # the client gave up
                pass
        elif parts[0] == "multi":
            self._reply(200, [("x-lower-name", "1"), ("X-Twice", "first"), ("x-twice", "second")],
                        b"")
        elif parts[0] == "cookie":
            self._reply(200, [("Set-Cookie", "sid=abc; Path=/")], b"")
        elif parts[0] == "gzip":
            self._reply(200, [("Content-Type", "text/plain"), ("Content-Encoding", "gzip")],
                        gzip.compress(b"unpacked"))

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def _reply(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response_only(status)
        for name, value in headers:
            self.send_header(name, value)
        if body or status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.seen = []
    srv.base = f"http://127.0.0.1:{srv.server_address[1]}"
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def host(tmp_path):
    with Host(tmp_path / "data") as h:
        yield h


@pytest.fixture(scope="module")
def http_send_wasm():
    return host_call_plugin("http_send")


@pytest.fixture
def plugin(host, http_send_wasm):
    return host.load(http_send_wasm, name="fetcher", permissions=LOOPBACK)


def send(plugin, **request) -> dict:
    """Call http_send with ``request`` (HTTPRequest JSON names) and decode the raw response."""
    if isinstance(request.get("body"), bytes):
        request["body"] = base64.b64encode(request["body"]).decode()
    return json.loads(plugin.call("call_http_send", json.dumps({"request": request}), raw=True))


def raw_send(plugin, **request) -> bytes:
    return plugin.call("call_http_send", json.dumps({"request": request}), raw=True)


def body_of(response: dict) -> bytes:
    return base64.b64decode(response["result"].get("body", ""))


def echoed(response: dict) -> dict:
    return json.loads(body_of(response))


# -- responses ------------------------------------------------------------------------------

def test_response_is_status_canonical_headers_and_base64_body(plugin, server):
    assert raw_send(plugin, method="GET", url=server.base + "/text") == (
        b'{"result":{"statusCode":200,"headers":{"Content-Length":"5",'
        b'"Content-Type":"text/plain"},"body":"aGVsbG8="}}')


def test_error_status_is_a_success(plugin, server):
    assert send(plugin, method="GET", url=server.base + "/status/503") == \
        {"result": {"statusCode": 503, "headers": {"Content-Length": "0"}}}


def test_empty_headers_and_body_are_omitted(plugin, server):
    assert raw_send(plugin, method="GET", url=server.base + "/status/204") == \
        b'{"result":{"statusCode":204}}'


def test_response_headers_keep_the_first_value_under_go_canonical_names(plugin, server):
    headers = send(plugin, method="GET", url=server.base + "/multi")["result"]["headers"]
    assert headers == {"X-Lower-Name": "1", "X-Twice": "first", "Content-Length": "0"}


def test_body_is_truncated_silently_at_10_mib(plugin, server):
    response = send(plugin, method="GET", url=server.base + "/big")
    assert response["result"]["statusCode"] == 200
    assert len(body_of(response)) == 10 * MIB


# -- requests -------------------------------------------------------------------------------

def test_method_is_upper_cased(plugin, server):
    assert echoed(send(plugin, method="delete", url=server.base + "/echo"))["method"] == "DELETE"


def test_empty_method_is_get(plugin, server):
    assert echoed(send(plugin, method="", url=server.base + "/echo"))["method"] == "GET"


def test_invalid_method_is_refused_when_creating_the_request(plugin, server):
    assert send(plugin, method="g t", url=server.base + "/echo") == \
        {"error": 'creating request: net/http: invalid method "G T"'}
    assert server.seen == []


def test_request_headers_are_sent_under_go_canonical_names(plugin, server):
    sent = echoed(send(plugin, method="GET", url=server.base + "/echo",
                       headers={"x-api-key": "k1", "accept": "application/json"}))["headers"]
    assert sent["X-Api-Key"] == "k1"
    assert sent["Accept"] == "application/json"


def test_go_client_defaults_are_sent(plugin, server):
    sent = echoed(send(plugin, method="GET", url=server.base + "/echo"))["headers"]
    assert sent == {"Host": server.base.removeprefix("http://"),
                    "User-Agent": "Go-http-client/1.1", "Accept-Encoding": "gzip"}


def test_body_is_sent_when_non_empty(plugin, server):
    got = echoed(send(plugin, method="POST", url=server.base + "/echo", body=b"payload",
                      headers={"Content-Type": "text/plain"}))
    assert got["body"] == "payload"
    assert got["headers"]["Content-Length"] == "7"


def test_empty_body_sends_no_content_length_on_get(plugin, server):
    got = echoed(send(plugin, method="GET", url=server.base + "/echo", body=b""))
    assert "Content-Length" not in got["headers"]


def test_gzip_answer_is_unpacked_when_the_plugin_asked_for_no_encoding(plugin, server):
    response = send(plugin, method="GET", url=server.base + "/gzip")
    assert body_of(response) == b"unpacked"
    assert response["result"]["headers"] == {"Content-Type": "text/plain"}


def test_gzip_answer_stays_packed_when_the_plugin_set_accept_encoding(plugin, server):
    response = send(plugin, method="GET", url=server.base + "/gzip",
                    headers={"Accept-Encoding": "gzip"})
    assert gzip.decompress(body_of(response)) == b"unpacked"
    assert response["result"]["headers"]["Content-Encoding"] == "gzip"


# -- URL and host checks (before any connection) --------------------------------------------

def test_scheme_must_be_http_or_https(plugin):
    assert send(plugin, method="GET", url="ftp://127.0.0.1/file") == \
        {"error": 'invalid URL scheme "ftp": must be http or https'}


def test_url_without_scheme_has_an_empty_scheme(plugin):
    assert send(plugin, method="GET", url="127.0.0.1/x") == \
        {"error": 'invalid URL scheme "": must be http or https'}


def test_unparsable_url_gives_gos_parse_error(plugin):
    assert send(plugin, method="GET", url="http://[::1") == \
        {"error": 'invalid URL: parse "http://[::1": missing \']\' in host'}


def test_bad_port_gives_gos_parse_error(plugin):
    assert send(plugin, method="GET", url="http://127.0.0.1:http/") == \
        {"error": 'invalid URL: parse "http://127.0.0.1:http/": invalid port ":http" after host'}


def test_host_outside_required_hosts_is_refused_with_its_port(plugin):
    assert send(plugin, method="GET", url="http://api.example.invalid:8080/x") == \
        {"error": 'host "api.example.invalid:8080" is not allowed'}


def test_required_hosts_compare_case_sensitively(plugin, server):
    # Navidrome compares patterns with ==; Go's url.Parse keeps the host's case.
    assert send(plugin, method="GET", url="http://LOCALHOST/x") == \
        {"error": 'host "LOCALHOST" is not allowed'}


def test_loopback_is_refused_without_required_hosts(host, http_send_wasm, server):
    plugin = host.load(http_send_wasm, name="open", permissions={"http": {}})
    hostport = server.base.removeprefix("http://")
    assert send(plugin, method="GET", url=server.base + "/text") == {
        "error": f'host "{hostport}" is not allowed: private/loopback addresses require '
                 f'explicit requiredHosts in manifest'}
    assert server.seen == []


def test_localhost_in_any_case_is_refused_without_required_hosts(host, http_send_wasm):
    plugin = host.load(http_send_wasm, name="open", permissions={"http": {}})
    assert send(plugin, method="GET", url="http://LocalHost/") == {
        "error": 'host "LocalHost" is not allowed: private/loopback addresses require '
                 'explicit requiredHosts in manifest'}


@pytest.mark.parametrize("pattern, hostname, allowed", [
    ("*", "anything.example.com", True),
    ("api.example.com", "api.example.com", True),
    ("api.example.com", "www.example.com", False),
    ("*.example.com", "api.example.com", True),
    ("*.example.com", "a.b.example.com", True),
    ("*.example.com", "example.com", False),
    ("*.example.com", "badexample.com", False),
    ("api.example.com", "API.example.com", False),
])
def test_required_hosts_patterns(pattern, hostname, allowed):
    assert host_allowed(hostname, [pattern]) is allowed


@pytest.mark.parametrize("hostname, private", [
    ("localhost", True), ("LOCALHOST", True), ("127.0.0.1", True), ("127.8.9.10", True),
    ("10.0.0.1", True), ("172.16.0.1", True), ("172.31.255.255", True), ("172.32.0.1", False),
    ("192.168.1.1", True), ("169.254.169.254", True), ("224.0.0.251", True), ("::1", True),
    ("fd00::1", True), ("fe80::1", True), ("ff02::1", True), ("::ffff:10.0.0.1", True),
    ("8.8.8.8", False), ("2001:4860::8888", False), ("0.0.0.0", False),
    ("localhost.example.com", False), ("printer.lan", False),
])
def test_private_and_loopback_literals(hostname, private):
    assert is_private_or_loopback(hostname) is private


# -- redirects ------------------------------------------------------------------------------

def test_four_redirects_are_followed(plugin, server):
    response = send(plugin, method="GET", url=server.base + "/hop/0?to=4")
    assert body_of(response) == b"arrived after 4 hops"


def test_fifth_redirect_answers_the_last_3xx(plugin, server):
    response = send(plugin, method="GET", url=server.base + "/hop/0?to=9")
    assert response["result"]["statusCode"] == 302
    assert response["result"]["headers"]["Location"] == "/hop/5?to=9"
    assert len(server.seen) == 5


def test_no_follow_redirects_answers_the_first_3xx(plugin, server):
    response = send(plugin, method="GET", url=server.base + "/hop/0?to=4",
                    noFollowRedirects=True)
    assert response["result"]["statusCode"] == 302
    assert response["result"]["headers"]["Location"] == "/hop/1?to=4"


def test_redirect_to_a_host_outside_required_hosts_is_gos_client_error(plugin, server):
    target = "http://elsewhere.invalid/x"
    assert send(plugin, method="GET", url=f"{server.base}/go?to={target}") == \
        {"error": f'Get "{target}": host "elsewhere.invalid" is not allowed'}


def test_redirect_error_names_the_original_method(plugin, server):
    target = "http://elsewhere.invalid/x"
    assert send(plugin, method="POST", url=f"{server.base}/go?code=307&to={target}",
                body=b"x") == {"error": f'Post "{target}": host "elsewhere.invalid" is not allowed'}


def test_303_turns_a_post_into_a_get_without_body(plugin, server):
    got = echoed(send(plugin, method="POST", url=f"{server.base}/go?code=303&to=/echo",
                      body=b"payload"))
    assert (got["method"], got["body"]) == ("GET", "")


def test_307_keeps_method_and_body(plugin, server):
    got = echoed(send(plugin, method="PUT", url=f"{server.base}/go?code=307&to=/echo",
                      body=b"payload"))
    assert (got["method"], got["body"]) == ("PUT", "payload")


def test_redirect_sets_referer_to_the_previous_url(plugin, server):
    got = echoed(send(plugin, method="GET", url=f"{server.base}/go?to=/echo"))
    assert got["headers"]["Referer"] == f"{server.base}/go?to=/echo"


def test_every_hop_gets_the_previous_hop_as_referer(plugin, server):
    # Go builds each hop from the first request's headers, then sets Referer to the last URL.
    second = f"{server.base}/go?code=302&to=/echo"
    got = echoed(send(plugin, method="GET",
                      url=f"{server.base}/go?code=302&to=" + quote(second, safe="")))
    assert got["headers"]["Referer"] == second


def test_a_307_after_a_303_sends_the_first_requests_body_again(plugin, server):
    # Go's redirects take the body from the first request (GetBody) whenever a hop keeps it.
    third = quote(f"{server.base}/go?code=307&to=/echo", safe="")
    got = echoed(send(plugin, method="POST", url=f"{server.base}/go?code=303&to={third}",
                      body=b"payload"))
    assert (got["method"], got["body"]) == ("GET", "payload")


def test_gzip_answer_is_unpacked_when_accept_encoding_is_empty(plugin, server):
    # Go's transport asks for gzip when Accept-Encoding is unset, and an empty value is unset.
    response = send(plugin, method="GET", url=server.base + "/gzip",
                    headers={"Accept-Encoding": ""})
    assert body_of(response) == b"unpacked"


def echoed_on_another_domain(host, http_send_wasm, server, headers: dict) -> dict:
    """What /echo saw of a request with ``headers`` redirected from 127.0.0.1 to localhost."""
    plugin = host.load(http_send_wasm, name="twohosts",
                       permissions={"http": {"requiredHosts": ["127.0.0.1", "localhost"]}})
    other = server.base.replace("127.0.0.1", "localhost")
    return echoed(send(plugin, method="GET", url=f"{server.base}/go?to={other}/echo",
                       headers=headers))


def test_redirect_to_another_domain_drops_authorization(host, http_send_wasm, server):
    got = echoed_on_another_domain(host, http_send_wasm, server,
                                   {"Authorization": "Bearer t", "X-Keep": "1"})
    assert "Authorization" not in got["headers"]
    assert got["headers"]["X-Keep"] == "1"


def test_redirect_to_another_domain_drops_the_proxy_credentials(host, http_send_wasm, server):
    # Go >= 1.24.4 strips Proxy-Authorization and Proxy-Authenticate with Authorization.
    got = echoed_on_another_domain(host, http_send_wasm, server, {
        "Proxy-Authorization": "Basic eA==", "Proxy-Authenticate": "x"})
    assert not {"Proxy-Authorization", "Proxy-Authenticate"} & set(got["headers"])


def test_an_empty_referer_is_replaced_by_the_previous_hop(plugin, server):
    got = echoed(send(plugin, method="GET", url=f"{server.base}/go?to=/echo",
                      headers={"Referer": ""}))
    assert got["headers"]["Referer"] == f"{server.base}/go?to=/echo"


def test_cookies_are_not_kept_between_calls(plugin, server):
    # Navidrome's http.Client has no cookie jar.
    send(plugin, method="GET", url=f"{server.base}/cookie")
    assert "Cookie" not in echoed(send(plugin, method="GET", url=f"{server.base}/echo"))["headers"]


def test_header_values_are_sent_trimmed(plugin, server):
    # Header.Write trims each value (textproto.TrimString); httpx would refuse them.
    got = echoed(send(plugin, method="GET", url=f"{server.base}/echo",
                      headers={"X-Sp": "  v \t", "User-Agent": " agent "}))
    assert (got["headers"]["X-Sp"], got["headers"]["User-Agent"]) == ("v", "agent")


def test_an_empty_user_in_the_url_is_sent_as_basic_auth(plugin, server):
    # Go's client: URL.User set (even empty) and no Authorization -> Basic base64(":").
    got = echoed(send(plugin, method="GET", url=server.base.replace("//", "//@") + "/echo"))
    assert got["headers"]["Authorization"] == "Basic Og=="


def test_a_method_is_upper_cased_rune_by_rune_as_go_does(plugin, server):
    # strings.ToUpper keeps a rune without a one-rune upper case ("ß"): an invalid method.
    assert send(plugin, method="get\u00df", url=server.base + "/echo") == {
        "error": 'creating request: net/http: invalid method "GET\u00df"'}


# -- failures -------------------------------------------------------------------------------

def test_timeout_is_context_deadline_exceeded(plugin, server):
    assert send(plugin, method="GET", url=server.base + "/slow", timeoutMs=200) == \
        {"error": f'Get "{server.base}/slow": context deadline exceeded'}


def test_timeout_bounds_a_head_that_trickles_in(plugin, server):
    # Each header arrives well within the timeout; the whole head does not (Go's context
    # deadline covers the exchange, not each read).
    assert send(plugin, method="GET", url=server.base + "/trickle", timeoutMs=600) == \
        {"error": f'Get "{server.base}/trickle": context deadline exceeded'}


def test_connection_refused_reads_like_gos_dial_error(plugin):
    with socket.socket() as s:  # a port nobody listens on any more
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert send(plugin, method="GET", url=f"http://127.0.0.1:{port}/") == {
        "error": f'Get "http://127.0.0.1:{port}/": dial tcp 127.0.0.1:{port}: connect: '
                 f'connection refused'}


# -- Extism's built-in http_request (allowed_hosts) -----------------------------------------

BUILTIN_WAT = wat("(module\n" + _ENV + """
  (import "extism:host/env" "http_request" (func $http_request (param i64 i64) (result i64)))
""" + _HELPERS + """
  (func (export "fetch") (result i32)
    (local $r i64)
    (local.set $r (call $http_request (call $input_block) (i64.const 0)))
    (call $output_set (local.get $r) (call $length (local.get $r)))
    (i32.const 0))
)""")


def builtin_request(url: str) -> str:
    return json.dumps({"url": url, "method": "GET", "headers": {}})


def test_builtin_http_request_reaches_a_required_host(host, server):
    plugin = host.load(BUILTIN_WAT, name="builtin", permissions=LOOPBACK)
    assert plugin.call("fetch", builtin_request(server.base + "/text"), raw=True) == b"hello"


def test_builtin_http_request_is_refused_outside_required_hosts(host, server):
    plugin = host.load(BUILTIN_WAT, name="builtin",
                       permissions={"http": {"requiredHosts": ["api.example.invalid"]}})
    with pytest.raises(PluginCallFailedError, match="^plugin call failed: "):
        plugin.call("fetch", builtin_request(server.base + "/text"))
    assert server.seen == []


def test_builtin_http_request_is_refused_without_required_hosts(host, server):
    # Navidrome's Go SDK denies every built-in request when requiredHosts is empty.
    plugin = host.load(BUILTIN_WAT, name="builtin", permissions={"http": {}})
    with pytest.raises(PluginCallFailedError):
        plugin.call("fetch", builtin_request(server.base + "/text"))
    assert server.seen == []


def test_refused_builtin_http_request_says_why(host, server):
    plugin = host.load(BUILTIN_WAT, name="builtin", permissions={"http": {}})
    with pytest.raises(PluginCallFailedError, match="is not allowed"):
        plugin.call("fetch", builtin_request(server.base + "/text"))


# -- a Go plugin built with the bundled PDK ---------------------------------------------------

GO_FETCHER = r'''
package main

import (
	"fmt"

	pdk "github.com/extism/go-pdk"
	"github.com/navidrome/navidrome/plugins/pdk/go/host"
)

func main() {}

//go:wasmexport send
func send() int32 {
	resp, err := host.HTTPSend(host.HTTPRequest{
		Method:  "get",
		URL:     pdk.InputString(),
		Headers: map[string]string{"x-from": "go"},
	})
	if err != nil {
		pdk.OutputString("error: " + err.Error())
		return 0
	}
	pdk.OutputString(fmt.Sprintf("%d %s %s", resp.StatusCode, resp.Headers["Content-Type"],
		resp.Body))
	return 0
}

//go:wasmexport builtin
func builtin() int32 {
	req := pdk.NewHTTPRequest(pdk.MethodGet, pdk.InputString())
	req.SetHeader("Accept", "text/plain")
	resp := req.Send()
	pdk.OutputString(fmt.Sprintf("%d %s", resp.Status(), resp.Body()))
	return 0
}
'''


@pytest.fixture(scope="module")
def go_fetcher_wasm():
    return nd_notebook.build(GO_FETCHER)


@pytest.mark.slow
def test_go_plugin_fetches_through_http_send(host, server, go_fetcher_wasm):
    plugin = host.load(go_fetcher_wasm, name="gofetch", permissions=LOOPBACK)
    assert plugin.call("send", server.base + "/text") == "200 text/plain hello"


@pytest.mark.slow
def test_go_plugin_sees_refusals_as_errors(host, go_fetcher_wasm):
    plugin = host.load(go_fetcher_wasm, name="gofetch", permissions=LOOPBACK)
    assert plugin.call("send", "http://api.example.invalid/") == \
        'error: host "api.example.invalid" is not allowed'


@pytest.mark.slow
def test_go_plugin_builtin_request_reaches_a_required_host(host, server, go_fetcher_wasm):
    plugin = host.load(go_fetcher_wasm, name="gofetch", permissions=LOOPBACK)
    assert plugin.call("builtin", server.base + "/text") == "200 hello"


@pytest.mark.slow
def test_go_plugin_builtin_request_is_refused_outside_required_hosts(host, server,
                                                                     go_fetcher_wasm):
    plugin = host.load(go_fetcher_wasm, name="gofetch",
                       permissions={"http": {"requiredHosts": ["api.example.invalid"]}})
    with pytest.raises(PluginCallFailedError):
        plugin.call("builtin", server.base + "/text")
    assert server.seen == []


def test_a_host_that_is_no_domain_name_is_gos_lookup_error(host, http_send_wasm):
    plugin = host.load(http_send_wasm, name="wild",
                       permissions={"http": {"requiredHosts": ["*.example.com"]}})
    # Go's resolver refuses a name that is no domain name without looking it up.
    assert send(plugin, method="GET", url="http://.example.com/") == {
        "error": 'Get "http://.example.com/": dial tcp: lookup .example.com: no such host'}
