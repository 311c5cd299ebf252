"""Offline (bootstrap) mode, the disabled client, and constructor validation. No network."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from flagkit import Reason
from flagkit._client.sync_client import Client
from flagkit._evaluation.snapshot import Snapshot
from flagkit._status import State

BODY: dict[str, Any] = {
    "flags": [
        {
            "id": 1,
            "key": "on-flag",
            "active": True,
            "filters": {
                "groups": [{"properties": [], "rollout_percentage": 100}],
                "payloads": {"true": '{"n": 1}'},
            },
        },
        {
            "id": 2,
            "key": "gated",
            "active": True,
            "filters": {
                "groups": [
                    {
                        "properties": [
                            {"key": "plan", "value": ["pro"], "operator": "exact", "type": "person"}
                        ],
                        "rollout_percentage": 100,
                    }
                ]
            },
        },
    ],
    "group_type_mapping": {},
    "cohorts": {},
}


def pollers() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "flagkit-poller" and t.is_alive())


@pytest.mark.parametrize("kind", ["dict", "path", "str-path", "bytes", "snapshot"])
def test_bootstrap_offline(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "defs.json"
    path.write_text(json.dumps(BODY))
    source: Any = {
        "dict": BODY,
        "path": path,
        "str-path": str(path),
        "bytes": json.dumps(BODY).encode(),
        "snapshot": Snapshot.from_dict(BODY),
    }[kind]
    before = pollers()
    with Client(bootstrap=source) as client:
        assert pollers() == before  # no network at all
        assert client.wait_until_ready(timeout=0)
        status = client.status
        assert status.state is State.OFFLINE
        assert status.ready
        assert status.source == "bootstrap"
        assert status.flag_count == 2
        assert client.is_enabled("on-flag", "u")
        assert client.get_payload("on-flag", "u") == {"n": 1}
        assert client.is_enabled("gated", "u", person_properties={"plan": "pro"})
        assert not client.is_enabled("gated", "u", person_properties={"plan": "free"})
        result = client.evaluate("gated", "u")
        assert not result.reason.decided
        assert client.get_flag("gated", "u", default="dflt") == "dflt"
        flags = client.get_all_flags("u")
        assert flags == {"on-flag": True}  # undecided "gated" is left out
        # Nothing leaves the process, so no (default) host is shown as if it were used.
        assert repr(client) == "<flagkit.Client offline state=offline>"
    assert client.status.state is State.CLOSED
    assert client.is_enabled("on-flag", "u")


def test_bootstrap_with_project_key_only_stays_offline() -> None:
    # A project token alone would allow remote fallback and events; keep this one offline.
    client = Client(
        "phc_project_only", bootstrap=BODY, only_evaluate_locally=True, send_events=False
    )
    assert client.status.state is State.OFFLINE
    assert client.is_enabled("on-flag", "u")
    assert "phc_project_only" not in repr(client)
    client.close()


def test_no_keys_no_bootstrap_is_disabled(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="flagkit.client"):
        client = Client()
    assert "every flag returns its default" in caplog.text
    assert client.status.state is State.CLOSED
    assert client.wait_until_ready(timeout=0.05) is False
    assert client.is_enabled("x", "u", default=True) is True
    assert client.evaluate("x", "u").reason is Reason.NOT_READY
    assert client.get_all_flags("u") == {}
    client.close()


def test_project_token_only_local_is_disabled_with_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A token alone can only ask /flags; forbidding that leaves nothing to answer from.
    with caplog.at_level(logging.WARNING, logger="flagkit.client"):
        client = Client("phc_abc", host="http://127.0.0.1:9", only_evaluate_locally=True)
    assert client.status.state is State.CLOSED
    assert "phc_abc" not in caplog.text
    assert caplog.records


def test_invalid_bootstrap_raises(tmp_path: Path) -> None:
    from flagkit.errors import DefinitionsError

    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(DefinitionsError):
        Client(bootstrap=bad)
    with pytest.raises(DefinitionsError):
        Client(bootstrap=tmp_path / "missing.json")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"on_quota_limited": "ignore"}, "on_quota_limited"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"timeout": -1}, "timeout"),
        ({"backoff_base": 0}, "backoff_base"),
        ({"host": "us.i.posthog.com"}, "host"),
    ],
)
def test_constructor_validation(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Client("phc_x", personal_api_key="phx_y", **options)


def test_getters_never_raise_on_odd_input() -> None:
    with Client(bootstrap=BODY) as client:
        odd: list[Any] = [None, 123, "", {"a": 1}]
        for distinct_id in odd:
            client.is_enabled("on-flag", distinct_id)
            client.get_flag("on-flag", distinct_id)
            client.get_all_flags(distinct_id)
        for key in odd:
            assert client.get_flag(key, "u", default="d") in ("d", True, False)
        client.evaluate("gated", "u", person_properties={"plan": object()})
        client.evaluate("gated", "u", groups={"company": None}, group_properties={"x": None})  # type: ignore[dict-item]
