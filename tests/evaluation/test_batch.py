"""evaluate_all without keys runs most flags in one pass (flagkit._evaluation.batch): it
must answer exactly as evaluate() does, flag by flag, in definition order."""

from __future__ import annotations

from typing import Any

from flagkit import Evaluator, Reason, Snapshot
from flagkit._evaluation.batch import Batch, run_batch

PRO = [{"key": "plan", "operator": "exact", "value": "pro", "type": "person"}]


def _body() -> dict[str, Any]:
    """Every kind of flag the pass treats differently, interleaved."""
    flags: list[dict[str, Any]] = []
    for index in range(4):
        flags += [
            {"key": f"rollout-{index}", "filters": {"groups": [{"rollout_percentage": 50}]}},
            {"key": f"pro-{index}", "filters": {"groups": [{"properties": PRO}]}},
            {"key": f"off-{index}", "active": False, "filters": {"groups": [{}]}},
            {
                "key": f"cohort-{index}",
                "filters": {
                    "groups": [{"properties": [{"key": "id", "type": "cohort", "value": 1}]}]
                },
            },
            {
                "key": f"company-{index}",
                "filters": {
                    "aggregation_group_type_index": 0,
                    "groups": [{"properties": [], "rollout_percentage": 50}],
                },
            },
            {
                "key": f"variant-{index}",
                "filters": {
                    "groups": [{"properties": PRO, "rollout_percentage": 70}],
                    "multivariate": {
                        "variants": [
                            {"key": "a", "rollout_percentage": 30},
                            {"key": "b", "rollout_percentage": 70},
                        ]
                    },
                },
            },
        ]
    for flag in flags:
        flag.setdefault("active", True)
    return {
        "flags": flags,
        "group_type_mapping": {"0": "company"},
        "cohorts": {"1": {"type": "AND", "values": [{"type": "AND", "values": PRO}]}},
    }


def _one_by_one(evaluator: Evaluator, distinct_id: str, **context: Any) -> dict[str, Any]:
    keys = evaluator.snapshot.flag_keys
    return {key: evaluator.evaluate(key, distinct_id, **context) for key in keys}


def test_every_flag_answers_as_evaluate_does_in_definition_order() -> None:
    evaluator = Evaluator(Snapshot.from_dict(_body()))
    for person in ({"plan": "pro"}, {"plan": "free"}, {}):
        for groups in (None, {"company": "acme"}):
            for user in ("u1", "u2", "user-42"):
                context = {"person_properties": person, "groups": groups}
                every = evaluator.evaluate_all(user, **context)
                assert list(every) == list(evaluator.snapshot.flag_keys)
                assert every == _one_by_one(evaluator, user, **context)
    # Without "plan", the property flags cannot be decided: left to the general path,
    # which says why.
    missing = evaluator.evaluate_all("u1")
    assert missing["pro-0"].value is None
    assert missing["pro-0"].reason is not Reason.CONDITION_MATCH
    assert missing["off-1"].reason is Reason.DISABLED
    assert missing["company-2"].reason is Reason.GROUP_NOT_PROVIDED


class _RaisingKey(str):
    """A property name equal to "plan" by hash whose comparison raises: looking "plan" up
    in a dict holding it fails inside a flag's code."""

    def __hash__(self) -> int:
        return hash("plan")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no comparing")


def test_a_flag_whose_code_raises_fails_alone() -> None:
    evaluator = Evaluator(Snapshot.from_dict(_body()))
    person = {_RaisingKey("p"): "x"}
    every = evaluator.evaluate_all("u1", person_properties=person)
    assert every == _one_by_one(evaluator, "u1", person_properties=person)
    # The pass raised, so every flag ran one by one: the ones that read "plan" fail alone.
    assert every["pro-0"].reason is Reason.INVALID_DEFINITION
    assert every["rollout-0"].value in (True, False)  # flags that read no property answer


def test_run_batch_reports_what_it_could_not_answer() -> None:
    def boom(*_: Any) -> Any:
        raise ValueError("boom")

    def undecided(*_: Any) -> Any:
        return None

    evaluator = Evaluator(Snapshot.from_dict(_body()))
    fixed = evaluator.evaluate("off-0", "u1")
    batch = Batch(("a", "b"), (lambda c, *_: c, undecided), (fixed, None), (), False)
    answers, later = run_batch(batch, {}, b"u1", b"u1variant", None) or ({}, None)
    assert answers == {"a": fixed, "b": None}
    assert later == [1]  # the undecided flag, though the batch did not plan it
    settled = Batch(("a",), (lambda c, *_: c,), (fixed,), (), False)
    assert run_batch(settled, {}, b"u1", b"u1variant", None) == ({"a": fixed}, None)
    failing = Batch(("a",), (boom,), (None,), (), False)
    assert run_batch(failing, {}, b"u", b"uvariant", None) is None
