"""Hostile input at the edges: Go's decoding of what a plugin sends, and what ids may be.

Go's encoding/json nests at most 10000 levels (``invalid character '[' exceeded max depth``),
replaces every byte of invalid UTF-8 and every lone surrogate escape with U+FFFD when it
decodes a string, and writes an invalid byte as ``\\ufffd`` when it encodes one. Navidrome
refuses a plugin id with ``invalid plugin ID "<id>"`` (spec 1.1).
"""

from __future__ import annotations

import json

import pytest
from conftest import CACHE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from watplugins import _ENV, _HELPERS, host_call_plugin, wat

from nd_notebook import abi
from nd_notebook.errors import LoadError
from nd_notebook.gojson import GoJSONError, dumps, go_quote, loads
from nd_notebook.manifest import Manifest
from nd_notebook.package import write_package
from nd_notebook.runtime.host import Host

DEPTH_ERROR = "invalid character '[' exceeded max depth"
set_hypothesis_home_dir(str(CACHE / "hypothesis"))  # not .hypothesis/ in the checkout


def nested(depth: int, inner: bytes = b"") -> bytes:
    return b"[" * depth + inner + b"]" * depth


# -- the codec -----------------------------------------------------------------------------

def test_nesting_past_go_limit_gives_go_text():
    with pytest.raises(GoJSONError) as err:
        loads(nested(10001))
    assert str(err.value) == DEPTH_ERROR


def test_object_nesting_past_go_limit_names_the_brace():
    with pytest.raises(GoJSONError) as err:
        loads(b'{"a":' * 10001 + b"1" + b"}" * 10001)
    assert str(err.value) == "invalid character '{' exceeded max depth"


def test_nesting_at_go_limit_decodes():
    value = loads(b'{"a":' * 9999 + b'["x"]' + b"}" * 9999)
    for _ in range(9999):
        value = value["a"]
    assert value == ["x"]


def test_invalid_utf8_in_a_string_becomes_one_replacement_per_byte():
    # Go's utf8.DecodeRune: \xe2\x82 is two bad bytes, \xed\xa0\x80 (a UTF-8 surrogate) three
    assert loads(b'"a\xe2\x82b\xff\xed\xa0\x80"') == "a\ufffd\ufffdb\ufffd\ufffd\ufffd\ufffd"


def test_lone_surrogate_escapes_become_replacement_in_keys_and_values():
    assert loads(b'{"k\\ud800": ["\\udc00x", {"\\uDBFF": "\\ud800\\u0041"}]}') == {
        "k\ufffd": ["\ufffdx", {"\ufffd": "\ufffdA"}]}


def test_surrogate_pair_escape_stays_one_character():
    assert loads(b'"\\ud83d\\ude00"') == "\U0001F600"


def test_encoding_writes_an_undecodable_byte_as_escaped_replacement():
    assert dumps({"k\udcff": "a\ud800"}) == b'{"k\\ufffd":"a\\ufffd"}'


def _go_encoded_ascii(ch: str) -> str:
    """Go's encoding/json (1.22+) for one ASCII character, from its rules."""
    named = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t",
             "\b": "\\b", "\f": "\\f"}
    if ch in named:
        return named[ch]
    if ch in "<>&" or ord(ch) < 0x20:
        return f"\\u{ord(ch):04x}"
    return ch


@pytest.mark.parametrize("code", range(128))
def test_every_ascii_character_encodes_as_go_does(code):
    ch = chr(code)
    for text in (ch, f"key{ch}", f"{ch}{ch}z"):
        expected = '"' + "".join(_go_encoded_ascii(c) for c in text) + '"'
        assert dumps(text) == expected.encode()
        assert dumps({text: 1}) == ("{" + expected + ":1}").encode()


def test_manifest_strings_are_decoded_as_go_does():
    manifest = Manifest.parse(b'{"name": "a\\ud800\xff", "author": "x", "version": "1"}')
    assert manifest.name == "a\ufffd\ufffd"
    assert manifest.to_json().encode()  # writable again: no lone surrogate left


# -- through the adapter -------------------------------------------------------------------

@pytest.fixture(scope="module")
def kv_wasm() -> bytes:
    return host_call_plugin("kvstore_set", "kvstore_list", "kvstore_get")


@pytest.fixture
def kv(tmp_path, kv_wasm):
    with Host(tmp_path) as host:
        yield host.load(kv_wasm, name="kv", permissions="auto")


def call(plugin, function: str, request: bytes) -> dict:
    return json.loads(plugin.call(f"call_{function}", request, raw=True))


def test_deep_request_gets_go_depth_error_in_band(kv):
    assert call(kv, "kvstore_list", nested(10001)) == {"error": DEPTH_ERROR}


def test_deep_request_within_go_limit_is_decoded_then_refused_by_type(kv):
    assert call(kv, "kvstore_list", nested(9000)) == {
        "error": "json: cannot unmarshal array into Go value of type host.KVStoreListRequest"}


def test_deep_request_is_recorded_as_text_so_the_frame_displays(kv):
    call(kv, "kvstore_list", nested(9000))
    [event] = kv.host.events.select("host_call")
    assert event.data["request"] == nested(9000).decode()
    assert list(kv.host.host_calls()["function"]) == ["kvstore_list"]
    assert repr(kv.host.host_calls())


def test_lone_surrogate_key_is_stored_as_replacement_character(kv):
    assert call(kv, "kvstore_set", b'{"key": "\\ud800x", "value": "AQ=="}') == {}
    assert call(kv, "kvstore_list", b"{}") == {"keys": ["\ufffdx"]}


def test_invalid_utf8_key_is_stored_as_replacement_characters(kv):
    assert call(kv, "kvstore_set", b'{"key": "a\xff\xfe", "value": "AQ=="}') == {}
    assert call(kv, "kvstore_get", '{"key": "a\ufffd\ufffd"}'.encode()) == {
        "value": "AQ==", "exists": True}


def test_a_stored_key_that_is_not_utf8_is_listed_with_escaped_replacement(kv):
    kv.kvstore._db.execute(
        "INSERT INTO kvstore(key, value, size) VALUES (CAST(X'61FF' AS TEXT), X'00', 1)")
    assert kv.call("call_kvstore_list", b'{"prefix": "a"}', raw=True) == b'{"keys":["a\\ufffd"]}'


def test_a_stored_text_value_that_is_not_utf8_is_read_as_its_bytes(kv):
    kv.kvstore._db.execute(
        "INSERT INTO kvstore(key, value, size) VALUES ('k', CAST(X'FF00' AS TEXT), 2)")
    assert call(kv, "kvstore_get", b'{"key": "k"}') == {"value": "/wA=", "exists": True}


def test_error_text_does_not_outlive_its_request(kv):
    call(kv, "kvstore_set", b'{"key": "k", "value": "AQ=="}')
    assert "error" in call(kv, "kvstore_list", b'{"prefix": 5}')
    assert call(kv, "kvstore_list", b'{"prefix": "k"}') == {"keys": ["k"]}


def bogus_offset_plugin(*offsets: int) -> bytes:
    calls = "".join(f"""  (func (export "bogus_{i}") (result i32)
    (local $r i64)
    (local.set $r (call $kvstore_list (i64.const {offset})))
    (call $output_set (local.get $r) (call $length (local.get $r)))
    (i32.const 0))
""" for i, offset in enumerate(offsets))
    imports = ('  (import "extism:host/user" "kvstore_list" '
               "(func $kvstore_list (param i64) (result i64)))\n")
    return wat("(module\n" + _ENV + imports + _HELPERS + calls + ")")


@pytest.mark.parametrize("offset", [12345, 1 << 40, -1])
def test_host_call_with_an_offset_that_is_no_block_gets_in_band_error(tmp_path, offset):
    with Host(tmp_path) as host:
        plugin = host.load(bogus_offset_plugin(offset), name="bogus", permissions="kvstore")
        assert plugin.call("bogus_0", b"", raw=True) == b'{"error":"unexpected end of JSON input"}'


# -- plugin ids ----------------------------------------------------------------------------

BAD_IDS = ["a\x00b", "x" * 300, "a/b", "a\\b", "..", ".", "plugin.", "plugin ", "", "\ud800"]


@pytest.mark.parametrize("plugin_id", BAD_IDS, ids=repr)
def test_invalid_plugin_id_is_a_load_error_with_navidrome_text(tmp_path, kv_wasm, plugin_id):
    with Host(tmp_path) as host, pytest.raises(LoadError) as err:
        host.load(kv_wasm, name=plugin_id, permissions="auto")
    assert str(err.value) == f"invalid plugin ID {go_quote(plugin_id)}"
    assert host.plugins == {}


def test_empty_name_is_an_error_not_plugin(tmp_path, kv_wasm):
    with Host(tmp_path) as host, pytest.raises(LoadError, match='invalid plugin ID ""'):
        host.load(kv_wasm, name="")


def test_package_named_with_a_trailing_dot_is_refused(tmp_path, kv_wasm):
    path = write_package(tmp_path / "bad..ndp", {"name": "bad", "author": "a", "version": "1",
                                                 "permissions": {"kvstore": {}}}, kv_wasm)
    with Host(tmp_path / "data") as host, pytest.raises(LoadError) as err:
        host.load(path)
    assert str(err.value) == 'invalid plugin ID "bad."'


def test_255_byte_plugin_id_loads(tmp_path, kv_wasm):
    with Host(tmp_path) as host:
        assert host.load(kv_wasm, name="é" * 127 + "x", permissions="auto").id == "é" * 127 + "x"


# -- fuzzing every host function -----------------------------------------------------------

_EXTRA_EXPORTS = "".join(f'  (func (export "{name}") (result i32) (i32.const 0))\n'
                         for name in ("nd_task_execute", "nd_scheduler_callback",
                                      "nd_websocket_on_text_message", "nd_websocket_on_close"))
FUNCTIONS = [row.import_name for row in abi.HOST_FUNCTIONS]
# Loopback only: a fuzzed URL may name any other host, and it is then refused before any I/O.
PERMISSIONS = {"http": {"requiredHosts": ["127.0.0.1"]},
               "websocket": {"requiredHosts": ["127.0.0.1"]}}


@pytest.fixture(scope="module")
def fuzz_plugin(tmp_path_factory):
    text = "(module\n" + _ENV + "".join(
        f'  (import "extism:host/user" "{n}" (func ${n} (param i64) (result i64)))\n'
        for n in FUNCTIONS) + _HELPERS + _EXTRA_EXPORTS + "".join(
        f"""  (func (export "call_{n}") (result i32)
    (local $r i64)
    (local.set $r (call ${n} (call $input_block)))
    (call $output_set (local.get $r) (call $length (local.get $r)))
    (i32.const 0))
""" for n in FUNCTIONS) + ")"
    permissions = {key: {} for key in abi.required_permissions(FUNCTIONS, transitive=True)}
    manifest = {"name": "fuzz", "author": "t", "version": "1",
                "permissions": {**permissions, **PERMISSIONS}}
    host = Host(tmp_path_factory.mktemp("fuzz"), clock="virtual", library="empty")
    yield host.load(wat(text), name="fuzz", manifest=manifest)
    host.close()


_SURROGATE = st.integers(0xD800, 0xDFFF).map(lambda c: f"\\u{c:04x}".encode())
_BAD_BYTES = st.sampled_from([b"\xff", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf", b"\x80"])
_TEXT = st.lists(st.one_of(st.text(max_size=8).map(lambda s: json.dumps(s)[1:-1].encode()),
                           _SURROGATE, _BAD_BYTES), max_size=6).map(b"".join)
_STRING = _TEXT.map(lambda b: b'"' + b + b'"')
_SCALAR = st.one_of(_STRING, st.integers(-2**70, 2**70).map(lambda i: str(i).encode()),
                    st.sampled_from([b"true", b"false", b"null", b"1.5", b"-0", b"1e400"]))
_DEEP = st.integers(1, 10050).map(nested)
_VALUE = st.recursive(st.one_of(_SCALAR, _DEEP), lambda inner: st.one_of(
    st.lists(inner, max_size=4).map(lambda xs: b"[" + b",".join(xs) + b"]"),
    st.lists(st.tuples(_STRING, inner), max_size=4).map(
        lambda kv: b"{" + b",".join(k + b":" + v for k, v in kv) + b"}")), max_leaves=8)


def _request(function: str):
    names = [f.json for f in abi.host_function(function).params]
    key = st.one_of(st.sampled_from(names), _STRING.map(lambda s: s[1:-1].decode(
        "utf-8", "surrogateescape"))) if names else _STRING.map(lambda s: s[1:-1].decode(
            "utf-8", "surrogateescape"))
    obj = st.lists(st.tuples(key, _VALUE), max_size=len(names) + 1).map(
        lambda kv: b"{" + b",".join(b'"' + k.encode("utf-8", "surrogateescape") + b'":' + v
                                    for k, v in kv) + b"}")
    return st.one_of(obj, _VALUE, st.binary(max_size=40))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_fuzzed_requests_get_go_json_answers_never_internal_errors(fuzz_plugin, function):
    @settings(max_examples=40, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.function_scoped_fixture])
    @given(request=_request(function))
    def check(request: bytes):
        raw = fuzz_plugin.call(f"call_{function}", request, raw=True)
        response = json.loads(raw.decode("utf-8"))  # strict: valid UTF-8, valid JSON
        assert isinstance(response, dict)
        assert "internal error" not in response.get("error", ""), (request[:200], response)

    check()
