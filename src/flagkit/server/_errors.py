"""PostHog-shaped API errors raised by the local server's handlers and Python API."""

from __future__ import annotations

from typing import Any

from flagkit.errors import FlagkitError


class LocalServerError(FlagkitError):
    """An error answer of the local server, in PostHog's ``{"type","code","detail","attr"}`` shape.

    Handlers raise it and the HTTP layer turns it into a response. The Python API of
    :class:`~flagkit.server.LocalServer` raises it too (for example a duplicate flag key gives
    ``status == 400`` and ``code == "unique"``).
    """

    def __init__(
        self,
        status: int,
        type_: str,
        code: str,
        detail: str,
        attr: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        body: Any = None,
        raw_body: bytes | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.type = type_
        self.code = code
        self.detail = detail
        self.attr = attr
        self.headers = dict(headers or {})
        # ``body`` replaces the standard error object; ``raw_body`` replaces the whole payload.
        self._body = body
        self.raw_body = raw_body

    def body(self) -> Any:
        """The JSON object sent to the client."""
        if self._body is not None:
            return self._body
        return {"type": self.type, "code": self.code, "detail": self.detail, "attr": self.attr}


def validation_error(
    detail: str, attr: str | None = None, code: str = "invalid_input"
) -> LocalServerError:
    """A 400 ``validation_error`` (DRF's generic ``invalid`` code is spelled ``invalid_input``)."""
    return LocalServerError(400, "validation_error", code, detail, attr)


def not_found(detail: str = "Not found.") -> LocalServerError:
    """A 404 ``invalid_request``/``not_found``."""
    return LocalServerError(404, "invalid_request", "not_found", detail)


def parse_error(detail: str) -> LocalServerError:
    """A 400 for a body that cannot be parsed."""
    return LocalServerError(400, "invalid_request", "parse_error", detail)


def not_authenticated(
    detail: str = "Authentication credentials were not provided.",
) -> LocalServerError:
    """A 401 for a request without credentials."""
    return _unauthorized("not_authenticated", detail)


def authentication_failed(detail: str) -> LocalServerError:
    """A 401 for credentials that are not valid."""
    return _unauthorized("authentication_failed", detail)


def _unauthorized(code: str, detail: str) -> LocalServerError:
    headers = {"WWW-Authenticate": "Bearer"}
    return LocalServerError(401, "authentication_error", code, detail, headers=headers)


def permission_denied(detail: str) -> LocalServerError:
    """A 403; PostHog reports permission problems with ``type`` ``authentication_error``."""
    return LocalServerError(403, "authentication_error", "permission_denied", detail)


def method_not_allowed(method: str) -> LocalServerError:
    """A 405 in DRF's words."""
    return LocalServerError(
        405, "invalid_request", "method_not_allowed", f'Method "{method}" not allowed.'
    )


def server_error() -> LocalServerError:
    """The 500 answer for an unexpected handler failure (details go to the log only)."""
    return LocalServerError(500, "server_error", "error", "A server error occurred.")
