"""Per-flag dispatch on ``filters.version``: absent or 1 is the legacy format, 2 is rules v2
(evaluated when its config is valid and supported); any other value, or an invalid or
unsupported rules v2 config, is never read as legacy (that answered rules-v2 flags
conclusively and wrongly) but is an unsupported definition listed in ``problems``."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from flagkit import Evaluator, Reason, Snapshot

FEED = json.loads(
    (Path(__file__).parent.parent / "conformance/rules_v2/definitions_feed.json").read_text()
)
EVERYONE = {"groups": [{"properties": [], "rollout_percentage": 100}]}


def _body(*flags: dict[str, Any]) -> dict[str, Any]:
    return {"flags": list(flags), "group_type_mapping": {}, "cohorts": {}}


def _flag(key: str, filters: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"id": 1, "key": key, "active": True, "filters": filters, **fields}


def test_the_mixed_feed_evaluates_legacy_flags_and_refuses_the_rest() -> None:
    snapshot = Snapshot.from_dict(copy.deepcopy(FEED["templates"]["mixed"]))
    evaluator = Evaluator(snapshot)
    legacy = evaluator.evaluate("legacy-garden", "person-1")
    assert (legacy.value, legacy.reason) == (True, Reason.CONDITION_MATCH)
    for props in ({}, {"account_tier": "preview"}):
        result = evaluator.evaluate("garden-layout", "person-1", person_properties=props)
        # Read as legacy (no "groups"), this was a conclusive False.
        assert result.value is None
        assert result.reason is Reason.UNSUPPORTED_DEFINITION
        assert "rules v2" in result.description
    problems = snapshot.compile_all().problems
    # Its experiment rule is outside what contract corpus 1.0.0 pins: not evaluated here.
    assert any("garden-layout" in p and "experiment rules" in p for p in problems)
    assert not any("legacy-garden" in p for p in problems)
    everything = evaluator.evaluate_all("person-1")
    assert everything["garden-layout"].reason is Reason.UNSUPPORTED_DEFINITION
    assert everything["legacy-garden"].value is True


@pytest.mark.parametrize("version", [None, 1])
def test_absent_or_one_is_the_legacy_format(version: Any) -> None:
    filters = dict(EVERYONE) if version is None else {**EVERYONE, "version": version}
    result = Evaluator(Snapshot.from_dict(_body(_flag("f", filters)))).evaluate("f", "u")
    assert (result.value, result.reason) == (True, Reason.CONDITION_MATCH)


@pytest.mark.parametrize("version", [0, 2, 3, "1", "2", True, 1.5, [], {}])
def test_any_other_version_is_unsupported_even_with_legacy_fields(version: Any) -> None:
    # Legacy groups beside an unknown version are still not the flag's meaning.
    snapshot = Snapshot.from_dict(_body(_flag("f", {**EVERYONE, "version": version})))
    result = Evaluator(snapshot).evaluate("f", "u")
    assert result.value is None
    assert result.reason is Reason.UNSUPPORTED_DEFINITION
    assert not result.reason.decided
    assert any(
        "'f'" in p and ("cannot be evaluated locally" in p or "rules v2" in p)
        for p in snapshot.problems
    )


def test_an_inactive_flag_of_another_format_is_still_disabled() -> None:
    # ``active`` belongs to the flag row, not to the format of its filters.
    snapshot = Snapshot.from_dict(_body(_flag("f", {"version": 2, "rules": []}, active=False)))
    result = Evaluator(snapshot).evaluate("f", "u")
    assert (result.value, result.reason) == (False, Reason.DISABLED)


def test_a_dependency_on_an_unsupported_flag_is_undecided() -> None:
    dependent = {
        "groups": [
            {
                "properties": [
                    {
                        "key": "2",
                        "type": "flag",
                        "operator": "flag_evaluates_to",
                        "value": True,
                        "dependency_chain": ["v2"],
                    }
                ],
                "rollout_percentage": 100,
            }
        ]
    }
    body = _body(
        {"id": 2, "key": "v2", "active": True, "filters": {"version": 2, "rules": []}},
        {"id": 3, "key": "dependent", "active": True, "filters": dependent},
    )
    evaluator = Evaluator(Snapshot.from_dict(body))
    for result in (evaluator.evaluate("dependent", "u"), evaluator.evaluate_all("u")["dependent"]):
        assert result.value is None
        assert not result.reason.decided
    explanation = evaluator.explain("v2", "u")
    assert explanation.result.reason is Reason.UNSUPPORTED_DEFINITION
