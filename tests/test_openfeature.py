"""FlagkitProvider, exercised through the OpenFeature API (offline and with a LocalServer)."""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import EventDetails, ProviderEvent
from openfeature.exception import ErrorCode, ProviderFatalError, ProviderNotReadyError
from openfeature.flag_evaluation import Reason as OFReason
from openfeature.provider import ProviderStatus

from flagkit._client.sync_client import Client
from flagkit.openfeature import FlagkitProvider

DEFINITIONS = "/flags/definitions"
ALL = {"properties": [], "rollout_percentage": 100}
NONE = {"properties": [], "rollout_percentage": 0}
FAST: dict[str, Any] = {
    "poll_interval": 0.05,
    "poll_jitter": 0.0,
    "backoff_base": 0.01,
    "backoff_max": 0.05,
    "unauthorized_retry_interval": 0.05,
    "timeout": 5.0,
    "only_evaluate_locally": True,
    "send_events": False,
}


def _flag(flag_id: int, key: str, groups: list[Any], **filters: Any) -> dict[str, Any]:
    active = filters.pop("active", True)
    return {
        "id": flag_id,
        "key": key,
        "active": active,
        "version": 7,
        "filters": {"groups": groups, **filters},
    }


def _variants(*pairs: tuple[str, int]) -> dict[str, Any]:
    return {"variants": [{"key": k, "rollout_percentage": p} for k, p in pairs]}


BODY: dict[str, Any] = {
    "flags": [
        _flag(1, "on", [ALL], payloads={"true": json.dumps({"color": "blue"})}),
        _flag(2, "off", [NONE]),
        _flag(3, "disabled", [ALL], active=False),
        _flag(
            4,
            "pro-only",
            [{"properties": [{"key": "plan", "value": "pro", "type": "person"}]}],
        ),
        _flag(
            5,
            "colors",
            [ALL],
            multivariate=_variants(("blue", 100), ("red", 0)),
            payloads={"blue": "42", "red": "[1, 2]"},
        ),
        _flag(6, "colors-off", [NONE], multivariate=_variants(("blue", 100))),
        _flag(
            7,
            "company-flag",
            [{"properties": [{"key": "size", "value": "big", "type": "group"}]}],
            aggregation_group_type_index=0,
        ),
        _flag(8, "device-flag", [ALL], bucketing_identifier="device_id"),
        _flag(9, "float-payload", [ALL], payloads={"true": "2.5"}),
        _flag(10, "text-payload", [ALL], payloads={"true": json.dumps("hello")}),
        _flag(11, "list-payload", [ALL], payloads={"true": "[1, 2]"}),
        _flag(12, "whole-float-payload", [ALL], payloads={"true": "3.0"}),
        _flag(13, "off-with-payload", [NONE], payloads={"false": "400"}),
        _flag(
            14,
            "early-adopters",
            [
                {
                    "properties": [
                        {
                            "key": "signed_up",
                            "operator": "is_date_before",
                            "value": "2024-01-01",
                            "type": "person",
                        }
                    ]
                }
            ],
        ),
    ],
    "group_type_mapping": {"0": "company"},
    "cohorts": {},
}

USER = EvaluationContext("user-1")


class Events:
    """Records provider events delivered to OpenFeature's global handlers."""

    def __init__(self) -> None:
        self.seen: list[tuple[ProviderEvent, EventDetails]] = []
        self._cond = threading.Condition()
        for event in ProviderEvent:
            api.add_handler(event, self._handler(event))

    def _handler(self, event: ProviderEvent) -> Callable[[EventDetails], None]:
        def handle(details: EventDetails) -> None:
            if details.provider_name != "flagkit":
                return  # e.g. the no-op provider's READY, replayed when a handler is added
            with self._cond:
                self.seen.append((event, details))
                self._cond.notify_all()

        return handle

    def of(self, event: ProviderEvent) -> list[EventDetails]:
        with self._cond:
            return [d for e, d in self.seen if e is event]

    def wait_for(
        self,
        event: ProviderEvent,
        predicate: Callable[[EventDetails], bool] = lambda d: True,
        timeout: float = 10.0,
    ) -> EventDetails:
        with self._cond:
            found: list[EventDetails] = []

            def match() -> bool:
                found[:] = [d for e, d in self.seen if e is event and predicate(d)]
                return bool(found)

            assert self._cond.wait_for(match, timeout), f"no {event} in {self.seen}"
            return found[-1]


def wait_until(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


@pytest.fixture(autouse=True)
def _clean_openfeature() -> Iterator[None]:
    yield
    api.clear_providers()  # shuts the providers down and drops the event handlers


@pytest.fixture
def offline() -> Iterator[Client]:
    client = Client(bootstrap=BODY)
    yield client
    client.close()


@pytest.fixture
def of_client(offline: Client) -> Any:
    api.set_provider_and_wait(FlagkitProvider(offline))
    return api.get_client()


@pytest.fixture
def server() -> Iterator[Any]:
    from flagkit.server import LocalServer

    with LocalServer() as local:
        local.create_flag("on-flag", {"groups": [ALL]})
        yield local


def _live_provider(server: Any, **options: Any) -> FlagkitProvider:
    return FlagkitProvider(
        project_api_key=server.project_api_key,
        personal_api_key=server.personal_api_key,
        host=server.url,
        **{**FAST, "status_interval": 0.02, **options},
    )


# -- boolean -------------------------------------------------------------------------------


def test_boolean_on_is_a_targeting_match_with_metadata(of_client: Any) -> None:
    details = of_client.get_boolean_details("on", False, USER)
    assert details.value is True
    assert details.reason == OFReason.TARGETING_MATCH
    assert details.variant == "true"
    assert details.error_code is None
    assert details.flag_metadata["reason"] == "condition_match"
    assert details.flag_metadata["condition_index"] == 0
    assert details.flag_metadata["flag_id"] == 1
    assert details.flag_metadata["flag_version"] == 7
    assert isinstance(details.flag_metadata["description"], str)


def test_boolean_off_is_the_flag_default(of_client: Any) -> None:
    details = of_client.get_boolean_details("off", True, USER)
    assert details.value is False  # PostHog's answer, not the caller's default
    assert details.reason == OFReason.DEFAULT
    assert details.variant == "false"
    assert details.flag_metadata["reason"] == "out_of_rollout"


def test_boolean_disabled_flag(of_client: Any) -> None:
    details = of_client.get_boolean_details("disabled", True, USER)
    assert details.value is False
    assert details.reason == OFReason.DISABLED
    assert details.error_code is None


def test_boolean_unknown_flag_is_flag_not_found(of_client: Any) -> None:
    details = of_client.get_boolean_details("nope", True, USER)
    assert details.value is True
    assert details.reason == OFReason.ERROR
    assert details.error_code == ErrorCode.FLAG_NOT_FOUND
    assert details.flag_metadata["reason"] == "flag_not_found"


def test_boolean_of_a_multivariate_flag_is_true_with_the_variant(of_client: Any) -> None:
    details = of_client.get_boolean_details("colors", False, USER)
    assert (details.value, details.variant, details.reason) == (
        True,
        "blue",
        OFReason.TARGETING_MATCH,
    )


def test_missing_targeting_key(of_client: Any) -> None:
    for context in (None, EvaluationContext(None, {"plan": "pro"}), EvaluationContext("")):
        details = of_client.get_boolean_details("on", False, context)
        assert details.value is False
        assert details.error_code == ErrorCode.TARGETING_KEY_MISSING


def test_api_level_context_supplies_the_targeting_key(of_client: Any) -> None:
    api.set_evaluation_context(EvaluationContext("from-api", {"plan": "pro"}))
    try:
        assert of_client.get_boolean_value("pro-only", False) is True
    finally:
        api.set_evaluation_context(EvaluationContext())


# -- context mapping -----------------------------------------------------------------------


def test_attributes_are_person_properties(of_client: Any) -> None:
    pro = of_client.get_boolean_details("pro-only", False, EvaluationContext("u", {"plan": "pro"}))
    assert (pro.value, pro.reason) == (True, OFReason.TARGETING_MATCH)
    free = of_client.get_boolean_details("pro-only", True, EvaluationContext("u", {"plan": "free"}))
    assert (free.value, free.reason) == (False, OFReason.DEFAULT)
    assert free.flag_metadata["reason"] == "no_condition_match"


def test_a_missing_person_property_is_invalid_context(of_client: Any) -> None:
    details = of_client.get_boolean_details("pro-only", True, USER)
    assert details.value is True  # the caller's default
    assert details.reason == OFReason.ERROR
    assert details.error_code == ErrorCode.INVALID_CONTEXT
    assert details.flag_metadata["reason"] == "missing_context"
    assert details.error_message


def test_datetime_attributes_work_with_date_operators(of_client: Any) -> None:
    early = EvaluationContext("u", {"signed_up": datetime(2023, 5, 1, tzinfo=timezone.utc)})
    late = EvaluationContext("u", {"signed_up": datetime(2025, 5, 1, tzinfo=timezone.utc)})
    assert of_client.get_boolean_value("early-adopters", False, early) is True
    assert of_client.get_boolean_value("early-adopters", True, late) is False


def test_groups_and_group_properties(of_client: Any) -> None:
    big = EvaluationContext(
        "u",
        {"groups": {"company": "acme"}, "group_properties": {"company": {"size": "big"}}},
    )
    assert of_client.get_boolean_details("company-flag", False, big).value is True
    small = EvaluationContext(
        "u",
        {"groups": {"company": "acme"}, "group_properties": {"company": {"size": "small"}}},
    )
    assert of_client.get_boolean_details("company-flag", True, small).value is False
    # "groups" given as a person property would match nothing: it is reserved.
    no_group = of_client.get_boolean_details("company-flag", True, USER)
    assert (no_group.value, no_group.reason) == (False, OFReason.DEFAULT)
    assert no_group.flag_metadata["reason"] == "group_not_provided"


def test_device_id_attribute(of_client: Any) -> None:
    with_device = EvaluationContext("u", {"device_id": "device-9"})
    assert of_client.get_boolean_details("device-flag", False, with_device).value is True
    without = of_client.get_boolean_details("device-flag", False, USER)
    assert without.error_code == ErrorCode.INVALID_CONTEXT


@pytest.mark.parametrize(
    "attributes",
    [
        {"groups": "acme"},
        {"groups": ["company"]},
        {"group_properties": {"company": "big"}},
        {"group_properties": ["x"]},
        {"device_id": 12},
    ],
)
def test_malformed_reserved_attributes(of_client: Any, attributes: dict[str, Any]) -> None:
    details = of_client.get_boolean_details("on", False, EvaluationContext("u", attributes))
    assert details.value is False
    assert details.error_code == ErrorCode.INVALID_CONTEXT


# -- string --------------------------------------------------------------------------------


def test_string_is_the_variant(of_client: Any) -> None:
    details = of_client.get_string_details("colors", "none", USER)
    assert (details.value, details.variant, details.reason) == (
        "blue",
        "blue",
        OFReason.TARGETING_MATCH,
    )
    assert details.flag_metadata["flag_id"] == 5


def test_string_of_a_multivariate_flag_that_is_off_is_the_default(of_client: Any) -> None:
    details = of_client.get_string_details("colors-off", "none", USER)
    assert (details.value, details.reason, details.error_code) == ("none", OFReason.DEFAULT, None)
    assert details.variant == "false"


@pytest.mark.parametrize("key", ["on", "off", "disabled"])
def test_string_of_a_boolean_flag_is_a_type_mismatch(of_client: Any, key: str) -> None:
    details = of_client.get_string_details(key, "none", USER)
    assert details.value == "none"
    assert details.reason == OFReason.ERROR
    assert details.error_code == ErrorCode.TYPE_MISMATCH


# -- object and numbers --------------------------------------------------------------------


def test_object_is_the_payload(of_client: Any) -> None:
    details = of_client.get_object_details("on", {}, USER)
    assert details.value == {"color": "blue"}
    assert (details.reason, details.variant) == (OFReason.TARGETING_MATCH, "true")
    assert of_client.get_object_value("list-payload", {}, USER) == [1, 2]


def test_object_without_payload_is_the_default(of_client: Any) -> None:
    matched = of_client.get_object_details("colors-off", {"d": 1}, USER)
    assert (matched.value, matched.reason, matched.error_code) == ({"d": 1}, "DEFAULT", None)
    disabled = of_client.get_object_details("disabled", {"d": 1}, USER)
    assert (disabled.value, disabled.reason) == ({"d": 1}, OFReason.DISABLED)


@pytest.mark.parametrize("key", ["text-payload", "float-payload", "colors"])
def test_object_of_a_scalar_payload_is_a_type_mismatch(of_client: Any, key: str) -> None:
    details = of_client.get_object_details(key, {"d": 1}, USER)
    assert details.value == {"d": 1}
    assert details.error_code == ErrorCode.TYPE_MISMATCH


def test_integer_payloads(of_client: Any) -> None:
    variant = of_client.get_integer_details("colors", 0, USER)
    assert (variant.value, variant.variant, variant.reason) == (42, "blue", "TARGETING_MATCH")
    assert of_client.get_integer_value("whole-float-payload", 0, USER) == 3
    # A payload on the False value (PostHog allows one) is returned with the DEFAULT reason.
    off = of_client.get_integer_details("off-with-payload", 0, USER)
    assert (off.value, off.reason, off.variant) == (400, OFReason.DEFAULT, "false")
    for key in ("float-payload", "on", "text-payload"):
        details = of_client.get_integer_details(key, -1, USER)
        assert (details.value, details.error_code) == (-1, ErrorCode.TYPE_MISMATCH), key
    missing = of_client.get_integer_details("off", -1, USER)
    assert (missing.value, missing.reason, missing.error_code) == (-1, OFReason.DEFAULT, None)


def test_float_payloads(of_client: Any) -> None:
    assert of_client.get_float_value("float-payload", 0.0, USER) == 2.5
    whole = of_client.get_float_details("colors", 0.0, USER)
    assert whole.value == 42.0
    assert isinstance(whole.value, float)
    text = of_client.get_float_details("text-payload", 1.5, USER)
    assert (text.value, text.error_code) == (1.5, ErrorCode.TYPE_MISMATCH)


def test_async_api(of_client: Any) -> None:
    async def both() -> tuple[Any, Any]:
        return (
            await of_client.get_boolean_details_async("on", False, USER),
            await of_client.get_string_details_async("colors", "x", USER),
        )

    flag, variant = asyncio.run(both())
    assert (flag.value, variant.value) == (True, "blue")


def test_results_agree_with_the_client(offline: Client, of_client: Any) -> None:
    context = {"plan": "pro"}
    for index in range(50):
        distinct_id = f"user-{index}"
        ctx = EvaluationContext(distinct_id, context)
        for key in ("on", "off", "pro-only", "colors"):
            expected = offline.is_enabled(key, distinct_id, person_properties=context)
            assert of_client.get_boolean_value(key, not expected, ctx) is expected


# -- lifecycle and events ------------------------------------------------------------------


def test_metadata_and_ready(of_client: Any) -> None:
    assert api.get_provider_metadata().name == "flagkit"
    assert of_client.get_provider_status() == ProviderStatus.READY


def test_options_are_validated(offline: Client) -> None:
    with pytest.raises(ValueError):
        FlagkitProvider(offline, poll_interval=1.0)
    with pytest.raises(ValueError):
        FlagkitProvider(offline, status_interval=0)
    with pytest.raises(ValueError):
        FlagkitProvider(offline, init_timeout=-1)


def test_shutdown_leaves_a_wrapped_client_open(offline: Client) -> None:
    provider = FlagkitProvider(offline)
    api.set_provider_and_wait(provider)
    api.clear_providers()
    assert offline.status.state.value == "offline"
    assert provider.client is offline


def test_shutdown_closes_a_client_it_created() -> None:
    provider = FlagkitProvider(bootstrap=BODY)
    api.set_provider_and_wait(provider)
    assert api.get_client().get_boolean_value("on", False, USER) is True
    api.clear_providers()
    assert provider.client.status.state.value == "closed"


def test_a_client_without_keys_or_bootstrap_is_fatal() -> None:
    events = Events()
    with pytest.raises(ProviderFatalError):
        api.set_provider_and_wait(FlagkitProvider())
    client = api.get_client()
    assert client.get_provider_status() == ProviderStatus.FATAL
    details = client.get_boolean_details("on", True, USER)
    assert (details.value, details.error_code) == (True, ErrorCode.PROVIDER_FATAL)
    assert events.wait_for(ProviderEvent.PROVIDER_ERROR).error_code == ErrorCode.PROVIDER_FATAL


def test_closing_a_wrapped_client_makes_the_provider_stale(offline: Client) -> None:
    events = Events()
    api.set_provider_and_wait(FlagkitProvider(offline, status_interval=0.01))
    offline.close()
    events.wait_for(ProviderEvent.PROVIDER_STALE)
    client = api.get_client()
    assert client.get_provider_status() == ProviderStatus.STALE
    assert client.get_boolean_value("on", False, USER) is True  # still answering


def test_ready_then_configuration_changed(server: Any) -> None:
    events = Events()
    api.set_provider_and_wait(_live_provider(server))
    client = api.get_client()
    assert client.get_boolean_value("on-flag", False, USER) is True
    events.wait_for(ProviderEvent.PROVIDER_READY)

    server.update_flag("on-flag", active=False)
    changed = events.wait_for(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED)
    assert changed.flags_changed == ["on-flag"]
    assert changed.provider_name == "flagkit"
    details = client.get_boolean_details("on-flag", True, USER)
    assert (details.value, details.reason) == (False, OFReason.DISABLED)

    server.create_flag("new-flag", {"groups": [ALL]})
    events.wait_for(
        ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, lambda d: d.flags_changed == ["new-flag"]
    )
    assert client.get_boolean_value("new-flag", False, USER) is True


def test_slow_first_load_reports_not_ready_then_ready(server: Any) -> None:
    events = Events()
    server.faults.delay(DEFINITIONS, 0.5)
    with pytest.raises(ProviderNotReadyError):
        # A long status_interval: READY must come from the definitions arriving.
        api.set_provider_and_wait(_live_provider(server, init_timeout=0.05, status_interval=60))
    client = api.get_client()
    assert client.get_provider_status() == ProviderStatus.ERROR
    early = client.get_boolean_details("on-flag", False, USER)
    assert (early.value, early.error_code) == (False, ErrorCode.PROVIDER_NOT_READY)
    assert events.wait_for(ProviderEvent.PROVIDER_ERROR).error_code == (
        ErrorCode.PROVIDER_NOT_READY
    )

    events.wait_for(ProviderEvent.PROVIDER_READY)
    assert client.get_provider_status() == ProviderStatus.READY
    assert client.get_boolean_value("on-flag", False, USER) is True
    # The first load is announced by READY, not as a configuration change.
    assert events.of(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED) == []


def test_failing_polls_make_the_provider_stale_then_ready(server: Any) -> None:
    events = Events()
    api.set_provider_and_wait(_live_provider(server))
    client = api.get_client()
    server.faults.fail(DEFINITIONS, 500, times=1_000_000)
    stale = events.wait_for(ProviderEvent.PROVIDER_STALE)
    assert stale.message
    assert client.get_provider_status() == ProviderStatus.STALE
    assert client.get_boolean_details("on-flag", False, USER).reason == OFReason.TARGETING_MATCH

    ready_before = len(events.of(ProviderEvent.PROVIDER_READY))
    server.faults.clear()
    wait_until(lambda: len(events.of(ProviderEvent.PROVIDER_READY)) > ready_before)
    assert client.get_provider_status() == ProviderStatus.READY


def test_refused_keys_are_a_provider_error(server: Any) -> None:
    events = Events()
    api.set_provider_and_wait(_live_provider(server))
    client = api.get_client()
    server.faults.fail(DEFINITIONS, 401, times=1_000_000)
    error = events.wait_for(ProviderEvent.PROVIDER_ERROR)
    assert error.error_code == ErrorCode.GENERAL
    assert server.personal_api_key not in (error.message or "")
    assert client.get_provider_status() == ProviderStatus.ERROR
    # ERROR does not stop evaluation: the last definitions are still served.
    assert client.get_boolean_value("on-flag", False, USER) is True


def test_import_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "flagkit.openfeature")
    for name in [n for n in sys.modules if n.split(".")[0] == "openfeature"]:
        monkeypatch.setitem(sys.modules, name, None)  # None makes the import fail
    with pytest.raises(ImportError, match=r"pip install 'flagkit\[openfeature\]'"):
        importlib.import_module("flagkit.openfeature")


def test_a_provider_on_client_defaults_makes_no_network_call_and_sends_no_event(
    server: Any,
) -> None:
    # Client defaults (remote fallback and events on): the provider must still stay local.
    server.create_flag(
        "needs-plan",
        {"groups": [{"properties": [{"key": "plan", "value": "pro", "type": "person"}]}]},
    )
    provider = FlagkitProvider(
        project_api_key=server.project_api_key,
        personal_api_key=server.personal_api_key,
        host=server.url,
        poll_interval=0.05,
        timeout=5.0,
    )
    api.set_provider_and_wait(provider)
    client = api.get_client()
    assert client.get_boolean_value("on-flag", False, USER) is True
    details = client.get_boolean_details("needs-plan", True, USER)  # plan not passed
    assert details.value is True  # the caller's default, at once
    assert details.error_code is not None
    provider.client.flush()
    api.clear_providers()  # shuts the provider down and closes its client
    assert server.faults.count("/flags") == 0
    assert server.events("$feature_flag_called") == []
