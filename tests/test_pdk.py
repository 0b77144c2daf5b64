"""The bundled Go PDK: fresh from the generator, gofmt-clean, the upstream API name for name,
and a real plugin importing every package compiles and runs under Extism."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from nd_notebook.pdk import EXTISM_DIR, EXTISM_MODULE, GO_DIR, MODULE
from nd_notebook.pdk.generate import generate, write

# ---- the upstream API (go-pdk-api.md), kept here as data -----------------------------------

HOST_API = [
    "func ArtworkGetAlbumUrl(id string, size int32) (string, error)",
    "func ArtworkGetArtistUrl(id string, size int32) (string, error)",
    "func ArtworkGetPlaylistUrl(id string, size int32) (string, error)",
    "func ArtworkGetTrackUrl(id string, size int32) (string, error)",
    "func CacheGetBytes(key string) ([]byte, bool, error)",
    "func CacheGetFloat(key string) (float64, bool, error)",
    "func CacheGetInt(key string) (int64, bool, error)",
    "func CacheGetString(key string) (string, bool, error)",
    "func CacheHas(key string) (bool, error)",
    "func CacheRemove(key string) error",
    "func CacheSetBytes(key string, value []byte, ttlSeconds int64) error",
    "func CacheSetFloat(key string, value float64, ttlSeconds int64) error",
    "func CacheSetInt(key string, value int64, ttlSeconds int64) error",
    "func CacheSetString(key string, value string, ttlSeconds int64) error",
    "func ConfigGet(key string) (string, bool)",
    "func ConfigGetInt(key string) (int64, bool)",
    "func ConfigKeys(prefix string) []string",
    "func HTTPSend(request HTTPRequest) (*HTTPResponse, error)",
    "func KVStoreDelete(key string) error",
    "func KVStoreDeleteByPrefix(prefix string) (int64, error)",
    "func KVStoreGet(key string) ([]byte, bool, error)",
    "func KVStoreGetMany(keys []string) (map[string][]byte, error)",
    "func KVStoreGetStorageUsed() (int64, error)",
    "func KVStoreHas(key string) (bool, error)",
    "func KVStoreList(prefix string) ([]string, error)",
    "func KVStoreSet(key string, value []byte) error",
    "func KVStoreSetWithTTL(key string, value []byte, ttlSeconds int64) error",
    "func LibraryGetAllLibraries() ([]Library, error)",
    "func LibraryGetLibrary(id int32) (*Library, error)",
    "func MatcherMatchSongs(songs []types.SongRef, opts MatchOptions) ([]*types.Track, error)",
    "func SchedulerCancelSchedule(scheduleID string) error",
    ("func SchedulerScheduleOneTime(delaySeconds int32, payload string, scheduleID string)"
    " (string, error)"),
    ("func SchedulerScheduleRecurring(cronExpression string, payload string, scheduleID string)"
    " (string, error)"),
    "func ScrobbleRetrieverGetFirstTimestamp(username string) (*int64, error)",
    "func ScrobbleRetrieverGetLastTimestamp(username string) (*int64, error)",
    ("func ScrobbleRetrieverGetScrobbleCount(username string, options ScrobbleCountOptions)"
    " (int64, error)"),
    ("func ScrobbleRetrieverGetScrobbles(username string, options ScrobbleOptions)"
    " ([]ScrobbleRef, *ScrobbleOptions, error)"),
    "func StorageGetStoragePath() string",
    "func SubsonicAPICall(uri string) (string, error)",
    "func SubsonicAPICallRaw(uri string) (string, []byte, error)",
    "func TaskCancel(taskID string) error",
    "func TaskClearQueue(queueName string) (int64, error)",
    "func TaskCreateQueue(name string, config QueueConfig) error",
    "func TaskEnqueue(queueName string, payload []byte) (string, error)",
    "func TaskGet(taskID string) (*TaskInfo, error)",
    "func UsersGetAdmins() ([]User, error)",
    "func UsersGetUsers() ([]User, error)",
    "func WebSocketCloseConnection(connectionID string, code int32, reason string) error",
    ("func WebSocketConnect(url string, headers map[string]string, connectionID string)"
    " (string, error)"),
    "func WebSocketSendBinary(connectionID string, data []byte) error",
    "func WebSocketSendText(connectionID string, message string) error",
]

HOST_TYPES = [
    "HTTPRequest", "HTTPResponse", "Library", "MatchOptions", "ScrobbleCountOptions",
    "ScrobbleOptions", "ScrobbleRef", "QueueConfig", "TaskInfo", "User",
]

PDK_API = [
    "func Allocate(length int) Memory",
    "func AllocateBytes(data []byte) Memory",
    "func AllocateJSON(v any) (Memory, error)",
    "func AllocateString(data string) Memory",
    "func FindMemory(offset uint64) Memory",
    "func GetConfig(key string) (string, bool)",
    "func GetVar(key string) []byte",
    "func GetVarInt(key string) int",
    "func Input() []byte",
    "func InputJSON(v any) error",
    "func InputString() string",
    "func JSONFrom(offset uint64, v any) error",
    "func Log(level LogLevel, s string)",
    "func LogMemory(level LogLevel, m Memory)",
    "func NewHTTPRequest(method HTTPMethod, url string) *HTTPRequest",
    "func NewMemory(offset uint64, length uint64) Memory",
    "func Output(data []byte)",
    "func OutputJSON(v any) error",
    "func OutputMemory(mem Memory)",
    "func OutputString(s string)",
    "func ParamBytes(offset uint64) []byte",
    "func ParamString(offset uint64) string",
    "func ParamU32(offset uint64) uint32",
    "func ParamU64(offset uint64) uint64",
    "func RemoveVar(key string)",
    "func ResultBytes(d []byte) uint64",
    "func ResultString(s string) uint64",
    "func ResultU32(d uint32) uint64",
    "func ResultU64(d uint64) uint64",
    "func SetError(err error)",
    "func SetErrorString(err string)",
    "func SetVar(key string, value []byte)",
    "func SetVarInt(key string, value int)",
]

# Methods on the pdk types (receiver names and pointer-ness dropped).
PDK_METHODS = [
    "(HTTPResponse) Memory() Memory",
    "(HTTPResponse) Body() []byte",
    "(HTTPResponse) Status() uint16",
    "(HTTPResponse) Headers() map[string]string",
    "(HTTPMethod) String() string",
    "(HTTPRequest) SetHeader(key string, value string) *HTTPRequest",
    "(HTTPRequest) SetBody(body []byte) *HTTPRequest",
    "(HTTPRequest) Send() HTTPResponse",
    "(Memory) Load(buffer []byte)",
    "(Memory) Store(data []byte)",
    "(Memory) Free()",
    "(Memory) Length() uint64",
    "(Memory) Offset() uint64",
    "(Memory) ReadBytes() []byte",
]

CAPABILITY_API = {
    "lifecycle": ["func Register(impl Lifecycle)"],
    "lyrics": ["func Register(impl Lyrics)"],
    "metadata": ["func Register(impl Metadata)"],
    "scheduler": ["func Register(impl Scheduler)"],
    "scrobbler": ["func (e ScrobblerError) Error() string", "func Register(impl Scrobbler)"],
    "sonicsimilarity": ["func Register(impl SonicSimilarity)"],
    "taskworker": ["func Register(impl TaskWorker)"],
    "websocket": ["func Register(impl WebSocket)"],
}

ALL_EXPORTS = {
    "nd_get_artist_mbid", "nd_get_artist_url", "nd_get_artist_biography",
    "nd_get_similar_artists", "nd_get_artist_images", "nd_get_artist_top_songs",
    "nd_get_album_info", "nd_get_album_images", "nd_get_similar_songs_by_track",
    "nd_get_similar_songs_by_album", "nd_get_similar_songs_by_artist",
    "nd_scrobbler_is_authorized", "nd_scrobbler_now_playing", "nd_scrobbler_scrobble",
    "nd_scrobbler_playback_report", "nd_on_init", "nd_scheduler_callback",
    "nd_websocket_on_text_message", "nd_websocket_on_binary_message", "nd_websocket_on_error",
    "nd_websocket_on_close", "nd_task_execute", "nd_lyrics_get_lyrics",
    "nd_get_sonic_similar_tracks", "nd_find_sonic_path",
}

_FUNC = re.compile(r"^func (\([^)]*\) )?([A-Z]\w*)\((.*)\{$", re.MULTILINE)


def _declared_funcs(package: str) -> list[str]:
    """Every exported func/method declaration line of a generated package, without ' {'."""
    out = []
    for path in sorted((GO_DIR / package).glob("*.go")):
        out += [m.group(0).removesuffix("{").rstrip() for m in _FUNC.finditer(path.read_text())]
    return out


def _without_receiver_names(decl: str) -> str:
    return re.sub(r"^func \(\w+ \*?(\w+)\) ", r"(\1) ", decl)


# ---- freshness and style -------------------------------------------------------------------


def test_committed_pdk_is_exactly_what_the_generator_writes(tmp_path):
    write(tmp_path)
    fresh = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    committed = {p.relative_to(GO_DIR).as_posix() for p in GO_DIR.rglob("*") if p.is_file()}
    assert sorted(committed - fresh) == [], "files the generator does not write"
    assert sorted(fresh - committed) == [], "generated files missing from nd_notebook/pdk/go"
    stale = [rel for rel in sorted(fresh)
             if (tmp_path / rel).read_bytes() != (GO_DIR / rel).read_bytes()]
    assert stale == [], "stale files; run: python -m nd_notebook.pdk.generate"


def test_every_generated_go_file_says_it_is_generated():
    for rel, text in generate().items():
        if rel.endswith(".go"):
            assert re.match(r"^// Code generated .* DO NOT EDIT\.$", text.splitlines()[0]), rel


def test_go_mod_has_the_upstream_path_and_requires_only_go_pdk():
    assert (GO_DIR / "go.mod").read_text() == (
        f"module {MODULE}\n\ngo 1.24\n\nrequire {EXTISM_MODULE} v1.1.3\n\n"
        f"replace {EXTISM_MODULE} => ./{EXTISM_DIR.name}\n")


def test_files_using_wasm_directives_are_wasip1_only():
    for path in GO_DIR.rglob("*.go"):
        text = path.read_text()
        if "//go:wasmimport" in text or "//go:wasmexport" in text:
            assert "\n//go:build wasip1\n" in text, path.relative_to(GO_DIR)


def test_host_wrappers_import_from_extism_host_user():
    text = "".join(p.read_text() for p in (GO_DIR / "host").glob("nd_host_*.go"))
    imports = re.findall(r"^//go:wasmimport extism:host/user (\w+)\nfunc (\w+)\(uint64\) uint64$",
                         text, re.MULTILINE)
    assert len(imports) == 51
    assert all(name == func for name, func in imports)


def test_generated_go_is_gofmt_clean(go_toolchain):
    gofmt = go_toolchain.path.parent / "gofmt"
    out = subprocess.run([str(gofmt), "-l", "."], cwd=GO_DIR, capture_output=True, text=True,
                         check=True)
    assert out.stdout == ""


# ---- the upstream API, name for name -------------------------------------------------------


def test_host_package_has_every_upstream_function_signature():
    declared = _declared_funcs("host")
    assert [d for d in HOST_API if d not in declared] == []


def test_host_package_exports_no_other_functions():
    assert sorted(_declared_funcs("host")) == sorted(HOST_API)


def test_host_package_declares_the_upstream_types():
    text = (GO_DIR / "host" / "host.go").read_text()
    assert re.findall(r"^type (\w+) struct", text, re.MULTILINE) == HOST_TYPES


def test_pdk_package_has_every_extism_go_pdk_function():
    declared = [d for d in _declared_funcs("pdk") if not d.startswith("func (")]
    assert sorted(declared) == sorted(PDK_API)


def test_pdk_types_have_the_extism_go_pdk_methods():
    methods = [_without_receiver_names(d) for d in _declared_funcs(EXTISM_DIR.name)
               if d.startswith("func (")]
    assert sorted(methods) == sorted(PDK_METHODS)


def test_pdk_enums_are_in_extism_order():
    text = (EXTISM_DIR / "pdk.go").read_text()
    assert "LogTrace LogLevel = iota\n\tLogDebug\n\tLogInfo\n\tLogWarn\n\tLogError\n" in text
    assert ("MethodGet HTTPMethod = iota\n\tMethodHead\n\tMethodPost\n\tMethodPut\n\tMethodPatch"
            "\n\tMethodDelete\n\tMethodConnect\n\tMethodOptions\n\tMethodTrace\n") in text


@pytest.mark.parametrize("package", sorted(CAPABILITY_API))
def test_capability_package_register_signature(package):
    assert sorted(_declared_funcs(package)) == sorted(CAPABILITY_API[package])


def test_optional_capabilities_take_an_empty_interface():
    for package, umbrella in [("metadata", "Metadata"), ("scheduler", "Scheduler"),
                              ("websocket", "WebSocket"), ("taskworker", "TaskWorker"),
                              ("lifecycle", "Lifecycle")]:
        text = (GO_DIR / package / f"{package}.go").read_text()
        assert f"type {umbrella} interface{{}}\n" in text, package


def test_scrobbler_declares_the_full_interface_and_error_texts():
    text = (GO_DIR / "scrobbler" / "scrobbler.go").read_text()
    assert ("type Scrobbler interface {\n"
            "\tIsAuthorized(IsAuthorizedRequest) (bool, error)\n"
            "\tNowPlaying(NowPlayingRequest) error\n"
            "\tScrobble(ScrobbleRequest) error\n"
            "\tPlaybackReport(PlaybackReportRequest) error\n}") in text
    assert 'ScrobblerErrorRetryLater    ScrobblerError = "scrobbler(retry_later)"' in text


def test_capability_packages_alias_the_shared_types():
    assert "type SongRef = types.SongRef\n" in (GO_DIR / "metadata" / "metadata.go").read_text()
    assert "type ArtistRef = types.ArtistRef\n" in (
        GO_DIR / "scrobbler" / "scrobbler.go").read_text()


# ---- compiled with the real Go toolchain ---------------------------------------------------

PLUGIN = """\
package main

import (
	"errors"
	"strconv"

	"github.com/navidrome/navidrome/plugins/pdk/go/host"
	"github.com/navidrome/navidrome/plugins/pdk/go/lifecycle"
	"github.com/navidrome/navidrome/plugins/pdk/go/lyrics"
	"github.com/navidrome/navidrome/plugins/pdk/go/metadata"
	"github.com/navidrome/navidrome/plugins/pdk/go/pdk"
	"github.com/navidrome/navidrome/plugins/pdk/go/scheduler"
	"github.com/navidrome/navidrome/plugins/pdk/go/scrobbler"
	"github.com/navidrome/navidrome/plugins/pdk/go/sonicsimilarity"
	"github.com/navidrome/navidrome/plugins/pdk/go/taskworker"
	"github.com/navidrome/navidrome/plugins/pdk/go/types"
	"github.com/navidrome/navidrome/plugins/pdk/go/websocket"
)

type plugin struct{}

func (plugin) OnInit() error {
	pdk.Log(pdk.LogInfo, "init "+host.StorageGetStoragePath())
	return nil
}

func (plugin) GetArtistBiography(req metadata.ArtistRequest) (*metadata.ArtistBiographyResponse, error) {
	value, exists, err := host.CacheGetString("bio:" + req.Name)
	if err != nil || !exists {
		return nil, err
	}
	return &metadata.ArtistBiographyResponse{Biography: value}, nil
}

func (plugin) OnCallback(req scheduler.SchedulerCallbackRequest) error {
	_, err := host.SchedulerScheduleOneTime(5, req.Payload, req.ScheduleID)
	return err
}

func (plugin) IsAuthorized(req scrobbler.IsAuthorizedRequest) (bool, error) {
	users, err := host.UsersGetUsers()
	for _, u := range users {
		if u.UserName == req.Username {
			return true, err
		}
	}
	return false, err
}

func (plugin) NowPlaying(scrobbler.NowPlayingRequest) error {
	return scrobbler.ScrobblerErrorRetryLater
}

func (plugin) Scrobble(scrobbler.ScrobbleRequest) error { return nil }

func (plugin) PlaybackReport(scrobbler.PlaybackReportRequest) error { return nil }

func (plugin) OnTaskExecute(req taskworker.TaskExecuteRequest) (string, error) {
	if err := host.KVStoreSet(req.TaskID, req.Payload); err != nil {
		return "", err
	}
	return "stored " + req.TaskID, nil
}

func (plugin) OnTextMessage(req websocket.OnTextMessageRequest) error {
	return host.WebSocketSendText(req.ConnectionID, req.Message)
}

func (plugin) GetLyrics(req lyrics.GetLyricsRequest) (lyrics.GetLyricsResponse, error) {
	resp, err := host.HTTPSend(host.HTTPRequest{Method: "GET", URL: "https://lyrics.test/" + req.Track.Title})
	if err != nil {
		return lyrics.GetLyricsResponse{}, err
	}
	return lyrics.GetLyricsResponse{Lyrics: []lyrics.LyricsText{{Text: string(resp.Body)}}}, nil
}

func (plugin) GetSonicSimilarTracks(req sonicsimilarity.GetSonicSimilarTracksRequest) (sonicsimilarity.SonicSimilarityResponse, error) {
	tracks, err := host.MatcherMatchSongs([]types.SongRef{req.Song}, host.MatchOptions{})
	var out sonicsimilarity.SonicSimilarityResponse
	for _, t := range tracks {
		if t != nil {
			out.Matches = append(out.Matches, sonicsimilarity.SonicMatch{Song: types.SongRef{ID: t.ID, Name: t.Title}, Similarity: 1})
		}
	}
	return out, err
}

func (plugin) FindSonicPath(sonicsimilarity.FindSonicPathRequest) (sonicsimilarity.SonicSimilarityResponse, error) {
	first, err := host.ScrobbleRetrieverGetFirstTimestamp("admin")
	if err == nil && first == nil {
		err = errors.New("no scrobbles")
	}
	return sonicsimilarity.SonicSimilarityResponse{}, err
}

// pdk_echo exercises the kernel layer: config, vars, input and output.
//
//go:wasmexport pdk_echo
func pdkEcho() int32 {
	greeting, ok := pdk.GetConfig("greeting")
	_, emptyFound := pdk.GetConfig("empty")
	pdk.SetVarInt("n", 41)
	pdk.SetVar("word", []byte("vars"))
	n := pdk.GetVarInt("n") + 1
	pdk.RemoveVar("word")
	removed := pdk.GetVar("word") == nil
	pdk.OutputString(greeting + " " + strconv.FormatBool(ok) + " " + strconv.FormatBool(emptyFound) +
		" " + strconv.Itoa(n) + " " + strconv.FormatBool(removed) + " " + pdk.InputString())
	return 0
}

// pdk_fetch sends the input URL through the kernel's http_request.
//
//go:wasmexport pdk_fetch
func pdkFetch() int32 {
	resp := pdk.NewHTTPRequest(pdk.MethodPost, pdk.InputString()).
		SetHeader("X-Test", "yes").
		SetBody([]byte("ping")).
		Send()
	out := map[string]any{"status": resp.Status(), "body": string(resp.Body()), "headers": resp.Headers()}
	if err := pdk.OutputJSON(out); err != nil {
		pdk.SetError(err)
		return -1
	}
	return 0
}

func init() {
	p := plugin{}
	lifecycle.Register(p)
	metadata.Register(p)
	scheduler.Register(p)
	scrobbler.Register(p)
	taskworker.Register(p)
	websocket.Register(p)
	lyrics.Register(p)
	sonicsimilarity.Register(p)
}

func main() {}
"""

CALLED_HOST_FUNCTIONS = {
    "storage_getstoragepath", "cache_getstring", "scheduler_scheduleonetime", "users_getusers",
    "kvstore_set", "websocket_sendtext", "http_send", "matcher_matchsongs",
    "scrobbleretriever_getfirsttimestamp",
}

# What the stub host functions answer, and the requests they saw.
ANSWERS = {
    "storage_getstoragepath": {"result": "/storage"},
    "cache_getstring": {"value": "A singer.", "exists": True},
    "scheduler_scheduleonetime": {"newScheduleId": "s1"},
    "users_getusers": {"result": [{"userName": "bob", "name": "Bob"}]},
    "kvstore_set": {"error": "kvstore: storage limit exceeded"},
    "websocket_sendtext": {},
    "http_send": {"result": {"statusCode": 200, "body": "bGEgbGE="}},
    "matcher_matchsongs": {"results": [None, {"id": "mf-1", "title": "Song"}]},
    "scrobbleretriever_getfirsttimestamp": {},
}


@pytest.fixture(scope="session")
def go_toolchain():
    from nd_notebook.build.toolchain import resolve_go

    return resolve_go()


@pytest.fixture(scope="module")
def plugin_wasm() -> bytes:
    from nd_notebook.build import build

    return build(PLUGIN, lang="go")


@pytest.fixture(scope="module")
def stub_host():
    """Host functions answering ANSWERS and recording each request body."""
    import extism

    seen: dict[str, list[bytes]] = {}

    def stub(name):
        def handler(current, inputs, outputs, *user_data):
            seen.setdefault(name, []).append(current.input_bytes(inputs[0]))
            current.return_bytes(outputs[0], json.dumps(ANSWERS[name]).encode())

        signature = ([extism.ValType.I64], [extism.ValType.I64])
        return extism.host_fn(name=name, namespace="extism:host/user",
                              signature=signature)(handler)

    return [stub(name) for name in sorted(ANSWERS)], seen


def _call(wasm: bytes, functions, export: str, payload, **manifest) -> bytes:
    """Run one export on a fresh instance, with HTTP response headers enabled as Navidrome does."""
    import extism
    from extism.extism import _lib

    data = payload if isinstance(payload, str) else json.dumps(payload)
    manifest = {"wasm": [{"data": wasm}], **manifest}
    with extism.Plugin(manifest, wasi=True, functions=functions) as plugin:
        _lib.extism_plugin_allow_http_response_headers(plugin.plugin)
        return plugin.call(export, data)


@pytest.mark.slow
def test_plugin_importing_every_package_exports_every_capability(plugin_wasm):
    import wasmtime

    module = wasmtime.Module(wasmtime.Engine(), plugin_wasm)
    exports = {e.name for e in module.exports}
    assert exports == ALL_EXPORTS | {"_initialize", "memory", "pdk_echo", "pdk_fetch"}


@pytest.mark.slow
def test_plugin_imports_exactly_the_host_functions_it_calls(plugin_wasm):
    import wasmtime

    module = wasmtime.Module(wasmtime.Engine(), plugin_wasm)
    user = {i.name for i in module.imports if i.module == "extism:host/user"}
    assert user == CALLED_HOST_FUNCTIONS
    for imp in module.imports:
        if imp.module == "extism:host/user":
            assert [str(t) for t in imp.type.params] == ["i64"]
            assert [str(t) for t in imp.type.results] == ["i64"]


@pytest.mark.slow
def test_plugin_imports_only_kernel_functions_of_spec_section_9_1(plugin_wasm):
    import wasmtime

    kernel = {
        "alloc", "free", "length", "length_unsafe", "load_u8", "store_u8", "load_u64",
        "store_u64", "input_length", "input_load_u8", "input_load_u64", "output_set",
        "error_set", "config_get", "var_get", "var_set", "log_info", "log_debug", "log_warn",
        "log_error", "get_log_level", "http_request", "http_status_code", "http_headers",
    }
    module = wasmtime.Module(wasmtime.Engine(), plugin_wasm)
    env = {i.name for i in module.imports if i.module == "extism:host/env"}
    assert env and env <= kernel
    assert {i.module for i in module.imports} == {
        "extism:host/env", "extism:host/user", "wasi_snapshot_preview1",
    }


@pytest.mark.slow
def test_export_writes_the_json_output_built_from_a_host_call(plugin_wasm, stub_host):
    functions, seen = stub_host
    out = _call(plugin_wasm, functions, "nd_get_artist_biography", {"id": "1", "name": "Bob"})
    assert json.loads(out) == {"biography": "A singer."}
    assert seen["cache_getstring"][-1] == b'{"key":"bio:Bob"}'


@pytest.mark.slow
def test_unregistered_optional_export_returns_minus_two(plugin_wasm, stub_host):
    import extism

    with pytest.raises(extism.Error, match="^Error code: -2$"):
        _call(plugin_wasm, stub_host[0], "nd_get_artist_mbid", {"id": "1", "name": "Bob"})


@pytest.mark.slow
def test_host_error_field_becomes_the_plugin_error(plugin_wasm, stub_host):
    import extism

    with pytest.raises(extism.Error, match="^kvstore: storage limit exceeded$"):
        _call(plugin_wasm, stub_host[0], "nd_task_execute",
              {"queueName": "q", "taskId": "t1", "payload": "aGk=", "attempt": 1})
    assert stub_host[1]["kvstore_set"][-1] == b'{"key":"t1","value":"aGk="}'


@pytest.mark.slow
def test_undecodable_input_sets_the_json_error(plugin_wasm, stub_host):
    import extism

    with pytest.raises(extism.Error, match="^json: cannot unmarshal string into Go value"):
        _call(plugin_wasm, stub_host[0], "nd_task_execute", '"not an object"')


@pytest.mark.slow
def test_function_without_parameters_sends_an_empty_object(plugin_wasm, stub_host):
    out = _call(plugin_wasm, stub_host[0], "nd_scrobbler_is_authorized", {"username": "bob"})
    assert out == b"true"
    assert stub_host[1]["users_getusers"][-1] == b"{}"


@pytest.mark.slow
def test_scrobbler_error_constant_is_the_error_text(plugin_wasm, stub_host):
    import extism

    with pytest.raises(extism.Error, match=r"^scrobbler\(retry_later\)$"):
        _call(plugin_wasm, stub_host[0], "nd_scrobbler_now_playing", {"username": "bob"})


@pytest.mark.slow
def test_http_send_request_carries_every_field_and_base64_body(plugin_wasm, stub_host):
    out = _call(plugin_wasm, stub_host[0], "nd_lyrics_get_lyrics", {"track": {"title": "x"}})
    assert json.loads(out) == {"lyrics": [{"text": "la la"}]}
    assert json.loads(stub_host[1]["http_send"][-1]) == {"request": {
        "method": "GET", "url": "https://lyrics.test/x", "headers": None,
        "noFollowRedirects": False, "body": None, "timeoutMs": 0,
    }}


@pytest.mark.slow
def test_null_matcher_results_stay_nil(plugin_wasm, stub_host):
    out = _call(plugin_wasm, stub_host[0], "nd_get_sonic_similar_tracks",
                {"song": {"name": "Song"}, "count": 2})
    assert json.loads(out) == {"matches": [{"song": {"id": "mf-1", "name": "Song"},
                                            "similarity": 1}]}
    assert json.loads(stub_host[1]["matcher_matchsongs"][-1]) == {
        "songs": [{"name": "Song"}], "opts": {"username": ""},
    }


@pytest.mark.slow
def test_absent_pointer_result_is_nil(plugin_wasm, stub_host):
    import extism

    with pytest.raises(extism.Error, match="^no scrobbles$"):
        _call(plugin_wasm, stub_host[0], "nd_find_sonic_path", {})


@pytest.mark.slow
def test_export_without_output_writes_nothing(plugin_wasm, stub_host):
    out = _call(plugin_wasm, stub_host[0], "nd_scheduler_callback",
                {"scheduleId": "s0", "payload": "p", "isRecurring": False})
    assert out == b""
    assert json.loads(stub_host[1]["scheduler_scheduleonetime"][-1]) == {
        "delaySeconds": 5, "payload": "p", "scheduleId": "s0",
    }


@pytest.mark.slow
@pytest.mark.parametrize("goos", ["native", "wasip1"])
def test_go_vet_passes_on_the_pdk(go_toolchain, goos):
    from nd_notebook.build import go_env

    env = go_env(go_toolchain)
    if goos == "native":
        env.pop("GOOS")
        env.pop("GOARCH")
    proc = subprocess.run([str(go_toolchain.path), "vet", "./..."], cwd=GO_DIR, env=env, check=False,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert not (Path(GO_DIR) / "go.sum").exists()


@pytest.mark.slow
def test_pdk_reads_config_vars_and_input_and_writes_output(plugin_wasm, stub_host):
    out = _call(plugin_wasm, stub_host[0], "pdk_echo", "in", config={"greeting": "hi", "empty": ""})
    assert out == b"hi true false 42 true in"


@pytest.mark.slow
def test_pdk_http_request_sends_method_headers_and_body(plugin_wasm, stub_host):
    import http.server
    import threading

    seen = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            seen["header"] = self.headers["X-Test"]
            seen["body"] = self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(201)
            self.send_header("X-Reply", "ok")
            self.end_headers()
            self.wfile.write(b"pong")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/x"
        out = json.loads(_call(plugin_wasm, stub_host[0], "pdk_fetch", url,
                               allowed_hosts=["127.0.0.1"]))
    finally:
        server.shutdown()
        server.server_close()
    assert (out["status"], out["body"]) == (201, "pong")
    assert out["headers"]["x-reply"] == "ok"
    assert seen == {"header": "yes", "body": b"ping"}


# ---- github.com/extism/go-pdk next to the Navidrome PDK ------------------------------------

MIXED_PLUGIN = """\
package main

import (
	"github.com/extism/go-pdk"
	"github.com/navidrome/navidrome/plugins/pdk/go/metadata"
)

type agent struct{}

func (agent) GetArtistURL(req metadata.ArtistRequest) (*metadata.ArtistURLResponse, error) {
	base, _ := pdk.GetConfig("base")
	return &metadata.ArtistURLResponse{URL: base + req.Name}, nil
}

func init() { metadata.Register(agent{}) }

func main() {}
"""


@pytest.fixture(scope="module")
def mixed_wasm(go_toolchain, tmp_path_factory) -> bytes:
    """A plugin importing github.com/extism/go-pdk too, built offline against the shim."""
    from nd_notebook.build import go_env

    folder = tmp_path_factory.mktemp("mixed")
    (folder / "main.go").write_text(MIXED_PLUGIN)
    (folder / "go.mod").write_text(
        "module mixed\n\ngo 1.24\n\n"
        f"require (\n\t{EXTISM_MODULE} v1.1.3\n\t{MODULE} v0.0.0\n)\n\n"
        f"replace {MODULE} => {GO_DIR.as_posix()}\n\n"
        f"replace {EXTISM_MODULE} => {EXTISM_DIR.as_posix()}\n"
    )
    proc = subprocess.run(
        [str(go_toolchain.path), "build", "-buildmode=c-shared", "-o", "plugin.wasm", "."],
        cwd=folder, env=go_env(go_toolchain), capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return (folder / "plugin.wasm").read_bytes()


@pytest.mark.slow
def test_extism_go_pdk_shim_shares_the_bundled_pdk(mixed_wasm):
    out = _call(mixed_wasm, [], "nd_get_artist_url", {"id": "1", "name": "Bob"},
                config={"base": "https://artists.test/"})
    assert json.loads(out) == {"url": "https://artists.test/Bob"}


CONFIG_READER = """
package main

import (
	"github.com/navidrome/navidrome/plugins/pdk/go/host"
	"github.com/navidrome/navidrome/plugins/pdk/go/pdk"
)

//go:wasmexport read
func read() int32 {
	value, exists := host.ConfigGet("k")
	if exists {
		value += "|exists"
	}
	pdk.OutputString(value)
	return 0
}
"""


@pytest.mark.slow
def test_wrappers_without_an_error_result_ignore_an_error_member():
    # Upstream's configGetResponse has no Error field: an "error" member is skipped.
    import extism

    from nd_notebook.build import build

    def answer(current, inputs, outputs, *user_data):
        current.return_bytes(outputs[0], b'{"value":"x","exists":true,"error":"e"}')

    config_get = extism.host_fn(name="config_get", namespace="extism:host/user",
                                signature=([extism.ValType.I64], [extism.ValType.I64]))(answer)
    assert _call(build(CONFIG_READER, lang="go"), [config_get], "read", "") == b"x|exists"


NIL_SCROBBLER = """
package main

import "github.com/navidrome/navidrome/plugins/pdk/go/scrobbler"

var impl scrobbler.Scrobbler

func init() { scrobbler.Register(impl) }
"""


@pytest.mark.slow
def test_registering_a_nil_scrobbler_panics_at_init_and_fails_every_call(tmp_path):
    # Upstream's Register binds impl's method values: a nil interface panics in init, which
    # the Go SDK runs at an instance's first call.
    from nd_notebook import Host
    from nd_notebook.build import build
    from nd_notebook.errors import PluginCallFailedError

    with Host(tmp_path) as host:
        plugin = host.load(build(NIL_SCROBBLER, lang="go"), name="nil", permissions="users")
        with pytest.raises(PluginCallFailedError) as e:
            plugin.call("nd_scrobbler_is_authorized", {"username": "a"})
    assert str(e.value) == ("plugin call failed: failed to initialize runtime: panic: runtime "
                            "error: invalid memory address or nil pointer dereference")
