"""``plugin.fuzz(export)``: call an export with generated requests, keep the failures, shrink them.

Each example is one call on a fresh instance (as Navidrome makes every call). A call fails when:

=================  ==============================================================================
``panic``          the Go program panicked (``panic: ...`` / ``fatal error: ...`` on its stderr)
``trap``           any other wasm trap (unreachable, out-of-bounds access, exit code...)
``timeout``        the call ran past the Host's ``timeout_ms`` (Navidrome: 30 s)
``invalid output`` the output does not decode into the export's Go response type with
                   ``encoding/json`` rules (the message is the Go decode error Navidrome logs)
``error``          the plugin returned an error (``plugin call failed: <its text>``, or a
                   non-zero exit code); counted only with ``errors=True``, since declining a
                   request is legitimate (a metadata agent's "not found")
=================  ==============================================================================

``function not implemented`` (-2) is never a failure. The calls run on a worker thread, so
the plugin's output (hundreds of panics) goes to ``host.logs()``, not under the notebook cell. hypothesis shrinks every distinct
failure (kind and location, or kind and message with numbers and quoted parts ignored) to a
minimal request; the frame has one row per distinct failure.
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any

from .. import abi
from ..capabilities.codec import decode_output
from ..errors import (
    ExitCodeError,
    FunctionNotFoundError,
    FuzzInterrupted,
    NotImplementedByPluginError,
    PluginCallError,
)
from ..runtime import interrupt

__all__ = ["COLUMNS", "FuzzFailure", "fuzz"]

COLUMNS = ["export", "kind", "message", "location", "input"]
_TIMEOUT_MARKERS = ("timeout", "deadline exceeded", "interrupt")


class FuzzFailure(AssertionError):
    """One failing call; hypothesis tells failures apart by exception class, so each distinct
    failure gets its own subclass (``_failure_class``)."""

    def __init__(self, kind: str, message: str, location: str | None, request: Any):
        super().__init__(f"{kind}: {message}")
        self.kind, self.message, self.location, self.request = kind, message, location, request


def fuzz(plugin, export: str, *, examples: int = 200, seed: int = 0, errors: bool = False,
         navidrome: Any = None):
    """The failures of ``export`` over ``examples`` requests (a DataFrame, ``COLUMNS``).

    ``navidrome``: the version whose requests to send (default: the plugin's Host's).
    """
    import pandas as pd
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    from hypothesis import seed as hypothesis_seed

    from .strategies import requests

    if export not in plugin.info.exported_functions:
        raise ValueError(f"plugin {plugin.id!r} does not export {export}")
    if export not in _CAPABILITY_EXPORTS:
        raise ValueError(f"{export} is not a Navidrome capability export: fuzz sends the "
                         f"requests Navidrome sends, so it needs one of "
                         f"{_listed(set(plugin.info.exported_functions) & _CAPABILITY_EXPORTS)}")
    if not isinstance(examples, int) or examples < 1:
        raise ValueError(f"examples must be a whole number of at least 1, not {examples!r}")
    row = abi.export(export)
    target = navidrome or getattr(plugin.host, "navidrome", None) or "head"

    stop = threading.Event()  # a kernel interrupt: no call after it
    calls = [0]

    def check(request: dict) -> None:
        if stop.is_set():
            raise _Stopped
        calls[0] += 1
        failure = _run(plugin, row, request, errors)
        if failure is not None:
            raise _failure_class(failure[0], failure[2] or _signature(failure[1]))(
                *failure, request)

    @hypothesis_seed(seed)
    @settings(max_examples=examples, database=None, deadline=None, derandomize=False,
              report_multiple_bugs=True, verbosity=Verbosity.quiet,
              phases=(Phase.explicit, Phase.generate, Phase.shrink),
              suppress_health_check=list(HealthCheck))
    @given(requests(export, navidrome=target))
    def run(request):
        check(request)

    # On a worker thread: the hundreds of panics stay in host.logs() instead of being shown
    # under the notebook cell one by one (nd_notebook.cellout shows the cell thread's only).
    outcome: list[BaseException] = []

    def work() -> None:
        try:
            with interrupt.cancellable_thread():
                run()
        except BaseException as e:  # noqa: BLE001 - handed to the calling thread
            outcome.append(e)

    worker = threading.Thread(target=work, name=f"nd-notebook-fuzz-{export}", daemon=True)
    storage = _HypothesisStorage()
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.1)  # (a join without a timeout would not see a kernel interrupt)
    except KeyboardInterrupt:
        stop.set()
        while worker.is_alive():  # its running call is cancelled, no new one starts
            interrupt.cancel_thread(worker)
            worker.join(0.05)
        raise FuzzInterrupted(
            f"fuzz of {export} (plugin {plugin.id!r}) interrupted after {calls[0]} calls by a "
            "kernel interrupt (KeyboardInterrupt); the Host and the plugin stay usable",
            calls=calls[0]) from None
    finally:
        storage.restore()
    found = _collect(outcome[0]) if outcome else []
    if outcome and not found:
        raise outcome[0]
    rows = [{"export": export, "kind": f.kind, "message": f.message, "location": f.location,
             "input": f.request} for f in found]
    rows.sort(key=lambda r: (r["kind"], r["message"]))
    return pd.DataFrame(rows, columns=COLUMNS)


class _HypothesisStorage:
    """While a fuzz runs, hypothesis keeps what it stores (its ``constants`` and
    ``unicode_data`` caches; fuzz keeps no example database) under nd-notebook's cache folder,
    not in a ``.hypothesis`` folder of the current directory, unless the user has chosen a
    place for it (``HYPOTHESIS_STORAGE_DIRECTORY``, ``set_hypothesis_home_dir``)."""

    def __init__(self):
        from hypothesis import configuration

        from ..paths import cache_dir

        self._configuration = configuration
        chosen = getattr(configuration, "__hypothesis_home_directory", None)
        self._ours = chosen is None and not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY")
        if self._ours:
            configuration.set_hypothesis_home_dir(cache_dir() / "hypothesis")

    def restore(self) -> None:
        if self._ours:
            self._configuration.set_hypothesis_home_dir(None)


def _listed(names: set[str]) -> str:
    return ", ".join(sorted(names)) or "them (this plugin has none)"


class _Stopped(BaseException):
    """Raised into hypothesis's run once the fuzz is interrupted (not a failure it shrinks)."""


_CAPABILITY_EXPORTS = frozenset(e.name for e in abi.EXPORTS)


def _run(plugin, row: abi.Export, request: dict, errors: bool):
    """``(kind, message, location)`` of a failing call, or None."""
    try:
        out = plugin.call(row.name, request, raw=True)
    except (NotImplementedByPluginError, FunctionNotFoundError):
        return None
    except PluginCallError as e:
        kind = classify(e)
        if kind == "error" and not errors:
            return None
        return kind, str(e), getattr(e, "location", None)
    try:
        decode_output(row, out)
    except PluginCallError as e:
        return "invalid output", str(e), None
    return None


def classify(error: PluginCallError) -> str:
    """The fuzz kind of a failed call: panic, trap, timeout or error."""
    reason = getattr(error, "reason", None)
    text = str(error).lower()
    if reason and reason.startswith(("panic: ", "fatal error: ")):
        return "panic"
    if any(m in text for m in _TIMEOUT_MARKERS) and not isinstance(error, ExitCodeError):
        return "timeout"
    if getattr(error, "backtrace", None):
        return "trap"
    return "error"


_classes: dict[tuple[str, str], type[FuzzFailure]] = {}


def _failure_class(kind: str, signature: str) -> type[FuzzFailure]:
    key = (kind, signature)
    if key not in _classes:
        name = "FuzzFailure_" + re.sub(r"\W+", "_", kind)
        _classes[key] = type(name, (FuzzFailure,), {"__module__": __name__})
    return _classes[key]


def _signature(message: str) -> str:
    """A message with the parts that vary with the input (numbers, quoted text) blanked."""
    message = re.sub(r'"(?:[^"\\]|\\.)*"', '""', message)
    return re.sub(r"\d+", "N", message)


def _collect(error: BaseException) -> list[FuzzFailure]:
    """Our failures inside what hypothesis raised (one, or an exception group of several)."""
    if isinstance(error, FuzzFailure):
        return [error]
    out: list[FuzzFailure] = []
    for inner in getattr(error, "exceptions", ()) or ():
        out.extend(_collect(inner))
    return out
