"""The application object shared by all handlers: storage, guards, throttles, pagination."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from flagkit.server._accounts import Project, User, default_user
from flagkit.server._auth import Principal, authenticate, authorize, resolve_project
from flagkit.server._definitions import definitions_body, encode_body
from flagkit.server._errors import LocalServerError, not_found, validation_error
from flagkit.server._evaluation import Compiled, EvaluationCache
from flagkit.server._faults import Faults
from flagkit.server._http import Request, Router
from flagkit.server._ratelimit import RateLimiter
from flagkit.server._storage import Storage

DEFAULT_PAGE_SIZE = 100
_CREDENTIAL_FIELDS = ("personal_api_key", "secret_api_key", "project_secret_api_key")


class App:
    """Everything a request handler needs."""

    def __init__(
        self,
        storage: Storage,
        *,
        rate_limits: Mapping[str, str | None] | None = None,
        include_inactive_in_definitions: bool = True,
    ) -> None:
        self.storage = storage
        self.faults = Faults()
        self.limiter = RateLimiter(rate_limits)
        self.include_inactive = include_inactive_in_definitions
        self.evaluations = EvaluationCache()
        self.router = Router()
        self._definitions: dict[tuple[int, bool], tuple[Any, bytes, str]] = {}
        self._definitions_lock = threading.Lock()

    # -- auth ---------------------------------------------------------------------------------

    def guard(
        self,
        request: Request,
        project_ref: str | None,
        scope: str | None,
        *,
        body: Mapping[str, Any] | None = None,
        secret_ok: bool = False,
        throttle: str = "api",
    ) -> tuple[Principal, Project]:
        """Authenticate, resolve the project, check permission, then throttle."""
        with self.storage.read() as conn:
            principal = authenticate(conn, request, body, allow_secret=secret_ok)
            project = resolve_project(conn, request, project_ref, principal)
            authorize(principal, project, scope, secret_ok=secret_ok)
        if throttle == "api" and principal.kind == "personal":
            self.throttle("burst", principal.identity)
            self.throttle("sustained", principal.identity)
        elif throttle in ("local_evaluation", "definitions"):
            self.throttle("local_evaluation", str(project.id), rust_style=throttle == "definitions")
        return principal, project

    def throttle(self, scope: str, identity: str, *, rust_style: bool = False) -> None:
        """Raise PostHog's 429 (with ``Retry-After``) when ``scope`` is exhausted."""
        wait = self.limiter.hit(scope, identity)
        if wait is None:
            return
        headers = {"Retry-After": str(wait)}
        if rust_style:
            raise LocalServerError(
                429,
                "validation_error",
                "rate_limit_exceeded",
                "Rate limit exceeded",
                headers=headers,
            )
        unit = "second" if wait == 1 else "seconds"
        raise LocalServerError(
            429,
            "throttled_error",
            "throttled",
            f"Request was throttled. Expected available in {wait} {unit}.",
            headers=headers,
        )

    @staticmethod
    def strip_credentials(body: Mapping[str, Any]) -> dict[str, Any]:
        """The body without key fields (they authenticate, they are not flag fields)."""
        return {key: value for key, value in body.items() if key not in _CREDENTIAL_FIELDS}

    def user(self) -> User:
        """The local user that owns every key."""
        with self.storage.read() as conn:
            return default_user(conn)

    # -- pagination ---------------------------------------------------------------------------

    @staticmethod
    def limit_offset(request: Request) -> tuple[int, int]:
        """DRF's LimitOffsetPagination inputs: bad values fall back to the defaults."""
        limit = _positive_int(request.arg("limit"), DEFAULT_PAGE_SIZE, strict=True)
        offset = _positive_int(request.arg("offset"), 0, strict=False)
        return limit, offset

    @staticmethod
    def page(
        request: Request, count: int, results: list[Any], limit: int, offset: int
    ) -> dict[str, Any]:
        """``{"count", "next", "previous", "results"}`` with absolute links."""
        next_url = None
        if offset + limit < count:
            next_url = request.url_with(limit=limit, offset=offset + limit)
        previous = None
        if offset > 0:
            previous_offset = max(0, offset - limit)
            previous = request.url_with(
                limit=limit, offset=previous_offset if previous_offset else None
            )
        return {"count": count, "next": next_url, "previous": previous, "results": results}

    @staticmethod
    def flag_id(request: Request, name: str = "flag_id") -> int:
        """A numeric id from the path, or 404."""
        value = request.params.get(name) or ""
        if not value.isdigit():
            raise not_found()
        return int(value)

    @staticmethod
    def int_arg(request: Request, name: str, default: int) -> int:
        """A query integer >= 1, or a 400 like PostHog's 2025 activity endpoints."""
        text = request.arg(name)
        if text is None or text == "":
            return default
        try:
            value = int(text)
        except ValueError:
            raise validation_error("A valid integer is required.", name) from None
        if value < 1:
            raise validation_error(
                "Ensure this value is greater than or equal to 1.", name, "min_value"
            )
        return value

    # -- derived data ---------------------------------------------------------------------

    def definitions(self, project_id: int, send_cohorts: bool) -> tuple[bytes, str]:
        """The encoded definitions body and its ETag, cached per database revision."""
        revision = self.storage.revision
        key = (project_id, send_cohorts)
        with self._definitions_lock:
            cached = self._definitions.get(key)
            if cached is not None and cached[0] == revision:
                return cached[1], cached[2]
        with self.storage.read() as conn:
            body = definitions_body(
                conn,
                project_id,
                send_cohorts=send_cohorts,
                include_inactive=self.include_inactive,
            )
        data, etag = encode_body(body)
        with self._definitions_lock:
            self._definitions[key] = (revision, data, etag)
        return data, etag

    def compiled(self, project_id: int) -> Compiled:
        """Compiled definitions for server-side evaluation."""
        revision = self.storage.revision
        with self.storage.read() as conn:
            return self.evaluations.get(conn, project_id, revision)


def _positive_int(text: str | None, default: int, *, strict: bool) -> int:
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        return default
    if value < 0 or (strict and value == 0):
        return default
    return value
