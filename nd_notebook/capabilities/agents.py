"""Navidrome's agents chain over MetadataAgent plugins (``core/agents/agents.go``, HEAD).

For each question the enabled agents are asked in the configured order (Navidrome's
``Agents`` setting, here ``host.agents_order``); the first agent giving a usable answer wins
(a non-empty string or list; for album info any answer). An agent that does not implement the
export, answers "not found" or fails is skipped: errors are only logged by Navidrome, and
recorded here in ``chain.last_attempts`` (an error holding ``agent(retry_later[:N])`` as
outcome ``retry_later`` with its ``retry_in`` seconds). When nobody answers, Navidrome returns
``agents.ErrNotFound``; the chain returns None.

Also as in Navidrome: the Unknown Artist id is not found without asking anyone, the Various
Artists id gets an empty answer, ``[Unknown Album]`` is not found, and similar artists and top
songs ask each agent for ``limit x 1.5`` items (``DevExternalArtistFetchMultiplier``).
Not emulated: the built-in agents (``local``, ``lastfm``...), which Navidrome always appends
``local`` to, and the per-agent cool-down of newer versions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import PluginCallError
from .codec import Call
from .errors import AgentNotFound, AgentRetryLater
from .metadata import MetadataAgent

VARIOUS_ARTISTS = "Various Artists"
UNKNOWN_ARTIST = "[Unknown Artist]"
UNKNOWN_ALBUM = "[Unknown Album]"
VARIOUS_ARTISTS_ID = hashlib.md5(VARIOUS_ARTISTS.lower().encode()).hexdigest()
UNKNOWN_ARTIST_ID = hashlib.md5(UNKNOWN_ARTIST.lower().encode()).hexdigest()
FETCH_MULTIPLIER = 1.5  # conf.Server.DevExternalArtistFetchMultiplier default


@dataclass(frozen=True)
class AgentPlugin:
    """A loaded MetadataAgent plugin as the chain sees it."""

    id: str
    call: Call


class AgentsChain:
    """``chain.artist_biography(name="Björk")``: ask the agents in order, first answer wins."""

    def __init__(self, plugins: Iterable[AgentPlugin], order: list[str] | None = None):
        plugins = list(plugins)
        by_id = {p.id: p for p in plugins}
        names = list(order) if order is not None else [p.id for p in plugins]
        # Unknown names are ignored, as Navidrome does ("Unknown agent ignored").
        self.agents = [MetadataAgent(n, by_id[n].call) for n in names if n in by_id]
        self.last_attempts: list[dict[str, Any]] = []

    @property
    def order(self) -> list[str]:
        return [a.name for a in self.agents]

    def __repr__(self) -> str:
        return f"<AgentsChain {self.order}>"

    # -- artists -----------------------------------------------------------------------
    def artist_mbid(self, id: str = "", name: str = "") -> str | None:
        return self._artist(id, "", lambda a: a.artist_mbid(id, name))

    def artist_url(self, id: str = "", name: str = "", mbid: str = "") -> str | None:
        return self._artist(id, "", lambda a: a.artist_url(id, name, mbid))

    def artist_biography(self, id: str = "", name: str = "", mbid: str = "") -> str | None:
        return self._artist(id, "", lambda a: a.artist_biography(id, name, mbid))

    def similar_artists(self, id: str = "", name: str = "", mbid: str = "",
                        limit: int = 100) -> list[dict] | None:
        over = int(limit * FETCH_MULTIPLIER)
        return self._artist(id, None, lambda a: a.similar_artists(id, name, mbid, over))

    def artist_images(self, id: str = "", name: str = "", mbid: str = "") -> list[dict] | None:
        return self._artist(id, None, lambda a: a.artist_images(id, name, mbid))

    def artist_top_songs(self, id: str = "", name: str = "", mbid: str = "",
                         count: int = 50) -> list[dict] | None:
        over = int(count * FETCH_MULTIPLIER)
        return self._artist(id, None, lambda a: a.artist_top_songs(id, name, mbid, over))

    def similar_songs_by_artist(self, id: str = "", name: str = "", mbid: str = "",
                                count: int = 50) -> list[dict] | None:
        return self._artist(id, None,
                            lambda a: a.similar_songs_by_artist(id, name, mbid, count))

    # -- albums and tracks -------------------------------------------------------------
    def album_info(self, name: str = "", artist: str = "", mbid: str = "") -> dict | None:
        if name == UNKNOWN_ALBUM:
            return self._nobody()
        return self._ask(lambda a: a.album_info(name, artist, mbid))

    def album_images(self, name: str = "", artist: str = "", mbid: str = "") -> list | None:
        if name == UNKNOWN_ALBUM:
            return self._nobody()
        return self._ask(lambda a: a.album_images(name, artist, mbid))

    def similar_songs_by_track(self, id: str = "", name: str = "", artist: str = "",
                               mbid: str = "", count: int = 50) -> list[dict] | None:
        return self._ask(lambda a: a.similar_songs_by_track(id, name, artist, mbid, count))

    def similar_songs_by_album(self, id: str = "", name: str = "", artist: str = "",
                               mbid: str = "", count: int = 50) -> list[dict] | None:
        return self._ask(lambda a: a.similar_songs_by_album(id, name, artist, mbid, count))

    # -- the chain ---------------------------------------------------------------------
    def _artist(self, artist_id: str, various: Any, ask: Callable[[MetadataAgent], Any]):
        if artist_id == UNKNOWN_ARTIST_ID:
            return self._nobody()
        if artist_id == VARIOUS_ARTISTS_ID:
            self.last_attempts = []
            return various
        return self._ask(ask)

    def _nobody(self) -> None:
        self.last_attempts = []

    def _ask(self, ask: Callable[[MetadataAgent], Any]):
        attempts: list[dict[str, Any]] = []
        self.last_attempts = attempts
        for agent in self.agents:
            try:
                value = ask(agent)
            except AgentNotFound as e:
                attempts.append({"agent": agent.name, "outcome": "not_found",
                                 "error": None if e.cause is None else str(e.cause)})
                continue
            except AgentRetryLater as e:
                attempts.append({"agent": agent.name, "outcome": "retry_later", "error": str(e),
                                 "retry_in": e.retry_in})
                continue
            except PluginCallError as e:
                attempts.append({"agent": agent.name, "outcome": "error", "error": str(e)})
                continue
            attempts.append({"agent": agent.name, "outcome": "found", "error": None})
            return value
        return None
