"""Fault injection: make chosen host functions fail, slow down or time out.

``host.faults.add("http_send", error="timeout", times=2)`` makes the next two ``http_send``
calls answer ``{"error": "Get \\"<url>\\": context deadline exceeded"}`` instead of reaching
the service, so an author can test a plugin's retry logic. None of Navidrome's hosts has
this; it is nd-notebook's own (docs/faults.md).

The adapter asks ``Faults.inject`` after decoding a request and before calling the service.
Every matching rule counts the call; each rule that fires is recorded as a
``fault_injected`` event; delays of the rules that fire add up and the first error wins.
Probabilities draw from a ``random.Random`` seeded per Host (``seed``, default 0), so in
virtual time the same run injects the same faults. A delay sleeps in real time; in virtual
time it does not block and does not move the clock (time only moves in ``run_*``): it is
recorded in the event (``waited=False``).
"""

from __future__ import annotations

import difflib
import fnmatch
import random
import threading
import time
from typing import Any

FAULT_INJECTED = "fault_injected"  # event kind
TIMEOUT = "timeout"  # error="timeout": the text the real service gives on a timeout
DEADLINE_EXCEEDED = "context deadline exceeded"  # Go's context.DeadlineExceeded


def _known_functions() -> set[str]:
    from .. import abi

    return {row.import_name for row in abi.HOST_FUNCTIONS} | {"http_request"}


class FaultRule:
    """One rule: which calls it hits (function pattern, plugin, after, times, probability) and
    what it does (error text and/or delay in seconds). ``remove()`` takes it off its Host."""

    def __init__(self, owner: Faults, number: int, function: str, *, error: str | None,
                 delay: float, times: int | None, probability: float, plugin: str | None,
                 after: int):
        self._owner = owner
        self.number = number
        self.function = function
        self.error = error
        self.delay = delay
        self.times = times
        self.probability = probability
        self.plugin = plugin
        self.after = after
        self.seen = 0  # matching calls so far
        self.injected = 0  # calls it fired on

    @property
    def active(self) -> bool:
        """False once ``times`` faults have been injected."""
        return self.times is None or self.injected < self.times

    def matches(self, plugin_id: str, function: str) -> bool:
        return ((self.plugin is None or self.plugin == plugin_id)
                and fnmatch.fnmatchcase(function, self.function))

    def remove(self) -> None:
        self._owner.remove(self)

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.number, "function": self.function, "plugin": self.plugin,
                "error": self.error, "delay": self.delay, "times": self.times,
                "probability": self.probability, "after": self.after, "seen": self.seen,
                "injected": self.injected, "active": self.active}

    def __repr__(self) -> str:
        what = [f"error={self.error!r}"] if self.error is not None else []
        what += [f"delay={self.delay:g}s"] if self.delay else []
        when = [f"plugin={self.plugin!r}"] if self.plugin is not None else []
        when += [f"after={self.after}"] if self.after else []
        when += [f"times={self.times}"] if self.times is not None else []
        when += [f"probability={self.probability:g}"] if self.probability < 1 else []
        return (f"<FaultRule #{self.number} {self.function} {' '.join(what + when)}: "
                f"{self.injected} injected of {self.seen} calls"
                f"{'' if self.active else ', used up'}>")


class Faults:
    """The fault rules of one Host (``host.faults``)."""

    def __init__(self, clock, events, seed: int = 0):
        self._clock = clock
        self._events = events
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._numbers = 0
        self.seed(seed)

    def add(self, function: str, *, error: str | None = None, delay: float = 0.0,
            times: int | None = None, probability: float = 1.0, plugin: str | None = None,
            after: int = 0) -> FaultRule:
        """A rule for the host function(s) ``function`` (an import name such as ``"http_send"``
        or a pattern such as ``"kvstore_*"``).

        ``error``: the in-band error text, or ``"timeout"`` for the text the real service
        gives on a timeout. ``delay``: seconds before answering (or before the real call when
        there is no ``error``). ``times``: at most that many injections. ``after``: let that
        many matching calls through first. ``probability``: chance that a matching call is hit.
        ``plugin``: only calls from that plugin id.
        """
        if not isinstance(function, str) or not function:
            raise ValueError("function must be a host function name such as 'http_send'")
        known = _known_functions()
        if not any(fnmatch.fnmatchcase(name, function) for name in known):
            close = difflib.get_close_matches(function, sorted(known), n=3)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            raise ValueError(f"no host function is named {function!r} (a Navidrome host "
                             f"function's import name such as 'kvstore_get', Extism's "
                             f"'http_request', or a pattern of them such as 'kvstore_*'){hint}")
        if isinstance(delay, bool) or not isinstance(delay, (int, float)):
            raise TypeError(f"delay must be a number of seconds, not {delay!r}")
        if error is None and not delay:
            raise ValueError("a fault rule needs an error, a delay, or both")
        if error is not None and not isinstance(error, str):
            raise TypeError(f"error must be a string (or 'timeout'), not {type(error).__name__}")
        if delay < 0:
            raise ValueError(f"delay must be >= 0 seconds, not {delay!r}")
        if times is not None and times < 1:
            raise ValueError(f"times must be >= 1 (or None for no limit), not {times!r}")
        if not 0 <= probability <= 1:
            raise ValueError(f"probability must be between 0 and 1, not {probability!r}")
        if after < 0:
            raise ValueError(f"after must be >= 0, not {after!r}")
        with self._lock:
            self._numbers += 1
            rule = FaultRule(self, self._numbers, function, error=error, delay=float(delay),
                             times=times, probability=float(probability), plugin=plugin,
                             after=int(after))
            self._rules.append(rule)
        return rule

    def remove(self, rule: FaultRule) -> None:
        with self._lock:
            if rule in self._rules:
                self._rules.remove(rule)

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    def seed(self, seed: int) -> None:
        """Restart the random draws of ``probability`` rules from ``seed``."""
        with self._lock:
            self._random = random.Random(seed)

    def inject(self, plugin_id: str, function: str, request: Any) -> str | None:
        """Apply the rules to one call: sleep for the delays, return the error text to answer
        with, or None to let the call reach the service."""
        fired: list[FaultRule] = []
        with self._lock:
            for rule in self._rules:
                if not rule.matches(plugin_id, function):
                    continue
                rule.seen += 1
                if rule.seen <= rule.after or not rule.active:
                    continue
                if rule.probability < 1 and self._random.random() >= rule.probability:
                    continue
                rule.injected += 1
                fired.append(rule)
        if not fired:
            return None
        delay = sum(r.delay for r in fired)
        waited = bool(delay) and not self._clock.is_virtual
        error = next((r.error for r in fired if r.error is not None), None)
        text = None if error is None else _error_text(error, function, request)
        for rule in fired:
            self._events.emit(FAULT_INJECTED, plugin_id, function=function, rule=rule.number,
                              error=_error_text(rule.error, function, request)
                              if rule.error is not None else None,
                              delay=rule.delay, waited=waited)
        if waited:
            time.sleep(delay)
        return text

    # -- views -------------------------------------------------------------------------------
    @property
    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def __iter__(self):
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def frame(self):
        """The rules as a DataFrame (one row each, with their counters)."""
        import pandas as pd

        return pd.DataFrame([r.as_dict() for r in self.rules],
                            columns=["rule", "function", "plugin", "error", "delay", "times",
                                     "probability", "after", "seen", "injected", "active"])

    def __repr__(self) -> str:
        rules = self.rules
        if not rules:
            return "<Faults: no rules>"
        return "\n".join([f"<Faults: {len(rules)} rule{'s' if len(rules) > 1 else ''}>"]
                         + [f"  {r!r}" for r in rules])

    def _repr_html_(self) -> str:
        if not self.rules:
            return "<i>no fault rules</i>"
        return self.frame().to_html(index=False)


def _error_text(error: str, function: str, request: Any) -> str:
    """``error`` as is, or for ``"timeout"`` the text the service gives on a timeout."""
    if error != TIMEOUT:
        return error
    if function in ("http_send", "http_request"):  # Extism's built-in: runtime/builtin_http.py
        req = request.get("request") if isinstance(request, dict) else None
        req = req if isinstance(req, dict) else {}
        method = str(req.get("method") or "").upper() or "GET"
        url = str(req.get("url") or "")
        from ..gojson import go_quote
        from ..services.http import _redact  # the password is shown as ***, as Go does

        # Go's url.Error: Op is the method as urlErrorOp spells it ("Get", "Post"...)
        return f"{method[:1]}{method[1:].lower()} {go_quote(_redact(url))}: {DEADLINE_EXCEEDED}"
    return DEADLINE_EXCEEDED
