"""The asynchronous admin API: :class:`AsyncFeatureFlagsAPI` (same calls, awaited)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from typing import Any, TypeVar

import httpx

from flagkit._evaluation.snapshot import Snapshot
from flagkit._net.async_http import build_async_http_client
from flagkit._net.drive import drive_async
from flagkit.api import _models as models
from flagkit.api._base import ApiBase
from flagkit.api._ops import Call, Operations, Pager
from flagkit.api._resources import FlagsCalls, PersonsCalls, RoleAccessCalls, Shell, Steps
from flagkit.api._transport import AsyncTransport, TransportCore

T = TypeVar("T")


class _AsyncShell(Shell):
    """Returns a coroutine for each call's answer (sent on the running loop)."""

    _transport: AsyncTransport

    async def _run(self, call: Call[T]) -> T:
        return call.parse(await self._transport.send(call.plan))

    async def _steps(self, steps: Steps) -> Any:
        return await drive_async(steps, self._run)

    async def _walk(self, first: Call[models.Page[T]]) -> AsyncGenerator[T, None]:
        pager = Pager(first)
        while pager.call is not None:
            page = await self._run(pager.call)
            for item in page.results:
                yield item
            pager.advance(page)


class RoleAccessResource(
    _AsyncShell,
    RoleAccessCalls[
        Awaitable[models.Page[models.RoleAccess]], Awaitable[models.RoleAccess], Awaitable[None]
    ],
):
    """Role access of one flag (PostHog Enterprise): ``api.flags.role_access``, awaited."""


class FlagsResource(
    _AsyncShell,
    FlagsCalls[
        Awaitable[models.Page[models.FeatureFlag]],
        AsyncIterator[models.FeatureFlag],
        Awaitable[models.FeatureFlag],
        Awaitable[models.Page[models.ActivityEntry]],
        Awaitable[bool],
        Awaitable[dict[str, models.EvaluationReason]],
        Awaitable[list[models.MyFlag]],
        Awaitable[models.BlastRadius],
        Awaitable[dict[str, Any]],
        Awaitable[Snapshot],
    ],
):
    """Feature-flag endpoints: ``api.flags``, awaited (``iter_all``: an async iterator)."""

    role_access: RoleAccessResource
    _role_access_type = RoleAccessResource


class PersonsResource(
    _AsyncShell,
    PersonsCalls[
        Awaitable[models.Page[models.Person]],
        AsyncIterator[models.Person],
        Awaitable[models.Person],
        Awaitable[models.Person | None],
    ],
):
    """Person endpoints: ``api.persons``, awaited (``iter_all``: an async iterator)."""


class AsyncFeatureFlagsAPI(ApiBase[httpx.AsyncClient]):
    """Asynchronous client of PostHog's feature-flag admin API (and persons).

    The same calls as :class:`~flagkit.api.FeatureFlagsAPI`, awaited; ``iter_all`` returns
    an async iterator. Use ``async with`` or ``await api.aclose()``.
    """

    def _connect(self, http_client: httpx.AsyncClient | None, ops: Operations) -> None:
        s = self.settings
        client = http_client or build_async_http_client(
            s.host, timeout=s.timeout, secrets=s.secrets
        )
        self._transport = AsyncTransport(
            client, TransportCore(s.retry, s.secrets), s.auth_headers()
        )
        self.flags = FlagsResource(self._transport, ops)
        self.persons = PersonsResource(self._transport, ops)

    async def aclose(self) -> None:
        """Close the HTTP connections (unless the ``http_client`` was passed in)."""
        if self._owns_client:
            await self._transport.client.aclose()

    async def __aenter__(self) -> AsyncFeatureFlagsAPI:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


__all__ = ["AsyncFeatureFlagsAPI", "FlagsResource", "PersonsResource", "RoleAccessResource"]
