"""AsyncFeatureFlagsAPI against a real LocalServer: the same calls, awaited."""

from __future__ import annotations

import pytest

from flagkit._evaluation.snapshot import Snapshot
from flagkit.api import AsyncFeatureFlagsAPI, NotFound, ServerError, ValidationError
from flagkit.server import LocalServer

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def flags_path(server: LocalServer) -> str:
    return f"/api/projects/{server.project_id}/feature_flags/"


def make(server: LocalServer) -> AsyncFeatureFlagsAPI:
    return AsyncFeatureFlagsAPI(
        server.url, server.personal_api_key, server.project_id, max_retries=2, backoff=0.01
    )


async def test_async_lifecycle(server: LocalServer, key: str) -> None:
    async with make(server) as api:
        created = await api.flags.create(key, name="async", rollout_percentage=40)
        assert created.id is not None
        assert (await api.flags.get(created.id)).name == "async"
        assert (await api.flags.get_by_key(key)).id == created.id
        for n in range(3):
            await api.flags.create(f"{key}-{n}", rollout_percentage=n)
        keys = [f.key async for f in api.flags.iter_all(page_size=2)]
        assert {key, f"{key}-0", f"{key}-1", f"{key}-2"} <= set(keys)
        updated = await api.flags.update(created.id, active=False)
        assert updated.active is False
        assert isinstance(await api.flags.local_evaluation(), Snapshot)
        assert (await api.flags.activity(created.id)).results
        assert (await api.flags.delete(created.id)).deleted is True
        with pytest.raises(NotFound):
            await api.flags.get_by_key(key)


async def test_async_persons(server: LocalServer, key: str) -> None:
    server.add_person(f"{key}-someone", {"plan": "pro"})
    async with make(server) as api:
        person = await api.persons.find(f"{key}-someone")
        assert person is not None
        assert person.properties == {"plan": "pro"}
        assert await api.persons.find(f"{key}-nobody") is None


async def test_async_errors_and_retries(server: LocalServer, key: str) -> None:
    path = flags_path(server)
    async with make(server) as api:
        with pytest.raises(ValidationError):
            await api.flags.create("not a key", rollout_percentage=1)
        server.faults.fail(path, 502, times=1)
        before = server.faults.count(path)
        await api.flags.list()
        assert server.faults.count(path) == before + 2
        server.faults.fail(path, 502, times=1)
        with pytest.raises(ServerError):
            await api.flags.create(key, rollout_percentage=1)
    server.faults.clear()
