"""Exposure events survive capture outages (retried while the queue has room, dropped and
counted only past its bound), and close() cuts a capture request that never ends."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from events_helpers import BATCH, ROLLOUT_ALL, SilentServer, wait_for

from flagkit._client.sync_client import Client
from flagkit._events.async_queue import AsyncBatchPoster, AsyncEventSender
from flagkit._events.exposures import DeliveryQueue, PostResult
from flagkit._events.queue import EventOptions, build_outbound
from flagkit._status import Counters
from flagkit.server import LocalServer

OUTAGE = PostResult(False, retryable=True, message="HTTP 503 from /batch/: down")
EVENT = {"event": "$feature_flag_called", "distinct_id": "u", "properties": {}}


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as local:
        local.create_flag("on-flag", ROLLOUT_ALL)
        yield local


def _client(server: LocalServer, **options: Any) -> Client:
    settings: dict[str, Any] = {
        "project_api_key": server.project_api_key,
        "personal_api_key": server.personal_api_key,
        "host": server.url,
        "only_evaluate_locally": True,
        "send_events": True,
        "poll_interval": 30.0,
        "event_flush_interval": 0.01,
        **options,
    }
    client = Client(**settings)
    assert client.wait_until_ready(timeout=10)
    return client


# -- outages -------------------------------------------------------------------------------


def test_events_survive_many_more_than_five_failed_attempts(server: LocalServer) -> None:
    server.faults.fail(BATCH, 503, times=40)
    client = _client(server, backoff_base=0.001, backoff_max=0.01)
    try:
        for n in range(30):
            client.is_enabled("on-flag", f"user-{n}")
        assert client.flush(timeout=20)
        status = client.status
    finally:
        client.close()
    assert server.faults.count(BATCH) > 40  # every failed attempt was retried
    delivered = {e["distinct_id"] for e in server.events("$feature_flag_called")}
    assert delivered == {f"user-{n}" for n in range(30)}
    assert (status.events_sent, status.events_dropped, status.events_overflowed) == (30, 0, 0)


def test_a_five_minute_outage_loses_nothing_and_backoff_stays_capped() -> None:
    # The sender's retry loop, driven by a simulated clock: two events a second arrive for
    # five minutes while every attempt fails, then capture comes back.
    now = [0.0]
    counters = Counters()
    core = DeliveryQueue(
        counters,
        queue_size=10_000,
        batch_size=100,
        backoff_base=1.0,
        backoff_max=30.0,
        rng=random.Random(7),
        monotonic=lambda: now[0],
    )
    made = 0

    def arrive_until(until: float) -> None:
        nonlocal made
        while made < 2 * until and made < 600:
            core.add({**EVENT, "distinct_id": f"user-{made}"})
            made += 1

    arrive_until(0.5)
    batch, failures, delays = core.take(), 0, []
    while now[0] < 300.0:
        failures += 1
        delay = core.failed(OUTAGE, failures)
        assert delay is not None  # never gives up while the queue has room
        delays.append(delay)
        now[0] += delay
        arrive_until(now[0])
    core.delivered(len(batch))
    core.settle()
    while core.queue:
        core.delivered(len(core.take()))
        core.settle()
    assert made == 600
    assert failures > 15  # many more than the five attempts that used to be the limit
    assert 20.0 < max(delays) <= 30.0  # grew up to backoff_max, never past it
    snapshot = counters.snapshot()
    assert (snapshot["events_sent"], snapshot["events_dropped"]) == (600, 0)
    assert snapshot["events_overflowed"] == 0


def test_past_the_bound_events_are_dropped_and_counted() -> None:
    counters = Counters()
    core = DeliveryQueue(counters, queue_size=10, batch_size=4)
    for n in range(4):
        core.add({**EVENT, "distinct_id": f"early-{n}"})
    core.take()  # in flight (failing): it counts against the bound
    for n in range(12):
        core.add({**EVENT, "distinct_id": f"late-{n}"})
    assert core.pending() == 10
    assert [e["distinct_id"] for e in core.queue] == [f"late-{n}" for n in range(6, 12)]
    snapshot = counters.snapshot()
    assert (snapshot["events_overflowed"], snapshot["events_dropped"]) == (6, 6)


def test_overflow_is_visible_in_client_status(server: LocalServer) -> None:
    client = _client(server, event_queue_size=3, event_flush_interval=60.0)
    try:
        for n in range(5):
            client.is_enabled("on-flag", f"user-{n}")
        status = client.status
    finally:
        client.close()
    assert (status.events_overflowed, status.events_dropped, status.events_pending) == (2, 2, 3)


# -- close() during a request that never ends -----------------------------------------------


def test_close_cuts_a_hung_capture_request_and_frees_its_socket() -> None:
    with SilentServer() as silent:
        outbound = build_outbound(
            silent.url,
            "phc_test",
            secrets=(),
            remote_timeout=5.0,
            events_timeout=60.0,  # the request alone would hold the thread for a minute
            send_events=True,
            options=EventOptions(flush_interval=0.0),
            counters=Counters(),
        )
        assert outbound.reporter is not None
        sender = outbound.reporter.sender
        assert sender.put(EVENT)
        assert wait_for(lambda: silent.accepted == 1)
        thread = sender._thread
        assert thread is not None
        time.sleep(0.1)  # the request is sent and waiting for an answer
        started = time.monotonic()
        outbound.close(timeout=0.3)
        elapsed = time.monotonic() - started
        assert not thread.is_alive()  # ended within close()'s 0.2 s grace
        assert elapsed < 3.0  # 0.3 + 0.2 expected; generous for a loaded machine
        assert wait_for(lambda: silent.closed_by_peer == 1, timeout=5)  # socket released
        assert sender.pending() == 0


@pytest.mark.asyncio
async def test_async_close_cancels_a_hung_capture_request_promptly() -> None:
    with SilentServer() as silent:
        http = httpx.AsyncClient(base_url=silent.url)
        try:
            counters = Counters()
            poster = AsyncBatchPoster(lambda: http, "phc_test", timeout=60.0)
            sender = AsyncEventSender(
                poster.post, EventOptions(flush_interval=0.0).delivery_queue(counters, None)
            )
            assert sender.put(EVENT)
            while silent.accepted == 0:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)  # the request is sent and waiting for an answer
            started = time.monotonic()
            await sender.close(timeout=0.3)
            elapsed = time.monotonic() - started
            # The deadline, then an immediate cancel: no grace wait (it used to be 0.5 s)
            # while a request is in flight. 0.45 s of slack for a loaded machine.
            assert elapsed < 0.3 + 0.45
            deadline = time.monotonic() + 5
            while silent.closed_by_peer == 0 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            assert silent.closed_by_peer == 1  # the cancelled request let go of its socket
            assert counters.snapshot()["events_dropped"] == 1
        finally:
            await http.aclose()
