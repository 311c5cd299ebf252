"""Flags in other formats through the whole path: the local server stores and serves them
untouched; a rules v2 flag is evaluated locally; an unknown format makes a local-only client
answer the default with the reason, and an auto-mode client ask ``/flags``."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from flagkit import Reason
from flagkit._client.sync_client import Client

V2_FILTERS = {
    "version": 2,
    "return_type": "boolean",
    "default_value": False,
    "rules": [
        {
            "id": "11111111-1111-4111-8111-111111111111",
            "rule_type": "targeted_release",
            "targeting": {"properties": []},
            "value": True,
        }
    ],
}
UNKNOWN_FILTERS = {"version": 7, "anything": ["the", "future", "holds"]}


@pytest.fixture
def formats_server(server: Any) -> Any:
    server.create_flag("v2-flag", V2_FILTERS)
    server.create_flag("v7-flag", UNKNOWN_FILTERS)
    return server


def test_the_local_server_stores_and_serves_them_untouched(formats_server: Any) -> None:
    assert formats_server.get_flag("v2-flag")["filters"] == V2_FILTERS
    response = httpx.get(
        f"{formats_server.url}/api/feature_flag/local_evaluation",
        params={"token": formats_server.project_api_key, "send_cohorts": ""},
        headers={"Authorization": f"Bearer {formats_server.personal_api_key}"},
    )
    served = {flag["key"]: flag["filters"] for flag in response.json()["flags"]}
    assert served["v2-flag"] == V2_FILTERS
    assert served["v7-flag"] == UNKNOWN_FILTERS


def test_a_rules_v2_flag_is_evaluated_locally(formats_server: Any, make_client: Any) -> None:
    client: Client = make_client(only_evaluate_locally=True, send_events=False)
    assert client.wait_until_ready(timeout=10)
    result = client.evaluate("v2-flag", "u")
    assert (result.value, result.reason) == (True, Reason.TARGETING_MATCH)
    assert result.rule is not None
    assert (result.rule.id, result.rule.rule_type, result.rule.index) == (
        "11111111-1111-4111-8111-111111111111",
        "targeted_release",
        0,
    )
    formats_server.faults.clear()
    assert client.is_enabled("v2-flag", "u", only_evaluate_locally=False)
    assert formats_server.faults.count("/flags") == 0  # decided here: nothing to ask


@pytest.mark.parametrize("key", ["v7-flag"])
def test_local_only_answers_the_default_with_the_reason(
    formats_server: Any, make_client: Any, key: str
) -> None:
    client: Client = make_client(only_evaluate_locally=True, send_events=False)
    assert client.wait_until_ready(timeout=10)
    result = client.evaluate(key, "u")
    assert (result.value, result.reason) == (None, Reason.UNSUPPORTED_DEFINITION)
    assert client.get_flag(key, "u", default="dflt") == "dflt"
    assert client.snapshot is not None
    assert any(key in problem for problem in client.snapshot.problems)


def test_auto_mode_asks_flags_for_them(formats_server: Any, make_client: Any) -> None:
    client: Client = make_client(only_evaluate_locally=False, send_events=False)
    assert client.wait_until_ready(timeout=10)
    formats_server.faults.clear()
    client.evaluate("v7-flag", "u")
    assert formats_server.faults.count("/flags") == 1
