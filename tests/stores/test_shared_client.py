"""Clients sharing a FileStore inside one process: roles, hand-over, damage, fallback."""

from __future__ import annotations

import json
import logging
import os
import select
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from store_helpers import (
    DEFINITIONS,
    POLL,
    ROLLOUT_ALL,
    client_options,
    exit_code,
    scope_for,
    wait_until,
)

from flagkit._client.sync_client import Client
from flagkit._status import Role, State
from flagkit.stores import FileStore

SHARED = "shared store"


@pytest.fixture
def make_client(server: Any) -> Iterator[Callable[..., Client]]:
    """Build fast-polling clients of ``server``; all are closed after the test."""
    made: list[Client] = []

    def make(**overrides: Any) -> Client:
        client = Client(**client_options(server, **overrides))
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def fetch_definitions(server: Any) -> httpx.Response:
    """What the server currently serves as local-evaluation definitions."""
    response = httpx.get(
        f"{server.url}{DEFINITIONS}",
        params={"token": server.project_api_key, "send_cohorts": ""},
        headers={"Authorization": f"Bearer {server.personal_api_key}"},
    )
    response.raise_for_status()
    return response


def definitions_body(server: Any) -> bytes:
    return fetch_definitions(server).content


def roles(clients: list[Client]) -> list[Role | None]:
    return [c.status.role for c in clients]


def test_a_client_without_store_fetches_directly(make_client: Callable[..., Client]) -> None:
    client = make_client()
    assert client.status.role is Role.DIRECT
    assert client.wait_until_ready(10)
    client.close()
    assert client.status.role is None


def test_shared_cache_dir_and_store_are_exclusive(server: Any, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not both"):
        Client(**client_options(server, shared_cache_dir=tmp_path, store=FileStore(tmp_path)))


def test_one_leader_fetches_and_followers_follow(
    server: Any, tmp_path: Path, make_client: Callable[..., Client]
) -> None:
    clients = [make_client(shared_cache_dir=tmp_path) for _ in range(3)]
    assert all(c.wait_until_ready(10) for c in clients)
    assert wait_until(
        lambda: sorted(map(str, roles(clients))) == ["follower", "follower", "leader"]
    )
    leader = next(c for c in clients if c.status.role is Role.LEADER)
    followers = [c for c in clients if c is not leader]
    assert wait_until(lambda: all(c.status.source == SHARED for c in followers))
    assert leader.status.source == "network"

    server.faults.clear()
    window = 10 * POLL
    time.sleep(window)
    requests = server.faults.count(DEFINITIONS)
    # One fetcher polls about window / POLL times; three direct clients would triple that.
    assert 1 <= requests <= 1.5 * window / POLL, requests

    server.update_flag("flag", filters=ROLLOUT_ALL)
    assert wait_until(lambda: all(c.is_enabled("flag", "u") for c in clients))
    for follower in followers:
        status = follower.status
        assert status.state is State.VALID
        assert status.etag == leader.status.etag
        assert status.age is not None
        assert status.age < 5


def test_closing_the_leader_hands_over(
    server: Any, tmp_path: Path, make_client: Callable[..., Client]
) -> None:
    first = make_client(shared_cache_dir=tmp_path)
    assert wait_until(lambda: first.status.role is Role.LEADER)
    second = make_client(shared_cache_dir=tmp_path)
    assert wait_until(lambda: second.status.role is Role.FOLLOWER and second.status.ready)
    first.close()
    assert first.status.role is None
    assert wait_until(lambda: second.status.role is Role.LEADER, timeout=5)
    server.update_flag("flag", filters=ROLLOUT_ALL)
    assert wait_until(lambda: second.is_enabled("flag", "u"))
    assert second.status.source == "network"


def test_304s_confirm_without_rewriting(
    server: Any, tmp_path: Path, make_client: Callable[..., Client]
) -> None:
    leader = make_client(shared_cache_dir=tmp_path)
    assert wait_until(lambda: leader.status.role is Role.LEADER and leader.status.ready)
    store = FileStore(tmp_path).scoped(scope_for(server))
    assert wait_until(lambda: store.peek() is not None)
    first = store.peek()
    assert first is not None
    assert wait_until(lambda: (store.peek() or first).confirmed_at > first.confirmed_at)
    later = store.peek()
    assert later is not None
    assert later.version == first.version  # 304s touch the file; they do not rewrite it
    follower = make_client(shared_cache_dir=tmp_path)
    assert wait_until(lambda: follower.status.source == SHARED)
    confirmed = follower.status.last_success
    assert wait_until(lambda: follower.status.last_success != confirmed)  # age keeps resetting
    age = follower.status.age
    assert age is not None
    assert age < 5


def test_follower_fetches_itself_when_the_snapshot_is_damaged(
    server: Any, tmp_path: Path, make_client: Callable[..., Client]
) -> None:
    # The test plays a leader that holds the lock and writes (or damages) the snapshot.
    fake_leader = FileStore(tmp_path).scoped(scope_for(server))
    assert fake_leader.try_acquire_leadership(1.0)
    fake_leader.snapshot_path.write_bytes(b"\x00garbage\n{")
    client = make_client(shared_cache_dir=tmp_path)
    assert client.wait_until_ready(10)  # fetched directly: the store had nothing usable
    assert client.status.role is Role.FOLLOWER
    assert client.status.source == "network"
    assert client.is_enabled("flag", "u") is False

    server.update_flag("flag", filters=ROLLOUT_ALL)
    assert fake_leader.write(definitions_body(server), '"abc"') is not None
    assert wait_until(lambda: client.is_enabled("flag", "u"))
    assert client.status.source == SHARED
    assert client.status.etag == '"abc"'
    fake_leader.release_leadership()


def test_a_follower_keeps_serving_when_the_shared_body_is_invalid(
    server: Any,
    tmp_path: Path,
    make_client: Callable[..., Client],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_leader = FileStore(tmp_path).scoped(scope_for(server))
    assert fake_leader.try_acquire_leadership(1.0)
    server.update_flag("flag", filters=ROLLOUT_ALL)
    assert fake_leader.write(definitions_body(server), None) is not None
    client = make_client(shared_cache_dir=tmp_path)
    assert client.wait_until_ready(10)
    assert client.is_enabled("flag", "u")
    with caplog.at_level(logging.WARNING, logger="flagkit.client"):
        assert fake_leader.write(b'{"no": "flags list"}', None) is not None
        assert wait_until(lambda: "ignoring shared definitions" in caplog.text)
    assert client.is_enabled("flag", "u")  # last good definitions stay
    assert client.status.source == SHARED
    fake_leader.release_leadership()


def test_the_leader_repairs_a_damaged_snapshot(
    server: Any, tmp_path: Path, make_client: Callable[..., Client]
) -> None:
    leader = make_client(shared_cache_dir=tmp_path)
    store = FileStore(tmp_path).scoped(scope_for(server))
    assert wait_until(lambda: store.read() is not None)
    store.snapshot_path.write_bytes(b"damaged")
    assert store.read() is None
    assert wait_until(lambda: store.read() is not None, timeout=5)  # a full fetch, rewritten
    assert leader.status.role is Role.LEADER


def test_an_unusable_shared_dir_means_fetching_directly(
    server: Any,
    tmp_path: Path,
    make_client: Callable[..., Client],
    caplog: pytest.LogCaptureFixture,
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="flagkit.client"):
        client = make_client(shared_cache_dir=blocker / "shared")
        assert client.wait_until_ready(10)
        server.update_flag("flag", filters=ROLLOUT_ALL)
        assert wait_until(lambda: client.is_enabled("flag", "u"))
    assert client.status.role is Role.DIRECT
    assert client.status.state is State.VALID
    warnings = [r for r in caplog.records if "store unavailable" in r.message]
    assert len(warnings) == 1  # retried every few polls, warned once


def test_a_fresh_leader_serves_the_stored_snapshot_while_posthog_is_down(
    server: Any, tmp_path: Path, make_client: Callable[..., Client]
) -> None:
    # A snapshot left by an earlier run (processes restarted; the directory persisted).
    response = fetch_definitions(server)
    earlier = FileStore(tmp_path).scoped(scope_for(server))
    assert earlier.try_acquire_leadership(1.0)
    version = earlier.write(response.content, response.headers["ETag"])
    earlier.release_leadership()

    server.faults.fail(DEFINITIONS, status=503, times=1_000_000)
    client = make_client(shared_cache_dir=tmp_path)
    assert client.wait_until_ready(10)
    assert client.status.role is Role.LEADER
    assert client.status.source == SHARED
    assert client.is_enabled("flag", "u") is False
    assert wait_until(lambda: client.status.state is State.STALE)  # its own fetch fails

    server.faults.clear()
    assert wait_until(lambda: client.status.state is State.VALID)
    state = earlier.peek()
    assert state is not None
    assert state.version == version  # recovered with a 304: nothing to rewrite


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_worker_follows_its_leading_parent(
    server: Any, tmp_path: Path, make_client: Callable[..., Client]
) -> None:
    # gunicorn --preload: the master's client leads, forked workers follow.
    parent = make_client(shared_cache_dir=tmp_path)
    assert wait_until(lambda: parent.status.role is Role.LEADER and parent.status.ready)
    read_fd, write_fd = os.pipe()
    go_read, go_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        report: dict[str, Any] = {}
        try:
            report["follower"] = wait_until(lambda: parent.status.role is Role.FOLLOWER)
            os.write(write_fd, b"ready\n")
            select.select([go_read], [], [], 20)
            report["updated"] = wait_until(lambda: parent.is_enabled("flag", "u"))
            report["source"] = parent.status.source
            parent.close()
        except BaseException as exc:
            report["error"] = repr(exc)
        finally:
            os.write(write_fd, json.dumps(report).encode() + b"\n")
            os._exit(0)
    os.close(write_fd)
    os.close(go_read)
    try:
        with os.fdopen(read_fd, "rb") as reader:
            first = reader.readline()
            server.update_flag("flag", filters=ROLLOUT_ALL)
            os.write(go_write, b"go")
            report = json.loads(reader.readline() or first or b"{}")
    finally:
        os.close(go_write)
        code = exit_code(pid)
    assert code == 0
    assert report == {"follower": True, "updated": True, "source": SHARED}, first
    assert parent.status.role is Role.LEADER  # the child's close did not release the lock
    assert parent.is_enabled("flag", "u")
