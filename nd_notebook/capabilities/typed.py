"""``typed_call``: one export called and read the way Navidrome's adapter for it reads it.

What ``plugin.<package>.<helper>(...)`` returns, per capability:

====================  ===========================================================================
MetadataAgent         the response struct as a dict (every field, zero values filled), or None
                      when Navidrome would say "not found" (see ``metadata``)
Scrobbler             ``is_authorized``: bool (a failed call is False); the others: None, or a
                      ``ScrobblerNotAuthorized``/``RetryLater``/``Unrecoverable`` error;
                      ``playback_report`` ignores a missing/not-implemented export
Lifecycle, Scheduler  None (errors raise)
TaskWorker            the status message (str)
WebSocket             None (a missing callback is ignored)
Lyrics                the parsed lyrics list (see ``lyrics``)
SonicSimilarity       the list of ``{song, similarity}`` matches
====================  ===========================================================================
"""

from __future__ import annotations

from typing import Any

from .. import abi
from . import callbacks, lyrics, metadata, scrobbler
from .codec import Call, invoke


def typed_call(export: str, call: Call, req: dict[str, Any] | None = None) -> Any:
    """Call ``export`` with an encoded request (``codec.request``); plain Python data back."""
    cap = abi.capability_of_export(export).name
    if cap == "MetadataAgent":
        return metadata.fetch_or_none(call, export, req)
    if export == "nd_scrobbler_is_authorized":
        return scrobbler.is_authorized(call, req or {})
    if cap == "Scrobbler":
        return scrobbler.send(call, export, req or {})
    if cap == "WebSocket":
        return callbacks.websocket_callback(call, export, req or {})
    if cap == "Lyrics":
        return lyrics.parse_response(invoke(call, export, req))
    if cap == "SonicSimilarity":
        return callbacks.sonic_matches(call, export, req or {})
    return invoke(call, export, req)  # Lifecycle, Scheduler: None; TaskWorker: str
