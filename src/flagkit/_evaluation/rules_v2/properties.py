"""Compile rules v2 targeting filters into never-raising checks.

The operators themselves are the legacy ones (:func:`compile_property_filter`); this module
adds what rules v2 changes around them, each point required by the corpus:

* an absent key is *known unset* when the context's properties are complete (``is_not`` and
  ``is_not_set`` hold, as the corpus pins; by analogy so do the other ``not_*`` operators;
  positive ones do not) and a ``missing_context`` failure when they are not, or when there
  are no properties at all;
* an unusable property value (a non-version for ``semver_*``, a non-date) is a non-match,
  where the legacy arm is inconclusive;
* an invalid regex is an ``invalid_regex`` failure (legacy: both regex operators False);
* a null property under ``gt``/``gte``/``lt``/``lte`` is an ``invalid_property`` failure;
* ``exact`` with a scalar null filter value matches nothing (``[null]`` still matches null);
* ``semver_*`` read numeric parts with leading zeros (``v3.08`` is 3.8.0; legacy rejects it);
* ``icontains_multi``/``not_icontains_multi`` and the date operators are new (:mod:`.dates`).

``negation`` inverts a True/False answer; failures pass through unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flagkit._evaluation.operators import SUPPORTED_OPERATORS, compile_property_filter
from flagkit._evaluation.outcome import Cause, PropertyTest
from flagkit._evaluation.regex import RegexStatus, compile_regex
from flagkit._evaluation.rules_v2.context import Failure, V2Context
from flagkit._evaluation.rules_v2.dates import DATE_OPERATORS, BadFilterDateError, compare_dates
from flagkit._evaluation.rules_v2.model import Check
from flagkit._evaluation.stringify import UnrepresentableError, ascii_lower, fold_ascii, stringify

__all__ = ["KNOWN_OPERATORS", "compile_check"]

MULTI_OPERATORS = frozenset({"icontains_multi", "not_icontains_multi"})
DEPENDENCY_OPERATORS = frozenset({"in", "not_in", "flag_evaluates_to"})
KNOWN_OPERATORS = SUPPORTED_OPERATORS | MULTI_OPERATORS | DATE_OPERATORS | DEPENDENCY_OPERATORS
# True for an absent key (with complete properties): the negative form of each operator.
_HOLDS_WHEN_ABSENT = frozenset(
    {"is_not", "is_not_set", "not_icontains", "not_icontains_multi"}
    | {"not_starts_with", "not_ends_with", "not_regex"}
)
_ORDERINGS = frozenset({"gt", "gte", "lt", "lte"})
# Zeros leading a run of digits ("08" -> "8"); a lone "0" stays.
_LEADING_ZEROS = re.compile(r"(?<![0-9])0+(?=[0-9])")

Present = Callable[[Any, V2Context], "bool | Failure"]
"""The test of a key that is present in the properties: (its value, the context)."""


def _fixed(outcome: bool | Failure) -> Present:
    return lambda prop, context: outcome


def _from_legacy(key: str, operator: str, value: Any) -> Present:
    """Run the legacy operator; map its inconclusive answers to rules v2 outcomes."""
    raw = {"key": key, "operator": operator, "value": value}
    tests: tuple[PropertyTest, PropertyTest] = (
        compile_property_filter(raw, 1).test,
        compile_property_filter(raw, 2).test,
    )
    unsupported = Failure("invalid_property", f"{key} {operator}: cannot be evaluated locally")

    def present(prop: Any, context: V2Context) -> bool | Failure:
        outcome = tests[1 if context.explicit_exact_matching else 0]({key: prop})
        if outcome is True or outcome is False:
            return outcome
        # A present but unusable value (legacy: missing context) simply does not match.
        return False if outcome is Cause.MISSING_CONTEXT else unsupported

    return present


def _multi(key: str, operator: str, value: Any) -> Present:
    try:
        items = value if isinstance(value, list) else [value]
        needles = tuple(ascii_lower(stringify(item)) for item in items)
    except (UnrepresentableError, ValueError, RecursionError):
        return _fixed(Failure("invalid_property", f"{key} {operator}: unusable filter value"))
    negate = operator == "not_icontains_multi"

    def present(prop: Any, context: V2Context) -> bool | Failure:
        try:
            text = fold_ascii(stringify(prop))
        except Exception:  # no text form: like the legacy text operators, no match
            return False
        return any(needle in text for needle in needles) is not negate

    return present


def _dates(key: str, operator: str, value: Any) -> Present:
    bad = Failure("invalid_property", f"{key} {operator}: the filter value is not a date")

    def present(prop: Any, context: V2Context) -> bool | Failure:
        try:
            return compare_dates(operator, value, prop, context.now, context.zone)
        except BadFilterDateError:
            return bad
        except Exception:  # a misbehaving tzinfo or datetime subclass: no match
            return False

    return present


def _without_leading_zeros(value: Any) -> Any:
    return _LEADING_ZEROS.sub("", value) if isinstance(value, str) else value


def _semver(key: str, operator: str, value: Any) -> Present:
    legacy = _from_legacy(key, operator, _without_leading_zeros(value))

    def present(prop: Any, context: V2Context) -> bool | Failure:
        return legacy(_without_leading_zeros(prop), context)

    return present


def _invalid_pattern(value: Any) -> bool:
    return compile_regex(str(value)).status == RegexStatus.INVALID


def _present_test(key: str, operator: str, value: Any) -> Present:
    if operator in DEPENDENCY_OPERATORS:
        detail = f"{key} {operator}: cohort and flag operators need their dependencies"
        return _fixed(Failure("dependency_error", detail))
    if operator in ("is_set", "is_not_set"):
        return _fixed(operator == "is_set")
    if operator in ("regex", "not_regex"):
        if _invalid_pattern(value):
            return _fixed(Failure("invalid_regex", f"{key} {operator}: invalid pattern"))
        return _from_legacy(key, operator, value)
    if operator in ("exact", "is_not") and value is None:
        return _fixed(operator == "is_not")  # a null filter value names no value to match
    if operator in MULTI_OPERATORS:
        return _multi(key, operator, value)
    if operator in DATE_OPERATORS:
        return _dates(key, operator, value)
    if operator.startswith("semver_"):
        return _semver(key, operator, value)
    legacy = _from_legacy(key, operator, value)
    if operator in _ORDERINGS:
        null = Failure("invalid_property", f"{key} {operator}: the property is null")

        def ordered(prop: Any, context: V2Context) -> bool | Failure:
            return null if prop is None else legacy(prop, context)

        return ordered
    return legacy


def compile_check(key: str, kind: str, operator: str, value: Any, negation: bool) -> Check:
    """The check of one validated filter (``kind`` is its ``type``). Never raises."""
    if kind in ("cohort", "flag"):
        failure = Failure("dependency_error", f"{kind} filter {key}: dependencies unavailable")
        return lambda context: failure
    present = _present_test(key, operator, value)
    absent: bool | Failure = operator in _HOLDS_WHEN_ABSENT
    if operator in ("regex", "not_regex") and _invalid_pattern(value):
        # A broken pattern fails wherever it is reached, even for an absent key.
        absent = Failure("invalid_regex", f"{key} {operator}: invalid pattern")
    unknown = Failure("missing_context", f"property {key!r} is not in the context")
    no_properties = Failure("missing_context", "the context has no properties")

    def check(context: V2Context) -> bool | Failure:
        try:
            properties = context.properties
            if properties is None:
                return no_properties
            if key in properties:
                outcome = present(properties[key], context)
            elif not context.properties_complete:
                return unknown
            else:
                outcome = absent
            if isinstance(outcome, bool):
                return outcome is not negation
            return outcome
        except Exception:  # a hostile mapping: never raise out of evaluation
            return Failure("invalid_property", f"property {key!r} could not be read")

    return check
