"""The current definitions: one reference, swapped whole, read without locks."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

import attrs

from flagkit._evaluation.evaluator import Evaluator
from flagkit._evaluation.snapshot import Snapshot

logger = logging.getLogger("flagkit.client")

ChangeListener = Callable[[frozenset[str]], object]


@attrs.frozen(slots=True)
class Published:
    """A snapshot and its evaluator, published together so readers never mix two versions.

    ``source`` says where the definitions came from (``"network"``, ``"disk cache"``,
    ``"bootstrap"``, ``"cleared"``); ``body_hash`` is the mmh3 hash of the raw body, when
    there was one, used to skip recompiling an unchanged body.
    """

    snapshot: Snapshot
    evaluator: Evaluator
    source: str
    body_hash: str | None = None

    @classmethod
    def of(cls, snapshot: Snapshot, source: str, body_hash: str | None = None) -> Published:
        """Build the evaluator for ``snapshot`` and bundle the two."""
        return cls(snapshot, Evaluator(snapshot), source, body_hash)


@attrs.frozen(slots=True)
class Change:
    """What one publish changed: the flag keys, and whether it was the first load (nothing
    was served before, so every key is "changed" without anything having changed)."""

    keys: frozenset[str]
    first_load: bool = False

    def __bool__(self) -> bool:
        return bool(self.keys)


NO_CHANGE = Change(frozenset())


class Store:
    """Holds :attr:`current`; :meth:`publish` swaps it and tells listeners what changed.

    Readers do ``store.current`` (a single attribute read, atomic in CPython) and use what
    they got; there is no lock on that path. Only one writer (the poller) publishes at a time.
    """

    def __init__(self, initial: Published | None = None) -> None:
        self.current: Published | None = initial
        # (listener, whether it also hears the first load)
        self._listeners: tuple[tuple[ChangeListener, bool], ...] = ()
        self._lock = threading.Lock()

    def reinit_after_fork(self) -> None:
        """Fresh lock in a forked child (the parent's may be held by a vanished thread)."""
        self._lock = threading.Lock()

    def add_listener(
        self, callback: ChangeListener, *, include_first_load: bool = False
    ) -> Callable[[], None]:
        """Register ``callback(changed_keys)``; returns a function that unregisters it."""
        entry = (callback, include_first_load)
        with self._lock:
            self._listeners = (*self._listeners, entry)

        def remove() -> None:
            with self._lock:
                listeners = list(self._listeners)
                if entry in listeners:
                    listeners.remove(entry)
                    self._listeners = tuple(listeners)

        return remove

    def publish(self, new: Published) -> Change:
        """Make ``new`` current and return what changed.

        Listeners are not called here: the caller calls :meth:`notify` once it has released
        its own lock, so a listener may call back into the client freely.
        """
        first_load = self.current is None
        change = Change(_changed_keys(self.current, new), first_load)
        self.current = new
        return change

    def notify(self, change: Change) -> None:
        """Call every listener (on a first load, only those that asked for it); one that
        raises (even ``SystemExit``) is logged and does not stop the others or the poller."""
        for listener, include_first_load in self._listeners:
            if change.first_load and not include_first_load:
                continue
            try:
                listener(change.keys)
            except BaseException as exc:
                if must_propagate(exc):
                    raise
                logger.exception("flagkit: on_change listener %r raised", listener)


def must_propagate(exc: BaseException) -> bool:
    """True for what flagkit's own code must never swallow: Ctrl-C in the main thread, and
    task cancellation. Anything else a user callback raises (``SystemExit`` included) is
    logged instead, so it cannot silently stop the poller."""
    if isinstance(exc, KeyboardInterrupt):
        return threading.current_thread() is threading.main_thread()
    return isinstance(exc, (asyncio.CancelledError, GeneratorExit))


def _changed_keys(old: Published | None, new: Published) -> frozenset[str]:
    if old is None:
        return frozenset(new.snapshot.flag_keys)
    if old.snapshot is new.snapshot:
        return frozenset()
    return frozenset(new.snapshot.diff(old.snapshot))
