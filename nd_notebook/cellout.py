"""Plugin output under the notebook cell that made the call, as it happens.

``%load_ext nd_notebook`` enables it for that IPython shell. Every Host subscribes
:func:`show_under_cell` to its event log; an event emitted on the thread that runs the cells
(a call made by the cell, or driven by it: ``host.run_for`` in virtual time, a load's
``nd_on_init``) is displayed right away: the plugin's log lines, its stdout/stderr, and the
warnings/errors the host services log about its callbacks (a failed task, schedule, init).
Events of worker threads stay in the event log only (a cell's output is not theirs to write).
Without the extension (pytest, scripts) nothing is displayed.
"""

from __future__ import annotations

import html
import threading

from . import events

__all__ = ["disable", "enable", "render", "show_under_cell", "showing_under_cells"]

#: Colour of each level (and stream) in the HTML rendering.
LEVEL_COLOURS = {"trace": "#8a8f98", "debug": "#6b7280", "info": "#1d4ed8", "warn": "#b45309",
                 "warning": "#b45309", "error": "#b91c1c", "stdout": "#374151",
                 "stderr": "#b91c1c"}
#: Service log levels that are shown (the rest stays in the event log).
SERVICE_LEVELS = ("warn", "warning", "error")
#: Lines shown under one cell; past it, one notice points at ``host.logs()``.
MAX_LINES_PER_CELL = 200

_shell = None
_thread: int | None = None
_shown = [0]  # lines shown under the running cell


def enable(shell) -> None:
    """Show plugin output under the cells of ``shell`` (the calling thread runs the cells)."""
    global _shell, _thread
    disable()
    _shell, _thread = shell, threading.get_ident()
    shell.events.register("pre_run_cell", _new_cell)


def disable() -> None:
    global _shell, _thread
    if _shell is not None:
        try:
            _shell.events.unregister("pre_run_cell", _new_cell)
        except ValueError:  # already gone
            pass
    _shell, _thread = None, None


def showing_under_cells() -> bool:
    """True while an IPython shell has the extension loaded."""
    return _shell is not None


def show_under_cell(event: events.Event) -> None:
    """EventLog listener: display ``event`` under the running cell when it is plugin output."""
    if _shell is None or threading.get_ident() != _thread:
        return
    rendered = render(event)
    if rendered is None:
        return
    from IPython.display import display

    if _shown[0] > MAX_LINES_PER_CELL:  # past the limit, and told so
        return
    plain, rich = rendered
    room = MAX_LINES_PER_CELL - _shown[0]
    lines = plain.count("\n") + 1
    if lines <= room:
        _shown[0] += lines
        display({"text/plain": plain, "text/html": rich}, raw=True)
        return
    if room > 0:  # the first lines of a long output (20,000 printed lines were all shown)
        plain, rich = render(event, max_lines=room)
        display({"text/plain": plain, "text/html": rich}, raw=True)
    _shown[0] = MAX_LINES_PER_CELL + 1
    notice = (f"[nd-notebook] more than {MAX_LINES_PER_CELL} lines of plugin output: "
              "the rest of this cell's is in host.logs()")
    display({"text/plain": notice,
             "text/html": f"<div style='font-family:monospace'><i>{notice}</i></div>"},
            raw=True)


def render(event: events.Event, max_lines: int | None = None) -> tuple[str, str] | None:
    """``(text, html)`` of an event shown under a cell (its first ``max_lines`` lines); None for
    the events not shown."""
    who = event.plugin_id or "host"
    if event.get("export"):
        who += f" {event['export']}"
    if event.kind == events.PLUGIN_LOG:
        level, text = event.get("level", "info"), event.get("message", "")
        if event.get("location"):
            text += f"\n  at {event['location']}"
    elif event.kind == events.PLUGIN_OUTPUT:
        level, text = event.get("stream", "stdout"), event.get("text", "")
    elif event.kind == events.SERVICE_LOG and event.get("level") in SERVICE_LEVELS:
        level = event["level"]
        fields = {k: v for k, v in event.data.items()
                  if k not in ("service", "level", "message") and v is not None}
        text = f"{event.get('service')}: {event.get('message', '')}"
        if fields:
            text += " (" + ", ".join(f"{k}={v}" for k, v in fields.items()) + ")"
    else:
        return None
    text = text.rstrip("\n")
    if max_lines is not None:
        text = "\n".join(text.split("\n")[:max_lines])
    tag = level.upper()
    colour = LEVEL_COLOURS.get(level, LEVEL_COLOURS["info"])
    plain = f"[{who}] {tag}: {text}"
    rich = (f"<div class='nd-plugin-output nd-{html.escape(level)}' style='font-family:"
            f"monospace;white-space:pre-wrap;color:{colour};margin:0'><b>[{html.escape(who)}] "
            f"{html.escape(tag)}</b> {html.escape(text)}</div>")
    return plain, rich


def _new_cell(*_info) -> None:
    """IPython ``pre_run_cell``: a new cell starts with no line shown."""
    _shown[0] = 0
