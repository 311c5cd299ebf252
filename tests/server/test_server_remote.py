"""Remote evaluation (/flags, /decide) and the evaluating flag actions, with stored data."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from server_helpers import HTTP, ROLLOUT_ALL, ROLLOUT_NONE, TLS_CONTEXT, condition, error, person

from flagkit._evaluation.evaluator import Evaluator
from flagkit._evaluation.snapshot import Snapshot
from flagkit.server import LocalServer

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed.json"
VARIANTS = {
    "groups": [{"properties": [], "rollout_percentage": 100}],
    "multivariate": {
        "variants": [
            {"key": "control", "rollout_percentage": 50},
            {"key": "test", "rollout_percentage": 50},
        ]
    },
    "payloads": {"control": '{"color": "blue"}', "test": "42"},
}


def flags(server: LocalServer, body: dict[str, Any], query: str = "?v=2") -> httpx.Response:
    return HTTP.post(
        f"{server.url}/flags/{query}", json={"api_key": server.project_api_key, **body}
    )


@pytest.fixture
def seeded() -> Any:
    with LocalServer(seed=SEED) as server:
        yield server


def test_v2_shape(local_server: LocalServer) -> None:
    flag = local_server.create_flag("on", {**ROLLOUT_ALL, "payloads": {"true": '{"a": 1}'}})
    local_server.create_flag("off", ROLLOUT_NONE)
    local_server.create_flag("inactive", ROLLOUT_ALL, active=False)
    response = flags(local_server, {"distinct_id": "user-1"})
    assert response.status_code == 200
    body = response.json()
    assert body["errorsWhileComputingFlags"] is False
    assert isinstance(body["requestId"], str)
    assert isinstance(body["evaluatedAt"], int)
    assert set(body["flags"]) == {"on", "off"}  # inactive flags are left out
    assert body["flags"]["on"] == {
        "key": "on",
        "enabled": True,
        "variant": None,
        "reason": {
            "code": "condition_match",
            "condition_index": 0,
            "description": "Matched condition set 1",
        },
        "metadata": {"id": flag["id"], "version": 1, "description": None, "payload": '{"a": 1}'},
    }
    off = body["flags"]["off"]
    assert off["enabled"] is False
    assert off["reason"]["code"] == "out_of_rollout_bound"
    assert off["metadata"]["payload"] is None


def test_variants_and_payloads_match_our_evaluator(local_server: LocalServer) -> None:
    local_server.create_flag("exp", VARIANTS)
    definitions = HTTP.get(
        f"{local_server.url}/flags/definitions?token={local_server.project_api_key}",
        headers={"Authorization": f"Bearer {local_server.secret_api_key}"},
    ).json()
    evaluator = Evaluator(Snapshot.from_dict(definitions))
    for n in range(20):
        distinct_id = f"person-{n}"
        expected = evaluator.evaluate("exp", distinct_id)
        got = flags(local_server, {"distinct_id": distinct_id}).json()["flags"]["exp"]
        assert got["variant"] == expected.value
        payload = VARIANTS["payloads"][expected.value]  # type: ignore[index]
        assert got["metadata"]["payload"] == payload


def test_stored_person_properties_and_overrides(local_server: LocalServer) -> None:
    local_server.create_flag("pro-only", condition(person("plan", "pro")))
    local_server.add_person("alice", {"plan": "pro"})
    assert flags(local_server, {"distinct_id": "alice"}).json()["flags"]["pro-only"]["enabled"]
    stranger = flags(local_server, {"distinct_id": "stranger"}).json()["flags"]["pro-only"]
    assert stranger["enabled"] is False
    assert stranger["reason"]["code"] == "no_condition_match"
    override = flags(local_server, {"distinct_id": "alice", "person_properties": {"plan": "free"}})
    assert override.json()["flags"]["pro-only"]["enabled"] is False


def test_static_and_dynamic_cohorts(local_server: LocalServer) -> None:
    static = local_server.add_cohort("partners", static_members=["alice"])
    dynamic = local_server.add_cohort("gb", {"type": "AND", "values": [person("country", "GB")]})
    local_server.create_flag(
        "partners-only", condition({"key": "id", "type": "cohort", "value": static["id"]})
    )
    local_server.create_flag(
        "gb-only", condition({"key": "id", "type": "cohort", "value": dynamic["id"]})
    )
    local_server.add_person("bob", {"country": "GB"})
    alice = flags(local_server, {"distinct_id": "alice"}).json()["flags"]
    bob = flags(local_server, {"distinct_id": "bob"}).json()["flags"]
    assert (alice["partners-only"]["enabled"], bob["partners-only"]["enabled"]) == (True, False)
    assert (alice["gb-only"]["enabled"], bob["gb-only"]["enabled"]) == (False, True)


def test_group_flags(local_server: LocalServer) -> None:
    local_server.add_group("company", "acme", {"plan": "enterprise"})
    local_server.create_flag(
        "big-co",
        {
            "aggregation_group_type_index": 0,
            "groups": [
                {
                    "properties": [
                        {
                            "key": "plan",
                            "type": "group",
                            "group_type_index": 0,
                            "value": "enterprise",
                        }
                    ],
                    "rollout_percentage": 100,
                }
            ],
        },
    )
    no_group = flags(local_server, {"distinct_id": "u"}).json()["flags"]["big-co"]
    assert no_group["enabled"] is False
    assert no_group["reason"] == {
        "code": "no_group_type",
        "condition_index": None,
        "description": "No group type",
    }
    acme = flags(local_server, {"distinct_id": "u", "groups": {"company": "acme"}}).json()
    assert acme["flags"]["big-co"]["enabled"] is True
    other = flags(
        local_server,
        {
            "distinct_id": "u",
            "groups": {"company": "tiny"},
            "group_properties": {"company": {"plan": "startup"}},
        },
    ).json()
    assert other["flags"]["big-co"]["enabled"] is False


def test_flag_dependencies_evaluate(local_server: LocalServer) -> None:
    base = local_server.create_flag("base", condition(person("plan", "pro")))
    local_server.create_flag(
        "child",
        condition(
            {"type": "flag", "key": str(base["id"]), "operator": "flag_evaluates_to", "value": True}
        ),
    )
    result = flags(local_server, {"distinct_id": "x", "person_properties": {"plan": "pro"}})
    assert result.json()["flags"]["child"]["enabled"] is True
    result = flags(local_server, {"distinct_id": "x", "person_properties": {"plan": "free"}})
    assert result.json()["flags"]["child"]["enabled"] is False


def test_experience_continuity_flags_are_evaluated_by_the_server(local_server: LocalServer) -> None:
    local_server.create_flag("sticky", ROLLOUT_ALL, ensure_experience_continuity=True)
    assert flags(local_server, {"distinct_id": "u"}).json()["flags"]["sticky"]["enabled"] is True


def test_v1_and_decide_shapes(local_server: LocalServer) -> None:
    local_server.create_flag("on", {**ROLLOUT_ALL, "payloads": {"true": "1"}})
    local_server.create_flag("off", ROLLOUT_NONE)
    v1 = flags(local_server, {"distinct_id": "u"}, "?v=1").json()
    assert v1["featureFlags"] == {"on": True, "off": False}
    assert v1["featureFlagPayloads"] == {"on": "1"}
    assert "flags" not in v1
    token = {"token": local_server.project_api_key, "distinct_id": "u"}

    def decide(query: str) -> Any:
        return HTTP.post(f"{local_server.url}/decide/{query}", json=token).json()

    assert decide("")["featureFlags"] == ["on"]
    assert decide("?v=2")["featureFlags"] == {"on": True}
    assert decide("?v=3")["featureFlags"] == {"on": True, "off": False}
    assert set(decide("?v=4")["flags"]) == {"on", "off"}
    default = flags(local_server, {"distinct_id": "u"}, "").json()
    assert "flags" in default
    assert "supportedCompression" in default


def test_flag_keys_and_disable_flags(local_server: LocalServer) -> None:
    local_server.create_flag("a")
    local_server.create_flag("b")
    only_a = flags(local_server, {"distinct_id": "u", "flag_keys_to_evaluate": ["a", "zzz"]})
    assert set(only_a.json()["flags"]) == {"a"}
    assert flags(local_server, {"distinct_id": "u", "disable_flags": True}).json()["flags"] == {}


def test_compressed_bodies(local_server: LocalServer) -> None:
    local_server.create_flag("a")
    body = json.dumps({"token": local_server.project_api_key, "distinct_id": "u"}).encode()
    gz = HTTP.post(
        f"{local_server.url}/flags/?v=2",
        content=gzip.compress(body),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert gz.json()["flags"]["a"]["enabled"] is True
    b64 = HTTP.post(
        f"{local_server.url}/flags/?v=2&compression=base64",
        content=base64.b64encode(body),
        headers={"Content-Type": "text/plain"},
    )
    assert b64.json()["flags"]["a"]["enabled"] is True


def test_flags_errors(local_server: LocalServer) -> None:
    url = f"{local_server.url}/flags/?v=2"
    no_token = HTTP.post(url, json={"distinct_id": "u"})
    assert no_token.status_code == 401
    assert error(no_token)["detail"].startswith("No API token provided.")
    bad_token = HTTP.post(url, json={"api_key": "phc_nope", "distinct_id": "u"})
    assert bad_token.status_code == 401
    assert error(bad_token)["code"] == "authentication_failed"
    no_id = HTTP.post(url, json={"api_key": local_server.project_api_key})
    assert no_id.status_code == 400
    assert "distinct_id" in error(no_id)["detail"]
    garbage = HTTP.post(url, content=b"{nope", headers={"Content-Type": "application/json"})
    assert garbage.status_code == 400
    assert error(garbage)["detail"].startswith("Failed to decode request")
    assert HTTP.head(url).status_code == 200
    assert HTTP.options(url).headers["allow"] == "GET, POST, OPTIONS, HEAD"
    assert HTTP.put(url, json={}).status_code == 405
    assert HTTP.get(url).json()["flags"] == {}


def test_quota_limited_flags(local_server: LocalServer) -> None:
    local_server.create_flag("a")
    local_server.set_quota_limited()
    body = flags(local_server, {"distinct_id": "u"}).json()
    assert body["flags"] == {}
    assert body["quotaLimited"] == ["feature_flags"]


def test_numeric_distinct_id_and_rate_limit() -> None:
    with LocalServer(rate_limits={"flags": "2/minute"}) as server:
        server.create_flag("a")
        assert flags(server, {"distinct_id": 12345}).json()["flags"]["a"]["enabled"] is True
        flags(server, {"distinct_id": "x"})
        limited = flags(server, {"distinct_id": "x"})
        assert limited.status_code == 429
        assert error(limited)["code"] == "rate_limit_exceeded"


def test_seed_evaluates_as_described(seeded: LocalServer) -> None:
    alice = flags(seeded, {"distinct_id": "alice", "groups": {"company": "acme"}}).json()["flags"]
    bob = flags(seeded, {"distinct_id": "bob", "groups": {"company": "globex"}}).json()["flags"]
    assert alice["early-access-ai"]["enabled"]
    assert not bob["early-access-ai"]["enabled"]
    assert alice["priority-support"]["enabled"]
    assert not bob["priority-support"]["enabled"]
    assert json.loads(alice["priority-support"]["metadata"]["payload"]) == {"sla_hours": 4}
    assert alice["company-billing-v2"]["enabled"]
    assert not bob["company-billing-v2"]["enabled"]
    assert alice["modern-app-banner"]["enabled"]
    assert not bob["modern-app-banner"]["enabled"]
    assert alice["checkout-experiment"]["variant"] in ("control", "short-copy", "long-copy")
    assert "legacy-export" not in alice


def test_evaluation_reasons(seeded: LocalServer) -> None:
    with httpx.Client(
        verify=TLS_CONTEXT,
        base_url=seeded.url,
        headers={"Authorization": f"Bearer {seeded.personal_api_key}"},
    ) as api:
        path = f"/api/projects/{seeded.project_id}/feature_flags/evaluation_reasons/"
        reasons = api.get(path, params={"distinct_id": "alice"}).json()
        assert reasons["legacy-export"] == {
            "value": False,
            "evaluation": {"reason": "disabled", "condition_index": None},
        }
        assert reasons["priority-support"] == {
            "value": True,
            "evaluation": {"reason": "condition_match", "condition_index": 0},
        }
        assert reasons["company-billing-v2"]["evaluation"]["reason"] == "no_group_type"
        with_group = api.get(path, params={"distinct_id": "alice", "groups": '{"company": "acme"}'})
        assert with_group.json()["company-billing-v2"]["value"] is True
        missing = api.get(path)
        assert error(missing) == {
            "type": "validation_error",
            "code": "required",
            "detail": "This field is required.",
            "attr": "distinct_id",
        }
        bad_groups = api.get(path, params={"distinct_id": "a", "groups": "{not json"})
        assert error(bad_groups)["detail"] == "Invalid JSON in groups parameter"


def test_my_flags(local_server: LocalServer, api: httpx.Client, flags_path: str) -> None:
    local_server.create_flag("first", ROLLOUT_ALL)
    local_server.create_flag("second", ROLLOUT_NONE)
    mine = api.get(f"{flags_path}my_flags/").json()
    assert [(item["feature_flag"]["key"], item["value"]) for item in mine] == [
        ("second", False),
        ("first", True),
    ]


def test_user_blast_radius(seeded: LocalServer) -> None:
    with httpx.Client(
        verify=TLS_CONTEXT,
        base_url=seeded.url,
        headers={"Authorization": f"Bearer {seeded.personal_api_key}"},
    ) as api:
        path = f"/api/projects/{seeded.project_id}/feature_flags/user_blast_radius/"

        def radius(body: dict[str, Any]) -> dict[str, Any]:
            response = api.post(path, json=body)
            assert response.status_code == 200, response.text
            return dict(response.json())

        everyone = radius({"condition": {"properties": []}})
        assert everyone == {"users_affected": 5, "total_users": 5}
        free = radius(
            {"condition": {"properties": [person("plan", "free")], "rollout_percentage": 10}}
        )
        assert free == {"users_affected": 2, "total_users": 5}
        partners = seeded.get_flag("early-access-ai")["filters"]["groups"][0]["properties"]  # type: ignore[index]
        assert radius({"condition": {"properties": partners}})["users_affected"] == 2
        companies = radius(
            {
                "condition": {
                    "properties": [
                        {
                            "key": "seats",
                            "type": "group",
                            "group_type_index": 0,
                            "value": "100",
                            "operator": "gt",
                        }
                    ]
                },
                "group_type_index": 0,
            }
        )
        assert companies == {"users_affected": 1, "total_users": 2}
        missing = api.post(path, json={})
        assert error(missing)["detail"] == "Missing condition for which to get blast radius"
