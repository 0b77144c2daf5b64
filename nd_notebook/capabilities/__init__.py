"""Navidrome's host-side capability adapters: how Navidrome calls a plugin's ``nd_*`` exports
and what it makes of the answers.

This room sits below the runtime: it never imports it. It is handed a ``call(export, request)``
callable returning the export's raw output bytes (raising ``nd_notebook.errors.PluginCallError``
subclasses with Navidrome's texts) and returns plain Python data.

- ``typed_call``: what the typed helpers ``plugin.<package>.<helper>(...)`` return (``typed``).
- ``metadata``: the MetadataAgent adapter and its not-found rules (``AgentNotFound``);
  ``agents``: Navidrome's agents chain over several agent plugins (``host.agents``).
- ``scrobbler``: user gating, authorization and the scrobbler error mapping
  (``ScrobblerNotAuthorized``, ``ScrobblerRetryLater``, ``ScrobblerUnrecoverable``);
  ``play``: ``host.play`` (now playing + scrobble to every scrobbler plugin).
- ``lyrics`` (+ ``ttml``): Navidrome's lyrics parsing (TTML, SRT, Lyricsfile YAML, LRC, plain).
- ``callbacks``: Lifecycle, Scheduler, TaskWorker, WebSocket, SonicSimilarity.
"""

from __future__ import annotations

from .codec import decode_output, invoke, no_output_error, request
from .errors import (
    AgentNotFound,
    AgentRetryLater,
    ScrobblerError,
    ScrobblerNotAuthorized,
    ScrobblerRetryLater,
    ScrobblerUnrecoverable,
    map_scrobbler_error,
)
from .lyrics import parse_lyrics
from .typed import typed_call

__all__ = [
    "AgentNotFound",
    "AgentRetryLater",
    "ScrobblerError",
    "ScrobblerNotAuthorized",
    "ScrobblerRetryLater",
    "ScrobblerUnrecoverable",
    "decode_output",
    "invoke",
    "map_scrobbler_error",
    "no_output_error",
    "parse_lyrics",
    "request",
    "typed_call",
]
