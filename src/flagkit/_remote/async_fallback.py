"""Remote evaluation through ``POST /flags?v=2`` on an ``httpx.AsyncClient``: the asyncio
driver of :class:`flagkit._remote.fallback.RemoteCore` (request bytes, response meaning, retry
decision, counters and logging are all shared with the thread driver)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx

from flagkit._evaluation.result import FlagResult
from flagkit._remote.fallback import (
    DEFAULT_REMOTE_TIMEOUT,
    FLAGS_PATH,
    RemoteAnswer,
    RemoteCore,
    RemoteReply,
    Resolved,
)
from flagkit._remote.guard import RemoteGuard, Served


class AsyncRemoteFallback(RemoteCore):
    """Asks ``/flags`` for undecided flags. Never raises (but can be cancelled).

    ``http`` returns the client to use (``None`` once closed). The whole lookup, its one
    retry (502/504, transport errors) included, ends within ``timeout`` seconds: the attempts
    run under one ``asyncio`` deadline, so even a stalled DNS lookup or connect cannot hold a
    caller.
    """

    def __init__(
        self,
        http: Callable[[], httpx.AsyncClient | None],
        token: str,
        *,
        timeout: float = DEFAULT_REMOTE_TIMEOUT,
        secrets: Iterable[str | None] = (),
        on_request: Callable[[bool], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        guard: RemoteGuard | None = None,
    ) -> None:
        super().__init__(
            token,
            timeout=timeout,
            secrets=secrets,
            on_request=on_request,
            monotonic=monotonic,
            guard=guard,
        )
        self._http = http

    async def resolve(
        self,
        undecided: Mapping[str, FlagResult] | None,
        distinct_id: Any,
        *,
        person_properties: Mapping[str, Any] | None = None,
        groups: Mapping[str, Any] | None = None,
        group_properties: Mapping[str, Any] | None = None,
        device_id: Any = None,
        geoip_disable: bool = True,
        served: Served | None = None,
    ) -> dict[str, Resolved]:
        """One ``/flags`` request for the keys of ``undecided`` (every flag when ``None``),
        unless the guard holds them back; ``served`` identifies the client's definitions."""
        gate = self.admit(undecided, served)
        if gate.ticket is None:
            return gate.held
        try:
            try:
                data = self.request_data(
                    gate.asked,
                    distinct_id,
                    person_properties=person_properties,
                    groups=groups,
                    group_properties=group_properties,
                    device_id=device_id,
                    geoip_disable=geoip_disable,
                )
                reply, sent = await self.ask(data), True
            except Exception as exc:  # bad caller data or a bug: the caller still gets an answer
                reply, sent = self.unsent(exc), False
            return self.conclude(gate, reply, sent=sent)
        finally:
            self.release(gate)  # a cancelled lookup must not keep the probe slot

    async def ask(self, data: bytes) -> RemoteReply:
        """POST ``data`` (a JSON body) to ``/flags``, retrying once on 502/504 or a transport
        error."""
        deadline = self.monotonic() + self.timeout
        try:
            return await asyncio.wait_for(self._attempts(data, deadline), self.timeout)
        except asyncio.TimeoutError:
            return self.timed_out()

    async def _attempts(self, data: bytes, deadline: float) -> RemoteReply:
        failures = 0
        while True:
            reply = await self._post(data, deadline)
            if isinstance(reply, RemoteAnswer):
                return reply
            failures += 1
            delay = self.retry_wait(reply, failures, deadline)
            if delay is None:
                return reply
            await asyncio.sleep(delay)

    async def _post(self, data: bytes, deadline: float) -> RemoteReply:
        remaining = deadline - self.monotonic()
        if remaining <= 0:
            return self.timed_out()
        http = self._http()
        if http is None:
            return self.closed()
        try:
            async with http.stream(
                "POST",
                FLAGS_PATH,
                content=data,
                headers={"Content-Type": "application/json"},
                timeout=httpx.Timeout(remaining),
            ) as response:
                buffer = bytearray()
                async for chunk in response.aiter_bytes():
                    buffer += chunk
                    if self.body_overdue(len(buffer), deadline):
                        return self.timed_out(partial=True)
                return self.response_reply(response.status_code, bytes(buffer))
        except Exception as exc:
            return self.exception_reply(exc)
