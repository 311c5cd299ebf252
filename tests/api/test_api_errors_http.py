"""Every error type of flagkit.api, produced by a real LocalServer over HTTP."""

from __future__ import annotations

import socket

import pytest

from flagkit.api import (
    ApiConnectionError,
    AuthenticationError,
    FeatureFlagsAPI,
    InvalidResponseError,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    ValidationError,
)
from flagkit.api._validation import MSG_KEY_CHARS, MSG_VARIANT_SUM
from flagkit.server import LocalServer

BAD_KEY = "phx_not_a_real_key_1234567890abcdef"


def flags_path(server: LocalServer, suffix: str = "") -> str:
    return f"/api/projects/{server.project_id}/feature_flags/{suffix}"


def test_wrong_key_is_an_authentication_error_without_the_key(server: LocalServer) -> None:
    with (
        FeatureFlagsAPI(server.url, BAD_KEY, server.project_id) as api,
        pytest.raises(AuthenticationError) as info,
    ):
        api.flags.list()
    err = info.value
    assert err.status == 401
    assert BAD_KEY not in str(err)
    assert BAD_KEY not in repr(err)
    assert "POSTHOG_PERSONAL_API_KEY" in str(err)


def test_key_without_scope_is_permission_denied(server: LocalServer, key: str) -> None:
    read_only = server.create_personal_api_key(scopes=["feature_flag:read"])
    with FeatureFlagsAPI(server.url, read_only, server.project_id) as api:
        api.flags.list()  # reading is allowed
        with pytest.raises(PermissionDenied) as info:
            api.flags.create(key, rollout_percentage=1)
    assert info.value.status == 403
    assert "feature_flag:write" in info.value.detail
    assert read_only not in str(info.value)


def test_unknown_ids_are_not_found(api: FeatureFlagsAPI) -> None:
    with pytest.raises(NotFound) as info:
        api.flags.get(99999999)
    assert info.value.status == 404
    assert "project id" in str(info.value)
    with pytest.raises(NotFound):
        api.flags.get_by_key("no-such-flag-anywhere")
    with pytest.raises(NotFound):
        api.persons.get(99999999)


def test_server_validation_error_carries_attr_and_detail(api: FeatureFlagsAPI, key: str) -> None:
    api.flags.create(key, rollout_percentage=1)
    with pytest.raises(ValidationError) as info:
        api.flags.create(key, rollout_percentage=1)
    err = info.value
    assert (err.status, err.attr, err.code) == (400, "key", "unique")
    assert err.detail == "There is already a feature flag with this key."


def test_client_checks_match_the_server_and_send_nothing(
    api: FeatureFlagsAPI, server: LocalServer
) -> None:
    path = flags_path(server)
    before = server.faults.count(path)
    with pytest.raises(ValidationError) as local_key:
        api.flags.create("bad key!", rollout_percentage=1)
    variants = [{"key": "a", "rollout_percentage": 60}, {"key": "b", "rollout_percentage": 30}]
    with pytest.raises(ValidationError) as local_sum:
        api.flags.create("ok-key-sum", variants=variants, rollout_percentage=100)
    assert server.faults.count(path) == before  # nothing was sent
    assert local_key.value.status is None
    assert local_key.value.detail == MSG_KEY_CHARS
    assert local_sum.value.detail == MSG_VARIANT_SUM

    # With the checks off, the server answers the same attr and detail.
    with FeatureFlagsAPI(
        server.url, server.personal_api_key, server.project_id, validate=False
    ) as raw:
        with pytest.raises(ValidationError) as remote_key:
            raw.flags.create("bad key!", rollout_percentage=1)
        with pytest.raises(ValidationError) as remote_sum:
            raw.flags.create("ok-key-sum", variants=variants, rollout_percentage=100)
    assert remote_key.value.status == 400
    assert (remote_key.value.attr, remote_key.value.detail) == ("key", local_key.value.detail)
    assert remote_sum.value.detail == local_sum.value.detail


def test_reads_retry_429_honouring_retry_after(api: FeatureFlagsAPI, server: LocalServer) -> None:
    path = flags_path(server)
    server.faults.fail(path, 429, times=1, headers={"Retry-After": "0"})
    before = server.faults.count(path)
    api.flags.list()
    assert server.faults.count(path) == before + 2


def test_long_retry_after_raises_rate_limited_at_once(
    api: FeatureFlagsAPI, server: LocalServer
) -> None:
    path = flags_path(server)
    body = {
        "type": "throttled_error",
        "code": "throttled",
        "detail": "Request was throttled. Expected available in 3600 seconds.",
        "attr": None,
    }
    server.faults.fail(path, 429, times=5, body=body, headers={"Retry-After": "3600"})
    before = server.faults.count(path)
    with pytest.raises(RateLimited) as info:
        api.flags.list()
    assert info.value.retry_after == 3600
    assert server.faults.count(path) == before + 1


def test_real_rate_limit_of_the_server() -> None:
    with (
        LocalServer(rate_limits={"burst": "2/minute"}) as limited,
        FeatureFlagsAPI(
            limited.url, limited.personal_api_key, limited.project_id, max_retries=0
        ) as api,
    ):
        api.flags.list()
        api.flags.list()
        with pytest.raises(RateLimited) as info:
            api.flags.list()
    assert info.value.status == 429
    assert info.value.retry_after is not None


def test_reads_retry_5xx_then_raise_server_error(api: FeatureFlagsAPI, server: LocalServer) -> None:
    path = flags_path(server)
    server.faults.fail(path, 503, times=10)
    before = server.faults.count(path)
    with pytest.raises(ServerError) as info:
        api.flags.list()
    assert info.value.status == 503
    assert server.faults.count(path) == before + 3  # max_retries=2


def test_writes_are_not_retried_on_5xx(api: FeatureFlagsAPI, server: LocalServer, key: str) -> None:
    path = flags_path(server)
    server.faults.fail(path, 500, times=1)
    before = server.faults.count(path)
    with pytest.raises(ServerError):
        api.flags.create(key, rollout_percentage=1)
    assert server.faults.count(path) == before + 1
    server.faults.clear()
    assert key not in {f.key for f in api.flags.iter_all()}


def test_dropped_and_truncated_reads_are_retried(api: FeatureFlagsAPI, server: LocalServer) -> None:
    path = flags_path(server)
    server.faults.drop(path, times=1)
    api.flags.list()
    server.faults.truncate(path, times=1)
    api.flags.list()


def test_dropped_write_is_a_connection_error(
    api: FeatureFlagsAPI, server: LocalServer, key: str
) -> None:
    path = flags_path(server)
    server.faults.drop(path, times=1)
    before = server.faults.count(path)
    with pytest.raises(ApiConnectionError):
        api.flags.create(key, rollout_percentage=1)
    assert server.faults.count(path) == before + 1


def test_unreachable_host_is_a_connection_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with (
        FeatureFlagsAPI(f"http://127.0.0.1:{port}", BAD_KEY, 1, backoff=0.01) as api,
        pytest.raises(ApiConnectionError) as info,
    ):
        api.flags.list()
    assert "POSTHOG_HOST" in str(info.value)
    assert BAD_KEY not in str(info.value)


def test_non_json_success_is_an_invalid_response(api: FeatureFlagsAPI, server: LocalServer) -> None:
    server.faults.invalid_json(flags_path(server), times=1)
    with pytest.raises(InvalidResponseError):
        api.flags.list()
