"""The emulated Navidrome plugin host: owns plugins, services, the clock and the event log."""

from __future__ import annotations

import os
import secrets
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import extism
from extism.extism import CompiledPlugin

from .. import abi, events
from ..clock import Clock, RealClock, VirtualClock
from ..context import PluginContext, PluginSettings
from ..errors import LoadError, ManifestError, NDError, PluginCallError, PluginNotFoundError
from ..events import EventLog
from ..gojson import GoJSONError, go_quote, loads
from ..paths import use_project_caches
from ..services import CREATION_ORDER, service_class
from .adapter import host_functions
from .plugin import LoadedPlugin
from .wasminfo import WasmFormatError, module_info

DEFAULT_TIMEOUT_MS = 30_000


class Host:
    """One emulated Navidrome: a data folder, a clock, an event log and the loaded plugins.

    ``Host(clock="virtual")`` runs time-driven services (task queues, schedules) on a
    deterministic event loop advanced by ``run_for``/``run_until_idle``.
    """

    def __init__(self, data_dir: str | os.PathLike | None = None, *,
                 clock: str | Clock = "real", timeout_ms: int = DEFAULT_TIMEOUT_MS,
                 library: Any = None):
        use_project_caches()
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="nd-notebook-")
            data_dir = self._tmp.name
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if isinstance(clock, str):
            if clock not in ("real", "virtual"):
                raise ValueError(f"clock must be 'real' or 'virtual', not {clock!r}")
            clock = VirtualClock() if clock == "virtual" else RealClock()
        self.clock: Clock = clock
        self.timeout_ms = timeout_ms
        self._library_spec = library  # built on first use of .library (Host() stays cheap)
        self._library = None
        self.events = EventLog(self.clock.now)
        if getattr(self.clock, "on_error", None) is None:
            self.clock.on_error = self._timer_failed
        self.plugins: dict[str, LoadedPlugin] = {}
        self._lock = threading.RLock()
        # Navidrome's public base of artwork URLs: ShareURL (path prefix kept) when set, else
        # BaseScheme://BaseHost + BasePath; and the secret signing their tokens (readable so a
        # test can verify one).
        self.share_url = ""
        self.base_url = "http://localhost"
        self.artwork_secret = secrets.token_hex(32)
        # A function (path, query) -> (content_type, body) answering subsonicapi_* calls
        # instead of the built-in responder over the library; None restores the built-in one.
        self.subsonic_responder = None
        # Navidrome's ``Agents`` setting: MetadataAgent plugin ids in the order host.agents asks
        # them; None = every loaded MetadataAgent plugin in load order.
        self.agents_order: list[str] | None = None

    @property
    def library(self):
        """The mock music library (``nd_notebook.library.MusicLibrary``), made on first use from
        ``Host(library=...)``: generated (seed 0) under ``<data_dir>/library/`` by default."""
        if self._library is None:
            from ..library.musiclibrary import from_spec

            with self._lock:
                if self._library is None:
                    self._library = from_spec(self._library_spec, self.data_dir / "library")
        return self._library

    # -- time --------------------------------------------------------------------------
    def now(self) -> float:
        """The Host clock's current Unix time in seconds (virtual or real)."""
        return self.clock.now()

    def run_for(self, seconds: float = 0, *, minutes: float = 0, hours: float = 0):
        """Let time pass: in virtual time, run every due event of that span (deterministic)."""
        total = seconds + 60 * minutes + 3600 * hours
        return self.clock.run_for(total)

    def run_until_idle(self, max_seconds: float | None = None):
        """Run until nothing is pending (or ``max_seconds`` of host time have passed)."""
        return self.clock.run_until_idle(max_seconds=max_seconds)

    # -- loading -----------------------------------------------------------------------
    def load(self, source: str | os.PathLike | bytes, *, manifest: Any = None,
             config: dict | None = None, name: str | None = None,
             permissions: str | dict | None = None,
             settings: PluginSettings | dict | None = None, init: bool = True) -> LoadedPlugin:
        """Load a plugin from a ``.ndp`` path, a ``.wasm`` path or wasm bytes.

        ``manifest``: dict, Manifest, path to manifest.json, or None (the package's own, or a
        default one). ``permissions``: extra permissions merged into the manifest, or ``"auto"``
        for exactly what the module imports. ``config``: the plugin's configuration object.
        ``settings``: Navidrome's admin settings (users/libraries scope; default: all).
        A plugin already loaded under the same id is unloaded first.
        """
        from ..manifest import Manifest, config_map, default_manifest, merge_permissions
        from ..package import read_package, validate_plugin_id

        started = time.perf_counter()
        wasm, pkg_manifest, plugin_id = self._read_source(source, read_package)
        plugin_id = name or plugin_id
        try:
            validate_plugin_id(plugin_id)
        except NDError as e:
            raise LoadError(str(e)) from None

        if manifest is not None:
            man = _coerce_manifest(manifest, Manifest)
        else:
            man = pkg_manifest or default_manifest(plugin_id)
        try:
            info = module_info(wasm)
        except WasmFormatError as e:
            raise LoadError(f"invalid wasm module: {e}") from None
        imports = info.imported_functions("extism:host/user")
        try:
            man = _apply_permissions(man, permissions, imports, merge_permissions)
        except (ManifestError, ValueError) as e:
            raise LoadError(str(e)) from None
        _check_imports(plugin_id, imports, man)

        settings = _coerce_settings(settings)
        try:
            man.validate_settings(settings)
        except ManifestError as e:
            raise LoadError(str(e)) from None

        with self._lock:
            if plugin_id in self.plugins:
                self.unload(plugin_id)
            plugin = self._instantiate(plugin_id, wasm, man, info, config_map(config or {}),
                                       settings, started)
            self.plugins[plugin_id] = plugin
        self.events.emit(events.PLUGIN_LOADED, plugin_id, capabilities=plugin.capabilities,
                         size=plugin.size, load_seconds=plugin.load_seconds)
        if init and plugin.has_export("nd_on_init"):
            try:
                plugin.call("nd_on_init", {})
            except PluginCallError as e:  # Navidrome only logs it; the plugin stays loaded
                self.events.emit(events.PLUGIN_LOG, plugin_id, level="error",
                                 message=f"nd_on_init failed: {e}")
        return plugin

    def unload(self, plugin_id: str) -> None:
        """Unload a plugin: close its services (schedules cancelled, queues stopped)."""
        with self._lock:
            plugin = self.plugins.pop(plugin_id, None)
        if plugin is None:
            raise PluginNotFoundError(f"plugin {go_quote(plugin_id)} not found")
        plugin.closed = True
        for service in reversed(list(plugin.services.values())):
            try:
                service.close()
            except Exception as e:  # noqa: BLE001 - closing one service must not block the others
                self.events.emit(events.PLUGIN_LOG, plugin_id, level="error",
                                 message=f"closing {type(service).__name__}: {e}")
        self.events.emit(events.PLUGIN_UNLOADED, plugin_id)

    def _timer_failed(self, exc: BaseException, label: str) -> None:
        """A timer callback raised: keep the clock running, say so in the event log."""
        self.events.emit(events.SERVICE_LOG, None, service="clock", level="error",
                         message=f"timer {label or '?'} raised {type(exc).__name__}: {exc}")

    def close(self) -> None:
        for plugin_id in list(self.plugins):
            self.unload(plugin_id)
        stop = getattr(self.clock, "close", None)
        if stop is not None:
            stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getitem__(self, plugin_id: str) -> LoadedPlugin:
        return self.plugins[plugin_id]

    # -- views -------------------------------------------------------------------------
    def host_calls(self, plugin_id: str | None = None):
        """Every host-function call as a DataFrame (service, function, request, response...)."""
        return self.events.frame(events.HOST_CALL, plugin_id)

    def tasks(self, plugin_id: str | None = None):
        """Every task of every task queue, as a DataFrame."""
        import pandas as pd

        rows = []
        for pid, plugin in self.plugins.items():
            if plugin_id is not None and pid != plugin_id:
                continue
            service = plugin.services.get("Task")
            if service is not None and hasattr(service, "tasks"):
                rows += [{"plugin_id": pid, **t} for t in service.tasks()]
        return pd.DataFrame(rows)

    # -- Navidrome-like driving (nd_notebook.capabilities) -----------------------------
    @property
    def agents(self):
        """Navidrome's agents chain over the MetadataAgent plugins in ``agents_order``:
        ``host.agents.artist_biography(name=...)``, first answer wins, None when nobody knows."""
        from ..capabilities.agents import AgentPlugin, AgentsChain

        plugins = [AgentPlugin(p.id, _raw_call(p)) for p in self._with("MetadataAgent")]
        return AgentsChain(plugins, order=self.agents_order)

    def play(self, user: str | dict, track: str | dict, *, at: float | None = None,
             position: int = 0) -> list[dict]:
        """A listen as Navidrome handles it: now playing, the play recorded in the library, the
        scrobble (timestamp ``at``, default now), sent to every authorized Scrobbler plugin.
        One report row per Scrobbler plugin (see ``nd_notebook.capabilities.play``)."""
        from ..capabilities.play import play

        return play(self.library, self._scrobblers(), user, track,
                    at=self.now() if at is None else at, position=position)

    def report_playback(self, user: str | dict, track: str | dict, state: str, *,
                        at: float | None = None, **report) -> list[dict]:
        """``nd_scrobbler_playback_report`` (``starting``/``playing``/``paused``/``stopped``/
        ``expired``) to every authorized Scrobbler plugin."""
        from ..capabilities.play import report_playback

        return report_playback(self.library, self._scrobblers(), user, track, state,
                               at=self.now() if at is None else at, **report)

    def _with(self, capability: str) -> list[LoadedPlugin]:
        return [p for p in list(self.plugins.values()) if capability in p.capabilities]

    def _scrobblers(self):
        from ..capabilities.scrobbler import ScrobblerPlugin

        return [ScrobblerPlugin(p.id, _raw_call(p), all_users=p.ctx.settings.all_users,
                                users=list(p.ctx.settings.users),
                                permissions=dict(p.manifest.permissions),
                                all_libraries=p.ctx.settings.all_libraries,
                                libraries=list(p.ctx.settings.libraries))
                for p in self._with("Scrobbler")]

    # -- internals ---------------------------------------------------------------------
    def _read_source(self, source, read_package):
        if isinstance(source, (bytes, bytearray, memoryview)):
            return bytes(source), None, "plugin"
        path = Path(source)
        if not path.exists():
            raise LoadError(f"no such plugin file: {path}")
        if path.suffix == ".ndp":
            try:
                man, wasm, plugin_id = read_package(path)
            except NDError as e:
                raise LoadError(str(e)) from None
            return wasm, man, plugin_id
        return path.read_bytes(), None, path.stem

    def _instantiate(self, plugin_id, wasm, man, info, config, settings, started) -> LoadedPlugin:
        data_dir = self.data_dir / "plugins" / plugin_id
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        holder: dict[str, LoadedPlugin] = {}

        def call_export(export: str, input: Any = None) -> Any:
            # What a service's callback sees: Navidrome decodes the output strictly, so a
            # non-JSON output is that decode error, not a success.
            plugin = holder["plugin"]
            if plugin.closed:
                raise PluginCallError(f"plugin {plugin_id} not loaded", export=export)
            out = plugin.call(export, input, raw=True)
            try:
                return loads(out) if out else None
            except GoJSONError as e:
                raise PluginCallError(str(e), export=export) from None

        ctx = PluginContext(plugin_id=plugin_id, data_dir=data_dir,
                            permissions=dict(man.permissions), config=config, settings=settings,
                            clock=self.clock, events=self.events, call_export=call_export,
                            has_export=lambda n: n in info.exported_functions, host=self)
        services = self._create_services(ctx, man)
        bindings = [(row, services[row.service]) for row in abi.HOST_FUNCTIONS
                    if row.service in services]
        extism_manifest: dict[str, Any] = {"wasm": [{"data": wasm, "name": "main"}],
                                           "timeout_ms": self.timeout_ms}
        if config:
            extism_manifest["config"] = config
        # Navidrome passes requiredHosts only when non-empty, and its Go SDK then denies every
        # built-in http_request; an explicit (maybe empty) list denies the same in libextism.
        extism_manifest["allowed_hosts"] = list(man.required_hosts("http"))
        mounts = _mounts(self, man, settings, data_dir)
        if mounts:
            extism_manifest["allowed_paths"] = mounts
        try:
            compiled = CompiledPlugin(extism_manifest, wasi=True,
                                      functions=host_functions(bindings, ctx))
        except extism.Error as e:
            for service in services.values():
                service.close()
            raise LoadError(str(e)) from None
        exports = set(info.exported_functions)
        capabilities = [c.name for c in abi.CAPABILITIES if exports.intersection(c.exports)]
        try:
            man.validate_with_capabilities(set(capabilities), exports)
        except ManifestError as e:
            for service in services.values():
                service.close()
            raise LoadError(str(e)) from None
        plugin = LoadedPlugin(id=plugin_id, wasm=wasm, manifest=man, info=info,
                              compiled=compiled, ctx=ctx, services=services,
                              capabilities=capabilities,
                              load_seconds=time.perf_counter() - started, host=self)
        holder["plugin"] = plugin
        return plugin

    def _create_services(self, ctx: PluginContext, man) -> dict[str, Any]:
        services: dict[str, Any] = {}
        declared = {p.service for p in abi.PERMISSIONS if man.has_permission(p.key) and p.service}
        for name in CREATION_ORDER:
            if name != "Config" and name not in declared:
                continue
            cls = service_class(name)
            try:
                services[name] = cls(ctx)
            except Exception as e:  # noqa: BLE001 - Navidrome: "creating X service: <err>"
                for s in services.values():
                    s.close()
                raise LoadError(f"creating {name} service: {e}") from None
        return services


_KNOWN_IMPORTS = frozenset(f.import_name for f in abi.HOST_FUNCTIONS)


def _mounts(host: Host, man, settings: PluginSettings, data_dir: Path) -> dict[str, str]:
    """Extism ``allowed_paths``: with ``library.filesystem``, each permitted library's folder at
    ``/libraries/<id>`` (``ro:`` unless write access is allowed; a missing folder is skipped, as
    libextism refuses it); with ``storage``, ``<data_dir>/storage`` (created, 0700) at ``/storage``."""
    mounts: dict[str, str] = {}
    library = man.permissions.get("library") if man.has_permission("library") else None
    if isinstance(library, dict) and library.get("filesystem") is True:
        prefix = "" if settings.allow_write_access else "ro:"
        for lib in host.library.libraries():
            if not (settings.all_libraries or lib["id"] in settings.libraries):
                continue
            if Path(lib["path"]).is_dir():
                mounts[prefix + str(Path(lib["path"]).resolve())] = f"/libraries/{lib['id']}"
            else:
                host.events.emit(events.SERVICE_LOG, data_dir.name, service="Library",
                                 level="warning",
                                 message=f"library {lib['id']} folder {lib['path']} does not "
                                         "exist: not mounted")
    if man.has_permission("storage"):
        storage = data_dir / "storage"
        storage.mkdir(mode=0o700, exist_ok=True)
        mounts[str(storage.resolve())] = "/storage"
    return mounts


def _raw_call(plugin: LoadedPlugin):
    """``call(export, input) -> output bytes``: what nd_notebook.capabilities is handed."""
    return lambda export, input: plugin.call(export, input, raw=True)


def _check_imports(plugin_id: str, imports: list[str], man) -> None:
    """Refuse a module importing host functions of services its manifest does not permit."""
    unknown = [n for n in imports if n not in _KNOWN_IMPORTS]
    if unknown:
        raise LoadError(f"Unable to create Extism plugin: unknown import: extism:host/user::"
                        f"{unknown[0]} has not been defined (not a Navidrome host function)")
    needed = abi.required_permissions(imports)
    missing = {k: v for k, v in needed.items() if not man.has_permission(k)}
    if not missing:
        return
    first_imports = next(iter(missing.values()))
    fix = ", ".join(f'"{k}": {{}}' for k in missing)
    lines = [("Unable to create Extism plugin: unknown import: extism:host/user::"
              f"{first_imports[0]} has not been defined")]
    for key, names in missing.items():
        lines.append(f"plugin {plugin_id!r} imports {', '.join(names)} but its manifest does not "
                     f"declare the '{key}' permission")
    lines.append(f'fix: add {fix} to "permissions" in manifest.json '
                 f"(in a notebook: --permissions {','.join(missing)} or --permissions auto)")
    raise LoadError("\n".join(lines))


def _apply_permissions(man, permissions, imports, merge_permissions):
    """``"auto"``: exactly what the imports need (plus what those permissions require);
    a spec string or dict: merged into the manifest's permissions."""
    if permissions == "auto":
        needed = abi.required_permissions(imports, transitive=True)
        return merge_permissions(man, {k: {} for k in needed}, replace=True)
    if permissions:
        from ..manifest import parse_permission_spec

        extra = parse_permission_spec(permissions) if isinstance(permissions, str) else permissions
        return merge_permissions(man, extra)
    return man


def _coerce_manifest(manifest: Any, Manifest):
    if isinstance(manifest, Manifest):
        return manifest
    if isinstance(manifest, (str, os.PathLike)) and Path(manifest).exists():
        return Manifest.parse(Path(manifest).read_bytes())
    return Manifest.parse(manifest)


def _coerce_settings(settings) -> PluginSettings:
    if settings is None:
        return PluginSettings()
    if isinstance(settings, PluginSettings):
        return settings
    return PluginSettings(**settings)
