"""Host services, one module per Navidrome service.

``service_class(name)`` returns the class serving a Navidrome service (imported on first use).
"""

from __future__ import annotations

import importlib

# Navidrome service name -> "module:Class" (imported lazily, only when a plugin needs it).
SERVICE_CLASSES: dict[str, str] = {
    "Config": "config:ConfigService",
    "Cache": "cache:CacheService",
    "KVStore": "kvstore:KVStoreService",
    "Task": "taskqueue:TaskQueueService",
    "Scheduler": "scheduler:SchedulerService",
    "HTTP": "http:HTTPService",
    "WebSocket": "websocket:WebSocketService",
    "Users": "users:UsersService",
    "Library": "library:LibraryService",
    "Storage": "storage:StorageService",
    "ScrobbleRetriever": "scrobbleretriever:ScrobbleRetrieverService",
    "SubsonicAPI": "subsonicapi:SubsonicAPIService",
    "Artwork": "artwork:ArtworkService",
    "Matcher": "matcher:MatcherService",
}

# Navidrome's service creation order (spec 1.4 step 3).
CREATION_ORDER = ("Config", "SubsonicAPI", "Scheduler", "WebSocket", "Artwork", "Cache", "Library",
                  "KVStore", "Users", "Matcher", "HTTP", "Task", "Storage", "ScrobbleRetriever")


def service_class(name: str):
    """The class serving Navidrome service ``name`` (``"KVStore"``), or None for an unknown name."""
    target = SERVICE_CLASSES.get(name)
    if target is None:
        return None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)


def emulation_status(row) -> str:
    """How nd-notebook serves a host function, for docs/abi.md: ``emulated`` plus the
    service's own note (its ``DEVIATIONS[method]``) where it knowingly differs from Navidrome."""
    cls = service_class(row.service)
    if cls is None or not callable(getattr(cls, row.py_name, None)):
        return "not emulated"
    note = getattr(cls, "DEVIATIONS", {}).get(row.py_name)
    return f"emulated; {note}" if note else "emulated"
