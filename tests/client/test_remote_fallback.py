"""Remote /flags fallback for flags local evaluation cannot decide (real HTTP throughout)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from client_helpers import ROLLOUT_ALL

from flagkit._client.sync_client import Client
from flagkit._evaluation.result import FlagResult, Reason
from flagkit._remote.fallback import (
    RemoteAnswer,
    RemoteFailure,
    build_flags_request,
    parse_flags_response,
    resolve_results,
)

MakeClient = Callable[..., Client]
FLAGS = "/flags"
REMOTE = {"only_evaluate_locally": False, "send_events": False}


def _cohort_filter(cohort_id: int) -> dict[str, Any]:
    return {
        "groups": [
            {
                "properties": [{"key": "id", "type": "cohort", "value": cohort_id}],
                "rollout_percentage": 100,
            }
        ],
        "payloads": {"true": '{"tier": "beta"}'},
    }


PLAN_PRO = {
    "groups": [
        {
            "properties": [{"key": "plan", "type": "person", "value": "pro", "operator": "exact"}],
            "rollout_percentage": 100,
        }
    ]
}


@pytest.fixture
def remote_server(server: Any) -> Any:
    """The shared server plus flags that need PostHog's servers, and their persons."""
    server.add_person("alice", {"plan": "pro"})
    server.add_person("bob", {"plan": "free"})
    cohort = server.add_cohort("beta", static_members=["alice"])
    server.create_flag("static-cohort", _cohort_filter(cohort["id"]))
    server.create_flag("continuity", ROLLOUT_ALL, ensure_experience_continuity=True)
    server.create_flag("pro-only", PLAN_PRO)
    return server


@pytest.fixture
def ready(remote_server: Any, make_client: MakeClient) -> Callable[..., Client]:
    def make(**options: Any) -> Client:
        client = make_client(**{**REMOTE, **options})
        assert client.wait_until_ready(timeout=10)
        remote_server.faults.clear()  # count only what the test does
        return client

    return make


def test_static_cohort_flag_is_resolved_remotely(remote_server: Any, ready: Any) -> None:
    client = ready()
    local = client.evaluate("static-cohort", "alice", only_evaluate_locally=True)
    assert (local.value, local.reason) == (None, Reason.REQUIRES_SERVER)
    assert remote_server.faults.count(FLAGS) == 0

    member = client.evaluate("static-cohort", "alice")
    assert (member.value, member.reason) == (True, Reason.REMOTE)
    assert member.payload == {"tier": "beta"}
    assert member.description == "Matched condition set 1"
    assert member.condition_index == 0
    assert member.flag_id is not None
    assert member.flag_version == 1
    outsider = client.evaluate("static-cohort", "bob")
    assert (outsider.value, outsider.reason) == (False, Reason.REMOTE)
    assert client.is_enabled("static-cohort", "alice") is True
    assert client.get_flag("static-cohort", "bob", default="x") is False
    assert remote_server.faults.count(FLAGS) == 4
    assert client.status.remote_requests == 4
    assert client.status.remote_errors == 0


def test_experience_continuity_and_missing_property_go_remote(
    remote_server: Any, ready: Any
) -> None:
    client = ready()
    assert client.evaluate("continuity", "anyone").reason is Reason.REMOTE
    # The server knows alice's plan from her stored person; locally it is missing.
    result = client.evaluate("pro-only", "alice")
    assert (result.value, result.reason) == (True, Reason.REMOTE)
    assert remote_server.faults.count(FLAGS) == 2
    # With the property passed, the flag is decided locally: no request.
    local = client.evaluate("pro-only", "alice", person_properties={"plan": "free"})
    assert (local.value, local.reason) == (False, Reason.NO_CONDITION_MATCH)
    assert remote_server.faults.count(FLAGS) == 2


def test_only_evaluate_locally_per_call_and_client_wide(remote_server: Any, ready: Any) -> None:
    per_call = ready()
    assert per_call.get_flag("continuity", "u", only_evaluate_locally=True, default="d") == "d"
    assert per_call.get_all_flags("alice", only_evaluate_locally=True) == {
        "on-flag": True,
        "off-flag": False,
    }
    assert remote_server.faults.count(FLAGS) == 0

    wide = ready(only_evaluate_locally=True)
    result = wide.evaluate("continuity", "u")
    assert (result.value, result.reason) == (None, Reason.REQUIRES_SERVER)
    assert wide.is_enabled("static-cohort", "alice", default=True) is True  # the default
    assert "static-cohort" not in wide.get_all_flags("alice")
    assert remote_server.faults.count(FLAGS) == 0
    # An explicit per-call False overrides the client-wide setting.
    assert wide.evaluate("continuity", "u", only_evaluate_locally=False).reason is Reason.REMOTE
    assert remote_server.faults.count(FLAGS) == 1


def test_get_all_flags_makes_one_request_for_all_undecidable_flags(
    remote_server: Any, ready: Any
) -> None:
    client = ready()
    flags = client.get_all_flags("alice")
    assert flags == {
        "on-flag": True,
        "off-flag": False,
        "static-cohort": True,
        "continuity": True,
        "pro-only": True,
    }
    assert remote_server.faults.count(FLAGS) == 1
    results = client.evaluate_all("bob")
    assert results["static-cohort"].reason is Reason.REMOTE
    assert results["on-flag"].reason is Reason.CONDITION_MATCH  # local answers stay local
    assert remote_server.faults.count(FLAGS) == 2


def test_unknown_flag_asks_remote_and_stays_not_found(remote_server: Any, ready: Any) -> None:
    client = ready()
    result = client.evaluate("no-such-flag", "alice")
    assert (result.value, result.reason) == (None, Reason.FLAG_NOT_FOUND)
    assert client.get_flag("no-such-flag", "alice", default="dflt") == "dflt"
    assert remote_server.faults.count(FLAGS) == 2


def test_not_ready_goes_remote(remote_server: Any, make_client: MakeClient) -> None:
    remote_server.faults.delay("/flags/definitions", 0.5)
    client = make_client(**REMOTE)
    assert client.snapshot is None
    assert client.evaluate("static-cohort", "alice").reason is Reason.REMOTE
    remote_server.faults.clear()
    flags = client.get_all_flags("alice")
    assert flags["static-cohort"] is True
    assert flags["on-flag"] is True
    assert remote_server.faults.count(FLAGS) == 1


def test_502_is_retried_once_then_succeeds(remote_server: Any, ready: Any) -> None:
    client = ready()
    remote_server.faults.fail(FLAGS, 502)
    assert client.evaluate("continuity", "u").reason is Reason.REMOTE
    assert remote_server.faults.count(FLAGS) == 2


def test_504_twice_gives_default_after_exactly_one_retry(remote_server: Any, ready: Any) -> None:
    client = ready()
    remote_server.faults.fail(FLAGS, 504, times=2)
    result = client.evaluate("continuity", "u")
    assert (result.value, result.reason) == (None, Reason.REMOTE_ERROR)
    assert result.description.startswith("api_error_504")
    assert remote_server.faults.count(FLAGS) == 2


def test_500_gives_default_with_remote_error(remote_server: Any, ready: Any) -> None:
    client = ready()
    remote_server.faults.fail(FLAGS, 500, times=3)
    result = client.evaluate("continuity", "u")
    assert result.reason is Reason.REMOTE_ERROR
    assert "api_error_500" in result.description
    assert "HTTP 500" in result.description
    # The next reads fall in the pause that follows a failure: the default, no request.
    assert client.is_enabled("continuity", "u") is False
    assert client.is_enabled("continuity", "u", default=True) is True
    assert remote_server.faults.count(FLAGS) == 1  # 500 is not retried
    assert client.status.remote_errors == 1


def test_error_text_never_shows_the_token(remote_server: Any, ready: Any) -> None:
    client = ready()
    token = remote_server.project_api_key
    remote_server.faults.fail(FLAGS, 400, body={"detail": f"token {token} is not allowed"})
    result = client.evaluate("continuity", "u")
    assert result.reason is Reason.REMOTE_ERROR
    assert token not in result.description
    assert "[REDACTED]" in result.description


def test_quota_limited_gives_default(remote_server: Any, ready: Any) -> None:
    client = ready(poll_interval=60.0, on_quota_limited="keep")
    remote_server.set_quota_limited()
    result = client.evaluate("static-cohort", "alice")
    assert (result.value, result.reason) == (None, Reason.REMOTE_ERROR)
    assert result.description.startswith("quota_limited")
    assert client.get_flag("static-cohort", "alice", default="off") == "off"
    assert client.evaluate("on-flag", "alice").value is True  # local answers unaffected


def test_flag_the_server_could_not_evaluate_is_a_remote_error(
    remote_server: Any, ready: Any
) -> None:
    # A group flag whose group type is unknown: undecidable locally, failed on the server.
    remote_server.create_flag("group-flag", {**ROLLOUT_ALL, "aggregation_group_type_index": 3})
    client = ready()
    result = client.evaluate("group-flag", "alice", groups={"company": "acme"})
    assert (result.value, result.reason) == (None, Reason.REMOTE_ERROR)
    assert result.description.startswith("evaluation_failed")


def test_slow_server_is_bounded_by_remote_timeout(remote_server: Any, ready: Any) -> None:
    client = ready(remote_timeout=0.3)
    remote_server.faults.delay(FLAGS, 1.0)
    started = time.monotonic()
    result = client.evaluate("continuity", "u")
    elapsed = time.monotonic() - started
    assert (result.value, result.reason) == (None, Reason.REMOTE_ERROR)
    assert result.description.startswith("timeout")
    assert elapsed < 0.9
    assert remote_server.faults.count(FLAGS) == 1  # a timeout used the whole budget


def test_unreachable_server_never_raises(remote_server: Any, ready: Any) -> None:
    client = ready(poll_interval=60.0)
    remote_server.stop()
    started = time.monotonic()
    result = client.evaluate("continuity", "u")
    assert result.reason is Reason.REMOTE_ERROR
    assert result.description.startswith("connection_error")
    assert client.get_all_flags("u") == {"on-flag": True, "off-flag": False}
    assert time.monotonic() - started < 2


def test_closed_client_does_not_go_remote(remote_server: Any, ready: Any) -> None:
    client = ready()
    client.close()
    assert client.evaluate("continuity", "u").reason is Reason.REQUIRES_SERVER
    assert remote_server.faults.count(FLAGS) == 0


def test_offline_without_project_key_never_goes_remote(remote_server: Any) -> None:
    body = {
        "flags": [
            {
                "id": 1,
                "key": "c",
                "active": True,
                "ensure_experience_continuity": True,
                "filters": ROLLOUT_ALL,
            }
        ]
    }
    offline = Client(bootstrap=body, host=remote_server.url)
    try:
        assert offline.evaluate("c", "u").reason is Reason.REQUIRES_SERVER
        assert offline.evaluate("missing", "u").reason is Reason.FLAG_NOT_FOUND
    finally:
        offline.close()
    assert remote_server.faults.count(FLAGS) == 0
    # With the project token, a bootstrap client may ask /flags.
    with Client(
        remote_server.project_api_key, bootstrap=body, host=remote_server.url, send_events=False
    ) as online:
        assert online.evaluate("continuity", "u").reason is Reason.REMOTE
    assert remote_server.faults.count(FLAGS) == 1


# -- what goes over the wire: a recording server ---------------------------------------------


class _Recorder(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, reply: dict[str, Any]) -> None:
        super().__init__(("127.0.0.1", 0), _RecordingHandler)
        self.reply = reply
        self.requests: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _RecordingHandler(BaseHTTPRequestHandler):
    server: _Recorder

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        self.server.requests.append(
            {"path": self.path, "headers": dict(self.headers.items()), "body": json.loads(body)}
        )
        data = json.dumps(self.server.reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[_Recorder]:
    server = _Recorder({"flags": {}})
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


GROUP_BODY = {
    "flags": [
        {
            "id": 7,
            "key": "needs-server",
            "active": True,
            "ensure_experience_continuity": True,
            "filters": ROLLOUT_ALL,
        },
        {"id": 8, "key": "local", "active": True, "filters": ROLLOUT_ALL},
    ]
}


def test_request_shape_matches_posthog(recorder: _Recorder) -> None:
    recorder.reply = {
        "flags": {
            "needs-server": {
                "key": "needs-server",
                "enabled": True,
                "variant": "blue",
                "reason": {
                    "code": "condition_match",
                    "condition_index": 2,
                    "description": "Matched condition set 3",
                },
                "metadata": {"id": 7, "version": 4, "payload": '{"size": 3}'},
            }
        },
        "errorsWhileComputingFlags": False,
        "requestId": "req-1",
    }
    with Client("phc_token", bootstrap=GROUP_BODY, host=recorder.url, send_events=False) as client:
        result = client.evaluate(
            "needs-server",
            "user-1",
            person_properties={"email": "a@b.c"},
            groups={"company": "acme", "team": 5},
            group_properties={"company": {"size": 10}, "ignored": {"x": 1}},
            device_id="dev-1",
        )
    assert (result.value, result.reason, result.payload) == ("blue", Reason.REMOTE, {"size": 3})
    assert (result.condition_index, result.flag_id, result.flag_version) == (2, 7, 4)
    [request] = recorder.requests
    assert request["path"] == "/flags/?v=2"
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert "authorization" not in headers
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"].startswith("flagkit/")
    assert request["body"] == {
        "token": "phc_token",
        "distinct_id": "user-1",
        "groups": {"company": "acme", "team": 5},
        "person_properties": {"email": "a@b.c"},  # no injected distinct_id
        "group_properties": {
            "company": {"$group_key": "acme", "size": 10},
            "team": {"$group_key": 5},
        },
        "geoip_disable": True,
        "device_id": "dev-1",
        "flag_keys_to_evaluate": ["needs-server"],
    }


def test_legacy_response_shape_is_understood(recorder: _Recorder) -> None:
    recorder.reply = {
        "featureFlags": {"needs-server": "control", "other": True},
        "featureFlagPayloads": {"needs-server": "[1, 2]"},
    }
    with Client("phc_token", bootstrap=GROUP_BODY, host=recorder.url, send_events=False) as client:
        result = client.evaluate("needs-server", "u")
        everything = client.evaluate_all("u")
    assert (result.value, result.reason, result.payload) == ("control", Reason.REMOTE, [1, 2])
    assert everything["needs-server"].value == "control"
    assert everything["local"].reason is Reason.CONDITION_MATCH
    # evaluate_all asked only for the flag it could not decide.
    assert recorder.requests[-1]["body"]["flag_keys_to_evaluate"] == ["needs-server"]


# -- the pure parts -----------------------------------------------------------------------------


def test_parse_flags_response_failures() -> None:
    assert parse_flags_response(200, b"not json") == RemoteFailure(
        "invalid_response", "/flags answered 200 with a body that is not JSON"
    )
    assert isinstance(parse_flags_response(200, b"[]"), RemoteFailure)
    quota = parse_flags_response(200, b'{"flags": {}, "quotaLimited": ["feature_flags"]}')
    assert isinstance(quota, RemoteFailure)
    assert quota.error == "quota_limited"
    other_quota = parse_flags_response(200, b'{"flags": {}, "quotaLimited": ["recordings"]}')
    assert isinstance(other_quota, RemoteAnswer)
    text_error = parse_flags_response(503, b"Service unavailable")
    assert isinstance(text_error, RemoteFailure)
    assert (text_error.error, text_error.retryable) == ("api_error_503", False)
    assert text_error.message == "HTTP 503 from /flags: Service unavailable"
    json_error = parse_flags_response(502, b'{"detail": "bad gateway"}')
    assert isinstance(json_error, RemoteFailure)
    assert json_error.retryable
    assert json_error.message.endswith(": bad gateway")


def test_resolve_results_reports_errors_while_computing() -> None:
    reply = parse_flags_response(
        200,
        json.dumps(
            {
                "flags": {
                    "a": {"key": "a", "enabled": False, "variant": None},
                    "b": {
                        "key": "b",
                        "enabled": False,
                        "failed": True,
                        "reason": {"code": "timeout", "description": "timed out"},
                    },
                },
                "errorsWhileComputingFlags": True,
                "requestId": "r",
                "evaluatedAt": 123,
            }
        ).encode(),
    )
    local = {key: FlagResult(key, None, Reason.MISSING_CONTEXT) for key in ("a", "b", "c")}
    resolved = resolve_results(local, reply)
    assert resolved["a"].result.value is False
    assert resolved["a"].result.reason is Reason.REMOTE
    assert resolved["a"].error == "errors_while_computing_flags"
    assert (resolved["a"].request_id, resolved["a"].evaluated_at) == ("r", 123)
    assert resolved["b"].result.reason is Reason.REMOTE_ERROR
    assert resolved["b"].error == "errors_while_computing_flags,evaluation_failed"
    assert resolved["c"].result.reason is Reason.REMOTE_ERROR
    assert resolved["c"].error == "errors_while_computing_flags,flag_missing"
    # Nothing asked for specifically (no definitions yet): every usable flag comes back.
    assert set(resolve_results(None, reply)) == {"a"}
    assert resolve_results(None, RemoteFailure("timeout", "slow")) == {}


def test_build_flags_request_leaves_out_empty_keys_and_absent_device() -> None:
    body = build_flags_request("phc", "u")
    assert body == {
        "token": "phc",
        "distinct_id": "u",
        "groups": {},
        "person_properties": {},
        "group_properties": {},
        "geoip_disable": True,
    }
