"""What Navidrome's host-side adapters turn plugin outcomes into.

A metadata agent's "nothing here, ask the next agent" is ``AgentNotFound`` (Navidrome's
``agents.ErrNotFound``, text ``not found``). A scrobbler error is mapped by substring of the
plugin's error text to one of three ``ScrobblerError`` classes whose texts are Navidrome's
``scrobbler.ErrNotAuthorized`` / ``ErrRetryLater`` / ``ErrUnrecoverable``.
"""

from __future__ import annotations

from ..errors import NDError, PluginCallError

NOT_FOUND = "not found"  # agents.ErrNotFound


class AgentNotFound(NDError):
    """``not found``: this agent has no answer; Navidrome's chain asks the next one."""

    def __init__(self, message: str = NOT_FOUND, *, agent: str = "", export: str = "",
                 cause: BaseException | None = None):
        super().__init__(message)
        self.agent = agent
        self.export = export
        self.cause = cause


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
