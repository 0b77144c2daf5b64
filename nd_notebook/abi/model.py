"""Row types of the ABI tables: host functions, structs, capabilities, permissions.

Every other part of nd-notebook (host dispatch, the Go PDK generator, permission inference,
docs) reads these rows; nothing else restates the ABI.

Go type expressions (``Field.type``) use Go syntax exactly as the PDK declares them:
``string``, ``bool``, ``int``, ``int32``, ``int64``, ``uint32``, ``float32``, ``float64``,
``[]byte`` (base64 on the wire), ``[]T``, ``map[string]T``, ``*T`` (pointer: ``null`` when nil,
emitted even when pointing at a zero value) and struct names. A struct name is looked up in
``STRUCTS`` of the ABI package; a qualified name such as ``types.SongRef`` names the Go package
the struct lives in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


def snake_case(name: str) -> str:
    """``scheduleId`` -> ``schedule_id``; ``mbzRecordingId`` -> ``mbz_recording_id``."""
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    return s.lower()


@dataclass(frozen=True)
class Field:
    """One JSON field of a request, response or struct."""

    json: str  # JSON key, e.g. "ttlSeconds"
    type: str  # Go type expression, e.g. "int64", "[]byte", "*Library"
    go: str = ""  # Go identifier (struct field name, or parameter/result name in the PDK)
    omitempty: bool = False
    doc: str = ""
    # omitempty of Navidrome's own host-side struct when it differs from the PDK's tag
    # (e.g. Library.path, HTTPResponse.body); None = same as ``omitempty``.
    host_omitempty: bool | None = None

    @property
    def wire_omitempty(self) -> bool:
        """omitempty as Navidrome's host encodes the field (use it when the host writes JSON)."""
        return self.omitempty if self.host_omitempty is None else self.host_omitempty

    @property
    def py(self) -> str:
        """The Python keyword name: snake_case of the JSON key."""
        return snake_case(self.json)


@dataclass(frozen=True)
class Struct:
    """A Go struct that travels as JSON (``Library``, ``types.SongRef``...)."""

    name: str  # Go type name, e.g. "Library" or "SongRef"
    package: str  # Go package that declares it: "host", "types", "metadata"...
    fields: tuple[Field, ...]
    doc: str = ""
    since: str = "seed"  # "seed" or "head"


@dataclass(frozen=True)
class HostFunction:
    """One Navidrome host function (an ``extism:host/user`` import of signature (i64)->i64).

    ``params`` are the request JSON fields in PDK parameter order; ``results`` the response
    JSON fields (all omitempty on the wire) in PDK result order. ``returns_error`` says whether
    the PDK function also returns ``error`` (every host function may still answer
    ``{"error": ...}`` on a malformed request).
    """

    service: str  # PDK/Go service name: "Cache", "KVStore", "SubsonicAPI"...
    method: str  # Go method name: "GetString", "ScheduleOneTime"...
    import_name: str  # wasm import name: "cache_getstring"
    permission: str | None  # manifest permission key gating it; None = always (Config)
    params: tuple[Field, ...] = ()
    results: tuple[Field, ...] = ()
    returns_error: bool = True
    since: str = "seed"
    doc: str = ""

    @property
    def pdk_name(self) -> str:
        """Name of the Go PDK wrapper in package ``host``: ``CacheGetString``."""
        return self.service + self.method

    @property
    def py_name(self) -> str:
        """Name of the Python service method: ``get_string``."""
        return snake_case(self.method)


@dataclass(frozen=True)
class Export:
    """One capability export (``nd_...``) the host calls."""

    name: str  # export name: "nd_get_artist_biography"
    capability: str  # reported capability name: "MetadataAgent"
    input: str | None  # Go type of the input JSON (struct name in the capability package)
    output: str | None  # Go type of the output JSON (None = no output)
    method: str = ""  # Go interface method implementing it, e.g. "GetArtistBiography"
    provider: str = ""  # Go one-method interface name, e.g. "ArtistBiographyProvider"
    since: str = "seed"
    doc: str = ""

    @property
    def py_name(self) -> str:
        """Typed helper name: ``nd_get_artist_biography`` -> ``artist_biography``."""
        n = self.name.removeprefix("nd_")
        for prefix in ("get_", "scrobbler_", "websocket_", "lyrics_", "task_"):
            if n.startswith(prefix):
                return n.removeprefix(prefix)
        return n


@dataclass(frozen=True)
class Capability:
    """A capability: a name reported by Navidrome, its Go package and its exports."""

    name: str  # "MetadataAgent"
    package: str  # Go package in the PDK: "metadata"
    exports: tuple[str, ...]
    since: str = "seed"
    requires_all: bool = False  # Register() takes the full interface (scrobbler, lyrics, ...)


@dataclass(frozen=True)
class PermissionOption:
    name: str  # "maxSize"
    type: str  # "string", "int", "bool", "[]string"
    default: object = None
    doc: str = ""


@dataclass(frozen=True)
class Permission:
    """A manifest permission key and what it gates."""

    key: str  # manifest key, e.g. "scrobbleRetriever"
    service: str | None  # host service it registers, e.g. "ScrobbleRetriever"
    options: tuple[PermissionOption, ...] = ()
    requires: tuple[str, ...] = ()  # other permissions that must be declared with it
    requires_export: str | None = None  # export the plugin must have (checked after load)
    since: str = "seed"
    doc: str = ""


@dataclass(frozen=True)
class Service:
    """A host service: its name, permission and import prefix."""

    name: str  # "Cache"
    permission: str | None
    prefix: str  # import-name prefix: "cache"
    since: str = "seed"
    functions: tuple[HostFunction, ...] = field(default=())
