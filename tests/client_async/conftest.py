"""Shared fixtures for the AsyncClient tests: a real LocalServer and fast-polling clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
from async_helpers import FAST, ROLLOUT_ALL, ROLLOUT_NONE, MakeClient, ReadyClient

from flagkit._client.async_client import AsyncClient
from flagkit.server import LocalServer


@pytest.fixture
def server() -> Iterator[Any]:
    """A LocalServer with two flags: ``on-flag`` (100%) and ``off-flag`` (0%)."""
    with LocalServer() as local:
        local.create_flag("on-flag", ROLLOUT_ALL)
        local.create_flag("off-flag", ROLLOUT_NONE)
        yield local


@pytest_asyncio.fixture
async def make_client(server: Any) -> AsyncIterator[MakeClient]:
    """Build (not start) fast-polling clients for ``server``; all are closed afterwards."""
    made: list[AsyncClient] = []

    def make(**overrides: Any) -> AsyncClient:
        options: dict[str, Any] = {**FAST, **overrides}
        # Read lazily: a stopped server has no URL, and tests may override it.
        if "project_api_key" not in options:
            options["project_api_key"] = server.project_api_key
        if "personal_api_key" not in options:
            options["personal_api_key"] = server.personal_api_key
        if "host" not in options:
            options["host"] = server.url
        client = AsyncClient(**options)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close(timeout=1.0)


@pytest_asyncio.fixture
async def ready_client(make_client: MakeClient) -> ReadyClient:
    """Build a client, start it and wait for its first definitions."""

    async def make(**overrides: Any) -> AsyncClient:
        client = make_client(**overrides)
        await client.start()
        assert await client.wait_until_ready(timeout=10), client.status
        return client

    return make
