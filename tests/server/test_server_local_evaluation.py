"""Definitions for local evaluation on all three paths: content, send_cohorts, ETag/304."""

from __future__ import annotations

import httpx
import pytest
from server_helpers import HTTP, ROLLOUT_ALL, TLS_CONTEXT, condition, error, person

from flagkit.server import LocalServer

MINIMAL_FIELDS = {
    "id",
    "team_id",
    "name",
    "key",
    "filters",
    "deleted",
    "active",
    "ensure_experience_continuity",
    "version",
}


def paths(server: LocalServer) -> list[str]:
    token = server.project_api_key
    return [
        f"/api/projects/{server.project_id}/feature_flags/local_evaluation/?send_cohorts",
        f"/api/feature_flag/local_evaluation/?token={token}&send_cohorts",
        f"/flags/definitions?token={token}&send_cohorts",
    ]


@pytest.fixture
def secret(local_server: LocalServer) -> httpx.Client:
    headers = {"Authorization": f"Bearer {local_server.secret_api_key}"}
    return httpx.Client(verify=TLS_CONTEXT, base_url=local_server.url, headers=headers)


def test_all_three_paths_serve_the_same_body(
    local_server: LocalServer, secret: httpx.Client, api: httpx.Client
) -> None:
    local_server.add_group_type("company")
    local_server.create_flag("one", ROLLOUT_ALL)
    local_server.create_flag("two", condition(person("plan", "pro")), active=False)
    gone = local_server.create_flag("gone")
    local_server.delete_flag(gone["id"])
    bodies = []
    for path in paths(local_server):
        for client in (secret, api):
            response = client.get(path)
            assert response.status_code == 200, (path, response.text)
            assert response.headers["etag"].startswith('W/"')
            assert response.headers["cache-control"] == "private, must-revalidate"
            bodies.append(response.content)
    assert len(set(bodies)) == 1
    body = httpx.Response(200, content=bodies[0]).json()
    assert [flag["key"] for flag in body["flags"]] == ["one", "two"]  # inactive included
    assert set(body["flags"][0]) >= MINIMAL_FIELDS
    assert body["group_type_mapping"] == {"0": "company"}
    assert body["cohorts"] == {}


def test_credentials_are_required(local_server: LocalServer) -> None:
    for path in paths(local_server):
        response = HTTP.get(local_server.url + path)
        assert response.status_code == 401
        assert error(response)["code"] == "not_authenticated"


def test_flags_definitions_needs_a_known_token(
    local_server: LocalServer, secret: httpx.Client
) -> None:
    missing = secret.get("/flags/definitions")
    assert missing.status_code == 401
    unknown = secret.get("/flags/definitions", params={"token": "phc_nope"})
    assert unknown.status_code == 401
    assert error(unknown)["code"] == "authentication_failed"
    assert (
        secret.head(f"/flags/definitions?token={local_server.project_api_key}").status_code == 200
    )
    options = secret.options("/flags/definitions")
    assert options.status_code == 204
    assert options.headers["allow"] == "GET, OPTIONS, HEAD"


def test_etag_and_304(local_server: LocalServer, secret: httpx.Client) -> None:
    local_server.create_flag("cached")
    path = paths(local_server)[2]
    first = secret.get(path)
    etag = first.headers["etag"]
    for header in (etag, etag[2:], etag[3:-1], f'"other", {etag}', "*"):
        again = secret.get(path, headers={"If-None-Match": header})
        assert again.status_code == 304, header
        assert again.content == b""
        assert again.headers["etag"] == etag
    for header in ('W/"different"', "", '""'):
        assert secret.get(path, headers={"If-None-Match": header}).status_code == 200
    local_server.update_flag("cached", name="changed")
    changed = secret.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag


def test_etag_is_stable_across_restarts(tmp_path: object) -> None:
    db = f"{tmp_path}/flags.sqlite3"
    etags = []
    for round_ in range(2):
        with LocalServer(db) as server:
            if round_ == 0:
                server.create_flag("persisted", ROLLOUT_ALL)
            response = HTTP.get(
                server.url + paths(server)[2],
                headers={"Authorization": f"Bearer {server.secret_api_key}"},
            )
            etags.append(response.headers["etag"])
    assert etags[0] == etags[1]


def test_send_cohorts_sends_dynamic_cohorts_and_skips_static(
    local_server: LocalServer, secret: httpx.Client
) -> None:
    inner = local_server.add_cohort("inner", {"type": "AND", "values": [person("plan", "pro")]})
    outer = local_server.add_cohort(
        "outer",
        {
            "properties": {
                "type": "OR",
                "values": [{"key": "id", "type": "cohort", "value": inner["id"]}],
            }
        },
    )
    static = local_server.add_cohort("static", static_members=["alice"])
    local_server.create_flag(
        "by-cohort",
        {
            "groups": [
                {"properties": [{"key": "id", "type": "cohort", "value": outer["id"]}]},
                {"properties": [{"key": "id", "type": "cohort", "value": static["id"]}]},
            ]
        },
    )
    body = secret.get(paths(local_server)[2]).json()
    assert set(body["cohorts"]) == {str(inner["id"]), str(outer["id"])}
    assert body["cohorts"][str(inner["id"])] == {"type": "AND", "values": [person("plan", "pro")]}
    # flag filters are sent untouched
    groups = body["flags"][0]["filters"]["groups"]
    assert groups[0]["properties"][0]["value"] == outer["id"]


def test_without_send_cohorts_a_single_simple_cohort_is_inlined(
    local_server: LocalServer, secret: httpx.Client
) -> None:
    cohort = local_server.add_cohort(
        "paying",
        {
            "properties": {
                "type": "OR",
                "values": [
                    {"type": "AND", "values": [person("plan", "pro")]},
                    {
                        "type": "AND",
                        "values": [person("plan", "enterprise"), person("seats", "5", "gt")],
                    },
                ],
            }
        },
    )
    local_server.create_flag(
        "inlined",
        condition(
            person("country", "GB"),
            {"key": "id", "type": "cohort", "value": cohort["id"]},
            rollout=40,
        ),
    )
    path = f"/api/projects/{local_server.project_id}/feature_flags/local_evaluation/"
    body = secret.get(path).json()
    assert body["cohorts"] == {}
    assert body["flags"][0]["filters"]["groups"] == [
        {"properties": [person("country", "GB"), person("plan", "pro")], "rollout_percentage": 40},
        {
            "properties": [
                person("country", "GB"),
                person("plan", "enterprise"),
                person("seats", "5", "gt"),
            ],
            "rollout_percentage": 40,
        },
    ]
    # with send_cohorts=false explicitly, same as absent
    assert secret.get(path, params={"send_cohorts": "false"}).json() == body


def test_flag_dependencies_are_sent_with_keys_and_chains(
    local_server: LocalServer, secret: httpx.Client
) -> None:
    base = local_server.create_flag("base")
    middle = local_server.create_flag(
        "middle",
        condition(
            {"type": "flag", "key": str(base["id"]), "operator": "flag_evaluates_to", "value": True}
        ),
    )
    local_server.create_flag(
        "top",
        condition(
            {
                "type": "flag",
                "key": str(middle["id"]),
                "operator": "flag_evaluates_to",
                "value": True,
            }
        ),
    )
    flags = {flag["key"]: flag for flag in secret.get(paths(local_server)[2]).json()["flags"]}
    prop = flags["top"]["filters"]["groups"][0]["properties"][0]
    assert prop["key"] == "middle"
    assert prop["dependency_chain"] == ["base", "middle"]


def test_quota_limited_project_gets_402(local_server: LocalServer, secret: httpx.Client) -> None:
    local_server.set_quota_limited(True)
    for path in paths(local_server):
        response = secret.get(path)
        assert response.status_code == 402
        assert response.json() == {
            "type": "quota_limited",
            "detail": "You have exceeded your feature flag request quota",
            "code": "payment_required",
        }
    local_server.set_quota_limited(False)
    assert secret.get(paths(local_server)[0]).status_code == 200


def test_inactive_flags_can_be_left_out() -> None:
    with LocalServer(include_inactive_in_definitions=False) as server:
        server.create_flag("on")
        server.create_flag("off", active=False)
        body = HTTP.get(
            server.url + paths(server)[0],
            headers={"Authorization": f"Bearer {server.personal_api_key}"},
        ).json()
        assert [flag["key"] for flag in body["flags"]] == ["on"]
