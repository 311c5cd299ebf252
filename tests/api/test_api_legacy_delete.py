"""Soft delete on a 2020-era server: PATCH ``deleted`` is refused (405), DELETE works.

No such server runs here (our local server is current PostHog), so a tiny stand-in
answers over httpx's transport interface: it keeps one flag and records each request.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from flagkit.api import ApiError, AsyncFeatureFlagsAPI, FeatureFlagsAPI

FLAG = {"id": 7, "key": "old-flag", "name": "", "filters": {}, "active": True, "deleted": False}


class OldServer:
    """Answers the legacy routes as a 2020-era PostHog did."""

    def __init__(self, soft_delete_status: int = 405) -> None:
        self.requests: list[tuple[str, str]] = []
        self.flags: dict[int, dict[str, Any]] = {7: dict(FLAG)}
        self.soft_delete_status = soft_delete_status

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path))
        flag = self.flags.get(7)
        if request.method == "PATCH" and json.loads(request.content) == {"deleted": True}:
            return httpx.Response(self.soft_delete_status, json={"detail": "Method not allowed"})
        if request.method == "GET" and flag is not None:
            return httpx.Response(200, json=flag)
        if request.method == "DELETE" and flag is not None:
            del self.flags[7]
            return httpx.Response(204)
        return httpx.Response(404, json={"detail": "Not found."})


def legacy_api(server: OldServer) -> FeatureFlagsAPI:
    http = httpx.Client(base_url="http://old.test", transport=httpx.MockTransport(server))
    return FeatureFlagsAPI(
        "http://old.test", "phx_test", project_api_key="phc_test", http_client=http
    )


def test_a_405_to_the_soft_delete_falls_back_to_delete_and_returns_the_flag() -> None:
    server = OldServer()
    with legacy_api(server) as api:
        deleted = api.flags.delete(7)
    assert deleted.key == "old-flag"
    assert [method for method, _ in server.requests] == ["PATCH", "GET", "DELETE"]
    assert server.flags == {}


def test_other_refusals_of_the_soft_delete_are_raised_without_a_delete() -> None:
    server = OldServer(soft_delete_status=403)
    with legacy_api(server) as api, pytest.raises(ApiError) as info:
        api.flags.delete(7)
    assert info.value.status == 403
    assert [method for method, _ in server.requests] == ["PATCH"]


def test_the_project_routes_never_fall_back() -> None:
    server = OldServer()
    http = httpx.Client(base_url="http://old.test", transport=httpx.MockTransport(server))
    api = FeatureFlagsAPI("http://old.test", "phx_test", 1, http_client=http)
    with api, pytest.raises(ApiError) as info:
        api.flags.delete(7)
    assert info.value.status == 405
    assert [method for method, _ in server.requests] == ["PATCH"]


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_async_api_falls_back_the_same_way(anyio_backend: str) -> None:
    server = OldServer()
    http = httpx.AsyncClient(base_url="http://old.test", transport=httpx.MockTransport(server))
    async with AsyncFeatureFlagsAPI(
        "http://old.test", "phx_test", project_api_key="phc_test", http_client=http
    ) as api:
        deleted = await api.flags.delete(7)
    await http.aclose()
    assert deleted.key == "old-flag"
    assert [method for method, _ in server.requests] == ["PATCH", "GET", "DELETE"]
