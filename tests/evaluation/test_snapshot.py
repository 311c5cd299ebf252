"""Loading definitions: errors, problems, diff and fingerprints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flagkit import DefinitionsError, Evaluator, Reason, Snapshot


def flag(key: str, **filters: object) -> dict[str, object]:
    return {
        "key": key,
        "active": True,
        "filters": {"groups": [{"rollout_percentage": 100}], **filters},
    }


@pytest.mark.parametrize("text", ["", "not json", "[1, 2]", "null", "42", '"flags"', b"\xff\xfe"])
def test_non_object_bodies_raise_definitions_error(text: str | bytes) -> None:
    with pytest.raises(DefinitionsError):
        Snapshot.from_json(text)


def test_missing_keys_are_allowed() -> None:
    snapshot = Snapshot.from_dict({})
    assert len(snapshot) == 0
    assert snapshot.problems == ()
    assert Snapshot.empty().flag_keys == ()


def test_from_file_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "flags.json"
    path.write_text(json.dumps({"flags": [flag("a")]}))
    assert Snapshot.from_file(path).flag_keys == ("a",)
    with pytest.raises(DefinitionsError, match="cannot read"):
        Snapshot.from_file(tmp_path / "missing.json")


def test_malformed_flags_are_kept_or_reported_without_failing_the_load() -> None:
    body = {
        "flags": [
            "not an object",
            {"active": True},
            {"key": 7, "active": True},
            {"key": "bad-filters", "active": True, "filters": ["nope"]},
            {
                "key": "bad-variants",
                "active": True,
                "filters": {
                    "groups": [{"rollout_percentage": 100}],
                    "multivariate": {"variants": [{"rollout_percentage": 100}]},
                },
            },
            {
                "key": "bad-rollout",
                "active": True,
                "filters": {"groups": [{"rollout_percentage": "50"}]},
            },
            flag("good"),
        ]
    }
    snapshot = Snapshot.from_dict(body)
    assert snapshot.flag_keys == ("bad-filters", "bad-variants", "bad-rollout", "good")
    assert len(snapshot.problems) == 6
    evaluator = Evaluator(snapshot)
    for key in ("bad-filters", "bad-variants", "bad-rollout"):
        result = evaluator.evaluate(key, "user")
        assert result.value is None
        assert result.reason is Reason.INVALID_DEFINITION
    assert evaluator.evaluate("good", "user").value is True


def test_duplicate_keys_last_wins() -> None:
    snapshot = Snapshot.from_dict({"flags": [flag("a"), {**flag("a"), "active": False}]})
    assert Evaluator(snapshot).evaluate("a", "u").value is False
    assert any("twice" in problem for problem in snapshot.problems)


def test_diff_reports_added_removed_and_changed_keys() -> None:
    old = Snapshot.from_dict({"flags": [flag("same"), flag("changed"), flag("removed")]})
    new = Snapshot.from_dict(
        {"flags": [flag("same"), {**flag("changed"), "active": False}, flag("added")]}
    )
    assert new.diff(old) == {"changed", "removed", "added"}
    assert new.diff(new) == frozenset()


def test_shared_changes_touch_every_flag() -> None:
    old = Snapshot.from_dict({"flags": [flag("a"), flag("b")]})
    new = Snapshot.from_dict({"flags": [flag("a"), flag("b")], "cohorts": {"1": {}}})
    assert new.diff(old) == {"a", "b"}


def test_fingerprint_is_stable_and_content_based() -> None:
    one = Snapshot.from_dict({"flags": [flag("a")]})
    two = Snapshot.from_json(json.dumps({"flags": [flag("a")]}))
    three = Snapshot.from_dict({"flags": [flag("b")]})
    assert one.fingerprint == two.fingerprint
    assert one.fingerprint != three.fingerprint
    assert len(one.fingerprint) == 32


def test_definition_and_to_dict_round_trip() -> None:
    body = {"flags": [flag("a")], "group_type_mapping": {"0": "company"}}
    snapshot = Snapshot.from_dict(body)
    assert snapshot.definition("a") == flag("a")
    assert snapshot.definition("zzz") is None
    assert Snapshot.from_dict(snapshot.to_dict()).fingerprint == snapshot.fingerprint
    assert "a" in snapshot
    assert "flags=1" in repr(snapshot)


def test_a_cohort_nested_past_the_recursion_limit_does_not_fail_the_load() -> None:
    # Only a body built in Python can nest this deep (JSON parsing stops much earlier).
    group: dict[str, Any] = {"type": "AND", "values": []}
    inner = group
    for _ in range(3000):
        deeper: dict[str, Any] = {"type": "AND", "values": []}
        inner["values"].append(deeper)
        inner = deeper
    in_cohort = {"properties": [{"key": "id", "type": "cohort", "value": 1}]}
    body = {
        "flags": [
            {"key": "deep", "active": True, "filters": {"groups": [in_cohort]}},
            {"key": "plain", "active": True, "filters": {"groups": [{}]}},
        ],
        "cohorts": {"1": group},
    }
    snapshot = Snapshot.from_dict(body)
    assert snapshot.problems == ("cohort '1' is nested too deeply to evaluate",)
    evaluator = Evaluator(snapshot)
    deep = evaluator.evaluate("deep", "u")
    assert (deep.value, deep.reason) == (None, Reason.INVALID_DEFINITION)
    assert evaluator.evaluate("plain", "u").value is True
    # Fingerprints and diffs still work: such a body never equals another.
    assert snapshot.fingerprint != Snapshot.from_dict(body).fingerprint
    assert snapshot.diff(Snapshot.from_dict(body)) == {"deep", "plain"}
