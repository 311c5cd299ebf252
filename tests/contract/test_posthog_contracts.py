"""PostHog's SDK contract suites (tests/contract/data/, from PostHog's SDK test harness), run
through flagkit's public API against an in-process mock PostHog on 127.0.0.1.

Each YAML test is a list of steps; this adapter turns every step into a call of flagkit's
public API (posthog-python's method names, which flagkit offers for a one-line migration)
or an assertion on what the mock received. The tests that cannot apply to flagkit are listed
in EXEMPT with their reasons, and docs/conformance.md repeats that list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from mock_posthog import MockPostHog

import flagkit

DATA = Path(__file__).resolve().parent / "data"
SUITES = ("feature_flags_tests.yaml", "feature_flags_local_evaluation_tests.yaml")
DEFAULT_TOKEN = "phc_test_key"

EXEMPT: dict[str, str] = {
    "no_flags_request_on_normal_capture": (
        "needs a general analytics capture(); flagkit sends only flag exposure events"
    ),
    "disable_geoip_omitted_defaults_to_false": (
        "flagkit's default is disable_geoip=True (a server's own IP says nothing about the "
        "user); passing disable_geoip=False sends geoip_disable: false, as tested above"
    ),
}
CLIENT_ONLY = "a client-SDK test (sdk_types: [client]); flagkit is a server SDK"


class _Loader(yaml.SafeLoader):
    """SafeLoader plus the harness's ``!include other.yaml``."""


def _include(loader: _Loader, node: yaml.Node) -> Any:
    assert isinstance(node, yaml.ScalarNode)
    return yaml.load((DATA / loader.construct_scalar(node)).read_text(), _Loader)


_Loader.add_constructor("!include", _include)


def _tests() -> Iterator[Any]:
    for suite in SUITES:
        document = yaml.load((DATA / suite).read_text(), _Loader)
        for category, body in document["categories"].items():
            for test in body["tests"]:
                if "sdk_types" in test and "server" not in test["sdk_types"]:
                    reason = CLIENT_ONLY
                else:
                    reason = EXEMPT.get(test["name"], "")
                marks = [pytest.mark.skip(reason=reason)] if reason else []
                yield pytest.param(test, id=f"{category}/{test['name']}", marks=marks)


def _field(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        assert isinstance(data, dict), f"no field {dotted!r} in {data!r}"
        assert part in data, f"no field {dotted!r} in {data!r}"
        data = data[part]
    return data


class Adapter:
    """One contract test's state: the mock, the flagkit client, the last call's result."""

    def __init__(self, mock: MockPostHog) -> None:
        self.mock = mock
        self.client: flagkit.Client | None = None
        self.result: dict[str, Any] = {}

    def close(self) -> None:
        if self.client is not None:
            self.client.close()

    def run(self, step: dict[str, Any]) -> None:
        action: Callable[..., None] = getattr(self, f"do_{step['action']}")
        action(**(step.get("params") or {}))

    # -- arranging ---------------------------------------------------------------------------

    def do_configure_mock_responses(self, responses: list[dict[str, Any]]) -> None:
        self.mock.script(responses)

    def do_configure_local_evaluation_definitions(self, definitions: dict[str, Any]) -> None:
        self.mock.definitions = definitions

    def do_init(
        self, api_key: str = DEFAULT_TOKEN, personal_api_key: str | None = None, **_: Any
    ) -> None:
        self.close()
        self.client = flagkit.Client(
            api_key,
            host=self.mock.url,
            personal_api_key=personal_api_key,
            timeout=5.0,
            remote_timeout=5.0,
        )

    # -- acting ------------------------------------------------------------------------------

    def do_get_feature_flag(
        self,
        key: str,
        distinct_id: str,
        force_remote: bool = False,
        only_evaluate_locally: bool = False,
        **options: Any,
    ) -> None:
        assert self.client is not None, "init first"
        # force_remote: the harness's way to say "no local definitions"; a client with only
        # a project token has none, so every read goes to /flags.
        value = self.client.get_feature_flag(
            key, distinct_id, only_evaluate_locally=only_evaluate_locally, **options
        )
        self.result = {"value": value}

    def do_reload_feature_flag_definitions(self, timeout_ms: int = 5000) -> None:
        assert self.client is not None, "init first"
        assert self.client.load_feature_flags(timeout=timeout_ms / 1000)

    def do_flush(self) -> None:
        assert self.client is not None, "init first"
        assert self.client.flush(10)

    # -- asserting ---------------------------------------------------------------------------

    def do_assert_action_result(self, field: str, expected: Any) -> None:
        assert _field(self.result, field) == expected

    def do_assert_flags_request_count(self, expected: int) -> None:
        assert len(self.mock.flags_requests()) == expected

    def do_assert_flags_request_field(self, field: str, expected: Any) -> None:
        requests = self.mock.flags_requests()
        assert requests, "no /flags request was made"
        assert _field(requests[-1].body, field) == expected

    def do_assert_flags_request_query_param(self, param: str, expected: str) -> None:
        requests = self.mock.flags_requests()
        assert requests, "no /flags request was made"
        assert requests[-1].query.get(param) == [expected]

    def do_assert_header_absent(self, header: str) -> None:
        requests = self.mock.flags_requests()
        assert requests, "no /flags request was made"
        assert all(header.lower() not in r.headers for r in requests)

    def do_assert_no_requests_to_paths(self, paths: list[str]) -> None:
        assert not [r.path for r in self.mock.requests if r.path in paths]

    def _named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.mock.events if e.get("event") == name]

    def do_assert_event_count_with_name(self, name: str, expected: int) -> None:
        assert len(self._named(name)) == expected

    def do_assert_event_property_in_named_event(
        self, event_name: str, property: str, expected: Any
    ) -> None:
        events = self._named(event_name)
        assert events, f"no {event_name} event"
        assert events[-1]["properties"][property] == expected


@pytest.mark.parametrize("test", list(_tests()))
def test_contract(test: dict[str, Any]) -> None:
    with MockPostHog() as mock:
        adapter = Adapter(mock)
        try:
            for index, step in enumerate(test["steps"]):
                try:
                    adapter.run(step)
                except AssertionError as exc:
                    raise AssertionError(f"step {index} ({step['action']}): {exc}") from exc
        finally:
            adapter.close()
