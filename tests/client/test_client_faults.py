"""The Client against LocalServer fault injection: every failure keeps the last good
definitions, is reported in ``status``, and is recovered from when the fault ends."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from client_helpers import DEFINITIONS, ROLLOUT_ALL, wait_until

from flagkit import Reason
from flagkit._client.sync_client import Client
from flagkit._status import State

MakeClient = Callable[..., Client]
FOREVER = 100_000


def ready_client(make_client: MakeClient, **options: Any) -> Client:
    client = make_client(**options)
    assert client.wait_until_ready(timeout=10)
    assert client.is_enabled("on-flag", "u")
    return client


def assert_recovers(client: Client, server: Any) -> None:
    """End the fault (faults are queued "forever" so that the failure state can be seen
    without racing the retry) and check that the client comes back."""
    server.faults.clear()
    assert wait_until(lambda: client.status.state is State.VALID), client.status
    assert client.status.consecutive_failures == 0
    assert client.status.last_error is None
    assert client.is_enabled("on-flag", "u")


@pytest.mark.parametrize("status", [500, 502, 503, 504, 404, 400])
def test_error_status_keeps_last_good(server: Any, make_client: MakeClient, status: int) -> None:
    client = ready_client(make_client)
    server.faults.fail(DEFINITIONS, status=status, times=FOREVER)
    assert wait_until(lambda: client.status.state is State.STALE), client.status
    current = client.status
    assert current.last_error is not None
    assert str(status) in current.last_error
    assert current.consecutive_failures >= 1
    assert current.ready
    assert client.is_enabled("on-flag", "u")
    assert client.evaluate("on-flag", "u").reason is Reason.CONDITION_MATCH
    assert_recovers(client, server)


@pytest.mark.parametrize("status", [401, 403])
def test_unauthorized_keeps_serving_and_logs_once(
    server: Any, make_client: MakeClient, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    client = ready_client(make_client)
    with caplog.at_level(logging.WARNING, logger="flagkit.client"):
        server.faults.fail(DEFINITIONS, status=status, times=FOREVER)
        assert wait_until(lambda: client.status.state is State.UNAUTHORIZED)
        assert wait_until(lambda: client.status.consecutive_failures >= 3)
        assert client.is_enabled("on-flag", "u")
        assert_recovers(client, server)
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(loud) == 1
    assert "refused the API key" in loud[0].getMessage()


def test_wrong_key_at_start_is_unauthorized_and_wait_returns_early(
    server: Any, make_client: MakeClient
) -> None:
    client = make_client(personal_api_key="phx_definitely_not_valid_123")
    started = time.monotonic()
    assert client.wait_until_ready(timeout=10) is False
    assert time.monotonic() - started < 5
    assert client.status.state is State.UNAUTHORIZED
    assert client.evaluate("on-flag", "u").reason is Reason.NOT_READY
    assert "phx_definitely_not_valid_123" not in repr(client)
    assert "phx_definitely_not_valid_123" not in str(client.status)


def test_quota_limited_clears_definitions_by_default(server: Any, make_client: MakeClient) -> None:
    client = ready_client(make_client)
    changes: list[frozenset[str]] = []
    client.on_change(changes.append)
    server.faults.fail(DEFINITIONS, status=402, times=FOREVER)
    assert wait_until(lambda: client.status.state is State.QUOTA_LIMITED)
    assert wait_until(lambda: not client.is_enabled("on-flag", "u"))
    assert client.evaluate("on-flag", "u").reason is Reason.FLAG_NOT_FOUND
    assert client.is_enabled("on-flag", "u", default=True) is True
    assert wait_until(lambda: bool(changes))
    assert changes[0] >= {"on-flag", "off-flag"}
    assert_recovers(client, server)


def test_quota_limited_keep_option(server: Any, make_client: MakeClient) -> None:
    client = ready_client(make_client, on_quota_limited="keep")
    server.faults.fail(DEFINITIONS, status=402, times=FOREVER)
    assert wait_until(lambda: client.status.state is State.QUOTA_LIMITED)
    assert client.is_enabled("on-flag", "u")
    assert_recovers(client, server)


def test_timeout(server: Any, make_client: MakeClient) -> None:
    client = ready_client(make_client, timeout=0.1)
    server.faults.delay(DEFINITIONS, 0.5, times=FOREVER)
    assert wait_until(lambda: client.status.state is State.STALE)
    assert "timed out" in (client.status.last_error or "")
    assert client.is_enabled("on-flag", "u")
    assert_recovers(client, server)


def test_dropped_connection(server: Any, make_client: MakeClient) -> None:
    client = ready_client(make_client)
    server.faults.drop(DEFINITIONS, times=FOREVER)
    assert wait_until(lambda: client.status.state is State.STALE)
    assert "connection" in (client.status.last_error or "")
    assert client.is_enabled("on-flag", "u")
    assert_recovers(client, server)


def test_truncated_body(server: Any, make_client: MakeClient) -> None:
    client = ready_client(make_client)
    # A 304 has no body to truncate, so change a flag: the next answers are truncated 200s.
    server.faults.truncate(DEFINITIONS, times=FOREVER)
    server.update_flag("off-flag", filters=ROLLOUT_ALL)
    assert wait_until(lambda: client.status.state is State.STALE)
    assert client.status.consecutive_failures >= 1
    assert client.is_enabled("on-flag", "u")
    assert not client.is_enabled("off-flag", "u")  # the half-received update was not used
    assert_recovers(client, server)
    assert wait_until(lambda: client.is_enabled("off-flag", "u"))


def test_truncated_body_before_first_load(server: Any, make_client: MakeClient) -> None:
    server.faults.truncate(DEFINITIONS, times=2)
    client = make_client()
    assert client.wait_until_ready(timeout=10)
    assert server.faults.count(DEFINITIONS) >= 3
    assert client.is_enabled("on-flag", "u")


def test_invalid_json(server: Any, make_client: MakeClient) -> None:
    client = ready_client(make_client)
    server.faults.invalid_json(DEFINITIONS, times=FOREVER)
    assert wait_until(lambda: client.status.state is State.STALE)
    assert "invalid definitions" in (client.status.last_error or "")
    assert client.is_enabled("on-flag", "u")
    assert_recovers(client, server)


def test_invalid_json_before_first_load(server: Any, make_client: MakeClient) -> None:
    server.faults.invalid_json(DEFINITIONS, times=1)
    client = make_client()
    assert client.wait_until_ready(timeout=10)
    assert client.is_enabled("on-flag", "u")


def test_50mb_body_is_downloaded_parsed_and_refused_without_harm(
    server: Any, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    # LocalServer's huge body is a valid 50 MB JSON object without a "flags" list: the client
    # must read and parse all of it, refuse it, keep serving, and recover.
    client = ready_client(make_client, timeout=30.0)
    with caplog.at_level(logging.WARNING, logger="flagkit.client"):
        server.faults.huge_body(DEFINITIONS, 50 * 1024 * 1024, times=1)
        assert wait_until(lambda: "no 'flags' list" in caplog.text, timeout=30)
        assert client.is_enabled("on-flag", "u")
        assert_recovers(client, server)
    assert "52428800 bytes" in caplog.text


def test_body_over_max_body_bytes_is_refused(server: Any, make_client: MakeClient) -> None:
    client = ready_client(make_client, max_body_bytes=1024 * 1024)
    server.faults.huge_body(DEFINITIONS, 2 * 1024 * 1024, times=FOREVER)
    assert wait_until(lambda: client.status.state is State.STALE)
    assert "max_body_bytes" in (client.status.last_error or "")
    assert client.is_enabled("on-flag", "u")
    assert_recovers(client, server)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(server: Any, make_client: MakeClient, status: int) -> None:
    client = ready_client(make_client)
    server.faults.fail(DEFINITIONS, status=status, times=1, headers={"Retry-After": "1"})
    assert wait_until(lambda: client.status.state is State.STALE)
    failed_at = time.monotonic()
    after_failure = server.faults.count(DEFINITIONS)
    # Normal polling here is every 0.05 s and backoff at most 0.05 s, so only Retry-After
    # explains a quiet second.
    time.sleep(0.6)
    assert server.faults.count(DEFINITIONS) == after_failure
    assert wait_until(lambda: client.status.state is State.VALID)
    assert time.monotonic() - failed_at >= 0.6


def test_server_down_at_start_then_up(server: Any, make_client: MakeClient) -> None:
    server.faults.fail(DEFINITIONS, status=503, times=3)
    client = make_client()
    assert client.wait_until_ready(timeout=10)
    assert client.status.state is State.VALID
    assert client.is_enabled("on-flag", "u")


def test_disk_cache_serves_across_a_restart_during_an_outage(
    server: Any, make_client: MakeClient, tmp_path: Path
) -> None:
    cache = tmp_path / "flags.cache"
    first = ready_client(make_client, cache_path=cache)
    assert wait_until(cache.exists)
    etag = first.status.etag
    first.close()
    keys = {"project_api_key": server.project_api_key, "personal_api_key": server.personal_api_key}
    url = server.url
    server.stop()

    second = make_client(cache_path=cache, host=url, **keys)
    # Served from disk before any request has finished.
    assert second.is_enabled("on-flag", "u")
    assert second.status.source == "disk cache"
    assert second.status.etag == etag
    assert second.wait_until_ready(timeout=10)
    assert wait_until(lambda: second.status.state is State.STALE)
    assert second.status.last_error
    assert second.status.age is not None
    assert second.is_enabled("on-flag", "u")
    assert not second.is_enabled("off-flag", "u", default=True)


def test_disk_cache_etag_gives_304_on_restart(
    server: Any, make_client: MakeClient, tmp_path: Path
) -> None:
    cache = tmp_path / "flags.cache"
    first = ready_client(make_client, cache_path=cache)
    assert wait_until(cache.exists)
    first.close()
    written = cache.stat().st_mtime_ns
    second = ready_client(make_client, cache_path=cache)
    assert wait_until(lambda: second.status.state is State.VALID)
    assert second.status.source == "disk cache"  # a 304 confirmed what was on disk
    assert cache.stat().st_mtime_ns == written


def test_corrupt_disk_cache_is_ignored(
    server: Any, make_client: MakeClient, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "flags.cache"
    cache.write_bytes(b"\x00garbage")
    with caplog.at_level(logging.WARNING, logger="flagkit.client"):
        client = ready_client(make_client, cache_path=cache)
    assert "ignoring definitions cache" in caplog.text
    assert wait_until(lambda: cache.read_bytes().startswith(b"{"))
    assert client.status.source == "network"


def test_keys_never_reach_logs_or_status(
    server: Any, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    secrets = (server.project_api_key, "phx_wrong_key_for_redaction_test")
    with caplog.at_level(logging.DEBUG):  # root: includes httpx's request log lines
        client = make_client(personal_api_key=secrets[1])
        assert not client.wait_until_ready(timeout=10)
        url = server.url
        server.stop()
        bad_host = make_client(project_api_key=secrets[0], personal_api_key=secrets[1], host=url)
        assert wait_until(lambda: bad_host.status.last_error is not None)
    assert "HTTP Request" in caplog.text  # httpx did log the URL, token redacted
    texts = [caplog.text, repr(client), repr(bad_host), str(client.status), str(bad_host.status)]
    for text in texts:
        for secret in secrets:
            assert secret not in text
