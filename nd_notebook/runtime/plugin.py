"""A loaded plugin: one compiled module, a fresh Extism instance for every call."""

from __future__ import annotations

import difflib
import functools
import html
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from extism.extism import CompiledPlugin
from extism_sys import ffi as _ffi
from extism_sys import lib as _lib

from .. import abi, events
from ..errors import (
    ExitCodeError,
    FunctionNotFoundError,
    NotImplementedByPluginError,
    PluginCallFailedError,
    PluginInputError,
)
from ..gojson import GoJSONError, dumps, loads
from . import builtin_http, interrupt, limits, native, prepared, wasmclock
from .output import capture_call, emit_output, wrote_stdio
from .traps import call_failed, source_for

if TYPE_CHECKING:
    from ..context import PluginContext
    from ..manifest import Manifest
    from .wasminfo import ModuleInfo


class LoadedPlugin:
    """What ``Host.load`` returns: call exports, inspect capabilities, reach services, export."""

    #: The caps its calls run under (``host.load(..., max_memory=, max_output=)``; limits.py).
    caps: limits.Caps = limits.Caps()
    #: Its lanes and instances prepared ahead (runtime/prepared.py); set by Host.load.
    instances: prepared.InstancePool | None = None
    #: libextism's deadline of its calls (the Host's timeout_ms at the load); set by Host.load.
    timeout_s: float | None = None

    def __init__(self, *, id: str, wasm: bytes, manifest: Manifest, info: ModuleInfo,
                 compiled: CompiledPlugin, ctx: PluginContext, services: dict[str, Any],
                 capabilities: list[str], load_seconds: float, host=None):
        self.id = id
        self.wasm = wasm
        self.manifest = manifest
        self.info = info
        self._compiled = compiled
        self.ctx = ctx
        self.services = services
        self.capabilities = capabilities
        self.load_seconds = load_seconds
        self.host = host
        self.closed = False
        # Extism's built-in HTTP served by nd-notebook (runtime/builtin_http.py): its state
        # (last status, headers, a panic) is kept per call.
        self._builtin_http = not builtin_http.FUNCTIONS.keys().isdisjoint(
            info.imported_functions(builtin_http.ENV_NAMESPACE))

    # -- description -------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.id

    @property
    def exports(self) -> list[str]:
        return [n for n in self.info.exported_functions if n.startswith("nd_")]

    @property
    def imports(self) -> list[str]:
        return self.info.imported_functions("extism:host/user")

    @property
    def permissions(self) -> dict[str, Any]:
        return dict(self.manifest.permissions)

    @property
    def size(self) -> int:
        return len(self.wasm)

    @functools.cached_property
    def _writes_stdio(self) -> bool:
        """Whether the module can write WASI stdout/stderr at all (else nothing to capture)."""
        return "fd_write" in self.info.imported_functions("wasi_snapshot_preview1")

    def has_export(self, name: str) -> bool:
        return name in self.info.exported_functions

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "capabilities": list(self.capabilities), "exports": self.exports,
                "imports": self.imports, "permissions": self.permissions, "size": self.size,
                "load_seconds": self.load_seconds}

    def __repr__(self) -> str:
        caps = ", ".join(self.capabilities) or "no capabilities"
        return f"<LoadedPlugin {self.id!r}: {caps}; {self.size:,} bytes>"

    def _repr_html_(self) -> str:
        s = self.summary()
        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>"
            f"{html.escape(_fmt(v))}</td></tr>" for k, v in s.items() if k != "id")
        return f"<b>plugin {html.escape(self.id)}</b><table>{rows}</table>"

    # -- calls -------------------------------------------------------------------------
    def call(self, export: str, input: Any = None, *, raw: bool = False) -> Any:
        """Call an export on a fresh instance; returns the decoded JSON output.

        ``input`` may be a dict/list (JSON-encoded), a str or bytes (sent as is), or None (``{}``).
        Failures raise ``PluginCallError`` subclasses carrying Navidrome's exact text.
        With ``raw=True`` the output bytes are returned undecoded.
        """
        data = _encode_input(_json_text(export, input) if isinstance(input, str) else input)
        started = time.perf_counter()
        error = None
        try:
            out = self._call_bytes(export, data)
        except BaseException as e:  # an interrupt (runtime/interrupt.py) is recorded too
            error = e
            raise
        finally:
            self.ctx.emit(events.PLUGIN_CALL, export=export, input=data.decode("utf-8", "replace"),
                          duration=time.perf_counter() - started,
                          error=None if error is None else str(error))
        if raw:
            return out
        if not out:
            return None
        try:
            return loads(out)
        except GoJSONError:
            return out.decode("utf-8", "replace")

    def _call_bytes(self, export: str, data: bytes) -> bytes:
        if self.closed:
            now = getattr(self.host, "plugins", {}).get(self.id)
            later = (f" (this object is an earlier load; the plugin loaded as {self.id} now is "
                     f"host.plugins[{self.id!r}])" if now is not None and now is not self else "")
            raise PluginCallFailedError(f"plugin call failed: plugin {self.id} not loaded{later}",
                                        export=export)
        target = getattr(self.host, "navidrome", None)  # Host(navidrome=...): versions.py
        if target is not None and export in _CAPABILITY_EXPORTS and not target.knows_export(export):
            raise target.not_called(export)
        if export not in self.info.exported_functions:
            raise _function_not_found(export, self.id, self.info.exported_functions)
        if self.instances is None:  # made outside Host.load: one lane, nothing ahead
            self.instances = prepared.InstancePool(
                self._compiled, lambda: self._compiled, init_export=None, prepare=False,
                on_refused=lambda status: None)
        # A Host-wide call slot, then a fresh instance no other call has touched (maybe
        # initialised ahead: runtime/prepared.py), freed when the call ends.
        with limits.call_slot(self.host, export), self.instances.take() as instance:
            if instance.init_output is not None:  # what its init said, ahead of the call
                emit_output(self.ctx, export, instance.init_output)
            # Its log lines and stdout/stderr, attributed to this call (runtime/output.py);
            # a kernel interrupt cancels it (runtime/interrupt.py).
            http_state = None
            with capture_call(instance.ptr, stdio=self._writes_stdio, instance=instance.id,
                              emitter=(self.ctx, export)) as out, \
                    interrupt.guard(instance.ptr) as guard:
                if self._builtin_http:
                    http_state = builtin_http.begin(out)
                wasmclock.enter(instance.born)  # the plugin's clock on a virtual Host
                deadline = (time.monotonic() + self.timeout_s if self.timeout_s is not None
                            else None)
                try:
                    checks_init = (instance.init_export not in (None, prepared.RESEED_EXPORT)
                                   and self._writes_stdio and not self.instances.init_inline)
                    rc = instance.initialize()  # inline unless it ran ahead
                    if checks_init and rc == 0 and wrote_stdio(out):  # it must not run ahead
                        self.instances.init_writes_output()
                    in_init = rc != 0 or (http_state is not None and
                                          http_state.panic is not None)
                    if rc == 0:  # the call, its error and its output in one (runtime/native.py)
                        wasmclock.started()
                        rc, err, length, output = native.call(
                            instance.ptr, export.encode(), data, self.caps.max_output)
                    else:
                        failed = _lib.extism_plugin_error(instance.ptr)
                        err = _ffi.string(failed) if failed != _ffi.NULL else None
                        length, output = 0, b""
                finally:
                    wasmclock.leave()
                    if http_state is not None:
                        builtin_http.end(http_state)
            if deadline is not None and time.monotonic() >= deadline and not guard.interrupted \
                    and (err is not None or (http_state is not None and
                                             http_state.panic is not None)):
                # Past its deadline libextism interrupts the guest, also inside Extism's kernel
                # while a host function reads or allocates there; that function then fails
                # ("invalid handle offset for log message", a response body it cannot write)
                # and its failure, not the deadline, ended the call: the deadline did.
                err, http_state = b"timeout", None
            if http_state is not None and http_state.panic is not None:
                # A built-in HTTP function panicked: on Navidrome the call ended there, so
                # what the guest logged afterwards and what it returned are dropped.
                del out.logs[http_state.logs_kept:]
                emit_output(self.ctx, export, out)
                failure = PluginCallFailedError(
                    f"plugin call failed: {INIT_FAILED if in_init else ''}{http_state.panic}"
                    f"{builtin_http.RECOVERED}", export=export)
                failure.reason = http_state.panic
                raise failure
            emit_output(self.ctx, export, out)
            if guard.interrupted:
                raise interrupt.interrupted_error(guard, export=export, plugin_id=self.id)
            if err is not None:
                text = err.decode("utf-8", "replace")
                if text == limits.OOM:  # its memory would have grown past max_memory
                    raise limits.memory_exceeded(self.caps, export=export, plugin_id=self.id)
                raise call_failed(text, rc, out, export=export, plugin_id=self.id,
                                  source=source_for(self.wasm),
                                  prefix=INIT_FAILED if in_init else "")
            if rc == abi.RC_NOT_IMPLEMENTED:
                raise NotImplementedByPluginError(abi.FUNCTION_NOT_IMPLEMENTED % export,
                                                  export=export, code=rc)
            if rc != 0:
                raise ExitCodeError(abi.PLUGIN_CALL_EXITED % (rc & 0xFFFFFFFF), export=export,
                                    code=rc)
            if output is None:  # longer than max_output: never copied
                raise limits.output_exceeded(self.caps, length, export=export, plugin_id=self.id)
            return output

    # -- typed helpers -----------------------------------------------------------------
    def __getattr__(self, name: str):
        # Capability helpers by Go package name (plugin.metadata.artist_biography(...)) and
        # service objects (plugin.kvstore, plugin.cache, plugin.tasks, plugin.scheduler...).
        if name.startswith("_"):
            raise AttributeError(name)
        service = _SERVICE_ATTRS.get(name)
        if service is not None and service in self.services:
            return self.services[service]
        for cap in abi.CAPABILITIES:
            if cap.package == name:
                return CapabilityCalls(self, cap)
        if service is not None:
            key = next((p.key for p in abi.PERMISSIONS if p.service == service), service)
            raise AttributeError(f"plugin {self.id!r} has no {service} service: its manifest "
                                 f"does not declare the '{key}' permission")
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    def fuzz(self, export: str, examples: int = 200, seed: int = 0, **options):
        """Call ``export`` with ``examples`` generated requests (``nd_notebook.testing``) on
        fresh instances; a DataFrame of the failures (panic, trap, timeout, invalid output;
        plugin errors too with ``errors=True``), each shrunk to a minimal input. Empty: none."""
        from ..testing.fuzz import fuzz

        return fuzz(self, export, examples=examples, seed=seed, **options)

    def service(self, name: str):
        """The service object serving Navidrome service ``name`` (e.g. ``"KVStore"``)."""
        return self.services[name]

    # -- packaging ---------------------------------------------------------------------
    def export(self, path: str | Path) -> Path:
        """Write a ``.ndp`` (manifest.json + plugin.wasm) Navidrome can load."""
        from ..package import write_package

        path = Path(path)
        write_package(path, self.manifest, self.wasm)
        return path


_CAPABILITY_EXPORTS = frozenset(e.name for e in abi.EXPORTS)
_SERVICE_ATTRS = {"config": "Config", "cache": "Cache", "kvstore": "KVStore", "tasks": "Task",
                  "taskqueue": "Task", "scheduler": "Scheduler", "websocket_service": "WebSocket",
                  "http": "HTTP", "library": "Library", "users": "Users",
                  "subsonicapi": "SubsonicAPI", "artwork": "Artwork", "matcher": "Matcher",
                  "storage": "Storage", "scrobble_retriever": "ScrobbleRetriever"}


class CapabilityCalls:
    """``plugin.metadata.artist_biography(name="Björk")``: typed calls of one capability."""

    def __init__(self, plugin: LoadedPlugin, capability):
        self._plugin = plugin
        self._cap = capability

    def __dir__(self):
        return [abi.export(n).py_name for n in self._cap.exports]

    def __getattr__(self, name: str):
        for export_name in self._cap.exports:
            row = abi.export(export_name)
            if row.py_name == name or row.name == name:
                return _ExportCall(self._plugin, row)
        raise AttributeError(f"{self._cap.package} has no export helper {name!r}; "
                             f"known: {', '.join(self.__dir__())}")


class _ExportCall:
    def __init__(self, plugin: LoadedPlugin, row):
        self.plugin = plugin
        self.row = row
        self.__doc__ = f"Call {row.name} ({row.input or 'no input'} -> {row.output or 'no output'})."

    def __call__(self, request: dict | None = None, /, **kwargs):
        # Read as Navidrome's adapter reads this export (nd_notebook.capabilities.typed);
        # plugin.call(name, input) stays the raw call.
        from ..capabilities import request as make_request
        from ..capabilities import typed_call

        if isinstance(kwargs.get("track"), str) and self.plugin.host is not None:
            kwargs["track"] = _track_info(self.plugin, kwargs["track"])
        data = make_request(self.row.name, request, **kwargs)
        return typed_call(self.row.name, lambda e, i: self.plugin.call(e, i, raw=True), data)


#: Extism's Go SDK, when the init it runs at an instance's first call fails.
INIT_FAILED = "failed to initialize runtime: "


def _track_info(plugin: LoadedPlugin, track_id: str) -> dict[str, Any]:
    """``track="<media file id>"``: the library track's TrackInfo as Navidrome sends it to
    this plugin (``libraryId``/``path`` only with filesystem access to its library)."""
    from ..capabilities.play import track_info
    from ..capabilities.scrobbler import ScrobblerPlugin

    settings = plugin.ctx.settings
    gate = ScrobblerPlugin(plugin.id, None, permissions=dict(plugin.manifest.permissions),
                           all_libraries=settings.all_libraries,
                           libraries=list(settings.libraries))
    return gate.track_info(track_info(plugin.host.library, track_id)[0])


def _function_not_found(export: str, plugin_id: str, exported) -> FunctionNotFoundError:
    """Navidrome's ``function not found`` text, with the closest exports as notes."""
    err = FunctionNotFoundError(abi.FUNCTION_NOT_FOUND % export, export=export)
    names = sorted(n for n in exported if not n.startswith("_"))
    close = difflib.get_close_matches(export, names, n=3, cutoff=0.5)
    notes = [f"did you mean {' or '.join(map(repr, close))}?"] if close else []
    notes.append(f"exports of plugin {plugin_id!r}: {', '.join(names) or 'none'}")
    err.__notes__ = notes  # shown under the message (add_note is Python 3.11+)
    err.suggestions = close
    return err


def _json_text(export: str, text: str) -> str:
    """A str input of a Navidrome export must be JSON: Navidrome never sends anything else."""
    if export in _NAVIDROME_EXPORTS:
        try:
            json.loads(text)
        except json.JSONDecodeError as e:
            raise PluginInputError(
                f"input of {export} is a str that is not JSON ({e.msg} at column {e.colno}): "
                f"{text[:60]!r}; pass a dict (sent JSON-encoded, as Navidrome does) or JSON "
                f"text; bytes are sent as they are") from None
    return text


_NAVIDROME_EXPORTS = frozenset(e.name for e in abi.EXPORTS)


def _encode_input(value: Any) -> bytes:
    if value is None:
        return b"{}"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (dict, list, int, float, bool)):
        try:
            return dumps(value)
        except GoJSONError:
            return json.dumps(value).encode()
    raise TypeError(f"plugin input must be dict, list, str, bytes or None, not {type(value).__name__}")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3f} s"
    if isinstance(v, (list, tuple)):
        return ", ".join(map(str, v)) or "none"
    if isinstance(v, dict):
        return json.dumps(v) if v else "none"
    return str(v)
