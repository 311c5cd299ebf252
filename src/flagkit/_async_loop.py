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
from collections.abc import Awaitable, Callable
from typing import Any

from flagkit._status import Progress, StatusTracker

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


async def wait_until(
    predicate: Callable[[], bool], changed: asyncio.Event, timeout: float | None
) -> bool:
    """Wait until ``predicate()`` holds, re-checking whenever ``changed`` is set; False when
    ``timeout`` seconds passed first."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    while not predicate():
        remaining = None if deadline is None else deadline - loop.time()
        if remaining is not None and remaining <= 0:
            return False
        changed.clear()  # no await since the check: a signal cannot slip in between
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(changed.wait(), remaining)
    return True


def listener_relay(
    handle: LoopHandle, callback: Callable[[frozenset[str]], object]
) -> Callable[[frozenset[str]], None]:
    """A store listener that runs ``callback`` on the loop; a coroutine it returns becomes
    a task. What either raises is logged, never propagated."""

    def run(changed: frozenset[str]) -> None:
        try:
            outcome = callback(changed)
        except Exception:
            logger.exception("flagkit: on_change listener %r raised", callback)
            return
        if inspect.isawaitable(outcome):
            handle.spawn(outcome, f"on_change listener {callback!r}")

    def relay(changed: frozenset[str]) -> None:
        # Always a fresh loop callback, whichever thread published: the publisher (the
        # poller, or a worker thread compiling a body) never runs user code itself.
        handle.call_soon(run, changed)

    return relay
