"""Delivery of exposure events: a bounded queue drained by one background thread.

The queue and its policy live in :class:`flagkit._events.exposures.DeliveryQueue` (shared with the
asyncio sender); this module drives it with a thread.

* :class:`EventSender` holds at most ``queue_size`` events; when full, the oldest is dropped
  and counted, so recording an event never blocks and memory stays bounded. A daemon thread
  sends batches of up to ``batch_size`` events to ``/batch/`` once a batch is full or its
  oldest event has waited ``flush_interval`` seconds, retrying failed batches with
  exponential backoff (full jitter; ``Retry-After`` honoured) until they go through or
  the queue overflows. :meth:`EventSender.flush` waits for the queue to empty;
  :meth:`EventSender.close` delivers what is left within a deadline, cuts a request still
  in flight then, and stops the thread.
* :class:`ExposureReporter` de-duplicates exposures and feeds the sender.
* :class:`HttpHolder` builds the ``httpx.Client`` shared by remote evaluation and event
  delivery on first use, and drops it (without closing it) in a forked child.

Fork safety: senders and reporters are registered with ``os.register_at_fork``; in a child
they get new locks and an empty queue (the parent delivers its own queued events), and the
thread is started again on the next event. De-duplication state is inherited.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any, Generic, Protocol, TypeVar

import attrs
import httpx

from flagkit._evaluation.result import FlagResult
from flagkit._events.exposures import (
    BATCH_PATH,
    CLOSED_BEFORE_DELIVERY,
    DEFAULT_BATCH_SIZE,
    DEFAULT_DEDUPE_CAPACITY,
    DEFAULT_FLUSH_INTERVAL,
    DEFAULT_QUEUE_SIZE,
    Backoff,
    DeliveryQueue,
    FingerprintSet,
    PostResult,
    Send,
    batch_body,
    exposure_fingerprint,
    post_exception,
    post_result,
)
from flagkit._events.flag_events import (
    experiment_exposure_event,
    flag_called_event,
    local_attribution,
    reportable,
)
from flagkit._net.abort import SocketAborter
from flagkit._net.drive import drive
from flagkit._net.http import build_http_client
from flagkit._remote.fallback import Resolved
from flagkit._remote.records import RuleAttribution
from flagkit._remote.sync_fallback import RemoteFallback
from flagkit._status import Counters

logger = logging.getLogger("flagkit.client")
_STOP_GRACE = 0.2  # how long close() waits for the thread once past its deadline
_RECENT_LIMIT = 4096  # exposures an ExposureReporter recalls without hashing

# The defaults and PostResult are defined in _events.exposures; the clients import them here.
__all__ = [
    "CLOSED_POST",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_FLUSH_INTERVAL",
    "DEFAULT_QUEUE_SIZE",
    "JSON_HEADERS",
    "BatchPoster",
    "EventOptions",
    "EventSender",
    "EventSink",
    "ExposureReporter",
    "HttpHolder",
    "Outbound",
    "PostResult",
    "PosterBase",
    "build_outbound",
    "remote_counter",
]


class HttpHolder:
    """Builds one ``httpx.Client`` on first use; ``get()`` returns ``None`` once closed.

    A forked child gets a new client: the parent's pooled sockets are abandoned, never
    closed or reused, since they still belong to the parent.
    """

    def __init__(self, factory: Callable[[], httpx.Client]) -> None:
        self._factory = factory
        self._client: httpx.Client | None = None
        self._closed = False
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def get(self) -> httpx.Client | None:
        """The shared client, built if needed; ``None`` after :meth:`close`."""
        if self._closed:
            return None
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._lock = threading.Lock()
            self._client = None
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None and not self._closed:
                    self._client = self._factory()
                client = self._client
        return client

    def close(self) -> None:
        """Close the client (if built) and refuse to build another."""
        self._closed = True
        client, self._client = self._client, None
        if client is not None and self._pid == os.getpid():
            try:
                client.close()
            except Exception:  # a request still in flight may complain
                logger.debug("flagkit: error closing the events HTTP client", exc_info=True)


HttpT = TypeVar("HttpT", httpx.Client, httpx.AsyncClient)
CLOSED_POST = PostResult(False, message="the client is closed")
JSON_HEADERS = {"Content-Type": "application/json"}


class PosterBase(Generic[HttpT]):
    """What the thread and asyncio ``/batch/`` posters share: the request body and the
    meaning of a response; subclasses only send (plainly or awaited)."""

    def __init__(
        self,
        http: Callable[[], HttpT | None],
        token: str,
        *,
        timeout: float,
        secrets: Iterable[str | None] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._http: Callable[[], HttpT | None] = http
        self._token = token
        self._timeout = timeout
        self._secrets = (*secrets, token)
        self._clock = clock

    def _body(self, encoded_events: list[bytes]) -> bytes:
        sent_at = datetime.fromtimestamp(self._clock(), tz=timezone.utc)
        return batch_body(self._token, encoded_events, sent_at)

    def _failed(self, exc: Exception) -> PostResult:
        return post_exception(exc, self._secrets)

    def _answer(self, response: httpx.Response) -> PostResult:
        return post_result(
            response.status_code,
            response.text,
            response.headers.get("Retry-After"),
            now=self._clock(),
            secrets=self._secrets,
        )


class BatchPoster(PosterBase[httpx.Client]):
    """Sends one batch of encoded events to ``/batch/``. Never raises.

    With an ``aborter``, its requests report their sockets to it, so that ``close()`` can
    cut a request the server never answers.
    """

    def __init__(
        self,
        http: Callable[[], httpx.Client | None],
        token: str,
        *,
        timeout: float,
        secrets: Iterable[str | None] = (),
        aborter: SocketAborter | None = None,
    ) -> None:
        super().__init__(http, token, timeout=timeout, secrets=secrets)
        self._extensions = None if aborter is None else aborter.extensions

    def post(self, encoded_events: list[bytes]) -> PostResult:
        """POST the events; a 200 is success, 408/429/5xx and network errors are retryable."""
        http = self._http()
        if http is None:
            return CLOSED_POST
        data = self._body(encoded_events)
        try:
            response = http.post(
                BATCH_PATH,
                content=data,
                headers=JSON_HEADERS,
                timeout=self._timeout,
                extensions=self._extensions,
            )
        except Exception as exc:  # network trouble, a closed pool: try again later
            return self._failed(exc)
        return self._answer(response)


class EventSender:
    """A bounded event queue and the daemon thread that delivers it (see the module doc);
    the queue and its policy are a :class:`flagkit._events.exposures.DeliveryQueue`."""

    def __init__(
        self,
        post: Callable[[list[bytes]], PostResult],
        core: DeliveryQueue,
        *,
        abort: Callable[[], None] = lambda: None,
    ) -> None:
        self._post = post
        self._core = core
        self._abort = abort  # cuts a request in flight short (see SocketAborter)
        self._init_sync()
        core.counters.pending = self.pending
        _FORK_AWARE.add(self)

    def _init_sync(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _after_fork_in_child(self) -> None:
        # The parent's thread does not exist here and the parent delivers its own queue.
        self._core.queue.clear()
        self._core.settle()
        self._core.flushing = 0
        self._init_sync()

    def pending(self) -> int:
        """Events queued or being sent."""
        return self._core.pending()

    def put(self, event: Mapping[str, Any]) -> bool:
        """Queue ``event`` without blocking; False (and nothing queued) once closing, or when
        it cannot be encoded (counted as dropped)."""
        data = self._core.encode_one(event)  # outside the lock: the caller's own work
        if data is None:
            return False
        with self._cond:
            if self._core.closing:
                return False
            wake = self._core.add(data)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="flagkit-events", daemon=True
                )
                self._thread.start()
            elif wake:
                self._cond.notify_all()  # the thread starts its interval, or sends now
        return True

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued now; True once the queue is empty and nothing is in
        flight, False if ``timeout`` passed first."""
        core = self._core
        with self._cond:
            if self._thread is None and not core.queue:
                return True
            core.flushing += 1
            self._cond.notify_all()
            try:
                return self._cond.wait_for(core.idle, timeout)
            finally:
                core.flushing -= 1

    def close(self, timeout: float = 5.0) -> bool:
        """Stop taking events, deliver the queue within ``timeout`` seconds, stop the thread.

        Past the deadline a request still in flight is aborted (its sockets are shut down)
        and the thread gets 0.2 s more to end. Returns True if everything queued was
        delivered (or dropped as undeliverable). Idempotent.
        """
        with self._cond:
            self._core.begin_close(timeout)
            self._cond.notify_all()
            thread = self._thread
        if thread is None or thread is threading.current_thread():
            return not self._core.queue
        thread.join(max(timeout, 0.0))
        self._stop.set()  # past the deadline: abandon retries
        with self._cond:
            self._cond.notify_all()
        if thread.is_alive():
            self._abort()  # a request the server does not answer must not hold the thread
        thread.join(_STOP_GRACE)
        with self._cond:
            left = self._core.discard_all(CLOSED_BEFORE_DELIVERY)
        return left == 0

    # -- the thread -------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            try:
                self._deliver(batch)
            except Exception:  # the thread must survive any bug in a delivery
                # The delivery machine has counted the batch as dropped.
                logger.exception("flagkit: unexpected error delivering events")
            finally:
                with self._cond:
                    self._core.settle()
                    self._cond.notify_all()

    def _next_batch(self) -> list[Mapping[str, Any] | bytes] | None:
        core = self._core
        with self._cond:
            while True:
                if self._stop.is_set():
                    return None
                wait = core.due_in()
                if wait is None:
                    if core.closing:
                        return None
                    self._cond.wait()
                elif wait > 0:
                    self._cond.wait(wait)
                else:
                    return core.take()

    def _deliver(self, batch: list[Mapping[str, Any] | bytes]) -> None:
        drive(self._core.delivery(batch), self._perform)

    def _perform(self, command: Send | Backoff) -> PostResult | bool:
        if isinstance(command, Backoff):
            return self._stop.wait(command.delay)
        return self._post(command.encoded)


class EventSink(Protocol):
    """Where an :class:`ExposureReporter` puts events: a non-blocking ``put``."""

    def put(self, event: Mapping[str, Any]) -> bool: ...


SinkT = TypeVar("SinkT", bound=EventSink)


class ExposureReporter(Generic[SinkT]):
    """Sends one ``$feature_flag_called`` event per new exposure to ``sender`` (the thread
    sender here, or the asyncio one). Never raises."""

    def __init__(
        self,
        sender: SinkT,
        *,
        lib_version: str | None = None,
        dedupe_capacity: int = DEFAULT_DEDUPE_CAPACITY,
    ) -> None:
        if lib_version is None:
            # Imported late: flagkit/__init__.py imports the client, which imports this.
            from flagkit._version import __version__

            lib_version = __version__
        self.sender = sender
        # key -> (minimal-events gate, has_experiment) of the served definitions, for
        # local reads; set by the client (events cannot see the definitions store).
        self.local_meta: Callable[[str], tuple[bool, bool | None]] | None = None
        self._lib_version: str = lib_version
        self._seen = FingerprintSet(dedupe_capacity)
        self._recent: dict[tuple[Any, ...], None] = {}
        self._lock = threading.Lock()
        _FORK_AWARE.add(self)

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()  # the table itself is kept: it is still true

    def report_local(
        self,
        result: FlagResult,
        distinct_id: Any,
        groups: Mapping[str, Any] | None,
        disable_geoip: bool = True,
    ) -> None:
        """:meth:`report` for an answer from the local definitions, the hot path: an
        exposure reported a moment ago costs one dict lookup; an older one a fingerprint and
        a look at the table; nothing is built and no lock is taken for either."""
        recent = self._recent
        try:
            # Recently reported exposures without groups (the usual read), by identity (the
            # rule too: a rules v2 answer is reported per rule). A subset of the table,
            # dropped whole when full: it only saves work.
            memo = (distinct_id, result.key, result.value, result.rule)
            if not groups and memo in recent:
                return
            if not reportable(result, distinct_id):
                return
            attribution = local_attribution(result)
            fingerprint = exposure_fingerprint(
                distinct_id, result.key, result.value, groups, rule_parts(attribution)
            )
            if fingerprint in self._seen:  # a racy peek: report() decides under the lock
                if not groups:
                    self._remember(recent, memo)
                return
        except Exception:
            logger.debug("flagkit: could not record a flag event", exc_info=True)
            return
        resolved = Resolved(result, attribution=attribution)
        self.report(resolved, distinct_id, groups, disable_geoip, fingerprint)

    @staticmethod
    def _remember(recent: dict[tuple[Any, ...], None], key: tuple[Any, ...]) -> None:
        if len(recent) >= _RECENT_LIMIT:
            recent.clear()  # cheaper than an LRU, and the table still holds everything
        recent[key] = None

    def report(
        self,
        resolved: Resolved,
        distinct_id: Any,
        groups: Mapping[str, Any] | None,
        disable_geoip: bool = True,
        fingerprint: int | None = None,
    ) -> None:
        """Queue the events of this flag read unless the same exposure was reported before:
        ``$feature_flag_called`` and, for a complete experiment split, ``$experiment_exposure``
        (de-duplicated apart, per rule and variant)."""
        try:
            result = resolved.result
            attribution = resolved.attribution
            if fingerprint is None:  # (report_local passes one, for a reportable read)
                if not reportable(result, distinct_id):
                    return
                fingerprint = exposure_fingerprint(
                    distinct_id, result.key, result.value, groups, rule_parts(attribution)
                )
            with self._lock:
                if not self._seen.add(fingerprint):
                    return
            if not resolved.remote and self.local_meta is not None:
                minimal, has_experiment = self.local_meta(result.key)
                resolved = Resolved(  # as attrs.evolve would, without its introspection
                    result,
                    resolved.error,
                    resolved.request_id,
                    resolved.evaluated_at,
                    attribution,
                    has_experiment,
                    minimal,
                )
            event = flag_called_event(
                resolved,
                distinct_id,
                groups=groups,
                lib_version=self._lib_version,
                disable_geoip=disable_geoip,
            )
            self.sender.put(event)
            exposure = experiment_exposure_event(event, resolved)
            if exposure is not None and attribution is not None:
                split = ("$experiment_exposure", attribution.rule_id, attribution.variant_key)
                exposure_key = exposure_fingerprint(
                    distinct_id, result.key, None, groups, tuple(map(str, split))
                )
                with self._lock:
                    new = self._seen.add(exposure_key)
                if new:
                    self.sender.put(exposure)
        except Exception:  # reporting is best effort; the flag read must succeed
            logger.debug("flagkit: could not record a flag event", exc_info=True)


def rule_parts(attribution: RuleAttribution | None) -> tuple[str, ...] | None:
    """What a rules v2 answer adds to its exposure's identity (``None`` for legacy)."""
    if attribution is None:
        return None
    return ("2", *map(str, attrs.astuple(attribution)))


# Senders and reporters to reset in a forked child (weak: never keeps one alive).
_FORK_AWARE: weakref.WeakSet[Any] = weakref.WeakSet()


def _reset_in_child() -> None:
    for item in list(_FORK_AWARE):
        try:
            item._after_fork_in_child()
        except Exception:
            logger.exception("flagkit: could not reset event delivery after fork")


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_in_child)


@attrs.frozen(slots=True)
class EventOptions:
    """The event-delivery settings of a client."""

    queue_size: int = DEFAULT_QUEUE_SIZE
    batch_size: int = DEFAULT_BATCH_SIZE
    flush_interval: float = DEFAULT_FLUSH_INTERVAL
    dedupe_capacity: int = DEFAULT_DEDUPE_CAPACITY
    backoff_base: float = 1.0
    backoff_max: float = 30.0

    def delivery_queue(self, counters: Counters, rng: random.Random | None) -> DeliveryQueue:
        """The bounded queue and delivery policy a sender drives (retries back off at most
        30 s, whatever the definitions backoff)."""
        return DeliveryQueue(
            counters,
            queue_size=self.queue_size,
            batch_size=self.batch_size,
            flush_interval=self.flush_interval,
            backoff_base=self.backoff_base,
            backoff_max=min(self.backoff_max, 30.0),
            rng=rng,
        )


@attrs.frozen(slots=True)
class Outbound:
    """What a client sends besides definitions requests: remote lookups and, unless
    disabled, exposure events; both over one lazily built HTTP client."""

    http: HttpHolder
    remote: RemoteFallback
    reporter: ExposureReporter[EventSender] | None
    events_http: HttpHolder | None = None  # events have their own pool: see SocketAborter

    def close(self, timeout: float = 1.0) -> None:
        """Deliver queued events within ``timeout`` seconds (a request still in flight then
        is cut), then release the HTTP clients."""
        try:
            if self.reporter is not None:
                self.reporter.sender.close(timeout)
        finally:
            if self.events_http is not None:
                self.events_http.close()
            self.http.close()


def build_outbound(
    host: str,
    token: str,
    *,
    secrets: Iterable[str | None],
    remote_timeout: float,
    events_timeout: float,
    send_events: bool,
    options: EventOptions,
    counters: Counters,
    rng: random.Random | None = None,
) -> Outbound:
    """Wire the remote fallback and (if ``send_events``) the event pipeline for a client."""
    secrets = tuple(secrets)
    http = HttpHolder(lambda: build_http_client(host, timeout=remote_timeout))
    remote = RemoteFallback(
        http.get,
        token,
        timeout=remote_timeout,
        secrets=secrets,
        on_request=remote_counter(counters),
    )
    if not send_events:
        return Outbound(http, remote, None)
    # A pool of their own: close() may shut down every socket of it (SocketAborter).
    events_http = HttpHolder(lambda: build_http_client(host, timeout=events_timeout))
    aborter = SocketAborter()
    poster = BatchPoster(
        events_http.get, token, timeout=events_timeout, secrets=secrets, aborter=aborter
    )
    sender = EventSender(poster.post, options.delivery_queue(counters, rng), abort=aborter.abort)
    reporter = ExposureReporter(sender, dedupe_capacity=options.dedupe_capacity)
    return Outbound(http, remote, reporter, events_http)


def remote_counter(counters: Counters) -> Callable[[bool], None]:
    """Counts each ``/flags`` request (and each failed one) in ``counters``."""

    def count(failed: bool) -> None:
        counters.add("remote_requests")
        if failed:
            counters.add("remote_errors")

    return count
