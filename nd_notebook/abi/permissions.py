"""Manifest permission keys (``permissions.<key>``), their options and cross-checks.

Every permission object also accepts an optional ``reason`` string (``COMMON_OPTIONS``).
``requires`` is checked at manifest parse time, ``requires_export`` after capability detection.
"""

from __future__ import annotations

from .model import Permission, PermissionOption

COMMON_OPTIONS: tuple[PermissionOption, ...] = (
    PermissionOption("reason", "string", None, "Why the plugin needs this permission."),
)

_HOSTS = PermissionOption(
    "requiredHosts", "[]string", None,
    "Host patterns the plugin may reach: exact host, '*', or '*.example.com'.",
)

PERMISSIONS: tuple[Permission, ...] = (
    Permission("http", "HTTP", options=(_HOSTS,),
               doc="http_send; requiredHosts also becomes Extism allowed_hosts when non-empty."),
    Permission("subsonicapi", "SubsonicAPI", requires=("users",),
               doc="subsonicapi_* (Subsonic API as a permitted user)."),
    Permission("scheduler", "Scheduler", requires_export="nd_scheduler_callback",
               doc="scheduler_* (one-time and cron schedules)."),
    Permission("websocket", "WebSocket", options=(_HOSTS,),
               doc="websocket_* (outgoing WebSocket connections)."),
    Permission("artwork", "Artwork", doc="artwork_* (public image URLs)."),
    Permission("cache", "Cache", doc="cache_* (in-memory TTL cache)."),
    Permission(
        "library", "Library",
        options=(PermissionOption(
            "filesystem", "bool", False,
            "Mount permitted libraries at /libraries/<id> and expose path/mountPoint."),),
        doc="library_* (library metadata).",
    ),
    Permission(
        "kvstore", "KVStore",
        options=(PermissionOption(
            "maxSize", "string", None,
            "Storage quota, e.g. '1MB' (SI units) or '1MiB'; default 1 MiB (1048576 bytes)."),),
        doc="kvstore_* (persistent SQLite key-value store).",
    ),
    Permission("users", "Users",
               doc="users_*; also gates the user scope of scrobbler, subsonicapi and "
                   "scrobbleRetriever."),
    Permission(
        "taskqueue", "Task",
        options=(PermissionOption(
            "maxConcurrency", "int", 1, "Total workers across the plugin's queues (>= 1)."),),
        requires_export="nd_task_execute",
        doc="task_* (persistent task queues).",
    ),
    Permission("matcher", "Matcher", requires=("library",), since="head",
               doc="matcher_matchsongs (match song references against the library)."),
    Permission("storage", "Storage", since="head",
               doc="storage_getstoragepath; mounts the plugin's storage folder at /storage."),
    Permission("scrobbleRetriever", "ScrobbleRetriever", requires=("users",), since="head",
               doc="scrobbleretriever_* (users' scrobble history)."),
)
