"""Go's ``regexp`` for the patterns of a plugin's config schema.

Navidrome compiles a config schema's ``pattern`` / ``patternProperties`` / ``format: regex``
with Go's regexp, whose syntax is RE2's: ``\\p{L}`` is a letter, ``\\d`` only 0-9, ``$`` only the
end of the text (not before a final newline), and lookarounds or backreferences do not compile.
Python's ``re`` differs on each, so patterns go through RE2 (the ``google-re2`` package)
instead. RE2's ``\\C`` (any byte) is the one escape Go refuses that RE2 takes.
"""

from __future__ import annotations

import functools
import re

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print every refused pattern on stderr
_ANY_BYTE = re.compile(r"(?:^|[^\\])(?:\\\\)*\\C")


class GoRegexError(ValueError):
    """A pattern Go's regexp would not compile."""


@functools.lru_cache(maxsize=512)
def compile(pattern: str):
    """The compiled pattern; :class:`GoRegexError` when Go's regexp refuses it."""
    if _ANY_BYTE.search(pattern):
        raise GoRegexError(f"invalid escape sequence: `\\C` in {pattern!r}")
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as e:
        message = e.args[0] if e.args else str(e)
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        raise GoRegexError(f"{message} in {pattern!r}") from None


def search(pattern: str, text: str) -> bool:
    """Whether ``pattern`` matches anywhere in ``text`` (``regexp.MatchString``)."""
    return compile(pattern).search(text) is not None
