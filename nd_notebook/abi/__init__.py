"""The Navidrome plugin ABI as data, plus the lookups every other part uses.

Tables: ``SERVICES``/``HOST_FUNCTIONS`` (imports), ``STRUCTS``/``ALIASES`` (JSON types),
``CAPABILITIES``/``EXPORTS`` (exports), ``PERMISSIONS`` (manifest keys). Lookups raise
``KeyError`` for unknown names.
"""

from __future__ import annotations

from collections.abc import Iterable

from .capabilities import CAPABILITIES, EXPORTS, INTERFACES
from .host_functions import HOST_FUNCTIONS, SERVICES
from .model import (
    Capability,
    Export,
    Field,
    HostFunction,
    Permission,
    PermissionOption,
    Service,
    Struct,
    snake_case,
)
from .permissions import COMMON_OPTIONS, PERMISSIONS
from .structs import ALIASES, STRUCTS

__all__ = [
    "ALIASES",
    "CAPABILITIES",
    "COMMON_OPTIONS",
    "ENV_NAMESPACE",
    "ERROR_TEXTS",
    "EXPORTS",
    "FUNCTION_NOT_FOUND",
    "FUNCTION_NOT_IMPLEMENTED",
    "HOST_FUNCTIONS",
    "INTERFACES",
    "PERMISSIONS",
    "PERMISSION_REQUIRES_EXPORT",
    "PERMISSION_REQUIRES_PERMISSION",
    "PLUGIN_CALL_EXITED",
    "PLUGIN_CALL_FAILED",
    "RC_ERROR",
    "RC_NOT_IMPLEMENTED",
    "SCROBBLER_REQUIRES_USERS",
    "SERVICES",
    "STRUCTS",
    "USER_NAMESPACE",
    "WASI_NAMESPACE",
    "Capability",
    "Export",
    "Field",
    "HostFunction",
    "Permission",
    "PermissionOption",
    "Service",
    "Struct",
    "capability",
    "capability_of_export",
    "export",
    "exports_of",
    "functions_of",
    "host_function",
    "permission",
    "required_permissions",
    "service",
    "snake_case",
    "struct",
]

# Wasm import modules.
USER_NAMESPACE = "extism:host/user"  # Navidrome host functions
ENV_NAMESPACE = "extism:host/env"  # Extism kernel (section 9.1)
WASI_NAMESPACE = "wasi_snapshot_preview1"

# Call-level error texts (Navidrome's callPluginFunction, spec 3.1); %-format templates.
PLUGIN_CALL_FAILED = "plugin call failed: %s"
FUNCTION_NOT_IMPLEMENTED = "function not implemented: %s"
PLUGIN_CALL_EXITED = "plugin call exited with code %d"  # rc as uint32
FUNCTION_NOT_FOUND = "function not found: %s"

# Manifest cross-checks driven by PERMISSIONS (spec 1.2).
PERMISSION_REQUIRES_PERMISSION = "'%s' permission requires '%s' permission to be declared"
PERMISSION_REQUIRES_EXPORT = "'%s' permission requires plugin to export '%s' function"
SCROBBLER_REQUIRES_USERS = (
    "scrobbler capability requires 'users' permission to be declared in manifest"
)

ERROR_TEXTS: dict[str, str] = {
    "plugin_call_failed": PLUGIN_CALL_FAILED,
    "function_not_implemented": FUNCTION_NOT_IMPLEMENTED,
    "plugin_call_exited": PLUGIN_CALL_EXITED,
    "function_not_found": FUNCTION_NOT_FOUND,
    "permission_requires_permission": PERMISSION_REQUIRES_PERMISSION,
    "permission_requires_export": PERMISSION_REQUIRES_EXPORT,
    "scrobbler_requires_users": SCROBBLER_REQUIRES_USERS,
}

# Export return codes of the Go PDK wrappers.
RC_ERROR = -1  # error set with SetError
RC_NOT_IMPLEMENTED = -2  # no implementation registered (0xFFFFFFFE as uint32)

_FUNCTIONS = {f.import_name: f for f in HOST_FUNCTIONS}
_SERVICES = {s.name: s for s in SERVICES}
_SERVICES.update({s.prefix: s for s in SERVICES})
_STRUCTS = {f"{s.package}.{s.name}": s for s in STRUCTS}
_EXPORTS = {e.name: e for e in EXPORTS}
_CAPABILITIES = {c.name: c for c in CAPABILITIES}
_CAPABILITY_OF = {name: c for c in CAPABILITIES for name in c.exports}
_PERMISSIONS = {p.key: p for p in PERMISSIONS}


def host_function(import_name: str) -> HostFunction:
    """The host function imported as ``import_name`` (``"cache_getstring"``)."""
    return _FUNCTIONS[import_name]


def service(name: str) -> Service:
    """A service by Go name (``"KVStore"``) or import prefix (``"kvstore"``)."""
    return _SERVICES[name]


def functions_of(service_name: str) -> tuple[HostFunction, ...]:
    """The functions of a service, by Go name or import prefix, in table order."""
    return service(service_name).functions


def struct(name: str, package: str | None = None) -> Struct:
    """A struct by ``"pkg.Name"``, or ``Name`` in ``package``, or a ``Name`` unique by shape.

    Leading ``*`` and ``[]`` are stripped, so a field type can be passed as is; capability
    package aliases (``metadata.SongRef``) resolve to their ``types`` struct.
    """
    bare = name.lstrip("*[]")
    if "." not in bare and package is not None:
        bare = f"{package}.{bare}"
    if "." in bare:
        pkg, short = bare.split(".", 1)
        bare = ALIASES.get((pkg, short), bare)
        return _STRUCTS[bare]
    matches = [s for s in STRUCTS if s.name == bare]
    if not matches:
        target = {ALIASES[k] for k in ALIASES if k[1] == bare}
        if len(target) == 1:
            return _STRUCTS[target.pop()]
        raise KeyError(name)
    if any(m.fields != matches[0].fields for m in matches[1:]):
        raise KeyError(f"{name}: ambiguous, name its package")
    return matches[0]


def export(name: str) -> Export:
    """The export row of ``nd_...`` ``name``."""
    return _EXPORTS[name]


def capability(name: str) -> Capability:
    """A capability by its reported name (``"MetadataAgent"``)."""
    return _CAPABILITIES[name]


def exports_of(capability_name: str) -> tuple[Export, ...]:
    """The export rows of a capability, in table order."""
    return tuple(_EXPORTS[n] for n in capability(capability_name).exports)


def capability_of_export(name: str) -> Capability:
    """The capability an export name belongs to."""
    return _CAPABILITY_OF[name]


def permission(key: str) -> Permission:
    """A manifest permission by key (``"scrobbleRetriever"``; case matters)."""
    return _PERMISSIONS[key]


def required_permissions(
    import_names: Iterable[str | tuple[str, str]], *, transitive: bool = False
) -> dict[str, list[str]]:
    """Permission key -> the imports that need it, in PERMISSIONS order.

    Imports are bare names (``"task_get"``), ``"module::name"`` strings or ``(module, name)``
    pairs. Config, Extism kernel, WASI and unknown imports need no permission. With
    ``transitive``, permissions a needed one ``requires`` (subsonicapi -> users) are added,
    listing the same imports.
    """
    needed: dict[str, list[str]] = {}
    for item in import_names:
        module, name = _split_import(item)
        if module not in (None, USER_NAMESPACE):
            continue
        fn = _FUNCTIONS.get(name)
        if fn is None or fn.permission is None:
            continue
        keys = [fn.permission]
        if transitive:
            keys += _PERMISSIONS[fn.permission].requires
        for key in keys:
            names = needed.setdefault(key, [])
            if name not in names:
                names.append(name)
    return {p.key: needed[p.key] for p in PERMISSIONS if p.key in needed}


def _split_import(item: str | tuple[str, str]) -> tuple[str | None, str]:
    if isinstance(item, tuple):
        return item[0], item[1]
    if "::" in item:
        module, name = item.split("::", 1)
        return module, name
    return None, item
