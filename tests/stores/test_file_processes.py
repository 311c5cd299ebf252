"""Several real processes sharing one snapshot file: one fetches, all follow, one takes over."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from store_helpers import DEFINITIONS, POLL, ROLLOUT_ALL, ROLLOUT_NONE, Worker, start_workers

pytestmark = pytest.mark.slow


@pytest.fixture
def workers(server: Any, tmp_path: Path) -> Iterator[list[Worker]]:
    shared = tmp_path / "shared"
    started = start_workers(3, server, {"kind": "file", "dir": str(shared)}, tmp_path)
    yield started
    for worker in started:
        worker.stop()


def statuses(workers: list[Worker]) -> list[dict[str, Any]]:
    return [w.status() for w in workers]


def settle(workers: list[Worker], timeout: float = 15.0) -> list[dict[str, Any]]:
    """Wait until every live worker is ready and exactly one of them leads."""
    deadline = time.monotonic() + timeout
    while True:
        seen = statuses(workers)
        roles = sorted(s["role"] for s in seen)
        if all(s["ready"] for s in seen) and roles == ["follower"] * (len(seen) - 1) + ["leader"]:
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"workers did not settle: {seen}")
        time.sleep(0.05)


def wait_for_value(workers: list[Worker], value: bool, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        seen = statuses(workers)
        if all(s["value"] is value for s in seen):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not every worker sees flag={value}: {seen}")
        time.sleep(0.05)


def test_processes_share_one_fetch_and_survive_the_leader(
    server: Any, workers: list[Worker]
) -> None:
    seen = settle(workers)
    assert all(s["value"] is False for s in seen)

    # Only the leader polls: about one request per poll interval, not one per process.
    server.faults.clear()
    window = 10 * POLL
    time.sleep(window)
    requests = server.faults.count(DEFINITIONS)
    assert 1 <= requests <= 1.5 * window / POLL, requests

    server.update_flag("flag", filters=ROLLOUT_ALL)
    wait_for_value(workers, True)
    followers = [s for s in statuses(workers) if s["role"] == "follower"]
    assert [s["source"] for s in followers] == ["shared store", "shared store"]

    # The leader dies holding the lock; the kernel frees it and a follower takes over.
    leader = next(
        w for w, s in zip(workers, statuses(workers), strict=True) if s["role"] == "leader"
    )
    leader.kill()
    survivors = [w for w in workers if w is not leader]
    killed_at = time.monotonic()
    settle(survivors)
    takeover = time.monotonic() - killed_at
    assert takeover < 5, takeover  # about one check interval; generous for a loaded box

    # The new leader fetches and the remaining follower still follows.
    server.update_flag("flag", filters=ROLLOUT_NONE)
    wait_for_value(survivors, False)
    roles = sorted(s["role"] for s in statuses(survivors))
    assert roles == ["follower", "leader"]


def test_a_late_process_gets_definitions_from_the_file(
    server: Any, workers: list[Worker], tmp_path: Path
) -> None:
    settle(workers)
    server.faults.clear()
    shared = tmp_path / "shared"
    late = start_workers(1, server, {"kind": "file", "dir": str(shared)}, tmp_path, name="late")[0]
    try:
        deadline = time.monotonic() + 15
        while not late.status()["ready"]:
            assert time.monotonic() < deadline, late.status()
            time.sleep(0.02)
        status = late.status()
        assert status["role"] == "follower"
        assert status["source"] == "shared store"
    finally:
        late.stop()
