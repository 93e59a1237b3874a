"""Recurring schedules: cron expressions in an IANA time zone, or fixed intervals.

Cron matching and the daylight-saving rules are our own, not croniter's:
croniter has known DST bugs and its parser accepts input we want to refuse
(seven fields, hashed `H` values, backwards ranges) with messages that do not
say which part is wrong. The DST rules are those of Vixie cron and Hangfire's
Cronos, computed on the wall clock of the schedule's zone:

* a wall time skipped by a spring-forward gap fires once, at the first instant
  after the gap;
* a wall time repeated by an autumn fall-back fires once (its first occurrence),
  unless the expression is an interval one (`*`, a range or a step in the
  second, minute or hour field), which fires in both occurrences.

Interval schedules are elapsed time from an anchor and ignore DST entirely.
All times handed out are timezone-aware UTC datetimes. Nothing here reads the
clock: callers pass `now`, which they get from an injectable `Clock`.
"""

from __future__ import annotations

import bisect
import calendar
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from craft_jobs.errors import InvalidScheduleError, ValidationError

UTC = timezone.utc
_SECOND = timedelta(seconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_INTERVAL_MINUTES = 525_600  # one year
# The Gregorian calendar repeats every 400 years, so a cron expression that
# matches no date in 401 consecutive years never matches any date.
_SEARCH_YEARS = 401

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


# --------------------------------------------------------------------------
# Parsing cron fields
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _FieldSpec:
    name: str
    low: int
    high: int
    aliases: tuple[str, ...] = ()  # names for low, low+1, ...


_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")

_SECOND_FIELD = _FieldSpec("second", 0, 59)
_MINUTE_FIELD = _FieldSpec("minute", 0, 59)
_HOUR_FIELD = _FieldSpec("hour", 0, 23)
_DOM_FIELD = _FieldSpec("day-of-month", 1, 31)
_MONTH_FIELD = _FieldSpec("month", 1, 12, _MONTHS)
_DOW_FIELD = _FieldSpec("day-of-week", 0, 7, _WEEKDAYS)  # 7 is Sunday too


@dataclass(frozen=True)
class _Field:
    values: frozenset[int]
    star: bool = False  # starts with * or ?: Vixie cron's rule for combining day fields
    last_day: bool = False  # day-of-month "L"
    last_weekdays: frozenset[int] = frozenset()  # day-of-week "5L": last Friday
    nth_weekdays: frozenset[tuple[int, int]] = frozenset()  # "1#2": second Monday


def _field_error(spec: _FieldSpec, text: str, reason: str) -> InvalidScheduleError:
    return InvalidScheduleError("cron", f"{spec.name} field {text!r}: {reason}")


def _parse_value(spec: _FieldSpec, field_text: str, token: str) -> int:
    if token.isascii() and token.isdigit():
        value = int(token)
    elif token.upper() in spec.aliases:
        value = spec.low + spec.aliases.index(token.upper())
    else:
        raise _field_error(spec, field_text, f"{token!r} is not a number or a known name")
    if not spec.low <= value <= spec.high:
        raise _field_error(spec, field_text, f"{value} is outside {spec.low}-{spec.high}")
    return value


def _parse_step(spec: _FieldSpec, field_text: str, token: str) -> int:
    if not (token.isascii() and token.isdigit()) or int(token) == 0:
        raise _field_error(spec, field_text, f"step {token!r} must be a whole number of at least 1")
    return int(token)


def _parse_field(spec: _FieldSpec, text: str) -> _Field:
    values: set[int] = set()
    last_day = False
    last_weekdays: set[int] = set()
    nth: set[tuple[int, int]] = set()
    days = spec in (_DOM_FIELD, _DOW_FIELD)
    for item in text.split(","):
        if not item:
            raise _field_error(spec, text, "empty list item")
        upper = item.upper()
        if spec is _DOM_FIELD and upper == "L":
            last_day = True
            continue
        if spec is _DOW_FIELD and upper.endswith("L") and len(upper) > 1:
            last_weekdays.add(_parse_value(spec, text, item[:-1]) % 7)
            continue
        if spec is _DOW_FIELD and "#" in item:
            day_text, _, nth_text = item.partition("#")
            if not nth_text.isdigit() or not 1 <= int(nth_text) <= 5:
                raise _field_error(spec, text, f"#{nth_text} must be #1 to #5")
            nth.add((_parse_value(spec, text, day_text) % 7, int(nth_text)))
            continue
        if "W" in upper and spec is _DOM_FIELD:
            raise _field_error(spec, text, "W (nearest weekday) is not supported")
        base, slash, step_text = item.partition("/")
        step = _parse_step(spec, text, step_text) if slash else 1
        if base == "*" or (base == "?" and days):
            first, last = spec.low, spec.high
        elif "-" in base:
            start_text, _, end_text = base.partition("-")
            first = _parse_value(spec, text, start_text)
            last = _parse_value(spec, text, end_text)
            if first > last:
                raise _field_error(spec, text, f"range {base!r} runs backwards")
        else:
            first = _parse_value(spec, text, base)
            last = spec.high if slash else first
        values.update(range(first, last + 1, step))
    if spec is _DOW_FIELD:
        values = {v % 7 for v in values}
    return _Field(
        values=frozenset(values),
        star=text[0] in "*?",
        last_day=last_day,
        last_weekdays=frozenset(last_weekdays),
        nth_weekdays=frozenset(nth),
    )


class _CronMatcher:
    """Finds matching wall-clock (naive) times; knows nothing about time zones."""

    def __init__(self, expression: str):
        parts = expression.split()
        if len(parts) == 5:
            parts = ["0", *parts]
        elif len(parts) != 6:
            raise InvalidScheduleError(
                "cron",
                f"{expression!r} has {len(parts)} fields; expected 5 (minute hour day-of-month month "
                "day-of-week) or 6 (with a leading second)",
            )
        specs = (_SECOND_FIELD, _MINUTE_FIELD, _HOUR_FIELD, _DOM_FIELD, _MONTH_FIELD, _DOW_FIELD)
        for spec, text in zip(specs, parts):
            if spec not in (_DOM_FIELD, _DOW_FIELD) and "?" in text:
                raise _field_error(spec, text, "? is only allowed in the day fields")
        seconds, minutes, hours, self._dom, months, self._dow = (
            _parse_field(spec, text) for spec, text in zip(specs, parts)
        )
        self._seconds = sorted(seconds.values)
        self._minutes = sorted(minutes.values)
        self._hours = sorted(hours.values)
        self._months = months.values
        # Cronos: a *, range or step in a time-of-day field makes this an
        # "interval" expression, which also fires in a repeated autumn hour.
        self.is_interval = any(ch in text for text in parts[:3] for ch in "*?-/")

    def _day_matches(self, day: int, weekday: int, days_in_month: int) -> bool:
        dom, dow = self._dom, self._dow
        dom_ok = day in dom.values or (dom.last_day and day == days_in_month)
        dow_ok = (
            weekday in dow.values
            or (weekday in dow.last_weekdays and day + 7 > days_in_month)
            or (weekday, (day - 1) // 7 + 1) in dow.nth_weekdays
        )
        # Vixie cron: if either day field starts with * both must match,
        # otherwise either one is enough ("1 * * 1" = the 1st and every Monday).
        if dom.star or dow.star:
            return dom_ok and dow_ok
        return dom_ok or dow_ok

    def _days(self, year: int, month: int, from_day: int) -> list[int]:
        if month not in self._months:
            return []
        first_weekday, length = calendar.monthrange(year, month)
        cron_first = (first_weekday + 1) % 7  # Python: Monday=0; cron: Sunday=0
        return [
            day
            for day in range(from_day, length + 1)
            if self._day_matches(day, (cron_first + day - 1) % 7, length)
        ]

    def _time_at_or_after(self, hour: int, minute: int, second: int) -> tuple[int, int, int] | None:
        for h in self._hours[bisect.bisect_left(self._hours, hour) :]:
            if h > hour:
                return h, self._minutes[0], self._seconds[0]
            for m in self._minutes[bisect.bisect_left(self._minutes, minute) :]:
                if m > minute:
                    return h, m, self._seconds[0]
                index = bisect.bisect_left(self._seconds, second)
                if index < len(self._seconds):
                    return h, m, self._seconds[index]
        return None

    def next_wall(self, start: datetime, end: datetime | None = None) -> datetime | None:
        """The first matching wall time >= start (and < end), or None."""
        year, month = start.year, start.month
        first_day = start.day
        earliest = (self._hours[0], self._minutes[0], self._seconds[0])
        while year < start.year + _SEARCH_YEARS and year <= 9999:
            if end is not None and datetime(year, month, 1) >= end:
                return None
            for day in self._days(year, month, first_day):
                if (year, month, day) == (start.year, start.month, start.day):
                    found = self._time_at_or_after(start.hour, start.minute, start.second)
                else:
                    found = earliest
                if found is not None:
                    candidate = datetime(year, month, day, *found)
                    return candidate if end is None or candidate < end else None
            first_day = 1
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return None


# --------------------------------------------------------------------------
# Time zone helpers
# --------------------------------------------------------------------------


def _load_zone(time_zone: str | None) -> ZoneInfo:
    if time_zone is None:
        time_zone = "UTC"
    if not isinstance(time_zone, str) or not time_zone:
        raise InvalidScheduleError("time_zone", f"must be an IANA time zone name, got {time_zone!r}")
    try:
        return ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidScheduleError(
            "time_zone", f"unknown IANA time zone {time_zone!r} (e.g. 'Europe/London', 'UTC')"
        ) from None


def _require_aware(value: datetime, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise ValidationError(field, f"must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(field, "must be timezone-aware")
    return value.astimezone(UTC)


def _timestamp(wall: datetime, offset: timedelta) -> int:
    return calendar.timegm(wall.timetuple()) - int(offset.total_seconds())


def _wall(timestamp: int, offset: timedelta) -> datetime:
    return datetime(1970, 1, 1) + timedelta(seconds=timestamp) + offset


def _offset_at(zone: ZoneInfo, timestamp: int) -> timedelta:
    offset = datetime.fromtimestamp(timestamp, zone).utcoffset()
    assert offset is not None  # a ZoneInfo always has one
    return offset


def _transition(zone: ZoneInfo, low: int, high: int) -> int:
    """The first second in (low, high] whose UTC offset differs from the one at `low`."""
    before = _offset_at(zone, low)
    while high - low > 1:
        middle = (low + high) // 2
        if _offset_at(zone, middle) == before:
            low = middle
        else:
            high = middle
    return high


def _from_timestamp(timestamp: int) -> datetime:
    return _EPOCH + timedelta(seconds=timestamp)


# --------------------------------------------------------------------------
# Schedules
# --------------------------------------------------------------------------


class Schedule(ABC):
    """A set of fire instants ("slots"); `next_after` walks through them."""

    expression: str
    time_zone: str

    @abstractmethod
    def next_after(self, moment: datetime) -> datetime:
        """The first slot strictly after `moment`, as an aware UTC datetime."""

    @abstractmethod
    def describe(self) -> str:
        """A short human description."""

    def slots_between(self, start: datetime, end: datetime, limit: int = 1000) -> list[datetime]:
        """The slots in (start, end], oldest first, at most `limit` of them."""
        start = _require_aware(start, "start")
        end = _require_aware(end, "end")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValidationError("limit", f"must be a positive integer, got {limit!r}")
        slots: list[datetime] = []
        slot = self.next_after(start)
        while slot <= end and len(slots) < limit:
            slots.append(slot)
            slot = self.next_after(slot)
        return slots

    def latest_between(self, start: datetime, end: datetime) -> datetime | None:
        """The last slot in (start, end], or None; fast even across long gaps."""
        start = _require_aware(start, "start")
        end = _require_aware(end, "end")
        if start >= end or self.next_after(start) > end:
            return None
        # Find `low` with a slot in (low, end] by galloping back from `end`,
        # then bisect down to one second: slots are whole seconds, so the
        # slot after `low` is then the last one.
        step = _SECOND
        low = end - step
        while low > start and self.next_after(low) > end:
            step *= 2
            low = end - step
        low, high = max(low, start), end
        while high - low > _SECOND:
            middle = low + (high - low) / 2
            if self.next_after(middle) <= end:
                low = middle
            else:
                high = middle
        return self.next_after(low)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.expression!r} in {self.time_zone}>"


class CronSchedule(Schedule):
    def __init__(self, expression: str, time_zone: str | None = "UTC"):
        if not isinstance(expression, str):
            raise InvalidScheduleError("cron", f"must be a string, got {type(expression).__name__}")
        self.expression = " ".join(expression.split())
        if not self.expression:
            raise InvalidScheduleError("cron", "is empty")
        fields = self.expression
        if fields.startswith("@"):
            macro = fields.lower()
            if macro not in MACROS:
                raise InvalidScheduleError(
                    "cron", f"unknown macro {fields!r}; use one of {', '.join(MACROS)}"
                )
            fields = MACROS[macro]
        self._zone = _load_zone(time_zone)
        self.time_zone = self._zone.key
        self._matcher = _CronMatcher(fields)
        if self._matcher.next_wall(datetime(2000, 1, 1)) is None:
            raise InvalidScheduleError(
                "cron", f"{self.expression!r} never fires: its day and month fields select no real date"
            )

    @property
    def is_interval(self) -> bool:
        """True if the expression also fires in the second pass of a repeated hour."""
        return self._matcher.is_interval

    def describe(self) -> str:
        return f"cron {self.expression!r} in {self.time_zone}"

    def next_after(self, moment: datetime) -> datetime:
        local = _require_aware(moment, "moment").astimezone(self._zone)
        wall = local.replace(tzinfo=None, microsecond=0, fold=0)
        start = wall + _SECOND
        first, second = self._offsets(wall)
        if first > second:
            # `moment` lies in a repeated autumn hour. Finish the pass it is in,
            # then (interval expressions only) the second pass, then go on
            # after the repeated hour.
            switch = _transition(self._zone, _timestamp(wall, first), _timestamp(wall, second))
            repeat_start, repeat_end = _wall(switch, second), _wall(switch, first)
            if local.fold == 0:
                found = self._matcher.next_wall(start, repeat_end)
                if found is not None:
                    return _from_timestamp(_timestamp(found, first))
                start = repeat_start
            if self._matcher.is_interval:
                found = self._matcher.next_wall(start, repeat_end)
                if found is not None:
                    return _from_timestamp(_timestamp(found, second))
            start = max(start, repeat_end)
        found = self._matcher.next_wall(start)
        if found is None:
            raise ValidationError("moment", f"{self.expression!r} has no slot after {moment} before year 10000")
        first, second = self._offsets(found)
        if first >= second:
            # An ordinary time, or the first occurrence of a repeated one.
            return _from_timestamp(_timestamp(found, first))
        # Skipped by a spring-forward gap: fire at the first instant after it.
        return _from_timestamp(
            _transition(self._zone, _timestamp(found, second), _timestamp(found, first))
        )

    def _offsets(self, wall: datetime) -> tuple[timedelta, timedelta]:
        """UTC offsets of `wall` read before (fold=0) and after (fold=1) a transition.

        Equal: an ordinary time. first > second: a repeated time.
        first < second: a time skipped by a gap.
        """
        before = wall.replace(tzinfo=self._zone).utcoffset()
        after = wall.replace(tzinfo=self._zone, fold=1).utcoffset()
        assert before is not None and after is not None
        return before, after


class IntervalSchedule(Schedule):
    """Every N minutes of elapsed time from `anchor`; DST does not move it."""

    def __init__(self, minutes: int, time_zone: str | None = "UTC", anchor: datetime | None = None):
        if isinstance(minutes, bool) or not isinstance(minutes, int):
            raise InvalidScheduleError("interval_minutes", f"must be a whole number, got {minutes!r}")
        if not 1 <= minutes <= MAX_INTERVAL_MINUTES:
            raise InvalidScheduleError(
                "interval_minutes", f"must be between 1 and {MAX_INTERVAL_MINUTES} (one year), got {minutes}"
            )
        if anchor is None:
            anchor = _EPOCH
        elif not isinstance(anchor, datetime) or anchor.tzinfo is None or anchor.utcoffset() is None:
            raise InvalidScheduleError("anchor", "must be a timezone-aware datetime")
        self.interval_minutes = minutes
        self.interval = timedelta(minutes=minutes)
        self.anchor = anchor.astimezone(UTC)
        self.time_zone = _load_zone(time_zone).key
        self.expression = f"every {minutes} minute{'s' if minutes != 1 else ''}"

    def describe(self) -> str:
        return f"{self.expression} from {self.anchor.isoformat()}"

    def next_after(self, moment: datetime) -> datetime:
        moment = _require_aware(moment, "moment")
        return self.anchor + ((moment - self.anchor) // self.interval + 1) * self.interval

    def latest_between(self, start: datetime, end: datetime) -> datetime | None:
        start = _require_aware(start, "start")
        end = _require_aware(end, "end")
        slot = self.anchor + ((end - self.anchor) // self.interval) * self.interval
        return slot if slot > start else None


def parse_schedule(
    cron: str | None,
    interval_minutes: int | None,
    time_zone: str | None = "UTC",
    anchor: datetime | None = None,
) -> Schedule:
    """Build a schedule from a cron expression or an interval (exactly one of them).

    `anchor` is where interval slots are counted from (default: the Unix epoch,
    so a 60-minute interval fires on the hour UTC); cron schedules ignore it.
    """
    if (cron is None) == (interval_minutes is None):
        raise InvalidScheduleError("schedule", "give exactly one of cron or interval_minutes")
    if cron is not None:
        return CronSchedule(cron, time_zone)
    assert interval_minutes is not None
    return IntervalSchedule(interval_minutes, time_zone, anchor)


# --------------------------------------------------------------------------
# Misfires
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class MisfireDecision:
    """What the engine does for a recurring job now.

    fire_slot: the slot to run now (the most recent missed one), or None.
    skipped_slot: the most recent missed slot, when it was older than the
        starting deadline and so is not run.
    dropped_earlier: older missed slots existed; they are never run.
    next_slot: the next slot after now (and after `last_slot`).
    """

    fire_slot: datetime | None
    skipped_slot: datetime | None
    dropped_earlier: bool
    next_slot: datetime


def due_slots(
    schedule: Schedule,
    last_slot: datetime | None,
    now: datetime,
    starting_deadline_seconds: int | None = None,
) -> MisfireDecision:
    """Decide which slot, if any, to fire after `last_slot` (see docs/schedules.md).

    Like Hangfire and Kubernetes CronJob: after downtime, run once for the most
    recent missed slot, never a burst of catch-up runs; skip it if it is older
    than `starting_deadline_seconds`. `last_slot` is the last slot fired (or
    when the recurring job was created); None means nothing is owed.
    """
    now = _require_aware(now, "now")
    if last_slot is not None:
        last_slot = _require_aware(last_slot, "last_slot")
    if starting_deadline_seconds is not None and (
        isinstance(starting_deadline_seconds, bool)
        or not isinstance(starting_deadline_seconds, int)
        or starting_deadline_seconds < 0
    ):
        raise ValidationError(
            "starting_deadline_seconds", f"must be a whole number >= 0, got {starting_deadline_seconds!r}"
        )
    # A last slot ahead of `now` (clock skew between replicas) must not be fired again.
    next_slot = schedule.next_after(max(now, last_slot) if last_slot is not None else now)
    due = schedule.latest_between(last_slot, now) if last_slot is not None else None
    if due is None:
        return MisfireDecision(None, None, False, next_slot)
    assert last_slot is not None
    dropped_earlier = schedule.next_after(last_slot) < due
    if starting_deadline_seconds is not None and now - due > timedelta(seconds=starting_deadline_seconds):
        return MisfireDecision(None, due, dropped_earlier, next_slot)
    return MisfireDecision(due, None, dropped_earlier, next_slot)


# --------------------------------------------------------------------------
# Ready-made expressions
# --------------------------------------------------------------------------

_WEEKDAY_NAMES = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")


def _check_int(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(name, f"must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise ValidationError(name, f"must be between {low} and {high}, got {value}")
    return value


def _check_divisor(name: str, value: object, whole: int, unit: str) -> int:
    n = _check_int(name, value, 1, whole - 1)
    if whole % n:
        # "*/7" restarts every hour (…:49, :56, :00); that is not "every 7 minutes".
        raise ValidationError(
            name,
            f"{n} does not divide {whole} {unit} evenly, so the cron step would not be a fixed "
            "interval; use interval_minutes instead",
        )
    return n


class CronExpressions:
    """Common expressions (the seed's list) and validated builders."""

    EVERY_MINUTE = "* * * * *"
    EVERY_5_MINUTES = "*/5 * * * *"
    EVERY_10_MINUTES = "*/10 * * * *"
    EVERY_15_MINUTES = "*/15 * * * *"
    EVERY_30_MINUTES = "*/30 * * * *"
    HOURLY = "0 * * * *"
    DAILY = "0 0 * * *"
    DAILY_AT_1AM = "0 1 * * *"
    DAILY_AT_2AM = "0 2 * * *"
    DAILY_AT_NOON = "0 12 * * *"
    WEEKLY = "0 0 * * 0"
    MONTHLY = "0 0 1 * *"
    YEARLY = "0 0 1 1 *"
    WEEKDAYS = "0 0 * * 1-5"
    WEEKDAYS_AT_9AM = "0 9 * * 1-5"

    @staticmethod
    def every_n_minutes(n: int) -> str:
        n = _check_divisor("n", n, 60, "minutes")
        return "* * * * *" if n == 1 else f"*/{n} * * * *"

    @staticmethod
    def every_n_hours(n: int) -> str:
        n = _check_divisor("n", n, 24, "hours")
        return "0 * * * *" if n == 1 else f"0 */{n} * * *"

    @staticmethod
    def daily_at_hour(hour: int, minute: int = 0) -> str:
        return f"{_check_int('minute', minute, 0, 59)} {_check_int('hour', hour, 0, 23)} * * *"

    @staticmethod
    def weekly_on(day_of_week: int | str, hour: int = 0, minute: int = 0) -> str:
        """`day_of_week`: 0-6 with 0 = Sunday, or an English day name ("mon", "Monday")."""
        if isinstance(day_of_week, str):
            wanted = day_of_week.lower()
            matches = [i for i, name in enumerate(_WEEKDAY_NAMES) if len(wanted) >= 3 and name.startswith(wanted)]
            if not matches:
                raise ValidationError("day_of_week", f"{day_of_week!r} is not a day name such as 'mon'")
            day = matches[0]
        else:
            day = _check_int("day_of_week", day_of_week, 0, 6)
        return f"{_check_int('minute', minute, 0, 59)} {_check_int('hour', hour, 0, 23)} * * {day}"

    @staticmethod
    def monthly_on(day: int, hour: int = 0, minute: int = 0) -> str:
        """Days 29-31 skip the months that lack them, as in cron."""
        return (
            f"{_check_int('minute', minute, 0, 59)} {_check_int('hour', hour, 0, 23)} "
            f"{_check_int('day', day, 1, 31)} * *"
        )
