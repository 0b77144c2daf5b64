"""HTTP host service (``http_send``): Navidrome's outgoing HTTP client for plugins, on httpx.

Rules (spec 2.3, Navidrome's ``httpServiceImpl``):
- the URL is parsed as Go's ``url.Parse`` does: a parse error is ``invalid URL: parse "<u>": ...``,
  a scheme other than http/https ``invalid URL scheme "<s>": must be http or https``;
- the host is checked before anything is dialled (``check_host``): with ``requiredHosts`` it
  must match a pattern (``host_allowed``: ``*``, exact, ``*.example.com`` without the apex,
  compared case-sensitively as Navidrome does), without them ``localhost`` and literal
  loopback/private/link-local IPs are refused (``is_private_or_loopback``); names are not resolved;
- the method is upper-cased (empty = GET); each header is set once under its Go canonical name;
  the body is sent only when non-empty; ``timeoutMs`` (0 = 10 s) bounds the whole exchange;
- at most 4 redirects are followed, each target re-checked; a 5th answers the last 3xx itself,
  and so does every redirect with ``noFollowRedirects``;
- any status is a success; the body is cut silently at 10 MiB; response headers keep their
  first value under Go canonical names. Transport errors read like Go's client errors
  (``Get "<url>": dial tcp 127.0.0.1:1: connect: connection refused``).
Like Go's client it sends ``User-Agent: Go-http-client/1.1`` and ``Accept-Encoding: gzip`` when
the plugin sets neither, and then un-gzips the answer itself.
"""

from __future__ import annotations

import base64
import errno
import ipaddress
import re
import socket
import threading
import time
import zlib
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import unquote, urljoin

import httpcore
import httpx

from .. import gourl
from ..cassette import through as cassette_through
from ..errors import ServiceError
from ..gojson import go_quote, go_upper

if TYPE_CHECKING:
    from ..context import PluginContext

DEFAULT_TIMEOUT_MS = 10_000
MAX_REDIRECTS = 5  # Go CheckRedirect: len(via) >= 5 answers the last response
MAX_BODY_BYTES = 10 * 1024 * 1024
GO_USER_AGENT = "Go-http-client/1.1"

INVALID_SCHEME = "invalid URL scheme %s: must be http or https"
HOST_NOT_ALLOWED = "host %s is not allowed"
PRIVATE_NOT_ALLOWED = ("host %s is not allowed: private/loopback addresses require explicit "
                       "requiredHosts in manifest")
DEADLINE_EXCEEDED = "context deadline exceeded"


#: Header keys Go's request writer never takes from a request's header map
#: (reqWriteExcludeHeader; User-Agent only when set).
GO_WRITES_ITSELF = frozenset({"Host", "Content-Length", "Transfer-Encoding", "Trailer"})


class HTTPService:
    """Navidrome's HTTPService: one client per plugin, limited by ``http.requiredHosts``."""

    # Where this emulation knowingly differs from Navidrome (shown in docs/abi.md).
    DEVIATIONS: ClassVar[dict[str, str]] = {
        "send": ("network-error texts name the host as written, not the resolved IP; no HTTP/2; "
                 "resolved addresses are not re-checked when dialling; an answer Go's response "
                 "reader refuses (an empty or non-numeric Content-Length, a malformed status or "
                 "header line) is refused with h11's text (bad Content-Length, illegal status "
                 "line...), not Go's (net/http: HTTP/1.x transport connection broken: invalid "
                 "empty Content-Length \"\"...), and a 101 answer too (Go returns it)"),
    }

    def __init__(self, ctx: PluginContext):
        self.required_hosts: list[str] = list(
            (ctx.permission("http") or {}).get("requiredHosts") or [])
        # Requests go straight to a transport: no cookie jar (Go's client has none), no
        # redirect or Location handling of httpx's own (the exchange follows Go's rules).
        self._transport = deadline_transport()
        self._host, self._plugin_id = ctx.host, ctx.plugin_id
        target = getattr(ctx.host, "navidrome", None)  # noFollowRedirects is new in 03844a9a3
        self._no_follow_known = target is None or target.knows_field("host.HTTPRequest",
                                                                     "noFollowRedirects")

    def send(self, request: dict[str, Any]) -> dict[str, Any]:
        """``http_send``: perform ``request`` (HTTPRequest JSON names), return an HTTPResponse."""
        raw_url = request.get("url") or ""
        try:
            scheme, host = gourl.parse_url(raw_url)[:2]
        except gourl.URLError as e:
            raise ServiceError(f"invalid URL: {e}") from None
        if scheme not in ("http", "https"):
            raise ServiceError(INVALID_SCHEME % go_quote(scheme))
        check_host(host, self.required_hosts)

        timeout_ms = int(request.get("timeoutMs") or 0) or DEFAULT_TIMEOUT_MS
        deadline = time.monotonic() + timeout_ms / 1000
        method = go_upper(request.get("method") or "") or "GET"
        if not method or any(c not in gourl.TOKEN for c in method):
            raise ServiceError(f"creating request: net/http: invalid method {go_quote(method)}")
        headers: dict[str, str] = {}
        for key, value in (request.get("headers") or {}).items():
            headers[canonical_header_key(key)] = value
        no_follow = bool(request.get("noFollowRedirects")) and self._no_follow_known
        exchange = _Exchange(self, method, raw_url, headers, bytes(request.get("body") or b""),
                             deadline, no_follow)
        # host.recording(...) / Host(cassette=...): nd_notebook/cassette.py
        return cassette_through(getattr(self._host, "cassette", None), self._plugin_id, request,
                                exchange.run)

    def close(self) -> None:
        self._transport.close()


# -- host rules (Navidrome's validateHost, matchHostPattern, isPrivateOrLoopback) ------------

def check_host(host: str, required_hosts: list[str]) -> None:
    """Raise Navidrome's error when ``host`` (URL host, maybe with port) may not be contacted."""
    hostname = extract_hostname(host)
    if required_hosts:
        if not host_allowed(hostname, required_hosts):
            raise ServiceError(HOST_NOT_ALLOWED % go_quote(host))
    elif is_private_or_loopback(hostname):
        raise ServiceError(PRIVATE_NOT_ALLOWED % go_quote(host))


def host_allowed(hostname: str, patterns: list[str]) -> bool:
    """True when ``hostname`` (no port) matches one of the ``requiredHosts`` patterns:
    ``*`` matches anything, ``*.example.com`` any name ending in ``.example.com`` (not the
    apex), anything else must be equal. Case-sensitive, as in Navidrome."""
    for pattern in patterns:
        if pattern == "*" or pattern == hostname:
            return True
        if pattern.startswith("*.") and hostname.endswith(pattern[1:]):
            return True
    return False


def is_private_or_loopback(hostname: str) -> bool:
    """``localhost`` (any case) or a literal IP that Go calls loopback, private, link-local
    unicast or link-local multicast (127/8, 10/8, 172.16/12, 192.168/16, 169.254/16, 224.0.0/24,
    ::1, fc00::/7, fe80::/10, ff02::/16; IPv4-mapped IPv6 counts as IPv4). Names are not resolved."""
    if hostname.lower() == "localhost":
        return True
    if "%" in hostname:  # Go's net.ParseIP takes no zone
        return False
    try:
        ip = ipaddress.ip_address(hostname)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    b = ip.packed
    if ip.version == 4:
        return (b[0] in (10, 127) or (b[0] == 172 and b[1] & 0xF0 == 16)
                or b[:2] in (b"\xc0\xa8", b"\xa9\xfe") or b[:3] == b"\xe0\x00\x00")
    return (ip == ipaddress.IPv6Address("::1") or b[0] & 0xFE == 0xFC
            or (b[0] == 0xFE and b[1] & 0xC0 == 0x80) or (b[0] == 0xFF and b[1] & 0x0F == 2))


def extract_hostname(host: str) -> str:
    """Go ``net.SplitHostPort``'s host, else ``host`` without IPv6 brackets."""
    split = gourl.split_host_port_host(host)
    if split is not None:
        return split
    if host.startswith("[") and host.endswith("]"):
        return host[1:-1]
    return host


def canonical_header_key(key: str) -> str:
    """Go's ``CanonicalMIMEHeaderKey``: ``x-foo-bar`` -> ``X-Foo-Bar``; a key holding a byte
    that is not a token character is returned unchanged."""
    if any(c not in gourl.TOKEN for c in key):
        return key
    return "-".join(part[:1].upper() + part[1:].lower() for part in key.split("-"))


# -- one deadline for the whole exchange -----------------------------------------------------

_deadline = threading.local()  # the running exchange's deadline (time.monotonic()), per thread


def deadline_transport() -> httpx.HTTPTransport:
    """An httpx transport whose socket reads and writes wait at most until the running
    exchange's deadline: httpx's timeouts are per operation, so a server sending its answer a
    byte at a time would keep a request alive far past ``timeoutMs``; Go's context ends it."""
    transport = httpx.HTTPTransport()
    pool = getattr(transport, "_pool", None)  # httpx builds its httpcore pool itself
    if pool is not None and hasattr(pool, "_network_backend"):
        pool._network_backend = _DeadlineBackend(pool._network_backend)
    return transport


def _bounded(timeout: float | None) -> float | None:
    deadline = getattr(_deadline, "value", None)
    if deadline is None:
        return timeout
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise httpcore.ReadTimeout("context deadline exceeded")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream):
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _bounded(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _bounded(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname,
                                                      _bounded(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend):
        self._backend = backend

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        return _DeadlineStream(self._backend.connect_tcp(
            host, port, _bounded(timeout), local_address, socket_options))

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        return _DeadlineStream(self._backend.connect_unix_socket(path, _bounded(timeout),
                                                                 socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


# -- one http_send exchange: requests, redirects, body ----------------------------------------

class _Exchange:
    """The request of one ``http_send`` and the redirects Go's client would follow."""

    max_body = MAX_BODY_BYTES  # the body is cut there
    max_redirects = MAX_REDIRECTS  # requests sent before a redirect is answered or refused
    #: Navidrome's CheckRedirect answers the last redirect itself; Go's default one fails.
    refuse_more_redirects = False

    def __init__(self, service: HTTPService, method, url, headers, body, deadline, no_follow):
        self.service = service
        self.op = method[:1] + method[1:].lower()  # Go's urlErrorOp: "Get", "Post"...
        self.method, self.url, self.headers, self.body = method, url, headers, body
        self.first_url, self.first_headers, self.first_body = url, headers, body
        self.strip_sensitive = False  # once a hop leaves the first host's domain, for good
        self.deadline = deadline
        self.no_follow = no_follow

    def run(self) -> dict[str, Any]:
        """Send, follow redirects, read the body: every socket read and write of the exchange
        bounded by its one deadline (``deadline_transport``), as Go's context is."""
        previous, _deadline.value = getattr(_deadline, "value", None), self.deadline
        try:
            return self._run()
        finally:
            _deadline.value = previous

    def _run(self) -> dict[str, Any]:
        sent = 0
        while True:
            response, added_gzip = self._send()
            sent += 1
            follow, method, keep_body = _redirect_behavior(self.method, response.status_code)
            location = (response.headers.get_list("location") or [""])[0]  # Header.Get
            if not follow or not location:
                return self._result(response, added_gzip)
            try:
                gourl.parse_url(location)
                target = urljoin(self.url, location)
                target_host = gourl.parse_url(target).host
            except gourl.URLError as e:
                response.close()
                raise self._error(f"failed to parse Location header {go_quote(location)}: {e}")
            if sent >= self.max_redirects and self.refuse_more_redirects:
                response.close()
                raise ServiceError(f"{self.op} {go_quote(location)}: "
                                   f"stopped after {self.max_redirects} redirects")
            if self.no_follow or sent >= self.max_redirects:
                return self._result(response, added_gzip)
            response.close()
            try:
                check_host(target_host, self.service.required_hosts)
            except ServiceError as e:
                raise ServiceError(f"{self.op} {go_quote(location)}: {e}") from None
            self._redirect_to(target, method, keep_body)

    def _redirect_to(self, target: str, method: str, keep_body: bool) -> None:
        """Go's request for the next hop: the first request's headers copied (sensitive ones
        dropped from the first hop off its domain on), its body kept or (with its Content-*
        headers) dropped as this hop's status says, Referer the previous hop's URL unless the
        plugin set one."""
        previous = self.url
        headers = dict(self.first_headers)
        if not _same_domain_or_subdomain(_hostname_of(target), _hostname_of(self.first_url)):
            self.strip_sensitive = True
        if self.strip_sensitive:
            for key in ("Authorization", "Www-Authenticate", "Cookie", "Cookie2",
                        "Proxy-Authorization", "Proxy-Authenticate"):
                headers.pop(key, None)
        self.body = self.first_body if keep_body else b""
        if not keep_body:
            for key in ("Content-Encoding", "Content-Language", "Content-Location",
                        "Content-Type"):
                headers.pop(key, None)
        if not headers.get("Referer") and not (previous.lower().startswith("https:")
                                             and target.lower().startswith("http:")):
            headers["Referer"] = _strip_userinfo(previous)
        self.method, self.url, self.headers = method, target, headers

    def _send(self) -> tuple[httpx.Response, bool]:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise self._error(DEADLINE_EXCEEDED)
        scheme, host = gourl.parse_url(self.url)[:2]
        if scheme not in ("http", "https"):
            raise self._error(f"unsupported protocol scheme {go_quote(scheme)}")
        if not host:
            raise self._error("http: no Host in request URL")
        headers, added_gzip = self._wire_headers()
        try:
            request = httpx.Request(self.method, self.url, headers=headers,
                                    content=self.body or None,
                                    extensions={"timeout": httpx.Timeout(remaining).as_dict()})
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as e:
            raise self._error(str(e)) from None
        checked = extract_hostname(host).lower()
        if checked not in (request.url.host, request.url.raw_host.decode("ascii", "replace")):
            # never contact a host other than the one the rules checked
            raise self._error(f"nd-notebook: httpx reads the host of this URL as "
                              f"{go_quote(request.url.host)}")
        try:
            response = self.service._transport.handle_request(request)
        except httpx.HTTPError as e:
            raise self._error(_go_transport_error(e, request)) from None
        except UnicodeError:  # a name that is no domain name (".example.com"): not looked up
            raise self._error(f"dial tcp: lookup {request.url.host}: no such host") from None
        response.request = request
        return response, added_gzip

    def _wire_headers(self) -> tuple[list[tuple[str, bytes]], bool]:
        """The headers Go's transport writes: the plugin's (Host, Content-Length,
        Transfer-Encoding and Trailer ignored), a default User-Agent, and Accept-Encoding: gzip
        when none is set (then Go un-gzips the body itself)."""
        out: list[tuple[str, bytes]] = []
        for key, value in self.headers.items():  # every one checked, even those not written
            if not key or any(c not in gourl.TOKEN for c in key):
                raise self._error(f"net/http: invalid header field name {go_quote(key)}")
            data = value.encode("utf-8", "surrogateescape")
            if any((b < 0x20 and b != 0x09) or b == 0x7F for b in data):
                raise self._error(f"net/http: invalid header field value for {go_quote(key)}")
            if key not in GO_WRITES_ITSELF and key != "User-Agent":
                out.append((key, data.strip(b" \t")))  # Header.Write trims each value
        credentials = _userinfo(self.url)
        if credentials is not None and not self.headers.get("Authorization"):
            # Go's client: the URL's user (even an empty one) as Basic auth
            out.append(("Authorization",
                        b"Basic " + base64.b64encode(credentials.encode("utf-8"))))
        agent = self.headers.get("User-Agent", GO_USER_AGENT).strip(" \t")
        if agent:
            out.insert(0, ("User-Agent", agent.encode("utf-8", "surrogateescape")))
        if not self.body and self.method not in ("GET", "HEAD"):
            out.append(("Content-Length", b"0"))
        # Go asks for gzip when neither is set; an empty value counts as not set.
        added_gzip = (not self.headers.get("Accept-Encoding") and not self.headers.get("Range")
                      and self.method != "HEAD")
        if added_gzip:
            out.append(("Accept-Encoding", b"gzip"))
        return out, added_gzip

    def _result(self, response: httpx.Response, added_gzip: bool) -> dict[str, Any]:
        try:
            headers = _go_response_headers(response)
            # Go un-gzips only a response that has a body (not 1xx, 204, 304, or length 0).
            status = response.status_code
            gunzip = (added_gzip and headers.get("Content-Encoding", "").lower() == "gzip"
                      and headers.get("Content-Length") != "0"
                      and status not in (204, 304) and not 100 <= status < 200)
            if gunzip:
                headers.pop("Content-Encoding", None)
                headers.pop("Content-Length", None)
            body = self._read_body(response, gunzip)
        finally:
            response.close()
        return {"statusCode": response.status_code, "headers": headers, "body": body}

    def _read_body(self, response: httpx.Response, gunzip: bool) -> bytes:
        """At most 10 MiB of the (un-gzipped) body, read before the deadline."""
        chunks: list[bytes] = []
        size = 0
        inflater = _Gunzip() if gunzip else None
        try:
            for raw in response.iter_raw():
                if time.monotonic() > self.deadline:
                    raise ServiceError(f"reading response body: {DEADLINE_EXCEEDED}")
                data = inflater.feed(raw, self.max_body - size + 1) if inflater else raw
                chunks.append(data)
                size += len(data)
                if size >= self.max_body:
                    break
            else:
                if inflater is not None:
                    inflater.finish()
        except httpx.TimeoutException:
            raise ServiceError(f"reading response body: {DEADLINE_EXCEEDED}") from None
        except httpx.RemoteProtocolError:  # the body ended before its length or last chunk
            raise ServiceError("reading response body: unexpected EOF") from None
        except httpx.HTTPError as e:
            raise ServiceError(f"reading response body: {_go_transport_error(e, None)}") from None
        except zlib.error as e:
            raise ServiceError(f"reading response body: {_Gunzip.go_error(e)}") from None
        return b"".join(chunks)[:self.max_body]

    def _error(self, text: str) -> ServiceError:
        """A Go ``*url.Error``: ``<Op> "<url>": <text>`` (password shown as ***)."""
        return ServiceError(f"{self.op} {go_quote(_redact(self.url))}: {text}")


class _Gunzip:
    """Go's ``gzip.Reader`` on a body: every member of a multi-member stream, a stream cut
    short is ``unexpected EOF``, a wrong CRC-32 or length ``gzip: invalid checksum``."""

    def __init__(self):
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._fed = False

    def feed(self, data: bytes, max_length: int) -> bytes:
        out = []
        while True:
            if self._inflater.eof:  # the next member
                self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            self._fed = self._fed or bool(data)
            out.append(self._inflater.decompress(data, max_length))
            if not self._inflater.eof or not self._inflater.unused_data:
                return b"".join(out)
            data = self._inflater.unused_data

    def finish(self) -> None:
        """The body ended: inside a member is Go's io.ErrUnexpectedEOF."""
        if self._fed and not self._inflater.eof:
            raise ServiceError("reading response body: unexpected EOF")

    @staticmethod
    def go_error(e: zlib.error) -> str:
        text = str(e)
        if "incorrect data check" in text or "incorrect length check" in text:
            return "gzip: invalid checksum"
        return "gzip: invalid header"


def _redirect_behavior(method: str, status: int) -> tuple[bool, str, bool]:
    """Go's redirectBehavior: (follow, next method, keep body)."""
    if status in (301, 302, 303):
        return True, method if method in ("GET", "HEAD") else "GET", False
    if status in (307, 308):
        return True, method, True
    return False, method, False


def _go_response_headers(response: httpx.Response) -> dict[str, str]:
    """First value per Go-canonical name, after the fix-ups of Go's response reader."""
    headers: dict[str, str] = {}
    connection: list[str] = []
    for name, value in response.headers.raw:
        key = canonical_header_key(name.decode("latin-1"))
        # invalid UTF-8 bytes stay lone surrogates: gojson writes each as \ufffd, as Go does
        headers.setdefault(key, value.decode("utf-8", "surrogateescape"))
        if key == "Connection":
            connection.append(value.decode("latin-1"))
    if "chunked" in headers.pop("Transfer-Encoding", "").lower():
        headers.pop("Content-Length", None)
    # Go's shouldClose: a "close" token in any Connection value removes the header (HTTP/1.1).
    if response.http_version == "HTTP/1.1" and any(
            token.strip().lower() == "close" for value in connection for token in value.split(",")):
        headers.pop("Connection")
    if headers.get("Pragma") == "no-cache" and "Cache-Control" not in headers:
        headers["Cache-Control"] = "no-cache"
    return headers


def _go_transport_error(exc: httpx.HTTPError, request: httpx.Request | None) -> str:
    """The text Go's transport would give for a failed exchange (approximate)."""
    if isinstance(exc, httpx.TimeoutException):
        return DEADLINE_EXCEEDED
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, OSError):
        cause = cause.__cause__ or cause.__context__
    if request is not None and isinstance(exc, httpx.ConnectError):
        host, port = request.url.host, request.url.port or (443 if request.url.scheme == "https"
                                                            else 80)
        if isinstance(cause, socket.gaierror):
            return f"dial tcp: lookup {host}: no such host"
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if isinstance(cause, OSError) and cause.errno in _ERRNO_TEXT:
            return f"dial tcp {address}: connect: {_ERRNO_TEXT[cause.errno]}"
    if isinstance(exc, httpx.RemoteProtocolError) and "without sending" in str(exc):
        return "EOF"
    if isinstance(cause, OSError) and cause.errno in _ERRNO_TEXT:
        return f"read tcp: {_ERRNO_TEXT[cause.errno]}"
    return str(exc) or type(exc).__name__


_ERRNO_TEXT = {errno.ECONNREFUSED: "connection refused", errno.ECONNRESET:
               "connection reset by peer", errno.ENETUNREACH: "network is unreachable",
               errno.EHOSTUNREACH: "no route to host", errno.ETIMEDOUT: "connection timed out",
               errno.EADDRNOTAVAIL: "cannot assign requested address"}


def _hostname_of(url: str) -> str:
    try:
        return extract_hostname(gourl.parse_url(url).host).lower()
    except gourl.URLError:
        return ""


def _same_domain_or_subdomain(sub: str, parent: str) -> bool:
    return sub == parent or sub.endswith("." + parent)


def _userinfo(url: str) -> str | None:
    """``user:password`` (percent-decoded) of a URL's userinfo, None without an ``@``."""
    _, sep, rest = url.partition("://")
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0] if sep else ""
    userinfo, at, _ = authority.rpartition("@")
    if not at:
        return None
    user, _, password = userinfo.partition(":")
    return f"{unquote(user)}:{unquote(password)}"


def _strip_userinfo(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    return f"{scheme}{sep}{authority.rpartition('@')[2]}{slash}{path}" if sep else url


def _redact(url: str) -> str:
    """Go's ``stripPassword``: ``user:***@host``."""
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    userinfo, at, hostport = authority.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url
    return f"{scheme}{sep}{userinfo.partition(':')[0]}:***@{hostport}{slash}{path}"
