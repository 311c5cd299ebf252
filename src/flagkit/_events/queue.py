"""Delivery of exposure events: a bounded queue drained by one background thread.

The queue and its policy live in :class:`flagkit._events.exposures.DeliveryQueue` (shared with the
asyncio sender); this module drives it with a thread.

* :class:`EventSender` holds at most ``queue_size`` events; when full, the oldest is dropped
  and counted, so recording an event never waits for the sender (past half the queue it
  yields the GIL once, see put_exposure) and memory stays bounded. A daemon thread
  sends batches of up to ``batch_size`` events to ``/batch/`` once a batch is full or its
  oldest event has waited ``flush_interval`` seconds, retrying failed batches with
  exponential backoff (full jitter; ``Retry-After`` honoured) until they go through or
  the queue overflows. :meth:`EventSender.flush` waits for the queue to empty;
  :meth:`EventSender.close` delivers what is left within a deadline, cuts a request still
  in flight then, and stops the thread.
* :class:`flagkit._events.reporter.ExposureReporter` (re-exported here) de-duplicates
  exposures and feeds the sender; a new exposure is queued as a small record that this
  thread encodes in bulk (``flagkit._events.encoding``).
* :class:`HttpHolder` builds the ``httpx.Client`` shared by remote evaluation and event
  delivery on first use, and drops it (without closing it) in a forked child.

Fork safety: senders and reporters are registered with ``flagkit._net.fork``; in a child
they get new locks and an empty queue (the parent delivers its own queued events), and the
thread is started again on the next event. De-duplication state is inherited.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Generic, TypedDict, TypeVar

import attrs
import httpx

from flagkit._events.encoding import PendingExposure
from flagkit._events.exposures import (
    BATCH_PATH,
    CLOSED_BEFORE_DELIVERY,
    DEFAULT_BATCH_SIZE,
    DEFAULT_DEDUPE_CAPACITY,
    DEFAULT_FLUSH_INTERVAL,
    DEFAULT_QUEUE_SIZE,
    Backoff,
    DeliveryQueue,
    PostResult,
    Queued,
    Send,
    Wait,
    batch_body,
    post_exception,
    post_result,
)
from flagkit._events.reporter import EventSink, ExposureReporter, SinkT
from flagkit._net.abort import SocketAborter
from flagkit._net.drive import drive
from flagkit._net.fork import restart_in_child
from flagkit._net.http import build_http_client
from flagkit._remote.sync_fallback import RemoteFallback
from flagkit._status import Counters

logger = logging.getLogger("flagkit.client")

if TYPE_CHECKING:  # typing.Unpack is Python 3.11+; only the type checker needs it
    from typing_extensions import NotRequired, Unpack

_STOP_GRACE = 0.2  # how long close() waits for the thread once past its deadline

# The defaults and PostResult are defined in _events.exposures, the reporter in
# _events.reporter; the clients import them here.
__all__ = [
    "CLOSED_POST",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_FLUSH_INTERVAL",
    "DEFAULT_QUEUE_SIZE",
    "JSON_HEADERS",
    "BatchPoster",
    "DeliveryQueue",
    "EventOptions",
    "EventSender",
    "EventSink",
    "ExposureReporter",
    "HttpHolder",
    "Outbound",
    "PostResult",
    "PosterBase",
    "Queued",
    "Wiring",
    "build_outbound",
    "delivery_queue",
    "remote_counter",
    "remote_fallback",
    "reporter_for",
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
        restart_in_child(self)

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
        return data is not None and self.put_exposure(data)

    def put_exposure(self, exposure: PendingExposure | bytes) -> bool:
        """Queue a new exposure (or an encoded event) without blocking; False (and nothing
        queued) once closing. This thread encodes exposures later, in bulk."""
        with self._cond:
            if self._core.closing:
                return False
            wake = self._core.add(exposure)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="flagkit-events", daemon=True
                )
                self._thread.start()
            elif wake:
                self._cond.notify_all()  # the thread starts its interval, or sends now
            crowded = self._core.crowded()
        if crowded:
            # Reading threads that never wait keep the GIL until the switch interval takes
            # it (5 ms), and the sender waits that long after each of its socket reads:
            # in a burst it falls behind. Past half the queue, let it (and anything it
            # talks to in this process) run now. Not a wait for the sender: one yield.
            time.sleep(0)
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
        while (batch := self._next_batch()) is not None:
            try:
                drive(self._core.delivery(batch), self._perform)
            except Exception:  # the thread must survive any bug in a delivery
                self._core.crashed()
            finally:
                with self._cond:
                    self._core.settle()
                    self._cond.notify_all()

    def _next_batch(self) -> list[Queued] | None:
        with self._cond:
            while isinstance(step := self._core.next_step(self._stop.is_set()), Wait):
                self._cond.wait(step.seconds)
            return step

    def _perform(self, command: Send | Backoff) -> PostResult | bool:
        if isinstance(command, Backoff):
            return self._stop.wait(command.delay)
        return self._post(command.encoded)


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


class Wiring(TypedDict):
    """The settings both clients wire their remote fallback and events with."""

    secrets: Iterable[str | None]
    remote_timeout: float
    events_timeout: float
    send_events: bool
    options: EventOptions
    counters: Counters
    rng: NotRequired[random.Random | None]


FallbackT = TypeVar("FallbackT")


def remote_fallback(
    kind: Callable[..., FallbackT], http: Callable[[], Any], token: str, wiring: Wiring
) -> FallbackT:
    """The client's remote fallback (``RemoteFallback`` or ``AsyncRemoteFallback``), counting
    its requests in the client's counters."""
    return kind(
        http,
        token,
        timeout=wiring["remote_timeout"],
        secrets=tuple(wiring["secrets"]),
        on_request=remote_counter(wiring["counters"]),
    )


def build_outbound(host: str, token: str, **wiring: Unpack[Wiring]) -> Outbound:
    """Wire the remote fallback and (if ``send_events``) the event pipeline for a client."""
    http = HttpHolder(lambda: build_http_client(host, timeout=wiring["remote_timeout"]))
    remote = remote_fallback(RemoteFallback, http.get, token, wiring)
    if not wiring["send_events"]:
        return Outbound(http, remote, None)
    timeout = wiring["events_timeout"]
    # A pool of their own: close() may shut down every socket of it (SocketAborter).
    events_http = HttpHolder(lambda: build_http_client(host, timeout=timeout))
    aborter = SocketAborter()
    secrets = tuple(wiring["secrets"])
    poster = BatchPoster(events_http.get, token, timeout=timeout, secrets=secrets, aborter=aborter)
    sender = EventSender(poster.post, delivery_queue(wiring), abort=aborter.abort)
    return Outbound(http, remote, reporter_for(sender, wiring), events_http)


def delivery_queue(wiring: Wiring) -> DeliveryQueue:
    """The queue and delivery policy of a client's sender."""
    return wiring["options"].delivery_queue(wiring["counters"], wiring.get("rng"))


def reporter_for(sender: SinkT, wiring: Wiring) -> ExposureReporter[SinkT]:
    """The reporter that feeds ``sender``."""
    return ExposureReporter(sender, dedupe_capacity=wiring["options"].dedupe_capacity)


def remote_counter(counters: Counters) -> Callable[[bool], None]:
    """Counts each ``/flags`` request (and each failed one) in ``counters``."""

    def count(failed: bool) -> None:
        counters.add("remote_requests")
        if failed:
            counters.add("remote_errors")

    return count
