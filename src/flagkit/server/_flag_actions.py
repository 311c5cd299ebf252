"""Flag actions that evaluate: ``evaluation_reasons``, ``my_flags`` and ``user_blast_radius``.

They are UI endpoints in PostHog: scoped personal API keys are refused with 403, legacy keys
(no scopes) may use them.
"""

from __future__ import annotations

import json
from typing import Any

from flagkit._evaluation.evaluator import Evaluator
from flagkit._evaluation.snapshot import Snapshot
from flagkit.server import _accounts, _people
from flagkit.server import _flags_store as store
from flagkit.server._app import App
from flagkit.server._body import api_body
from flagkit.server._definitions import evaluation_body
from flagkit.server._errors import validation_error
from flagkit.server._evaluation import Compiled, evaluate, wire_reason
from flagkit.server._flags_api import LEGACY, PROJECT
from flagkit.server._http import Request, Response, json_response

_BLAST_KEY = "$flagkit_blast_radius"
_EVALUATION_REASON_CODES = frozenset(
    {"condition_match", "no_condition_match", "out_of_rollout_bound", "no_group_type"}
)


def _groups_arg(request: Request) -> dict[str, Any]:
    text = request.arg("groups")
    if text is None or text == "":
        return {}
    try:
        groups = json.loads(text)
    except ValueError:
        raise validation_error("Invalid JSON in groups parameter", "groups") from None
    if not isinstance(groups, dict):
        raise validation_error("groups must be a JSON object", "groups")
    return groups


class FlagActions:
    """Handlers of the evaluating flag actions."""

    def __init__(self, app: App) -> None:
        self.app = app

    def register(self) -> None:
        """Routes (register before the flag detail routes)."""
        for prefix in (PROJECT, LEGACY):
            self.app.router.add(prefix + "/evaluation_reasons", GET=self.evaluation_reasons)
            self.app.router.add(prefix + "/my_flags", GET=self.my_flags)
            self.app.router.add(prefix + "/user_blast_radius", POST=self.user_blast_radius)

    def _values(
        self, project_id: int, distinct_id: str, groups: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        compiled = self.app.compiled(project_id)
        with self.app.storage.read() as conn:
            flags = store.live_flags(conn, project_id)
            results = evaluate(conn, compiled, project_id, distinct_id, groups=groups)
        return flags, results

    def evaluation_reasons(self, request: Request) -> Response:
        _, project = self.app.guard(request, request.params.get("project"), None)
        distinct_id = request.arg("distinct_id")
        if not distinct_id:
            raise validation_error("This field is required.", "distinct_id", "required")
        flags, results = self._values(project.id, distinct_id, _groups_arg(request))
        answer: dict[str, Any] = {}
        for flag in flags:
            result = results.get(flag["key"])
            if not flag["active"] or result is None:
                answer[flag["key"]] = {
                    "value": False,
                    "evaluation": {"reason": "disabled", "condition_index": None},
                }
                continue
            reason = wire_reason(result)
            code = reason.code if reason.code in _EVALUATION_REASON_CODES else "unknown"
            answer[flag["key"]] = {
                "value": result.value if result.enabled else False,
                "evaluation": {"reason": code, "condition_index": reason.condition_index},
            }
        return json_response(answer)

    def my_flags(self, request: Request) -> Response:
        principal, project = self.app.guard(request, request.params.get("project"), None)
        flags, results = self._values(project.id, principal.user.distinct_id, _groups_arg(request))
        answer = []
        for flag in flags:
            result = results.get(flag["key"])
            value = result.value if result is not None and result.enabled else False
            answer.append({"feature_flag": store.minimal_flag_json(flag), "value": value})
        return json_response(answer)

    def user_blast_radius(self, request: Request) -> Response:
        body = api_body(request)
        _, project = self.app.guard(request, request.params.get("project"), None, body=body)
        if "condition" not in body:
            raise validation_error("Missing condition for which to get blast radius")
        condition = body["condition"]
        if not isinstance(condition, dict):
            raise validation_error("Condition must be an object", "condition")
        properties = condition.get("properties") or []
        if not isinstance(properties, list) or not all(isinstance(p, dict) for p in properties):
            raise validation_error("Condition properties must be a list of objects", "condition")
        group_type_index = body.get("group_type_index")
        if group_type_index is not None and (
            isinstance(group_type_index, bool) or not isinstance(group_type_index, int)
        ):
            raise validation_error("A valid integer is required.", "group_type_index")
        with self.app.storage.read() as conn:
            affected, total = _blast_radius(conn, project.id, properties, group_type_index)
        return json_response({"users_affected": affected, "total_users": total})


def _blast_radius(
    conn: Any, project_id: int, properties: list[dict[str, Any]], group_type_index: int | None
) -> tuple[int, int]:
    """Count stored persons (or groups of one type) matching ``properties``.

    Like PostHog, the condition's rollout percentage is ignored: this counts who the
    properties select.
    """
    body, static = evaluation_body(conn, project_id)
    probe: dict[str, Any] = {
        "id": 0,
        "key": _BLAST_KEY,
        "active": True,
        "filters": {
            "groups": [{"properties": properties, "rollout_percentage": 100}],
            "aggregation_group_type_index": group_type_index,
        },
    }
    body["flags"] = [probe]
    compiled = Compiled(Evaluator(Snapshot.from_dict(body)), static, {}, body["group_type_mapping"])
    if group_type_index is None:
        persons = _people.all_persons(conn, project_id)
        affected = 0
        for _, distinct_id, props in persons:
            results = evaluate(
                conn, compiled, project_id, distinct_id, keys=[_BLAST_KEY], stored_properties=props
            )
            affected += results[_BLAST_KEY].enabled
        return affected, len(persons)
    name = _accounts.group_type_mapping(conn, project_id).get(str(group_type_index))
    groups = _people.all_groups(conn, project_id, group_type_index)
    if name is None:
        return 0, len(groups)
    affected = 0
    for group_key, props in groups:
        results = evaluate(
            conn,
            compiled,
            project_id,
            group_key,
            groups={name: group_key},
            group_properties={name: props},
            keys=[_BLAST_KEY],
            stored_properties={},
        )
        affected += results[_BLAST_KEY].enabled
    return affected, len(groups)
