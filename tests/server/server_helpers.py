"""Small helpers shared by the local-server tests."""

from __future__ import annotations

import ssl
from typing import Any

import httpx

# Building an SSL context costs ~50 ms; share one so that the many short-lived clients of
# these tests stay cheap (the server is plain HTTP, verification settings are unchanged).
TLS_CONTEXT = ssl.create_default_context()
HTTP = httpx.Client(verify=TLS_CONTEXT, timeout=10)

ROLLOUT_ALL = {"groups": [{"properties": [], "rollout_percentage": 100}]}
ROLLOUT_NONE = {"groups": [{"properties": [], "rollout_percentage": 0}]}


def error(response: httpx.Response) -> dict[str, Any]:
    """The PostHog error object of a response, checked for its four keys."""
    body = response.json()
    assert isinstance(body, dict)
    assert {"type", "code", "detail", "attr"} <= set(body), body
    return body


def person(key: str, value: Any, operator: str = "exact") -> dict[str, Any]:
    """A person property filter."""
    return {"key": key, "type": "person", "operator": operator, "value": value}


def condition(*properties: dict[str, Any], rollout: float | None = 100) -> dict[str, Any]:
    """Filters with one condition group."""
    return {"groups": [{"properties": list(properties), "rollout_percentage": rollout}]}
