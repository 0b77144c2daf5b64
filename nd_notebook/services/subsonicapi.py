"""SubsonicAPI host service (``subsonicapi_call``, ``subsonicapi_callraw``).

Rules (spec 6.4, Navidrome's ``plugins/host_subsonicapi.go``):
- the uri is parsed as Go's ``url.Parse`` would (failure: ``invalid URL format: parse "<uri>":
  <reason>``); only the last path segment (``path.Base``) and the query are used;
- ``u`` is mandatory (``missing required parameter 'u' (username)``);
- unless the plugin may act for all users: an empty user list gives ``no users configured for
  plugin <id>``, an unknown user ``username <u> not found``, a user whose ID is not listed
  ``user <u> is not authorized for this plugin``;
- the host sets ``c=<plugin id>`` and ``v=1.16.1``, and ``f=json`` for ``call`` only;
- ``call`` returns the body as text, ``callraw`` the content type and the bytes; a Subsonic-level
  failure is still a success of the host call.
The request is answered by ``host.subsonic_responder(path, query)`` when a test set one, else by
the built-in ``SubsonicResponder`` over ``host.library``.
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import quote, urlencode

from .. import gourl
from ..errors import ServiceError
from ..library.subsonic import API_VERSION, SubsonicResponder
from .artwork import image_url

if TYPE_CHECKING:
    from ..context import PluginContext

MISSING_USERNAME = "missing required parameter 'u' (username)"


class SubsonicAPIService:
    """Navidrome's SubsonicAPIService for one plugin."""

    # Where this emulation knowingly differs from Navidrome (shown in docs/abi.md).
    DEVIATIONS: ClassVar[dict[str, str]] = {
        "call": ("the responder covers the endpoints tutorials and tests use (issue 6 list) "
                 "the playlist writes (createPlaylist, updatePlaylist, deletePlaylist) and "
                 "internet radio stations; "
                 "others answer Subsonic error 0; OpenSubsonic fields are a subset"),
    }

    def __init__(self, ctx: PluginContext):
        self.ctx = ctx

    def call(self, uri: str) -> str:
        _, body = self._execute(uri, as_json=True)
        # Each byte that is not UTF-8 stays a lone surrogate, which Navidrome's JSON encoder
        # (gojson) writes as one \ufffd per byte.
        return body.decode("utf-8", "surrogateescape")

    def call_raw(self, uri: str) -> tuple[str, bytes]:
        return self._execute(uri, as_json=False)

    def close(self) -> None:
        pass

    # -- helpers ---------------------------------------------------------------------------
    def _execute(self, uri: str, *, as_json: bool) -> tuple[str, bytes]:
        path, raw_query = parse_go_url(uri)
        query = gourl.parse_query(raw_query)
        username = (query.get("u") or [""])[0]
        if not username:
            raise ServiceError(MISSING_USERNAME)
        self._authorize(username)
        query["c"] = [self.ctx.plugin_id]
        query["v"] = [API_VERSION]
        if as_json:
            query["f"] = ["json"]
        endpoint = "/" + go_path_base(path)
        host = self.ctx.host
        custom = getattr(host, "subsonic_responder", None)
        if custom is not None:
            flat = {k: v[0] if len(v) == 1 else list(v) for k, v in sorted(query.items())}
            content_type, body = custom(endpoint, flat)
            return content_type or "", body.encode() if isinstance(body, str) else bytes(body)
        def images(art: str, size: int) -> str:  # the plugin's request has no scheme or host
            return image_url(host, art, size, in_request=True)

        real = getattr(host, "subsonic_report_real_path", False)  # True, False or plugin ids
        responder = SubsonicResponder(
            host.library, clock=self.ctx.clock.now, image_url=images,
            report_real_path=real if isinstance(real, bool) else self.ctx.plugin_id in real)
        encoded = urlencode(sorted(query.items()), doseq=True, quote_via=quote)
        return responder.handle(f"{endpoint}?{encoded}", username)

    def _authorize(self, username: str) -> None:
        settings = self.ctx.settings
        if settings.all_users:
            return
        if not settings.users:
            raise ServiceError(f"no users configured for plugin {self.ctx.plugin_id}")
        user = self.ctx.host.library.user_by_name(username)
        if user is None:
            raise ServiceError(f"username {username} not found")
        if user["id"] not in settings.users:
            raise ServiceError(f"user {username} is not authorized for this plugin")


def parse_go_url(uri: str) -> tuple[str, str]:
    """``(path, raw query)`` of a uri, or Navidrome's ``invalid URL format: parse ...``."""
    try:
        url = gourl.parse_url(uri)
    except gourl.URLError as e:
        raise ServiceError(f"invalid URL format: {e}") from None
    return url.path, url.raw_query


def go_path_base(path: str) -> str:
    """Go's ``path.Base`` of a (decoded) URL path."""
    if path == "":
        return "."
    path = path.rstrip("/")
    return posixpath.basename(path) if path else "/"
