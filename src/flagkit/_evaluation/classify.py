"""Which flags can never be decided locally, judged from their definitions alone.

PostHog's SDK uses this judgement to pick the reason it reports when a flag stops before
reaching its conditions (a device-bucketed flag called without a device id): a definition
problem outranks the missing context.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flagkit._evaluation.operators import compile_property_filter
from flagkit._evaluation.outcome import Cause

_COHORT_OPERATORS = ("exact", "in", "not_in")


def _valid_dependency_shape(prop: Mapping[str, Any]) -> bool:
    return (
        prop.get("operator", "exact") == "flag_evaluates_to"
        and bool(prop.get("key"))
        and prop.get("value") is not None
    )


class _Classifier:
    def __init__(
        self, flags: Mapping[str, Any], cohorts: Mapping[str, Any], matching_version: int
    ) -> None:
        self.flags = flags
        self.cohorts = cohorts
        self.matching_version = matching_version
        self.visited: set[str] = set()

    def condition_filters_unsupported(self, filters: Mapping[str, Any]) -> bool:
        for condition in filters.get("groups") or []:
            for prop in condition.get("properties") or []:
                if self.filter_unsupported(prop):
                    return True
        return False

    def filter_unsupported(self, prop: Mapping[str, Any]) -> bool:
        kind = prop.get("type")
        if kind == "flag":
            if not _valid_dependency_shape(prop):
                return False
            chain = prop.get("dependency_chain")
            if not isinstance(chain, list) or not chain:
                return True
            return any(not isinstance(key, str) or key not in self.flags for key in chain)
        if kind != "cohort":
            test = compile_property_filter(prop, self.matching_version).test
            return test({}) is Cause.UNSUPPORTED_DEFINITION
        cohort_id = str(prop.get("value"))
        if cohort_id not in self.cohorts:
            return True
        if (prop.get("operator") or "exact") not in _COHORT_OPERATORS:
            return True
        if cohort_id in self.visited:
            return False
        self.visited.add(cohort_id)
        return self.group_unsupported(self.cohorts[cohort_id])

    def group_unsupported(self, group: Any) -> bool:
        if isinstance(group, Mapping) and len(group) == 0:
            return False
        if not isinstance(group, Mapping):
            return True
        values = group.get("values")
        if group.get("type") not in ("AND", "OR") or not isinstance(values, list):
            return True
        for prop in values:
            if not isinstance(prop, Mapping):
                return True
            nested = len(prop) == 0 or "values" in prop or prop.get("type") in ("AND", "OR")
            if self.group_unsupported(prop) if nested else self.filter_unsupported(prop):
                return True
        return False


def definition_unsupported(
    raw: Mapping[str, Any],
    flags: Mapping[str, Any],
    cohorts: Mapping[str, Any],
    group_type_mapping: Mapping[str, Any],
    matching_version: int,
) -> bool:
    """Whether the flag's definition alone makes it undecidable locally."""
    try:
        filters = raw.get("filters") or {}
        aggregation = filters.get("aggregation_group_type_index")
        if aggregation is not None and not group_type_mapping.get(str(aggregation)):
            return True
        classifier = _Classifier(flags, cohorts, matching_version)
        return classifier.condition_filters_unsupported(filters)
    except Exception:  # malformed shapes: PostHog's own check fails and keeps the first reason
        return False
