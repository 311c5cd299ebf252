"""The AsyncClient against LocalServer faults: every failure keeps the last good definitions
and is recovered from, Retry-After is honoured, the disk cache works across restarts, and
the event loop is never blocked (slow server, large bodies)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from async_helpers import (
    DEFINITIONS,
    FAST,
    FOREVER,
    ROLLOUT_ALL,
    LoopLag,
    MakeClient,
    ReadyClient,
    eventually,
)

from flagkit import Reason
from flagkit._client.async_client import AsyncClient
from flagkit._sources.sync import compile_definitions
from flagkit._status import State
from flagkit.server import LocalServer

pytestmark = pytest.mark.asyncio


async def assert_recovers(client: AsyncClient, server: Any) -> None:
    """End the fault (queued "forever" so the failure state can be seen without racing the
    retry) and check that the client comes back."""
    server.faults.clear()
    assert await eventually(lambda: client.status.state is State.VALID), client.status
    assert client.status.consecutive_failures == 0
    assert client.status.last_error is None
    assert await client.is_enabled("on-flag", "u")


@pytest.mark.parametrize("status", [500, 503, 404])
async def test_error_status_keeps_last_good(
    server: Any, ready_client: ReadyClient, status: int
) -> None:
    client = await ready_client()
    snapshot = client.snapshot
    server.faults.fail(DEFINITIONS, status=status, times=FOREVER)
    assert await eventually(lambda: client.status.state is State.STALE), client.status
    current = client.status
    assert current.last_error is not None
    assert str(status) in current.last_error
    assert current.consecutive_failures >= 1
    assert current.ready
    assert client.snapshot is snapshot
    assert (await client.evaluate("on-flag", "u")).reason is Reason.CONDITION_MATCH
    await assert_recovers(client, server)


@pytest.mark.parametrize(
    ("fault", "text"),
    [("drop", "connection"), ("truncate", "connection"), ("invalid_json", "invalid definitions")],
)
async def test_transport_and_body_faults_keep_last_good(
    server: Any, ready_client: ReadyClient, fault: str, text: str
) -> None:
    client = await ready_client()
    getattr(server.faults, fault)(DEFINITIONS, times=FOREVER)
    # A 304 has no body to spoil: change a flag so that the next answers are 200s.
    server.update_flag("off-flag", filters=ROLLOUT_ALL)
    assert await eventually(lambda: client.status.state is State.STALE), client.status
    assert text in (client.status.last_error or "")
    assert await client.is_enabled("on-flag", "u")
    assert not await client.is_enabled("off-flag", "u")  # the spoiled update was not used
    await assert_recovers(client, server)
    assert await client.is_enabled("off-flag", "u")


async def test_timeout_keeps_last_good(server: Any, ready_client: ReadyClient) -> None:
    client = await ready_client(timeout=0.2)
    server.faults.delay(DEFINITIONS, 0.5, times=FOREVER)
    assert await eventually(lambda: client.status.state is State.STALE), client.status
    assert "timed out" in (client.status.last_error or "")
    await assert_recovers(client, server)


async def test_quota_limited_clears_definitions(server: Any, ready_client: ReadyClient) -> None:
    client = await ready_client()
    server.faults.fail(DEFINITIONS, status=402, times=FOREVER)
    assert await eventually(lambda: client.status.state is State.QUOTA_LIMITED)
    assert client.status.flag_count == 0
    assert (await client.evaluate("on-flag", "u")).reason is Reason.FLAG_NOT_FOUND
    await assert_recovers(client, server)


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_is_honoured(server: Any, ready_client: ReadyClient, status: int) -> None:
    client = await ready_client()
    server.faults.fail(DEFINITIONS, status=status, times=1, headers={"Retry-After": "1"})
    assert await eventually(lambda: client.status.state is State.STALE)
    failed_at = time.monotonic()
    after_failure = server.faults.count(DEFINITIONS)
    # Polling is every 0.05 s and backoff at most 0.05 s: only Retry-After explains quiet.
    await asyncio.sleep(0.6)
    assert server.faults.count(DEFINITIONS) == after_failure
    assert await eventually(lambda: client.status.state is State.VALID)
    assert time.monotonic() - failed_at >= 0.6


async def test_server_down_at_start_then_up(server: Any, make_client: MakeClient) -> None:
    server.faults.fail(DEFINITIONS, status=503, times=3)
    client = make_client()
    assert await client.wait_until_ready(timeout=10)
    assert client.status.state is State.VALID
    assert server.faults.count(DEFINITIONS) >= 4


async def test_wait_until_ready_times_out_while_failing(
    server: Any, make_client: MakeClient
) -> None:
    server.faults.fail(DEFINITIONS, status=503, times=FOREVER)
    client = make_client()
    started = time.monotonic()
    assert not await client.wait_until_ready(timeout=0.3)
    assert 0.25 <= time.monotonic() - started < 2.0
    assert client.status.state is State.INITIALIZING
    assert "503" in (client.status.last_error or "")


async def test_disk_cache_across_a_restart_during_an_outage(
    server: Any, ready_client: ReadyClient, make_client: MakeClient, tmp_path: Path
) -> None:
    cache = tmp_path / "flags.cache"
    first = await ready_client(cache_path=cache)
    assert await eventually(cache.exists)
    etag = first.status.etag
    await first.close()
    keys = {"project_api_key": server.project_api_key, "personal_api_key": server.personal_api_key}
    url = server.url
    server.stop()

    second = make_client(cache_path=cache, host=url, **keys)
    assert (await second.evaluate("on-flag", "u")).reason is Reason.NOT_READY  # read in start()
    seen: list[frozenset[str]] = []
    changes_only: list[frozenset[str]] = []
    second.on_change(seen.append, include_first_load=True)
    second.on_change(changes_only.append)
    await second.start()
    assert await second.is_enabled("on-flag", "u")  # served before any request finished
    assert second.status.source == "disk cache"
    assert second.status.etag == etag
    assert await second.wait_until_ready(timeout=10)
    assert await eventually(lambda: second.status.state is State.STALE)
    assert second.status.age is not None
    assert not await second.is_enabled("off-flag", "u", default=True)
    assert await eventually(lambda: seen == [frozenset({"on-flag", "off-flag"})])
    assert changes_only == []  # loading the cache into an empty client is no change


async def test_disk_cache_etag_gives_304_on_restart(
    ready_client: ReadyClient, tmp_path: Path
) -> None:
    cache = tmp_path / "flags.cache"
    first = await ready_client(cache_path=cache)
    assert await eventually(cache.exists)
    await first.close()
    written = cache.stat().st_mtime_ns
    second = await ready_client(cache_path=cache)
    assert await eventually(lambda: second.status.state is State.VALID)
    assert second.status.source == "disk cache"  # a 304 confirmed what was on disk
    assert cache.stat().st_mtime_ns == written


async def test_slow_server_never_blocks_local_reads(server: Any, ready_client: ReadyClient) -> None:
    client = await ready_client()
    server.faults.delay(DEFINITIONS, 2.0, times=FOREVER)
    await asyncio.sleep(0.1)  # the poller is now inside a slow request
    async with LoopLag() as lag:
        started = time.perf_counter()
        for _ in range(200):
            assert await client.is_enabled("on-flag", "u")
        elapsed = time.perf_counter() - started
        await asyncio.sleep(0.3)
    assert elapsed < 0.2  # 200 local reads, no waiting on the poller's request
    assert lag.ticks >= 10
    assert lag.worst < 0.15
    server.faults.clear()


async def test_large_body_is_compiled_off_the_loop() -> None:
    # 2000 flags with regex conditions: compiling them takes a good fraction of a second,
    # which would show as loop lag if it ran on the loop.
    flags = [
        {
            "key": f"flag-{n}",
            "filters": {
                "groups": [
                    {
                        "properties": [
                            {
                                "key": "email",
                                "type": "person",
                                "operator": "regex",
                                "value": f"^user{n}[a-z]*@example\\.com$",
                            },
                            {"key": "plan", "type": "person", "value": ["a", "b", "c"]},
                        ],
                        "rollout_percentage": 50,
                    }
                ]
            },
        }
        for n in range(2000)
    ]
    with LocalServer(seed={"flags": flags}) as big:
        body = httpx.get(
            f"{big.url}{DEFINITIONS}?token={big.project_api_key}&send_cohorts",
            headers={"Authorization": f"Bearer {big.personal_api_key}"},
        ).content
        started = time.perf_counter()
        compile_definitions(body)  # what a loop would be blocked for, on this machine now
        blocking = time.perf_counter() - started
        options = {**FAST, "host": big.url, "personal_api_key": big.personal_api_key}
        async with AsyncClient(big.project_api_key, **options) as client:
            async with LoopLag() as lag:
                assert await client.wait_until_ready(timeout=30)
                # The first load is served before it is compiled; the poller's thread then
                # compiles the rest: watch the loop until it has.
                snapshot = client.snapshot
                assert snapshot is not None
                while len(snapshot._compiled) < 2000:
                    await asyncio.sleep(0.01)
            assert client.status.flag_count == 2000
            props = {"email": "user7x@example.com", "plan": "a"}
            result = await client.evaluate("flag-7", "u", person_properties=props)
            assert result.reason in (Reason.CONDITION_MATCH, Reason.OUT_OF_ROLLOUT)
    assert lag.ticks >= 5
    # Garbage-collection pauses of the compiling thread still stop the loop briefly.
    assert lag.worst < blocking / 2, (lag.worst, blocking)
