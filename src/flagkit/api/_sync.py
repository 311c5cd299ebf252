"""The synchronous admin API: :class:`FeatureFlagsAPI`."""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from flagkit._net.http import build_http_client
from flagkit.api._base import ApiBase
from flagkit.api._errors import ApiError
from flagkit.api._models import (
    ActivityEntry,
    BlastRadius,
    EvaluationReason,
    FeatureFlag,
    MyFlag,
    Page,
    Person,
    RoleAccess,
)
from flagkit.api._ops import DEFAULT_PAGE_SIZE, Call, Operations, Pager, flag_body
from flagkit.api._transport import SyncTransport, TransportCore

if TYPE_CHECKING:
    from flagkit._evaluation.snapshot import Snapshot

T = TypeVar("T")
FlagRef = int | str


class _Base:
    def __init__(self, transport: SyncTransport, ops: Operations) -> None:
        self._transport = transport
        self._ops = ops

    def _run(self, call: Call[T]) -> T:
        return call.parse(self._transport.send(call.plan))

    def _walk(self, first: Call[Page[T]]) -> Iterator[T]:
        pager = Pager(first)
        while pager.call is not None:
            page = self._run(pager.call)
            yield from page.results
            pager.advance(page)


class RoleAccessResource(_Base):
    """Role access of one flag (PostHog Enterprise): ``api.flags.role_access``."""

    def list(
        self, flag_id: FlagRef, *, limit: int | None = None, offset: int | None = None
    ) -> Page[RoleAccess]:
        """One page of the roles that have access to the flag."""
        return self._run(self._ops.list_role_access(flag_id, limit, offset))

    def create(self, flag_id: FlagRef, role_id: str) -> RoleAccess:
        """Give role ``role_id`` (a uuid) access to the flag."""
        return self._run(self._ops.create_role_access(flag_id, role_id))

    def get(self, flag_id: FlagRef, access_id: FlagRef) -> RoleAccess:
        """One role-access entry."""
        return self._run(self._ops.get_role_access(flag_id, access_id))

    def delete(self, flag_id: FlagRef, access_id: FlagRef) -> None:
        """Remove a role-access entry."""
        self._run(self._ops.delete_role_access(flag_id, access_id))


class FlagsResource(_Base):
    """Feature-flag endpoints: ``api.flags``."""

    def __init__(self, transport: SyncTransport, ops: Operations) -> None:
        super().__init__(transport, ops)
        self.role_access = RoleAccessResource(transport, ops)

    def list(
        self, limit: int | None = None, offset: int | None = None, **filters: Any
    ) -> Page[FeatureFlag]:
        """One page of (non-deleted) flags. ``filters`` are passed as query parameters,
        e.g. ``search="beta"`` or ``active=True`` on servers that support them."""
        return self._run(self._ops.list_flags(limit, offset, filters))

    def iter_all(
        self, *, page_size: int = DEFAULT_PAGE_SIZE, **filters: Any
    ) -> Iterator[FeatureFlag]:
        """Every flag, fetching pages lazily as the iteration reaches them."""
        return self._walk(self._ops.list_flags(page_size, None, filters))

    def get(self, flag_id: FlagRef) -> FeatureFlag:
        """The flag with this id (soft-deleted flags too)."""
        return self._run(self._ops.get_flag(flag_id))

    def get_by_key(self, key: str) -> FeatureFlag:
        """The non-deleted flag with exactly this key; :class:`NotFound` if none."""
        for flag in self.iter_all(search=key):
            if flag.key == key and not flag.deleted:
                return flag
        raise self._ops.flag_not_found(key)

    def create(
        self,
        key: str | FeatureFlag | Mapping[str, Any],
        *,
        name: str | None = None,
        filters: Mapping[str, Any] | None = None,
        active: bool | None = None,
        rollout_percentage: float | None = None,
        variants: Any = None,
        **fields: Any,
    ) -> FeatureFlag:
        """Create a flag from a key (plus keyword fields), a :class:`FeatureFlag` or a dict.

        ``rollout_percentage`` makes one condition group for everyone; ``variants`` (a list
        of :class:`Variant` or dicts) makes the flag multivariate. The key and filters are
        checked before sending (see :mod:`flagkit.api`).
        """
        body = flag_body(
            key,
            name=name,
            filters=filters,
            active=active,
            rollout_percentage=rollout_percentage,
            variants=variants,
            fields=fields,
        )
        return self._run(self._ops.create_flag(body))

    def update(self, flag: FlagRef | FeatureFlag, **fields: Any) -> FeatureFlag:
        """PATCH the given fields of a flag (by id, or a :class:`FeatureFlag`).

        With a :class:`FeatureFlag` and no fields, its writable fields are sent.
        """
        if isinstance(flag, FeatureFlag):
            if flag.id is None:
                raise ValueError("this FeatureFlag has no id; create it first")
            body = flag_body(flag if not fields else None, fields=fields)
            return self._run(self._ops.update_flag(flag.id, body))
        return self._run(self._ops.update_flag(flag, flag_body(None, fields=fields)))

    def delete(self, flag: FlagRef | FeatureFlag) -> FeatureFlag:
        """Soft-delete: PATCH ``deleted=true`` (PostHog refuses DELETE on flags)."""
        flag_id = flag.id if isinstance(flag, FeatureFlag) else flag
        if flag_id is None:
            raise ValueError("this FeatureFlag has no id")
        try:
            return self._run(self._ops.update_flag(flag_id, {"deleted": True}))
        except ApiError as exc:
            # 2020-era servers have no soft delete but accept DELETE.
            if exc.status != 405 or not self._ops.paths.legacy:
                raise
        flag_before = self.get(flag_id)
        self._run(self._ops.hard_delete_flag(flag_id))
        return flag_before

    def activity(
        self, flag_id: FlagRef | None = None, *, limit: int | None = None, page: int | None = None
    ) -> Page[ActivityEntry]:
        """Activity log of one flag, or of all flags when ``flag_id`` is ``None``."""
        return self._run(self._ops.activity(flag_id, limit, page))

    def create_dashboard(self, flag_id: FlagRef) -> bool:
        """(Re)create the flag's usage dashboard; True on success."""
        return self._run(self._ops.create_dashboard(flag_id))

    def evaluation_reasons(
        self, distinct_id: str, groups: Mapping[str, Any] | None = None
    ) -> dict[str, EvaluationReason]:
        """PostHog's value and reason for every flag, for one distinct id."""
        return self._run(self._ops.evaluation_reasons(distinct_id, groups))

    def my_flags(self, groups: Mapping[str, Any] | None = None) -> builtins.list[MyFlag]:
        """Every flag with its value for the user owning the key."""
        return self._run(self._ops.my_flags(groups))

    def user_blast_radius(
        self, condition: Mapping[str, Any], group_type_index: int | None = None
    ) -> BlastRadius:
        """How many users a condition (``{"properties": [...], "rollout_percentage": n}``)
        would reach."""
        return self._run(self._ops.user_blast_radius(condition, group_type_index))

    def local_evaluation_body(self, *, send_cohorts: bool = True) -> dict[str, Any]:
        """The raw local-evaluation definitions body (``flags``, ``cohorts``, ...)."""
        return self._run(self._ops.local_evaluation(send_cohorts))

    def local_evaluation(self, *, send_cohorts: bool = True) -> Snapshot:
        """The definitions as a :class:`~flagkit.Snapshot`, ready for an ``Evaluator``."""
        from flagkit._evaluation.snapshot import Snapshot

        return Snapshot.from_dict(self.local_evaluation_body(send_cohorts=send_cohorts))


class PersonsResource(_Base):
    """Person endpoints: ``api.persons``."""

    def list(
        self, limit: int | None = None, offset: int | None = None, **filters: Any
    ) -> Page[Person]:
        """One page of persons (``filters`` become query parameters, e.g. ``search=``)."""
        return self._run(self._ops.list_persons(limit, offset, filters))

    def iter_all(self, *, page_size: int = DEFAULT_PAGE_SIZE, **filters: Any) -> Iterator[Person]:
        """Every person, fetching pages lazily."""
        return self._walk(self._ops.list_persons(page_size, None, filters))

    def get(self, person_id: int | str) -> Person:
        """The person with this id."""
        return self._run(self._ops.get_person(person_id))

    def find(self, distinct_id: str) -> Person | None:
        """The person with this distinct id, or ``None``."""
        for person in self.iter_all(distinct_id=distinct_id):
            if distinct_id in person.distinct_ids:
                return person
        return None


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
