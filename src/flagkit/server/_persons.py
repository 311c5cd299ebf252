"""Persons API (seed 000): list with cursor pagination, retrieve one."""

from __future__ import annotations

import base64
import binascii
import json

from flagkit.server import _people
from flagkit.server._app import App
from flagkit.server._errors import not_found
from flagkit.server._http import Request, Response, json_response

_PREFIXES = (r"/api/(?:projects|environments)/(?P<project>[^/]+)/persons", r"/api/person")
_SCOPE = "person:read"


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode().rstrip("=")


def _decode_cursor(text: str) -> int:
    try:
        padded = text + "=" * (-len(text) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        offset = int(data["offset"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise not_found("Invalid cursor.") from None
    if offset < 0:
        raise not_found("Invalid cursor.")
    return offset


class PersonsApi:
    """``GET /api/projects/:id/persons/`` and ``GET /api/projects/:id/persons/:id/``."""

    def __init__(self, app: App) -> None:
        self.app = app

    def register(self) -> None:
        """Routes."""
        for prefix in _PREFIXES:
            self.app.router.add(prefix + r"/(?P<person>[^/]+)", GET=self.retrieve)
            self.app.router.add(prefix, GET=self.list)

    def list(self, request: Request) -> Response:
        _, project = self.app.guard(request, request.params.get("project"), _SCOPE)
        limit, _ = self.app.limit_offset(request)
        cursor = request.arg("cursor")
        offset = _decode_cursor(cursor) if cursor else 0
        with self.app.storage.read() as conn:
            rows = _people.list_persons(
                conn,
                project.id,
                offset=offset,
                limit=limit + 1,
                distinct_id=request.arg("distinct_id"),
                search=request.arg("search"),
            )
            results = [_people.person_json(conn, row) for row in rows[:limit]]
        next_url = None
        if len(rows) > limit:
            next_url = request.url_with(cursor=_encode_cursor(offset + limit))
        previous = None
        if offset > 0:
            back = max(0, offset - limit)
            previous = request.url_with(cursor=_encode_cursor(back) if back else None)
        return json_response({"next": next_url, "previous": previous, "results": results})

    def retrieve(self, request: Request) -> Response:
        _, project = self.app.guard(request, request.params.get("project"), _SCOPE)
        with self.app.storage.read() as conn:
            row = _people.get_person(conn, project.id, request.params.get("person") or "")
            if row is None:
                raise not_found()
            return json_response(_people.person_json(conn, row))
