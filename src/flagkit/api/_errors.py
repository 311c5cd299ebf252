"""Typed exceptions of the admin API.

Every HTTP failure becomes one :class:`ApiError` subclass chosen by status code, carrying
PostHog's error fields (``code``, ``detail``, ``attr``) and a message that says what to do
next. Messages name the method and path (never the query string, which may hold a token)
and are passed through redaction, so API keys never appear in them.
"""

from __future__ import annotations

from flagkit.errors import FlagkitError


class ApiError(FlagkitError):
    """A request to the PostHog API failed.

    ``status`` is the HTTP status (``None`` when no response arrived or the check ran
    before sending), ``code``/``detail``/``attr`` are PostHog's error fields when the body
    had them, ``method`` and ``path`` say which call failed.
    """

    #: One sentence telling the reader how to fix the problem.
    hint = "Check the request and try again."
    #: What went wrong, in a few words: the message's opening.
    _heading = "PostHog API request failed"

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        code: str | None = None,
        attr: str | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        self.detail = detail
        self.status = status
        # PostHog's error fields, then the call that failed (never its query string).
        self.code, self.attr = code, attr
        self.method, self.path = method, path
        super().__init__(self._render())

    def _render(self) -> str:
        where = f" ({self.method} {self.path})" if self.method and self.path else ""
        status = f"HTTP {self.status}" if self.status is not None else "not sent"
        field = f"{self.attr}: " if self.attr else ""
        detail = self.detail.rstrip(".") or "no detail given"
        return f"{self._title()} [{status}]{where}: {field}{detail}. {self._hint()}"

    def _title(self) -> str:
        return self._heading

    def _hint(self) -> str:
        return self.hint

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"attr={self.attr!r}, detail={self.detail!r})"
        )


class AuthenticationError(ApiError):
    """401: the credentials are missing or not valid for this host."""

    hint = (
        "Check the personal API key (POSTHOG_PERSONAL_API_KEY or --personal-api-key) "
        "and that it was created on this host."
    )
    _heading = "Authentication failed"


class PermissionDenied(ApiError):  # noqa: N818
    """403: the key is valid but may not do this (scope, project or role)."""

    hint = (
        "Give the personal API key the needed scope (feature_flag:read / feature_flag:write) "
        "and access to this project, or use another key."
    )
    _heading = "Permission denied"


class NotFound(ApiError):  # noqa: N818
    """404: no such flag, person, role access or project."""

    hint = "Check the id or key, and the project id (POSTHOG_PROJECT_ID or --project-id)."
    _heading = "Not found"


class ValidationError(ApiError):
    """400: PostHog (or the check done before sending) rejected a field.

    ``attr`` names the field (``None`` for whole-request errors) and ``detail`` is
    PostHog's message, e.g. ``attr="key"``, ``detail="There is already a feature flag with
    this key."``.
    """

    hint = "Fix the value and send it again."

    def _title(self) -> str:
        if self.status is None:
            return "Invalid request (checked before sending)"
        return "PostHog rejected the request"


class RateLimited(ApiError):  # noqa: N818
    """429: too many requests. ``retry_after`` is the wait PostHog asked for, in seconds."""

    _heading = "Rate limited"

    def __init__(
        self,
        detail: str,
        *,
        retry_after: float | None = None,
        status: int | None = 429,
        **fields: str | None,
    ) -> None:
        """``fields``: ``code``, ``attr``, ``method`` and ``path``, as :class:`ApiError`."""
        self.retry_after = retry_after
        super().__init__(detail, status=status, **fields)

    def _hint(self) -> str:
        if self.retry_after is not None:
            return f"Wait {self.retry_after:g} s before retrying, or lower the request rate."
        return "Wait a little before retrying, or lower the request rate."


class ServerError(ApiError):
    """5xx: PostHog failed; GET requests were already retried."""

    hint = "This is a server-side problem; try again later or check the host's status page."
    _heading = "PostHog server error"


class InvalidResponseError(ApiError):
    """A successful status whose body is not the JSON the endpoint returns."""

    hint = "Check that the host is a PostHog instance (POSTHOG_HOST or --host)."
    _heading = "Unexpected response"


class ApiConnectionError(ApiError):
    """No response: DNS, connection refused, TLS failure, timeout or a dropped connection."""

    hint = "Check the host (POSTHOG_HOST or --host) and the network, then try again."
    _heading = "Could not reach PostHog"


class ConfigurationError(FlagkitError, ValueError):
    """The API cannot be used as configured (e.g. no host or no personal API key)."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFound,
    422: ValidationError,
}


def error_class(status: int) -> type[ApiError]:
    """The class of the error an HTTP ``status`` (4xx or 5xx) answer raises."""
    known = _BY_STATUS.get(status)
    if known is not None:
        return known
    return ServerError if status >= 500 else ApiError


__all__ = [
    "ApiConnectionError",
    "ApiError",
    "AuthenticationError",
    "ConfigurationError",
    "InvalidResponseError",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
    "ServerError",
    "ValidationError",
]
