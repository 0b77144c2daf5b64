"""Storage host service (``storage_getstoragepath``, HEAD).

The runtime creates ``<data_dir>/plugins/<id>/storage`` at load (mode 0700) and mounts it
read-write at the guest path ``/storage`` (Extism ``allowed_paths``); plugins then use plain
WASI file I/O. Each plugin id has its own folder; paths cannot leave the mount (the WASI
sandbox refuses ``..`` and absolute paths outside it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..context import PluginContext

GUEST_PATH = "/storage"


class StorageService:
    """Navidrome's StorageService: only tells the plugin where its folder is mounted."""

    def __init__(self, ctx: PluginContext):
        self.host_path = ctx.data_dir / "storage"

    def get_storage_path(self) -> str:
        """The constant guest path of the plugin's storage folder."""
        return GUEST_PATH

    def close(self) -> None:
        """Nothing to release (files stay, as in Navidrome)."""
