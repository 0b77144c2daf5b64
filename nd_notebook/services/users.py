"""Users host service (``users_getusers``, ``users_getadmins``).

Scope (spec 2.3): every user when the admin enabled "all users", otherwise the users whose ID
is in the plugin's users list. Order: the datastore's ``GetAll()`` order, which has no sort
option: its query groups by ``user.id`` and SQLite reads the groups by id, so users come in id
order (``MusicLibrary.users()``).
Only ``userName``, ``name`` and ``isAdmin`` leave the host (never ids, emails or passwords).
An empty result is ``None`` (the ``result`` field is then absent).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..context import PluginContext


class UsersService:
    """Navidrome's UsersService over ``ctx.host.library``."""

    def __init__(self, ctx: PluginContext):
        self._ctx = ctx

    def get_users(self) -> list[dict] | None:
        """Users visible to the plugin."""
        return [_public(u) for u in self._visible()] or None

    def get_admins(self) -> list[dict] | None:
        """Admin users visible to the plugin."""
        return [_public(u) for u in self._visible() if u["is_admin"]] or None

    def _visible(self) -> list[dict]:
        settings = self._ctx.settings
        users = self._ctx.host.library.users()
        if settings.all_users:
            return users
        allowed = set(settings.users)
        return [u for u in users if u["id"] in allowed]

    def close(self) -> None:
        """Nothing to release."""


def _public(user: dict) -> dict:
    return {"userName": user["user_name"], "name": user["name"], "isAdmin": bool(user["is_admin"])}
