"""What Navidrome's host-side adapters turn plugin outcomes into.

A metadata agent's "nothing here, ask the next agent" is ``AgentNotFound`` (Navidrome's
``agents.ErrNotFound``, text ``not found``). A scrobbler error is mapped by substring of the
plugin's error text to one of three ``ScrobblerError`` classes whose texts are Navidrome's
``scrobbler.ErrNotAuthorized`` / ``ErrRetryLater`` / ``ErrUnrecoverable``.
"""

from __future__ import annotations

import re

from ..errors import NDError, PluginCallError

NOT_FOUND = "not found"  # agents.ErrNotFound
RETRY_LATER_MAX = 3600  # seconds: Navidrome caps a requested delay at one hour
# agent(retry_later) or agent(retry_later:<seconds>), not inside a longer word
_RETRY_LATER = re.compile(r"(?<![0-9A-Za-z_])agent\(retry_later(?::([0-9]+))?\)")


class AgentNotFound(NDError):
    """``not found``: this agent has no answer; Navidrome's chain asks the next one."""

    def __init__(self, message: str = NOT_FOUND, *, agent: str = "", export: str = "",
                 cause: BaseException | None = None):
        super().__init__(message)
        self.agent = agent
        self.export = export
        self.cause = cause


class AgentRetryLater(PluginCallError):
    """A metadata agent failed asking to be retried later: its error holds the token
    ``agent(retry_later)`` or ``agent(retry_later:<seconds>)`` (Navidrome's
    ``agents.ErrRetryLater``). ``str(err)`` is the plugin's error; ``retry_in`` the delay it
    asked for in seconds (0 for none; at most an hour); ``cause`` the original exception."""

    def __init__(self, cause: PluginCallError, retry_in: int, *, agent: str = ""):
        super().__init__(str(cause), export=cause.export, code=cause.code)
        self.cause = cause
        self.retry_in = retry_in
        self.agent = agent


def retry_later_seconds(message: str) -> int | None:
    """The delay an agent's error asks for with ``agent(retry_later[:N])``, else None."""
    m = _RETRY_LATER.search(message)
    if m is None:
        return None
    return min(int(m.group(1)), RETRY_LATER_MAX) if m.group(1) else 0


class ScrobblerError(PluginCallError):
    """A scrobbler export failed; ``kind`` says how Navidrome handles it.

    ``str(err)`` is Navidrome's mapped text; ``cause`` is the plugin's own error text.
    """

    kind = "unrecoverable"
    text = "unrecoverable"

    def __init__(self, cause: str = "", *, export: str = "", code: int | None = None):
        super().__init__(self.text, export=export, code=code)
        self.cause = cause


class ScrobblerNotAuthorized(ScrobblerError):
    """``scrobbler(not_authorized)`` in the plugin's error: the user must re-authorize."""

    kind = "not_authorized"
    text = "not authorized"


class ScrobblerRetryLater(ScrobblerError):
    """``scrobbler(retry_later)``: Navidrome keeps the scrobble buffered and retries it."""

    kind = "retry_later"
    text = "retry later"


class ScrobblerUnrecoverable(ScrobblerError):
    """``scrobbler(unrecoverable)`` or any other error: the scrobble is dropped."""

    kind = "unrecoverable"
    text = "unrecoverable"


# Substring of the plugin's error text -> mapped class, in Navidrome's matching order.
SCROBBLER_ERRORS: tuple[tuple[str, type[ScrobblerError]], ...] = (
    ("scrobbler(not_authorized)", ScrobblerNotAuthorized),
    ("scrobbler(retry_later)", ScrobblerRetryLater),
    ("scrobbler(unrecoverable)", ScrobblerUnrecoverable),
)


def map_scrobbler_error(err: BaseException) -> ScrobblerError:
    """Navidrome's ``mapScrobblerError``: match the error text by substring; else unrecoverable."""
    text = str(err)
    cls: type[ScrobblerError] = ScrobblerUnrecoverable
    for marker, candidate in SCROBBLER_ERRORS:
        if marker in text:
            cls = candidate
            break
    mapped = cls(text, export=getattr(err, "export", ""), code=getattr(err, "code", None))
    mapped.__cause__ = err
    return mapped
