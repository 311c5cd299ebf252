"""evaluate_all runs plain group flags and inactive flags from its plan: the same answers
as evaluate(), which takes the general path for them."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from flagkit import Evaluator, Snapshot
from flagkit._evaluation.snapshot import RUN_DISABLED, RUN_GROUP

_values = st.one_of(
    st.sampled_from(["pro", "PRO", "acme.com", "1.2.3", "", "true"]),
    st.integers(-3, 200),
    st.none(),
    st.booleans(),
)
_filters = st.fixed_dictionaries(
    {
        "key": st.sampled_from(["seats", "tier", "$group_key"]),
        "value": st.one_of(_values, st.lists(st.sampled_from(["pro", "gold", 1]), max_size=2)),
        "operator": st.sampled_from(["exact", "is_not", "icontains", "gt", "lt", "is_set"]),
        "type": st.just("group"),
        "group_type_index": st.just(0),
    }
)
_conditions = st.fixed_dictionaries(
    {"properties": st.lists(_filters, max_size=3)},
    optional={"rollout_percentage": st.sampled_from([0, 30, 100]), "variant": st.just("b")},
)
_variants = st.just(
    {"variants": [{"key": "a", "rollout_percentage": 40}, {"key": "b", "rollout_percentage": 60}]}
)
_flags = st.fixed_dictionaries(
    {
        "active": st.booleans(),
        "filters": st.fixed_dictionaries(
            {
                "aggregation_group_type_index": st.sampled_from([0, 0, 0, 1, 7]),
                "groups": st.lists(_conditions, min_size=1, max_size=3),
            },
            optional={"multivariate": _variants, "early_exit": st.booleans()},
        ),
    }
)
_group_props = st.fixed_dictionaries(
    {}, optional={"seats": _values, "tier": _values, "other": _values}
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(_flags, min_size=1, max_size=4),
    st.sampled_from([{}, {"company": "acme"}, {"company": 42}, {"project": "p"}]),
    st.one_of(st.none(), st.fixed_dictionaries({"company": _group_props})),
    st.fixed_dictionaries({}, optional={"seats": _values, "tier": _values}),
)
def test_group_flags_in_evaluate_all_agree_with_evaluate(
    raws: list[dict[str, Any]],
    groups: dict[str, Any],
    group_properties: dict[str, Any] | None,
    person: dict[str, Any],
) -> None:
    # A person flag with the same filter lists: its memo slots must not serve group flags.
    flags = [{**raw, "key": f"g{index}"} for index, raw in enumerate(raws)]
    for index, raw in enumerate(raws):
        person_filters = {**raw["filters"], "aggregation_group_type_index": None}
        flags.append({"key": f"p{index}", "active": True, "filters": person_filters})
    body = {"flags": flags, "group_type_mapping": {"0": "company", "1": "project"}}
    evaluator = Evaluator(Snapshot.from_dict(body))
    context: dict[str, Any] = {
        "person_properties": person,
        "groups": groups,
        "group_properties": group_properties,
    }
    every = evaluator.evaluate_all("user-1", **context)
    for key, result in every.items():
        assert result == evaluator.evaluate(key, "user-1", **context)


def test_the_plan_runs_group_and_inactive_flags_without_the_general_path() -> None:
    condition = {"properties": [{"key": "seats", "operator": "gt", "value": "10", "type": "group"}]}
    body = {
        "flags": [
            {
                "key": "g",
                "active": True,
                "filters": {"aggregation_group_type_index": 0, "groups": [condition]},
            },
            {"key": "off", "active": False, "filters": {"groups": [{}]}},
        ],
        "group_type_mapping": {"0": "company"},
    }
    snapshot = Snapshot.from_dict(body)
    plan = snapshot._evaluation_plan()
    assert [entry[2] for entry in plan] == [RUN_GROUP, RUN_DISABLED]
    results = Evaluator(snapshot).evaluate_all(
        "u", groups={"company": "acme"}, group_properties={"company": {"seats": 11}}
    )
    assert results["g"].value is True
    assert results["off"].value is False
