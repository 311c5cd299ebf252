"""One definitions request on an ``httpx.AsyncClient``: the asyncio driver of
:class:`flagkit._sources.fetch.FetchCore` (which decides what every response means)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence

import httpx

from flagkit._sources.fetch import DEFAULT_MAX_BODY_BYTES, ERROR_BODY_LIMIT, FetchCore, FetchOutcome


class AsyncDefinitionsFetcher:
    """Performs definitions requests. ``http`` returns the client (``None`` once closed).

    Cancelling :meth:`fetch` (``close()`` does) abandons the request at once, even in the
    middle of a large body, so no abort flag is needed.
    """

    def __init__(
        self,
        http: Callable[[], httpx.AsyncClient | None],
        target: str,
        *,
        auth_key: str,
        secrets: Sequence[str | None],
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        clock: Callable[[], float],
        deadline: float | None = None,
    ) -> None:
        self._http = http
        self._deadline = deadline  # the whole request: httpx's timeouts bound each read
        self._core = FetchCore(
            target, auth_key=auth_key, secrets=secrets, max_body_bytes=max_body_bytes, clock=clock
        )

    async def fetch(self, etag: str | None) -> FetchOutcome:
        """Request the definitions, conditionally on ``etag``, within ``deadline`` seconds.
        Never raises (but can be cancelled)."""
        if self._deadline is None:
            return await self._fetch(etag)
        try:
            return await asyncio.wait_for(self._fetch(etag), self._deadline)
        except asyncio.TimeoutError:
            return self._core.deadline_exceeded(self._deadline)

    async def _fetch(self, etag: str | None) -> FetchOutcome:
        core = self._core
        try:
            http = self._http()
            if http is None:
                return core.aborted()
            headers = core.request_headers(etag)
            async with http.stream("GET", core.target, headers=headers) as response:
                early = core.decide_early(response, etag)
                if early is not None:
                    return early
                if response.status_code != 200:
                    return core.status_outcome(response, await _error_start(response))
                buffer = bytearray()
                async for chunk in response.aiter_bytes():
                    buffer += chunk
                    if len(buffer) > core.max_body_bytes:
                        return core.too_large(len(buffer))
                return core.body_outcome(response, bytes(buffer))
        except Exception as exc:
            return core.exception_outcome(exc)


async def _error_start(response: httpx.Response) -> bytes:
    with contextlib.suppress(httpx.HTTPError):  # the status alone is enough to act on
        async for chunk in response.aiter_bytes(ERROR_BODY_LIMIT):
            return chunk  # chunks of that size: the first is all that is read
    return b""
