"""The unrolled evaluation of plain flags decides exactly as the generic condition loop."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flagkit import Evaluator, Snapshot, _specialize
from flagkit._runtime import match_conditions
from flagkit._specialize import specialize

texts = st.sampled_from(
    ["pro", "PRO", "Pro", "free", "acme", "ACME.com", "x@acme.com", "ß", "İ", "true", ""]
)
# Mostly strings, so that the inlined string paths are exercised most of the time.
values = st.one_of(
    texts,
    texts,
    texts,
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=False, width=16),
    st.lists(st.sampled_from(["pro", "free", 1, True]), max_size=3),
)
operators = st.sampled_from(
    ["exact", "is_not", "icontains", "not_icontains", "is_set", "gt", "regex", "bogus", None]
)
filters = st.fixed_dictionaries(
    {
        "key": st.sampled_from(["plan", "email", "age", "distinct_id"]),
        "value": values,
        "operator": operators,
        "type": st.just("person"),
    }
)
conditions = st.fixed_dictionaries(
    # A malformed filter now and then; mostly real ones.
    {"properties": st.lists(st.one_of(*[filters] * 6, st.just("broken")), min_size=1, max_size=3)},
    optional={
        "rollout_percentage": st.sampled_from([0, 10, 50, 99.5, 100]),
        "variant": st.just("b"),
    },
)
variants = st.just(
    {"variants": [{"key": "a", "rollout_percentage": 50}, {"key": "b", "rollout_percentage": 50}]}
)
flags = st.fixed_dictionaries(
    {
        "key": st.sampled_from(["f", "g"]),
        "active": st.just(True),
        "filters": st.fixed_dictionaries(
            {"groups": st.lists(conditions, min_size=1, max_size=3)},
            optional={"multivariate": variants},
        ),
    }
)
_keys = ("plan", "email", "age", "distinct_id")
# Usually every property present (the inlined paths), sometimes some missing.
people = st.one_of(
    st.fixed_dictionaries(dict.fromkeys(_keys, values)),
    st.fixed_dictionaries(dict.fromkeys(_keys, texts)),
    st.fixed_dictionaries({}, optional=dict.fromkeys(_keys, values)),
)


@settings(max_examples=800, deadline=None)
@given(flags, people, st.sampled_from(["u1", "u2", "user-42", 7]))
def test_unrolled_flags_match_the_generic_loop(
    raw: dict[str, Any], props: dict[str, Any], distinct_id: Any
) -> None:
    # Many shapes are generated here: keep the bounded shape cache from filling up.
    _specialize._factories.clear()
    flag = Snapshot.from_dict({"flags": [raw]}).compiled(raw["key"])
    assert flag is not None
    run = specialize(flag)
    assert run is not None  # every generated flag is eligible
    assert run(props, distinct_id) == match_conditions(flag, props, distinct_id, None, {}, {})


def test_flags_with_cohorts_or_groups_are_not_unrolled() -> None:
    body = {
        "flags": [
            {
                "key": "c",
                "active": True,
                "filters": {
                    "groups": [{"properties": [{"key": "id", "value": 1, "type": "cohort"}]}]
                },
            },
            {
                "key": "g",
                "active": True,
                "filters": {
                    "aggregation_group_type_index": 0,
                    "groups": [{"rollout_percentage": 50}],
                },
            },
            {"key": "e", "active": True, "filters": {"early_exit": True, "groups": [{}]}},
        ],
        "cohorts": {"1": {"type": "AND", "values": []}},
        "group_type_mapping": {"0": "company"},
    }
    snapshot = Snapshot.from_dict(body)
    for key in ("c", "g", "e"):
        flag = snapshot.compiled(key)
        assert flag is not None
        assert flag.run is None


@pytest.mark.parametrize("operator", ["exact", "is_not", "icontains", "not_icontains"])
@pytest.mark.parametrize("value", ["acme", "ACME", ["Pro", "acme.com"], "ß"])
@pytest.mark.parametrize("prop", ["ACME.com", "acme", "pro", "PRO", "SS", "İ", 5, None])
def test_inlined_string_operators(operator: str, value: Any, prop: Any) -> None:
    raw = {
        "key": "f",
        "active": True,
        "filters": {
            "groups": [{"properties": [{"key": "p", "value": value, "operator": operator}]}]
        },
    }
    flag = Snapshot.from_dict({"flags": [raw]}).compiled("f")
    assert flag is not None
    assert flag.run is not None
    props = {"p": prop}
    assert flag.run(props, "u") == match_conditions(flag, props, "u", None, {}, {})


def test_a_full_shape_cache_falls_back_to_the_generic_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_specialize, "_MAX_SHAPES", 0)
    monkeypatch.setattr(_specialize, "_factories", {})
    raw = {"key": "f", "active": True, "filters": {"groups": [{"rollout_percentage": 100}]}}
    snapshot = Snapshot.from_dict({"flags": [raw]})
    flag = snapshot.compiled("f")
    assert flag is not None
    assert flag.run is None
    assert Evaluator(snapshot).evaluate("f", "u").value is True
