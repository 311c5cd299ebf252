"""The background thread that runs one sync step, waits, and repeats until stopped."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from flagkit._sources.store import must_propagate

logger = logging.getLogger("flagkit.client")


class Poller:
    """Calls ``step()`` after ``initial_delay``, then again after the seconds it returned.

    The wait is an ``Event.wait`` so :meth:`stop` interrupts it at once. The thread is a
    daemon: a step blocked in a slow request never keeps the process alive.
    """

    def __init__(
        self,
        step: Callable[[], float],
        *,
        fallback_delay: float,
        initial_delay: float = 0.0,
        name: str = "flagkit-poller",
    ) -> None:
        self._step = step
        self._initial_delay = initial_delay
        self._fallback_delay = fallback_delay
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stop.is_set()

    def start(self) -> None:
        """Start the thread (the first step runs immediately)."""
        self._thread.start()

    def wake(self) -> None:
        """Cut the current wait short: the next step runs now."""
        self._wake.set()

    def stop(self, timeout: float = 1.0) -> bool:
        """Ask the thread to finish and wait up to ``timeout`` seconds; True if it did."""
        self._stop.set()
        self._wake.set()
        if threading.current_thread() is self._thread:
            return True  # called from inside a step: the loop ends when the step returns
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        delay = self._initial_delay
        while True:
            self._wake.wait(delay)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                delay = self._step()
            except BaseException as exc:  # the loop must survive anything a step raises
                if must_propagate(exc):
                    raise
                logger.exception("flagkit: unexpected error in the definitions poller")
                delay = self._fallback_delay
