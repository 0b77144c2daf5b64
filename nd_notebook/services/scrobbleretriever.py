"""ScrobbleRetriever host service (``scrobbleretriever_*``, HEAD; requires ``users``).

Rules (spec 2.3):
- the username is looked up case-insensitively and must be in the plugin's user scope; errors
  carry the ``scrobbleRetriever: `` prefix (texts shared with the Matcher service);
- ranges are inclusive Unix seconds (``fromTimestamp``/``toTimestamp``, each optional);
- ``maxItems`` < 1 or > 5000 means 5000; order is ``(submission_time, id)`` ascending, or
  descending with ``descending``;
- pagination: ``maxItems + 1`` rows are fetched; when the extra row exists, ``next`` is the input
  options (``maxItems`` as clamped) with ``fromTimestamp`` (ascending) or ``toTimestamp``
  (descending) set to that row's timestamp and ``offset`` = how many rows of this page share it
  (plus the incoming offset when the whole page shares it); no ``next`` on the last page;
- first/last timestamps are ``None`` without scrobbles (a timestamp 0 is still a value).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ServiceError
from ..gojson import go_quote

if TYPE_CHECKING:
    from ..context import PluginContext

PREFIX = "scrobbleRetriever: "
NO_USER_SCOPE = "plugin is not authorized to scope by user"
USER_NOT_FOUND = "user {u} not found"  # {u}: the name as Go's %q writes it
USER_NOT_ALLOWED = "plugin is not allowed to act as user {u}"
MAX_ITEMS = 5000


class ScrobbleRetrieverService:
    """Navidrome's ScrobbleRetrieverService over the library's ``scrobbles`` table."""

    def __init__(self, ctx: PluginContext):
        self._ctx = ctx

    def get_first_timestamp(self, username: str) -> int | None:
        """Submission time of the user's oldest scrobble, ``None`` when there is none."""
        rows = self._library().scrobbles(self._user_id(username), limit=1)
        return rows[0]["submission_time"] if rows else None

    def get_last_timestamp(self, username: str) -> int | None:
        """Submission time of the user's newest scrobble, ``None`` when there is none."""
        rows = self._library().scrobbles(self._user_id(username), descending=True, limit=1)
        return rows[0]["submission_time"] if rows else None

    def get_scrobbles(self, username: str, options: dict) -> tuple[list[dict] | None, dict | None]:
        """One page of scrobbles and the options of the next page (``None`` when done)."""
        user_id = self._user_id(username)
        options = dict(options or {})
        descending = bool(options.get("descending"))
        limit = options.get("maxItems") or 0
        if limit < 1 or limit > MAX_ITEMS:
            limit = MAX_ITEMS
        options["maxItems"] = limit  # Navidrome clamps the options it then advances as next
        offset = max(options.get("offset") or 0, 0)
        rows = self._library().scrobbles(user_id, from_ts=options.get("fromTimestamp"),
                                         to_ts=options.get("toTimestamp"),
                                         descending=descending, limit=limit + 1, offset=offset)
        page, extra = rows[:limit], rows[limit:]
        scrobbles = [{"id": r["id"], "mediaFileId": r["media_file_id"],
                      "submissionTime": r["submission_time"]} for r in page] or None
        if not extra:
            return scrobbles, None
        boundary = extra[0]["submission_time"]
        sharing = sum(1 for r in page if r["submission_time"] == boundary)
        if sharing == len(page):
            sharing += offset
        nxt: dict[str, Any] = dict(options)
        nxt["toTimestamp" if descending else "fromTimestamp"] = boundary
        nxt["offset"] = sharing
        return scrobbles, nxt

    def get_scrobble_count(self, username: str, options: dict) -> int:
        """How many scrobbles the user has in the inclusive range."""
        user_id = self._user_id(username)
        options = options or {}
        return self._library().scrobble_count(user_id, options.get("fromTimestamp"),
                                              options.get("toTimestamp"))

    def _library(self):
        return self._ctx.host.library

    def _user_id(self, username: str) -> str:
        """The ID of ``username`` if the plugin may act as that user (Navidrome's texts)."""
        settings = self._ctx.settings
        if not settings.all_users and not settings.users:
            raise ServiceError(PREFIX + NO_USER_SCOPE)
        user = self._library().user_by_name(username)
        if user is None:
            raise ServiceError(PREFIX + USER_NOT_FOUND.format(u=go_quote(username)))
        if not settings.all_users and user["id"] not in settings.users:
            raise ServiceError(PREFIX + USER_NOT_ALLOWED.format(u=go_quote(username)))
        return user["id"]

    def close(self) -> None:
        """Nothing to release."""
