"""Authentication and scopes: personal keys in three places, secret keys, tokens, 401/403."""

from __future__ import annotations

import httpx
import pytest
from server_helpers import HTTP, TLS_CONTEXT, error

from flagkit.server import LocalServer


def test_no_credentials_gives_401(local_server: LocalServer, flags_path: str) -> None:
    response = HTTP.get(local_server.url + flags_path)
    assert response.status_code == 401
    assert error(response) == {
        "type": "authentication_error",
        "code": "not_authenticated",
        "detail": "Authentication credentials were not provided.",
        "attr": None,
    }
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("where", ["Authorization header", "body", "query string"])
def test_invalid_personal_key_names_where_it_was_found(
    local_server: LocalServer, flags_path: str, where: str
) -> None:
    url = local_server.url + flags_path
    if where == "Authorization header":
        response = HTTP.post(url, json={"key": "x"}, headers={"Authorization": "Bearer phx_no"})
    elif where == "body":
        response = HTTP.post(url, json={"key": "x", "personal_api_key": "phx_no"})
    else:
        response = HTTP.post(url, json={"key": "x"}, params={"personal_api_key": "phx_no"})
    assert response.status_code == 401
    assert error(response) == {
        "type": "authentication_error",
        "code": "authentication_failed",
        "detail": f"Personal API key found in request {where} is invalid.",
        "attr": None,
    }


def test_personal_key_in_body_and_query_works(local_server: LocalServer, flags_path: str) -> None:
    url = local_server.url + flags_path
    key = local_server.personal_api_key
    created = HTTP.post(url, json={"key": "via-body", "personal_api_key": key})
    assert created.status_code == 201
    assert "personal_api_key" not in created.json()
    listed = HTTP.get(url, params={"personal_api_key": key})
    assert listed.json()["count"] == 1


def _client(server: LocalServer, key: str) -> httpx.Client:
    return httpx.Client(
        verify=TLS_CONTEXT, base_url=server.url, headers={"Authorization": f"Bearer {key}"}
    )


def test_read_scope_can_read_not_write(local_server: LocalServer, flags_path: str) -> None:
    flag = local_server.create_flag("scoped")
    with _client(local_server, local_server.create_personal_api_key(["feature_flag:read"])) as c:
        assert c.get(flags_path).status_code == 200
        assert c.get(f"{flags_path}{flag['id']}/").status_code == 200
        assert c.get(f"{flags_path}local_evaluation/").status_code == 200
        refused = c.post(flags_path, json={"key": "nope"})
        assert refused.status_code == 403
        assert error(refused) == {
            "type": "authentication_error",
            "code": "permission_denied",
            "detail": "API key missing required scope 'feature_flag:write'",
            "attr": None,
        }
        assert c.get(f"{flags_path}activity/").status_code == 403


def test_write_scope_implies_read(local_server: LocalServer, flags_path: str) -> None:
    with _client(local_server, local_server.create_personal_api_key(["feature_flag:write"])) as c:
        assert c.post(flags_path, json={"key": "w"}).status_code == 201
        assert c.get(flags_path).status_code == 200


def test_activity_scope(local_server: LocalServer, flags_path: str) -> None:
    with _client(local_server, local_server.create_personal_api_key(["activity_log:read"])) as c:
        assert c.get(f"{flags_path}activity/").status_code == 200
        assert c.get(flags_path).status_code == 403


def test_ui_only_actions_refuse_scoped_keys(local_server: LocalServer, flags_path: str) -> None:
    local_server.create_flag("ui")
    with _client(local_server, local_server.create_personal_api_key(["*"])) as c:
        assert c.get(flags_path).status_code == 200  # "*" covers scoped actions
        for response in (
            c.get(f"{flags_path}my_flags/"),
            c.get(f"{flags_path}evaluation_reasons/", params={"distinct_id": "u"}),
            c.post(f"{flags_path}user_blast_radius/", json={"condition": {}}),
        ):
            assert response.status_code == 403
            assert error(response)["detail"] == (
                "This action does not support personal API key access"
            )


def test_project_scoped_key(local_server: LocalServer) -> None:
    other = local_server.add_project("Other")
    key = local_server.create_personal_api_key(["*"], project_ids=[other["id"]])
    with _client(local_server, key) as c:
        assert c.get(f"/api/projects/{other['id']}/feature_flags/").status_code == 200
        refused = c.get(f"/api/projects/{local_server.project_id}/feature_flags/")
        assert refused.status_code == 403
        assert error(refused)["detail"] == (
            f"API key does not have access to the requested project: ID {local_server.project_id}."
        )


def test_secret_key_only_for_local_evaluation(local_server: LocalServer, flags_path: str) -> None:
    with _client(local_server, local_server.secret_api_key) as c:
        assert c.get(f"{flags_path}local_evaluation/").status_code == 200
        refused = c.get(flags_path)
        assert refused.status_code == 403
        assert error(refused)["detail"] == (
            "This action does not support project secret API key access"
        )
        bad = c.get(f"{flags_path}local_evaluation/", headers={"Authorization": "Bearer phs_bad"})
        assert bad.status_code == 401
        assert error(bad)["detail"] == "Secret API token is invalid."


def test_secret_key_of_another_project_is_refused(local_server: LocalServer) -> None:
    other = local_server.add_project("Other")
    with _client(local_server, other["secret_api_token"]) as c:
        refused = c.get(f"/api/projects/{local_server.project_id}/feature_flags/local_evaluation")
        assert refused.status_code == 403
        assert error(refused)["detail"] == (
            f"API key does not have access to the requested project: ID {local_server.project_id}."
        )


def test_project_token_is_not_a_credential_for_crud(
    local_server: LocalServer, flags_path: str
) -> None:
    with _client(local_server, local_server.project_api_key) as c:
        assert c.get(flags_path).status_code == 401


def test_unknown_token_parameter_is_401(api: httpx.Client) -> None:
    response = api.get("/api/feature_flag/", params={"token": "phc_unknown"})
    assert response.status_code == 401
    assert error(response)["code"] == "authentication_failed"


def test_projects_are_isolated(local_server: LocalServer, api: httpx.Client) -> None:
    other = local_server.add_project("Other")
    local_server.create_flag("only-in-other", project_id=other["id"])
    assert api.get(f"/api/projects/{local_server.project_id}/feature_flags/").json()["count"] == 0
    assert api.get(f"/api/projects/{other['id']}/feature_flags/").json()["count"] == 1
    legacy = api.get("/api/feature_flag/", params={"token": other["api_token"]})
    assert legacy.json()["results"][0]["key"] == "only-in-other"
