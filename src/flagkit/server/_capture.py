"""Event capture (``/batch/``, ``/i/v0/e/``, ``/e/``, ``/capture/``): store what SDKs send.

Person and group side effects of ``$set``, ``$set_once``, ``$identify`` and
``$groupidentify`` are applied, so captured identities show up in ``/flags`` evaluation.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Mapping
from typing import Any

from flagkit.server import _accounts, _people
from flagkit.server._app import App
from flagkit.server._body import ingestion_body
from flagkit.server._errors import LocalServerError
from flagkit.server._http import Request, Response, json_response
from flagkit.server._storage import now_iso

_PATHS = (r"/batch", r"/i/v0/e", r"/e", r"/capture", r"/track", r"/engage")


def _invalid(detail: str) -> LocalServerError:
    return LocalServerError(
        400, "validation_error", "invalid_payload", f"Invalid payload: {detail}"
    )


def _events(body: Any) -> list[Any]:
    if isinstance(body, list):
        return body
    if isinstance(body, Mapping):
        batch = body.get("batch", body.get("data"))
        if isinstance(batch, list):
            return batch
        if isinstance(batch, Mapping):
            return [batch]
        return [body]
    raise _invalid("the body must be an event, a list of events or a batch")


def _token(request: Request, body: Any, events: list[Any]) -> Any:
    if isinstance(body, Mapping):
        for name in ("api_key", "token", "$token"):
            if body.get(name):
                return body[name]
    for event in events:
        if isinstance(event, Mapping):
            props = event.get("properties")
            for source in (event, props if isinstance(props, Mapping) else {}):
                for name in ("api_key", "token", "$token"):
                    if source.get(name):
                        return source[name]
    return request.arg("token") or request.arg("api_key")


def _normalise(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise _invalid("every event must be an object")
    name = raw.get("event")
    if not isinstance(name, str) or not name:
        raise _invalid("All events must have the event name field 'event'!")
    props = raw.get("properties") or {}
    if not isinstance(props, Mapping):
        raise _invalid("event properties must be an object")
    distinct_id = raw.get("distinct_id", props.get("distinct_id", props.get("$distinct_id")))
    if distinct_id is None or isinstance(distinct_id, (dict, list)) or str(distinct_id) == "":
        raise _invalid('All events must have the event field "distinct_id"!')
    properties = dict(props)
    for field in ("$set", "$set_once", "$unset"):
        if field in raw and field not in properties:
            properties[field] = raw[field]
    return {
        "uuid": str(raw.get("uuid") or uuid.uuid4()),
        "event": name,
        "distinct_id": str(distinct_id),
        "properties": properties,
        "timestamp": str(raw.get("timestamp") or now_iso()),
    }


def _side_effects(conn: sqlite3.Connection, project_id: int, event: Mapping[str, Any]) -> None:
    props = event["properties"]
    distinct_id = event["distinct_id"]
    set_props = props.get("$set") if isinstance(props.get("$set"), Mapping) else None
    set_once = props.get("$set_once") if isinstance(props.get("$set_once"), Mapping) else None
    unset = props.get("$unset") if isinstance(props.get("$unset"), list) else []
    extra_ids: list[str] = []
    if event["event"] == "$identify" and isinstance(props.get("$anon_distinct_id"), str):
        extra_ids.append(props["$anon_distinct_id"])
    if set_props or set_once or unset or extra_ids:
        _people.upsert_person(
            conn,
            project_id,
            distinct_id,
            set_props,
            set_once=set_once,
            unset=[str(key) for key in unset],
            distinct_ids=extra_ids,
        )
    if event["event"] == "$groupidentify":
        group_type, group_key = props.get("$group_type"), props.get("$group_key")
        if isinstance(group_type, str) and group_key is not None:
            index = _accounts.set_group_type(conn, project_id, group_type)
            group_set = props.get("$group_set")
            _people.upsert_group(
                conn,
                project_id,
                index,
                str(group_key),
                group_set if isinstance(group_set, Mapping) else {},
            )


class Capture:
    """Event ingestion endpoints."""

    def __init__(self, app: App) -> None:
        self.app = app

    def register(self) -> None:
        """Routes."""
        for path in _PATHS:
            self.app.router.add(path, POST=self.capture, GET=self.capture)

    def capture(self, request: Request) -> Response:
        try:
            body = ingestion_body(request)
        except (ValueError, UnicodeDecodeError, OSError, RecursionError):
            raise LocalServerError(
                400,
                "validation_error",
                "invalid_payload",
                "Malformed request data: failed to decode the body.",
            ) from None
        events = _events(body)
        token = _token(request, body, events)
        if not token:
            raise LocalServerError(
                401,
                "authentication_error",
                "missing_api_key",
                "API key not provided. You can find your project API key in PostHog project "
                "settings.",
            )
        normalised = [_normalise(event) for event in events]
        with self.app.storage.write() as conn:
            project = _accounts.project_by_token(conn, str(token))
            if project is None:
                raise LocalServerError(
                    401,
                    "authentication_error",
                    "invalid_api_key",
                    "Project API key invalid. You can find your project API key in PostHog "
                    "project settings.",
                )
            self.app.throttle("capture", str(project.id))
            for event in normalised:
                _people.insert_event(conn, project.id, event)
                _side_effects(conn, project.id, event)
        return json_response({"status": 1})
