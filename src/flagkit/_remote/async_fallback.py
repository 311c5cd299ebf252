"""The asyncio driver of the ``/flags`` lookup: carries out :meth:`RemoteCore.lookup`'s
commands on an ``httpx.AsyncClient`` (and ``asyncio.sleep``). Never raises, but can be
cancelled (the lookup's ticket is freed then)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx

from flagkit._evaluation.result import FlagResult
from flagkit._net.drive import drive_async
from flagkit._remote.core import Post, RemoteCore, Sleep
from flagkit._remote.fallback import RemoteReply, Resolved


class AsyncRemoteFallback(RemoteCore[httpx.AsyncClient]):
    """Asks ``/flags`` for undecided flags. Never raises (but can be cancelled).

    ``http`` returns the client to use (``None`` once closed). The whole lookup, its one
    retry (502/504, transport errors) included, ends within ``timeout`` seconds: each
    attempt runs under an ``asyncio`` deadline, so even a stalled DNS lookup or connect
    cannot hold a caller.
    """

    async def resolve(
        self, undecided: Mapping[str, FlagResult] | None, distinct_id: Any, **context: Any
    ) -> dict[str, Resolved]:
        """One lookup of the keys of ``undecided`` (every flag when ``None``): see
        :meth:`RemoteCore.lookup` for ``context``."""
        # Cancelling the read closes the machine: the lookup's probe slot is freed.
        return await drive_async(self.lookup(undecided, distinct_id, **context), self._perform)

    async def _perform(self, command: Post | Sleep) -> RemoteReply | None:
        if isinstance(command, Sleep):
            await asyncio.sleep(command.delay)
            return None
        return await self._post(command)

    async def _post(self, post: Post) -> RemoteReply | None:
        http = self.http()
        if http is None:
            return None
        try:
            return await asyncio.wait_for(self._attempt(http, post), post.remaining)
        except asyncio.TimeoutError:
            return self.timed_out()
        except Exception as exc:
            return self.exception_reply(exc)

    async def _attempt(self, http: httpx.AsyncClient, post: Post) -> RemoteReply:
        async with http.stream(**self.post_options(post)) as response:
            body = self.body_reader(post)
            async for chunk in response.aiter_bytes():
                if body.add(chunk):
                    break
            return body.reply(response.status_code)
