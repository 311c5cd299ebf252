"""One sync step: fetch definitions, decide what the outcome means, publish, pick the next wait.

This is the error policy of the client in one place (see docs/client.md):

* 200: compile (unless the body's mmh3 hash equals the one being served), publish, persist.
* 304: nothing to parse; the definitions are confirmed fresh.
* 401/403: keep serving, state ``unauthorized``, retry every ``unauthorized_interval``.
* 402: state ``quota_limited``; definitions cleared (PostHog's rule) or kept, by policy.
* anything else (5xx, 429, timeouts, dropped connections, bad JSON, oversized bodies):
  keep the last good definitions, state ``stale``, exponential backoff with full jitter,
  never sooner than ``Retry-After`` when the server sent one.
"""

from __future__ import annotations

import gc
import json
import logging
import random
import threading
from collections.abc import Callable
from typing import Any

import attrs

from flagkit._evaluation.batch import batch_of
from flagkit._evaluation.snapshot import Snapshot
from flagkit._net.backoff import full_jitter, jittered
from flagkit._sources.disk_cache import DiskCache, body_hash
from flagkit._sources.fetch import FailureKind, Fetched, FetchFailed, FetchOutcome, NotModified
from flagkit._sources.flag_spans import decode_with_spans
from flagkit._sources.store import NO_CHANGE, Published, Store
from flagkit._status import Role, State, StatusTracker
from flagkit.errors import DefinitionsError

logger = logging.getLogger("flagkit.client")

SOURCE_NETWORK = "network"
SOURCE_CLEARED = "cleared"


@attrs.frozen(slots=True)
class SyncPolicy:
    """Timing and error-policy knobs (all in seconds)."""

    poll_interval: float = 30.0
    poll_jitter: float = 0.1
    backoff_base: float = 1.0
    backoff_max: float = 300.0
    unauthorized_interval: float = 300.0
    max_retry_after: float = 3600.0
    clear_on_quota_limited: bool = True


def compile_definitions(
    body: bytes, previous: Snapshot | None = None, *, compile_now: bool = True
) -> Snapshot:
    """Compile a 200 body, refusing bodies that must not replace good definitions.

    A body without a ``flags`` list, or one flagged ``quotaLimited``, is an error (the last
    good definitions stay), not "zero flags". With ``previous`` (the snapshot being
    served), flags it already compiled whose definition and shared inputs are unchanged
    are reused, so a reload costs what changed. With ``compile_now=False`` the body is only
    parsed, indexed and fingerprinted; flags compile on first use or by
    :meth:`Snapshot.compile_all`.
    """
    # Decoding, indexing, fingerprinting and compiling allocate many objects and create no
    # cycles: with a large heap (the definitions being served), the cyclic GC would rescan
    # it again and again (most of a big reload's time). Pause it meanwhile.
    paused = gc.isenabled() and len(body) > _PAUSE_GC_BYTES
    if paused:
        gc.disable()
    try:
        return _compile_definitions(body, previous, compile_now)
    finally:
        if paused:
            gc.enable()


_PAUSE_GC_BYTES = 64 * 1024


def _compile_definitions(body: bytes, previous: Snapshot | None, compile_now: bool) -> Snapshot:
    texts: list[str] | None = None
    walked = decode_with_spans(body)
    if walked is not None:
        data, texts = walked
    else:
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise DefinitionsError(f"definitions are not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise DefinitionsError(f"definitions must be a JSON object, not {type(data).__name__}")
    quota = data.get("quotaLimited")
    if isinstance(quota, list) and "feature_flags" in quota:
        raise DefinitionsError("the server reports the feature flag quota as exceeded")
    if not isinstance(data.get("flags"), list):
        raise DefinitionsError("definitions have no 'flags' list")
    snapshot = Snapshot._index(
        data, compile_now, decoded_json=True, previous=previous, owned=True, texts=texts
    )
    if compile_now:
        # A reload is compared with what is served: computed now, with the GC paused
        # (memoized). A first load is served first and fingerprinted after (_compile_rest).
        snapshot.fingerprint  # noqa: B018
        snapshot._compact()
        if previous is not None and "batch" in previous._memo:
            # The app reads every flag (get_all_flags, evaluate_all): have the next one's
            # pass ready too, so that the first such call after a reload does not build it.
            snapshot._memo["batch"] = batch_of(snapshot._evaluation_plan())
    return snapshot


def _compile_rest(snapshot: Snapshot) -> None:
    """Compile the flags of a newly published snapshot that are not compiled yet (all of
    them on a first load, none after a reload), then keep its definitions compact. Requests
    that run meanwhile compile the flags they read themselves (with the same result)."""
    snapshot.fingerprint  # noqa: B018 - first: a status read meanwhile computes it too
    snapshot.compile_all()
    snapshot._compact()  # a no-op for a snapshot compacted before it was published
    if snapshot.problems:
        logger.debug("flagkit: definitions have %d problems", len(snapshot.problems))


@attrs.define(kw_only=True, eq=False)
class Syncer:
    """Owns the fetch/publish cycle. Only the poller thread calls :meth:`step`."""

    store: Store
    tracker: StatusTracker
    fetch: Callable[[str | None], FetchOutcome]
    policy: SyncPolicy
    cache: DiskCache | None
    clock: Callable[[], float]
    rng: random.Random
    _compile: Callable[[bytes], Snapshot] | None = attrs.field(default=None, alias="compile_body")
    closed: bool = attrs.field(default=False, init=False)
    # Serialises publishing with close(): nothing is published after close() returns.
    write_lock: threading.Lock = attrs.field(factory=threading.Lock, init=False)

    def reinit_after_fork(self) -> None:
        """Fresh lock in a forked child."""
        self.write_lock = threading.Lock()

    def close(self) -> None:
        """Refuse every later publish (waits for one in progress)."""
        with self.write_lock:
            self.closed = True

    def step(self) -> float:
        """Fetch once, act on the outcome; return the seconds to wait before the next step."""
        if self.closed:
            return self.policy.poll_interval
        started = self.clock()
        return self.handle(self.fetch(self.tracker.progress.etag), started)

    def handle(self, outcome: FetchOutcome, started: float) -> float:
        """Act on one fetch outcome (see the module docstring); the seconds to wait."""
        if isinstance(outcome, Fetched):
            return self._on_body(outcome, started)
        if isinstance(outcome, NotModified):
            return self._on_not_modified(outcome, started)
        return self._on_failure(outcome, started)

    def adopt(self, body: bytes, etag: str | None, *, confirmed_at: float, source: str) -> bool:
        """Serve a body that another process fetched (a shared store's snapshot).

        Compiles it here, in the poller thread, unless it is the body being served.
        Returns False, changing nothing, when the body is not valid definitions.
        """
        if self.closed:
            return False
        started = self.clock()
        current = self.store.current
        try:
            published = self._prepare(body, source)
        except Exception as exc:
            logger.warning("flagkit: ignoring shared definitions (%d bytes): %s", len(body), exc)
            return False
        unchanged = current is not None and published.body_hash == current.body_hash
        self._succeeded(
            published,
            etag,
            started,
            body=None if unchanged else body,
            confirmed_at=confirmed_at,
        )
        return True

    def mark_confirmed(self, confirmed_at: float) -> None:
        """The shared store says the definitions being served are still current."""
        with self.write_lock:
            progress = self.tracker.progress
            if self.closed or (
                progress.state is State.VALID and progress.confirmed_at == confirmed_at
            ):
                return
            self._mark_valid(self.clock(), confirmed_at=confirmed_at)

    def set_role(self, role: Role) -> None:
        """Record how definitions are obtained (leader, follower, direct) for the status."""
        with self.write_lock:
            if not self.closed:
                self.tracker.update(role=role)

    # -- outcomes -----------------------------------------------------------------------

    def _prepare(self, body: bytes, source: str) -> Published:
        """What to publish for ``body``: the current definitions when they are the same,
        else a freshly compiled snapshot. Raises when the body is not valid definitions."""
        digest = body_hash(body)
        current = self.store.current
        if current is not None and current.body_hash == digest and current.source != SOURCE_CLEARED:
            # Same bytes as what we serve (typical for servers without ETags): no recompile.
            return current if current.source == source else attrs.evolve(current, source=source)
        if self._compile is not None:
            snapshot = self._compile(body)
        else:
            served = None
            if current is not None and current.source != SOURCE_CLEARED:
                served = current.snapshot
            # Nothing served yet: publish as soon as the body is indexed, and compile after
            # (see _compile_rest). A reload compiles first, in this thread, while the
            # previous definitions keep answering, so requests never pay for it.
            snapshot = compile_definitions(body, served, compile_now=served is not None)
        if (
            current is not None
            and current.source != SOURCE_CLEARED
            and current.snapshot.fingerprint == snapshot.fingerprint
        ):
            # Different bytes, same definitions: keep the compiled copy readers already use.
            return attrs.evolve(current, source=source, body_hash=digest)
        return Published.of(snapshot, source, digest)

    def _on_body(self, fetched: Fetched, started: float) -> float:
        current = self.store.current
        try:
            published = self._prepare(fetched.body, SOURCE_NETWORK)
        except Exception as exc:  # DefinitionsError, or anything a broken body provokes
            failure = FetchFailed(
                kind=FailureKind.INVALID_BODY,
                message=f"invalid definitions body ({len(fetched.body)} bytes): {exc}",
                status=200,
            )
            return self._on_failure(failure, started)
        unchanged = current is not None and published.body_hash == current.body_hash
        body = None if unchanged else fetched.body  # no need to rewrite the disk cache
        return self._succeeded(published, fetched.etag, started, body=body)

    def _on_not_modified(self, outcome: NotModified, started: float) -> float:
        current = self.store.current
        if current is None or current.source == SOURCE_CLEARED:
            # A 304 for definitions we no longer hold: forget the ETag and ask again soon.
            self.tracker.update(etag=None)
            return self._retry_delay(self.tracker.progress.consecutive_failures + 1)
        return self._succeeded(current, outcome.etag, started, body=None)

    def _succeeded(
        self,
        published: Published,
        etag: str | None,
        started: float,
        *,
        body: bytes | None,
        confirmed_at: float | None = None,
    ) -> float:
        changed = NO_CHANGE
        with self.write_lock:
            if self.closed:
                return self.policy.poll_interval
            fresh = published is not self.store.current
            if fresh:
                changed = self.store.publish(published)
            now = self.clock()
            snapshot = published.snapshot
            self._mark_valid(
                now,
                last_attempt=started,
                confirmed_at=now if confirmed_at is None else confirmed_at,
                etag=etag,
                fingerprint=None,
                fingerprinted=snapshot,  # read by the status (see Progress.fingerprinted)
                flag_count=len(snapshot),
                source=published.source,
            )
        if body is not None and self.cache is not None:
            self.cache.save(body, etag, saved_at=self.clock())
        if changed:
            self.store.notify(changed)
        if fresh:
            _compile_rest(published.snapshot)
        return jittered(self.policy.poll_interval, self.policy.poll_jitter, self.rng)

    def _mark_valid(self, now: float, **progress: Any) -> None:
        """Record a success at ``now`` (the attempt too, unless ``last_attempt`` is given),
        with the rest of ``progress``."""
        self.tracker.update(
            **{
                "state": State.VALID,
                "ready": True,
                "last_success": now,
                "last_attempt": now,
                "last_error": None,
                "consecutive_failures": 0,
                **progress,
            }
        )

    def _on_failure(self, failure: FetchFailed, started: float) -> float:
        policy = self.policy
        progress = self.tracker.progress
        failures = progress.consecutive_failures + 1
        changed = NO_CHANGE
        etag = progress.etag
        with self.write_lock:
            if self.closed:
                return policy.poll_interval
            current = self.store.current
            if failure.kind is FailureKind.UNAUTHORIZED:
                state = State.UNAUTHORIZED
                delay = jittered(policy.unauthorized_interval, policy.poll_jitter, self.rng)
            elif failure.kind is FailureKind.QUOTA_LIMITED:
                state = State.QUOTA_LIMITED
                delay = jittered(policy.poll_interval, policy.poll_jitter, self.rng)
                if policy.clear_on_quota_limited and (
                    current is None or current.source != SOURCE_CLEARED
                ):
                    current = Published.of(Snapshot.empty(), SOURCE_CLEARED)
                    changed = self.store.publish(current)
                    etag = None
            else:
                state = State.STALE if current is not None else State.INITIALIZING
                delay = self._retry_delay(failures)
            if failure.retry_after is not None:
                delay = max(delay, min(failure.retry_after, policy.max_retry_after))
            snapshot = current.snapshot if current is not None else None
            self.tracker.update(
                state=state,
                # A first attempt that failed still makes disk-cached definitions "ready".
                ready=current is not None,
                last_attempt=started,
                last_error=failure.message,
                etag=etag,
                consecutive_failures=failures,
                fingerprint=None,
                fingerprinted=snapshot,
                flag_count=len(snapshot) if snapshot is not None else 0,
                source=current.source if current is not None else None,
            )
        # State changes are logged once by the tracker; the repeats only at DEBUG.
        logger.debug("flagkit: definitions fetch failed (%d in a row): %s", failures, failure)
        if changed:
            self.store.notify(changed)
        return delay

    def _retry_delay(self, failures: int) -> float:
        policy = self.policy
        return full_jitter(failures, base=policy.backoff_base, cap=policy.backoff_max, rng=self.rng)
