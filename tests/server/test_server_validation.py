"""Validation of flag writes: PostHog's codes, messages and attrs; never a 500."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_helpers import condition, error, person

from flagkit.server import LocalServer, LocalServerError


def post_error(api: httpx.Client, path: str, body: Any) -> dict[str, Any]:
    response = api.post(path, json=body)
    assert response.status_code == 400, response.text
    return error(response)


@pytest.mark.parametrize(
    ("body", "code", "attr", "detail"),
    [
        ({}, "required", "key", "This field is required."),
        ({"key": ""}, "blank", "key", "This field may not be blank."),
        ({"key": None}, "null", "key", "This field may not be null."),
        (
            {"key": "k" * 401},
            "max_length",
            "key",
            "Ensure this field has no more than 400 characters.",
        ),
        (
            {"key": "foo bar"},
            "invalid_key",
            "key",
            "Only letters, numbers, hyphens (-) & underscores (_) are allowed.",
        ),
        ({"key": "ok", "active": "maybe"}, "invalid_input", "active", "Must be a valid boolean."),
        ({"key": "ok", "name": ["x"]}, "invalid_input", "name", "Not a valid string."),
        ({"key": "ok", "tags": "t"}, "not_a_list", "tags", None),
        ({"key": "ok", "filters": []}, "not_a_dict", "filters", None),
        ({"key": "ok", "bogus_field": 1}, "invalid_input", "bogus_field", "Unknown field."),
        ({"key": "ok", "evaluation_runtime": "moon"}, "invalid_choice", "evaluation_runtime", None),
    ],
)
def test_field_errors(
    api: httpx.Client,
    flags_path: str,
    body: dict[str, Any],
    code: str,
    attr: str,
    detail: str | None,
) -> None:
    problem = post_error(api, flags_path, body)
    assert problem["type"] == "validation_error"
    assert (problem["code"], problem["attr"]) == (code, attr)
    if detail is not None:
        assert problem["detail"] == detail


@pytest.mark.parametrize("key", ["foo?bar=baz", "foo/bar", "foo\\bar", "foo.bar", "ünï"])
def test_key_pattern(api: httpx.Client, flags_path: str, key: str) -> None:
    assert post_error(api, flags_path, {"key": key})["code"] == "invalid_key"


def test_400_character_key_is_fine(api: httpx.Client, flags_path: str) -> None:
    assert api.post(flags_path, json={"key": "k" * 400}).status_code == 201


def test_key_unique_among_live_flags(api: httpx.Client, flags_path: str) -> None:
    first = api.post(flags_path, json={"key": "dup"}).json()
    problem = post_error(api, flags_path, {"key": "dup"})
    assert problem == {
        "type": "validation_error",
        "code": "unique",
        "detail": "There is already a feature flag with this key.",
        "attr": "key",
    }
    other = api.post(flags_path, json={"key": "other"}).json()
    renamed = api.patch(f"{flags_path}{other['id']}/", json={"key": "dup"})
    assert error(renamed)["code"] == "unique"
    # a flag may keep its own key
    assert api.patch(f"{flags_path}{first['id']}/", json={"key": "dup"}).status_code == 200


FILTER_CASES: list[tuple[dict[str, Any], str, str]] = [
    (
        {
            "groups": [{"properties": [], "rollout_percentage": 100}],
            "multivariate": {
                "variants": [
                    {"key": "a", "rollout_percentage": 50},
                    {"key": "b", "rollout_percentage": 49},
                ]
            },
        },
        "invalid_input",
        "Invalid variant definitions: Variant rollout percentages must sum to 100.",
    ),
    (
        {"groups": []},
        "invalid_input",
        "Feature flags must have at least one condition set (group).",
    ),
    (
        condition({"key": "$browser", "value": "Chrome", "operator": "exact"}),
        "invalid_input",
        "Filters are not valid (can only use person, cohort, and flag properties)",
    ),
    (
        {"aggregation_group_type_index": 0, **condition(person("plan", "pro"))},
        "invalid_input",
        "Filters are not valid (can only use group properties)",
    ),
    (
        {"groups": [{"properties": [], "rollout_percentage": 100, "variant": "nope"}]},
        "invalid_input",
        "Filters are not valid (variant override does not exist)",
    ),
    (
        condition({"key": "id", "type": "cohort", "value": 999}),
        "cohort_does_not_exist",
        "Cohort with id 999 does not exist",
    ),
    (
        condition(person("signup", "not a date", "is_date_before")),
        "invalid_date",
        "Invalid date value: not a date",
    ),
    (
        condition(person("age", 5, "gt")),
        "invalid_value",
        "Invalid value for operator gt: 5",
    ),
    (
        condition(person("plan", ["a"], "in")),
        "invalid_operator",
        "The 'in' operator is only valid for cohort properties, not 'person' properties.",
    ),
    (
        condition(person("plan", [str(n) for n in range(1001)])),
        "invalid_input",
        "Property group expressions of type plan cannot contain more than 1000 values.",
    ),
    (
        {**condition(), "payloads": ["x"]},
        "invalid_input",
        "Payloads must be passed as a dictionary",
    ),
    (
        {**condition(), "payloads": {"true": "{not json"}},
        "invalid_input",
        "Payload value is not valid JSON",
    ),
    (
        {**condition(), "payloads": {"false": "1"}},
        "invalid_input",
        "Payload keys must be 'true' for boolean flags",
    ),
    (
        {
            **condition(),
            "multivariate": {"variants": [{"key": "a", "rollout_percentage": 100}]},
            "payloads": {"b": "1"},
        },
        "invalid_input",
        "Payload keys must match a variant key for multivariate flags",
    ),
    (
        {"groups": "everyone"},
        "invalid_input",
        "Filters are not valid (groups must be a list)",
    ),
    (
        condition({"type": "flag", "key": "7", "operator": "exact", "value": True}),
        "invalid_input",
        "Flag properties must use the 'flag_evaluates_to' operator",
    ),
    (
        condition({"type": "flag", "key": "some-key", "operator": "flag_evaluates_to", "value": 1}),
        "invalid_input",
        "Flag dependencies must reference flag IDs (integers), not flag keys. "
        "Invalid reference: 'some-key'",
    ),
    (
        condition({"type": "flag", "key": "424242", "operator": "flag_evaluates_to", "value": 1}),
        "invalid_input",
        "Flag dependency references non-existent flag with ID 424242",
    ),
]


@pytest.mark.parametrize(("filters", "code", "detail"), FILTER_CASES)
def test_filter_errors_name_the_filters_field(
    api: httpx.Client, flags_path: str, filters: dict[str, Any], code: str, detail: str
) -> None:
    problem = post_error(api, flags_path, {"key": "f", "filters": filters})
    assert (problem["code"], problem["attr"], problem["detail"]) == (code, "filters", detail)


def test_valid_complex_filters_are_accepted(local_server: LocalServer, flags_path: str) -> None:
    cohort = local_server.add_cohort("pros", {"properties": {"type": "AND", "values": []}})
    flag = local_server.create_flag(
        "ok",
        {
            "groups": [
                {
                    "properties": [
                        person("signup", "-30d", "is_date_after"),
                        person("age", "18", "gte"),
                        {"key": "id", "type": "cohort", "value": cohort["id"]},
                    ],
                    "rollout_percentage": 42.5,
                    "variant": "b",
                }
            ],
            "multivariate": {
                "variants": [
                    {"key": "a", "rollout_percentage": 50},
                    {"key": "b", "rollout_percentage": 50},
                ]
            },
            "payloads": {"a": {"color": "red"}, "b": "[1, 2]"},
        },
    )
    # dict payloads are stored JSON-encoded, like the UI sends them
    assert flag["filters"]["payloads"] == {"a": '{"color": "red"}', "b": "[1, 2]"}
    assert flag["filters"]["groups"][0]["properties"][2]["cohort_name"] == "pros"


def test_behavioral_cohort_is_refused(local_server: LocalServer) -> None:
    inner = local_server.add_cohort(
        "did-pay",
        {"type": "AND", "values": [{"key": "paid", "type": "behavioral", "value": "performed"}]},
    )
    outer = local_server.add_cohort(
        "wrapper", {"type": "OR", "values": [{"key": "id", "type": "cohort", "value": inner["id"]}]}
    )
    with pytest.raises(LocalServerError) as caught:
        local_server.create_flag(
            "behavioural", condition({"key": "id", "type": "cohort", "value": outer["id"]})
        )
    assert caught.value.code == "behavioral_cohort_found"
    assert caught.value.detail == (
        "Cohort 'did-pay' with filters on events cannot be used in feature flags."
    )


def test_flag_dependency_rules(local_server: LocalServer, api: httpx.Client) -> None:
    base = local_server.create_flag("base")
    dependent = local_server.create_flag(
        "dependent",
        condition(
            {"type": "flag", "key": str(base["id"]), "operator": "flag_evaluates_to", "value": True}
        ),
    )
    path = f"/api/projects/{local_server.project_id}/feature_flags/"
    # self reference
    self_ref = {"type": "flag", "key": str(base["id"]), "operator": "flag_evaluates_to"}
    response = api.patch(
        f"{path}{base['id']}/", json={"filters": condition({**self_ref, "value": 1})}
    )
    assert error(response)["detail"] == "Feature flag 'base' cannot depend on itself"
    # cycle: base -> dependent -> base
    to_dependent = {"type": "flag", "key": str(dependent["id"]), "operator": "flag_evaluates_to"}
    response = api.patch(
        f"{path}{base['id']}/", json={"filters": condition({**to_dependent, "value": True})}
    )
    assert error(response)["detail"] == "Circular dependency detected: base → dependent → base"
    # cannot disable or delete a flag others depend on
    response = api.patch(f"{path}{base['id']}/", json={"active": False})
    assert error(response)["detail"].startswith(
        f"Cannot disable this feature flag because other flags depend on it: dependent (ID: "
        f"{dependent['id']})."
    )
    response = api.patch(f"{path}{base['id']}/", json={"deleted": True})
    assert (
        "Cannot delete this feature flag because other flags depend on it"
        in error(response)["detail"]
    )
    # cannot depend on a disabled flag
    off = local_server.create_flag("off", active=False)
    response = api.post(
        path,
        json={
            "key": "needs-off",
            "filters": condition(
                {"type": "flag", "key": str(off["id"]), "operator": "flag_evaluates_to", "value": 1}
            ),
        },
    )
    assert error(response)["detail"] == (
        f"Cannot create dependency on disabled flag 'off' (ID: {off['id']}). "
        "Flag dependencies must reference active flags only."
    )


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "parse_error"),
        (b'{"key": NaN}', "application/json", 400, "parse_error"),
        (b"[1, 2]", "application/json", 400, "invalid_input"),
        (b'"just a string"', "application/json", 400, "invalid_input"),
        (b"key=x", "text/plain", 415, "unsupported_media_type"),
    ],
)
def test_malformed_bodies(
    api: httpx.Client, flags_path: str, content: bytes, content_type: str, status: int, code: str
) -> None:
    response = api.post(flags_path, content=content, headers={"Content-Type": content_type})
    assert response.status_code == status
    assert error(response)["code"] == code


def test_conflicting_version_with_original_flag_gives_409(
    local_server: LocalServer, api: httpx.Client
) -> None:
    flag = local_server.create_flag("edited", name="original")
    local_server.update_flag("edited", name="someone else")
    path = f"/api/projects/{local_server.project_id}/feature_flags/{flag['id']}/"
    stale = {"name": "mine", "version": 1, "original_flag": {"name": "original"}}
    response = api.patch(path, json=stale)
    assert response.status_code == 409
    assert error(response)["code"] == "conflict"
    assert "since you started editing it" in error(response)["detail"]
    # a stale version whose changed fields nobody else touched goes through
    untouched = {"active": False, "version": 1, "original_flag": {"active": True}}
    assert api.patch(path, json=untouched).status_code == 200


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)
FLAG_FIELDS = st.sampled_from(
    ["key", "name", "filters", "active", "deleted", "tags", "ensure_experience_continuity"]
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.dictionaries(FLAG_FIELDS, JSON, max_size=4),
    filters=st.dictionaries(
        st.sampled_from(["groups", "multivariate", "payloads", "aggregation_group_type_index"]),
        JSON,
        max_size=3,
    ),
)
def test_garbage_never_gives_a_500(
    api: httpx.Client, flags_path: str, body: dict[str, Any], filters: dict[str, Any]
) -> None:
    body = {**body, "filters": filters} if filters else body
    response = api.post(flags_path, json=body)
    assert response.status_code in (201, 400), response.text
    if response.status_code == 400:
        error(response)
