"""A small WebSocket echo/broadcast server on loopback, for tutorials and tests.

    from nd_notebook.wsserver import serve

    with serve() as server:                      # ws://127.0.0.1:<free port>
        plugin.call("nd_on_init")                # the plugin connects to server.url
        server.wait_for_clients(1)
        server.send_to_all("hello")              # a text frame to every client
        server.close_client(1000, "bye")         # a close frame to every client
        server.received                          # what the clients sent, in order

Every text or binary message a client sends is echoed back to it; with ``broadcast=True`` it
goes to every connected client instead. ``drop_clients()`` cuts the TCP connections without a
close frame, as a crashed server would. The server listens on a loopback address only.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from websockets.exceptions import ConnectionClosed, InvalidState
from websockets.http11 import Request
from websockets.sync.server import Server, ServerConnection
from websockets.sync.server import serve as _ws_serve

if TYPE_CHECKING:
    from typing import Self  # Python 3.11; annotations are never evaluated here

__all__ = ["EchoServer", "serve"]


def serve(host: str = "127.0.0.1", port: int = 0, *, broadcast: bool = False,
          echo: bool = True) -> Self:
    """Start an :class:`EchoServer` in a background thread; use it as a context manager."""
    return EchoServer(host, port, broadcast=broadcast, echo=echo).start()


class EchoServer:
    """A WebSocket server for tests: echoes (or broadcasts) messages and records what it saw.

    ``received`` lists the messages clients sent (``str`` for text, ``bytes`` for binary);
    ``handshakes`` the request path and headers of each connection; ``closes`` the
    ``(code, reason)`` of each close frame a client sent (``None`` when it sent none).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, broadcast: bool = False,
                 echo: bool = True):
        if not _is_loopback(host):
            raise ValueError(f"EchoServer listens on loopback only, not {host!r}")
        self.broadcast = broadcast
        self.echo = echo
        self.received: list[str | bytes] = []
        self.handshakes: list[dict[str, Any]] = []
        self.closes: list[tuple[int, str] | None] = []
        self._host = host
        self._port = port
        self._clients: list[ServerConnection] = []
        self._lock = threading.Condition()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Self:
        if self._server is None:
            self._server = _ws_serve(self._handle, self._host, self._port, compression=None,
                                     max_size=None, ping_interval=None, close_timeout=2,
                                     process_request=self._record_handshake)
            self._port = self._server.socket.getsockname()[1]
            self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                            name=f"nd-notebook EchoServer :{self._port}")
            self._thread.start()
        return self

    def stop(self) -> None:
        """Close every client (1001 going away) and stop listening."""
        if self._server is not None:
            self._server.shutdown()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = None

    close = stop

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------------------------
    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"ws://{host}:{self._port}"

    def __repr__(self) -> str:
        state = "running" if self._server is not None else "stopped"
        return f"<EchoServer {self.url} {state}, {self.clients} client(s)>"

    # -- test helpers ----------------------------------------------------------------------
    @property
    def clients(self) -> int:
        """How many clients are connected now."""
        with self._lock:
            return len(self._clients)

    def send_to_all(self, message: str | bytes) -> int:
        """Send a text (``str``) or binary (``bytes``) message to every client; returns how many
        clients it reached."""
        sent = 0
        for conn in self._snapshot():
            try:
                conn.send(message)
                sent += 1
            except ConnectionClosed:
                pass
        return sent

    def close_client(self, code: int = 1000, reason: str = "", *, client: int | None = None) -> None:
        """Send a close frame (``code``, ``reason``) to every client, or to the ``client``-th one
        (in connection order); code 1005 sends a close frame without a status."""
        for conn in self._targets(client):
            try:
                if code == 1005:
                    with conn.send_context():
                        conn.protocol.send_close()
                else:
                    conn.close(code, reason)
            except (ConnectionClosed, InvalidState):
                pass

    def drop_clients(self, *, client: int | None = None) -> None:
        """Cut the TCP connection of every client (or one) without a close frame."""
        for conn in self._targets(client):
            try:
                conn.socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def wait_for_clients(self, n: int = 1, timeout: float = 5.0) -> bool:
        """Wait until ``n`` clients are connected; False on timeout."""
        return self._wait(lambda: len(self._clients) >= n, timeout)

    def wait_for_messages(self, n: int = 1, timeout: float = 5.0) -> bool:
        """Wait until clients have sent ``n`` messages in all; False on timeout."""
        return self._wait(lambda: len(self.received) >= n, timeout)

    def wait_for_closes(self, n: int = 1, timeout: float = 5.0) -> bool:
        """Wait until ``n`` connections have ended; False on timeout."""
        return self._wait(lambda: len(self.closes) >= n, timeout)

    # -- internals -------------------------------------------------------------------------
    def _record_handshake(self, conn: ServerConnection, request: Request) -> None:
        # Runs before the 101 answer, so a client sees its handshake recorded once connected.
        with self._lock:
            self.handshakes.append({"path": request.path,
                                    "headers": dict(request.headers.raw_items())})
            self._lock.notify_all()

    def _handle(self, conn: ServerConnection) -> None:
        with self._lock:
            self._clients.append(conn)
            self._lock.notify_all()
        try:
            for message in conn:
                with self._lock:
                    self.received.append(message)
                    self._lock.notify_all()
                if self.echo:
                    for target in self._snapshot() if self.broadcast else [conn]:
                        try:
                            target.send(message)
                        except ConnectionClosed:
                            pass
        except ConnectionClosed:
            pass
        finally:
            rcvd = conn.protocol.close_rcvd
            with self._lock:
                self._clients.remove(conn)
                self.closes.append(None if rcvd is None else (int(rcvd.code), rcvd.reason))
                self._lock.notify_all()

    def _snapshot(self) -> list[ServerConnection]:
        with self._lock:
            return list(self._clients)

    def _targets(self, client: int | None) -> list[ServerConnection]:
        clients = self._snapshot()
        return clients if client is None else [clients[client]]

    def _wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._lock:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
            return True


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
