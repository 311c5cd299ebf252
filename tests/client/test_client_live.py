"""The Client against a real LocalServer over HTTP: loading, getters, updates, listeners."""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from client_helpers import DEFINITIONS, ROLLOUT_ALL, ROLLOUT_NONE, wait_until

from flagkit import Reason
from flagkit._client.sync_client import Client
from flagkit._status import State

MakeClient = Callable[..., Client]


def test_start_does_not_block_and_getters_default_until_ready(
    server: Any, make_client: MakeClient
) -> None:
    server.faults.delay(DEFINITIONS, 0.5)
    started = time.monotonic()
    client = make_client()
    assert time.monotonic() - started < 0.45
    assert client.status.state is State.INITIALIZING
    assert not client.status.ready
    result = client.evaluate("on-flag", "user-1")
    assert result.reason is Reason.NOT_READY
    assert result.value is None
    assert client.is_enabled("on-flag", "user-1") is False
    assert client.is_enabled("on-flag", "user-1", default=True) is True
    assert client.get_flag("on-flag", "user-1", default="fallback") == "fallback"
    assert client.get_payload("on-flag", "user-1", default={"d": 1}) == {"d": 1}
    assert client.get_all_flags("user-1") == {}
    assert client.snapshot is None
    assert client.wait_until_ready(timeout=10)
    assert client.is_enabled("on-flag", "user-1") is True


def test_loads_and_answers(server: Any, make_client: MakeClient) -> None:
    server.create_flag(
        "multi",
        {
            "groups": [{"properties": [], "rollout_percentage": 100}],
            "multivariate": {"variants": [{"key": "only", "rollout_percentage": 100}]},
            "payloads": {"only": '{"color": "blue"}'},
        },
    )
    server.create_flag("inactive", ROLLOUT_ALL, active=False)
    client = make_client()
    assert client.wait_until_ready(timeout=10)
    assert client.is_enabled("on-flag", "u") is True
    assert client.is_enabled("off-flag", "u", default=True) is False
    assert client.get_flag("multi", "u") == "only"
    assert client.is_enabled("multi", "u") is True
    assert client.get_payload("multi", "u") == {"color": "blue"}
    assert client.get_payload("on-flag", "u", default="none") == "none"
    result = client.evaluate("on-flag", "u")
    assert result.reason is Reason.CONDITION_MATCH
    assert result.value is True
    missing = client.evaluate("no-such-flag", "u")
    assert missing.reason is Reason.FLAG_NOT_FOUND
    assert client.get_flag("no-such-flag", "u", default="d") == "d"
    flags = client.get_all_flags("u")
    assert flags["on-flag"] is True
    assert flags["off-flag"] is False
    assert flags["multi"] == "only"
    assert set(client.evaluate_all("u")) >= {"on-flag", "off-flag", "multi"}
    status = client.status
    assert status.state is State.VALID
    assert status.ready
    assert status.last_success is not None
    assert status.last_error is None
    assert status.flag_count == len(client.snapshot or ())
    assert status.flag_count >= 3
    assert status.fingerprint
    assert status.source == "network"
    assert status.age is not None
    assert status.age >= 0


def test_etag_round_trip_keeps_the_same_snapshot(server: Any, make_client: MakeClient) -> None:
    client = make_client()
    assert client.wait_until_ready(timeout=10)
    first = client.snapshot
    etag = client.status.etag
    assert etag
    seen = server.faults.count(DEFINITIONS)
    assert wait_until(lambda: server.faults.count(DEFINITIONS) >= seen + 5)
    assert client.snapshot is first
    assert client.status.etag == etag
    assert client.status.state is State.VALID


def test_updates_reach_readers_and_listeners(server: Any, make_client: MakeClient) -> None:
    client = make_client()
    assert client.wait_until_ready(timeout=10)
    changes: list[frozenset[str]] = []
    client.on_change(changes.append)
    server.update_flag("off-flag", filters=ROLLOUT_ALL)
    assert wait_until(lambda: client.is_enabled("off-flag", "u"))
    assert wait_until(lambda: changes == [frozenset({"off-flag"})])
    server.create_flag("brand-new", ROLLOUT_NONE)
    assert wait_until(lambda: frozenset({"brand-new"}) in changes)
    assert client.get_flag("brand-new", "u") is False


def test_a_raising_listener_does_not_stop_polling(
    server: Any, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client()
    assert client.wait_until_ready(timeout=10)
    good: list[frozenset[str]] = []

    def broken(_: frozenset[str]) -> None:
        raise ValueError("listener exploded")

    client.on_change(broken)
    client.on_change(good.append)
    with caplog.at_level(logging.ERROR, logger="flagkit.client"):
        server.update_flag("off-flag", filters=ROLLOUT_ALL)
        assert wait_until(lambda: len(good) == 1)
        server.update_flag("on-flag", filters=ROLLOUT_NONE)
        assert wait_until(lambda: len(good) == 2)
    assert not client.is_enabled("on-flag", "u")
    assert "listener exploded" in caplog.text
    assert client.status.state is State.VALID


def test_unsubscribe(server: Any, make_client: MakeClient) -> None:
    client = make_client()
    assert client.wait_until_ready(timeout=10)
    seen: list[frozenset[str]] = []
    remove = client.on_change(seen.append)
    remove()
    remove()  # idempotent
    server.update_flag("off-flag", filters=ROLLOUT_ALL)
    assert wait_until(lambda: client.is_enabled("off-flag", "u"))
    assert seen == []


@pytest.mark.parametrize(
    "path",
    [
        "/flags/definitions",
        "/api/feature_flag/local_evaluation/",
        "/api/projects/{project_id}/feature_flags/local_evaluation/",
    ],
)
def test_every_definitions_endpoint(server: Any, make_client: MakeClient, path: str) -> None:
    client = make_client(definitions_path=path, project_id=server.project_id)
    assert client.wait_until_ready(timeout=10)
    assert client.is_enabled("on-flag", "u")
    assert server.faults.count(path.replace("{project_id}", str(server.project_id))) >= 1


def test_project_path_requires_project_id(server: Any) -> None:
    with pytest.raises(ValueError, match="project_id"):
        Client(
            server.project_api_key,
            personal_api_key=server.personal_api_key,
            host=server.url,
            definitions_path="/api/projects/{project_id}/feature_flags/local_evaluation/",
        )


def test_secret_api_key(server: Any, make_client: MakeClient) -> None:
    client = make_client(personal_api_key=None, secret_api_key=server.secret_api_key)
    assert client.wait_until_ready(timeout=10)
    assert client.is_enabled("on-flag", "u")


def test_many_threads_read_while_definitions_swap(server: Any, make_client: MakeClient) -> None:
    client = make_client(poll_interval=0.01)
    assert client.wait_until_ready(timeout=10)
    stop = threading.Event()
    errors: list[BaseException] = []
    reads = [0]

    def reader() -> None:
        try:
            while not stop.is_set():
                value = client.get_flag("on-flag", "u")
                assert value in (True, False)
                all_flags = client.get_all_flags("u")
                assert all_flags.get("off-flag") in (True, False)
                assert client.evaluate("on-flag", "u").reason.decided
                reads[0] += 1
                time.sleep(0)  # yield the GIL now and then so the poller is not starved
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for thread in threads:
        thread.start()
    changes: list[frozenset[str]] = []
    client.on_change(changes.append)
    try:
        for i in range(6):
            server.update_flag("on-flag", filters=ROLLOUT_NONE if i % 2 == 0 else ROLLOUT_ALL)
            want = i % 2 == 1
            assert wait_until(lambda want=want: client.is_enabled("on-flag", "u") is want)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    assert not errors
    assert reads[0] > 100
    assert len(changes) >= 6


def test_close_stops_polling_and_is_idempotent(server: Any, make_client: MakeClient) -> None:
    client = make_client()
    assert client.wait_until_ready(timeout=10)
    client.close()
    client.close()
    assert client.status.state is State.CLOSED
    poller = client._network.poller
    assert poller is not None
    assert not poller._thread.is_alive()
    count = server.faults.count(DEFINITIONS)
    time.sleep(0.3)  # six poll intervals: none may happen
    assert server.faults.count(DEFINITIONS) == count
    # Getters still answer from the last definitions.
    assert client.is_enabled("on-flag", "u")
    assert client.wait_until_ready(timeout=0.01)


def test_close_returns_quickly_during_a_slow_request(server: Any, make_client: MakeClient) -> None:
    client = make_client(timeout=30.0)
    assert client.wait_until_ready(timeout=10)
    server.faults.delay(DEFINITIONS, 5.0)
    before = server.faults.count(DEFINITIONS)
    assert wait_until(lambda: server.faults.count(DEFINITIONS) > before)
    started = time.monotonic()
    client.close()
    assert time.monotonic() - started < 2.5
    assert client.status.state is State.CLOSED


def test_context_manager(server: Any) -> None:
    with Client(
        server.project_api_key,
        personal_api_key=server.personal_api_key,
        host=server.url,
        poll_interval=0.05,
    ) as client:
        assert client.wait_until_ready(timeout=10)
        assert client.is_enabled("on-flag", "u")
    assert client.status.state is State.CLOSED


def test_wait_until_ready_times_out(server: Any, make_client: MakeClient) -> None:
    server.faults.delay(DEFINITIONS, 0.6)
    client = make_client()
    started = time.monotonic()
    assert client.wait_until_ready(timeout=0.2) is False
    assert time.monotonic() - started < 0.55
    assert client.wait_until_ready(timeout=10) is True


def test_a_dropped_client_stops_its_thread(server: Any) -> None:
    client = Client(
        server.project_api_key,
        personal_api_key=server.personal_api_key,
        host=server.url,
        poll_interval=0.05,
    )
    assert client.wait_until_ready(timeout=10)
    poller = client._network.poller
    assert poller is not None
    del client
    gc.collect()
    assert wait_until(lambda: not poller._thread.is_alive())
