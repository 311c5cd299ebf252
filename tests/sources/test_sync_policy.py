"""The sync policy, step by step, with scripted fetch outcomes and a fake clock.

HTTP behaviour is covered against the LocalServer elsewhere; here each rule of the error
policy is pinned down exactly (delays, states, what is published, what is logged).
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flagkit._evaluation.evaluator import Evaluator
from flagkit._evaluation.snapshot import Snapshot
from flagkit._sources.disk_cache import DiskCache
from flagkit._sources.fetch import FailureKind, Fetched, FetchFailed, FetchOutcome, NotModified
from flagkit._sources.store import Store
from flagkit._sources.sync import Syncer, SyncPolicy, compile_definitions
from flagkit._status import State, StatusTracker
from flagkit.errors import DefinitionsError


def body(*keys: str, rollout: int = 100, extra: dict[str, Any] | None = None) -> bytes:
    flags = [
        {
            "id": i + 1,
            "key": key,
            "active": True,
            "filters": {"groups": [{"properties": [], "rollout_percentage": rollout}]},
        }
        for i, key in enumerate(keys)
    ]
    data: dict[str, Any] = {"flags": flags, "group_type_mapping": {}, "cohorts": {}}
    data.update(extra or {})
    return json.dumps(data).encode()


class Script:
    """A fetch function that replays outcomes and records the ETags it was sent."""

    def __init__(self, *outcomes: FetchOutcome) -> None:
        self.outcomes = list(outcomes)
        self.etags: list[str | None] = []

    def __call__(self, etag: str | None) -> FetchOutcome:
        self.etags.append(etag)
        return self.outcomes.pop(0)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def make_syncer(
    script: Script,
    *,
    policy: SyncPolicy | None = None,
    cache: DiskCache | None = None,
    compile_body: Callable[[bytes], Snapshot] | None = None,
) -> tuple[Syncer, Store, StatusTracker, Clock]:
    clock = Clock()
    store = Store()
    tracker = StatusTracker(clock)
    syncer = Syncer(
        store=store,
        tracker=tracker,
        fetch=script,
        policy=policy or SyncPolicy(poll_interval=30.0, poll_jitter=0.0),
        cache=cache,
        clock=clock,
        rng=random.Random(3),
        compile_body=compile_body,
    )
    return syncer, store, tracker, clock


def fail(
    kind: FailureKind, status: int | None = None, retry_after: float | None = None
) -> FetchFailed:
    return FetchFailed(kind=kind, message=f"boom {status}", status=status, retry_after=retry_after)


def test_success_publishes_and_reports_valid() -> None:
    script = Script(Fetched(body("a", "b"), 'W/"1"'))
    syncer, store, tracker, clock = make_syncer(script)
    assert syncer.step() == 30.0
    assert store.current is not None
    assert set(store.current.snapshot.flag_keys) == {"a", "b"}
    status = tracker.status()
    assert status.state is State.VALID
    assert status.ready
    assert status.etag == 'W/"1"'
    assert status.flag_count == 2
    assert status.consecutive_failures == 0
    assert status.last_success is not None
    assert status.last_success.timestamp() == clock.now
    assert status.source == "network"


def test_etag_is_sent_back_and_304_keeps_the_snapshot() -> None:
    script = Script(Fetched(body("a"), 'W/"1"'), NotModified('W/"1"'), NotModified(None))
    syncer, store, tracker, clock = make_syncer(script)
    syncer.step()
    first = store.current
    clock.now += 100
    syncer.step()
    syncer.step()
    assert script.etags == [None, 'W/"1"', 'W/"1"']
    assert store.current is first
    assert tracker.status().state is State.VALID
    assert tracker.status().age == 0.0


def test_identical_body_without_etag_is_not_recompiled() -> None:
    compiled: list[bytes] = []

    def counting(raw: bytes) -> Snapshot:
        compiled.append(raw)
        return compile_definitions(raw)

    script = Script(Fetched(body("a"), None), Fetched(body("a"), None), Fetched(body("b"), None))
    syncer, store, _, _ = make_syncer(script, compile_body=counting)
    syncer.step()
    first = store.current
    syncer.step()
    assert store.current is first
    assert len(compiled) == 1
    syncer.step()
    assert len(compiled) == 2
    assert store.current is not first


def test_same_definitions_in_different_bytes_keep_the_compiled_snapshot() -> None:
    changes: list[frozenset[str]] = []
    script = Script(
        Fetched(body("a"), None),
        Fetched(json.dumps(json.loads(body("a")), indent=2).encode(), None),
    )
    syncer, store, _, _ = make_syncer(script)
    store.add_listener(changes.append, include_first_load=True)
    syncer.step()
    first = store.current
    syncer.step()
    assert store.current is not None
    assert first is not None
    assert store.current.snapshot is first.snapshot
    assert changes == [frozenset({"a"})]


def test_listeners_receive_changed_keys_and_a_raising_listener_is_contained(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[frozenset[str]] = []

    def bad(_: frozenset[str]) -> None:
        raise RuntimeError("listener bug")

    script = Script(
        Fetched(body("a", "b"), None),
        Fetched(body("a", "c"), None),
        Fetched(body("a", "c", rollout=50), None),
    )
    changes_only: list[frozenset[str]] = []
    syncer, store, tracker, _ = make_syncer(script)
    store.add_listener(bad, include_first_load=True)
    remove = store.add_listener(seen.append, include_first_load=True)
    store.add_listener(changes_only.append)
    with caplog.at_level(logging.ERROR, logger="flagkit.client"):
        for _ in range(3):
            assert syncer.step() == 30.0
    assert seen == [frozenset({"a", "b"}), frozenset({"b", "c"}), frozenset({"a", "c"})]
    # The first load changed nothing: a plain listener hears only the two real changes.
    assert changes_only == seen[1:]
    assert "listener" in caplog.text
    assert tracker.status().state is State.VALID
    remove()
    script.outcomes.append(Fetched(body("z"), None))
    syncer.step()
    assert len(seen) == 3


def _compiled_when_published(store: Store) -> list[tuple[int, int]]:
    """(flags compiled, flags defined) of each snapshot as its listeners hear of it."""
    seen: list[tuple[int, int]] = []

    def listener(_: frozenset[str]) -> None:
        assert store.current is not None
        snapshot = store.current.snapshot
        seen.append((len(snapshot._compiled), len(snapshot)))

    store.add_listener(listener, include_first_load=True)
    return seen


def test_first_load_is_served_before_it_is_compiled_and_compiled_by_the_step() -> None:
    keys = [f"f{n}" for n in range(50)]
    script = Script(Fetched(body(*keys, rollout=40), None))
    syncer, store, tracker, _ = make_syncer(script)
    seen = _compiled_when_published(store)
    syncer.step()
    assert seen == [(0, 50)]
    assert tracker.status().ready
    assert store.current is not None
    snapshot = store.current.snapshot
    # By the time the step returns, the poller's thread has compiled every flag.
    assert len(snapshot._compiled) == 50
    eager = Snapshot.from_json(body(*keys, rollout=40), compile_all=True)
    assert snapshot.fingerprint == eager.fingerprint


def test_reads_before_the_first_load_is_compiled_answer_as_compiled_ones() -> None:
    keys = [f"f{n}" for n in range(40)]
    script = Script(Fetched(body(*keys, rollout=30), None))
    syncer, store, _, _ = make_syncer(script)
    answers: list[dict[str, Any]] = []

    def read_at_once(_: frozenset[str]) -> None:
        assert store.current is not None
        evaluator = store.current.evaluator
        one = {key: evaluator.evaluate(key, "user-7").value for key in keys[:20]}
        everything = evaluator.evaluate_all("user-7")
        answers.append({**one, **{key: everything[key].value for key in keys}})

    store.add_listener(read_at_once, include_first_load=True)
    syncer.step()
    expected = Snapshot.from_json(body(*keys, rollout=30), compile_all=True)
    eager = Evaluator(expected).evaluate_all("user-7")
    assert answers == [{key: eager[key].value for key in keys}]
    assert set(answers[0].values()) == {True, False}  # the rollout splits these users


def test_a_reload_is_compiled_before_it_is_published() -> None:
    script = Script(Fetched(body("a", "b"), None), Fetched(body("a", "b", "c"), None))
    syncer, store, _, _ = make_syncer(script)
    seen = _compiled_when_published(store)
    syncer.step()
    syncer.step()
    # The second snapshot replaced one being served: it was compiled first.
    assert seen == [(0, 2), (3, 3)]


@pytest.mark.parametrize(
    "kind", [FailureKind.HTTP_STATUS, FailureKind.TIMEOUT, FailureKind.CONNECTION]
)
def test_failures_keep_last_good_with_exponential_full_jitter(kind: FailureKind) -> None:
    policy = SyncPolicy(poll_interval=30.0, poll_jitter=0.0, backoff_base=1.0, backoff_max=8.0)
    script = Script(Fetched(body("a"), "e1"), *[fail(kind, 500) for _ in range(8)])
    syncer, store, tracker, _ = make_syncer(script, policy=policy)
    syncer.step()
    good = store.current
    delays = [syncer.step() for _ in range(8)]
    for n, delay in enumerate(delays, start=1):
        assert 0.0 <= delay <= min(8.0, 2.0 ** (n - 1))
    assert max(delays[4:]) > 1.0  # the ceiling did grow
    assert store.current is good
    status = tracker.status()
    assert status.state is State.STALE
    assert status.consecutive_failures == 8
    assert status.last_error == "boom 500"
    assert status.etag == "e1"  # still valid for the definitions we serve
    assert status.ready


def test_failure_before_any_definitions_stays_initializing() -> None:
    script = Script(fail(FailureKind.CONNECTION), Fetched(body("a"), None))
    syncer, store, tracker, _ = make_syncer(script)
    syncer.step()
    assert store.current is None
    assert tracker.status().state is State.INITIALIZING
    assert not tracker.status().ready
    assert tracker.status().last_error == "boom None"
    syncer.step()
    assert tracker.status().state is State.VALID
    assert tracker.status().consecutive_failures == 0


def test_retry_after_is_a_floor_and_is_capped() -> None:
    policy = SyncPolicy(poll_jitter=0.0, backoff_base=0.01, backoff_max=0.01, max_retry_after=60)
    script = Script(
        fail(FailureKind.RATE_LIMITED, 429, retry_after=7.0),
        fail(FailureKind.HTTP_STATUS, 503, retry_after=2.5),
        fail(FailureKind.RATE_LIMITED, 429, retry_after=10_000.0),
        fail(FailureKind.RATE_LIMITED, 429),
    )
    syncer, _, _, _ = make_syncer(script, policy=policy)
    assert syncer.step() == 7.0
    assert syncer.step() == 2.5
    assert syncer.step() == 60.0
    assert syncer.step() <= 0.01


def test_unauthorized_backs_off_slowly_keeps_definitions_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    policy = SyncPolicy(poll_interval=30.0, poll_jitter=0.0, unauthorized_interval=600.0)
    script = Script(Fetched(body("a"), None), *[fail(FailureKind.UNAUTHORIZED, 401)] * 5)
    syncer, store, tracker, _ = make_syncer(script, policy=policy)
    syncer.step()
    good = store.current
    with caplog.at_level(logging.DEBUG, logger="flagkit.client"):
        delays = [syncer.step() for _ in range(5)]
    assert delays == [600.0] * 5
    assert store.current is good
    assert tracker.status().state is State.UNAUTHORIZED
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(loud) == 1
    assert loud[0].levelno == logging.ERROR


def test_quota_limited_clears_by_default() -> None:
    seen: list[frozenset[str]] = []
    script = Script(
        Fetched(body("a", "b"), "e1"),
        fail(FailureKind.QUOTA_LIMITED, 402),
        fail(FailureKind.QUOTA_LIMITED, 402),
        Fetched(body("a", "b"), "e1"),
    )
    syncer, store, tracker, _ = make_syncer(script)
    store.add_listener(seen.append, include_first_load=True)
    syncer.step()
    assert syncer.step() == 30.0
    assert store.current is not None
    assert len(store.current.snapshot) == 0
    status = tracker.status()
    assert status.state is State.QUOTA_LIMITED
    assert status.etag is None  # so the next success sends the full body
    assert status.flag_count == 0
    cleared = store.current
    syncer.step()
    assert store.current is cleared  # not re-cleared on every poll
    syncer.step()
    assert script.etags == [None, "e1", None, None]
    assert set(store.current.snapshot.flag_keys) == {"a", "b"}
    assert seen == [frozenset({"a", "b"})] * 3
    assert tracker.status().state is State.VALID


def test_quota_limited_keep_serves_last_known_good() -> None:
    script = Script(Fetched(body("a"), "e1"), fail(FailureKind.QUOTA_LIMITED, 402))
    policy = SyncPolicy(poll_jitter=0.0, clear_on_quota_limited=False)
    syncer, store, tracker, _ = make_syncer(script, policy=policy)
    syncer.step()
    good = store.current
    syncer.step()
    assert store.current is good
    assert tracker.status().state is State.QUOTA_LIMITED
    assert tracker.status().etag == "e1"


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b'{"flags": [',
        b"null",
        b"[]",
        b'{"group_type_mapping": {}}',
        b'{"flags": [], "quotaLimited": ["feature_flags"]}',
    ],
)
def test_unusable_bodies_are_failures(raw: bytes) -> None:
    script = Script(Fetched(body("a"), "e1"), Fetched(raw, "e2"))
    syncer, store, tracker, _ = make_syncer(script)
    syncer.step()
    good = store.current
    syncer.step()
    assert store.current is good
    status = tracker.status()
    assert status.state is State.STALE
    assert status.etag == "e1"
    assert status.last_error is not None
    assert "invalid definitions body" in status.last_error


def test_compile_definitions_rejects_and_accepts() -> None:
    with pytest.raises(DefinitionsError):
        compile_definitions(b'{"cohorts": {}}')
    assert len(compile_definitions(b'{"flags": []}')) == 0


def test_304_without_definitions_forgets_the_etag() -> None:
    script = Script(NotModified("e9"), Fetched(body("a"), "e1"))
    syncer, store, tracker, _ = make_syncer(script)
    syncer.tracker.update(etag="e9")
    syncer.step()
    assert store.current is None
    assert tracker.status().etag is None
    syncer.step()
    assert script.etags == ["e9", None]
    assert tracker.status().state is State.VALID


def test_new_bodies_are_written_to_the_disk_cache(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path / "c", source="s")
    script = Script(Fetched(body("a"), "e1"), NotModified("e1"), Fetched(body("b"), "e2"))
    syncer, _, _, _ = make_syncer(script, cache=cache)
    syncer.step()
    loaded = cache.load()
    assert loaded is not None
    assert (loaded.body, loaded.etag) == (body("a"), "e1")
    syncer.step()
    syncer.step()
    loaded = cache.load()
    assert loaded is not None
    assert (loaded.body, loaded.etag) == (body("b"), "e2")


def test_nothing_is_published_after_close() -> None:
    script = Script(Fetched(body("a"), None), Fetched(body("b"), None))
    syncer, store, _tracker, _ = make_syncer(script)
    syncer.step()
    good = store.current
    syncer.close()
    syncer.step()
    assert store.current is good
    assert script.outcomes  # closed syncers do not even fetch


def test_one_log_line_per_state_change(caplog: pytest.LogCaptureFixture) -> None:
    script = Script(
        Fetched(body("a"), None),
        *[fail(FailureKind.HTTP_STATUS, 500)] * 10,
        *[NotModified(None)] * 5,
    )
    syncer, _, _, _ = make_syncer(script, policy=SyncPolicy(poll_jitter=0.0, backoff_max=0.01))
    with caplog.at_level(logging.INFO, logger="flagkit.client"):
        for _ in range(16):
            syncer.step()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3, messages
    assert "loaded" in messages[0]
    assert "failing" in messages[1]
    assert "recovered" in messages[2]


def test_poll_delay_is_jittered() -> None:
    policy = SyncPolicy(poll_interval=10.0, poll_jitter=0.2)
    script = Script(*[Fetched(body("a"), None) for _ in range(30)])
    syncer, _, _, _ = make_syncer(script, policy=policy)
    delays = {syncer.step() for _ in range(30)}
    assert all(8.0 <= d <= 12.0 for d in delays)
    assert len(delays) > 20


def test_readers_never_see_half_a_swap() -> None:
    # Flags "a" and "b" are always on together or off together in every published version;
    # readers of the live Client must never see them disagree while versions swap rapidly.
    from flagkit._client.sync_client import Client
    from flagkit._sources.store import Published

    versions = [
        Published.of(compile_definitions(body("a", "b", rollout=r)), "test") for r in (0, 100)
    ]
    client = Client(bootstrap=versions[0].snapshot)
    stop = threading.Event()
    problems: list[object] = []
    reads = [0]

    def reader() -> None:
        while not stop.is_set():
            flags = client.get_all_flags("user")
            if flags.get("a") is not flags.get("b") or len(flags) != 2:
                problems.append(flags)
            reads[0] += 1

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for i in range(1000):
            client._store.publish(versions[i % 2])
            if i % 100 == 0:
                time.sleep(0)  # let the readers in
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    client.close()
    assert not problems
    assert reads[0] > 0
