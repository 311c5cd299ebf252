"""``$feature_flag_called`` exposure events: building them, remembering which were sent, and
the queueing and retry policy of their delivery.

Pure: no threads, no I/O. A sync or async client combines :func:`exposure_fingerprint`,
:class:`FingerprintSet` and ``flagkit._events.flag_events`` and hands the event to its own sender;
each sender (a thread in ``flagkit._events.queue``, a task in ``flagkit._events.async_queue``)
drives the same :class:`DeliveryQueue` and reads responses with :func:`post_result`.

De-duplication follows PostHog's SDK: one event per distinct id, flag key, value and group
context (the sorted ``(group type, group key)`` pairs). Instead of keeping those tuples, each
is reduced to a 64-bit MurmurHash3 fingerprint kept in a fixed-size table of 8-byte slots,
so memory is bounded and known in advance: ``capacity * 8`` bytes (8 MiB by default, for
about a million distinct exposures). A full table forgets its oldest entries first; a
forgotten exposure is simply reported again.
"""

from __future__ import annotations

import logging
import random
import time
from array import array
from collections import deque
from collections.abc import Callable, Generator, Iterable, Mapping
from datetime import datetime
from typing import Any

import attrs
import httpx
import mmh3

from flagkit._evaluation.result import FlagValue
from flagkit._events.encoding import EventEncoder, PendingExposure, encode_event
from flagkit._net.backoff import full_jitter, parse_retry_after
from flagkit._net.http import redact
from flagkit._remote.fallback import encode_json
from flagkit._status import Counters

logger = logging.getLogger("flagkit.client")

BATCH_PATH = "/batch/"
DEFAULT_QUEUE_SIZE = 50_000  # events, at most about 0.4 KB each queued: about 20 MB when full
DEFAULT_BATCH_SIZE = 100
DEFAULT_FLUSH_INTERVAL = 0.5
_MAX_RETRY_AFTER = 300.0
DEFAULT_DEDUPE_CAPACITY = 1 << 20  # slots; 8 bytes each
_BUCKET = 8  # slots per bucket: 64 bytes, one cache line
_SEP = "\x1f"  # a character that does not occur in ordinary keys and ids


def exposure_fingerprint(
    distinct_id: Any,
    key: str,
    value: FlagValue | None,
    groups: Mapping[str, Any] | None,
    extra: tuple[str, ...] | None = None,
) -> int:
    """The 64-bit identity of one exposure: (distinct id, flag, value, sorted groups), plus
    ``extra`` (the rule attribution of a config-version-2 answer, so that A/A arms and
    successive experiments of one flag are each reported).

    Never 0 (0 marks an empty slot in :class:`FingerprintSet`).
    """
    if value is None:
        shown = "n"
    elif isinstance(value, bool):
        shown = "b1" if value else "b0"  # True and the variant "True" differ
    else:
        shown = "s" + value
    parts = [str(distinct_id), key, shown]
    if groups:
        parts.extend(
            f"{name}={group}" for name, group in sorted((str(n), str(g)) for n, g in groups.items())
        )
    if extra:
        parts.append("\x1e")  # no group entry can be this: extra parts never pose as groups
        parts.extend(extra)
    # Bytes only: mmh3 crashes the process on a str holding a lone surrogate (e.g. from
    # json.loads('"\\ud83d"')); "surrogatepass" keeps such strings distinct and hashable.
    data = _SEP.join(parts).encode("utf-8", "surrogatepass")
    fingerprint: int = mmh3.hash64(data, signed=False)[0]
    return fingerprint or 1


class FingerprintSet:
    """A bounded set of 64-bit fingerprints in ``capacity * 8`` bytes, allocated on first use.

    The table is split into buckets of 8 slots; a fingerprint lives in the bucket its value
    selects, and a full bucket drops its oldest entry. Not thread-safe: callers that share
    one across threads hold a lock around :meth:`add`.
    """

    def __init__(self, capacity: int = DEFAULT_DEDUPE_CAPACITY) -> None:
        if capacity < _BUCKET:
            raise ValueError(f"dedupe capacity must be at least {_BUCKET}")
        self._buckets = capacity // _BUCKET
        self._slots: array[int] | None = None

    @property
    def capacity(self) -> int:
        """How many fingerprints fit."""
        return self._buckets * _BUCKET

    @property
    def memory_bytes(self) -> int:
        """Bytes the table takes once allocated."""
        return self.capacity * 8

    def add(self, fingerprint: int) -> bool:
        """Remember ``fingerprint``; True if it was new, False if already present."""
        slots = self._slots
        if slots is None:
            slots = self._slots = array("Q", bytes(self.memory_bytes))
        start = (fingerprint % self._buckets) * _BUCKET
        end = start + _BUCKET
        if fingerprint in slots[start:end]:
            return False
        # Newest first: shift the bucket by one and drop its last (oldest) slot.
        slots[start + 1 : end] = slots[start : end - 1]
        slots[start] = fingerprint
        return True

    def __contains__(self, fingerprint: object) -> bool:
        slots = self._slots
        if slots is None or not isinstance(fingerprint, int):
            return False
        start = (fingerprint % self._buckets) * _BUCKET
        return fingerprint in slots[start : start + _BUCKET]

    def clear(self) -> None:
        """Forget everything (and release the table)."""
        self._slots = None


def batch_body(token: str, encoded_events: list[bytes], sent_at: datetime) -> bytes:
    """The ``/batch/`` request body around already-encoded events:
    ``{"api_key", "batch", "historical_migration": false, "sent_at"}``."""
    head = b'{"api_key":' + encode_json(token) + b',"batch":['
    tail = b'],"historical_migration":false,"sent_at":' + encode_json(sent_at.isoformat()) + b"}"
    return head + b",".join(encoded_events) + tail


# -- delivery policy -----------------------------------------------------------------------


@attrs.frozen(slots=True)
class PostResult:
    """How one ``/batch/`` request went."""

    ok: bool
    retryable: bool = False
    message: str = ""
    retry_after: float | None = None
    unreachable: bool = False  # no connection could be made at all


def post_result(
    status: int,
    text: str,
    retry_after: str | None,
    *,
    now: float,
    secrets: Iterable[str | None],
) -> PostResult:
    """Interpret a ``/batch/`` response: 200 is success; 408, 429 and 5xx are retryable
    (``retry_after`` is the raw ``Retry-After`` header); other statuses are final."""
    if status == 200:
        return PostResult(True)
    detail = " ".join(text[:300].split())
    message = redact(f"HTTP {status} from {BATCH_PATH}: {detail}", secrets)
    retryable = status >= 500 or status in (408, 429)
    return PostResult(False, retryable, message, parse_retry_after(retry_after, now=now))


def post_exception(exc: Exception, secrets: Iterable[str | None]) -> PostResult:
    """A ``/batch/`` request that raised (network trouble, a closed pool): retryable."""
    text = str(exc).strip()
    detail = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    unreachable = isinstance(exc, httpx.ConnectError)
    return PostResult(False, True, redact(detail, secrets), unreachable=unreachable)


Queued = Mapping[str, Any] | bytes | PendingExposure  # what a DeliveryQueue holds
CLOSED_BEFORE_DELIVERY = "the client closed before they could be delivered"
BACKLOG_BATCHES = 10  # a backlog goes in requests of up to this many batches


@attrs.frozen(slots=True)
class Send:
    """POST these encoded events to ``/batch/``; answer with a :class:`PostResult`."""

    encoded: list[bytes]


@attrs.frozen(slots=True)
class Wait:
    """Nothing is due: wait until woken, or at most ``seconds`` (``None``: no limit)."""

    seconds: float | None


@attrs.frozen(slots=True)
class Backoff:
    """Wait ``delay`` seconds before retrying; answer True if waiting was cut short by
    close() (give the batch up)."""

    delay: float


class DeliveryQueue:
    """The bounded queue of an event sender and its delivery policy, without threads or I/O.

    At most ``queue_size`` events are held, the batch in flight included; when full, the
    oldest queued event is dropped and counted (``events_overflowed``). A batch of up to
    ``batch_size`` events is due once it is full, once its oldest event has waited
    ``flush_interval`` seconds, or at once while flushing or closing. A batch that fails
    with a retryable error (408, 429, 5xx, network) is retried for as long as it takes,
    with full-jitter backoff capped at ``backoff_max`` (never sooner than ``Retry-After``),
    but never past the closing deadline: an outage costs events only once the queue
    overflows. ``max_retries`` (``None``: no limit) exists for callers that want a bound.
    Not thread-safe: a threaded driver holds its lock around calls.
    """

    def __init__(
        self,
        counters: Counters,
        *,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        batch_size: int = DEFAULT_BATCH_SIZE,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        max_retries: int | None = None,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.counters = counters
        # New exposures as recorded by the reader (encoded by the sender, see encoding.py);
        # other events as JSON (about half the memory of a dict; senders encode those on
        # put), or as dicts when a caller adds those directly.
        self.queue: deque[Queued] = deque()
        self.in_flight = 0  # events taken by the sender and not yet settled
        self.flushing = 0  # callers waiting in flush()
        self.closing = False
        self.deadline: float | None = None  # when closing: give up on retries after this
        self._queue_size = queue_size
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._rng = rng or random.Random()
        self._monotonic = monotonic
        self._oldest_at = 0.0
        self._overflow_logged = False
        self._failing = False
        self._encoder = EventEncoder()

    def pending(self) -> int:
        """Events queued or being sent."""
        return len(self.queue) + self.in_flight

    def idle(self) -> bool:
        """Nothing queued and nothing in flight."""
        return not self.queue and self.in_flight == 0

    def add(self, event: Queued) -> bool:
        """Queue ``event`` (dropping the oldest when full). True when the sender should be
        woken: its interval starts now, or a batch is full."""
        if self.pending() >= self._queue_size:
            # Oldest first (recent exposures matter more); the batch in flight is kept.
            if not self.queue:
                self.overflowed()
                return False
            self.queue.popleft()
            self.overflowed()
        was_empty = not self.queue
        if was_empty:
            self._oldest_at = self._monotonic()
        self.queue.append(event)
        return was_empty or len(self.queue) >= self._batch_size

    def crowded(self) -> bool:
        """More than half the queue is taken: the sender is falling behind."""
        return self.pending() > self._queue_size // 2

    def begin_close(self, timeout: float) -> None:
        """Stop taking events; deliver what is queued within ``timeout`` seconds."""
        self.closing = True
        self.deadline = self._monotonic() + timeout

    def due_in(self) -> float | None:
        """Seconds until a batch is due (0: now); ``None`` when nothing is queued."""
        if not self.queue:
            return None
        if len(self.queue) >= self._batch_size or self.flushing or self.closing:
            return 0.0
        return max(0.0, self._flush_interval - (self._monotonic() - self._oldest_at))

    def next_step(self, stopped: bool) -> list[Queued] | Wait | None:
        """What a sender does next: deliver a batch (taken now: see :meth:`take`), wait, or
        end (``None``: stopped, or closing with nothing left)."""
        if stopped:
            return None
        wait = self.due_in()
        if wait is None:
            return None if self.closing else Wait(None)
        return self.take() if wait <= 0 else Wait(wait)

    def take(self) -> list[Queued]:
        """The next batch, now in flight until :meth:`settle`. A backlog (more than two
        batches waiting) goes in requests of up to :data:`BACKLOG_BATCHES` batches: per
        event, one large request costs the sender far less than many small ones, so a burst
        drains before the queue overflows."""
        waiting = len(self.queue)
        size = self._batch_size
        count = min(size, waiting)
        if waiting > 2 * size:  # whole batches only: a partial one still waits its interval
            count = min(size * BACKLOG_BATCHES, waiting // size * size)
        batch = [self.queue.popleft() for _ in range(count)]
        self.in_flight = count
        return batch

    def settle(self) -> None:
        """The batch in flight is delivered or dropped."""
        self.in_flight = 0

    def encode(self, batch: list[Queued]) -> list[bytes]:
        """The events as JSON (bytes pass through); one that cannot be encoded is dropped
        and counted."""
        encoded = self._encoder.encode(batch)
        if len(encoded) < len(batch):
            self.dropped(len(batch) - len(encoded), "it could not be encoded as JSON")
        return encoded

    def encode_one(self, event: Mapping[str, Any]) -> bytes | None:
        """One event as JSON, or ``None`` (dropped and counted) when it cannot be."""
        try:
            return encode_event(event)
        except (ValueError, TypeError, RecursionError):
            self.dropped(1, "it could not be encoded as JSON")
            return None

    def delivered(self, count: int) -> None:
        """``count`` events reached the server."""
        self.counters.add("events_sent", count)
        if self._failing:
            self._failing = False
            logger.info("flagkit: event delivery works again")

    def failed(self, result: PostResult, failures: int) -> float | None:
        """Log a failed attempt; seconds before the next one, or ``None`` to give up (then
        the caller reports the batch with :meth:`dropped`)."""
        level = logging.DEBUG if self._failing else logging.WARNING
        logger.log(level, "flagkit: could not deliver events: %s", result.message)
        self._failing = True
        if not result.retryable:
            return None
        if self._max_retries is not None and failures > self._max_retries:
            return None
        delay = full_jitter(failures, base=self._backoff_base, cap=self._backoff_max, rng=self._rng)
        if result.retry_after is not None:
            delay = max(delay, min(result.retry_after, _MAX_RETRY_AFTER))
        deadline = self.deadline
        if deadline is not None:  # closing: never wait past close()'s deadline
            if result.unreachable:
                return None  # refused or no such host: seconds of retrying will not help
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                return None
            delay = min(delay, remaining)
        return delay

    def delivery(self, batch: list[Queued]) -> Generator[Send | Backoff, PostResult | bool, None]:
        """Deliver one taken batch, as a state machine: yields :class:`Send` (a
        :class:`PostResult` is sent back) and :class:`Backoff` (back: True to give up now,
        the client is closing). Counts what was delivered or dropped; a machine closed
        midway (a cancelled task), or failing, counts its batch as dropped."""
        encoded: list[bytes] = []
        try:
            encoded = self.encode(batch)
            failures = 0
            while encoded:
                result = yield Send(encoded)
                assert isinstance(result, PostResult)
                if result.ok:
                    self.delivered(len(encoded))
                    return
                failures += 1
                delay = self.failed(result, failures)
                if delay is None or (yield Backoff(delay)):
                    self.dropped(len(encoded), f"delivery failed ({result.message})")
                    return
        except BaseException as exc:  # closed midway (GeneratorExit), or a bug
            why = (
                CLOSED_BEFORE_DELIVERY if isinstance(exc, GeneratorExit) else "an unexpected error"
            )
            self.dropped(len(encoded) or len(batch), why)
            raise

    def crashed(self) -> None:
        """A sender's delivery raised (a bug); the machine counted its batch as dropped."""
        logger.exception("flagkit: unexpected error delivering events")

    def discard_all(self, why: str) -> int:
        """Drop (and count) everything still queued; how many that was."""
        left = len(self.queue)
        if left:
            self.queue.clear()
            self.dropped(left, why)
        return left

    def overflowed(self) -> None:
        """One event did not fit in the queue: counted as dropped and as overflowed."""
        self.counters.add("events_overflowed")
        self.dropped(1, "the event queue is full")

    def dropped(self, count: int, why: str) -> None:
        """Count ``count`` undeliverable events; the first drop is logged at WARNING."""
        self.counters.add("events_dropped", count)
        if not self._overflow_logged:
            self._overflow_logged = True  # once: this can happen on every flag read
            logger.warning("flagkit: dropped %d event(s): %s", count, why)
        else:
            logger.debug("flagkit: dropped %d event(s): %s", count, why)
