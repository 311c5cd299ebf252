"""Objects whose threads, locks or sockets must be rebuilt in a forked child.

A forked child inherits memory but not threads: a poller or sender thread of the parent
does not exist there, its locks may be held forever and its pooled sockets are shared
with the parent. Each object registered here has ``_after_fork_in_child()`` called in the
child; each rebuilds only its own parts, so the order does not matter.
"""

from __future__ import annotations

import logging
import os
import weakref
from typing import Protocol

logger = logging.getLogger("flagkit.client")


class ForkAware(Protocol):
    def _after_fork_in_child(self) -> None: ...


# Weak: registration never keeps an object alive.
_REGISTERED: weakref.WeakSet[ForkAware] = weakref.WeakSet()


def restart_in_child(item: ForkAware) -> None:
    """Call ``item._after_fork_in_child()`` in every child forked from now on."""
    _REGISTERED.add(item)


def forget(item: ForkAware) -> None:
    """Stop restarting ``item`` (it was closed)."""
    _REGISTERED.discard(item)


def _restart_all_in_child() -> None:
    for item in list(_REGISTERED):
        try:
            item._after_fork_in_child()
        except Exception:  # one broken object must not stop the others
            logger.exception("flagkit: could not restart %s after fork", type(item).__name__)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_restart_all_in_child)
