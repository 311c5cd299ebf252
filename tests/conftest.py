"""Fixtures shared across test folders: a real ``redis-server``.

``redis_server`` starts ``redis-server`` once per session on a free port of 127.0.0.1 (no
persistence), and can stop and restart it on the same port. Without the binary the Redis
tests are skipped, except under CI (``CI=true``), where that is an error: ``.ci/run``
installs it.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "stores"))

from store_helpers import RedisServer


@pytest.fixture(scope="session")
def _redis_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is not installed (apt-get install redis-server)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}; CI must provide it (.ci/run installs it)", pytrace=False)
        pytest.skip(message)
    redis = RedisServer(binary, tmp_path_factory.mktemp("redis"))
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


@pytest.fixture
def redis_server(_redis_session: RedisServer) -> Iterator[RedisServer]:
    """The session's redis-server, running and empty at the start of the test."""
    if not _redis_session.running:  # a previous test stopped it and failed before restarting
        _redis_session.start()
    _redis_session.flushall()
    yield _redis_session
    if not _redis_session.running:
        _redis_session.start()
