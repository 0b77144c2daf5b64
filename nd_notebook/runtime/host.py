"""The emulated Navidrome plugin host: owns plugins, services, the clock and the event log."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
import threading
import time
import warnings
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import extism
from extism.extism import CompiledPlugin

from .. import abi, events
from ..capabilities.codec import decode_output, no_output_error
from ..cellout import show_under_cell
from ..clock import Clock, RealClock, VirtualClock
from ..context import PluginContext, PluginSettings
from ..errors import (
    LoadError,
    ManifestError,
    NDError,
    PluginCallError,
    PluginNotFoundError,
    ServiceError,
)
from ..gojson import GoJSONError, go_quote, loads
from ..paths import path_exists, use_project_caches
from ..services import CREATION_ORDER, service_class
from ..viz import FramedEventLog
from . import builtin_http, interrupt, limits, prepared, wasmclock, wasmimports
from .adapter import host_functions
from .faults import Faults
from .folderlock import lock_folder
from .plugin import LoadedPlugin
from .traps import backtrace_details, diagnose
from .wasminfo import WasmFormatError, module_info

DEFAULT_TIMEOUT_MS = 30_000


class Host:
    """One emulated Navidrome: a data folder, a clock, an event log and the loaded plugins.

    ``Host(clock="virtual")`` runs time-driven services (task queues, schedules) on a
    deterministic event loop advanced by ``run_for``/``run_until_idle``.
    ``Host(navidrome="seed" | "head" | "YYYY-MM-DD")`` emulates that Navidrome version
    (``nd_notebook.versions``); ``Host(cassette="c.json")`` answers ``http_send`` from a
    recording made with ``host.recording("c.json")`` (``nd_notebook.cassette``).
    Every call runs under caps (``nd_notebook.runtime.limits``): ``timeout_ms`` (30 s),
    ``max_memory`` ("1GiB" of wasm memory per call), ``max_output`` ("64MiB"), ``max_request``
    ("16MiB" per host-call request), ``max_concurrent_calls`` (4); Ctrl-C cancels the running
    call (``nd_notebook.runtime.interrupt``).
    """

    def __init__(self, data_dir: str | os.PathLike | None = None, *,
                 clock: str | Clock = "real", timeout_ms: int = DEFAULT_TIMEOUT_MS,
                 library: Any = None, navidrome: str = "head",
                 cassette: str | os.PathLike | None = None,
                 max_memory: int | str = limits.DEFAULT_MAX_MEMORY,
                 max_output: int | str = limits.DEFAULT_MAX_OUTPUT,
                 max_request: int | str = limits.DEFAULT_MAX_REQUEST,
                 max_concurrent_calls: int = limits.DEFAULT_MAX_CONCURRENT_CALLS,
                 snapshots: bool | None = None):
        # The caps of every call (runtime/limits.py), checked before anything is made.
        self.timeout_ms = limits.check_timeout_ms(timeout_ms)
        # Instances initialised ahead on a background thread (runtime/prepared.py); default
        # from ND_NOTEBOOK_SNAPSHOTS (on unless 0/false/off).
        self.snapshots = prepared.snapshots_default() if snapshots is None else bool(snapshots)
        self.limits = limits.HostLimits(max_memory=max_memory, max_output=max_output,
                                        max_request=max_request,
                                        max_concurrent_calls=max_concurrent_calls)
        use_project_caches()
        from .. import versions
        from ..cassette import Cassette
        from ..manifest import prefetch_schema_support

        prefetch_schema_support()  # jsonschema's import (about 1 s) off the first load's path

        # The Navidrome version emulated (nd_notebook/versions.py) and, with cassette=, the
        # recorded http_send exchanges answered instead of the network (nd_notebook/cassette.py).
        self.navidrome = versions.target(navidrome)
        self.cron_dialect = self.navidrome.cron_dialect
        self.cassette = Cassette.replaying(cassette) if cassette is not None else None
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
        self._library_spec = library  # built on first use of .library (Host() stays cheap)
        self._library = None
        self._scrobbles = None  # Navidrome's scrobble buffer, made at the first host.play
        self.events = FramedEventLog(self.clock.now)
        self._dashboards: weakref.WeakSet = weakref.WeakSet()  # stopped at close()
        self.events.subscribe(show_under_cell)  # plugin output under the cell (with %load_ext)
        if getattr(self.clock, "on_error", None) is None:
            self.clock.on_error = self._timer_failed
        self.plugins: dict[str, LoadedPlugin] = {}
        self._lock = threading.RLock()
        # Navidrome's public base of artwork URLs: ShareURL (path prefix kept) when set, else
        # BaseScheme://BaseHost + BasePath ("" = neither set: the artwork service then answers
        # http://localhost/..., a Subsonic answer a path alone); and the secret signing their
        # tokens (readable so a test can verify one).
        self.share_url = ""
        self.base_url = ""
        self.artwork_secret = secrets.token_hex(32)
        # A function (path, query) -> (content_type, body) answering subsonicapi_* calls
        # instead of the built-in responder over the library; None restores the built-in one.
        self.subsonic_responder = None
        # The "Report Real Path" of the player each plugin's Subsonic calls register (client =
        # the plugin id): False (Navidrome's Subsonic.DefaultReportRealPath) gives songs their
        # made-up path, True the file's path on the server for every plugin, a set of plugin
        # ids for those plugins' players (Settings > Players > Report Real Path).
        self.subsonic_report_real_path: bool | set[str] = False
        # Navidrome's ``Agents`` setting: MetadataAgent plugin ids in the order host.agents asks
        # them; None = every loaded MetadataAgent plugin in load order.
        self.agents_order: list[str] | None = None
        # host.faults.add("http_send", error="timeout", times=2): see runtime/faults.py
        self.faults = Faults(self.clock, self.events)
        # One Host per data folder (runtime/folderlock.py): a live Host of this process on the
        # same folder is closed first; another process holding it is DataFolderInUseError.
        self.host_id = secrets.token_hex(4)
        self._folder_lock = lock_folder(self.data_dir, self, self.host_id)

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
        for label, value in (("seconds", seconds), ("minutes", minutes), ("hours", hours)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"run_for: {label} must be a number, not {value!r}")
            if not value >= 0:  # NaN too
                raise ValueError(f"run_for: {label} must be >= 0 (time only goes forward), "
                                 f"not {value!r}")
        self._check_open("run_for")
        total = seconds + 60 * minutes + 3600 * hours
        with interrupt.deferred(self.clock, "host.run_for"):  # Ctrl-C: between two events
            return self.clock.run_for(total)

    def run_until_idle(self, max_seconds: float | None = None):
        """Run until nothing is pending (or ``max_seconds`` of host time have passed)."""
        self._check_open("run_until_idle")
        with interrupt.deferred(self.clock, "host.run_until_idle"):
            return self.clock.run_until_idle(max_seconds=max_seconds)

    def _check_open(self, what: str) -> None:
        if not self._folder_lock.held:
            raise RuntimeError(f"{what}: this Host is closed (its plugins and services are "
                               "gone); make a new Host")

    # -- loading -----------------------------------------------------------------------
    def load(self, source: str | os.PathLike | bytes, *, manifest: Any = None,
             config: dict | None = None, name: str | None = None,
             permissions: str | dict | None = None,
             settings: PluginSettings | dict | None = None, init: bool = True,
             max_memory: int | str | None = None,
             max_output: int | str | None = None, startup: bool = False) -> LoadedPlugin:
        """Load a plugin from a ``.ndp`` path, a ``.wasm`` path or wasm bytes.

        ``manifest``: dict, Manifest, path to manifest.json, or None (the package's own, or a
        default one). ``permissions``: extra permissions merged into the manifest, or ``"auto"``
        for exactly what the module imports (and ``users`` for a Scrobbler). ``config``: the plugin's configuration object.
        ``settings``: Navidrome's admin settings (users/libraries scope; default: all).
        A plugin already loaded under the same id is unloaded first, as Navidrome does before
        it loads a plugin again: when the new load fails, that id stays unloaded.
        ``max_memory`` / ``max_output``: this plugin's caps in place of the Host's.
        A load is an enable: Navidrome's enable-time gates apply (a declared ``users`` or
        ``library`` permission needs a non-empty scope in ``settings``). ``startup=True``
        loads it as Navidrome's startup loads a plugin already enabled in its database, without
        those gates: with no library granted nothing is mounted and no library is listed; with
        no user, user-scoped calls fail as Navidrome's do.
        """
        from ..manifest import Manifest, config_map, default_manifest, merge_permissions
        from ..package import read_package, validate_plugin_id

        started = time.perf_counter()
        if not self._folder_lock.held:  # closed, maybe by a new Host on the same folder
            raise LoadError(f"this Host is closed (its data folder {self.data_dir} is released); "
                            "make a new Host")
        caps = self.limits.for_plugin(max_memory, max_output)  # the Host's unless given
        limits.check_timeout_ms(self.timeout_ms)  # it may have been set since
        # Navidrome unloads a plugin before loading it again (a changed package, new
        # settings): when the new load fails, the old one is gone too.
        plugin_id = name if name is not None else _source_id(source)  # "" is an invalid id
        with self._lock:
            if plugin_id in self.plugins:
                self.unload(plugin_id)
        try:  # Navidrome parses the plugin's config (its DB row) before opening the package
            config_values = config_map(config or {})
        except ManifestError as e:
            raise LoadError(str(e)) from None
        wasm, pkg_manifest = self._read_source(source, read_package)
        try:  # Navidrome's ID rule since 77726af59; before it, what cannot name a data folder
            validate_plugin_id(plugin_id, navidrome_rule=self.navidrome.has("77726af59"))
        except NDError as e:
            raise LoadError(str(e)) from None

        if manifest is not None:
            man = _coerce_manifest(manifest, Manifest, self.navidrome)
        else:
            man = pkg_manifest or default_manifest(plugin_id)
        # Navidrome's order: the enable-time gates on the admin settings, then the services
        # (a creation error fails the load), then the module's compile (a broken module, an
        # import no service defines). permissions="auto" needs the module's imports first.
        info = _module_info(wasm) if permissions == "auto" else None
        try:
            man = _apply_permissions(man, permissions, info, merge_permissions)
        except (ManifestError, ValueError) as e:
            raise LoadError(str(e)) from None
        man = self.navidrome.manifest(man)  # permission keys the version does not know: ignored
        settings = _coerce_settings(settings)
        if not startup:
            try:
                man.validate_settings(settings)
            except ManifestError as e:
                raise LoadError(str(e)) from None
        if self.navidrome.has("205c85da5"):  # before it a creation error was only logged
            _check_service_options(man)
        info = info or _module_info(wasm)
        imports = _imports(info)
        self.navidrome.check_imports(imports)
        _check_imports(plugin_id, imports, man)

        with self._lock:
            if plugin_id in self.plugins:
                self.unload(plugin_id)
            plugin = self._instantiate(plugin_id, wasm, man, info, config_values,
                                       settings, started, caps)
            self.plugins[plugin_id] = plugin
        self.events.emit(events.PLUGIN_LOADED, plugin_id, capabilities=plugin.capabilities,
                         size=plugin.size, load_seconds=plugin.load_seconds)
        if (permissions == "auto" and not plugin.manifest.required_hosts("http")
                and builtin_http.imports_http_request(plugin.info)):
            self.events.emit(events.SERVICE_LOG, plugin_id, service="HTTP", level="warn",
                             message=AUTO_HTTP_WARNING)
        if init and plugin.has_export("nd_on_init"):
            try:  # its output decoded as Navidrome does (into struct{})
                decode_output(abi.export("nd_on_init"), plugin.call("nd_on_init", {}, raw=True))
            except PluginCallError as e:  # Navidrome only logs it; the plugin stays loaded
                self.events.emit(events.PLUGIN_LOG, plugin_id, level="error",
                                 message=f"nd_on_init failed: {e}", export="nd_on_init",
                                 location=getattr(e, "location", None))
        return plugin

    def unload(self, plugin_id: str) -> None:
        """Unload a plugin: close its services (schedules cancelled, queues stopped)."""
        with self._lock:
            plugin = self.plugins.pop(plugin_id, None)
        if plugin is None:
            raise PluginNotFoundError(f"plugin {go_quote(plugin_id)} not found")
        for service in plugin.services.values():  # before its calls are refused (TaskQueue)
            notice = getattr(service, "unloading", None)
            if notice is not None:
                notice()
        plugin.closed = True
        if self._scrobbles is not None:  # its scrobble retries stop; its entries stay stored
            self._scrobbles.stop(plugin_id)
        plugin.instances.close()  # prepared instances freed, background thread stopped
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

    @contextlib.contextmanager
    def recording(self, path: str | os.PathLike, *, ignore_params: Iterable[str] = ()):
        """``with host.recording("cassette.json"):`` records every ``http_send`` exchange
        and Extism ``http_request`` (secrets redacted) into ``path``; replay it with
        ``Host(cassette=path)``. ``ignore_params`` (query-string or form parameters such as
        a timestamp the plugin adds to each request) is saved in the file and left out when
        replay compares requests."""
        from ..cassette import Cassette

        previous, self.cassette = self.cassette, Cassette(path, mode="record",
                                                          ignore_params=ignore_params)
        try:
            yield self.cassette
        finally:
            self.cassette.save()
            self.cassette = previous

    def close(self) -> None:
        for shown in list(self._dashboards):
            shown.stop("its Host is closed")
        for plugin_id in list(self.plugins):
            self.unload(plugin_id)
        stop = getattr(self.clock, "close", None)
        if stop is not None:
            stop()
        self._folder_lock.release()  # last: the folder is free once everything is closed

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getitem__(self, plugin_id: str) -> LoadedPlugin:
        return self.plugins[plugin_id]

    # -- views -------------------------------------------------------------------------
    # Frames and charts of the event log (nd_notebook.viz; columns in docs/frames.md). Each
    # frame takes a plugin id first, then keyword filters (queue=, since=, until=...).
    def host_calls(self, plugin: str | None = None, **filters):
        """Every host-function call: request, response, error, latency (a DataFrame)."""
        from ..viz import frames

        return frames.host_calls(self.events, plugin, **filters)

    def logs(self, plugin: str | None = None, **filters):
        """The plugins' log lines, stdout/stderr and service warnings (a DataFrame)."""
        from ..viz import frames

        return frames.logs(self.events, plugin, **filters)

    def tasks(self, plugin: str | None = None, **filters):
        """A row per task, as its events leave it: status, attempt, message... (a DataFrame)."""
        from ..viz import frames

        return frames.tasks(self.events, plugin, **filters)

    def attempts(self, plugin: str | None = None, **filters):
        """A row per task attempt: start, end, duration, outcome, message, backoff after it."""
        from ..viz import frames

        return frames.attempts(self.events, plugin, **filters)

    def firings(self, plugin: str | None = None, **filters):
        """A row per schedule firing: expected and actual time, lag, callback outcome."""
        from ..viz import frames

        return frames.firings(self.events, plugin, **filters)

    @property
    def plot(self):
        """The charts of this Host's event log: ``host.plot.retry_timeline()``..."""
        from ..viz import Plots

        return Plots(self)

    def dashboard(self, plugin: str | None = None, **options):
        """A live ipywidgets dashboard of this Host's event log (``nd_notebook.viz.dashboard``):
        task counts, throughput, retry timeline, firings, log lines, filters, a time slider."""
        from ..viz.dashboard import dashboard

        return dashboard(self, plugin, **options)

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
                    at=self.now() if at is None else at, position=position,
                    buffer=self._scrobble_buffer())

    def scrobble_buffer(self, plugin: str | None = None) -> list[dict]:
        """The scrobbles stored and not sent yet (a plugin answered ``retry_later``), oldest
        first: plugin, user, track, timestamp, attempts, last_error."""
        if self._scrobbles is None:
            return []
        return [e.row() for e in self._scrobbles.waiting(plugin)]

    def _scrobble_buffer(self):
        from ..capabilities.play import stored_track_info
        from ..capabilities.scrobblebuffer import ScrobbleBuffer

        with self._lock:
            if self._scrobbles is None:
                self._scrobbles = ScrobbleBuffer(
                    self.clock, self.events, self._scrobbler,
                    lambda entry: stored_track_info(self.library, entry))
        return self._scrobbles

    def _scrobbler(self, plugin_id: str):
        """The loaded Scrobbler plugin ``plugin_id`` as Navidrome's adapter, or None."""
        return next((s for s in self._scrobblers() if s.id == plugin_id), None)

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
        """``(wasm, the package's or project's manifest or None)``; the id is _source_id's."""
        if isinstance(source, (bytes, bytearray, memoryview)):
            return bytes(source), None
        path = Path(source)
        if not path_exists(path):
            shown = str(path) if len(str(path)) <= 200 else str(path)[:200] + "..."
            raise LoadError(f"no such plugin file: {shown} (give a path, or the module's bytes)")
        if path.name.endswith(".ndp"):  # a file named ".ndp" too (its id "" is refused)
            try:
                man, wasm, _ = read_package(path, version=self.navidrome)
            except NDError as e:
                raise LoadError(str(e)) from None
            return wasm, man
        if path.is_dir():  # a plugin project folder: built (build cache), its manifest.json used
            from ..build import build_detailed
            from ..manifest import Manifest

            try:
                built = build_detailed(path)
                man = (Manifest.parse(built.manifest.read_bytes(), version=self.navidrome)
                       if built.manifest else None)
            except NDError as e:
                raise LoadError(f"building {path}: {e}") from None
            for warning in built.warnings:  # e.g. a Register call in main(), which never runs
                warnings.warn(f"building {path}: {warning}", UserWarning, stacklevel=3)
            return built.wasm, man
        return path.read_bytes(), None

    @staticmethod
    def _rewritten(ctx: PluginContext, wasm: bytes, rewrite, fallback: str,
                   **log) -> tuple[bytes, bool]:
        """``(rewrite(wasm), True)``; ``(wasm, False)`` when the module cannot be rewritten,
        ``fallback: <why>`` logged (runtime/wasmimports.py)."""
        try:
            return rewrite(wasm), True
        except wasmimports.NotRewritable as e:
            ctx.emit(events.SERVICE_LOG, message=f"{fallback}: {e}", **log)
            return wasm, False

    def _instantiate(self, plugin_id, wasm, man, info, config, settings, started,
                     caps: limits.Caps | None = None) -> LoadedPlugin:
        # Made by the services that keep files there (KVStore, TaskQueue, the storage mount),
        # as Navidrome's do: a failure is theirs to report ("creating Task service: ...").
        data_dir = self.data_dir / "plugins" / plugin_id
        holder: dict[str, LoadedPlugin] = {}

        def call_export(export: str, input: Any = None) -> Any:
            # What a service's callback sees: Navidrome decodes the output strictly, so a
            # non-JSON output is that decode error, not a success.
            plugin = holder["plugin"]
            if plugin.closed:
                raise PluginCallError(f"plugin {plugin_id} not loaded", export=export)
            out = plugin.call(export, input, raw=True)
            try:
                doc = loads(out) if out else None
            except GoJSONError as e:
                raise PluginCallError(str(e), export=export) from None
            if export in _NO_OUTPUT and (problem := no_output_error(doc)) is not None:
                raise PluginCallError(problem, export=export)
            return doc

        ctx = PluginContext(plugin_id=plugin_id, data_dir=data_dir,
                            permissions=dict(man.permissions), config=config, settings=settings,
                            clock=self.clock, events=self.events, call_export=call_export,
                            has_export=lambda n: n in info.exported_functions, host=self,
                            cancellable_thread=interrupt.cancellable_thread,
                            cancel_thread=interrupt.cancel_thread)
        services = self._create_services(ctx, man)
        undefined = [n for n in info.imported_functions(abi.USER_NAMESPACE)
                     if n in _KNOWN_IMPORTS and abi.host_function(n).service not in services]
        if undefined:  # a service whose creation error was only logged (before 205c85da5)
            for service in services.values():
                service.close()
            raise LoadError("Unable to create Extism plugin: unknown import: "
                            f"extism:host/user::{undefined[0]} has not been defined")
        # Navidrome links every function of each permitted service; a module sees only those it
        # imports, and libextism links each given function again for every instance, so only
        # the imported ones are given.
        imported = set(info.imported_functions(abi.USER_NAMESPACE))
        bindings = [(row, services[row.service]) for row in abi.HOST_FUNCTIONS
                    if row.service in services and row.import_name in imported]
        extism_manifest: dict[str, Any] = {"wasm": [{"data": wasm, "name": "main"}],
                                           "timeout_ms": self.timeout_ms}
        caps = caps or self.limits.caps  # max_memory: libextism's memory.max_pages (limits.py)
        extism_manifest["memory"] = caps.manifest()
        if config:
            extism_manifest["config"] = config
        # Navidrome passes requiredHosts only when non-empty, and its Go SDK then denies every
        # built-in http_request; an explicit (maybe empty) list denies the same in libextism.
        extism_manifest["allowed_hosts"] = list(man.required_hosts("http"))
        mounts = _mounts(self, man, settings, data_dir)
        if mounts:
            extism_manifest["allowed_paths"] = mounts
        # The module libextism runs: a panicking http_request ends the call (builtin_http.py);
        # on a virtual clock, the plugin's own clock is the Host's (wasmclock.py).
        runnable, traps, clocked = wasm, False, False
        if builtin_http.imports_http_request(info):
            runnable, traps = self._rewritten(
                ctx, runnable, builtin_http.with_panic_trap,
                "a failed Extism http_request does not stop this plugin's call (the guest runs "
                "on to its return, served nothing more)", service="HTTP", level="info")
        if isinstance(self.clock, VirtualClock) and "clock_time_get" in info.imported_functions(
                "wasi_snapshot_preview1"):
            runnable, clocked = self._rewritten(
                ctx, runnable, wasmclock.with_host_clock,
                "the plugin's own clock (time.Now()) is the machine's, not the virtual clock",
                service="clock", level="warn")
        refused = _start_calls_python(runnable, bindings)
        if refused is not None:
            for service in services.values():
                service.close()
            raise LoadError(
                f"creating instance: its start function calls {refused[0]}::{refused[1]}, which "
                "libextism cannot serve while it instantiates a module (the process would "
                "crash); call it from an export or from _initialize instead")
        try:
            # The init export renamed so nd-notebook runs it: ahead with snapshots (prepared.py).
            init_export, reason = prepared.prepared_module(runnable, info.exported_functions)[1:]
            functions = host_functions(bindings, prepared.guard_context(ctx))
            if clocked:
                functions += wasmclock.functions(self.clock, prepared.refuse_init_ahead)
            # Extism's built-in HTTP as Navidrome's Go SDK serves it (runtime/builtin_http.py)
            functions += builtin_http.functions(
                set(info.imported_functions(builtin_http.ENV_NAMESPACE)),
                prepared.guard_context(ctx), extism_manifest["allowed_hosts"], traps=traps)

            def compile_module(module: bytes | None = None) -> CompiledPlugin:
                # Later lanes come from Extism's module cache; the renamed copy is not kept.
                module = module or prepared.prepared_module(runnable, info.exported_functions)[0]
                with module_path(module, self.data_dir) as path:
                    manifest = dict(extism_manifest, wasm=[{"path": path, "name": "main"}])
                    with backtrace_details(wasm):  # DWARF file:line in trap backtraces (traps.py)
                        return CompiledPlugin(manifest, wasi=True, functions=functions)

            def take_snapshot():  # background (prepared.py): (compile function, memory) or raises
                from . import snapshot

                environment = snapshot.probe_environment(mounts)
                module = prepared.prepared_module(runnable, info.exported_functions)[0]
                # The init runs under the call's caps: its memory and deadline (and at most
                # snapshot.MAX_MEMORY of memory).
                taken = snapshot.take(module, init_export, environment,
                                      max_memory=caps.max_pages * 65536,
                                      deadline=self.timeout_ms / 1000)
                if len(taken.memory) // 65536 > caps.max_pages:
                    raise snapshot.NotSnapshottable(
                        f"its initialised memory ({len(taken.memory) // 65536} pages) is over "
                        f"max_memory ({caps.max_pages} pages)")
                # With the memory its reseed's touch list is learnt from (pagetouch.py).
                return (lambda: compile_module(taken.module)), (
                    taken.memory if taken.touches else None)

            compiled = compile_module()
        except extism.Error as e:
            for service in services.values():
                service.close()
            raise LoadError(str(e)) from None
        # Navidrome's one instance at load, to see its exports: one libextism cannot create
        # fails the load. Its init is not run (the Go SDK runs it at an instance's first call).
        problem = prepared.first_instance(compiled)
        if problem is not None:
            for service in services.values():
                service.close()
            diagnosis = diagnose(problem, -1, None)  # a start function's trap
            raise LoadError(f"creating instance: {diagnosis.reason if diagnosis else problem}")
        exports = set(self.navidrome.known_exports(info.exported_functions))
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
        plugin.caps = caps
        plugin.timeout_s = self.timeout_ms / 1000  # libextism's deadline (its manifest's)
        # An init may read the files of its mounts, which a call may change: run ahead, it
        # would read them as they were up to MAX_AGE before its call.
        reads_files = bool(mounts) and "path_open" in info.imported_functions(
            "wasi_snapshot_preview1")
        plugin.instances = prepared.InstancePool(
            compiled, compile_module, init_export=init_export, prepare=self.snapshots,
            reason=reason if self.snapshots else "snapshots off", snapshotter=take_snapshot,
            init_ahead=("it may read files of its mounts (/storage, libraries) a call changes"
                        if reads_files else ""),
            on_refused=lambda status: ctx.emit(events.SERVICE_LOG, service="snapshots",
                                               level="info", message=f"instances: {status}"))
        holder["plugin"] = plugin
        return plugin

    def _create_services(self, ctx: PluginContext, man) -> dict[str, Any]:
        services: dict[str, Any] = {}
        declared = _declared_services(man)
        for name in CREATION_ORDER:
            if name != "Config" and name not in declared:
                continue
            cls = service_class(name)
            try:
                services[name] = cls(ctx)
            except Exception as e:  # noqa: BLE001 - Navidrome: "creating X service: <err>"
                if not self.navidrome.has("205c85da5"):  # before it: logged, not registered
                    self.events.emit(events.SERVICE_LOG, ctx.plugin_id, service=name,
                                     level="error", message=f"creating {name} service: {e}")
                    continue
                for s in services.values():
                    s.close()
                raise LoadError(f"creating {name} service: {e}") from None
        return services


_KNOWN_IMPORTS = frozenset(f.import_name for f in abi.HOST_FUNCTIONS)
_NO_OUTPUT = frozenset(e.name for e in abi.EXPORTS if e.output is None)


@contextlib.contextmanager
def module_path(module: bytes, folder: Path) -> Iterator[str]:
    """A path that reads as ``module`` while libextism compiles it. libextism copies its
    manifest into every instance it creates, module bytes included when they are given as
    ``data`` (a 3-4 MB copy per call, 15% of an instance's cost); given as a ``path`` only the
    path is copied. An anonymous memory file on Linux; elsewhere a file in ``folder``, removed
    once compiled (libextism reads it once, when compiling)."""
    if hasattr(os, "memfd_create") and Path("/proc/self/fd").is_dir():
        fd = os.memfd_create("nd-notebook-module")
        try:
            with os.fdopen(os.dup(fd), "wb") as f:
                f.write(module)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".module-", suffix=".wasm",
                                     delete=False) as f:
        f.write(module)
    try:
        yield f.name
    finally:
        os.unlink(f.name)


def _start_calls_python(wasm: bytes, bindings) -> tuple[str, str] | None:
    """The import served by a Python host function that the module's start function may call
    (libextism crashes the process when one does), or None."""
    served = {(abi.USER_NAMESPACE, row.import_name) for row, _ in bindings}
    served |= {(builtin_http.ENV_NAMESPACE, name) for name in builtin_http.FUNCTIONS}
    served.add(wasmclock.CLOCK_IMPORT)
    try:
        return wasmimports.start_reaches(wasm, served)
    except wasmimports.NotRewritable:  # code this reader does not know: cannot tell
        return None


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
                                 level="warn",
                                 message=f"library {lib['id']} folder {lib['path']} does not "
                                         "exist: not mounted")
    if man.has_permission("storage"):
        from ..services._sqlite import plugin_data_dir

        try:  # Navidrome's newStorageService makes it: a failure fails the load
            storage = plugin_data_dir(data_dir / "storage")
        except ServiceError as e:
            raise LoadError(f"creating Storage service: {e}") from None
        mounts[str(storage.resolve())] = "/storage"
    return mounts


def _source_id(source) -> str:
    """The plugin id ``Host.load`` gives a source without a name, read from the source alone:
    ``plugin`` for bytes, a package's name without ``.ndp``, a folder's or a module's name."""
    from ..package import plugin_id_from_path

    if isinstance(source, (bytes, bytearray, memoryview)):
        return "plugin"
    path = Path(source)
    if path.name.endswith(".ndp"):
        return plugin_id_from_path(path)
    if path_exists(path) and path.is_dir():
        return path.resolve().name
    return path.stem


def _raw_call(plugin: LoadedPlugin):
    """``call(export, input) -> output bytes``: what nd_notebook.capabilities is handed."""
    return lambda export, input: plugin.call(export, input, raw=True)


def _check_imports(plugin_id: str, imports: list[str], man) -> None:
    """Refuse a module importing host functions of services its manifest does not permit."""
    unknown = [n for n in imports if n not in _KNOWN_IMPORTS]
    if unknown:
        error = LoadError("Unable to create Extism plugin: unknown import: extism:host/user::"
                          f"{unknown[0]} has not been defined")
        error.add_note(f"{unknown[0]} is not a Navidrome host function")
        raise error
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
    error = LoadError(lines[0])  # libextism's text; the rest is nd-notebook's advice
    for line in lines[1:]:
        error.add_note(line)
    raise error


def _module_info(wasm: bytes):
    try:
        return module_info(wasm)
    except WasmFormatError as e:
        raise LoadError(f"invalid wasm module: {e}") from None


def _imports(info) -> list[str]:
    return info.imported_functions(abi.USER_NAMESPACE) if info is not None else []


def _declared_services(man) -> set[str]:
    """The services whose permission the manifest declares."""
    return {p.service for p in abi.PERMISSIONS if man.has_permission(p.key) and p.service}


def _check_service_options(man) -> None:
    """The creation errors a declared service's permission options alone cause (a KVStore's
    invalid ``maxSize``), raised before the module is looked at, as Navidrome creates the
    services before it compiles."""
    declared = _declared_services(man)
    for name in CREATION_ORDER:
        check = getattr(service_class(name), "check_options", None) if name in declared else None
        if check is None:
            continue
        key = next(p.key for p in abi.PERMISSIONS if p.service == name)
        try:
            check(man.permissions.get(key))
        except NDError as e:
            raise LoadError(f"creating {name} service: {e}") from None


AUTO_HTTP_WARNING = ("the plugin imports Extism's http_request, which may reach only the hosts "
                     "of http.requiredHosts, and permissions='auto' cannot know them: every "
                     "request is refused until they are named (a manifest, or permissions="
                     "'http:requiredHosts=api.example.com')")


def _apply_permissions(man, permissions, info, merge_permissions):
    """``"auto"``: exactly what the imports need (plus what those permissions require, and
    ``users`` for a Scrobbler, whose capability requires it); a spec string or dict: merged
    into the manifest's permissions."""
    if permissions == "auto":
        needed = list(abi.required_permissions(_imports(info), transitive=True))
        scrobbler = abi.capability("Scrobbler").exports
        if set(info.exported_functions).intersection(scrobbler) and "users" not in needed:
            needed.append("users")
        granted: dict[str, dict] = {k: {} for k in needed}
        if builtin_http.imports_http_request(info):
            # Extism's http_request reaches only http.requiredHosts, which the imports cannot
            # tell: the manifest's (or a permissions spec's) hosts are kept, else none.
            granted["http"] = {}
        return merge_permissions(man, granted, replace=True)
    if permissions:
        from ..manifest import parse_permission_spec

        extra = parse_permission_spec(permissions) if isinstance(permissions, str) else permissions
        return merge_permissions(man, extra)
    return man


def _coerce_manifest(manifest: Any, Manifest, version):
    if isinstance(manifest, Manifest):
        return manifest
    if isinstance(manifest, (str, os.PathLike)) and path_exists(manifest):
        return Manifest.parse(Path(manifest).read_bytes(), version=version)
    return Manifest.parse(manifest, version=version)


def _coerce_settings(settings) -> PluginSettings:
    if settings is None:
        return PluginSettings()
    if isinstance(settings, PluginSettings):
        return settings
    return PluginSettings(**settings)
