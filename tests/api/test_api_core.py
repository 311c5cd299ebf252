"""The pure parts of flagkit.api: retry decisions, error parsing, models, validation, paths."""

from __future__ import annotations

import email.utils
import json
import time

import httpx
import pytest

from flagkit.api import (
    ApiConnectionError,
    ApiError,
    AuthenticationError,
    ConfigurationError,
    FeatureFlag,
    InvalidResponseError,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    ValidationError,
    Variant,
    check_filters,
    check_key,
)
from flagkit.api._models import Page, Person, RoleAccess, encode
from flagkit.api._ops import Call, Operations, Pager, flag_body, next_page_plan
from flagkit.api._paths import Paths
from flagkit.api._settings import ApiSettings
from flagkit.api._transport import (
    Done,
    Received,
    RequestPlan,
    RetryPolicy,
    Sleep,
    TransportCore,
    classify_exception,
    parse_error_body,
    parse_retry_after,
)

KEY = "phx_supersecretvalue123"
GET = RequestPlan("GET", "/api/projects/1/feature_flags/")
POST = RequestPlan("POST", "/api/projects/1/feature_flags/", body={"key": "a"}, has_body=True)


def core(retries: int = 2) -> TransportCore:
    return TransportCore(RetryPolicy(max_retries=retries, backoff=0.1, max_retry_after=30), [KEY])


def response(status: int, body: object = None, headers: dict[str, str] | None = None) -> Received:
    content = b"" if body is None else json.dumps(body).encode()
    return Received(status, headers or {}, content)


def posthog_error(detail: str, code: str = "invalid_input", attr: str | None = None) -> dict:
    return {"type": "validation_error", "code": code, "detail": detail, "attr": attr}


# -- decisions ---------------------------------------------------------------------------


def test_success_decodes_json_and_empty_body_is_none() -> None:
    assert core().step(GET, 0, response(200, {"a": 1})) == Done({"a": 1})
    assert core().step(GET, 0, Received(204, {}, b"")) == Done(None)


def test_success_with_non_json_body_raises_invalid_response() -> None:
    with pytest.raises(InvalidResponseError, match="not JSON"):
        core().step(GET, 0, Received(200, {}, b"<html>oops</html>"))


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_reads_retry_5xx_with_exponential_backoff_then_raise(status: int) -> None:
    c = core(retries=2)
    assert c.step(GET, 0, response(status)) == Sleep(0.1)
    assert c.step(GET, 1, response(status)) == Sleep(0.2)
    with pytest.raises(ServerError) as info:
        c.step(GET, 2, response(status))
    assert info.value.status == status


def test_writes_are_not_retried_on_5xx() -> None:
    with pytest.raises(ServerError):
        core().step(POST, 0, response(503))


def test_writes_are_retried_on_429_which_did_no_work() -> None:
    assert core().step(POST, 0, response(429, headers={"Retry-After": "2"})) == Sleep(2.0)


def test_retry_after_longer_than_the_cap_raises_at_once() -> None:
    with pytest.raises(RateLimited) as info:
        core().step(GET, 0, response(429, headers={"Retry-After": "120"}))
    assert info.value.retry_after == 120
    assert "Wait 120 s" in str(info.value)


def test_connection_failures_retry_reads_and_unsent_writes_only() -> None:
    never_sent = classify_exception(httpx.ConnectError("refused"))
    maybe_sent = classify_exception(httpx.ReadTimeout("slow"))
    assert never_sent.sent is False
    assert maybe_sent.sent is True
    assert core().step(GET, 0, maybe_sent) == Sleep(0.1)
    assert core().step(POST, 0, never_sent) == Sleep(0.1)
    with pytest.raises(ApiConnectionError, match="ReadTimeout"):
        core().step(POST, 0, maybe_sent)
    with pytest.raises(ApiConnectionError):
        core(retries=0).step(GET, 0, never_sent)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, ValidationError),
        (401, AuthenticationError),
        (403, PermissionDenied),
        (404, NotFound),
        (405, ApiError),
        (409, ApiError),
        (429, RateLimited),
        (500, ServerError),
    ],
)
def test_status_selects_the_exception_class(status: int, cls: type[ApiError]) -> None:
    with pytest.raises(cls) as info:
        core(retries=0).step(POST, 0, response(status, posthog_error("nope")))
    assert type(info.value) is cls
    assert info.value.status == status
    assert info.value.method == "POST"
    assert info.value.path == "/api/projects/1/feature_flags/"


def test_validation_error_carries_attr_code_and_detail() -> None:
    body = posthog_error("There is already a feature flag with this key.", "unique", "key")
    with pytest.raises(ValidationError) as info:
        core().step(POST, 0, response(400, body))
    err = info.value
    assert (err.attr, err.code, err.detail) == (
        "key",
        "unique",
        "There is already a feature flag with this key.",
    )
    assert "key: There is already a feature flag with this key" in str(err)
    assert "Fix the value" in str(err)


def test_keys_never_appear_in_messages_or_reprs() -> None:
    body = {"detail": f"Personal API key {KEY} is invalid.", "attr": None}
    plan = RequestPlan("GET", f"/api/feature_flag/?personal_api_key={KEY}")
    with pytest.raises(AuthenticationError) as info:
        core().step(plan, 0, response(401, body))
    text = str(info.value) + repr(info.value) + (info.value.path or "")
    assert KEY not in text
    assert "[REDACTED]" in text
    assert "POSTHOG_PERSONAL_API_KEY" in str(info.value)  # says what to do


# -- error bodies and Retry-After -------------------------------------------------------


def test_parse_error_body_forms() -> None:
    multiple = {
        "type": "multiple",
        "code": "multiple",
        "detail": "Multiple exceptions ocurred.",
        "list": [posthog_error("This field is required.", "required", "key")],
    }
    assert parse_error_body(400, json.dumps(multiple).encode()) == (
        "This field is required.",
        "required",
        "key",
    )
    drf = {"role_id": ['Invalid pk "x" - object does not exist.']}
    assert parse_error_body(400, json.dumps(drf).encode()) == (
        'Invalid pk "x" - object does not exist.',
        None,
        "role_id",
    )
    assert parse_error_body(401, b"No API token provided.") == (
        "No API token provided.",
        None,
        None,
    )
    assert parse_error_body(405, b"") == ("Method Not Allowed", None, None)
    assert parse_error_body(400, b'{"success": false, "error": "Unable"}')[0] == "Unable"


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "0.5"}) == 0.5
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= (parse_retry_after({"Retry-After": future}) or 0) <= 31
    detail = "Request was throttled. Expected available in 7 seconds."
    assert parse_retry_after({}, detail) == 7.0
    assert parse_retry_after({}, "nothing") is None


# -- models ------------------------------------------------------------------------------


def test_feature_flag_keeps_unknown_fields_and_round_trips() -> None:
    data = {
        "id": 7,
        "key": "beta",
        "name": "Beta",
        "filters": {
            "groups": [{"properties": [], "rollout_percentage": 30}],
            "multivariate": {"variants": [{"key": "a", "rollout_percentage": 100, "x": 1}]},
            "payloads": {"a": '{"k": 1}'},
        },
        "active": True,
        "deleted": False,
        "created_at": "2024-01-01T00:00:00Z",
        "brand_new_field": {"nested": [1, 2]},
        "tags": ["t"],
    }
    flag = FeatureFlag.from_dict(data)
    assert flag.extra == {"brand_new_field": {"nested": [1, 2]}}
    assert flag.rollout_percentage == 30
    assert flag.variants == (Variant("a", 100, extra={"x": 1}),)
    assert flag.payloads == {"a": '{"k": 1}'}
    again = FeatureFlag.from_dict(flag.to_dict())
    assert again == flag
    assert "brand_new_field" not in flag.to_request()
    assert "id" not in flag.to_request()


def test_feature_flag_reads_the_2020_shape_as_one_group() -> None:
    flag = FeatureFlag.from_dict(
        {"id": 1, "key": "old", "rollout_percentage": 40, "filters": {"properties": []}}
    )
    assert flag.groups == ({"properties": [], "rollout_percentage": 40},)
    assert flag.rollout_percentage == 40


def test_models_tolerate_missing_and_odd_fields() -> None:
    flag = FeatureFlag.from_dict({"key": None, "filters": "nonsense", "tags": "x", "id": "12"})
    assert (flag.id, flag.key, flag.filters, flag.tags) == (12, "", {}, ())
    assert flag.groups == ()
    assert flag.variants == ()
    assert flag.rollout_percentage is None
    person = Person.from_dict({"id": 3, "distinct_ids": ["a", 2], "properties": None, "x": 1})
    assert person.distinct_ids == ("a", "2")
    assert person.properties == {}
    assert person.extra == {"x": 1}
    access = RoleAccess.from_dict({"id": 1, "role": {"id": "r-1", "name": "Eng"}})
    assert access.role_id == "r-1"
    assert access.role_name == "Eng"


def test_encode_turns_models_into_plain_json() -> None:
    body = encode({"variants": (Variant("a", 50), {"key": "b", "rollout_percentage": 50})})
    assert body == {
        "variants": [{"key": "a", "rollout_percentage": 50}, {"key": "b", "rollout_percentage": 50}]
    }


def test_flag_body_accepts_key_model_or_dict_with_shortcuts() -> None:
    body = flag_body("k", name="n", rollout_percentage=25, variants=[Variant("a", 100)])
    assert body == {
        "key": "k",
        "name": "n",
        "filters": {
            "groups": [{"properties": [], "rollout_percentage": 25}],
            "multivariate": {"variants": [{"key": "a", "rollout_percentage": 100}]},
        },
    }
    from_dict = flag_body({"key": "k", "active": False}, fields={"tags": ("x",)})
    assert from_dict == {"key": "k", "active": False, "tags": ["x"]}
    model = FeatureFlag(id=3, key="m", name="x", extra={"server_only": 1})
    assert flag_body(model)["key"] == "m"
    assert "server_only" not in flag_body(model)
    with pytest.raises(ValueError, match="not both"):
        flag_body("k", filters={"groups": [{}]}, rollout_percentage=5)


# -- validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "code", "detail"),
    [
        (None, "required", "This field is required."),
        ("", "blank", "This field may not be blank."),
        ("a" * 401, "max_length", "Ensure this field has no more than 400 characters."),
        (
            "foo bar",
            "invalid_key",
            "Only letters, numbers, hyphens (-) & underscores (_) are allowed.",
        ),
        (
            "foo.bar",
            "invalid_key",
            "Only letters, numbers, hyphens (-) & underscores (_) are allowed.",
        ),
    ],
)
def test_check_key(key: str | None, code: str, detail: str) -> None:
    with pytest.raises(ValidationError) as info:
        check_key(key)
    assert (info.value.attr, info.value.code, info.value.detail) == ("key", code, detail)
    assert info.value.status is None
    assert "checked before sending" in str(info.value)


def test_check_key_accepts_valid_keys() -> None:
    check_key("new-checkout_2")
    check_key("a" * 400)


@pytest.mark.parametrize(
    ("filters", "detail"),
    [
        (
            {"multivariate": {"variants": [{"key": "a", "rollout_percentage": 60}]}},
            "Invalid variant definitions: Variant rollout percentages must sum to 100.",
        ),
        (
            {"groups": [{"properties": [], "rollout_percentage": 101}]},
            "Filters are not valid (rollout_percentage must be between 0 and 100)",
        ),
        (
            {"groups": [{"properties": [], "rollout_percentage": -1}]},
            "Filters are not valid (rollout_percentage must be between 0 and 100)",
        ),
        (
            {"groups": [{"rollout_percentage": "50"}]},
            "Filters are not valid (rollout_percentage must be a number)",
        ),
        ([], "Filters must be a JSON object."),
    ],
)
def test_check_filters_rejects(filters: object, detail: str) -> None:
    with pytest.raises(ValidationError) as info:
        check_filters(filters)
    assert info.value.attr == "filters"
    assert info.value.detail == detail


def test_check_filters_accepts_good_filters() -> None:
    check_filters(None)
    check_filters(
        {
            "groups": [{"properties": [], "rollout_percentage": None}, {"rollout_percentage": 0}],
            "multivariate": {
                "variants": [
                    {"key": "a", "rollout_percentage": 50},
                    {"key": "b", "rollout_percentage": 25.5},
                    {"key": "c", "rollout_percentage": 24.5},
                ]
            },
        }
    )


# -- paths, plans, paging ---------------------------------------------------------------


def test_paths_for_both_eras() -> None:
    new = Paths.for_project(12)
    assert new.flag(5) == "/api/projects/12/feature_flags/5/"
    assert (
        new.flags_action("local_evaluation") == "/api/projects/12/feature_flags/local_evaluation/"
    )
    assert new.role_access(5, 9) == "/api/projects/12/feature_flags/5/role_access/9/"
    assert new.person("a/b") == "/api/projects/12/persons/a%2Fb/"
    old = Paths.for_project(None)
    assert old.legacy
    assert old.flag(5) == "/api/feature_flag/5/"
    assert old.persons() == "/api/person/"
    assert Paths.for_project(3, legacy=True).flags() == "/api/feature_flag/"


def test_legacy_operations_send_the_project_token() -> None:
    ops = Operations(Paths.for_project(None), token="phc_abc")
    assert ("token", "phc_abc") in ops.get_flag(1).plan.params
    assert Operations(Paths.for_project(1), token="phc_abc").get_flag(1).plan.params == ()


def test_next_page_plan_uses_path_and_query_and_keeps_the_token() -> None:
    plan = RequestPlan("GET", "/api/feature_flag/", (("limit", "2"), ("token", "phc_x")))
    nxt = next_page_plan(plan, "http://elsewhere:9/api/feature_flag/?limit=2&offset=2")
    assert nxt.path == "/api/feature_flag/"
    assert nxt.params == (("limit", "2"), ("offset", "2"), ("token", "phc_x"))


def test_page_links_drop_credentials_and_following_restores_our_token() -> None:
    call = Operations(Paths.for_project(None), token="phc_secret").list_flags(1, None, {})
    body = {
        "results": [],
        "next": "http://h/api/feature_flag/?limit=1&token=phc_secret&offset=1",
        "previous": "/api/feature_flag/?personal_api_key=phx_secret&limit=1",
    }
    page = call.parse(body)
    assert page.next == "http://h/api/feature_flag/?limit=1&offset=1"
    assert page.previous == "/api/feature_flag/?limit=1"
    assert "secret" not in repr(page)
    assert ("token", "phc_secret") in next_page_plan(call.plan, page.next).params


def test_pager_stops_on_repeats_and_empty_pages() -> None:
    first: Call[Page[int]] = Call(RequestPlan("GET", "/x/", (("offset", "0"),)), lambda d: d)
    pager = Pager(first)
    pager.advance(Page(results=(1,), next="/x/?offset=1"))
    assert pager.call is not None
    assert pager.call.plan.params == (("offset", "1"),)
    pager.advance(Page(results=(2,), next="/x/?offset=1"))  # the same link again
    assert pager.call is None
    pager = Pager(first)
    pager.advance(Page(results=(), next="/x/?offset=1"))
    assert pager.call is None


def test_settings_come_from_the_environment_and_hide_keys() -> None:
    env = {
        "POSTHOG_HOST": "http://127.0.0.1:1/",
        "POSTHOG_PERSONAL_API_KEY": KEY,
        "POSTHOG_PROJECT_ID": "4",
    }
    settings = ApiSettings.build(None, None, None, environ=env)
    assert (settings.host, settings.project_id) == ("http://127.0.0.1:1", "4")
    assert KEY not in repr(settings)
    with pytest.raises(ConfigurationError, match="no personal API key"):
        ApiSettings.build("https://x", None, None, environ={})
    with pytest.raises(ValueError, match="http"):
        ApiSettings.build("x.example.com", KEY, None, environ={})
