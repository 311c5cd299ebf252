"""The asyncio task that keeps definitions fresh: fetch, let the :class:`Syncer` act on the
outcome, wait, repeat.

The error policy (what a 200, 304, 401, 402, 429 or 5xx means, backoff, jitter,
``Retry-After``, publishing, the disk cache) is :meth:`flagkit._sources.sync.Syncer.handle`, the
same code the thread client runs. A 200 body is handed to it in a worker thread
(``asyncio.to_thread``): hashing, compiling and the disk-cache write never run on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import attrs

from flagkit._sources.fetch import Fetched, FetchOutcome
from flagkit._sources.store import must_propagate
from flagkit._sources.sync import Syncer

logger = logging.getLogger("flagkit.client")


@attrs.define(eq=False)
class AsyncPoller:
    """Runs ``fetch`` + ``syncer.handle`` after ``initial_delay``, then again after the
    seconds each step returns, until :meth:`stop`.

    Cancelled by anything else (``asyncio.run`` cancels every task when its loop ends), it
    awaits ``on_abandoned`` first, so the HTTP client's connections are closed while their
    loop still runs.
    """

    _syncer: Syncer
    _fetch: Callable[[str | None], Awaitable[FetchOutcome]]
    _initial_delay: float = attrs.field(default=0.0, kw_only=True)
    _on_abandoned: Callable[[], Awaitable[object]] | None = attrs.field(default=None, kw_only=True)
    _stopping: bool = attrs.field(default=False, init=False)
    _wake: asyncio.Event = attrs.field(factory=asyncio.Event, init=False)
    _task: asyncio.Task[None] | None = attrs.field(default=None, init=False)

    @property
    def running(self) -> bool:
        """True between :meth:`start` and the end of the task."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the task on the running loop (the first step runs at once)."""
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._run(), name="flagkit-poller")

    def wake(self) -> None:
        """Cut the current wait short: the next step runs now."""
        self._wake.set()

    def cancel(self) -> None:
        """Cancel the task (from the loop's thread) without waiting for it."""
        if self._task is not None:
            self._task.cancel()

    async def stop(self) -> None:
        """Cancel the task, abandoning a request in flight, and wait for it to end."""
        self._stopping = True
        task = self._task
        if task is None or task.done():
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        try:
            await self._loop()
        except asyncio.CancelledError:
            if not self._stopping and self._on_abandoned is not None:
                await self._on_abandoned()
            raise

    async def _loop(self) -> None:
        delay = self._initial_delay
        syncer = self._syncer
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(delay, 0.0))
            # Cleared after waking, before the step (as the thread poller does): a wake()
            # during the step (refresh() right after the first load) runs another step at
            # once instead of being lost.
            self._wake.clear()
            if syncer.closed:
                return
            try:
                delay = await self._step()
            except BaseException as exc:  # the loop must survive anything a step raises
                if must_propagate(exc):
                    raise
                logger.exception("flagkit: unexpected error in the definitions poller")
                delay = syncer.policy.poll_interval

    async def _step(self) -> float:
        syncer = self._syncer
        started = syncer.clock()
        outcome = await self._fetch(syncer.tracker.progress.etag)
        if syncer.closed:
            return syncer.policy.poll_interval
        if isinstance(outcome, Fetched):
            return await asyncio.to_thread(syncer.handle, outcome, started)
        return syncer.handle(outcome, started)
