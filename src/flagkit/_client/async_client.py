"""``flagkit.AsyncClient``: :class:`flagkit.Client` for asyncio applications.

Evaluation is the same synchronous, I/O-free code: a getter reads ``store.current`` once,
evaluates, and returns without awaiting anything unless the flag must be asked from
``/flags``. Everything that talks to the network runs as tasks on the client's event loop
over one ``httpx.AsyncClient``: the poller (whose error policy is the thread client's
:class:`flagkit._sources.sync.Syncer`), the remote fallback and the event sender.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random as _random
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

from flagkit._client import base
from flagkit._client.async_loop import LoopHandle, LoopTracker, Network, listener_relay
from flagkit._client.base import DEFAULT_HOST, Ask, Bootstrap, ClientCore
from flagkit._client.flag_evaluations import FlagEvaluations
from flagkit._client.getters import AllFinish, Getters, OneFinish, Read, ReadAll, result_of
from flagkit._client.posthog_names import PosthogNames
from flagkit._evaluation.result import FlagResult, FlagValue
from flagkit._events.async_queue import build_async_outbound
from flagkit._events.exposures import DEFAULT_DEDUPE_CAPACITY
from flagkit._events.posthog_sink import PosthogEventsSink
from flagkit._events.queue import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_FLUSH_INTERVAL,
    DEFAULT_QUEUE_SIZE,
)
from flagkit._net.async_http import AsyncHttpHolder
from flagkit._net.drive import drive_async
from flagkit._net.http import DEFAULT_TIMEOUT
from flagkit._remote.fallback import DEFAULT_REMOTE_TIMEOUT, Resolved, needs_remote
from flagkit._sources.async_fetch import AsyncDefinitionsFetcher
from flagkit._sources.async_poller import AsyncPoller
from flagkit._sources.disk_cache import DiskCache, source_id
from flagkit._sources.fetch import DEFAULT_MAX_BODY_BYTES, DEFINITIONS_PATH
from flagkit._sources.store import Store
from flagkit._sources.sync import Syncer
from flagkit._status import Progress, Role, State

logger = logging.getLogger("flagkit.client")

AsyncChangeListener = Callable[[frozenset[str]], object]


class AsyncClient(
    ClientCore,
    Getters[
        Awaitable[FlagResult],
        Awaitable[FlagValue | None],
        Awaitable[bool],
        Awaitable[Any],
        Awaitable[dict[str, FlagValue]],
        Awaitable[dict[str, FlagResult]],
    ],
    PosthogNames[
        Awaitable[FlagValue | None],
        Awaitable[FlagResult | None],
        Awaitable[bool | None],
        Awaitable[Any],
        Awaitable[dict[str, dict[str, Any]]],
        Awaitable[FlagEvaluations],
        Awaitable[bool],
    ],
):
    """Evaluates PostHog feature flags locally in an asyncio application.

    Takes the same options as :class:`flagkit.Client` (except the shared stores). Nothing
    happens on the network until :meth:`start` (or ``async with``); getters called before
    that answer from ``bootstrap=`` definitions, ask ``/flags``, or return their default
    (``Reason.NOT_READY``). Getters never raise and await nothing when the flag is decided
    locally. The client belongs to the event loop it is started (or first used) on. See
    docs/asyncio.md.
    """

    _tracker: LoopTracker
    _LOOP_BOUND = True  # events and remote lookups only from the client's own loop

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
        rng = random or _random.Random()
        self._started = False
        self._close_task: asyncio.Future[None] | None = None
        self._foreign_loop_logged = False

        initial = base.load_bootstrap(bootstrap) if bootstrap is not None else None
        # The disk cache is read in start(), in a worker thread: not on the loop.
        self._cache: DiskCache | None = None
        if self._target is not None and cache_path is not None:
            identity = source_id(self._host, self._target, project_api_key or "")
            self._cache = DiskCache(cache_path, source=identity)
        progress = self._starting_progress(Progress(), initial, project_api_key is not None)

        self._handle = LoopHandle()
        self._store = Store(initial)
        self._tracker = LoopTracker(self._clock, progress, self._handle)
        self._watch_stalls(settings)
        http = AsyncHttpHolder(self._host, timeout=timeout)
        self._http = http
        # Remote lookups and events need the project token; offline without one, never.
        outbound = None
        if project_api_key is not None and not self._closed:
            outbound = build_async_outbound(
                http.get,
                project_api_key,
                **self._outbound_options(settings),
                rng=None if random is None else rng,
            )
        self._remote = None if outbound is None else outbound.remote
        self._sender = None if outbound is None else outbound.sender
        self._reporter = None if outbound is None else outbound.reporter
        self._events_sink: PosthogEventsSink | None = None
        sink = None if outbound is None else self._sink_reporter(settings, events_sink)
        if sink is not None:
            self._reporter, self._events_sink = sink
        self._watch_definitions()
        self._syncer: Syncer | None = None
        if self._target is not None:
            self._syncer = self._new_syncer(settings, self._cache, rng)
            self._tracker.update(role=Role.DIRECT)
        self._network = Network(self._handle, http, self._sender)
        # Stops the tasks if the client is dropped without close().
        self._finalizer = weakref.finalize(self, self._network.abandon)

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the client to the running event loop and start polling (the first request
        goes out at once; this does not wait for it: see :meth:`wait_until_ready`).

        Loads the disk cache first (in a worker thread). Idempotent; does nothing once
        closed. Raises ``RuntimeError`` when the client already belongs to another loop.
        """
        if self._closed:
            return
        if not self._handle.bind(asyncio.get_running_loop()):
            raise RuntimeError(
                "this flagkit.AsyncClient belongs to another event loop; use one client per loop"
            )
        if self._started:
            return
        self._started = True
        syncer = self._syncer
        if syncer is None or self._target is None or self._auth_key is None:
            return
        if self._cache is not None:
            await self._adopt_cache(self._cache)
            if syncer.closed:  # close() was called meanwhile
                return
        fetcher = AsyncDefinitionsFetcher(
            self._http.get,
            self._target,
            **self._fetch_options(),
            deadline=self._timeout,  # the whole request, not each read
        )
        poller = AsyncPoller(syncer, fetcher.fetch, on_abandoned=self._http.aclose)
        self._network.poller = poller
        poller.start()

    async def _adopt_cache(self, cache: DiskCache) -> None:
        loaded = await asyncio.to_thread(base.load_cache, cache)
        if loaded is None or self._closed:
            return
        published, saved_at, etag = loaded
        # Newer than any bootstrap: it came from the server. Nothing else publishes yet.
        changed = self._store.publish(published)
        snapshot = published.snapshot
        self._tracker.update(
            confirmed_at=saved_at,
            etag=etag,
            fingerprint=snapshot.fingerprint,
            flag_count=len(snapshot),
            source=published.source,
        )
        if changed:
            self._store.notify(changed)

    async def wait_until_ready(self, timeout: float | None = None) -> bool:
        """Wait until definitions are loaded (True) or ``timeout`` passes (False); starts
        the client first if needed.

        Returns False early when waiting cannot help: the client is closed, or the server
        refused the keys and there is nothing to serve.
        """
        if self._tracker.progress.ready:
            return True
        owner = self._handle.elsewhere()
        if owner is not None:  # asked from another loop: wait on the client's own
            waited = await self._handle.run_on(owner, self.wait_until_ready(timeout), timeout)
            return bool(waited) and self._tracker.progress.ready
        await self.start()
        await self._tracker.wait_until(
            lambda p: p.ready or p.state in (State.CLOSED, State.UNAUTHORIZED), timeout
        )
        return self._tracker.progress.ready

    async def refresh(self, timeout: float | None = 10.0) -> bool:
        """Fetch definitions now instead of at the next poll (starts the client if needed).

        Returns True once a fetch that started after this call has succeeded, False when it
        failed, when ``timeout`` seconds passed first, or when the client does not poll.
        """
        owner = self._handle.elsewhere()
        if owner is not None:  # asked from another loop: run on the client's own
            return bool(await self._handle.run_on(owner, self.refresh(timeout), timeout))
        await self.start()
        poller = self._network.poller
        if self._closed or poller is None:
            return False
        started = self._clock()
        poller.wake()
        await self._tracker.wait_until(lambda p: p.attempted_since(started), timeout)
        return self._tracker.progress.succeeded_since(started)

    async def flush(self, timeout: float | None = 10.0) -> bool:
        """Send queued ``$feature_flag_called`` events now and wait until they are delivered
        (or given up after retries); False if ``timeout`` seconds passed first."""
        if self._events_sink is not None:  # posthog-python's flush blocks: not on the loop
            return await asyncio.to_thread(self._events_sink.flush, timeout)
        if self._sender is None:
            return True
        owner = self._handle.elsewhere()
        if owner is not None:  # asked from another loop: the sender's task lives on its own
            return bool(await self._handle.run_on(owner, self.flush(timeout), timeout))
        return await self._sender.flush(timeout)

    async def close(self, timeout: float = 5.0) -> None:
        """Stop polling (a request in flight is abandoned at once), deliver queued events
        (waiting at most ``timeout`` seconds) and release connections. Idempotent; a second
        call waits for the first to finish.

        Getters keep answering from the last definitions after close, locally only and
        without events.
        """
        owner = self._handle.elsewhere()
        if owner is not None:  # the tasks and connections belong to the client's own loop
            self._closed = True
            if self._syncer is not None:
                self._syncer.closed = True
            # When that loop is gone, so are the tasks; nothing is left to wait for.
            await self._handle.run_on(owner, self.close(timeout), timeout + 2.0)
            if self._sender is not None and not owner.is_running():
                self._sender.drop_pending()
            self._tracker.update(state=State.CLOSED, role=None)
            return
        if self._close_task is None:
            self._closed = True
            if self._syncer is not None:
                self._syncer.closed = True  # nothing is published from now on
            self._close_task = asyncio.ensure_future(self._shutdown(timeout))
        await asyncio.shield(self._close_task)

    async def _shutdown(self, timeout: float) -> None:
        self._finalizer.detach()
        network = self._network
        try:
            if network.poller is not None:
                await network.poller.stop()
            if self._syncer is not None:
                self._syncer.close()  # waits (briefly) for a publish in a worker thread
            if self._sender is not None:
                await self._sender.close(timeout)
        finally:
            await self._http.aclose()
            self._tracker.update(state=State.CLOSED, role=None)

    async def __aenter__(self) -> AsyncClient:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- evaluation (the read path) -------------------------------------------------------

    async def _one(self, read: Read, finish: OneFinish, default: Any) -> Any:
        return finish(await self._evaluate(read), default)

    async def _all(self, read: ReadAll, finish: AllFinish) -> Any:
        return finish(await drive_async(self._all_steps(*read), self._resolve), None)

    async def _evaluate(self, read: Read) -> FlagResult:
        result: FlagResult = self._read(read, result_of, None)
        if result.value is None and needs_remote(result):  # the only await on the read path
            key, distinct_id, context, only_local, send_events = read
            answers = await self._resolve(({key: result}, distinct_id, context, only_local))
            return self._answered(key, result, answers, distinct_id, context, send_events)
        return result

    async def _resolve(self, ask: Ask) -> Mapping[str, Resolved]:
        """Ask ``/flags`` (one request) about flags local evaluation could not decide; no
        answers when remote evaluation is off for this call, or on another loop."""
        lookup = self._lookup(ask)
        if self._remote is None or lookup is None or not self._on_own_loop():
            return {}
        return await self._remote.resolve(**lookup)

    def _on_own_loop(self) -> bool:
        """True on the client's event loop (binding it on first use). Network work from
        another loop would use connections that belong to the first: answer locally."""
        if self._handle.bind(asyncio.get_running_loop()):
            return True
        if not self._foreign_loop_logged:
            self._foreign_loop_logged = True
            logger.warning(
                "flagkit: AsyncClient used from a second event loop; answering locally "
                "there, without remote lookups or events"
            )
        return False

    # -- listeners ------------------------------------------------------------------------

    def on_change(
        self, callback: AsyncChangeListener, *, include_first_load: bool = False
    ) -> Callable[[], None]:
        """Call ``callback(changed_keys)`` after each update that changes definitions.

        ``changed_keys`` is a frozenset of flag keys added, removed or modified. The first
        definitions loaded when none were served are not a change and call nobody, unless
        ``include_first_load=True`` (then with every key). The callback runs on the event
        loop; it may be a plain function or a coroutine function (its coroutine then runs
        as a task). One that raises is logged and does not stop polling. Returns a function
        that unregisters the callback.
        """
        relay = listener_relay(self._handle, callback)
        return self._store.add_listener(relay, include_first_load=include_first_load)
