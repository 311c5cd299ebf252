"""Feature-flag rows: loading, saving and PostHog's JSON shapes of a flag."""

from __future__ import annotations

import copy
import sqlite3
from collections.abc import Mapping
from typing import Any

from flagkit.server import _accounts
from flagkit.server._storage import dumps, loads, now_iso

# Writable fields kept in the ``extra`` JSON column, with their defaults.
EXTRA_DEFAULTS: dict[str, Any] = {
    "rollback_conditions": None,
    "performed_rollback": False,
    "tags": [],
    "evaluation_tags": [],
    "analytics_dashboards": [],
    "has_enriched_analytics": False,
    "usage_dashboard": None,
    "is_remote_configuration": False,
    "has_encrypted_payloads": False,
    "evaluation_runtime": "all",
    "bucketing_identifier": None,
}
# The fields an activity-log diff compares, in PostHog's serializer order: the columns,
# then the extra fields.
_COLUMNS = ("name", "key", "filters", "deleted", "active", "ensure_experience_continuity")
TRACKED_FIELDS = (*_COLUMNS, *EXTRA_DEFAULTS)
_BOOL_COLUMNS = ("deleted", "active", "ensure_experience_continuity")


def flag_state(row: sqlite3.Row) -> dict[str, Any]:
    """A flag row as a plain dict of its fields."""
    extra = loads(row["extra"], {})
    state: dict[str, Any] = {
        "id": row["id"],
        "project_id": row["project_id"],
        "key": row["key"],
        "name": row["name"],
        "filters": loads(row["filters"], {}),
        "version": row["version"],
        "created_at": row["created_at"],
        "created_by_id": row["created_by_id"],
        "updated_at": row["updated_at"],
        "last_modified_by_id": row["last_modified_by_id"],
    }
    for column in _BOOL_COLUMNS:
        state[column] = bool(row[column])
    for name, default in EXTRA_DEFAULTS.items():
        state[name] = extra.get(name, copy.deepcopy(default))
    return state


def get_flag(conn: sqlite3.Connection, project_id: int, flag_id: int) -> dict[str, Any] | None:
    """A flag of the project by id, deleted or not (PostHog's retrieve shows deleted flags)."""
    row = conn.execute(
        "SELECT * FROM flags WHERE project_id = ? AND id = ?", (project_id, flag_id)
    ).fetchone()
    return flag_state(row) if row else None


def live_flag_by_key(conn: sqlite3.Connection, project_id: int, key: str) -> dict[str, Any] | None:
    """The non-deleted flag with this key."""
    row = conn.execute(
        "SELECT * FROM flags WHERE project_id = ? AND key = ? AND deleted = 0", (project_id, key)
    ).fetchone()
    return flag_state(row) if row else None


def deleted_flag_ids_with_key(conn: sqlite3.Connection, project_id: int, key: str) -> list[int]:
    """Soft-deleted flags holding ``key`` (PostHog hard-deletes them when the key is reused)."""
    rows = conn.execute(
        "SELECT id FROM flags WHERE project_id = ? AND key = ? AND deleted = 1", (project_id, key)
    ).fetchall()
    return [int(row["id"]) for row in rows]


def live_flags(conn: sqlite3.Connection, project_id: int) -> list[dict[str, Any]]:
    """Every non-deleted flag, newest first (PostHog's ``-created_at`` order)."""
    rows = conn.execute(
        "SELECT * FROM flags WHERE project_id = ? AND deleted = 0"
        " ORDER BY created_at DESC, id DESC",
        (project_id,),
    ).fetchall()
    return [flag_state(row) for row in rows]


def count_live(conn: sqlite3.Connection, project_id: int) -> int:
    """How many non-deleted flags the project has."""
    return int(
        conn.execute(
            "SELECT COUNT(*) FROM flags WHERE project_id = ? AND deleted = 0", (project_id,)
        ).fetchone()[0]
    )


def page_of_live_flags(
    conn: sqlite3.Connection, project_id: int, limit: int, offset: int
) -> list[dict[str, Any]]:
    """One page of :func:`live_flags`."""
    rows = conn.execute(
        "SELECT * FROM flags WHERE project_id = ? AND deleted = 0"
        " ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
        (project_id, limit, offset),
    ).fetchall()
    return [flag_state(row) for row in rows]


def _split(state: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    extra = {name: state.get(name, default) for name, default in EXTRA_DEFAULTS.items()}
    return extra, dumps(extra)


def insert_flag(
    conn: sqlite3.Connection, project_id: int, state: Mapping[str, Any], user_id: int | None
) -> int:
    """Insert a new flag (version 1); returns its id."""
    stamp = now_iso()
    _, extra = _split(state)
    cursor = conn.execute(
        "INSERT INTO flags (project_id, key, name, filters, deleted, active,"
        " ensure_experience_continuity, version, created_at, created_by_id, updated_at,"
        " last_modified_by_id, extra) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?)",
        (
            project_id,
            state["key"],
            state.get("name", ""),
            dumps(state["filters"]),
            int(state.get("deleted", False)),
            int(state.get("active", True)),
            int(state.get("ensure_experience_continuity", False)),
            state.get("created_at") or stamp,
            user_id,
            stamp,
            user_id,
            extra,
        ),
    )
    return int(cursor.lastrowid or 0)


def save_flag(conn: sqlite3.Connection, state: Mapping[str, Any], user_id: int | None) -> None:
    """Write every field of an existing flag and bump its version."""
    _, extra = _split(state)
    conn.execute(
        "UPDATE flags SET key = ?, name = ?, filters = ?, deleted = ?, active = ?,"
        " ensure_experience_continuity = ?, created_at = ?, version = version + 1,"
        " updated_at = ?, last_modified_by_id = ?, extra = ? WHERE id = ?",
        (
            state["key"],
            state["name"],
            dumps(state["filters"]),
            int(state["deleted"]),
            int(state["active"]),
            int(state["ensure_experience_continuity"]),
            state["created_at"],
            now_iso(),
            user_id,
            extra,
            state["id"],
        ),
    )


def hard_delete(conn: sqlite3.Connection, flag_id: int) -> None:
    """Remove a flag row and its role access entries."""
    conn.execute("DELETE FROM role_access WHERE flag_id = ?", (flag_id,))
    conn.execute("DELETE FROM flags WHERE id = ?", (flag_id,))


def _is_simple(filters: Mapping[str, Any]) -> bool:
    groups = filters.get("groups") or []
    return (
        len(groups) == 1
        and not (groups[0].get("properties") or [])
        and filters.get("aggregation_group_type_index") is None
    )


def _with_cohort_names(conn: sqlite3.Connection, filters: Any, project_id: int) -> Any:
    """PostHog adds ``cohort_name`` to cohort properties when it returns a flag."""
    out = copy.deepcopy(filters)
    for group in out.get("groups") or []:
        for prop in group.get("properties") or []:
            if isinstance(prop, dict) and prop.get("type") == "cohort":
                row = conn.execute(
                    "SELECT name FROM cohorts WHERE project_id = ? AND id = ?",
                    (project_id, str(prop.get("value"))),
                ).fetchone()
                prop["cohort_name"] = row["name"] if row else None
    return out


def flag_json(conn: sqlite3.Connection, state: Mapping[str, Any]) -> dict[str, Any]:
    """The full FeatureFlag resource (list items, retrieve, create and update answers)."""
    creator = _accounts.get_user(conn, state["created_by_id"])
    modifier = _accounts.get_user(conn, state["last_modified_by_id"])
    filters = state["filters"]
    simple = _is_simple(filters)
    rollout = (filters.get("groups") or [{}])[0].get("rollout_percentage") if simple else None
    status = "ACTIVE" if state["active"] else "INACTIVE"
    if state["deleted"]:
        status = "DELETED"
    return {
        "id": state["id"],
        "name": state["name"],
        "key": state["key"],
        "filters": _with_cohort_names(conn, filters, state["project_id"]),
        "deleted": state["deleted"],
        "active": state["active"],
        "created_by": creator.basic() if creator else None,
        "created_at": state["created_at"],
        "updated_at": state["updated_at"],
        "version": state["version"],
        "last_modified_by": modifier.basic() if modifier else None,
        "is_simple_flag": simple,
        "rollout_percentage": rollout,
        "ensure_experience_continuity": state["ensure_experience_continuity"],
        "experiment_set": [],
        "surveys": [],
        "features": [],
        "rollback_conditions": state["rollback_conditions"],
        "performed_rollback": state["performed_rollback"],
        "can_edit": True,
        "tags": state["tags"],
        "evaluation_tags": state["evaluation_tags"],
        "usage_dashboard": state["usage_dashboard"],
        "analytics_dashboards": state["analytics_dashboards"],
        "has_enriched_analytics": state["has_enriched_analytics"],
        "user_access_level": "editor",
        "is_remote_configuration": state["is_remote_configuration"],
        "has_encrypted_payloads": state["has_encrypted_payloads"],
        "status": status,
        "evaluation_runtime": state["evaluation_runtime"],
        "bucketing_identifier": state["bucketing_identifier"],
        "team_id": state["project_id"],
    }


def minimal_flag_json(state: Mapping[str, Any], filters: Any = None) -> dict[str, Any]:
    """PostHog's MinimalFeatureFlag (local evaluation and ``my_flags``)."""
    return {
        "id": state["id"],
        "team_id": state["project_id"],
        "name": state["name"],
        "key": state["key"],
        "filters": state["filters"] if filters is None else filters,
        "deleted": state["deleted"],
        "active": state["active"],
        "ensure_experience_continuity": state["ensure_experience_continuity"],
        "has_encrypted_payloads": state["has_encrypted_payloads"],
        "version": state["version"],
        "evaluation_runtime": state["evaluation_runtime"],
        "bucketing_identifier": state["bucketing_identifier"],
        "evaluation_tags": state["evaluation_tags"],
    }


def set_usage_dashboard(conn: sqlite3.Connection, flag_id: int, dashboard_id: int) -> None:
    """Record the flag's (simulated) usage dashboard without a new version."""
    row = conn.execute("SELECT extra FROM flags WHERE id = ?", (flag_id,)).fetchone()
    extra = loads(row["extra"], {})
    extra["usage_dashboard"] = dashboard_id
    conn.execute("UPDATE flags SET extra = ? WHERE id = ?", (dumps(extra), flag_id))
