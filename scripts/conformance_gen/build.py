"""Small builders for conformance case designs: flags, conditions, filters, cases, id search."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

ABSENT: Any = object()  # a case field that is not passed at all


def hash01(key: str, ident: Any, salt: str = "", sep: str = ".") -> float:
    """PostHog's 60-bit SHA-1 bucket in [0, 1] (semantics notes §3.1)."""
    text = f"{key}{sep}{ident}{salt}"
    return int(hashlib.sha1(text.encode("utf-8")).hexdigest()[:15], 16) / 0xFFFFFFFFFFFFFFF


def holdout01(ident: Any) -> float:
    return hash01("holdout", ident, sep="-")


def find_ids(
    pred: Callable[[str], bool], count: int, prefix: str = "user_", limit: int = 3_000_000
) -> list[str]:
    """The first ``count`` ids ``prefix<i>`` satisfying ``pred`` (deterministic)."""
    found: list[str] = []
    for i in range(limit):
        ident = f"{prefix}{i}"
        if pred(ident):
            found.append(ident)
            if len(found) == count:
                return found
    raise RuntimeError(f"only {len(found)} ids found for {prefix!r}")


def p(key: str, value: Any = ABSENT, op: Any = ABSENT, type: Any = "person", **extra: Any) -> dict:
    """A property filter. ``op``/``value`` ABSENT leaves the field out."""
    out: dict[str, Any] = {"key": key}
    if value is not ABSENT:
        out["value"] = value
    if op is not ABSENT:
        out["operator"] = op
    if type is not ABSENT:
        out["type"] = type
    out.update(extra)
    return out


def cohort_ref(cohort_id: Any, op: Any = ABSENT, **extra: Any) -> dict:
    return p("id", cohort_id, op, type="cohort", **extra)


def dep(key: Any, value: Any, chain: Any = ABSENT, op: Any = "flag_evaluates_to") -> dict:
    """A flag-dependency filter; ``chain`` defaults to ``[key]``."""
    out: dict[str, Any] = {"type": "flag"}
    if key is not ABSENT:
        out["key"] = key
    if op is not ABSENT:
        out["operator"] = op
    if value is not ABSENT:
        out["value"] = value
    if chain is ABSENT:
        out["dependency_chain"] = [key]
    elif chain is not None:
        out["dependency_chain"] = chain
    return out


def cond(
    props: Any = ABSENT, rollout: Any = ABSENT, variant: Any = ABSENT, agg: Any = ABSENT
) -> dict:
    out: dict[str, Any] = {}
    if props is not ABSENT:
        out["properties"] = props
    if rollout is not ABSENT:
        out["rollout_percentage"] = rollout
    if variant is not ABSENT:
        out["variant"] = variant
    if agg is not ABSENT:
        out["aggregation_group_type_index"] = agg
    return out


def variants(*pairs: tuple[str, Any]) -> dict:
    return {"variants": [{"key": k, "name": k.title(), "rollout_percentage": v} for k, v in pairs]}


def flag(
    key: str,
    groups: Any = ABSENT,
    *,
    active: Any = True,
    multivariate: Any = ABSENT,
    payloads: Any = ABSENT,
    agg: Any = ABSENT,
    top: dict | None = None,
    **filters: Any,
) -> dict:
    """A flag definition in the local-evaluation wire shape."""
    f: dict[str, Any] = {}
    if groups is not ABSENT:
        f["groups"] = groups
    if multivariate is not ABSENT:
        f["multivariate"] = multivariate
    if payloads is not ABSENT:
        f["payloads"] = payloads
    if agg is not ABSENT:
        f["aggregation_group_type_index"] = agg
    f.update(filters)
    out: dict[str, Any] = {"key": key, "name": key, "version": 1}  # "id" set by Topic.body
    if active is not ABSENT:
        out["active"] = active
    out["filters"] = f
    out.update(top or {})
    return out


@dataclass
class Case:
    name: str
    flag: str
    distinct_id: Any = "user-1"
    person_properties: Any = ABSENT
    groups: Any = ABSENT
    group_properties: Any = ABSENT
    device_id: Any = ABSENT
    want: Any = ABSENT  # design intent for the value; the generator asserts posthog agrees
    want_reason: Any = ABSENT  # design intent for the reason (or OMIT to drop it)


@dataclass
class Topic:
    name: str
    description: str
    flags: list[dict]
    cases: list[Case]
    group_type_mapping: dict[str, str] = field(default_factory=dict)
    cohorts: dict[str, Any] = field(default_factory=dict)
    property_matching_version: Any = ABSENT

    def body(self) -> dict[str, Any]:
        flags = [{"id": i, **f} if "id" not in f else f for i, f in enumerate(self.flags, 1)]
        out: dict[str, Any] = {
            "flags": flags,
            "group_type_mapping": self.group_type_mapping,
            "cohorts": self.cohorts,
        }
        if self.property_matching_version is not ABSENT:
            out["property_matching_version"] = self.property_matching_version
        return out


def named(prefix: str, values: Iterable[Any]) -> list[tuple[str, Any]]:
    """Stable short names for a list of property values: prefix-0, prefix-1, ..."""
    return [(f"{prefix}-{i}", v) for i, v in enumerate(values)]
