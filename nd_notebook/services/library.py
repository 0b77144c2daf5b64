"""Library host service (``library_getlibrary``, ``library_getalllibraries``).

Scope (spec 2.3): a library is visible when the admin enabled "all libraries" or its ID is in
the plugin's libraries list. ``path`` (the host folder) and ``mountPoint`` (``/libraries/<id>``,
where the runtime mounts it) are only filled with the ``library.filesystem`` permission option.
``lastScanAt`` is Unix seconds; a never-scanned library reports Go's zero time (-62135596800).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from ..errors import ServiceError
from ..library import to_unix

if TYPE_CHECKING:
    from ..context import PluginContext

NOT_ACCESSIBLE = "library not accessible: library ID {id} is not in the allowed list"
NOT_FOUND = "library not found: {err}"
DATASTORE_NOT_FOUND = "data not found"  # Navidrome's model.ErrNotFound text


class LibraryService:
    """Navidrome's LibraryService over ``ctx.host.library``."""

    # Where this emulation knowingly differs from Navidrome (shown in docs/abi.md).
    DEVIATIONS: ClassVar[dict[str, str]] = {
        "get_all_libraries": ("filesystem mounts use Extism allowed_paths (seed), not HEAD's jailed mounts: "
                              "symlink rules of spec 7 differ"),
    }

    def __init__(self, ctx: PluginContext):
        self._ctx = ctx
        options = ctx.permission("library") or {}
        self._filesystem = options.get("filesystem") is True

    def get_library(self, id: int) -> dict:
        """One library, if the plugin may see it (scope is checked before existence)."""
        if not self._allowed(id):
            raise ServiceError(NOT_ACCESSIBLE.format(id=id))
        row = self._ctx.host.library.library(id)
        if row is None:
            raise ServiceError(NOT_FOUND.format(err=DATASTORE_NOT_FOUND))
        return self._public(row)

    def get_all_libraries(self) -> list[dict] | None:
        """Every visible library in datastore order (by id); ``None`` when there is none."""
        return [self._public(r) for r in self._ctx.host.library.libraries()
                if self._allowed(r["id"])] or None

    def _allowed(self, library_id: int) -> bool:
        settings = self._ctx.settings
        return settings.all_libraries or library_id in settings.libraries

    def _public(self, row: dict) -> dict:
        out = {"id": row["id"], "name": row["name"], "lastScanAt": to_unix(row["last_scan_at"]),
               "totalSongs": row["total_songs"], "totalAlbums": row["total_albums"],
               "totalArtists": row["total_artists"], "totalSize": row["total_size"],
               "totalDuration": float(row["total_duration"] or 0)}
        if self._filesystem:
            out["path"] = row["path"]
            out["mountPoint"] = f"/libraries/{row['id']}"
        return out

    def close(self) -> None:
        """Nothing to release."""
