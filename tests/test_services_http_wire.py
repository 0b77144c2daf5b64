"""HTTPService against answers Go's client reads in its own way, written byte for byte by a
bare socket server each test starts on 127.0.0.1: bodies cut short, gzip streams of several
members or with a wrong checksum, bodiless statuses, Connection tokens, invalid UTF-8."""

from __future__ import annotations

import base64
import gzip
import json
import socket
import threading
import zlib

import pytest
from watplugins import host_call_plugin

from nd_notebook import Host

LOOPBACK = {"http": {"requiredHosts": ["127.0.0.1"]}}


class ScriptedServer:
    """Answers each connection with ``answers[path]`` (raw bytes), then closes it."""

    def __init__(self, answers: dict[str, bytes]):
        self.answers = answers
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.base = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(5)
            with conn:
                request = b""
                while b"\r\n\r\n" not in request:
                    data = conn.recv(4096)
                    if not data:
                        break
                    request += data
                path = request.split(b" ", 2)[1].decode() if request.count(b" ") >= 2 else ""
                conn.sendall(self.answers.get(path, b"HTTP/1.1 404 Not Found\r\n"
                                                    b"Content-Length: 0\r\n\r\n"))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()


@pytest.fixture(scope="module")
def wasm() -> bytes:
    return host_call_plugin("http_send")


@pytest.fixture
def plugin(tmp_path, wasm):
    with Host(tmp_path / "data") as host:
        yield host.load(wasm, name="fetcher", permissions=LOOPBACK)


def fetch(plugin, answer: bytes) -> dict:
    server = ScriptedServer({"/x": answer})
    try:
        request = {"method": "GET", "url": server.base + "/x"}
        return json.loads(plugin.call("call_http_send", json.dumps({"request": request}),
                                      raw=True))
    finally:
        server.close()


def gzipped_answer(body: bytes, status: bytes = b"200 OK", length: bool = True) -> bytes:
    head = b"HTTP/1.1 " + status + b"\r\nContent-Encoding: gzip\r\n"
    if length:
        head += b"Content-Length: %d\r\n" % len(body)
    return head + b"Connection: close\r\n\r\n" + body


def test_a_body_shorter_than_its_length_is_unexpected_eof(plugin):
    # transfer.go: a LimitedReader not drained when the connection ends is io.ErrUnexpectedEOF.
    assert fetch(plugin, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc") == {
        "error": "reading response body: unexpected EOF"}


def test_every_member_of_a_multi_member_gzip_body_is_read(plugin):
    body = gzip.compress(b"first-") + gzip.compress(b"second")
    assert fetch(plugin, gzipped_answer(body)) == {
        "result": {"statusCode": 200, "body": base64.b64encode(b"first-second").decode()}}


def test_a_gzip_body_cut_short_is_unexpected_eof(plugin):
    assert fetch(plugin, gzipped_answer(gzip.compress(b"payload")[:-6])) == {
        "error": "reading response body: unexpected EOF"}


def test_a_gzip_body_with_a_wrong_checksum_is_gzip_invalid_checksum(plugin):
    packed = bytearray(gzip.compress(b"payload"))
    packed[-8:-4] = (zlib.crc32(b"other") & 0xFFFFFFFF).to_bytes(4, "little")
    assert fetch(plugin, gzipped_answer(bytes(packed))) == {
        "error": "reading response body: gzip: invalid checksum"}


@pytest.mark.parametrize("status", [b"304 Not Modified", b"204 No Content"])
def test_a_bodiless_status_keeps_its_content_encoding(plugin, status):
    # Go's transport un-gzips only a response with a body (fixLength: 204 and 304 have none).
    answer = b"HTTP/1.1 " + status + b"\r\nContent-Encoding: gzip\r\nEtag: \"x\"\r\n\r\n"
    assert fetch(plugin, answer)["result"]["headers"] == {"Content-Encoding": "gzip",
                                                          "Etag": '"x"'}


def test_a_close_token_in_any_connection_value_removes_the_header(plugin):
    answer = (b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nConnection: Upgrade, close\r\n"
              b"Content-Length: 0\r\n\r\n")
    assert fetch(plugin, answer) == {
        "result": {"statusCode": 200, "headers": {"Content-Length": "0"}}}


def test_invalid_utf8_in_a_header_value_is_one_replacement_per_byte(plugin):
    answer = b"HTTP/1.1 200 OK\r\nX-Bad: a\xe2\x82b\r\nContent-Length: 0\r\n\r\n"
    server = ScriptedServer({"/x": answer})
    try:
        raw = plugin.call("call_http_send", json.dumps(
            {"request": {"method": "GET", "url": server.base + "/x"}}), raw=True)
    finally:
        server.close()
    assert b'"X-Bad":"a\\ufffd\\ufffdb"' in raw


def test_an_odd_location_is_returned_as_is_when_redirects_are_not_followed(plugin):
    # Go parses Location only to follow it; httpx would refuse this port.
    server = ScriptedServer({"/x": b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1:2/\r\n"
                                   b"Content-Length: 0\r\n\r\n"})
    try:
        request = {"method": "GET", "url": server.base + "/x", "noFollowRedirects": True}
        answer = json.loads(plugin.call("call_http_send", json.dumps({"request": request}),
                                        raw=True))
    finally:
        server.close()
    assert answer == {"result": {"statusCode": 302, "headers": {
        "Content-Length": "0", "Location": "http://127.0.0.1:1:2/"}}}


def test_the_first_of_repeated_locations_is_followed(plugin):
    server = ScriptedServer({
        "/x": b"HTTP/1.1 302 Found\r\nLocation: /a\r\nLocation: /b\r\nContent-Length: 0\r\n\r\n",
        "/a": b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA",
        "/b": b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nB"})
    try:
        request = {"method": "GET", "url": server.base + "/x"}
        answer = json.loads(plugin.call("call_http_send", json.dumps({"request": request}),
                                        raw=True))
    finally:
        server.close()
    assert base64.b64decode(answer["result"]["body"]) == b"A"
