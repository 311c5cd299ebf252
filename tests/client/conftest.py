"""Shared fixtures for the Client tests: a real LocalServer and fast-polling clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from client_helpers import FAST, ROLLOUT_ALL, ROLLOUT_NONE

from flagkit._client.sync_client import Client
from flagkit.server import LocalServer


@pytest.fixture
def server() -> Iterator[Any]:
    """A LocalServer with two flags: ``on-flag`` (100%) and ``off-flag`` (0%)."""
    with LocalServer() as local:
        local.create_flag("on-flag", ROLLOUT_ALL)
        local.create_flag("off-flag", ROLLOUT_NONE)
        yield local


@pytest.fixture
def make_client(server: Any) -> Iterator[Callable[..., Client]]:
    """Build fast-polling clients for ``server``; all are closed after the test."""
    made: list[Client] = []

    def make(**overrides: Any) -> Client:
        options: dict[str, Any] = {**FAST, **overrides}
        # Read lazily: a stopped server has no URL, and tests may override it.
        if "project_api_key" not in options:
            options["project_api_key"] = server.project_api_key
        if "personal_api_key" not in options:
            options["personal_api_key"] = server.personal_api_key
        if "host" not in options:
            options["host"] = server.url
        client = Client(**options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
