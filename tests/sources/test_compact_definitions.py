"""A client's snapshots keep their definitions as packed canonical JSON once compiled: every
read of the definitions, every answer and every fingerprint stays what it was."""

from __future__ import annotations

import json
import math
import random
import threading
import time
from typing import Any

from flagkit import Evaluator, Snapshot
from flagkit._evaluation.definitions import Definitions
from flagkit._sources.fetch import Fetched
from flagkit._sources.store import Store
from flagkit._sources.sync import Syncer, SyncPolicy, compile_definitions
from flagkit._status import StatusTracker

PERSON = {"email": "a@acme.com", "plan": "pro", "age": 41}


def definition(key: str, index: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": index,
        "key": key,
        "active": True,
        "version": 3,
        "has_experiment": index % 2 == 0,
        "filters": {
            "groups": [
                {
                    "properties": [{"key": "email", "operator": "icontains", "value": "@acme"}],
                    "rollout_percentage": 40 + index,
                },
                {"properties": [], "rollout_percentage": 10, "variant": None},
            ],
            "multivariate": {
                "variants": [
                    {"key": "control", "rollout_percentage": 50},
                    {"key": "test", "rollout_percentage": 50},
                ]
            },
            "payloads": {"test": json.dumps({"n": index, "text": "ünïcode"})},
        },
        **extra,
    }


def body(*flags: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"flags": list(flags), "group_type_mapping": {"0": "company"}, "cohorts": {}, **extra}


def stored(snapshot: Snapshot, key: str) -> Any:
    definitions = snapshot.definitions
    assert isinstance(definitions, Definitions)
    return definitions.stored(key)


def packed(snapshot: Snapshot, key: str) -> bool:
    """Whether ``key`` is kept compact (canonical bytes, compressed), not decoded."""
    definitions = snapshot.definitions
    assert isinstance(definitions, Definitions)
    return definitions.canonical(key) is not None and type(stored(snapshot, key)) is not dict


def _syncer(raw: bytes, store: Store, tracker: StatusTracker) -> Syncer:
    """A client's syncer whose every fetch answers ``raw``."""
    return Syncer(
        store=store,
        tracker=tracker,
        fetch=lambda etag: Fetched(body=raw, etag=None),
        policy=SyncPolicy(),
        cache=None,
        clock=time.monotonic,
        rng=random.Random(1),
    )


def answers(snapshot: Snapshot, ids: range) -> list[Any]:
    evaluator = Evaluator(snapshot)
    return [
        (result.value, result.reason, result.payload, result.condition_index)
        for user in ids
        for result in evaluator.evaluate_all(f"user-{user}", person_properties=PERSON).values()
    ]


def test_compiled_client_snapshots_keep_bytes_and_read_back_the_same() -> None:
    flags = [definition(f"flag-{n}", n) for n in range(20)]
    data = body(*flags)
    raw = json.dumps(data).encode()
    snapshot = compile_definitions(raw)
    reference = Snapshot.from_json(raw, compile_all=True)
    assert all(packed(snapshot, f["key"]) for f in flags)
    assert "flags" not in snapshot.body  # the decoded list is dropped
    for flag in flags:
        assert snapshot.definition(flag["key"]) == flag
    assert dict(snapshot.definitions) == {f["key"]: f for f in flags}
    assert snapshot.to_dict() == data
    assert snapshot.fingerprint == reference.fingerprint
    assert answers(snapshot, range(60)) == answers(reference, range(60))
    assert {snapshot.compiled(f["key"]).has_experiment for f in flags} == {True, False}


def test_values_json_allows_survive_the_round_trip() -> None:
    odd = definition("odd", 1, note="\ud800 lone surrogate", big=10**300, ratio=math.inf)
    raw = json.dumps(body(odd)).encode()
    snapshot = compile_definitions(raw)
    assert packed(snapshot, "odd")
    again = snapshot.definition("odd")
    assert again is not None
    assert again["note"] == "\ud800 lone surrogate"
    assert again["big"] == 10**300
    assert again["ratio"] == math.inf
    assert Snapshot.from_dict(snapshot.to_dict()).fingerprint == snapshot.fingerprint


def test_to_dict_of_a_compact_snapshot_lists_the_loaded_flags() -> None:
    good = definition("good", 2)
    raw = json.dumps(
        body(definition("twice", 1), "not a flag", {"no": "key"}, definition("twice", 3), good)
    ).encode()
    snapshot = compile_definitions(raw)
    rebuilt = snapshot.to_dict()
    assert rebuilt["flags"] == [definition("twice", 3), good]
    assert rebuilt["group_type_mapping"] == {"0": "company"}
    assert Snapshot.from_dict(rebuilt).fingerprint == snapshot.fingerprint


def test_a_reload_reuses_compact_definitions_and_compiles_the_changed_one() -> None:
    flags = [definition(f"flag-{n}", n) for n in range(10)]
    first = compile_definitions(json.dumps(body(*flags)).encode())
    changed = [*flags[:9], definition("flag-9", 9, version=4)]
    changed[9]["filters"]["groups"][0]["rollout_percentage"] = 5
    second = compile_definitions(json.dumps(body(*changed)).encode(), first)
    for n in range(9):
        key = f"flag-{n}"
        assert second.compiled(key) is first.compiled(key)
        assert stored(second, key) is stored(first, key)  # one copy of the bytes
    assert second.compiled("flag-9") is not first.compiled("flag-9")
    assert second.definition("flag-9") == changed[9]
    assert second.diff(first) == frozenset({"flag-9"})
    reference = Snapshot.from_dict(body(*changed), compile_all=True)
    assert second.fingerprint == reference.fingerprint
    assert answers(second, range(40)) == answers(reference, range(40))
    # And a third load on top of the compact second one.
    third = compile_definitions(json.dumps(body(*flags)).encode(), second)
    assert third.fingerprint == first.fingerprint
    assert third.compiled("flag-0") is first.compiled("flag-0")


def test_snapshots_built_through_the_public_api_are_not_compacted() -> None:
    data = body(definition("a", 1))
    for snapshot in (
        Snapshot.from_json(json.dumps(data), compile_all=True),
        Snapshot.from_dict(data, compile_all=True),
    ):
        snapshot.fingerprint  # noqa: B018 - computed, as a client would
        assert type(stored(snapshot, "a")) is dict
        assert snapshot.to_dict()["flags"] == [definition("a", 1)]


def test_readers_during_the_first_load_see_the_same_answers_and_definitions() -> None:
    # Readers race the poller thread while it compiles and compacts a first load they
    # already read from: every answer and every definition read must be the final one.
    flags = [definition(f"flag-{n}", n) for n in range(400)]
    data = body(*flags)
    raw = json.dumps(data).encode()
    reference = Evaluator(Snapshot.from_json(raw, compile_all=True))
    expected = {f["key"]: reference.evaluate(f["key"], "u-1", PERSON).value for f in flags}
    fingerprint = reference.snapshot.fingerprint
    store = Store()
    tracker = StatusTracker(time.monotonic)
    syncer = _syncer(raw, store, tracker)
    problems: list[str] = []
    stop = threading.Event()

    def read(seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            published = store.current
            if published is None:
                continue
            key = f"flag-{rng.randrange(400)}"
            value = published.evaluator.evaluate(key, "u-1", PERSON).value
            if value != expected[key]:
                problems.append(f"{key}: {value!r}")
            if published.snapshot.definition(key) != flags[int(key[5:])]:
                problems.append(f"{key}: definition")
            if seed == 0 and len(published.snapshot.to_dict()["flags"]) != 400:
                problems.append("to_dict")
            # The fingerprint is computed after the publish: a read may compute it too.
            if seed == 1 and tracker.status().fingerprint != fingerprint:
                problems.append("fingerprint")
            everything = published.evaluator.evaluate_all("u-1", person_properties=PERSON)
            if {k: r.value for k, r in everything.items()} != expected:
                problems.append("evaluate_all")

    readers = [threading.Thread(target=read, args=(seed,)) for seed in range(3)]
    for reader in readers:
        reader.start()
    try:
        syncer.step()
        time.sleep(0.05)
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert problems == []
    assert store.current is not None
    assert packed(store.current.snapshot, "flag-0")
    assert "canonical" not in store.current.snapshot._memo


def _packs(snapshot: Snapshot) -> list[Any]:
    """The distinct packs a snapshot's definitions are kept in."""
    unique = {id(value): value for key in snapshot.definitions if (value := stored(snapshot, key))}
    return [value for value in unique.values() if type(value) is not dict]


def test_many_definitions_are_packed_together_and_read_back_one_by_one_or_all() -> None:
    flags = [definition(f"flag-{n}", n) for n in range(100)]
    snapshot = compile_definitions(json.dumps(body(*flags)).encode())
    packs = _packs(snapshot)
    assert 1 < len(packs) < 100  # several flags share a pack
    assert sum(len(pack.keys) for pack in packs) == 100
    assert [snapshot.definition(f["key"]) for f in reversed(flags)] == flags[::-1]
    assert snapshot.to_dict()["flags"] == flags
    assert dict(snapshot.definitions.items()) == {f["key"]: f for f in flags}


def test_a_definition_that_cannot_be_serialised_exactly_stays_decoded() -> None:
    definitions = Definitions({"a": {"key": "a"}, "b": {"key": "b"}})
    definitions.compact({"a": b'{"key":"a"}'})
    assert definitions.canonical("a") == b'{"key":"a"}'
    assert definitions.canonical("b") is None
    assert definitions.stored("b") == {"key": "b"}
    assert definitions.decoded() == [{"key": "a"}, {"key": "b"}]
    assert definitions.get("missing", 7) == 7


def test_reloads_share_packs_while_most_of_their_flags_live_and_repack_the_rest() -> None:
    flags = [definition(f"flag-{n}", n) for n in range(96)]
    first = compile_definitions(json.dumps(body(*flags)).encode())
    # Change 20 of the first pack's 32 flags: it holds too few live flags to keep.
    changed = [definition(f["key"], n, version=9) if n < 20 else f for n, f in enumerate(flags)]
    second = compile_definitions(json.dumps(body(*changed)).encode(), first)
    assert stored(second, "flag-40") is stored(first, "flag-40")  # an untouched pack: shared
    assert stored(second, "flag-25") is not stored(first, "flag-25")  # repacked
    assert [second.definition(f["key"]) for f in changed] == changed
    assert second.to_dict()["flags"] == changed
    # However many reloads change flags, no more than twice the flags' bytes are held.
    current = second
    rng = random.Random(5)
    for round_number in range(30):
        picked = set(rng.sample(range(96), 7))
        changed = [
            definition(f["key"], n, version=10 + round_number) if n in picked else f
            for n, f in enumerate(changed)
        ]
        current = compile_definitions(json.dumps(body(*changed)).encode(), current)
        held = sum(len(pack.keys) for pack in _packs(current))
        assert held <= 2 * 96
        assert current.to_dict()["flags"] == changed


def test_a_first_load_is_served_before_its_fingerprint_and_the_status_shows_it() -> None:
    # Serialising every flag for the fingerprint is most of a first load's cost: it comes
    # after the publish (in the poller's compile step), and a status read meanwhile
    # computes it.
    flags = [definition(f"flag-{n}", n) for n in range(50)]
    raw = json.dumps(body(*flags)).encode()
    tracker = StatusTracker(time.monotonic)
    syncer = _syncer(raw, Store(), tracker)
    seen: list[Any] = []

    def on_publish(_: Any) -> None:
        published = syncer.store.current
        assert published is not None
        seen.append("fingerprint" in published.snapshot._memo)
        seen.append(tracker.status().fingerprint)

    syncer.store.add_listener(on_publish, include_first_load=True)
    syncer.step()
    reference = Snapshot.from_json(raw).fingerprint
    assert seen == [False, reference]
    snapshot = syncer.store.current.snapshot  # type: ignore[union-attr]
    assert tracker.status().fingerprint == reference
    assert packed(snapshot, "flag-0")
    assert "canonical" not in snapshot._memo  # no second copy of the definitions


def test_a_fingerprint_computed_during_compaction_keeps_no_canonical_copy() -> None:
    # Two orders of a status read (another thread) and the poller's compaction.
    flags = [definition(f"flag-{n}", n) for n in range(40)]
    raw = json.dumps(body(*flags)).encode()
    reference = Snapshot.from_json(raw).fingerprint
    # The read computes the fingerprint once compaction has started.
    late = compile_definitions(raw, compile_now=False)
    late.compile_all()
    late._memo["compacting"] = True
    assert late.fingerprint == reference
    assert "canonical" not in late._memo
    # The read fingerprinted after the poller's own canonical bytes were taken: the
    # compaction serialises the definitions again rather than keep them decoded.
    early = compile_definitions(raw, compile_now=False)
    early.compile_all()
    assert early.fingerprint == reference
    early._memo.pop("canonical")
    early._compact()
    assert all(packed(early, f["key"]) for f in flags)
    assert "canonical" not in early._memo
    assert dict(early.definitions) == {f["key"]: f for f in flags}


def test_a_reload_has_the_all_flags_pass_ready_when_the_app_reads_every_flag() -> None:
    flags = [definition(f"flag-{n}", n) for n in range(30)]
    first = compile_definitions(json.dumps(body(*flags)).encode())
    # No call read every flag: nothing is prepared.
    changed = [*flags[:-1], definition("flag-29", 29, version=4)]
    second = compile_definitions(json.dumps(body(*changed)).encode(), first)
    assert "batch" not in second._memo
    # Once one did, the next reload has the pass built, and it answers as a fresh one.
    values, _ = Evaluator(second)._all_values("u-1", person_properties=PERSON)
    assert "batch" in second._memo
    third = compile_definitions(json.dumps(body(*flags)).encode(), second)
    assert "batch" in third._memo
    assert Evaluator(third)._all_values("u-1", person_properties=PERSON) == Evaluator(
        Snapshot.from_json(json.dumps(body(*flags)).encode())
    )._all_values("u-1", person_properties=PERSON)
    assert values.keys() == Evaluator(third)._all_values("u-1")[0].keys()
