"""Cron and interval schedules: parsing, DST behaviour, misfires, CronExpressions.

DST expectations come from three independent places: hand-written tables
(the Vixie cron / Cronos rules), a brute-force oracle that walks every UTC
minute through a transition, and croniter as a reference in UTC, where it
has no DST to get wrong.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from craft_jobs.clock import FrozenClock
from craft_jobs.errors import InvalidScheduleError, ValidationError
from craft_jobs.schedules import (
    CronExpressions,
    CronSchedule,
    IntervalSchedule,
    due_slots,
    parse_schedule,
)

UTC = timezone.utc
MINUTE = timedelta(minutes=1)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def cron(expression: str, time_zone: str = "UTC") -> CronSchedule:
    schedule = parse_schedule(expression, None, time_zone)
    assert isinstance(schedule, CronSchedule)
    return schedule


def fires(expression: str, time_zone: str, start: str, count: int) -> list[str]:
    """The next `count` slots after `start`, as 'YYYY-MM-DDTHH:MM:SSZ' strings."""
    schedule = cron(expression, time_zone)
    out, moment = [], utc(start)
    for _ in range(count):
        moment = schedule.next_after(moment)
        out.append(moment.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return out


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("kwargs", "field", "fragment"),
    [
        ({"cron": None, "interval_minutes": None}, "schedule", "exactly one"),
        ({"cron": "* * * * *", "interval_minutes": 5}, "schedule", "exactly one"),
        ({"cron": "", "interval_minutes": None}, "cron", "empty"),
        ({"cron": "   ", "interval_minutes": None}, "cron", "empty"),
        ({"cron": 5, "interval_minutes": None}, "cron", "string"),
        ({"cron": "* * * *", "interval_minutes": None}, "cron", "4 fields"),
        ({"cron": "* * * * * * *", "interval_minutes": None}, "cron", "7 fields"),
        ({"cron": "61 * * * *", "interval_minutes": None}, "cron", "minute field '61': 61 is outside 0-59"),
        ({"cron": "0 24 * * *", "interval_minutes": None}, "cron", "hour field '24'"),
        ({"cron": "0 0 0 * *", "interval_minutes": None}, "cron", "day-of-month field '0'"),
        ({"cron": "0 0 * 13 *", "interval_minutes": None}, "cron", "month field '13'"),
        ({"cron": "0 0 * * 8", "interval_minutes": None}, "cron", "day-of-week field '8'"),
        ({"cron": "0 0 * foo *", "interval_minutes": None}, "cron", "'foo' is not a number"),
        ({"cron": "*/0 * * * *", "interval_minutes": None}, "cron", "step '0'"),
        ({"cron": "*/x * * * *", "interval_minutes": None}, "cron", "step 'x'"),
        ({"cron": "5-2 * * * *", "interval_minutes": None}, "cron", "'5-2' runs backwards"),
        ({"cron": "1,,2 * * * *", "interval_minutes": None}, "cron", "empty list item"),
        ({"cron": "? * * * *", "interval_minutes": None}, "cron", "? is only allowed in the day fields"),
        ({"cron": "0 0 15W * *", "interval_minutes": None}, "cron", "W (nearest weekday)"),
        ({"cron": "0 0 * * 1#6", "interval_minutes": None}, "cron", "#6 must be #1 to #5"),
        ({"cron": "H * * * *", "interval_minutes": None}, "cron", "'H'"),
        ({"cron": "@reboot", "interval_minutes": None}, "cron", "unknown macro '@reboot'"),
        ({"cron": "0 0 30 2 *", "interval_minutes": None}, "cron", "never fires"),
        ({"cron": "0 0 31 4,6,9,11 *", "interval_minutes": None}, "cron", "never fires"),
        ({"cron": "0 0 L 2 * ", "interval_minutes": None, "time_zone": "Mars/Base"}, "time_zone", "Mars/Base"),
        ({"cron": "* * * * *", "interval_minutes": None, "time_zone": "America"}, "time_zone", "unknown"),
        ({"cron": "* * * * *", "interval_minutes": None, "time_zone": "../etc/passwd"}, "time_zone", "unknown"),
        ({"cron": "* * * * *", "interval_minutes": None, "time_zone": ""}, "time_zone", "IANA"),
        ({"cron": None, "interval_minutes": 0}, "interval_minutes", "between 1 and 525600"),
        ({"cron": None, "interval_minutes": 525_601}, "interval_minutes", "between 1 and 525600"),
        ({"cron": None, "interval_minutes": True}, "interval_minutes", "whole number"),
        ({"cron": None, "interval_minutes": "5"}, "interval_minutes", "whole number"),
        ({"cron": None, "interval_minutes": 5, "time_zone": "Nowhere/City"}, "time_zone", "unknown"),
        ({"cron": None, "interval_minutes": 5, "anchor": datetime(2026, 1, 1)}, "anchor", "timezone-aware"),
    ],
)
def test_bad_schedules_name_the_field_and_the_reason(kwargs, field, fragment):
    with pytest.raises(InvalidScheduleError) as caught:
        parse_schedule(**kwargs)
    assert caught.value.field == field
    assert fragment in caught.value.reason


def test_a_schedule_that_never_fires_is_refused_quickly():
    began = time.monotonic()
    with pytest.raises(InvalidScheduleError, match="never fires"):
        parse_schedule("0 0 30 2 *", None)
    assert time.monotonic() - began < 1


def test_time_zone_defaults_to_utc():
    assert cron("0 0 * * *").time_zone == "UTC"
    assert parse_schedule("0 0 * * *", None, None).time_zone == "UTC"
    assert parse_schedule(None, 5, None).time_zone == "UTC"


def test_expression_keeps_the_text_with_whitespace_collapsed():
    schedule = cron("  0   9 * *\t1-5 ", "Europe/London")
    assert schedule.expression == "0 9 * * 1-5"
    assert schedule.time_zone == "Europe/London"
    assert "Europe/London" in schedule.describe()


@pytest.mark.parametrize(
    ("expression", "start", "expected"),
    [
        ("@yearly", "2026-03-01T00:00", ["2027-01-01T00:00:00Z"]),
        ("@annually", "2026-03-01T00:00", ["2027-01-01T00:00:00Z"]),
        ("@monthly", "2026-03-05T00:00", ["2026-04-01T00:00:00Z"]),
        ("@weekly", "2026-03-05T00:00", ["2026-03-08T00:00:00Z"]),  # a Sunday
        ("@daily", "2026-03-05T10:00", ["2026-03-06T00:00:00Z"]),
        ("@MIDNIGHT", "2026-03-05T10:00", ["2026-03-06T00:00:00Z"]),
        ("@hourly", "2026-03-05T10:00", ["2026-03-05T11:00:00Z", "2026-03-05T12:00:00Z"]),
        # Six fields: a leading seconds field.
        ("*/20 * * * * *", "2026-03-05T10:00:05", ["2026-03-05T10:00:20Z", "2026-03-05T10:00:40Z"]),
        ("30 0 12 * * *", "2026-03-05T10:00", ["2026-03-05T12:00:30Z"]),
        # Names, case-insensitive; 7 is Sunday too.
        ("0 0 1 jan,Jul *", "2026-02-01T00:00", ["2026-07-01T00:00:00Z", "2027-01-01T00:00:00Z"]),
        ("0 8 * * MON-wed", "2026-03-05T00:00", ["2026-03-09T08:00:00Z", "2026-03-10T08:00:00Z"]),
        ("0 0 * * 7", "2026-03-05T00:00", ["2026-03-08T00:00:00Z"]),
        # Vixie cron: both day fields restricted -> either matches.
        ("0 0 13 * 5", "2026-03-01T00:00", ["2026-03-06T00:00:00Z", "2026-03-13T00:00:00Z", "2026-03-20T00:00:00Z"]),
        # A day field starting with * -> both must match (odd days that are Mondays).
        ("0 0 */2 * 1", "2026-03-01T00:00", ["2026-03-09T00:00:00Z", "2026-03-23T00:00:00Z"]),
        # L, nL and #n.
        ("0 0 L * *", "2026-02-01T00:00", ["2026-02-28T00:00:00Z", "2026-03-31T00:00:00Z"]),
        ("0 0 L 2 *", "2027-03-01T00:00", ["2028-02-29T00:00:00Z"]),
        ("0 0 * * 5L", "2026-03-01T00:00", ["2026-03-27T00:00:00Z", "2026-04-24T00:00:00Z"]),
        ("0 0 * * 1#2", "2026-03-01T00:00", ["2026-03-09T00:00:00Z", "2026-04-13T00:00:00Z"]),
        ("0 0 ? * mon#1", "2026-03-01T00:00", ["2026-03-02T00:00:00Z"]),
        # Steps from a value and within a range.
        ("10/20 * * * *", "2026-03-05T10:00", ["2026-03-05T10:10:00Z", "2026-03-05T10:30:00Z", "2026-03-05T10:50:00Z"]),
        ("0 9-17/4 * * *", "2026-03-05T10:00", ["2026-03-05T13:00:00Z", "2026-03-05T17:00:00Z", "2026-03-06T09:00:00Z"]),
        # Feb 29 exists in 2096 and 2104, not in 2100.
        ("0 0 29 2 *", "2096-03-01T00:00", ["2104-02-29T00:00:00Z"]),
    ],
)
def test_next_fire_times_in_utc(expression, start, expected):
    assert fires(expression, "UTC", start, len(expected)) == expected


def test_next_after_is_strictly_after_and_drops_sub_seconds():
    schedule = cron("* * * * *")
    assert schedule.next_after(utc("2026-03-05T10:00:00")) == utc("2026-03-05T10:01:00")
    assert schedule.next_after(utc("2026-03-05T10:00:59.999999")) == utc("2026-03-05T10:01:00")
    # Any aware input is accepted and the answer is always UTC.
    eastern = datetime(2026, 3, 5, 5, 0, tzinfo=ZoneInfo("America/New_York"))
    answer = schedule.next_after(eastern)
    assert answer == utc("2026-03-05T10:01:00") and answer.tzinfo is UTC


def test_naive_moments_are_refused():
    with pytest.raises(ValidationError) as caught:
        cron("* * * * *").next_after(datetime(2026, 1, 1))
    assert caught.value.field == "moment"
    with pytest.raises(ValidationError) as caught:
        cron("* * * * *").slots_between(utc("2026-01-01T00:00"), datetime(2026, 1, 2))
    assert caught.value.field == "end"
    with pytest.raises(ValidationError) as caught:
        cron("* * * * *").slots_between(utc("2026-01-01T00:00"), utc("2026-01-02T00:00"), limit=0)
    assert caught.value.field == "limit"


def test_slots_between_is_half_open_and_limited():
    schedule = cron("0 * * * *")
    slots = schedule.slots_between(utc("2026-03-05T10:00"), utc("2026-03-05T13:00"))
    assert slots == [utc("2026-03-05T11:00"), utc("2026-03-05T12:00"), utc("2026-03-05T13:00")]
    assert schedule.slots_between(utc("2026-03-05T10:00"), utc("2026-03-06T10:00"), limit=2) == slots[:2]
    assert schedule.slots_between(utc("2026-03-05T10:00"), utc("2026-03-05T10:59")) == []


# ---------------------------------------------------------------- DST, by hand

NEW_YORK, LONDON = "America/New_York", "Europe/London"


@pytest.mark.parametrize(
    ("expression", "zone", "start", "expected"),
    [
        # US spring forward, 2026-03-08 02:00 EST -> 03:00 EDT (07:00Z).
        # 02:30 does not exist: it runs once at 03:00 EDT, then normally.
        ("30 2 * * *", NEW_YORK, "2026-03-07T12:00", ["2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"]),
        ("0 2 * * *", NEW_YORK, "2026-03-07T12:00", ["2026-03-08T07:00:00Z", "2026-03-09T06:00:00Z"]),
        ("0 3 * * *", NEW_YORK, "2026-03-07T12:00", ["2026-03-08T07:00:00Z", "2026-03-09T07:00:00Z"]),
        # Skipped slots of an interval job collapse into the single 03:00 run.
        (
            "*/30 * * * *",
            NEW_YORK,
            "2026-03-08T05:45",
            ["2026-03-08T06:00:00Z", "2026-03-08T06:30:00Z", "2026-03-08T07:00:00Z", "2026-03-08T07:30:00Z"],
        ),
        # US fall back, 2026-11-01 02:00 EDT -> 01:00 EST (06:00Z): 01:xx happens twice.
        # A fixed-hour job runs once, in the first 01:30 (EDT).
        ("30 1 * * *", NEW_YORK, "2026-10-31T12:00", ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"]),
        ("0 1 * * *", NEW_YORK, "2026-10-31T12:00", ["2026-11-01T05:00:00Z", "2026-11-02T06:00:00Z"]),
        # An hour-wildcard job runs in both 01:30s.
        (
            "30 * * * *",
            NEW_YORK,
            "2026-11-01T04:00",
            ["2026-11-01T04:30:00Z", "2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z", "2026-11-01T07:30:00Z"],
        ),
        # Cronos: a step in the minute field makes it an interval job too.
        (
            "*/30 1 * * *",
            NEW_YORK,
            "2026-11-01T04:00",
            ["2026-11-01T05:00:00Z", "2026-11-01T05:30:00Z", "2026-11-01T06:00:00Z", "2026-11-01T06:30:00Z",
             "2026-11-02T06:00:00Z"],
        ),
        # UK spring forward, 2026-03-29 01:00 GMT -> 02:00 BST (01:00Z).
        ("30 1 * * *", LONDON, "2026-03-28T12:00", ["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"]),
        (
            "0 * * * *",
            LONDON,
            "2026-03-28T23:30",
            ["2026-03-29T00:00:00Z", "2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z"],
        ),
        # UK fall back, 2026-10-25 02:00 BST -> 01:00 GMT (01:00Z).
        ("30 1 * * *", LONDON, "2026-10-24T12:00", ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]),
        (
            "0 * * * *",
            LONDON,
            "2026-10-24T22:30",
            ["2026-10-24T23:00:00Z", "2026-10-25T00:00:00Z", "2026-10-25T01:00:00Z", "2026-10-25T02:00:00Z"],
        ),
        # Seconds resolution through the repeated hour.
        (
            "59 59 1 * * *",
            LONDON,
            "2026-10-24T12:00",
            ["2026-10-25T00:59:59Z", "2026-10-26T01:59:59Z"],
        ),
    ],
)
def test_dst_transitions_follow_vixie_cron_and_cronos(expression, zone, start, expected):
    assert fires(expression, zone, start, len(expected)) == expected


def test_every_minute_keeps_firing_through_both_repeated_hours():
    schedule = cron("* * * * *", NEW_YORK)
    slots = schedule.slots_between(utc("2026-11-01T04:59"), utc("2026-11-01T07:00"))
    assert slots == [utc("2026-11-01T05:00") + i * MINUTE for i in range(121)]


def test_every_minute_runs_once_at_the_end_of_the_spring_gap():
    schedule = cron("* * * * *", LONDON)
    slots = schedule.slots_between(utc("2026-03-29T00:58"), utc("2026-03-29T01:02"))
    # 00:59 GMT, then 02:00 BST (= 01:00Z; all of 01:xx GMT was skipped), 02:01 BST, ...
    assert slots == [utc("2026-03-29T00:59"), utc("2026-03-29T01:00"), utc("2026-03-29T01:01"), utc("2026-03-29T01:02")]


def test_interval_schedules_are_elapsed_time_and_ignore_dst():
    anchor = datetime(2026, 10, 24, 22, 15, tzinfo=ZoneInfo(LONDON))
    schedule = parse_schedule(None, 60, LONDON, anchor=anchor)
    assert isinstance(schedule, IntervalSchedule)
    slots = schedule.slots_between(utc("2026-10-24T21:00"), utc("2026-10-25T03:00"))
    assert slots[0] == anchor.astimezone(UTC) == utc("2026-10-24T21:15")
    assert [b - a for a, b in zip(slots, slots[1:])] == [timedelta(hours=1)] * (len(slots) - 1)
    assert len(slots) == 6
    assert schedule.expression == "every 60 minutes" and schedule.time_zone == LONDON


def test_interval_default_anchor_is_the_unix_epoch():
    schedule = parse_schedule(None, 90, None)
    assert schedule.next_after(utc("2026-01-01T00:00")) == utc("2026-01-01T01:30")
    assert schedule.next_after(utc("2026-01-01T01:30")) == utc("2026-01-01T03:00")


# ---------------------------------------------------------------- DST, by oracle

# (zone, an instant near a 2026 transition): spring and autumn for each zone;
# Lord Howe moves by 30 minutes, which catches hour-sized assumptions.
TRANSITIONS = [
    (NEW_YORK, utc("2026-03-08T07:00")),
    (NEW_YORK, utc("2026-11-01T06:00")),
    (LONDON, utc("2026-03-29T01:00")),
    (LONDON, utc("2026-10-25T01:00")),
    ("Australia/Lord_Howe", utc("2026-04-04T15:00")),
    ("Australia/Lord_Howe", utc("2026-10-03T15:30")),
]


def oracle(zone_name, minute_ok, hour_ok, interval, start, end):
    """Slots in (start, end], found by walking every UTC minute (start on a whole minute)."""
    zone = ZoneInfo(zone_name)
    slots = []
    previous = start.astimezone(zone).replace(tzinfo=None)
    moment = start + MINUTE
    while moment <= end:
        local = moment.astimezone(zone)
        wall = local.replace(tzinfo=None)
        skipped = [previous + k * MINUTE for k in range(1, int((wall - previous) / MINUTE))]
        matches = minute_ok(wall.minute) and hour_ok(wall.hour)
        if any(minute_ok(w.minute) and hour_ok(w.hour) for w in skipped):
            slots.append(moment)  # fires at the first instant after the gap
        elif matches and (local.fold == 0 or interval):
            slots.append(moment)
        previous = wall
        moment += MINUTE
    return slots


def time_field(low, high):
    """(cron text, membership test, is it an interval field) for minute/hour fields."""
    star = st.just(("*", lambda v: True, True))
    step = st.integers(2, 30).map(lambda k: (f"*/{k}", lambda v, k=k: v % k == 0, True))
    span = st.tuples(st.integers(low, high), st.integers(low, high)).map(sorted).map(
        lambda ab: (f"{ab[0]}-{ab[1]}", lambda v, a=ab[0], b=ab[1]: a <= v <= b, True)
    )
    listed = st.sets(st.integers(low, high), min_size=1, max_size=4).map(
        lambda vs: (",".join(map(str, sorted(vs))), lambda v, vs=frozenset(vs): v in vs, False)
    )
    return st.one_of(star, step, span, listed)


@settings(max_examples=150, deadline=None)
@given(
    transition=st.sampled_from(TRANSITIONS),
    minute=time_field(0, 59),
    hour=time_field(0, 23),
    lead=st.integers(1, 6 * 60),
)
def test_slots_around_transitions_match_a_brute_force_oracle(transition, minute, hour, lead):
    zone, instant = transition
    (minute_text, minute_ok, minute_interval), (hour_text, hour_ok, hour_interval) = minute, hour
    start = instant - lead * MINUTE
    end = start + timedelta(hours=10)
    # The window really contains a transition, so this test cannot pass vacuously.
    assert start.astimezone(ZoneInfo(zone)).utcoffset() != end.astimezone(ZoneInfo(zone)).utcoffset()
    schedule = cron(f"{minute_text} {hour_text} * * *", zone)
    expected = oracle(zone, minute_ok, hour_ok, minute_interval or hour_interval, start, end)
    assert schedule.slots_between(start, end, limit=10_000) == expected


EXPRESSIONS = [
    "* * * * *",
    "*/7 * * * *",
    "30 2 * * *",
    "30 1 * * *",
    "15 1,2,3 * * *",
    "0 1-3 * * *",
    "*/10 1 * * *",
    "0 0 * * 0",
    "0 12 L * *",
    "30 */2 * * 1-5",
    "10,40 * 1,15 * SUN",
    "*/15 */20 1,2 * * *",
    "@hourly",
]


@settings(max_examples=300, deadline=None)
@given(
    expression=st.sampled_from(EXPRESSIONS),
    transition=st.sampled_from(TRANSITIONS),
    offset_seconds=st.integers(-3 * 86_400, 3 * 86_400),
    micro=st.integers(0, 999_999),
    fraction=st.floats(0, 1, exclude_max=True),
)
def test_next_after_is_strictly_later_stable_and_matching(expression, transition, offset_seconds, micro, fraction):
    zone_name, instant = transition
    zone = ZoneInfo(zone_name)
    schedule = cron(expression, zone_name)
    moment = instant + timedelta(seconds=offset_seconds, microseconds=micro)
    slot = schedule.next_after(moment)
    assert slot > moment and slot.tzinfo is UTC and slot.microsecond == 0
    # next_after is a function of a fixed set of slots: anywhere in [moment, slot) gives the same answer.
    span = (slot - moment) // timedelta(microseconds=1)
    between = moment + timedelta(microseconds=min(int(span * fraction), span - 1))
    assert schedule.next_after(between) == slot
    assert schedule.next_after(slot) > slot
    # The slot's local time matches the expression, unless the slot is the
    # first instant after a spring-forward gap (the offset rises right at it).
    local = slot.astimezone(zone)
    after_gap = local.utcoffset() > (slot - timedelta(seconds=1)).astimezone(zone).utcoffset()
    wall = local.replace(tzinfo=UTC)  # the same wall clock, read by a UTC schedule (checked against croniter)
    matches_wall = parse_schedule(expression, None, "UTC").next_after(wall - timedelta(seconds=1)) == wall
    assert matches_wall or after_gap
    # A fixed-hour expression never fires in the second pass of a repeated hour.
    assert local.fold == 0 or schedule.is_interval


def cron_piece(low, high, names=()):
    pieces = [
        st.just("*"),
        st.integers(low, high).map(str),
        # Ranges of two or more values: croniter reads "0-0" as "*".
        st.sets(st.integers(low, high), min_size=2, max_size=2).map(sorted).map(lambda ab: f"{ab[0]}-{ab[1]}"),
        st.sets(st.integers(low, high), min_size=2, max_size=4).map(lambda vs: ",".join(map(str, sorted(vs)))),
    ]
    if names:
        pieces.append(st.sampled_from(names))
    return st.one_of(pieces)


@settings(max_examples=300, deadline=None)
@given(
    minute=st.one_of(cron_piece(0, 59), st.integers(2, 30).map(lambda k: f"*/{k}")),
    hour=st.one_of(cron_piece(0, 23), st.integers(2, 12).map(lambda k: f"*/{k}")),
    dom=cron_piece(1, 28),
    month=cron_piece(1, 12, ("jan", "jun-aug")),
    dow=cron_piece(0, 6, ("mon-fri", "sat")),
    moment=st.datetimes(datetime(2000, 1, 1), datetime(2040, 1, 1)),
)
def test_utc_fire_times_agree_with_croniter(minute, hour, dom, month, dow, moment):
    expression = f"{minute} {hour} {dom} {month} {dow}"
    moment = moment.replace(tzinfo=UTC)
    ours = cron(expression).next_after(moment)
    theirs = croniter(expression, moment).get_next(datetime)
    assert ours == theirs, expression


@settings(max_examples=150, deadline=None)
@given(
    expression=st.sampled_from(EXPRESSIONS),
    transition=st.sampled_from(TRANSITIONS),
    start_offset=st.integers(-86_400, 86_400),
    length=st.integers(0, 86_400),
)
def test_latest_between_is_the_last_of_slots_between(expression, transition, start_offset, length):
    zone, instant = transition
    schedule = cron(expression, zone)
    start = instant + timedelta(seconds=start_offset)
    end = start + timedelta(seconds=length)
    slots = schedule.slots_between(start, end, limit=100_000)
    assert schedule.latest_between(start, end) == (slots[-1] if slots else None)


@settings(max_examples=200, deadline=None)
@given(
    expression=st.sampled_from(["* * * * * *", "*/2 * * * * *", "1,2,3 * * * * *"]),
    start_micros=st.integers(0, 120_000_000),
    length_micros=st.integers(0, 70_000_000),
)
def test_latest_between_is_exact_to_the_second(expression, start_micros, length_micros):
    schedule = cron(expression, LONDON)
    start = utc("2026-10-25T00:59:00") + timedelta(microseconds=start_micros)
    end = start + timedelta(microseconds=length_micros)
    slots = schedule.slots_between(start, end)
    assert schedule.latest_between(start, end) == (slots[-1] if slots else None)


# ---------------------------------------------------------------- misfires


def test_on_time_the_due_slot_fires():
    clock = FrozenClock(utc("2026-03-05T10:00:02"))
    decision = due_slots(cron("0 * * * *"), utc("2026-03-05T09:00"), clock.now(), None)
    assert decision.fire_slot == utc("2026-03-05T10:00")
    assert decision.skipped_slot is None and not decision.dropped_earlier
    assert decision.next_slot == utc("2026-03-05T11:00")


def test_after_downtime_only_the_most_recent_missed_slot_fires():
    clock = FrozenClock(utc("2026-03-05T09:00"))
    last = clock.now()
    clock.advance(timedelta(hours=5, minutes=20))  # the operator was down
    decision = due_slots(cron("0 * * * *"), last, clock.now(), None)
    assert decision.fire_slot == utc("2026-03-05T14:00")
    assert decision.dropped_earlier
    assert decision.next_slot == utc("2026-03-05T15:00")
    # The engine records the slot it fired; the next check owes nothing until 15:00.
    clock.advance(timedelta(minutes=1))
    again = due_slots(cron("0 * * * *"), decision.fire_slot, clock.now(), None)
    assert again.fire_slot is None and again.next_slot == utc("2026-03-05T15:00")


def test_starting_deadline_skips_a_slot_that_is_too_old():
    schedule = cron("0 * * * *")
    last = utc("2026-03-05T09:00")
    late = due_slots(schedule, last, utc("2026-03-05T10:05:00"), starting_deadline_seconds=300)
    assert late.fire_slot == utc("2026-03-05T10:00")  # exactly at the deadline still runs
    too_late = due_slots(schedule, last, utc("2026-03-05T10:05:01"), starting_deadline_seconds=300)
    assert too_late.fire_slot is None
    assert too_late.skipped_slot == utc("2026-03-05T10:00")
    assert too_late.next_slot == utc("2026-03-05T11:00")


def test_nothing_is_owed_without_a_last_slot_or_before_the_next_slot():
    schedule = cron("0 * * * *")
    assert due_slots(schedule, None, utc("2026-03-05T10:30"), None).fire_slot is None
    quiet = due_slots(schedule, utc("2026-03-05T10:00"), utc("2026-03-05T10:30"), 60)
    assert quiet.fire_slot is None and quiet.skipped_slot is None
    assert quiet.next_slot == utc("2026-03-05T11:00")


def test_a_last_slot_ahead_of_now_is_never_fired_again():
    # Another replica's clock ran ahead and already fired 11:00.
    decision = due_slots(cron("0 * * * *"), utc("2026-03-05T11:00"), utc("2026-03-05T10:59:58"), None)
    assert decision.fire_slot is None
    assert decision.next_slot == utc("2026-03-05T12:00")


def test_misfire_search_is_fast_after_a_long_outage():
    began = time.monotonic()
    every_second = parse_schedule("* * * * * *", None)
    decision = due_slots(every_second, utc("2026-01-01T00:00"), utc("2026-03-05T10:00:00.5"), None)
    assert decision.fire_slot == utc("2026-03-05T10:00:00")
    # Every second of 01:xx on Mondays only: a sparse pattern far from `now`.
    sparse = cron("* * 1 * * 1")
    decision = due_slots(sparse, utc("2026-01-01T00:00"), utc("2026-03-05T10:00"), None)
    assert decision.fire_slot == utc("2026-03-02T01:59:59")
    assert time.monotonic() - began < 2


def test_interval_misfires_use_the_same_policy():
    schedule = parse_schedule(None, 15, None, anchor=utc("2026-03-05T00:00"))
    decision = due_slots(schedule, utc("2026-03-05T00:00"), utc("2026-03-05T02:10"), None)
    assert decision.fire_slot == utc("2026-03-05T02:00") and decision.dropped_earlier
    assert decision.next_slot == utc("2026-03-05T02:15")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"now": datetime(2026, 1, 1)}, "now"),
        ({"last_slot": datetime(2026, 1, 1)}, "last_slot"),
        ({"starting_deadline_seconds": -1}, "starting_deadline_seconds"),
        ({"starting_deadline_seconds": 1.5}, "starting_deadline_seconds"),
        ({"starting_deadline_seconds": True}, "starting_deadline_seconds"),
    ],
)
def test_due_slots_validates_its_input(kwargs, field):
    arguments = {
        "last_slot": utc("2026-01-01T00:00"),
        "now": utc("2026-01-02T00:00"),
        "starting_deadline_seconds": None,
    } | kwargs
    with pytest.raises(ValidationError) as caught:
        due_slots(cron("0 * * * *"), **arguments)
    assert caught.value.field == field


# ---------------------------------------------------------------- CronExpressions


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (CronExpressions.EVERY_MINUTE, ["2026-03-05T10:01:00Z", "2026-03-05T10:02:00Z"]),
        (CronExpressions.EVERY_5_MINUTES, ["2026-03-05T10:05:00Z", "2026-03-05T10:10:00Z"]),
        (CronExpressions.EVERY_10_MINUTES, ["2026-03-05T10:10:00Z"]),
        (CronExpressions.EVERY_15_MINUTES, ["2026-03-05T10:15:00Z"]),
        (CronExpressions.EVERY_30_MINUTES, ["2026-03-05T10:30:00Z", "2026-03-05T11:00:00Z"]),
        (CronExpressions.HOURLY, ["2026-03-05T11:00:00Z"]),
        (CronExpressions.DAILY, ["2026-03-06T00:00:00Z"]),
        (CronExpressions.DAILY_AT_1AM, ["2026-03-06T01:00:00Z", "2026-03-07T01:00:00Z"]),
        (CronExpressions.DAILY_AT_2AM, ["2026-03-06T02:00:00Z", "2026-03-07T02:00:00Z"]),
        (CronExpressions.DAILY_AT_NOON, ["2026-03-05T12:00:00Z", "2026-03-06T12:00:00Z"]),
        (CronExpressions.WEEKLY, ["2026-03-08T00:00:00Z"]),  # Sunday
        (CronExpressions.MONTHLY, ["2026-04-01T00:00:00Z"]),
        (CronExpressions.YEARLY, ["2027-01-01T00:00:00Z"]),
        (CronExpressions.WEEKDAYS, ["2026-03-06T00:00:00Z", "2026-03-09T00:00:00Z"]),  # Fri, then Mon
        (CronExpressions.WEEKDAYS_AT_9AM, ["2026-03-06T09:00:00Z", "2026-03-09T09:00:00Z"]),
    ],
)
def test_cron_expression_constants(expression, expected):
    assert fires(expression, "UTC", "2026-03-05T10:00", len(expected)) == expected  # a Thursday


# The seed's CronExpressions, name for name and value for value: code ported
# from it (CronExpressions.DailyAt2AM -> DAILY_AT_2AM) keeps its schedule.
SEED_CRON_EXPRESSIONS = {
    "EveryMinute": "* * * * *",
    "Every5Minutes": "*/5 * * * *",
    "Every15Minutes": "*/15 * * * *",
    "Every30Minutes": "*/30 * * * *",
    "Hourly": "0 * * * *",
    "Daily": "0 0 * * *",
    "DailyAt1AM": "0 1 * * *",
    "DailyAt2AM": "0 2 * * *",
    "Weekly": "0 0 * * 0",
    "Monthly": "0 0 1 * *",
    "WeekdaysAt9AM": "0 9 * * 1-5",
}


def _python_name(seed_name: str) -> str:
    # "DailyAt2AM" -> "DAILY_AT_2AM", "Every5Minutes" -> "EVERY_5_MINUTES"
    words = re.findall(r"\d+(?:AM|PM)?|[A-Z][a-z]+", seed_name)
    return "_".join(words).upper()


@pytest.mark.parametrize(("seed_name", "value"), SEED_CRON_EXPRESSIONS.items())
def test_every_seed_cron_expression_has_its_constant(seed_name, value):
    assert getattr(CronExpressions, _python_name(seed_name), None) == value


def test_cron_expression_builders():
    assert CronExpressions.every_n_minutes(1) == "* * * * *"
    assert CronExpressions.every_n_minutes(20) == "*/20 * * * *"
    assert CronExpressions.every_n_hours(6) == "0 */6 * * *"
    assert CronExpressions.every_n_hours(1) == "0 * * * *"
    assert CronExpressions.daily_at_hour(9) == "0 9 * * *"
    assert CronExpressions.daily_at_hour(23, 45) == "45 23 * * *"
    assert CronExpressions.weekly_on(1, 9, 30) == "30 9 * * 1"
    assert CronExpressions.weekly_on("Friday", 17) == "0 17 * * 5"
    assert CronExpressions.weekly_on("sun") == "0 0 * * 0"
    assert CronExpressions.monthly_on(15, 6) == "0 6 15 * *"
    # Every builder's output is a valid schedule with the intended spacing.
    slots = cron(CronExpressions.every_n_hours(8)).slots_between(utc("2026-03-05T00:00"), utc("2026-03-06T00:00"))
    assert [s.hour for s in slots] == [8, 16, 0]


@pytest.mark.parametrize(
    ("call", "field", "fragment"),
    [
        (lambda: CronExpressions.every_n_minutes(0), "n", "between 1 and 59"),
        (lambda: CronExpressions.every_n_minutes(7), "n", "does not divide 60"),
        (lambda: CronExpressions.every_n_minutes(60), "n", "between 1 and 59"),
        (lambda: CronExpressions.every_n_minutes("5"), "n", "whole number"),
        (lambda: CronExpressions.every_n_hours(5), "n", "does not divide 24"),
        (lambda: CronExpressions.every_n_hours(24), "n", "between 1 and 23"),
        (lambda: CronExpressions.daily_at_hour(24), "hour", "between 0 and 23"),
        (lambda: CronExpressions.daily_at_hour(8, 60), "minute", "between 0 and 59"),
        (lambda: CronExpressions.daily_at_hour(True), "hour", "whole number"),
        (lambda: CronExpressions.weekly_on(7), "day_of_week", "between 0 and 6"),
        (lambda: CronExpressions.weekly_on("Funday"), "day_of_week", "day name"),
        (lambda: CronExpressions.weekly_on("m"), "day_of_week", "day name"),
        (lambda: CronExpressions.weekly_on(1, hour=-1), "hour", "between 0 and 23"),
        (lambda: CronExpressions.monthly_on(32), "day", "between 1 and 31"),
        (lambda: CronExpressions.monthly_on(0), "day", "between 1 and 31"),
    ],
)
def test_cron_expression_builders_validate_arguments(call, field, fragment):
    with pytest.raises(ValidationError) as caught:
        call()
    assert caught.value.field == field
    assert fragment in caught.value.reason
