"""Definitions for local evaluation on the three paths SDKs poll, with ETag and 304."""

from __future__ import annotations

from flagkit.server import _accounts
from flagkit.server._app import App
from flagkit.server._auth import authenticate, authorize, project_from_token
from flagkit.server._definitions import etag_matches
from flagkit.server._errors import LocalServerError
from flagkit.server._flags_api import LEGACY, PROJECT
from flagkit.server._http import Request, Response

_QUOTA_BODY = {
    "type": "quota_limited",
    "detail": "You have exceeded your feature flag request quota",
    "code": "payment_required",
}


def _send_cohorts(request: Request) -> bool:
    # Presence is enough ("?send_cohorts"); an explicit false value switches it off.
    if not request.has_arg("send_cohorts"):
        return False
    return (request.arg("send_cohorts") or "").strip().lower() not in ("false", "0", "no")


class LocalEvaluation:
    """``GET …/feature_flags/local_evaluation/``, ``/api/feature_flag/local_evaluation/`` and
    ``/flags/definitions``."""

    def __init__(self, app: App) -> None:
        self.app = app

    def register(self) -> None:
        """Routes (register before the flag detail routes)."""
        router = self.app.router
        router.add(PROJECT + "/local_evaluation", GET=self.api_local_evaluation)
        router.add(LEGACY + "/local_evaluation", GET=self.api_local_evaluation)
        router.add(
            r"/flags/definitions",
            GET=self.flags_definitions,
            HEAD=self.head,
            OPTIONS=self.options,
        )

    def _answer(self, request: Request, project_id: int, send_cohorts: bool) -> Response:
        data, etag = self.app.definitions(project_id, send_cohorts)
        headers = (("ETag", etag), ("Cache-Control", "private, must-revalidate"))
        if etag_matches(request.header("if-none-match"), etag):
            return Response(304, b"", None, headers)
        return Response(200, data, "application/json", headers)

    def api_local_evaluation(self, request: Request) -> Response:
        _, project = self.app.guard(
            request,
            request.params.get("project"),
            "feature_flag:read",
            secret_ok=True,
            throttle="local_evaluation",
        )
        if project.quota_limited:
            raise LocalServerError(402, "quota_limited", "payment_required", "", body=_QUOTA_BODY)
        return self._answer(request, project.id, _send_cohorts(request))

    def flags_definitions(self, request: Request) -> Response:
        with self.app.storage.read() as conn:
            project = project_from_token(conn, request.arg("token"))
            principal = authenticate(conn, request, None, allow_secret=True)
            authorize(principal, project, "feature_flag:read", secret_ok=True)
            project = _accounts.get_project(conn, project.id) or project
        self.app.throttle("local_evaluation", str(project.id), rust_style=True)
        if project.quota_limited:
            raise LocalServerError(402, "quota_limited", "payment_required", "", body=_QUOTA_BODY)
        # The flags service always sends cohorts on this path.
        return self._answer(request, project.id, True)

    def head(self, request: Request) -> Response:
        return Response(200, b"", None)

    def options(self, request: Request) -> Response:
        return Response(204, b"", None, (("Allow", "GET, OPTIONS, HEAD"),))
