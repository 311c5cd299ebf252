"""Rules v2 contract corpus: every case of v2_boolean_evaluation.json (corpus 1.0.0).

Each family runs at its own boundary: eligibility rows through ``is_eligible``, parser rows
through ``parse_config``, white-box rows through the private hash seam of the evaluator,
and every other row through ``parse_config`` + ``evaluate_v2``. The expected terminal
fields are exhaustive, so results are compared as whole dictionaries.
"""

from __future__ import annotations

import hashlib
import json
import struct
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from flagkit._evaluation.rules_v2 import (
    V2Config,
    V2Context,
    evaluate_v2,
    is_eligible,
    parse_config,
    problem_kind,
)
from flagkit._evaluation.rules_v2.evaluate import _evaluate
from flagkit._evaluation.rules_v2.hashing import hash01, rollout_input, sha1_60, threshold
from flagkit._evaluation.rules_v2.model import PercentageRollout

CORPUS_PATH = (
    Path(__file__).parent.parent / "conformance" / "rules_v2" / "v2_boolean_evaluation.json"
)
CORPUS: dict[str, Any] = json.loads(CORPUS_PATH.read_text(encoding="utf-8"))
CASES = {case["id"]: case for case in CORPUS["cases"]}


def _hex(number: float) -> str:
    return struct.pack(">d", number).hex()


def _from_hex(text: str) -> float:
    value: float = struct.unpack(">d", bytes.fromhex(text))[0]
    return value


def _context(raw: dict[str, Any]) -> V2Context:
    return V2Context(
        identifier=raw["identifier"],
        properties=raw["properties"],
        properties_complete=raw["properties_complete"],
        timezone=raw["timezone"],
        explicit_exact_matching=raw["explicit_exact_matching"],
        now=datetime.fromisoformat(raw["now"].replace("Z", "+00:00")),
    )


def _only_rollout(config: V2Config) -> PercentageRollout:
    rollouts = [rule for rule in config.rules if isinstance(rule, PercentageRollout)]
    assert len(rollouts) == 1
    return rollouts[0]


def _run(case: dict[str, Any]) -> dict[str, Any]:
    flag = case["flag"]
    if not is_eligible(active=flag["active"], deleted=flag["deleted"], requested=flag["requested"]):
        return {"status": "omitted"}
    parsed = parse_config(case["config"])
    if isinstance(parsed, list):
        assert parsed
        assert all(isinstance(problem, str) for problem in parsed)
        return {"status": "parse_error", "kind": problem_kind(parsed)}
    context = _context(case["context"])
    white_box = case.get("white_box")
    if white_box is None:
        return evaluate_v2(parsed, context, flag_key=flag["key"]).to_contract()
    # The seam: the subject's hash is placed exactly on (or next to) the rule's threshold.
    rule = _only_rollout(parsed)
    assert _hex(rule.threshold) == white_box["threshold_binary64_hex"]
    placed = _from_hex(white_box["hash01_binary64_hex"])
    relation = {-1: "below", 0: "equal", 1: "above"}[
        (placed > rule.threshold) - (placed < rule.threshold)
    ]
    assert relation == white_box["relation"]
    return _evaluate(parsed, context, hasher=lambda text: placed).to_contract()


def test_corpus_shape() -> None:
    assert CORPUS["corpus_version"] == "1.0.0"
    assert CORPUS["config_version"] == 2
    assert len(CASES) == len(CORPUS["cases"]) == 127


@pytest.mark.parametrize("case_id", list(CASES))
def test_corpus_case(case_id: str) -> None:
    case = CASES[case_id]
    assert _run(case) == case["expected"]


HASH_CASES = [case_id for case_id, case in CASES.items() if "hash_evidence" in case]


@pytest.mark.parametrize("case_id", HASH_CASES)
def test_hash_evidence(case_id: str) -> None:
    case = CASES[case_id]
    evidence = case["hash_evidence"]
    parsed = parse_config(case["config"])
    assert isinstance(parsed, V2Config)
    rule = _only_rollout(parsed)
    identifier = case["context"]["identifier"]
    # The evidence records the hashed identifier: its first 200 code points.
    assert evidence["identifier"] == identifier[:200]
    text = rollout_input(rule.seed, identifier)
    assert text.encode("utf-8").hex() == evidence["input_utf8_hex"]
    assert hashlib.sha1(text.encode("utf-8")).hexdigest() == evidence["sha1_hex"]
    assert evidence["sha1_hex"][:15] == evidence["first_15_hex"]
    assert sha1_60(text) == int(evidence["n"]) == int(evidence["first_15_hex"], 16)
    assert _hex(hash01(text)) == evidence["hash01_binary64_hex"]
    assert _hex(threshold(rule.rollout_percentage)) == evidence["threshold_binary64_hex"]
    assert _hex(rule.threshold) == evidence["threshold_binary64_hex"]


def test_every_family_is_covered() -> None:
    families = {case["family"] for case in CASES.values()}
    assert families == {
        "ordering",
        "properties",
        "hashing",
        "white_box",
        "context",
        "errors",
        "eligibility",
        "parser",
    }
    assert len(HASH_CASES) == 20
    assert sum("white_box" in case for case in CASES.values()) == 10
