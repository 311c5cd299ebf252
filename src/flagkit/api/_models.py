"""Typed views of the admin API's JSON.

Each model parses leniently (``from_dict``): fields it knows are typed, everything else is
kept in ``extra`` and written back by ``to_dict``, so a newer server with new fields, or an
older one missing some, never breaks the client.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar

import attrs

T = TypeVar("T")
JSON = dict[str, Any]

# Fields a client may send when creating or updating a flag (the rest are computed).
WRITABLE_FLAG_FIELDS = frozenset(
    {
        "name",
        "key",
        "filters",
        "deleted",
        "active",
        "ensure_experience_continuity",
        "rollback_conditions",
        "performed_rollback",
        "tags",
        "analytics_dashboards",
        "has_enriched_analytics",
        "evaluation_tags",
        "evaluation_runtime",
        "bucketing_identifier",
        "creation_context",
        "is_remote_configuration",
        "has_encrypted_payloads",
        "version",
    }
)


def _as_dict(value: object) -> JSON:
    return dict(value) if isinstance(value, Mapping) else {}


def _as_str(value: object, default: str = "") -> str:
    if value is None:
        return default
    return value if isinstance(value, str) else str(value)


def _opt_str(value: object) -> str | None:
    return None if value is None else _as_str(value)


def _opt_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _number(value: object) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _extra(data: Mapping[str, Any], known: frozenset[str] | type[Any]) -> JSON:
    """The fields of ``data`` not in ``known``: a set of names, or a model whose attributes
    are named as PostHog's fields (kept in the model's ``extra``)."""
    if isinstance(known, type):
        known = _known_fields(known)
    return {k: v for k, v in data.items() if k not in known}


_KNOWN_FIELDS: dict[type[Any], frozenset[str]] = {}


def _known_fields(model: type[Any]) -> frozenset[str]:
    known = _KNOWN_FIELDS.get(model)
    if known is None:
        known = frozenset(field.name for field in attrs.fields(model)) - {"extra"}
        _KNOWN_FIELDS[model] = known
    return known


def encode(value: Any) -> Any:
    """``value`` as plain JSON data: models become dicts, tuples become lists."""
    to_dict = getattr(value, "to_dict", None)
    if attrs.has(type(value)) and callable(to_dict):
        return encode(to_dict())
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    return value


@attrs.frozen
class Variant:
    """One variant of a multivariate flag: its key and share of the rollout (0-100)."""

    key: str
    rollout_percentage: float | int
    name: str | None = None
    extra: JSON = attrs.field(factory=dict, repr=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Variant:
        """Parse one element of ``filters.multivariate.variants``."""
        pct = _number(data.get("rollout_percentage"))
        return cls(
            key=_as_str(data.get("key")),
            rollout_percentage=0 if pct is None else pct,
            name=_opt_str(data.get("name")),
            extra=_extra(data, cls),
        )

    def to_dict(self) -> JSON:
        """The JSON form PostHog expects."""
        out: JSON = {**self.extra, "key": self.key, "rollout_percentage": self.rollout_percentage}
        if self.name is not None:
            out["name"] = self.name
        return out


def _normalise_filters(data: Mapping[str, Any]) -> JSON:
    """Filters in the current shape: the 2020 form (top-level ``rollout_percentage`` plus
    ``filters.properties``) becomes one condition group."""
    filters = _as_dict(data.get("filters"))
    if "groups" in filters:
        return filters
    legacy_rollout = data.get("rollout_percentage")
    if "properties" not in filters and legacy_rollout is None:
        return filters
    rest = {k: v for k, v in filters.items() if k != "properties"}
    group = {"properties": filters.get("properties") or [], "rollout_percentage": legacy_rollout}
    return {**rest, "groups": [group]}


@attrs.frozen
class FeatureFlag:
    """A feature flag as the admin API returns it.

    ``filters`` is PostHog's ``filters`` object (condition groups, variants, payloads); the
    properties below read the common parts of it.
    """

    id: int | None
    key: str
    name: str = ""
    filters: JSON = attrs.field(factory=dict)
    active: bool = True
    deleted: bool = False
    ensure_experience_continuity: bool = False
    tags: tuple[str, ...] = ()
    created_at: str | None = None
    created_by: JSON | None = attrs.field(default=None, repr=False)
    version: int | None = None
    extra: JSON = attrs.field(factory=dict, repr=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureFlag:
        """Parse a flag object; unknown fields go to ``extra``."""
        tags = data.get("tags")
        created_by = data.get("created_by")
        return cls(
            id=_opt_int(data.get("id")),
            key=_as_str(data.get("key")),
            name=_as_str(data.get("name")),
            filters=_normalise_filters(data),
            active=bool(data.get("active", True)),
            deleted=bool(data.get("deleted", False)),
            ensure_experience_continuity=bool(data.get("ensure_experience_continuity", False)),
            tags=tuple(_as_str(t) for t in tags) if isinstance(tags, list) else (),
            created_at=_opt_str(data.get("created_at")),
            created_by=dict(created_by) if isinstance(created_by, Mapping) else None,
            version=_opt_int(data.get("version")),
            extra=_extra(data, cls),
        )

    def to_dict(self) -> JSON:
        """Every field, known and unknown, as JSON data."""
        out: JSON = {
            **self.extra,
            "id": self.id,
            "key": self.key,
            "name": self.name,
            "filters": self.filters,
            "active": self.active,
            "deleted": self.deleted,
            "ensure_experience_continuity": self.ensure_experience_continuity,
            "tags": list(self.tags),
            "created_at": self.created_at,
            "created_by": self.created_by,
        }
        if self.version is not None:
            out["version"] = self.version
        return out

    def to_request(self) -> JSON:
        """Only the writable fields: the body to create or update this flag."""
        return {k: v for k, v in self.to_dict().items() if k in WRITABLE_FLAG_FIELDS}

    @property
    def groups(self) -> tuple[JSON, ...]:
        """The condition groups (``filters.groups``)."""
        groups = self.filters.get("groups")
        return tuple(_as_dict(g) for g in groups) if isinstance(groups, list) else ()

    @property
    def variants(self) -> tuple[Variant, ...]:
        """The variants of a multivariate flag; empty for a boolean flag."""
        mv = self.filters.get("multivariate")
        raw = mv.get("variants") if isinstance(mv, Mapping) else None
        if not isinstance(raw, list):
            return ()
        return tuple(Variant.from_dict(v) for v in raw if isinstance(v, Mapping))

    @property
    def is_multivariate(self) -> bool:
        """True when the flag has variants."""
        return bool(self.variants)

    @property
    def payloads(self) -> JSON:
        """``filters.payloads``: value (``"true"`` or a variant key) to payload."""
        return _as_dict(self.filters.get("payloads"))

    @property
    def aggregation_group_type_index(self) -> int | None:
        """The group type index of a group flag, ``None`` for a person flag."""
        return _opt_int(self.filters.get("aggregation_group_type_index"))

    @property
    def rollout_percentage(self) -> float | int | None:
        """The rollout of a simple flag (one group without properties), else ``None``."""
        groups = self.groups
        if len(groups) != 1 or groups[0].get("properties"):
            return None
        return _number(groups[0].get("rollout_percentage"))


@attrs.frozen
class RoleAccess:
    """A role's access to one flag (PostHog Enterprise, legacy RBAC)."""

    id: int | None
    role_id: str | None = None
    role: JSON | None = attrs.field(default=None, repr=False)
    feature_flag: FeatureFlag | None = attrs.field(default=None, repr=False)
    added_at: str | None = None
    updated_at: str | None = None
    extra: JSON = attrs.field(factory=dict, repr=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RoleAccess:
        """Parse a role-access object."""
        role = data.get("role")
        role_dict = dict(role) if isinstance(role, Mapping) else None
        role_id = data.get("role_id")
        if role_id is None and role_dict is not None:
            role_id = role_dict.get("id")
        flag = data.get("feature_flag")
        return cls(
            id=_opt_int(data.get("id")),
            role_id=_opt_str(role_id),
            role=role_dict,
            feature_flag=FeatureFlag.from_dict(flag) if isinstance(flag, Mapping) else None,
            added_at=_opt_str(data.get("added_at")),
            updated_at=_opt_str(data.get("updated_at")),
            extra=_extra(data, cls),
        )

    @property
    def role_name(self) -> str | None:
        """The role's name, when the server sent the role."""
        return _opt_str(self.role.get("name")) if self.role else None

    def to_dict(self) -> JSON:
        """Every field as JSON data."""
        return {
            **self.extra,
            "id": self.id,
            "role_id": self.role_id,
            "role": self.role,
            "feature_flag": self.feature_flag.to_dict() if self.feature_flag else None,
            "added_at": self.added_at,
            "updated_at": self.updated_at,
        }


@attrs.frozen
class Person:
    """A person: their distinct ids and properties."""

    id: int | str | None
    distinct_ids: tuple[str, ...] = ()
    properties: JSON = attrs.field(factory=dict, repr=False)
    name: str = ""
    uuid: str | None = None
    created_at: str | None = None
    extra: JSON = attrs.field(factory=dict, repr=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Person:
        """Parse a person object."""
        raw_id = data.get("id")
        ids = data.get("distinct_ids")
        return cls(
            id=raw_id if isinstance(raw_id, int | str) and not isinstance(raw_id, bool) else None,
            distinct_ids=tuple(_as_str(i) for i in ids) if isinstance(ids, list) else (),
            properties=_as_dict(data.get("properties")),
            name=_as_str(data.get("name")),
            uuid=_opt_str(data.get("uuid")),
            created_at=_opt_str(data.get("created_at")),
            extra=_extra(data, cls),
        )

    def to_dict(self) -> JSON:
        """Every field as JSON data."""
        return {
            **self.extra,
            "id": self.id,
            "distinct_ids": list(self.distinct_ids),
            "properties": self.properties,
            "name": self.name,
            "uuid": self.uuid,
            "created_at": self.created_at,
        }


@attrs.frozen
class ActivityEntry:
    """One activity-log entry (created, updated, deleted, ...) of a flag."""

    id: str | None
    activity: str
    item_id: str | None = None
    scope: str | None = None
    detail: JSON = attrs.field(factory=dict, repr=False)
    user: JSON | None = attrs.field(default=None, repr=False)
    created_at: str | None = None
    extra: JSON = attrs.field(factory=dict, repr=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ActivityEntry:
        """Parse an activity-log entry."""
        user = data.get("user")
        return cls(
            id=_opt_str(data.get("id")),
            activity=_as_str(data.get("activity")),
            item_id=_opt_str(data.get("item_id")),
            scope=_opt_str(data.get("scope")),
            detail=_as_dict(data.get("detail")),
            user=dict(user) if isinstance(user, Mapping) else None,
            created_at=_opt_str(data.get("created_at")),
            extra=_extra(data, cls),
        )

    def to_dict(self) -> JSON:
        """Every field as JSON data."""
        return {
            **self.extra,
            "id": self.id,
            "activity": self.activity,
            "item_id": self.item_id,
            "scope": self.scope,
            "detail": self.detail,
            "user": self.user,
            "created_at": self.created_at,
        }


@attrs.frozen
class EvaluationReason:
    """PostHog's server-side value and reason for one flag (``evaluation_reasons``)."""

    key: str
    value: bool | str | None
    reason: str | None = None
    condition_index: int | None = None
    extra: JSON = attrs.field(factory=dict, repr=False)

    @classmethod
    def from_item(cls, key: str, data: Mapping[str, Any]) -> EvaluationReason:
        """Parse one ``{"value": ..., "evaluation": {...}}`` entry."""
        evaluation = _as_dict(data.get("evaluation"))
        value = data.get("value")
        return cls(
            key=key,
            value=value if isinstance(value, bool | str) else None,
            reason=_opt_str(evaluation.get("reason")),
            condition_index=_opt_int(evaluation.get("condition_index")),
            extra=_extra(data, frozenset({"value", "evaluation"})),
        )

    def to_dict(self) -> JSON:
        """The JSON form of the entry (without the key)."""
        evaluation = {"reason": self.reason, "condition_index": self.condition_index}
        return {**self.extra, "value": self.value, "evaluation": evaluation}


@attrs.frozen
class MyFlag:
    """One entry of ``my_flags``: a flag and its value for the calling user."""

    feature_flag: FeatureFlag
    value: bool | str | None
    extra: JSON = attrs.field(factory=dict, repr=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MyFlag:
        """Parse one ``{"feature_flag": ..., "value": ...}`` entry."""
        value = data.get("value")
        return cls(
            feature_flag=FeatureFlag.from_dict(_as_dict(data.get("feature_flag"))),
            value=value if isinstance(value, bool | str) else None,
            extra=_extra(data, frozenset({"feature_flag", "value"})),
        )

    def to_dict(self) -> JSON:
        """The JSON form of the entry."""
        return {**self.extra, "feature_flag": self.feature_flag.to_dict(), "value": self.value}


@attrs.frozen
class BlastRadius:
    """How many users a release condition would reach (``user_blast_radius``)."""

    users_affected: int
    total_users: int
    extra: JSON = attrs.field(factory=dict, repr=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BlastRadius:
        """Parse ``{"users_affected": n, "total_users": m}``."""
        return cls(
            users_affected=_opt_int(data.get("users_affected")) or 0,
            total_users=_opt_int(data.get("total_users")) or 0,
            extra=_extra(data, frozenset({"users_affected", "total_users"})),
        )

    def to_dict(self) -> JSON:
        """The JSON form."""
        return {
            **self.extra,
            "users_affected": self.users_affected,
            "total_users": self.total_users,
        }


@attrs.frozen
class Page(Generic[T]):
    """One page of a list: the items plus the links to the neighbouring pages.

    ``count`` is the total number of items when the server reports it.
    """

    results: tuple[T, ...]
    count: int | None = None
    next: str | None = None
    previous: str | None = None

    def __iter__(self) -> Iterator[T]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def to_dict(self) -> JSON:
        """The DRF page envelope."""
        return {
            "count": self.count,
            "next": self.next,
            "previous": self.previous,
            "results": [encode(r) for r in self.results],
        }


__all__ = [
    "WRITABLE_FLAG_FIELDS",
    "ActivityEntry",
    "BlastRadius",
    "EvaluationReason",
    "FeatureFlag",
    "MyFlag",
    "Page",
    "Person",
    "RoleAccess",
    "Variant",
    "encode",
]
