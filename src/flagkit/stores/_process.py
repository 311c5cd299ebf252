"""What a store's leadership bookkeeping needs to survive ``fork()``.

A forked child inherits the parent's lock, perhaps held by a thread that does not exist
there, and the parent's claim to leadership (a file lock descriptor, a Redis lease token),
which the child must not use as its own.
"""

from __future__ import annotations

import os
import threading


class ProcessGuard:
    """A lock that is replaced in a forked child, and the process it belongs to."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def lock(self) -> threading.Lock:
        """The lock of this process (a fresh one in a child: the parent's may be held by
        a thread that does not exist here)."""
        if os.getpid() != self._pid:
            self._lock = threading.Lock()
        return self._lock

    def forked(self) -> bool:
        """True the first time it is asked in a new process (call it under :meth:`lock`):
        the caller then drops what it inherited from the parent."""
        pid = os.getpid()
        if pid == self._pid:
            return False
        self._pid = pid
        return True
