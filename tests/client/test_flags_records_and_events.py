"""Newer ``/flags`` records (typed ``value``, ``reason.code``, rule ``metadata``) and the
events PostHog's SDK sends for them: rule attribution, ``$experiment_exposure`` for a
complete experiment split, minimal events under the server's gate, ``$geoip_disable`` per
call, ``$feature_flag_error`` for local outcomes. Real HTTP to a scripted capture server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from client_helpers import ROLLOUT_ALL

from flagkit import Client, Reason
from flagkit._remote.fallback import parse_flags_response
from flagkit._remote.records import RuleAttribution, read_record

RULE = "11111111-1111-4111-8111-111111111111"
OTHER_RULE = "22222222-2222-4222-8222-222222222222"


def v2_record(value: Any, code: str, rule_type: str, **metadata: Any) -> dict[str, Any]:
    return {
        "key": "exp",
        "value": value,
        "reason": {"code": code, "description": f"v2 {code}"},
        "metadata": {
            "id": 9,
            "version": 3,
            "config_version": 2,
            "rule_id": RULE,
            "rule_type": rule_type,
            **metadata,
        },
    }


# -- reading records (pure) -------------------------------------------------------------------


def test_typed_values_and_their_payloads() -> None:
    assert read_record("f", {"value": True}).value is True
    assert read_record("f", {"value": False}).value is False
    assert read_record("f", {"value": "blue"}).value == "blue"
    none = read_record("f", {"value": None, "enabled": True})
    assert (none.value, none.failed) == (None, False)  # no value: the caller's default
    number = read_record("f", {"value": 42})
    assert (number.value, number.payload) == (True, 42)  # a number is its own payload
    obj = read_record("f", {"value": {"a": 1}, "metadata": {"payload": '"ignored"'}})
    assert (obj.value, obj.payload) == (True, {"a": 1})
    plain = read_record("f", {"value": True, "metadata": {"payload": '{"n": 1}'}})
    assert plain.payload == {"n": 1}
    # Without ``value``: the older record, variant or enabled.
    assert read_record("f", {"enabled": True, "variant": "v"}).value == "v"
    assert read_record("f", {"enabled": False, "variant": None}).value is False


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"value": [1, 2]}, "value"),
        ({"value": True, "failed": "no"}, "failed"),
        ({"value": True, "reason": "match"}, "reason"),
        ({"value": True, "reason": {"code": 5}}, "reason.code"),
        ({"value": True, "reason": {"condition_index": "1"}}, "reason.condition_index"),
        ({"value": True, "metadata": []}, "metadata"),
        ({"value": True, "metadata": {"id": "9"}}, "metadata.id"),
        ({"value": True, "metadata": {"version": 1.5}}, "metadata.version"),
        ({"value": True, "metadata": {"config_version": "2"}}, "metadata.config_version"),
        ({"value": True, "metadata": {"rule_id": 1}}, "metadata.rule_id"),
        ({"value": True, "metadata": {"has_experiment": "yes"}}, "metadata.has_experiment"),
        ({"value": True, "metadata": {"experiment_id": "x"}}, "metadata.experiment_id"),
        ({"enabled": "true"}, "enabled"),
        ({"enabled": True, "variant": 3}, "variant"),
        ("not a record", "record"),
    ],
)
def test_a_wrong_type_fails_only_that_record(record: Any, field: str) -> None:
    body = json.dumps({"flags": {"bad": record, "good": {"value": True, "unknown": [1]}}})
    answer = parse_flags_response(200, body.encode())
    bad = answer.flags["bad"]  # type: ignore[union-attr]
    assert (bad.value, bad.failed, bad.malformed) == (None, True, field)
    good = answer.flags["good"]  # type: ignore[union-attr]
    assert (good.value, good.failed) == (True, False)  # unknown fields are ignored


def test_integral_floats_are_integers() -> None:
    flag = read_record("f", {"value": True, "metadata": {"id": 9.0, "version": 2.0}})
    assert (flag.flag_id, flag.version, flag.malformed) == (9, 2, None)


def test_rule_attribution_follows_the_reason_code() -> None:
    split = read_record(
        "exp", v2_record("test", "experiment_split", "experiment", variant_key="test")
    )
    assert split.attribution == RuleAttribution("experiment_split", RULE, "experiment", "test")
    assert split.attribution is not None
    assert split.attribution.is_experiment_split
    match = read_record("exp", v2_record(True, "targeting_match", "targeted_release"))
    assert match.attribution == RuleAttribution("targeting_match", RULE, "targeted_release")
    # A targeting match that names an experiment rule reports no rule.
    odd = read_record("exp", v2_record(True, "targeting_match", "experiment"))
    assert odd.attribution == RuleAttribution("targeting_match")
    # A rule id that is not a UUID counts as missing; an unknown code names no rule.
    assert read_record(
        "exp", v2_record(True, "targeting_match", "targeted_release", rule_id="r1")
    ).attribution == RuleAttribution("targeting_match")
    assert read_record("exp", v2_record(True, "new_code", "experiment")).attribution == (
        RuleAttribution("new_code")
    )
    # A split without its variant key reports no rule either.
    assert read_record("exp", v2_record("test", "experiment_split", "experiment")).attribution == (
        RuleAttribution("experiment_split")
    )
    # Config version 1 (or none): no attribution at all.
    assert read_record("exp", {"value": True, "metadata": {"rule_id": RULE}}).attribution is None


# -- over the wire -----------------------------------------------------------------------------


class _PostHog(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.reply: dict[str, Any] = {"flags": {}}
        self.events: list[dict[str, Any]] = []
        self.flags_requests: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def named(self, name: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["event"] == name]


class _Handler(BaseHTTPRequestHandler):
    server: _PostHog

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        if self.path.startswith("/batch"):
            self.server.events.extend(body["batch"])
            reply: Any = {"status": 1}
        else:
            self.server.flags_requests.append(body)
            reply = self.server.reply
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def posthog() -> Iterator[_PostHog]:
    server = _PostHog()
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _remote_only(posthog: _PostHog, **options: Any) -> Client:
    return Client("phc_token", host=posthog.url, event_flush_interval=0.05, **options)


def test_an_experiment_split_sends_one_exposure_per_rule_and_variant(posthog: _PostHog) -> None:
    posthog.reply = {
        "flags": {"exp": v2_record("test", "experiment_split", "experiment", variant_key="test")},
        "requestId": "req-9",
    }
    with _remote_only(posthog) as client:
        for _ in range(3):
            assert client.get_flag("exp", "u1") == "test"
        assert client.flush(5)
    [called] = posthog.named("$feature_flag_called")
    props = called["properties"]
    assert props["$feature_flag_config_version"] == 2
    assert props["$feature_flag_reason_code"] == "experiment_split"
    assert (props["$feature_flag_rule_id"], props["$feature_flag_rule_type"]) == (
        RULE,
        "experiment",
    )
    assert props["$feature_flag_variant_key"] == "test"
    assert "$feature_flag_reason" not in props  # the code replaces the text
    [exposure] = posthog.named("$experiment_exposure")
    assert exposure["distinct_id"] == "u1"
    assert exposure["properties"] == {
        "$feature_flag_id": 9,
        "$feature_flag_version": 3,
        "$feature_flag_request_id": "req-9",
        "$feature_flag": "exp",
        "$feature_flag_response": "test",
        "locally_evaluated": False,
        "$feature_flag_variant_key": "test",
        "$feature_flag_rule_id": RULE,
        "$lib": "flagkit",
        "$lib_version": props["$lib_version"],
        "$geoip_disable": True,
    }
    assert "seed" not in json.dumps(posthog.events)


@pytest.mark.parametrize(
    ("value", "code", "rule_type"),
    [
        (False, "holdout", "experiment"),
        (False, "rollout_miss", "experiment"),
        (False, "experiment_paused", "experiment"),
        (True, "targeting_match", "targeted_release"),
        (False, "no_rule_match", "experiment"),
    ],
)
def test_no_exposure_outside_a_complete_split(
    posthog: _PostHog, value: Any, code: str, rule_type: str
) -> None:
    posthog.reply = {"flags": {"exp": v2_record(value, code, rule_type, variant_key="test")}}
    with _remote_only(posthog) as client:
        client.get_flag("exp", "u1")
        assert client.flush(5)
    assert posthog.named("$experiment_exposure") == []
    [called] = posthog.named("$feature_flag_called")
    assert called["properties"]["$feature_flag_reason_code"] == code


def test_successive_rules_with_one_value_are_each_reported(posthog: _PostHog) -> None:
    with _remote_only(posthog) as client:
        posthog.reply = {"flags": {"exp": v2_record(True, "targeting_match", "targeted_release")}}
        client.get_flag("exp", "u1")
        posthog.reply = {
            "flags": {
                "exp": v2_record(True, "targeting_match", "targeted_release", rule_id=OTHER_RULE)
            }
        }
        client.get_flag("exp", "u1")
        client.get_flag("exp", "u1")
        assert client.flush(5)
    rules = [
        e["properties"]["$feature_flag_rule_id"] for e in posthog.named("$feature_flag_called")
    ]
    assert rules == [RULE, OTHER_RULE]


def test_a_null_value_gives_the_callers_default(posthog: _PostHog) -> None:
    posthog.reply = {"flags": {"exp": v2_record(None, "no_rule_match", "experiment")}}
    with _remote_only(posthog, send_events=False) as client:
        assert client.get_flag("exp", "u", default="fallback") == "fallback"
        result = client.evaluate("exp", "u")
    assert (result.value, result.reason) == (None, Reason.REMOTE)


def test_a_malformed_record_is_an_unknown_error_for_that_flag_only(posthog: _PostHog) -> None:
    posthog.reply = {
        "flags": {"bad": {"value": True, "metadata": {"id": "x"}}, "good": {"value": "b"}},
        "requestId": "req-1",
    }
    with _remote_only(posthog) as client:
        flags = client.get_all_flags("u")
        bad = client.evaluate("bad", "u")
        assert client.flush(5)
    assert flags == {"good": "b"}
    assert bad.reason is Reason.REMOTE_ERROR
    assert "metadata.id" in bad.description
    [event] = [
        e
        for e in posthog.named("$feature_flag_called")
        if e["properties"]["$feature_flag"] == "bad"
    ]
    assert event["properties"]["$feature_flag_error"] == "unknown_error"
    assert "$feature_flag_request_id" not in event["properties"]


def test_minimal_events_when_the_server_asks_and_the_flag_has_no_experiment(
    posthog: _PostHog,
) -> None:
    record = {
        "value": "b",
        "metadata": {"id": 4, "version": 1, "payload": '{"x": 1}', "has_experiment": False},
    }
    posthog.reply = {
        "flags": {"f": record, "g": {**record, "metadata": {"id": 5}}},
        "minimalFlagCalledEvents": True,
    }
    with _remote_only(posthog) as client:
        client.get_flag("f", "u")
        client.get_flag("g", "u")
        assert client.flush(5)
    by_key = {e["properties"]["$feature_flag"]: e["properties"] for e in posthog.events}
    assert set(by_key["f"]) <= {
        "$feature_flag",
        "$feature_flag_response",
        "$feature_flag_has_experiment",
        "$feature_flag_id",
        "$feature_flag_version",
        "$feature_flag_reason",
        "$feature_flag_request_id",
        "$feature_flag_evaluated_at",
        "$feature_flag_error",
        "locally_evaluated",
        "$groups",
        "$lib",
        "$lib_version",
        "$geoip_disable",
    }
    assert "$feature/f" not in by_key["f"]
    assert by_key["f"]["$feature_flag_has_experiment"] is False
    # No has_experiment signal: the full event.
    assert "$feature/g" in by_key["g"]


LOCAL_BODY = {
    "flags": [
        {"id": 1, "key": "plain", "active": True, "filters": ROLLOUT_ALL, "has_experiment": False},
        {
            "id": 2,
            "key": "experiment",
            "active": True,
            "filters": ROLLOUT_ALL,
            "has_experiment": True,
        },
        {
            "id": 3,
            "key": "gated",
            "active": True,
            "filters": {
                "groups": [
                    {
                        "properties": [
                            {"key": "plan", "type": "person", "value": "pro", "operator": "exact"}
                        ],
                        "rollout_percentage": 100,
                    }
                ]
            },
        },
    ],
    "minimal_flag_called_events": True,
}


def test_local_reads_follow_the_definitions_gate_and_geoip_per_call(posthog: _PostHog) -> None:
    with Client(
        "phc_token",
        host=posthog.url,
        bootstrap=LOCAL_BODY,
        only_evaluate_locally=True,
        event_flush_interval=0.05,
    ) as client:
        assert client.is_enabled("plain", "u")
        assert client.is_enabled("experiment", "u", disable_geoip=False)
        assert client.get_flag("gated", "u") is None  # no plan: undecidable, local only
        assert client.get_flag("missing", "u") is None
        assert client.flush(5)
    by_key = {e["properties"]["$feature_flag"]: e["properties"] for e in posthog.events}
    assert "$feature/plain" not in by_key["plain"]  # trimmed: gate on, no experiment
    assert by_key["plain"]["locally_evaluated"] is True
    assert "$feature/experiment" in by_key["experiment"]  # an experiment keeps everything
    assert by_key["experiment"]["$feature_flag_has_experiment"] is True
    assert by_key["experiment"]["$geoip_disable"] is False
    assert by_key["plain"]["$geoip_disable"] is True
    assert by_key["gated"]["$feature_flag_error"] == "local_evaluation_inconclusive"
    assert by_key["missing"]["$feature_flag_error"] == "flag_missing"
    assert "$feature_flag_error" not in by_key["plain"]


def test_evaluate_flags_with_flag_keys_evaluates_and_asks_only_those(posthog: _PostHog) -> None:
    body = {
        "flags": [
            {"id": 1, "key": "local", "active": True, "filters": ROLLOUT_ALL},
            {
                "id": 2,
                "key": "remote-a",
                "active": True,
                "filters": ROLLOUT_ALL,
                "ensure_experience_continuity": True,
            },
            {
                "id": 3,
                "key": "remote-b",
                "active": True,
                "filters": ROLLOUT_ALL,
                "ensure_experience_continuity": True,
            },
        ]
    }
    posthog.reply = {
        "flags": {
            "remote-a": v2_record("test", "experiment_split", "experiment", variant_key="test")
        },
        "requestId": "r-2",
    }
    with Client("phc_token", host=posthog.url, bootstrap=body, event_flush_interval=0.05) as client:
        flags = client.evaluate_flags("u", flag_keys=["remote-a", "local"])
        assert set(flags.keys) == {"remote-a", "local"}  # remote-b never evaluated
        assert flags.get_flag("remote-a") == "test"
        assert client.flush(5)
    [request] = posthog.flags_requests
    assert request["flag_keys_to_evaluate"] == ["remote-a"]
    [called] = posthog.named("$feature_flag_called")
    assert called["properties"]["$feature_flag_request_id"] == "r-2"  # kept from /flags
    assert len(posthog.named("$experiment_exposure")) == 1


V2_BODY = {
    "flags": [
        {
            "id": 11,
            "key": "v2-release",
            "active": True,
            "version": 4,
            "filters": {
                "version": 2,
                "return_type": "boolean",
                "default_value": False,
                "rules": [
                    {
                        "id": RULE,
                        "rule_type": "percentage_rollout",
                        "targeting": {"properties": []},
                        "value": True,
                        "rollout_percentage": 100,
                        "on_rollout_miss": "continue",
                        "assignment_algorithm": "sha1_60_v1",
                        "seed": "secret-seed-value",
                        "assign_by": "person",
                    }
                ],
            },
        }
    ]
}


def test_a_local_rules_v2_answer_reports_its_rule_and_never_its_seed(posthog: _PostHog) -> None:
    with Client(
        "phc_token",
        host=posthog.url,
        bootstrap=V2_BODY,
        only_evaluate_locally=True,
        event_flush_interval=0.05,
    ) as client:
        for _ in range(3):
            assert client.is_enabled("v2-release", "u1")
        assert client.flush(5)
    [called] = posthog.named("$feature_flag_called")
    props = called["properties"]
    assert props["$feature_flag_config_version"] == 2
    assert props["$feature_flag_reason_code"] == "targeting_match"
    assert (props["$feature_flag_rule_id"], props["$feature_flag_rule_type"]) == (
        RULE,
        "percentage_rollout",
    )
    assert (props["$feature_flag_id"], props["$feature_flag_version"]) == (11, 4)
    assert props["locally_evaluated"] is True
    assert posthog.named("$experiment_exposure") == []
    assert "secret-seed-value" not in json.dumps(posthog.events)
