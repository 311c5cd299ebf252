"""evaluate_all without keys runs most flags in one pass (flagkit._evaluation.batch): it
must answer exactly as evaluate() does, flag by flag, in definition order. get_all_flags'
values pass must give exactly those answers' values."""

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


def _values_of(results: dict[str, Any]) -> dict[str, Any]:
    return {key: result.value for key, result in results.items()}


def test_the_values_pass_answers_as_evaluate_all_does() -> None:
    """get_all_flags' pass (Evaluator._all_values): each flag's value, None and its result
    where undecided, in definition order; values of the same type (True is not 1)."""
    evaluator = Evaluator(Snapshot.from_dict(_body()))
    for person in ({"plan": "pro"}, {"plan": "free"}, {}):
        for groups in (None, {"company": "acme"}):
            for user in ("u1", "u2", "user-42"):
                context = {"person_properties": person, "groups": groups}
                values, undecided = evaluator._all_values(user, **context)
                results = evaluator.evaluate_all(user, **context)
                assert list(values) == list(results)
                assert values == _values_of(results)
                assert [type(v) for v in values.values()] == [
                    type(r.value) for r in results.values()
                ]
                assert undecided == {k: r for k, r in results.items() if r.value is None}
    _, undecided = evaluator._all_values("u1")
    assert undecided["pro-0"].reason is not Reason.CONDITION_MATCH


def test_the_values_pass_builds_no_result() -> None:
    """The point of the values pass: the unrolled flags' results are never built."""
    snapshot = Snapshot.from_dict(_body())
    evaluator = Evaluator(snapshot)
    for user in ("u1", "u2", "user-42"):
        evaluator._all_values(user, person_properties={"plan": "pro"})
    unrolled = [snapshot._compiled[key] for key in snapshot.flag_keys if "rollout" in key]
    assert unrolled
    assert all(flag.run_code is not None for flag in unrolled)
    assert all(result is None for flag in unrolled for result in flag.book._results)
    evaluator.evaluate_all("u1", person_properties={"plan": "pro"})
    assert any(result is not None for flag in unrolled for result in flag.book._results)


def test_the_values_pass_falls_back_where_the_pass_cannot_run() -> None:
    evaluator = Evaluator(Snapshot.from_dict(_body()))
    # A flag's code raises: every flag runs one by one, as evaluate_all runs them.
    person = {_RaisingKey("p"): "x"}
    values, undecided = evaluator._all_values("u1", person_properties=person)
    results = evaluator.evaluate_all("u1", person_properties=person)
    assert values == _values_of(results)
    assert undecided["pro-0"].reason is Reason.INVALID_DEFINITION
    # Invalid input: every flag says why.
    values, undecided = evaluator._all_values("u1", person_properties=["not", "a", "dict"])  # type: ignore[arg-type]
    assert set(values.values()) == {None}
    assert {r.reason for r in undecided.values()} == {Reason.INVALID_INPUT}
    assert list(undecided) == list(evaluator.snapshot.flag_keys)


def test_the_values_pass_leaves_anything_but_a_value_to_the_general_path() -> None:
    def undecided(*_: Any) -> Any:
        return None

    def decided(constant: Any, *_: Any) -> Any:
        return constant

    batch = Batch(("a", "b", "c", "d"), (decided,) * 4, (True, "x", 1, None), (), False)
    answers, later = run_batch(batch, {}, b"u1", b"u1variant", None, True) or ({}, None)
    assert answers == {"a": True, "b": "x", "c": 1, "d": None}
    assert later == [2, 3]  # 1 is not a flag value the pass gives (True is)
    settled = Batch(("a", "b"), (decided, undecided), (False, None), ((1, None),), False)  # type: ignore[arg-type]
    assert run_batch(settled, {}, b"u", b"uv", None, True) == (
        {"a": False, "b": None},
        None,
    )


def test_one_code_answers_results_or_values() -> None:
    """The values pass calls the flags' own code with ``v``: nothing more is compiled."""
    snapshot = Snapshot.from_dict(_body())
    evaluator = Evaluator(snapshot)
    flag = snapshot.compiled("variant-0")
    assert flag is not None
    assert flag.run_code is not None
    person = {"plan": "pro"}
    for user in ("u1", "u2", "u3", "user-42"):
        encoded = user.encode()
        result = flag.run_code(flag.consts, person, encoded, None)
        value = flag.run_code(flag.consts, person, encoded, None, None, True)
        assert result == evaluator.evaluate("variant-0", user, person)
        assert value == result.value
        assert type(value) is type(result.value)


def _depends(key: str, on: str, chain: list[str]) -> dict[str, Any]:
    dependency = {
        "key": on,
        "type": "flag",
        "operator": "flag_evaluates_to",
        "value": True,
        "dependency_chain": chain,
    }
    return {"key": key, "active": True, "filters": {"groups": [{"properties": [dependency]}]}}


def test_dependencies_are_walked_per_flag_as_posthog_does() -> None:
    """PostHog's SDK keeps a dependency cache per flag, even in get_all_flags: what one
    flag's chain left there (a member without a definition, a flag it evaluated) must not
    change another flag's answer."""
    on = {"key": "on", "active": True, "filters": {"groups": [{"rollout_percentage": 100}]}}
    body = {
        "flags": [
            on,
            _depends("needs-ghost", "ghost", ["ghost"]),
            # "ghost" has no definition: undecided, whichever flag met it first.
            _depends("ghost-in-chain", "on", ["ghost", "on"]),
            # A malformed chain without its flag: "on" is not evaluated for it.
            _depends("on-outside-chain", "on", ["needs-ghost"]),
        ]
    }
    evaluator = Evaluator(Snapshot.from_dict(body))
    every = evaluator.evaluate_all("u1")
    assert every == _one_by_one(evaluator, "u1")
    assert every["ghost-in-chain"].value is None
    assert every["on-outside-chain"].value is None
    values, _ = evaluator._all_values("u1")
    assert values == _values_of(every)


def test_a_dependency_in_a_group_condition_is_not_read_from_the_persons() -> None:
    """Found by scripts/differential.py --all-flags: "f2" decided on the person's properties
    (for "person-dep") must not answer "f2" for a condition on a group's properties
    ("group-dep"), which PostHog evaluates afresh there (undecided: no "country")."""
    country = {"key": "country", "type": "person", "operator": "exact", "value": "NL"}
    on_group = _depends("group-dep", "f2", ["f2"])
    on_group["filters"]["groups"][0]["aggregation_group_type_index"] = 1
    body = {
        "flags": [
            _depends("person-dep", "f2", ["f2"]),
            on_group,
            {"key": "f2", "active": True, "filters": {"groups": [{"properties": [country]}]}},
        ],
        "group_type_mapping": {"0": "company", "1": "project"},
    }
    evaluator = Evaluator(Snapshot.from_dict(body))
    context = {"person_properties": {"country": "DE"}, "groups": {"project": "acme"}}
    every = evaluator.evaluate_all("u1", **context)
    assert every == _one_by_one(evaluator, "u1", **context)
    assert every["person-dep"].value is False
    assert every["group-dep"].value is None
    values, _ = evaluator._all_values("u1", **context)
    assert values == _values_of(every)
