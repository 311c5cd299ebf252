"""Cohort filters compiled into the flag (flagkit._evaluation.inline_cohorts) answer as
the evaluation frame's cohort test does, and a reload that changes such a cohort compiles
the flags that use it again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from flagkit import Evaluator, Snapshot
from flagkit._evaluation.inline_cohorts import InlineCohorts
from flagkit._sources.sync import compile_definitions

PRO = {"key": "plan", "operator": "exact", "value": ["pro"], "type": "person"}
US = {"key": "country", "operator": "exact", "value": "US", "type": "person"}


@contextmanager
def _frame_only() -> Iterator[None]:
    """Every cohort filter on the frame's path, as before cohorts were compiled in."""
    with mock.patch.object(InlineCohorts, "reference", return_value=None):
        yield


def _cohort_flag(key: str, cohort: Any, operator: str | None = None, **extra: Any) -> Any:
    cohort_filter: dict[str, Any] = {"key": "id", "type": "cohort", "value": cohort}
    if operator is not None:
        cohort_filter["operator"] = operator
    return {
        "key": key,
        "active": True,
        "filters": {"groups": [{"properties": [cohort_filter], **extra}, {"properties": [US]}]},
    }


leaf = st.sampled_from(
    [
        PRO,
        US,
        {"key": "age", "operator": "gt", "value": "30", "type": "person"},
        {"key": "email", "operator": "regex", "value": "(", "type": "person"},  # bad regex
        {"key": "plan", "operator": "bogus", "value": "x", "type": "person"},
        {"key": "plan", "operator": "is_not_set", "type": "person"},
        {"key": "id", "type": "cohort", "value": 2},  # nested: stays on the frame's path
        {"key": "some-flag", "type": "flag", "value": True},
    ]
).flatmap(lambda raw: st.sampled_from([raw, {**raw, "negation": True}]))
groups = st.recursive(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["AND", "OR"]), "values": st.lists(leaf, max_size=3)}
    ),
    lambda inner: st.fixed_dictionaries(
        {"type": st.sampled_from(["AND", "OR", "XOR"]), "values": st.lists(inner, max_size=3)}
    ),
    max_leaves=6,
)
people = st.fixed_dictionaries(
    {},
    optional={
        "plan": st.sampled_from(["pro", "free", 3]),
        "country": st.sampled_from(["US", "GB"]),
        "age": st.sampled_from([25, 40, "x"]),
        "email": st.just("a@b.c"),
    },
)


def _answers(body: dict[str, Any], person: dict[str, Any]) -> list[Any]:
    evaluator = Evaluator(Snapshot.from_dict(body))
    every = evaluator.evaluate_all("user-1", person_properties=person)
    one_by_one = [evaluator.evaluate(key, "user-1", person) for key in every]
    assert list(every.values()) == one_by_one
    return [(r.value, r.reason, r.condition_index) for r in one_by_one]


@settings(max_examples=300, deadline=None)
@given(groups, people, st.sampled_from([None, "in", "not_in", "exact", "gt"]))
def test_compiled_in_cohorts_answer_as_the_frame_does(
    cohort: dict[str, Any], person: dict[str, Any], operator: str | None
) -> None:
    body = {
        "flags": [
            _cohort_flag("a", 1, operator),
            _cohort_flag("b", 1, operator, rollout_percentage=50),
            _cohort_flag("missing", 99, operator),
        ],
        "cohorts": {"1": cohort, "2": {"type": "AND", "values": [PRO]}},
    }
    with _frame_only():
        expected = _answers(body, person)
    assert _answers(body, person) == expected


def test_a_cohort_of_properties_is_compiled_in_and_others_are_not() -> None:
    body = {
        "flags": [_cohort_flag("plain", 1), _cohort_flag("nested", 2), _cohort_flag("static", 9)],
        "cohorts": {
            1: {"type": "OR", "values": [{"type": "AND", "values": [PRO, US]}]},
            "2": {"type": "AND", "values": [{"key": "id", "type": "cohort", "value": 1}]},
        },
    }
    snapshot = Snapshot.from_dict(body, compile_all=True)
    plain = snapshot.compiled("plain")
    assert plain is not None
    assert plain.run_code is not None
    assert not plain.needs_frame
    assert plain.cohort_ids == frozenset({"1"})
    for key in ("nested", "static"):
        flag = snapshot.compiled(key)
        assert flag is not None
        assert flag.needs_frame
        assert flag.run_code is None
    evaluator = Evaluator(snapshot)
    assert evaluator.evaluate("plain", "u", {"plan": "pro", "country": "US"}).value is True
    assert evaluator.evaluate("plain", "u", {"plan": "free", "country": "GB"}).value is False
    assert evaluator.evaluate("static", "u", {}).reason.value == "requires_server"


def test_a_reload_that_changes_a_cohort_compiles_its_flags_again() -> None:
    def body(cohort_one: list[Any]) -> bytes:
        data = {
            "flags": [_cohort_flag("one", 1), _cohort_flag("two", 2), {"key": "x", "active": True}],
            "cohorts": {
                "1": {"type": "AND", "values": cohort_one},
                "2": {"type": "AND", "values": [US]},
            },
        }
        return json.dumps(data).encode()

    first = compile_definitions(body([PRO]))
    same = compile_definitions(body([PRO]), first)
    for key in ("one", "two", "x"):
        assert same.compiled(key) is first.compiled(key)
    changed = compile_definitions(body([US]), same)
    assert changed.compiled("one") is not first.compiled("one")  # cohort 1 changed
    assert changed.compiled("two") is first.compiled("two")
    assert changed.compiled("x") is first.compiled("x")
    person = {"plan": "free", "country": "US"}
    assert Evaluator(first).evaluate("one", "u", person).condition_index == 1
    assert Evaluator(changed).evaluate("one", "u", person).condition_index == 0
