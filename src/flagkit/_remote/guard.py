"""When not to ask ``/flags``: a pause after a failure, and a memory of the flags whose lookup
failed for the definitions being served.

Without this, a ``/flags`` that accepts connections and never answers makes every undecidable
read (a missing property, a typo in a key, a static cohort) wait the whole remote timeout,
call after call. :class:`RemoteGuard` is pure bookkeeping (no I/O; the clock and the random
source are injected) shared by the thread and asyncio drivers:

* after a failed lookup, nothing is asked for a pause that doubles with each consecutive
  failure (jittered, capped) and ends with the first successful lookup;
* once the pause is over, a single lookup tests ``/flags``; reads meanwhile answer at once;
* a flag whose lookup failed is not asked again until the definitions served change or a
  poll succeeds (``served``), or a lookup succeeds. The memory is bounded.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping

import attrs

from flagkit._net.backoff import full_jitter

PAUSE_BASE = 1.0  # seconds: the first pause is 0.5-1 s, then it doubles
PAUSE_CAP = 60.0
MEMORY_LIMIT = 4096  # flag keys remembered per definitions version

# What the client serves: its definitions and the time of its last successful poll.
Served = tuple[object, float | None]


@attrs.frozen(slots=True, eq=False)
class Ticket:
    """Permission for one lookup; hand it back with :meth:`RemoteGuard.record`."""

    served: Served | None
    failures: int  # consecutive failures when it was issued
    probe: bool  # the single lookup that tests /flags after a pause


@attrs.frozen(slots=True)
class Hold:
    """Why one flag is answered without asking: PostHog's error name and a sentence."""

    error: str
    text: str


@attrs.frozen(slots=True)
class Admission:
    """:meth:`RemoteGuard.admit`'s verdict: the flags held back, and a ticket when there is
    something left to ask (``None``: ask nothing)."""

    ticket: Ticket | None
    held: Mapping[str, Hold]


class RemoteGuard:
    """Decides, per read, whether ``/flags`` may be asked, and learns from each outcome.

    Thread-safe; never holds its lock across I/O.
    """

    def __init__(
        self,
        *,
        base: float = PAUSE_BASE,
        cap: float = PAUSE_CAP,
        limit: int = MEMORY_LIMIT,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._base = base
        self._cap = cap
        self._limit = limit
        self._rng = rng or random.Random()
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._failures = 0
        self._until = 0.0
        self._error = ""
        self._probe: Ticket | None = None
        self._served: Served | None = None
        self._failed: dict[str, str] = {}  # flag key -> error name, oldest first

    @property
    def failures(self) -> int:
        """Consecutive failed lookups (0 once one succeeds)."""
        return self._failures

    def admit(self, keys: Collection[str] | None, served: Served | None) -> Admission:
        """The verdict for a lookup of ``keys`` (``None``: every flag) under ``served``."""
        with self._lock:
            if not _same(served, self._served):
                self._served = served
                self._failed.clear()  # new definitions, or a poll succeeded: ask again
            if self._failures:
                now = self._monotonic()
                if now < self._until:
                    text = f"lookups pause for {self._until - now:.1f} s more after a failure"
                    return self._hold_all(keys, text)
                if self._probe is not None:
                    return self._hold_all(keys, "another lookup is testing whether it works")
            held = {
                key: Hold(self._failed[key], _REMEMBERED_TEXT.format(self._failed[key]))
                for key in keys or ()
                if key in self._failed
            }
            if keys is not None and len(held) == len(keys):
                return Admission(None, held)
            ticket = Ticket(served, self._failures, probe=self._failures > 0)
            if ticket.probe:
                self._probe = ticket
            return Admission(ticket, held)

    def record(self, ticket: Ticket, keys: Iterable[str], error: str | None) -> None:
        """The outcome of ``ticket``'s lookup of ``keys``: ``error`` is PostHog's error name,
        ``None`` on success."""
        with self._lock:
            if self._probe is ticket:
                self._probe = None
            if error is None:
                self._failures = 0
                self._until = 0.0
                self._failed.clear()
                return
            self._error = error
            if ticket.failures == self._failures:  # concurrent failures escalate only once
                self._failures += 1
                self._until = self._monotonic() + self._pause(self._failures)
            if _same(ticket.served, self._served):
                for key in keys:
                    self._failed.pop(key, None)
                    self._failed[key] = error
                while len(self._failed) > self._limit:
                    del self._failed[next(iter(self._failed))]

    def release(self, ticket: Ticket) -> None:
        """Give ``ticket`` back without an outcome (the lookup was cancelled or not sent)."""
        with self._lock:
            if self._probe is ticket:
                self._probe = None

    def _pause(self, failures: int) -> float:
        # "Equal jitter": half the exponential step for sure, the other half at random, so a
        # pause is never close to zero and a fleet does not come back in lockstep.
        step = min(self._cap, self._base * float(2 ** min(failures - 1, 62)))
        rng = self._rng
        return step / 2 + full_jitter(failures, base=self._base / 2, cap=self._cap / 2, rng=rng)

    def _hold_all(self, keys: Collection[str] | None, why: str) -> Admission:
        hold = Hold(self._error, f"{self._error}: /flags not asked; {why}")
        return Admission(None, dict.fromkeys(keys or (), hold))


_REMEMBERED_TEXT = "{}: /flags not asked; its lookup of this flag failed for these definitions"


def _same(a: Served | None, b: Served | None) -> bool:
    if a is None or b is None:
        return a is b
    return a[0] is b[0] and a[1] == b[1]
