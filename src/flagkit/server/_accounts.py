"""Users, projects, API keys, group types and roles of the local server."""

from __future__ import annotations

import secrets
import sqlite3
import string
import uuid
from collections.abc import Sequence
from typing import Any

import attrs

from flagkit.server._storage import dumps, loads, now_iso

_ALPHABET = string.ascii_letters + string.digits


def new_key(prefix: str) -> str:
    """A random key such as ``phx_…`` (letters and digits only, like PostHog's)."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(43))


@attrs.frozen(slots=True)
class User:
    """The (single) local user that owns the API keys."""

    id: int
    uuid: str
    distinct_id: str
    first_name: str
    email: str

    def basic(self) -> dict[str, Any]:
        """PostHog's ``UserBasic`` serialisation (``created_by`` of a flag)."""
        return {
            "id": self.id,
            "uuid": self.uuid,
            "distinct_id": self.distinct_id,
            "first_name": self.first_name,
            "last_name": "",
            "email": self.email,
            "is_email_verified": True,
        }

    def activity(self) -> dict[str, Any]:
        """The ``user`` of an activity-log entry."""
        return {"first_name": self.first_name, "email": self.email}


SYSTEM_ACTIVITY_USER = {"first_name": "System", "email": None, "is_system": True}


@attrs.frozen(slots=True, repr=False)
class Project:
    """A project (team) with its public token and secret key."""

    id: int
    uuid: str
    name: str
    api_token: str
    secret_api_token: str
    quota_limited: bool

    def __repr__(self) -> str:
        return f"Project(id={self.id}, name={self.name!r})"


@attrs.frozen(slots=True, repr=False)
class ApiKey:
    """A personal API key. ``scopes is None`` is a legacy key with full access."""

    id: int
    user_id: int
    label: str
    scopes: tuple[str, ...] | None
    scoped_teams: tuple[int, ...] | None

    def __repr__(self) -> str:
        return f"ApiKey(id={self.id}, label={self.label!r}, scopes={self.scopes!r})"


def _user(row: sqlite3.Row) -> User:
    return User(row["id"], row["uuid"], row["distinct_id"], row["first_name"], row["email"])


def _project(row: sqlite3.Row) -> Project:
    return Project(
        id=row["id"],
        uuid=row["uuid"],
        name=row["name"],
        api_token=row["api_token"],
        secret_api_token=row["secret_api_token"],
        quota_limited=bool(row["quota_limited"]),
    )


def _api_key(row: sqlite3.Row) -> ApiKey:
    scopes = loads(row["scopes"])
    teams = loads(row["scoped_teams"])
    return ApiKey(
        id=row["id"],
        user_id=row["user_id"],
        label=row["label"],
        scopes=tuple(scopes) if scopes is not None else None,
        scoped_teams=tuple(teams) if teams else None,
    )


def default_user(conn: sqlite3.Connection) -> User:
    """The local user, created on first use."""
    row = conn.execute("SELECT * FROM users ORDER BY id LIMIT 1").fetchone()
    if row is None:
        conn.execute(
            "INSERT INTO users (uuid, distinct_id, first_name, email) VALUES (?, ?, ?, ?)",
            (str(uuid.uuid4()), f"local-user-{uuid.uuid4().hex[:12]}", "Local", "dev@localhost"),
        )
        row = conn.execute("SELECT * FROM users ORDER BY id LIMIT 1").fetchone()
    return _user(row)


def get_user(conn: sqlite3.Connection, user_id: int | None) -> User | None:
    """A user by id."""
    if user_id is None:
        return None
    row = conn.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
    return _user(row) if row else None


def create_project(
    conn: sqlite3.Connection,
    name: str,
    api_token: str | None = None,
    secret_api_token: str | None = None,
) -> Project:
    """A new project with fresh (or the given) keys."""
    cursor = conn.execute(
        "INSERT INTO projects (uuid, name, api_token, secret_api_token, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (
            str(uuid.uuid4()),
            name,
            api_token or new_key("phc_"),
            secret_api_token or new_key("phs_"),
            now_iso(),
        ),
    )
    project = get_project(conn, int(cursor.lastrowid or 0))
    assert project is not None
    return project


def first_project(conn: sqlite3.Connection) -> Project | None:
    """The default project (the oldest one)."""
    row = conn.execute("SELECT * FROM projects ORDER BY id LIMIT 1").fetchone()
    return _project(row) if row else None


def get_project(conn: sqlite3.Connection, project_id: int) -> Project | None:
    """A project by id."""
    row = conn.execute("SELECT * FROM projects WHERE id = ?", (project_id,)).fetchone()
    return _project(row) if row else None


def project_by_token(conn: sqlite3.Connection, token: str) -> Project | None:
    """The project whose public token (``phc_…``) is ``token``."""
    row = conn.execute("SELECT * FROM projects WHERE api_token = ?", (token,)).fetchone()
    return _project(row) if row else None


def project_by_secret(conn: sqlite3.Connection, secret: str) -> Project | None:
    """The project whose secret key (``phs_…``) is ``secret``."""
    row = conn.execute("SELECT * FROM projects WHERE secret_api_token = ?", (secret,)).fetchone()
    return _project(row) if row else None


def set_project_keys(
    conn: sqlite3.Connection, project_id: int, api_token: str | None, secret: str | None
) -> None:
    """Replace a project's public token and/or secret key."""
    if api_token:
        conn.execute("UPDATE projects SET api_token = ? WHERE id = ?", (api_token, project_id))
    if secret:
        conn.execute("UPDATE projects SET secret_api_token = ? WHERE id = ?", (secret, project_id))


def set_quota_limited(conn: sqlite3.Connection, project_id: int, limited: bool) -> None:
    """Switch PostHog's "quota limited" answers on or off for a project."""
    conn.execute("UPDATE projects SET quota_limited = ? WHERE id = ?", (int(limited), project_id))


def create_api_key(
    conn: sqlite3.Connection,
    user_id: int,
    *,
    value: str | None = None,
    label: str = "flagkit",
    scopes: Sequence[str] | None = None,
    scoped_teams: Sequence[int] | None = None,
) -> str:
    """Store a personal API key and return its value."""
    key = value or new_key("phx_")
    conn.execute(
        "INSERT INTO api_keys (value, label, user_id, scopes, scoped_teams, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (
            key,
            label,
            user_id,
            dumps(list(scopes)) if scopes is not None else None,
            dumps(list(scoped_teams)) if scoped_teams else None,
            now_iso(),
        ),
    )
    return key


def api_key(conn: sqlite3.Connection, value: str) -> ApiKey | None:
    """The personal API key with this value."""
    row = conn.execute("SELECT * FROM api_keys WHERE value = ?", (value,)).fetchone()
    return _api_key(row) if row else None


def default_api_key_value(conn: sqlite3.Connection) -> str | None:
    """The value of the server's default (unscoped) personal key, if one was stored."""
    row = conn.execute(
        "SELECT value FROM api_keys WHERE label = 'default' ORDER BY id LIMIT 1"
    ).fetchone()
    return str(row["value"]) if row else None


def group_type_mapping(conn: sqlite3.Connection, project_id: int) -> dict[str, str]:
    """``{"0": "company", ...}`` as PostHog's definitions carry it."""
    rows = conn.execute(
        "SELECT group_type_index, group_type FROM group_types WHERE project_id = ?"
        " ORDER BY group_type_index",
        (project_id,),
    ).fetchall()
    return {str(row["group_type_index"]): row["group_type"] for row in rows}


def set_group_type(
    conn: sqlite3.Connection, project_id: int, group_type: str, index: int | None = None
) -> int:
    """Register a group type; returns its index (the existing one if already registered)."""
    row = conn.execute(
        "SELECT group_type_index FROM group_types WHERE project_id = ? AND group_type = ?",
        (project_id, group_type),
    ).fetchone()
    if row is not None:
        return int(row["group_type_index"])
    if index is None:
        top = conn.execute(
            "SELECT MAX(group_type_index) FROM group_types WHERE project_id = ?", (project_id,)
        ).fetchone()[0]
        index = 0 if top is None else int(top) + 1
    if not 0 <= index <= 4:
        raise ValueError("PostHog supports group type indexes 0 to 4")
    conn.execute(
        "INSERT OR REPLACE INTO group_types (project_id, group_type_index, group_type)"
        " VALUES (?, ?, ?)",
        (project_id, index, group_type),
    )
    return index


def create_role(
    conn: sqlite3.Connection, project_id: int, name: str, access_level: int = 37
) -> dict[str, Any]:
    """A role (21 = can only view, 37 = can always edit feature flags)."""
    role_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO roles (id, project_id, name, feature_flags_access_level, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (role_id, project_id, name, access_level, now_iso()),
    )
    role = get_role(conn, role_id)
    assert role is not None
    return role


def get_role(conn: sqlite3.Connection, role_id: str) -> dict[str, Any] | None:
    """A role as PostHog serialises it."""
    row = conn.execute("SELECT * FROM roles WHERE id = ?", (role_id,)).fetchone()
    if row is None:
        return None
    user = default_user(conn)
    flags = [
        {"id": r["id"], "key": r["key"]}
        for r in conn.execute(
            "SELECT f.id, f.key FROM role_access a JOIN flags f ON f.id = a.flag_id"
            " WHERE a.role_id = ? ORDER BY a.id",
            (role_id,),
        )
    ]
    return {
        "id": row["id"],
        "name": row["name"],
        "feature_flags_access_level": row["feature_flags_access_level"],
        "created_at": row["created_at"],
        "created_by": user.basic(),
        "members": [],
        "associated_flags": flags,
    }
