"""Remote evaluation through PostHog's ``POST /flags?v=2``, for flags local evaluation cannot
decide.

The first part is pure (no I/O, no threads, no clocks) so that a sync and an async client can
share it: :func:`build_flags_request` makes the JSON body, :func:`parse_flags_response` turns
a status and body into a :class:`RemoteAnswer` or a :class:`RemoteFailure`, and
:func:`resolve_results` turns that into one :class:`Resolved` per flag. The retry policy is
data too (:func:`should_retry`, :func:`retry_delay`).

:class:`RemoteCore` holds what a driver needs besides I/O (request bytes, the meaning of
responses and exceptions, the retry decision, the :class:`~flagkit._remote.guard.RemoteGuard`
that pauses lookups after a failure, counters, logging). :class:`RemoteFallback` is the
synchronous driver: it posts on an ``httpx.Client``, retries once on 502/504 and on transport
errors (as PostHog's SDK; never on 429, 503 or another status), keeps the whole lookup within
a deadline, and never raises; ``flagkit._remote.async_fallback`` is the asyncio one.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
import httpx

from flagkit._evaluation.payloads import decode_payload
from flagkit._evaluation.result import FlagResult, Reason
from flagkit._net.http import redact
from flagkit._remote.guard import RemoteGuard, Served, Ticket
from flagkit._remote.records import RemoteFlag, RuleAttribution, read_record
from flagkit._remote.request import build_flags_request as build_flags_request
from flagkit._remote.request import encode_json as encode_json
from flagkit._remote.request import rebuild_group_properties as rebuild_group_properties

logger = logging.getLogger("flagkit.client")

FLAGS_PATH = "/flags/?v=2"
DEFAULT_REMOTE_TIMEOUT = 3.0
MAX_RETRIES = 1  # one extra attempt, as PostHog's SDK
RETRY_STATUSES = frozenset({502, 504})
RETRY_BASE_DELAY = 0.3  # seconds before retry n (0-based) is 0.3 * 2**n
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
_ERROR_DETAIL_LIMIT = 300

# Error names, as PostHog's SDK reports them in ``$feature_flag_error``.
QUOTA_LIMITED = "quota_limited"
TIMEOUT = "timeout"
CONNECTION_ERROR = "connection_error"
UNKNOWN_ERROR = "unknown_error"
INVALID_RESPONSE = "invalid_response"
FLAG_MISSING = "flag_missing"
EVALUATION_FAILED = "evaluation_failed"
ERRORS_WHILE_COMPUTING = "errors_while_computing_flags"


# -- pure part: response -----------------------------------------------------------------


@attrs.frozen(slots=True)
class RemoteAnswer:
    """A usable ``/flags`` response."""

    flags: Mapping[str, RemoteFlag]
    request_id: str | None = None
    evaluated_at: int | None = None
    errors_while_computing: bool = False
    # ``minimalFlagCalledEvents``: the server's gate for trimmed exposure events.
    minimal_events: bool = False


@attrs.frozen(slots=True)
class RemoteFailure:
    """No usable answer. ``error`` is PostHog's name for it (``timeout``,
    ``api_error_500``, ...); ``message`` is safe to log; ``retryable`` marks failures that
    one more attempt may fix."""

    error: str
    message: str
    status: int | None = None
    retryable: bool = False


RemoteReply = RemoteAnswer | RemoteFailure


def parse_flags_response(status: int, body: bytes) -> RemoteReply:
    """Interpret one ``/flags`` response (v2 ``flags`` records or the legacy
    ``featureFlags``/``featureFlagPayloads`` maps)."""
    if status != 200:
        detail = _error_detail(body)
        message = f"HTTP {status} from /flags" + (f": {detail}" if detail else "")
        return RemoteFailure(
            f"api_error_{status}", message, status=status, retryable=status in RETRY_STATUSES
        )
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return RemoteFailure(INVALID_RESPONSE, "/flags answered 200 with a body that is not JSON")
    if not isinstance(data, dict):
        return RemoteFailure(INVALID_RESPONSE, "/flags answered 200 with a non-object body")
    limited = data.get("quotaLimited")
    if isinstance(limited, list) and "feature_flags" in limited:
        return RemoteFailure(QUOTA_LIMITED, "the feature flag quota is exceeded", status=200)
    if isinstance(data.get("flags"), dict):
        flags = _v2_flags(data["flags"])
    elif isinstance(data.get("featureFlags"), dict):
        flags = _legacy_flags(data["featureFlags"], data.get("featureFlagPayloads"))
    else:
        return RemoteFailure(INVALID_RESPONSE, "/flags answered 200 without a flags object")
    request_id = data.get("requestId")
    evaluated_at = data.get("evaluatedAt")
    return RemoteAnswer(
        flags=flags,
        request_id=request_id if isinstance(request_id, str) else None,
        evaluated_at=evaluated_at if _is_int(evaluated_at) else None,
        errors_while_computing=data.get("errorsWhileComputingFlags") is True,
        minimal_events=data.get("minimalFlagCalledEvents") is True,
    )


def _v2_flags(records: Mapping[str, Any]) -> dict[str, RemoteFlag]:
    return {str(key): read_record(str(key), record) for key, record in records.items()}


def _legacy_flags(values: Mapping[str, Any], payloads: Any) -> dict[str, RemoteFlag]:
    payloads = payloads if isinstance(payloads, Mapping) else {}
    flags: dict[str, RemoteFlag] = {}
    for key, value in values.items():
        if isinstance(value, bool) or (isinstance(value, str) and value):
            flags[key] = RemoteFlag(key=key, value=value, payload=decode_payload(payloads.get(key)))
    return flags


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _error_detail(body: bytes) -> str:
    text = body[:4096].decode("utf-8", "replace").strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("detail"), str):
        text = parsed["detail"]
    return " ".join(text.split())[:_ERROR_DETAIL_LIMIT]


def should_retry(reply: RemoteReply, failed_attempts: int) -> bool:
    """True when ``reply`` is worth one more attempt after ``failed_attempts`` failures."""
    return isinstance(reply, RemoteFailure) and reply.retryable and failed_attempts <= MAX_RETRIES


def retry_delay(failed_attempts: int) -> float:
    """Seconds to wait before the next attempt (``failed_attempts`` >= 1)."""
    return RETRY_BASE_DELAY * float(2 ** max(failed_attempts - 1, 0))


# -- pure part: results ------------------------------------------------------------------


@attrs.frozen(slots=True)
class Resolved:
    """A flag's final result plus what a ``$feature_flag_called`` event reports about the
    remote lookup behind it (all ``None`` for a local answer)."""

    result: FlagResult
    error: str | None = None
    request_id: str | None = None
    evaluated_at: int | None = None
    # From a /flags record: the rule behind the answer (config version 2), the server's
    # experiment signal, and its minimal-events gate. Local reads look these up when the
    # event is built (see ExposureReporter.local_meta).
    attribution: RuleAttribution | None = None
    has_experiment: bool | None = None
    minimal_events: bool = False

    @property
    def remote(self) -> bool:
        """True when the value came from ``/flags``."""
        return self.result.reason is Reason.REMOTE


def resolve_results(
    local: Mapping[str, FlagResult] | None, reply: RemoteReply
) -> dict[str, Resolved]:
    """Merge a ``/flags`` reply into the undecided local results.

    ``local`` maps each key that was asked about to its local (undecided) result; ``None``
    means every flag was asked for (no definitions yet), and then the answer's flags are
    returned (nothing on failure). A flag the answer lacks is ``FLAG_NOT_FOUND`` when it was
    unknown locally too, else ``REMOTE_ERROR``; so is a record the server marked failed.
    """
    if local is None:
        if isinstance(reply, RemoteFailure):
            return {}
        return {
            key: _remote_result(flag, reply) for key, flag in reply.flags.items() if not flag.failed
        }
    if isinstance(reply, RemoteFailure):
        text = f"{reply.error}: {reply.message}"
        return {key: Resolved(_error_result(key, text), reply.error) for key in local}
    resolved: dict[str, Resolved] = {}
    for key, before in local.items():
        flag = reply.flags.get(key)
        if flag is None:
            resolved[key] = _missing(key, before, reply)
        elif flag.malformed is not None:
            # Like a failed request: an unknown error, and no request details.
            text = f"{UNKNOWN_ERROR}: the /flags record has a malformed {flag.malformed!r}"
            resolved[key] = Resolved(_error_result(key, text), UNKNOWN_ERROR)
        elif flag.failed:
            detail = flag.description or "no reason given"
            text = f"{EVALUATION_FAILED}: PostHog could not evaluate this flag ({detail})"
            resolved[key] = Resolved(
                _error_result(key, text, flag),
                _join(EVALUATION_FAILED, reply),
                reply.request_id,
                attribution=flag.attribution,
                has_experiment=flag.has_experiment,
                minimal_events=reply.minimal_events,
            )
        else:
            resolved[key] = _remote_result(flag, reply)
    return resolved


def _remote_result(flag: RemoteFlag, reply: RemoteAnswer) -> Resolved:
    result = FlagResult(
        key=flag.key,
        value=flag.value,
        reason=Reason.REMOTE,
        payload=flag.payload,
        condition_index=flag.condition_index,
        description=flag.description or "evaluated by PostHog's /flags",
        flag_id=flag.flag_id,
        flag_version=flag.version,
    )
    error = ERRORS_WHILE_COMPUTING if reply.errors_while_computing else None
    return Resolved(
        result,
        error,
        reply.request_id,
        reply.evaluated_at,
        attribution=flag.attribution,
        has_experiment=flag.has_experiment,
        minimal_events=reply.minimal_events,
    )


def _missing(key: str, before: FlagResult, reply: RemoteAnswer) -> Resolved:
    if before.reason in (Reason.FLAG_NOT_FOUND, Reason.NOT_READY):
        result = FlagResult(
            key, None, Reason.FLAG_NOT_FOUND, description="no flag with this key, here or on /flags"
        )
    else:
        result = _error_result(
            key, f"{FLAG_MISSING}: /flags did not return this flag (inactive or deleted there?)"
        )
    return Resolved(result, _join(FLAG_MISSING, reply), reply.request_id, reply.evaluated_at)


def _join(error: str, reply: RemoteAnswer) -> str:
    return f"{ERRORS_WHILE_COMPUTING},{error}" if reply.errors_while_computing else error


def _error_result(key: str, description: str, flag: RemoteFlag | None = None) -> FlagResult:
    return FlagResult(
        key,
        None,
        Reason.REMOTE_ERROR,
        description=description,
        flag_id=None if flag is None else flag.flag_id,
        flag_version=None if flag is None else flag.version,
    )


def needs_remote(result: FlagResult) -> bool:
    """True for results a remote lookup may decide: no value, and not a caller mistake."""
    return result.value is None and result.reason is not Reason.INVALID_INPUT


# -- shared by the drivers ----------------------------------------------------------------


class RemoteCore:
    """Everything a ``/flags`` driver needs except the I/O: the request bytes, the meaning of
    a response or an exception, the retry decision, counters and logging. Shared by the
    thread driver (:class:`RemoteFallback`) and the asyncio one
    (``flagkit._remote.async_fallback``).
    """

    def __init__(
        self,
        token: str,
        *,
        timeout: float = DEFAULT_REMOTE_TIMEOUT,
        secrets: Iterable[str | None] = (),
        on_request: Callable[[bool], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        guard: RemoteGuard | None = None,
    ) -> None:
        self.timeout = timeout
        self.monotonic = monotonic
        self.guard = guard or RemoteGuard(monotonic=monotonic)
        self._token = token
        self._secrets = (*secrets, token)
        self._on_request = on_request
        self._failing = False

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
            key: Resolved(_error_result(key, hold.text), hold.error)
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
        if isinstance(exc, TooLargeError):
            return RemoteFailure(INVALID_RESPONSE, "/flags answer is too large")
        return self._failure(UNKNOWN_ERROR, exc, retryable=False)  # a closed pool, a bug

    def body_overdue(self, size: int, deadline: float) -> bool:
        """Check a body being read: raises :class:`TooLargeError` past
        :data:`MAX_RESPONSE_BYTES`; True once ``deadline`` passed (stop reading)."""
        if size > MAX_RESPONSE_BYTES:
            raise TooLargeError
        # A slow trickle must not hold the caller past the deadline.
        return self.monotonic() > deadline

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


# -- synchronous driver ------------------------------------------------------------------


class RemoteFallback(RemoteCore):
    """Asks ``/flags`` for undecided flags over a shared ``httpx.Client``. Never raises.

    ``http`` returns the client to use (``None`` once closed). The whole lookup, retry
    included, ends within ``timeout`` seconds. ``on_request(failed)`` is called once per
    lookup, for counters.
    """

    def __init__(
        self,
        http: Callable[[], httpx.Client | None],
        token: str,
        *,
        timeout: float = DEFAULT_REMOTE_TIMEOUT,
        secrets: Iterable[str | None] = (),
        on_request: Callable[[bool], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        guard: RemoteGuard | None = None,
    ) -> None:
        super().__init__(
            token,
            timeout=timeout,
            secrets=secrets,
            on_request=on_request,
            monotonic=monotonic,
            guard=guard,
        )
        self._http = http
        self._sleep = sleep

    def resolve(
        self,
        undecided: Mapping[str, FlagResult] | None,
        distinct_id: Any,
        *,
        person_properties: Mapping[str, Any] | None = None,
        groups: Mapping[str, Any] | None = None,
        group_properties: Mapping[str, Any] | None = None,
        device_id: Any = None,
        geoip_disable: bool = True,
        served: Served | None = None,
    ) -> dict[str, Resolved]:
        """One ``/flags`` request for the keys of ``undecided`` (every flag when ``None``),
        unless the guard holds them back; ``served`` identifies the client's definitions."""
        gate = self.admit(undecided, served)
        if gate.ticket is None:
            return gate.held
        try:
            try:
                data = self.request_data(
                    gate.asked,
                    distinct_id,
                    person_properties=person_properties,
                    groups=groups,
                    group_properties=group_properties,
                    device_id=device_id,
                    geoip_disable=geoip_disable,
                )
                reply, sent = self.ask(data), True
            except Exception as exc:  # bad caller data or a bug: the caller still gets an answer
                reply, sent = self.unsent(exc), False
            return self.conclude(gate, reply, sent=sent)
        finally:
            self.release(gate)

    def ask(self, data: bytes) -> RemoteReply:
        """POST ``data`` (a JSON body) to ``/flags``, retrying once on 502/504 or a transport
        error."""
        deadline = self.monotonic() + self.timeout
        failures = 0
        while True:
            reply = self._post(data, deadline)
            if isinstance(reply, RemoteAnswer):
                return reply
            failures += 1
            delay = self.retry_wait(reply, failures, deadline)
            if delay is None:
                return reply
            self._sleep(delay)

    def _post(self, data: bytes, deadline: float) -> RemoteReply:
        remaining = deadline - self.monotonic()
        if remaining <= 0:
            return self.timed_out()
        http = self._http()
        if http is None:
            return self.closed()
        try:
            with http.stream(
                "POST",
                FLAGS_PATH,
                content=data,
                headers={"Content-Type": "application/json"},
                timeout=httpx.Timeout(remaining),
            ) as response:
                buffer = bytearray()
                for chunk in response.iter_bytes():
                    buffer += chunk
                    if self.body_overdue(len(buffer), deadline):
                        return self.timed_out(partial=True)
                return self.response_reply(response.status_code, bytes(buffer))
        except Exception as exc:
            return self.exception_reply(exc)


class TooLargeError(Exception):
    """The response body passed MAX_RESPONSE_BYTES."""
