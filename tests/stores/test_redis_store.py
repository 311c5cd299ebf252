"""RedisStore against a real redis-server: lease, fencing, round trips, outages, clients."""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from store_helpers import (
    ROLLOUT_ALL,
    ROLLOUT_NONE,
    RedisServer,
    Worker,
    client_options,
    exit_code,
    scope_for,
    wait_until,
)

from flagkit._client.sync_client import Client
from flagkit._status import Role, State
from flagkit.stores import DefinitionsStore, RedisStore, StoreError

BODY = b'{"flags": [], "group_type_mapping": {}, "cohorts": {}}'


@pytest.fixture
def make_store(redis_server: RedisServer) -> Iterator[Callable[..., RedisStore]]:
    """RedisStore views of the test's Redis (same prefix and scope unless told otherwise)."""
    made: list[RedisStore] = []

    def make(scope: str = "project", **options: Any) -> RedisStore:
        options.setdefault("key_prefix", "test")
        options.setdefault("timeout", 0.5)
        store = RedisStore(redis_server.url, **options)
        made.append(store)
        return store.scoped(scope)

    yield make
    for store in made:
        store.client.close()


def test_is_a_definitions_store(make_store: Callable[..., RedisStore]) -> None:
    assert isinstance(make_store(), DefinitionsStore)


def test_one_lease_holder_renews_and_releases(make_store: Callable[..., RedisStore]) -> None:
    a, b = make_store(), make_store()
    other = make_store("other-project")
    assert a.try_acquire_leadership(5.0)
    assert a.try_acquire_leadership(5.0)  # renewal
    assert not b.try_acquire_leadership(5.0)
    assert other.try_acquire_leadership(5.0)  # one lease per scope
    a.release_leadership()
    assert b.try_acquire_leadership(5.0)
    assert not a.try_acquire_leadership(5.0)
    a.release_leadership()  # not the holder: must not delete b's lease
    assert not a.try_acquire_leadership(5.0)
    b.close()  # releases the lease, then closes the connections
    assert a.try_acquire_leadership(5.0)


def test_an_unrenewed_lease_expires_and_fences_the_old_leader(
    make_store: Callable[..., RedisStore],
) -> None:
    old, new = make_store(), make_store()
    assert old.try_acquire_leadership(0.3)
    assert old.write(BODY, '"1"') is not None
    assert not new.try_acquire_leadership(0.3)
    assert wait_until(lambda: new.try_acquire_leadership(5.0), timeout=5)
    # The old leader wakes up after a long pause: its write and confirm are refused.
    assert old.write(b'{"flags": [1]}', '"2"') is None
    old.confirm()
    stored = new.read()
    assert stored is not None
    assert (stored.body, stored.etag) == (BODY, '"1"')
    assert not old.try_acquire_leadership(5.0)


def test_write_peek_read_confirm(make_store: Callable[..., RedisStore]) -> None:
    leader, follower = make_store(), make_store()
    assert follower.peek() is None
    assert follower.read() is None
    assert follower.write(BODY, None) is None  # not the leader
    leader.confirm()  # nothing stored yet: no half-made entry
    assert follower.peek() is None
    assert leader.try_acquire_leadership(5.0)
    leader.confirm()
    assert follower.peek() is None
    version = leader.write(BODY, '"e1"')
    assert version is not None
    state = follower.peek()
    assert state is not None
    assert state.version == version
    stored = follower.read()
    assert stored is not None
    assert (stored.version, stored.body, stored.etag) == (version, BODY, '"e1"')
    time.sleep(0.01)
    leader.confirm()
    confirmed = follower.peek()
    assert confirmed is not None
    assert confirmed.version == version
    assert confirmed.confirmed_at > state.confirmed_at
    second = leader.write(BODY, None)
    assert second not in (None, version)
    again = follower.read()
    assert again is not None
    assert again.etag is None


def test_data_expires_without_writes(
    make_store: Callable[..., RedisStore], redis_server: RedisServer
) -> None:
    leader = make_store(data_ttl=60.0)
    assert leader.try_acquire_leadership(5.0)
    assert leader.write(BODY, None) is not None
    ttl = leader.client.pttl("test:{project}:definitions")
    assert 0 < ttl <= 60_000
    forever = make_store("forever", data_ttl=None)
    assert forever.try_acquire_leadership(5.0)
    assert forever.write(BODY, None) is not None
    assert forever.client.pttl("test:{forever}:definitions") == -1


def test_unreachable_redis_fails_fast_and_hides_the_password() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    store = RedisStore(f"redis://:hunter2@127.0.0.1:{port}/0", timeout=0.5).scoped("p")
    assert "hunter2" not in repr(store)
    for call in (
        lambda: store.try_acquire_leadership(1.0),
        store.peek,
        store.read,
        lambda: store.write(BODY, None),
    ):
        started = time.monotonic()
        with pytest.raises(StoreError) as caught:
            call()
        assert time.monotonic() - started < 3  # no hidden retries with backoff
        assert "hunter2" not in str(caught.value)
    store.close()  # shutting down while Redis is away must not raise


def test_missing_redis_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ImportError, match=r"pip install 'flagkit\[redis\]'"):
        RedisStore("redis://127.0.0.1:1/0")


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        RedisStore()
    with pytest.raises(ValueError, match="timeout"):
        RedisStore("redis://127.0.0.1:1/0", timeout=0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_inherit_the_lease(make_store: Callable[..., RedisStore]) -> None:
    leader = make_store()
    assert leader.try_acquire_leadership(5.0)
    leader._guard.lock().acquire()  # as if a poller thread were inside the store at fork time
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 0
        try:
            if leader.write(BODY, None) is not None:
                code = 1
            elif leader.try_acquire_leadership(5.0):
                code = 2
        except BaseException:
            code = 3
        finally:
            os._exit(code)
    leader._guard.lock().release()
    assert exit_code(pid) == 0
    assert leader.try_acquire_leadership(5.0)  # the parent's lease is untouched


# -- clients sharing Redis ----------------------------------------------------------------


@pytest.fixture
def make_client(server: Any, redis_server: RedisServer) -> Iterator[Callable[..., Client]]:
    """Clients of ``server``, each with its own RedisStore (like separate hosts)."""
    made: list[tuple[Client, RedisStore]] = []

    def make() -> Client:
        store = RedisStore(redis_server.url, key_prefix="clients", timeout=0.5)
        client = Client(**client_options(server, store=store))
        made.append((client, store))
        return client

    yield make
    for client, store in made:
        client.close()
        store.client.close()


def test_two_hosts_one_leader_and_updates_reach_the_follower(
    server: Any, make_client: Callable[..., Client]
) -> None:
    first = make_client()
    assert wait_until(lambda: first.status.role is Role.LEADER and first.status.ready)
    second = make_client()
    assert wait_until(lambda: second.status.role is Role.FOLLOWER and second.status.ready)
    assert second.status.source == "shared store"
    server.update_flag("flag", filters=ROLLOUT_ALL)
    assert wait_until(lambda: second.is_enabled("flag", "u"))
    assert first.status.role is Role.LEADER


def test_a_killed_leader_is_replaced_after_its_lease(
    server: Any,
    redis_server: RedisServer,
    make_client: Callable[..., Client],
    tmp_path: Path,
) -> None:
    store = {"kind": "redis", "url": redis_server.url, "key_prefix": "clients"}
    leader = Worker({"client": client_options(server), "store": store}, tmp_path / "w.log")
    try:
        assert wait_until(lambda: leader.status()["role"] == "leader", timeout=15)
        follower = make_client()
        assert wait_until(lambda: follower.status.role is Role.FOLLOWER and follower.status.ready)
        leader.kill()  # no release: the lease must run out
        killed_at = time.monotonic()
        assert wait_until(lambda: follower.status.role is Role.LEADER, timeout=10)
        assert time.monotonic() - killed_at < 6  # lease (1 s) plus a check; generous
        server.update_flag("flag", filters=ROLLOUT_ALL)
        assert wait_until(lambda: follower.is_enabled("flag", "u"))
    finally:
        leader.kill()


def test_redis_outage_falls_back_to_direct_fetching_and_recovers(
    server: Any, redis_server: RedisServer, make_client: Callable[..., Client]
) -> None:
    first = make_client()
    assert wait_until(lambda: first.status.role is Role.LEADER and first.status.ready)
    second = make_client()
    assert wait_until(lambda: second.status.role is Role.FOLLOWER and second.status.ready)
    clients = [first, second]

    redis_server.stop()
    assert wait_until(lambda: all(c.status.role is Role.DIRECT for c in clients))
    assert all(c.is_enabled("flag", "u") is False for c in clients)  # still serving
    server.update_flag("flag", filters=ROLLOUT_ALL)  # reaches both by direct fetching
    assert wait_until(lambda: all(c.is_enabled("flag", "u") for c in clients))
    assert all(c.status.state is State.VALID for c in clients)

    redis_server.start()  # empty: nothing was persisted
    assert wait_until(lambda: sorted(str(c.status.role) for c in clients) == ["follower", "leader"])
    follower = next(c for c in clients if c.status.role is Role.FOLLOWER)
    # The new leader refills the empty store at once, though its ETag is current (no 304).
    view = RedisStore(redis_server.url, key_prefix="clients").scoped(scope_for(server))
    try:
        assert wait_until(lambda: view.peek() is not None)
    finally:
        view.client.close()
    server.update_flag("flag", filters=ROLLOUT_NONE)
    assert wait_until(lambda: not any(c.is_enabled("flag", "u") for c in clients))
    assert wait_until(lambda: follower.status.source == "shared store")
