"""The admin API's resources (``api.flags``, ``api.flags.role_access``, ``api.persons``),
written once for both clients.

Each method builds its :class:`Call` (or, when it takes several requests, a generator of
calls: see :func:`find_flag`) and hands it to the shell: :mod:`flagkit.api._sync` sends it
and returns the answer, :mod:`flagkit.api._async` returns a coroutine for it. So a method
returns ``FeatureFlag`` on :class:`FeatureFlagsAPI` and ``Awaitable[FeatureFlag]`` on
:class:`AsyncFeatureFlagsAPI`: the classes' type parameters say which.
"""

# The shells' _run/_steps/_walk return Any (an answer, or a coroutine for it); each
# method's declared type says which, through the class's type parameters.
# mypy: disable-error-code="no-any-return"

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from typing import Any, Generic, TypeVar

from flagkit._evaluation.snapshot import Snapshot
from flagkit.api._errors import ApiError
from flagkit.api._models import FeatureFlag, Page
from flagkit.api._ops import DEFAULT_PAGE_SIZE, Call, Operations, Pager, flag_body

FlagRef = int | str
# A multi-request operation: yields the calls to make, receives their answers.
Steps = Generator[Call[Any], Any, Any]

T = TypeVar("T")
ListT = TypeVar("ListT")  # a Page of the resource
IterT = TypeVar("IterT")  # an iterator of the resource (sync or async)
ItemT = TypeVar("ItemT")  # the resource
NoneT = TypeVar("NoneT")  # None
MaybeT = TypeVar("MaybeT")  # the resource or None
ActivityT = TypeVar("ActivityT")  # Page[ActivityEntry]
BoolT = TypeVar("BoolT")  # bool
ReasonsT = TypeVar("ReasonsT")  # dict[str, EvaluationReason]
MyFlagsT = TypeVar("MyFlagsT")  # list[MyFlag]
BlastT = TypeVar("BlastT")  # BlastRadius
BodyT = TypeVar("BodyT")  # dict[str, Any]
SnapshotT = TypeVar("SnapshotT")  # flagkit.Snapshot


def first_match(first: Call[Page[T]], matches: Callable[[T], bool]) -> Steps:
    """The first item from ``first``'s pages on that ``matches`` (``None``: none), walking
    pages only until it is found."""
    pager = Pager(first)
    while pager.call is not None:
        page: Page[T] = yield pager.call
        for item in page.results:
            if matches(item):
                return item
        pager.advance(page)
    return None


def find_flag(ops: Operations, key: str) -> Steps:
    """The non-deleted flag with exactly ``key``; :class:`NotFound` if none."""
    first = ops.list_flags(DEFAULT_PAGE_SIZE, None, {"search": key})
    flag = yield from first_match(first, lambda f: f.key == key and not f.deleted)
    if flag is None:
        raise ops.flag_not_found(key)
    return flag


def delete_flag(ops: Operations, flag_id: FlagRef) -> Steps:
    """Soft delete; on a 2020-era server (a legacy 405) the flag is read, then DELETEd."""
    answer = yield ops.soft_delete_flag(flag_id)
    if not isinstance(answer, ApiError):
        return answer
    flag_before = yield ops.get_flag(flag_id)
    yield ops.hard_delete_flag(flag_id)
    return flag_before


def find_person(ops: Operations, distinct_id: str) -> Steps:
    """The person with ``distinct_id``, or ``None``."""
    first = ops.list_persons(DEFAULT_PAGE_SIZE, None, {"distinct_id": distinct_id})
    return (yield from first_match(first, lambda p: distinct_id in p.distinct_ids))


def local_snapshot(ops: Operations, send_cohorts: bool) -> Steps:
    """The local-evaluation body, as a snapshot."""
    body = yield ops.local_evaluation(send_cohorts)
    return Snapshot.from_dict(body)


class Shell:
    """What a client's shell provides to the resources: sending and page walking."""

    def __init__(self, transport: Any, ops: Operations) -> None:
        self._transport = transport
        self._ops = ops

    def _run(self, call: Call[T]) -> Any:
        """Send ``call``; its parsed answer (or a coroutine for it)."""
        raise NotImplementedError

    def _steps(self, steps: Steps) -> Any:
        """Run a multi-request operation; its result (or a coroutine for it)."""
        raise NotImplementedError

    def _walk(self, first: Call[Page[T]]) -> Any:
        """Every item of every page from ``first`` on, fetched lazily (an iterator)."""
        raise NotImplementedError


class RoleAccessCalls(Shell, Generic[ListT, ItemT, NoneT]):
    """Role access of one flag (PostHog Enterprise): ``api.flags.role_access``."""

    def list(
        self, flag_id: FlagRef, *, limit: int | None = None, offset: int | None = None
    ) -> ListT:
        """One page of the roles that have access to the flag."""
        return self._run(self._ops.list_role_access(flag_id, limit, offset))

    def create(self, flag_id: FlagRef, role_id: str) -> ItemT:
        """Give role ``role_id`` (a uuid) access to the flag."""
        return self._run(self._ops.create_role_access(flag_id, role_id))

    def get(self, flag_id: FlagRef, access_id: FlagRef) -> ItemT:
        """One role-access entry."""
        return self._run(self._ops.get_role_access(flag_id, access_id))

    def delete(self, flag_id: FlagRef, access_id: FlagRef) -> NoneT:
        """Remove a role-access entry."""
        return self._run(self._ops.delete_role_access(flag_id, access_id))


class FlagsCalls(
    Shell,
    Generic[ListT, IterT, ItemT, ActivityT, BoolT, ReasonsT, MyFlagsT, BlastT, BodyT, SnapshotT],
):
    """Feature-flag endpoints: ``api.flags``."""

    _role_access_type: type[Shell]  # the shell's role-access resource

    def __init__(self, transport: Any, ops: Operations) -> None:
        super().__init__(transport, ops)
        self.role_access = self._role_access_type(transport, ops)

    def list(self, limit: int | None = None, offset: int | None = None, **filters: Any) -> ListT:
        """One page of (non-deleted) flags. ``filters`` are passed as query parameters,
        e.g. ``search="beta"`` or ``active=True`` on servers that support them."""
        return self._run(self._ops.list_flags(limit, offset, filters))

    def iter_all(self, *, page_size: int = DEFAULT_PAGE_SIZE, **filters: Any) -> IterT:
        """Every flag, fetching pages lazily as the iteration reaches them."""
        return self._walk(self._ops.list_flags(page_size, None, filters))

    def get(self, flag_id: FlagRef) -> ItemT:
        """The flag with this id (soft-deleted flags too)."""
        return self._run(self._ops.get_flag(flag_id))

    def get_by_key(self, key: str) -> ItemT:
        """The non-deleted flag with exactly this key; :class:`NotFound` if none."""
        return self._steps(find_flag(self._ops, key))

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
    ) -> ItemT:
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

    def update(self, flag: FlagRef | FeatureFlag, **fields: Any) -> ItemT:
        """PATCH the given fields of a flag (by id, or a :class:`FeatureFlag`).

        With a :class:`FeatureFlag` and no fields, its writable fields are sent.
        """
        if isinstance(flag, FeatureFlag):
            if flag.id is None:
                raise ValueError("this FeatureFlag has no id; create it first")
            body = flag_body(flag if not fields else None, fields=fields)
            return self._run(self._ops.update_flag(flag.id, body))
        return self._run(self._ops.update_flag(flag, flag_body(None, fields=fields)))

    def delete(self, flag: FlagRef | FeatureFlag) -> ItemT:
        """Soft-delete: PATCH ``deleted=true`` (PostHog refuses DELETE on flags)."""
        flag_id = flag.id if isinstance(flag, FeatureFlag) else flag
        if flag_id is None:
            raise ValueError("this FeatureFlag has no id")
        return self._steps(delete_flag(self._ops, flag_id))

    def activity(
        self, flag_id: FlagRef | None = None, *, limit: int | None = None, page: int | None = None
    ) -> ActivityT:
        """Activity log of one flag, or of all flags when ``flag_id`` is ``None``."""
        return self._run(self._ops.activity(flag_id, limit, page))

    def create_dashboard(self, flag_id: FlagRef) -> BoolT:
        """(Re)create the flag's usage dashboard; True on success."""
        return self._run(self._ops.create_dashboard(flag_id))

    def evaluation_reasons(
        self, distinct_id: str, groups: Mapping[str, Any] | None = None
    ) -> ReasonsT:
        """PostHog's value and reason for every flag, for one distinct id."""
        return self._run(self._ops.evaluation_reasons(distinct_id, groups))

    def my_flags(self, groups: Mapping[str, Any] | None = None) -> MyFlagsT:
        """Every flag with its value for the user owning the key."""
        return self._run(self._ops.my_flags(groups))

    def user_blast_radius(
        self, condition: Mapping[str, Any], group_type_index: int | None = None
    ) -> BlastT:
        """How many users a condition (``{"properties": [...], "rollout_percentage": n}``)
        would reach."""
        return self._run(self._ops.user_blast_radius(condition, group_type_index))

    def local_evaluation_body(self, *, send_cohorts: bool = True) -> BodyT:
        """The raw local-evaluation definitions body (``flags``, ``cohorts``, ...)."""
        return self._run(self._ops.local_evaluation(send_cohorts))

    def local_evaluation(self, *, send_cohorts: bool = True) -> SnapshotT:
        """The definitions as a :class:`~flagkit.Snapshot`, ready for an ``Evaluator``."""
        return self._steps(local_snapshot(self._ops, send_cohorts))


class PersonsCalls(Shell, Generic[ListT, IterT, ItemT, MaybeT]):
    """Person endpoints: ``api.persons``."""

    def list(self, limit: int | None = None, offset: int | None = None, **filters: Any) -> ListT:
        """One page of persons (``filters`` become query parameters, e.g. ``search=``)."""
        return self._run(self._ops.list_persons(limit, offset, filters))

    def iter_all(self, *, page_size: int = DEFAULT_PAGE_SIZE, **filters: Any) -> IterT:
        """Every person, fetching pages lazily."""
        return self._walk(self._ops.list_persons(page_size, None, filters))

    def get(self, person_id: int | str) -> ItemT:
        """The person with this id."""
        return self._run(self._ops.get_person(person_id))

    def find(self, distinct_id: str) -> MaybeT:
        """The person with this distinct id, or ``None``."""
        return self._steps(find_person(self._ops, distinct_id))
