"""Evaluator behaviour beyond the conformance data: reasons, inputs, robustness, explain."""

from __future__ import annotations

import math
import threading
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flagkit import Evaluator, FlagResult, Reason, Snapshot

MV = {
    "variants": [
        {"key": "control", "rollout_percentage": 50},
        {"key": "test", "rollout_percentage": 50},
    ]
}


def evaluator(*flags: dict[str, Any], **body: Any) -> Evaluator:
    return Evaluator(Snapshot.from_dict({"flags": list(flags), **body}))


def test_reasons_and_descriptions() -> None:
    ev = evaluator(
        {
            "key": "on",
            "active": True,
            "filters": {"groups": [{"properties": [], "rollout_percentage": 100}]},
        },
        {"key": "off", "active": False, "filters": {"groups": [{"rollout_percentage": 100}]}},
        {"key": "zero", "active": True, "filters": {"groups": [{"rollout_percentage": 0}]}},
        {"key": "none", "active": True, "filters": {"groups": []}},
        {
            "key": "mv",
            "active": True,
            "filters": {
                "groups": [{"rollout_percentage": 100}],
                "multivariate": MV,
                "payloads": {"control": '{"a": 1}', "test": '"t"'},
            },
        },
        {"key": "ec", "active": True, "ensure_experience_continuity": True, "filters": {}},
        {
            "key": "grp",
            "active": True,
            "filters": {"aggregation_group_type_index": 0, "groups": [{"rollout_percentage": 100}]},
        },
        group_type_mapping={"0": "company"},
    )
    on = ev.evaluate("on", "u1")
    assert (on.value, on.reason, on.condition_index, on.enabled) == (
        True,
        Reason.CONDITION_MATCH,
        0,
        True,
    )
    assert "matched condition 1" in on.description
    assert ev.evaluate("off", "u1").reason is Reason.DISABLED
    zero = ev.evaluate("zero", "u1")
    assert (zero.value, zero.reason, zero.enabled) == (False, Reason.OUT_OF_ROLLOUT, False)
    assert ev.evaluate("none", "u1").reason is Reason.NO_CONDITION_MATCH
    mv = ev.evaluate("mv", "u1")
    assert mv.variant in {"control", "test"}
    assert mv.enabled
    assert mv.payload == ({"a": 1} if mv.variant == "control" else "t")
    assert ev.evaluate("ec", "u1").reason is Reason.REQUIRES_SERVER
    assert ev.evaluate("grp", "u1").reason is Reason.GROUP_NOT_PROVIDED
    assert ev.evaluate("grp", "u1", groups={"company": "acme"}).value is True
    missing = ev.evaluate("nope", "u1")
    assert (missing.value, missing.reason) == (None, Reason.FLAG_NOT_FOUND)
    assert not Reason.MISSING_CONTEXT.decided
    assert Reason.CONDITION_MATCH.decided


@pytest.mark.parametrize(
    "kwargs",
    [
        {"distinct_id": None},
        {"distinct_id": "u", "person_properties": ["a"]},
        {"distinct_id": "u", "groups": "company"},
        {"distinct_id": "u", "group_properties": 3},
    ],
)
def test_bad_input_gives_invalid_input(kwargs: dict[str, Any]) -> None:
    ev = evaluator(
        {"key": "f", "active": True, "filters": {"groups": [{"rollout_percentage": 100}]}}
    )
    distinct_id = kwargs.pop("distinct_id")
    result = ev.evaluate("f", distinct_id, **kwargs)
    assert result.value is None
    assert result.reason is Reason.INVALID_INPUT
    assert result.description
    assert ev.evaluate_all(distinct_id, **kwargs)["f"].reason is Reason.INVALID_INPUT


def test_unhashable_key_does_not_raise() -> None:
    result = evaluator().evaluate(["x"], "u")  # type: ignore[arg-type]
    assert result.reason is Reason.INVALID_INPUT


def test_evaluate_all_order_keys_and_not_found() -> None:
    flags = [
        {"key": k, "active": True, "filters": {"groups": [{"rollout_percentage": 100}]}}
        for k in "abc"
    ]
    ev = evaluator(*flags)
    assert list(ev.evaluate_all("u")) == ["a", "b", "c"]
    subset = ev.evaluate_all("u", keys=["c", "a", "zz"])
    assert list(subset) == ["a", "c", "zz"]
    assert subset["zz"].reason is Reason.FLAG_NOT_FOUND


def test_results_are_deterministic_and_shared() -> None:
    ev = evaluator(
        {
            "key": "mv",
            "active": True,
            "filters": {"groups": [{"rollout_percentage": 60}], "multivariate": MV},
        }
    )
    first = [ev.evaluate("mv", f"user-{i}") for i in range(200)]
    again = [ev.evaluate("mv", f"user-{i}") for i in range(200)]
    assert first == again
    # Results are prebuilt per outcome: no allocation per call.
    assert first[0] is again[0]


def test_explain_traces_conditions_and_buckets() -> None:
    ev = evaluator(
        {
            "key": "f",
            "active": True,
            "filters": {
                "groups": [
                    {
                        "properties": [
                            {"key": "plan", "operator": "exact", "value": ["pro"], "type": "person"}
                        ]
                    },
                    {"properties": [], "rollout_percentage": 30},
                ]
            },
        }
    )
    explanation = ev.explain("f", "user-1", person_properties={"plan": "free"})
    assert explanation.result == ev.evaluate("f", "user-1", person_properties={"plan": "free"})
    first, second = explanation.conditions
    assert first.filters[0].outcome == "no match"
    assert "plan" in first.filters[0].text
    assert second.bucket is not None
    assert 0 <= second.bucket <= 1
    assert second.rollout_percentage == 30
    assert second.outcome == ("match" if second.bucket <= 0.3 else "out of rollout")
    assert ev.explain("missing", "u").conditions == ()


# -- robustness: arbitrary definitions and contexts never raise -------------------------

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
operators = st.sampled_from(
    [
        "exact",
        "is_not",
        "is_set",
        "is_not_set",
        "icontains",
        "not_icontains",
        "regex",
        "not_regex",
        "gt",
        "lt",
        "gte",
        "lte",
        "is_date_before",
        "is_date_after",
        "semver_gt",
        "semver_tilde",
        "semver_wildcard",
        "in",
        "not_in",
        "flag_evaluates_to",
        "bogus",
        None,
    ]
)
filters = st.fixed_dictionaries(
    {
        "key": st.sampled_from(["plan", "age", "email", "f0", "f1", "id"]) | json_values,
        "value": json_values,
        "operator": operators,
        "type": st.sampled_from(["person", "group", "cohort", "flag", None]),
    },
    optional={
        "dependency_chain": st.lists(st.sampled_from(["f0", "f1", "f2"]), max_size=3) | json_values,
        "negation": st.booleans(),
    },
)
conditions = st.fixed_dictionaries(
    {},
    optional={
        "properties": st.lists(filters, max_size=3) | json_values,
        "rollout_percentage": st.none() | st.floats(-10, 110) | st.integers(-5, 105) | json_values,
        "variant": st.sampled_from(["a", "b", "zz"]) | json_values,
        "aggregation_group_type_index": st.none() | st.integers(0, 2),
    },
)
flag_bodies = st.fixed_dictionaries(
    {"key": st.sampled_from(["f0", "f1", "f2"]), "active": st.booleans() | json_values},
    optional={
        "filters": st.fixed_dictionaries(
            {},
            optional={
                "groups": st.lists(conditions, max_size=3) | json_values,
                "multivariate": st.just(
                    {
                        "variants": [
                            {"key": "a", "rollout_percentage": 50},
                            {"key": "b", "rollout_percentage": 50},
                        ]
                    }
                )
                | json_values,
                "payloads": st.dictionaries(
                    st.sampled_from(["true", "false", "a", "b"]), json_values
                )
                | json_values,
                "aggregation_group_type_index": st.none() | st.integers(0, 2) | json_values,
                "holdout": st.fixed_dictionaries(
                    {"id": json_values, "exclusion_percentage": json_values}
                )
                | json_values,
                "feature_enrollment": st.booleans(),
                "early_exit": st.booleans(),
                "bucketing_identifier": st.sampled_from(["device_id", "distinct_id"]),
            },
        )
        | json_values,
        "ensure_experience_continuity": st.booleans(),
    },
)
bodies = st.fixed_dictionaries(
    {"flags": st.lists(flag_bodies, max_size=4)},
    optional={
        "cohorts": st.dictionaries(
            st.sampled_from(["1", "2"]),
            json_values
            | st.fixed_dictionaries(
                {"type": st.sampled_from(["AND", "OR"]), "values": st.lists(filters, max_size=3)}
            ),
        ),
        "group_type_mapping": st.dictionaries(st.sampled_from(["0", "1"]), json_values),
        "property_matching_version": json_values,
    },
)
contexts = st.fixed_dictionaries(
    {"distinct_id": st.text(max_size=8) | st.integers() | st.none() | json_values},
    optional={
        "person_properties": st.dictionaries(
            st.sampled_from(["plan", "age", "email", "id"]), json_values
        )
        | json_values,
        "groups": st.dictionaries(st.sampled_from(["company", "team"]), json_values) | json_values,
        "group_properties": st.dictionaries(st.sampled_from(["company"]), json_values)
        | json_values,
        "device_id": json_values,
    },
)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(bodies, contexts, st.sampled_from(["f0", "f1", "f2", "missing"]))
def test_evaluation_never_raises(body: dict[str, Any], context: dict[str, Any], key: str) -> None:
    ev = Evaluator(Snapshot.from_dict(body))
    distinct_id = context.pop("distinct_id")
    result = ev.evaluate(key, distinct_id, **context)
    assert isinstance(result, FlagResult)
    assert isinstance(result.reason, Reason)
    assert (
        result.value is None or isinstance(result.value, (bool, str)) or not result.reason.decided
    )
    if result.value is None:
        assert not result.reason.decided
    # Deterministic.
    assert ev.evaluate(key, distinct_id, **context) == result
    # evaluate_all answers as evaluate does, flag by flag (it shares work, never answers).
    every = ev.evaluate_all(distinct_id, **context)
    for other_key, other in every.items():
        assert isinstance(other, FlagResult)
        assert other == ev.evaluate(other_key, distinct_id, **context)
    ev.explain(key, distinct_id, **context)


def test_nan_rollout_and_huge_strings() -> None:
    # PostHog compares "hash > nan", which is never true: a NaN rollout lets everyone in.
    ev = evaluator(
        {"key": "f", "active": True, "filters": {"groups": [{"rollout_percentage": math.nan}]}}
    )
    assert ev.evaluate("f", "x" * 1_000_000).value is True


def test_missing_context_names_the_missing_properties() -> None:
    ev = evaluator(
        {
            "key": "f",
            "active": True,
            "filters": {
                "groups": [
                    {"properties": [{"key": "plan", "value": "pro", "type": "person"}]},
                    {"properties": [{"key": "country", "value": "GB", "type": "person"}]},
                ]
            },
        },
        {
            "key": "d",
            "active": True,
            "bucketing_identifier": "device_id",
            "filters": {"groups": [{}]},
        },
    )
    result = ev.evaluate("f", "u", person_properties={"email": "a@b.c"})
    assert result.reason is Reason.MISSING_CONTEXT
    assert result.description == (
        "cannot be decided locally: properties 'plan', 'country' were not passed"
    )
    one = ev.evaluate("f", "u", person_properties={"plan": "free"})
    assert one.description == "cannot be decided locally: property 'country' was not passed"
    device = ev.evaluate("d", "u")
    assert device.reason is Reason.MISSING_CONTEXT
    assert "device_id" in device.description


def _self_dependency(key: str) -> dict[str, Any]:
    return {
        "key": key,
        "type": "flag",
        "value": True,
        "operator": "flag_evaluates_to",
        "dependency_chain": [key],
    }


def test_exponential_dependency_loops_are_cut_off() -> None:
    # Each level of the loop re-evaluates the flag twice: the first condition is already
    # inconclusive (a missing property), so the error from deep in the loop does not end
    # the flag, and the second condition tries again. That is 2**48 evaluations, which
    # PostHog's SDK never finishes; flagkit gives up after a bounded amount of work.
    loop = {
        "key": "loop",
        "active": True,
        "filters": {
            "groups": [
                {"properties": [{"key": "plan", "value": "pro"}, _self_dependency("loop")]},
                {"properties": [_self_dependency("loop")]},
            ]
        },
    }
    ev = evaluator(loop)
    outcome: list[Any] = []
    worker = threading.Thread(
        target=lambda: outcome.append(
            (ev.evaluate("loop", "u"), ev.evaluate_all("u")["loop"], ev.explain("loop", "u"))
        ),
        daemon=True,
    )
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "the evaluation did not finish"
    single, every, explanation = outcome[0]
    assert single.value is None
    assert single.reason is Reason.INVALID_DEFINITION
    assert every == single
    assert explanation.result == single


@pytest.mark.parametrize("every", [False, True])
def test_an_unencodable_distinct_id_fails_only_where_it_is_hashed(every: bool) -> None:
    # PostHog's SDK fails when it hashes an id UTF-8 cannot encode (lone surrogates), and
    # only then: a flag decided before any hash still has its value.
    ev = evaluator(
        {"key": "r", "active": True, "filters": {"groups": [{"rollout_percentage": 50}]}},
        {
            "key": "p",
            "active": True,
            "filters": {
                "groups": [
                    {"properties": [{"key": "plan", "value": "pro"}], "rollout_percentage": 50}
                ]
            },
        },
    )
    for plan, expected_p in (("free", False), ("pro", None)):
        person = {"plan": plan}
        if every:
            results = ev.evaluate_all("\ud800x", person_properties=person)
        else:
            results = {k: ev.evaluate(k, "\ud800x", person_properties=person) for k in "rp"}
        assert results["r"].value is None
        assert results["r"].reason is Reason.INVALID_DEFINITION
        assert results["p"].value is expected_p
        expected_reason = Reason.NO_CONDITION_MATCH if plan == "free" else Reason.INVALID_DEFINITION
        assert results["p"].reason is expected_reason
