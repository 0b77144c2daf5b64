"""What a plugin says while it runs, captured per call: its log lines and its WASI stdout/stderr.

Two process-wide facilities of libextism are turned into per-call records here:

- **Logs.** libextism has one global log sink (``extism_log_custom`` + ``extism_log_drain``).
  It is installed once, at every level for guest lines (``pdk.Log`` at trace level passes
  go-pdk's ``get_log_level`` check) and at error level for the runtime's own lines, which
  carry the cause of a trap ("Caused by: ..."). Every line of a call names the Extism
  instance (``plugin="<uuid>"``), so each call registers its instance id and takes exactly
  its own lines when it ends, whatever thread ran it.
- **Stdio.** libextism discards the guest's WASI stdout/stderr unless
  ``EXTISM_ENABLE_WASI_OUTPUT`` is set, in which case it writes to the process's fds 1 and 2.
  While calls run, fds 1 and 2 point at two append-only temporary files; what lands there
  between two call boundaries belongs to the calls then running (the innermost call of each
  thread). With one call at a time this is exact; calls running at the same moment on several
  threads each receive what was written while they overlapped. What the process itself writes
  to fds 1/2 during a call (``print`` in a script; not ``sys.stdout`` in Jupyter, which is no
  fd) is counted as that call's output too. Nothing is lost: at each call boundary the text
  is also passed on to the real fds 1/2 (late by at most the call's length), except while
  plugin output is shown under notebook cells (``nd_notebook.cellout``), where the cell shows
  it instead.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from extism_sys import ffi as _ffi
from extism_sys import lib as _lib

from .. import events
from ..cellout import showing_under_cells
from .processwide import ProcessWide

__all__ = ["CallOutput", "LogLine", "capture_call", "emit_output", "instance_id", "wrote_stdio"]

# Set before the first instance is created: libextism reads it for each new instance.
os.environ.setdefault("EXTISM_ENABLE_WASI_OUTPUT", "1")

#: libextism's log filter (tracing EnvFilter syntax): every guest line, runtime errors.
LOG_FILTER = "error,extism::pdk=trace"

GUEST_TARGET = "extism::pdk"
# ``2026-11-30T12:25:17.799407Z  INFO extism::pdk: an info line plugin="<uuid>"``
_LINE = re.compile(r"^\S+\s+(?P<level>TRACE|DEBUG|INFO|WARN|ERROR)\s+(?P<target>[\w:]+): "
                   r"(?P<message>.*?)(?: plugin=\"(?P<plugin>[0-9a-f-]{36})\")?\n?$", re.DOTALL)


@dataclass(frozen=True)
class LogLine:
    """One line libextism logged during a call: ``level`` is trace|debug|info|warn|error."""

    level: str
    target: str
    message: str

    @property
    def from_guest(self) -> bool:
        """True for the plugin's own ``pdk.Log`` lines, False for the runtime's."""
        return self.target == GUEST_TARGET


@dataclass
class CallOutput:
    """Everything one call said: its log lines and its stdout/stderr bytes."""

    instance: str
    logs: list[LogLine] = field(default_factory=list)
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    emitted: int = 0  # log lines already in the event log (before a nested call's)
    emitter: tuple | None = None  # (ctx, export): who emits them

    @property
    def guest_logs(self) -> list[LogLine]:
        return [line for line in self.logs if line.from_guest]

    @property
    def runtime_logs(self) -> list[LogLine]:
        return [line for line in self.logs if not line.from_guest]

    def text(self, stream: str) -> str:
        """``stream`` ("stdout" or "stderr") decoded as UTF-8."""
        return bytes(getattr(self, stream)).decode("utf-8", "replace")


_running = threading.local()  # .calls: the records of the calls running on this thread


@contextmanager
def capture_call(instance_ptr, *, stdio: bool = True, instance: str | None = None,
                 emitter: tuple | None = None) -> Iterator[CallOutput]:
    """Collect the log lines (and, with ``stdio``, the stdout/stderr) of one Extism call made
    on ``instance_ptr`` inside the block; the record is complete when the block has ended.
    ``instance`` is :func:`instance_id` of it when already known. ``emitter`` is the
    ``(ctx, export)`` that emits them: a call made from inside it (a host function calling a
    plugin, e.g. a WebSocket close running ``nd_websocket_on_close``) first emits the lines
    the outer call has logged so far, so the event log keeps the order they were written in."""
    record = CallOutput(instance or instance_id(instance_ptr), emitter=emitter)
    sink = _LogSink.get()
    calls = getattr(_running, "calls", None)
    if calls is None:
        calls = _running.calls = []
    if calls and calls[-1].emitter is not None:
        sink.drain()
        _emit_logs(calls[-1])
    sink.register(record)
    capture = _STDIO if stdio else None
    if capture is not None:
        capture.begin(record)
    calls.append(record)
    try:
        yield record
    finally:
        calls.pop()
        if capture is not None:
            capture.end(record)
        sink.finish(record)


def wrote_stdio(out: CallOutput) -> bool:
    """Whether the call being captured in ``out`` (``capture_call(..., stdio=True)``) has
    written to stdout/stderr so far."""
    return _STDIO.wrote(out)


def emit_output(ctx, export: str, out: CallOutput) -> None:
    """Record a call's guest log lines (``plugin_log``) and stdout/stderr (``plugin_output``);
    lines emitted before a nested call are not emitted again."""
    _emit_logs(out, ctx, export)
    for stream in ("stdout", "stderr"):
        if getattr(out, stream):
            ctx.emit(events.PLUGIN_OUTPUT, stream=stream, text=out.text(stream), export=export)


def _emit_logs(out: CallOutput, ctx=None, export: str | None = None) -> None:
    if ctx is None:
        ctx, export = out.emitter
    for line in out.logs[out.emitted:]:
        if line.from_guest:
            ctx.emit(events.PLUGIN_LOG, level=line.level, message=line.message, export=export)
    out.emitted = len(out.logs)


# -- the log sink ----------------------------------------------------------------------------

class _LogSink(ProcessWide):
    """libextism's one global log buffer, drained into the records of the calls it names."""

    def __init__(self):
        self._lock = threading.Lock()
        self._calls: dict[str, CallOutput] = {}
        self._callback = _ffi.callback("void(char*, ExtismSize)", self._on_line)
        # False when something else in the process already owns libextism's logger.
        self.available = bool(_lib.extism_log_custom(LOG_FILTER.encode()))

    def register(self, record: CallOutput) -> None:
        with self._lock:
            self._calls[record.instance] = record

    def drain(self) -> None:
        """Move the lines libextism holds into the records of their calls now."""
        with self._lock:
            if self.available:
                _lib.extism_log_drain(self._callback)

    def finish(self, record: CallOutput) -> None:
        with self._lock:
            if self.available:
                _lib.extism_log_drain(self._callback)
            self._calls.pop(record.instance, None)

    def _on_line(self, ptr, length) -> None:
        # Runs inside extism_log_drain, under self._lock; lines of calls still running on
        # other threads go to their records, lines naming no live call are dropped.
        m = _LINE.match(_ffi.string(ptr, length).decode("utf-8", "replace"))
        if m is None or m.group("plugin") is None:
            return
        record = self._calls.get(m.group("plugin"))
        if record is not None:
            record.logs.append(LogLine(m.group("level").lower(), m.group("target"),
                                       m.group("message")))


def instance_id(instance_ptr) -> str:
    """The instance's id as libextism writes it into its log lines."""
    return format_instance_id(_ffi.buffer(_lib.extism_plugin_id(instance_ptr), 16)[:])


def format_instance_id(raw: bytes) -> str:
    """libextism's 16 id bytes as its log lines write them (``str(uuid.UUID(...))``, faster)."""
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# -- stdio -----------------------------------------------------------------------------------

_STREAMS = {1: "stdout", 2: "stderr"}


class _StdioCapture:
    """Points fds 1 and 2 at two append-only files while at least one call runs."""

    def __init__(self):
        self._lock = threading.Lock()
        self._files: dict[int, int] = {}
        self._saved: dict[int, int] = {}
        self._read: dict[int, int] = {1: 0, 2: 0}
        self._running: dict[int, list[CallOutput]] = {}  # thread id -> its nested calls

    def begin(self, record: CallOutput) -> None:
        with self._lock:
            if not self._running:
                if not self._install():
                    return
            else:
                self._collect()
            self._running.setdefault(threading.get_ident(), []).append(record)

    def end(self, record: CallOutput) -> None:
        with self._lock:
            stack = self._running.get(threading.get_ident())
            if not stack or record not in stack:
                return
            self._collect()
            stack.remove(record)
            if not stack:
                del self._running[threading.get_ident()]
            if not self._running:
                self._uninstall()

    def wrote(self, record: CallOutput) -> bool:
        """Whether ``record``'s call has written to stdout/stderr so far."""
        with self._lock:
            if self._running:
                self._collect()
        return bool(record.stdout or record.stderr)

    def _collect(self) -> None:
        """Hand what was written since the last boundary to the innermost call of each thread."""
        current = [stack[-1] for stack in self._running.values() if stack]
        for fd, stream in _STREAMS.items():
            size = os.fstat(self._files[fd]).st_size
            if size <= self._read[fd]:
                continue
            data = os.pread(self._files[fd], size - self._read[fd], self._read[fd])
            self._read[fd] += len(data)
            for record in current:
                getattr(record, stream).extend(data)
            if not showing_under_cells():  # else the cell shows it (a kernel would echo it too)
                _write_all(self._saved[fd], data)

    def _install(self) -> bool:
        try:
            if not self._files:
                for fd in _STREAMS:
                    self._files[fd] = _append_only_file()
            for f in (sys.stdout, sys.stderr):  # the process's own pending text goes out first
                try:
                    if f.fileno() in _STREAMS:  # not a notebook's stream: it is no fd
                        f.flush()
                except Exception:  # noqa: BLE001, S110 - a closed or odd stream: nothing to flush
                    pass
            for fd in _STREAMS:
                self._saved[fd] = os.dup(fd)  # taken anew: fd 1/2 may point elsewhere by now
                os.dup2(self._files[fd], fd)
        except OSError:  # no fd 1/2 (a daemon): the guest's stdio stays uncaptured
            self._restore()
            return False
        return True

    def _uninstall(self) -> None:
        self._restore()
        for fd, file in self._files.items():
            if self._read[fd]:  # something was written: start the file anew
                os.ftruncate(file, 0)
                self._read[fd] = 0

    def _restore(self) -> None:
        for fd, saved in list(self._saved.items()):
            os.dup2(saved, fd)
            os.close(saved)
            del self._saved[fd]


def _write_all(fd: int, data: bytes) -> None:
    try:
        while data:
            data = data[os.write(fd, data):]
    except OSError:  # the original stream is gone (closed pipe): nobody to tell
        pass


def _append_only_file() -> int:
    fd, path = tempfile.mkstemp(prefix="nd-notebook-stdio-")
    try:
        return os.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
    finally:
        os.close(fd)
        os.unlink(path)


_STDIO = _StdioCapture()
