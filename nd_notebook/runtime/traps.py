"""Why a call trapped, in the plugin author's terms: the Go panic, the trap, the exit code, or
the failed Extism host function, and the source line of the failing frame.

libextism reports a trap as ``error while executing at wasm backtrace: ...`` and keeps the
cause ("Caused by: wasm trap: integer divide by zero", "HTTP request to ... is not allowed")
in its log only; a Go program writes ``panic: ...`` and its goroutine trace (file:line) to
stderr before it traps. :func:`call_failed` reads the three (error text, the call's runtime
log lines, its stderr) and builds the exception: its message is
``plugin call failed: <reason>`` (Navidrome's form with the reason in place of the wasm
backtrace), the raw backtrace stays on ``.backtrace``.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import abi
from ..errors import PluginCallFailedError

if TYPE_CHECKING:
    from ..build.source import CellSource
    from .output import CallOutput

__all__ = ["Diagnosis", "backtrace_details", "call_failed", "diagnose", "remember_source",
           "source_for"]

#: How libextism's error text starts when the call trapped (as opposed to an ``error_set``).
TRAP_PREFIX = "error while executing at wasm backtrace:"
_DETAILS_ENV = "WASMTIME_BACKTRACE_DETAILS"
#: The build module's main file as a -trimpath'd Go build names it in traces.
GO_CELL_FILE = "ndplugin/plugin.go"

_GO_REASON = re.compile(r"^(panic: .*|fatal error: .*)$", re.MULTILINE)
# ``main.index()`` then ``<tab>ndplugin/plugin.go:26 +0x3`` (``fp=... sp=... pc=...`` may follow)
_GO_FRAME = re.compile(r"^(?P<func>\S.*)\n\t(?P<file>\S+?):(?P<line>\d+)(?: .*)?$", re.MULTILINE)
_CAUSE = re.compile(r"\nCaused by:\n(?P<cause>(?:    .*\n?)+)")
_CHAIN_INDEX = re.compile(r"^\d+: ")
_ENCOUNTERED = "encountered an error: "
# ``    4: 0x1b6715 - <unknown>!main.index`` (and, with DWARF details, ``at file:line:col``)
_WASM_FRAME = re.compile(r"^\s*\d+:\s+0x[0-9a-f]+ - (?:<unknown>!)?(?P<func>.+)$", re.MULTILINE)
_RUNTIME_FUNCS = ("runtime.", "syscall.", "os.", "internal/")
_WASM_AT = re.compile(r"^\s+at (?P<file>.+?):(?P<line>\d+)(?::\d+)?$", re.MULTILINE)


@dataclass(frozen=True)
class Diagnosis:
    """A trapped call explained: ``reason`` is one line, ``location`` where it happened."""

    reason: str
    location: str | None
    backtrace: str
    cause: str | None = None  # libextism's "Caused by" text
    exit_code: int | None = None


def call_failed(text: str, rc: int, out: CallOutput | None, *, export: str, plugin_id: str,
                source: CellSource | None = None, prefix: str = "") -> PluginCallFailedError:
    """The exception for a call whose instance reported error ``text`` (return code ``rc``);
    ``prefix`` goes before the reason (the Go SDK's, for a failed init)."""
    diag = diagnose(text, rc, out, source=source)
    if diag is None:  # the guest set this error itself: Navidrome's exact text
        err = PluginCallFailedError(abi.PLUGIN_CALL_FAILED % (prefix + text), export=export,
                                    code=rc)
    else:
        err = PluginCallFailedError(abi.PLUGIN_CALL_FAILED % (prefix + diag.reason),
                                    export=export, code=rc)
        err.reason, err.location, err.backtrace = diag.reason, diag.location, diag.backtrace
        err.exit_code = diag.exit_code
    err.plugin_id = plugin_id
    if out is not None:
        err.stderr = out.text("stderr")
    return err


def diagnose(text: str, rc: int, out: CallOutput | None, *,
             source: CellSource | None = None) -> Diagnosis | None:
    """Explain a trap; None when ``text`` is not libextism's trap report."""
    if not text.startswith(TRAP_PREFIX):
        return None
    backtrace = text
    stderr = out.text("stderr") if out is not None else ""
    cause = _cause(out)
    panic = _GO_REASON.search(stderr)
    exit_code = None
    if panic:
        reason = panic.group(1)
    elif cause:
        reason = cause
    elif rc not in (0, -1):  # proc_exit(rc) without a panic: libextism names no cause
        exit_code = rc
        reason = f"exit code {rc}"
    else:
        reason = text.splitlines()[0]
    location = _go_location(stderr, source) or _wasm_location(backtrace)
    return Diagnosis(reason, location, backtrace, cause, exit_code)


# -- DWARF line numbers ----------------------------------------------------------------------

@contextmanager
def backtrace_details(wasm: bytes) -> Iterator[None]:
    """Around compiling ``wasm``: when it carries DWARF line tables (C, Rust, TinyGo builds;
    standard Go writes none to wasm), have wasmtime read them, so trap backtraces name
    ``file:line`` (wasmtime reads ``WASMTIME_BACKTRACE_DETAILS`` when libextism builds its
    engine config). Compiling with them costs more, so other modules go without."""
    if _DETAILS_ENV in os.environ or ".debug_line" not in _custom_sections(wasm):
        yield
        return
    os.environ[_DETAILS_ENV] = "1"
    try:
        yield
    finally:
        os.environ.pop(_DETAILS_ENV, None)


def _custom_sections(wasm: bytes) -> set[str]:
    """Names of the module's custom sections (a malformed module has none we can read)."""
    names: set[str] = set()
    pos = 8
    try:
        while pos < len(wasm):
            section = wasm[pos]
            size, pos = _uleb(wasm, pos + 1)
            if section == 0:
                length, start = _uleb(wasm, pos)
                names.add(wasm[start:start + length].decode("utf-8", "replace"))
            pos += size
    except IndexError:
        pass
    return names


def _uleb(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


# -- cells the plugins were built from -------------------------------------------------------

_sources: dict[str, CellSource] = {}
_sources_lock = threading.Lock()


def remember_source(wasm: bytes, source: CellSource) -> None:
    """Map traces of ``wasm`` back to the notebook cell ``source`` describes."""
    with _sources_lock:
        _sources[hashlib.sha256(wasm).hexdigest()] = source


def source_for(wasm: bytes) -> CellSource | None:
    """The cell ``wasm`` was built from, when the magic built it in this process."""
    if not _sources:
        return None
    return _sources.get(hashlib.sha256(wasm).hexdigest())


# -- helpers ---------------------------------------------------------------------------------

def _cause(out: CallOutput | None) -> str | None:
    """The "Caused by" of libextism's "call to X encountered an error" log line, one line."""
    if out is None:
        return None
    for line in out.runtime_logs:
        if line.level != "error" or _ENCOUNTERED not in line.message:
            continue
        m = _CAUSE.search(line.message)
        if m:
            # A chain prints as "0: <context>", "1: <root cause>": the root cause first.
            parts = [_CHAIN_INDEX.sub("", p.strip()) for p in m.group("cause").splitlines()
                     if p.strip()]
            root, context = parts[-1], parts[:-1]
            return f"{root} ({'; '.join(context)})" if context else root
    return None


def _go_location(stderr: str, source: CellSource | None) -> str | None:
    """The first frame of the goroutine trace outside Go's runtime, preferring the cell's file."""
    trace = stderr.split("goroutine ", 1)
    if len(trace) < 2:
        return None
    frames = [m for m in _GO_FRAME.finditer(trace[1])
              if not m.group("file").startswith(("runtime/", "internal/"))]
    if not frames:
        return None
    frame = next((m for m in frames if m.group("file") == GO_CELL_FILE), frames[0])
    func, file, line = frame.group("func"), frame.group("file"), int(frame.group("line"))
    func = re.sub(r"\([^()]*\)$", "", func)
    if file == GO_CELL_FILE and source is not None:
        user = source.cell_line(line)
        where = (f"{source.label} line {user}" if user is not None
                 else source.generated_part(line))
        return f"{where}, in {func} ({file}:{line})"
    return f"{file}:{line}, in {func}"


def _wasm_location(backtrace: str) -> str | None:
    """The innermost wasm frame (with its DWARF file:line when wasmtime printed one)."""
    frames = list(_WASM_FRAME.finditer(backtrace))
    if not frames:
        return None
    # The innermost frame outside a language runtime's exit/abort path (os.Exit, panics).
    m = next((f for f in frames if not f.group("func").startswith(_RUNTIME_FUNCS)), frames[0])
    at = _WASM_AT.match(backtrace, m.end() + 1)
    if at:
        return f"{at.group('file')}:{at.group('line')}, in {m.group('func')}"
    return f"wasm function {m.group('func')}"
