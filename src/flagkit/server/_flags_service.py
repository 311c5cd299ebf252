"""Creating and updating flags: validation, PostHog's side rules, versioning and activity.

Both the HTTP API and :class:`~flagkit.server.LocalServer`'s Python methods go through these
functions, inside one write transaction each.
"""

from __future__ import annotations

import copy
import sqlite3
from collections.abc import Mapping
from typing import Any

from flagkit.server import _flags_store as store
from flagkit.server import _people
from flagkit.server._accounts import User
from flagkit.server._activity import changes_between, log_flag_activity
from flagkit.server._errors import LocalServerError, not_found, validation_error
from flagkit.server._filter_rules import CohortInfo, FlagInfo, flag_dependency_ids
from flagkit.server._validation import validate_flag_input


class Lookups:
    """Validation lookups answered from the open transaction."""

    def __init__(self, conn: sqlite3.Connection, project_id: int) -> None:
        self._conn = conn
        self._project_id = project_id

    def key_in_use(self, key: str, exclude_id: int | None) -> bool:
        row = self._conn.execute(
            "SELECT 1 FROM flags WHERE project_id = ? AND key = ? AND deleted = 0 AND id != ?",
            (self._project_id, key, -1 if exclude_id is None else exclude_id),
        ).fetchone()
        return row is not None

    def cohort(self, cohort_id: int) -> CohortInfo | None:
        return _people.cohort_info(self._conn, self._project_id, cohort_id)

    def flag_by_id(self, flag_id: int) -> FlagInfo | None:
        state = store.get_flag(self._conn, self._project_id, flag_id)
        if state is None or state["deleted"]:
            return None
        return FlagInfo(state["id"], state["key"], state["active"], state["filters"])

    def live_flag_by_key(self, key: str) -> FlagInfo | None:
        state = store.live_flag_by_key(self._conn, self._project_id, key)
        if state is None:
            return None
        return FlagInfo(state["id"], state["key"], state["active"], state["filters"])


def create_flag(
    conn: sqlite3.Connection, project_id: int, data: Mapping[str, Any], *, actor: User
) -> dict[str, Any]:
    """Validate and insert a flag; returns the stored state."""
    validated = validate_flag_input(
        data,
        creating=True,
        method="POST",
        existing=None,
        existing_id=None,
        lookups=Lookups(conn, project_id),
    )
    fields = validated.fields
    # A soft-deleted flag holding the key is hard-deleted so the key can be reused.
    for stale in store.deleted_flag_ids_with_key(conn, project_id, fields["key"]):
        store.hard_delete(conn, stale)
    state: dict[str, Any] = copy.deepcopy(store.EXTRA_DEFAULTS)
    state.update({"name": "", "deleted": False, "active": True})
    state["ensure_experience_continuity"] = False
    state.update(fields)
    flag_id = store.insert_flag(conn, project_id, state, actor.id)
    log_flag_activity(conn, project_id, flag_id, fields["key"], "created", None, actor.activity())
    created = store.get_flag(conn, project_id, flag_id)
    assert created is not None
    return created


def _dependents(conn: sqlite3.Connection, project_id: int, flag_id: int) -> list[dict[str, Any]]:
    """Active, non-deleted flags that depend on ``flag_id``."""
    return sorted(
        (
            other
            for other in store.live_flags(conn, project_id)
            if other["active"]
            and other["id"] != flag_id
            and str(flag_id) in {str(ref) for ref in flag_dependency_ids(other["filters"])}
        ),
        key=lambda other: str(other["key"]),
    )


def _names(flags: list[dict[str, Any]]) -> str:
    names = [f"{flag['key']} (ID: {flag['id']})" for flag in flags[:5]]
    if len(flags) > 5:
        names.append(f"and {len(flags) - 5} more")
    return ", ".join(names)


def _check_dependency_rules(
    conn: sqlite3.Connection, project_id: int, current: Mapping[str, Any], fields: Mapping[str, Any]
) -> None:
    flag_id = current["id"]
    if fields.get("deleted") is True:
        dependents = _dependents(conn, project_id, flag_id)
        if dependents:
            raise validation_error(
                "Cannot delete this feature flag because other flags depend on it: "
                f"{_names(dependents)}. Please update or delete the dependent flags first."
            )
    if fields.get("active") is False and current["active"]:
        dependents = _dependents(conn, project_id, flag_id)
        if dependents:
            raise validation_error(
                "Cannot disable this feature flag because other flags depend on it: "
                f"{_names(dependents)}. Please update or disable the dependent flags first."
            )
    if fields.get("active") is True and not current["active"]:
        disabled = []
        for ref in flag_dependency_ids(fields.get("filters", current["filters"])):
            other = store.get_flag(conn, project_id, int(ref)) if str(ref).isdigit() else None
            if other is not None and not other["deleted"] and not other["active"]:
                disabled.append(other)
        if disabled:
            disabled.sort(key=lambda other: str(other["key"]))
            raise validation_error(
                "Cannot enable this feature flag because it depends on disabled flags: "
                f"{_names(disabled)}. Please enable the dependency flags first."
            )


def _conflicts(
    current: Mapping[str, Any], fields: Mapping[str, Any], original: Mapping[str, Any] | None
) -> list[str]:
    """Fields this writer changes that someone else changed since ``original`` was read."""
    if not original:
        return []
    return [
        name
        for name, new in fields.items()
        if name in original
        and new != original[name]
        and original[name] != current.get(name)
        and new != current.get(name)
    ]


def update_flag(
    conn: sqlite3.Connection,
    project_id: int,
    flag_id: int,
    data: Mapping[str, Any],
    *,
    actor: User,
    method: str = "PATCH",
) -> dict[str, Any]:
    """Validate and apply an update (PATCH semantics); returns the stored state."""
    current = store.get_flag(conn, project_id, flag_id)
    if current is None:
        raise not_found()
    validated = validate_flag_input(
        data,
        creating=False,
        method=method,
        existing=current,
        existing_id=flag_id,
        lookups=Lookups(conn, project_id),
    )
    fields = dict(validated.fields)
    _check_dependency_rules(conn, project_id, current, fields)
    stale_version = validated.expected_version not in (None, current["version"])
    if stale_version and _conflicts(current, fields, validated.original_flag):
        modifier = conn.execute(
            "SELECT email FROM users WHERE id = ?", (current["last_modified_by_id"],)
        ).fetchone()
        who = modifier["email"] if modifier else "another user"
        raise LocalServerError(
            409,
            "server_error",
            "conflict",
            f"The feature flag was updated by {who} since you started editing it. "
            "Please refresh and try again.",
        )
    if fields.get("active"):
        fields["performed_rollback"] = False
    new_key = fields.get("key")
    if new_key and new_key != current["key"]:
        for stale in store.deleted_flag_ids_with_key(conn, project_id, new_key):
            if stale != flag_id:
                store.hard_delete(conn, stale)
    updated = {**current, **fields}
    store.save_flag(conn, updated, actor.id)
    changes = changes_between(current, updated)
    if current["deleted"] != updated["deleted"]:
        activity = "deleted" if updated["deleted"] else "restored"
    else:
        activity = "updated"
    if changes:
        log_flag_activity(
            conn, project_id, flag_id, updated["key"], activity, changes, actor.activity()
        )
    saved = store.get_flag(conn, project_id, flag_id)
    assert saved is not None
    return saved
