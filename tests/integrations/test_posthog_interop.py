"""flagkit beside the real posthog-python (the ``flagkit[posthog]`` extra): exposures through
its capture queue, and one shared fetch for a fleet mixing both SDKs. Real HTTP to a
LocalServer; the shared store is a real FileStore."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import flagkit
from flagkit.posthog import DefinitionCache, PosthogEventsSink
from flagkit.server import LocalServer
from flagkit.stores import FileStore

posthog = pytest.importorskip("posthog")  # a dev dependency: present in make test

EVERYONE = {"groups": [{"properties": [], "rollout_percentage": 100}]}
DEFINITION_PATHS = ("/flags/definitions", "/api/feature_flag/local_evaluation")


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as local:
        local.create_flag("everyone", EVERYONE)
        yield local


def _definition_requests(server: LocalServer) -> int:
    return sum(server.faults.count(path) for path in DEFINITION_PATHS)


def _wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _posthog(server: LocalServer, **options: Any) -> Any:
    return posthog.Posthog(server.project_api_key, host=server.url, **options)


def test_exposures_go_through_the_apps_posthog_queue(server: LocalServer) -> None:
    ph = _posthog(server)
    try:
        with flagkit.Client(
            server.project_api_key,
            personal_api_key=server.personal_api_key,
            host=server.url,
            events_sink=ph,
        ) as client:
            assert client.wait_until_ready(5)
            assert client.is_enabled("everyone", "user-1")
            assert client.is_enabled("everyone", "user-1")  # de-duplicated: one event
            assert client.flush(5)  # flushes posthog-python's queue
            assert client.status.events_sent == 0  # flagkit's own sender sent nothing
    finally:
        ph.shutdown()
    events = server.events("$feature_flag_called")
    assert len(events) == 1
    properties = events[0]["properties"]
    assert properties["$feature_flag"] == "everyone"
    assert properties["$feature_flag_response"] is True
    assert properties["$lib"] == "posthog-python"  # it really went through posthog-python


@pytest.mark.asyncio
async def test_async_client_exposures_go_through_the_apps_posthog_queue(
    server: LocalServer,
) -> None:
    ph = _posthog(server)
    try:
        async with flagkit.AsyncClient(
            server.project_api_key,
            personal_api_key=server.personal_api_key,
            host=server.url,
            events_sink=ph,
        ) as client:
            assert await client.wait_until_ready(5)
            assert await client.is_enabled("everyone", "user-2")
            assert await client.is_enabled("everyone", "user-2")
            assert await client.flush(5)
            assert client.status.events_sent == 0
    finally:
        ph.shutdown()
    events = server.events("$feature_flag_called")
    assert [e["distinct_id"] for e in events] == ["user-2"]
    assert events[0]["properties"]["$lib"] == "posthog-python"


def test_a_refusing_sink_never_breaks_a_read() -> None:
    class Refusing:
        def capture(self, event: str, **kwargs: Any) -> None:
            raise RuntimeError("queue full")

        def flush(self) -> None:
            raise RuntimeError("down")

    sink = PosthogEventsSink(Refusing())
    assert sink.put({"event": "$feature_flag_called", "distinct_id": "u"}) is False
    assert sink.flush() is False


def test_posthog_follows_a_flagkit_leader(server: LocalServer, tmp_path: Path) -> None:
    with flagkit.Client(
        server.project_api_key,
        personal_api_key=server.personal_api_key,
        host=server.url,
        shared_cache_dir=tmp_path,
    ) as leader:
        assert leader.wait_until_ready(5)
        fetched = _definition_requests(server)
        cache = DefinitionCache(
            FileStore(tmp_path), project_api_key=server.project_api_key, host=server.url
        )
        _wait_for(lambda: cache.get_flag_definitions() is not None)  # the leader's write
        ph = _posthog(
            server,
            secret_key=server.personal_api_key,
            flag_definition_cache_provider=cache,
        )
        try:
            ph.load_feature_flags()
            flags = ph.evaluate_flags("user-1", only_evaluate_locally=True)
            value = flags.get_flag("everyone", send_feature_flag_events=False)
            assert value is True
            assert _definition_requests(server) == fetched  # posthog-python did not fetch
        finally:
            ph.shutdown()


def test_flagkit_follows_a_posthog_leader(server: LocalServer, tmp_path: Path) -> None:
    cache = DefinitionCache(
        FileStore(tmp_path), project_api_key=server.project_api_key, host=server.url
    )
    ph = _posthog(server, secret_key=server.personal_api_key, flag_definition_cache_provider=cache)
    try:
        ph.load_feature_flags()  # the leader: fetches and stores
        fetched = _definition_requests(server)
        assert fetched >= 1
        with flagkit.Client(
            server.project_api_key,
            personal_api_key=server.personal_api_key,
            host=server.url,
            shared_cache_dir=tmp_path,
        ) as follower:
            assert follower.wait_until_ready(5)
            assert follower.status.role is flagkit.Role.FOLLOWER
            assert follower.is_enabled("everyone", "user-1", only_evaluate_locally=True)
            assert _definition_requests(server) == fetched  # flagkit did not fetch
    finally:
        ph.shutdown()
