"""Cron expressions exactly as Navidrome's scheduler accepts them (spec section 5).

Two dialects:

- ``"seed"``: robfig/cron v3's standard parser (``cron.New()``): exactly 5 fields
  ``min hour dom month dow`` with lists, ranges, steps, names (``JAN``, ``MON``), ``?``, an
  optional ``TZ=``/``CRON_TZ=`` prefix, the descriptors ``@yearly @annually @monthly @weekly
  @daily @midnight @hourly`` and ``@every <Go duration>``.
- ``"head"`` (default): Navidrome's ``ParseCrontab`` (5cd1fcb49): the same with an optional
  leading seconds field (5 or 6 fields), crontab(5) random ranges ``a~b``/``~`` resolved once at
  parse time, and a bare Go duration (``5m``) meaning ``@every 5m``.

Parsing (and every error text) follows robfig's parser, Go's ``time.ParseDuration`` and
Navidrome's ``~`` layer; the times a spec schedule fires at follow robfig's
``SpecSchedule.Next`` step by step (month, day, hour, minute, second; Go's ``time.Date`` for
wall times in the schedule's zone; a 5-year search limit), because the edge cases are in that
walk: on a spring-forward day a time inside the skipped hour is never matched (croniter
would fire at the end of the gap), on a fall-back day an hour-1 schedule fires twice.
``@every`` keeps robfig's ``ConstantDelaySchedule`` (whole seconds, at least 1 s).

    >>> parse("*/15 * * * *").next(1767225600)      # 2026-01-01T00:15:00Z
    1767226500.0
"""

from __future__ import annotations

import calendar
import math
import random
import re
from datetime import datetime, timezone, tzinfo
from typing import Any

from ..gojson import go_lower, go_quote

__all__ = ["DIALECTS", "CronError", "EverySchedule", "Schedule", "SpecSchedule", "parse",
           "parse_go_duration", "upcoming"]

DIALECTS = ("head", "seed")

_SECOND = 1_000_000_000
_STAR = 1 << 63  # robfig's starBit: the field was "*" or "?" (matters for day matching)
_INT64_MAX = (1 << 63) - 1

# name, min, max, names (robfig's bounds)
_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_BOUNDS = (("second", 0, 59, None), ("minute", 0, 59, None), ("hour", 0, 23, None),
           ("dom", 1, 31, None), ("month", 1, 12, _MONTHS), ("dow", 0, 6, _DAYS))

_UNITS = {b"ns": 1, b"us": 1000, "µs".encode(): 1000, "μs".encode(): 1000,
          b"ms": 1_000_000, b"s": _SECOND, b"m": 60 * _SECOND, b"h": 3600 * _SECOND}


class CronError(ValueError):
    """An expression Navidrome refuses; ``str()`` is the parser's message."""


def parse(expression: str, *, dialect: str = "head", rng: random.Random | None = None) -> Schedule:
    """Parse ``expression`` as Navidrome's scheduler does; raises ``CronError``.

    ``rng`` resolves ``~`` random ranges (head dialect); pass the Host clock's ``random`` for
    reproducible virtual runs.
    """
    if dialect == "head":
        return _parse_head(expression, rng or random.Random())
    if dialect == "seed":
        return _parse_robfig(expression, second_optional=False)
    raise ValueError(f"unknown cron dialect {dialect!r} (expected one of {DIALECTS})")


def upcoming(expression: str, n: int = 5, *, start: float | None = None,
             tz: tzinfo | None = timezone.utc, dialect: str = "head") -> list[datetime]:
    """The next ``n`` firing times of ``expression`` after ``start`` (default: now), as datetimes."""
    import time

    schedule = parse(expression, dialect=dialect)
    t = time.time() if start is None else start
    zone = schedule.location or tz or timezone.utc
    out = []
    for _ in range(n):
        nxt = schedule.next(t, tz)
        if nxt is None:
            break
        out.append(datetime.fromtimestamp(nxt, zone))
        t = nxt
    return out


class Schedule:
    """A parsed expression. ``next(t)`` is the first firing time strictly after ``t`` (Unix s)."""

    expression = ""
    location: tzinfo | None = None

    def next(self, after: float, tz: tzinfo | None = None) -> float | None:
        """Next firing time after ``after``, or None when there is none within robfig's 5 years."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.expression!r}>"


class EverySchedule(Schedule):
    """robfig's ``ConstantDelaySchedule``: every ``delay`` whole seconds (at least one)."""

    def __init__(self, duration_ns: int, expression: str = ""):
        duration_ns = max(duration_ns, _SECOND)
        self.delay_ns = duration_ns - duration_ns % _SECOND
        self.expression = expression or f"@every {self.delay_ns // _SECOND}s"

    @property
    def delay(self) -> float:
        return self.delay_ns / _SECOND

    def next(self, after: float, tz: tzinfo | None = None) -> float | None:
        # Next(t) = t + delay - t.Nanosecond(): the whole second of t plus the delay.
        return float(math.floor(after) + self.delay_ns // _SECOND)


class SpecSchedule(Schedule):
    """robfig's ``SpecSchedule``: one bit set per allowed value of each of the six fields."""

    def __init__(self, bits: tuple[int, int, int, int, int, int], location: tzinfo | None,
                 expression: str = ""):
        self.second, self.minute, self.hour, self.dom, self.month, self.dow = bits
        self.location = location
        self.expression = expression
        self._never = any(b & ~_STAR == 0 for b in bits)

    def values(self, field: str) -> list[int]:
        """The allowed values of ``field`` (``second`` ... ``dow``)."""
        for name, lo, hi, _ in _BOUNDS:
            if name == field:
                bits = getattr(self, name)
                return [i for i in range(lo, hi + 1) if bits >> i & 1]
        raise KeyError(field)

    def next(self, after: float, tz: tzinfo | None = None) -> float | None:
        """robfig's ``Next``: the first time after ``after`` the fields match, in the
        schedule's zone (else ``tz``, else UTC); None when nothing matches within 5 years."""
        if self._never:
            return None
        zone = self.location or tz or timezone.utc
        t = math.floor(after) + 1  # the upcoming whole second
        added = False
        year_limit = _wall(t, zone).year + 5
        while True:  # robfig's WRAP label
            w = _wall(t, zone)
            if w.year > year_limit:
                return None
            wrapped = False
            while not self.month >> w.month & 1:
                if not added:
                    added = True
                    t = _go_date(w.year, w.month, 1, 0, 0, 0, zone)
                    w = _wall(t, zone)
                t = _go_date(w.year, w.month + 1, w.day, w.hour, w.minute, w.second, zone)
                w = _wall(t, zone)
                if w.month == 1:
                    wrapped = True
                    break
            if wrapped:
                continue
            while not self._day_matches(w):
                if not added:
                    added = True
                    t = _go_date(w.year, w.month, w.day, 0, 0, 0, zone)
                    w = _wall(t, zone)
                t = _go_date(w.year, w.month, w.day + 1, w.hour, w.minute, w.second, zone)
                w = _wall(t, zone)
                if w.hour:  # midnight moved by a DST change: back to it
                    t += (24 - w.hour) * 3600 if w.hour > 12 else -w.hour * 3600
                    w = _wall(t, zone)
                if w.day == 1:
                    wrapped = True
                    break
            if wrapped:
                continue
            for name, unit, top in (("hour", 3600, None), ("minute", 60, 60), ("second", 1, 1)):
                bits = getattr(self, name)
                while not bits >> getattr(w, name) & 1:
                    if not added:
                        added = True
                        if name == "hour":
                            t = _go_date(w.year, w.month, w.day, w.hour, 0, 0, zone)
                        else:  # Truncate(time.Minute / time.Second)
                            t -= t % top
                    t += unit
                    w = _wall(t, zone)
                    if getattr(w, name) == 0:
                        wrapped = True
                        break
                if wrapped:
                    break
            if not wrapped:
                return float(t)

    def _day_matches(self, w: datetime) -> bool:
        dom = bool(self.dom >> w.day & 1)
        dow = bool(self.dow >> (w.isoweekday() % 7) & 1)  # Go's Weekday: Sunday is 0
        if self.dom & _STAR or self.dow & _STAR:
            return dom and dow
        return dom or dow


def _wall(t: int, zone: tzinfo) -> datetime:
    """The wall clock of the instant ``t`` (Unix seconds) in ``zone``."""
    return datetime.fromtimestamp(t, zone)


def _go_date(year: int, month: int, day: int, hour: int, minute: int, second: int,
             zone: tzinfo) -> int:
    """Go's ``time.Date`` in ``zone`` as Unix seconds: fields normalised (month 13 is next
    January, day 32 the next month's first), then the zone's offset looked up at the wall time
    read as UTC and looked up again at the instant that gives: a wall time inside a
    spring-forward gap lands an hour early, one in a fall-back overlap on its first instance."""
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    unix = calendar.timegm((year, month, day, hour, minute, second))
    offset = _offset(unix, zone)
    return unix - _offset(unix - offset, zone)


def _offset(t: int, zone: tzinfo) -> int:
    return int(datetime.fromtimestamp(t, zone).utcoffset().total_seconds())


# -- the two dialects ------------------------------------------------------------------------

def _parse_head(spec: str, rng: random.Random) -> Schedule:
    """Navidrome's ``scheduler.ParseCrontab``."""
    if spec == "":
        raise CronError("empty spec string")
    try:
        parse_go_duration(spec)
    except ValueError:
        pass
    else:
        spec = "@every " + spec
    if "~" not in spec:
        return _parse_robfig(spec, second_optional=True)

    tz_prefix = ""
    if spec.startswith(("TZ=", "CRON_TZ=")):
        i = spec.find(" ")
        if i == -1:
            raise CronError("missing spec after timezone")
        tz_prefix = spec[:i] + " "
        spec = _go_trim_space(spec[i:])
    if spec.startswith("@"):
        raise CronError(f"random ~ syntax cannot be used with descriptors: {spec}")
    fields = _go_fields(spec)
    if len(fields) == 5:
        fields = ["0", *fields]
    elif len(fields) != 6:
        raise CronError(f"expected 5 or 6 fields, found {len(fields)}: {_go_list(fields)}")
    for i, field in enumerate(fields):
        if "~" not in field:
            continue
        if "," in field or "/" in field:
            raise CronError(f"random ~ cannot be combined with lists or steps: {field}")
        fields[i] = str(_resolve_random(field, _BOUNDS[i][1], _BOUNDS[i][2], rng))
    return _parse_robfig(tz_prefix + " ".join(fields), second_optional=True)


def _resolve_random(field: str, lo: int, hi: int, rng: random.Random) -> int:
    start_text, end_text = field.split("~", 1)
    start, end = lo, hi
    if start_text != "":
        start = _parse_uint(start_text)
        if start is None:
            raise CronError(f"invalid random range start: {start_text}")
    if end_text != "":
        end = _parse_uint(end_text)
        if end is None:
            raise CronError(f"invalid random range end: {end_text}")
    if start < lo:
        raise CronError(f"random range start ({start}) below minimum ({lo}): {field}")
    if end > hi:
        raise CronError(f"random range end ({end}) above maximum ({hi}): {field}")
    if start > end:
        raise CronError(f"random range start ({start}) beyond end ({end}): {field}")
    return rng.randint(start, end)


def _parse_robfig(spec: str, *, second_optional: bool) -> Schedule:
    """robfig/cron v3 ``Parser.Parse`` (standard or ``SecondOptional`` field set)."""
    original = spec
    if spec == "":
        raise CronError("empty spec string")
    location = None
    if spec.startswith(("TZ=", "CRON_TZ=")):
        i = spec.find(" ")
        if i == -1:
            # robfig v3.0.1 slices spec[eq+1:-1] here and panics; we report it instead.
            raise CronError("missing spec after timezone")
        name = spec[spec.find("=") + 1:i]
        location = _load_location(name)
        spec = _go_trim_space(spec[i:])
    if spec.startswith("@"):
        return _parse_descriptor(spec, location)

    fields = _go_fields(spec)
    lo_count, hi_count = (5, 6) if second_optional else (5, 5)
    if not lo_count <= len(fields) <= hi_count:
        if lo_count == hi_count:
            raise CronError(f"expected exactly {lo_count} fields, found {len(fields)}: "
                            f"{_go_list(fields)}")
        raise CronError(f"expected {lo_count} to {hi_count} fields, found {len(fields)}: "
                        f"{_go_list(fields)}")
    if len(fields) == 5:
        fields = ["0", *fields]
    bits = tuple(_get_field(f, lo, hi, names) for f, (_, lo, hi, names) in zip(fields, _BOUNDS))
    return SpecSchedule(bits, location, original)


def _parse_descriptor(descriptor: str, location: tzinfo | None) -> Schedule:
    def spec(second, minute, hour, dom, month, dow):
        return SpecSchedule((second, minute, hour, dom, month, dow), location, descriptor)

    one = [1 << lo for _, lo, _, _ in _BOUNDS]
    every = [_bits(lo, hi, 1) | _STAR for _, lo, hi, _ in _BOUNDS]
    if descriptor in ("@yearly", "@annually"):
        return spec(one[0], one[1], one[2], one[3], one[4], every[5])
    if descriptor == "@monthly":
        return spec(one[0], one[1], one[2], one[3], every[4], every[5])
    if descriptor == "@weekly":
        return spec(one[0], one[1], one[2], every[3], every[4], one[5])
    if descriptor in ("@daily", "@midnight"):
        return spec(one[0], one[1], one[2], every[3], every[4], every[5])
    if descriptor == "@hourly":
        return spec(one[0], one[1], every[2], every[3], every[4], every[5])
    prefix = "@every "
    if descriptor.startswith(prefix):
        try:
            duration = parse_go_duration(descriptor[len(prefix):])
        except ValueError as e:
            raise CronError(f"failed to parse duration {descriptor}: {e}") from None
        return EverySchedule(duration, descriptor)
    raise CronError(f"unrecognized descriptor: {descriptor}")


def _get_field(field: str, lo: int, hi: int, names: dict[str, int] | None) -> int:
    bits = 0
    for expr in (r for r in field.split(",") if r):
        bits |= _get_range(expr, lo, hi, names)
    return bits


def _get_range(expr: str, lo: int, hi: int, names: dict[str, int] | None) -> int:
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    single = len(low_and_high) == 1
    extra = 0
    if low_and_high[0] in ("*", "?"):
        start, end, extra = lo, hi, _STAR
    else:
        start = _parse_int_or_name(low_and_high[0], names)
        if len(low_and_high) == 1:
            end = start
        elif len(low_and_high) == 2:
            end = _parse_int_or_name(low_and_high[1], names)
        else:
            raise CronError(f"too many hyphens: {expr}")
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _must_parse_int(range_and_step[1])
        if single:
            end = hi
        if step > 1:
            extra = 0
    else:
        raise CronError(f"too many slashes: {expr}")
    if start < lo:
        raise CronError(f"beginning of range ({start}) below minimum ({lo}): {expr}")
    if end > hi:
        raise CronError(f"end of range ({end}) above maximum ({hi}): {expr}")
    if start > end:
        raise CronError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise CronError(f"step of range should be a positive number: {expr}")
    return _bits(start, end, step) | extra


def _parse_int_or_name(expr: str, names: dict[str, int] | None) -> int:
    if names is not None and go_lower(expr) in names:
        return names[go_lower(expr)]
    return _must_parse_int(expr)


def _must_parse_int(expr: str) -> int:
    """robfig's ``mustParseInt``: Go ``strconv.Atoi``, then no negatives."""
    if not re.fullmatch(r"[+-]?[0-9]+", expr):
        raise CronError(f"failed to parse int from {expr}: strconv.Atoi: parsing "
                        f"{go_quote(expr)}: invalid syntax")
    num = int(expr)
    if not -_INT64_MAX - 1 <= num <= _INT64_MAX:
        raise CronError(f"failed to parse int from {expr}: strconv.Atoi: parsing "
                        f"{go_quote(expr)}: value out of range")
    if num < 0:
        raise CronError(f"negative number ({num}) not allowed: {expr}")
    return num


def _parse_uint(text: str) -> int | None:
    """Go ``strconv.ParseUint(text, 10, 0)``, None on any error."""
    if not re.fullmatch(r"[0-9]+", text):
        return None
    value = int(text)
    return value if value < 1 << 64 else None


def _bits(start: int, end: int, step: int) -> int:
    bits = 0
    for i in range(start, end + 1, step):
        bits |= 1 << i
    return bits


def _load_location(name: str) -> tzinfo | None:
    """Go ``time.LoadLocation`` (None = Local); errors carry robfig's text."""
    from zoneinfo import ZoneInfo

    if name in ("", "UTC"):
        return timezone.utc
    if name == "Local":
        return None
    if ".." in name or name.startswith(("/", "\\")):
        raise CronError(f"provided bad location {name}: time: invalid location name")
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, OSError):
        raise CronError(f"provided bad location {name}: unknown time zone {name}") from None


# -- Go helpers ------------------------------------------------------------------------------

def parse_go_duration(text: str) -> int:
    """Go's ``time.ParseDuration`` in nanoseconds; ``ValueError`` carries Go's message."""
    orig = text
    s = text.encode("utf-8")
    neg = False
    if s[:1] in (b"-", b"+"):
        neg = s[:1] == b"-"
        s = s[1:]
    if s == b"0":
        return 0
    if s == b"":
        raise ValueError(f"time: invalid duration {_time_quote(orig)}")
    total = 0
    while s:
        if not (s[:1] == b"." or s[:1].isdigit()):
            raise ValueError(f"time: invalid duration {_time_quote(orig)}")
        m = re.match(rb"[0-9]*", s)
        int_digits = m.group(0)
        s = s[len(int_digits):]
        pre = bool(int_digits)
        value = int(int_digits) if int_digits else 0
        if value > _INT64_MAX + 1:
            raise ValueError(f"time: invalid duration {_time_quote(orig)}")
        frac, scale, post = 0, 1.0, False
        if s[:1] == b".":
            s = s[1:]
            m = re.match(rb"[0-9]*", s)
            digits = m.group(0)
            s = s[len(digits):]
            post = bool(digits)
            overflow = False
            for d in digits:  # Go's leadingFraction: stop accumulating once it would overflow
                if overflow or frac > _INT64_MAX // 10:
                    overflow = True
                    continue
                y = frac * 10 + (d - 48)
                if y > 1 << 63:
                    overflow = True
                    continue
                frac, scale = y, scale * 10
        if not pre and not post:
            raise ValueError(f"time: invalid duration {_time_quote(orig)}")
        i = 0
        while i < len(s) and not (s[i:i + 1] == b"." or s[i:i + 1].isdigit()):
            i += 1
        if i == 0:
            raise ValueError(f"time: missing unit in duration {_time_quote(orig)}")
        unit_text, s = s[:i], s[i:]
        unit = _UNITS.get(unit_text)
        if unit is None:
            raise ValueError(f"time: unknown unit {_time_quote_bytes(unit_text)} in duration "
                             f"{_time_quote(orig)}")
        if value > (1 << 63) // unit:
            raise ValueError(f"time: invalid duration {_time_quote(orig)}")
        value *= unit
        if frac > 0:
            value += int(float(frac) * (float(unit) / scale))
            if value > 1 << 63:
                raise ValueError(f"time: invalid duration {_time_quote(orig)}")
        total += value
        if total > 1 << 63:
            raise ValueError(f"time: invalid duration {_time_quote(orig)}")
    if neg:
        return -total
    if total > _INT64_MAX:
        raise ValueError(f"time: invalid duration {_time_quote(orig)}")
    return total


def _time_quote(s: str) -> str:
    return _time_quote_bytes(s.encode("utf-8", "surrogateescape"))


def _time_quote_bytes(b: bytes) -> str:
    # The time package's own quote: ASCII printable as is (with \" and \\), every other
    # byte as \xNN.
    out = ['"']
    for ch in b.decode("utf-8", "surrogateescape"):
        code = ord(ch)
        if code >= 0x80 or code < 0x20:
            raw = ch.encode("utf-8", "surrogateescape")
            out.extend(f"\\x{x:02x}" for x in raw)
        else:
            if ch in ('"', "\\"):
                out.append("\\")
            out.append(ch)
    out.append('"')
    return "".join(out)


def _go_list(items: list[Any]) -> str:
    """Go's ``%s``/``%v`` of a ``[]string``: ``[a b c]``."""
    return "[" + " ".join(str(i) for i in items) + "]"


# Go's unicode.IsSpace: what strings.Fields splits on and strings.TrimSpace trims (Python's
# str.split also takes U+001C-U+001F as whitespace; Go does not).
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_GO_SPACES = re.compile(f"[{_GO_SPACE}]+")
_GO_SPACE_ENDS = re.compile(f"^[{_GO_SPACE}]+|[{_GO_SPACE}]+$")


def _go_fields(text: str) -> list[str]:
    return [f for f in _GO_SPACES.split(text) if f]


def _go_trim_space(text: str) -> str:
    return _GO_SPACE_ENDS.sub("", text)
