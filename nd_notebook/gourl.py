"""Go's ``net/url`` parsing, as far as the host services need it (``http_send``,
``websocket_connect``): the scheme and host Go's ``url.Parse`` finds, and its error texts
(``parse "<url>": missing protocol scheme``, ``invalid port ":x" after host``...), which
Navidrome passes on to plugins. Python's urllib accepts much that Go refuses, hence this.
"""

from __future__ import annotations

import string
from typing import NamedTuple

from .gojson import go_quote


class URLError(ValueError):
    """A Go ``*url.Error`` from ``url.Parse``: ``parse "<url>": <reason>``."""


TOKEN = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~")
_HOST_OK = frozenset(string.ascii_letters + string.digits + "!$&'()*+,;=:[]<>\"-_.~")
_USERINFO_OK = frozenset(string.ascii_letters + string.digits + "-._:~!$&'()*+,;=%@")
_HEX = frozenset(string.hexdigits)


class GoURL(NamedTuple):
    """The parts of a ``*url.URL`` the services read."""

    scheme: str  # lower-cased
    host: str  # host[:port], as written (brackets kept)
    path: str  # percent-decoded; "" for an opaque URL such as "http:example.com"
    raw_query: str  # after the first "?", undecoded


def parse_url(raw: str) -> GoURL:
    """``raw`` as Go's ``url.Parse`` sees it; ``URLError`` with Go's text otherwise."""
    url, _, fragment = raw.partition("#")
    try:
        parsed = _parse(url)
    except ValueError as e:
        raise URLError(f"parse {go_quote(url)}: {e}") from None
    try:
        _unescape(fragment, host_mode=False)
    except ValueError as e:
        raise URLError(f"parse {go_quote(raw)}: {e}") from None
    return parsed


def _parse(url: str) -> GoURL:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise ValueError("net/url: invalid control character in URL")
    scheme, rest = "", url
    for i, c in enumerate(url):
        if c.isascii() and c.isalpha():
            continue
        if c == ":" and i == 0:
            raise ValueError("missing protocol scheme")
        if c == ":":
            scheme, rest = url[:i].lower(), url[i + 1:]
        elif c in "0123456789+-." and i > 0:
            continue
        break
    rest, _, raw_query = rest.partition("?")
    host = ""
    if not rest.startswith("/"):
        if scheme:
            return GoURL(scheme, "", "", raw_query)  # opaque: "http:example.com" has no host
        if ":" in rest.partition("/")[0]:
            raise ValueError("first path segment in URL cannot contain colon")
    if (scheme or not rest.startswith("///")) and rest.startswith("//"):
        authority, slash, path = rest[2:].partition("/")
        rest = slash + path
        userinfo, at, hostport = authority.rpartition("@")
        host = _parse_host(hostport)
        if at:
            if any(c not in _USERINFO_OK for c in userinfo):
                raise ValueError("net/url: invalid userinfo")
            _unescape(userinfo, host_mode=False)
    return GoURL(scheme, host, _unescape(rest, host_mode=False), raw_query)


def _parse_host(host: str) -> str:
    if host.startswith("["):
        end = host.rfind("]")
        if end < 0:
            raise ValueError("missing ']' in host")
        port = host[end + 1:]
    else:
        colon = host.rfind(":")
        port = host[colon:] if colon >= 0 else ""
    if port and (port[0] != ":" or not all(c.isdigit() and c.isascii() for c in port[1:])):
        raise ValueError(f"invalid port {go_quote(port)} after host")
    return _unescape(host, host_mode=True)


def parse_query(raw_query: str) -> dict[str, list[str]]:
    """Go's ``URL.Query()``: ``&``-separated pairs, ``+`` read as a space; a pair holding a
    ``;`` or a bad ``%`` escape is dropped (``url.ParseQuery`` reports it, ``Query()`` does not),
    as are empty pairs."""
    values: dict[str, list[str]] = {}
    for pair in raw_query.split("&"):
        if not pair or ";" in pair:
            continue
        key, _, value = pair.partition("=")
        try:
            key = _unescape(key.replace("+", " "), host_mode=False)
            value = _unescape(value.replace("+", " "), host_mode=False)
        except ValueError:
            continue
        values.setdefault(_valid(key), []).append(_valid(value))
    return values


def _valid(text: str) -> str:
    """A Go string's bytes as Python text (invalid UTF-8 as U+FFFD, as Go prints it)."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _unescape(text: str, host_mode: bool) -> str:
    """Go's ``unescape`` check: ``%`` needs two hex digits; in a host, only ASCII characters
    a host may hold (and ``%XX`` of a non-ASCII byte or ``%25``)."""
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c == "%":
            code = text[i:i + 3]
            if len(code) < 3 or code[1] not in _HEX or code[2] not in _HEX or (
                    host_mode and int(code[1], 16) < 8 and code != "%25"):
                raise ValueError(f"invalid URL escape {go_quote(code)}")
            out.append(int(code[1:], 16))
            i += 3
            continue
        if host_mode and c.isascii() and c not in _HOST_OK:
            raise ValueError(f"invalid character {go_quote(c)} in host name")
        out += c.encode("utf-8", "surrogateescape")
        i += 1
    return out.decode("utf-8", "surrogateescape")


def split_host_port_host(hostport: str) -> str | None:
    """The host part of Go's ``net.SplitHostPort``, or None when it reports an error."""
    colon = hostport.rfind(":")
    if colon < 0:
        return None
    start, after = 0, 0
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0 or end + 1 != colon:
            return None
        host, start, after = hostport[1:end], 1, end + 1
    else:
        host = hostport[:colon]
        if ":" in host:
            return None
    if "[" in hostport[start:] or "]" in hostport[after:]:
        return None
    return host


def hostname(host: str) -> str:
    """Go's ``URL.Hostname()`` of a URL's host: without a valid optional port (``:`` and
    digits), then without the brackets of an IPv6 literal."""
    name, colon, port = host.rpartition(":")
    if colon and (port == "" or port.isascii() and port.isdigit()):
        host = name
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host
