"""Flags of one snapshot share the compiled parts they have in common (filter tests,
conditions, plans, result specs), and sharing never changes an answer."""

from __future__ import annotations

from typing import Any

from flagkit import Evaluator, Snapshot

PLAN = {"key": "plan", "operator": "exact", "value": ["pro"], "type": "person"}
EMAIL = {"key": "email", "operator": "icontains", "value": "@acme", "type": "person"}


def flag(key: str, groups: list[dict[str, Any]], **filters: Any) -> dict[str, Any]:
    return {"key": key, "active": True, "filters": {"groups": groups, **filters}}


def snapshot(*flags: dict[str, Any]) -> Snapshot:
    return Snapshot.from_dict({"flags": list(flags)}, compile_all=True)


def answers(snap: Snapshot, key: str) -> list[Any]:
    evaluator = Evaluator(snap)
    people = [{}, {"plan": "pro"}, {"plan": "pro", "email": "x@acme.com"}, {"email": "@acme"}]
    return [
        (r.value, r.reason, r.condition_index, r.description)
        for user in range(30)
        for props in people
        if (r := evaluator.evaluate(key, f"user-{user}", props))
    ]


def test_a_filter_repeated_in_other_lists_is_compiled_once() -> None:
    snap = snapshot(
        flag("a", [{"properties": [PLAN], "rollout_percentage": 50}]),
        flag("b", [{"properties": [EMAIL, PLAN], "rollout_percentage": 50}]),
    )
    plan_in_a = snap.compiled("a").conditions[0].filters[0]
    plan_in_b = snap.compiled("b").conditions[0].filters[1]
    assert plan_in_a is plan_in_b


def test_flags_of_one_shape_share_conditions_plans_and_specs() -> None:
    groups = [{"properties": [EMAIL], "rollout_percentage": 30}, {"properties": []}]
    snap = snapshot(flag("a", groups), flag("b", groups), flag("c", groups[:1]))
    a, b, c = (snap.compiled(key) for key in "abc")
    assert a.conditions is b.conditions
    assert a.plan is b.plan
    assert a.book._specs is b.book._specs
    assert a.book._head is b.book._head
    assert a.book._results is not b.book._results  # results name their own flag
    assert c.conditions is not a.conditions
    for key, own in (("a", groups), ("b", groups), ("c", groups[:1])):
        assert answers(snap, key) == answers(snapshot(flag(key, own)), key)


def test_specs_equal_in_value_but_not_in_type_are_not_shared() -> None:
    # 1, 1.0 and True compare equal; a flag answering one must never answer another.
    def variants(key: Any) -> dict[str, Any]:
        return {"variants": [{"key": key, "rollout_percentage": 100}]}

    flags = [
        flag(name, [{"properties": [], "rollout_percentage": 100}], multivariate=variants(key))
        for name, key in (("int", 1), ("bool", True), ("float", 1.0), ("text", "1"))
    ]
    together = snapshot(*flags)
    for one in flags:
        alone = snapshot(one)
        assert answers(together, one["key"]) == answers(alone, one["key"])
        values = {type(value) for value, *_ in answers(together, one["key"])}
        assert values == {type(one["filters"]["multivariate"]["variants"][0]["key"])} or (
            values == {type(None)}  # a key PostHog's SDK cannot use: undecided
        )


def test_results_keep_nothing_for_payloads_they_do_not_have_and_share_descriptions() -> None:
    # Two flags (two snapshots, even) whose results read the same description share one
    # string; a flag without payloads keeps no payload memo once it has answered.
    rollout = [{"properties": [PLAN], "rollout_percentage": 40}]
    first = snapshot(flag("a", rollout), flag("b", rollout))
    again = snapshot(flag("c", rollout))
    people = [(f"user-{number}", {"plan": "pro"}) for number in range(8)]
    seen: dict[str, list[str]] = {}
    for snap, key in ((first, "a"), (first, "b"), (again, "c")):
        evaluator = Evaluator(snap)
        for user, props in people:
            result = evaluator.evaluate(key, user, props)
            seen.setdefault(result.description, []).append(result.description)
        assert snap.compiled(key).book._decoded is None
    for texts in seen.values():
        assert all(text is texts[0] for text in texts)
    assert len(seen) == 2  # matched inside the rollout, or outside it
    assert all(len(texts) >= 3 for texts in seen.values())


def test_payloads_are_decoded_once_per_value() -> None:
    snap = snapshot(
        flag("p", [{"properties": []}], payloads={"true": '{"color": "blue"}'}),
    )
    evaluator = Evaluator(snap)
    first = evaluator.evaluate("p", "u1").payload
    assert first == {"color": "blue"}
    assert snap.compiled("p").book.payload_for(True) is first
    assert snap.compiled("p").book.payload_for(False) is None


def test_a_book_keeps_the_results_evaluation_reaches_apart_from_the_rare_ones() -> None:
    variants = {"variants": [{"key": k, "rollout_percentage": 50} for k in "ab"]}
    snap = snapshot(
        flag("v", [{"properties": [PLAN], "rollout_percentage": 50}], multivariate=variants)
    )
    compiled = snap.compiled("v")
    book = compiled.book
    assert book._fixed is None
    evaluator = Evaluator(snap)
    reasons = {
        evaluator.evaluate("v", f"user-{n}", {"plan": plan}).reason
        for n in range(30)
        for plan in ("pro", "free")
    }
    assert len(reasons) == 3  # matched, out of rollout, no match
    assert book._fixed is None  # none of them is kept with the rare fixed slots
    condition = compiled.conditions[0]
    for slot in (1, condition.true_slot, condition.variant_slot, condition.out_of_rollout_slot):
        assert book.at(book.position(slot)) is book.get(slot)
        assert book._results[book.position(slot)] is book.get(slot)
    disabled = book.get(0)
    assert book._fixed is not None
    assert book._fixed[0] is disabled
    assert disabled not in book._results


def test_flags_of_one_kind_share_their_traits_and_value_tables() -> None:
    holdout = {"holdout": {"id": 1, "exclusion_percentage": 5}}
    snap = snapshot(
        flag("a", [{"properties": [PLAN], "rollout_percentage": 50}]),
        flag("b", [{"properties": [EMAIL], "rollout_percentage": 20}]),
        flag("c", [{"properties": [PLAN]}], **holdout),
        flag("d", [{"properties": [EMAIL]}], **holdout),
        {**flag("e", [{"properties": [PLAN]}]), "active": False},
    )
    a, b, c, d, e = (snap.compiled(key) for key in "abcde")
    assert a.traits is b.traits
    assert c.traits is d.traits
    assert c.traits is not a.traits
    assert c.holdout_percentage == 5
    assert not e.active
    assert a.active
    # One value table for the same values (what get_all_flags' pass reads): no match,
    # then the condition's slots (out of rollout, matched).
    assert a.consts[6] is b.consts[6]
    assert False in a.consts[6]
    assert True in a.consts[6]


def test_flags_keep_no_hash_state_of_their_own() -> None:
    # Each hash copies one empty SHA-1 state and feeds it the flag's "<key>." prefix: a
    # state per flag would live in OpenSSL's memory (about 216 bytes), out of sight.
    snap = snapshot(
        flag("a", [{"properties": [PLAN], "rollout_percentage": 50}]),
        flag("b", [{"properties": [], "rollout_percentage": 30}]),
    )
    for key in "ab":
        compiled = snap.compiled(key)
        assert compiled.hash_prefix == f"{key}.".encode()
        assert type(compiled.hash_prefix) is bytes
        assert compiled.consts[2] is compiled.hash_prefix
