"""One request/retry/error implementation shared by the sync and async API.

The decisions live in a pure core: a :class:`RequestPlan` says what to send; after each
attempt, :meth:`TransportCore.step` turns what happened (a response or a transport error)
into "sleep this long and try again", "done, here is the decoded JSON", or an
:class:`ApiError` raised. The sync and async drivers only do the I/O and the sleeping.

Retry rules: reads (GET/HEAD) are retried on connection failures, 429 and 5xx, with
exponential backoff that honours ``Retry-After``. Writes are only retried when the request
certainly had no effect: a 429 (throttled requests are refused before any work) or a
connection that was never established.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

import anyio
import attrs
import httpx

from flagkit._net.http import redact
from flagkit.api._errors import (
    ApiConnectionError,
    ApiError,
    InvalidResponseError,
    RateLimited,
    error_class,
)

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
_READS = frozenset({"GET", "HEAD", "OPTIONS"})
_THROTTLE_SECONDS = re.compile(r"available in (\d+(?:\.\d+)?) second")
_MAX_TEXT = 300


@attrs.frozen
class RequestPlan:
    """What to send: method, path (relative to the host), query and optional JSON body."""

    method: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    body: Any = None
    has_body: bool = False
    # Error statuses answered with their ApiError (for the caller to decide) instead of
    # raised: a legacy server's 405 to a soft delete.
    answer_statuses: frozenset[int] = frozenset()

    @property
    def is_read(self) -> bool:
        """Reads are safe to repeat."""
        return self.method.upper() in _READS


@attrs.frozen
class RetryPolicy:
    """How hard to try: attempts, backoff and the longest ``Retry-After`` worth waiting."""

    max_retries: int = 3
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 60.0

    def delay(self, attempt: int) -> float:
        """Backoff before retry number ``attempt + 1`` (0-based attempt)."""
        return float(min(self.max_backoff, self.backoff * (2**attempt)))


@attrs.frozen
class Received:
    """A response arrived."""

    status: int
    headers: Mapping[str, str]
    content: bytes


@attrs.frozen
class NotReceived:
    """No response: ``sent`` is False when the request surely never reached the server."""

    error: Exception
    sent: bool


@attrs.frozen
class Sleep:
    """Wait ``seconds``, then send the same plan again."""

    seconds: float


@attrs.frozen
class Done:
    """Success: ``value`` is the decoded JSON body, or ``None`` when the body was empty."""

    value: Any


Outcome = Received | NotReceived


def classify_exception(exc: Exception) -> NotReceived:
    """Wrap an httpx exception, noting whether the request may have reached the server."""
    never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    return NotReceived(error=exc, sent=not never_sent)


def _text(content: bytes) -> str:
    text = content.decode("utf-8", "replace").strip()
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "..."


def parse_error_body(status: int, content: bytes) -> tuple[str, str | None, str | None]:
    """``(detail, code, attr)`` from an error body: PostHog JSON, DRF JSON, or plain text."""
    try:
        data: Any = json.loads(content) if content.strip() else None
    except ValueError:
        data = None
    if isinstance(data, dict):
        if data.get("type") == "multiple" and isinstance(data.get("list"), list) and data["list"]:
            first = data["list"][0]
            data = first if isinstance(first, dict) else data
        detail = data.get("detail")
        if isinstance(detail, str):
            attr = data.get("attr")
            code = data.get("code")
            return (
                detail,
                code if isinstance(code, str) else None,
                attr if isinstance(attr, str) else None,
            )
        # Plain DRF field errors: {"field": ["message", ...]}.
        for field, messages in data.items():
            if isinstance(messages, list) and messages and isinstance(messages[0], str):
                return messages[0], None, str(field)
        for key in ("error", "message"):
            if isinstance(data.get(key), str):
                return str(data[key]), None, None
    text = _text(content)
    if text and data is None:
        return text, None, None
    return httpx.codes.get_reason_phrase(status) or f"HTTP {status}", None, None


def parse_retry_after(headers: Mapping[str, str], detail: str = "") -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or HTTP date), else from DRF's text."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value:
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
    match = _THROTTLE_SECONDS.search(detail)
    return float(match.group(1)) if match else None


def error_from_response(
    plan: RequestPlan, received: Received, secrets: Iterable[str | None] = ()
) -> ApiError:
    """The typed exception for an error response, with keys redacted from its text."""
    secrets = tuple(secrets)
    detail, code, attr = parse_error_body(received.status, received.content)
    detail = redact(detail, secrets)
    where = {"method": plan.method.upper(), "path": redact(plan.path, secrets)}
    status = received.status
    if status == 429:
        retry_after = parse_retry_after(received.headers, detail)
        return RateLimited(
            detail, retry_after=retry_after, status=status, code=code, attr=attr, **where
        )
    return error_class(status)(detail, status=status, code=code, attr=attr, **where)


class TransportCore:
    """The pure decision logic: given one attempt's outcome, what happens next."""

    def __init__(self, policy: RetryPolicy, secrets: Iterable[str | None] = ()) -> None:
        self.policy = policy
        self._secrets = tuple(s for s in secrets if s)

    def redact(self, text: str) -> str:
        """``text`` without any of the configured keys."""
        return redact(text, self._secrets)

    def step(self, plan: RequestPlan, attempt: int, outcome: Outcome) -> Sleep | Done:
        """Decide after attempt number ``attempt`` (0-based). Raises :class:`ApiError`."""
        can_retry = attempt < self.policy.max_retries
        if isinstance(outcome, NotReceived):
            exc = outcome.error
            failure = ApiConnectionError(
                self.redact(f"{type(exc).__name__}: {exc}".rstrip(": ")),
                method=plan.method.upper(),
                path=self.redact(plan.path),
            )
            if can_retry and (plan.is_read or not outcome.sent):
                return Sleep(self.policy.delay(attempt))
            raise failure from None
        if 200 <= outcome.status < 300:
            return Done(self._decode(plan, outcome))
        error = error_from_response(plan, outcome, self._secrets)
        if outcome.status in plan.answer_statuses:
            return Done(error)
        retryable = outcome.status in RETRYABLE_STATUSES and (plan.is_read or outcome.status == 429)
        if not (can_retry and retryable):
            raise error
        wait = self.policy.delay(attempt)
        if isinstance(error, RateLimited) and error.retry_after is not None:
            if error.retry_after > self.policy.max_retry_after:
                raise error
            wait = error.retry_after
        return Sleep(wait)

    def _decode(self, plan: RequestPlan, received: Received) -> Any:
        if not received.content.strip():
            return None
        try:
            return json.loads(received.content)
        except ValueError:
            raise InvalidResponseError(
                f"the body is not JSON ({self.redact(_text(received.content))!r})",
                status=received.status,
                method=plan.method.upper(),
                path=self.redact(plan.path),
            ) from None


def received(response: httpx.Response) -> Received:
    """What arrived, as the core reads it."""
    return Received(response.status_code, response.headers, response.content)


class _Driver:
    """What both transports share: the client's headers turned into request arguments."""

    _headers: dict[str, str]

    def _kwargs(self, plan: RequestPlan) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"headers": dict(self._headers)}
        if plan.params:
            kwargs["params"] = list(plan.params)
        if plan.has_body:
            kwargs["json"] = plan.body
        return kwargs


class SyncTransport(_Driver):
    """Sends plans with an ``httpx.Client``, sleeping between retries."""

    def __init__(
        self,
        client: httpx.Client,
        core: TransportCore,
        headers: Mapping[str, str],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.core = core
        self._headers = dict(headers)
        self._sleep = sleep

    def send(self, plan: RequestPlan) -> Any:
        """Send ``plan`` (retrying as the core decides) and return the decoded JSON."""
        attempt = 0
        while isinstance(step := self.core.step(plan, attempt, self._attempt(plan)), Sleep):
            self._sleep(step.seconds)
            attempt += 1
        return step.value

    def _attempt(self, plan: RequestPlan) -> Outcome:
        try:
            response = self.client.request(plan.method, plan.path, **self._kwargs(plan))
        except httpx.TransportError as exc:
            return classify_exception(exc)
        return received(response)


class AsyncTransport(_Driver):
    """Sends plans with an ``httpx.AsyncClient``, sleeping between retries."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        core: TransportCore,
        headers: Mapping[str, str],
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.client = client
        self.core = core
        self._headers = dict(headers)
        self._sleep = sleep

    async def send(self, plan: RequestPlan) -> Any:
        """Send ``plan`` (retrying as the core decides) and return the decoded JSON."""
        attempt = 0
        while isinstance(step := self.core.step(plan, attempt, await self._attempt(plan)), Sleep):
            await self._sleep(step.seconds)
            attempt += 1
        return step.value

    async def _attempt(self, plan: RequestPlan) -> Outcome:
        try:
            response = await self.client.request(plan.method, plan.path, **self._kwargs(plan))
        except httpx.TransportError as exc:
            return classify_exception(exc)
        return received(response)


__all__ = [
    "AsyncTransport",
    "Done",
    "NotReceived",
    "Received",
    "RequestPlan",
    "RetryPolicy",
    "Sleep",
    "SyncTransport",
    "TransportCore",
    "classify_exception",
    "error_from_response",
    "parse_error_body",
    "parse_retry_after",
]
