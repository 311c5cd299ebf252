"""Remote evaluation: ``POST /flags`` (and the legacy ``/decide``) answered by our Evaluator."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

from flagkit.server._app import App
from flagkit.server._auth import project_from_token
from flagkit.server._body import ingestion_body
from flagkit.server._errors import LocalServerError, method_not_allowed
from flagkit.server._evaluation import (
    evaluate,
    raw_payload,
    rules_v2_metadata,
    rules_v2_wire_reason,
    wire_reason,
)
from flagkit.server._http import Request, Response, json_response

_ALLOW = "GET, POST, OPTIONS, HEAD"
_MAX_DISTINCT_ID = 200
_CONFIG: Mapping[str, Any] = {
    "config": {"enable_collect_everything": True},
    "toolbarParams": {},
    "isAuthenticated": False,
    "supportedCompression": ["gzip", "gzip-js"],
    "sessionRecording": False,
    "siteApps": [],
    "capturePerformance": False,
    "autocapture_opt_out": False,
    "autocaptureExceptions": False,
    "surveys": False,
    "heatmaps": False,
    "defaultIdentifiedOnly": True,
}


def _bad_request(detail: str, code: str = "invalid_request") -> LocalServerError:
    return LocalServerError(400, "validation_error", code, detail)


def _version(request: Request) -> tuple[str, bool]:
    """The response shape (``v1``/``v2``/``decide1``/``decide2``) and whether to add config."""
    text = request.arg("v") or request.arg("version")
    config_arg = request.arg("config")
    try:
        version = int(float(text)) if text else None
    except ValueError:
        version = None
    with_config = (config_arg or "").lower() in ("true", "1")
    if request.path.startswith("/decide"):
        if version is None or version <= 1:
            return "decide1", True
        if version == 2:
            return "decide2", True
        return ("v1" if version == 3 else "v2"), True
    if version is None:
        if config_arg is None:
            return "v2", True
        return "v1", with_config
    return ("v2" if version >= 2 else "v1"), with_config


def _mapping(body: Mapping[str, Any], *names: str) -> dict[str, Any]:
    for name in names:
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, Mapping):
            raise _bad_request(f"The {names[0]} field must be an object.")
        return dict(value)
    return {}


class RemoteEvaluation:
    """``/flags`` and ``/decide``."""

    def __init__(self, app: App) -> None:
        self.app = app

    def register(self) -> None:
        """Routes."""
        for path in (r"/flags", r"/decide"):
            self.app.router.add(
                path,
                POST=self.evaluate,
                GET=self.minimal,
                HEAD=self.head,
                OPTIONS=self.options,
                PUT=self.not_allowed,
                PATCH=self.not_allowed,
                DELETE=self.not_allowed,
            )

    def head(self, request: Request) -> Response:
        return Response(200, b"", None)

    def options(self, request: Request) -> Response:
        return Response(204, b"", None, (("Allow", _ALLOW),))

    def not_allowed(self, request: Request) -> Response:
        error = method_not_allowed(request.method)
        error.headers["Allow"] = _ALLOW
        raise error

    def minimal(self, request: Request) -> Response:
        shape, with_config = _version(request)
        return json_response(self._envelope(shape, {}, False, with_config))

    def _envelope(
        self, shape: str, flags: dict[str, Any], errors: bool, with_config: bool
    ) -> dict[str, Any]:
        answer: dict[str, Any] = dict(_CONFIG) if with_config else {}
        if shape == "v2":
            answer["flags"] = flags
        elif shape == "v1":
            answer["featureFlags"] = {k: v["value"] for k, v in flags.items()}
            answer["featureFlagPayloads"] = {
                k: v["payload"] for k, v in flags.items() if v["payload"] is not None
            }
        elif shape == "decide2":
            answer["featureFlags"] = {k: v["value"] for k, v in flags.items() if v["value"]}
        else:
            answer["featureFlags"] = [k for k, v in flags.items() if v["value"]]
        answer["errorsWhileComputingFlags"] = errors
        answer["requestId"] = str(uuid.uuid4())
        if shape == "v2":
            answer["evaluatedAt"] = int(time.time() * 1000)
        return answer

    def evaluate(self, request: Request) -> Response:
        shape, with_config = _version(request)
        try:
            body = ingestion_body(request)
        except (ValueError, UnicodeDecodeError, OSError, RecursionError):
            raise _bad_request(
                "Failed to decode request: invalid JSON. Please check your request format and "
                "try again."
            ) from None
        if not isinstance(body, Mapping):
            raise _bad_request("Failed to decode request: the body must be a JSON object.")
        token = body.get("token") or body.get("api_key") or body.get("$token")
        token = token or request.arg("token") or request.arg("api_key")
        with self.app.storage.read() as conn:
            project = project_from_token(conn, token)
        self.app.throttle("flags", str(project.id), rust_style=True)
        distinct_id = body.get("distinct_id", body.get("$distinct_id"))
        if distinct_id is None or isinstance(distinct_id, (dict, list, bool)):
            raise _bad_request(
                "The distinct_id field is missing from the request. Please include a valid "
                "identifier.",
                "missing_distinct_id",
            )
        distinct_id = str(distinct_id)[:_MAX_DISTINCT_ID]
        groups = _mapping(body, "groups", "$groups")
        person_properties = _mapping(body, "person_properties", "$properties")
        group_properties = _mapping(body, "group_properties", "$group_properties")
        keys = body.get("flag_keys_to_evaluate", body.get("flag_keys"))
        if keys is not None and not (
            isinstance(keys, list) and all(isinstance(k, str) for k in keys)
        ):
            raise _bad_request("The flag_keys_to_evaluate field must be a list of strings.")

        if project.quota_limited:
            answer = self._envelope(shape, {}, False, with_config)
            answer["quotaLimited"] = ["feature_flags"]
            return json_response(answer)
        if body.get("disable_flags") is True:
            return json_response(self._envelope(shape, {}, False, with_config))

        compiled = self.app.compiled(project.id)
        with self.app.storage.read() as conn:
            results = evaluate(
                conn,
                compiled,
                project.id,
                distinct_id,
                person_properties=person_properties,
                groups=groups,
                group_properties={k: v for k, v in group_properties.items() if isinstance(v, dict)},
                keys=keys,
            )
        flags: dict[str, Any] = {}
        errors = False
        for key, result in results.items():
            meta = compiled.flags.get(key)
            if meta is None or not meta.active:
                continue  # PostHog leaves out unknown and inactive flags
            v2 = meta.config_version == 2
            reason = rules_v2_wire_reason(result) if v2 else wire_reason(result)
            enabled = result.enabled and not reason.failed
            value = result.value if enabled else False
            if v2 and not reason.failed and result.value is None:
                value = None  # a null default: the caller's default applies
            payload = raw_payload(meta, value)
            entry: dict[str, Any] = {
                "key": key,
                "enabled": enabled,
                "variant": result.variant if enabled else None,
                "reason": {
                    "code": reason.code,
                    "condition_index": reason.condition_index,
                    "description": reason.description,
                },
                "metadata": {
                    "id": meta.id,
                    "version": meta.version,
                    "description": None,
                    "payload": payload,
                },
                "value": value,
                "payload": payload,
            }
            if v2:
                entry["metadata"].update(rules_v2_metadata(result))
            if reason.failed:
                entry["failed"] = True
                errors = True
            flags[key] = entry
        if shape == "v2":
            for entry in flags.values():
                if "config_version" in entry["metadata"]:  # rules v2 records keep the value
                    del entry["payload"]
                else:
                    del entry["value"], entry["payload"]
        return json_response(self._envelope(shape, flags, errors, with_config))
