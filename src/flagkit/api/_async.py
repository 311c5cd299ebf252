"""The asynchronous admin API: :class:`AsyncFeatureFlagsAPI` (same calls, awaited)."""

from __future__ import annotations

import builtins
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from flagkit._net.async_http import build_async_http_client
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
from flagkit.api._transport import AsyncTransport, TransportCore

if TYPE_CHECKING:
    from flagkit._evaluation.snapshot import Snapshot

T = TypeVar("T")
FlagRef = int | str


class _Base:
    def __init__(self, transport: AsyncTransport, ops: Operations) -> None:
        self._transport = transport
        self._ops = ops

    async def _run(self, call: Call[T]) -> T:
        return call.parse(await self._transport.send(call.plan))

    async def _walk(self, first: Call[Page[T]]) -> AsyncGenerator[T, None]:
        pager = Pager(first)
        while pager.call is not None:
            page = await self._run(pager.call)
            for item in page.results:
                yield item
            pager.advance(page)


class RoleAccessResource(_Base):
    """Role access of one flag (PostHog Enterprise): ``api.flags.role_access``."""

    async def list(
        self, flag_id: FlagRef, *, limit: int | None = None, offset: int | None = None
    ) -> Page[RoleAccess]:
        """One page of the roles that have access to the flag."""
        return await self._run(self._ops.list_role_access(flag_id, limit, offset))

    async def create(self, flag_id: FlagRef, role_id: str) -> RoleAccess:
        """Give role ``role_id`` (a uuid) access to the flag."""
        return await self._run(self._ops.create_role_access(flag_id, role_id))

    async def get(self, flag_id: FlagRef, access_id: FlagRef) -> RoleAccess:
        """One role-access entry."""
        return await self._run(self._ops.get_role_access(flag_id, access_id))

    async def delete(self, flag_id: FlagRef, access_id: FlagRef) -> None:
        """Remove a role-access entry."""
        await self._run(self._ops.delete_role_access(flag_id, access_id))


class FlagsResource(_Base):
    """Feature-flag endpoints: ``api.flags``."""

    def __init__(self, transport: AsyncTransport, ops: Operations) -> None:
        super().__init__(transport, ops)
        self.role_access = RoleAccessResource(transport, ops)

    async def list(
        self, limit: int | None = None, offset: int | None = None, **filters: Any
    ) -> Page[FeatureFlag]:
        """One page of (non-deleted) flags. ``filters`` are passed as query parameters,
        e.g. ``search="beta"`` or ``active=True`` on servers that support them."""
        return await self._run(self._ops.list_flags(limit, offset, filters))

    def iter_all(
        self, *, page_size: int = DEFAULT_PAGE_SIZE, **filters: Any
    ) -> AsyncIterator[FeatureFlag]:
        """Every flag, fetching pages lazily as the iteration reaches them."""
        return self._walk(self._ops.list_flags(page_size, None, filters))

    async def get(self, flag_id: FlagRef) -> FeatureFlag:
        """The flag with this id (soft-deleted flags too)."""
        return await self._run(self._ops.get_flag(flag_id))

    async def get_by_key(self, key: str) -> FeatureFlag:
        """The non-deleted flag with exactly this key; :class:`NotFound` if none."""
        # aclosing: stop the page walk at once when the flag is found.
        async with aclosing(
            self._walk(self._ops.list_flags(DEFAULT_PAGE_SIZE, None, {"search": key}))
        ) as flags:
            async for flag in flags:
                if flag.key == key and not flag.deleted:
                    return flag
        raise self._ops.flag_not_found(key)

    async def create(
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
        return await self._run(self._ops.create_flag(body))

    async def update(self, flag: FlagRef | FeatureFlag, **fields: Any) -> FeatureFlag:
        """PATCH the given fields of a flag (by id, or a :class:`FeatureFlag`).

        With a :class:`FeatureFlag` and no fields, its writable fields are sent.
        """
        if isinstance(flag, FeatureFlag):
            if flag.id is None:
                raise ValueError("this FeatureFlag has no id; create it first")
            body = flag_body(flag if not fields else None, fields=fields)
            return await self._run(self._ops.update_flag(flag.id, body))
        return await self._run(self._ops.update_flag(flag, flag_body(None, fields=fields)))

    async def delete(self, flag: FlagRef | FeatureFlag) -> FeatureFlag:
        """Soft-delete: PATCH ``deleted=true`` (PostHog refuses DELETE on flags)."""
        flag_id = flag.id if isinstance(flag, FeatureFlag) else flag
        if flag_id is None:
            raise ValueError("this FeatureFlag has no id")
        try:
            return await self._run(self._ops.update_flag(flag_id, {"deleted": True}))
        except ApiError as exc:
            # 2020-era servers have no soft delete but accept DELETE.
            if exc.status != 405 or not self._ops.paths.legacy:
                raise
        flag_before = await self.get(flag_id)
        await self._run(self._ops.hard_delete_flag(flag_id))
        return flag_before

    async def activity(
        self, flag_id: FlagRef | None = None, *, limit: int | None = None, page: int | None = None
    ) -> Page[ActivityEntry]:
        """Activity log of one flag, or of all flags when ``flag_id`` is ``None``."""
        return await self._run(self._ops.activity(flag_id, limit, page))

    async def create_dashboard(self, flag_id: FlagRef) -> bool:
        """(Re)create the flag's usage dashboard; True on success."""
        return await self._run(self._ops.create_dashboard(flag_id))

    async def evaluation_reasons(
        self, distinct_id: str, groups: Mapping[str, Any] | None = None
    ) -> dict[str, EvaluationReason]:
        """PostHog's value and reason for every flag, for one distinct id."""
        return await self._run(self._ops.evaluation_reasons(distinct_id, groups))

    async def my_flags(self, groups: Mapping[str, Any] | None = None) -> builtins.list[MyFlag]:
        """Every flag with its value for the user owning the key."""
        return await self._run(self._ops.my_flags(groups))

    async def user_blast_radius(
        self, condition: Mapping[str, Any], group_type_index: int | None = None
    ) -> BlastRadius:
        """How many users a condition (``{"properties": [...], "rollout_percentage": n}``)
        would reach."""
        return await self._run(self._ops.user_blast_radius(condition, group_type_index))

    async def local_evaluation_body(self, *, send_cohorts: bool = True) -> dict[str, Any]:
        """The raw local-evaluation definitions body (``flags``, ``cohorts``, ...)."""
        return await self._run(self._ops.local_evaluation(send_cohorts))

    async def local_evaluation(self, *, send_cohorts: bool = True) -> Snapshot:
        """The definitions as a :class:`~flagkit.Snapshot`, ready for an ``Evaluator``."""
        from flagkit._evaluation.snapshot import Snapshot

        return Snapshot.from_dict(await self.local_evaluation_body(send_cohorts=send_cohorts))


class PersonsResource(_Base):
    """Person endpoints: ``api.persons``."""

    async def list(
        self, limit: int | None = None, offset: int | None = None, **filters: Any
    ) -> Page[Person]:
        """One page of persons (``filters`` become query parameters, e.g. ``search=``)."""
        return await self._run(self._ops.list_persons(limit, offset, filters))

    def iter_all(
        self, *, page_size: int = DEFAULT_PAGE_SIZE, **filters: Any
    ) -> AsyncIterator[Person]:
        """Every person, fetching pages lazily."""
        return self._walk(self._ops.list_persons(page_size, None, filters))

    async def get(self, person_id: int | str) -> Person:
        """The person with this id."""
        return await self._run(self._ops.get_person(person_id))

    async def find(self, distinct_id: str) -> Person | None:
        """The person with this distinct id, or ``None``."""
        call = self._ops.list_persons(DEFAULT_PAGE_SIZE, None, {"distinct_id": distinct_id})
        async with aclosing(self._walk(call)) as persons:
            async for person in persons:
                if distinct_id in person.distinct_ids:
                    return person
        return None


class AsyncFeatureFlagsAPI(ApiBase[httpx.AsyncClient]):
    """Asynchronous client of PostHog's feature-flag admin API (and persons).

    The same calls as :class:`~flagkit.api.FeatureFlagsAPI`, awaited; ``iter_all`` returns
    an async iterator. Use ``async with`` or ``await api.aclose()``.
    """

    def _connect(self, http_client: httpx.AsyncClient | None, ops: Operations) -> None:
        s = self.settings
        client = http_client or build_async_http_client(
            s.host, timeout=s.timeout, secrets=s.secrets
        )
        self._transport = AsyncTransport(
            client, TransportCore(s.retry, s.secrets), s.auth_headers()
        )
        self.flags = FlagsResource(self._transport, ops)
        self.persons = PersonsResource(self._transport, ops)

    async def aclose(self) -> None:
        """Close the HTTP connections (unless the ``http_client`` was passed in)."""
        if self._owns_client:
            await self._transport.client.aclose()

    async def __aenter__(self) -> AsyncFeatureFlagsAPI:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


__all__ = ["AsyncFeatureFlagsAPI", "FlagsResource", "PersonsResource", "RoleAccessResource"]
