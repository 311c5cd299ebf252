"""One HTTP request for flag definitions, turned into a typed outcome.

Nothing here raises for network or server trouble: every failure becomes a
:class:`FetchFailed` whose message is safe to log (keys redacted). Parsing the body is not
this module's job; the caller compiles it. :class:`FetchCore` holds everything but the I/O,
so the thread driver here and the asyncio driver (``flagkit._sources.async_fetch``) behave alike.
"""

from __future__ import annotations

import contextlib
import enum
import threading
from collections.abc import Callable, Sequence
from urllib.parse import quote

import attrs
import httpx

from flagkit._net.abort import SocketAborter
from flagkit._net.backoff import parse_retry_after
from flagkit._net.http import error_detail, redact

DEFAULT_MAX_BODY_BYTES = 128 * 1024 * 1024
ERROR_BODY_LIMIT = 4096  # bytes of an error body read for its detail

# The three places PostHog has served local-evaluation definitions from.
DEFINITIONS_PATH = "/flags/definitions"
LEGACY_PATH = "/api/feature_flag/local_evaluation/"
PROJECT_PATH = "/api/projects/{project_id}/feature_flags/local_evaluation/"


class FailureKind(str, enum.Enum):
    """Why a definitions request did not produce a body."""

    TIMEOUT = "timeout"
    CONNECTION = "connection"
    HTTP_STATUS = "http_status"
    UNAUTHORIZED = "unauthorized"
    QUOTA_LIMITED = "quota_limited"
    RATE_LIMITED = "rate_limited"
    TOO_LARGE = "too_large"
    INVALID_BODY = "invalid_body"
    ABORTED = "aborted"


@attrs.frozen(slots=True)
class Fetched:
    """A 200 with a complete body."""

    body: bytes
    etag: str | None


@attrs.frozen(slots=True)
class NotModified:
    """A 304: the definitions behind ``etag`` are still current."""

    etag: str | None


@attrs.frozen(slots=True)
class FetchFailed:
    """No usable answer. ``retry_after`` is the server's ``Retry-After`` in seconds, if any."""

    kind: FailureKind
    message: str
    status: int | None = None
    retry_after: float | None = None


FetchOutcome = Fetched | NotModified | FetchFailed


def definitions_url(path: str, *, project_api_key: str | None, project_id: str | None) -> str:
    """The request target (path and query) for one of the definitions endpoints."""
    if "{project_id}" in path:
        if not project_id:
            raise ValueError(f"definitions_path {path!r} needs project_id=")
        path = path.replace("{project_id}", quote(str(project_id), safe=""))
        # The project is named by the path; a token would override it, so send none.
        return f"{path}?send_cohorts"
    if not project_api_key:
        raise ValueError("project_api_key is required to fetch definitions")
    return f"{path}?token={quote(project_api_key, safe='')}&send_cohorts"


class FetchCore:
    """The I/O-free half of a definitions request, shared by the thread and asyncio drivers.

    It builds the request headers and turns what the driver read (status, headers, bytes,
    or the exception raised) into a :class:`FetchOutcome` with a log-safe message. A driver
    only moves bytes: see :class:`DefinitionsFetcher` and ``flagkit._sources.async_fetch``.
    """

    def __init__(
        self,
        target: str,
        *,
        auth_key: str,
        secrets: Sequence[str | None],
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        clock: Callable[[], float],
    ) -> None:
        self.target = target
        self.max_body_bytes = max_body_bytes
        self._auth_header = f"Bearer {auth_key}"
        self._secrets = tuple(secrets)
        self._clock = clock
        self._label = target.split("?", 1)[0]

    def request_headers(self, etag: str | None) -> dict[str, str]:
        """Authorization, plus ``If-None-Match`` when there is an ETag."""
        headers = {"Authorization": self._auth_header}
        if etag:
            headers["If-None-Match"] = etag
        return headers

    def decide_early(self, response: httpx.Response, etag: str | None) -> FetchOutcome | None:
        """What the status and headers alone decide (a 304; a 200 declaring an oversized
        body), or ``None``: read the body (a 200) or up to :data:`ERROR_BODY_LIMIT` bytes of
        it (any other status) and call :meth:`body_outcome` / :meth:`status_outcome`."""
        status = response.status_code
        if status == 304:
            return NotModified(etag=_etag_of(response) or etag)
        if status == 200:
            declared = response.headers.get("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
                return self.too_large(int(declared))
        return None

    def too_large(self, size: int) -> FetchFailed:
        """The failure for a body of at least ``size`` bytes, over ``max_body_bytes``."""
        return self._failed(
            FailureKind.TOO_LARGE,
            f"definitions body of at least {size} bytes exceeds max_body_bytes="
            f"{self.max_body_bytes}",
            status=200,
        )

    def deadline_exceeded(self, seconds: float) -> FetchFailed:
        """The failure for a request that was still running when its deadline passed."""
        return self._failed(
            FailureKind.TIMEOUT, f"request timed out (not complete within {seconds:g} s)"
        )

    def aborted(self) -> FetchFailed:
        """The failure for a download stopped because the client is closing."""
        return self._failed(FailureKind.ABORTED, "download aborted: client closing")

    def body_outcome(self, response: httpx.Response, body: bytes) -> Fetched:
        """A complete 200 body."""
        return Fetched(body=body, etag=_etag_of(response))

    def status_outcome(self, response: httpx.Response, raw: bytes) -> FetchFailed:
        """A status other than 200/304; ``raw`` is the start of its body (for the detail)."""
        status = response.status_code
        detail = error_detail(raw)
        message = f"HTTP {status} from {self._label}" + (f": {detail}" if detail else "")
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now=self._clock())
        kind = _kind_for_status(status)
        return self._failed(kind, message, status=status, retry_after=retry_after)

    def exception_outcome(self, exc: Exception) -> FetchFailed:
        """The failure for an exception raised while sending or reading."""
        if isinstance(exc, httpx.TimeoutException):
            return self._failed(FailureKind.TIMEOUT, f"request timed out ({_describe(exc)})")
        if isinstance(exc, httpx.HTTPError):
            return self._failed(FailureKind.CONNECTION, f"connection failed ({_describe(exc)})")
        # A bug or an exotic transport error must not kill the poller.
        return self._failed(FailureKind.CONNECTION, f"request failed ({_describe(exc)})")

    def _failed(
        self,
        kind: FailureKind,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> FetchFailed:
        return FetchFailed(
            kind=kind,
            message=redact(message, self._secrets),
            status=status,
            retry_after=retry_after,
        )


class DefinitionsFetcher:
    """Performs definitions requests on a shared ``httpx.Client`` (the thread driver of
    :class:`FetchCore`).

    ``deadline`` bounds a whole request (connect, headers and the full body): httpx's
    timeouts bound each read, so a server dripping a byte at a time could otherwise hold a
    request open forever. At the deadline a timer shuts the request's sockets down through
    ``aborter``, which fails the blocked read at once. ``should_abort`` is checked between
    body chunks, and ``aborter.abort()`` from ``close()`` cuts a request short the same way.
    """

    def __init__(
        self,
        http: httpx.Client,
        target: str,
        *,
        auth_key: str,
        secrets: Sequence[str | None],
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        clock: Callable[[], float],
        should_abort: Callable[[], bool] = lambda: False,
        deadline: float | None = None,
        aborter: SocketAborter | None = None,
    ) -> None:
        self._http = http
        self._deadline = deadline
        self._aborter = aborter or SocketAborter()
        self._core = FetchCore(
            target, auth_key=auth_key, secrets=secrets, max_body_bytes=max_body_bytes, clock=clock
        )
        self._should_abort = should_abort

    def fetch(self, etag: str | None) -> FetchOutcome:
        """Request the definitions, conditionally on ``etag``. Never raises."""
        core = self._core
        expired = threading.Event()
        timer = None
        if self._deadline is not None:
            timer = threading.Timer(self._deadline, self._expire, (expired,))
            timer.daemon = True
            timer.start()
        try:
            headers = core.request_headers(etag)
            with self._http.stream(
                "GET", core.target, headers=headers, extensions=self._aborter.extensions
            ) as response:
                early = core.decide_early(response, etag)
                if early is not None:
                    return early
                if response.status_code != 200:
                    return core.status_outcome(response, self._error_start(response))
                return self._read_body(response)
        except Exception as exc:
            if expired.is_set():
                return core.deadline_exceeded(self._deadline or 0.0)
            if self._should_abort():
                return core.aborted()
            return core.exception_outcome(exc)
        finally:
            if timer is not None:
                timer.cancel()

    def _expire(self, expired: threading.Event) -> None:
        expired.set()
        self._aborter.cut()  # the blocked read fails now

    def _read_body(self, response: httpx.Response) -> FetchOutcome:
        core = self._core
        buffer = bytearray()
        for chunk in response.iter_bytes():
            buffer += chunk
            if len(buffer) > core.max_body_bytes:
                return core.too_large(len(buffer))
            if self._should_abort():
                return core.aborted()
        return core.body_outcome(response, bytes(buffer))

    @staticmethod
    def _error_start(response: httpx.Response) -> bytes:
        with contextlib.suppress(httpx.HTTPError):  # the status alone is enough to act on
            for chunk in response.iter_bytes(ERROR_BODY_LIMIT):
                return chunk  # chunks of that size: the first is all that is read
        return b""


def _kind_for_status(status: int) -> FailureKind:
    if status in (401, 403):
        return FailureKind.UNAUTHORIZED
    if status == 402:
        return FailureKind.QUOTA_LIMITED
    if status == 429:
        return FailureKind.RATE_LIMITED
    return FailureKind.HTTP_STATUS


def _etag_of(response: httpx.Response) -> str | None:
    value = response.headers.get("ETag")
    if value is None:
        return None
    return value.strip() or None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {text}" if text else name
