"""Loading a seed file (``examples/seed.json``) into the local server, idempotently.

Format (every section optional)::

    {"group_types": {"0": "company"},
     "persons": [{"distinct_id": "alice", "properties": {...}, "distinct_ids": [...]}],
     "groups": [{"group_type": "company", "key": "acme", "properties": {...}}],
     "cohorts": [{"name": "Beta testers", "filters": {...}},
                 {"name": "Design partners", "static_members": ["alice", ...]}],
     "roles": [{"name": "Engineering", "feature_flags_access_level": 37}],
     "flags": [<flag create body>, ...]}

In flag filters, a cohort property may name its cohort (``"value": "Beta testers"``) and a
flag-dependency property its flag (``"key": "new-checkout"``); they are replaced by ids.
Entries that already exist (same flag key, cohort name, role name) are left alone, so a seed
can be applied to a persistent database on every start.
"""

from __future__ import annotations

import copy
import json
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flagkit.server import _accounts, _flags_service, _people
from flagkit.server import _flags_store as store
from flagkit.server._accounts import User

_REQUIRED = {
    "persons": "distinct_id",
    "groups": "key",
    "cohorts": "name",
    "roles": "name",
    "flags": "key",
}


def load_seed(path: str | Path) -> dict[str, Any]:
    """Read and check a seed file (``ValueError`` names what is wrong)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"seed file {path} is not valid JSON: {error}") from None
    check_seed(data)
    return dict(data)


def check_seed(data: Any) -> None:
    """Raise ``ValueError`` unless ``data`` has the seed shape."""
    if not isinstance(data, Mapping):
        raise ValueError("a seed must be a JSON object")
    for section, field in _REQUIRED.items():
        entries = data.get(section) or []
        if not isinstance(entries, list):
            raise ValueError(f"seed section {section!r} must be a list")
        for position, entry in enumerate(entries):
            if not isinstance(entry, Mapping) or field not in entry:
                raise ValueError(f"seed {section}[{position}] needs a {field!r}")
    if "groups" in data:
        for position, entry in enumerate(data["groups"] or []):
            if "group_type" not in entry:
                raise ValueError(f"seed groups[{position}] needs a 'group_type'")
    if not isinstance(data.get("group_types") or {}, Mapping):
        raise ValueError('seed section \'group_types\' must be an object like {"0": "company"}')


def _cohort_ids(conn: sqlite3.Connection, project_id: int) -> dict[str, int]:
    rows = conn.execute(
        "SELECT id, name FROM cohorts WHERE project_id = ? AND deleted = 0 ORDER BY id",
        (project_id,),
    ).fetchall()
    return {row["name"]: int(row["id"]) for row in rows}


def _resolve_references(
    conn: sqlite3.Connection, project_id: int, filters: Any, cohorts: Mapping[str, int]
) -> Any:
    out = copy.deepcopy(filters)
    if not isinstance(out, dict):
        return out
    for group in out.get("groups") or []:
        for prop in group.get("properties") or []:
            if not isinstance(prop, dict):
                continue
            if prop.get("type") == "cohort" and prop.get("value") in cohorts:
                prop["value"] = cohorts[prop["value"]]
            if prop.get("type") == "flag" and isinstance(prop.get("key"), str):
                other = store.live_flag_by_key(conn, project_id, prop["key"])
                if other is not None:
                    prop["key"] = str(other["id"])
    return out


def apply_seed(
    conn: sqlite3.Connection, project_id: int, seed: Mapping[str, Any], actor: User
) -> None:
    """Create what the seed describes that does not exist yet (inside one transaction)."""
    group_types = seed.get("group_types") or {}
    for index, name in group_types.items() if isinstance(group_types, dict) else []:
        _accounts.set_group_type(conn, project_id, str(name), int(index))
    for person in seed.get("persons") or []:
        _people.upsert_person(
            conn,
            project_id,
            str(person["distinct_id"]),
            person.get("properties") or {},
            distinct_ids=person.get("distinct_ids") or (),
        )
    for group in seed.get("groups") or []:
        index = _accounts.set_group_type(conn, project_id, str(group["group_type"]))
        _people.upsert_group(
            conn, project_id, index, str(group["key"]), group.get("properties") or {}
        )
    existing = _cohort_ids(conn, project_id)
    for cohort in seed.get("cohorts") or []:
        name = str(cohort["name"])
        if name in existing:
            continue
        members = cohort.get("static_members")
        cohort_id = _people.create_cohort(
            conn,
            project_id,
            name,
            _people.cohort_group(cohort.get("filters")),
            is_static=members is not None,
        )
        if members:
            _people.add_cohort_members(conn, project_id, cohort_id, [str(m) for m in members])
        existing[name] = cohort_id
    roles = {
        row["name"]
        for row in conn.execute("SELECT name FROM roles WHERE project_id = ?", (project_id,))
    }
    for role in seed.get("roles") or []:
        if role["name"] not in roles:
            level = int(role.get("feature_flags_access_level", 37))
            _accounts.create_role(conn, project_id, str(role["name"]), level)
    for flag in seed.get("flags") or []:
        if store.live_flag_by_key(conn, project_id, str(flag["key"])) is not None:
            continue
        body = dict(flag)
        if "filters" in body:
            body["filters"] = _resolve_references(conn, project_id, body["filters"], existing)
        _flags_service.create_flag(conn, project_id, body, actor=actor)
