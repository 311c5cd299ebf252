"""Server-side evaluation with flagkit's Evaluator, using stored persons, groups and cohorts."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping
from typing import Any

import attrs

from flagkit._evaluation.evaluator import Evaluator
from flagkit._evaluation.formats import is_rules_v2
from flagkit._evaluation.result import FlagResult, Reason
from flagkit._evaluation.snapshot import Snapshot
from flagkit.server import _people
from flagkit.server._definitions import STATIC_COHORT_PROPERTY, evaluation_body

_MEMBER, _NOT_MEMBER = "member", "not_member"


@attrs.frozen(slots=True)
class FlagMeta:
    """What an answer needs besides the evaluated value."""

    id: int
    version: int
    active: bool
    payloads: Mapping[str, Any]
    # 2 for a rules v2 flag: its /flags record carries the newer fields.
    config_version: int = 1


@attrs.frozen(slots=True)
class Compiled:
    """One project's compiled definitions for server-side evaluation."""

    evaluator: Evaluator
    static_cohorts: frozenset[int]
    flags: Mapping[str, FlagMeta]
    group_type_mapping: Mapping[str, str]


class EvaluationCache:
    """Compiled definitions per project, rebuilt when the database revision changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[int, tuple[Any, Compiled]] = {}

    def get(self, conn: sqlite3.Connection, project_id: int, revision: Any) -> Compiled:
        """The compiled definitions of ``project_id`` at ``revision``."""
        with self._lock:
            entry = self._entries.get(project_id)
            if entry is not None and entry[0] == revision:
                return entry[1]
        body, static = evaluation_body(conn, project_id)
        flags = {
            flag["key"]: FlagMeta(
                flag["id"],
                flag["version"],
                flag["active"],
                (flag["filters"] or {}).get("payloads") or {},
                2 if is_rules_v2((flag["filters"] or {}).get("version")) else 1,
            )
            for flag in body["flags"]
        }
        compiled = Compiled(
            Evaluator(Snapshot.from_dict(body)), static, flags, body["group_type_mapping"]
        )
        with self._lock:
            self._entries[project_id] = (revision, compiled)
        return compiled


def evaluate(
    conn: sqlite3.Connection,
    compiled: Compiled,
    project_id: int,
    distinct_id: str,
    *,
    person_properties: Mapping[str, Any] | None = None,
    groups: Mapping[str, Any] | None = None,
    group_properties: Mapping[str, Mapping[str, Any]] | None = None,
    keys: list[str] | None = None,
    stored_properties: Mapping[str, Any] | None = None,
) -> dict[str, FlagResult]:
    """Evaluate flags for one caller as PostHog's server would: stored person and group
    properties, overridden by the request's, and static cohorts from stored membership."""
    props = dict(
        stored_properties
        if stored_properties is not None
        else _people.person_properties(conn, project_id, distinct_id)
    )
    props.update(person_properties or {})
    markers: dict[str, str] = {}
    if compiled.static_cohorts:
        members = _people.static_memberships(conn, project_id, distinct_id, compiled.static_cohorts)
        for cohort_id in compiled.static_cohorts:
            value = _MEMBER if cohort_id in members else _NOT_MEMBER
            markers[STATIC_COHORT_PROPERTY.format(cohort_id)] = value
    props.update(markers)
    index_of = {name: int(index) for index, name in compiled.group_type_mapping.items()}
    merged_groups: dict[str, dict[str, Any]] = {}
    for name, group_key in (groups or {}).items():
        stored: dict[str, Any] = {}
        if name in index_of:
            stored = _people.group_properties(conn, project_id, index_of[name], str(group_key))
        stored.update((group_properties or {}).get(name) or {})
        stored.update(markers)
        merged_groups[name] = stored
    return compiled.evaluator.evaluate_all(
        distinct_id,
        person_properties=props,
        groups=dict(groups or {}),
        group_properties=merged_groups,
        keys=keys,
        # The server holds everything it knows of the person: a property it lacks is
        # unset, not unknown (rules v2 flags read this; legacy ones never do).
        properties_complete=True,
    )


def raw_payload(meta: FlagMeta, value: Any) -> str | None:
    """The payload of the evaluated value as PostHog sends it: a JSON-encoded string."""
    if value is None or value is False:
        return None
    key = value if isinstance(value, str) else "true"
    payload = meta.payloads.get(key)
    if payload is None:
        return None
    return payload if isinstance(payload, str) else json.dumps(payload)


_CODES = {
    Reason.CONDITION_MATCH: "condition_match",
    Reason.NO_CONDITION_MATCH: "no_condition_match",
    Reason.OUT_OF_ROLLOUT: "out_of_rollout_bound",
    Reason.DISABLED: "flag_disabled",
    Reason.HOLDOUT: "holdout_condition_value",
    Reason.FEATURE_ENROLLMENT: "super_condition_value",
    Reason.GROUP_NOT_PROVIDED: "no_group_type",
    # Server semantics: a property the server does not have simply does not match.
    Reason.MISSING_CONTEXT: "no_condition_match",
    Reason.UNRESOLVED_DEPENDENCY: "missing_dependency",
}
_DESCRIPTIONS = {
    "no_condition_match": "No matching condition set",
    "out_of_rollout_bound": "Out of rollout bound",
    "no_group_type": "No group type",
    "flag_disabled": "Feature flag is disabled",
    "holdout_condition_value": "Holdout condition value",
    "super_condition_value": "Super condition value",
    "missing_dependency": "Flag cannot be evaluated due to missing dependency",
}


@attrs.frozen(slots=True)
class WireReason:
    """A result's reason in PostHog's words."""

    code: str
    condition_index: int | None
    description: str
    failed: bool


def rules_v2_wire_reason(result: FlagResult) -> WireReason:
    """A rules v2 result's reason: the contract's code verbatim; an error is failed."""
    failed = result.value is None and not result.reason.decided
    index = None if result.rule is None else result.rule.index
    return WireReason(result.reason.value, index, result.description, failed)


def wire_reason(result: FlagResult) -> WireReason:
    """Map a flagkit reason to PostHog's ``/flags`` reason code and description."""
    code = _CODES.get(result.reason)
    if code is None:
        return WireReason("unknown", None, result.description or "Evaluation failed", True)
    if code == "condition_match":
        index = result.condition_index or 0
        return WireReason(code, index, f"Matched condition set {index + 1}", False)
    other = result.condition_index if code == "out_of_rollout_bound" else None
    return WireReason(code, other, _DESCRIPTIONS[code], code == "missing_dependency")


def rules_v2_metadata(result: FlagResult) -> dict[str, Any]:
    """The rule metadata of a rules v2 record (never a seed)."""
    metadata: dict[str, Any] = {"config_version": 2}
    if result.rule is not None:
        metadata["rule_id"] = result.rule.id
        metadata["rule_type"] = result.rule.rule_type
    return metadata
