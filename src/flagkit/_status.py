"""What the client knows about the freshness of its definitions, and who is told."""

from __future__ import annotations

import enum
import logging
import os
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import attrs

logger = logging.getLogger("flagkit.client")


class State(str, enum.Enum):
    """The sync state of a :class:`flagkit.Client`.

    * ``initializing``: no request has finished yet, or none succeeded and there is nothing
      to serve (``last_error`` says why).
    * ``valid``: the last request succeeded (200 or 304).
    * ``stale``: the last request failed; the last good definitions are still served.
    * ``unauthorized``: the server refused the keys (401/403); retried slowly.
    * ``quota_limited``: the server answered 402; definitions are cleared unless
      ``on_quota_limited="keep"``.
    * ``offline``: bootstrap definitions only; no polling.
    * ``remote``: a project token only (no personal or secret key): no definitions are
      fetched and every read is asked from PostHog's ``/flags``, as posthog-python does.
    * ``closed``: ``close()`` was called, or the client has neither keys nor bootstrap.
    """

    INITIALIZING = "initializing"
    VALID = "valid"
    STALE = "stale"
    UNAUTHORIZED = "unauthorized"
    QUOTA_LIMITED = "quota_limited"
    OFFLINE = "offline"
    REMOTE = "remote"
    CLOSED = "closed"

    def __str__(self) -> str:
        return self.value


class Role(str, enum.Enum):
    """How a client gets its definitions (``ClientStatus.role``).

    * ``leader``: it fetches from the server and writes to the shared store.
    * ``follower``: it reads what the leader wrote to the shared store.
    * ``direct``: it fetches from the server itself: no store is configured, or the store
      is unavailable right now.
    """

    LEADER = "leader"
    FOLLOWER = "follower"
    DIRECT = "direct"

    def __str__(self) -> str:
        return self.value


@attrs.frozen(slots=True)
class ClientStatus:
    """A consistent snapshot of the client's sync status (see :class:`State`).

    ``age`` is the number of seconds since the definitions being served were last confirmed
    by the server (or written, for a disk cache), ``None`` when unknown. ``last_error``
    never contains API keys.

    The remaining fields count what went over the network besides definitions since the
    client started (or since fork, in a forked child): ``remote_requests`` and
    ``remote_errors`` for the ``/flags`` fallback (one lookup counts once, retries
    included), ``events_sent`` and ``events_dropped`` for ``$feature_flag_called`` events
    (dropped: the queue was full, the server refused the batch, ``close()`` ran out of
    time, or the event could not be encoded), and ``events_pending`` for events waiting in
    the queue right now.
    ``events_overflowed`` counts the dropped events that did not fit in the bounded queue
    (a long capture outage, or more events than the queue holds); they are also in
    ``events_dropped``. Retryable delivery failures are retried until the queue overflows.

    ``role`` (a :class:`Role`) says whether this client fetches definitions itself or shares
    them through a store; ``None`` for a client that does not fetch (offline, disabled).
    """

    state: State
    ready: bool
    last_success: datetime | None
    last_attempt: datetime | None
    last_error: str | None
    age: float | None
    etag: str | None
    consecutive_failures: int
    fingerprint: str | None
    flag_count: int
    source: str | None
    remote_requests: int = 0
    remote_errors: int = 0
    events_sent: int = 0
    events_dropped: int = 0
    events_pending: int = 0
    role: Role | None = None
    events_overflowed: int = 0


class Counters:
    """Thread-safe activity counters shown in :class:`ClientStatus`.

    The lock is replaced whenever the process id changes, so a forked child never waits on
    a lock held by a parent thread that does not exist in the child.
    """

    _FIELDS = (
        "remote_requests",
        "remote_errors",
        "events_sent",
        "events_dropped",
        "events_overflowed",
    )

    def __init__(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._values = dict.fromkeys(self._FIELDS, 0)
        self.pending: Callable[[], int] = _zero

    def _current_lock(self) -> threading.Lock:
        pid = os.getpid()
        if pid != self._pid:
            self._pid = pid
            self._lock = threading.Lock()
            self._values = dict.fromkeys(self._FIELDS, 0)  # the parent's activity, not ours
        return self._lock

    def add(self, name: str, amount: int = 1) -> None:
        """Add ``amount`` to the counter ``name`` (one of ``Counters._FIELDS``)."""
        with self._current_lock():
            self._values[name] += amount

    def snapshot(self) -> dict[str, int]:
        """Every counter, plus ``events_pending``, as a dict."""
        with self._current_lock():
            values = dict(self._values)
        try:
            values["events_pending"] = self.pending()
        except Exception:  # a status read must never fail
            values["events_pending"] = 0
        return values


def _zero() -> int:
    return 0


@attrs.frozen(slots=True)
class Progress:
    """The tracker's mutable facts, replaced as a whole so readers never see half an update."""

    state: State = State.INITIALIZING
    ready: bool = False
    last_success: float | None = None
    last_attempt: float | None = None
    last_error: str | None = None
    confirmed_at: float | None = None
    etag: str | None = None
    consecutive_failures: int = 0
    fingerprint: str | None = None
    # When ``fingerprint`` is None: the served snapshot, whose fingerprint the status
    # shows (computed on first read: a first load is served before it is computed).
    fingerprinted: Any = attrs.field(default=None, eq=False, repr=False)
    flag_count: int = 0
    source: str | None = None
    role: Role | None = None

    def attempted_since(self, started: float) -> bool:
        """True once a sync attempt that started at or after ``started`` has finished."""
        return self.last_attempt is not None and self.last_attempt >= started

    def succeeded_since(self, started: float) -> bool:
        """True when that attempt succeeded (see :meth:`flagkit.Client.refresh`)."""
        return (
            self.attempted_since(started)
            and self.last_success is not None
            and self.last_success >= started
            and self.last_error is None
        )


# The progress fields the public status shows unchanged.
_SHOWN_AS_IS = (
    "state",
    "ready",
    "last_error",
    "etag",
    "consecutive_failures",
    "fingerprint",
    "flag_count",
    "source",
    "role",
)


class StatusTracker:
    """Holds the current :class:`Progress`, logs each state change once, wakes waiters.

    Writers (the poller, ``close()``) take a lock; readers just read ``progress``.
    """

    def __init__(self, clock: Callable[[], float], progress: Progress | None = None) -> None:
        self._clock = clock
        self.progress = progress or Progress()
        self._changed = threading.Condition(threading.Lock())
        self.counters = Counters()
        # The watchdog: seconds without a finished poll after which status() reports an
        # error whatever the poller is doing (None: the client does not poll).
        self.stall_after: float | None = None
        self._started_at = clock()

    def reinit_after_fork(self) -> None:
        """Fresh lock: the parent's may have been held by a thread that does not exist here."""
        self._changed = threading.Condition(threading.Lock())

    def update(self, **changes: Any) -> Progress:
        """Replace fields of the progress record; log if the state changed."""
        with self._changed:
            old = self.progress
            new = attrs.evolve(old, **changes)
            self.progress = new
            self._changed.notify_all()
        if new.state is not old.state:
            _log_transition(old, new)
        elif new.state is State.INITIALIZING and old.last_error is None and new.last_error:
            logger.warning("flagkit: could not load definitions yet: %s", new.last_error)
        return new

    def wait_for(self, predicate: Callable[[Progress], bool], timeout: float | None) -> bool:
        """Block until ``predicate(progress)`` holds or ``timeout`` passes; its last value."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self.progress), timeout)

    def _shown(self, progress: Progress) -> dict[str, Any]:
        """The status fields taken as they are: progress fields and the counters."""
        shown: dict[str, Any] = {name: getattr(progress, name) for name in _SHOWN_AS_IS}
        if shown["fingerprint"] is None and progress.fingerprinted is not None:
            shown["fingerprint"] = progress.fingerprinted.fingerprint
        shown.update(self.counters.snapshot())
        return shown

    def status(self) -> ClientStatus:
        """The public view of the current progress."""
        p = self.progress
        now = self._clock()
        p = self._watchdog(p, now)
        age = None if p.confirmed_at is None else max(0.0, now - p.confirmed_at)
        return ClientStatus(
            last_success=_to_datetime(p.last_success),
            last_attempt=_to_datetime(p.last_attempt),
            age=age,
            **self._shown(p),
        )

    def _watchdog(self, p: Progress, now: float) -> Progress:
        """``p`` as an error when no poll has finished for ``stall_after`` seconds: a poller
        stuck in a request, in a listener or anywhere else must not look healthy."""
        limit = self.stall_after
        if limit is None or p.state not in (State.VALID, State.INITIALIZING):
            return p
        last = p.last_attempt if p.last_attempt is not None else self._started_at
        silent = now - last
        if silent <= limit:
            return p
        error = f"no definitions poll finished in {silent:.0f} s (the poller is stalled)"
        state = State.STALE if p.state is State.VALID else State.INITIALIZING
        return attrs.evolve(p, state=state, last_error=error)


def _to_datetime(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=timezone.utc)


def _log_transition(old: Progress, new: Progress) -> None:
    # One line per state change: the poller never logs repeated failures above DEBUG.
    state = new.state
    if state is State.VALID:
        if old.state in (State.INITIALIZING, State.OFFLINE):
            logger.info("flagkit: definitions loaded (%d flags)", new.flag_count)
        else:
            logger.info(
                "flagkit: definitions fetch recovered (was %s, %d flags)", old.state, new.flag_count
            )
    elif state is State.STALE:
        logger.warning(
            "flagkit: definitions fetch failing; serving last known good definitions: %s",
            new.last_error,
        )
    elif state is State.UNAUTHORIZED:
        logger.error(
            "flagkit: the server refused the API key (%s). Check personal_api_key or "
            "secret_api_key and project_api_key; retrying slowly.",
            new.last_error,
        )
    elif state is State.QUOTA_LIMITED:
        logger.warning("flagkit: feature flag quota exceeded: %s", new.last_error)
    elif state is State.INITIALIZING:
        logger.debug("flagkit: initializing (%s)", new.last_error)
    elif state is State.CLOSED:
        logger.debug("flagkit: client closed")
