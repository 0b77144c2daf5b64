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
from ..gojson import GoJSONError, decode_doc, dumps, encode_struct, loads

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

    def dispatch(self, raw: bytes) -> bytes:
        """Serve one call; always returns a JSON response (never raises)."""
        row = self.row
        started = time.perf_counter()
        request: Any = None
        error = None
        try:
            request = loads(raw)  # recorded as the plugin sent it (bytes stay base64)
            kwargs = decode_doc(request, row.params, f"{row.service.lower()}.{row.pdk_name}Request")
            result = self.method(**kwargs)
            response = encode_response(row, result)
        except (ServiceError, GoJSONError) as e:
            error = str(e)
        except Exception as e:  # noqa: BLE001 - a bug in a service must not reach the guest as a trap
            error = f"nd-notebook internal error in {row.import_name}: {type(e).__name__}: {e}"
        if error is not None:
            response = dumps({"error": error})
        self.ctx.emit(events.HOST_CALL, service=row.service, function=row.import_name,
                      request=request if request is not None else _text(raw),
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


def _text(raw: bytes) -> str:
    return bytes(raw).decode("utf-8", "replace")


@_ffi.callback("void(ExtismCurrentPlugin*, const ExtismVal*, ExtismSize, ExtismVal*, "
               "ExtismSize, void*)")
def _trampoline(current, inputs, n_inputs, outputs, n_outputs, user_data):
    # Runs on the thread calling the plugin. Must never raise: cffi would print the error and
    # leave the result at 0, which the guest reads as an empty response.
    try:
        binding: _Binding = _ffi.from_handle(user_data)[0]
        plugin = extism.CurrentPlugin(current)
        offset = inputs[0].v.i64
        raw = bytes(plugin.memory(plugin.memory_at_offset(offset))) if offset else b""
        response = binding.dispatch(raw)
        mem = plugin.alloc(len(response))
        plugin.memory(mem)[:] = response
        outputs[0].v.i64 = mem.offset
    except BaseException:  # noqa: BLE001 - writing the response failed: Navidrome returns 0
        outputs[0].v.i64 = 0
