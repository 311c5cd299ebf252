"""$feature_flag_called exposure events: shape, de-duplication, delivery, fork (real HTTP)."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from client_helpers import ROLLOUT_ALL, wait_until

import flagkit
from flagkit._client.sync_client import Client
from flagkit._evaluation.result import Reason
from flagkit._events.exposures import FingerprintSet, exposure_fingerprint

MakeClient = Callable[..., Client]
BATCH = "/batch"
# Events wait in the queue until flush()/close() unless a test says otherwise.
HOLD = {"send_events": True, "only_evaluate_locally": True, "event_flush_interval": 60.0}

VARIANTS = {
    "groups": [{"properties": [], "rollout_percentage": 100}],
    "multivariate": {"variants": [{"key": "blue", "rollout_percentage": 100}]},
    "payloads": {"blue": '{"color": "#00f"}'},
}


@pytest.fixture
def events_client(server: Any, make_client: MakeClient) -> Callable[..., Client]:
    def make(**options: Any) -> Client:
        client = make_client(**{**HOLD, **options})
        assert client.wait_until_ready(timeout=10)
        return client

    return make


def _called(server: Any) -> list[dict[str, Any]]:
    return list(server.events("$feature_flag_called"))


def test_flag_read_sends_a_posthog_shaped_event(server: Any, events_client: Any) -> None:
    flag = server.create_flag("colors", VARIANTS)
    client = events_client()
    assert client.get_flag("colors", "user-1", groups={"company": "acme"}) == "blue"
    assert _called(server) == []  # held in the queue
    assert client.status.events_pending == 1
    assert client.flush(timeout=5)
    [event] = _called(server)
    assert event["distinct_id"] == "user-1"
    uuid.UUID(event["uuid"])
    assert datetime.fromisoformat(event["timestamp"]).tzinfo is not None
    props = event["properties"]
    assert props == {
        "$feature_flag": "colors",
        "$feature_flag_response": "blue",
        "locally_evaluated": True,
        "$feature/colors": "blue",
        "$feature_flag_payload": {"color": "#00f"},
        "$feature_flag_id": flag["id"],
        "$feature_flag_version": flag["version"],
        "$groups": {"company": "acme"},
        "$lib": "flagkit",
        "$lib_version": flagkit.__version__,
        "$geoip_disable": True,
    }
    assert server.faults.count(BATCH) == 1
    status = client.status
    assert (status.events_sent, status.events_dropped, status.events_pending) == (1, 0, 0)


def test_exposures_are_deduplicated(server: Any, events_client: Any) -> None:
    client = events_client()
    for _ in range(3):
        client.is_enabled("on-flag", "u1")
        client.evaluate("on-flag", "u1")
    client.is_enabled("on-flag", "u1", groups={"a": "1", "b": "2"})
    client.is_enabled("on-flag", "u1", groups={"b": "2", "a": "1"})  # same context
    client.is_enabled("on-flag", "u1", groups={"a": "9"})
    client.is_enabled("on-flag", "u2")
    client.is_enabled("off-flag", "u1")
    assert client.flush(timeout=5)
    seen = [
        (e["distinct_id"], e["properties"]["$feature_flag"], e["properties"].get("$groups"))
        for e in _called(server)
    ]
    assert seen == [
        ("u1", "on-flag", None),
        ("u1", "on-flag", {"a": "1", "b": "2"}),
        ("u1", "on-flag", {"a": "9"}),
        ("u2", "on-flag", None),
        ("u1", "off-flag", None),
    ]
    # A changed value is a new exposure.
    server.update_flag("on-flag", filters={"groups": [{"properties": [], "rollout_percentage": 0}]})
    assert wait_until(lambda: client.evaluate("on-flag", "u1", send_events=False).value is False)
    client.is_enabled("on-flag", "u1")
    assert client.flush(timeout=5)
    last = _called(server)[-1]["properties"]
    assert (last["$feature_flag"], last["$feature_flag_response"]) == ("on-flag", False)


def test_reads_with_odd_distinct_ids_never_raise_and_still_report(
    server: Any, events_client: Any
) -> None:
    client = events_client()
    # Typed str, but callers pass anything: a list cannot even be a dict key.
    odd: Any = ["u", 1]
    for _ in range(2):
        assert client.is_enabled("on-flag", odd) in (True, False)
        assert client.is_enabled("on-flag", 42) is True
    assert client.flush(timeout=5)
    reported = [e["distinct_id"] for e in _called(server)]
    assert reported.count("42") + reported.count(42) == 1  # de-duplicated as before


def test_concurrent_reads_report_each_exposure_once(server: Any, events_client: Any) -> None:
    client = events_client()
    start = threading.Barrier(8)

    def read() -> None:
        start.wait()
        for i in range(50):
            client.is_enabled("on-flag", f"user-{i}")

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert client.flush(timeout=5)
    ids = [e["distinct_id"] for e in _called(server)]
    assert sorted(ids) == sorted(f"user-{i}" for i in range(50))


def test_which_calls_send_events(server: Any, events_client: Any) -> None:
    client = events_client()
    client.is_enabled("on-flag", "a", send_events=False)
    client.get_flag("on-flag", "b", send_events=False)
    client.evaluate("on-flag", "c", send_events=False)
    client.get_payload("on-flag", "d")  # PostHog: no event by default
    client.get_all_flags("e")
    client.evaluate_all("f")
    assert client.status.events_pending == 0
    client.get_payload("on-flag", "g", send_events=True)
    client.evaluate("on-flag", "h")
    assert client.flush(timeout=5)
    assert [e["distinct_id"] for e in _called(server)] == ["g", "h"]


def test_client_wide_send_events_false(server: Any, events_client: Any) -> None:
    client = events_client(send_events=False)
    client.is_enabled("on-flag", "a")
    client.get_flag("on-flag", "b")
    assert client.flush(timeout=1)
    client.close()
    assert server.faults.count(BATCH) == 0
    assert _called(server) == []


def test_undecided_and_remote_reads_are_reported(server: Any, events_client: Any) -> None:
    server.create_flag("continuity", ROLLOUT_ALL, ensure_experience_continuity=True)
    client = events_client(only_evaluate_locally=False)
    assert client.evaluate("continuity", "r").reason is Reason.REMOTE
    assert client.evaluate("continuity", "l", only_evaluate_locally=True).value is None
    assert client.flush(timeout=5)
    remote, local = (e["properties"] for e in _called(server))
    assert remote["$feature_flag_response"] is True
    assert remote["locally_evaluated"] is False
    assert remote["$feature_flag_reason"] == "Matched condition set 1"
    assert isinstance(remote["$feature_flag_request_id"], str)
    assert local["$feature_flag_response"] is None
    assert local["locally_evaluated"] is False
    assert "$feature_flag_reason" not in local


def test_full_queue_drops_oldest_and_counts(server: Any, events_client: Any) -> None:
    client = events_client(event_queue_size=3)
    for i in range(5):
        client.is_enabled("on-flag", f"user-{i}")
    status = client.status
    assert (status.events_dropped, status.events_pending) == (2, 3)
    assert client.flush(timeout=5)
    assert [e["distinct_id"] for e in _called(server)] == ["user-2", "user-3", "user-4"]
    assert client.status.events_sent == 3


def test_server_errors_are_retried_then_delivered(server: Any, events_client: Any) -> None:
    client = events_client()
    server.faults.fail(BATCH, 503, times=2, headers={"Retry-After": "0"})
    client.is_enabled("on-flag", "u")
    assert client.flush(timeout=5)
    assert [e["distinct_id"] for e in _called(server)] == ["u"]
    assert server.faults.count(BATCH) == 3
    assert (client.status.events_sent, client.status.events_dropped) == (1, 0)


def test_rejected_batch_is_dropped_not_retried(server: Any, events_client: Any) -> None:
    client = events_client()
    server.faults.fail(BATCH, 400)
    client.is_enabled("on-flag", "u")
    assert client.flush(timeout=5)
    assert server.faults.count(BATCH) == 1
    assert (client.status.events_sent, client.status.events_dropped) == (0, 1)


def test_slow_delivery_never_blocks_reads(server: Any, events_client: Any) -> None:
    client = events_client(event_flush_interval=0.01)
    server.faults.delay(BATCH, 0.6)
    client.is_enabled("on-flag", "first")
    assert wait_until(lambda: server.faults.count(BATCH) == 1, timeout=5)  # stuck in flight
    started = time.monotonic()
    for i in range(200):
        client.is_enabled("on-flag", f"u{i}")
    assert time.monotonic() - started < 0.3
    assert client.flush(timeout=0.05) is False  # still in flight
    assert client.flush(timeout=5) is True
    assert len(_called(server)) == 201


def test_close_delivers_queued_events(server: Any, events_client: Any) -> None:
    client = events_client()
    client.is_enabled("on-flag", "a")
    client.get_flag("off-flag", "b")
    client.close()
    assert [e["distinct_id"] for e in _called(server)] == ["a", "b"]
    client.is_enabled("on-flag", "after-close")  # nothing is queued after close
    assert client.status.events_pending == 0


def test_close_gives_up_within_its_timeout(server: Any, events_client: Any) -> None:
    client = events_client(backoff_base=5.0, backoff_max=5.0)
    server.faults.fail(BATCH, 500, times=100)
    client.is_enabled("on-flag", "a")
    started = time.monotonic()
    client.close(timeout=0.3)
    assert time.monotonic() - started < 1.5
    assert client.status.events_dropped == 1


def test_close_with_server_gone_is_quick(server: Any, events_client: Any) -> None:
    client = events_client()
    client.is_enabled("on-flag", "a")
    server.stop()
    started = time.monotonic()
    client.close(timeout=5.0)
    assert time.monotonic() - started < 1.0  # refused connections are not retried on close
    assert client.status.events_dropped == 1


def test_offline_client_without_token_sends_nothing(server: Any) -> None:
    body = {"flags": [{"id": 1, "key": "f", "active": True, "filters": ROLLOUT_ALL}]}
    with Client(bootstrap=body, host=server.url) as client:
        assert client.is_enabled("f", "u") is True
        assert client.flush(timeout=1)
    assert server.faults.count(BATCH) == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_sends_its_own_events(server: Any, events_client: Any) -> None:
    client = events_client()
    client.is_enabled("on-flag", "parent")  # queued in the parent at fork time
    read_fd, write_fd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        report: dict[str, Any] = {}
        try:
            os.close(read_fd)
            report["inherited_pending"] = client.status.events_pending
            client.is_enabled("on-flag", "parent")  # already reported by the parent
            client.is_enabled("on-flag", "child")
            report["flushed"] = client.flush(timeout=5)
            report["sent"] = client.status.events_sent
            client.close()
        except BaseException as exc:
            report["error"] = repr(exc)
        finally:
            os.write(write_fd, json.dumps(report).encode() + b"\n")
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as reader:
        report = json.loads(reader.readline() or b"{}")
    os.waitpid(pid, 0)
    assert "error" not in report, report
    assert report == {"inherited_pending": 0, "flushed": True, "sent": 1}
    assert client.flush(timeout=5)
    assert sorted(e["distinct_id"] for e in _called(server)) == ["child", "parent"]


# -- the pure parts -----------------------------------------------------------------------------


def test_fingerprint_identity() -> None:
    base = exposure_fingerprint("u", "f", True, None)
    assert base == exposure_fingerprint("u", "f", True, {})
    assert base != exposure_fingerprint("u", "f", "True", None)
    assert base != exposure_fingerprint("u", "f", False, None)
    assert base != exposure_fingerprint("u", "f", None, None)
    assert base != exposure_fingerprint("u2", "f", True, None)
    assert exposure_fingerprint("u", "f", True, {"a": 1, "b": "x"}) == exposure_fingerprint(
        "u", "f", True, {"b": "x", "a": "1"}
    )
    assert 0 < base < 2**64


def test_fingerprint_set_is_bounded_and_forgets_oldest_first() -> None:
    table = FingerprintSet(8)  # one bucket of eight slots
    assert (table.capacity, table.memory_bytes) == (8, 64)
    assert all(table.add(n) for n in range(1, 9))
    assert not table.add(5)
    assert table.add(9)  # evicts 1, the oldest
    assert 1 not in table
    assert all(n in table for n in range(2, 10))
    assert FingerprintSet(1 << 20).memory_bytes == 8 * 1024 * 1024
    with pytest.raises(ValueError, match="at least 8"):
        FingerprintSet(4)
