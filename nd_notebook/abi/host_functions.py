"""Navidrome's host services and their functions (``extism:host/user`` imports).

``SERVICES`` is in Navidrome's registration order (Config first, then the permitted services).
Each function lists its request fields in Go PDK parameter order and its response fields in
PDK result order; an unnamed Go result travels under the JSON key ``result``. Every response
may also carry ``{"error": ...}``.
"""

from __future__ import annotations

from .model import Field, HostFunction, Service

# A field is written "goName GoType jsonKey".


def _fields(specs: tuple[str, ...], *, omitempty: bool) -> tuple[Field, ...]:
    rows = []
    for spec in specs:
        go, typ, key = spec.split()
        rows.append(Field(json=key, type=typ, go=go, omitempty=omitempty))
    return tuple(rows)


def _fn(
    method: str,
    params: tuple[str, ...] = (),
    results: tuple[str, ...] = (),
    *,
    returns_error: bool = True,
    doc: str = "",
) -> dict:
    return {"method": method, "params": params, "results": results,
            "returns_error": returns_error, "doc": doc}


def _service(
    name: str, prefix: str, permission: str | None, *fns: dict, since: str = "seed"
) -> Service:
    functions = tuple(
        HostFunction(
            service=name,
            method=f["method"],
            import_name=f"{prefix}_{f['method'].lower()}",
            permission=permission,
            params=_fields(f["params"], omitempty=False),
            results=_fields(f["results"], omitempty=True),
            returns_error=f["returns_error"],
            since=since,
            doc=f["doc"],
        )
        for f in fns
    )
    return Service(name=name, permission=permission, prefix=prefix, since=since,
                   functions=functions)


_ID_SIZE = ("id string id", "size int32 size")
_URL = ("url string url",)
_KEY = ("key string key",)
_TTL = "ttlSeconds int64 ttlSeconds"
_USERNAME = "username string username"

SERVICES: tuple[Service, ...] = (
    _service(
        "Config", "config", None,
        _fn("Get", _KEY, ("value string value", "exists bool exists"), returns_error=False,
            doc="A plugin config value; exists is true even for an empty string."),
        _fn("GetInt", _KEY, ("value int64 value", "exists bool exists"), returns_error=False,
            doc="A config value parsed as a base-10 integer; exists false when unparseable."),
        _fn("Keys", ("prefix string prefix",), ("keys []string keys",), returns_error=False,
            doc="Config keys starting with prefix, sorted."),
    ),
    _service(
        "SubsonicAPI", "subsonicapi", "subsonicapi",
        _fn("Call", ("uri string uri",), ("responseJSON string responseJson",),
            doc="Runs a Subsonic API request and returns the JSON response body."),
        _fn("CallRaw", ("uri string uri",), ("contentType string contentType",
                                            "data []byte data"),
            doc="Runs a Subsonic API request and returns the raw body and its content type."),
    ),
    _service(
        "Scheduler", "scheduler", "scheduler",
        _fn("ScheduleOneTime",
            ("delaySeconds int32 delaySeconds", "payload string payload",
             "scheduleID string scheduleId"),
            ("newScheduleID string newScheduleId",),
            doc="Calls nd_scheduler_callback once after delaySeconds."),
        _fn("ScheduleRecurring",
            ("cronExpression string cronExpression", "payload string payload",
             "scheduleID string scheduleId"),
            ("newScheduleID string newScheduleId",),
            doc="Calls nd_scheduler_callback on a cron schedule."),
        _fn("CancelSchedule", ("scheduleID string scheduleId",),
            doc="Cancels a schedule."),
    ),
    _service(
        "WebSocket", "websocket", "websocket",
        _fn("Connect",
            ("url string url", "headers map[string]string headers",
             "connectionID string connectionId"),
            ("newConnectionID string newConnectionId",),
            doc="Opens a WebSocket connection whose events reach the nd_websocket_* exports."),
        _fn("SendText", ("connectionID string connectionId", "message string message"),
            doc="Sends a text message."),
        _fn("SendBinary", ("connectionID string connectionId", "data []byte data"),
            doc="Sends a binary message."),
        _fn("CloseConnection",
            ("connectionID string connectionId", "code int32 code", "reason string reason"),
            doc="Closes a connection with a close code and reason."),
    ),
    _service(
        "Artwork", "artwork", "artwork",
        _fn("GetArtistUrl", _ID_SIZE, _URL, doc="Public image URL of an artist."),
        _fn("GetAlbumUrl", _ID_SIZE, _URL, doc="Public image URL of an album."),
        _fn("GetTrackUrl", _ID_SIZE, _URL, doc="Public image URL of a track."),
        _fn("GetPlaylistUrl", _ID_SIZE, _URL, doc="Public image URL of a playlist."),
    ),
    _service(
        "Cache", "cache", "cache",
        _fn("SetString", ("key string key", "value string value", _TTL),
            doc="Stores a string with a TTL (<= 0 means 24 h)."),
        _fn("GetString", _KEY, ("value string value", "exists bool exists"),
            doc="Reads a string stored by SetString."),
        _fn("SetInt", ("key string key", "value int64 value", _TTL),
            doc="Stores an integer with a TTL."),
        _fn("GetInt", _KEY, ("value int64 value", "exists bool exists"),
            doc="Reads an integer stored by SetInt."),
        _fn("SetFloat", ("key string key", "value float64 value", _TTL),
            doc="Stores a float with a TTL."),
        _fn("GetFloat", _KEY, ("value float64 value", "exists bool exists"),
            doc="Reads a float stored by SetFloat."),
        _fn("SetBytes", ("key string key", "value []byte value", _TTL),
            doc="Stores bytes with a TTL."),
        _fn("GetBytes", _KEY, ("value []byte value", "exists bool exists"),
            doc="Reads bytes stored by SetBytes."),
        _fn("Has", _KEY, ("exists bool exists",), doc="Whether a key is cached."),
        _fn("Remove", _KEY, doc="Removes a key (no error when absent)."),
    ),
    _service(
        "Library", "library", "library",
        _fn("GetLibrary", ("id int32 id",), ("result *Library result",),
            doc="One library visible to the plugin."),
        _fn("GetAllLibraries", (), ("result []Library result",),
            doc="All libraries visible to the plugin."),
    ),
    _service(
        "KVStore", "kvstore", "kvstore",
        _fn("Set", ("key string key", "value []byte value"),
            doc="Stores a value persistently."),
        _fn("SetWithTTL", ("key string key", "value []byte value", _TTL),
            doc="Stores a value that expires after ttlSeconds."),
        _fn("Get", _KEY, ("value []byte value", "exists bool exists"),
            doc="Reads a value."),
        _fn("GetMany", ("keys []string keys",), ("values map[string][]byte values",),
            doc="Reads several values; only found, unexpired keys are returned."),
        _fn("Has", _KEY, ("exists bool exists",), doc="Whether a key exists."),
        _fn("List", ("prefix string prefix",), ("keys []string keys",),
            doc="Keys starting with prefix, sorted."),
        _fn("Delete", _KEY, doc="Deletes a key."),
        _fn("DeleteByPrefix", ("prefix string prefix",), ("deletedCount int64 deletedCount",),
            doc="Deletes every key starting with prefix."),
        _fn("GetStorageUsed", (), ("bytes int64 bytes",),
            doc="Bytes used by the plugin's store."),
    ),
    _service(
        "Users", "users", "users",
        _fn("GetUsers", (), ("result []User result",), doc="Users visible to the plugin."),
        _fn("GetAdmins", (), ("result []User result",),
            doc="Admin users visible to the plugin."),
    ),
    _service(
        "Matcher", "matcher", "matcher",
        _fn("MatchSongs", ("songs []types.SongRef songs", "opts MatchOptions opts"),
            ("results []*types.Track results",),
            doc="Matches song references against the library (nil = no match)."),
        since="head",
    ),
    _service(
        "HTTP", "http", "http",
        _fn("Send", ("request HTTPRequest request",), ("result *HTTPResponse result",),
            doc="Sends an HTTP request through Navidrome."),
    ),
    _service(
        "Task", "task", "taskqueue",
        _fn("CreateQueue", ("name string name", "config QueueConfig config"),
            doc="Creates a task queue (or updates an existing one)."),
        _fn("Enqueue", ("queueName string queueName", "payload []byte payload"),
            ("result string result",),
            doc="Adds a task to a queue and returns its id."),
        _fn("Get", ("taskID string taskId",), ("result *TaskInfo result",),
            doc="The state of a task."),
        _fn("Cancel", ("taskID string taskId",), doc="Cancels a pending task."),
        _fn("ClearQueue", ("queueName string queueName",), ("result int64 result",),
            doc="Cancels every pending task of a queue and returns how many."),
    ),
    _service(
        "Storage", "storage", "storage",
        _fn("GetStoragePath", (), ("result string result",), returns_error=False,
            doc="The guest path of the plugin's read-write storage folder."),
        since="head",
    ),
    _service(
        "ScrobbleRetriever", "scrobbleretriever", "scrobbleRetriever",
        _fn("GetFirstTimestamp", (_USERNAME,), ("result *int64 result",),
            doc="Submission time of a user's oldest scrobble (nil when none)."),
        _fn("GetLastTimestamp", (_USERNAME,), ("result *int64 result",),
            doc="Submission time of a user's newest scrobble (nil when none)."),
        _fn("GetScrobbles", (_USERNAME, "options ScrobbleOptions options"),
            ("scrobbles []ScrobbleRef scrobbles", "next *ScrobbleOptions next"),
            doc="A page of a user's scrobbles and the options of the next page."),
        _fn("GetScrobbleCount", (_USERNAME, "options ScrobbleCountOptions options"),
            ("result int64 result",),
            doc="How many scrobbles a user has in a time range."),
        since="head",
    ),
)

HOST_FUNCTIONS: tuple[HostFunction, ...] = tuple(f for s in SERVICES for f in s.functions)
