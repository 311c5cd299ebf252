"""AsyncClient lifecycle and getters against a real LocalServer: start, readiness, the
ETag/304 cycle, change listeners, close, offline and disabled modes, loop binding."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import pytest
from async_helpers import (
    DEFINITIONS,
    FAST,
    FOREVER,
    ROLLOUT_ALL,
    MakeClient,
    ReadyClient,
    eventually,
)

from flagkit import Reason
from flagkit._client.async_client import AsyncClient
from flagkit._status import Role, State

pytestmark = pytest.mark.asyncio

VARIANTS = {
    "groups": [{"properties": [], "rollout_percentage": 100}],
    "multivariate": {"variants": [{"key": "blue", "rollout_percentage": 100}]},
    "payloads": {"blue": '{"color": "#00f"}'},
}


async def test_start_ready_and_every_getter(server: Any, make_client: MakeClient) -> None:
    server.create_flag("colors", VARIANTS)
    client = make_client()
    await client.start()
    assert await client.wait_until_ready(timeout=10)
    assert await client.is_enabled("on-flag", "u") is True
    assert await client.is_enabled("off-flag", "u", default=True) is False
    assert await client.get_flag("colors", "u") == "blue"
    assert await client.get_flag("missing", "u", default="dflt") == "dflt"
    assert await client.get_payload("colors", "u") == {"color": "#00f"}
    assert await client.get_payload("on-flag", "u", default={}) == {}
    assert await client.get_all_flags("u") == {"on-flag": True, "off-flag": False, "colors": "blue"}
    result = await client.evaluate("colors", "u")
    assert (result.value, result.reason, result.variant) == ("blue", Reason.CONDITION_MATCH, "blue")
    everything = await client.evaluate_all("u")
    assert set(everything) == {"on-flag", "off-flag", "colors"}
    assert everything["off-flag"].reason is Reason.OUT_OF_ROLLOUT
    status = client.status
    assert (status.state, status.ready, status.source) == (State.VALID, True, "network")
    assert (status.flag_count, status.role) == (3, Role.DIRECT)
    assert client.snapshot is not None
    assert set(client.snapshot.flag_keys) == {"on-flag", "off-flag", "colors"}


def _run_without_yielding(awaitable: Any) -> Any:
    """Drive a coroutine one step: it must finish without ever yielding to the loop."""
    with pytest.raises(StopIteration) as finished:
        awaitable.send(None)
    return finished.value.value


async def test_local_answers_never_yield_to_the_loop(
    server: Any, ready_client: ReadyClient
) -> None:
    # Remote lookups and events on: still nothing to await when the flag is decided here.
    client = await ready_client(only_evaluate_locally=False, send_events=True)
    assert _run_without_yielding(client.is_enabled("on-flag", "u")) is True
    assert _run_without_yielding(client.get_flag("off-flag", "u")) is False
    assert _run_without_yielding(client.get_payload("on-flag", "u", default=1)) == 1
    result = _run_without_yielding(client.evaluate("on-flag", "u"))
    assert result.reason is Reason.CONDITION_MATCH
    flags = _run_without_yielding(client.get_all_flags("u"))
    assert flags == {"on-flag": True, "off-flag": False}
    assert len(_run_without_yielding(client.evaluate_all("u"))) == 2
    assert client.status.events_pending == 2
    assert server.faults.count("/flags") == 0


async def test_getters_before_start_answer_not_ready_without_network(
    server: Any, make_client: MakeClient
) -> None:
    client = make_client()
    result = await client.evaluate("on-flag", "u")
    assert (result.value, result.reason) == (None, Reason.NOT_READY)
    assert await client.is_enabled("on-flag", "u", default=True) is True
    assert await client.get_flag("on-flag", "u") is None
    assert await client.get_all_flags("u") == {}
    assert client.status.state is State.INITIALIZING
    assert client.snapshot is None
    await asyncio.sleep(0.1)
    assert server.faults.count(DEFINITIONS) == 0  # nothing happens until start()
    await client.start()
    assert await client.wait_until_ready(timeout=10)
    assert await client.is_enabled("on-flag", "u") is True


async def test_wait_until_ready_starts_the_client(make_client: MakeClient) -> None:
    client = make_client()
    assert await client.wait_until_ready(timeout=10)
    assert await client.is_enabled("on-flag", "u")


async def test_async_with_starts_and_closes(server: Any) -> None:
    options = {**FAST, "host": server.url, "personal_api_key": server.personal_api_key}
    async with AsyncClient(server.project_api_key, **options) as client:
        assert await client.wait_until_ready(timeout=10)
        assert await client.is_enabled("on-flag", "u")
    assert client.status.state is State.CLOSED
    assert client.status.role is None
    # After close: still answers from the last definitions, locally.
    assert await client.is_enabled("on-flag", "u")
    seen = server.faults.count(DEFINITIONS)
    await asyncio.sleep(0.2)
    assert server.faults.count(DEFINITIONS) == seen


async def test_etag_304_cycle_keeps_the_compiled_snapshot(
    server: Any, ready_client: ReadyClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = await ready_client()
    first = client.snapshot
    etag = client.status.etag
    assert etag
    start = server.faults.count(DEFINITIONS)
    with caplog.at_level(logging.INFO, logger="httpx"):
        assert await eventually(lambda: server.faults.count(DEFINITIONS) >= start + 3)
    assert "304 Not Modified" in caplog.text
    assert client.snapshot is first  # nothing was parsed or recompiled
    assert client.status.etag == etag
    assert client.status.state is State.VALID

    server.update_flag("off-flag", filters=ROLLOUT_ALL)
    assert await eventually(lambda: client.snapshot is not first)
    assert await client.is_enabled("off-flag", "u")
    assert client.status.etag != etag


async def test_on_change_runs_sync_and_async_callbacks_on_the_loop(
    server: Any, ready_client: ReadyClient
) -> None:
    client = await ready_client()
    # Listeners hear of the first load just after readiness; a second request proves that
    # notification is over, so the ones below only see the changes this test makes.
    assert await eventually(lambda: server.faults.count(DEFINITIONS) >= 2)
    loop_thread = threading.get_ident()
    calls: list[tuple[str, frozenset[str], int]] = []

    def plain(keys: frozenset[str]) -> None:
        calls.append(("sync", keys, threading.get_ident()))

    async def coroutine(keys: frozenset[str]) -> None:
        await asyncio.sleep(0)
        calls.append(("async", keys, threading.get_ident()))

    def broken(keys: frozenset[str]) -> None:
        raise RuntimeError("listener bug")

    async def broken_async(keys: frozenset[str]) -> None:
        raise RuntimeError("async listener bug")

    client.on_change(broken)
    client.on_change(broken_async)
    client.on_change(plain)
    remove = client.on_change(coroutine)
    server.update_flag("off-flag", filters=ROLLOUT_ALL)
    assert await eventually(lambda: len(calls) == 2)
    assert sorted(c[0] for c in calls) == ["async", "sync"]
    assert all(keys == frozenset({"off-flag"}) for _, keys, _ in calls), calls
    assert all(thread == loop_thread for _, _, thread in calls)

    remove()
    server.update_flag("on-flag", active=False)
    assert await eventually(lambda: len(calls) == 3)
    assert calls[2][:2] == ("sync", frozenset({"on-flag"}))
    await asyncio.sleep(0.1)
    assert len(calls) == 3  # the removed coroutine listener was not called
    assert client.status.state is State.VALID  # raising listeners did not stop polling


async def test_close_is_idempotent_fast_and_abandons_a_slow_request(
    server: Any, ready_client: ReadyClient
) -> None:
    client = await ready_client()
    server.faults.delay(DEFINITIONS, 3.0, times=FOREVER)
    await asyncio.sleep(0.15)  # the poller is now waiting on a slow request
    started = time.monotonic()
    await asyncio.gather(client.close(), client.close())
    assert time.monotonic() - started < 1.0
    assert client.status.state is State.CLOSED
    started = time.monotonic()
    await client.close()
    assert time.monotonic() - started < 0.05
    server.faults.clear()
    seen = server.faults.count(DEFINITIONS)
    await asyncio.sleep(0.2)
    assert server.faults.count(DEFINITIONS) == seen
    assert await client.is_enabled("on-flag", "u")


async def test_close_before_start(make_client: MakeClient, server: Any) -> None:
    client = make_client()
    await client.close()
    await client.start()  # does nothing once closed
    assert client.status.state is State.CLOSED
    assert not await client.wait_until_ready(timeout=1)
    assert server.faults.count(DEFINITIONS) == 0


async def test_offline_with_bootstrap_answers_at_once() -> None:
    body = {"flags": [{"key": "boot", "active": True, "filters": ROLLOUT_ALL}]}
    client = AsyncClient(bootstrap=body)
    assert client.status.state is State.OFFLINE
    assert await client.is_enabled("boot", "u")
    assert await client.wait_until_ready(timeout=0.01)
    assert client.status.state is State.OFFLINE
    await client.close()
    closed = client.status
    assert closed.state is State.CLOSED


async def test_disabled_client_returns_defaults(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="flagkit.client"):
        client = AsyncClient()
    assert "no definitions source" in caplog.text
    assert client.status.state is State.CLOSED
    started = time.monotonic()
    assert not await client.wait_until_ready(timeout=5)
    assert time.monotonic() - started < 0.5
    assert await client.get_flag("x", "u", default="d") == "d"
    await client.close()


async def test_wrong_key_is_unauthorized_and_wait_returns_early(
    server: Any, make_client: MakeClient
) -> None:
    client = make_client(personal_api_key="phx_wrong_key_000000000000")
    started = time.monotonic()
    assert not await client.wait_until_ready(timeout=10)
    assert time.monotonic() - started < 5
    assert client.status.state is State.UNAUTHORIZED
    assert "phx_wrong_key" not in repr(client.status)


async def test_invalid_arguments_raise() -> None:
    with pytest.raises(ValueError):
        AsyncClient("phc_x", personal_api_key="phx_y", poll_interval=0)
    with pytest.raises(ValueError):
        AsyncClient("phc_x", personal_api_key="phx_y", host="ftp://example.com")


async def test_keys_stay_out_of_repr_and_status(server: Any, ready_client: ReadyClient) -> None:
    client = await ready_client()
    text = repr(client) + repr(client.status)
    for key in (server.project_api_key, server.personal_api_key):
        assert key not in text
    assert "AsyncClient" in repr(client)


async def test_a_client_belongs_to_one_loop(server: Any, make_client: MakeClient) -> None:
    client = make_client(only_evaluate_locally=False)
    # The first remote lookup binds the client to this loop (start() would too).
    assert (await client.evaluate("on-flag", "u")).reason is Reason.REMOTE
    assert server.faults.count("/flags") == 1

    async def elsewhere() -> Reason:
        with pytest.raises(RuntimeError, match="another event loop"):
            await client.start()
        # Remote lookups are skipped there: their connections belong to the first loop.
        return (await client.evaluate("on-flag", "u")).reason

    assert await asyncio.to_thread(asyncio.run, elsewhere()) is Reason.NOT_READY
    assert server.faults.count("/flags") == 1
    await client.start()
    assert await client.wait_until_ready(timeout=10)
    assert (await client.evaluate("on-flag", "u")).reason is Reason.CONDITION_MATCH
