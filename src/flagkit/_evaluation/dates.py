"""Dates for ``is_date_before`` / ``is_date_after``: absolute and relative filter dates.

Absolute text is parsed as PostHog does: ``Z`` and `` UTC`` suffixes mean UTC, a bare
four-digit year means that year on today's local month and day, and the rest goes to
``datetime.fromisoformat`` with the Python 3.11 grammar. That grammar is wider than ISO 8601
and has quirks (any single character may separate date and time, fractions may follow the
hour, text after six fraction digits is ignored when an offset follows, ...). Python 3.10
accepts far less and later versions a little more, so this module re-implements the 3.11
rules; on CPython 3.11 the built-in is used directly. Naive results are taken as UTC.

Relative filter dates (``7d``, ``-3m``, ...) are resolved against the clock at evaluation.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

__all__ = [
    "DateFilter",
    "DateResolver",
    "compile_date_filter",
    "fromisoformat_311",
    "months_before",
    "parse_date_text",
    "parse_isoformat_311",
    "years_before",
]

_DIGIT_0 = 0x30
_COLON = 0x3A
_DASH = 0x2D
_PLUS = 0x2B
_ZULU = 0x5A
_WEEK = 0x57
_FRACTION_SCALE = (100000, 10000, 1000, 100, 10)
_MAX_ORDINAL = date.max.toordinal()


class _IsoSyntaxError(Exception):
    pass


class _Bytes:
    """UTF-8 text read like a NUL-terminated C string (reads past the end give 0)."""

    __slots__ = ("data", "size")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.size = len(data)

    def at(self, index: int) -> int:
        return self.data[index] if index < self.size else 0

    def digits(self, start: int, count: int) -> tuple[int, int]:
        value = 0
        for index in range(start, start + count):
            digit = self.at(index) - _DIGIT_0
            if not 0 <= digit <= 9:
                raise _IsoSyntaxError
            value = value * 10 + digit
        return value, start + count

    def is_digit(self, index: int) -> bool:
        return 0 <= self.at(index) - _DIGIT_0 <= 9


def _separator_position(text: _Bytes) -> int:
    """Where the date ends (the date/time separator), -1 when it cannot be placed."""
    size = text.size
    if size == 7:
        return 7
    if text.at(4) == _DASH:
        if text.at(5) != _WEEK:
            return 10
        if size > 8 and text.at(8) == _DASH:
            if size == 9:
                return -1
            # "YYYY-Www-" followed by two digits reads as a time after a dash separator.
            return 8 if size > 10 and text.is_digit(10) else 10
        return 8
    if text.at(4) == _WEEK:
        end = 7
        while end < size and text.is_digit(end):
            end += 1
        if end < 9:
            return end
        return 7 if end % 2 == 0 else 8
    return 8


def _week_date(year: int, week: int, weekday: int) -> tuple[int, int, int]:
    if year < 1:
        raise _IsoSyntaxError
    january_first = date(year, 1, 1)
    first_weekday = january_first.weekday()
    if not 1 <= week <= 52:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        long_year = first_weekday == 3 or (first_weekday == 2 and leap)
        if not (week == 53 and long_year):
            raise _IsoSyntaxError
    if not 1 <= weekday <= 7:
        raise _IsoSyntaxError
    monday = january_first.toordinal() - first_weekday + (7 if first_weekday > 3 else 0)
    ordinal = monday + (week - 1) * 7 + weekday - 1
    if not 1 <= ordinal <= _MAX_ORDINAL:
        raise _IsoSyntaxError
    day = date.fromordinal(ordinal)
    return day.year, day.month, day.day


def _parse_date(text: _Bytes, end: int) -> tuple[int, int, int]:
    year, pos = text.digits(0, 4)
    dashed = text.at(pos) == _DASH
    if dashed:
        pos += 1
    if text.at(pos) == _WEEK:
        week, pos = text.digits(pos + 1, 2)
        weekday = 1
        if pos < end:
            if dashed:
                if text.at(pos) != _DASH:
                    raise _IsoSyntaxError
                pos += 1
            weekday, pos = text.digits(pos, 1)
        return _week_date(year, week, weekday)
    month, pos = text.digits(pos, 2)
    if dashed:
        if text.at(pos) != _DASH:
            raise _IsoSyntaxError
        pos += 1
    day, pos = text.digits(pos, 2)
    return year, month, day


def _parse_clock(text: _Bytes, start: int, end: int) -> tuple[bool, list[int]]:
    """``HH[:MM[:SS]]`` with an optional fraction; returns (stopped early, [h, m, s, us])."""
    values = [0, 0, 0, 0]
    pos = start
    colons = True
    for index in range(3):
        values[index], pos = text.digits(pos, 2)
        char = text.at(pos)
        pos += 1
        if index == 0:
            colons = char == _COLON
        if pos >= end:
            return char != 0, values
        if colons and char == _COLON:
            continue
        if char in (0x2E, 0x2C):  # "." or ","
            break
        if colons:
            raise _IsoSyntaxError
        pos -= 1
    count = min(end - pos, 6)
    fraction, pos = text.digits(pos, count)
    if count < 6:
        fraction *= _FRACTION_SCALE[count - 1]
    values[3] = fraction
    while text.is_digit(pos):
        pos += 1
    return text.at(pos) != 0, values


def _parse_time(text: _Bytes, start: int, end: int) -> tuple[list[int], timezone | None]:
    marker = start
    while True:
        if text.at(marker) in (_ZULU, _PLUS, _DASH):
            break
        marker += 1
        if marker >= end:
            break
    trailing, clock = _parse_clock(text, start, marker)
    if marker == end:
        if trailing:
            raise _IsoSyntaxError
        return clock, None
    if text.at(marker) == _ZULU:
        if text.at(marker + 1) != 0:
            raise _IsoSyntaxError
        return clock, timezone.utc
    sign = -1 if text.at(marker) == _DASH else 1
    trailing, offset = _parse_clock(text, marker + 1, end)
    if trailing:
        raise _IsoSyntaxError
    seconds = sign * (offset[0] * 3600 + offset[1] * 60 + offset[2])
    micros = sign * offset[3]
    if seconds == 0 and micros == 0:
        return clock, timezone.utc
    try:
        return clock, timezone(timedelta(seconds=seconds, microseconds=micros))
    except ValueError:
        raise _IsoSyntaxError from None


def _separator_width(lead: int) -> int:
    if lead < 0x80:
        return 1
    if lead & 0xF0 == 0xE0:
        return 3
    if lead & 0xF0 == 0xF0:
        return 4
    return 2


def parse_isoformat_311(text: str) -> datetime:
    """Parse ``text`` with the rules of CPython 3.11's ``datetime.fromisoformat``.

    Raises ``ValueError`` for text that 3.11 rejects.
    """
    if len(text) < 7:
        raise ValueError(f"Invalid isoformat string: {text!r}")
    # 3.11 tolerates one surrogate, at a possible separator position, standing for "T".
    for position in (7, 8, 10):
        if position > len(text):
            break
        if position < len(text) and "\ud800" <= text[position] <= "\udfff":
            text = text[:position] + "T" + text[position + 1 :]
            break
    try:
        raw = _Bytes(text.encode("utf-8"))
        separator = _separator_position(raw)
        if separator < 0:
            raise _IsoSyntaxError
        year, month, day = _parse_date(raw, separator)
        clock, zone = [0, 0, 0, 0], None
        if raw.size > separator:
            start = separator + _separator_width(raw.at(separator))
            clock, zone = _parse_time(raw, start, raw.size)
        return datetime(year, month, day, clock[0], clock[1], clock[2], clock[3], zone)
    except (_IsoSyntaxError, UnicodeEncodeError, ValueError, OverflowError):
        raise ValueError(f"Invalid isoformat string: {text!r}") from None


fromisoformat_311: Callable[[str], datetime]
if sys.implementation.name == "cpython" and sys.version_info[:2] == (3, 11):
    fromisoformat_311 = datetime.fromisoformat
else:
    fromisoformat_311 = parse_isoformat_311


# Unicode digits on purpose: PostHog's bare-year and spaced-offset checks use Python's \d.
_BARE_YEAR = re.compile(r"\d{4}")
_SPACED_OFFSET = re.compile(r" ([+-]\d{2}:\d{2})$")
# ``$`` also matches before a final newline, as in PostHog's relative-date check.
_RELATIVE = re.compile(r"^-?([0-9]+)([a-z])$")
_MAX_RELATIVE = 10_000

Clock = Callable[[], datetime]
DateResolver = Callable[[datetime], "datetime | None"]


def _normalise(text: str) -> str | int:
    """The text to hand to ``fromisoformat``, or the year of a bare four-digit year."""
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # Uppercasing never shortens a character, so the last four are enough.
    elif text[-4:].upper().endswith(" UTC"):
        text = text[:-4] + "+00:00"
    elif _BARE_YEAR.fullmatch(text):
        return int(text)
    if text[-7:-6] == " ":
        text = _SPACED_OFFSET.sub(r"\1", text)
    return text


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _on_local_today(year: int, local_now: Clock) -> datetime:
    today = local_now()
    return datetime(year, today.month, today.day, tzinfo=timezone.utc)


def parse_date_text(text: str, local_now: Clock) -> datetime:
    """Parse absolute date text the way PostHog does; the result is timezone-aware.

    ``local_now`` gives the local wall-clock time, needed only for a bare year. Raises
    ``ValueError`` (or ``OverflowError``) when the text is not a date.
    """
    prepared = _normalise(text)
    if isinstance(prepared, int):
        return _on_local_today(prepared, local_now)
    return _aware(fromisoformat_311(prepared))


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def months_before(moment: datetime, months: int) -> datetime | None:
    """``moment`` moved back one calendar month at a time, clamping the day at each step."""
    start = moment.year * 12 + moment.month - 1
    target = start - months
    year, month_index = divmod(target, 12)
    if not 1 <= year <= 9999:
        return None
    day = moment.day
    step = start - 1
    # Every month has at least 28 days, so clamping stops mattering below 29.
    while day > 28 and step >= target:
        day = min(day, _days_in_month(step // 12, step % 12 + 1))
        step -= 1
    return moment.replace(year=year, month=month_index + 1, day=day)


def years_before(moment: datetime, years: int) -> datetime | None:
    """``moment`` moved back ``years`` years; February 29 always becomes the 28th."""
    year = moment.year - years
    if not 1 <= year <= 9999:
        return None
    day = 28 if years > 0 and moment.month == 2 and moment.day == 29 else moment.day
    return moment.replace(year=year, day=day)


class DateFilter:
    """A compiled filter date: ``fixed`` when it does not depend on the clock."""

    __slots__ = ("fixed", "resolve")

    def __init__(self, resolve: DateResolver, fixed: datetime | None = None) -> None:
        self.resolve = resolve
        self.fixed = fixed


def _absolute(text: str, local_now: Clock) -> DateFilter | None:
    try:
        prepared = _normalise(text)
        if isinstance(prepared, int):
            year = prepared

            def bare_year(now: datetime) -> datetime | None:
                try:
                    return _on_local_today(year, local_now)
                except (ValueError, OverflowError):
                    return None

            return DateFilter(bare_year)
        fixed = _aware(fromisoformat_311(prepared))
    except (ValueError, OverflowError):
        return None
    return DateFilter(lambda now: fixed, fixed)


def _shift(delta: timedelta) -> DateFilter:
    def shifted(now: datetime) -> datetime | None:
        try:
            return now - delta
        except OverflowError:
            return None

    return DateFilter(shifted)


def _calendar(
    step: Callable[[datetime, int], datetime | None],
    count: int,
    fallback: DateFilter | None,
) -> DateFilter:
    def stepped(now: datetime) -> datetime | None:
        moment = step(now, count)
        if moment is None and fallback is not None:
            return fallback.resolve(now)
        return moment

    return DateFilter(stepped)


_UNIT_DELTAS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def compile_date_filter(value: Any, local_now: Clock) -> DateFilter | None:
    """Compile a filter value; ``resolve(now_utc)`` gives the instant at evaluation time.

    ``None`` means the value can never be a date. ``resolve`` returning ``None`` means it is
    not a usable date at that moment (a relative date out of range). ``str(value)`` is what
    PostHog parses, so ``1234`` is the year 1234.
    """
    text = str(value)
    relative = _RELATIVE.search(text)
    if relative is not None:
        try:
            count = int(relative.group(1))
        except ValueError:  # too many digits for int()
            return None
        unit = relative.group(2)
        if count < _MAX_RELATIVE:
            if unit in _UNIT_DELTAS:
                return _shift(_UNIT_DELTAS[unit] * count)
            if unit == "m":
                return _calendar(months_before, count, _absolute(text, local_now))
            if unit == "y":
                return _calendar(years_before, count, _absolute(text, local_now))
    return _absolute(text, local_now)
