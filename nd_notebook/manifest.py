"""manifest.json: parsing and validation exactly as Navidrome does it (spec 1.2, 1.3).

Navidrome never runs the manifest's JSON Schema: it decodes the file into Go structs generated
from that schema (go-jsonschema), whose ``UnmarshalJSON`` methods check required keys, lengths,
defaults and minimums, then runs a few cross-field rules and compiles ``config.schema``. This
module reproduces that pipeline, including Go ``encoding/json`` behaviour and error texts
(syntax errors, ``json: cannot unmarshal ... into Go struct field ...``, case-insensitive keys,
unknown keys ignored, duplicate keys merged the way Go merges them).

Go JSON here means classic ``encoding/json`` (Go <= 1.26, and Go 1.27 built with
``GOEXPERIMENT=nojsonv2``), which is what Navidrome ships with; Go 1.27's default json/v2 words
several errors differently.
"""

from __future__ import annotations

import copy
import difflib
import functools
import gc
import json
import math
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from . import abi
from .errors import ManifestError, ServiceError
from .gojson import go_quote, go_string, go_utf8, json_depth
from .gojson import syntax_error as _go_syntax_error

if TYPE_CHECKING:
    from .context import PluginSettings

__all__ = [
    "DEFAULT_KVSTORE_MAX_SIZE",
    "PERMISSION_KEYS",
    "Manifest",
    "config_map",
    "default_manifest",
    "go_quote",
    "merge_permissions",
    "parse_bytes",
    "parse_permission_spec",
    "validate_config",
]

DEFAULT_KVSTORE_MAX_SIZE = 1024 * 1024  # bytes: KVStore quota when maxSize is absent or ""
# nd-notebook's own limits (Navidrome has none but Go's nesting limit of 10000): a manifest
# is a few KB and a dozen levels deep, so these only stop hostile files.
MAX_MANIFEST_BYTES = 1024 * 1024
MAX_MANIFEST_DEPTH = 64
DEFAULT_AUTHOR = "nd-notebook"
DEFAULT_VERSION = "0.1.0"


class Manifest:
    """A parsed manifest.json.

    ``raw`` is the JSON object as written (unknown keys kept, last duplicate key wins) and is
    what ``to_dict``/``to_json`` give back; the accessors read the Go-decoded view Navidrome
    works from (declared permissions, defaults applied).
    """

    __slots__ = ("_go", "_permissions", "_raw")

    def __init__(self, raw: dict[str, Any], go: dict[str, Any]):
        self._raw = raw
        self._go = go
        self._permissions = _effective_permissions(go.get("permissions"), raw.get("permissions"))

    @classmethod
    def parse(cls, data: bytes | bytearray | str | Mapping[str, Any] | Manifest, *,
              version: Any = None) -> Manifest:
        """Parse and validate like Navidrome's ``ParseManifest``; raise ``ManifestError``.

        ``data`` is the file's bytes, its text, or an already-decoded JSON object.
        ``version``: the Navidrome version (``versions.Target``) whose generated types decode
        it; default HEAD. An older one knows fewer permission keys (the others are ignored,
        with their cross-field rules) and, before bf79d2f3a, decodes ``experimental``.
        """
        if isinstance(data, Manifest):
            return data
        if isinstance(data, Mapping):
            data = json.dumps(data, allow_nan=False, ensure_ascii=False)
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogatepass")
        raw_bytes = bytes(data)
        if len(raw_bytes) > MAX_MANIFEST_BYTES:
            raise ManifestError(f"parsing manifest JSON: manifest is {len(raw_bytes)} bytes, over "
                                f"nd-notebook's limit of {MAX_MANIFEST_BYTES} bytes")

        syntax = _go_syntax_error(raw_bytes)
        if syntax is not None:
            raise ManifestError(f"parsing manifest JSON: {syntax}")
        depth = json_depth(raw_bytes)
        if depth > MAX_MANIFEST_DEPTH:
            raise ManifestError(f"parsing manifest JSON: nesting depth {depth} is over "
                                f"nd-notebook's limit of {MAX_MANIFEST_DEPTH}")
        try:
            node = _load_nodes(raw_bytes)
            go = _decode_top(node, _manifest_type_of(version))
        except _Abort as e:
            raise ManifestError(f"parsing manifest JSON: {e.error}") from None
        except RecursionError:
            raise ManifestError("parsing manifest JSON: exceeded max depth") from None

        problem = _cross_field_error(go)
        if problem is not None:
            raise ManifestError(f"validating manifest: {problem}")
        return cls(_plain(node), go)

    # -- fields ------------------------------------------------------------------------------
    @property
    def raw(self) -> dict[str, Any]:
        """The manifest object as written (a copy)."""
        return copy.deepcopy(self._raw)

    @property
    def name(self) -> str:
        return self._go["name"]

    @property
    def author(self) -> str:
        return self._go["author"]

    @property
    def version(self) -> str:
        return self._go["version"]

    @property
    def description(self) -> str | None:
        return self._go["description"]

    @property
    def website(self) -> str | None:
        return self._go["website"]

    @property
    def config_schema(self) -> dict[str, Any] | None:
        """``config.schema`` (None when the manifest has no configurable options)."""
        config = self._go["config"]
        return copy.deepcopy(config["schema"]) if config is not None else None

    @property
    def ui_schema(self) -> dict[str, Any] | None:
        config = self._go["config"]
        return copy.deepcopy(config["uiSchema"]) if config is not None else None

    # -- permissions -------------------------------------------------------------------------
    @property
    def permissions(self) -> dict[str, dict[str, Any]]:
        """Declared permissions: ``{key: options}`` with Navidrome's defaults applied.

        A key whose value is ``null`` is not declared (Go decodes it to a nil pointer); a key
        spelled in another case (``"Users"``) counts under its canonical name, as in Go.
        """
        return copy.deepcopy(self._permissions)

    def has_permission(self, key: str) -> bool:
        return key in self._permissions

    def permission(self, key: str) -> dict[str, Any] | None:
        """Options of a declared permission, or None."""
        options = self._permissions.get(key)
        return copy.deepcopy(options) if options is not None else None

    def kvstore_max_size(self) -> int:
        """The KVStore quota in bytes, parsed like Navidrome's ``newKVStoreService``.

        Raises ``ServiceError('invalid maxSize "<v>": <reason>')`` for an unparsable value.
        """
        value = (self._permissions.get("kvstore") or {}).get("maxSize")
        if value is None or value == "":
            return DEFAULT_KVSTORE_MAX_SIZE
        try:
            size = parse_bytes(value)
        except ValueError as e:
            raise ServiceError(f"invalid maxSize {go_quote(value)}: {e}") from None
        return size - 2**64 if size >= 2**63 else size  # Go's int64(uint64) conversion

    def taskqueue_max_concurrency(self) -> int:
        """``taskqueue.maxConcurrency`` (1 when absent, null, or taskqueue not declared)."""
        value = (self._permissions.get("taskqueue") or {}).get("maxConcurrency", 1)
        return value if value > 0 else 1

    def required_hosts(self, key: str = "http") -> list[str]:
        """``requiredHosts`` of the ``http`` or ``websocket`` permission ([] when none)."""
        return list((self._permissions.get(key) or {}).get("requiredHosts") or [])

    def library_filesystem(self) -> bool:
        """Whether ``library.filesystem`` asks for the library folders to be mounted."""
        return bool((self._permissions.get("library") or {}).get("filesystem"))

    # -- checks after load -------------------------------------------------------------------
    def validate_with_capabilities(self, capabilities: Iterable[str],
                                   exports: Iterable[str] = ()) -> None:
        """Navidrome's ``ValidateWithCapabilities`` (run after capability detection).

        A capability counts when it is listed in ``capabilities`` or one of its exports is in
        ``exports``. Raises ``ManifestError("manifest validation: ...")``.
        """
        caps, exps = set(capabilities), set(exports)

        def present(capability: str) -> bool:
            return capability in caps or bool(exps.intersection(abi.capability(capability).exports))

        if present("Scrobbler") and not self.has_permission("users"):
            raise ManifestError(f"manifest validation: {abi.SCROBBLER_REQUIRES_USERS}")
        for perm in abi.PERMISSIONS:
            export = perm.requires_export
            if export and self.has_permission(perm.key) and not (
                    export in exps or present(abi.capability_of_export(export).name)):
                text = abi.PERMISSION_REQUIRES_EXPORT % (perm.key, export)
                raise ManifestError(f"manifest validation: {text}")

    def validate_settings(self, settings: PluginSettings) -> None:
        """The enable-time gates: declared ``users``/``library`` need a non-empty admin scope."""
        if self.has_permission("users") and not (settings.all_users or settings.users):
            raise ManifestError("users permission requires configuration: select users or "
                                "enable 'all users' access")
        if self.has_permission("library") and not (settings.all_libraries or settings.libraries):
            raise ManifestError("library permission requires configuration: select libraries "
                                "or enable 'all libraries' access")

    # -- output ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The manifest object, unknown keys included."""
        return copy.deepcopy(self._raw)

    def to_json(self) -> str:
        """Pretty, stable JSON text (keys in their original order), newline-terminated."""
        text = json.dumps(self._raw, indent=2, ensure_ascii=False) + "\n"
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate from a "\ud800" escape
            text = json.dumps(self._raw, indent=2) + "\n"
        return text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Manifest) and self._raw == other._raw

    __hash__ = None  # mutable-looking value object: compare, don't hash

    def __repr__(self) -> str:
        perms = ",".join(self._permissions) or "-"
        return f"Manifest(name={self.name!r}, version={self.version!r}, permissions={perms})"


# ------------------------------------------------------------------------------------------
# Configuration (spec 1.3)

def validate_config(manifest: Manifest, config: Any) -> list[dict[str, str]]:
    """Navidrome's ``ValidateConfig``: ``[]`` when valid, else ``[{"field", "message"}]``.

    ``config`` is the JSON text Navidrome receives, or an already-decoded value. ``""``,
    ``"{}"``, ``None`` and ``{}`` are always valid (defaults come from the schema). Raises
    ``ManifestError("plugin has no configurable options")`` without ``config.schema``.
    Messages are the Python ``jsonschema`` texts (Navidrome's validator words them otherwise);
    patterns match as Go's regexp does (goregex.py).
    """
    schema = manifest.config_schema
    if schema is None:
        raise ManifestError("plugin has no configurable options")
    if config is None or config in ("", "{}", b"", b"{}") or config == {}:
        return []
    if isinstance(config, (str, bytes, bytearray)):
        raw_bytes = config.encode("utf-8") if isinstance(config, str) else bytes(config)
        try:
            value = _go_interface(raw_bytes)
        except _Abort as e:
            return [{"field": "", "message": f"invalid JSON: {e.error}"}]
    else:
        value = config
    validator = _validator_class(schema)(schema)
    out: list[dict[str, str]] = []
    for error in validator.iter_errors(value):
        for leaf in _leaf_errors(error):
            field = "/".join(str(p) for p in leaf.absolute_path)
            out.append({"field": field, "message": leaf.message})
    return out


def config_map(config: Mapping[str, Any] | str | bytes | None) -> dict[str, str]:
    """The Extism config map Navidrome builds from a plugin's configuration object.

    Strings stay as they are; every other value is JSON-encoded the way Go's ``json.Marshal``
    encodes what ``json.Unmarshal`` gave it (numbers are float64: ``5``, ``1e+21``; keys sorted;
    ``<``, ``>``, ``&`` escaped; compact). ``""``/``None`` give ``{}``.
    """
    if config is None or config == "" or config == b"":
        return {}
    if isinstance(config, Mapping):
        raw_bytes = json.dumps(config, allow_nan=False, ensure_ascii=False).encode(
            "utf-8", "surrogatepass")
    elif isinstance(config, str):
        raw_bytes = config.encode("utf-8", "surrogatepass")
    else:
        raw_bytes = bytes(config)
    try:
        value = _go_interface(raw_bytes, keep_nodes=True)
    except _Abort as e:
        raise ManifestError(f"parsing plugin config: {e.error}") from None
    if value is None:
        return {}
    if not isinstance(value, _Obj):
        raise ManifestError("parsing plugin config: json: cannot unmarshal "
                            f"{_kind(value)} into Go value of type map[string]interface {{}}")
    out: dict[str, str] = {}
    for key, item in value:
        out[key] = item if isinstance(item, str) else _go_marshal(item)
    return out


# ------------------------------------------------------------------------------------------
# Sizes (go-humanize ParseBytes)

_SIZE_UNITS = {
    "": 1, "b": 1,
    "k": 10**3, "kb": 10**3, "ki": 2**10, "kib": 2**10,
    "m": 10**6, "mb": 10**6, "mi": 2**20, "mib": 2**20,
    "g": 10**9, "gb": 10**9, "gi": 2**30, "gib": 2**30,
    "t": 10**12, "tb": 10**12, "ti": 2**40, "tib": 2**40,
    "p": 10**15, "pb": 10**15, "pi": 2**50, "pib": 2**50,
    "e": 10**18, "eb": 10**18, "ei": 2**60, "eib": 2**60,
}
_MAX_UINT64_AS_FLOAT = float(2**64 - 1)  # Go's float64(math.MaxUint64)


def parse_bytes(text: str) -> int:
    """go-humanize ``ParseBytes``: ``"10KB"`` = 10000, ``"1MiB"`` = 1048576, ``"42"`` = 42.

    Raises ``ValueError`` carrying go-humanize's error text (``unhandled size name: xb``,
    ``strconv.ParseFloat: parsing "": invalid syntax``, ``too large: ...``).
    """
    data = text.encode("utf-8", "surrogateescape")
    count, has_comma = 0, False
    for ch in text:  # go-humanize counts runes, then slices bytes
        if not (ch.isdecimal() or ch in ".,"):
            break
        has_comma = has_comma or ch == ","
        count += 1
    num = data[:count]
    if has_comma:
        num = num.replace(b",", b"")
    num_text = num.decode("utf-8", "surrogateescape")
    if not re.fullmatch(r"[0-9]+\.?[0-9]*|\.[0-9]+", num_text):
        raise ValueError(f"strconv.ParseFloat: parsing {go_quote(num_text)}: invalid syntax")
    value = float(num_text)
    if math.isinf(value):
        raise ValueError(f"strconv.ParseFloat: parsing {go_quote(num_text)}: value out of range")
    extra = _go_trim_space(data[count:].decode("utf-8", "surrogateescape")).lower()
    if extra not in _SIZE_UNITS:
        raise ValueError(f"unhandled size name: {extra}")
    value *= _SIZE_UNITS[extra]
    if value >= _MAX_UINT64_AS_FLOAT:
        raise ValueError(f"too large: {text}")
    return int(value)


# ------------------------------------------------------------------------------------------
# Permissions for notebooks: "--permissions cache,kvstore:maxSize=10KB,..."

def parse_permission_spec(spec: str) -> dict[str, dict[str, Any]]:
    """Turn the magic's permission syntax into a manifest ``permissions`` object.

    ``cache,kvstore:maxSize=10KB,taskqueue:maxConcurrency=4,
    http:requiredHosts=api.example.com;*.example.org,library:filesystem=true``.
    Items are comma-separated; options follow the key after ``:`` as ``name=value``
    (several options: ``key:a=1:b=2``); host lists use ``;`` or ``|``. Keys and option names
    match case-insensitively. Raises ``ValueError`` with what is wrong and what is valid.
    """
    result: dict[str, dict[str, Any]] = {}
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        key_text, _, rest = item.partition(":")
        key = _canonical_permission(key_text.strip())
        options: dict[str, Any] = {}
        for option in (re.split(r":(?=\s*[A-Za-z_]+\s*=)", rest) if rest.strip() else []):
            name_text, eq, value = option.partition("=")
            if not eq:
                raise ValueError(f"permission option {key}:{option.strip()!r} needs the form "
                                 f"name=value (options of {key!r}: {_option_list(key)})")
            name = _canonical_option(key, name_text.strip())
            options[name] = _option_value(key, name, value.strip())
        result = merge_permissions(result, {key: options})
    return result


def merge_permissions(base: Manifest | Mapping[str, Any], extra: Mapping[str, Any], *,
                      replace: bool = False) -> Any:
    """Add the permissions in ``extra`` to a Manifest or a permissions object.

    Options are merged (``requiredHosts`` lists are united, other options from ``extra``
    win). With ``replace=True`` the result declares exactly ``extra``'s keys, keeping the
    options the base had for them. A Manifest comes back re-validated (``ManifestError``).
    """
    if isinstance(base, Manifest):
        raw = base.to_dict()
        merged = merge_permissions(raw.get("permissions") or {}, extra, replace=replace)
        if merged or "permissions" in raw:
            raw["permissions"] = merged
        return Manifest.parse(raw)
    out: dict[str, Any] = {} if replace else copy.deepcopy(dict(base))
    for key, options in extra.items():
        current = base.get(key) if isinstance(base.get(key), Mapping) else None
        combined = copy.deepcopy(dict(current)) if current is not None else {}
        for name, value in (options or {}).items():
            if name == "requiredHosts" and isinstance(combined.get(name), list):
                combined[name] = list(dict.fromkeys([*combined[name], *value]))
            else:
                combined[name] = copy.deepcopy(value)
        out[key] = combined
    return out


def default_manifest(name: str, permissions: Mapping[str, Any] | None = None,
                     config_schema: Mapping[str, Any] | None = None, *,
                     description: str | None = None) -> Manifest:
    """The manifest a notebook plugin gets when it brings none."""
    doc: dict[str, Any] = {
        "name": name,
        "author": DEFAULT_AUTHOR,
        "version": DEFAULT_VERSION,
        "description": description or f"{name}: a Navidrome plugin built with nd-notebook",
    }
    if permissions:
        doc["permissions"] = copy.deepcopy(dict(permissions))
    if config_schema is not None:
        doc["config"] = {"schema": copy.deepcopy(dict(config_schema))}
    return Manifest.parse(doc)


# ==========================================================================================
# The Go types Navidrome decodes manifest.json into (HEAD; generated by go-jsonschema).

@dataclass(frozen=True)
class _Generated:
    """What a generated ``UnmarshalJSON`` checks, in the order it checks it."""

    type_name: str  # as in "field x in <type_name>: required"
    required: tuple[str, ...] = ()
    defaults: tuple[tuple[str, Any], ...] = ()
    min_length: tuple[str, ...] = ()
    minimum: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class _GoType:
    kind: str  # string bool int slice map struct ptr
    name: str  # as Go prints it in errors: "string", "[]string", "plugins.CachePermission"
    elem: _GoType | None = None
    fields: tuple[tuple[str, _GoType], ...] = ()
    generated: _Generated | None = None  # struct with a generated UnmarshalJSON

    @property
    def short(self) -> str:
        return self.name.rpartition(".")[2]


_STRING = _GoType("string", "string")
_BOOL = _GoType("bool", "bool")
_INT = _GoType("int", "int")
_ANY_MAP = _GoType("map", "map[string]interface {}")
_RAW_MAP = _ANY_MAP.name


def _ptr(t: _GoType) -> _GoType:
    return _GoType("ptr", "*" + t.name, elem=t)


def _struct(name: str, fields: dict[str, _GoType], generated: _Generated | None = None):
    return _GoType("struct", "plugins." + name, fields=tuple(fields.items()), generated=generated)


# Go type of each permission option (the abi tables say which options exist).
_OPTION_TYPES = {"string": _ptr(_STRING), "bool": _BOOL, "int": _INT,
                 "[]string": _GoType("slice", "[]string", elem=_STRING)}
# Struct names of the generated permission types (error texts print them).
_PERMISSION_TYPE_NAMES = {
    "http": "HTTPPermission", "subsonicapi": "SubsonicAPIPermission",
    "scheduler": "SchedulerPermission", "websocket": "WebSocketPermission",
    "artwork": "ArtworkPermission", "cache": "CachePermission", "library": "LibraryPermission",
    "kvstore": "KVStorePermission", "users": "UsersPermission",
    "taskqueue": "TaskQueuePermission", "matcher": "MatcherPermission",
    "storage": "StoragePermission", "scrobbleRetriever": "ScrobbleRetrieverPermission",
}
_OPTION_MINIMUMS = {("taskqueue", "maxConcurrency"): 1}


def _permission_type(perm: abi.Permission) -> _GoType:
    options = (*perm.options, *abi.COMMON_OPTIONS)
    fields = {o.name: _OPTION_TYPES[o.type] for o in options}
    defaults = tuple((o.name, o.default) for o in perm.options if o.default is not None)
    minimum = tuple((o.name, _OPTION_MINIMUMS[(perm.key, o.name)]) for o in perm.options
                    if (perm.key, o.name) in _OPTION_MINIMUMS)
    name = _PERMISSION_TYPE_NAMES.get(perm.key, f"{perm.service}Permission")
    generated = _Generated(name, defaults=defaults, minimum=minimum) if defaults or minimum \
        else None
    return _struct(name, fields, generated)


PERMISSION_KEYS: tuple[str, ...] = tuple(p.key for p in abi.PERMISSIONS)
_PERMISSION_TYPES = {p.key: _permission_type(p) for p in abi.PERMISSIONS}
_PERMISSIONS = _struct("Permissions", {k: _ptr(t) for k, t in _PERMISSION_TYPES.items()})
_CONFIG = _struct("ConfigDefinition", {"schema": _ANY_MAP, "uiSchema": _ANY_MAP},
                  _Generated("ConfigDefinition", required=("schema",)))
_MANIFEST = _struct(
    "Manifest",
    {"author": _STRING, "config": _ptr(_CONFIG), "description": _ptr(_STRING),
     "name": _STRING, "permissions": _ptr(_PERMISSIONS), "version": _STRING,
     "website": _ptr(_STRING)},
    _Generated("Manifest", required=("author", "name", "version"),
               min_length=("author", "name", "version")),
)


# Seed only (removed at HEAD by bf79d2f3a): the wazero threads feature.
_EXPERIMENTAL = _struct("Experimental", {
    "threads": _ptr(_struct("ThreadsFeature", {"reason": _ptr(_STRING)}))})


def _manifest_type_of(version: Any) -> _GoType:
    if version is None or version.is_head:
        return _MANIFEST
    return _manifest_type(frozenset(version.permissions), not version.has("bf79d2f3a"))


@functools.cache
def _manifest_type(permission_keys: frozenset[str], experimental: bool) -> _GoType:
    """The generated ``Manifest`` of a version knowing ``permission_keys``."""
    fields = dict(_MANIFEST.fields)
    fields["permissions"] = _ptr(_struct("Permissions", {
        k: _ptr(t) for k, t in _PERMISSION_TYPES.items() if k in permission_keys}))
    if experimental:
        fields["experimental"] = _ptr(_EXPERIMENTAL)
    return _struct("Manifest", fields, _MANIFEST.generated)


def _effective_permissions(go_perms: dict[str, Any] | None,
                           raw_perms: Any) -> dict[str, dict[str, Any]]:
    """Declared permissions as ``{key: options}``: Go's non-nil pointers, defaults applied,
    plus option keys Navidrome ignores (kept as written)."""
    out: dict[str, dict[str, Any]] = {}
    if go_perms is None:
        return out
    for key, ptype in _PERMISSION_TYPES.items():
        value = go_perms.get(key)
        if value is None:
            continue
        options = {name: value[name] for name, ftype in ptype.fields
                   if not (value[name] is None and ftype.kind in ("ptr", "slice"))}
        raw_options = raw_perms.get(key) if isinstance(raw_perms, dict) else None
        if isinstance(raw_options, dict):
            known = {_fold(name) for name, _ in ptype.fields}
            options.update({k: v for k, v in raw_options.items() if _fold(k) not in known})
        out[key] = options
    return out


def _cross_field_error(go: dict[str, Any]) -> str | None:
    """``Manifest.Validate``: permissions requiring others, then the config schema."""
    perms = go["permissions"]
    if perms is not None:
        for perm in abi.PERMISSIONS:
            if perms.get(perm.key) is None:
                continue
            for needed in perm.requires:
                if perms.get(needed) is None:
                    return abi.PERMISSION_REQUIRES_PERMISSION % (perm.key, needed)
    config = go["config"]
    if config is not None and config["schema"] is not None:
        problem = _schema_problem(config["schema"])
        if problem is not None:
            return f"invalid config schema: {problem}"
    return None


# ------------------------------------------------------------------------------------------
# JSON Schema (config.schema)

def prefetch_schema_support() -> None:
    """Import jsonschema on a background thread, once per process, so that the first manifest
    with a config schema does not wait for it. Its import alone takes about a second where
    Jupyter's ``jsonschema[format-nongpl]`` extras are installed (``rfc3987_syntax`` builds 38
    grammars when imported); ``Host()`` calls this, a plain ``import nd_notebook`` does not.
    Python's per-module import lock makes a manifest parsed meanwhile wait for the same import,
    never run it twice."""
    global _prefetching
    if _prefetching or "jsonschema" in sys.modules:
        return
    _prefetching = True

    def run() -> None:
        # CPython (3.11 at least) counts an AST's construction depth in one counter per
        # interpreter, not per thread: rfc3987_syntax's grammars call ast.literal_eval many
        # times, and one interleaved with an ast.parse or compile(tree) on another thread (a
        # notebook cell's, pytest's assertion rewriting of the next import) failed that one with
        # "SystemError: AST constructor recursion depth mismatch" (5 runs in 25 of a
        # plugin's pytest file while both cores were busy). Threads switch inside a
        # construction only through the collector (a finalizer runs Python code), so the
        # collector stays off while this import runs (about a second), in every thread.
        collecting = gc.isenabled()
        gc.disable()
        try:
            import jsonschema  # noqa: F401
            import referencing  # noqa: F401
        except Exception:  # noqa: BLE001, S110 - the parse that needs it will say why
            pass
        finally:
            if collecting:
                gc.enable()

    # Not a daemon: a process ending meanwhile waits for the import (about a second) instead
    # of killing the thread inside it, which aborted the process ("FATAL: exception not
    # rethrown", SIGABRT) when the kill caught it in a compiled extension's module init.
    threading.Thread(target=run, name="nd-prefetch-jsonschema", daemon=False).start()


_prefetching = False


def _validator_class(schema: dict[str, Any]):
    from jsonschema import Draft202012Validator, validators

    return _with_go_regexp(validators.validator_for(schema, default=Draft202012Validator))


@functools.cache
def _with_go_regexp(base):
    """``base`` with Go's regexp (goregex.py) for ``pattern``, ``patternProperties`` and the
    ``regex`` format, as Navidrome's validator compiles them."""
    from jsonschema import ValidationError, validators

    from . import goregex

    def pattern(validator, regex, instance, schema):
        if validator.is_type(instance, "string") and not goregex.search(regex, instance):
            yield ValidationError(f"{instance!r} does not match {regex!r}")

    def pattern_properties(validator, patterns, instance, schema):
        if not validator.is_type(instance, "object"):
            return
        for regex, subschema in patterns.items():
            for key, value in instance.items():
                if goregex.search(regex, key):
                    yield from validator.descend(value, subschema, path=key, schema_path=regex)

    keywords = {"pattern": pattern}
    if "patternProperties" in base.VALIDATORS:
        keywords["patternProperties"] = pattern_properties
    return validators.extend(base, keywords, format_checker=_go_regex_checker(base))


@functools.cache
def _go_regex_checker(base=None):
    """``base``'s format checker (none: no other format) with Go's regexp for ``regex``."""
    from jsonschema import FormatChecker

    from . import goregex

    checker = FormatChecker(formats=())
    if base is not None:
        checker.checkers = dict(base.FORMAT_CHECKER.checkers)
    checker.checks("regex", raises=goregex.GoRegexError)(
        lambda value: not isinstance(value, str) or bool(goregex.compile(value)))
    return checker


def _schema_problem(schema: dict[str, Any]) -> str | None:
    """Why ``schema`` would not compile, or None. Checks the metaschema and local ``$ref``s."""
    from jsonschema import SchemaError, validators

    if "$schema" in schema and validators.validator_for(schema, default=None) is None:
        return f"unsupported $schema {schema['$schema']!r}"
    cls = _validator_class(schema)
    try:
        # Patterns checked with Go's regexp (the only format asserted on the schema itself).
        cls.check_schema(schema, format_checker=_go_regex_checker())
    except SchemaError as e:
        where = "/" + "/".join(str(p) for p in e.absolute_path)
        return f"at {where!r}: {e.message}"
    from referencing import Registry, Resource
    from referencing.exceptions import Unresolvable

    uri = "urn:nd-notebook:config-schema"
    resource = Resource.from_contents(schema, default_specification=_specification(cls))
    resolver = Registry().with_resource(uri, resource).resolver(uri)
    ids = set(_ids(schema))
    for ref in _refs(schema):
        if not ref.startswith("#"):
            # Navidrome's compiler loads no remote (or relative) document: only a resource the
            # schema itself declares with "$id" can be named.
            if ref.partition("#")[0] not in ids:
                return f"$ref {ref!r} cannot be resolved (no remote or relative schemas)"
            continue
        try:
            resolver.lookup(ref)
        except Unresolvable:
            return f"$ref {ref!r} cannot be resolved"
    return None


def _specification(cls):
    from referencing.jsonschema import specification_with

    return specification_with(cls.META_SCHEMA["$schema"])


def _refs(node: Any) -> Iterable[str]:
    """Every ``$ref`` of the document."""
    yield from _keyword_values(node, "$ref")


def _ids(node: Any) -> Iterable[str]:
    """Every ``$id`` the document declares (an embedded resource a ``$ref`` may name)."""
    yield from _keyword_values(node, "$id")


def _keyword_values(node: Any, keyword: str) -> Iterable[str]:
    if isinstance(node, dict):
        value = node.get(keyword)
        if isinstance(value, str):
            yield value
        for value in node.values():
            yield from _keyword_values(value, keyword)
    elif isinstance(node, list):
        for value in node:
            yield from _keyword_values(value, keyword)


def _leaf_errors(error):
    """The leaves of a jsonschema error tree (Navidrome reports leaves only)."""
    if error.context:
        for sub in error.context:
            yield from _leaf_errors(sub)
    else:
        yield error


# ------------------------------------------------------------------------------------------
# Permission spec helpers

def _canonical_permission(text: str) -> str:
    for key in PERMISSION_KEYS:
        if key.lower() == text.lower():
            return key
    hint = difflib.get_close_matches(text.lower(), [k.lower() for k in PERMISSION_KEYS], n=1)
    suggestion = ""
    if hint:
        suggestion = f" (did you mean {next(k for k in PERMISSION_KEYS if k.lower() == hint[0])!r}?)"
    raise ValueError(f"unknown permission {text!r}{suggestion}; valid permissions: "
                     f"{', '.join(PERMISSION_KEYS)}")


def _canonical_option(key: str, text: str) -> str:
    for name, _ in _PERMISSION_TYPES[key].fields:
        if name.lower() == text.lower():
            return name
    raise ValueError(f"unknown option {text!r} for permission {key!r}; "
                     f"options of {key!r}: {_option_list(key)}")


def _option_list(key: str) -> str:
    return ", ".join(name for name, _ in _PERMISSION_TYPES[key].fields)


def _option_value(key: str, name: str, value: str) -> Any:
    ftype = dict(_PERMISSION_TYPES[key].fields)[name]
    where = f"{key}:{name}"
    if ftype.kind == "slice":
        hosts = [h.strip() for h in re.split(r"[;|]", value) if h.strip()]
        if not hosts:
            raise ValueError(f"{where} needs at least one host pattern "
                             "(several: separated by ';' or '|')")
        return hosts
    if ftype.kind == "bool":
        lowered = value.lower()
        if lowered in ("true", "yes", "on", "1"):
            return True
        if lowered in ("false", "no", "off", "0"):
            return False
        raise ValueError(f"{where} must be true or false, got {value!r}")
    if ftype.kind == "int":
        minimum = _OPTION_MINIMUMS.get((key, name), -(2**63))
        if not re.fullmatch(r"[+-]?[0-9]+", value) or int(value) < minimum:
            raise ValueError(f"{where} must be an integer >= {minimum}, got {value!r}")
        return int(value)
    if name == "maxSize":
        try:
            parse_bytes(value)
        except ValueError as e:
            raise ValueError(f"{where}: invalid maxSize {go_quote(value)}: {e} "
                             "(examples: 500KB, 1MB, 1MiB, 1048576)") from None
    return value


# ==========================================================================================
# Go encoding/json emulation (classic decoder)

class _Abort(Exception):
    """A decode error that stops decoding (Go returns it instead of saving it)."""

    def __init__(self, error: Any):
        super().__init__(str(error))
        self.error = error


@dataclass
class _TypeError:
    """Go's ``*json.UnmarshalTypeError``; ``str()`` is its ``Error()`` text."""

    value: str  # "string", "number", "number 1.5", "object"...
    type: str  # Go type as printed
    struct: str = ""
    field: str = ""

    def __str__(self) -> str:
        if self.struct or self.field:
            return (f"json: cannot unmarshal {self.value} into Go struct field "
                    f"{self.struct}.{self.field} of type {self.type}")
        return f"json: cannot unmarshal {self.value} into Go value of type {self.type}"


class _Obj(list):
    """A JSON object as its (key, value) pairs, duplicates and order kept."""


class _Num:
    """A JSON number with its source text (Go's errors quote it, ints must be integral)."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


_INT_SYNTAX = re.compile(r"-?(0|[1-9][0-9]*)")


def _load_nodes(data: bytes) -> Any:
    """Python-parse syntactically valid JSON into nodes (``_Obj``, ``_Num``, lists...); bad
    UTF-8 and lone surrogates become U+FFFD, as in Go."""
    return _go_strings(json.loads(go_utf8(data), object_pairs_hook=_Obj,
                                  parse_int=_Num, parse_float=_Num))


def _go_strings(node: Any) -> Any:
    if isinstance(node, _Obj):
        return _Obj((go_string(k), _go_strings(v)) for k, v in node)
    if isinstance(node, list):
        return [_go_strings(v) for v in node]
    return go_string(node) if isinstance(node, str) else node


def _kind(node: Any) -> str:
    if isinstance(node, _Obj):
        return "object"
    if isinstance(node, list):
        return "array"
    if isinstance(node, str):
        return "string"
    if isinstance(node, bool):
        return "bool"
    return "number"


def _plain(node: Any) -> Any:
    """A node as plain Python (last duplicate key wins, like Go's ``interface{}`` decoding)."""
    if isinstance(node, _Obj):
        return {k: _plain(v) for k, v in node}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, _Num):
        return int(node.text) if _INT_SYNTAX.fullmatch(node.text) else float(node.text)
    return node


def _first_overflow(node: Any) -> _Num | None:
    """The first number (document order) Go's ParseFloat would refuse as out of range."""
    if isinstance(node, _Obj):
        node = [v for _, v in node]
    if isinstance(node, list):
        for item in node:
            found = _first_overflow(item)
            if found is not None:
                return found
        return None
    if isinstance(node, _Num) and math.isinf(float(node.text)):
        return node
    return None


def _fold(name: str) -> str:
    """Go's ``foldName`` for field matching (ASCII upper-case; Kelvin sign and long s)."""
    return "".join(_FOLD_SPECIAL.get(ch, ch.upper() if ch.isascii() else ch) for ch in name)


_FOLD_SPECIAL = {"\u212a": "K", "\u017f": "S"}


def _zero(t: _GoType) -> Any:
    if t.kind == "string":
        return ""
    if t.kind == "bool":
        return False
    if t.kind == "int":
        return 0
    if t.kind == "struct":
        return {name: _zero(ft) for name, ft in t.fields}
    return None  # ptr, slice, map


def _decode_top(node: Any, t: _GoType) -> dict[str, Any]:
    """``json.Unmarshal(data, &m)`` for a struct with a generated ``UnmarshalJSON``.

    At top level Go calls ``UnmarshalJSON`` even for ``null`` (nested nil pointers skip it).
    """
    if node is None:
        plain = _zero(t)
        _check_generated(t.generated, None, plain)
        return plain
    return _Decoder().unmarshal_generated(node, t)


def _check_generated(gen: _Generated, raw: dict[str, Any] | None, plain: dict[str, Any]):
    for name, default in gen.defaults:
        if raw is None or raw.get(name) is None:
            plain[name] = default
    for name in gen.min_length:
        if len(plain[name].encode("utf-8", "surrogatepass")) < 1:
            raise _Abort(f"field {name} length: must be >= 1")
    for name, minimum in gen.minimum:
        if plain[name] < minimum:
            raise _Abort(f"field {name}: must be >= {minimum}")


class _Decoder:
    """One Go ``decodeState``: saves the first type error, tracks the error context."""

    def __init__(self):
        self.saved: _TypeError | None = None
        self.struct = ""  # errorContext.Struct (name of the struct being filled)
        self.stack: list[str] = []  # errorContext.FieldStack

    def run(self, node: Any, t: _GoType, current: Any, struct_name: str | None = None) -> Any:
        """``json.Unmarshal``: decode, then return the saved error if there is one."""
        try:
            value = self.value(node, t, current, struct_name)
        except _Abort as e:
            raise _Abort(self._with_context(e.error)) from None
        if self.saved is not None:
            raise _Abort(self.saved)
        return value

    def unmarshal_generated(self, node: Any, t: _GoType) -> dict[str, Any]:
        """A generated ``UnmarshalJSON``: raw map, required keys, Plain decode, checks."""
        gen = t.generated
        if not isinstance(node, _Obj):
            raise _Abort(_TypeError(_kind(node), _RAW_MAP))
        overflow = _first_overflow(node)
        if overflow is not None:
            raise _Abort(_TypeError(f"number {overflow.text}", "float64"))
        raw = {k: v for k, v in node}
        for name in gen.required:
            if name not in raw:
                raise _Abort(f"field {name} in {gen.type_name}: required")
        plain = _Decoder().run(node, t, _zero(t), struct_name="Plain")
        _check_generated(gen, raw, plain)
        return plain

    def value(self, node: Any, t: _GoType, current: Any, struct_name: str | None = None) -> Any:
        if t.kind == "ptr":
            if node is None:
                return None
            if t.elem.generated is not None:
                return self.unmarshal_generated(node, t.elem)
            return self.value(node, t.elem, current if current is not None else _zero(t.elem))
        if node is None:
            return None if t.kind in ("slice", "map") else current
        if t.kind == "struct":
            return self.struct_value(node, t, current, struct_name or t.short)
        if t.kind == "map":
            if not isinstance(node, _Obj):
                return self.mismatch(node, t, current)
            merged = dict(current) if current is not None else {}
            merged.update((k, _plain(v)) for k, v in node)
            return merged
        if t.kind == "slice":
            if not isinstance(node, list) or isinstance(node, _Obj):
                return self.mismatch(node, t, current)
            old = current or []
            return [self.value(item, t.elem, old[i] if i < len(old) else _zero(t.elem))
                    for i, item in enumerate(node)]
        if t.kind == "string":
            return node if isinstance(node, str) else self.mismatch(node, t, current)
        if t.kind == "bool":
            return node if isinstance(node, bool) else self.mismatch(node, t, current)
        if t.kind == "int":
            if isinstance(node, _Num):
                if _INT_SYNTAX.fullmatch(node.text) and -(2**63) <= int(node.text) < 2**63:
                    return int(node.text)
                self.save(_TypeError(f"number {node.text}", t.name))
                return current
            return self.mismatch(node, t, current)
        raise AssertionError(t.kind)

    def struct_value(self, node: Any, t: _GoType, current: dict, name: str) -> Any:
        if not isinstance(node, _Obj):
            return self.mismatch(node, t, current)
        fields = dict(t.fields)
        folded = {_fold(k): k for k in fields}
        result = dict(current)
        outer_struct, depth = self.struct, len(self.stack)
        for key, item in node:
            field = key if key in fields else folded.get(_fold(key))
            if field is None:
                continue  # unknown keys are skipped unchecked
            self.struct = name
            self.stack.append(field)
            result[field] = self.value(item, fields[field], result[field])
            self.struct, self.stack[depth:] = outer_struct, []
        return result

    def mismatch(self, node: Any, t: _GoType, current: Any) -> Any:
        self.save(_TypeError(_kind(node), t.name))
        return current

    def save(self, error: _TypeError) -> None:
        if self.saved is None:
            self.saved = self._with_context(error)

    def _with_context(self, error: Any) -> Any:
        """Go's ``addErrorContext``: type errors get the struct and the field path."""
        if isinstance(error, _TypeError) and (self.struct or self.stack):
            path = [*self.stack, error.field] if error.field else list(self.stack)
            return _TypeError(error.value, error.type, self.struct, ".".join(path))
        return error


def _go_interface(data: bytes, keep_nodes: bool = False) -> Any:
    """``json.Unmarshal(data, &v)`` with ``v any``: Go's syntax and number-range errors."""
    syntax = _go_syntax_error(data)
    if syntax is not None:
        raise _Abort(syntax)
    node = _load_nodes(data)
    overflow = _first_overflow(node)
    if overflow is not None:
        raise _Abort(_TypeError(f"number {overflow.text}", "float64"))
    if keep_nodes:
        return _Obj({k: v for k, v in node}.items()) if isinstance(node, _Obj) else node
    return _plain(node)


# -- encoding (json.Marshal of interface{} values) -----------------------------------------

def _go_marshal(node: Any) -> str:
    """``json.Marshal`` of what Go decoded into ``interface{}``: compact, keys sorted."""
    if node is None:
        return "null"
    if isinstance(node, bool):
        return "true" if node else "false"
    if isinstance(node, _Num):
        return _go_float(float(node.text))
    if isinstance(node, str):
        return _go_string(node)
    if isinstance(node, _Obj):
        items = sorted({k: v for k, v in node}.items())
        return "{" + ",".join(f"{_go_string(k)}:{_go_marshal(v)}" for k, v in items) + "}"
    return "[" + ",".join(_go_marshal(v) for v in node) + "]"


def _go_float(value: float) -> str:
    """Go's float64 JSON form: shortest digits, exponent only below 1e-6 or from 1e21."""
    if value == 0 or 1e-6 <= abs(value) < 1e21:
        return format(Decimal(repr(value)).normalize(), "f")
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    mantissa = "".join(map(str, digits))
    if len(mantissa) > 1:
        mantissa = mantissa[0] + "." + mantissa[1:]
    power = exponent + len(digits) - 1
    # strconv pads the exponent to two digits; encoding/json then turns e-07 into e-7.
    exp = f"-{-power}" if -10 < power < 0 else f"{'-' if power < 0 else '+'}{abs(power):02d}"
    return f"{'-' if sign else ''}{mantissa}e{exp}"


_GO_STRING_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n",
                      "\r": "\\r", "\t": "\\t", "<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                      "\u2028": "\\u2028", "\u2029": "\\u2029", "\ufffd": "\ufffd"}


def _go_string(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch in _GO_STRING_ESCAPES:
            out.append(_GO_STRING_ESCAPES[ch])
        elif ch < " ":
            out.append(f"\\u{ord(ch):04x}")
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            out.append("\\ufffd")  # Go replaces invalid UTF-8 / lone surrogates
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _go_trim_space(text: str) -> str:
    """Go's ``strings.TrimSpace`` (Python also counts U+001C..U+001F as space; Go does not)."""
    def space(ch: str) -> bool:
        return ch.isspace() and ch not in "\x1c\x1d\x1e\x1f"

    start, end = 0, len(text)
    while start < end and space(text[start]):
        start += 1
    while end > start and space(text[end - 1]):
        end -= 1
    return text[start:end]
