"""What happened, seen: pandas frames and matplotlib charts of the Host's event log.

This room reads only the event log (``nd_notebook.events``), never a service, so everything here
works the same for real and virtual time and can replay any past moment (``until=``).

- ``frames``: ``events``, ``logs``, ``tasks``, ``attempts``, ``firings``, ``host_calls``,
  ``queue_depth``, ``schedules`` (columns documented in docs/frames.md).
- ``charts``: ``throughput``, ``retry_timeline``, ``scheduler_firings``, ``host_calls``.
- ``Plots``: the charts bound to one Host, as ``host.plot.<name>()``.
- ``FramedEventLog``: the Host's event log, which is also its ``events(...)`` frame.
"""

from __future__ import annotations

import inspect
from functools import wraps

from ..events import EventLog

__all__ = ["FramedEventLog", "Plots"]


class FramedEventLog(EventLog):
    """An event log that is also a frame: ``host.events(kind, plugin, **filters)`` is
    ``nd_notebook.viz.frames.events`` over it (columns and filters in docs/frames.md)."""

    def frame(self, kind: str | tuple[str, ...] | None = None, plugin: str | None = None,
              **filters):
        from .frames import events as events_frame  # pandas only when a frame is asked for

        return events_frame(self, kind, plugin, **filters)

    __call__ = frame


class Plots:
    """``host.plot.<chart>(...)``: each chart of ``nd_notebook.viz.charts`` over this Host's
    event log (``retry_timeline`` draws the Host's own call deadline). Each returns a Figure."""

    def __init__(self, host):
        self._host = host

    def __dir__(self):
        from .charts import CHARTS

        return list(CHARTS)

    def __getattr__(self, name: str):
        from .charts import CHARTS

        chart = CHARTS.get(name)
        if chart is None or name.startswith("_"):
            raise AttributeError(f"no chart {name!r}; charts: {', '.join(CHARTS)}")
        host = self._host

        @wraps(chart)
        def bound(*args, **kwargs):
            if name == "retry_timeline":
                kwargs.setdefault("deadline_s", host.timeout_ms / 1000)
            return chart(host.events, *args, **kwargs)

        sig = inspect.signature(chart)
        bound.__signature__ = sig.replace(parameters=list(sig.parameters.values())[1:])
        return bound

    def __repr__(self) -> str:
        from .charts import CHARTS

        return f"<host.plot: {', '.join(f'{n}()' for n in CHARTS)}>"
