"""Cron parsing and firing times: robfig/cron v3 plus Navidrome's HEAD additions (spec 5)."""

from __future__ import annotations

import random
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from nd_notebook.services import cron

T0 = 1767225600.0  # 2026-01-01T00:00:00Z, a Thursday


def error(expression: str, dialect: str = "head") -> str:
    with pytest.raises(cron.CronError) as err:
        cron.parse(expression, dialect=dialect, rng=random.Random(0))
    return str(err.value)


def fires(expression: str, n: int = 3, start: float = T0, tz=timezone.utc,
          dialect: str = "head") -> list[str]:
    schedule = cron.parse(expression, dialect=dialect, rng=random.Random(0))
    out, t = [], start
    for _ in range(n):
        t = schedule.next(t, tz)
        if t is None:
            break
        out.append(datetime.fromtimestamp(t, timezone.utc).strftime("%a %Y-%m-%d %H:%M:%S"))
    return out


# -- parse errors: robfig's texts ------------------------------------------------------------

@pytest.mark.parametrize(("expression", "message"), [
    ("", "empty spec string"),
    ("* *", "expected 5 to 6 fields, found 2: [* *]"),
    ("* * * * * * *", "expected 5 to 6 fields, found 7: [* * * * * * *]"),
    ("@foo", "unrecognized descriptor: @foo"),
    ("@every", "unrecognized descriptor: @every"),
    ("@daily extra", "unrecognized descriptor: @daily extra"),
    ("x * * * *", 'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax'),
    ("-5 * * * *", 'failed to parse int from : strconv.Atoi: parsing "": invalid syntax'),
    ("99999999999999999999 * * * *", ("failed to parse int from 99999999999999999999: "
                                      'strconv.Atoi: parsing "99999999999999999999": '
                                      "value out of range")),
    ("10-70 * * * *", "end of range (70) above maximum (59): 10-70"),
    ("* 24 * * *", "end of range (24) above maximum (23): 24"),
    ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
    ("* * * 13 *", "end of range (13) above maximum (12): 13"),
    ("* * * * 7", "end of range (7) above maximum (6): 7"),
    ("30-10 * * * *", "beginning of range (30) beyond end of range (10): 30-10"),
    ("*/0 * * * *", "step of range should be a positive number: */0"),
    ("*/-2 * * * *", "negative number (-2) not allowed: -2"),
    ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
    ("1/2/3 * * * *", "too many slashes: 1/2/3"),
    ("* * * JANUARY *", ('failed to parse int from JANUARY: strconv.Atoi: parsing "JANUARY": '
                         "invalid syntax")),
    ("TZ=Nowhere/Atlantis * * * * *",
     "provided bad location Nowhere/Atlantis: unknown time zone Nowhere/Atlantis"),
    ("@every 5x", 'failed to parse duration @every 5x: time: unknown unit "x" in duration "5x"'),
    ("@every 5", 'failed to parse duration @every 5: time: missing unit in duration "5"'),
    ("@every abc", 'failed to parse duration @every abc: time: invalid duration "abc"'),
])
def test_head_parse_error(expression, message):
    assert error(expression) == message


@pytest.mark.parametrize(("expression", "message"), [
    ("5 ~~ * * *", "invalid random range end: ~"),
    ("x~5 * * * *", "invalid random range start: x"),
    ("0~70 * * * *", "random range end (70) above maximum (59): 0~70"),
    ("* * 0~5 * *", "random range start (0) below minimum (1): 0~5"),
    ("5~1 * * * *", "random range start (5) beyond end (1): 5~1"),
    ("1~2,3 * * * *", "random ~ cannot be combined with lists or steps: 1~2,3"),
    ("~/5 * * * *", "random ~ cannot be combined with lists or steps: ~/5"),
    ("@daily ~", "random ~ syntax cannot be used with descriptors: @daily ~"),
    ("~ * *", "expected 5 or 6 fields, found 3: [~ * *]"),
    ("TZ=UTC~", "missing spec after timezone"),
    ("~ 70 * * *", "end of range (70) above maximum (23): 70"),
])
def test_head_random_range_error(expression, message):
    assert error(expression) == message


@pytest.mark.parametrize(("expression", "message"), [
    ("* *", "expected exactly 5 fields, found 2: [* *]"),
    ("0 * * * * *", "expected exactly 5 fields, found 6: [0 * * * * *]"),
    ("5m", "expected exactly 5 fields, found 1: [5m]"),
    ("0~5 * * * *", 'failed to parse int from 0~5: strconv.Atoi: parsing "0~5": invalid syntax'),
])
def test_seed_parse_error(expression, message):
    assert error(expression, "seed") == message


def test_unknown_dialect_is_a_python_error():
    with pytest.raises(ValueError, match="unknown cron dialect"):
        cron.parse("@daily", dialect="quartz")


# -- firing times ------------------------------------------------------------------------------

@pytest.mark.parametrize(("expression", "expected"), [
    ("*/15 * * * *", ["Thu 2026-01-01 00:15:00", "Thu 2026-01-01 00:30:00",
                      "Thu 2026-01-01 00:45:00"]),
    ("30 */10 * * * *", ["Thu 2026-01-01 00:00:30", "Thu 2026-01-01 00:10:30",
                         "Thu 2026-01-01 00:20:30"]),
    ("0 9 * * MON-FRI", ["Thu 2026-01-01 09:00:00", "Fri 2026-01-02 09:00:00",
                         "Mon 2026-01-05 09:00:00"]),
    ("0 0 1 jan,JUL ?", ["Wed 2026-07-01 00:00:00", "Fri 2027-01-01 00:00:00",
                         "Thu 2027-07-01 00:00:00"]),
    ("5/20 * * * *", ["Thu 2026-01-01 00:05:00", "Thu 2026-01-01 00:25:00",
                      "Thu 2026-01-01 00:45:00"]),
    ("@hourly", ["Thu 2026-01-01 01:00:00", "Thu 2026-01-01 02:00:00",
                 "Thu 2026-01-01 03:00:00"]),
    ("@daily", ["Fri 2026-01-02 00:00:00", "Sat 2026-01-03 00:00:00",
                "Sun 2026-01-04 00:00:00"]),
    ("@midnight", ["Fri 2026-01-02 00:00:00", "Sat 2026-01-03 00:00:00",
                   "Sun 2026-01-04 00:00:00"]),
    ("@weekly", ["Sun 2026-01-04 00:00:00", "Sun 2026-01-11 00:00:00",
                 "Sun 2026-01-18 00:00:00"]),
    ("@monthly", ["Sun 2026-02-01 00:00:00", "Sun 2026-03-01 00:00:00",
                  "Wed 2026-04-01 00:00:00"]),
    ("@yearly", ["Fri 2027-01-01 00:00:00", "Sat 2028-01-01 00:00:00",
                 "Mon 2029-01-01 00:00:00"]),
    ("@annually", ["Fri 2027-01-01 00:00:00", "Sat 2028-01-01 00:00:00",
                   "Mon 2029-01-01 00:00:00"]),
])
def test_fires_at(expression, expected):
    assert fires(expression) == expected


def test_next_is_strictly_after_the_given_time():
    assert cron.parse("0 * * * *").next(T0, timezone.utc) == T0 + 3600


def test_next_counts_from_the_whole_second():
    assert cron.parse("* * * * * *").next(T0 + 0.999, timezone.utc) == T0 + 1


def test_day_of_month_and_day_of_week_both_restricted_match_either():
    # Jan 1 2026 is a Thursday: the 13th or any Friday.
    assert fires("0 0 13 * FRI", 3) == ["Fri 2026-01-02 00:00:00", "Fri 2026-01-09 00:00:00",
                                        "Tue 2026-01-13 00:00:00"]


def test_day_of_week_with_star_day_of_month_matches_the_weekday_only():
    assert fires("0 0 * * SUN", 2) == ["Sun 2026-01-04 00:00:00", "Sun 2026-01-11 00:00:00"]


def test_stepped_day_of_month_is_restricted_so_days_match_either():
    # robfig drops the star bit for */2: odd days OR Mondays.
    assert fires("0 0 */2 * MON", 3) == ["Sat 2026-01-03 00:00:00", "Mon 2026-01-05 00:00:00",
                                         "Wed 2026-01-07 00:00:00"]


def test_full_day_of_month_range_with_a_weekday_matches_every_day():
    assert fires("0 0 1-31 * MON", 2) == ["Fri 2026-01-02 00:00:00", "Sat 2026-01-03 00:00:00"]


def test_impossible_date_never_fires():
    assert cron.parse("0 0 30 2 *").next(T0, timezone.utc) is None


def test_empty_list_never_fires():
    assert cron.parse(", * * * *").next(T0, timezone.utc) is None


def test_tz_prefix_fires_in_that_zone():
    assert fires("TZ=Europe/Paris 0 9 * * *", 1) == ["Thu 2026-01-01 08:00:00"]


def test_cron_tz_prefix_is_accepted_too():
    assert fires("CRON_TZ=America/New_York 0 9 * * *", 1) == ["Thu 2026-01-01 14:00:00"]


def test_schedules_without_tz_use_the_given_local_zone():
    # T0 is 09:00 in Tokyo already: the next 09:00 JST is the next day, 00:00 UTC.
    assert fires("0 9 * * *", 1, tz=ZoneInfo("Asia/Tokyo")) == ["Fri 2026-01-02 00:00:00"]


# -- @every and bare durations ------------------------------------------------------------------

def test_every_is_relative_to_the_whole_second_it_is_computed_from():
    assert cron.parse("@every 90s").next(T0 + 10.75) == T0 + 100


def test_every_below_one_second_is_rounded_up_to_one_second():
    assert cron.parse("@every 500ms").delay == 1.0


def test_every_drops_the_fraction_of_a_second():
    assert cron.parse("@every 1.5s").delay == 1.0


def test_every_negative_duration_runs_every_second():
    assert cron.parse("@every -5m").delay == 1.0


def test_bare_duration_is_every_in_head():
    assert cron.parse("1h30m").expression == "@every 1h30m"


def test_bare_zero_is_every_second_in_head():
    assert cron.parse("0").delay == 1.0


def test_seed_dialect_accepts_every_descriptor():
    assert cron.parse("@every 5m", dialect="seed").delay == 300.0


def test_six_fields_mean_a_leading_seconds_field():
    assert cron.parse("15 * * * * *").values("second") == [15]


def test_five_fields_fire_at_second_zero():
    assert cron.parse("* * * * *").values("second") == [0]


def test_names_are_case_insensitive():
    assert cron.parse("0 0 * Feb sUn").values("dow") == [0]


def test_names_are_lowered_rune_by_rune_as_go_does():
    # strings.ToLower("FRİ") is "fri" (Python's lower() gives "fri" + a combining dot).
    assert cron.parse("0 0 * * FR\u0130").values("dow") == [5]


@pytest.mark.parametrize(("expression", "message"), [
    ("0\x1c0 * * * *", ('failed to parse int from 0\x1c0: strconv.Atoi: parsing "0\\x1c0": '
                         "invalid syntax")),
    ("*\x1f* * * *", "expected 5 to 6 fields, found 4: [*\x1f* * * *]"),
], ids=["inside-a-field", "between-fields"])
def test_only_gos_white_space_separates_fields(expression, message):
    # strings.Fields splits on unicode.IsSpace, which U+001C-U+001F are not.
    assert error(expression) == message


# -- ~ random ranges -------------------------------------------------------------------------

def test_random_range_is_resolved_within_its_bounds():
    values = {cron.parse("10~12 * * * *", rng=random.Random(i)).values("minute")[0]
              for i in range(50)}
    assert values == {10, 11, 12}


def test_bare_tilde_spans_the_whole_field():
    values = {cron.parse("0 0 * * ~", rng=random.Random(i)).values("dow")[0] for i in range(200)}
    assert values == set(range(7))


def test_random_range_is_fixed_once_parsed():
    schedule = cron.parse("0~59 * * * *", rng=random.Random(5))
    minutes = {datetime.fromtimestamp(t, timezone.utc).minute
               for t in _iterate(schedule, T0, 5)}
    assert len(minutes) == 1


def test_random_range_keeps_the_tz_prefix():
    schedule = cron.parse("TZ=Asia/Tokyo 0 9~9 * * *", rng=random.Random(0))
    assert schedule.next(T0, timezone.utc) == T0 + 86400  # 09:00 JST = 00:00 UTC


def _iterate(schedule, t, n):
    for _ in range(n):
        t = schedule.next(t, timezone.utc)
        yield t


# -- Go's time.ParseDuration ---------------------------------------------------------------

@pytest.mark.parametrize(("text", "ns"), [
    ("0", 0), ("1h30m", 5_400_000_000_000), ("500ms", 500_000_000), ("1.5s", 1_500_000_000),
    ("-1.5h", -5_400_000_000_000), (".5s", 500_000_000), ("1.s", 1_000_000_000),
    ("1µs", 1000), ("1μs", 1000), ("2us", 2000), ("3ns", 3), ("+2m", 120_000_000_000),
    ("1h1m1s1ms1us1ns", 3_661_001_001_001),
    ("9223372036854775807ns", 9_223_372_036_854_775_807),
    ("2562047h47m16.854775807s", 9_223_372_036_854_775_807),
])
def test_go_duration(text, ns):
    assert cron.parse_go_duration(text) == ns


@pytest.mark.parametrize(("text", "message"), [
    ("", 'time: invalid duration ""'),
    ("+", 'time: invalid duration "+"'),
    ("5", 'time: missing unit in duration "5"'),
    ("1e3s", 'time: unknown unit "e" in duration "1e3s"'),
    ("3 m", 'time: unknown unit " m" in duration "3 m"'),
    (".s", 'time: invalid duration ".s"'),
    ("9223372036854775808ns", 'time: invalid duration "9223372036854775808ns"'),
    ("1é", 'time: unknown unit "\\xc3\\xa9" in duration "1\\xc3\\xa9"'),
])
def test_go_duration_error(text, message):
    with pytest.raises(ValueError) as err:
        cron.parse_go_duration(text)
    assert str(err.value) == message


def test_upcoming_lists_datetimes():
    assert [d.hour for d in cron.upcoming("0 */6 * * *", 3, start=T0)] == [6, 12, 18]


# -- daylight saving: robfig's walk, not croniter's ------------------------------------------

NEW_YORK = ZoneInfo("America/New_York")


def fires_in_new_york(expression: str, start: datetime, n: int) -> list[str]:
    schedule = cron.parse(f"TZ=America/New_York {expression}")
    t, out = start.timestamp(), []
    for _ in range(n):
        t = schedule.next(t)
        out.append(datetime.fromtimestamp(t, NEW_YORK).strftime("%m-%d %H:%M %Z"))
    return out


def test_a_time_inside_the_spring_forward_gap_is_skipped_that_day():
    # 2026-03-08 02:00 EST -> 03:00 EDT: robfig adds whole hours and never sees hour 2.
    assert fires_in_new_york("30 2 * * *", datetime(2026, 3, 7, 12, tzinfo=NEW_YORK), 2) == \
        ["03-09 02:30 EDT", "03-10 02:30 EDT"]


def test_a_yearly_time_inside_the_gap_waits_a_year():
    schedule = cron.parse("TZ=America/New_York 15 2 8 3 *")
    t = schedule.next(datetime(2026, 3, 7, 12, tzinfo=NEW_YORK).timestamp())
    assert datetime.fromtimestamp(t, NEW_YORK).strftime("%Y-%m-%d %H:%M %Z") == \
        "2027-03-08 02:15 EST"


def test_an_hour_range_across_the_gap_resumes_after_it():
    assert fires_in_new_york("36 1-3 1-7 * */2", datetime(2026, 3, 7, 12, tzinfo=NEW_YORK), 2) == \
        ["03-08 01:36 EST", "03-08 03:36 EDT"]


def test_a_time_inside_the_fall_back_overlap_fires_twice():
    # 2026-11-01 02:00 EDT -> 01:00 EST: hour 1 happens twice.
    assert fires_in_new_york("30 1 * * *", datetime(2026, 10, 31, 12, tzinfo=NEW_YORK), 3) == \
        ["11-01 01:30 EDT", "11-01 01:30 EST", "11-02 01:30 EST"]


def test_hourly_over_the_fall_back_counts_absolute_hours():
    assert fires_in_new_york("0 * * * *", datetime(2026, 11, 1, 0, 30, tzinfo=NEW_YORK), 4) == \
        ["11-01 01:00 EDT", "11-01 01:00 EST", "11-01 02:00 EST", "11-01 03:00 EST"]


def test_daily_midnight_is_kept_across_both_changes():
    assert fires_in_new_york("0 0 * * *", datetime(2026, 3, 7, 12, tzinfo=NEW_YORK), 2) == \
        ["03-08 00:00 EST", "03-09 00:00 EDT"]
    assert fires_in_new_york("0 0 * * *", datetime(2026, 10, 31, 12, tzinfo=NEW_YORK), 2) == \
        ["11-01 00:00 EDT", "11-02 00:00 EST"]
