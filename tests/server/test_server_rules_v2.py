"""The local server with rules v2 flags: validated through the flag API, served untouched in
the definitions, answered on /flags with the newer records (value, reason code, rule), and
read back by a Client in remote mode."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from server_helpers import HTTP

from flagkit import Client, Reason
from flagkit.server import LocalServer, LocalServerError

RULE = "11111111-1111-4111-8111-111111111111"
ROLLOUT_RULE = "22222222-2222-4222-8222-222222222222"
CONFIG: dict[str, Any] = {
    "version": 2,
    "return_type": "boolean",
    "default_value": None,
    "rules": [
        {
            "id": RULE,
            "rule_type": "targeted_release",
            "targeting": {
                "properties": [
                    {"key": "plan", "type": "person", "operator": "exact", "value": "pro"}
                ]
            },
            "value": True,
        },
        {
            "id": ROLLOUT_RULE,
            "rule_type": "percentage_rollout",
            "targeting": {"properties": []},
            "value": True,
            "rollout_percentage": 0,
            "on_rollout_miss": "return_default",
            "assignment_algorithm": "sha1_60_v1",
            "seed": "never-shown-seed",
            "assign_by": "person",
        },
    ],
}


@pytest.fixture
def server() -> Any:
    with LocalServer() as local:
        local.add_person("alice", {"plan": "pro"})
        local.add_person("bob", {"plan": "free"})
        local.create_flag("v2", CONFIG)
        yield local


def _flags(server: LocalServer, distinct_id: str) -> dict[str, Any]:
    response = HTTP.post(
        f"{server.url}/flags/?v=2",
        json={"api_key": server.project_api_key, "distinct_id": distinct_id},
    )
    assert response.status_code == 200
    records: dict[str, Any] = response.json()["flags"]
    return records


def test_valid_configs_are_stored_and_served_untouched(server: LocalServer) -> None:
    assert server.get_flag("v2")["filters"] == CONFIG


@pytest.mark.parametrize(
    "change",
    [
        lambda c: c["rules"][0].update(id="not-a-uuid"),
        lambda c: c["rules"][1].update(seed=""),
        lambda c: c.update(unknown_field=1),
        lambda c: c["rules"][0].update(value="yes"),
    ],
)
def test_malformed_configs_are_refused_with_the_problem(server: LocalServer, change: Any) -> None:
    config = copy.deepcopy(CONFIG)
    change(config)
    with pytest.raises(LocalServerError) as refused:
        server.create_flag("broken", config)
    assert refused.value.status == 400
    assert "rules v2" in str(refused.value)


def test_flags_answers_with_the_newer_records(server: LocalServer) -> None:
    alice = _flags(server, "alice")["v2"]
    assert alice["value"] is True
    assert alice["reason"]["code"] == "targeting_match"
    assert alice["metadata"]["config_version"] == 2
    assert (alice["metadata"]["rule_id"], alice["metadata"]["rule_type"]) == (
        RULE,
        "targeted_release",
    )
    bob = _flags(server, "bob")["v2"]
    assert bob["value"] is None  # outside the 0% rollout, null default: the caller's
    assert bob["reason"]["code"] == "rollout_miss"
    assert bob["metadata"]["rule_id"] == ROLLOUT_RULE
    assert "never-shown-seed" not in json.dumps([alice, bob])


def test_a_remote_mode_client_reads_them(server: LocalServer) -> None:
    with Client(server.project_api_key, host=server.url, send_events=False) as client:
        assert client.is_enabled("v2", "alice")
        assert client.get_flag("v2", "bob", default="fallback") == "fallback"
        result = client.evaluate("v2", "bob")
    assert (result.value, result.reason) == (None, Reason.REMOTE)


def test_a_polling_client_evaluates_them_locally(server: LocalServer) -> None:
    with Client(
        server.project_api_key,
        personal_api_key=server.personal_api_key,
        host=server.url,
        only_evaluate_locally=True,
        send_events=False,
    ) as client:
        assert client.wait_until_ready(10)
        pro = client.evaluate("v2", "someone", person_properties={"plan": "pro"})
        free = client.evaluate("v2", "someone", person_properties={"plan": "free"})
        unknown = client.evaluate("v2", "someone")
        complete = client.evaluate("v2", "someone", properties_complete=True)
    assert (pro.value, pro.reason) == (True, Reason.TARGETING_MATCH)
    assert (free.value, free.reason) == (None, Reason.ROLLOUT_MISS)
    assert unknown.reason is Reason.MISSING_CONTEXT  # plan unknown: undecidable here
    assert complete.reason is Reason.ROLLOUT_MISS  # plan known unset: rule 0 does not match
