"""Feature-flag REST endpoints of seed 003: CRUD, activity, dashboard and role access."""

from __future__ import annotations

from typing import Any

from flagkit.server import _accounts, _flags_service
from flagkit.server import _flags_store as store
from flagkit.server._activity import activity_page
from flagkit.server._app import App
from flagkit.server._body import api_body
from flagkit.server._errors import LocalServerError, not_found, validation_error
from flagkit.server._http import Request, Response, json_response
from flagkit.server._storage import now_iso

PROJECT = r"/api/(?:projects|environments)/(?P<project>[^/]+)/feature_flags"
LEGACY = r"/api/feature_flag"
READ, WRITE, ACTIVITY = "feature_flag:read", "feature_flag:write", "activity_log:read"


class FlagsApi:
    """Handlers for ``/api/projects/:id/feature_flags/...`` and the legacy ``/api/feature_flag``."""

    def __init__(self, app: App) -> None:
        self.app = app

    def register_collection(self) -> None:
        """Routes without a flag id (register before the detail routes)."""
        router = self.app.router
        for prefix in (PROJECT, LEGACY):
            router.add(prefix + "/activity", GET=self.project_activity)
        for prefix in (PROJECT, LEGACY):
            router.add(prefix, GET=self.list, POST=self.create)

    def register_detail(self) -> None:
        """Routes with a flag id."""
        router = self.app.router
        for prefix in (PROJECT, LEGACY):
            flag = prefix + r"/(?P<flag_id>[^/]+)"
            router.add(flag + "/activity", GET=self.flag_activity)
            router.add(flag + "/dashboard", POST=self.dashboard)
            router.add(
                flag + r"/role_access/(?P<access_id>[^/]+)",
                GET=self.role_access_retrieve,
                DELETE=self.role_access_delete,
            )
            router.add(
                flag + "/role_access", GET=self.role_access_list, POST=self.role_access_create
            )
            router.add(
                flag,
                GET=self.retrieve,
                PATCH=self.update,
                PUT=self.update,
                DELETE=self.destroy,
            )

    # -- CRUD ---------------------------------------------------------------------------------

    def list(self, request: Request) -> Response:
        _, project = self.app.guard(request, request.params.get("project"), READ)
        limit, offset = self.app.limit_offset(request)
        with self.app.storage.read() as conn:
            count = store.count_live(conn, project.id)
            rows = store.page_of_live_flags(conn, project.id, limit, offset)
            results = [store.flag_json(conn, row) for row in rows]
        return json_response(self.app.page(request, count, results, limit, offset))

    def create(self, request: Request) -> Response:
        body = api_body(request)
        principal, project = self.app.guard(
            request, request.params.get("project"), WRITE, body=body
        )
        data = self.app.strip_credentials(body)
        with self.app.storage.write() as conn:
            state = _flags_service.create_flag(conn, project.id, data, actor=principal.user)
            answer = store.flag_json(conn, state)
        return json_response(answer, 201)

    def retrieve(self, request: Request) -> Response:
        _, project = self.app.guard(request, request.params.get("project"), READ)
        flag_id = self.app.flag_id(request)
        with self.app.storage.read() as conn:
            state = store.get_flag(conn, project.id, flag_id)
            if state is None:
                raise not_found()
            return json_response(store.flag_json(conn, state))

    def update(self, request: Request) -> Response:
        body = api_body(request)
        principal, project = self.app.guard(
            request, request.params.get("project"), WRITE, body=body
        )
        flag_id = self.app.flag_id(request)
        data = self.app.strip_credentials(body)
        with self.app.storage.write() as conn:
            state = _flags_service.update_flag(
                conn, project.id, flag_id, data, actor=principal.user, method=request.method
            )
            answer = store.flag_json(conn, state)
        return json_response(answer)

    def destroy(self, request: Request) -> Response:
        # PostHog refuses hard deletes with a bare 405 (no error body); use PATCH deleted=true.
        self.app.guard(request, request.params.get("project"), WRITE)
        return Response(405, b"", None, (("Allow", "GET, PATCH, PUT"),))

    # -- activity -----------------------------------------------------------------------------

    def project_activity(self, request: Request) -> Response:
        _, project = self.app.guard(request, request.params.get("project"), ACTIVITY)
        limit = self.app.int_arg(request, "limit", 10)
        page = self.app.int_arg(request, "page", 1)
        with self.app.storage.read() as conn:
            answer = activity_page(
                conn, project.id, None, limit=limit, page=page, base_url=request.url
            )
        return json_response(answer)

    def flag_activity(self, request: Request) -> Response:
        _, project = self.app.guard(request, request.params.get("project"), ACTIVITY)
        limit = self.app.int_arg(request, "limit", 10)
        page = self.app.int_arg(request, "page", 1)
        flag_ref = request.params.get("flag_id") or ""
        with self.app.storage.read() as conn:
            state = store.get_flag(conn, project.id, int(flag_ref)) if flag_ref.isdigit() else None
            if state is None:
                # PostHog answers an unknown flag's activity with an empty 404.
                raise LocalServerError(404, "invalid_request", "not_found", "", raw_body=b"")
            answer = activity_page(
                conn, project.id, state["id"], limit=limit, page=page, base_url=request.url
            )
        return json_response(answer)

    # -- dashboard ----------------------------------------------------------------------------

    def dashboard(self, request: Request) -> Response:
        body = api_body(request)
        _, project = self.app.guard(request, request.params.get("project"), None, body=body)
        flag_id = self.app.flag_id(request)
        with self.app.storage.write() as conn:
            state = store.get_flag(conn, project.id, flag_id)
            if state is None:
                raise not_found()
            if state["usage_dashboard"] is None:
                store.set_usage_dashboard(conn, flag_id, flag_id)
        return json_response({"success": True})

    # -- role access --------------------------------------------------------------------------

    def _parent(self, conn: Any, project_id: int, request: Request) -> dict[str, Any]:
        ref = request.params.get("flag_id") or ""
        state = store.get_flag(conn, project_id, int(ref)) if ref.isdigit() else None
        if state is None:
            raise not_found("Feature flag not found.")
        return state

    def _access_json(self, conn: Any, row: Any, flag: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": row["id"],
            "feature_flag": store.flag_json(conn, flag),
            "role": _accounts.get_role(conn, row["role_id"]),
            "added_at": row["added_at"],
            "updated_at": row["updated_at"],
        }

    def role_access_list(self, request: Request) -> Response:
        _, project = self.app.guard(request, request.params.get("project"), READ)
        limit, offset = self.app.limit_offset(request)
        with self.app.storage.read() as conn:
            flag = self._parent(conn, project.id, request)
            count = conn.execute(
                "SELECT COUNT(*) FROM role_access WHERE flag_id = ?", (flag["id"],)
            ).fetchone()[0]
            rows = conn.execute(
                "SELECT * FROM role_access WHERE flag_id = ? ORDER BY id LIMIT ? OFFSET ?",
                (flag["id"], limit, offset),
            ).fetchall()
            results = [self._access_json(conn, row, flag) for row in rows]
        return json_response(self.app.page(request, count, results, limit, offset))

    def role_access_create(self, request: Request) -> Response:
        body = api_body(request)
        _, project = self.app.guard(request, request.params.get("project"), WRITE, body=body)
        role_id = body.get("role_id")
        if role_id is None:
            raise validation_error("This field is required.", "role_id", "required")
        with self.app.storage.write() as conn:
            flag = self._parent(conn, project.id, request)
            role = _accounts.get_role(conn, str(role_id))
            if role is None or not isinstance(role_id, str):
                raise validation_error(
                    f'Invalid pk "{role_id}" - object does not exist.', "role_id", "does_not_exist"
                )
            exists = conn.execute(
                "SELECT 1 FROM role_access WHERE flag_id = ? AND role_id = ?", (flag["id"], role_id)
            ).fetchone()
            if exists:
                raise validation_error(
                    "The fields feature_flag, role must make a unique set.", None, "unique"
                )
            stamp = now_iso()
            cursor = conn.execute(
                "INSERT INTO role_access (flag_id, role_id, added_at, updated_at)"
                " VALUES (?, ?, ?, ?)",
                (flag["id"], role_id, stamp, stamp),
            )
            row = conn.execute(
                "SELECT * FROM role_access WHERE id = ?", (cursor.lastrowid,)
            ).fetchone()
            answer = self._access_json(conn, row, flag)
        return json_response(answer, 201)

    def _access_row(self, conn: Any, request: Request, flag: dict[str, Any]) -> Any:
        ref = request.params.get("access_id") or ""
        row = None
        if ref.isdigit():
            row = conn.execute(
                "SELECT * FROM role_access WHERE id = ? AND flag_id = ?", (int(ref), flag["id"])
            ).fetchone()
        if row is None:
            raise not_found()
        return row

    def role_access_retrieve(self, request: Request) -> Response:
        _, project = self.app.guard(request, request.params.get("project"), READ)
        with self.app.storage.read() as conn:
            flag = self._parent(conn, project.id, request)
            row = self._access_row(conn, request, flag)
            return json_response(self._access_json(conn, row, flag))

    def role_access_delete(self, request: Request) -> Response:
        _, project = self.app.guard(request, request.params.get("project"), WRITE)
        with self.app.storage.write() as conn:
            flag = self._parent(conn, project.id, request)
            row = self._access_row(conn, request, flag)
            conn.execute("DELETE FROM role_access WHERE id = ?", (row["id"],))
        return Response(204, b"", None)
