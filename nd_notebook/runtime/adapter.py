"""The host-function adapter: wasm import -> decode JSON request -> service -> JSON response.

One Extism ``Function`` per Navidrome host function of a permitted service, bound to that
plugin's service objects. Nothing raises into Extism (the Python SDK would swallow it and hand
the guest an empty result): every failure becomes Navidrome's in-band ``{"error": "..."}`` and
an event. Dispatch goes through our own cffi trampoline, never Extism's global registry.
"""

from __future__ import annotations

import time
from typing import Any

import extism
from extism_sys import ffi as _ffi

from .. import events
from ..abi.model import HostFunction
from ..errors import ServiceError
from ..gojson import GoJSONError, decode_doc, dumps, encode_struct, json_depth, loads
from . import builtin_http  # (imports this module: its names are read at call time)
from .limits import DEFAULT_MAX_REQUEST, request_too_large

NAMESPACE = "extism:host/user"


def host_functions(bindings: list[tuple[HostFunction, Any]], ctx) -> list[extism.Function]:
    """Extism functions for ``(row, service)`` pairs, recording every call in ``ctx.events``."""
    return [extism.Function(NAMESPACE, row.import_name, [extism.ValType.I64],
                            [extism.ValType.I64], _trampoline, _Binding(row, service, ctx))
            for row, service in bindings]


class _Binding:
    """What one import is bound to: its ABI row, the service object and the plugin context."""

    __slots__ = ("ctx", "method", "row", "service")

    def __init__(self, row: HostFunction, service: Any, ctx):
        self.row = row
        self.service = service
        self.ctx = ctx
        self.method = getattr(service, row.py_name)

    def too_large(self, length: int) -> str | None:
        """The in-band error for a request longer than the Host's ``max_request``, else None."""
        host_limits = getattr(self.ctx.host, "limits", None)
        limit = host_limits.max_request if host_limits is not None else DEFAULT_MAX_REQUEST
        return request_too_large(length, limit, self.row.import_name) if length > limit else None

    def refuse(self, error: str) -> bytes:
        """Answer ``error`` without reading the request (it stays in the guest's memory)."""
        row = self.row
        response = dumps({"error": error})
        self.ctx.emit(events.HOST_CALL, service=row.service, function=row.import_name,
                      request=None, response=_text(response), error=error, duration=0.0)
        return response

    def dispatch(self, raw: bytes) -> bytes:
        """Serve one call; always returns a JSON response (never raises)."""
        row = self.row
        started = time.perf_counter()
        request: Any = None
        error = None
        try:
            if row.params:
                request = loads(raw)  # recorded as the plugin sent it (bytes stay base64)
                # Navidrome's generated request structs live in its Go package "host".
                kwargs = decode_doc(request, row.params, f"host.{row.pdk_name}Request",
                                    package="host")
            else:  # Navidrome's generated wrapper never reads it: anything is accepted
                kwargs = {}
            faults = getattr(self.ctx.host, "faults", None)  # host.faults rules, see faults.py
            fault = faults.inject(self.ctx.plugin_id, row.import_name, request) if faults else None
            if fault is not None:
                raise ServiceError(fault)
            result = self.method(**kwargs)
            response = encode_response(row, result)
        except (ServiceError, GoJSONError) as e:
            error = str(e)
        except Exception as e:  # noqa: BLE001 - a bug in a service must not reach the guest as a trap
            error = f"nd-notebook internal error in {row.import_name}: {type(e).__name__}: {e}"
        if error is not None:
            response = dumps({"error": error})
        self.ctx.emit(events.HOST_CALL, service=row.service, function=row.import_name,
                      request=_recorded(request, raw),
                      response=_text(response), error=error,
                      duration=time.perf_counter() - started)
        return response


def encode_response(row: HostFunction, result: Any) -> bytes:
    """Encode a service result as the response JSON (every field omitempty)."""
    fields = row.results
    if not fields:
        return b"{}"
    values = result if len(fields) > 1 else (result,)
    if values is None or len(values) != len(fields):
        raise TypeError(f"{row.import_name} returned {result!r}, expected {len(fields)} values")
    return dumps(encode_struct({f.json: v for f, v in zip(fields, values)}, fields,
                               force_omitempty=True))


def _recorded(request: Any, raw: bytes) -> Any:
    """The request for the event log: the decoded JSON, or the raw text when it did not decode
    or nests too deep for a notebook to display (frames and reprs recurse)."""
    if request is None or (raw.count(b"[") + raw.count(b"{") > _DEEP
                           and json_depth(raw) > _DEEP):
        return _text(raw)
    return request


_DEEP = 100


def write_block(plugin: extism.CurrentPlugin, data: bytes) -> int:
    """``data`` in a new Extism memory block of the calling plugin; its offset."""
    mem = plugin.alloc(len(data))
    if mem.offset == 0:  # the plugin's memory cannot grow (max_memory): nothing written
        raise MemoryError(f"no room for {len(data)} bytes in the plugin's memory")
    plugin.memory(mem)[:] = data
    return mem.offset


def _text(raw: bytes) -> str:
    return bytes(raw).decode("utf-8", "replace")


def entry_failed(exc_type, exc_value, tb) -> None:
    """cffi's ``onerror`` of the trampoline: an exception before its own ``try``, in practice
    a kernel interrupt's KeyboardInterrupt raised at its first bytecode. The call is being
    cancelled anyway (runtime/interrupt.py); the guest reads 0, as when Navidrome's host
    function fails, and nothing is printed ("Exception ignored from cffi callback")."""
    outputs = tb.tb_frame.f_locals.get("outputs") if tb is not None else None
    if outputs is not None:
        outputs[0].v.i64 = 0


@_ffi.callback("void(ExtismCurrentPlugin*, const ExtismVal*, ExtismSize, ExtismVal*, "
               "ExtismSize, void*)", onerror=entry_failed)
def _trampoline(current, inputs, n_inputs, outputs, n_outputs, user_data):
    # Runs on the thread calling the plugin. Must never raise: cffi would print the error and
    # leave the result at 0, which the guest reads as an empty response.
    try:
        binding: _Binding = _ffi.from_handle(user_data)[0]
        plugin = extism.CurrentPlugin(current)
        try:
            offset = inputs[0].v.i64 & 0xFFFF_FFFF_FFFF_FFFF
            block = plugin.memory_at_offset(offset) if offset else None
            too_large = binding.too_large(block.length) if block is not None else None
            raw = b"" if block is None or too_large else bytes(plugin.memory(block))
            if not binding.row.params:  # never read by Navidrome: no limit (kept for the log)
                too_large = None
        except Exception:  # noqa: BLE001 - not an Extism block: read as empty (length 0), so the
            too_large, raw = None, b""  # guest gets the in-band decode error, not a 0 (empty)
        # A call whose Extism http_request panicked is over on Navidrome (builtin_http.py).
        dead = builtin_http.dead_call()
        if dead is not None:
            response = binding.refuse(builtin_http.refusal(dead))
        else:
            response = binding.refuse(too_large) if too_large else binding.dispatch(raw)
        outputs[0].v.i64 = write_block(plugin, response)
    except BaseException:  # noqa: BLE001 - writing the response failed: Navidrome returns 0
        outputs[0].v.i64 = 0
