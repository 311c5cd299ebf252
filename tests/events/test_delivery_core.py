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
