"""One poller cycle for a client with a shared store: lead, follow, or fetch directly.

Each cycle (every ``check_interval``, at most a second):

* try to become or stay the leader (a file lock, or a Redis lease renewed every cycle);
* **leader**: when a fetch is due, fetch from the server as a lone client would (ETag, 304,
  backoff: the :class:`~flagkit._sources.sync.Syncer` decides) and write every new body to the
  store;
  a 304 only records the confirmation. If the store does not hold what this process serves
  (it just took over, the store was emptied or damaged), the fetch is unconditional, so
  the store always ends up with a complete body and its ETag;
* **follower**: read the store's version; when it changed, read the body, compile it here in
  the poller thread and swap it in. When the store has nothing usable and this process has
  nothing to serve, fetch directly after a short grace period (first start, damaged file);
* **direct**: the store raised :class:`StoreError` (or anything else): fetch directly on
  the usual schedule, serve the last good definitions, and try the store again later.
"""

from __future__ import annotations

import logging
import threading

import attrs

from flagkit._sources.disk_cache import body_hash
from flagkit._sources.fetch import Fetched, NotModified
from flagkit._sources.sync import Syncer
from flagkit._status import Role, State
from flagkit.stores._protocol import DefinitionsStore, StoreError, StoreState

logger = logging.getLogger("flagkit.client")

SOURCE_SHARED = "shared store"


@attrs.frozen(slots=True)
class SharedTiming:
    """How often to look at the store, how long a lease lasts, when to retry the store."""

    check_interval: float
    lease_ttl: float
    store_retry: float
    grace: float

    @classmethod
    def for_poll_interval(cls, poll_interval: float) -> SharedTiming:
        """Defaults derived from the client's ``poll_interval``.

        Followers look every ``min(poll_interval, 1 s)``; the lease outlives a few missed
        renewals (at least 1 s, at most 15 s unless ``poll_interval`` is shorter), so a dead
        leader is replaced within about one poll interval.
        """
        check = min(poll_interval, 1.0)
        return cls(
            check_interval=check,
            lease_ttl=max(1.0, 3 * check, min(poll_interval, 15.0)),
            store_retry=min(poll_interval, 5.0),
            grace=min(poll_interval, 2.0),
        )


class SharedSync:
    """Runs the cycle above; the poller calls :meth:`step` instead of ``Syncer.step``."""

    def __init__(self, syncer: Syncer, store: DefinitionsStore, timing: SharedTiming) -> None:
        self.syncer = syncer
        self.store = store
        self.timing = timing
        self._lock = threading.Lock()  # leadership calls vs. close()
        self._closed = threading.Event()
        self._role: Role | None = None
        self._seen_version: str | None = None  # store version whose body we adopted or wrote
        self._seen_digest: str | None = None  # hash of that body
        self._bad_version: str | None = None  # a store version that failed to load
        self._next_fetch = 0.0
        self._store_retry_at = 0.0
        self._store_down = False
        self._started = syncer.clock()

    @property
    def role(self) -> Role | None:
        """The role of the last cycle (``None`` before the first)."""
        return self._role

    def reinit_after_fork(self) -> None:
        """In a forked child: fresh lock, and decide the role anew (the store sees the fork)."""
        self._lock = threading.Lock()
        self._closed = threading.Event()  # the close()d case never reaches a fork hook
        self._role = None
        self._store_retry_at = 0.0
        self._started = self.syncer.clock()

    def close(self) -> None:
        """Stop taking part and give up leadership so another process takes over at once."""
        with self._lock:
            if self._closed.is_set():
                return
            self._closed.set()
        try:
            self.store.release_leadership()
        except Exception as exc:  # the lease or lock then ends on its own
            logger.debug("flagkit: could not release shared leadership: %s", exc)
        self.syncer.tracker.update(role=None)  # a closed client takes no part any more

    def step(self) -> float:
        """One cycle; the seconds to wait before the next."""
        syncer = self.syncer
        if self._closed.is_set() or syncer.closed:
            return self.timing.check_interval
        now = syncer.clock()
        if now < self._store_retry_at:
            return self._direct(now)
        try:
            with self._lock:
                if self._closed.is_set():  # close() ran while this cycle was starting
                    return self.timing.check_interval
                leader = self.store.try_acquire_leadership(self.timing.lease_ttl)
            self._store_recovered()
            return self._lead(now) if leader else self._follow(now)
        except Exception as exc:  # StoreError, or a bug in a custom store: same answer
            self._store_failed(exc)
            return self._direct(now)

    # -- roles ------------------------------------------------------------------------------

    def _lead(self, now: float) -> float:
        syncer = self.syncer
        became_leader = self._role is not Role.LEADER
        if became_leader:
            # Reported before serving what the store has: whoever sees the client ready
            # sees its role too.
            self._set_role(Role.LEADER)
        state = self.store.peek()
        if state is not None and syncer.store.current is None and not self._in_sync(state):
            # Nothing to serve yet (a fresh start): what the store has beats nothing even
            # if PostHog cannot be reached, and makes the first fetch a conditional one.
            self._adopt(state.version)
        in_sync = self._in_sync(state)
        if became_leader:
            if not in_sync:
                self._next_fetch = now  # fill or repair the store now
            elif state is not None:
                # Carry on the previous leader's rhythm instead of fetching at once.
                due = state.confirmed_at + syncer.policy.poll_interval
                self._next_fetch = min(max(due, now), now + syncer.policy.poll_interval)
        if now >= self._next_fetch:
            started = syncer.clock()
            # Out of sync: ask for the full body, which the store needs.
            etag = syncer.tracker.progress.etag if in_sync else None
            outcome = syncer.fetch(etag)
            delay = syncer.handle(outcome, started)
            self._next_fetch = syncer.clock() + delay
            self._share(outcome, in_sync)
        return self._wait(self.timing.check_interval)

    def _share(self, outcome: object, in_sync: bool) -> None:
        """Write an accepted 200 body to the store; record a 304 as a confirmation."""
        current = self.syncer.store.current
        if isinstance(outcome, Fetched):
            digest = body_hash(outcome.body)
            if current is None or current.body_hash != digest:
                return  # the body was refused (invalid definitions): keep the store as is
            if in_sync and digest == self._seen_digest:
                self.store.confirm()  # same bytes again (a server without ETags)
                return
            version = self.store.write(outcome.body, outcome.etag)
            if version is None:
                self._set_role(Role.FOLLOWER)  # lost the lease during the fetch
                return
            self._seen_version, self._seen_digest = version, digest
        elif (
            isinstance(outcome, NotModified)
            and in_sync
            and self.syncer.tracker.progress.state is State.VALID
        ):
            self.store.confirm()

    def _follow(self, now: float) -> float:
        self._set_role(Role.FOLLOWER)
        state = self.store.peek()
        if state is None:
            return self._without_snapshot(now)
        version = state.version
        if version == self._seen_version:
            if self._serving_seen():
                self.syncer.mark_confirmed(state.confirmed_at)
            return self._wait(self.timing.check_interval)
        if not self._adopt(version):
            return self._without_snapshot(now)
        return self._wait(self.timing.check_interval)

    def _adopt(self, version: str) -> bool:
        """Read the stored definitions (announced as ``version``) and serve them."""
        if version == self._bad_version:
            return False
        stored = self.store.read()
        if stored is None:
            self._bad_version = version  # damaged (the store warned) or replaced meanwhile
            return False
        adopted = self.syncer.adopt(
            stored.body, stored.etag, confirmed_at=stored.confirmed_at, source=SOURCE_SHARED
        )
        if not adopted:
            self._bad_version = stored.version
            return False
        self._seen_version, self._seen_digest = stored.version, body_hash(stored.body)
        return True

    def _without_snapshot(self, now: float) -> float:
        """The store has nothing usable: serve what we have, or fetch it ourselves."""
        syncer = self.syncer
        if syncer.tracker.progress.ready and syncer.store.current is not None:
            return self._wait(self.timing.check_interval)
        if now < self._started + self.timing.grace:
            return self._wait(self.timing.check_interval)  # the leader is probably fetching
        if now >= self._next_fetch:
            self._next_fetch = syncer.clock() + syncer.step()
        return self._wait(self.timing.check_interval)

    def _direct(self, now: float) -> float:
        self._set_role(Role.DIRECT)
        syncer = self.syncer
        if now >= self._next_fetch:
            self._next_fetch = syncer.clock() + syncer.step()
        wait = min(self._next_fetch, self._store_retry_at) - syncer.clock()
        return max(wait, 0.0)

    # -- helpers ----------------------------------------------------------------------------

    def _in_sync(self, state: StoreState | None) -> bool:
        """The store holds exactly the body this process serves (as far as we know)."""
        return state is not None and state.version == self._seen_version and self._serving_seen()

    def _serving_seen(self) -> bool:
        current = self.syncer.store.current
        return current is not None and current.body_hash == self._seen_digest

    def _wait(self, at_most: float) -> float:
        # Never sleep past the next due fetch of a leader.
        if self._role is Role.LEADER:
            return max(0.0, min(at_most, self._next_fetch - self.syncer.clock()))
        return at_most

    def _set_role(self, role: Role) -> None:
        previous = self._role
        if previous is role and self.syncer.tracker.progress.role is role:
            return
        self._role = role
        self.syncer.set_role(role)
        if role is Role.LEADER and previous is Role.FOLLOWER:
            logger.info("flagkit: took over fetching definitions for the shared store")
        else:
            logger.debug("flagkit: shared definitions role: %s", role.value)

    def _store_failed(self, exc: Exception) -> None:
        self._store_retry_at = self.syncer.clock() + self.timing.store_retry
        known = isinstance(exc, StoreError)
        message = str(exc) if known else f"{type(exc).__name__}: {exc}"
        if not self._store_down:
            self._store_down = True
            logger.warning(
                "flagkit: shared definitions store unavailable (%s); fetching directly "
                "until it is back",
                message,
                exc_info=not known,  # an unexpected exception: show where it came from
            )
        else:
            logger.debug("flagkit: shared definitions store still unavailable: %s", message)

    def _store_recovered(self) -> None:
        if self._store_down:
            self._store_down = False
            logger.info("flagkit: shared definitions store available again")
