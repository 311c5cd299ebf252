"""Helpers shared by the AsyncClient tests: constants, waiting with a deadline, loop lag."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flagkit._client.async_client import AsyncClient

MakeClient = Callable[..., "AsyncClient"]
ReadyClient = Callable[..., Awaitable["AsyncClient"]]

DEFINITIONS = "/flags/definitions"
FLAGS = "/flags"
BATCH = "/batch"
FOREVER = 100_000

# Short intervals so that every test finishes in well under a second of polling.
FAST: dict[str, Any] = {
    "poll_interval": 0.05,
    "poll_jitter": 0.0,
    "backoff_base": 0.01,
    "backoff_max": 0.05,
    "unauthorized_retry_interval": 0.05,
    "timeout": 5.0,
    # Local evaluation only unless a test turns remote lookups or events on.
    "only_evaluate_locally": True,
    "send_events": False,
}

ROLLOUT_ALL = {"groups": [{"properties": [], "rollout_percentage": 100}]}
ROLLOUT_NONE = {"groups": [{"properties": [], "rollout_percentage": 0}]}


async def eventually(predicate: Callable[[], object], timeout: float = 10.0) -> bool:
    """Poll ``predicate`` (yielding to the loop) until it is truthy or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return bool(predicate())
        await asyncio.sleep(0.005)


class LoopLag:
    """Measures how late the event loop runs a 5 ms timer while the block is active.

    ``worst`` is the largest delay seen, in seconds: a loop blocked by a synchronous call
    of N seconds shows a lag of about N.
    """

    def __init__(self) -> None:
        self.worst = 0.0
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LoopLag:
        self._task = asyncio.get_running_loop().create_task(self._run())
        await asyncio.sleep(0)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._task is not None
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(0.005)
            self.worst = max(self.worst, loop.time() - before - 0.005)
            self.ticks += 1
