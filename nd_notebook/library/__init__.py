"""The mock music library: Navidrome's tables in SQLite, generated, empty or a real navidrome.db.

Its own room: services read it, it imports no service and nothing of the runtime.

    from nd_notebook.library import MusicLibrary
    lib = MusicLibrary.generate("navidrome.db", seed=0)      # 2 libraries, 50 artists, ...
    lib.users(), lib.tracks(album_id=...), lib.scrobbles(user_id, from_ts=...)
    lib.add_user("zoe", name="Zoë"), lib.record_play(user_id, track_id, time=...)
    lib.materialize(folder)                                  # real tagged audio files
"""

from __future__ import annotations

from ..errors import LibraryError
from .changes import datetime_text
from .generate import EPOCH
from .musiclibrary import GO_ZERO_UNIX, MusicLibrary, to_unix
from .schema import REQUIRED_TABLES

__all__ = ["EPOCH", "GO_ZERO_UNIX", "REQUIRED_TABLES", "LibraryError", "MusicLibrary",
           "datetime_text", "to_unix"]
