"""Inputs that used to make one evaluation slow: huge regexes on long subjects, long
dependency chains in evaluate_all, cohort fan-outs. Each is built here, and each bound is
far below what the code took before its fix (docs/evaluation.md, "Limits")."""

from __future__ import annotations

import random
import string
import time
from typing import Any

import pytest

from flagkit import Evaluator, Reason, Snapshot

RNG = random.Random(7)
LETTERS = "".join(RNG.choice(string.ascii_letters) for _ in range(100_000))


def _regex_flag(pattern: str) -> Evaluator:
    condition = {
        "properties": [{"key": "p", "type": "person", "operator": "regex", "value": pattern}],
        "rollout_percentage": 100,
    }
    body = {"flags": [{"id": 1, "key": "f", "active": True, "filters": {"groups": [condition]}}]}
    return Evaluator(Snapshot.from_dict(body))


def _timed(call: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


@pytest.mark.parametrize(
    ("pattern", "subject"),
    [
        ("a" * 20_000, "a" * 100_000),  # 1.2 s before
        (".*a" * 5_000, "a" * 100_000),  # 6.7 s before
        ("[ab]" * 5_000, "a" * 100_000),
        ("(?:a|b)*a(?:a|b){18}c", "".join(RNG.choice("ab") for _ in range(100_000))),
        ("(x+x+)+y", "x" * 100_000),
        ("(a|aa)*c", "a" * 100_000),
        ("(.*)*z", LETTERS),
        ("\\w+@\\w+\\.com", LETTERS),
    ],
)
def test_no_regex_search_is_slow(pattern: str, subject: str) -> None:
    evaluator = _regex_flag(pattern)
    evaluator.evaluate("f", "u", person_properties={"p": "warm-up"})  # compile once
    result, took = _timed(lambda: evaluator.evaluate("f", "u", person_properties={"p": subject}))
    assert took < 0.05, f"{took * 1000:.1f} ms"
    assert result.reason in (
        Reason.CONDITION_MATCH,
        Reason.NO_CONDITION_MATCH,
        Reason.UNSUPPORTED_DEFINITION,
    )


def test_too_costly_searches_are_undecidable_not_wrong() -> None:
    evaluator = _regex_flag("a" * 20_000)
    long = evaluator.evaluate("f", "u", person_properties={"p": "a" * 100_000})
    assert long.value is None  # left to PostHog's servers (asked from /flags by a Client)
    assert long.reason is Reason.UNSUPPORTED_DEFINITION
    short = evaluator.evaluate("f", "u", person_properties={"p": "a" * 100})
    assert short.value is False  # shorter than any match: decided here


def _chain(length: int, undecided: int = -1) -> Snapshot:
    """Flags "0".."length-1", each depending on the one before; flag ``undecided`` (if
    any) needs experience continuity, so it and every flag after it are undecided."""
    flags = []
    for i in range(length):
        properties = []
        if i:
            properties = [
                {
                    "key": str(i - 1),
                    "type": "flag",
                    "value": True,
                    "operator": "flag_evaluates_to",
                    "dependency_chain": [str(j) for j in range(i)],
                }
            ]
        condition = {"properties": properties, "rollout_percentage": 100}
        flags.append(
            {
                "id": i + 1,
                "key": str(i),
                "active": True,
                "filters": {"groups": [condition]},
                "ensure_experience_continuity": i == undecided,
            }
        )
    return Snapshot.from_dict({"flags": flags})


def test_a_long_dependency_chain_is_walked_once_per_call() -> None:
    evaluator = Evaluator(_chain(500))
    evaluator.evaluate_all("u")  # compile
    results, took = _timed(lambda: evaluator.evaluate_all("u"))
    assert took < 0.3, f"{took * 1000:.0f} ms"  # 1.06 s before (quadratic)
    assert {key: r.value for key, r in results.items()} == {
        key: evaluator.evaluate(key, "u").value for key in results
    }
    assert results["499"].value is True
    single, took = _timed(lambda: evaluator.evaluate("499", "u"))
    assert single.value is True
    assert took < 0.05


def test_a_chain_undecided_halfway_answers_as_one_by_one() -> None:
    # From flag 250 on, each flag's chain meets an undecided member: its chains are walked
    # again on their own, as PostHog walks them (see Frame.mark); the answers are those of
    # evaluate(), flag by flag.
    evaluator = Evaluator(_chain(500, undecided=250))
    results, took = _timed(lambda: evaluator.evaluate_all("u"))
    assert took < 10, f"{took * 1000:.0f} ms"  # about 0.9 s on the development machine
    assert {key: r.value for key, r in results.items()} == {
        key: evaluator.evaluate(key, "u").value for key in results
    }
    assert results["249"].value is True
    assert results["499"].reason is Reason.UNRESOLVED_DEPENDENCY


def _fan_out(levels: int, references: int) -> Snapshot:
    cohorts: dict[str, Any] = {}
    for level in range(levels):
        if level == levels - 1:
            values: list[Any] = [
                {"key": "plan", "value": "pro", "type": "person", "operator": "exact"}
            ]
        else:
            values = [{"key": "id", "value": level + 2, "type": "cohort"}] * references
        cohorts[str(level + 1)] = {"type": "AND", "values": [{"type": "AND", "values": values}]}
    cohort_filter = {"key": "id", "value": 1, "type": "cohort"}
    condition = {"properties": [cohort_filter], "rollout_percentage": 100}
    flag = {"id": 1, "key": "c", "active": True, "filters": {"groups": [condition]}}
    return Snapshot.from_dict({"flags": [flag], "cohorts": cohorts})


def test_a_cohort_fan_out_is_evaluated_once_per_cohort() -> None:
    evaluator = Evaluator(_fan_out(40, 4))
    evaluator.evaluate("c", "u", person_properties={"plan": "pro"})
    result, took = _timed(lambda: evaluator.evaluate("c", "u", person_properties={"plan": "pro"}))
    assert took < 0.01, f"{took * 1000:.1f} ms"
    # 4**40 paths: before, the work cap gave up (invalid_definition); now it is decided.
    assert result.value is True
    assert evaluator.evaluate("c", "u", person_properties={"plan": "free"}).value is False
