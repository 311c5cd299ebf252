"""Many tasks reading while definitions are swapped, clients dropped without close(), and
clients used from a second event loop."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
from async_helpers import (
    DEFINITIONS,
    FAST,
    ROLLOUT_ALL,
    ROLLOUT_NONE,
    MakeClient,
    ReadyClient,
    eventually,
)

from flagkit import Reason
from flagkit._client.async_client import AsyncClient
from flagkit._status import State

pytestmark = pytest.mark.asyncio


async def test_many_tasks_read_consistently_while_definitions_swap(
    server: Any, ready_client: ReadyClient
) -> None:
    # Odd versions of "swap" are on for everyone, even versions off: a result whose value
    # does not match its version would be a read that mixed two definitions.
    assert server.create_flag("swap", ROLLOUT_ALL)["version"] == 1
    client = await ready_client()
    versions: set[int] = set()
    done = asyncio.Event()

    async def reader(n: int) -> int:
        reads = 0
        while not done.is_set():
            result = await client.evaluate("swap", f"user-{n}-{reads}")
            assert result.flag_version is not None
            assert result.value is (result.flag_version % 2 == 1), result
            assert result.reason in (Reason.CONDITION_MATCH, Reason.OUT_OF_ROLLOUT)
            flags = await client.get_all_flags(f"user-{n}")
            assert flags["on-flag"] is True
            assert flags["off-flag"] is False
            versions.add(result.flag_version)
            reads += 1
            # Not sleep(0): a loop that never idles would starve the in-process server of
            # the GIL. Readers still interleave with every swap.
            await asyncio.sleep(0.005)
        return reads

    async def swapper() -> None:
        for version in range(2, 12):
            filters = ROLLOUT_ALL if version % 2 else ROLLOUT_NONE
            flag = await asyncio.to_thread(server.update_flag, "swap", filters=filters)
            assert flag["version"] == version
            await eventually(lambda v=version: v in versions, timeout=5)  # type: ignore[misc]
        done.set()

    readers = [asyncio.get_running_loop().create_task(reader(n)) for n in range(50)]
    await asyncio.wait_for(swapper(), timeout=60)
    counts = await asyncio.gather(*readers)
    assert versions == set(range(1, 12))
    assert all(count > 0 for count in counts)
    assert client.status.state is State.VALID


async def test_a_dropped_client_stops_polling(server: Any) -> None:
    options = {**FAST, "host": server.url, "personal_api_key": server.personal_api_key}
    client = AsyncClient(server.project_api_key, **options)
    await client.start()
    assert await client.wait_until_ready(timeout=10)
    alive = weakref.ref(client)
    del client
    gc.collect()
    assert alive() is None  # the running tasks do not keep the client alive
    await asyncio.sleep(0.1)  # let the cancellation run
    seen = server.faults.count(DEFINITIONS)
    await asyncio.sleep(0.3)
    assert server.faults.count(DEFINITIONS) == seen


@pytest.fixture
def foreign_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop running in another thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


async def test_flush_wait_and_close_from_another_loop_run_on_the_clients_loop(
    server: Any, foreign_loop: asyncio.AbstractEventLoop
) -> None:
    options = {
        **FAST,
        "host": server.url,
        "personal_api_key": server.personal_api_key,
        "send_events": True,
        "event_flush_interval": 60.0,
    }
    client = AsyncClient(server.project_api_key, **options)

    async def on_its_loop() -> bool:
        await client.start()
        return await client.is_enabled("on-flag", "u")  # NOT_READY: the default, an event

    future = asyncio.run_coroutine_threadsafe(on_its_loop(), foreign_loop)
    assert await asyncio.wrap_future(future) is False
    assert await client.wait_until_ready(timeout=10)  # waits on the client's loop
    assert client.status.events_pending == 1
    assert await client.flush(timeout=5)
    assert len(server.events("$feature_flag_called")) == 1
    started = time.monotonic()
    await client.close()
    assert time.monotonic() - started < 2
    assert client.status.state is State.CLOSED
    seen = server.faults.count(DEFINITIONS)
    await asyncio.sleep(0.2)
    assert server.faults.count(DEFINITIONS) == seen


async def test_close_after_the_clients_loop_is_gone(server: Any) -> None:
    options = {
        **FAST,
        "host": server.url,
        "personal_api_key": server.personal_api_key,
        "send_events": True,
        "event_flush_interval": 60.0,
    }
    client = AsyncClient(server.project_api_key, **options)

    async def short_life() -> None:
        assert await client.wait_until_ready(timeout=10)
        await client.is_enabled("on-flag", "u")

    await asyncio.to_thread(asyncio.run, short_life())
    assert client.status.events_pending == 1
    started = time.monotonic()
    assert not await client.flush(timeout=1)
    await client.close()
    assert time.monotonic() - started < 0.5
    status = client.status
    assert (status.state, status.events_pending, status.events_dropped) == (State.CLOSED, 0, 1)
    assert await client.is_enabled("on-flag", "u")  # still answers locally


async def test_several_clients_share_a_loop(server: Any, make_client: MakeClient) -> None:
    clients = [make_client() for _ in range(5)]
    ready = await asyncio.gather(*(c.wait_until_ready(timeout=10) for c in clients))
    assert all(ready)
    answers = await asyncio.gather(*(c.is_enabled("on-flag", "u") for c in clients))
    assert all(answers)
    await asyncio.gather(*(c.close() for c in clients))
    assert all(c.status.state is State.CLOSED for c in clients)
