"""Host services, one module per Navidrome service.

``service_class(name)`` returns the class serving a Navidrome service; services not built yet
are served by ``UnimplementedService``, whose every function answers a clear in-band error.
"""

from __future__ import annotations

import importlib

from ..errors import ServiceError

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
}

# Navidrome's service creation order (spec 1.4 step 3).
CREATION_ORDER = ("Config", "SubsonicAPI", "Scheduler", "WebSocket", "Artwork", "Cache", "Library",
                  "KVStore", "Users", "Matcher", "HTTP", "Task", "Storage", "ScrobbleRetriever")


def service_class(name: str):
    target = SERVICE_CLASSES.get(name)
    if target is None:
        return None
    module, _, cls = target.partition(":")
    try:
        mod = importlib.import_module(f"{__name__}.{module}")
    except ModuleNotFoundError as e:
        if e.name == f"{__name__}.{module}":
            return None
        raise
    return getattr(mod, cls)


class UnimplementedService:
    """Stands in for a Navidrome service nd-notebook does not emulate yet: each of its host
    functions answers ``<import name>: not implemented in nd-notebook yet``."""

    def __init__(self, ctx, name: str):
        self.ctx = ctx
        self.name = name

    def __getattr__(self, method: str):
        from .. import abi

        row = next((f for f in abi.functions_of(self.name) if f.py_name == method), None)
        if row is None:
            raise AttributeError(f"{self.name} has no host function {method!r}")

        def unimplemented(**_kwargs):
            raise ServiceError(f"{row.import_name}: not implemented in nd-notebook yet")

        return unimplemented

    def close(self) -> None:
        pass


def emulation_status(row) -> str:
    """How nd-notebook serves a host function, for docs/abi.md: ``emulated`` plus the
    service's own note (its ``DEVIATIONS[method]``) where it knowingly differs from Navidrome."""
    cls = service_class(row.service)
    if cls is None or not callable(getattr(cls, row.py_name, None)):
        return "not emulated"
    note = getattr(cls, "DEVIATIONS", {}).get(row.py_name)
    return f"emulated; {note}" if note else "emulated"
