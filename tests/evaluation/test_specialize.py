"""The unrolled evaluation of plain flags decides exactly as the generic condition loop."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flagkit import Evaluator, Snapshot
from flagkit._evaluation import specialize as _specialize
from flagkit._evaluation.hashing import encode_identifier
from flagkit._evaluation.runtime import match_conditions

texts = st.sampled_from(
    [
        *["pro", "PRO", "Pro", "free", "acme", "ACME.com", "x@acme.com", "ß", "İ", "true", ""],
        *["2.4.1", "1.0", "v3", "10.2.3-beta", "2"],
    ]
)
big = st.sampled_from([2**53 + 1, -(2**1023), 2**1023, 2**1024, 10**400, float("inf"), 1e308])
# Mostly strings, so that the inlined string paths are exercised most of the time.
values = st.one_of(
    texts,
    texts,
    texts,
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=False, width=16),
    st.floats(),
    big,
    st.lists(st.sampled_from(["pro", "free", 1, True]), max_size=3),
)
operators = st.sampled_from(
    [
        *["exact", "is_not", "icontains", "not_icontains", "is_set", "is_not_set", "regex"],
        *["gt", "gte", "lt", "lte", "semver_gte", "semver_lt", "semver_eq", "semver_neq"],
        *["semver_gt", "semver_lte", "semver_tilde", "semver_caret", "semver_wildcard"],
        *["bogus", None],
    ]
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
    {"properties": st.lists(st.one_of(*[filters] * 6, st.just("broken")), min_size=0, max_size=3)},
    optional={
        "rollout_percentage": st.sampled_from([0, 10, 50, 99.5, 100, 100.0, 150]),
        "variant": st.just("b"),
    },
)
# Tables that take the bisect path (contiguous, sorted) and ones that take the loop.
variants = st.sampled_from(
    [[50, 50], [0, 100], [100, 0], [34, 33, 33], [33.3, 0, 66.7], [60, 60], [-10, 110], [20, 30]]
).map(
    lambda table: {
        "variants": [
            {"key": key, "rollout_percentage": percentage}
            for key, percentage in zip("abc", table, strict=False)
        ]
    }
)
flags = st.fixed_dictionaries(
    {
        "key": st.sampled_from(["f", "g"]),
        "active": st.just(True),
        "filters": st.fixed_dictionaries(
            {"groups": st.lists(conditions, min_size=1, max_size=3)},
            optional={"multivariate": variants, "early_exit": st.booleans()},
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


def _unrolled(flag: Any, props: dict[str, Any], distinct_id: Any, shared: bool) -> Any:
    assert flag.run_code is not None  # every generated flag is eligible
    encoded = encode_identifier(distinct_id)
    assert encoded is not None
    # evaluate() lets the code add "variant" itself; evaluate_all() passes it in.
    return flag.run_code(flag.consts, props, encoded, encoded + b"variant" if shared else None)


def _assert_one_filter_agrees(operator: str, value: Any, prop: Any) -> None:
    """A flag with one filter on ``p``: unrolled and generic agree for ``{"p": prop}``."""
    raw = {
        "key": "f",
        "active": True,
        "filters": {
            "groups": [{"properties": [{"key": "p", "value": value, "operator": operator}]}]
        },
    }
    props = {"p": prop}
    for inline in (True, False):
        with _fresh_shapes(inline):
            flag = Snapshot.from_dict({"flags": [raw]}).compiled("f")
        assert flag is not None
        assert flag.run_code is not None
        expected = match_conditions(flag, props, "u", None, {}, {})
        assert _unrolled(flag, props, "u", False) == expected


@contextmanager
def _fresh_shapes(inline: bool) -> Iterator[None]:
    """Empty shape caches (many shapes are generated here: keep the bounded caches from
    filling up), with filter lists inlined into the flag's code or called as tests."""
    _specialize._factories.clear()
    _specialize._inlined_factories.clear()
    bound = _specialize._MAX_INLINED_SHAPES
    _specialize._MAX_INLINED_SHAPES = bound if inline else 0
    try:
        yield
    finally:
        _specialize._MAX_INLINED_SHAPES = bound


@settings(max_examples=1500, deadline=None)
@given(
    flags, people, st.sampled_from(["u1", "u2", "user-42", 7, "ü"]), st.booleans(), st.booleans()
)
def test_unrolled_flags_match_the_generic_loop(
    raw: dict[str, Any], props: dict[str, Any], distinct_id: Any, shared: bool, inline: bool
) -> None:
    with _fresh_shapes(inline):
        flag = Snapshot.from_dict({"flags": [raw]}).compiled(raw["key"])
    assert flag is not None
    expected = match_conditions(flag, props, distinct_id, None, {}, {})
    assert _unrolled(flag, props, distinct_id, shared) == expected


@settings(max_examples=800, deadline=None)
@given(
    st.lists(flags, min_size=1, max_size=4),
    people,
    st.sampled_from(["u1", "user-42", 7]),
    st.booleans(),
)
def test_flags_sharing_filter_lists_in_one_call_match_the_generic_loop(
    raws: list[dict[str, Any]], props: dict[str, Any], distinct_id: Any, inline: bool
) -> None:
    # Distinct keys; conditions repeated across flags (and within one) share memo slots.
    raws = [{**raw, "key": f"flag-{index}"} for index, raw in enumerate(raws)]
    with _fresh_shapes(inline):
        snapshot = Snapshot.from_dict({"flags": raws}).compile_all()
    memo: list[Any] = [None] * len(snapshot._shared)
    encoded = encode_identifier(distinct_id)
    assert encoded is not None
    for raw in raws:
        flag = snapshot.compiled(raw["key"])
        assert flag is not None
        assert flag.shared_code is not None
        expected = match_conditions(flag, props, distinct_id, None, {}, {})
        outcome = flag.shared_code(flag.consts, props, encoded, encoded + b"variant", memo)
        assert outcome == expected


def test_repeated_filter_lists_share_one_number() -> None:
    internal = [{"key": "email", "operator": "icontains", "value": "@acme.com"}]
    other = [{"key": "plan", "value": "pro"}]
    raws = [
        {
            "key": f"f{index}",
            "active": True,
            "filters": {"groups": [{"properties": internal}, {"properties": other}]},
        }
        for index in range(3)
    ]
    raws.append({"key": "g", "active": True, "filters": {"groups": [{"properties": [{"key": 1}]}]}})
    snapshot = Snapshot.from_dict({"flags": raws}).compile_all()
    assert len(snapshot._shared) == 3
    # Decoded JSON needs no check of its values: the same numbering.
    decoded = Snapshot.from_json(json.dumps({"flags": raws})).compile_all()
    assert len(decoded._shared) == 3
    shared = _specialize.SharedConditions()
    assert shared.number(internal) == 0
    assert shared.number([dict(item) for item in internal]) == 0
    assert shared.number(other) == 1
    # Only plain JSON values are numbered: these would print like others but differ.
    assert shared.number([{"key": "email", "value": {1: "a"}}]) is None
    assert shared.number([{"key": "email", "value": ("a",)}]) is None
    assert len(shared) == 2


def test_flags_with_nested_cohorts_or_groups_are_not_unrolled() -> None:
    # Cohort 1 references cohort 2: it needs the evaluation's frame. (A cohort of
    # properties only is compiled into the flag: see tests/evaluation/test_inline_cohorts.py.)
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
        ],
        "cohorts": {
            "1": {"type": "AND", "values": [{"key": "id", "value": 2, "type": "cohort"}]},
            "2": {"type": "AND", "values": []},
        },
        "group_type_mapping": {"0": "company"},
    }
    snapshot = Snapshot.from_dict(body)
    for key in ("c", "g"):
        flag = snapshot.compiled(key)
        assert flag is not None
        assert flag.run_code is None


@pytest.mark.parametrize("operator", ["exact", "is_not", "icontains", "not_icontains"])
@pytest.mark.parametrize("value", ["acme", "ACME", ["Pro", "acme.com"], "ß"])
@pytest.mark.parametrize("prop", ["ACME.com", "acme", "pro", "PRO", "SS", "İ", 5, None])
def test_inlined_string_operators(operator: str, value: Any, prop: Any) -> None:
    _assert_one_filter_agrees(operator, value, prop)


def test_small_flags_run_their_filter_lists_inline_and_others_call_the_list_tests() -> None:
    email = {"key": "email", "operator": "icontains", "value": "@acme.com"}
    plan = {"key": "plan", "value": ["pro", "team"]}
    raw = {"key": "f", "active": True, "filters": {"groups": [{"properties": [email, plan]}]}}
    big = {**raw, "filters": {"groups": [{"properties": [email, plan] * 7}]}}  # 14 filters
    props = {"email": "x@ACME.com", "plan": "pro"}
    with _fresh_shapes(True):
        snapshot = Snapshot.from_dict({"flags": [raw, {**big, "key": "g"}]})
        small, large = snapshot.compiled("f"), snapshot.compiled("g")
        assert len(_specialize._inlined_factories) == 1
        assert len(_specialize._factories) == 1
    assert small is not None
    assert large is not None
    # Inlined: no list test, the filters' (test, key, constant) after the conditions.
    assert small.consts[_specialize._HEAD + _specialize._TEST] is None
    assert len(small.consts) == _specialize._HEAD + _specialize._PER_CONDITION + 6
    assert callable(large.consts[_specialize._HEAD + _specialize._TEST])
    for flag in (small, large):
        assert _unrolled(flag, props, "u", False) == match_conditions(
            flag, props, "u", None, {}, {}
        )
        assert _unrolled(flag, props, "u", False).value is True


def test_a_full_shape_cache_falls_back_to_the_generic_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_specialize, "_MAX_SHAPES", 0)
    monkeypatch.setattr(_specialize, "_factories", {})
    raw = {"key": "f", "active": True, "filters": {"groups": [{"rollout_percentage": 100}]}}
    snapshot = Snapshot.from_dict({"flags": [raw]})
    flag = snapshot.compiled("f")
    assert flag is not None
    assert flag.run_code is None
    assert Evaluator(snapshot).evaluate("f", "u").value is True


@pytest.mark.parametrize("operator", ["gt", "gte", "lt", "lte"])
@pytest.mark.parametrize("value", [5, "5", 2.5, -1, 2**53])
@pytest.mark.parametrize(
    "prop",
    [
        *[5, 5.0, 4.999, 6, 2.5, -1, -1.0, 0, True, 2**53, 2**53 + 1, 2**1023, 2**1024],
        *[10**400, float("inf"), float("-inf"), float("nan"), "5", None],
    ],
)
def test_inlined_numeric_comparisons_at_their_boundaries(
    operator: str, value: Any, prop: Any
) -> None:
    _assert_one_filter_agrees(operator, value, prop)


_SEMVER_OPERATORS = [
    *["semver_eq", "semver_neq", "semver_gt", "semver_gte", "semver_lt", "semver_lte"],
    *["semver_tilde", "semver_caret", "semver_wildcard"],
]


@pytest.mark.parametrize("operator", _SEMVER_OPERATORS)
@pytest.mark.parametrize("value", ["1.2.3", "1.2.*", "0.2.3", "2"])
@pytest.mark.parametrize(
    "prop",
    [
        *["1.2.3", "1.2.2", "1.2.4", "1.3.0", "1.2.0", "2.0.0", "0.2.3", "0.3.0", "0.2.4"],
        *["2", "1.2", "v1.2.3", "bogus", "", 1, None],
    ],
)
def test_inlined_semver_comparisons_at_their_boundaries(
    operator: str, value: Any, prop: Any
) -> None:
    # Twice: the second time the property's version is already parsed (the inlined path).
    for _ in range(2):
        _assert_one_filter_agrees(operator, value, prop)


def test_evaluate_all_agrees_with_evaluate_while_flags_compile_lazily() -> None:
    internal = [{"key": "email", "operator": "icontains", "value": "@acme.com"}]
    raws: list[dict[str, Any]] = [
        {
            "key": f"f{index}",
            "active": True,
            "filters": {
                "groups": [
                    {"properties": internal, "rollout_percentage": 50},
                    {"properties": [{"key": "plan", "value": f"p{index % 2}"}]},
                ],
                "multivariate": {
                    "variants": [
                        {"key": "a", "rollout_percentage": 50},
                        {"key": "b", "rollout_percentage": 50},
                    ]
                },
            },
        }
        for index in range(6)
    ]
    people = [
        {"email": "ada@acme.com", "plan": "p1"},
        {"email": "bob@example.com", "plan": "p0"},
        {"plan": "p1"},
        {},
    ]
    for person in people:
        evaluator = Evaluator(Snapshot.from_dict({"flags": raws}))
        # A few flags first: the rest compile (and number new filter lists) in the next call.
        some = evaluator.evaluate_all("user-1", person_properties=person, keys=["f1", "f4"])
        every = evaluator.evaluate_all("user-1", person_properties=person)
        assert some == {key: every[key] for key in ("f1", "f4")}
        for key, result in every.items():
            assert result == evaluator.evaluate(key, "user-1", person_properties=person)


@pytest.mark.parametrize(
    "table", [[50, 50], [20, 80], [0, 100], [34, 33, 33], [20, 30], [-10, 110], [60, 60]]
)
@pytest.mark.parametrize("rollout", [None, 100, 70])
@pytest.mark.parametrize("shared", [False, True])
def test_unrolled_variants_match_the_generic_loop(
    table: list[float], rollout: float | None, shared: bool
) -> None:
    # With a rollout, the variant hash continues the rollout's hash state; without one,
    # it starts from the flag key. Tables that are contiguous from 0 use bisection.
    condition: dict[str, Any] = {"properties": []}
    if rollout is not None:
        condition["rollout_percentage"] = rollout
    variants = [
        {"key": key, "rollout_percentage": percentage}
        for key, percentage in zip("abc", table, strict=False)
    ]
    raw = {
        "key": "f",
        "active": True,
        "filters": {"groups": [condition], "multivariate": {"variants": variants}},
    }
    flag = Snapshot.from_dict({"flags": [raw]}).compiled("f")
    assert flag is not None
    seen = set()
    for number in range(300):
        distinct_id = f"user-{number}"
        outcome = _unrolled(flag, {}, distinct_id, shared)
        assert outcome == match_conditions(flag, {}, distinct_id, None, {}, {})
        seen.add(outcome.value)
    assert seen - {False}  # some ids matched


def test_threads_racing_to_compile_agree_with_evaluate() -> None:
    # Several threads start evaluate_all on a snapshot nothing is compiled in yet: flags,
    # filter-list numbers and the evaluation plan are built while others read them.
    internal = [{"key": "email", "operator": "icontains", "value": "@acme.com"}]
    raws = [
        {
            "key": f"f{index}",
            "active": True,
            "filters": {
                "groups": [
                    {"properties": internal, "rollout_percentage": 30 + index},
                    {"properties": [{"key": "plan", "value": f"p{index % 3}"}]},
                ]
            },
        }
        for index in range(60)
    ]
    person = {"email": "ada@acme.com", "plan": "p1"}
    expected = {
        key: result.value
        for key, result in Evaluator(Snapshot.from_dict({"flags": raws}))
        .evaluate_all("user-1", person_properties=person)
        .items()
    }
    expected_some = {key: expected[key] for key in ("f3", "f30")}
    for _ in range(10):
        for values in _race_evaluate_all(raws, person, threads=6):
            assert values in (expected, expected_some)


def _race_evaluate_all(
    raws: list[dict[str, Any]], person: dict[str, Any], threads: int
) -> list[dict[str, Any]]:
    """Values from ``threads`` threads that call evaluate_all at once on a fresh snapshot
    (every other one for two keys only)."""
    evaluator = Evaluator(Snapshot.from_dict({"flags": raws}))
    seen: list[dict[str, Any]] = []
    start = threading.Barrier(threads)

    def work(index: int) -> None:
        start.wait()
        keys = ["f3", "f30"] if index % 2 else None
        results = evaluator.evaluate_all("user-1", person_properties=person, keys=keys)
        seen.append({key: result.value for key, result in results.items()})

    workers = [threading.Thread(target=work, args=(index,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(seen) == threads
    return seen


@pytest.mark.parametrize(("conditions", "filters"), [(33, 1), (2, 65)])
def test_very_large_flags_keep_the_generic_loop(conditions: int, filters: int) -> None:
    # Compiling generated code for thousands of conditions would take seconds.
    raw = {
        "key": "big",
        "active": True,
        "filters": {
            "groups": [
                {"properties": [{"key": "plan", "value": f"p{i}-{j}"} for j in range(filters)]}
                for i in range(conditions)
            ]
        },
    }
    snapshot = Snapshot.from_dict({"flags": [raw]})
    flag = snapshot.compiled("big")
    assert flag is not None
    assert flag.run_code is None
    assert Evaluator(snapshot).evaluate("big", "u", person_properties={"plan": "p1-0"}).value is (
        filters == 1
    )
