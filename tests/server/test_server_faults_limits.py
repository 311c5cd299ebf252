"""Fault injection (every kind), request counts, and PostHog-style rate limits."""

from __future__ import annotations

import logging
import threading
import time

import httpx
import pytest
from server_helpers import HTTP, error

from flagkit.server import LocalServer


def test_fail_with_default_and_custom_bodies(local_server: LocalServer, api: httpx.Client) -> None:
    path = f"/api/projects/{local_server.project_id}/feature_flags/"
    local_server.faults.fail(path, 503, times=2)
    local_server.faults.fail(path, 429, body={"detail": "slow down"}, headers={"Retry-After": "7"})
    first, second, third, fourth = (api.get(path) for _ in range(4))
    assert (first.status_code, second.status_code) == (503, 503)
    assert error(first)["type"] == "server_error"
    assert third.status_code == 429
    assert third.json() == {"detail": "slow down"}
    assert third.headers["retry-after"] == "7"
    assert fourth.status_code == 200
    assert local_server.faults.count(path) == 4
    assert local_server.faults.count(path.rstrip("/")) == 4  # trailing slash does not matter


def test_plain_text_failure_body(local_server: LocalServer) -> None:
    local_server.faults.fail("/flags", 500, body="upstream exploded")
    response = HTTP.post(f"{local_server.url}/flags/?v=2", json={})
    assert response.status_code == 500
    assert response.text == "upstream exploded"
    assert response.headers["content-type"].startswith("text/plain")


def test_delay(local_server: LocalServer) -> None:
    local_server.faults.delay("/flags/definitions", 0.3)
    started = time.monotonic()
    HTTP.get(f"{local_server.url}/flags/definitions")
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    HTTP.get(f"{local_server.url}/flags/definitions")
    assert time.monotonic() - started < 0.3


def test_drop_closes_without_a_response(local_server: LocalServer) -> None:
    local_server.faults.drop("/flags/definitions")
    with pytest.raises(httpx.RemoteProtocolError):
        HTTP.get(f"{local_server.url}/flags/definitions")
    assert HTTP.get(f"{local_server.url}/flags/definitions").status_code == 401


def test_truncate_sends_half_a_body(local_server: LocalServer, api: httpx.Client) -> None:
    path = f"/api/projects/{local_server.project_id}/feature_flags/"
    local_server.faults.truncate(path)
    with pytest.raises(httpx.RemoteProtocolError):
        api.get(path)
    assert api.get(path).status_code == 200


def test_invalid_json_and_huge_body(local_server: LocalServer, api: httpx.Client) -> None:
    path = f"/api/projects/{local_server.project_id}/feature_flags"
    local_server.faults.invalid_json(path)
    broken = api.get(path)
    assert broken.status_code == 200
    assert broken.headers["content-type"] == "application/json"
    with pytest.raises(ValueError):
        broken.json()
    local_server.faults.huge_body(path, 3_000_000)
    huge = api.get(path)
    assert len(huge.content) == 3_000_000
    assert set(huge.json()) == {"padding"}


def test_clear_and_counts(local_server: LocalServer) -> None:
    faults = local_server.faults
    faults.fail("/flags", 500, times=3)
    assert faults.pending("/flags/") == 3
    HTTP.post(f"{local_server.url}/flags", json={})
    assert faults.counts() == {"/flags": 1}
    faults.clear()
    assert faults.pending("/flags") == 0
    assert faults.count("/flags") == 0
    with pytest.raises(ValueError):
        faults.fail("/flags", times=0)


def test_generous_defaults_do_not_throttle(local_server: LocalServer, api: httpx.Client) -> None:
    path = f"/api/projects/{local_server.project_id}/feature_flags/"
    assert all(api.get(path).status_code == 200 for _ in range(60))


def test_burst_limit_gives_429_with_retry_after() -> None:
    with LocalServer(rate_limits={"burst": "3/minute"}) as server:
        headers = {"Authorization": f"Bearer {server.personal_api_key}"}
        url = f"{server.url}/api/projects/{server.project_id}/feature_flags/"
        statuses = [HTTP.get(url, headers=headers).status_code for _ in range(3)]
        assert statuses == [200, 200, 200]
        throttled = HTTP.get(url, headers=headers)
        assert throttled.status_code == 429
        body = error(throttled)
        assert (body["type"], body["code"]) == ("throttled_error", "throttled")
        assert body["detail"].startswith("Request was throttled. Expected available in ")
        assert 1 <= int(throttled.headers["retry-after"]) <= 60
        # another key has its own budget
        other = server.create_personal_api_key()
        assert HTTP.get(url, headers={"Authorization": f"Bearer {other}"}).status_code == 200
        server.reset_rate_limits()
        assert HTTP.get(url, headers=headers).status_code == 200


def test_local_evaluation_limit_is_per_project() -> None:
    with LocalServer(rate_limits={"local_evaluation": "2/minute"}) as server:
        headers = {"Authorization": f"Bearer {server.secret_api_key}"}
        url = f"{server.url}/flags/definitions?token={server.project_api_key}"
        assert [HTTP.get(url, headers=headers).status_code for _ in range(2)] == [200, 200]
        limited = HTTP.get(url, headers=headers)
        assert limited.status_code == 429
        assert limited.json() == {
            "type": "validation_error",
            "code": "rate_limit_exceeded",
            "detail": "Rate limit exceeded",
            "attr": None,
        }
        assert "retry-after" in limited.headers


def test_bad_rate_limit_configuration() -> None:
    with pytest.raises(ValueError):
        LocalServer(rate_limits={"nonsense": "1/minute"})
    with pytest.raises(ValueError):
        LocalServer(rate_limits={"burst": "lots"})


def test_stop_during_a_delayed_request_is_quiet(caplog: pytest.LogCaptureFixture) -> None:
    server = LocalServer().start()
    path = f"/api/projects/{server.project_id}/feature_flags/"
    server.faults.delay(path, 0.4)
    outcome: list[object] = []

    def slow_request() -> None:
        try:
            response = HTTP.get(
                server.url + path, headers={"Authorization": f"Bearer {server.personal_api_key}"}
            )
            outcome.append(response.status_code)
        except httpx.HTTPError as problem:
            outcome.append(type(problem))

    worker = threading.Thread(target=slow_request)
    with caplog.at_level(logging.ERROR, logger="flagkit.server"):
        worker.start()
        time.sleep(0.1)
        server.stop()
        worker.join()
        time.sleep(0.4)  # let the held handler finish against the closed database
    assert outcome
    assert outcome[0] != 200
    assert not [r for r in caplog.records if "handler error" in r.getMessage()]
