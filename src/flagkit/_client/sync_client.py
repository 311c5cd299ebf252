"""``flagkit.Client``: one long-lived object per process that keeps definitions fresh and
answers flag questions from memory.

The read path (every getter) is: read ``store.current`` once, evaluate, return. No locks, no
I/O, no exceptions. Everything that talks to the network lives in the poller thread.
"""

from __future__ import annotations

import logging
import os
import random as _random
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any, Literal

import attrs

from flagkit._client import base
from flagkit._client.base import DEFAULT_HOST, Ask, Bootstrap, ClientCore
from flagkit._client.flag_evaluations import FlagEvaluations
from flagkit._client.getters import AllFinish, Getters, Read, ReadAll
from flagkit._client.posthog_names import PosthogNames
from flagkit._evaluation.result import FlagResult, FlagValue
from flagkit._events.exposures import DEFAULT_DEDUPE_CAPACITY
from flagkit._events.queue import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_FLUSH_INTERVAL,
    DEFAULT_QUEUE_SIZE,
    Outbound,
    build_outbound,
)
from flagkit._net.abort import SocketAborter
from flagkit._net.backoff import jittered
from flagkit._net.drive import drive
from flagkit._net.fork import forget, restart_in_child
from flagkit._net.http import DEFAULT_TIMEOUT, build_http_client
from flagkit._remote.fallback import DEFAULT_REMOTE_TIMEOUT, Resolved
from flagkit._sources.disk_cache import DiskCache, source_id
from flagkit._sources.fetch import DEFAULT_MAX_BODY_BYTES, DEFINITIONS_PATH, DefinitionsFetcher
from flagkit._sources.poller import Poller
from flagkit._sources.store import ChangeListener, Store
from flagkit._sources.sync import Syncer
from flagkit._status import Progress, Role, State, StatusTracker
from flagkit.stores import DefinitionsStore, FileStore
from flagkit.stores._coordinator import SharedSync, SharedTiming

logger = logging.getLogger("flagkit.client")


class _Network:
    """What must be rebuilt in a forked child: the HTTP client and the poller thread."""

    def __init__(self) -> None:
        self.http: Any = None
        self.poller: Poller | None = None
        self.shared: SharedSync | None = None
        self.aborter: SocketAborter | None = None

    def shutdown(self, timeout: float = 1.0) -> None:
        if self.aborter is not None:
            self.aborter.abort()  # a request in flight fails now: the poller ends at once
        if self.poller is not None:
            self.poller.stop(timeout)
        if self.shared is not None:
            self.shared.close()  # hand leadership over at once
        if self.http is not None:
            try:
                self.http.close()
            except Exception:  # closing under a request still in flight may complain
                logger.debug("flagkit: error closing HTTP client", exc_info=True)


class Client(
    ClientCore,
    Getters[FlagResult, FlagValue | None, bool, Any, dict[str, FlagValue], dict[str, FlagResult]],
    PosthogNames[
        FlagValue | None,
        FlagResult | None,
        bool | None,
        Any,
        dict[str, dict[str, Any]],
        FlagEvaluations,
        bool,
    ],
):
    """Evaluates PostHog feature flags locally and keeps their definitions fresh.

    Give it ``project_api_key`` plus ``personal_api_key`` (or ``secret_api_key``) to poll
    ``host`` for definitions in the background, or ``bootstrap=`` (a file path, a dict
    body, JSON bytes or a :class:`flagkit.Snapshot`) and no keys to run offline. The
    constructor never blocks; use :meth:`wait_until_ready` to wait for the first fetch.
    Getters never raise. Flags that cannot be decided locally (or before definitions
    arrive) are asked from PostHog's ``/flags`` unless ``only_evaluate_locally``; reads
    send de-duplicated ``$feature_flag_called`` events unless ``send_events=False``
    (through a posthog-python client's own queue with ``events_sink=posthog_client``). See
    docs/client.md and docs/events-and-fallback.md.
    """

    def __init__(
        self,
        project_api_key: str | None = None,
        *,
        personal_api_key: str | None = None,
        secret_api_key: str | None = None,
        host: str = DEFAULT_HOST,
        poll_interval: float = 30.0,
        definitions_path: str = DEFINITIONS_PATH,
        project_id: int | str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        cache_path: str | os.PathLike[str] | None = None,
        shared_cache_dir: str | os.PathLike[str] | None = None,
        store: DefinitionsStore | None = None,
        on_quota_limited: Literal["clear", "keep"] = "clear",
        bootstrap: Bootstrap | None = None,
        only_evaluate_locally: bool = False,
        remote_timeout: float = DEFAULT_REMOTE_TIMEOUT,
        send_events: bool = True,
        disable_geoip: bool = True,
        events_sink: Any = None,
        event_queue_size: int = DEFAULT_QUEUE_SIZE,
        event_batch_size: int = DEFAULT_BATCH_SIZE,
        event_flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        dedupe_capacity: int = DEFAULT_DEDUPE_CAPACITY,
        poll_jitter: float = 0.1,
        backoff_base: float = 1.0,
        backoff_max: float = 300.0,
        unauthorized_retry_interval: float = 300.0,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        clock: Callable[[], float] | None = None,
        random: _random.Random | None = None,
    ) -> None:
        settings = self._init_core(locals())
        project_api_key = settings.project_api_key
        self._own_rng = random is None
        self._rng = random or _random.Random()
        self._close_lock = threading.Lock()
        self._network = _Network()
        self._syncer: Syncer | None = None

        initial = base.load_bootstrap(bootstrap) if bootstrap is not None else None
        progress = Progress()
        cache: DiskCache | None = None
        if self._target is not None and cache_path is not None:
            identity = source_id(self._host, self._target, project_api_key or "")
            cache = DiskCache(cache_path, source=identity)
            cached = base.load_cache(cache)
            if cached is not None:  # newer than any bootstrap: it came from the server
                initial, saved_at, etag = cached
                progress = attrs.evolve(progress, confirmed_at=saved_at, etag=etag)
        progress = self._starting_progress(progress, initial, project_api_key is not None)

        self._store = Store(initial)
        self._tracker = StatusTracker(self._clock, progress)
        self._watch_stalls(settings)
        # Remote lookups and events need the project token; offline without one, never.
        self._outbound: Outbound | None = None
        self._reporter = None
        if project_api_key is not None and not self._closed:
            self._outbound = build_outbound(
                self._host,
                project_api_key,
                **self._outbound_options(settings),
                rng=None if self._own_rng else self._rng,
            )
            sink = self._sink_reporter(settings, events_sink)
            self._reporter = self._outbound.reporter if sink is None else sink[0]
            self._watch_definitions()
            # Delivers what is queued (briefly) if the client is dropped without close().
            self._outbound_finalizer = weakref.finalize(self, self._outbound.close, 1.0)
        if self._target is not None:
            self._syncer = self._new_syncer(settings, cache, self._rng)
            shared = FileStore(shared_cache_dir) if shared_cache_dir is not None else store
            if shared is not None:
                # One scope per host, endpoint and project (hashed: no key is recoverable).
                scope = source_id(self._host, self._target, project_api_key or "")
                self._network.shared = SharedSync(
                    self._syncer,
                    shared.scoped(scope),
                    SharedTiming.for_poll_interval(poll_interval),
                )
            else:
                self._tracker.update(role=Role.DIRECT)
            self._start_network()
            restart_in_child(self)
        # Stops the thread if the client is dropped without close() (and at exit).
        self._finalizer = weakref.finalize(self, self._network.shutdown)

    # -- network lifecycle ----------------------------------------------------------------

    def _start_network(self, initial_delay: float = 0.0) -> None:
        syncer = self._syncer
        assert syncer is not None
        assert self._target is not None
        assert self._auth_key is not None
        http = build_http_client(self._host, timeout=self._timeout)
        shared = self._network.shared
        poller = Poller(
            shared.step if shared is not None else syncer.step,
            fallback_delay=syncer.policy.poll_interval,
            initial_delay=initial_delay,
        )
        aborter = SocketAborter()
        fetcher = DefinitionsFetcher(
            http,
            self._target,
            **self._fetch_options(),
            should_abort=lambda: poller.stopping,
            deadline=self._timeout,  # the whole request, not each read
            aborter=aborter,
        )
        syncer.fetch = fetcher.fetch
        self._network.aborter = aborter
        self._network.http = http
        self._network.poller = poller
        poller.start()

    def _after_fork_in_child(self) -> None:
        # Runs in a forked child: the parent's poller thread does not exist here and its
        # pooled sockets are shared with the parent, so abandon both (never close them)
        # and start afresh. Locks may have been held by vanished threads: replace them.
        if self._closed or self._syncer is None:
            return
        self._close_lock = threading.Lock()
        self._store.reinit_after_fork()
        self._tracker.reinit_after_fork()
        self._syncer.reinit_after_fork()
        if self._own_rng:
            self._rng.seed()  # else every worker would jitter identically
        self._network.http = None
        self._network.poller = None
        # Inherited definitions are served at once; a fresh poll can wait a jittered
        # interval so that many workers forked together do not all poll together.
        policy = self._syncer.policy
        delay = 0.0
        if self._store.current is not None:
            delay = jittered(policy.poll_interval, max(policy.poll_jitter, 0.5), self._rng)
        shared = self._network.shared
        if shared is not None:  # a follower only looks at the store: no need to wait long
            shared.reinit_after_fork()
            delay = min(delay, shared.timing.check_interval * self._rng.random())
        self._start_network(delay)

    # -- evaluation (the read path) -------------------------------------------------------

    # The local read is the whole read: a flag it cannot decide is asked in _undecided.
    _one = ClientCore._read

    def _all(self, read: ReadAll, finish: AllFinish) -> Any:
        return finish(drive(self._all_steps(*read), self._resolve), None)

    def _undecided(self, read: Read, result: FlagResult) -> FlagResult:
        key, distinct_id, context, only_local, send_events = read
        answers = self._resolve(({key: result}, distinct_id, context, only_local))
        return self._answered(key, result, answers, distinct_id, context, send_events)

    def _resolve(self, ask: Ask) -> Mapping[str, Resolved]:
        """Ask ``/flags`` (one request) about flags local evaluation could not decide; no
        answers when remote evaluation is off for this call or impossible."""
        lookup = self._lookup(ask)
        if self._outbound is None or lookup is None:
            return {}
        return self._outbound.remote.resolve(**lookup)

    # -- readiness, status, listeners -------------------------------------------------------

    def wait_until_ready(self, timeout: float | None = None) -> bool:
        """Block until definitions are loaded (True), or ``timeout`` passes (False).

        Returns False early when waiting cannot help: the client is closed, or the server
        refused the keys and there is nothing to serve.
        """
        progress = self._tracker.progress
        if progress.ready:
            return True
        self._tracker.wait_for(
            lambda p: p.ready or p.state in (State.CLOSED, State.UNAUTHORIZED), timeout
        )
        return self._tracker.progress.ready

    def refresh(self, timeout: float | None = 10.0) -> bool:
        """Fetch definitions now instead of at the next poll.

        Returns True once a fetch that started after this call has succeeded, False when it
        failed, when ``timeout`` seconds passed first, or when the client does not poll
        (offline, project token only, closed). The definitions it brings are served at once.
        """
        poller = self._network.poller
        if self._closed or poller is None:
            return False
        started = self._clock()
        poller.wake()
        self._tracker.wait_for(lambda p: p.attempted_since(started), timeout)
        return self._tracker.progress.succeeded_since(started)

    def on_change(
        self, callback: ChangeListener, *, include_first_load: bool = False
    ) -> Callable[[], None]:
        """Call ``callback(changed_keys)`` after each update that changes definitions.

        ``changed_keys`` is a frozenset of flag keys added, removed or modified. The first
        definitions loaded when none were served (no bootstrap, no disk cache) are not a
        change and call nobody, unless ``include_first_load=True`` (then with every key).
        Callbacks run on the poller thread; one that raises is logged and does not stop
        polling. Returns a function that unregisters the callback.
        """
        return self._store.add_listener(callback, include_first_load=include_first_load)

    # -- lifecycle --------------------------------------------------------------------------

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Send queued ``$feature_flag_called`` events now and wait until they are delivered
        (or given up after retries); False if ``timeout`` seconds passed first."""
        reporter = self._reporter
        return True if reporter is None else reporter.sender.flush(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Stop polling (within about a second), deliver queued events (waiting at most
        ``timeout`` seconds) and release connections. Idempotent.

        Getters keep answering from the last definitions after close, locally only and
        without events.
        """
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        if self._outbound is not None:
            self._outbound_finalizer.detach()
            self._outbound.close(timeout)
        if self._syncer is not None:
            self._syncer.closed = True  # the poller stops at once, even mid-request
            self._finalizer()  # stops the poller (joins up to 1 s), closes the HTTP client
            self._syncer.close()
        forget(self)
        self._tracker.update(state=State.CLOSED, role=None)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
