"""``LocalServer``: the PostHog-compatible server, in-process, plus ``serve()`` for the CLI."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from flagkit.server import _accounts, _flags_service, _people
from flagkit.server import _flags_store as store
from flagkit.server._app import App
from flagkit.server._capture import Capture
from flagkit.server._errors import not_found
from flagkit.server._faults import Faults
from flagkit.server._flag_actions import FlagActions
from flagkit.server._flags_api import FlagsApi
from flagkit.server._http import HttpServer
from flagkit.server._local_eval import LocalEvaluation
from flagkit.server._persons import PersonsApi
from flagkit.server._remote import RemoteEvaluation
from flagkit.server._seed import apply_seed, check_seed, load_seed
from flagkit.server._storage import Storage


def _build_routes(app: App) -> None:
    flags_api = FlagsApi(app)
    # Order matters: fixed names (local_evaluation, my_flags, ...) before "<flag id>".
    LocalEvaluation(app).register()
    FlagActions(app).register()
    flags_api.register_collection()
    flags_api.register_detail()
    PersonsApi(app).register()
    RemoteEvaluation(app).register()
    Capture(app).register()


class LocalServer:
    """A PostHog-compatible server on 127.0.0.1, backed by SQLite, for tests and development.

    Use it as a context manager; it listens on a free port unless ``port`` is given::

        with LocalServer() as server:
            server.create_flag("beta", {"groups": [{"properties": [], "rollout_percentage": 50}]})
            httpx.get(f"{server.url}/flags/definitions?token={server.project_api_key}",
                      headers={"Authorization": f"Bearer {server.secret_api_key}"})

    ``db_path=None`` keeps everything in memory; a path persists flags, keys and persons
    across restarts. Keys are random per new database unless given. ``rate_limits`` overrides
    scopes of :data:`~flagkit.server.DEFAULT_RATE_LIMITS` (e.g. ``{"burst": "5/minute"}``).
    """

    def __init__(
        self,
        db_path: str | Path | None = None,
        port: int = 0,
        seed: str | Path | Mapping[str, Any] | None = None,
        rate_limits: Mapping[str, str | None] | None = None,
        *,
        host: str = "127.0.0.1",
        personal_api_key: str | None = None,
        project_api_key: str | None = None,
        secret_api_key: str | None = None,
        include_inactive_in_definitions: bool = True,
    ) -> None:
        self._db_path = str(db_path) if db_path is not None else None
        self._requested = (host, port)
        self._seed = seed
        self._given = (personal_api_key, project_api_key, secret_api_key)
        self._storage = Storage(self._db_path)
        try:
            self._app = App(
                self._storage,
                rate_limits=rate_limits,
                include_inactive_in_definitions=include_inactive_in_definitions,
            )
        except BaseException:
            self._storage.close()
            raise
        _build_routes(self._app)
        self._http: HttpServer | None = None
        self._keys: tuple[str, str, str] | None = None
        self._project_id = 0
        self._closed = False

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> LocalServer:
        """Bootstrap the database, apply the seed and start listening."""
        if self._http is not None:
            return self
        if self._closed:
            raise RuntimeError("this LocalServer was stopped; create a new one")
        self._bootstrap()
        http = HttpServer(*self._requested, self._app.router, self._app.faults)
        http.start()
        self._http = http
        return self

    def _bootstrap(self) -> None:
        personal, public, secret = self._given
        seed = self._seed
        if isinstance(seed, (str, os.PathLike)):
            seed = load_seed(seed)
        elif seed is not None:
            check_seed(seed)
        with self._storage.write() as conn:
            user = _accounts.default_user(conn)
            project = _accounts.first_project(conn)
            if project is None:
                project = _accounts.create_project(conn, "Default project", public, secret)
            else:
                _accounts.set_project_keys(conn, project.id, public, secret)
            personal_key = personal or _accounts.default_api_key_value(conn)
            if personal_key is None:
                personal_key = _accounts.create_api_key(conn, user.id, label="default")
            elif _accounts.api_key(conn, personal_key) is None:
                _accounts.create_api_key(conn, user.id, value=personal_key, label="default")
            project = _accounts.get_project(conn, project.id)
            assert project is not None
            if seed is not None:
                apply_seed(conn, project.id, seed, user)
        self._project_id = project.id
        self._keys = (personal_key, project.api_token, project.secret_api_token)

    def stop(self) -> None:
        """Stop serving and close the database. Safe to call twice."""
        if self._http is not None:
            self._http.stop()
            self._http = None
        if not self._closed:
            self._closed = True
            self._storage.close()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self._http is not None else "stopped"
        where = self._db_path or ":memory:"
        url = self.url if self._http is not None else None
        return f"LocalServer({state}, url={url!r}, db={where!r})"

    # -- connection details -----------------------------------------------------------------

    def _require_keys(self) -> tuple[str, str, str]:
        if self._keys is None:
            raise RuntimeError("LocalServer is not started; use start() or a with block")
        return self._keys

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (no trailing slash)."""
        if self._http is None:
            raise RuntimeError("LocalServer is not started; use start() or a with block")
        host, port = self._http.address
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        """The bound port."""
        if self._http is None:
            raise RuntimeError("LocalServer is not started; use start() or a with block")
        return self._http.address[1]

    @property
    def project_id(self) -> int:
        """The default project's id."""
        self._require_keys()
        return self._project_id

    @property
    def personal_api_key(self) -> str:
        """A personal API key (``phx_…``) without scopes: full access."""
        return self._require_keys()[0]

    @property
    def project_api_key(self) -> str:
        """The default project's public token (``phc_…``)."""
        return self._require_keys()[1]

    @property
    def secret_api_key(self) -> str:
        """The default project's secret key (``phs_…``), accepted for local evaluation."""
        return self._require_keys()[2]

    @property
    def db_path(self) -> str | None:
        """The SQLite file, or ``None`` for an in-memory database."""
        return self._db_path

    @property
    def faults(self) -> Faults:
        """Fault injection and request counts (see :class:`~flagkit.server.Faults`)."""
        return self._app.faults

    # -- data helpers -----------------------------------------------------------------------

    def _project(self, project_id: int | None) -> int:
        return project_id if project_id is not None else self.project_id

    def _flag_id(self, conn: Any, project_id: int, flag: int | str) -> int:
        if isinstance(flag, int) and not isinstance(flag, bool):
            return flag
        state = store.live_flag_by_key(conn, project_id, str(flag))
        if state is None:
            raise not_found(f"No feature flag with key {flag!r}.")
        return int(state["id"])

    def create_flag(
        self,
        key: str,
        filters: Mapping[str, Any] | None = None,
        *,
        active: bool = True,
        name: str = "",
        project_id: int | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Create a flag through the same validation as the API; returns the stored flag JSON.

        Raises :class:`~flagkit.server.LocalServerError` (e.g. ``code == "unique"``) when
        PostHog would answer 400.
        """
        project = self._project(project_id)
        body: dict[str, Any] = {"key": key, "active": active, "name": name, **fields}
        if filters is not None:
            body["filters"] = dict(filters)
        with self._storage.write() as conn:
            user = _accounts.default_user(conn)
            state = _flags_service.create_flag(conn, project, body, actor=user)
            return store.flag_json(conn, state)

    def update_flag(
        self, flag_id_or_key: int | str, *, project_id: int | None = None, **fields: Any
    ) -> dict[str, Any]:
        """PATCH a flag (by id, or by key among non-deleted flags); bumps its ``version``."""
        project = self._project(project_id)
        with self._storage.write() as conn:
            user = _accounts.default_user(conn)
            flag_id = self._flag_id(conn, project, flag_id_or_key)
            state = _flags_service.update_flag(conn, project, flag_id, fields, actor=user)
            return store.flag_json(conn, state)

    def delete_flag(
        self, flag_id_or_key: int | str, *, project_id: int | None = None
    ) -> dict[str, Any]:
        """Soft-delete a flag (PostHog's ``PATCH {"deleted": true}``)."""
        return self.update_flag(flag_id_or_key, project_id=project_id, deleted=True)

    def get_flag(
        self, flag_id_or_key: int | str, *, project_id: int | None = None
    ) -> dict[str, Any] | None:
        """A flag's JSON (by id, deleted included; or by key among live flags), or ``None``."""
        project = self._project(project_id)
        with self._storage.read() as conn:
            if isinstance(flag_id_or_key, int) and not isinstance(flag_id_or_key, bool):
                state = store.get_flag(conn, project, flag_id_or_key)
            else:
                state = store.live_flag_by_key(conn, project, str(flag_id_or_key))
            return store.flag_json(conn, state) if state else None

    def flags(self, *, project_id: int | None = None) -> list[dict[str, Any]]:
        """Every non-deleted flag, newest first."""
        project = self._project(project_id)
        with self._storage.read() as conn:
            return [store.flag_json(conn, s) for s in store.live_flags(conn, project)]

    def add_person(
        self,
        distinct_id: str,
        properties: Mapping[str, Any] | None = None,
        *,
        distinct_ids: Sequence[str] = (),
        project_id: int | None = None,
    ) -> dict[str, Any]:
        """Create a person (or merge properties into an existing one); returns its JSON."""
        project = self._project(project_id)
        with self._storage.write() as conn:
            person_id = _people.upsert_person(
                conn, project, distinct_id, properties or {}, distinct_ids=distinct_ids
            )
            row = _people.get_person(conn, project, str(person_id))
            assert row is not None
            return _people.person_json(conn, row)

    def add_cohort(
        self,
        name: str,
        filters: Mapping[str, Any] | None = None,
        *,
        static_members: Sequence[str] | None = None,
        project_id: int | None = None,
    ) -> dict[str, Any]:
        """Create a cohort: dynamic from ``filters`` (PostHog's ``{"properties": {"type": …,
        "values": […]}}`` or a bare property group), or static from ``static_members``
        (distinct ids; unknown ones become persons)."""
        project = self._project(project_id)
        with self._storage.write() as conn:
            cohort_id = _people.create_cohort(
                conn,
                project,
                name,
                _people.cohort_group(filters),
                is_static=static_members is not None,
            )
            if static_members:
                _people.add_cohort_members(conn, project, cohort_id, static_members)
            return _people.cohort_json(conn, project, cohort_id)

    def add_group_type(
        self, group_type: str, index: int | None = None, *, project_id: int | None = None
    ) -> int:
        """Register a group type (e.g. ``"company"``); returns its index."""
        with self._storage.write() as conn:
            return _accounts.set_group_type(conn, self._project(project_id), group_type, index)

    def add_group(
        self,
        group_type: str,
        group_key: str,
        properties: Mapping[str, Any] | None = None,
        *,
        project_id: int | None = None,
    ) -> None:
        """Store a group's properties (the group type is registered if needed)."""
        project = self._project(project_id)
        with self._storage.write() as conn:
            index = _accounts.set_group_type(conn, project, group_type)
            _people.upsert_group(conn, project, index, group_key, properties or {})

    def add_role(
        self, name: str, feature_flags_access_level: int = 37, *, project_id: int | None = None
    ) -> dict[str, Any]:
        """Create a role for ``role_access`` (21 = view only, 37 = can always edit)."""
        with self._storage.write() as conn:
            return _accounts.create_role(
                conn, self._project(project_id), name, feature_flags_access_level
            )

    def create_personal_api_key(
        self,
        scopes: Sequence[str] | None = None,
        *,
        project_ids: Sequence[int] | None = None,
        label: str = "test",
    ) -> str:
        """A new personal API key; ``scopes=None`` is a legacy key with full access, else e.g.
        ``["feature_flag:read"]`` or ``["*"]``; ``project_ids`` limits it to those projects."""
        with self._storage.write() as conn:
            user = _accounts.default_user(conn)
            return _accounts.create_api_key(
                conn, user.id, label=label, scopes=scopes, scoped_teams=project_ids
            )

    def add_project(self, name: str = "Another project") -> dict[str, Any]:
        """A second project: ``{"id", "name", "api_token", "secret_api_token"}``."""
        with self._storage.write() as conn:
            project = _accounts.create_project(conn, name)
        return {
            "id": project.id,
            "name": project.name,
            "api_token": project.api_token,
            "secret_api_token": project.secret_api_token,
        }

    def set_quota_limited(self, limited: bool = True, *, project_id: int | None = None) -> None:
        """Answer like a quota-limited project: ``quotaLimited`` in ``/flags``, 402 on
        local evaluation."""
        with self._storage.write() as conn:
            _accounts.set_quota_limited(conn, self._project(project_id), limited)

    def events(
        self, event: str | None = None, *, project_id: int | None = None
    ) -> list[dict[str, Any]]:
        """Captured events in arrival order, optionally only those named ``event``."""
        with self._storage.read() as conn:
            return _people.list_events(conn, project_id, event)

    def clear_events(self) -> None:
        """Forget captured events."""
        with self._storage.write() as conn:
            conn.execute("DELETE FROM events")

    def reset_rate_limits(self) -> None:
        """Forget the requests counted by the rate limiter."""
        self._app.limiter.reset()


def serve(
    db_path: str | None,
    port: int,
    seed: str | None,
    host: str = "127.0.0.1",
    out: TextIO = sys.stdout,
    announce: Callable[[LocalServer], None] | None = None,
) -> None:
    """Run the local server in the foreground until Ctrl-C (or SIGTERM).

    Prints the URL and the keys to use (or calls ``announce(server)`` instead, once it
    listens). This is what ``flagkit serve`` and ``python -m flagkit.server`` call.
    """
    server = LocalServer(db_path, port, seed, host=host)
    server.start()
    stop = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        if announce is not None:
            announce(server)
        else:
            _print_details(server, db_path, out)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if announce is None:
            out.write("flagkit local server stopped.\n")
            out.flush()


def _print_details(server: LocalServer, db_path: str | None, out: TextIO) -> None:
    lines = [
        f"flagkit local PostHog server listening on {server.url}",
        f"  database:          {db_path or 'in memory (nothing is kept after exit)'}",
        f"  project id:        {server.project_id}",
        f"  project API key:   {server.project_api_key}   (phc_: /flags, capture, ?token=)",
        f"  personal API key:  {server.personal_api_key}   (phx_: Authorization: Bearer)",
        f"  secret API key:    {server.secret_api_key}   (phs_: local evaluation)",
        "Press Ctrl-C to stop.",
    ]
    out.write("\n".join(lines) + "\n")
    out.flush()
