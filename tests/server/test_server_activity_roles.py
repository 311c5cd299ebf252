"""Activity log, dashboard, role access, and the handler-error path."""

from __future__ import annotations

import logging

import httpx
import pytest
from server_helpers import TLS_CONTEXT, error

from flagkit.server import LocalServer


def test_activity_records_create_update_delete_restore(
    local_server: LocalServer, api: httpx.Client, flags_path: str
) -> None:
    flag_id = api.post(flags_path, json={"key": "tracked", "name": "v1"}).json()["id"]
    api.patch(f"{flags_path}{flag_id}/", json={"name": "v2", "active": False})
    api.patch(f"{flags_path}{flag_id}/", json={"deleted": True})
    api.patch(f"{flags_path}{flag_id}/", json={"deleted": False})
    page = api.get(f"{flags_path}{flag_id}/activity/").json()
    assert set(page) == {"results", "next", "previous", "total_count"}
    assert page["total_count"] == 4
    assert [e["activity"] for e in page["results"]] == ["restored", "deleted", "updated", "created"]
    created = page["results"][-1]
    assert created["scope"] == "FeatureFlag"
    assert created["item_id"] == str(flag_id)
    assert created["detail"]["name"] == "tracked"
    assert created["detail"]["changes"] is None
    assert created["user"] == {"first_name": "Local", "email": "dev@localhost"}
    updated = page["results"][2]["detail"]["changes"]
    assert {(c["field"], c["before"], c["after"]) for c in updated} == {
        ("name", "v1", "v2"),
        ("active", True, False),
    }
    assert all(c["type"] == "FeatureFlag" and c["action"] == "changed" for c in updated)


def test_project_activity_pages(
    local_server: LocalServer, api: httpx.Client, flags_path: str
) -> None:
    for n in range(3):
        local_server.create_flag(f"a{n}")
    first = api.get(f"{flags_path}activity/", params={"limit": 2}).json()
    assert first["total_count"] == 3
    assert len(first["results"]) == 2
    assert first["previous"] is None
    assert "page=2" in first["next"]
    second = api.get(first["next"]).json()
    assert [e["detail"]["name"] for e in second["results"]] == ["a0"]
    assert second["next"] is None
    assert "page=1" in second["previous"]
    for bad in ({"limit": "x"}, {"page": "0"}):
        response = api.get(f"{flags_path}activity/", params=bad)
        assert response.status_code == 400
        assert error(response)["attr"] == next(iter(bad))


def test_activity_of_unknown_flag_is_an_empty_404(api: httpx.Client, flags_path: str) -> None:
    response = api.get(f"{flags_path}9999/activity/")
    assert response.status_code == 404
    assert response.content == b""


def test_dashboard(local_server: LocalServer, api: httpx.Client, flags_path: str) -> None:
    flag = local_server.create_flag("with-dashboard")
    response = api.post(f"{flags_path}{flag['id']}/dashboard/", json={})
    assert response.status_code == 200
    assert response.json() == {"success": True}
    assert local_server.get_flag(flag["id"])["usage_dashboard"] is not None  # type: ignore[index]
    assert api.post(f"{flags_path}9999/dashboard/").status_code == 404


def test_role_access_lifecycle(
    local_server: LocalServer, api: httpx.Client, flags_path: str
) -> None:
    flag = local_server.create_flag("guarded")
    role = local_server.add_role("Engineers")
    base = f"{flags_path}{flag['id']}/role_access/"
    assert api.get(base).json() == {"count": 0, "next": None, "previous": None, "results": []}
    created = api.post(base, json={"role_id": role["id"]})
    assert created.status_code == 201
    access = created.json()
    assert access["feature_flag"]["key"] == "guarded"
    assert access["role"]["name"] == "Engineers"
    assert access["role"]["feature_flags_access_level"] == 37
    assert api.get(f"{base}{access['id']}/").json() == access
    assert api.get(base).json()["count"] == 1
    duplicate = api.post(base, json={"role_id": role["id"]})
    assert error(duplicate)["code"] == "unique"
    unknown = api.post(base, json={"role_id": "00000000-0000-0000-0000-000000000000"})
    assert error(unknown) == {
        "type": "validation_error",
        "code": "does_not_exist",
        "detail": 'Invalid pk "00000000-0000-0000-0000-000000000000" - object does not exist.',
        "attr": "role_id",
    }
    assert error(api.post(base, json={}))["code"] == "required"
    deleted = api.delete(f"{base}{access['id']}/")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert api.get(f"{base}{access['id']}/").status_code == 404
    missing_parent = api.get(f"{flags_path}9999/role_access/")
    assert error(missing_parent)["detail"] == "Feature flag not found."


def test_role_access_needs_write_scope(local_server: LocalServer, flags_path: str) -> None:
    flag = local_server.create_flag("guarded")
    role = local_server.add_role("Support", 21)
    key = local_server.create_personal_api_key(["feature_flag:read"])
    with httpx.Client(
        verify=TLS_CONTEXT, base_url=local_server.url, headers={"Authorization": f"Bearer {key}"}
    ) as c:
        base = f"{flags_path}{flag['id']}/role_access/"
        assert c.get(base).status_code == 200
        assert c.post(base, json={"role_id": role["id"]}).status_code == 403


def test_handler_error_is_a_logged_json_500(
    local_server: LocalServer,
    api: httpx.Client,
    flags_path: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from flagkit.server import _flags_store

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(_flags_store, "page_of_live_flags", explode)
    with caplog.at_level(logging.ERROR, logger="flagkit.server"):
        response = api.get(flags_path, params={"personal_api_key": local_server.personal_api_key})
    assert response.status_code == 500
    assert error(response) == {
        "type": "server_error",
        "code": "error",
        "detail": "A server error occurred.",
        "attr": None,
    }
    assert "boom" not in response.text
    assert "Traceback" not in response.text
    assert any("handler error" in record.getMessage() for record in caplog.records)
    # keys (here in the query string) never reach the log
    assert local_server.personal_api_key not in caplog.text
