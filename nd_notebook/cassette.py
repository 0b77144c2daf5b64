"""Record and replay the HTTP exchanges plugins make through ``http_send`` and Extism's
built-in ``http_request`` (``pdk.NewHTTPRequest``, served by runtime/builtin_http.py).

    with host.recording("lastfm.json"):       # real network (or a local server), recorded
        plugin.metadata.artist_biography(name="Björk")

    host = Host(cassette="lastfm.json")        # the same requests answered from the file
    plugin = host.load(...)                    # no network is contacted

Replay matches a request by method, URL and body (``match="request"``, the default: identical
requests replay in the order they were recorded, then the last one repeats), or strictly by
position (``match="order"``: the n-th request gets the n-th recording and must be the same
request). Query-string and form-body parameters named in ``ignore_params`` (or in the file's
``"ignoreParams"`` list) are left out of the comparison: a timestamp or nonce a plugin adds to
each request (``&t=<time.Now()>``) would otherwise never match. A request the cassette cannot
answer is the in-band error ``UNMATCHED`` naming the
request and the cassette (for ``http_request``: the call fails with it, as the Go SDK's panic
fails it). Transport errors (refused connection, timeout...) are recorded and replayed as the
same error text.

Secrets never reach the file: the headers in ``SECRET_HEADERS`` (or whose name contains one of
``SECRET_HEADER_PARTS``) and the query-string / form-body parameters in ``SECRET_PARAMS`` have
their values replaced by ``REDACTED``, in requests and responses alike. Replay applies the same
redaction to the live request before matching, so a plugin configured with a real key matches
a cassette recorded with another.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote_plus, urlsplit, urlunsplit

from .errors import ServiceError

__all__ = ["REDACTED", "SECRET_HEADERS", "SECRET_HEADER_PARTS", "SECRET_PARAMS",
           "SUBSONIC_SECRET_PARAMS", "UNMATCHED",
           "Cassette", "redact_headers", "redact_query", "redact_url", "through"]

REDACTED = "REDACTED"
#: Header names (case-insensitive) whose values are always redacted.
SECRET_HEADERS = frozenset({
    "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key",
    "apikey", "x-auth-token", "x-access-token", "x-csrf-token", "x-amz-security-token",
})
#: A header whose lower-cased name contains one of these is redacted too.
SECRET_HEADER_PARTS = ("auth", "token", "secret", "api-key", "apikey", "password", "session",
                       "signature")
#: Query-string and form-body parameter names (case-insensitive) whose values are redacted:
#: API keys and tokens of common web APIs, Last.fm's session key and signature, and the
#: Subsonic API's ``p`` (password), ``t`` (token) and ``s`` (salt).
SECRET_PARAMS = frozenset({
    "api_key", "apikey", "api-key", "key", "token", "access_token", "refresh_token", "auth",
    "client_secret", "secret", "password", "passwd", "pass", "sk", "api_sig", "sig",
    "signature",
})
#: The Subsonic API's password, token and salt: redacted only in a query that also names the
#: user (``u``), as every Subsonic request does, so that a search API's ``s=<words>`` stays.
SUBSONIC_SECRET_PARAMS = frozenset({"p", "t", "s"})
#: The in-band error of a request the cassette has no answer for.
UNMATCHED = "nd-notebook cassette %s: no recorded response for %s"
FORMAT_VERSION = 1


class Cassette:
    """A list of recorded ``http_send`` exchanges, being recorded or replayed."""

    def __init__(self, path: str | os.PathLike, *, mode: str, match: str = "request",
                 interactions: list[dict[str, Any]] | None = None,
                 ignore_params: Iterable[str] = ()):
        if mode not in ("record", "replay"):
            raise ValueError(f"mode must be 'record' or 'replay', not {mode!r}")
        if match not in ("request", "order"):
            raise ValueError(f"match must be 'request' or 'order', not {match!r}")
        self.path = Path(path)
        self.mode = mode
        self.match = match
        if isinstance(ignore_params, str):
            raise TypeError("ignore_params must be a list of parameter names, not a string")
        #: Query-string / form-body parameter names left out when requests are compared.
        self.ignore_params: tuple[str, ...] = tuple(dict.fromkeys(ignore_params))
        self.interactions: list[dict[str, Any]] = list(interactions or [])
        self._keys: list[tuple[str, str, bytes]] | None = None  # of the recordings, at replay
        self._used: set[int] = set()
        self._position = 0
        self._lock = threading.Lock()

    @classmethod
    def replaying(cls, path: str | os.PathLike | Cassette, *, match: str = "request",
                  ignore_params: Iterable[str] = ()) -> Cassette:
        """The cassette at ``path`` ready to answer requests (``FileNotFoundError`` if absent).
        ``ignore_params`` adds to the parameter names the file lists in ``"ignoreParams"``."""
        if isinstance(path, Cassette):
            return cls(path.path, mode="replay", match=path.match,
                       interactions=path.interactions,
                       ignore_params=(*path.ignore_params, *ignore_params))
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or not isinstance(doc.get("interactions"), list):
            raise ValueError(  # noqa: TRY004 - a bad file, not a bad argument type
                f"{path}: not an nd-notebook cassette (no 'interactions' list)")
        listed = doc.get("ignoreParams", [])
        if not isinstance(listed, list) or not all(isinstance(n, str) for n in listed):
            raise ValueError(f"{path}: 'ignoreParams' must be a list of parameter names")
        return cls(path, mode="replay", match=match, interactions=doc["interactions"],
                   ignore_params=(*listed, *ignore_params))

    @property
    def replays(self) -> bool:
        return self.mode == "replay"

    def __len__(self) -> int:
        return len(self.interactions)

    def __repr__(self) -> str:
        return f"<Cassette {self.path.name}: {self.mode}, {len(self)} interactions>"

    # -- recording ------------------------------------------------------------------------
    def record(self, plugin_id: str, request: dict[str, Any], response: dict[str, Any] | None,
               error: str | None = None) -> None:
        """Append one exchange (secrets redacted) and rewrite the file."""
        entry: dict[str, Any] = {"plugin": plugin_id, "request": _request_doc(request)}
        if error is not None:
            entry["error"] = _redact_text(error)
        else:
            assert response is not None
            entry["response"] = {"statusCode": response.get("statusCode", 0),
                                 "headers": redact_headers(response.get("headers") or {}),
                                 **_body_doc(bytes(response.get("body") or b""))}
            if "lowerHeaders" in response:  # Extism's http_request: every value, joined
                entry["response"]["lowerHeaders"] = redact_headers(response["lowerHeaders"])
        with self._lock:
            self.interactions.append(entry)
            self.save()

    def save(self) -> Path:
        """Write the cassette file (pretty JSON, stable order)."""
        doc: dict[str, Any] = {"version": FORMAT_VERSION, "redacted": REDACTED}
        if self.ignore_params:
            doc["ignoreParams"] = list(self.ignore_params)
        doc["interactions"] = self.interactions
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(self.path)
        return self.path

    # -- replaying ------------------------------------------------------------------------
    def replay(self, request: dict[str, Any]) -> dict[str, Any]:
        """The recorded answer to ``request`` (HTTPRequest JSON names): an HTTPResponse dict,
        or the recorded/unmatched error raised as ``ServiceError`` (in-band for the plugin)."""
        doc = _request_doc(request)
        key = _key(doc, self.ignore_params)
        with self._lock:
            index = self._find(key)
            if index is None:
                raise ServiceError(UNMATCHED % (self.path.name, _describe(_key(doc))))
            self._used.add(index)
            self._position += 1
            entry = self.interactions[index]
        if "error" in entry:
            raise ServiceError(entry["error"])
        response = entry["response"]
        answer = {"statusCode": response.get("statusCode", 0),
                  "headers": dict(response.get("headers") or {}), "body": _body_of(response)}
        if "lowerHeaders" in response:
            answer["lowerHeaders"] = dict(response["lowerHeaders"])
        return answer

    def _find(self, key: tuple) -> int | None:
        if self._keys is None:  # a replaying cassette's recordings do not change
            self._keys = [_key(e["request"], self.ignore_params) for e in self.interactions]
        if self.match == "order":
            i = self._position
            return i if i < len(self._keys) and self._keys[i] == key else None
        same = [i for i, k in enumerate(self._keys) if k == key]
        fresh = [i for i in same if i not in self._used]
        return fresh[0] if fresh else (same[-1] if same else None)


def through(cassette: Cassette | None, plugin_id: str, request: dict[str, Any], send):
    """One HTTP exchange as the Host's cassette has it: answered by a replaying cassette, else
    ``send()`` (raising ``ServiceError`` on failure), recorded by a recording one."""
    if cassette is None:
        return send()
    if cassette.replays:
        return cassette.replay(request)
    try:
        response = send()
    except ServiceError as e:
        cassette.record(plugin_id, request, None, error=str(e))
        raise
    cassette.record(plugin_id, request, response)
    return response


# -- redaction -------------------------------------------------------------------------------

def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    """``headers`` with secret values replaced by ``REDACTED``."""
    return {k: (REDACTED if _secret_header(k) else v) for k, v in headers.items()}


def redact_url(url: str) -> str:
    """``url`` with secret query parameters and a userinfo password replaced by ``REDACTED``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.partition(':')[0]}:{REDACTED}@{hostport}"
    path = _TELEGRAM_TOKEN.sub(r"\1" + REDACTED, parts.path)
    query = redact_query(parts.query)
    if (netloc, path, query) == (parts.netloc, parts.path, parts.query):
        return url  # byte for byte: urlunsplit would drop an empty "?" or "#"
    rebuilt = urlunsplit((parts.scheme, netloc, path, query, ""))
    before_fragment, hash_mark, _ = url.partition("#")
    if not query and before_fragment.endswith("?"):
        rebuilt += "?"
    return rebuilt + (hash_mark + parts.fragment if hash_mark else "")


#: A Telegram bot token in a Bot API path (``/bot<id>:<secret>/sendMessage``).
_TELEGRAM_TOKEN = re.compile(r"(/bot)\d+:[A-Za-z0-9_-]{20,}(?=/|$)")


def redact_query(query: str) -> str:
    """A query string (or form body) with the values of ``SECRET_PARAMS`` redacted; the other
    parameters are kept byte for byte."""
    if not query:
        return query
    pairs = [(pair, *pair.partition("=")) for pair in query.split("&")]
    names = {unquote_plus(name).lower() for _, name, _, _ in pairs}
    secret = SECRET_PARAMS | SUBSONIC_SECRET_PARAMS if "u" in names else SECRET_PARAMS
    return "&".join(f"{name}={quote(REDACTED)}" if eq and unquote_plus(name).lower() in secret
                    else pair for pair, name, eq, _ in pairs)


def _secret_header(name: str) -> bool:
    lower = name.lower()
    return lower in SECRET_HEADERS or any(part in lower for part in SECRET_HEADER_PARTS)


def _redact_text(text: str) -> str:
    """An error text quoting the URL (``Get "<url>": ...``) with the URL's secrets redacted."""
    head, quote_mark, rest = text.partition('"')
    url, end, tail = rest.partition('"')
    if quote_mark and end and "://" in url:
        return f'{head}"{redact_url(url)}"{tail}'
    return text


def _request_doc(request: dict[str, Any]) -> dict[str, Any]:
    """The request as the cassette stores it: method as Go sends it, secrets redacted."""
    headers = dict(request.get("headers") or {})
    body = bytes(request.get("body") or b"")
    if body and "x-www-form-urlencoded" in _header(headers, "Content-Type").lower():
        try:
            body = redact_query(body.decode("utf-8")).encode("utf-8")
        except UnicodeDecodeError:
            pass
    doc: dict[str, Any] = {"method": (request.get("method") or "").upper() or "GET",
                           "url": redact_url(request.get("url") or ""),
                           "headers": redact_headers(headers), **_body_doc(body)}
    if request.get("noFollowRedirects"):
        doc["noFollowRedirects"] = True
    return doc


def _header(headers: dict[str, str], name: str) -> str:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), "")


def _body_doc(body: bytes) -> dict[str, str]:
    """``{"body": text}`` for UTF-8 bodies, ``{"bodyBase64": ...}`` otherwise, {} when empty."""
    if not body:
        return {}
    try:
        return {"body": body.decode("utf-8")}
    except UnicodeDecodeError:
        return {"bodyBase64": base64.b64encode(body).decode("ascii")}


def _body_of(doc: dict[str, Any]) -> bytes:
    if "bodyBase64" in doc:
        return base64.b64decode(doc["bodyBase64"])
    return str(doc.get("body", "")).encode("utf-8")


def _key(doc: dict[str, Any], ignore: tuple[str, ...] = ()) -> tuple[str, str, bytes]:
    body = _body_of(doc)
    url = doc.get("url") or ""
    if ignore:
        url = _without_params(url, ignore)
        if body and "x-www-form-urlencoded" in _header(doc.get("headers") or {},
                                                       "Content-Type").lower():
            body = _drop_params(body.decode("utf-8", "surrogateescape"),
                                ignore).encode("utf-8", "surrogateescape")
    # A multipart body's boundary is random per request (Go's mime/multipart): compared
    # without it, so an upload replays.
    boundary = _BOUNDARY.search(_header(doc.get("headers") or {}, "Content-Type"))
    if body and boundary:
        body = body.replace(boundary.group(1).strip('"').encode("utf-8", "replace"),
                            b"BOUNDARY")
    return (doc.get("method") or "GET", url, body)


def _without_params(url: str, ignore: tuple[str, ...]) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    return urlunsplit(parts._replace(query=_drop_params(parts.query, ignore)))


def _drop_params(query: str, ignore: tuple[str, ...]) -> str:
    """``query`` without the ``name=value`` pairs whose (decoded) name is in ``ignore``."""
    if not query:
        return query
    return "&".join(pair for pair in query.split("&")
                    if unquote_plus(pair.partition("=")[0]) not in ignore)


_BOUNDARY = re.compile(r'^\s*multipart/[^;]*;.*?\bboundary=("[^"]+"|[^;\s]+)', re.IGNORECASE)


def _describe(key: tuple[str, str, bytes]) -> str:
    method, url, body = key
    return f"{method} {url}" + (f" with a {len(body)}-byte body" if body else "")
