"""The caller's context of one evaluation call, checked and normalised once and shared by
every flag the call evaluates."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flagkit._evaluation.hashing import encode_identifier
from flagkit._evaluation.rules_v2.bridge import DEFAULT_RULES_OPTIONS, RulesOptions

_EMPTY: Mapping[str, Any] = {}


class InvalidInputError(Exception):
    """Raised internally when the caller's context cannot be used."""


class CallContext:
    """The caller's context, normalised once per call and shared by every flag."""

    __slots__ = (
        "_frames",
        "_group_props",
        "_person",
        "device_id",
        "distinct_id",
        "group_properties",
        "groups",
        "person_properties",
        "rules",
    )

    def __init__(
        self,
        distinct_id: Any,
        person_properties: Any,
        groups: Any,
        group_properties: Any,
        device_id: Any,
        rules: RulesOptions = DEFAULT_RULES_OPTIONS,
    ) -> None:
        if distinct_id is None:
            raise InvalidInputError("distinct_id is required")
        if person_properties is not None and not isinstance(person_properties, Mapping):
            raise InvalidInputError("person_properties must be a mapping")
        if groups is not None and not isinstance(groups, Mapping):
            raise InvalidInputError("groups must be a mapping of group type to group key")
        if group_properties is not None and not isinstance(group_properties, Mapping):
            raise InvalidInputError(
                "group_properties must be a mapping of group type to properties"
            )
        self.distinct_id = distinct_id
        self.person_properties = person_properties
        self.groups: Mapping[str, Any] = groups or _EMPTY
        self.group_properties = group_properties
        self.device_id = device_id
        self.rules = rules
        self._person: dict[str, Any] | None = None
        self._group_props: Mapping[str, Mapping[str, Any]] | None = None
        self._frames: dict[tuple[int, int], tuple[dict[Any, Any], dict[Any, Any]]] | None = None

    def person(self) -> dict[str, Any]:
        """Person properties with the implicit ``distinct_id`` property, as a ``dict``."""
        props = self._person
        if props is None:
            given = self.person_properties
            if type(given) is dict and "distinct_id" in given:
                props = given
            else:
                props = dict(given) if given else {}
                props.setdefault("distinct_id", self.distinct_id)
            self._person = props
        return props

    def frame_state(self, dependency_id: Any, props: Any) -> tuple[dict[Any, Any], dict[Any, Any]]:
        """The dependency cache and cohort memo shared by this call's frames that evaluate
        with the same dependency id and properties (objects that live as long as the call,
        so their ids are stable keys)."""
        frames = self._frames
        if frames is None:
            frames = self._frames = {}
        slot = (id(dependency_id), id(props))
        state = frames.get(slot)
        if state is None:
            state = frames[slot] = ({}, {})
        return state

    def group_props(self) -> Mapping[str, Mapping[str, Any]]:
        """Properties per passed group, each with the implicit ``$group_key``."""
        props = self._group_props
        if props is None:
            given = self.group_properties or _EMPTY
            built: dict[str, Mapping[str, Any]] = {}
            for name, group_key in self.groups.items():
                extra = given.get(name) or _EMPTY
                if not isinstance(extra, Mapping):
                    raise InvalidInputError(f"group_properties[{name!r}] must be a mapping")
                built[name] = {"$group_key": group_key, **extra}
            props = self._group_props = built
        return props


def rules_options(
    properties_complete: bool, timezone: str | None, now: datetime | None
) -> RulesOptions:
    """The rules v2 options of a call (one shared object for the usual defaults)."""
    if properties_complete is False and timezone is None and now is None:
        return DEFAULT_RULES_OPTIONS
    return RulesOptions(bool(properties_complete), timezone, now)


class AllCall:
    """What the flags of one ``evaluate_all`` call share."""

    __slots__ = ("context", "encoded", "group_keys", "memo", "person", "variant")

    def __init__(
        self, context: CallContext, encoded: bytes | None, memo: list[Any] | defaultdict[int, Any]
    ) -> None:
        self.context = context
        # Every flag hashes the same identifier: encoded once.
        self.encoded = encoded
        self.variant = None if encoded is None else encoded + b"variant"
        self.memo = memo
        # Encoded group keys by group type, for the group flags of this call.
        self.group_keys: dict[str, bytes | None] = {}
        # The person properties flags read (with distinct_id), built once.
        self.person = context.person


def all_call(
    distinct_id: Any,
    context: tuple[Any, Any, Any, Any],
    properties_complete: bool,
    timezone: str | None,
    now: datetime | None,
) -> AllCall | str:
    """What the flags of one ``evaluate_all`` call share (its memo still empty: the caller
    sizes it), or why the caller's input is invalid. ``context``: person properties,
    groups, group properties, device id."""
    try:
        rules = rules_options(properties_complete, timezone, now)
        built = CallContext(distinct_id, *context, rules)
    except InvalidInputError as error:
        return str(error)
    return AllCall(built, encode_identifier(distinct_id), [])
