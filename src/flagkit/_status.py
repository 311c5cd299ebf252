"""What the client knows about the freshness of its definitions, and who is told."""

from __future__ import annotations

import enum
import logging
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
    * ``offline``: bootstrap definitions only; no network.
    * ``closed``: ``close()`` was called, or the client has neither keys nor bootstrap.
    """

    INITIALIZING = "initializing"
    VALID = "valid"
    STALE = "stale"
    UNAUTHORIZED = "unauthorized"
    QUOTA_LIMITED = "quota_limited"
    OFFLINE = "offline"
    CLOSED = "closed"

    def __str__(self) -> str:
        return self.value


@attrs.frozen(slots=True)
class ClientStatus:
    """A consistent snapshot of the client's sync status (see :class:`State`).

    ``age`` is the number of seconds since the definitions being served were last confirmed
    by the server (or written, for a disk cache), ``None`` when unknown. ``last_error``
    never contains API keys.
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
    flag_count: int = 0
    source: str | None = None


class StatusTracker:
    """Holds the current :class:`Progress`, logs each state change once, wakes waiters.

    Writers (the poller, ``close()``) take a lock; readers just read ``progress``.
    """

    def __init__(self, clock: Callable[[], float], progress: Progress | None = None) -> None:
        self._clock = clock
        self.progress = progress or Progress()
        self._changed = threading.Condition(threading.Lock())

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

    def status(self) -> ClientStatus:
        """The public view of the current progress."""
        p = self.progress
        now = self._clock()
        age = None if p.confirmed_at is None else max(0.0, now - p.confirmed_at)
        return ClientStatus(
            state=p.state,
            ready=p.ready,
            last_success=_to_datetime(p.last_success),
            last_attempt=_to_datetime(p.last_attempt),
            last_error=p.last_error,
            age=age,
            etag=p.etag,
            consecutive_failures=p.consecutive_failures,
            fingerprint=p.fingerprint,
            flag_count=p.flag_count,
            source=p.source,
        )


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
