"""Fixtures of the admin-API tests: one LocalServer per module, a fresh API client per test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from flagkit.api import FeatureFlagsAPI
from flagkit.server import LocalServer

_counter = itertools.count(1)


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer() as srv:
        yield srv


@pytest.fixture
def api(server: LocalServer) -> Iterator[FeatureFlagsAPI]:
    server.faults.clear()
    with FeatureFlagsAPI(
        server.url, server.personal_api_key, server.project_id, max_retries=2, backoff=0.01
    ) as client:
        yield client
    server.faults.clear()


@pytest.fixture
def key() -> str:
    """A flag key no other test uses."""
    return f"flag-{next(_counter)}"
