"""Date operators of rules v2: ``is_date_exact``, ``is_date_before``, ``is_date_after``.

The legacy date operators (:mod:`flagkit._evaluation.operators`) are reused for parsing
text (:func:`~flagkit._evaluation.dates.parse_date_text`) and calendar steps, but the
comparison is new because the corpus demands semantics the legacy arm lacks:

* a context time zone: a date-only value (``2024-03-31``) is a calendar day there;
* ``is_date_exact`` (instant equality, or same local day for a date-only value);
* relative days/weeks/months/years step the *local wall clock* (``-1d`` across a DST change
  is not 24 hours); an ambiguous wall time takes its earliest instant, a wall time in a DST
  gap does not exist and matches nothing;
* numbers are Unix epoch seconds; an unparseable property is a plain non-match.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Any

from flagkit._evaluation.dates import months_before, parse_date_text, years_before

__all__ = ["DATE_OPERATORS", "compare_dates", "localize"]

DATE_OPERATORS = frozenset({"is_date_exact", "is_date_before", "is_date_after"})

_RELATIVE = re.compile(r"-?([0-9]{1,4})([hdwmy])")
_DATE_ONLY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

Moment = datetime | date  # an aware instant, or a calendar day in the context zone


class BadFilterDateError(Exception):
    """The filter value is no date at all (a definition problem, not a non-match)."""


def localize(wall: datetime, zone: tzinfo) -> datetime | None:
    """The earliest instant showing wall-clock ``wall`` in ``zone``; None inside a DST gap."""
    found: list[datetime] = []
    for fold in (0, 1):
        candidate = wall.replace(tzinfo=zone, fold=fold)
        back = candidate.astimezone(timezone.utc).astimezone(zone).replace(tzinfo=None)
        if back == wall:  # a gap time does not survive the round trip
            found.append(candidate.astimezone(timezone.utc))
    return min(found) if found else None


def _relative(count: int, unit: str, now: datetime, zone: tzinfo) -> datetime | None:
    if unit == "h":  # hours are elapsed time, not wall-clock steps
        return now - timedelta(hours=count)
    wall = now.astimezone(zone).replace(tzinfo=None)
    stepped: datetime | None
    if unit in ("d", "w"):
        try:
            stepped = wall - timedelta(days=count * (7 if unit == "w" else 1))
        except OverflowError:
            return None
    elif unit == "m":
        stepped = months_before(wall, count)
    else:
        stepped = years_before(wall, count)
    return None if stepped is None else localize(stepped, zone)


def _filter_moment(value: Any, now: datetime, zone: tzinfo) -> Moment | None:
    """The filter's date; None when it resolves to nothing (a DST gap, out of range)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise BadFilterDateError
    text = value if isinstance(value, str) else str(value)
    relative = _RELATIVE.fullmatch(text)
    if relative is not None:
        return _relative(int(relative.group(1)), relative.group(2), now, zone)
    if _DATE_ONLY.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise BadFilterDateError from None
    try:
        return parse_date_text(text, lambda: now.astimezone(zone).replace(tzinfo=None))
    except (ValueError, OverflowError):
        raise BadFilterDateError from None


def _property_moment(prop: Any, now: datetime, zone: tzinfo) -> Moment | None:
    if isinstance(prop, bool) or prop is None:
        return None
    if isinstance(prop, datetime):
        return prop if prop.tzinfo is not None else prop.replace(tzinfo=timezone.utc)
    if isinstance(prop, date):
        return prop
    if isinstance(prop, (int, float)):
        if isinstance(prop, float) and not math.isfinite(prop):
            return None
        try:
            return datetime.fromtimestamp(prop, timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(prop, str):
        return None
    text = prop.strip()
    if _DATE_ONLY.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            return None
    try:
        return parse_date_text(text, lambda: now.astimezone(zone).replace(tzinfo=None))
    except (ValueError, OverflowError):
        return None


def _instant(moment: Moment, zone: tzinfo) -> datetime | None:
    if isinstance(moment, datetime):
        return moment
    return localize(datetime.combine(moment, time()), zone)


def _day(moment: Moment, zone: tzinfo) -> date:
    return moment.astimezone(zone).date() if isinstance(moment, datetime) else moment


def compare_dates(operator: str, value: Any, prop: Any, now: datetime, zone: tzinfo) -> bool:
    """Whether the property satisfies the date filter. Raises :class:`BadFilterDateError`
    for a filter value that is no date; every other problem is a non-match."""
    bound = _filter_moment(value, now, zone)
    subject = _property_moment(prop, now, zone)
    if bound is None or subject is None:
        return False
    if operator == "is_date_exact" and not isinstance(bound, datetime):
        return _day(subject, zone) == bound
    low, high = _instant(subject, zone), _instant(bound, zone)
    if low is None or high is None:
        return False
    if operator == "is_date_exact":
        return low == high
    return low < high if operator == "is_date_before" else low > high
