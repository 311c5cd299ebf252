"""The ``/flags`` lookup without the I/O: :class:`RemoteCore` decides what to send, when to
retry and what a response or an exception means, as a state machine (:meth:`RemoteCore.lookup`)
that yields :class:`Post` and :class:`Sleep` commands. The thread driver
(``flagkit._remote.sync_fallback``) and the asyncio one (``flagkit._remote.async_fallback``)
only carry the commands out, as h11 leaves the sockets to its callers.

Retries follow PostHog's SDK: transport errors and 502/504 once, 300 ms later; never 429,
503 or another status. The whole lookup, retry included, fits in ``timeout`` seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import Any, Generic, TypeVar

import attrs
import httpx

from flagkit._evaluation.result import FlagResult
from flagkit._net.http import redact
from flagkit._remote.fallback import (
    CONNECTION_ERROR,
    DEFAULT_REMOTE_TIMEOUT,
    FLAGS_PATH,
    INVALID_RESPONSE,
    MAX_RESPONSE_BYTES,
    TIMEOUT,
    UNKNOWN_ERROR,
    RemoteAnswer,
    RemoteFailure,
    RemoteReply,
    Resolved,
    build_flags_request,
    encode_json,
    error_result,
    parse_flags_response,
    resolve_results,
    retry_delay,
    should_retry,
)
from flagkit._remote.guard import RemoteGuard, Served, Ticket

logger = logging.getLogger("flagkit.client")
HttpT = TypeVar("HttpT", httpx.Client, httpx.AsyncClient)


@attrs.frozen(slots=True)
class Post:
    """Send ``data`` to ``/flags`` and read the answer within ``remaining`` seconds (the
    body stops being read at ``deadline``, a monotonic time); reply with a
    :data:`RemoteReply` (``None``: the client is closed)."""

    data: bytes
    remaining: float
    deadline: float


@attrs.frozen(slots=True)
class Sleep:
    """Wait ``delay`` seconds before the next attempt."""

    delay: float


class RemoteCore(Generic[HttpT]):
    """Everything a ``/flags`` driver needs except the I/O: the request bytes, the meaning of
    a response or an exception, the retry decision, counters and logging. Shared by the
    thread driver (:class:`RemoteFallback`) and the asyncio one
    (``flagkit._remote.async_fallback``).
    """

    def __init__(
        self,
        http: Callable[[], HttpT | None],
        token: str,
        *,
        timeout: float = DEFAULT_REMOTE_TIMEOUT,
        secrets: Iterable[str | None] = (),
        on_request: Callable[[bool], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        guard: RemoteGuard | None = None,
    ) -> None:
        # ``http`` gives the driver's HTTP client (``None`` once closed); the core never
        # calls it, it only keeps it for the driver.
        self.http: Callable[[], HttpT | None] = http
        self.timeout = timeout
        self.monotonic = monotonic
        self.guard = guard or RemoteGuard(monotonic=monotonic)
        self._token = token
        self._secrets = (*secrets, token)
        self._on_request = on_request
        self._failing = False

    def lookup(
        self,
        undecided: Mapping[str, FlagResult] | None,
        distinct_id: Any,
        *,
        served: Served | None = None,
        **request: Any,
    ) -> Generator[Post | Sleep, RemoteReply | None, dict[str, Resolved]]:
        """One lookup, as a state machine: yields what to do (:class:`Post`, then a reply
        is sent in; :class:`Sleep`), returns every flag's answer. The keys of ``undecided``
        are asked (every flag when ``None``) unless the guard holds them back; ``request``
        is the caller's context (see :func:`build_flags_request`). Closing the generator
        early (a cancelled read) frees the guard's ticket."""
        gate = self.admit(undecided, served)
        if gate.ticket is None:
            return gate.held
        try:
            try:
                data = self.request_data(gate.asked, distinct_id, **request)
            except Exception as exc:  # bad caller data or a bug: the caller still gets one
                return self.conclude(gate, self.unsent(exc), sent=False)
            deadline = self.monotonic() + self.timeout
            failures = 0
            while True:
                remaining = deadline - self.monotonic()
                reply: RemoteReply = self.timed_out()
                if remaining > 0:
                    reply = (yield Post(data, remaining, deadline)) or self.closed()
                if isinstance(reply, RemoteAnswer):
                    break
                failures += 1
                delay = self.retry_wait(reply, failures, deadline)
                if delay is None:
                    break
                yield Sleep(delay)
            return self.conclude(gate, reply)
        finally:
            self.release(gate)

    def request_data(
        self,
        undecided: Mapping[str, FlagResult] | None,
        distinct_id: Any,
        *,
        person_properties: Mapping[str, Any] | None = None,
        groups: Mapping[str, Any] | None = None,
        group_properties: Mapping[str, Any] | None = None,
        device_id: Any = None,
        geoip_disable: bool = True,
    ) -> bytes:
        """The encoded request for the keys of ``undecided`` (every flag when ``None``).
        Raises on data that cannot be encoded (see :meth:`unsent`)."""
        body = build_flags_request(
            self._token,
            distinct_id,
            person_properties=person_properties,
            groups=groups,
            group_properties=group_properties,
            device_id=device_id,
            flag_keys=None if undecided is None else list(undecided),
            geoip_disable=geoip_disable,
        )
        return encode_json(body)

    @staticmethod
    def unsent(exc: Exception) -> RemoteFailure:
        """The reply for a request that could not even be built (bad caller data, a bug)."""
        return RemoteFailure(UNKNOWN_ERROR, f"request not sent ({type(exc).__name__})")

    def admit(self, undecided: Mapping[str, FlagResult] | None, served: Served | None) -> Gate:
        """What to ask and what to answer at once (see :class:`RemoteGuard`)."""
        admission = self.guard.admit(None if undecided is None else undecided.keys(), served)
        held = {
            key: Resolved(error_result(key, hold.text), hold.error)
            for key, hold in admission.held.items()
        }
        asked = undecided
        if undecided is not None and held:
            asked = {key: result for key, result in undecided.items() if key not in held}
        return Gate(admission.ticket, asked, held)

    def conclude(self, gate: Gate, reply: RemoteReply, *, sent: bool = True) -> dict[str, Resolved]:
        """Count and log one finished lookup, tell the guard (unless nothing was ``sent``),
        then merge its reply (see :func:`resolve_results`) with the flags held back."""
        self._note(reply)
        if gate.ticket is not None:
            if sent:
                error = reply.error if isinstance(reply, RemoteFailure) else None
                self.guard.record(gate.ticket, gate.asked or (), error)
            else:
                self.guard.release(gate.ticket)
        return {**gate.held, **resolve_results(gate.asked, reply)}

    def release(self, gate: Gate) -> None:
        """Free ``gate``'s ticket if :meth:`conclude` never ran (a cancelled lookup)."""
        if gate.ticket is not None:
            self.guard.release(gate.ticket)

    def timed_out(self, *, partial: bool = False) -> RemoteFailure:
        """The reply when the lookup's time ran out (``partial``: mid-body)."""
        answer = "complete answer" if partial else "answer"
        return RemoteFailure(TIMEOUT, f"no {answer} within {self.timeout:g} s")

    @staticmethod
    def closed() -> RemoteFailure:
        """The reply once the client is closed."""
        return RemoteFailure(UNKNOWN_ERROR, "the client is closed")

    def response_reply(self, status: int, body: bytes) -> RemoteReply:
        """:func:`parse_flags_response`, with keys scrubbed from failure messages."""
        reply = parse_flags_response(status, body)
        if isinstance(reply, RemoteFailure):  # the server's text may echo the token
            reply = attrs.evolve(reply, message=redact(reply.message, self._secrets))
        return reply

    def exception_reply(self, exc: Exception) -> RemoteFailure:
        """The reply for an exception raised while sending or reading."""
        if isinstance(exc, httpx.TimeoutException):
            return self.timed_out()  # the lookup's time is used up: nothing left to retry in
        if isinstance(exc, httpx.TransportError):  # refused, reset, dropped: PostHog retries
            return self._failure(CONNECTION_ERROR, exc, retryable=True)
        return self._failure(UNKNOWN_ERROR, exc, retryable=False)  # a closed pool, a bug

    def post_options(self, post: Post) -> dict[str, Any]:
        """The arguments of ``http.stream(...)`` for one attempt."""
        return {
            "method": "POST",
            "url": FLAGS_PATH,
            "content": post.data,
            "headers": {"Content-Type": "application/json"},
            "timeout": httpx.Timeout(post.remaining),
        }

    def body_reader(self, post: Post) -> BodyReader:
        """Collects one attempt's response body (see :class:`BodyReader`)."""
        return BodyReader(self, post.deadline)

    def retry_wait(self, reply: RemoteReply, failures: int, deadline: float) -> float | None:
        """Seconds to wait before another attempt, or ``None`` to return ``reply``."""
        if not should_retry(reply, failures):
            return None
        delay = retry_delay(failures)
        if self.monotonic() + delay >= deadline:
            return None  # no time left for another attempt
        return delay

    def _failure(self, error: str, exc: BaseException, *, retryable: bool) -> RemoteFailure:
        text = str(exc).strip()
        detail = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        return RemoteFailure(error, redact(detail, self._secrets), retryable=retryable)

    def _note(self, reply: RemoteReply) -> None:
        failed = isinstance(reply, RemoteFailure)
        if self._on_request is not None:
            try:
                self._on_request(failed)
            except Exception:  # counters must not break a flag read
                logger.debug("flagkit: remote counter failed", exc_info=True)
        # One line per change of fortune: an outage must not flood the logs.
        if isinstance(reply, RemoteFailure):
            level = logging.DEBUG if self._failing else logging.WARNING
            logger.log(level, "flagkit: remote /flags lookup failed: %s", reply.message)
            self._failing = True
        elif self._failing:
            self._failing = False
            logger.info("flagkit: remote /flags lookups work again")


@attrs.frozen(slots=True)
class Gate:
    """One read's way through the guard: the ticket (``None``: ask nothing), the undecided
    flags to ask about (``None``: every flag), and the answers given without asking."""

    ticket: Ticket | None
    asked: Mapping[str, FlagResult] | None
    held: dict[str, Resolved]


class BodyReader:
    """A response body, chunk by chunk: :meth:`add` says when to stop reading (past
    :data:`MAX_RESPONSE_BYTES`, or once the lookup's deadline passed: a slow trickle must
    not hold the caller), :meth:`reply` what the whole answer means."""

    def __init__(self, core: RemoteCore[Any], deadline: float) -> None:
        self._core = core
        self._deadline = deadline
        self._buffer = bytearray()
        self._stopped: RemoteReply | None = None

    def add(self, chunk: bytes) -> bool:
        """Take one chunk; True when reading must stop."""
        self._buffer += chunk
        if len(self._buffer) > MAX_RESPONSE_BYTES:
            self._stopped = RemoteFailure(INVALID_RESPONSE, "/flags answer is too large")
        elif self._core.monotonic() > self._deadline:
            self._stopped = self._core.timed_out(partial=True)
        return self._stopped is not None

    def reply(self, status: int) -> RemoteReply:
        """The answer: the response's meaning, or why reading stopped."""
        if self._stopped is not None:
            return self._stopped
        return self._core.response_reply(status, bytes(self._buffer))
