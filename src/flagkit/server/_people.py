"""Persons, cohorts, groups and captured events in the local server's database."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from flagkit.server._filter_rules import CohortInfo
from flagkit.server._storage import dumps, loads, now_iso

# -- persons -------------------------------------------------------------------------------


def person_id_for(conn: sqlite3.Connection, project_id: int, distinct_id: str) -> int | None:
    """The person that owns ``distinct_id``."""
    row = conn.execute(
        "SELECT person_id FROM person_distinct_ids WHERE project_id = ? AND distinct_id = ?",
        (project_id, distinct_id),
    ).fetchone()
    return int(row["person_id"]) if row else None


def upsert_person(
    conn: sqlite3.Connection,
    project_id: int,
    distinct_id: str,
    properties: Mapping[str, Any] | None = None,
    *,
    set_once: Mapping[str, Any] | None = None,
    unset: Iterable[str] = (),
    distinct_ids: Iterable[str] = (),
) -> int:
    """Create the person of ``distinct_id`` or merge ``properties`` into it; returns its id."""
    person_id = person_id_for(conn, project_id, distinct_id)
    if person_id is None:
        cursor = conn.execute(
            "INSERT INTO persons (project_id, uuid, properties, created_at) VALUES (?, ?, ?, ?)",
            (project_id, str(uuid.uuid4()), "{}", now_iso()),
        )
        person_id = int(cursor.lastrowid or 0)
        conn.execute(
            "INSERT INTO person_distinct_ids (project_id, distinct_id, person_id) VALUES (?, ?, ?)",
            (project_id, distinct_id, person_id),
        )
    for extra in distinct_ids:
        conn.execute(
            "INSERT OR IGNORE INTO person_distinct_ids (project_id, distinct_id, person_id)"
            " VALUES (?, ?, ?)",
            (project_id, extra, person_id),
        )
    row = conn.execute("SELECT properties FROM persons WHERE id = ?", (person_id,)).fetchone()
    props = loads(row["properties"], {})
    changed = False
    for key, value in (set_once or {}).items():
        if key not in props:
            props[key] = value
            changed = True
    if properties:
        props.update(properties)
        changed = True
    for key in unset:
        if key in props:
            del props[key]
            changed = True
    if changed:
        conn.execute("UPDATE persons SET properties = ? WHERE id = ?", (dumps(props), person_id))
    return person_id


def person_properties(
    conn: sqlite3.Connection, project_id: int, distinct_id: str
) -> dict[str, Any]:
    """Stored properties of the person of ``distinct_id`` (``{}`` when unknown)."""
    row = conn.execute(
        "SELECT p.properties FROM persons p JOIN person_distinct_ids d ON d.person_id = p.id"
        " WHERE d.project_id = ? AND d.distinct_id = ?",
        (project_id, distinct_id),
    ).fetchone()
    return dict(loads(row["properties"], {})) if row else {}


def person_json(conn: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    """A person as PostHog's persons API serialises it."""
    distinct_ids = [
        r["distinct_id"]
        for r in conn.execute(
            "SELECT distinct_id FROM person_distinct_ids WHERE person_id = ? ORDER BY rowid",
            (row["id"],),
        )
    ]
    properties = loads(row["properties"], {})
    name = properties.get("email") or properties.get("name") or (distinct_ids or [""])[0]
    return {
        "id": row["id"],
        "uuid": row["uuid"],
        "name": str(name),
        "distinct_ids": distinct_ids,
        "properties": properties,
        "created_at": row["created_at"],
        "is_identified": len(distinct_ids) > 1 or bool(properties),
    }


def list_persons(
    conn: sqlite3.Connection,
    project_id: int,
    *,
    offset: int,
    limit: int,
    distinct_id: str | None = None,
    search: str | None = None,
) -> list[sqlite3.Row]:
    """Persons newest first, optionally only the owner of ``distinct_id`` or a text match."""
    sql = "SELECT * FROM persons p WHERE p.project_id = ?"
    args: list[Any] = [project_id]
    if distinct_id is not None:
        sql += (
            " AND p.id IN (SELECT person_id FROM person_distinct_ids"
            " WHERE project_id = ? AND distinct_id = ?)"
        )
        args += [project_id, distinct_id]
    if search:
        sql += (
            " AND (p.properties LIKE ? ESCAPE '\\' OR p.id IN (SELECT person_id FROM"
            " person_distinct_ids WHERE project_id = ? AND distinct_id LIKE ? ESCAPE '\\'))"
        )
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        args += [pattern, project_id, pattern]
    sql += " ORDER BY p.id DESC LIMIT ? OFFSET ?"
    args += [limit, offset]
    return conn.execute(sql, args).fetchall()


def get_person(conn: sqlite3.Connection, project_id: int, ident: str) -> sqlite3.Row | None:
    """A person by numeric id or uuid."""
    if ident.isdigit():
        return conn.execute(  # type: ignore[no-any-return]
            "SELECT * FROM persons WHERE project_id = ? AND id = ?", (project_id, int(ident))
        ).fetchone()
    return conn.execute(  # type: ignore[no-any-return]
        "SELECT * FROM persons WHERE project_id = ? AND uuid = ?", (project_id, ident)
    ).fetchone()


def all_persons(conn: sqlite3.Connection, project_id: int) -> list[tuple[int, str, dict[str, Any]]]:
    """``(person id, first distinct id, properties)`` for every person of the project."""
    rows = conn.execute(
        "SELECT p.id, p.properties, MIN(d.distinct_id) AS distinct_id FROM persons p"
        " LEFT JOIN person_distinct_ids d ON d.person_id = p.id"
        " WHERE p.project_id = ? GROUP BY p.id ORDER BY p.id",
        (project_id,),
    ).fetchall()
    return [(r["id"], r["distinct_id"] or str(r["id"]), loads(r["properties"], {})) for r in rows]


# -- cohorts -------------------------------------------------------------------------------


def cohort_group(filters: Any) -> Any:
    """The property group of a cohort given as PostHog's ``filters`` or as a bare group."""
    if filters is None:
        return {}
    if isinstance(filters, Mapping) and "properties" in filters:
        return filters["properties"] or {}
    return filters


def create_cohort(
    conn: sqlite3.Connection, project_id: int, name: str, group: Any, *, is_static: bool
) -> int:
    """Store a cohort; returns its id."""
    cursor = conn.execute(
        "INSERT INTO cohorts (project_id, name, filters, is_static, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (project_id, name, dumps(group), int(is_static), now_iso()),
    )
    return int(cursor.lastrowid or 0)


def add_cohort_members(
    conn: sqlite3.Connection, project_id: int, cohort_id: int, distinct_ids: Iterable[str]
) -> None:
    """Add persons (created when unknown) to a static cohort."""
    for distinct_id in distinct_ids:
        person_id = upsert_person(conn, project_id, distinct_id)
        conn.execute(
            "INSERT OR IGNORE INTO cohort_people (cohort_id, person_id) VALUES (?, ?)",
            (cohort_id, person_id),
        )


def cohort_info(conn: sqlite3.Connection, project_id: int, cohort_id: int) -> CohortInfo | None:
    """A non-deleted cohort of the project."""
    row = conn.execute(
        "SELECT * FROM cohorts WHERE project_id = ? AND id = ? AND deleted = 0",
        (project_id, cohort_id),
    ).fetchone()
    if row is None:
        return None
    return CohortInfo(
        id=row["id"],
        name=row["name"],
        is_static=bool(row["is_static"]),
        group=loads(row["filters"]),
    )


def cohort_json(conn: sqlite3.Connection, project_id: int, cohort_id: int) -> dict[str, Any]:
    """A cohort as PostHog's cohorts API serialises its main fields."""
    row = conn.execute(
        "SELECT * FROM cohorts WHERE project_id = ? AND id = ?", (project_id, cohort_id)
    ).fetchone()
    count = conn.execute(
        "SELECT COUNT(*) FROM cohort_people WHERE cohort_id = ?", (cohort_id,)
    ).fetchone()[0]
    return {
        "id": row["id"],
        "name": row["name"],
        "description": "",
        "filters": {"properties": loads(row["filters"])},
        "is_static": bool(row["is_static"]),
        "deleted": bool(row["deleted"]),
        "count": count if row["is_static"] else None,
        "created_at": row["created_at"],
    }


def static_memberships(
    conn: sqlite3.Connection, project_id: int, distinct_id: str, cohort_ids: Iterable[int]
) -> set[int]:
    """Which of ``cohort_ids`` (static cohorts) contain the person of ``distinct_id``."""
    wanted = list(cohort_ids)
    person_id = person_id_for(conn, project_id, distinct_id)
    if person_id is None or not wanted:
        return set()
    marks = ",".join("?" * len(wanted))
    rows = conn.execute(
        f"SELECT cohort_id FROM cohort_people WHERE person_id = ? AND cohort_id IN ({marks})",
        (person_id, *wanted),
    ).fetchall()
    return {int(row["cohort_id"]) for row in rows}


def static_memberships_of_person(conn: sqlite3.Connection, person_id: int) -> set[int]:
    """Every static cohort the person belongs to."""
    rows = conn.execute(
        "SELECT cohort_id FROM cohort_people WHERE person_id = ?", (person_id,)
    ).fetchall()
    return {int(row["cohort_id"]) for row in rows}


# -- groups --------------------------------------------------------------------------------


def upsert_group(
    conn: sqlite3.Connection,
    project_id: int,
    group_type_index: int,
    group_key: str,
    properties: Mapping[str, Any] | None,
) -> None:
    """Create a group or merge properties into it."""
    row = conn.execute(
        "SELECT properties FROM groups WHERE project_id = ? AND group_type_index = ?"
        " AND group_key = ?",
        (project_id, group_type_index, group_key),
    ).fetchone()
    props = loads(row["properties"], {}) if row else {}
    props.update(properties or {})
    conn.execute(
        "INSERT OR REPLACE INTO groups (project_id, group_type_index, group_key, properties,"
        " created_at) VALUES (?, ?, ?, ?, ?)",
        (project_id, group_type_index, group_key, dumps(props), now_iso()),
    )


def group_properties(
    conn: sqlite3.Connection, project_id: int, group_type_index: int, group_key: str
) -> dict[str, Any]:
    """Stored properties of one group (``{}`` when unknown)."""
    row = conn.execute(
        "SELECT properties FROM groups WHERE project_id = ? AND group_type_index = ?"
        " AND group_key = ?",
        (project_id, group_type_index, group_key),
    ).fetchone()
    return dict(loads(row["properties"], {})) if row else {}


def all_groups(
    conn: sqlite3.Connection, project_id: int, group_type_index: int
) -> list[tuple[str, dict[str, Any]]]:
    """``(group key, properties)`` for every group of one type."""
    rows = conn.execute(
        "SELECT group_key, properties FROM groups WHERE project_id = ? AND group_type_index = ?"
        " ORDER BY group_key",
        (project_id, group_type_index),
    ).fetchall()
    return [(r["group_key"], loads(r["properties"], {})) for r in rows]


# -- events --------------------------------------------------------------------------------


def insert_event(conn: sqlite3.Connection, project_id: int, event: Mapping[str, Any]) -> None:
    """Store one captured event (already normalised by the capture handler)."""
    conn.execute(
        "INSERT INTO events (project_id, uuid, event, distinct_id, properties, timestamp,"
        " received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            project_id,
            event["uuid"],
            event["event"],
            event["distinct_id"],
            dumps(event["properties"]),
            event["timestamp"],
            now_iso(),
        ),
    )


def list_events(
    conn: sqlite3.Connection, project_id: int | None = None, event: str | None = None
) -> list[dict[str, Any]]:
    """Captured events in arrival order."""
    sql = "SELECT * FROM events WHERE 1 = 1"
    args: list[Any] = []
    if project_id is not None:
        sql += " AND project_id = ?"
        args.append(project_id)
    if event is not None:
        sql += " AND event = ?"
        args.append(event)
    rows = conn.execute(sql + " ORDER BY id", args).fetchall()
    return [
        {
            "uuid": r["uuid"],
            "event": r["event"],
            "distinct_id": r["distinct_id"],
            "properties": loads(r["properties"], {}),
            "timestamp": r["timestamp"],
            "received_at": r["received_at"],
            "project_id": r["project_id"],
        }
        for r in rows
    ]
