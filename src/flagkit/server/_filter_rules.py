"""PostHog's ``validate_filters`` rules for a flag's ``filters`` (codes, messages, attr)."""

from __future__ import annotations

import datetime
import json
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import attrs

from flagkit._evaluation.formats import is_legacy_format, is_rules_v2
from flagkit._evaluation.rules_v2 import V2Config, parse_config, problem_kind
from flagkit.server._errors import LocalServerError, validation_error

MAX_PROPERTY_VALUES = 1000
_RELATIVE_DATE = re.compile(r"^-?\d+[hdwmy]$")
_STRING_VALUE_OPERATORS = frozenset(
    {"regex", "icontains", "not_regex", "not_icontains", "gte", "lte", "gt", "lt"}
)


@attrs.frozen(slots=True)
class CohortInfo:
    """What validation and definitions need to know about a cohort."""

    id: int
    name: str
    is_static: bool
    group: Any  # the cohort's property group ({"type": "AND"|"OR", "values": [...]}) or {}


@attrs.frozen(slots=True)
class FlagInfo:
    """What validation needs to know about another flag."""

    id: int
    key: str
    active: bool
    filters: Mapping[str, Any]


class FlagLookups(Protocol):
    """Database lookups used by the validator (answered inside the write transaction)."""

    def key_in_use(self, key: str, exclude_id: int | None) -> bool: ...

    def cohort(self, cohort_id: int) -> CohortInfo | None: ...

    def flag_by_id(self, flag_id: int) -> FlagInfo | None: ...

    def live_flag_by_key(self, key: str) -> FlagInfo | None: ...


def as_int(value: Any) -> int | None:
    """An integer from an int, an integral float or a digit string; else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _filters_error(detail: str, code: str = "invalid_input") -> LocalServerError:
    return validation_error(detail, "filters", code)


def _iter_properties(groups: list[Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    for index, group in enumerate(groups):
        for prop in group.get("properties") or []:
            yield index, prop


def _check_shape(filters: dict[str, Any]) -> list[dict[str, Any]]:
    groups = filters.get("groups")
    if groups is None:
        groups = []
    if not isinstance(groups, list):
        raise _filters_error("Filters are not valid (groups must be a list)")
    for group in groups:
        if not isinstance(group, dict):
            raise _filters_error("Filters are not valid (each group must be an object)")
        props = group.get("properties")
        if props is not None and not isinstance(props, list):
            raise _filters_error("Filters are not valid (properties must be a list)")
        for prop in props or []:
            if not isinstance(prop, dict) or "key" not in prop:
                raise _filters_error("Filters are not valid (each property needs a key)")
        rollout = group.get("rollout_percentage")
        if rollout is not None and (
            isinstance(rollout, bool)
            or not isinstance(rollout, (int, float))
            or not math.isfinite(rollout)
        ):
            raise _filters_error("Filters are not valid (rollout_percentage must be a number)")
    multivariate = filters.get("multivariate")
    if multivariate is not None:
        variants = multivariate.get("variants") if isinstance(multivariate, dict) else None
        if not isinstance(variants, list):
            raise _filters_error("Filters are not valid (multivariate.variants must be a list)")
        for variant in variants:
            if (
                not isinstance(variant, dict)
                or not isinstance(variant.get("key"), str)
                or isinstance(variant.get("rollout_percentage", 0), bool)
                or not isinstance(variant.get("rollout_percentage", 0), (int, float))
            ):
                raise _filters_error(
                    "Filters are not valid (each variant needs a key and a rollout_percentage)"
                )
    agg = filters.get("aggregation_group_type_index")
    if agg is not None and as_int(agg) is None:
        raise _filters_error("Filters are not valid (aggregation_group_type_index)")
    return groups


def validate_filters(
    filters: dict[str, Any], *, creating: bool, flag_key: str | None, lookups: FlagLookups
) -> dict[str, Any]:
    """PostHog's ``validate_filters``: shape, property types, variants, cohorts, payloads.

    A rules v2 config (``filters.version`` 2) is checked against the rules v2 contract
    instead: a malformed one is a 400 naming its problems; a valid one (also one with
    parts flagkit does not evaluate locally, such as experiment rules) is stored as given.
    Filters of an unknown format are stored as given: no rules of ours apply to them.
    """
    version = filters.get("version")
    if is_rules_v2(version):
        parsed = parse_config(filters)
        if not isinstance(parsed, V2Config) and problem_kind(parsed) == "malformed":
            raise _filters_error("Invalid rules v2 config: " + "; ".join(parsed[:5]))
        return filters
    if not is_legacy_format(version):
        return filters
    groups = _check_shape(filters)
    if creating and not groups:
        raise _filters_error("Feature flags must have at least one condition set (group).")

    agg = filters.get("aggregation_group_type_index")
    agg_index = as_int(agg) if agg is not None else None
    props = [prop for _, prop in _iter_properties(groups)]
    if agg_index is None:
        if not all((prop.get("type") or "event") in ("person", "cohort", "flag") for prop in props):
            raise _filters_error(
                "Filters are not valid (can only use person, cohort, and flag properties)"
            )
        if not all(
            prop.get("type") != "flag" or prop.get("operator") == "flag_evaluates_to"
            for prop in props
        ):
            raise _filters_error("Flag properties must use the 'flag_evaluates_to' operator")
        _check_flag_dependencies(filters, flag_key, lookups)
    elif not all(
        prop.get("type") == "group" and as_int(prop.get("group_type_index")) == agg_index
        for prop in props
    ):
        raise _filters_error("Filters are not valid (can only use group properties)")

    variant_list = (filters.get("multivariate") or {}).get("variants") or []
    variants = {variant["key"] for variant in variant_list}
    if variant_list:
        total = sum(variant.get("rollout_percentage", 0) for variant in variant_list)
        if total != 100:
            raise _filters_error(
                "Invalid variant definitions: Variant rollout percentages must sum to 100."
            )

    for group in groups:
        if group.get("variant") and group["variant"] not in variants:
            raise _filters_error("Filters are not valid (variant override does not exist)")
        for prop in group.get("properties") or []:
            _check_property(prop, lookups)

    out = dict(filters)
    out["groups"] = groups
    out["payloads"] = _check_payloads(
        filters.get("payloads", {}), bool(filters.get("multivariate")), variants
    )
    if agg is not None:
        out["aggregation_group_type_index"] = agg_index
    return out


def _check_property(prop: Mapping[str, Any], lookups: FlagLookups) -> None:
    value = prop.get("value")
    prop_type = prop.get("type") or "event"
    operator = prop.get("operator")
    if isinstance(value, list) and len(value) > MAX_PROPERTY_VALUES:
        raise _filters_error(
            f"Property group expressions of type {prop.get('key')} cannot contain more than "
            f"{MAX_PROPERTY_VALUES} values."
        )
    if prop_type == "cohort":
        _check_cohort(value, lookups)
    if operator in ("is_date_before", "is_date_after") and not _parseable_date(value):
        raise _filters_error(f"Invalid date value: {value}", "invalid_date")
    if operator in _STRING_VALUE_OPERATORS and not isinstance(value, str):
        raise _filters_error(f"Invalid value for operator {operator}: {value}", "invalid_value")
    if operator in ("in", "not_in") and prop_type != "cohort":
        raise _filters_error(
            f"The '{operator}' operator is only valid for cohort properties, "
            f"not '{prop_type}' properties.",
            "invalid_operator",
        )


def _check_cohort(value: Any, lookups: FlagLookups) -> None:
    cohort_id = as_int(value)
    cohort = lookups.cohort(cohort_id) if cohort_id is not None else None
    if cohort is None:
        raise _filters_error(f"Cohort with id {value} does not exist", "cohort_does_not_exist")
    for member in [cohort, *cohort_dependencies(cohort, lookups)]:
        if any(entry.get("type") == "behavioral" for entry in flat_properties(member.group)):
            raise _filters_error(
                f"Cohort '{member.name}' with filters on events cannot be used in feature flags.",
                "behavioral_cohort_found",
            )


def flat_properties(group: Any) -> Iterator[dict[str, Any]]:
    """Every property filter inside a (possibly nested) cohort property group."""
    if not isinstance(group, dict):
        return
    values = group.get("values")
    if isinstance(values, list):
        for entry in values:
            if isinstance(entry, dict) and (
                "values" in entry or entry.get("type") in ("AND", "OR")
            ):
                yield from flat_properties(entry)
            elif isinstance(entry, dict):
                yield entry


def cohort_dependencies(cohort: CohortInfo, lookups: FlagLookups) -> list[CohortInfo]:
    """Cohorts referenced (transitively) from ``cohort``'s filters, without repeats."""
    seen: dict[int, CohortInfo] = {cohort.id: cohort}
    stack = [cohort]
    found: list[CohortInfo] = []
    while stack:
        current = stack.pop()
        for entry in flat_properties(current.group):
            if entry.get("type") != "cohort":
                continue
            ref = as_int(entry.get("value"))
            if ref is None or ref in seen:
                continue
            other = lookups.cohort(ref)
            if other is not None:
                seen[ref] = other
                found.append(other)
                stack.append(other)
    return found


def _parseable_date(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    text = value.strip()
    if _RELATIVE_DATE.match(text):
        return True
    try:
        datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _check_payloads(payloads: Any, multivariate: bool, variants: set[str]) -> dict[str, Any]:
    if payloads is None:
        payloads = {}
    if not isinstance(payloads, dict):
        raise _filters_error("Payloads must be passed as a dictionary")
    out: dict[str, Any] = {}
    for key, value in payloads.items():
        if isinstance(value, dict):
            out[key] = json.dumps(value)
        elif isinstance(value, str):
            try:
                json.loads(value)
            except ValueError:
                raise _filters_error("Payload value is not valid JSON") from None
            out[key] = value
        else:
            out[key] = value
    if multivariate:
        if not all(key in variants for key in out):
            raise _filters_error("Payload keys must match a variant key for multivariate flags")
    elif len(out) > 1 or any(key != "true" for key in out):
        raise _filters_error("Payload keys must be 'true' for boolean flags")
    return out


def flag_dependency_ids(filters: Mapping[str, Any]) -> list[Any]:
    """The raw ``key`` of every ``type: "flag"`` property (PostHog stores flag ids there)."""
    refs = []
    for group in filters.get("groups") or []:
        if not isinstance(group, dict):
            continue
        for prop in group.get("properties") or []:
            if isinstance(prop, dict) and prop.get("type") == "flag" and prop.get("key"):
                refs.append(prop["key"])
    return refs


def _resolve_reference(reference: Any, lookups: FlagLookups) -> FlagInfo:
    flag_id = as_int(reference)
    if flag_id is None:
        raise _filters_error(
            "Flag dependencies must reference flag IDs (integers), not flag keys. "
            f"Invalid reference: '{reference}'"
        )
    flag = lookups.flag_by_id(flag_id)
    if flag is None:
        raise _filters_error(f"Flag dependency references non-existent flag with ID {flag_id}")
    if not flag.active:
        raise _filters_error(
            f"Cannot create dependency on disabled flag '{flag.key}' (ID: {flag_id}). "
            "Flag dependencies must reference active flags only."
        )
    return flag


def _check_flag_dependencies(
    filters: Mapping[str, Any], flag_key: str | None, lookups: FlagLookups
) -> None:
    if not flag_key:
        return
    direct = {_resolve_reference(ref, lookups).key for ref in flag_dependency_ids(filters)}
    if not direct:
        return
    if flag_key in direct:
        raise _filters_error(f"Feature flag '{flag_key}' cannot depend on itself")

    def visit(key: str, path: list[str]) -> None:
        if key in path:
            cycle = [*path[path.index(key) :], key]
            raise _filters_error(f"Circular dependency detected: {' → '.join(cycle)}")
        flag = lookups.live_flag_by_key(key)
        if flag is None:
            return
        for ref in flag_dependency_ids(flag.filters):
            visit(_resolve_reference(ref, lookups).key, [*path, key])

    for key in sorted(direct):
        visit(key, [flag_key])
