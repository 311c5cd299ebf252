"""Compile one property filter into a fast, never-raising test (PostHog 7.91.1 semantics).

``compile_property_filter`` does all the work that depends only on the filter (parsing
numbers, dates, versions and patterns, lowercasing, building sets) once, and returns a
closure specialised for the operator. The closure answers ``True``, ``False`` or a
:class:`~flagkit._evaluation.outcome.Cause`, following PostHog's order of checks:

1. unknown operator: ``UNSUPPORTED_DEFINITION``;
2. key absent from the properties: ``MISSING_CONTEXT``, or ``UNSUPPORTED_DEFINITION`` when
   the filter value itself is unusable for its operator;
3. ``is_set`` / ``is_not_set`` answer from presence alone;
4. ordering operators (they run before the null check);
5. a ``None`` property is ``False``, except for ``exact``, ``is_not`` and the text and
   regex operators, which see it as the text ``null``;
6. the operator itself.

Inputs for which PostHog raises an ordinary exception (not an inconclusive match) give
``UNSUPPORTED_DEFINITION`` here; see :data:`GENERIC_ERROR_CASES`.
"""

from __future__ import annotations

import operator as _op
import weakref
from collections.abc import Callable, Mapping
from datetime import date, datetime, timezone
from typing import Any

from flagkit._evaluation.dates import compile_date_filter, parse_date_text
from flagkit._evaluation.numbers import parse_number
from flagkit._evaluation.outcome import Cause, CompiledProperty, Outcome, PropertyTest
from flagkit._evaluation.regex import RegexStatus, compile_regex
from flagkit._evaluation.semver import (
    Version,
    caret_range,
    parse_property_version,
    parse_version,
    tilde_range,
    wildcard_range,
)
from flagkit._evaluation.stringify import (
    UnrepresentableError,
    ascii_lower,
    fold_ascii,
    is_boolean_like,
    is_truthy,
    stringify,
)

__all__ = ["GENERIC_ERROR_CASES", "SUPPORTED_OPERATORS", "compile_property_filter"]

_MISSING_CONTEXT = Cause.MISSING_CONTEXT
_UNSUPPORTED = Cause.UNSUPPORTED_DEFINITION
_ABSENT: Any = object()

SUPPORTED_OPERATORS = frozenset(
    {
        "exact",
        "is_not",
        "is_set",
        "is_not_set",
        "icontains",
        "not_icontains",
        "regex",
        "not_regex",
        "starts_with",
        "not_starts_with",
        "ends_with",
        "not_ends_with",
        "gt",
        "gte",
        "lt",
        "lte",
        "is_date_before",
        "is_date_after",
        "semver_eq",
        "semver_neq",
        "semver_gt",
        "semver_gte",
        "semver_lt",
        "semver_lte",
        "semver_tilde",
        "semver_caret",
        "semver_wildcard",
    }
)

GENERIC_ERROR_CASES = (
    "the filter is not a mapping (PostHog: AttributeError)",
    "the filter key is unhashable (PostHog: TypeError on lookup)",
    "a value to stringify holds an int longer than Python's int-to-str digit limit, or is "
    "nested deeper than the recursion limit (PostHog: ValueError / RecursionError)",
    "str() of a non-JSON filter value (regex, date, semver) or of a semver property value "
    "raises something other than ValueError/TypeError",
    "comparing a property datetime raises (e.g. a tzinfo whose utcoffset() misbehaves)",
)
"""Inputs on which PostHog raises an ordinary exception; flagkit answers UNSUPPORTED_DEFINITION."""


def _constant(outcome: Outcome) -> PropertyTest:
    def test(props: Mapping[str, Any]) -> Outcome:
        return outcome

    return test


def _presence(key: Any, when_present: bool) -> PropertyTest:
    def test(props: Mapping[str, Any]) -> Outcome:
        try:
            return when_present if key in props else _MISSING_CONTEXT
        except Exception:
            return _UNSUPPORTED

    FAST_PATHS[test] = ("set", key, when_present, False)
    return test


# --- exact / is_not -------------------------------------------------------------------------


def _exact(key: Any, value: Any, matching_version: int, negate: bool) -> PropertyTest:
    try:
        for item in value if isinstance(value, list) else [value]:
            stringify(item)
    except UnrepresentableError:
        return _constant(_UNSUPPORTED)

    if isinstance(value, list) and not value:
        # An empty list matches truthy properties, in both matching modes.
        def decide(prop: Any, text: str) -> bool:
            return is_truthy(prop)

    elif matching_version != 2 and is_boolean_like(value):
        expected = is_truthy(value)

        def decide(prop: Any, text: str) -> bool:
            return is_truthy(prop) == expected

    elif isinstance(value, list):
        return _exact_choices(key, frozenset(stringify(item).lower() for item in value), negate)

    else:
        return _exact_choices(key, frozenset((stringify(value).lower(),)), negate)

    def test(props: Mapping[str, Any]) -> Outcome:
        try:
            prop = props.get(key, _ABSENT)
            if prop is _ABSENT:
                return _MISSING_CONTEXT
            if type(prop) is str:
                text = prop
            else:
                try:
                    text = stringify(prop)
                except UnrepresentableError:
                    return _MISSING_CONTEXT
            return decide(prop, text) is not negate
        except Exception:
            return _UNSUPPORTED

    return test


# Tests whose result for common property values is a single expression, described as
# (kind, key, constant, negate) so that flagkit._evaluation.specialize can inline them:
# "in" (exact/is_not, str property: choices), "contains" (icontains/not_icontains, str
# property: needle), "set" (is_set/is_not_set: the answer when present), "gt"/"gte"/"lt"/
# "lte" (finite float or int property: the bound), "semver_*" (str property already parsed:
# the target, or (low, high) for "semver_range"). Other values still go through the test.
FAST_PATHS: weakref.WeakKeyDictionary[Callable[..., Any], tuple[str, Any, Any, bool]] = (
    weakref.WeakKeyDictionary()
)


def _exact_choices(key: Any, choices: frozenset[str], negate: bool) -> PropertyTest:
    """``exact``/``is_not`` against plain values: one set lookup (the hot, common case)."""

    def test(props: Mapping[str, Any]) -> Outcome:
        try:
            prop = props.get(key, _ABSENT)
            if type(prop) is str:
                return (prop.lower() in choices) is not negate
            if prop is _ABSENT:
                return _MISSING_CONTEXT
            try:
                text = stringify(prop)
            except UnrepresentableError:
                return _MISSING_CONTEXT
            return (text.lower() in choices) is not negate
        except Exception:
            return _UNSUPPORTED

    FAST_PATHS[test] = ("in", key, choices, negate)
    return test


# --- text operators ---------------------------------------------------------------------------


def _contains(needle: str, text: str) -> bool:
    return needle in text


def _starts(needle: str, text: str) -> bool:
    return text.startswith(needle)


def _ends(needle: str, text: str) -> bool:
    return text.endswith(needle)


_TEXT_CHECKS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "icontains": (_contains, False),
    "not_icontains": (_contains, True),
    "starts_with": (_starts, False),
    "not_starts_with": (_starts, True),
    "ends_with": (_ends, False),
    "not_ends_with": (_ends, True),
}


def _text(key: Any, value: Any, operator: str) -> PropertyTest:
    try:
        needle = ascii_lower(stringify(value))
    except UnrepresentableError:
        return _constant(_UNSUPPORTED)
    check, negate = _TEXT_CHECKS[operator]
    contains = check is _contains

    def test(props: Mapping[str, Any]) -> Outcome:
        try:
            prop = props.get(key, _ABSENT)
            if type(prop) is str:
                text = prop
            elif prop is _ABSENT:
                return _MISSING_CONTEXT
            else:
                try:
                    text = stringify(prop)
                except UnrepresentableError:
                    return _MISSING_CONTEXT
            if contains:
                return (needle in fold_ascii(text)) is not negate
            return check(needle, fold_ascii(text)) is not negate
        except Exception:
            return _UNSUPPORTED

    if contains:
        FAST_PATHS[test] = ("contains", key, needle, negate)
    return test


# --- regex ------------------------------------------------------------------------------------


def _regex(key: Any, value: Any, negate: bool) -> PropertyTest:
    program = compile_regex(str(value))
    if program.status == RegexStatus.DEFERRED:
        return _constant(_UNSUPPORTED)
    invalid = program.status == RegexStatus.INVALID
    search = program.search

    def test(props: Mapping[str, Any]) -> Outcome:
        try:
            prop = props.get(key, _ABSENT)
            if prop is _ABSENT:
                return _MISSING_CONTEXT
            if type(prop) is str:
                text = prop
            else:
                try:
                    text = stringify(prop)
                except UnrepresentableError:
                    return _MISSING_CONTEXT
            if invalid:
                return False  # an invalid pattern fails both regex and not_regex
            found = search(text)
            if found is True or found is False:
                return found is not negate
            return found
        except Exception:
            return _UNSUPPORTED

    return test


# --- numbers ----------------------------------------------------------------------------------

# Generic comparisons: numbers here, versions (tuples) in _VERSION_COMPARISONS.
_ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "gt": _op.gt,
    "gte": _op.ge,
    "lt": _op.lt,
    "lte": _op.le,
}


def _numeric(key: Any, value: Any, operator: str) -> PropertyTest:
    bound = parse_number(value)
    if bound is None:
        return _constant(_UNSUPPORTED)
    compare = _ORDERINGS[operator]

    def test(props: Mapping[str, Any]) -> Outcome:
        try:
            prop = props.get(key, _ABSENT)
            if prop is _ABSENT:
                return _MISSING_CONTEXT
            number = parse_number(prop)
            return False if number is None else compare(number, bound)
        except Exception:
            return _UNSUPPORTED

    FAST_PATHS[test] = (operator, key, bound, False)
    return test


# --- dates ------------------------------------------------------------------------------------

Clock = Callable[[], datetime]


def _clocks(now: Clock | None) -> tuple[Clock, Clock]:
    """(aware UTC now, local wall-clock now), both read at evaluation time.

    PostHog takes "today" for bare years from the machine's local clock. An injected clock
    stands for both: its own wall-clock date is "today", so results never depend on the
    host's time zone.
    """
    if now is None:
        return (lambda: datetime.now(timezone.utc)), datetime.now
    injected = now

    def utc_now() -> datetime:
        moment = injected()
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)

    return utc_now, injected


def _date(key: Any, value: Any, operator: str, now: Clock | None) -> PropertyTest:
    utc_now, local_now = _clocks(now)
    try:
        compiled = compile_date_filter(value, local_now)
    except Exception:  # str(value) failed: PostHog raises, except for a null property
        compiled = None
    if compiled is None:
        return _bad_filter_unless_null(key)
    resolve = compiled.resolve
    fixed = compiled.fixed
    compare: Callable[[Any, Any], bool] = _op.lt if operator == "is_date_before" else _op.gt

    def test(props: Mapping[str, Any]) -> Outcome:
        try:
            prop = props.get(key, _ABSENT)
            if prop is _ABSENT:
                if fixed is not None or resolve(utc_now()) is not None:
                    return _MISSING_CONTEXT
                return _UNSUPPORTED
            if prop is None:
                return False
            bound = fixed if fixed is not None else resolve(utc_now())
            if bound is None:
                return _UNSUPPORTED
            if isinstance(prop, datetime):
                moment = prop if prop.tzinfo is not None else prop.replace(tzinfo=timezone.utc)
                return compare(moment, bound)
            if isinstance(prop, date):
                return compare(prop, bound.date())
            if isinstance(prop, str):
                try:
                    return compare(parse_date_text(prop, local_now), bound)
                except Exception:
                    return _MISSING_CONTEXT
            return _MISSING_CONTEXT
        except Exception:
            return _UNSUPPORTED

    return test


def _bad_filter_unless_null(key: Any) -> PropertyTest:
    """Dates and versions: an unusable filter value, but a null property is still False."""

    def test(props: Mapping[str, Any]) -> Outcome:
        try:
            prop = props.get(key, _ABSENT)
            return False if prop is None else _UNSUPPORTED
        except Exception:
            return _UNSUPPORTED

    return test


# --- semver -----------------------------------------------------------------------------------

# semver_gt compares as gt does, and so on; plus equality.
_VERSION_COMPARISONS: dict[str, Callable[[Version, Version], bool]] = {
    "semver_eq": _op.eq,
    "semver_neq": _op.ne,
    **{f"semver_{name}": compare for name, compare in _ORDERINGS.items()},
}
_VERSION_RANGES = {
    "semver_tilde": tilde_range,
    "semver_caret": caret_range,
    "semver_wildcard": wildcard_range,
}


def _semver(key: Any, value: Any, operator: str) -> PropertyTest:
    try:
        if operator in _VERSION_RANGES:
            low, high = _VERSION_RANGES[operator](value)

            def within(version: Version) -> bool:
                return low <= version < high

            fast: tuple[str, Any, Any, bool] = ("semver_range", key, (low, high), False)
        else:
            target = parse_version(value)
            compare = _VERSION_COMPARISONS[operator]

            def within(version: Version) -> bool:
                return compare(version, target)

            fast = (operator, key, target, False)

    except Exception:  # PostHog: inconclusive (or an error), except for a null property
        return _bad_filter_unless_null(key)

    def test(props: Mapping[str, Any]) -> Outcome:
        try:
            prop = props.get(key, _ABSENT)
            if prop is _ABSENT:
                return _MISSING_CONTEXT
            if prop is None:
                return False
            try:
                version = parse_property_version(prop)
            except (ValueError, TypeError):
                return _MISSING_CONTEXT
            return within(version)
        except Exception:
            return _UNSUPPORTED

    FAST_PATHS[test] = fast
    return test


# --- text for humans --------------------------------------------------------------------------

_PHRASES = {
    "icontains": "contains",
    "not_icontains": "does not contain",
    "starts_with": "starts with",
    "not_starts_with": "does not start with",
    "ends_with": "ends with",
    "not_ends_with": "does not end with",
    "regex": "matches regex",
    "not_regex": "does not match regex",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "is_date_before": "is before",
    "is_date_after": "is after",
    "semver_eq": "semver ==",
    "semver_neq": "semver !=",
    "semver_gt": "semver >",
    "semver_gte": "semver >=",
    "semver_lt": "semver <",
    "semver_lte": "semver <=",
    "semver_tilde": "semver ~",
    "semver_caret": "semver ^",
    "semver_wildcard": "semver matches",
}
_MAX_SHOWN = 60


def _shown(value: Any) -> str:
    try:
        text = value if isinstance(value, str) else stringify(value)
    except Exception:
        try:
            text = repr(value)
        except Exception:
            text = f"<{type(value).__name__}>"
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def _describe(key: str, operator: str, value: Any, known: bool) -> str:
    if not known:
        return f"{key} {operator} {_shown(value)} (unsupported operator)"
    if operator in ("is_set", "is_not_set"):
        return f"{key} {'is set' if operator == 'is_set' else 'is not set'}"
    if operator in ("exact", "is_not"):
        verb = "is" if operator == "exact" else "is not"
        if isinstance(value, list):
            items = ", ".join(_shown(item) for item in value[:10])
            more = ", …" if len(value) > 10 else ""
            return f"{key} {verb} one of {items}{more}" if value else f"{key} {verb} one of []"
        return f"{key} {verb} {_shown(value)}"
    phrase = _PHRASES[operator]
    if operator in _TEXT_CHECKS or operator in ("regex", "not_regex"):
        return f"{key} {phrase} '{_shown(value)}'"
    if operator in ("semver_tilde", "semver_caret"):
        return f"{key} {phrase}{_shown(value)}"
    return f"{key} {phrase} {_shown(value)}"


# --- entry point ------------------------------------------------------------------------------


def _build(
    key: Any, operator: str, value: Any, matching_version: int, now: Clock | None
) -> PropertyTest:
    if operator in ("is_set", "is_not_set"):
        return _presence(key, operator == "is_set")
    if operator in ("exact", "is_not"):
        return _exact(key, value, matching_version, negate=operator == "is_not")
    if operator in _TEXT_CHECKS:
        return _text(key, value, operator)
    if operator in ("regex", "not_regex"):
        return _regex(key, value, negate=operator == "not_regex")
    if operator in _ORDERINGS:
        return _numeric(key, value, operator)
    if operator in ("is_date_before", "is_date_after"):
        return _date(key, value, operator, now)
    return _semver(key, value, operator)


def compile_property_filter(
    raw: Mapping[str, Any],
    matching_version: int,
    *,
    now: Callable[[], datetime] | None = None,
) -> CompiledProperty:
    """Compile one property filter (any type except ``cohort`` and ``flag``).

    ``matching_version`` is the definitions' ``property_matching_version`` (2 selects
    explicit equality for ``exact``/``is_not``; anything else is legacy boolean
    precedence). ``now`` supplies the current time for relative dates and the "today" of
    bare years (default: the system clock); it is read at evaluation, never at compile
    time. Never raises; the returned test never raises either.
    """
    try:
        candidate: object = raw  # callers may hand over anything decoded from JSON
        if not isinstance(candidate, Mapping):
            return CompiledProperty("", "", _constant(_UNSUPPORTED), "invalid property filter")
        key = raw.get("key")
        operator = raw.get("operator") or "exact"
        value = raw.get("value")
        key_text = key if isinstance(key, str) else _shown(key)
        known = isinstance(operator, str) and operator in SUPPORTED_OPERATORS
        operator_text = operator if isinstance(operator, str) else _shown(operator)
        text = _describe(key_text, operator_text, value, known)
    except Exception:
        return CompiledProperty("", "", _constant(_UNSUPPORTED), "unusable property filter")
    if not known:
        return CompiledProperty(key_text, operator_text, _constant(_UNSUPPORTED), text)
    try:
        hash(key)  # an unhashable key cannot be looked up
        test = _build(key, operator, value, matching_version, now)
    except Exception:
        test = _constant(_UNSUPPORTED)
    return CompiledProperty(key_text, operator_text, test, text)
