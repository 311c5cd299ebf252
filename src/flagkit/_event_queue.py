"""Delivery of exposure events: a bounded queue drained by one background thread.

* :class:`EventSender` holds at most ``queue_size`` events; when full, the oldest is dropped
  and counted, so recording an event never blocks and memory stays bounded. A daemon thread
  sends batches of up to ``batch_size`` events to ``/batch/`` once a batch is full or its
  oldest event has waited ``flush_interval`` seconds, retrying failed batches with
  exponential backoff (full jitter; ``Retry-After`` honoured). :meth:`EventSender.flush`
  waits for the queue to empty; :meth:`EventSender.close` delivers what is left within a
  deadline, then stops the thread.
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
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

import attrs
import httpx

from flagkit._backoff import full_jitter, parse_retry_after
from flagkit._events import (
    DEFAULT_DEDUPE_CAPACITY,
    FingerprintSet,
    batch_body,
    encode_event,
    exposure_fingerprint,
    flag_called_event,
    reportable,
)
from flagkit._http import build_http_client, redact
from flagkit._remote import RemoteFallback, Resolved
from flagkit._status import Counters

logger = logging.getLogger("flagkit.client")

BATCH_PATH = "/batch/"
DEFAULT_QUEUE_SIZE = 10_000
DEFAULT_BATCH_SIZE = 100
DEFAULT_FLUSH_INTERVAL = 0.5
DEFAULT_MAX_RETRIES = 5
_MAX_RETRY_AFTER = 300.0


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


@attrs.frozen(slots=True)
class PostResult:
    """How one ``/batch/`` request went."""

    ok: bool
    retryable: bool = False
    message: str = ""
    retry_after: float | None = None
    unreachable: bool = False  # no connection could be made at all


class BatchPoster:
    """Sends one batch of encoded events to ``/batch/``. Never raises."""

    def __init__(
        self,
        http: Callable[[], httpx.Client | None],
        token: str,
        *,
        timeout: float,
        secrets: Iterable[str | None] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = http
        self._token = token
        self._timeout = timeout
        self._secrets = (*secrets, token)
        self._clock = clock

    def post(self, encoded_events: list[bytes]) -> PostResult:
        """POST the events; a 200 is success, 408/429/5xx and network errors are retryable."""
        http = self._http()
        if http is None:
            return PostResult(False, message="the client is closed")
        sent_at = datetime.fromtimestamp(self._clock(), tz=timezone.utc)
        data = batch_body(self._token, encoded_events, sent_at)
        try:
            response = http.post(
                BATCH_PATH,
                content=data,
                headers={"Content-Type": "application/json"},
                timeout=self._timeout,
            )
        except Exception as exc:  # network trouble, a closed pool: try again later
            text = str(exc).strip()
            detail = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
            unreachable = isinstance(exc, httpx.ConnectError)
            return PostResult(False, True, redact(detail, self._secrets), unreachable=unreachable)
        status = response.status_code
        if status == 200:
            return PostResult(True)
        detail = " ".join(response.text[:300].split())
        message = redact(f"HTTP {status} from {BATCH_PATH}: {detail}", self._secrets)
        retryable = status >= 500 or status in (408, 429)
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now=self._clock())
        return PostResult(False, retryable, message, retry_after)


class EventSender:
    """A bounded event queue and the daemon thread that delivers it (see the module doc)."""

    def __init__(
        self,
        post: Callable[[list[bytes]], PostResult],
        *,
        counters: Counters,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        batch_size: int = DEFAULT_BATCH_SIZE,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        max_retries: int = DEFAULT_MAX_RETRIES,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._post = post
        self._counters = counters
        self._queue_size = queue_size
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._rng = rng or random.Random()
        self._monotonic = monotonic
        self._queue: deque[Mapping[str, Any]] = deque()
        self._oldest_at = 0.0
        self._init_sync()
        self._closing = False
        self._deadline: float | None = None
        self._overflow_logged = False
        self._failing = False
        counters.pending = self.pending
        _FORK_AWARE.add(self)

    def _init_sync(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._in_flight = 0
        self._flushing = 0

    def _after_fork_in_child(self) -> None:
        # The parent's thread does not exist here and the parent delivers its own queue.
        self._queue.clear()
        self._init_sync()

    def pending(self) -> int:
        """Events queued or being sent."""
        return len(self._queue) + self._in_flight

    def put(self, event: Mapping[str, Any]) -> bool:
        """Queue ``event`` without blocking; False (and nothing queued) once closing."""
        with self._cond:
            if self._closing:
                return False
            was_empty = not self._queue
            if was_empty:
                self._oldest_at = self._monotonic()
            elif len(self._queue) >= self._queue_size:
                self._queue.popleft()  # oldest first: recent exposures matter more
                self._dropped(1, "the event queue is full")
            self._queue.append(event)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="flagkit-events", daemon=True
                )
                self._thread.start()
            elif was_empty or len(self._queue) >= self._batch_size:
                self._cond.notify_all()  # the thread starts its interval, or sends now
        return True

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued now; True once the queue is empty and nothing is in
        flight, False if ``timeout`` passed first."""
        with self._cond:
            if self._thread is None and not self._queue:
                return True
            self._flushing += 1
            self._cond.notify_all()
            try:
                return self._cond.wait_for(
                    lambda: not self._queue and self._in_flight == 0, timeout
                )
            finally:
                self._flushing -= 1

    def close(self, timeout: float = 5.0) -> bool:
        """Stop taking events, deliver the queue within ``timeout`` seconds, stop the thread.

        Returns True if everything queued was delivered (or dropped as undeliverable).
        Idempotent.
        """
        with self._cond:
            self._closing = True
            self._deadline = self._monotonic() + timeout
            self._cond.notify_all()
            thread = self._thread
        if thread is None or thread is threading.current_thread():
            return not self._queue
        thread.join(max(timeout, 0.0))
        self._stop.set()  # past the deadline: abandon retries
        with self._cond:
            self._cond.notify_all()
        thread.join(0.5)
        left = len(self._queue)
        if left:
            with self._cond:
                self._queue.clear()
            self._dropped(left, "the client closed before they could be delivered")
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
                logger.exception("flagkit: unexpected error delivering events")
                self._dropped(len(batch), "an unexpected error")
            finally:
                with self._cond:
                    self._in_flight = 0
                    self._cond.notify_all()

    def _next_batch(self) -> list[Mapping[str, Any]] | None:
        with self._cond:
            while True:
                if self._stop.is_set():
                    return None
                if self._queue:
                    wait = self._flush_interval - (self._monotonic() - self._oldest_at)
                    full = len(self._queue) >= self._batch_size
                    if full or wait <= 0 or self._flushing or self._closing:
                        break
                    self._cond.wait(wait)
                elif self._closing:
                    return None
                else:
                    self._cond.wait()
            count = min(self._batch_size, len(self._queue))
            batch = [self._queue.popleft() for _ in range(count)]
            self._in_flight = count
            return batch

    def _deliver(self, batch: list[Mapping[str, Any]]) -> None:
        encoded: list[bytes] = []
        for event in batch:
            try:
                encoded.append(encode_event(event))
            except (ValueError, TypeError, RecursionError):
                self._dropped(1, "it could not be encoded as JSON")
        if not encoded:
            return
        failures = 0
        while True:
            result = self._post(encoded)
            if result.ok:
                self._counters.add("events_sent", len(encoded))
                if self._failing:
                    self._failing = False
                    logger.info("flagkit: event delivery works again")
                return
            failures += 1
            level = logging.DEBUG if self._failing else logging.WARNING
            logger.log(level, "flagkit: could not deliver events: %s", result.message)
            self._failing = True
            delay = self._retry_delay(result, failures)
            if delay is None or self._stop.wait(delay):
                self._dropped(len(encoded), f"delivery failed ({result.message})")
                return

    def _retry_delay(self, result: PostResult, failures: int) -> float | None:
        """Seconds before the next attempt, or None to give up on this batch."""
        if not result.retryable or failures > self._max_retries:
            return None
        delay = full_jitter(failures, base=self._backoff_base, cap=self._backoff_max, rng=self._rng)
        if result.retry_after is not None:
            delay = max(delay, min(result.retry_after, _MAX_RETRY_AFTER))
        deadline = self._deadline
        if deadline is not None:  # closing: never wait past close()'s deadline
            if result.unreachable:
                return None  # refused or no such host: seconds of retrying will not help
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                return None
            delay = min(delay, remaining)
        return delay

    def _dropped(self, count: int, why: str) -> None:
        self._counters.add("events_dropped", count)
        if not self._overflow_logged:
            self._overflow_logged = True  # once: this can happen on every flag read
            logger.warning("flagkit: dropped %d event(s): %s", count, why)
        else:
            logger.debug("flagkit: dropped %d event(s): %s", count, why)


class ExposureReporter:
    """Sends one ``$feature_flag_called`` event per new exposure. Never raises."""

    def __init__(
        self,
        sender: EventSender,
        *,
        lib_version: str | None = None,
        dedupe_capacity: int = DEFAULT_DEDUPE_CAPACITY,
    ) -> None:
        if lib_version is None:
            # Imported late: flagkit/__init__.py imports the client, which imports this.
            from flagkit import __version__

            lib_version = __version__
        self.sender = sender
        self._lib_version: str = lib_version
        self._seen = FingerprintSet(dedupe_capacity)
        self._lock = threading.Lock()
        _FORK_AWARE.add(self)

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()  # the table itself is kept: it is still true

    def report(
        self, resolved: Resolved, distinct_id: Any, groups: Mapping[str, Any] | None
    ) -> None:
        """Queue an event for this flag read unless the same exposure was reported before."""
        try:
            result = resolved.result
            if not reportable(result, distinct_id):
                return
            fingerprint = exposure_fingerprint(distinct_id, result.key, result.value, groups)
            with self._lock:
                if not self._seen.add(fingerprint):
                    return
            event = flag_called_event(
                result,
                distinct_id,
                groups=groups,
                lib_version=self._lib_version,
                error=resolved.error,
                request_id=resolved.request_id,
                evaluated_at=resolved.evaluated_at,
            )
            self.sender.put(event)
        except Exception:  # reporting is best effort; the flag read must succeed
            logger.debug("flagkit: could not record a flag event", exc_info=True)


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


@attrs.frozen(slots=True)
class Outbound:
    """What a client sends besides definitions requests: remote lookups and, unless
    disabled, exposure events; both over one lazily built HTTP client."""

    http: HttpHolder
    remote: RemoteFallback
    reporter: ExposureReporter | None

    def close(self, timeout: float = 1.0) -> None:
        """Deliver queued events within ``timeout`` seconds, then release the HTTP client."""
        try:
            if self.reporter is not None:
                self.reporter.sender.close(timeout)
        finally:
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
        on_request=lambda failed: _count_remote(counters, failed),
    )
    reporter = None
    if send_events:
        poster = BatchPoster(http.get, token, timeout=events_timeout, secrets=secrets)
        sender = EventSender(
            poster.post,
            counters=counters,
            queue_size=options.queue_size,
            batch_size=options.batch_size,
            flush_interval=options.flush_interval,
            backoff_base=options.backoff_base,
            backoff_max=min(options.backoff_max, 30.0),
            rng=rng,
        )
        reporter = ExposureReporter(sender, dedupe_capacity=options.dedupe_capacity)
    return Outbound(http, remote, reporter)


def _count_remote(counters: Counters, failed: bool) -> None:
    counters.add("remote_requests")
    if failed:
        counters.add("remote_errors")
