"""PostHog-compatibility suite: every case in tests/conformance/*.json, run through flagkit.

The expected values and payloads were produced by posthog-python 7.91.1 itself
(scripts/gen_conformance.py); the reasons are flagkit's, labelled from why posthog decided.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest

from flagkit import Evaluator, Reason, Snapshot

CONFORMANCE_DIR = Path(__file__).parent.parent / "conformance"
FILES = sorted(CONFORMANCE_DIR.glob("*.json"))
DOCS: dict[str, dict[str, Any]] = {
    path.stem: json.loads(path.read_text(encoding="utf-8")) for path in FILES
}
CONSISTENCY = ("consistency_simple", "consistency_multivariate")
CASES = [
    pytest.param(stem, index, id=f"{stem}::{case['name']}")
    for stem, doc in DOCS.items()
    for index, case in enumerate(doc["cases"])
]


@functools.cache
def _evaluator(stem: str) -> Evaluator:
    return Evaluator(Snapshot.from_dict(DOCS[stem]["definitions"]))


def _same(a: Any, b: Any) -> bool:
    """Equality that also tells True from 1, 1 from 1.0, and False from None."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _definition(stem: str, key: str) -> Any:
    for flag in DOCS[stem]["definitions"]["flags"]:
        if flag.get("key") == key:
            return flag
    return None


@pytest.mark.parametrize(("stem", "index"), CASES)
def test_case(stem: str, index: int) -> None:
    case = DOCS[stem]["cases"][index]
    expected = case["expected"]
    result = _evaluator(stem).evaluate(
        case["flag"],
        case["distinct_id"],
        person_properties=case.get("person_properties"),
        groups=case.get("groups"),
        group_properties=case.get("group_properties"),
        device_id=case.get("device_id"),
    )
    got = {"value": result.value, "payload": result.payload, "reason": result.reason.value}
    want_reason = expected.get("reason")
    ok = _same(result.value, expected["value"]) and _same(result.payload, expected["payload"])
    if want_reason is not None:
        ok = ok and result.reason.value == want_reason
    assert ok, (
        f"got {got!r}, expected {expected!r}\n"
        f"context: { {k: v for k, v in case.items() if k not in ('name', 'expected')}!r}\n"
        f"flag: {json.dumps(_definition(stem, case['flag']))}"
    )


def test_suite_size_and_shape() -> None:
    topic_cases = sum(len(doc["cases"]) for stem, doc in DOCS.items() if stem not in CONSISTENCY)
    assert topic_cases >= 450
    assert len(CASES) >= 400
    for stem in CONSISTENCY:
        assert len(DOCS[stem]["cases"]) == 1000
    labelled = sum("reason" in case["expected"] for _, doc in DOCS.items() for case in doc["cases"])
    assert labelled >= 0.8 * len(CASES)
    reasons = {r.value for r in Reason}
    for stem, doc in DOCS.items():
        assert doc["description"], stem
        names = [case["name"] for case in doc["cases"]]
        assert len(names) == len(set(names)), f"{stem}: duplicate case names"
        for case in doc["cases"]:
            assert set(case["expected"]) <= {"value", "payload", "reason"}
            assert case["expected"].get("reason", "condition_match") in reasons


@pytest.mark.parametrize("stem", sorted(DOCS))
def test_every_file_loads(stem: str) -> None:
    snapshot = Snapshot.from_dict(DOCS[stem]["definitions"])
    keys = {f["key"] for f in DOCS[stem]["definitions"]["flags"] if f.get("key")}
    assert set(snapshot.flag_keys) == keys
    assert len(snapshot) == len(keys)


@pytest.mark.parametrize("stem", sorted(DOCS))
def test_every_case_through_get_all_flags_pass(stem: str) -> None:
    """The same cases through the values pass get_all_flags takes (every flag of the
    body at once, see Evaluator._all_values): each case's flag has its expected value,
    and every flag the value evaluate_all gives it."""
    evaluator = _evaluator(stem)
    for case in DOCS[stem]["cases"]:
        context = {
            "person_properties": case.get("person_properties"),
            "groups": case.get("groups"),
            "group_properties": case.get("group_properties"),
            "device_id": case.get("device_id"),
        }
        values, undecided = evaluator._all_values(case["distinct_id"], **context)
        results = evaluator.evaluate_all(case["distinct_id"], **context)
        assert _same(values, {key: result.value for key, result in results.items()}), case["name"]
        assert undecided.keys() == {k for k, r in results.items() if r.value is None}
        assert _same(values.get(case["flag"]), case["expected"]["value"]), case["name"]
