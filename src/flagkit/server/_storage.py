"""SQLite storage of the local server: one connection, one lock, short transactions.

Every write runs in ``BEGIN IMMEDIATE … COMMIT``: a kill mid-write rolls back on the next open
and never leaves half a flag, and read-modify-write updates done inside one transaction cannot
lose each other's changes. A file database uses WAL with ``synchronous=FULL``; ``None`` means an
in-memory database that lives as long as the server.
"""

from __future__ import annotations

import datetime
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT, uuid TEXT NOT NULL, distinct_id TEXT NOT NULL,
    first_name TEXT NOT NULL, email TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS projects (
    id INTEGER PRIMARY KEY AUTOINCREMENT, uuid TEXT NOT NULL, name TEXT NOT NULL,
    api_token TEXT NOT NULL UNIQUE, secret_api_token TEXT NOT NULL UNIQUE,
    quota_limited INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS group_types (
    project_id INTEGER NOT NULL, group_type_index INTEGER NOT NULL, group_type TEXT NOT NULL,
    PRIMARY KEY (project_id, group_type_index), UNIQUE (project_id, group_type)
);
CREATE TABLE IF NOT EXISTS api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT, value TEXT NOT NULL UNIQUE, label TEXT NOT NULL,
    user_id INTEGER NOT NULL, scopes TEXT, scoped_teams TEXT, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS flags (
    id INTEGER PRIMARY KEY AUTOINCREMENT, project_id INTEGER NOT NULL, key TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '', filters TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,
    active INTEGER NOT NULL DEFAULT 1, ensure_experience_continuity INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 1, created_at TEXT NOT NULL, created_by_id INTEGER,
    updated_at TEXT NOT NULL, last_modified_by_id INTEGER, extra TEXT NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX IF NOT EXISTS flags_live_key ON flags (project_id, key) WHERE deleted = 0;
CREATE TABLE IF NOT EXISTS cohorts (
    id INTEGER PRIMARY KEY AUTOINCREMENT, project_id INTEGER NOT NULL, name TEXT NOT NULL,
    filters TEXT NOT NULL, is_static INTEGER NOT NULL DEFAULT 0,
    deleted INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS persons (
    id INTEGER PRIMARY KEY AUTOINCREMENT, project_id INTEGER NOT NULL, uuid TEXT NOT NULL,
    properties TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS person_distinct_ids (
    project_id INTEGER NOT NULL, distinct_id TEXT NOT NULL, person_id INTEGER NOT NULL,
    PRIMARY KEY (project_id, distinct_id)
);
CREATE INDEX IF NOT EXISTS person_distinct_ids_person ON person_distinct_ids (person_id);
CREATE TABLE IF NOT EXISTS cohort_people (
    cohort_id INTEGER NOT NULL, person_id INTEGER NOT NULL, PRIMARY KEY (cohort_id, person_id)
);
CREATE TABLE IF NOT EXISTS groups (
    project_id INTEGER NOT NULL, group_type_index INTEGER NOT NULL, group_key TEXT NOT NULL,
    properties TEXT NOT NULL, created_at TEXT NOT NULL,
    PRIMARY KEY (project_id, group_type_index, group_key)
);
CREATE TABLE IF NOT EXISTS activity (
    id INTEGER PRIMARY KEY AUTOINCREMENT, uuid TEXT NOT NULL, project_id INTEGER NOT NULL,
    scope TEXT NOT NULL, item_id TEXT NOT NULL, activity TEXT NOT NULL,
    detail TEXT NOT NULL, user TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS activity_item ON activity (project_id, scope, item_id);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, project_id INTEGER NOT NULL, uuid TEXT NOT NULL,
    event TEXT NOT NULL, distinct_id TEXT NOT NULL, properties TEXT NOT NULL,
    timestamp TEXT NOT NULL, received_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS roles (
    id TEXT PRIMARY KEY, project_id INTEGER NOT NULL, name TEXT NOT NULL,
    feature_flags_access_level INTEGER NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS role_access (
    id INTEGER PRIMARY KEY AUTOINCREMENT, flag_id INTEGER NOT NULL, role_id TEXT NOT NULL,
    added_at TEXT NOT NULL, updated_at TEXT NOT NULL, UNIQUE (flag_id, role_id)
);
"""

_SCHEMA_VERSION = 1


def now_iso() -> str:
    """The current UTC time as PostHog prints it (ISO 8601 with ``Z``)."""
    stamp = datetime.datetime.now(datetime.timezone.utc)
    return stamp.isoformat(timespec="microseconds").replace("+00:00", "Z")


def dumps(value: Any) -> str:
    """Compact JSON text for a stored column."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def loads(text: str | bytes | None, default: Any = None) -> Any:
    """Decode a stored JSON column; ``None`` gives ``default``."""
    if text is None:
        return default
    return json.loads(text)


class Storage:
    """The server's SQLite database.

    One connection is shared by all request threads and guarded by a re-entrant lock, so a
    transaction sees and writes a consistent state. ``revision`` changes after every committed
    write (also writes of another process on the same file), which lets callers cache
    derived data such as compiled definitions.
    """

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._writes = 0
        target = path if path else ":memory:"
        # isolation_level=None: we issue BEGIN/COMMIT ourselves.
        self._conn = sqlite3.connect(
            target, check_same_thread=False, isolation_level=None, timeout=30.0
        )
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA foreign_keys = ON")
        self._conn.execute("PRAGMA busy_timeout = 30000")
        if path:
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = FULL")
        self._create_schema()

    def _create_schema(self) -> None:
        with self._lock:
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version > _SCHEMA_VERSION:
                raise RuntimeError(
                    f"database schema version {version} is newer than this flagkit supports"
                )
            # executescript commits on its own; the statements are all idempotent.
            self._conn.executescript(_SCHEMA)
            self._conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: commits on success, rolls back on any exception."""
        with self._lock:  # re-entrant: the transaction takes it too
            try:
                with self._transaction("BEGIN IMMEDIATE", commit=True) as conn:
                    yield conn
            finally:
                self._writes += 1

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent read: one deferred transaction under the lock."""
        with self._transaction("BEGIN", commit=False) as conn:
            yield conn

    @contextmanager
    def _transaction(self, begin: str, *, commit: bool) -> Iterator[sqlite3.Connection]:
        """One transaction under the lock; rolled back unless ``commit`` and no exception."""
        with self._lock:
            conn = self._conn
            conn.execute(begin)
            try:
                yield conn
                if commit:
                    conn.execute("COMMIT")
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")

    @property
    def revision(self) -> tuple[int, int]:
        """Changes whenever any connection commits a write to this database."""
        with self._lock:
            data_version = self._conn.execute("PRAGMA data_version").fetchone()[0]
            return (self._writes, int(data_version))

    def integrity_ok(self) -> bool:
        """True when SQLite's integrity check passes."""
        with self._lock:
            row = self._conn.execute("PRAGMA integrity_check").fetchone()
            return bool(row[0] == "ok")

    def close(self) -> None:
        """Close the connection (the server must be stopped first)."""
        with self._lock:
            self._conn.close()
