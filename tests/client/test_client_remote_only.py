"""A project token alone (no personal or secret key): every read is asked from /flags, as
posthog-python does; ``refresh()`` has nothing to fetch. Real HTTP to a LocalServer."""

from __future__ import annotations

from typing import Any

import pytest

from flagkit import Reason
from flagkit._client.async_client import AsyncClient
from flagkit._client.sync_client import Client
from flagkit._status import State

EVERYONE = {"groups": [{"properties": [], "rollout_percentage": 100}]}
PRO_ONLY = {
    "groups": [{"properties": [{"key": "plan", "value": "pro", "type": "person"}]}],
}


@pytest.fixture
def flags(server: Any) -> Any:
    server.create_flag("everyone", EVERYONE)
    server.create_flag("pro-only", PRO_ONLY)
    return server


def test_reads_go_to_flags_and_status_says_remote(flags: Any) -> None:
    with Client(flags.project_api_key, host=flags.url, send_events=False) as client:
        assert client.status.state is State.REMOTE
        assert client.wait_until_ready(0.01)  # nothing to load
        before = flags.faults.count("/flags")
        assert client.is_enabled("everyone", "u-1")
        assert client.get_flag("pro-only", "u-1", person_properties={"plan": "pro"}) is True
        assert client.get_flag("pro-only", "u-1", person_properties={"plan": "free"}) is False
        missing = client.evaluate("no-such-flag", "u-1")
        assert missing.value is None
        assert missing.reason is Reason.FLAG_NOT_FOUND
        assert flags.faults.count("/flags") == before + 4
        every = client.get_all_flags("u-1")
        assert (every["everyone"], every["pro-only"]) == (True, False)
        assert flags.faults.count("/flags") == before + 5  # one request for every flag
        assert client.refresh(1.0) is False  # no definitions to fetch


def test_posthog_names_in_remote_mode(flags: Any) -> None:
    with Client(flags.project_api_key, host=flags.url, send_events=False) as client:
        assert client.get_feature_flag("everyone", 42) is True  # numbers are sent as text
        assert client.feature_enabled("no-such-flag", "u") is None
        assert client.get_feature_flag_result("no-such-flag", "u") is None
        result = client.get_feature_flag_result("everyone", "u")
        assert result is not None
        assert result.get_value() is True
        both = client.get_all_flags_and_payloads("u", person_properties={"plan": "pro"})
        assert set(both) == {"featureFlags", "featureFlagPayloads"}
        assert both["featureFlags"]["everyone"] is True
        assert both["featureFlags"]["pro-only"] is True


@pytest.mark.asyncio
async def test_async_reads_go_to_flags(flags: Any) -> None:
    async with AsyncClient(flags.project_api_key, host=flags.url, send_events=False) as client:
        assert client.status.state is State.REMOTE
        assert await client.wait_until_ready(0.01)
        assert await client.is_enabled("everyone", "u-1")
        assert await client.get_feature_flag("pro-only", "u", person_properties={"plan": "pro"})
        assert await client.feature_enabled("no-such-flag", "u") is None
        assert await client.refresh(1.0) is False
