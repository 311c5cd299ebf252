"""Ties an :class:`flagkit.AsyncClient` to its event loop: running code on the loop from any
thread, readiness waits, and change listeners that may be coroutines.

Definitions can be published from a worker thread (a 200 body is compiled off the loop), so
everything that wakes loop code goes through :meth:`LoopHandle.call_soon`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from flagkit._events.async_wait import wait_until
from flagkit._sources.store import must_propagate
from flagkit._status import Progress, StatusTracker

if TYPE_CHECKING:
    from flagkit._events.async_queue import AsyncEventSender
    from flagkit._net.async_http import AsyncHttpHolder
    from flagkit._sources.async_poller import AsyncPoller

T = TypeVar("T")

logger = logging.getLogger("flagkit.client")


class LoopHandle:
    """The event loop a client is bound to (the first one it runs on), and the tasks it
    spawned for listeners."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self._tasks: dict[asyncio.Future[Any], str] = {}

    def bind(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Bind to ``loop`` unless bound already; True if ``loop`` is the bound loop."""
        if self.loop is None:
            self.loop = loop
        return self.loop is loop

    def elsewhere(self) -> asyncio.AbstractEventLoop | None:
        """The bound loop when the running loop is another one, else ``None``."""
        loop = self.loop
        return None if loop is None or loop is asyncio.get_running_loop() else loop

    async def run_on(
        self,
        owner: asyncio.AbstractEventLoop,
        coroutine: Coroutine[Any, Any, T],
        timeout: float | None,
    ) -> T | None:
        """Run ``coroutine`` on ``owner`` (a loop in another thread) and wait for it here,
        at most ``timeout`` seconds; ``None`` when ``owner`` is not running (or is gone)."""
        if owner.is_closed() or not owner.is_running():
            coroutine.close()
            return None
        try:
            future = asyncio.run_coroutine_threadsafe(coroutine, owner)
        except RuntimeError:  # closed in the meantime
            coroutine.close()
            return None
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except asyncio.TimeoutError:
            return None

    def call_soon(self, callback: Callable[..., object], *args: Any) -> None:
        """Run ``callback(*args)`` on the bound loop, from any thread; nothing happens when
        the client is not bound yet or the loop is closed."""
        loop = self.loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            loop.call_soon_threadsafe(callback, *args)

    def spawn(self, awaitable: Awaitable[object], what: str) -> None:
        """Run ``awaitable`` as a task on the current (bound) loop, keeping a reference to
        it until it ends and logging what it raises (``what`` names it in the log)."""
        task = asyncio.ensure_future(awaitable)
        self._tasks[task] = what
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Future[Any]) -> None:
        what = self._tasks.pop(task, "a task")
        if not task.cancelled() and task.exception() is not None:
            logger.error("flagkit: %s raised", what, exc_info=task.exception())


class LoopTracker(StatusTracker):
    """A :class:`StatusTracker` whose updates also wake coroutines waiting on the loop."""

    def __init__(
        self, clock: Callable[[], float], progress: Progress | None, handle: LoopHandle
    ) -> None:
        super().__init__(clock, progress)
        self._handle = handle
        self.changed = asyncio.Event()

    def update(self, **changes: Any) -> Progress:
        """Replace fields of the progress record (see :class:`StatusTracker`), then wake
        :meth:`wait_until` callers."""
        new = super().update(**changes)
        self._handle.call_soon(self.changed.set)
        return new

    async def wait_until(
        self, predicate: Callable[[Progress], bool], timeout: float | None
    ) -> bool:
        """Wait until ``predicate(progress)`` holds or ``timeout`` passes; its last value."""
        return await wait_until(lambda: predicate(self.progress), self.changed, timeout)


def listener_relay(
    handle: LoopHandle, callback: Callable[[frozenset[str]], object]
) -> Callable[[frozenset[str]], None]:
    """A store listener that runs ``callback`` on the loop; a coroutine it returns becomes
    a task. What either raises is logged, never propagated."""

    def run(changed: frozenset[str]) -> None:
        try:
            outcome = callback(changed)
        except BaseException as exc:  # SystemExit too: it must not stop the event loop
            if must_propagate(exc):
                raise
            logger.exception("flagkit: on_change listener %r raised", callback)
            return
        if inspect.isawaitable(outcome):
            handle.spawn(outcome, f"on_change listener {callback!r}")

    def relay(changed: frozenset[str]) -> None:
        # Always a fresh loop callback, whichever thread published: the publisher (the
        # poller, or a worker thread compiling a body) never runs user code itself.
        handle.call_soon(run, changed)

    return relay


class Network:
    """A client's tasks and HTTP client, kept apart from the client object so that running
    tasks never keep a dropped client alive."""

    def __init__(
        self, handle: LoopHandle, http: AsyncHttpHolder, sender: AsyncEventSender | None
    ) -> None:
        self.handle = handle
        self.http = http
        self.sender = sender
        self.poller: AsyncPoller | None = None

    def abandon(self) -> None:
        """The client was dropped without ``close()``: stop its tasks (from any thread)."""
        self.handle.call_soon(self._abandon_on_loop)

    def _abandon_on_loop(self) -> None:
        if self.poller is not None:
            self.poller.cancel()
        if self.sender is not None:
            self.sender.abandon()
        self.handle.spawn(self.http.aclose(), "closing the HTTP client")
