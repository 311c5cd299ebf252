"""Every constructor option is checked when a client is built, for both clients: a wrong
type is a ``TypeError`` and a bad value a ``ValueError``, each naming the option."""

from __future__ import annotations

import logging
import random
from typing import Any

import pytest

from flagkit import AsyncClient, Client

KEYS = {"project_api_key": "phc_x", "personal_api_key": "phx_y"}
CLIENTS = [Client, AsyncClient]


@pytest.mark.parametrize("cls", CLIENTS)
@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"poll_interval": "5"}, "poll_interval"),
        ({"poll_interval": True}, "poll_interval"),
        ({"timeout": None}, "timeout"),
        ({"remote_timeout": "3"}, "remote_timeout"),
        ({"event_queue_size": 10.5}, "event_queue_size"),
        ({"event_batch_size": "100"}, "event_batch_size"),
        ({"dedupe_capacity": 1e6}, "dedupe_capacity"),
        ({"max_body_bytes": "1MB"}, "max_body_bytes"),
        ({"poll_jitter": "0.1"}, "poll_jitter"),
        ({"send_events": "no"}, "send_events"),
        ({"only_evaluate_locally": 1}, "only_evaluate_locally"),
        ({"disable_geoip": None}, "disable_geoip"),
        ({"host": 8000}, "host"),
        ({"definitions_path": None}, "definitions_path"),
        ({"project_id": 1.5}, "project_id"),
        ({"cache_path": 3}, "cache_path"),
        ({"clock": 5}, "clock"),
        ({"random": 42}, "random"),
        ({"personal_api_key": 123}, "personal_api_key"),
        ({"events_sink": object()}, "events_sink"),
    ],
)
def test_wrong_types_raise_type_error_naming_the_option(
    cls: Any, options: dict[str, Any], name: str
) -> None:
    with pytest.raises(TypeError, match=f"^{name} must be"):
        cls(**{**KEYS, **options})


@pytest.mark.parametrize("cls", CLIENTS)
@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"poll_interval": 0}, "poll_interval"),
        ({"poll_interval": float("nan")}, "poll_interval"),
        ({"timeout": float("inf")}, "timeout"),
        ({"backoff_base": -1}, "backoff_base"),
        ({"event_batch_size": 0}, "event_batch_size"),
        ({"poll_jitter": 1.5}, "poll_jitter"),
        ({"poll_jitter": -0.1}, "poll_jitter"),
        ({"backoff_base": 10.0, "backoff_max": 5.0}, "backoff_max"),
        ({"on_quota_limited": "ignore"}, "on_quota_limited"),
        ({"host": "us.i.posthog.com"}, "host"),
        ({"definitions_path": "flags/definitions"}, "definitions_path"),
    ],
)
def test_bad_values_raise_value_error_naming_the_option(
    cls: Any, options: dict[str, Any], name: str
) -> None:
    with pytest.raises(ValueError, match=f"^{name} must"):
        cls(**{**KEYS, **options})


@pytest.mark.parametrize("cls", CLIENTS)
@pytest.mark.parametrize("name", ["project_api_key", "personal_api_key", "secret_api_key"])
@pytest.mark.parametrize("empty", ["", "   ", "\n"])
def test_an_empty_key_is_an_error_not_a_disabled_client(cls: Any, name: str, empty: str) -> None:
    # The usual cause: Client(os.environ.get("POSTHOG_KEY", "")) with the variable unset.
    with pytest.raises(ValueError, match=f"^{name} is empty") as caught:
        cls(**{**KEYS, name: empty})
    assert "phc_x" not in str(caught.value)
    assert "phx_y" not in str(caught.value)


@pytest.mark.parametrize("cls", CLIENTS)
def test_valid_options_of_every_kind_are_accepted(
    cls: Any, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="flagkit"):
        client = cls(
            "phc_x",
            personal_api_key="  phx_y  ",  # surrounding whitespace is still stripped
            host="http://127.0.0.1:9",
            poll_interval=1,
            poll_jitter=0,
            timeout=0.5,
            project_id=12,
            definitions_path="/api/projects/{project_id}/feature_flags/local_evaluation/",
            cache_path=tmp_path / "c.json",
            send_events=False,
            clock=lambda: 0.0,
            random=random.Random(1),
        )
    assert client.status.state.value == "initializing"
    if isinstance(client, Client):
        client.close()
