"""Waiting on the event loop for a condition signalled through an :class:`asyncio.Event`.

Lives here, below the clients, so that the asyncio event sender and the client's loop
helpers share it without importing each other.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable


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
