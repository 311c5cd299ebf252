"""Persons API (cursor pagination) and event capture with its person side effects."""

from __future__ import annotations

import gzip
import json

import httpx
from server_helpers import HTTP, error

from flagkit.server import LocalServer


def test_persons_list_with_cursor_pagination(local_server: LocalServer, api: httpx.Client) -> None:
    for n in range(5):
        local_server.add_person(f"user-{n}", {"n": n})
    path = f"/api/projects/{local_server.project_id}/persons/"
    first = api.get(path, params={"limit": 2}).json()
    assert set(first) == {"next", "previous", "results"}
    assert [p["distinct_ids"] for p in first["results"]] == [["user-4"], ["user-3"]]
    assert first["previous"] is None
    assert "cursor=" in first["next"]
    second = api.get(first["next"]).json()
    assert [p["properties"]["n"] for p in second["results"]] == [2, 1]
    assert "cursor" not in second["previous"]
    third = api.get(second["next"]).json()
    assert [p["properties"]["n"] for p in third["results"]] == [0]
    assert third["next"] is None
    assert api.get(path, params={"cursor": "garbage!"}).status_code == 404


def test_person_fields_filters_and_retrieve(local_server: LocalServer, api: httpx.Client) -> None:
    created = local_server.add_person(
        "alice", {"email": "alice@acme.io", "plan": "pro"}, distinct_ids=["anon-1"]
    )
    local_server.add_person("bob", {"email": "bob@example.com"})
    path = f"/api/projects/{local_server.project_id}/persons/"
    found = api.get(path, params={"distinct_id": "anon-1"}).json()["results"]
    assert len(found) == 1
    person = found[0]
    assert {"id", "uuid", "name", "distinct_ids", "properties", "created_at"} <= set(person)
    assert person["name"] == "alice@acme.io"
    assert person["distinct_ids"] == ["alice", "anon-1"]
    assert [p["name"] for p in api.get(path, params={"search": "example"}).json()["results"]] == [
        "bob@example.com"
    ]
    assert api.get(f"{path}{created['id']}/").json() == person
    assert api.get(f"{path}{created['uuid']}/").json()["id"] == created["id"]
    assert error(api.get(f"{path}999999/"))["code"] == "not_found"
    assert (
        api.get("/api/person/", params={"token": local_server.project_api_key}).status_code == 200
    )


def test_persons_need_person_read_scope(local_server: LocalServer) -> None:
    key = local_server.create_personal_api_key(["feature_flag:read"])
    response = HTTP.get(
        f"{local_server.url}/api/projects/{local_server.project_id}/persons/",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 403
    assert error(response)["detail"] == "API key missing required scope 'person:read'"


def test_batch_capture_stores_events(local_server: LocalServer) -> None:
    body = {
        "api_key": local_server.project_api_key,
        "batch": [
            {
                "event": "$feature_flag_called",
                "distinct_id": "u1",
                "properties": {"$feature_flag": "beta", "$feature_flag_response": True},
                "timestamp": "2024-05-01T10:00:00Z",
                "uuid": "0190b6a4-0000-7000-8000-000000000001",
            },
            {"event": "clicked", "properties": {"distinct_id": "u2"}},
        ],
    }
    response = HTTP.post(f"{local_server.url}/batch/", json=body)
    assert response.status_code == 200
    assert response.json() == {"status": 1}
    events = local_server.events()
    assert [e["event"] for e in events] == ["$feature_flag_called", "clicked"]
    called = local_server.events("$feature_flag_called")
    assert called[0]["properties"]["$feature_flag"] == "beta"
    assert called[0]["uuid"] == "0190b6a4-0000-7000-8000-000000000001"
    assert called[0]["timestamp"] == "2024-05-01T10:00:00Z"
    assert events[1]["distinct_id"] == "u2"
    local_server.clear_events()
    assert local_server.events() == []


def test_gzip_and_single_event_capture(local_server: LocalServer) -> None:
    event = {"event": "e", "distinct_id": "d", "api_key": local_server.project_api_key}
    compressed = gzip.compress(json.dumps([event]).encode())
    response = HTTP.post(
        f"{local_server.url}/i/v0/e/?compression=gzip-js",
        content=compressed,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200
    plain = HTTP.post(f"{local_server.url}/e/", json=event)
    assert plain.status_code == 200
    gzipped_header = HTTP.post(
        f"{local_server.url}/batch/",
        content=gzip.compress(json.dumps({"api_key": event["api_key"], "batch": [event]}).encode()),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert gzipped_header.status_code == 200
    assert len(local_server.events("e")) == 3


def test_capture_updates_persons_and_groups(local_server: LocalServer) -> None:
    token = local_server.project_api_key
    batch = [
        {
            "event": "$identify",
            "distinct_id": "user",
            "properties": {
                "$anon_distinct_id": "anon",
                "$set": {"plan": "pro"},
                "$set_once": {"first": 1},
            },
        },
        {
            "event": "x",
            "distinct_id": "user",
            "properties": {"$set": {"plan": "enterprise"}, "$set_once": {"first": 2}},
        },
        {
            "event": "$groupidentify",
            "distinct_id": "user",
            "properties": {
                "$group_type": "company",
                "$group_key": "acme",
                "$group_set": {"seats": 9},
            },
        },
    ]
    assert (
        HTTP.post(f"{local_server.url}/batch/", json={"api_key": token, "batch": batch}).status_code
        == 200
    )
    persons = HTTP.get(
        f"{local_server.url}/api/projects/{local_server.project_id}/persons/",
        params={"distinct_id": "anon"},
        headers={"Authorization": f"Bearer {local_server.personal_api_key}"},
    ).json()["results"]
    assert persons[0]["properties"] == {"plan": "enterprise", "first": 1}
    assert sorted(persons[0]["distinct_ids"]) == ["anon", "user"]


def test_capture_errors(local_server: LocalServer) -> None:
    url = f"{local_server.url}/batch/"
    missing = HTTP.post(url, json={"batch": [{"event": "e", "distinct_id": "d"}]})
    assert missing.status_code == 401
    assert error(missing)["code"] == "missing_api_key"
    wrong = HTTP.post(
        url, json={"api_key": "phc_wrong", "batch": [{"event": "e", "distinct_id": "d"}]}
    )
    assert wrong.status_code == 401
    assert error(wrong)["code"] == "invalid_api_key"
    token = local_server.project_api_key
    no_name = HTTP.post(url, json={"api_key": token, "batch": [{"distinct_id": "d"}]})
    assert no_name.status_code == 400
    assert error(no_name)["code"] == "invalid_payload"
    no_id = HTTP.post(url, json={"api_key": token, "batch": [{"event": "e"}]})
    assert no_id.status_code == 400
    garbage = HTTP.post(
        url, content=b"\x00\x01 not json", headers={"Content-Type": "application/json"}
    )
    assert garbage.status_code == 400
    # a rejected batch stores nothing
    assert local_server.events() == []
