"""Record and replay of http_send (nd_notebook.cassette): ``with host.recording(path)`` writes
every exchange with its secrets redacted, ``Host(cassette=path)`` answers the same requests
without the network. Servers run on 127.0.0.1 for the length of one test."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from watplugins import host_call_plugin

from nd_notebook import Host
from nd_notebook.cassette import REDACTED, Cassette, redact_query, redact_url

LOOPBACK = {"http": {"requiredHosts": ["127.0.0.1"]}}


class _Handler(BaseHTTPRequestHandler):
    """/redirect (302 to /final), anything else: 200 with "<METHOD> <path> <body> #<hit>"
    (path without its query)
    (and a session cookie for /q...). Counts the requests it serves in ``server.hits``."""

    def do_GET(self):
        self.server.hits += 1
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/redirect":
            self._reply(302, [("Location", "/final")], b"")
            return
        path = self.path.partition("?")[0]
        text = f"{self.command} {path} {body.decode()} #{self.server.hits}".encode()
        cookie = [("Set-Cookie", "session=s3cr3t")] if self.path.startswith("/q") else []
        self._reply(200, [("Content-Type", "text/plain"), *cookie], text)

    do_POST = do_GET

    def _reply(self, status, headers, body):
        self.send_response_only(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def local_server(handler=None):
    """An HTTP server on 127.0.0.1 (port 0) with ``.base`` (and ``.hits``, ``.seen`` for the
    handler to fill), stopped on exit; ``handler`` defaults to this module's."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler or _Handler)
    server.daemon_threads = True
    server.hits, server.seen = 0, []
    server.base = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def send(plugin, **request):
    """http_send through real wasm; the raw response JSON (``result`` or ``error``)."""
    return plugin.call("call_http_send", {"request": request})


def load(host):
    return host.load(host_call_plugin("http_send"), name="web", permissions=LOOPBACK)


@pytest.fixture
def cassette(tmp_path):
    return tmp_path / "cassette.json"


def test_cassette_recorded_against_a_local_server_replays_after_it_stopped(tmp_path, cassette):
    with local_server() as server, Host(tmp_path / "rec") as host:
        plugin = load(host)
        with host.recording(cassette):
            live = send(plugin, method="GET", url=server.base + "/bio?artist=Nina")
        url = server.base + "/bio?artist=Nina"
    assert live["result"]["statusCode"] == 200
    with Host(tmp_path / "play", cassette=cassette) as host:
        replayed = send(load(host), method="GET", url=url)
    assert replayed == live


def test_replay_contacts_no_server(tmp_path, cassette):
    with local_server() as server:
        with Host(tmp_path / "rec") as host, host.recording(cassette):
            send(load(host), method="GET", url=server.base + "/x")
        with Host(tmp_path / "play", cassette=cassette) as host:
            send(load(host), method="GET", url=server.base + "/x")
        assert server.hits == 1


def test_unmatched_request_is_an_in_band_error_naming_request_and_cassette(tmp_path, cassette):
    Cassette(cassette, mode="record").save()
    with Host(tmp_path, cassette=cassette) as host:
        answer = send(load(host), method="POST", url="http://127.0.0.1:9/lookup?q=x", body="e30=")
    assert answer == {"error": "nd-notebook cassette cassette.json: no recorded response for "
                               "POST http://127.0.0.1:9/lookup?q=x with a 2-byte body"}


def test_secrets_are_redacted_on_record(tmp_path, cassette):
    with local_server() as server, Host(tmp_path) as host, host.recording(cassette):
        send(load(host), method="GET",
             url=server.base + "/q?artist=Nina&api_key=k1&token=t1&format=json",
             headers={"Authorization": "Bearer b1", "X-Api-Key": "k2", "Cookie": "c=1",
                      "Accept": "application/json"})
    text = cassette.read_text()
    for secret in ("k1", "t1", "b1", "k2", "c=1", "session=s3cr3t"):
        assert secret not in text
    entry = json.loads(text)["interactions"][0]
    assert entry["request"]["url"] == (server.base + "/q?artist=Nina&api_key=REDACTED"
                                       "&token=REDACTED&format=json")
    assert entry["request"]["headers"] == {"Authorization": REDACTED, "X-Api-Key": REDACTED,
                                           "Cookie": REDACTED, "Accept": "application/json"}
    assert entry["response"]["headers"]["Set-Cookie"] == REDACTED


def test_form_body_secrets_are_redacted(tmp_path, cassette):
    with local_server() as server, Host(tmp_path) as host, host.recording(cassette):
        send(load(host), method="POST", url=server.base + "/2.0/",
             headers={"Content-Type": "application/x-www-form-urlencoded"},
             body="bWV0aG9kPXRyYWNrLnNjcm9iYmxlJmFwaV9rZXk9azEmc2s9czE=")  # method=...&api_key=k1&sk=s1
    entry = json.loads(cassette.read_text())["interactions"][0]
    assert entry["request"]["body"] == "method=track.scrobble&api_key=REDACTED&sk=REDACTED"


def test_subsonic_password_token_and_salt_are_redacted_only_beside_a_user():
    # A Subsonic request names its user (u) beside p, or t and s: all three redacted.
    assert redact_url("http://music/rest/ping?u=joe&t=26719a1196d2a940&s=c19b2d&v=1.16.1&c=x") \
        == "http://music/rest/ping?u=joe&t=REDACTED&s=REDACTED&v=1.16.1&c=x"
    assert redact_query("u=joe&p=enc:736563726574") == "u=joe&p=REDACTED"
    # Anywhere else s, p and t are plain words (a search API's keywords, a page number).
    assert redact_query("limit=10&s=Nina%20Simone&type=100") == "limit=10&s=Nina%20Simone&type=100"
    assert redact_url("https://api.example/search?p=2&t=album&key=k1") \
        == "https://api.example/search?p=2&t=album&key=REDACTED"


def test_a_telegram_bot_token_in_the_path_is_redacted():
    assert redact_url("https://api.telegram.org/bot123456:AAH-abcdefghijklmnopqrstuvwxyz0/"
                      "sendMessage?chat_id=7") == \
        "https://api.telegram.org/botREDACTED/sendMessage?chat_id=7"
    assert redact_url("https://example.org/bot/help") == "https://example.org/bot/help"


def test_a_multipart_upload_replays_though_its_boundary_changes(tmp_path, cassette):
    def form(boundary: str, text: str) -> tuple[dict, str]:
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"caption\"\r\n\r\n"
                f"{text}\r\n--{boundary}--\r\n")
        return ({"Content-Type": f"multipart/form-data; boundary={boundary}"},
                base64.b64encode(body.encode()).decode())

    with local_server() as server:
        url = server.base + "/upload"
        with Host(tmp_path / "rec") as host, host.recording(cassette):
            plugin = load(host)
            headers, body = form("a1b2c3", "first")
            first = send(plugin, method="POST", url=url, headers=headers, body=body)
            headers, body = form("d4e5f6", "second")
            second = send(plugin, method="POST", url=url, headers=headers, body=body)
    with Host(tmp_path / "play", cassette=cassette) as host:
        plugin = load(host)
        headers, body = form("0f9e8d7c", "second")  # another random boundary
        assert send(plugin, method="POST", url=url, headers=headers, body=body) == second
        headers, body = form("77aa", "first")
        assert send(plugin, method="POST", url=url, headers=headers, body=body) == first


def test_searches_differing_in_a_plain_s_parameter_replay_their_own_answers(tmp_path, cassette):
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    bodies = [base64.b64encode(f"limit=10&s={who}&type=100".encode()).decode()
              for who in ("Nina", "Bjork")]
    with local_server() as server:
        url = server.base + "/api/search"
        with Host(tmp_path / "rec") as host, host.recording(cassette):
            plugin = load(host)
            live = [send(plugin, method="POST", url=url, headers=form, body=b) for b in bodies]
        assert live[0] != live[1]
        with Host(tmp_path / "play", cassette=cassette) as host:
            plugin = load(host)
            assert send(plugin, method="POST", url=url, headers=form, body=bodies[1]) == live[1]
            assert send(plugin, method="POST", url=url, headers=form, body=bodies[0]) == live[0]


def test_a_live_request_with_another_key_matches_the_redacted_recording(tmp_path, cassette):
    with local_server() as server:
        url = server.base + "/bio?artist=Nina&api_key="
        with Host(tmp_path / "rec") as host, host.recording(cassette):
            live = send(load(host), method="GET", url=url + "recording-key")
    with Host(tmp_path / "play", cassette=cassette) as host:
        assert send(load(host), method="GET", url=url + "another-key") == live


def test_replay_matches_by_method_url_and_body(tmp_path, cassette):
    with local_server() as server:
        base = server.base
        with Host(tmp_path / "rec") as host, host.recording(cassette):
            plugin = load(host)
            a = send(plugin, method="POST", url=base + "/s", body="YQ==")  # "a"
            b = send(plugin, method="POST", url=base + "/s", body="Yg==")  # "b"
            get = send(plugin, method="GET", url=base + "/s")
    with Host(tmp_path / "play", cassette=cassette) as host:
        plugin = load(host)
        assert send(plugin, method="GET", url=base + "/s") == get
        assert send(plugin, method="POST", url=base + "/s", body="Yg==") == b
        assert send(plugin, method="POST", url=base + "/s", body="YQ==") == a


def test_identical_requests_replay_in_recorded_order_then_the_last_repeats(tmp_path, cassette):
    with local_server() as server:
        url = server.base + "/n"
        with Host(tmp_path / "rec") as host, host.recording(cassette):
            plugin = load(host)
            first, second = send(plugin, url=url), send(plugin, url=url)
    assert first != second  # the server counts its hits
    with Host(tmp_path / "play", cassette=cassette) as host:
        plugin = load(host)
        assert [send(plugin, url=url) for _ in range(3)] == [first, second, second]


def test_order_mode_answers_the_nth_request_with_the_nth_recording(tmp_path, cassette):
    with local_server() as server:
        base = server.base
        with Host(tmp_path / "rec") as host, host.recording(cassette):
            plugin = load(host)
            one, _two = send(plugin, url=base + "/1"), send(plugin, url=base + "/2")
    with Host(tmp_path / "play") as host:
        host.cassette = Cassette.replaying(cassette, match="order")
        plugin = load(host)
        assert send(plugin, url=base + "/1") == one
        assert send(plugin, url=base + "/1")["error"].endswith(
            f"no recorded response for GET {base}/1")


def test_a_transport_error_is_recorded_and_replayed(tmp_path, cassette):
    url = "http://127.0.0.1:9/closed"  # discard port: nothing listens
    with Host(tmp_path / "rec") as host, host.recording(cassette):
        live = send(load(host), url=url)
    assert live["error"].startswith('Get "http://127.0.0.1:9/closed": dial tcp 127.0.0.1:9')
    with Host(tmp_path / "play", cassette=cassette) as host:
        assert send(load(host), url=url) == live


def test_required_hosts_are_still_enforced_on_replay(tmp_path, cassette):
    with local_server() as server, Host(tmp_path / "rec") as host, host.recording(cassette):
        send(load(host), url=server.base + "/x")
    with Host(tmp_path / "play", cassette=cassette) as host:
        plugin = host.load(host_call_plugin("http_send"), name="web",
                           permissions={"http": {"requiredHosts": ["example.org"]}})
        host_port = server.base.removeprefix("http://")
        assert send(plugin, url=server.base + "/x") == {
            "error": f'host "{host_port}" is not allowed'}


def test_redirects_are_recorded_as_the_plugin_saw_them(tmp_path, cassette):
    with local_server() as server:
        with Host(tmp_path / "rec") as host, host.recording(cassette):
            live = send(load(host), url=server.base + "/redirect")
        assert server.hits == 2  # the 302 and /final, followed by the client
    entries = json.loads(cassette.read_text())["interactions"]
    assert [e["request"]["url"] for e in entries] == [server.base + "/redirect"]
    assert live["result"]["body"]  # /final's answer


def test_userinfo_password_in_a_url_is_redacted():
    assert redact_url("https://bob:hunter2@api.example.org/x?key=1&q=2") == \
        "https://bob:REDACTED@api.example.org/x?key=REDACTED&q=2"


def test_ignored_parameters_are_left_out_when_requests_are_compared(tmp_path, cassette):
    """A timestamp the plugin adds to every request (Myzel394's musixmatch plugin sends
    ``&t=<time.Now().UnixMilli()>``) never matches a recording; named in ``ignore_params``
    it is left out of the comparison, in the query string and in a form body alike."""
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    with local_server() as server:
        url = server.base + "/token.get?app_id=mac&t="
        with Host(tmp_path / "rec") as host, \
                host.recording(cassette, ignore_params=["t"]):
            plugin = load(host)
            live = send(plugin, method="GET", url=url + "1700000000000")
            posted = send(plugin, method="POST", url=server.base + "/sign", headers=form,
                          body=base64.b64encode(b"q=nina&t=1700000000001").decode())
    assert json.loads(cassette.read_text())["ignoreParams"] == ["t"]
    with Host(tmp_path / "play", cassette=cassette) as host:
        plugin = load(host)
        assert send(plugin, method="GET", url=url + "1800000000000") == live
        assert send(plugin, method="POST", url=server.base + "/sign", headers=form,
                    body=base64.b64encode(b"q=nina&t=1800000000001").decode()) == posted
        # Only the named parameter: another value of app_id is another request.
        other = send(plugin, method="GET", url=url.replace("mac", "ios") + "1")
        assert other == {"error": "nd-notebook cassette cassette.json: no recorded response "
                                  f"for GET {server.base}/token.get?app_id=ios&t=1"}


def test_ignore_params_given_at_replay_and_refused_as_a_string(tmp_path, cassette):
    with local_server() as server:
        url = server.base + "/n?nonce="
        with Host(tmp_path / "rec") as host, host.recording(cassette):
            live = send(load(host), method="GET", url=url + "a1")
    assert "ignoreParams" not in json.loads(cassette.read_text())
    with Host(tmp_path / "strict", cassette=cassette) as host:
        assert "no recorded response" in send(load(host), method="GET", url=url + "b2")["error"]
    replay = Cassette.replaying(cassette, ignore_params=["nonce"])
    with Host(tmp_path / "play", cassette=replay) as host:
        assert send(load(host), method="GET", url=url + "b2") == live
    with pytest.raises(TypeError, match="a list of parameter names, not a string"):
        Cassette(cassette, mode="record", ignore_params="nonce")
    cassette.write_text(json.dumps({"ignoreParams": "t", "interactions": []}))
    with pytest.raises(ValueError, match="'ignoreParams' must be a list of parameter names"):
        Cassette.replaying(cassette)


def test_an_empty_query_keeps_its_question_mark(tmp_path, cassette):
    """Go sends ``/top/abc?`` as written (URL.ForceQuery): a hand-written cassette holding that
    URL answers it, and a miss names it as sent (kgarner7's ListenBrainz plugin ends every
    URL without parameters with ``?``)."""
    url = "http://127.0.0.1:9/top/abc?"
    cassette.write_text(json.dumps({"version": 1, "interactions": [
        {"plugin": "web", "request": {"method": "GET", "url": url},
         "response": {"statusCode": 200, "headers": {}, "body": "top"}}]}))
    with Host(tmp_path, cassette=cassette) as host:
        plugin = load(host)
        answer = send(plugin, method="GET", url=url)
        assert base64.b64decode(answer["result"]["body"]) == b"top"
        missed = send(plugin, method="GET", url="http://127.0.0.1:9/top/other?")
    assert missed == {"error": "nd-notebook cassette cassette.json: no recorded response for "
                               "GET http://127.0.0.1:9/top/other?"}
    assert redact_url("http://u:pw@h/x?#f") == f"http://u:{REDACTED}@h/x?#f"
