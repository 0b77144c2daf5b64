"""Host-function requests decoded as Navidrome's ``json.Unmarshal`` into its generated request
structs (Go package ``host``) decodes them, through real wasm: the error text names the
innermost struct and the JSON field path from the top, quotes a number as the document wrote
it and reports the first error in document order; keys are read in document order, the last
one matching a field winning, and ``null`` leaves a field as it was."""

from __future__ import annotations

import base64
import json

import pytest
from watplugins import host_call_plugin

from nd_notebook import Host

FUNCTIONS = ("cache_setstring", "cache_getstring", "cache_setfloat", "config_get", "http_send",
             "matcher_matchsongs")


@pytest.fixture(scope="module")
def wasm() -> bytes:
    return host_call_plugin(*FUNCTIONS)


@pytest.fixture
def plugin(tmp_path, wasm):
    with Host(tmp_path, clock="virtual") as host:
        yield host.load(wasm, name="dec", permissions="auto")


def call(plugin, function: str, request: str) -> dict:
    return json.loads(plugin.call(f"call_{function}", request, raw=True))


def error(plugin, function: str, request: str) -> str:
    return call(plugin, function, request)["error"]


def test_a_field_error_names_the_request_struct_without_its_package(plugin):
    assert error(plugin, "cache_setstring", '{"key":5}') == (
        "json: cannot unmarshal number into Go struct field CacheSetStringRequest.key of type "
        "string")


def test_a_request_that_is_no_object_names_the_host_package_type(plugin):
    assert error(plugin, "config_get", "[1]") == (
        "json: cannot unmarshal array into Go value of type host.ConfigGetRequest")


def test_a_nested_field_error_names_the_inner_struct_and_the_whole_path(plugin):
    assert error(plugin, "http_send", '{"request":{"url":"http://127.0.0.1/","method":5}}') == (
        "json: cannot unmarshal number into Go struct field HTTPRequest.request.method of type "
        "string")


def test_a_struct_field_of_the_wrong_kind_names_its_qualified_type(plugin):
    assert error(plugin, "http_send", '{"request":[]}') == (
        "json: cannot unmarshal array into Go struct field HTTPSendRequest.request of type "
        "host.HTTPRequest")


def test_an_error_inside_a_list_element_keeps_the_lists_field_name(plugin):
    assert error(plugin, "matcher_matchsongs", '{"songs":[{"name":"x"},{"name":5}]}') == (
        "json: cannot unmarshal number into Go struct field SongRef.songs.name of type string")


@pytest.mark.parametrize("literal", ["1e2", "1.50", "2.0", "-0.0", "1E+3"])
def test_a_number_refused_for_an_int_is_quoted_as_written(plugin, literal):
    assert error(plugin, "cache_setstring", f'{{"key":"k","value":"v","ttlSeconds":{literal}}}') \
        == (f"json: cannot unmarshal number {literal} into Go struct field "
            "CacheSetStringRequest.ttlSeconds of type int64")


def test_a_float_beyond_float64_is_refused_with_its_literal(plugin):
    assert error(plugin, "cache_setfloat", '{"key":"k","value":1e400}') == (
        "json: cannot unmarshal number 1e400 into Go struct field CacheSetFloatRequest.value of "
        "type float64")


def test_the_first_error_in_document_order_is_reported(plugin):
    assert error(plugin, "cache_setstring", '{"ttlSeconds":"x","key":5}') == (
        "json: cannot unmarshal string into Go struct field CacheSetStringRequest.ttlSeconds of "
        "type int64")


def test_the_last_key_matching_a_field_wins_whatever_its_case(plugin):
    assert call(plugin, "cache_setstring", '{"key":"first","KEY":"second","value":"v"}') == {}
    assert call(plugin, "cache_getstring", '{"key":"second"}') == {"value": "v", "exists": True}
    assert call(plugin, "cache_getstring", '{"key":"first"}') == {}


def test_an_exact_key_after_a_folded_one_wins_too(plugin):
    assert call(plugin, "cache_setstring", '{"Key":"first","key":"second","value":"v"}') == {}
    assert call(plugin, "cache_getstring", '{"key":"second"}') == {"value": "v", "exists": True}


def test_null_leaves_a_string_field_as_an_earlier_key_set_it(plugin):
    assert call(plugin, "cache_setstring", '{"key":"kept","KEY":null,"value":"v"}') == {}
    assert call(plugin, "cache_getstring", '{"key":"kept"}') == {"value": "v", "exists": True}


# Functions without parameters: Navidrome's generated wrapper calls the service without reading
# the request block, so whatever the plugin sent (not JSON, nothing) gets the normal answer.
NO_PARAMS = ("storage_getstoragepath", "users_getusers", "users_getadmins",
             "library_getalllibraries", "kvstore_getstorageused")


@pytest.fixture(scope="module")
def no_params_wasm() -> bytes:
    return host_call_plugin(*NO_PARAMS)


@pytest.mark.parametrize("request_bytes", [b"not json", b"", b"[1]"],
                         ids=["not-json", "empty", "array"])
def test_a_function_without_parameters_never_reads_its_request(tmp_path, no_params_wasm,
                                                                request_bytes):
    with Host(tmp_path, clock="virtual") as host:
        plugin = host.load(no_params_wasm, name="noparams", permissions="auto")
        answers = {f: json.loads(plugin.call(f"call_{f}", request_bytes, raw=True))
                   for f in NO_PARAMS}
        expected = {f: json.loads(plugin.call(f"call_{f}", b"{}", raw=True)) for f in NO_PARAMS}
    assert answers == expected
    assert answers["storage_getstoragepath"] == {"result": "/storage"}
    assert [u["userName"] for u in answers["users_getusers"]["result"]]
    assert "error" not in answers["library_getalllibraries"]


def test_a_type_of_another_package_keeps_its_own_package_name(plugin):
    # MatcherMatchSongsRequest.Songs is []types.SongRef, and SongRef's Artists []types.ArtistRef.
    assert error(plugin, "matcher_matchsongs", '{"songs":{}}') == (
        "json: cannot unmarshal object into Go struct field MatcherMatchSongsRequest.songs of "
        "type []types.SongRef")
    assert error(plugin, "matcher_matchsongs", '{"songs":[{"artists":{}}]}') == (
        "json: cannot unmarshal object into Go struct field SongRef.songs.artists of type "
        "[]types.ArtistRef")
    assert error(plugin, "matcher_matchsongs", '{"opts":[]}') == (
        "json: cannot unmarshal array into Go struct field MatcherMatchSongsRequest.opts of type "
        "host.MatchOptions")


# -- []byte fields: base64.StdEncoding.Decode as encoding/json runs it --------------------------

@pytest.fixture(scope="module")
def bytes_wasm() -> bytes:
    return host_call_plugin("cache_setbytes", "cache_getbytes")


@pytest.fixture
def cache(tmp_path, bytes_wasm):
    with Host(tmp_path, clock="virtual") as host:
        yield host.load(bytes_wasm, name="bytes", permissions="auto")


def stored(cache, value) -> dict:
    """The setbytes answer for ``value`` (any JSON) and, when it was stored, the value read."""
    answer = call(cache, "cache_setbytes", json.dumps({"key": "k", "value": value}))
    if "error" in answer:
        return answer
    return call(cache, "cache_getbytes", '{"key":"k"}')


@pytest.mark.parametrize(("value", "offset"), [
    ("abc", 0), ("AA", 0), ("AA=", 3), ("AA=A", 2), ("A===", 1), ("=AAA", 0),
    ("AA==AA==", 4), ("AB\u00e9=", 2),
], ids=["three-chars", "two-chars", "one-pad", "pad-then-data", "early-pad", "leading-pad",
        "data-after-padding", "non-ascii"])
def test_bad_base64_reports_the_offset_go_reports(cache, value, offset):
    assert stored(cache, value) == {"error": f"illegal base64 data at input byte {offset}"}


@pytest.mark.parametrize(("value", "data"), [
    ("YW\nJj", b"abc"), ("AA\r\n==", b"\x00"), ("Zg=\n=", b"f"), ("AAAA\n", b"\x00\x00\x00"),
], ids=["newline-inside", "crlf-before-padding", "newline-between-pads", "newline-at-end"])
def test_base64_newlines_are_skipped_as_go_skips_them(cache, value, data):
    assert stored(cache, value) == {"value": base64.b64encode(data).decode(), "exists": True}


def test_a_byte_field_also_reads_an_array_of_numbers(cache):
    assert stored(cache, [104, 105]) == {"value": "aGk=", "exists": True}


def test_a_byte_array_element_out_of_range_is_a_uint8_error(cache):
    assert stored(cache, [1, 300]) == {"error": (
        "json: cannot unmarshal number 300 into Go struct field CacheSetBytesRequest.value of "
        "type uint8")}


def test_a_byte_field_of_the_wrong_kind_is_named_as_reflect_names_it(cache):
    assert stored(cache, 5) == {"error": (
        "json: cannot unmarshal number into Go struct field CacheSetBytesRequest.value of type "
        "[]uint8")}
