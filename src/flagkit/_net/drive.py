"""Running a sans-I/O state machine: a generator that yields commands (send this, wait that
long) and receives their results. :func:`drive` carries the commands out in this thread,
:func:`drive_async` awaits them; the machine itself never knows which."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

C = TypeVar("C")  # a command
T = TypeVar("T")  # what the machine returns


def drive(steps: Generator[C, Any, T], perform: Callable[[C], Any]) -> T:
    """Run ``steps`` to the end, answering each command with ``perform(command)``."""
    try:
        command = next(steps)
        while True:
            command = steps.send(perform(command))
    except StopIteration as done:
        result: T = done.value
        return result
    finally:
        steps.close()  # an exception (or a cancelled task) ends the machine too


async def drive_async(steps: Generator[C, Any, T], perform: Callable[[C], Awaitable[Any]]) -> T:
    """:func:`drive`, awaiting ``perform(command)``."""
    try:
        command = next(steps)
        while True:
            command = steps.send(await perform(command))
    except StopIteration as done:
        result: T = done.value
        return result
    finally:
        steps.close()
