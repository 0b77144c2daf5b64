"""SchedulerService in real time: timers on the clock thread, callbacks on their own threads."""

from __future__ import annotations

import threading
import time

import pytest

from nd_notebook import events
from nd_notebook.clock import RealClock
from nd_notebook.context import PluginContext, PluginSettings
from nd_notebook.events import EventLog
from nd_notebook.services.scheduler import SchedulerService

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def env(tmp_path):
    clock = RealClock()
    log = EventLog(clock.now)
    calls = []

    def call_export(export, request):
        calls.append((time.monotonic(), threading.current_thread().name, dict(request)))

    ctx = PluginContext(plugin_id="rts", data_dir=tmp_path, permissions={"scheduler": {}},
                        config={}, settings=PluginSettings(), clock=clock, events=log,
                        call_export=call_export, has_export=lambda name: True)
    sched = SchedulerService(ctx)
    yield sched, clock, calls, log
    sched.close()
    clock.close()


def test_one_time_schedule_fires_once_on_its_own_thread(env):
    sched, clock, calls, _ = env
    sched.schedule_one_time(1, "p", "once")
    assert clock.run_until_idle(max_seconds=30) is True
    assert [(name.startswith("nd-scheduler"), r) for _, name, r in calls] == \
        [(True, {"scheduleId": "once", "payload": "p", "isRecurring": False})]
    assert not sched.has("once")


def test_recurring_every_second_fires_repeatedly_until_cancelled(env):
    sched, _, calls, log = env
    sched.schedule_recurring("@every 1s", "", "rec")
    deadline = time.monotonic() + 30
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    sched.cancel_schedule("rec")
    count = len(calls)
    time.sleep(1.5)
    assert count >= 2 and len(calls) == count
    fired = log.select(events.SCHEDULE_FIRED)
    assert all(e["actual"] >= e["expected"] for e in fired)
