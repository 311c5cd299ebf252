"""The AsyncClient's remote /flags fallback (real HTTP): static cohorts and other flags that
need PostHog's servers, one request for get_all_flags, failures, retries, the deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
from async_helpers import DEFINITIONS, FLAGS, FOREVER, ROLLOUT_ALL, MakeClient

from flagkit import Reason
from flagkit._client.async_client import AsyncClient

pytestmark = pytest.mark.asyncio

REMOTE = {"only_evaluate_locally": False, "send_events": False}
PLAN_PRO = {
    "groups": [
        {
            "properties": [{"key": "plan", "type": "person", "value": "pro", "operator": "exact"}],
            "rollout_percentage": 100,
        }
    ]
}
Ready = Callable[..., Awaitable[AsyncClient]]


def _cohort_filter(cohort_id: int) -> dict[str, Any]:
    return {
        "groups": [
            {
                "properties": [{"key": "id", "type": "cohort", "value": cohort_id}],
                "rollout_percentage": 100,
            }
        ],
        "payloads": {"true": '{"tier": "beta"}'},
    }


@pytest.fixture
def remote_server(server: Any) -> Any:
    """The shared server plus flags that need PostHog's servers, and their persons."""
    server.add_person("alice", {"plan": "pro"})
    server.add_person("bob", {"plan": "free"})
    cohort = server.add_cohort("beta", static_members=["alice"])
    server.create_flag("static-cohort", _cohort_filter(cohort["id"]))
    server.create_flag("continuity", ROLLOUT_ALL, ensure_experience_continuity=True)
    server.create_flag("pro-only", PLAN_PRO)
    return server


@pytest_asyncio.fixture
async def ready(remote_server: Any, make_client: MakeClient) -> Ready:
    async def make(**options: Any) -> AsyncClient:
        client = make_client(**{**REMOTE, **options})
        assert await client.wait_until_ready(timeout=10)
        remote_server.faults.clear()  # count only what the test does
        return client

    return make


async def test_static_cohort_flag_is_resolved_remotely(remote_server: Any, ready: Ready) -> None:
    client = await ready()
    local = await client.evaluate("static-cohort", "alice", only_evaluate_locally=True)
    assert (local.value, local.reason) == (None, Reason.REQUIRES_SERVER)
    assert remote_server.faults.count(FLAGS) == 0

    member = await client.evaluate("static-cohort", "alice")
    assert (member.value, member.reason) == (True, Reason.REMOTE)
    assert member.payload == {"tier": "beta"}
    assert member.flag_id is not None
    outsider = await client.evaluate("static-cohort", "bob")
    assert (outsider.value, outsider.reason) == (False, Reason.REMOTE)
    assert await client.is_enabled("static-cohort", "alice") is True
    assert await client.get_payload("static-cohort", "alice") == {"tier": "beta"}
    assert await client.get_flag("static-cohort", "bob", default="x") is False
    assert remote_server.faults.count(FLAGS) == 5
    assert (client.status.remote_requests, client.status.remote_errors) == (5, 0)
    # The server knows alice's plan; locally it is missing.
    assert (await client.evaluate("pro-only", "alice")).reason is Reason.REMOTE
    assert (await client.evaluate("continuity", "anyone")).reason is Reason.REMOTE


async def test_get_all_flags_makes_one_request(remote_server: Any, ready: Ready) -> None:
    client = await ready()
    assert await client.get_all_flags("alice") == {
        "on-flag": True,
        "off-flag": False,
        "static-cohort": True,
        "continuity": True,
        "pro-only": True,
    }
    assert remote_server.faults.count(FLAGS) == 1
    results = await client.evaluate_all("bob")
    assert results["static-cohort"].reason is Reason.REMOTE
    assert results["on-flag"].reason is Reason.CONDITION_MATCH  # local answers stay local
    assert remote_server.faults.count(FLAGS) == 2
    # Everything decided locally: no request at all.
    flags = await client.get_all_flags("bob", only_evaluate_locally=True)
    assert flags == {"on-flag": True, "off-flag": False}
    assert remote_server.faults.count(FLAGS) == 2


async def test_only_evaluate_locally_client_wide_and_per_call(
    remote_server: Any, ready: Ready
) -> None:
    client = await ready(only_evaluate_locally=True)
    result = await client.evaluate("continuity", "u")
    assert (result.value, result.reason) == (None, Reason.REQUIRES_SERVER)
    assert await client.is_enabled("static-cohort", "alice", default=True) is True
    assert "static-cohort" not in await client.get_all_flags("alice")
    assert remote_server.faults.count(FLAGS) == 0
    per_call = await client.evaluate("continuity", "u", only_evaluate_locally=False)
    assert per_call.reason is Reason.REMOTE
    assert remote_server.faults.count(FLAGS) == 1


async def test_before_start_every_read_goes_remote(
    remote_server: Any, make_client: MakeClient
) -> None:
    client = make_client(**REMOTE)
    assert (await client.evaluate("on-flag", "u")).reason is Reason.REMOTE
    flags = await client.get_all_flags("alice")  # one request for every flag
    assert flags["static-cohort"] is True
    assert flags["on-flag"] is True
    assert remote_server.faults.count(FLAGS) == 2
    assert remote_server.faults.count(DEFINITIONS) == 0
    missing = await client.evaluate("no-such-flag", "u")
    assert (missing.value, missing.reason) == (None, Reason.FLAG_NOT_FOUND)


async def test_failure_gives_the_default_and_502_is_retried(
    remote_server: Any, ready: Ready
) -> None:
    client = await ready()
    remote_server.faults.fail(FLAGS, status=500)
    failed = await client.evaluate("static-cohort", "alice")
    assert (failed.value, failed.reason) == (None, Reason.REMOTE_ERROR)
    assert failed.description.startswith("api_error_500")
    # The next read falls in the pause that follows a failure: the default, no request.
    assert await client.get_flag("static-cohort", "alice", default="dflt") == "dflt"
    assert (client.status.remote_requests, client.status.remote_errors) == (1, 1)

    fresh = await ready()  # no failure behind it, so no pause
    remote_server.faults.fail(FLAGS, status=502)
    retried = await fresh.evaluate("static-cohort", "alice")
    assert (retried.value, retried.reason) == (True, Reason.REMOTE)
    assert remote_server.faults.count(FLAGS) == 2  # the 502 and its retry
    assert fresh.status.remote_requests == 1


async def test_a_stalled_server_is_cut_off_at_remote_timeout(
    remote_server: Any, ready: Ready
) -> None:
    client = await ready(remote_timeout=0.3)
    remote_server.faults.delay(FLAGS, 2.0, times=FOREVER)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    counting = asyncio.get_running_loop().create_task(ticker())
    started = time.monotonic()
    lookups = [client.evaluate("static-cohort", f"user-{n}") for n in range(5)]
    *results, local = await asyncio.gather(*lookups, client.evaluate("on-flag", "u"))
    elapsed = time.monotonic() - started
    counting.cancel()
    assert elapsed < 1.5
    assert local.value is True
    for result in results:
        assert result.reason is Reason.REMOTE_ERROR
        assert result.description.startswith("timeout")
    assert ticks >= 5  # the loop kept running while the lookups waited
    remote_server.faults.clear()


async def test_concurrent_lookups_all_answer(remote_server: Any, ready: Ready) -> None:
    client = await ready()
    names = ["alice", "bob"] * 10
    answers = await asyncio.gather(*(client.is_enabled("static-cohort", n) for n in names))
    assert answers == [name == "alice" for name in names]
    assert remote_server.faults.count(FLAGS) == len(names)


async def test_closed_client_answers_locally(remote_server: Any, ready: Ready) -> None:
    client = await ready()
    await client.close()
    result = await client.evaluate("static-cohort", "alice")
    assert (result.value, result.reason) == (None, Reason.REQUIRES_SERVER)
    assert remote_server.faults.count(FLAGS) == 0
