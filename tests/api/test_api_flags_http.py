"""FeatureFlagsAPI against a real LocalServer over HTTP: every flag and person endpoint."""

from __future__ import annotations

import attrs
import pytest

from flagkit._evaluation.snapshot import Snapshot
from flagkit.api import (
    ActivityEntry,
    ApiError,
    BlastRadius,
    FeatureFlag,
    FeatureFlagsAPI,
    NotFound,
    Page,
    Variant,
)
from flagkit.server import LocalServer


def flags_path(server: LocalServer, suffix: str = "") -> str:
    return f"/api/projects/{server.project_id}/feature_flags/{suffix}"


def test_create_get_update_and_soft_delete(api: FeatureFlagsAPI, key: str) -> None:
    created = api.flags.create(key, name="first", rollout_percentage=30, tags=["demo"])
    assert isinstance(created, FeatureFlag)
    assert created.id is not None
    assert (created.key, created.name, created.active, created.rollout_percentage) == (
        key,
        "first",
        True,
        30,
    )
    assert api.flags.get(created.id) == created
    assert api.flags.get_by_key(key).id == created.id

    updated = api.flags.update(created.id, name="second", active=False)
    assert (updated.name, updated.active) == ("second", False)
    assert updated.filters == created.filters  # untouched fields stay

    deleted = api.flags.delete(created.id)
    assert deleted.deleted is True
    assert api.flags.get(created.id).deleted is True  # soft: still retrievable
    assert key not in {f.key for f in api.flags.iter_all()}
    with pytest.raises(NotFound):
        api.flags.get_by_key(key)


def test_hard_delete_is_refused_by_the_server(api: FeatureFlagsAPI, key: str) -> None:
    flag = api.flags.create(key, rollout_percentage=0)
    assert flag.id is not None
    call = api.flags._ops.hard_delete_flag(flag.id)
    with pytest.raises(ApiError) as info:
        api.flags._run(call)
    assert info.value.status == 405
    assert api.flags.get(flag.id).deleted is False


def test_multivariate_flag_with_payloads_from_models(api: FeatureFlagsAPI, key: str) -> None:
    flag = api.flags.create(
        key,
        filters={
            "groups": [{"properties": [], "rollout_percentage": 100}],
            "payloads": {"control": '{"color": "grey"}', "test": '{"color": "blue"}'},
        },
        variants=[Variant("control", 50), {"key": "test", "rollout_percentage": 50}],
    )
    assert [v.key for v in flag.variants] == ["control", "test"]
    assert flag.payloads["test"] == '{"color": "blue"}'
    # A modified model can be sent back as is.
    changed = attrs.evolve(flag, name="from a model", active=False)
    again = api.flags.update(changed)
    assert (again.name, again.active, again.variants) == ("from a model", False, flag.variants)
    # And a plain dict works as well.
    other = api.flags.create({"key": key + "-dict", "filters": {"groups": [{"properties": []}]}})
    assert other.key == key + "-dict"


def test_unknown_response_fields_are_kept(api: FeatureFlagsAPI, key: str) -> None:
    flag = api.flags.create(key, rollout_percentage=10)
    raw = api.flags._transport.send(api.flags._ops.get_flag(flag.id or 0).plan)
    unknown = set(raw) - {field.name for field in attrs.fields(FeatureFlag)}
    assert unknown  # the server sends fields the model does not type
    assert unknown <= set(flag.extra)
    assert flag.to_dict()["usage_dashboard"] == raw.get("usage_dashboard")


def test_list_pages_and_iter_all_is_lazy(
    api: FeatureFlagsAPI, server: LocalServer, key: str
) -> None:
    for n in range(5):
        api.flags.create(f"{key}-{n}", rollout_percentage=n)
    page = api.flags.list(limit=2)
    assert isinstance(page, Page)
    assert len(page) == 2
    assert page.count is not None
    assert page.count >= 5
    assert page.next is not None

    path = flags_path(server)
    before = server.faults.count(path)
    iterator = api.flags.iter_all(page_size=2)
    assert server.faults.count(path) == before  # nothing fetched yet
    next(iterator)
    assert server.faults.count(path) == before + 1
    keys = {f.key for f in iterator}
    assert {f"{key}-{n}" for n in range(5)} <= keys | {page.results[0].key}
    assert server.faults.count(path) >= before + 3


def test_activity_per_flag_and_project(api: FeatureFlagsAPI, key: str) -> None:
    flag = api.flags.create(key, rollout_percentage=5)
    assert flag.id is not None
    api.flags.update(flag.id, active=False)
    page = api.flags.activity(flag.id)
    assert all(isinstance(e, ActivityEntry) for e in page)
    assert {"created", "updated"} <= {e.activity for e in page}
    assert all(e.item_id == str(flag.id) for e in page)
    project_wide = api.flags.activity(limit=50)
    assert any(e.item_id == str(flag.id) for e in project_wide)
    with pytest.raises(NotFound):
        api.flags.activity(987654)


def test_dashboard_evaluation_reasons_my_flags_and_blast_radius(
    api: FeatureFlagsAPI, server: LocalServer, key: str
) -> None:
    flag = api.flags.create(
        key,
        filters={
            "groups": [
                {
                    "properties": [
                        {"key": "plan", "value": ["pro"], "operator": "exact", "type": "person"}
                    ],
                    "rollout_percentage": 100,
                }
            ]
        },
    )
    assert flag.id is not None
    assert api.flags.create_dashboard(flag.id) is True

    server.add_person(f"{key}-pro", {"plan": "pro"})
    server.add_person(f"{key}-free", {"plan": "free"})
    reasons = api.flags.evaluation_reasons(f"{key}-pro")
    assert reasons[key].value is True
    assert reasons[key].reason == "condition_match"
    assert api.flags.evaluation_reasons(f"{key}-free")[key].value is False

    mine = api.flags.my_flags()
    assert key in {m.feature_flag.key for m in mine}

    radius = api.flags.user_blast_radius(
        {"properties": [{"key": "plan", "value": ["pro"], "operator": "exact", "type": "person"}]}
    )
    assert isinstance(radius, BlastRadius)
    assert radius.users_affected >= 1
    assert radius.total_users >= radius.users_affected + 1


def test_local_evaluation_returns_a_snapshot(api: FeatureFlagsAPI, key: str) -> None:
    api.flags.create(key, rollout_percentage=100)
    snapshot = api.flags.local_evaluation()
    assert isinstance(snapshot, Snapshot)
    assert key in snapshot
    body = api.flags.local_evaluation_body()
    assert isinstance(body["flags"], list)
    assert "group_type_mapping" in body


def test_role_access_list_create_get_delete(
    api: FeatureFlagsAPI, server: LocalServer, key: str
) -> None:
    flag = api.flags.create(key, rollout_percentage=1)
    assert flag.id is not None
    role_id = server.add_role("Engineers")["id"]
    access = api.flags.role_access.create(flag.id, role_id)
    assert access.id is not None
    assert access.role_id == role_id
    assert access.role_name == "Engineers"
    assert [a.id for a in api.flags.role_access.list(flag.id)] == [access.id]
    assert api.flags.role_access.get(flag.id, access.id).role_id == role_id
    api.flags.role_access.delete(flag.id, access.id)
    assert len(api.flags.role_access.list(flag.id)) == 0
    with pytest.raises(NotFound):
        api.flags.role_access.get(flag.id, access.id)


def test_persons_list_get_find(api: FeatureFlagsAPI, server: LocalServer, key: str) -> None:
    for n in range(3):
        server.add_person(f"{key}-p{n}", {"n": n})
    everyone = list(api.persons.iter_all(page_size=2))
    ids = {d for p in everyone for d in p.distinct_ids}
    assert {f"{key}-p{n}" for n in range(3)} <= ids
    found = api.persons.find(f"{key}-p1")
    assert found is not None
    assert found.properties["n"] == 1
    assert found.id is not None
    assert api.persons.get(found.id).distinct_ids == found.distinct_ids
    assert api.persons.find(f"{key}-nobody") is None
    assert len(api.persons.list(limit=1)) == 1


def test_legacy_routes_select_the_project_by_token(server: LocalServer, key: str) -> None:
    with FeatureFlagsAPI(
        server.url, server.personal_api_key, project_api_key=server.project_api_key
    ) as legacy:
        assert legacy.settings.paths.legacy
        flag = legacy.flags.create(key, rollout_percentage=50)
        assert flag.id is not None
        assert legacy.flags.get(flag.id).key == key
        assert legacy.flags.get_by_key(key).id == flag.id
        assert legacy.flags.update(flag.id, name="legacy").name == "legacy"
        assert key in legacy.flags.local_evaluation()
        assert legacy.flags.delete(flag.id).deleted is True
    # The same flag through the project-scoped routes.
    with FeatureFlagsAPI(server.url, server.personal_api_key, server.project_id) as current:
        assert current.flags.get(flag.id).deleted is True
