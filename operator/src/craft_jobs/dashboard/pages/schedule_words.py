"""A recurring job's schedule in words: "every day at 03:00", "every 15 minutes".

Covers the shapes people write (steps, lists, ranges, names, macros) field by
field; an expression it cannot phrase well falls back to naming each field, so
it never guesses. The expression itself is always shown next to the words.
"""

from __future__ import annotations

from craft_jobs.schedules import MACROS

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
_MONTH_KEYS = tuple(name[:3].upper() for name in _MONTHS)
_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_DAY_KEYS = tuple(name[:3].upper() for name in _DAYS)


def _plural(n: int, unit: str) -> str:
    return f"{unit}" if n == 1 else f"{n} {unit}s"


def interval_words(minutes: int) -> str:
    for size, unit in ((1440, "day"), (60, "hour")):
        if minutes % size == 0:
            return f"every {_plural(minutes // size, unit)}"
    return f"every {_plural(minutes, 'minute')}"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _name(token: str, keys: tuple[str, ...], names: tuple[str, ...], low: int) -> str:
    upper = token.upper()
    if upper in keys:
        return names[keys.index(upper)]
    if upper.isdigit():
        index = int(upper) - low
        return names[index % len(names)]
    return token


def _named_list(field: str, keys: tuple[str, ...], names: tuple[str, ...], low: int) -> str:
    parts = []
    for item in field.split(","):
        if "-" in item and "/" not in item:
            start, end = item.split("-", 1)
            parts.append(f"{_name(start, keys, names, low)} to {_name(end, keys, names, low)}")
        else:
            parts.append(_name(item, keys, names, low))
    return _join(parts)


def _is_number(token: str) -> bool:
    return token.isascii() and token.isdigit()


def _times(minute: str, hour: str, second: str = "0") -> str | None:
    """ "at 03:00", "at 09:30 and 17:30" when the fields are plain numbers or lists."""
    minutes, hours = minute.split(","), hour.split(",")
    if not all(_is_number(m) for m in minutes) or not all(_is_number(h) for h in hours) or not _is_number(second):
        return None
    seconds = f":{int(second):02d}" if second != "0" else ""
    return "at " + _join([f"{int(h):02d}:{int(m):02d}{seconds}" for h in hours for m in minutes])


def _minute_part(minute: str) -> str:
    if minute == "*":
        return "every minute"
    if minute.startswith("*/") and _is_number(minute[2:]):
        return f"every {_plural(int(minute[2:]), 'minute')}"
    if all(_is_number(m) for m in minute.split(",")):
        return f"at minute {_join(minute.split(','))}"
    return f"at minutes {minute}"


def _hour_part(hour: str) -> str:
    if hour == "*":
        return "of every hour"
    if hour.startswith("*/") and _is_number(hour[2:]):
        return f"every {_plural(int(hour[2:]), 'hour')}"
    if "-" in hour and "/" not in hour and "," not in hour:
        start, end = hour.split("-", 1)
        return f"from {start}:00 to {end}:59"
    return f"past hour {hour}"


def _day_part(dom: str, month: str, dow: str) -> str:
    parts = []
    if dow not in ("*", "?"):
        if dow.upper() in ("1-5", "MON-FRI"):
            parts.append("on weekdays")
        elif dow.upper() in ("0,6", "6,0", "SAT,SUN", "SUN,SAT"):
            parts.append("on weekends")
        elif "#" in dow or dow.upper().endswith("L") or "/" in dow:
            parts.append(f"on day-of-week {dow}")
        else:
            parts.append("on " + _named_list(dow, _DAY_KEYS, _DAYS, 0))
    if dom not in ("*", "?"):
        if dom.upper() == "L":
            parts.append("on the last day of the month")
        elif all(_is_number(d) for d in dom.split(",")):
            parts.append("on day " + _join(dom.split(",")) + (" of the month" if month == "*" else ""))
        else:
            parts.append(f"on day-of-month {dom}")
    if month != "*":
        if "/" in month:
            parts.append(f"in month {month}")
        else:
            parts.append("in " + _named_list(month, _MONTH_KEYS, _MONTHS, 1))
    return " ".join(parts) if parts else "every day"


def cron_words(expression: str) -> str:
    fields = MACROS.get(expression.strip().lower(), expression).split()
    second = "0"
    if len(fields) == 6:
        second, fields = fields[0], fields[1:]
    elif len(fields) != 5:
        return expression
    prefix = "" if _is_number(second) else f"at second {second}, "
    minute, hour, dom, month, dow = fields
    days = _day_part(dom, month, dow)
    times = _times(minute, hour, second)
    if times is not None:
        return prefix + f"{days} {times}"
    if hour == "*" and (minute == "*" or minute.startswith("*/")):
        when = _minute_part(minute)
    elif _is_number(minute) and hour == "*":
        when = f"every hour at minute {minute}" if minute != "0" else "every hour"
    elif _is_number(minute) and hour.startswith("*/"):
        when = f"{_hour_part(hour)} at minute {minute}" if minute != "0" else _hour_part(hour)
    else:
        when = f"{_minute_part(minute)} {_hour_part(hour)}"
    return prefix + (when if days == "every day" else f"{when}, {days}")


def schedule_words(cron: str | None, interval_minutes: int | None) -> str:
    if interval_minutes is not None:
        return interval_words(interval_minutes)
    return cron_words(cron or "")
