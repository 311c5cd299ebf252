"""Event senders and reporters reset in a forked child: new locks and an empty queue (the
parent delivers its own queued events); de-duplication state is inherited."""

from __future__ import annotations

import logging
import os
import weakref
from typing import Protocol

logger = logging.getLogger("flagkit.client")


class ForkAware(Protocol):
    """Something with state a forked child must not share."""

    def _after_fork_in_child(self) -> None: ...


# Weak: registering never keeps a sender or reporter alive.
_FORK_AWARE: weakref.WeakSet[ForkAware] = weakref.WeakSet()


def reset_after_fork(item: ForkAware) -> None:
    """Call ``item._after_fork_in_child()`` in every forked child while ``item`` lives."""
    _FORK_AWARE.add(item)


def _reset_in_child() -> None:
    for item in list(_FORK_AWARE):
        _reset(item)


def _reset(item: ForkAware) -> None:
    try:
        item._after_fork_in_child()
    except Exception:  # one failed reset must not keep the others from theirs
        logger.exception("flagkit: could not reset event delivery after fork")


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_in_child)
