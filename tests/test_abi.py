"""The ABI tables: counts, names, JSON keys, permissions and the lookups built on them."""

from __future__ import annotations

import re

import pytest

from nd_notebook import abi

GO_BUILTINS = {
    "string", "bool", "byte", "int", "int32", "int64", "uint32", "float32", "float64", "any",
}


def test_fourteen_services_with_their_function_counts():
    counts = {s.prefix: len(s.functions) for s in abi.SERVICES}
    assert counts == {
        "artwork": 4, "cache": 10, "config": 3, "http": 1, "kvstore": 9, "library": 2,
        "scheduler": 3, "subsonicapi": 2, "task": 5, "users": 2, "websocket": 4, "matcher": 1,
        "scrobbleretriever": 4, "storage": 1,
    }
    assert len(abi.HOST_FUNCTIONS) == 51


def test_services_are_in_navidrome_registration_order():
    assert [s.name for s in abi.SERVICES] == [
        "Config", "SubsonicAPI", "Scheduler", "WebSocket", "Artwork", "Cache", "Library",
        "KVStore", "Users", "Matcher", "HTTP", "Task", "Storage", "ScrobbleRetriever",
    ]


def test_import_name_is_prefix_and_lowercase_method():
    for f in abi.HOST_FUNCTIONS:
        assert f.import_name == f"{abi.service(f.service).prefix}_{f.method.lower()}"


def test_import_names_are_unique():
    names = [f.import_name for f in abi.HOST_FUNCTIONS]
    assert len(set(names)) == len(names)


def test_head_only_services_are_matcher_storage_and_scrobble_retriever():
    head = {f.import_name.split("_")[0] for f in abi.HOST_FUNCTIONS if f.since == "head"}
    assert head == {"matcher", "storage", "scrobbleretriever"}


def test_config_and_storage_functions_return_no_error():
    no_error = sorted(f.import_name for f in abi.HOST_FUNCTIONS if not f.returns_error)
    assert no_error == ["config_get", "config_getint", "config_keys", "storage_getstoragepath"]


def test_config_needs_no_permission_and_scrobble_retriever_key_is_camel_case():
    assert {f.permission for f in abi.functions_of("Config")} == {None}
    assert {f.permission for f in abi.functions_of("scrobbleretriever")} == {"scrobbleRetriever"}
    assert {f.permission for f in abi.functions_of("Task")} == {"taskqueue"}


def test_cache_getstring_results_are_value_then_exists():
    f = abi.host_function("cache_getstring")
    assert [(p.go, p.json, p.type) for p in f.params] == [("key", "key", "string")]
    assert [(r.go, r.json, r.type) for r in f.results] == [
        ("value", "value", "string"), ("exists", "exists", "bool"),
    ]
    assert f.pdk_name == "CacheGetString" and f.py_name == "get_string"


@pytest.mark.parametrize(
    ("import_name", "result_type"),
    [
        ("library_getlibrary", "*Library"),
        ("library_getalllibraries", "[]Library"),
        ("task_get", "*TaskInfo"),
        ("task_enqueue", "string"),
        ("task_clearqueue", "int64"),
        ("http_send", "*HTTPResponse"),
        ("users_getadmins", "[]User"),
        ("scrobbleretriever_getfirsttimestamp", "*int64"),
        ("scrobbleretriever_getscrobblecount", "int64"),
        ("storage_getstoragepath", "string"),
    ],
)
def test_unnamed_result_travels_under_result(import_name, result_type):
    (result,) = abi.host_function(import_name).results
    assert (result.json, result.go, result.type) == ("result", "result", result_type)


def test_go_parameter_name_differs_from_json_key_for_ids():
    f = abi.host_function("scheduler_scheduleonetime")
    assert [(p.go, p.json, p.py) for p in f.params] == [
        ("delaySeconds", "delaySeconds", "delay_seconds"),
        ("payload", "payload", "payload"),
        ("scheduleID", "scheduleId", "schedule_id"),
    ]
    assert [(r.go, r.json) for r in f.results] == [("newScheduleID", "newScheduleId")]
    assert [(p.go, p.json) for p in abi.host_function("task_cancel").params] == [
        ("taskID", "taskId"),
    ]


def test_http_send_takes_one_request_struct():
    f = abi.host_function("http_send")
    assert [(p.go, p.json, p.type) for p in f.params] == [("request", "request", "HTTPRequest")]


def test_named_results_use_their_go_names_in_json():
    assert [r.json for r in abi.host_function("subsonicapi_call").results] == ["responseJson"]
    assert [r.json for r in abi.host_function("subsonicapi_callraw").results] == [
        "contentType", "data",
    ]
    assert [r.json for r in abi.host_function("kvstore_deletebyprefix").results] == [
        "deletedCount",
    ]
    assert [r.json for r in abi.host_function("kvstore_getstorageused").results] == ["bytes"]
    assert [r.json for r in abi.host_function("scrobbleretriever_getscrobbles").results] == [
        "scrobbles", "next",
    ]
    assert [r.json for r in abi.host_function("matcher_matchsongs").results] == ["results"]


def test_response_fields_are_omitempty_and_request_fields_are_not():
    for f in abi.HOST_FUNCTIONS:
        assert all(r.omitempty for r in f.results), f.import_name
        assert not any(p.omitempty for p in f.params), f.import_name


def test_python_service_names_are_snake_case():
    assert abi.host_function("kvstore_setwithttl").py_name == "set_with_ttl"
    assert abi.host_function("kvstore_getstorageused").py_name == "get_storage_used"
    assert abi.host_function("artwork_getartisturl").py_name == "get_artist_url"
    assert [p.py for p in abi.host_function("cache_setbytes").params] == [
        "key", "value", "ttl_seconds",
    ]


def test_eight_capabilities_and_twenty_five_exports():
    assert len(abi.CAPABILITIES) == 8
    assert len(abi.EXPORTS) == 25
    assert {c.name: len(c.exports) for c in abi.CAPABILITIES} == {
        "MetadataAgent": 11, "Scrobbler": 4, "Lifecycle": 1, "Scheduler": 1, "WebSocket": 4,
        "TaskWorker": 1, "Lyrics": 1, "SonicSimilarity": 2,
    }


def test_capabilities_requiring_the_full_interface():
    assert {c.name for c in abi.CAPABILITIES if c.requires_all} == {
        "Scrobbler", "Lyrics", "SonicSimilarity",
    }


def test_capability_of_export():
    assert abi.capability_of_export("nd_scrobbler_playback_report").name == "Scrobbler"
    assert abi.capability_of_export("nd_find_sonic_path").package == "sonicsimilarity"
    assert abi.capability_of_export("nd_task_execute").name == "TaskWorker"


def test_export_rows_name_go_method_provider_and_types():
    e = abi.export("nd_get_artist_mbid")
    assert (e.input, e.output, e.method, e.provider) == (
        "ArtistMBIDRequest", "*ArtistMBIDResponse", "GetArtistMBID", "ArtistMBIDProvider",
    )
    assert abi.export("nd_task_execute").output == "string"
    assert abi.export("nd_scrobbler_is_authorized").output == "bool"
    assert (abi.export("nd_on_init").input, abi.export("nd_on_init").output) == (None, None)
    assert abi.export("nd_lyrics_get_lyrics").since == "head"


def test_thirteen_permissions_in_manifest_order():
    assert [p.key for p in abi.PERMISSIONS] == [
        "http", "subsonicapi", "scheduler", "websocket", "artwork", "cache", "library",
        "kvstore", "users", "taskqueue", "matcher", "storage", "scrobbleRetriever",
    ]


def test_permission_cross_checks():
    assert abi.permission("subsonicapi").requires == ("users",)
    assert abi.permission("matcher").requires == ("library",)
    assert abi.permission("scrobbleRetriever").requires == ("users",)
    assert abi.permission("scheduler").requires_export == "nd_scheduler_callback"
    assert abi.permission("taskqueue").requires_export == "nd_task_execute"
    assert abi.permission("websocket").requires_export is None


def test_permission_options_and_defaults():
    opts = {p.key: {o.name: (o.type, o.default) for o in p.options} for p in abi.PERMISSIONS}
    assert opts["http"] == {"requiredHosts": ("[]string", None)}
    assert opts["websocket"] == {"requiredHosts": ("[]string", None)}
    assert opts["library"] == {"filesystem": ("bool", False)}
    assert opts["kvstore"] == {"maxSize": ("string", None)}
    assert opts["taskqueue"] == {"maxConcurrency": ("int", 1)}


def test_every_function_permission_is_a_permission_key():
    keys = {p.key for p in abi.PERMISSIONS}
    assert {f.permission for f in abi.HOST_FUNCTIONS} - {None} == keys


def test_structs_keep_go_pdk_json_keys_and_omitempty():
    song = {f.json: (f.go, f.type, f.omitempty) for f in abi.struct("types.SongRef").fields}
    assert song["name"] == ("Name", "string", False)
    assert song["id"] == ("ID", "string", True)
    assert song["artistMbid"] == ("ArtistMBID", "string", True)
    assert song["durationMs"] == ("DurationMs", "uint32", True)
    track = {f.json: (f.type, f.omitempty) for f in abi.struct("types.Track").fields}
    assert track["bitDepth"] == ("*int32", True)
    assert track["missing"] == ("bool", False)
    assert track["tags"] == ("map[string][]string", True)
    assert len(track) == 58
    lyric = [(f.json, f.omitempty) for f in abi.struct("lyrics.LyricsText").fields]
    assert lyric == [("lang", True), ("text", False)]


def test_http_request_fields_in_pdk_order():
    assert [f.json for f in abi.struct("host.HTTPRequest").fields] == [
        "method", "url", "headers", "noFollowRedirects", "body", "timeoutMs",
    ]


def test_track_info_is_identical_in_scrobbler_and_lyrics():
    assert abi.struct("scrobbler.TrackInfo").fields == abi.struct("lyrics.TrackInfo").fields
    assert abi.struct("TrackInfo").fields[-2:] == abi.struct("lyrics.TrackInfo").fields[-2:]


def test_struct_lookup_resolves_aliases_and_type_expressions():
    assert abi.struct("metadata.SongRef") is abi.struct("types.SongRef")
    assert abi.struct("ArtistRef", package="scrobbler") is abi.struct("types.ArtistRef")
    assert abi.struct("*Library").name == "Library"
    assert abi.struct("[]*types.Track").name == "Track"


def test_every_struct_named_by_a_type_resolves():
    def check(type_expr: str, package: str) -> None:
        for name in re.findall(r"[A-Za-z_][\w.]*", type_expr):
            if name in GO_BUILTINS or name in ("map",):
                continue
            abi.struct(name, package=package)

    for s in abi.STRUCTS:
        for f in s.fields:
            check(f.type, s.package)
    for fn in abi.HOST_FUNCTIONS:
        for f in fn.params + fn.results:
            check(f.type, "host")
    for e in abi.EXPORTS:
        for t in (e.input, e.output):
            if t:
                check(t, abi.capability_of_export(e.name).package)


def test_lookups_raise_key_error_for_unknown_names():
    with pytest.raises(KeyError):
        abi.host_function("cache_getstrings")
    with pytest.raises(KeyError):
        abi.permission("scrobbleretriever")
    with pytest.raises(KeyError):
        abi.export("nd_unknown")
    with pytest.raises(KeyError):
        abi.struct("Nope")


def test_required_permissions_maps_keys_to_the_imports_needing_them():
    imports = [
        "extism:host/user::task_enqueue", "extism:host/user::cache_getstring",
        ("extism:host/user", "task_get"), "task_enqueue", "scrobbleretriever_getscrobbles",
    ]
    assert abi.required_permissions(imports) == {
        "cache": ["cache_getstring"],
        "taskqueue": ["task_enqueue", "task_get"],
        "scrobbleRetriever": ["scrobbleretriever_getscrobbles"],
    }


def test_required_permissions_ignores_config_kernel_and_wasi_imports():
    imports = [
        "extism:host/user::config_get", "extism:host/env::alloc", ("extism:host/env", "free"),
        "wasi_snapshot_preview1::fd_write", "wasi_snapshot_preview1::cache_get",
    ]
    assert abi.required_permissions(imports) == {}


def test_required_permissions_transitive_adds_required_permissions():
    got = abi.required_permissions(["subsonicapi_call", "matcher_matchsongs"], transitive=True)
    assert got == {
        "subsonicapi": ["subsonicapi_call"],
        "library": ["matcher_matchsongs"],
        "users": ["subsonicapi_call"],
        "matcher": ["matcher_matchsongs"],
    }


def test_call_level_error_texts():
    assert abi.PLUGIN_CALL_FAILED % "boom" == "plugin call failed: boom"
    assert abi.FUNCTION_NOT_IMPLEMENTED % "nd_on_init" == "function not implemented: nd_on_init"
    assert abi.PLUGIN_CALL_EXITED % 4294967295 == "plugin call exited with code 4294967295"
    assert abi.FUNCTION_NOT_FOUND % "nd_x" == "function not found: nd_x"
    assert abi.ERROR_TEXTS["function_not_found"] == "function not found: %s"


def test_manifest_cross_check_texts():
    assert abi.PERMISSION_REQUIRES_PERMISSION % ("matcher", "library") == (
        "'matcher' permission requires 'library' permission to be declared"
    )
    assert abi.PERMISSION_REQUIRES_EXPORT % ("taskqueue", "nd_task_execute") == (
        "'taskqueue' permission requires plugin to export 'nd_task_execute' function"
    )
    assert abi.SCROBBLER_REQUIRES_USERS == (
        "scrobbler capability requires 'users' permission to be declared in manifest"
    )


def test_host_side_omitempty_differs_where_navidrome_tags_differ():
    library = {f.json: (f.omitempty, f.wire_omitempty) for f in abi.struct("Library").fields}
    assert library["path"] == (False, True)
    assert library["mountPoint"] == (False, True)
    assert library["lastScanAt"] == (False, False)
    response = {f.json: f.wire_omitempty for f in abi.struct("HTTPResponse").fields}
    assert response == {"statusCode": False, "headers": True, "body": True}
    options = {f.json: f.wire_omitempty for f in abi.struct("ScrobbleOptions").fields}
    assert options == {"fromTimestamp": True, "toTimestamp": True, "descending": False,
                       "maxItems": False, "offset": True}
