"""Event delivery as a state machine, driven by hand: what is sent, when it backs off, what
is counted. The thread and asyncio senders only carry these commands out."""

from __future__ import annotations

import random

import pytest

from flagkit._events.exposures import Backoff, DeliveryQueue, PostResult, Send
from flagkit._status import Counters

EVENT = {"event": "$feature_flag_called", "distinct_id": "u", "properties": {}}


def _sent_dropped(counters: Counters) -> tuple[int, int]:
    values = counters.snapshot()
    return values["events_sent"], values["events_dropped"]


def machine(**options: object) -> tuple[DeliveryQueue, Counters]:
    counters = Counters()
    queue = DeliveryQueue(counters, rng=random.Random(1), **options)  # type: ignore[arg-type]
    return queue, counters


def test_retries_through_an_outage_then_delivers() -> None:
    queue, counters = machine(backoff_base=1.0, backoff_max=8.0)
    queue.add(EVENT)
    steps = queue.delivery(queue.take())
    command = next(steps)
    waits = []
    for _ in range(6):
        assert isinstance(command, Send)
        assert len(command.encoded) == 1
        backoff = steps.send(PostResult(False, retryable=True, message="HTTP 503"))
        assert isinstance(backoff, Backoff)
        waits.append(backoff.delay)
        command = steps.send(False)  # waited, not cut short
    assert all(0 <= wait <= 8.0 for wait in waits)
    with pytest.raises(StopIteration):
        steps.send(PostResult(True))
    assert _sent_dropped(counters) == (1, 0)


def test_a_refused_batch_is_dropped_at_once() -> None:
    queue, counters = machine()
    queue.add(EVENT)
    steps = queue.delivery(queue.take())
    next(steps)
    with pytest.raises(StopIteration):
        steps.send(PostResult(False, retryable=False, message="HTTP 400"))
    assert _sent_dropped(counters) == (0, 1)


def test_backoff_cut_short_by_close_drops_the_batch() -> None:
    queue, counters = machine()
    queue.add(EVENT)
    steps = queue.delivery(queue.take())
    next(steps)
    assert isinstance(steps.send(PostResult(False, retryable=True, message="timeout")), Backoff)
    with pytest.raises(StopIteration):
        steps.send(True)
    assert counters.snapshot()["events_dropped"] == 1


def test_a_machine_closed_midway_counts_its_batch_as_dropped() -> None:
    queue, counters = machine()
    queue.add(EVENT)
    queue.add(EVENT)
    steps = queue.delivery(queue.take())
    next(steps)
    steps.close()  # a cancelled task
    assert counters.snapshot()["events_dropped"] == 2


def test_a_backlog_goes_in_whole_batches_of_up_to_ten() -> None:
    queue, _ = machine(batch_size=5)
    for _ in range(12):
        queue.add(EVENT)
    assert len(queue.take()) == 10  # two whole batches in one request; two wait
    queue.settle()
    assert len(queue.take()) == 2  # no backlog any more: the rest as one batch
    queue.settle()
    for _ in range(80):
        queue.add(EVENT)
    assert len(queue.take()) == 50  # at most ten batches per request


def test_queued_events_are_encoded_bytes() -> None:
    queue, counters = machine()
    assert queue.encode_one(EVENT) is not None
    circular: dict[str, object] = {}
    circular["self"] = circular
    assert queue.encode_one(circular) is None  # dropped and counted, never queued
    assert counters.snapshot()["events_dropped"] == 1


def test_event_ids_are_random_version_4_uuids() -> None:
    import uuid

    from flagkit._events.flag_events import random_uuid4

    seen = {random_uuid4() for _ in range(2000)}
    assert len(seen) == 2000
    for text in list(seen)[:200]:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)
