"""Extism's built-in HTTP (``extism:host/env`` ``http_request``, ``http_status_code``,
``http_headers``; go-pdk's ``pdk.NewHTTPRequest(...).Send()``) served as Navidrome serves it:
by Extism's Go SDK, not by libextism.

libextism has its own implementation of these three functions (Rust, ureq), out of the Python
host's reach; nd-notebook gives libextism its own functions under the same names, which take
their place (libextism links a plugin's functions after its own). So the built-in HTTP of a
plugin goes through nd-notebook as ``http_send`` does: recorded and replayed by cassettes
(``nd_notebook/cassette.py``), failed by ``host.faults``, shown in the event log, and sent as
Go's ``http.Client`` sends (``services/http.py``'s exchange).

The Go SDK's rules (its ``host.go``), which these follow:
- the request is the JSON ``{"url", "method", "headers"}`` (``HttpRequest``); one that does not
  decode panics ``Invalid HTTP Request: <json error>``, a URL ``url.Parse`` refuses
  ``Invalid Url: <error>``;
- the URL's host name must equal or glob-match (gobwas/glob: ``*``, ``?``, ``[...]``,
  ``{a,b}``) one of the manifest's ``allowed_hosts`` (Navidrome: ``http.requiredHosts``); an
  empty list denies every request: ``HTTP request to '<url>' is not allowed``;
- the body (its memory block, when the offset is not 0) is sent; each header is ``Set`` (Go
  canonical name); the request goes through ``http.DefaultClient``: no timeout of its own
  (nd-notebook: the call's), up to 10 redirects followed anywhere, no host check on them, no
  private-address rule; a transport error panics with Go's ``*url.Error`` text;
- the status is kept for ``http_status_code`` (0 before any request), the headers for
  ``http_headers`` (names lower-cased, repeated values joined by ``,``; 0 before any request),
  the body is read up to 50 MiB (more panics ``http: request body too large``) and returned as
  a new memory block, or 0 when empty.

A panic in a Go host function ends the plugin call at once (wazero recovers it). libextism
gives a host function no way to trap its caller (and its cancel is asynchronous: it reaches
the instance late, or the next instance of the same engine), so the module libextism runs has
its calls of ``http_request`` go through a function appended to it (:func:`with_panic_trap`,
runtime/wasmimports.py) that traps when the answer is -1, which is what ``http_request``
answers when it panics: the guest stops there, as on Navidrome. (A module the rewrite refuses
runs on to its return instead, answered 0; every host function it calls afterwards answers an
error without doing anything: no request is sent, nothing is stored.) The guest's log lines
after the panic are dropped, and the call fails with ``plugin call failed: <message>
(recovered by wazero)``. The Go SDK's trailing wasm stack trace is not reproduced.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from typing import Any

import extism
import httpx
from extism_sys import ffi as _ffi

from .. import events, gourl
from ..abi.model import Field
from ..cassette import through as cassette_through
from ..errors import ServiceError
from ..gojson import GoJSONError, decode_doc, dumps, go_quote, loads
from ..services.http import _Exchange, canonical_header_key, deadline_transport
from .adapter import entry_failed, write_block
from .output import _LogSink
from .wasmedit import _leb
from .wasmimports import redirect_calls

__all__ = ["ENV_NAMESPACE", "FUNCTIONS", "MAX_RESPONSE_BYTES", "CallState", "begin",
           "dead_call", "end", "functions", "glob_match", "imports_http_request", "refusal",
           "with_panic_trap"]

ENV_NAMESPACE = "extism:host/env"
#: The Go SDK's default ``MaxHttpResponseBytes`` (Navidrome keeps it).
MAX_RESPONSE_BYTES = 50 * 1024 * 1024
MAX_REDIRECTS = 10  # http.DefaultClient: stops after 10 requests
RECOVERED = " (recovered by wazero)"
_I64, _I32 = extism.ValType.I64, extism.ValType.I32
#: name -> (params, results)
FUNCTIONS = {
    "http_request": ([_I64, _I64], [_I64]),
    "http_status_code": ([], [_I32]),
    "http_headers": ([], [_I64]),
}
_REQUEST_FIELDS = (Field("url", "string", "Url"), Field("headers", "map[string]string", "Headers"),
                   Field("method", "string", "Method"))


# -- the state of one call --------------------------------------------------------------------

class CallState:
    """What the Go SDK keeps on its plugin instance for one call: the last response's status
    and headers, and the message of a host function's panic (with how many guest log lines
    the call had written by then)."""

    __slots__ = ("headers", "logs_kept", "output", "panic", "previous", "status")

    def __init__(self, output, previous: CallState | None):
        self.output, self.previous = output, previous  # output: the call's CallOutput
        self.status = 0
        self.headers: dict[str, str] | None = None
        self.panic: str | None = None
        self.logs_kept = 0


_local = threading.local()


def begin(output) -> CallState:
    """Around one export call of a plugin using the built-in HTTP (nested calls stack);
    ``output`` is the call's record (runtime/output.py)."""
    state = CallState(output, getattr(_local, "state", None))
    _local.state = state
    return state


def end(state: CallState) -> None:
    _local.state = state.previous


def _current() -> CallState | None:
    return getattr(_local, "state", None)


def dead_call() -> str | None:
    """The panic of the call running on this thread, if one of its host functions panicked:
    the host then serves it nothing more (runtime/adapter.py asks before every host call)."""
    state = _current()
    return state.panic if state is not None else None


def refusal(panic: str) -> str:
    """The error a host function answers once its call is dead."""
    return f"nd-notebook: this call already failed ({panic}); Navidrome ended it there"


def _panic(state: CallState | None, message: str) -> None:
    """Fail the running call with ``message``, as a Go host function's panic does."""
    if state is None or state.panic is not None:  # outside a call, or already dead
        return
    state.panic = message
    _LogSink.get().drain()  # the lines written so far are kept, later ones dropped
    state.logs_kept = len(state.output.logs)


# -- the functions ----------------------------------------------------------------------------

def imports_http_request(info) -> bool:
    """Whether a module (its ``ModuleInfo``) imports Extism's ``http_request``."""
    return "http_request" in info.imported_functions(ENV_NAMESPACE)


#: What http_request answers when it panics, in a module rewritten by with_panic_trap.
_PANICKED = -1
_REQUEST_TYPE = b"\x60\x02\x7e\x7e\x01\x7e"  # (request i64, body i64) -> i64
# The appended function: r = http_request(request, body); if r == -1: trap; return r
_TRAP_BODY = (b"\x01\x01\x7e\x20\x00\x20\x01\x10{k}\x22\x02"
              b"\x42\x7f\x51\x04\x40\x00\x0b\x20\x02\x0b")


@functools.lru_cache(maxsize=4)  # a module and its rewrite each: a few MB an entry
def with_panic_trap(wasm: bytes) -> bytes:
    """The module with its calls of ``http_request`` trapping on a panic's answer (the module
    docs); itself without the import; ``wasmimports.NotRewritable`` when it cannot be."""
    return redirect_calls(wasm, (ENV_NAMESPACE, "http_request"), _REQUEST_TYPE,
                          lambda k: _TRAP_BODY.replace(b"{k}", _leb(k)))


def functions(imported: set[str] | frozenset[str], ctx, allowed_hosts: list[str], *,
              traps: bool = False) -> list[extism.Function]:
    """nd-notebook's versions of the built-in HTTP functions the module imports; ``traps``:
    the module was rewritten by :func:`with_panic_trap`."""
    binding = _Binding(ctx, list(allowed_hosts), traps)
    return [extism.Function(ENV_NAMESPACE, name, params, results, _trampoline, binding, name)
            for name, (params, results) in FUNCTIONS.items() if name in imported]


class _Binding:
    __slots__ = ("allowed_hosts", "ctx", "traps")

    def __init__(self, ctx, allowed_hosts: list[str], traps: bool = False):
        self.ctx = ctx  # prepared.guard_context: refused during an init running ahead
        self.allowed_hosts = allowed_hosts
        self.traps = traps

    def request(self, plugin: extism.CurrentPlugin, request_offset: int,
                body_offset: int) -> int:
        host = self.ctx.host  # first: an init running ahead stops here (prepared.py)
        state = _current()
        started = time.perf_counter()
        raw = _read_block(plugin, request_offset)
        request: Any = None
        body = b""
        error = None
        response: dict[str, Any] | None = None
        try:
            if state is not None and state.panic is not None:
                raise _Panic(refusal(state.panic))  # the call is dead: nothing is sent
            request = self._decode(raw)
            body = _read_block(plugin, body_offset) if body_offset else b""
            response = self._send(host, request, body)
        except _Panic as e:
            error = str(e)
        shown = request if request is not None else raw.decode("utf-8", "replace")
        if body and isinstance(shown, dict):
            shown = {**shown, "body": body.decode("utf-8", "replace")}
        self.ctx.emit(events.HOST_CALL, service="HTTP", function="http_request",
                      request=shown, response=_summary(response), error=error,
                      duration=time.perf_counter() - started)
        if error is not None:
            return self._panicked(state, error)
        if state is not None:
            state.status = response["statusCode"]
            state.headers = response["lowerHeaders"]
        if not response["body"]:
            return 0
        try:
            return write_block(plugin, response["body"])
        except MemoryError:  # the Go SDK's own text, typo included
            return self._panicked(state, "Failed to write resposne body to memory")

    def _panicked(self, state: CallState | None, message: str) -> int:
        """Panic with ``message``; what ``http_request`` answers then (-1 makes a module
        rewritten by :func:`with_panic_trap` trap; 0 otherwise, or outside a call)."""
        _panic(state, message)
        return _PANICKED if self.traps and state is not None else 0

    def _decode(self, raw: bytes) -> dict[str, Any]:
        try:
            request = decode_doc(loads(raw), _REQUEST_FIELDS, "extism.HttpRequest")
        except GoJSONError as e:
            raise _Panic(f"Invalid HTTP Request: {e}") from None
        try:
            hostname = gourl.parse_url(request["url"]).host
        except gourl.URLError as e:
            raise _Panic(f"Invalid Url: {e}") from None
        hostname = gourl.hostname(hostname)
        if not any(pattern == hostname or glob_match(pattern, hostname)
                   for pattern in self.allowed_hosts):
            raise _Panic(f"HTTP request to '{request['url']}' is not allowed")
        return request

    def _send(self, host, request: dict[str, Any], body: bytes) -> dict[str, Any]:
        method = request["method"] or "GET"
        if any(c not in gourl.TOKEN for c in method):
            raise _Panic(f"net/http: invalid method {go_quote(method)}")
        headers = {canonical_header_key(k): v for k, v in (request["headers"] or {}).items()}
        # As http_send's: the plugin's request as the cassette keys and records it.
        as_sent = {"url": request["url"], "method": method, "headers": headers, "body": body}
        faults = getattr(host, "faults", None)
        fault = (faults.inject(self.ctx.plugin_id, "http_request", {"request": as_sent})
                 if faults else None)
        if fault is not None:
            raise _Panic(fault)
        timeout_s = getattr(host, "timeout_ms", 30_000) / 1000

        def send() -> dict[str, Any]:
            exchange = _BuiltinExchange(method, request["url"], headers, body,
                                        time.monotonic() + timeout_s)
            try:
                return exchange.run()
            finally:
                exchange.close()

        try:  # host.recording(...) / Host(cassette=...), as http_send's
            answer = cassette_through(getattr(host, "cassette", None), self.ctx.plugin_id,
                                      as_sent, send)
        except ServiceError as e:
            # io.ReadAll's error as it is (http_send's answer names the step it failed in)
            raise _Panic(str(e).removeprefix("reading response body: ")) from None
        return answer if "lowerHeaders" in answer else _with_lower_headers(answer)

    def status_code(self) -> int:
        self.ctx.host  # noqa: B018 - an init running ahead stops here (prepared.py)
        state = _current()
        return state.status if state is not None else 0

    def headers(self, plugin: extism.CurrentPlugin) -> int:
        self.ctx.host  # noqa: B018 - as above
        state = _current()
        if state is None or state.headers is None:
            return 0
        return write_block(plugin, dumps(state.headers))


class _Panic(Exception):
    """A Go SDK host function's panic: the message the call fails with."""


def _with_lower_headers(answer: dict[str, Any]) -> dict[str, Any]:
    headers = answer.get("headers") or {}
    return {**answer, "body": bytes(answer.get("body") or b""),
            "lowerHeaders": {k.lower(): v for k, v in headers.items()}}


def _summary(response: dict[str, Any] | None) -> dict[str, Any] | None:
    if response is None:
        return None
    return {"statusCode": response["statusCode"], "headers": response["headers"],
            "bodyLength": len(response["body"])}


def _read_block(plugin: extism.CurrentPlugin, offset: int) -> bytes:
    try:
        return bytes(plugin.memory(plugin.memory_at_offset(offset))) if offset else b""
    except Exception:  # noqa: BLE001 - not a block: read as nothing, as the Go SDK's ReadBytes
        return b""


# -- gobwas/glob without separators -----------------------------------------------------------

_GLOB_CACHE: dict[str, re.Pattern[str] | None] = {}


def glob_match(pattern: str, text: str) -> bool:
    """gobwas/glob's ``Compile(pattern).Match(text)`` with no separators: ``*`` (and ``**``)
    any run of characters, ``?`` one, ``[abc]``/``[a-z]``/``[!a]`` a class, ``{a,b}`` either,
    ``\\`` escapes. A pattern it cannot compile matches nothing."""
    compiled = _GLOB_CACHE.get(pattern, False)
    if compiled is False:
        compiled = _GLOB_CACHE[pattern] = _compile_glob(pattern)
    return compiled is not None and compiled.fullmatch(text) is not None


def _compile_glob(pattern: str) -> re.Pattern[str] | None:
    out: list[str] = []
    depth = 0
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if i + 1 >= len(pattern):
                return None
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                return None
            body = pattern[i + 1:end]
            negate = body.startswith("!")
            body = body[1:] if negate else body
            if not body:
                return None
            out.append("[" + ("^" if negate else "") + re.sub(r"([\\\]\[^])", r"\\\1", body) + "]")
            i = end
        elif c == "{":
            depth += 1
            out.append("(?:")
        elif c == "}" and depth:
            depth -= 1
            out.append(")")
        elif c == "," and depth:
            out.append("|")
        else:
            out.append(re.escape(c))
        i += 1
    if depth:
        return None
    try:
        return re.compile("".join(out), re.DOTALL)
    except re.error:
        return None


# -- Go's http.DefaultClient ------------------------------------------------------------------

class _BuiltinExchange(_Exchange):
    """``http.DefaultClient.Do``: services/http.py's exchange with the Go SDK's limits (10
    redirects followed to any host, then an error; a body of more than 50 MiB an error) and
    the response headers kept for ``http_headers``."""

    max_body = MAX_RESPONSE_BYTES + 1
    max_redirects = MAX_REDIRECTS
    refuse_more_redirects = True

    def __init__(self, method, url, headers, body, deadline):
        self.transport = deadline_transport()
        super().__init__(_AnyHost(self.transport), method, url, headers, body, deadline, False)

    def _result(self, response: httpx.Response, added_gzip: bool) -> dict[str, Any]:
        lower: dict[str, list[str]] = {}
        for name, value in response.headers.raw:
            lower.setdefault(name.decode("latin-1").lower(), []).append(
                value.decode("utf-8", "surrogateescape"))
        answer = super()._result(response, added_gzip)
        if len(answer["body"]) > MAX_RESPONSE_BYTES:
            raise ServiceError("http: request body too large")
        answer["lowerHeaders"] = {k: ",".join(v) for k, v in lower.items()}
        return answer

    def close(self) -> None:
        self.transport.close()


class _AnyHost:
    """The exchange's view of its service: no host rule (the Go SDK checks only the first
    URL, against allowed_hosts) and a transport of its own."""

    required_hosts = ("*",)

    def __init__(self, transport: httpx.HTTPTransport):
        self._transport = transport


# -- the trampoline ---------------------------------------------------------------------------

@_ffi.callback("void(ExtismCurrentPlugin*, const ExtismVal*, ExtismSize, ExtismVal*, "
               "ExtismSize, void*)", onerror=entry_failed)
def _trampoline(current, inputs, n_inputs, outputs, n_outputs, user_data):
    # Never raises: a failure the Go SDK would not have answers 0.
    try:
        binding, name = _ffi.from_handle(user_data)
        if name == "http_status_code":
            outputs[0].v.i32 = binding.status_code()
            return
        plugin = extism.CurrentPlugin(current)
        if name == "http_headers":
            outputs[0].v.i64 = binding.headers(plugin)
            return
        mask = 0xFFFF_FFFF_FFFF_FFFF
        outputs[0].v.i64 = binding.request(plugin, inputs[0].v.i64 & mask, inputs[1].v.i64 & mask)
    except BaseException:  # noqa: BLE001 - an init running ahead, or a bug: the guest reads 0
        if n_outputs:
            outputs[0].v.i64 = 0
