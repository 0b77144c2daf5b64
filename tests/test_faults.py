"""Fault injection (``host.faults``): host functions that fail, slow down or time out on cue.

nd-notebook's own feature (Navidrome has none); the timeout texts are the real services'
(``Get "<url>": context deadline exceeded`` for http_send).
"""

from __future__ import annotations

import json
import time

import pytest
from watplugins import host_call_plugin

from nd_notebook.runtime.faults import FAULT_INJECTED
from nd_notebook.runtime.host import Host


@pytest.fixture(scope="module")
def wasm() -> bytes:
    return host_call_plugin("http_send", "kvstore_get", "kvstore_set", "cache_has")


@pytest.fixture
def host(tmp_path):
    with Host(tmp_path) as h:
        yield h


@pytest.fixture
def plugin(host, wasm):
    return host.load(wasm, name="p", permissions="auto")


def call(plugin, function: str, request: dict | None = None) -> dict:
    return json.loads(plugin.call(f"call_{function}", request or {}, raw=True))


SEND = {"request": {"method": "post", "url": "http://127.0.0.1:1/x"}}
PRIVATE = 'host "127.0.0.1:1" is not allowed: private/loopback addresses require explicit ' \
          "requiredHosts in manifest"


def test_timeout_answers_http_send_with_go_deadline_text(host, plugin):
    host.faults.add("http_send", error="timeout")
    assert call(plugin, "http_send", SEND) == {
        "error": 'Post "http://127.0.0.1:1/x": context deadline exceeded'}


def test_timeout_of_a_get_without_method_says_get(host, plugin):
    host.faults.add("http_send", error="timeout")
    assert call(plugin, "http_send", {"request": {"url": "http://u:pw@h/"}}) == {
        "error": 'Get "http://u:***@h/": context deadline exceeded'}


def test_timeout_of_other_functions_is_context_deadline_exceeded(host, plugin):
    host.faults.add("kvstore_get", error="timeout")
    assert call(plugin, "kvstore_get", {"key": "k"}) == {"error": "context deadline exceeded"}


def test_times_2_fails_two_calls_then_reaches_the_service(host, plugin):
    host.faults.add("http_send", error="timeout", times=2)
    answers = [call(plugin, "http_send", SEND)["error"] for _ in range(3)]
    assert answers[:2] == ['Post "http://127.0.0.1:1/x": context deadline exceeded'] * 2
    assert answers[2] == PRIVATE


def test_error_text_is_sent_in_band_verbatim(host, plugin):
    host.faults.add("kvstore_get", error="disk on fire")
    assert call(plugin, "kvstore_get", {"key": "k"}) == {"error": "disk on fire"}


def test_after_lets_that_many_calls_through_first(host, plugin):
    host.faults.add("kvstore_get", error="boom", after=2)
    assert [call(plugin, "kvstore_get", {"key": "k"}) for _ in range(3)] == [
        {}, {}, {"error": "boom"}]


def test_pattern_matches_every_function_of_a_service(host, plugin):
    host.faults.add("kvstore_*", error="boom")
    assert call(plugin, "kvstore_set", {"key": "k"}) == {"error": "boom"}
    assert call(plugin, "kvstore_get", {"key": "k"}) == {"error": "boom"}
    assert call(plugin, "cache_has", {"key": "k"}) == {}


def test_plugin_rule_spares_other_plugins(host, plugin, wasm):
    other = host.load(wasm, name="other", permissions="auto")
    host.faults.add("kvstore_get", error="boom", plugin="other")
    assert call(plugin, "kvstore_get", {"key": "k"}) == {}
    assert call(other, "kvstore_get", {"key": "k"}) == {"error": "boom"}


def test_fault_is_recorded_as_an_event(host, plugin):
    rule = host.faults.add("kvstore_get", error="boom")
    call(plugin, "kvstore_get", {"key": "k"})
    [event] = host.events.select(FAULT_INJECTED)
    assert event.plugin_id == "p"
    assert event.data == {"function": "kvstore_get", "rule": rule.number, "error": "boom",
                          "delay": 0.0, "waited": False}


def test_host_call_event_carries_the_injected_error(host, plugin):
    host.faults.add("kvstore_get", error="boom")
    call(plugin, "kvstore_get", {"key": "k"})
    [event] = host.events.select("host_call")
    assert event.data["error"] == "boom"


def test_delay_sleeps_in_real_time_then_calls_the_service(host, plugin):
    host.faults.add("kvstore_get", delay=0.3)
    started = time.monotonic()
    assert call(plugin, "kvstore_get", {"key": "k"}) == {}
    assert time.monotonic() - started >= 0.3
    assert host.events.select(FAULT_INJECTED)[0].data["waited"] is True


def test_delay_in_virtual_time_neither_blocks_nor_moves_the_clock(tmp_path, wasm):
    with Host(tmp_path, clock="virtual") as vhost:
        plugin = vhost.load(wasm, name="p", permissions="auto")
        vhost.faults.add("kvstore_get", delay=3600, error="timeout")
        before, started = vhost.now(), time.monotonic()
        assert call(plugin, "kvstore_get", {"key": "k"}) == {"error": "context deadline exceeded"}
        assert time.monotonic() - started < 5
        assert vhost.now() == before
        event = vhost.events.select(FAULT_INJECTED)[0]
        assert (event.data["delay"], event.data["waited"]) == (3600, False)


def outcomes(folder, wasm, seed: int) -> list[bool]:
    with Host(folder, clock="virtual") as vhost:
        plugin = vhost.load(wasm, name="p", permissions="auto")
        vhost.faults.seed(seed)
        vhost.faults.add("kvstore_get", error="flaky", probability=0.5)
        return ["error" in call(plugin, "kvstore_get", {"key": "k"}) for _ in range(24)]


def test_probability_draws_are_the_same_run_after_run(tmp_path, wasm):
    first = outcomes(tmp_path / "a", wasm, seed=7)
    assert outcomes(tmp_path / "b", wasm, seed=7) == first
    assert 0 < sum(first) < len(first)


def test_another_seed_draws_other_faults(tmp_path, wasm):
    assert outcomes(tmp_path / "a", wasm, seed=1) != outcomes(tmp_path / "b", wasm, seed=2)


def test_removed_rule_no_longer_fires(host, plugin):
    rule = host.faults.add("kvstore_get", error="boom")
    rule.remove()
    assert call(plugin, "kvstore_get", {"key": "k"}) == {}
    assert len(host.faults) == 0


def test_clear_removes_every_rule(host, plugin):
    host.faults.add("kvstore_get", error="boom")
    host.faults.add("http_send", error="timeout")
    host.faults.clear()
    assert call(plugin, "kvstore_get", {"key": "k"}) == {}


def test_rules_are_listed_with_their_counters(host, plugin):
    host.faults.add("http_send", error="timeout", times=2)
    host.faults.add("kvstore_*", delay=0.01, plugin="p", probability=0.5, after=1)
    call(plugin, "http_send", SEND)
    assert repr(host.faults) == (
        "<Faults: 2 rules>\n"
        "  <FaultRule #1 http_send error='timeout' times=2: 1 injected of 1 calls>\n"
        "  <FaultRule #2 kvstore_* delay=0.01s plugin='p' after=1 probability=0.5: "
        "0 injected of 0 calls>")
    frame = host.faults.frame()
    assert list(frame["function"]) == ["http_send", "kvstore_*"]
    assert list(frame["injected"]) == [1, 0]


def test_used_up_rule_says_so(host, plugin):
    rule = host.faults.add("kvstore_get", error="boom", times=1)
    call(plugin, "kvstore_get", {"key": "k"})
    assert not rule.active
    assert repr(rule).endswith("1 injected of 1 calls, used up>")


@pytest.mark.parametrize("kwargs, message", [
    ({}, "a fault rule needs an error, a delay, or both"),
    ({"error": "x", "times": 0}, "times must be >= 1"),
    ({"error": "x", "probability": 1.5}, "probability must be between 0 and 1"),
    ({"delay": -1}, "delay must be >= 0 seconds"),
])
def test_invalid_rule_is_refused(host, kwargs, message):
    with pytest.raises(ValueError, match=message):
        host.faults.add("http_send", **kwargs)


def test_a_name_no_host_function_has_is_refused_with_the_close_ones(host):
    # A misspelt name made a rule that never fired: a fault test passed testing nothing.
    with pytest.raises(ValueError) as e:
        host.faults.add("config_gett", error="boom")
    assert str(e.value) == (
        "no host function is named 'config_gett' (a Navidrome host function's import name such "
        "as 'kvstore_get', Extism's 'http_request', or a pattern of them such as 'kvstore_*'); "
        "did you mean config_get or config_getint or config_keys?")
    with pytest.raises(ValueError, match="no host function is named 'nothing_\\*'"):
        host.faults.add("nothing_*", error="boom")
    assert host.faults.add("kvstore_*", error="boom").function == "kvstore_*"
    assert host.faults.add("http_request", error="boom").function == "http_request"
    with pytest.raises(TypeError, match="delay must be a number of seconds, not 'slow'"):
        host.faults.add("http_send", delay="slow")
