"""$feature_flag_called events from the AsyncClient: shape, de-duplication, delivery by the
sender task, flush(), close(), retries (real HTTP)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
from async_helpers import BATCH, FOREVER, MakeClient, eventually

import flagkit
from flagkit._client.async_client import AsyncClient
from flagkit._status import State

pytestmark = pytest.mark.asyncio

# Events wait in the queue until flush()/close() unless a test says otherwise.
HOLD = {"send_events": True, "only_evaluate_locally": True, "event_flush_interval": 60.0}
VARIANTS = {
    "groups": [{"properties": [], "rollout_percentage": 100}],
    "multivariate": {"variants": [{"key": "blue", "rollout_percentage": 100}]},
    "payloads": {"blue": '{"color": "#00f"}'},
}
Ready = Callable[..., Awaitable[AsyncClient]]


@pytest_asyncio.fixture
async def events_client(make_client: MakeClient) -> Ready:
    async def make(**options: Any) -> AsyncClient:
        client = make_client(**{**HOLD, **options})
        assert await client.wait_until_ready(timeout=10)
        return client

    return make


def _called(server: Any) -> list[dict[str, Any]]:
    return list(server.events("$feature_flag_called"))


async def test_flag_read_sends_a_posthog_shaped_event_on_flush(
    server: Any, events_client: Ready
) -> None:
    flag = server.create_flag("colors", VARIANTS)
    client = await events_client()
    assert await client.get_flag("colors", "user-1", groups={"company": "acme"}) == "blue"
    assert _called(server) == []  # held in the queue
    assert client.status.events_pending == 1
    assert await client.flush(timeout=5)
    [event] = _called(server)
    assert event["distinct_id"] == "user-1"
    uuid.UUID(event["uuid"])
    assert event["properties"] == {
        "$feature_flag": "colors",
        "$feature_flag_response": "blue",
        "locally_evaluated": True,
        "$feature/colors": "blue",
        "$feature_flag_payload": {"color": "#00f"},
        "$feature_flag_id": flag["id"],
        "$feature_flag_version": flag["version"],
        "$groups": {"company": "acme"},
        "$lib": "flagkit",
        "$lib_version": flagkit.__version__,
        "$geoip_disable": True,
    }
    assert server.faults.count(BATCH) == 1
    status = client.status
    assert (status.events_sent, status.events_dropped, status.events_pending) == (1, 0, 0)
    assert await client.flush(timeout=5)  # nothing left: at once
    assert server.faults.count(BATCH) == 1


async def test_exposures_are_deduplicated(server: Any, events_client: Ready) -> None:
    client = await events_client()
    for _ in range(3):
        assert await client.is_enabled("on-flag", "u1")
        assert await client.get_flag("on-flag", "u1") is True
        assert (await client.evaluate("on-flag", "u1")).value is True
    await client.is_enabled("on-flag", "u2")  # another user
    await client.is_enabled("on-flag", "u1", groups={"company": "acme"})  # another context
    await client.is_enabled("on-flag", "u1", groups={"company": "acme"})
    await client.is_enabled("off-flag", "u1")  # another flag
    await client.is_enabled("on-flag", "u3", send_events=False)
    await client.get_payload("on-flag", "u4")  # no event by default
    await client.get_all_flags("u5")
    await client.evaluate_all("u6")
    assert await client.flush(timeout=5)
    seen = sorted(
        (e["distinct_id"], e["properties"]["$feature_flag"], "$groups" in e["properties"])
        for e in _called(server)
    )
    assert seen == [
        ("u1", "off-flag", False),
        ("u1", "on-flag", False),
        ("u1", "on-flag", True),
        ("u2", "on-flag", False),
    ]


async def test_a_changed_value_is_a_new_exposure(server: Any, events_client: Ready) -> None:
    client = await events_client()
    assert await client.is_enabled("off-flag", "u") is False
    before = client.snapshot
    server.update_flag("off-flag", filters=VARIANTS)
    assert await eventually(lambda: client.snapshot is not before)
    assert await client.get_flag("off-flag", "u") == "blue"
    assert await client.get_flag("off-flag", "u") == "blue"
    assert await client.flush(timeout=5)
    responses = [e["properties"]["$feature_flag_response"] for e in _called(server)]
    assert responses == [False, "blue"]


async def test_the_interval_sends_without_flush(server: Any, events_client: Ready) -> None:
    client = await events_client(event_flush_interval=0.05)
    await client.is_enabled("on-flag", "u")
    assert await eventually(lambda: client.status.events_sent == 1, timeout=5)
    assert len(_called(server)) == 1


async def test_full_batches_go_at_once(server: Any, events_client: Ready) -> None:
    client = await events_client(event_batch_size=5)
    for n in range(12):
        await client.is_enabled("on-flag", f"user-{n}")
    assert await eventually(lambda: client.status.events_sent == 10, timeout=5)
    assert len(_called(server)) == 10
    # All 12 were queued before the sender task ran: a backlog, so its two full batches
    # went in one request; the partial third still waits its interval.
    assert server.faults.count(BATCH) == 1
    assert client.status.events_pending == 2
    assert await client.flush(timeout=5)
    assert len(_called(server)) == 12


async def test_close_delivers_what_is_queued(server: Any, events_client: Ready) -> None:
    client = await events_client()
    for n in range(3):
        await client.is_enabled("on-flag", f"user-{n}")
    started = time.monotonic()
    await client.close(timeout=5)
    assert time.monotonic() - started < 2
    assert len(_called(server)) == 3
    # Reads after close send nothing.
    await client.is_enabled("on-flag", "late-user")
    assert client.status.events_pending == 0
    assert await client.flush(timeout=1)
    assert len(_called(server)) == 3


async def test_failed_batches_are_retried(server: Any, events_client: Ready) -> None:
    client = await events_client()
    server.faults.fail(BATCH, status=503, times=2)
    await client.is_enabled("on-flag", "u")
    assert await client.flush(timeout=5)
    assert len(_called(server)) == 1
    assert server.faults.count(BATCH) == 3
    status = client.status
    assert (status.events_sent, status.events_dropped) == (1, 0)


async def test_a_final_status_drops_the_batch(server: Any, events_client: Ready) -> None:
    client = await events_client()
    server.faults.fail(BATCH, status=400)
    await client.is_enabled("on-flag", "u")
    assert await client.flush(timeout=5)
    assert _called(server) == []
    assert client.status.events_dropped == 1


async def test_close_gives_up_at_its_deadline(server: Any, events_client: Ready) -> None:
    client = await events_client()
    # Without the deadline, Retry-After would hold the next attempt back for a minute.
    server.faults.fail(BATCH, status=503, times=FOREVER, headers={"Retry-After": "60"})
    await client.is_enabled("on-flag", "u")
    started = time.monotonic()
    await client.close(timeout=0.3)
    assert 0.25 < time.monotonic() - started < 1.5
    assert client.status.events_dropped == 1
    assert client.status.events_pending == 0
    assert client.status.state is State.CLOSED
    server.faults.clear()


async def test_flush_times_out_while_the_server_is_slow(server: Any, events_client: Ready) -> None:
    client = await events_client()
    server.faults.delay(BATCH, 1.0)
    await client.is_enabled("on-flag", "u")
    started = time.monotonic()
    assert not await client.flush(timeout=0.2)
    assert time.monotonic() - started < 0.6
    assert await client.flush(timeout=5)
    assert client.status.events_sent == 1


async def test_queue_overflow_drops_the_oldest(server: Any, events_client: Ready) -> None:
    client = await events_client(event_queue_size=3)
    for n in range(5):
        await client.is_enabled("on-flag", f"user-{n}")
    assert client.status.events_dropped == 2
    assert await client.flush(timeout=5)
    assert sorted(e["distinct_id"] for e in _called(server)) == ["user-2", "user-3", "user-4"]


async def test_close_cancels_a_delivery_stuck_past_its_deadline(
    server: Any, events_client: Ready
) -> None:
    client = await events_client()
    server.faults.delay(BATCH, 3.0)
    await client.is_enabled("on-flag", "u")
    started = time.monotonic()
    await client.close(timeout=0.2)
    assert time.monotonic() - started < 1.5  # the deadline, plus half a second of grace
    status = client.status
    assert (status.events_sent, status.events_dropped, status.events_pending) == (0, 1, 0)
