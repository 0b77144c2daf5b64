"""SchedulerService: every rule of spec section 5, on a virtual clock with a scripted plugin."""

from __future__ import annotations

import re

import pytest

from nd_notebook import events
from nd_notebook.clock import VirtualClock
from nd_notebook.context import PluginContext, PluginSettings
from nd_notebook.errors import PluginCallFailedError, ServiceError
from nd_notebook.events import EventLog
from nd_notebook.services.scheduler import SchedulerService

T0 = VirtualClock.DEFAULT_START  # 2026-01-01T00:00:00Z, a Thursday


class Env:
    def __init__(self, tmp_path, *, duration=0.0, seed=0, plugin_id="schedplugin"):
        self.clock = VirtualClock(call_duration=duration, seed=seed)
        self.events = EventLog(self.clock.now)
        self.calls: list[tuple[float, dict]] = []
        self.handler = lambda request: None
        self.ctx = PluginContext(
            plugin_id=plugin_id, data_dir=tmp_path, permissions={"scheduler": {}}, config={},
            settings=PluginSettings(), clock=self.clock, events=self.events,
            call_export=self._call, has_export=lambda name: name == "nd_scheduler_callback")

    def _call(self, export, request):
        assert export == "nd_scheduler_callback"
        self.calls.append((round(self.clock.now() - T0, 6), dict(request)))
        return self.handler(request)

    def times(self, schedule_id=None) -> list[float]:
        return [t for t, r in self.calls if schedule_id is None or r["scheduleId"] == schedule_id]


@pytest.fixture
def env(tmp_path):
    return Env(tmp_path)


@pytest.fixture
def sched(env):
    svc = SchedulerService(env.ctx)
    yield svc
    svc.close()


def error_of(fn, *args) -> str:
    with pytest.raises(ServiceError) as err:
        fn(*args)
    return str(err.value)


# -- ids ---------------------------------------------------------------------------------

def test_schedule_one_time_returns_the_given_id(sched):
    assert sched.schedule_one_time(10, "p", "my-id") == "my-id"


def test_empty_id_gets_a_generated_22_char_base62_id(sched):
    assert re.fullmatch(r"[0-9A-Za-z]{22}", sched.schedule_one_time(10, "p", ""))


def test_generated_ids_are_reproducible_in_virtual_time(tmp_path):
    ids = [SchedulerService(Env(tmp_path, seed=7).ctx).schedule_recurring("@hourly", "", "")
           for _ in range(2)]
    assert ids[0] == ids[1]


def test_duplicate_one_time_id_fails(sched):
    sched.schedule_one_time(10, "", "dup")
    assert error_of(sched.schedule_one_time, 10, "", "dup") == 'schedule ID "dup" already exists'


def test_duplicate_recurring_id_fails(sched):
    sched.schedule_one_time(10, "", "dup")
    assert error_of(sched.schedule_recurring, "@hourly", "", "dup") == \
        'schedule ID "dup" already exists'


def test_duplicate_check_comes_before_cron_parsing(sched):
    sched.schedule_recurring("@hourly", "", "dup")
    assert error_of(sched.schedule_recurring, "not a cron", "", "dup") == \
        'schedule ID "dup" already exists'


def test_ids_are_unique_per_plugin_only(tmp_path):
    one = SchedulerService(Env(tmp_path, plugin_id="one").ctx)
    two = SchedulerService(Env(tmp_path, plugin_id="two").ctx)
    assert one.schedule_one_time(5, "", "same") == two.schedule_one_time(5, "", "same")


# -- one-time schedules --------------------------------------------------------------------

def test_one_time_fires_once_after_its_delay_with_its_payload(env, sched):
    sched.schedule_one_time(90, "hello", "once")
    env.clock.run_for(3600)
    assert env.calls == [(90, {"scheduleId": "once", "payload": "hello", "isRecurring": False})]


def test_zero_delay_fires_right_away(env, sched):
    sched.schedule_one_time(0, "", "now")
    env.clock.run_for(0)
    assert env.times() == [0]


def test_negative_delay_fires_right_away(env, sched):
    sched.schedule_one_time(-30, "", "past")
    env.clock.run_for(0)
    assert env.times() == [0]


def test_one_time_entry_is_removed_after_its_callback(env, sched):
    sched.schedule_one_time(5, "", "once")
    env.clock.run_for(10)
    assert not sched.has("once")


def test_one_time_id_still_exists_while_its_callback_runs(env, sched):
    seen = []
    env.handler = lambda request: seen.append(sched.has("once"))
    sched.schedule_one_time(5, "", "once")
    env.clock.run_for(10)
    assert seen == [True]


def test_reusing_the_id_from_inside_the_callback_fails(env, sched):
    errors = []

    def handler(request):
        try:
            sched.schedule_one_time(5, "", "once")
        except ServiceError as e:
            errors.append(str(e))

    env.handler = handler
    sched.schedule_one_time(5, "", "once")
    env.clock.run_for(10)
    assert errors == ['schedule ID "once" already exists']


def test_a_different_id_scheduled_from_the_callback_fires(env, sched):
    env.handler = lambda request: request["scheduleId"] == "once" and \
        sched.schedule_one_time(10, "", "followup-id")
    sched.schedule_one_time(5, "", "once")
    env.clock.run_for(60)
    assert [(t, r["scheduleId"]) for t, r in env.calls] == [(5, "once"), (15, "followup-id")]


def test_one_time_entry_stays_until_the_virtual_call_ends(tmp_path):
    e = Env(tmp_path, duration=3)
    sched = SchedulerService(e.ctx)
    sched.schedule_one_time(5, "", "once")
    e.clock.run_for(7)
    assert sched.has("once")
    e.clock.run_for(1)
    assert not sched.has("once")


def test_run_until_idle_waits_for_one_time_schedules(env, sched):
    sched.schedule_one_time(600, "", "later")
    assert env.clock.run_until_idle() is True
    assert env.times() == [600]


# -- recurring schedules -------------------------------------------------------------------

def test_recurring_fires_at_each_cron_time(env, sched):
    sched.schedule_recurring("*/15 * * * *", "tick", "q")
    env.clock.run_for(3600)
    assert env.times() == [900, 1800, 2700, 3600]


def test_recurring_callback_has_is_recurring_true(env, sched):
    sched.schedule_recurring("@hourly", "tick", "h")
    env.clock.run_for(3600)
    assert env.calls == [(3600, {"scheduleId": "h", "payload": "tick", "isRecurring": True})]


def test_recurring_entry_persists_after_firing(env, sched):
    sched.schedule_recurring("@hourly", "", "h")
    env.clock.run_for(3 * 3600)
    assert sched.has("h") and len(env.calls) == 3


def test_seconds_field_fires_every_ten_seconds(env, sched):
    sched.schedule_recurring("*/10 * * * * *", "", "s")
    env.clock.run_for(35)
    assert env.times() == [10, 20, 30]


def test_every_counts_from_the_schedule_time_in_whole_seconds(env, sched):
    env.clock.run_for(10.75)
    sched.schedule_recurring("@every 1m", "", "e")
    env.clock.run_for(200)
    assert env.times() == [70, 130, 190]


def test_bare_duration_means_every(env, sched):
    sched.schedule_recurring("90s", "", "d")
    env.clock.run_for(200)
    assert env.times() == [90, 180]


def test_a_tick_runs_even_while_the_previous_callback_is_still_running(tmp_path):
    e = Env(tmp_path, duration=90)
    sched = SchedulerService(e.ctx)
    sched.schedule_recurring("@every 1m", "", "busy")
    e.clock.run_for(150)
    assert e.times() == [60, 120]
    sched.close()


def test_random_range_is_resolved_once_with_the_host_seed(tmp_path):
    def minutes(seed):
        e = Env(tmp_path, seed=seed)
        sched = SchedulerService(e.ctx)
        sched.schedule_recurring("0~59 * * * *", "", "r")
        e.clock.run_for(3 * 3600)
        return [t % 3600 for t in e.times()]

    first = minutes(3)
    assert len(set(first)) == 1 and first == minutes(3)


def test_invalid_cron_fails_with_the_parser_message(sched):
    assert error_of(sched.schedule_recurring, "* *", "", "bad") == \
        "failed to schedule task: expected 5 to 6 fields, found 2: [* *]"


def test_invalid_cron_is_not_registered(sched):
    with pytest.raises(ServiceError):
        sched.schedule_recurring("* *", "", "bad")
    assert not sched.has("bad")


def test_seed_dialect_refuses_a_seconds_field(tmp_path):
    sched = SchedulerService(Env(tmp_path).ctx, dialect="seed")
    assert error_of(sched.schedule_recurring, "0 * * * * *", "", "s") == \
        "failed to schedule task: expected exactly 5 fields, found 6: [0 * * * * *]"


def test_schedule_that_never_fires_is_still_registered(env, sched):
    sched.schedule_recurring("0 0 30 2 *", "", "feb30")
    env.clock.run_for(86400)
    assert sched.has("feb30") and env.calls == []


# -- cancel and close ----------------------------------------------------------------------

def test_cancelled_one_time_never_fires(env, sched):
    sched.schedule_one_time(60, "", "once")
    sched.cancel_schedule("once")
    env.clock.run_for(120)
    assert env.calls == []


def test_cancelled_recurring_stops_firing(env, sched):
    sched.schedule_recurring("@every 10s", "", "r")
    env.clock.run_for(25)
    sched.cancel_schedule("r")
    env.clock.run_for(100)
    assert env.times() == [10, 20]


def test_cancel_of_an_unknown_id_fails(sched):
    assert error_of(sched.cancel_schedule, "nope") == 'schedule ID "nope" not found'


def test_cancel_twice_fails_the_second_time(sched):
    sched.schedule_one_time(60, "", "once")
    sched.cancel_schedule("once")
    assert error_of(sched.cancel_schedule, "once") == 'schedule ID "once" not found'


def test_cancel_of_a_fired_one_time_fails(env, sched):
    sched.schedule_one_time(1, "", "once")
    env.clock.run_for(2)
    assert error_of(sched.cancel_schedule, "once") == 'schedule ID "once" not found'


def test_a_cancelled_id_can_be_used_again(env, sched):
    sched.schedule_one_time(60, "", "id")
    sched.cancel_schedule("id")
    sched.schedule_one_time(5, "", "id")
    env.clock.run_for(120)
    assert env.times() == [5]


def test_close_cancels_every_schedule(env, sched):
    sched.schedule_one_time(60, "", "once")
    sched.schedule_recurring("@every 10s", "", "r")
    sched.close()
    env.clock.run_for(3600)
    assert (env.calls, len(sched)) == ([], 0)


def test_close_leaves_nothing_on_the_clock(env, sched):
    sched.schedule_one_time(60, "", "once")
    sched.schedule_recurring("@every 10s", "", "r")
    sched.close()
    assert env.clock.pending() == []


# -- callback failures and events ----------------------------------------------------------

def test_callback_error_is_logged_and_recurring_continues(env, sched):
    def handler(request):
        raise PluginCallFailedError("plugin call failed: callback broke")

    env.handler = handler
    sched.schedule_recurring("@every 10s", "", "r")
    env.clock.run_for(30)
    finished = env.events.select(events.SCHEDULE_CALLBACK_FINISHED)
    assert [(e["outcome"], e["error"]) for e in finished] == \
        [("error", "plugin call failed: callback broke")] * 3


def test_fired_event_carries_expected_and_actual_time(env, sched):
    sched.schedule_recurring("@hourly", "", "h")
    env.clock.run_for(3600)
    (fired,) = env.events.select(events.SCHEDULE_FIRED)
    assert (fired.plugin_id, fired["schedule_id"], fired["recurring"], fired["expected"],
            fired["actual"]) == ("schedplugin", "h", True, T0 + 3600, T0 + 3600)


def test_created_and_cancelled_events(env, sched):
    sched.schedule_recurring("@hourly", "", "h")
    sched.cancel_schedule("h")
    created = env.events.select(events.SCHEDULE_CREATED)[0]
    cancelled = env.events.select(events.SCHEDULE_CANCELLED)[0]
    assert (created["schedule_id"], created["cron"], created["next_run"]) == \
        ("h", "@hourly", T0 + 3600)
    assert (cancelled["schedule_id"], cancelled["via"]) == ("h", "cancel")


def test_one_time_callback_finished_event_says_the_entry_was_removed(env, sched):
    sched.schedule_one_time(5, "", "once")
    env.clock.run_for(10)
    (done,) = env.events.select(events.SCHEDULE_CALLBACK_FINISHED)
    assert (done["schedule_id"], done["outcome"], done["removed"]) == ("once", "ok", True)


def test_schedules_lists_live_entries(env, sched):
    sched.schedule_recurring("*/5 * * * *", "p", "r")
    sched.schedule_one_time(30, "q", "o")
    assert {s["schedule_id"]: s["next_run"] for s in sched.schedules()} == \
        {"r": T0 + 300, "o": T0 + 30}
