"""Who is calling: personal API keys, project secret keys and project tokens, with scopes."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Mapping
from typing import Any

import attrs

from flagkit.server import _accounts
from flagkit.server._accounts import ApiKey, Project, User
from flagkit.server._errors import (
    LocalServerError,
    authentication_failed,
    not_authenticated,
    not_found,
    permission_denied,
)
from flagkit.server._http import Request

_BEARER = re.compile(r"^Bearer\s+(\S.+)$", re.IGNORECASE)
_SECRET_BEARER = re.compile(r"^Bearer\s+(phs_[a-zA-Z0-9]+)$", re.IGNORECASE)


@attrs.frozen(slots=True, repr=False)
class Principal:
    """An authenticated caller: a personal API key's user, or a project secret key."""

    kind: str  # "personal" | "secret"
    user: User
    key: ApiKey | None = None
    secret_project: Project | None = None
    identity: str = ""  # a hash, used as the rate-limit identity

    def __repr__(self) -> str:
        return f"Principal(kind={self.kind!r})"


def _identity(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:24]


def authenticate(
    conn: sqlite3.Connection,
    request: Request,
    body: Mapping[str, Any] | None,
    *,
    allow_secret: bool,
) -> Principal:
    """Find the caller's credentials in PostHog's order, or raise 401.

    Personal keys: ``Authorization: Bearer``, then body ``personal_api_key``, then the
    ``personal_api_key`` query parameter. Project secret keys (``phs_``) are only looked at
    when the action accepts them (``allow_secret``).
    """
    authorization = request.header("authorization") or ""
    user = _accounts.default_user(conn)
    secret: str | None = None
    match = _SECRET_BEARER.match(authorization.strip())
    if match:
        secret = match.group(1)
    elif body:
        for field in ("secret_api_key", "project_secret_api_key"):
            value = body.get(field)
            if isinstance(value, str) and value:
                secret = value
                break
    if secret is not None and allow_secret:
        project = _accounts.project_by_secret(conn, secret)
        if project is None:
            raise authentication_failed("Secret API token is invalid.")
        return Principal("secret", user, secret_project=project, identity=_identity(secret))

    candidates: list[tuple[str, str]] = []
    bearer = _BEARER.match(authorization.strip())
    if bearer and not bearer.group(1).startswith(("phs_", "pha_")):
        candidates.append((bearer.group(1).strip(), "Authorization header"))
    if body and isinstance(body.get("personal_api_key"), str):
        candidates.append((body["personal_api_key"], "body"))
    query_key = request.arg("personal_api_key")
    if query_key:
        candidates.append((query_key, "query string"))
    if candidates:
        value, where = candidates[0]
        key = _accounts.api_key(conn, value)
        if key is None:
            raise authentication_failed(f"Personal API key found in request {where} is invalid.")
        owner = _accounts.get_user(conn, key.user_id) or user
        return Principal("personal", owner, key=key, identity=_identity(value))
    if secret is not None:
        raise permission_denied("This action does not support project secret API key access")
    raise not_authenticated()


def resolve_project(
    conn: sqlite3.Connection, request: Request, reference: str | None, principal: Principal | None
) -> Project:
    """The project a request addresses: path id, ``@current``, or ``?token=`` override."""
    token = request.arg("token")
    if token:
        project = _accounts.project_by_token(conn, token)
        if project is None:
            raise authentication_failed(
                "Project API key invalid. You can find your project API key in PostHog "
                "project settings."
            )
        return project
    if reference is None or reference == "@current":
        if principal is not None and principal.secret_project is not None:
            return principal.secret_project
        project = _accounts.first_project(conn)
        if project is None:
            raise not_found("Project not found.")
        return project
    if not reference.isdigit():
        raise not_found("Project not found.")
    project = _accounts.get_project(conn, int(reference))
    if project is None:
        raise not_found("Project not found.")
    return project


def authorize(
    principal: Principal, project: Project, scope: str | None, *, secret_ok: bool = False
) -> None:
    """Raise 403 unless the caller may perform an action needing ``scope`` on ``project``.

    ``scope=None`` marks a UI-only action: scoped personal keys are refused, legacy keys
    without scopes are allowed.
    """
    if principal.kind == "secret":
        if not secret_ok:
            raise permission_denied("This action does not support project secret API key access")
        assert principal.secret_project is not None
        if principal.secret_project.id != project.id:
            raise permission_denied(
                f"API key does not have access to the requested project: ID {project.id}."
            )
        return
    key = principal.key
    if key is None or key.scopes is None:
        _check_teams(key, project)
        return  # a legacy key without scopes may do everything
    if scope is None:
        raise permission_denied("This action does not support personal API key access")
    _check_teams(key, project)
    if "*" in key.scopes:
        return
    valid = [scope]
    if scope.endswith(":read"):
        valid.append(scope[: -len(":read")] + ":write")
    if not any(item in key.scopes for item in valid):
        raise permission_denied(f"API key missing required scope '{scope}'")


def _check_teams(key: ApiKey | None, project: Project) -> None:
    if key is not None and key.scoped_teams and project.id not in key.scoped_teams:
        raise permission_denied(
            f"API key does not have access to the requested project: ID {project.id}."
        )


def project_from_token(conn: sqlite3.Connection, token: Any) -> Project:
    """The project of a public token (``phc_…``) sent to ``/flags`` or capture, or 401."""
    if not isinstance(token, str) or not token.strip():
        raise LocalServerError(
            401,
            "authentication_error",
            "not_authenticated",
            "No API token provided. Please include a valid API token in your request.",
        )
    project = _accounts.project_by_token(conn, token.strip())
    if project is None:
        raise LocalServerError(
            401,
            "authentication_error",
            "authentication_failed",
            "The provided API key is invalid or has expired. Please check your API key and "
            "try again.",
        )
    return project
