"""The activity log: what changed on which flag, by whom, served in PostHog's page shape."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from flagkit.server._flags_store import TRACKED_FIELDS
from flagkit.server._storage import dumps, loads, now_iso


def changes_between(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[dict[str, Any]]:
    """PostHog's change list: one entry per tracked field whose value differs."""
    changes = []
    for field in TRACKED_FIELDS:
        old, new = before.get(field), after.get(field)
        if old == new:
            continue
        if old is None:
            action = "created"
        elif new is None:
            action = "deleted"
        else:
            action = "changed"
        changes.append(
            {"type": "FeatureFlag", "action": action, "field": field, "before": old, "after": new}
        )
    return changes


def log_flag_activity(
    conn: sqlite3.Connection,
    project_id: int,
    flag_id: int,
    flag_key: str,
    activity: str,
    changes: list[dict[str, Any]] | None,
    user: Mapping[str, Any],
) -> None:
    """Record one ``created``/``updated``/``deleted``/``restored`` entry for a flag."""
    detail = {
        "id": str(flag_id),
        "changes": changes,
        "merge": None,
        "trigger": None,
        "name": flag_key,
        "short_id": None,
        "type": None,
    }
    conn.execute(
        "INSERT INTO activity (uuid, project_id, scope, item_id, activity, detail, user,"
        " created_at) VALUES (?, ?, 'FeatureFlag', ?, ?, ?, ?, ?)",
        (
            str(uuid.uuid4()),
            project_id,
            str(flag_id),
            activity,
            dumps(detail),
            dumps(user),
            now_iso(),
        ),
    )


def activity_page(
    conn: sqlite3.Connection,
    project_id: int,
    item_id: int | None,
    *,
    limit: int,
    page: int,
    base_url: str,
) -> dict[str, Any]:
    """``{"results", "next", "previous", "total_count"}``, newest entry first."""
    where = "project_id = ? AND scope = 'FeatureFlag'"
    args: list[Any] = [project_id]
    if item_id is not None:
        where += " AND item_id = ?"
        args.append(str(item_id))
    total = int(conn.execute(f"SELECT COUNT(*) FROM activity WHERE {where}", args).fetchone()[0])
    rows = conn.execute(
        f"SELECT * FROM activity WHERE {where} ORDER BY id DESC LIMIT ? OFFSET ?",
        (*args, limit, (page - 1) * limit),
    ).fetchall()
    results = [
        {
            "id": row["uuid"],
            "user": loads(row["user"]),
            "activity": row["activity"],
            "scope": row["scope"],
            "item_id": row["item_id"],
            "detail": loads(row["detail"]),
            "created_at": row["created_at"],
        }
        for row in rows
    ]
    has_next = page * limit < total
    return {
        "results": results,
        "next": f"{base_url}?{urlencode({'page': page + 1, 'limit': limit})}" if has_next else None,
        "previous": (
            f"{base_url}?{urlencode({'page': page - 1, 'limit': limit})}" if page > 1 else None
        ),
        "total_count": total,
    }
