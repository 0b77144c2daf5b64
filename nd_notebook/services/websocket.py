"""WebSocket host service (``websocket_*``): Navidrome's outgoing WebSocket connections.

Rules (spec 2.3 / 3.2 / 6.3, Navidrome's ``plugins/host_websocket.go`` on gorilla/websocket):
- ``connect`` checks, in order: the URL parses (Go ``net/url``), its scheme is ws/wss, its host
  (port cut at the last ``:``) matches a ``requiredHosts`` pattern (``*``, exact, ``*.suffix``;
  an empty list allows nothing, no private-address rule), the id (random when empty) is free;
  then dials with the plugin's handshake headers (30 s handshake timeout).
- One reader thread per connection delivers every message synchronously, in order, one at a
  time, to ``nd_websocket_on_text_message`` / ``nd_websocket_on_binary_message`` on a fresh
  instance. A close frame 1000/1001/1005 from the peer gives ``nd_websocket_on_close`` with the
  peer's code and reason as soon as it is read (the peer may keep TCP open); any other end gives
  ``nd_websocket_on_error`` with gorilla's error text. The connection stays listed until that
  callback returns (as in Navidrome, so a reconnect under the same id from inside ``on_close``
  fails with "already exists").
- ``close_connection`` removes the connection, sends the close frame, closes the socket, then
  calls ``nd_websocket_on_close`` itself with the plugin's own code and reason.
- ``close()`` (unload) sends 1001 "plugin unloaded" to every connection; Navidrome's on_close
  for it is skipped because the plugin is already gone, which is logged as a warning.
- A callback runs only when the plugin exports it; its failure is logged, never raised.

Events: ``websocket_opened``, ``websocket_message`` (direction in/out, text/binary, size, a
text preview), ``websocket_closed`` (by plugin, peer, error or unload); Navidrome's log lines
(callback failures, "Plugin not loaded") are ``service_log`` events of service "WebSocket".

Known differences from gorilla: dial errors name the address as written in the URL (Go prints
the resolved one) and a DNS failure omits Go's resolver address; a ``Host`` handshake header is
not sent (gorilla would use it as the request host); a text frame holding invalid UTF-8 ends the
connection (websockets checks it, gorilla delivers it).

Why the sync client with a reader thread per connection: it is Navidrome's own shape (a read
goroutine per connection that calls the plugin synchronously), it needs no event loop shared
with notebooks (Jupyter already runs one), and it works the same under a virtual clock, since
network events arrive in wall time on their own threads.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import dataclasses
import inspect
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidState,
    InvalidURI,
    ProtocolError,
)
from websockets.frames import CloseCode, Frame, Opcode
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from .. import events, gourl
from ..errors import ServiceError
from ..gojson import go_quote, go_utf8
from .http import GO_WRITES_ITSELF, canonical_header_key
from .http import host_allowed as pattern_allowed

if TYPE_CHECKING:
    from ..context import PluginContext

ON_TEXT_MESSAGE = "nd_websocket_on_text_message"
ON_BINARY_MESSAGE = "nd_websocket_on_binary_message"
ON_ERROR = "nd_websocket_on_error"
ON_CLOSE = "nd_websocket_on_close"

INVALID_SCHEME = "invalid URL scheme: must be ws:// or wss://"
HOST_NOT_ALLOWED = "host %s is not allowed"  # %s = Go-quoted host[:port]
ALREADY_EXISTS = "connection ID %s already exists"
NOT_FOUND = "connection ID %s not found"

HANDSHAKE_TIMEOUT = 30.0  # gorilla Dialer.HandshakeTimeout in Navidrome
CLOSE_TIMEOUT = 5.0  # CloseConnection's close-frame deadline
UNLOAD_CLOSE_TIMEOUT = 2.0  # Close()'s close-frame deadline
UNLOAD_CODE, UNLOAD_REASON = 1001, "plugin unloaded"
GO_USER_AGENT = "Go-http-client/1.1"  # what Go's net/http request writer sends by default
PREVIEW_CHARS = 200  # text kept in websocket_message events

# Handshake headers gorilla refuses to take from the caller (it sets them itself).
_RESERVED_HEADERS = frozenset({"Upgrade", "Connection", "Sec-Websocket-Key",
                               "Sec-Websocket-Version", "Sec-Websocket-Extensions"})

# gorilla's CloseError.Error() names.
_CLOSE_NAMES = {1000: "normal", 1001: "going away", 1002: "protocol error",
                1003: "unsupported data", 1005: "no status", 1006: "abnormal closure",
                1007: "invalid payload data", 1008: "policy violation", 1009: "message too big",
                1010: "mandatory extension missing", 1011: "internal server error",
                1015: "TLS handshake error"}
_ON_CLOSE_CODES = (1000, 1001, 1005)
# The close codes gorilla accepts in a received frame (its validReceivedCloseCodes; also
# 3000-4999).
_RECEIVABLE_CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
                                     1012, 1013, 1014})
# websockets' protocol-error texts and gorilla's for the same frames (advanceFrame); reserved
# bits and unknown opcodes are named from the frame's header (_refused_header).
_GORILLA_PROTOCOL_ERRORS = {
    "control frame too long": "control frame length > 125",
    "fragmented control frame": "control frame not final",
    "unexpected continuation frame": "continuation after final message frame",
    "expected a continuation frame": "message start before final message frame",
    "incorrect masking": "incorrect mask flag",
}
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an HTTP header name

# Options of newer websockets releases: no proxy from the environment (gorilla's Dialer has
# none), and the connection returned directly (websockets 17 asks for the flag).
_CONNECT_PARAMS = inspect.signature(ws_connect).parameters
_VERSION_OPTIONS = {k: v for k, v in (("proxy", None), ("legacy", True)) if k in _CONNECT_PARAMS}


class WebSocketService:
    """Navidrome's WebSocketService: the plugin's open connections and their reader threads.

    ``connections()`` lists what is open now (id, url, opened_at, message and byte counts).
    """

    # Where this emulation knowingly differs from Navidrome (shown in docs/abi.md).
    DEVIATIONS: ClassVar[dict[str, str]] = {
        "connect": ("dial errors name the address as written; a plugin-supplied Host header is "
                    "dropped"),
    }

    def __init__(self, ctx: PluginContext):
        self.ctx = ctx
        permission = ctx.permission("websocket") or {}
        self.required_hosts: list[str] = list(permission.get("requiredHosts") or [])
        self._conns: dict[str, _Connection] = {}
        self._readers: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    # -- host functions --------------------------------------------------------------------
    def connect(self, url: str, headers: dict[str, str] | None = None,
                connection_id: str = "") -> str:
        """Open a connection; returns its id (``connection_id`` or a new random one)."""
        host, scheme = _go_url_host(url)
        if scheme not in ("ws", "wss"):
            raise ServiceError(INVALID_SCHEME)
        if not is_host_allowed(host, self.required_hosts):
            raise ServiceError(HOST_NOT_ALLOWED % go_quote(host))
        if not connection_id:
            connection_id = self.ctx.clock.new_id()
        with self._lock:
            if connection_id in self._conns:
                raise ServiceError(ALREADY_EXISTS % go_quote(connection_id))
        ws = _dial(url, host, scheme, headers or {})
        conn = _Connection(connection_id, url, ws, opened_at=self.ctx.clock.now())
        with self._lock:
            self._conns[connection_id] = conn
        self.ctx.emit(events.WEBSOCKET_OPENED, connection_id=connection_id, url=url)
        reader = threading.Thread(target=self._read_loop, args=(conn,), daemon=True,
                                  name=f"websocket {self.ctx.plugin_id} {connection_id}")
        with self._lock:
            self._readers = [t for t in self._readers if t.is_alive()] + [reader]
        reader.start()
        return connection_id

    def send_text(self, connection_id: str, message: str) -> None:
        conn = self._get(connection_id)
        try:
            conn.ws.send(message)
        except (ConnectionClosed, OSError) as e:
            raise ServiceError(f"failed to send text message: {_write_error(conn, e)}") from None
        self._count_out(conn, "text", message)

    def send_binary(self, connection_id: str, data: bytes | None) -> None:
        conn = self._get(connection_id)
        data = bytes(data or b"")
        try:
            conn.ws.send(data)
        except (ConnectionClosed, OSError) as e:
            raise ServiceError(f"failed to send binary message: {_write_error(conn, e)}") from None
        self._count_out(conn, "binary", data)

    def close_connection(self, connection_id: str, code: int, reason: str) -> None:
        """Close frame, socket closed, then ``nd_websocket_on_close`` with this code/reason."""
        with self._lock:
            conn = self._conns.pop(connection_id, None)
        if conn is None:
            raise ServiceError(NOT_FOUND % go_quote(connection_id))
        conn.closed_by_host = True
        _send_close(conn.ws, code, reason)
        self.ctx.emit(events.WEBSOCKET_CLOSED, connection_id=connection_id, by="plugin",
                      code=code, reason=reason, error=None)
        self._callback(ON_CLOSE, {"connectionId": connection_id, "code": code, "reason": reason},
                       "close", connection_id)

    # -- Python side -----------------------------------------------------------------------
    def connections(self) -> list[dict[str, Any]]:
        """The open connections, oldest first."""
        with self._lock:
            conns = list(self._conns.values())
        return [c.describe() for c in sorted(conns, key=lambda c: c.opened_at)]

    def close(self) -> None:
        """Plugin unloaded: close frame 1001 "plugin unloaded" to every open connection."""
        with self._lock:
            self._closed = True
            conns, self._conns = list(self._conns.values()), {}
            readers = list(self._readers)
        for conn in conns:
            conn.closed_by_host = True
            conn.ws.close_timeout = UNLOAD_CLOSE_TIMEOUT
            _send_close(conn.ws, UNLOAD_CODE, UNLOAD_REASON)
            self.ctx.emit(events.WEBSOCKET_CLOSED, connection_id=conn.id, by="unload",
                          code=UNLOAD_CODE, reason=UNLOAD_REASON, error=None)
            self._log("warn", "Plugin not loaded for WebSocket callback", connection_id=conn.id)
        current = threading.current_thread()
        for reader in readers:
            if reader is not current:
                reader.join(timeout=UNLOAD_CLOSE_TIMEOUT)

    # -- reader ----------------------------------------------------------------------------
    def _read_loop(self, conn: _Connection) -> None:
        """Navidrome's ``readLoop``: deliver messages until the connection ends."""
        try:
            while True:
                try:
                    message = conn.ws.recv(decode=False)
                except Exception as e:  # noqa: BLE001 - every end of the loop is reported
                    if not conn.closed_by_host:
                        self._ended(conn, e)
                    return
                if conn.ws.kinds.popleft() is Opcode.TEXT:
                    # Navidrome passes gorilla's bytes on as a Go string: each byte that is
                    # not UTF-8 reaches the plugin as U+FFFD.
                    message = go_utf8(message)
                    self._count_in(conn, "text", message)
                    self._callback(ON_TEXT_MESSAGE, {"connectionId": conn.id,
                                                     "message": message}, "text message", conn.id)
                else:
                    self._count_in(conn, "binary", message)
                    self._callback(ON_BINARY_MESSAGE,
                                   {"connectionId": conn.id,
                                    "data": base64.b64encode(message).decode("ascii")},
                                   "binary message", conn.id)
        finally:
            with self._lock:
                if self._conns.get(conn.id) is conn:
                    del self._conns[conn.id]

    def _ended(self, conn: _Connection, exc: Exception) -> None:
        rcvd = getattr(exc, "rcvd", None)
        if rcvd is not None and int(rcvd.code) in _ON_CLOSE_CODES:
            code, reason = int(rcvd.code), rcvd.reason
            self.ctx.emit(events.WEBSOCKET_CLOSED, connection_id=conn.id, by="peer", code=code,
                          reason=reason, error=None)
            self._callback(ON_CLOSE, {"connectionId": conn.id, "code": code, "reason": reason},
                           "close", conn.id)
            return
        error = _read_error(conn, exc)
        self.ctx.emit(events.WEBSOCKET_CLOSED, connection_id=conn.id, by="error",
                      code=None if rcvd is None else int(rcvd.code),
                      reason=None if rcvd is None else rcvd.reason, error=error)
        self._callback(ON_ERROR, {"connectionId": conn.id, "error": error}, "error", conn.id)

    # -- helpers ---------------------------------------------------------------------------
    def _callback(self, export: str, request: dict[str, Any], what: str,
                  connection_id: str) -> None:
        """Navidrome's ``invokeWebSocketCallback``: skipped when not exported, failures logged."""
        if self._closed:
            self._log("warn", "Plugin not loaded for WebSocket callback",
                      connection_id=connection_id)
            return
        if not self.ctx.has_export(export):
            return
        started = time.perf_counter()
        try:
            self.ctx.call_export(export, request)
        except Exception as e:  # noqa: BLE001 - a callback failure is only logged
            self._log("error", f"WebSocket {what} callback failed", connection_id=connection_id,
                      duration=time.perf_counter() - started, error=str(e) or type(e).__name__)

    def _get(self, connection_id: str) -> _Connection:
        with self._lock:
            conn = self._conns.get(connection_id)
        if conn is None:
            raise ServiceError(NOT_FOUND % go_quote(connection_id))
        return conn

    def _count_in(self, conn: _Connection, kind: str, message: str | bytes) -> None:
        with self._lock:
            conn.messages_in += 1
            conn.bytes_in += _size(message)
        self._message_event(conn, "in", kind, message)

    def _count_out(self, conn: _Connection, kind: str, message: str | bytes) -> None:
        with self._lock:
            conn.messages_out += 1
            conn.bytes_out += _size(message)
        self._message_event(conn, "out", kind, message)

    def _message_event(self, conn: _Connection, direction: str, kind: str,
                       message: str | bytes) -> None:
        self.ctx.emit(events.WEBSOCKET_MESSAGE, connection_id=conn.id, direction=direction,
                      type=kind, size=_size(message),
                      preview=message[:PREVIEW_CHARS] if isinstance(message, str) else None)

    def _log(self, level: str, message: str, **fields) -> None:
        self.ctx.emit(events.SERVICE_LOG, service="WebSocket", level=level, message=message,
                      **fields)


# -- requiredHosts ---------------------------------------------------------------------------

def is_host_allowed(host: str, patterns: list[str]) -> bool:
    """Navidrome's websocket ``isHostAllowed``: the port is cut at the last ``:`` and the rest
    matched with the HTTP service's ``requiredHosts`` matcher; an empty list allows nothing."""
    cut = host.rfind(":")
    return pattern_allowed(host[:cut] if cut != -1 else host, patterns)


# -- connections -----------------------------------------------------------------------------

@dataclass(eq=False)
class _Connection:
    id: str
    url: str
    ws: ClientConnection
    opened_at: float
    closed_by_host: bool = False
    messages_in: int = 0
    messages_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    addresses: tuple[str, str] = field(default=("", ""))

    def __post_init__(self) -> None:
        try:
            self.addresses = (_addr(self.ws.local_address), _addr(self.ws.remote_address))
        except OSError:
            pass

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "url": self.url, "opened_at": self.opened_at,
                "messages_in": self.messages_in, "messages_out": self.messages_out,
                "bytes_in": self.bytes_in, "bytes_out": self.bytes_out}


class _GorillaConnection(ClientConnection):
    """A websockets client connection that reads and answers as gorilla does. Its protocol
    object's hooks are pointed at the methods below:

    - the handshake takes any ``Sec-WebSocket-Protocol`` answer, asked for or not, and ignores
      ``Sec-WebSocket-Extensions`` (gorilla checks Upgrade, Connection and the accept key only;
      compression is off);
    - a close frame is read as gorilla reads it (:meth:`_recv_frame`), answered with its code
      alone (:meth:`_send_frame`), and ends the connection as soon as it is read
      (:meth:`process_event`): websockets would wait for the server to drop TCP first, which
      a server keeping it open never does. Messages read before it are still delivered;
    - a protocol error ends the connection at once too (:meth:`_fail`), in gorilla's words
      (``gorilla_error``, read by ``_read_error``);
    - a text message is not checked for UTF-8 (gorilla delivers its bytes): messages are read
      undecoded, each one's kind noted in ``kinds`` as its first frame arrives.
    """

    def __init__(self, sock, protocol, *args, **kwargs):
        self.gorilla_error: str | None = None
        self._header: bytes | None = None  # the first bytes read of the frame being parsed
        self._echoing = False  # inside the handling of a peer's close frame
        self.kinds: collections.deque[Opcode] = collections.deque()  # TEXT/BINARY, in order
        protocol.process_subprotocol = lambda headers: next(
            iter(headers.get_all("Sec-WebSocket-Protocol")), None)
        protocol.process_extensions = lambda headers: []
        self._protocol_recv_frame, protocol.recv_frame = protocol.recv_frame, self._recv_frame
        self._protocol_send_frame, protocol.send_frame = protocol.send_frame, self._send_frame
        self._protocol_fail, protocol.fail = protocol.fail, self._fail
        self._read_exact, protocol.reader.read_exact = protocol.reader.read_exact, self._read
        super().__init__(sock, protocol, *args, **kwargs)

    def _read(self, n: int):
        """The protocol's reads: the first of each frame is its header."""
        data = yield from self._read_exact(n)
        if self._header is None:
            self._header = data
        return data

    def _recv_frame(self, frame: Frame) -> None:
        """gorilla's reading of a close frame: a 1-byte payload is "no status" (1005); a code it
        does not accept, or a reason that is not UTF-8, is a protocol error in its words."""
        if frame.opcode is Opcode.CLOSE:
            data = bytes(frame.data)
            if len(data) == 1:
                frame = dataclasses.replace(frame, data=b"")
            elif len(data) >= 2:
                code = int.from_bytes(data[:2], "big")
                if code not in _RECEIVABLE_CLOSE_CODES and not 3000 <= code <= 4999:
                    self.gorilla_error = f"bad close code {code}"
                elif not _is_utf8(data[2:]):
                    self.gorilla_error = "invalid utf8 payload in close frame"
        self._echoing = frame.opcode is Opcode.CLOSE
        try:
            self._protocol_recv_frame(frame)
        finally:
            self._echoing = False
            self._header = None  # the next read starts the next frame

    def _send_frame(self, frame: Frame) -> None:
        """gorilla's close handler answers a peer's close with its code alone (no reason)."""
        if self._echoing and frame.opcode is Opcode.CLOSE:
            frame = dataclasses.replace(frame, data=bytes(frame.data[:2]))
        self._protocol_send_frame(frame)

    def _fail(self, code, reason="", *args, **kwargs) -> None:
        """A protocol error: gorilla's text for a refused header, then websockets' failure
        with the close frame gorilla's ``handleProtocolError`` writes (1002, its message),
        then the reading side shut so that the reader ends now."""
        if self.gorilla_error is None and self._header is not None:
            self.gorilla_error = _refused_header(self._header)
        problem = self.gorilla_error or _GORILLA_PROTOCOL_ERRORS.get(reason)
        if problem is not None:
            code, reason = CloseCode.PROTOCOL_ERROR, problem
        self._protocol_fail(code, reason, *args, **kwargs)
        with contextlib.suppress(OSError):
            self.socket.shutdown(socket.SHUT_RD)

    def process_event(self, event) -> None:
        if isinstance(event, Frame) and event.opcode in (Opcode.TEXT, Opcode.BINARY):
            self.kinds.append(event.opcode)  # before the message can reach recv()
        super().process_event(event)
        if not isinstance(event, Frame):  # the handshake's answer: frames start after it
            self._header = None
        elif event.opcode is Opcode.CLOSE:
            self.close_socket()


def _refused_header(header: bytes) -> str | None:
    """gorilla's error for a frame whose first byte it refuses before anything else: reserved
    bits set, or an opcode it does not know; None when the header is not the problem."""
    if len(header) != 2:
        return None
    reserved, opcode = header[0] & 0x70, header[0] & 0x0F
    if reserved:
        return f"unexpected reserved bits 0x{reserved:x}"
    if opcode not in (0, 1, 2, 8, 9, 10):
        return f"unknown opcode {opcode}"
    return None


def _dial(url: str, host: str, scheme: str, headers: dict[str, str]) -> ClientConnection:
    """gorilla's ``Dialer.DialContext`` (no proxy, no compression), errors as Go prints them."""
    if "@" in _authority(url):
        raise ServiceError("failed to connect: malformed ws or wss URL")
    extra: dict[str, str] = {}
    for key, value in headers.items():
        key = canonical_header_key(key)
        if key in _RESERVED_HEADERS:
            raise ServiceError(f"failed to connect: websocket: duplicate header not allowed: {key}")
        # Go's request writer skips a key that is not a token and the framing keys it writes
        # itself, turns newlines into spaces, trims the value, and writes its UTF-8 bytes
        # (websockets writes header text as Latin-1); gorilla would send "Host" as the request's
        # host, which is not emulated.
        if key not in GO_WRITES_ITSELF and _TOKEN.fullmatch(key):
            value = value.replace("\r", " ").replace("\n", " ").strip(" \t")
            extra[key] = value.encode("utf-8", "replace").decode("latin-1")
    # A blank User-Agent sends none (Go's default is only for a request without one).
    user_agent = extra.pop("User-Agent", None) if extra.get("User-Agent") == "" else None
    address = host if re.search(r":\d*$", host) else f"{host}:{443 if scheme == 'wss' else 80}"
    url = url.split("#", 1)[0]  # Go's RequestURI() leaves the fragment out; websockets refuses it
    try:
        return ws_connect(url, additional_headers=extra,
                          user_agent_header=(None if "User-Agent" in extra or user_agent == ""
                                             else GO_USER_AGENT),
                          compression=None, open_timeout=HANDSHAKE_TIMEOUT, ping_interval=None,
                          close_timeout=CLOSE_TIMEOUT, max_size=None,
                          create_connection=_GorillaConnection, **_VERSION_OPTIONS)
    except InvalidURI:
        reason = "malformed ws or wss URL"
    except InvalidHandshake:
        reason = "websocket: bad handshake"
    except ConnectionRefusedError:
        reason = f"dial tcp {address}: connect: connection refused"
    except socket.gaierror:
        reason = f"dial tcp: lookup {address.rsplit(':', 1)[0].strip('[]')}: no such host"
    except TimeoutError:
        reason = f"dial tcp {address}: i/o timeout"
    except OSError as e:
        reason = f"dial tcp {address}: connect: {(e.strerror or str(e)).lower()}"
    raise ServiceError(f"failed to connect: {reason}")


def _send_close(ws: ClientConnection, code: int, reason: str) -> None:
    """gorilla's ``WriteControl(CloseMessage, FormatCloseMessage(code, reason))`` + ``Close()``:
    1005 sends an empty close frame, any other code its low 16 bits (a code RFC 6455 forbids,
    which websockets refuses to write, is written as it is); a payload over 125 bytes is no
    control frame: the socket is closed without one."""
    try:
        if code == 1005:
            with ws.send_context():
                ws.protocol.send_close()
        else:
            ws.close(code, reason)
        return
    except (ConnectionClosed, InvalidState):
        return
    except (ProtocolError, OSError):
        pass
    payload = (code & 0xFFFF).to_bytes(2, "big") + reason.encode("utf-8", "replace")
    with contextlib.suppress(ConnectionClosed, InvalidState, ProtocolError, OSError):
        if len(payload) <= 125:
            with ws.send_context():
                ws.protocol.send_frame(Frame(Opcode.CLOSE, payload))
    try:
        ws.socket.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _read_error(conn: _Connection, exc: Exception) -> str:
    """What gorilla's ``ReadMessage`` error says for an end other than a 1000/1001/1005 close."""
    problem = getattr(conn.ws, "gorilla_error", None)
    if problem is not None:  # a close frame gorilla refuses (_GorillaConnection)
        return f"websocket: {problem}"
    rcvd = getattr(exc, "rcvd", None)
    if rcvd is not None:
        return close_error_text(int(rcvd.code), rcvd.reason)
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, ConnectionResetError):
        local, remote = conn.addresses
        return f"read tcp {local}->{remote}: read: connection reset by peer"
    sent = getattr(exc, "sent", None)
    if sent is not None and int(sent.code) not in (1000, 1001) and sent.reason:
        # a protocol error websockets detected, in gorilla's words where they are known
        return f"websocket: {_GORILLA_PROTOCOL_ERRORS.get(sent.reason, sent.reason)}"
    return close_error_text(1006, "unexpected EOF")


def _write_error(conn: _Connection, exc: Exception) -> str:
    if isinstance(exc, ConnectionClosed) and exc.sent is not None:
        return "websocket: close sent"
    local, remote = conn.addresses
    return f"write tcp {local}->{remote}: write: broken pipe"


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def close_error_text(code: int, text: str) -> str:
    """gorilla's ``CloseError.Error()``: ``websocket: close 1011 (internal server error): x``."""
    name = _CLOSE_NAMES.get(code)
    out = f"websocket: close {code}" + (f" ({name})" if name else "")
    return f"{out}: {text}" if text else out


# -- Go net/url ------------------------------------------------------------------------------

def _go_url_host(raw: str) -> tuple[str, str]:
    """``(Host, Scheme)`` as Go's ``url.Parse`` gives them, or Navidrome's ``invalid URL``."""
    try:
        scheme, host = gourl.parse_url(raw)[:2]
    except gourl.URLError as e:
        raise ServiceError(f"invalid URL: {e}") from None
    return host, scheme


def _authority(url: str) -> str:
    after = url.split("://", 1)
    return after[1].split("/", 1)[0].split("?", 1)[0] if len(after) == 2 else ""


def _addr(address: Any) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _size(message: str | bytes) -> int:
    return len(message.encode("utf-8", "surrogatepass")) if isinstance(message, str) else len(message)
