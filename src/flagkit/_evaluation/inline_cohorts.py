"""Cohort filters compiled into the flag: for cohorts that read person properties only.

A cohort filter is normally tested through the evaluation's frame, which finds the cohort
when the flag runs, keeps each cohort's outcome for the call, and stops runaway nesting.
A cohort whose groups hold only property filters (no other cohorts, no flag
dependencies) needs none of that: its test reads the properties and nothing else. Such a
filter is compiled into a plain property test, so the flag needs no frame, takes the
unrolled code and shares the filter list's outcome across the flags of an
``evaluate_all`` call like any other list. Filters on unknown (static, behavioural) cohorts and
cohorts with malformed parts need PostHog's servers, which ends the whole flag, and stay
on the frame's path. The answers are the ones the frame gives; only the cost differs.

The compiled flag then depends on the cohort's definition: a reload that changes the
cohort must compile the flag again (``CompiledFlag.cohort_ids``, see Snapshot._adopt).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flagkit._evaluation.filters import (
    COHORT_OPERATORS,
    CohortTest,
    broken_cohort,
    cohort_phrase,
    constant_filter,
    is_nested_group,
)
from flagkit._evaluation.model import FilterTest
from flagkit._evaluation.outcome import Cause, FilterOutcome
from flagkit._evaluation.runtime import MAX_NESTED_EVALUATIONS

# What these cohorts' group tests get for a frame: they never read it.
_NO_FRAME: Any = None
# Deeper raw nesting than this is not inlined (the frame's path handles it as before).
_MAX_GROUP_DEPTH = 32


def _reads_properties_only(group: Any, depth: int = 0) -> bool:
    """Whether a raw cohort group, as compile_cohort_group compiles it, is well formed and
    tests nothing but properties: its outcome is then True, False, an inconclusive cause
    or an error, as a property filter's is. (A malformed part needs PostHog's servers,
    which stops the whole flag: that stays on the frame's path.)"""
    if depth > _MAX_GROUP_DEPTH or not isinstance(group, Mapping):
        return False
    if len(group) == 0:
        return True
    values = group.get("values")
    if group.get("type") not in ("AND", "OR") or not isinstance(values, list):
        return False
    for entry in values:
        if not isinstance(entry, Mapping):
            return False
        if is_nested_group(entry):
            if not _reads_properties_only(entry, depth + 1):
                return False
        elif entry.get("type") in ("cohort", "flag"):
            return False
    return True


def _member_test(group: CohortTest, negate: bool) -> Any:
    if negate:

        def test_not_in(props: Mapping[str, Any]) -> FilterOutcome:
            outcome = group(props, _NO_FRAME)
            if outcome is True or outcome is False:
                return not outcome
            return outcome

        return test_not_in

    def test_in(props: Mapping[str, Any]) -> FilterOutcome:
        return group(props, _NO_FRAME)

    return test_in


class InlineCohorts:
    """The cohorts of one snapshot, for compiling cohort filters without the frame."""

    __slots__ = ("_compiled", "_id_sets", "_inlinable", "_raw")

    def __init__(self, raw: Mapping[Any, Any], compiled: Mapping[str, CohortTest]) -> None:
        # By id as text, as the compiled cohorts are (a body from a dict may use ints).
        self._raw = {str(cohort_id): group for cohort_id, group in raw.items()}
        self._compiled = compiled
        self._inlinable: dict[str, bool] = {}
        self._id_sets: dict[frozenset[str], frozenset[str]] = {}

    def shared_ids(self, ids: frozenset[str]) -> frozenset[str]:
        """One set object per distinct set of cohort ids (flags often share them)."""
        return self._id_sets.setdefault(ids, ids)

    def reference(self, raw_filter: Mapping[str, Any]) -> tuple[FilterTest, str] | None:
        """The frame-free (test, phrase) of a cohort filter, as compile_filter returns
        them, or None when the cohort needs the frame."""
        if len(self._compiled) >= MAX_NESTED_EVALUATIONS:
            return None  # the frame's work limit could be reached: keep its path
        cohort_id = str(raw_filter.get("value"))
        operator = raw_filter.get("operator") or "exact"
        group = self._compiled.get(cohort_id)
        # The frame's order of checks: unknown cohort first (it needs PostHog's servers,
        # which stops the flag: the frame's path), then the operator.
        if group is None:
            return None
        if not (isinstance(operator, str) and operator in COHORT_OPERATORS):
            return constant_filter(Cause.UNSUPPORTED_DEFINITION), cohort_phrase(raw_filter)
        if not self._can_inline(cohort_id, group):
            return None
        return (False, _member_test(group, operator == "not_in")), cohort_phrase(raw_filter)

    def _can_inline(self, cohort_id: str, group: CohortTest) -> bool:
        known = self._inlinable.get(cohort_id)
        if known is None:
            known = group is not broken_cohort and _reads_properties_only(self._raw.get(cohort_id))
            self._inlinable[cohort_id] = known
        return known

    def changed_since(self, previous: InlineCohorts) -> set[str] | None:
        """Ids of the cohorts whose definition differs from ``previous``'s (None: cannot
        tell, treat every cohort as changed)."""
        try:
            if previous._raw == self._raw:
                return set()
            ids = previous._raw.keys() | self._raw.keys()
            return {i for i in ids if previous._raw.get(i) != self._raw.get(i)}
        except Exception:  # values whose comparison fails
            return None


NO_COHORTS: frozenset[str] = frozenset()  # shared by every flag without cohort filters


def cohort_ids(raw_filters: Any) -> frozenset[str]:
    """The ids of the cohorts a raw filter list references directly."""
    if not isinstance(raw_filters, list):
        return NO_COHORTS
    ids = [
        str(item.get("value"))
        for item in raw_filters
        if isinstance(item, Mapping) and item.get("type") == "cohort"
    ]
    return frozenset(ids) if ids else NO_COHORTS
