"""Feature-flag CRUD over HTTP: statuses, shapes, soft delete, versions, pagination, routes."""

from __future__ import annotations

import httpx
import pytest
from server_helpers import HTTP, ROLLOUT_ALL, condition, error, person

from flagkit.server import LocalServer

FULL_FIELDS = {
    "id",
    "name",
    "key",
    "filters",
    "deleted",
    "active",
    "created_by",
    "created_at",
    "is_simple_flag",
    "rollout_percentage",
    "ensure_experience_continuity",
    "experiment_set",
    "features",
    "rollback_conditions",
    "performed_rollback",
    "can_edit",
    "tags",
    "usage_dashboard",
    "analytics_dashboards",
    "has_enriched_analytics",
    "version",
}


def test_create_returns_201_with_the_full_resource(api: httpx.Client, flags_path: str) -> None:
    response = api.post(flags_path, json={"key": "beta", "name": "Beta", "filters": ROLLOUT_ALL})
    assert response.status_code == 201
    flag = response.json()
    assert set(flag) >= FULL_FIELDS
    assert flag["key"] == "beta"
    assert flag["version"] == 1
    assert flag["active"] is True
    assert flag["deleted"] is False
    assert flag["is_simple_flag"] is True
    assert flag["rollout_percentage"] == 100
    assert flag["created_by"]["email"] == "dev@localhost"
    assert flag["filters"]["groups"] == ROLLOUT_ALL["groups"]


def test_create_with_only_a_key_targets_everyone(api: httpx.Client, flags_path: str) -> None:
    flag = api.post(flags_path, json={"key": "bare"}).json()
    assert flag["filters"]["groups"] == [{"properties": [], "rollout_percentage": None}]


def test_retrieve_and_404(api: httpx.Client, flags_path: str) -> None:
    flag_id = api.post(flags_path, json={"key": "x"}).json()["id"]
    assert api.get(f"{flags_path}{flag_id}/").json()["key"] == "x"
    missing = api.get(f"{flags_path}99999/")
    assert missing.status_code == 404
    assert error(missing) == {
        "type": "invalid_request",
        "code": "not_found",
        "detail": "Not found.",
        "attr": None,
    }
    assert api.get(f"{flags_path}not-a-number/").status_code == 404


def test_patch_updates_and_bumps_version(api: httpx.Client, flags_path: str) -> None:
    flag_id = api.post(flags_path, json={"key": "v"}).json()["id"]
    first = api.patch(f"{flags_path}{flag_id}/", json={"name": "one"})
    assert first.status_code == 200
    assert first.json()["version"] == 2
    second = api.patch(f"{flags_path}{flag_id}/", json={"active": False})
    assert second.json()["version"] == 3
    assert second.json()["name"] == "one"
    assert second.json()["active"] is False


def test_put_is_an_update_too(api: httpx.Client, flags_path: str) -> None:
    flag_id = api.post(flags_path, json={"key": "put-me"}).json()["id"]
    response = api.put(f"{flags_path}{flag_id}/", json={"key": "put-me", "name": "via put"})
    assert response.status_code == 200
    assert response.json()["name"] == "via put"


def test_patch_without_groups_keeps_filters(api: httpx.Client, flags_path: str) -> None:
    # PostHog quirk: a PATCH whose filters lack "groups" leaves the stored filters alone.
    created = api.post(flags_path, json={"key": "quirk", "filters": condition(rollout=30)})
    flag_id = created.json()["id"]
    patched = api.patch(f"{flags_path}{flag_id}/", json={"filters": {"payloads": {}}})
    assert patched.json()["filters"]["groups"][0]["rollout_percentage"] == 30


def test_delete_is_refused_with_an_empty_405(api: httpx.Client, flags_path: str) -> None:
    flag_id = api.post(flags_path, json={"key": "keep"}).json()["id"]
    response = api.delete(f"{flags_path}{flag_id}/")
    assert response.status_code == 405
    assert response.content == b""
    assert api.get(f"{flags_path}{flag_id}/").json()["deleted"] is False


def test_soft_delete_hides_from_list_and_frees_the_key(api: httpx.Client, flags_path: str) -> None:
    flag_id = api.post(flags_path, json={"key": "gone"}).json()["id"]
    deleted = api.patch(f"{flags_path}{flag_id}/", json={"deleted": True})
    assert deleted.json()["deleted"] is True
    assert api.get(flags_path).json()["count"] == 0
    # retrieve still shows the soft-deleted flag, like PostHog
    assert api.get(f"{flags_path}{flag_id}/").json()["deleted"] is True
    again = api.post(flags_path, json={"key": "gone"})
    assert again.status_code == 201
    # the old holder of the key was hard-deleted
    assert api.get(f"{flags_path}{flag_id}/").status_code == 404


def test_list_pagination(api: httpx.Client, flags_path: str) -> None:
    for n in range(5):
        api.post(flags_path, json={"key": f"k{n}"})
    first = api.get(flags_path, params={"limit": 2}).json()
    assert first["count"] == 5
    assert [f["key"] for f in first["results"]] == ["k4", "k3"]  # newest first
    assert first["previous"] is None
    assert "offset=2" in first["next"]
    assert "limit=2" in first["next"]
    second = api.get(first["next"]).json()
    assert [f["key"] for f in second["results"]] == ["k2", "k1"]
    assert "offset" not in second["previous"]  # DRF drops offset=0
    last = api.get(second["next"]).json()
    assert [f["key"] for f in last["results"]] == ["k0"]
    assert last["next"] is None
    assert api.get(flags_path, params={"limit": "junk"}).json()["results"][0]["key"] == "k4"


def test_default_page_size_is_100(local_server: LocalServer, api: httpx.Client) -> None:
    for n in range(105):
        local_server.create_flag(f"many-{n}")
    page = api.get(f"/api/projects/{local_server.project_id}/feature_flags").json()
    assert page["count"] == 105
    assert len(page["results"]) == 100


def test_routes_without_trailing_slash_current_and_legacy(
    local_server: LocalServer, api: httpx.Client
) -> None:
    local_server.create_flag("routed")
    no_slash = api.get(f"/api/projects/{local_server.project_id}/feature_flags")
    assert no_slash.json()["count"] == 1
    assert api.get("/api/projects/@current/feature_flags/").json()["count"] == 1
    assert api.get("/api/environments/@current/feature_flags/").json()["count"] == 1
    legacy = api.get("/api/feature_flag/", params={"token": local_server.project_api_key})
    assert legacy.json()["results"][0]["key"] == "routed"
    created = api.post("/api/feature_flag/", json={"key": "old-style", "rollout_percentage": 25})
    assert created.status_code == 201
    assert created.json()["filters"]["groups"][0]["rollout_percentage"] == 25


def test_unknown_project_and_unknown_route(api: httpx.Client) -> None:
    for path in ("/api/projects/4242/feature_flags/", "/api/projects/abc/feature_flags/"):
        response = api.get(path)
        assert response.status_code == 404
        assert error(response)["detail"] == "Project not found."
    assert error(api.get("/api/nothing-here/"))["code"] == "not_found"


def test_method_not_allowed_on_collection(api: httpx.Client, flags_path: str) -> None:
    response = api.delete(flags_path)
    assert response.status_code == 405
    assert error(response)["detail"] == 'Method "DELETE" not allowed.'
    assert "POST" in response.headers["allow"]


def test_form_encoded_create_like_the_seed_curl(api: httpx.Client, flags_path: str) -> None:
    response = api.post(flags_path, data={"key": "from-form", "active": "false"})
    assert response.status_code == 201
    assert response.json()["active"] is False


def test_python_helpers_match_the_api(local_server: LocalServer, api: httpx.Client) -> None:
    flag = local_server.create_flag("helper", condition(person("plan", "pro")), name="n")
    assert flag["version"] == 1
    updated = local_server.update_flag("helper", active=False)
    assert updated["version"] == 2
    assert updated["active"] is False
    fetched = api.get(f"/api/projects/{local_server.project_id}/feature_flags/{flag['id']}/")
    assert fetched.json() == updated
    assert local_server.get_flag("helper") == updated
    assert [f["key"] for f in local_server.flags()] == ["helper"]
    local_server.delete_flag(flag["id"])
    assert local_server.get_flag("helper") is None
    assert local_server.get_flag(flag["id"])["deleted"] is True  # type: ignore[index]


def test_repr_never_shows_keys(local_server: LocalServer) -> None:
    text = repr(local_server)
    for secret in (
        local_server.personal_api_key,
        local_server.project_api_key,
        local_server.secret_api_key,
    ):
        assert secret not in text
    assert local_server.url in text


def test_keys_have_posthog_prefixes_and_differ_per_server(local_server: LocalServer) -> None:
    assert local_server.personal_api_key.startswith("phx_")
    assert local_server.project_api_key.startswith("phc_")
    assert local_server.secret_api_key.startswith("phs_")
    with LocalServer() as other:
        assert other.personal_api_key != local_server.personal_api_key


def test_given_keys_are_used() -> None:
    with LocalServer(
        personal_api_key="phx_given", project_api_key="phc_given", secret_api_key="phs_given"
    ) as server:
        assert (server.personal_api_key, server.project_api_key) == ("phx_given", "phc_given")
        response = HTTP.get(
            f"{server.url}/api/projects/@current/feature_flags/",
            headers={"Authorization": "Bearer phx_given"},
        )
        assert response.status_code == 200


def test_not_started_server_has_no_url() -> None:
    server = LocalServer()
    with pytest.raises(RuntimeError):
        _ = server.url
    server.stop()
