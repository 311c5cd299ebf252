"""``evaluate_flags``: one evaluation per request, exposures on first read, properties for
events captured elsewhere. Real HTTP to a LocalServer (definitions, /flags and capture)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from flagkit import FlagEvaluations
from flagkit._client.async_client import AsyncClient
from flagkit._client.sync_client import Client

PRO_ONLY = {"groups": [{"properties": [{"key": "plan", "value": "pro", "type": "person"}]}]}


def _called(server: Any) -> list[str]:
    return sorted(e["properties"]["$feature_flag"] for e in server.events("$feature_flag_called"))


def test_reads_send_one_exposure_each_and_give_event_properties(
    server: Any, make_client: Callable[..., Client]
) -> None:
    client = make_client(send_events=True, only_evaluate_locally=False)
    assert client.wait_until_ready(5)
    flags = client.evaluate_flags("user-1")
    assert isinstance(flags, FlagEvaluations)
    assert set(flags.keys) == {"on-flag", "off-flag"}
    assert flags.is_enabled("on-flag")
    assert flags.is_enabled("on-flag")  # a second read sends nothing more
    assert flags.get_flag("off-flag") is False
    assert flags.get_flag("no-such-flag") is None
    assert flags.is_enabled("no-such-flag", True) is True
    assert flags.event_properties() == {
        "$feature/on-flag": True,
        "$feature/off-flag": False,
        "$active_feature_flags": ["on-flag"],
    }
    assert client.flush(5)
    assert _called(server) == ["off-flag", "on-flag"]


def test_nothing_is_sent_until_read_and_narrowing(
    server: Any, make_client: Callable[..., Client]
) -> None:
    client = make_client(send_events=True)
    assert client.wait_until_ready(5)
    flags = client.evaluate_flags("user-2")
    assert client.flush(5)
    assert _called(server) == []  # evaluating alone reports nothing
    flags.get_flag("on-flag", send_feature_flag_events=False)
    assert flags.only_accessed().keys == ("on-flag",)
    assert flags.only(["off-flag", "nope"]).keys == ("off-flag",)
    assert client.flush(5)
    assert _called(server) == []
    assert client.evaluate_flags("user-2", flag_keys=["off-flag"]).keys == ("off-flag",)


def test_undecided_flags_take_one_flags_request(
    server: Any, make_client: Callable[..., Client]
) -> None:
    server.create_flag("pro-only", PRO_ONLY)
    client = make_client(send_events=False, only_evaluate_locally=False)
    assert client.wait_until_ready(5)
    before = server.faults.count("/flags")
    flags = client.evaluate_flags("user-3")  # no plan given: only /flags can say
    assert server.faults.count("/flags") == before + 1
    assert flags.get_flag("pro-only") is False
    assert flags.get_flag("on-flag") is True
    assert server.faults.count("/flags") == before + 1  # reads never ask again


@pytest.mark.asyncio
async def test_async_evaluate_flags(server: Any) -> None:
    async with AsyncClient(
        server.project_api_key,
        personal_api_key=server.personal_api_key,
        host=server.url,
        send_events=True,
    ) as client:
        assert await client.wait_until_ready(5)
        flags = await client.evaluate_flags("user-4")
        assert flags.is_enabled("on-flag")
        assert await client.flush(5)
    assert _called(server) == ["on-flag"]
