"""The synchronous admin API: :class:`FeatureFlagsAPI`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

import httpx

from flagkit._evaluation.snapshot import Snapshot
from flagkit._net.drive import drive
from flagkit._net.http import build_http_client
from flagkit.api import _models as models
from flagkit.api._base import ApiBase
from flagkit.api._ops import Call, Operations, Pager
from flagkit.api._resources import FlagsCalls, PersonsCalls, RoleAccessCalls, Shell, Steps
from flagkit.api._transport import SyncTransport, TransportCore

T = TypeVar("T")


class _SyncShell(Shell):
    """Sends each call in this thread and returns its answer."""

    _transport: SyncTransport

    def _run(self, call: Call[T]) -> T:
        return call.parse(self._transport.send(call.plan))

    def _steps(self, steps: Steps) -> Any:
        return drive(steps, self._run)

    def _walk(self, first: Call[models.Page[T]]) -> Iterator[T]:
        pager = Pager(first)
        while pager.call is not None:
            page = self._run(pager.call)
            yield from page.results
            pager.advance(page)


class RoleAccessResource(
    _SyncShell, RoleAccessCalls[models.Page[models.RoleAccess], models.RoleAccess, None]
):
    """Role access of one flag (PostHog Enterprise): ``api.flags.role_access``."""


class FlagsResource(
    _SyncShell,
    FlagsCalls[
        models.Page[models.FeatureFlag],
        Iterator[models.FeatureFlag],
        models.FeatureFlag,
        models.Page[models.ActivityEntry],
        bool,
        dict[str, models.EvaluationReason],
        list[models.MyFlag],
        models.BlastRadius,
        dict[str, Any],
        Snapshot,
    ],
):
    """Feature-flag endpoints: ``api.flags`` (role access: ``api.flags.role_access``)."""

    role_access: RoleAccessResource
    _role_access_type = RoleAccessResource


class PersonsResource(
    _SyncShell,
    PersonsCalls[
        models.Page[models.Person], Iterator[models.Person], models.Person, models.Person | None
    ],
):
    """Person endpoints: ``api.persons``."""


class FeatureFlagsAPI(ApiBase[httpx.Client]):
    """Synchronous client of PostHog's feature-flag admin API (and persons).

    ``FeatureFlagsAPI(host, personal_api_key, project_id)``; any of them left out is read
    from ``POSTHOG_HOST``, ``POSTHOG_PERSONAL_API_KEY`` and ``POSTHOG_PROJECT_ID``. Without a
    project id (or with ``legacy=True``) the legacy ``/api/feature_flag/`` routes are used,
    with ``?token=<project_api_key>`` choosing the project. Use it as a context manager or
    call :meth:`close`.
    """

    def _connect(self, http_client: httpx.Client | None, ops: Operations) -> None:
        s = self.settings
        client = http_client or build_http_client(s.host, timeout=s.timeout, secrets=s.secrets)
        self._transport = SyncTransport(client, TransportCore(s.retry, s.secrets), s.auth_headers())
        self.flags = FlagsResource(self._transport, ops)
        self.persons = PersonsResource(self._transport, ops)

    def close(self) -> None:
        """Close the HTTP connections (unless the ``http_client`` was passed in)."""
        if self._owns_client:
            self._transport.client.close()

    def __enter__(self) -> FeatureFlagsAPI:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


__all__ = ["FeatureFlagsAPI", "FlagsResource", "PersonsResource", "RoleAccessResource"]
