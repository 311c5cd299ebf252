"""Rules v2 flags inside Snapshot and Evaluator (the corpus itself runs in
test_rules_v2_corpus.py): dispatch, results with the deciding rule, the new context
arguments, explain, group flags, and invalid configs kept out of evaluation."""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Any

import pytest

from flagkit import Evaluator, Reason, Rule, Snapshot

RULE_A = "11111111-1111-4111-8111-111111111111"
RULE_B = "22222222-2222-4222-8222-222222222222"


def config(*rules: dict[str, Any], default: Any = False, **extra: Any) -> dict[str, Any]:
    return {
        "version": 2,
        "return_type": "boolean",
        "default_value": default,
        "rules": list(rules),
        **extra,
    }


def release(rule_id: str, *filters: dict[str, Any], value: bool = True) -> dict[str, Any]:
    return {
        "id": rule_id,
        "rule_type": "targeted_release",
        "targeting": {"properties": list(filters)},
        "value": value,
    }


def rollout(
    rule_id: str, percentage: float, miss: str = "continue", **extra: Any
) -> dict[str, Any]:
    return {
        "id": rule_id,
        "rule_type": "percentage_rollout",
        "targeting": {"properties": []},
        "value": True,
        "rollout_percentage": percentage,
        "on_rollout_miss": miss,
        "assignment_algorithm": "sha1_60_v1",
        "seed": "seed-1",
        **extra,
    }


PRO = {"key": "plan", "type": "person", "operator": "exact", "value": "pro"}


def evaluator(filters: dict[str, Any], **body: Any) -> Evaluator:
    flag = {"id": 3, "key": "f", "active": True, "version": 9, "filters": filters}
    return Evaluator(Snapshot.from_dict({"flags": [flag], **body}))


def test_results_name_the_deciding_rule() -> None:
    ev = evaluator(config(release(RULE_A, PRO), rollout(RULE_B, 100, assign_by="person")))
    hit = ev.evaluate("f", "u", person_properties={"plan": "pro"})
    assert (hit.value, hit.reason, hit.rule) == (
        True,
        Reason.TARGETING_MATCH,
        Rule(RULE_A, "targeted_release", 0),
    )
    assert (hit.flag_id, hit.flag_version) == (3, 9)
    rolled = ev.evaluate("f", "u", person_properties={"plan": "free"})
    assert rolled.rule == Rule(RULE_B, "percentage_rollout", 1)
    assert ev.evaluate_all("u", person_properties={"plan": "free"})["f"] == rolled
    assert "seed-1" not in repr(rolled) + repr(ev.explain("f", "u"))


def test_properties_complete_decides_absent_keys() -> None:
    ev = evaluator(config(release(RULE_A, PRO)))
    unknown = ev.evaluate("f", "u", person_properties={})
    assert (unknown.value, unknown.reason) == (None, Reason.MISSING_CONTEXT)
    assert not unknown.reason.decided
    known = ev.evaluate("f", "u", person_properties={}, properties_complete=True)
    assert (known.value, known.reason) == (False, Reason.NO_RULE_MATCH)


def test_a_null_default_is_a_decided_none() -> None:
    ev = evaluator(config(rollout(RULE_A, 0, "return_default", assign_by="person"), default=None))
    result = ev.evaluate("f", "u")
    assert (result.value, result.reason) == (None, Reason.ROLLOUT_MISS)
    assert result.reason.decided


def test_timezone_and_now_anchor_date_filters() -> None:
    before = {"key": "signup", "type": "person", "operator": "is_date_before", "value": "-1d"}
    ev = evaluator(config(release(RULE_A, before)))
    props = {"signup": "2024-03-30T12:00:00Z"}
    now = datetime(2024, 3, 31, 23, 0, tzinfo=timezone.utc)
    assert ev.evaluate("f", "u", person_properties=props, now=now).value is True
    early = datetime(2024, 3, 30, 13, 0, tzinfo=timezone.utc)
    assert ev.evaluate("f", "u", person_properties=props, now=early).value is False
    bad = ev.evaluate("f", "u", person_properties=props, timezone="Nowhere/Land")
    assert bad.reason is Reason.INVALID_INPUT
    assert "time zone" in bad.description


def test_group_flags_assign_by_the_group_key() -> None:
    filters = config(rollout(RULE_A, 100), aggregation_group_type_index=0)
    ev = evaluator(filters, group_type_mapping={"0": "company"})
    assert ev.evaluate("f", "u", groups={"company": "acme"}).reason is Reason.TARGETING_MATCH
    missing = ev.evaluate("f", "u")
    assert missing.reason is Reason.MISSING_GROUP_KEY


def test_explain_traces_each_rule() -> None:
    ev = evaluator(config(release(RULE_A, PRO), rollout(RULE_B, 100, assign_by="person")))
    explanation = ev.explain("f", "u", person_properties={"plan": "free"})
    first, second = explanation.conditions
    assert (first.outcome, first.filters[0].outcome) == ("no match", "no match")
    assert second.decided
    assert second.rollout_percentage == 100
    assert explanation.notes == ("rules v2: targeting_match (rule 1, percentage_rollout)",)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda c: c["rules"][0].update(id="rule-1"), "id"),
        (lambda c: c["rules"][0].update(seed=""), "seed"),
        (lambda c: c.update(extra=True), "extra"),
        (lambda c: c.update(return_type="string"), "return_type"),
    ],
)
def test_invalid_configs_are_listed_and_never_evaluated(change: Any, problem: str) -> None:
    filters = config(rollout(RULE_A, 100, assign_by="person"))
    broken = copy.deepcopy(filters)
    change(broken)
    ev = evaluator(broken)
    result = ev.evaluate("f", "u")
    assert (result.value, result.reason) == (None, Reason.UNSUPPORTED_DEFINITION)
    snapshot = Snapshot.from_dict(
        {"flags": [{"id": 1, "key": "f", "active": True, "filters": broken}]}
    ).compile_all()
    assert any(problem in p and "rules v2" in p for p in snapshot.problems), snapshot.problems
