"""WebSocketService against the bundled echo server on 127.0.0.1, through real wasm.

WAT plugins pin the exact JSON and Navidrome's error texts of the four host functions; a Go
plugin built with the bundled PDK checks the callbacks: echoes, server closes, drops, its own
close and unload.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import threading
import time
from collections.abc import Callable

import pytest
from watplugins import host_call_plugin

from nd_notebook import Host, build, events
from nd_notebook.errors import PluginCallError
from nd_notebook.services.websocket import close_error_text, is_host_allowed
from nd_notebook.wsserver import serve

pytestmark = pytest.mark.timeout(120)

IMPORTS = ("websocket_connect", "websocket_sendtext", "websocket_sendbinary",
           "websocket_closeconnection")


def manifest(required_hosts: list[str] | None = None) -> dict:
    return {"name": "ws", "author": "tests", "version": "1",
            "permissions": {"websocket": {"requiredHosts": ["127.0.0.1"]
                                          if required_hosts is None else required_hosts}}}


def wait_until(predicate: Callable[[], object], timeout: float = 5.0):
    """Poll ``predicate`` every 10 ms until it is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            assert value, "condition not met in time"
            return value
        time.sleep(0.01)


@pytest.fixture(scope="module")
def wat_wasm() -> bytes:
    return host_call_plugin(*IMPORTS)


@pytest.fixture
def server():
    with serve() as srv:
        yield srv


@pytest.fixture
def host(tmp_path):
    with Host(tmp_path / "navidrome") as h:
        yield h


@pytest.fixture
def wat(host, wat_wasm):
    return host.load(wat_wasm, name="ws", manifest=manifest())


def call(plugin, import_name: str, request: dict) -> dict:
    return json.loads(plugin.call(f"call_{import_name}", request, raw=True))


def connect(plugin, url: str, connection_id: str = "", headers: dict | None = None) -> dict:
    return call(plugin, "websocket_connect",
                {"url": url, "headers": headers, "connectionId": connection_id})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- connect ---------------------------------------------------------------------------------

def test_connect_returns_the_given_connection_id(wat, server):
    assert connect(wat, server.url, "feed") == {"newConnectionId": "feed"}


def test_connect_without_id_generates_a_22_char_base62_id(wat, server):
    new_id = connect(wat, server.url)["newConnectionId"]
    assert re.fullmatch(r"[0-9A-Za-z]{22}", new_id)


def test_connect_with_a_taken_id_is_already_exists(wat, server):
    connect(wat, server.url, "feed")
    assert connect(wat, server.url, "feed") == {"error": 'connection ID "feed" already exists'}


def test_connect_with_http_scheme_is_invalid_url_scheme(wat):
    assert connect(wat, "http://127.0.0.1/") == {
        "error": "invalid URL scheme: must be ws:// or wss://"}


def test_connect_to_unlisted_host_is_not_allowed_with_host_and_port(wat, server):
    url = server.url.replace("127.0.0.1", "localhost")
    assert connect(wat, url) == {"error": f'host "localhost:{server.port}" is not allowed'}


def test_empty_required_hosts_allows_nothing(host, wat_wasm, server):
    plugin = host.load(wat_wasm, name="ws", manifest=manifest([]))
    assert connect(plugin, server.url) == {
        "error": f'host "127.0.0.1:{server.port}" is not allowed'}


def test_unparsable_url_is_invalid_url_with_go_parse_error(wat):
    assert connect(wat, "ws://127.0.0.1:http/") == {
        "error": 'invalid URL: parse "ws://127.0.0.1:http/": invalid port ":http" after host'}


def test_refused_dial_is_failed_to_connect_with_go_dial_error(wat):
    port = free_port()
    assert connect(wat, f"ws://127.0.0.1:{port}/") == {
        "error": f"failed to connect: dial tcp 127.0.0.1:{port}: connect: connection refused"}


def test_handshake_headers_are_sent_with_canonical_names(wat, server):
    connect(wat, server.url, "a", headers={"x-api-key": "secret"})
    sent = server.handshakes[0]["headers"]
    assert sent["X-Api-Key"] == "secret"
    assert sent["User-Agent"] == "Go-http-client/1.1"


def test_handshake_header_gorilla_sets_itself_is_refused(wat, server):
    assert connect(wat, server.url, headers={"sec-websocket-key": "x"}) == {
        "error": "failed to connect: websocket: duplicate header not allowed: Sec-Websocket-Key"}


def test_handshake_header_newlines_become_spaces_as_go_writes_them(wat, server):
    connect(wat, server.url, "a", headers={"X-Note": "two\nlines"})
    assert server.handshakes[0]["headers"]["X-Note"] == "two lines"


def test_url_with_user_info_is_malformed_for_gorilla(wat, server):
    url = server.url.replace("ws://", "ws://me:pw@")
    assert connect(wat, url) == {"error": "failed to connect: malformed ws or wss URL"}


@pytest.mark.parametrize(("host", "patterns", "allowed"), [
    ("example.com:443", ["*"], True),
    ("example.com", ["example.com"], True),
    ("api.example.com:8080", ["*.example.com"], True),
    ("example.com", ["*.example.com"], False),
    ("example.com", ["other.com"], False),
    ("127.0.0.1:9000", [], False),
])
def test_required_hosts_patterns(host, patterns, allowed):
    assert is_host_allowed(host, patterns) is allowed


# -- send / close ----------------------------------------------------------------------------

def test_send_text_and_binary_reach_the_server(wat, server):
    connect(wat, server.url, "a")
    assert call(wat, "websocket_sendtext", {"connectionId": "a", "message": "hello"}) == {}
    assert call(wat, "websocket_sendbinary", {"connectionId": "a", "data": "AAEC"}) == {}
    server.wait_for_messages(2)
    assert server.received == ["hello", b"\x00\x01\x02"]


@pytest.mark.parametrize(("import_name", "extra"), [
    ("websocket_sendtext", {"message": "x"}),
    ("websocket_sendbinary", {"data": "AA=="}),
    ("websocket_closeconnection", {"code": 1000, "reason": ""}),
])
def test_unknown_connection_id_is_not_found(wat, import_name, extra):
    assert call(wat, import_name, {"connectionId": "nope", **extra}) == {
        "error": 'connection ID "nope" not found'}


def test_close_connection_sends_the_plugins_code_and_reason(wat, server):
    connect(wat, server.url, "a")
    assert call(wat, "websocket_closeconnection",
                {"connectionId": "a", "code": 1000, "reason": "done"}) == {}
    server.wait_for_closes(1)
    assert server.closes == [(1000, "done")]
    assert call(wat, "websocket_sendtext", {"connectionId": "a", "message": "x"}) == {
        "error": 'connection ID "a" not found'}


def test_open_connections_are_listed_on_the_service(wat, server):
    connect(wat, server.url, "a")
    call(wat, "websocket_sendtext", {"connectionId": "a", "message": "hi"})
    wait_until(lambda: wat.websocket_service.connections()[0]["messages_in"] == 1)
    (listed,) = wat.websocket_service.connections()
    assert {k: listed[k] for k in ("id", "url", "messages_in", "messages_out")} == {
        "id": "a", "url": server.url, "messages_in": 1, "messages_out": 1}


def test_dropped_connection_leaves_the_listing(wat, server):
    connect(wat, server.url, "a")
    server.wait_for_clients(1)
    server.drop_clients()
    wait_until(lambda: wat.websocket_service.connections() == [])


def test_unload_closes_every_connection_with_1001_plugin_unloaded(host, wat, server):
    connect(wat, server.url, "a")
    connect(wat, server.url, "b")
    host.unload("ws")
    server.wait_for_closes(2)
    assert server.closes == [(1001, "plugin unloaded")] * 2
    assert wat.websocket_service.connections() == []


def test_messages_and_connection_changes_are_events(host, wat, server):
    connect(wat, server.url, "a")
    call(wat, "websocket_sendtext", {"connectionId": "a", "message": "hi"})
    wait_until(lambda: len(host.events.select(events.WEBSOCKET_MESSAGE)) == 2)
    call(wat, "websocket_closeconnection", {"connectionId": "a", "code": 1000, "reason": ""})
    messages = [(e["direction"], e["type"], e["preview"])
                for e in host.events.select(events.WEBSOCKET_MESSAGE)]
    assert messages == [("out", "text", "hi"), ("in", "text", "hi")]
    assert [e["connection_id"] for e in host.events.select(events.WEBSOCKET_OPENED)] == ["a"]
    assert [(e["by"], e["code"]) for e in host.events.select(events.WEBSOCKET_CLOSED)] == [
        ("plugin", 1000)]


def test_close_error_text_is_gorillas():
    assert close_error_text(1011, "oops") == "websocket: close 1011 (internal server error): oops"
    assert close_error_text(4000, "") == "websocket: close 4000"


# -- callbacks through a Go plugin -----------------------------------------------------------

GO_SOURCE = r'''
package main

import (
	"encoding/base64"
	"fmt"

	extism "github.com/extism/go-pdk"
	"github.com/navidrome/navidrome/plugins/pdk/go/host"
	"github.com/navidrome/navidrome/plugins/pdk/go/websocket"
)

type client struct{}

func init() { websocket.Register(client{}) }

func main() {}

// record appends one line to the connection's log (callbacks of one connection run one at a time).
func record(id, line string) {
	old, _, _ := host.KVStoreGet("log:" + id)
	_ = host.KVStoreSet("log:"+id, append(append(old, line...), '\n'))
}

type request struct {
	URL    string `json:"url"`
	ID     string `json:"id"`
	Text   string `json:"text"`
	Binary []byte `json:"binary"`
	Code   int32  `json:"code"`
	Reason string `json:"reason"`
}

func input() request {
	var r request
	_ = extism.InputJSON(&r)
	return r
}

func fail(err error) int32 {
	extism.SetErrorString(err.Error())
	return 1
}

//go:wasmexport test_connect
func testConnect() int32 {
	r := input()
	id, err := host.WebSocketConnect(r.URL, nil, r.ID)
	if err != nil {
		return fail(err)
	}
	_ = host.KVStoreSet("url:"+id, []byte(r.URL))
	extism.OutputString(id)
	return 0
}

//go:wasmexport test_send
func testSend() int32 {
	r := input()
	if r.Text != "" {
		if err := host.WebSocketSendText(r.ID, r.Text); err != nil {
			return fail(err)
		}
	}
	if r.Binary != nil {
		if err := host.WebSocketSendBinary(r.ID, r.Binary); err != nil {
			return fail(err)
		}
	}
	return 0
}

//go:wasmexport test_close
func testClose() int32 {
	r := input()
	extism.Log(extism.LogInfo, "closing "+r.ID)
	if err := host.WebSocketCloseConnection(r.ID, r.Code, r.Reason); err != nil {
		return fail(err)
	}
	extism.Log(extism.LogInfo, "closed "+r.ID)
	return 0
}

func (client) OnTextMessage(req websocket.OnTextMessageRequest) error {
	switch req.Message {
	case "fail":
		return fmt.Errorf("cannot handle %q", req.Message)
	case "ping":
		if err := host.WebSocketSendText(req.ConnectionID, "pong"); err != nil {
			return err
		}
	case "quit":
		if err := host.WebSocketCloseConnection(req.ConnectionID, 1000, "quit"); err != nil {
			return err
		}
	}
	record(req.ConnectionID, "text:"+req.Message)
	return nil
}

func (client) OnBinaryMessage(req websocket.OnBinaryMessageRequest) error {
	record(req.ConnectionID, "binary:"+base64.StdEncoding.EncodeToString(req.Data))
	return nil
}

func (client) OnError(req websocket.OnErrorRequest) error {
	record(req.ConnectionID, "error:"+req.Error)
	return nil
}

func (client) OnClose(req websocket.OnCloseRequest) error {
	extism.Log(extism.LogInfo, "on_close "+req.ConnectionID)
	record(req.ConnectionID, fmt.Sprintf("close:%d:%s", req.Code, req.Reason))
	if req.Reason == "reconnect" {
		url, _, _ := host.KVStoreGet("url:" + req.ConnectionID)
		if _, err := host.WebSocketConnect(string(url), nil, req.ConnectionID); err != nil {
			record(req.ConnectionID, "reconnect:"+err.Error())
		}
	}
	return nil
}
'''


@pytest.fixture(scope="module")
def go_wasm() -> bytes:
    return build(GO_SOURCE)


def load_go(host: Host, wasm: bytes):
    return host.load(wasm, name="client", manifest=manifest(), permissions="kvstore")


@pytest.fixture
def client(host, go_wasm):
    return load_go(host, go_wasm)


def go_connect(plugin, url: str, connection_id: str = "a") -> str:
    return plugin.call("test_connect", {"url": url, "id": connection_id}, raw=True).decode()


def log(plugin, connection_id: str = "a") -> list[str]:
    value, _ = plugin.kvstore.get(f"log:{connection_id}")
    return (value or b"").decode().splitlines()


def wait_log(plugin, n: int, connection_id: str = "a") -> list[str]:
    return wait_until(lambda: len(log(plugin, connection_id)) >= n and log(plugin, connection_id))


@pytest.mark.slow
def test_echoed_text_and_binary_reach_the_callbacks_in_order(client, server):
    go_connect(client, server.url)
    client.call("test_send", {"id": "a", "text": "hello"})
    client.call("test_send", {"id": "a", "binary": base64.b64encode(b"\x00\x01\x02").decode()})
    client.call("test_send", {"id": "a", "text": "again"})
    assert wait_log(client, 3) == ["text:hello", "binary:AAEC", "text:again"]


@pytest.mark.slow
def test_callback_can_call_host_functions(client, server):
    go_connect(client, server.url)
    client.call("test_send", {"id": "a", "text": "ping"})
    assert wait_log(client, 2) == ["text:ping", "text:pong"]
    assert server.received == ["ping", "pong"]


@pytest.mark.slow
def test_messages_pushed_by_the_server_reach_the_plugin(client, server):
    go_connect(client, server.url)
    server.wait_for_clients(1)
    server.send_to_all("tick")
    server.send_to_all(b"\xff")
    assert wait_log(client, 2) == ["text:tick", "binary:/w=="]


@pytest.mark.slow
@pytest.mark.parametrize(("code", "reason", "line"), [
    (1000, "bye", "close:1000:bye"),
    (1001, "restarting", "close:1001:restarting"),
    (1005, "", "close:1005:"),
])
def test_server_close_1000_1001_1005_calls_on_close_with_its_code(client, server, code, reason,
                                                                  line):
    go_connect(client, server.url)
    server.wait_for_clients(1)
    server.close_client(code, reason)
    assert wait_log(client, 1) == [line]
    wait_until(lambda: client.websocket_service.connections() == [])


class HoldingServer:
    """A bare WebSocket server on 127.0.0.1 that, after the handshake (its answer with
    ``answer_headers`` added), sends a text frame "last" and then the raw bytes ``then``, and
    keeps the TCP connection open until it is stopped. ``request``: the client's handshake;
    ``received``: its frames after it."""

    def __init__(self, then: bytes = b"", answer_headers: bytes = b""):
        self._then = then
        self._answer = answer_headers
        self.request = b""
        self.received = b""  # the client's frames after the handshake
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"ws://127.0.0.1:{self._listener.getsockname()[1]}/"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn, _ = self._listener.accept()
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(4096)
            self.request = request
            key = re.search(rb"(?i)sec-websocket-key: *(\S+)", request).group(1)
            accept = base64.b64encode(hashlib.sha1(
                key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n"
                         + self._answer + b"\r\n")
            conn.sendall(b"\x81\x04last" + self._then)
            conn.settimeout(0.05)
            while not self._stop.is_set():  # the TCP connection stays open
                try:
                    data = conn.recv(4096)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if not data:
                    break
                self.received += data

    def stop(self) -> None:
        self._stop.set()
        self._listener.close()
        self._thread.join(5)


@pytest.mark.slow
@pytest.mark.parametrize(("payload", "line"), [
    (b"\x03\xe8bye", "close:1000:bye"),
    (b"\x0f\xa0x", "error:websocket: close 4000: x"),
])
def test_a_close_frame_is_reported_at_once_while_the_server_keeps_tcp_open(client, payload,
                                                                           line):
    # gorilla's ReadMessage returns the close as soon as the frame is read.
    server = HoldingServer(close_frame(payload))
    try:
        go_connect(client, server.url)
        assert wait_log(client, 2) == ["text:last", line]
        wait_until(lambda: client.websocket_service.connections() == [])
        with pytest.raises(PluginCallError) as e:
            client.call("test_send", {"id": "a", "text": "late"})
        assert str(e.value).endswith('connection ID "a" not found')
    finally:
        server.stop()


def unmasked(frame: bytes) -> tuple[int, bytes]:
    """(first byte, payload) of one masked client frame with a payload under 126 bytes."""
    length = frame[1] & 0x7F
    key, data = frame[2:6], frame[6:6 + length]
    return frame[0], bytes(b ^ key[i % 4] for i, b in enumerate(data))


@pytest.mark.parametrize(("code", "payload"), [
    (1006, b"\x03\xeegone"),
    (70000, b"\x11\x70gone"),  # 70000 & 0xFFFF = 4464
])
def test_close_connection_writes_any_code_as_its_low_16_bits(wat, code, payload):
    # gorilla's FormatCloseMessage: binary.BigEndian.PutUint16(buf, uint16(closeCode)).
    server = HoldingServer()
    try:
        connect(wat, server.url, "a")
        assert call(wat, "websocket_closeconnection",
                    {"connectionId": "a", "code": code, "reason": "gone"}) == {}
        wait_until(lambda: len(server.received) >= 6)
    finally:
        server.stop()
    assert unmasked(server.received) == (0x88, payload)


def close_frame(payload: bytes) -> bytes:
    return bytes([0x88, len(payload)]) + payload


@pytest.mark.parametrize(("payload", "echo"), [(b"\x03\xe8bye", b"\x03\xe8"), (b"", b"")])
def test_a_peers_close_is_answered_with_its_code_alone(client, payload, echo):
    # gorilla's default close handler: WriteMessage(CloseMessage, FormatCloseMessage(code, "")).
    server = HoldingServer(close_frame(payload))
    try:
        go_connect(client, server.url)
        wait_until(lambda: len(server.received) >= 6)
    finally:
        server.stop()
    assert unmasked(server.received) == (0x88, echo)


@pytest.mark.slow
@pytest.mark.parametrize(("then", "line"), [
    (close_frame(b"\x03\xec"), "error:websocket: bad close code 1004"),
    (close_frame(b"\x03\xed"), "error:websocket: bad close code 1005"),
    (close_frame(b"\x03\xe8\xff"), "error:websocket: invalid utf8 payload in close frame"),
    (close_frame(b"\x03"), "close:1005:"),  # gorilla reads a code from 2 bytes only
    (b"\x89\x7e\x00\x7e" + bytes(126), "error:websocket: control frame length > 125"),
    (b"\x09\x00", "error:websocket: control frame not final"),
    (b"\x80\x01x", "error:websocket: continuation after final message frame"),
    (b"\x01\x01a\x81\x01b", "error:websocket: message start before final message frame"),
    (b"\x81\x81abcd\x00", "error:websocket: incorrect mask flag"),
    (b"\xc1\x01a", "error:websocket: unexpected reserved bits 0x40"),
    (b"\x83\x00", "error:websocket: unknown opcode 3"),
    (b"\xb3\x00", "error:websocket: unexpected reserved bits 0x30"),  # checked before opcode
], ids=["code-1004", "code-1005", "reason-not-utf8", "one-byte-close", "long-ping",
        "fragmented-ping", "stray-continuation", "new-message-mid-fragment", "masked",
        "reserved-bit", "unknown-opcode", "both"])
def test_frames_gorilla_refuses_end_the_connection_with_its_text(client, then, line):
    server = HoldingServer(then)
    try:
        go_connect(client, server.url)
        assert wait_log(client, 2) == ["text:last", line]
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.parametrize(("then", "text"), [
    (close_frame(b"\x03\xec"), "bad close code 1004"),
    (close_frame(b"\x03\xe8\xff"), "invalid utf8 payload in close frame"),
    (b"\x89\x7e\x00\x7e" + bytes(126), "control frame length > 125"),
    (b"\x81\x81abcd\x00", "incorrect mask flag"),
    (b"\x83\x00", "unknown opcode 3"),
], ids=["code-1004", "reason-not-utf8", "long-ping", "masked", "unknown-opcode"])
def test_a_frame_gorilla_refuses_is_answered_with_its_protocol_error_close(client, then, text):
    # gorilla's handleProtocolError writes FormatCloseMessage(CloseProtocolError, message).
    server = HoldingServer(then)
    try:
        go_connect(client, server.url)
        wait_log(client, 2)
        wait_until(lambda: len(server.received) >= 6)
    finally:
        server.stop()
    assert unmasked(server.received) == (0x88, b"\x03\xea" + text.encode())


@pytest.mark.slow
@pytest.mark.parametrize(("then", "text"), [
    (b"\x81\x05a\xe2\x82b\xff", "a\ufffd\ufffdb\ufffd"),
    (b"\x01\x02a\xe2\x80\x02\x82b", "a\ufffd\ufffdb"),  # split across two frames
], ids=["one-frame", "fragmented"])
def test_a_text_message_that_is_not_utf8_is_delivered_with_a_replacement_per_byte(client, then,
                                                                                  text):
    # gorilla does not check text messages; Navidrome's JSON to the plugin writes each byte
    # that is not UTF-8 as \ufffd. The connection stays open.
    server = HoldingServer(then + b"\x81\x05after")
    try:
        go_connect(client, server.url)
        assert wait_log(client, 3) == ["text:last", "text:" + text, "text:after"]
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.parametrize("answer", [
    b"Sec-WebSocket-Protocol: chat\r\n",
    b"Sec-WebSocket-Extensions: permessage-deflate\r\n",
], ids=["subprotocol-not-asked-for", "extension-not-offered"])
def test_a_handshake_answer_gorilla_accepts_connects(client, answer):
    # gorilla checks Upgrade, Connection and Sec-WebSocket-Accept only (compression off).
    server = HoldingServer(answer_headers=answer)
    try:
        assert go_connect(client, server.url) == "a"
        assert wait_log(client, 1) == ["text:last"]
    finally:
        server.stop()


def test_handshake_headers_are_written_as_gos_request_writer_writes_them(wat):
    server = HoldingServer()
    try:
        assert connect(wat, server.url, "a", headers={
            "Content-Length": "5", "Transfer-Encoding": "chunked", "Trailer": "X",
            "X-Pad": "  v \t", "X-Name": "Beyoncé 日本", "User-Agent": ""}) == {
            "newConnectionId": "a"}
        wait_until(lambda: server.request)
    finally:
        server.stop()
    lines = server.request.split(b"\r\n")
    assert b"X-Pad: v" in lines
    assert "X-Name: Beyoncé 日本".encode() in lines  # UTF-8 bytes, as Go writes the string
    assert not [line for line in lines if line.split(b":")[0].lower() in (
        b"content-length", b"transfer-encoding", b"trailer", b"user-agent")]


@pytest.mark.slow
def test_a_url_fragment_is_left_out_of_the_request(client):
    server = HoldingServer()
    try:
        assert go_connect(client, server.url + "path?q=1#part") == "a"
        assert wait_log(client, 1) == ["text:last"]
        assert server.request.startswith(b"GET /path?q=1 HTTP/1.1\r\n")
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.parametrize(("code", "reason", "line"), [
    (4000, "custom", "error:websocket: close 4000: custom"),
    (1011, "oops", "error:websocket: close 1011 (internal server error): oops"),
])
def test_server_close_with_other_code_calls_on_error(client, server, code, reason, line):
    go_connect(client, server.url)
    server.wait_for_clients(1)
    server.close_client(code, reason)
    assert wait_log(client, 1) == [line]


@pytest.mark.slow
def test_abrupt_drop_calls_on_error_with_abnormal_closure(client, server):
    go_connect(client, server.url)
    server.wait_for_clients(1)
    server.drop_clients()
    assert wait_log(client, 1) == [
        "error:websocket: close 1006 (abnormal closure): unexpected EOF"]


@pytest.mark.slow
def test_own_close_calls_on_close_synchronously_with_its_code(client, server):
    go_connect(client, server.url)
    client.call("test_close", {"id": "a", "code": 1000, "reason": "done"})
    assert log(client) == ["close:1000:done"]
    server.wait_for_closes(1)
    assert server.closes == [(1000, "done")]


@pytest.mark.slow
def test_lines_logged_before_a_close_come_before_on_closes_own(host, client, server):
    # Navidrome writes each log line when it is logged; on_close runs inside the close.
    go_connect(client, server.url)
    client.call("test_close", {"id": "a", "code": 1000, "reason": "done"})
    assert [e["message"] for e in host.events.select(events.PLUGIN_LOG, "client")] == [
        "closing a", "on_close a", "closed a"]


@pytest.mark.slow
def test_own_close_from_inside_a_callback_calls_on_close_before_it_returns(client, server):
    go_connect(client, server.url)
    client.call("test_send", {"id": "a", "text": "quit"})
    assert wait_log(client, 2) == ["close:1000:quit", "text:quit"]
    server.wait_for_closes(1)
    assert server.closes == [(1000, "quit")]


@pytest.mark.slow
def test_reconnect_under_same_id_from_on_close_is_already_exists(client, server):
    go_connect(client, server.url)
    server.wait_for_clients(1)
    server.close_client(1000, "reconnect")
    assert wait_log(client, 2) == ["close:1000:reconnect",
                                   'reconnect:connection ID "a" already exists']


@pytest.mark.slow
def test_failing_callback_is_logged_and_delivery_goes_on(host, client, server):
    go_connect(client, server.url)
    client.call("test_send", {"id": "a", "text": "fail"})
    client.call("test_send", {"id": "a", "text": "next"})
    assert wait_log(client, 1) == ["text:next"]
    (logged,) = [e for e in host.events.select(events.SERVICE_LOG, "client")
                 if e["service"] == "WebSocket"]
    assert (logged["level"], logged["message"], logged["error"]) == (
        "error", "WebSocket text message callback failed",
        'plugin call failed: cannot handle "fail"')


@pytest.mark.slow
def test_broadcast_server_delivers_to_every_connection(client):
    with serve(broadcast=True) as server:
        go_connect(client, server.url, "a")
        go_connect(client, server.url, "b")
        server.wait_for_clients(2)
        client.call("test_send", {"id": "a", "text": "all"})
        assert wait_log(client, 1, "a") == ["text:all"]
        assert wait_log(client, 1, "b") == ["text:all"]


@pytest.mark.slow
def test_unload_closes_connections_and_skips_on_close_as_the_plugin_is_gone(host, client, server):
    go_connect(client, server.url)
    host.unload("client")
    server.wait_for_closes(1)
    assert server.closes == [(1001, "plugin unloaded")]
    logged = [(e["level"], e["message"]) for e in host.events.select(events.SERVICE_LOG, "client")]
    assert logged == [("warn", "Plugin not loaded for WebSocket callback")]


@pytest.mark.slow
def test_callbacks_arrive_on_a_virtual_clock_host(tmp_path, go_wasm, server):
    with Host(tmp_path / "virtual", clock="virtual") as host:
        plugin = load_go(host, go_wasm)
        go_connect(plugin, server.url)
        plugin.call("test_send", {"id": "a", "text": "hello"})
        assert wait_log(plugin, 1) == ["text:hello"]
