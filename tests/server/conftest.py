"""Fixtures for tests that talk to flagkit's local PostHog server over real HTTP.

``local_server``
    A fresh :class:`flagkit.server.LocalServer` per test: in-memory SQLite, random keys, a free
    port on 127.0.0.1; stopped after the test. Use its Python helpers to arrange state
    (``create_flag``, ``add_person``, ``add_cohort``, ``faults`` ...) and its ``url`` and keys
    to make requests.

``api``
    An ``httpx.Client`` for that server, already sending the personal API key
    (``Authorization: Bearer phx_...``).

``flags_path``
    ``/api/projects/<id>/feature_flags/`` of the server's default project.

Copy these into your own ``conftest.py`` to test code that talks to PostHog.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from server_helpers import TLS_CONTEXT

from flagkit.server import LocalServer


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    """A running in-memory LocalServer, stopped after the test."""
    with LocalServer() as server:
        yield server


@pytest.fixture
def api(local_server: LocalServer) -> Iterator[httpx.Client]:
    """An httpx client authenticated with the server's personal API key."""
    headers = {"Authorization": f"Bearer {local_server.personal_api_key}"}
    with httpx.Client(
        verify=TLS_CONTEXT, base_url=local_server.url, headers=headers, timeout=10
    ) as client:
        yield client


@pytest.fixture
def flags_path(local_server: LocalServer) -> str:
    """The feature-flag collection path of the default project."""
    return f"/api/projects/{local_server.project_id}/feature_flags/"
