"""Compiling one filter of a condition group or cohort: property, cohort or flag dependency."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flagkit._evaluation.model import FilterTest
from flagkit._evaluation.operators import compile_property_filter
from flagkit._evaluation.outcome import (
    BROKEN,
    RS_DEFINITION,
    Cause,
    FilterOutcome,
    RequiresServer,
    stronger,
)
from flagkit._evaluation.runtime import Frame, evaluate_dependency

CohortTest = Callable[[Mapping[str, Any], Frame], FilterOutcome]
COHORT_OPERATORS = frozenset({"exact", "in", "not_in"})


def constant_filter(outcome: FilterOutcome) -> FilterTest:
    """A filter whose outcome is fixed (it reads nothing)."""

    def test(props: Mapping[str, Any]) -> FilterOutcome:
        return outcome

    return (False, test)


BROKEN_FILTER: FilterTest = constant_filter(BROKEN)
"""A filter PostHog's SDK fails on when it reaches it."""


def compile_filter(raw: Any, matching_version: int) -> tuple[FilterTest, str]:
    """Compile one filter of a condition group (or of a cohort): (test, human phrase)."""
    if not isinstance(raw, Mapping):
        return constant_filter(BROKEN), "malformed filter"
    kind = raw.get("type")
    if kind == "cohort":
        return (True, _compile_cohort_reference(raw)), cohort_phrase(raw)
    if kind == "flag":
        text = f"flag {raw.get('key')} is {raw.get('value')!r}"
        return _compile_dependency(raw), text
    compiled = compile_property_filter(raw, matching_version)
    return (False, compiled.test), compiled.text


def cohort_phrase(raw: Mapping[str, Any]) -> str:
    """How descriptions name a cohort filter."""
    operator = "not in" if raw.get("operator") == "not_in" else "in"
    return f"{operator} cohort {raw.get('value')}"


def _compile_cohort_reference(raw: Mapping[str, Any]) -> CohortTest:
    cohort_id = str(raw.get("value"))
    operator = raw.get("operator") or "exact"
    supported = isinstance(operator, str) and operator in COHORT_OPERATORS
    negate = operator == "not_in"

    def test(props: Mapping[str, Any], frame: Frame) -> FilterOutcome:
        group = frame.cohorts.get(cohort_id)
        if group is None:
            # Static, behavioural or unknown cohort: only PostHog's servers know members.
            return RS_DEFINITION
        if not supported:
            return Cause.UNSUPPORTED_DEFINITION
        memo = frame.cohort_memo
        slot = (cohort_id, id(props))
        outcome: FilterOutcome | None = memo.get(slot)
        if outcome is None:
            if not frame.nest():
                return BROKEN
            frame.depth += 1
            try:
                outcome = group(props, frame)
            finally:
                frame.depth -= 1
            if outcome is not BROKEN:  # an error may depend on the depth: never kept
                memo[slot] = outcome
        if negate and isinstance(outcome, bool):
            return not outcome
        return outcome

    return test


def is_nested_group(entry: Mapping[str, Any]) -> bool:
    return len(entry) == 0 or "values" in entry or entry.get("type") in ("AND", "OR")


def compile_cohort_group(group: Any, matching_version: int) -> CohortTest:
    """Compile a cohort's property group (nested AND/OR groups, negation)."""
    if isinstance(group, Mapping) and len(group) == 0:
        return _always_true
    if (
        not isinstance(group, Mapping)
        or group.get("type") not in ("AND", "OR")
        or not isinstance(group.get("values"), list)
    ):
        return _requires_server
    is_and = group.get("type") == "AND"
    entries: list[tuple[bool, bool, Callable[..., FilterOutcome]]] = []
    for entry in group["values"]:
        if not isinstance(entry, Mapping):
            return _requires_server
        if is_nested_group(entry):
            entries.append((False, True, compile_cohort_group(entry, matching_version)))
            continue
        (needs_frame, test), _ = compile_filter(entry, matching_version)
        negation = entry.get("negation", False)
        entries.append((bool(negation), needs_frame, test))
    if not entries:
        return _always_true
    return _make_group_test(is_and, tuple(entries))


def _make_group_test(
    is_and: bool, entries: tuple[tuple[bool, bool, Callable[..., FilterOutcome]], ...]
) -> CohortTest:
    def test(props: Mapping[str, Any], frame: Frame) -> FilterOutcome:
        decisive: bool | None = None
        cause: Cause | None = None
        for negated, needs_frame, entry_test in entries:
            outcome = entry_test(props, frame) if needs_frame else entry_test(props)
            if outcome is True or outcome is False:
                if (outcome != negated) != is_and:
                    decisive = outcome != negated
            elif isinstance(outcome, Cause):
                cause = stronger(cause, outcome)
            else:
                # Requires-server propagates at once; an error aborts the flag.
                return outcome
        if decisive is not None:
            return decisive
        if cause is not None:
            return cause
        return is_and

    return test


def _always_true(props: Mapping[str, Any], frame: Frame) -> FilterOutcome:
    return True


def _requires_server(props: Mapping[str, Any], frame: Frame) -> FilterOutcome:
    return RS_DEFINITION


def broken_cohort(props: Mapping[str, Any], frame: Frame) -> FilterOutcome:
    """The test of a cohort that cannot be compiled (nested past the recursion limit):
    PostHog's SDK fails on reaching it, so flags that reach it have no local value."""
    return BROKEN


def _dependency_matches(expected: Any, actual: Any) -> bool:
    """Whether a dependency's value satisfies the expected value of the filter."""
    if isinstance(actual, str) and actual:
        if isinstance(expected, bool):
            return expected
        if isinstance(expected, str):
            return actual == expected
        return False
    if isinstance(actual, bool) and isinstance(expected, bool):
        return actual == expected
    return False


def _compile_dependency(raw: Mapping[str, Any]) -> FilterTest:
    key = raw.get("key")
    expected = raw.get("value")
    operator = raw.get("operator", "exact")
    # A malformed dependency is a definite no-match, as on PostHog's servers.
    if operator != "flag_evaluates_to" or not key or expected is None:
        return constant_filter(False)
    if "dependency_chain" not in raw:
        return constant_filter(Cause.UNSUPPORTED_DEFINITION)
    chain = raw["dependency_chain"]
    if not isinstance(chain, list) or not chain:
        # An empty chain is how the server marks a circular dependency.
        return constant_filter(Cause.UNSUPPORTED_DEFINITION)
    try:
        members = tuple(chain)
        for member in members:
            hash(member)
        hash(key)
    except TypeError:
        return constant_filter(BROKEN)

    # The flag itself is the chain's last member, but a malformed chain may omit it: then
    # its value is whatever an earlier member's evaluation left in the cache.
    outside_chain = key not in members

    def test(props: Mapping[str, Any], frame: Frame) -> FilterOutcome:
        # A shared cache holds values evaluated on the flag's own properties: a condition
        # on a group's (mixed targeting) would read them where PostHog evaluates afresh.
        if outside_chain or (frame.shared and props is not frame.props):
            frame.isolate()
        cache = frame.cache
        definitions = frame.definitions
        # A member with no definition outranks one that is only inconclusive.
        for member in members:
            if member not in cache and member not in definitions:
                frame.mark(member)
                return Cause.UNSUPPORTED_DEFINITION
        for member in members:
            # Read each time: evaluating a member may move the frame to its own cache.
            if member in frame.cache:
                continue
            dependency = frame.lookup(member)
            if dependency is None:  # pragma: no cover - checked above
                return Cause.UNSUPPORTED_DEFINITION
            problem = evaluate_dependency(member, dependency, props, frame)
            if problem is not None:
                return problem
        cache = frame.cache
        actual = cache.get(key)
        if actual is None:
            if key in definitions and key in cache:
                return Cause.UNRESOLVED_DEPENDENCY
            return Cause.UNSUPPORTED_DEFINITION
        return _dependency_matches(expected, actual)

    return (True, test)


__all__ = [
    "COHORT_OPERATORS",
    "CohortTest",
    "RequiresServer",
    "broken_cohort",
    "cohort_phrase",
    "compile_cohort_group",
    "compile_filter",
    "constant_filter",
    "is_nested_group",
]
