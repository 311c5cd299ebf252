"""Fixtures for the shared-store tests: a LocalServer, and a real redis-server.

``redis_server`` (in tests/conftest.py, shared with the docs tests) starts ``redis-server``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from store_helpers import ROLLOUT_NONE

from flagkit.server import LocalServer


@pytest.fixture
def server() -> Iterator[Any]:
    """A LocalServer with one flag, ``flag``, off for everyone."""
    with LocalServer() as local:
        local.create_flag("flag", ROLLOUT_NONE)
        yield local
