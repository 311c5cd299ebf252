"""What a rules v2 evaluation reads about its subject, and how it reports failures.

:class:`V2Context` is built by the caller (it may raise there, on bad input); evaluation
itself only reads it and never raises.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from datetime import datetime, timezone, tzinfo
from typing import Any

import attrs

__all__ = ["Failure", "V2Context"]


def _check_timezone(instance: V2Context, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError("timezone must be an IANA time zone name")
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown IANA time zone: {value!r}") from error


def _check_identifier(instance: V2Context, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str):
        raise TypeError("identifier must be a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        # Hashing needs the UTF-8 bytes; refuse here so evaluation cannot fail on it.
        raise ValueError("identifier cannot be encoded as UTF-8") from error


def _aware(value: datetime) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError("now must be a datetime")
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _frozen_groups(value: Mapping[int, str] | None) -> Mapping[int, str]:
    return dict(value) if value else {}


@attrs.frozen(slots=True)
class V2Context:
    """The subject of one evaluation.

    ``identifier`` is the person's distinct id (an empty one is never assigned to a rollout,
    holdout or variant). ``properties`` is ``None`` when no properties are available at all;
    ``properties_complete`` says whether a key absent from them is known to be unset (True)
    or merely unknown (False). ``timezone`` (IANA) and ``now`` anchor the date operators.
    ``explicit_exact_matching`` selects explicit equality for ``exact``/``is_not`` (the
    definitions' ``property_matching_version`` 2); False keeps legacy boolean precedence.
    ``group_keys`` maps a group type index to the subject's key in it (group flags only).
    """

    identifier: str = attrs.field(validator=_check_identifier)
    properties: Mapping[str, Any] | None = None
    properties_complete: bool = True
    timezone: str = attrs.field(default="UTC", validator=_check_timezone)
    explicit_exact_matching: bool = True
    now: datetime = attrs.field(factory=lambda: datetime.now(timezone.utc), converter=_aware)
    group_keys: Mapping[int, str] = attrs.field(default=None, converter=_frozen_groups)

    @property
    def zone(self) -> tzinfo:
        """The time zone object (cached by :mod:`zoneinfo`; validated at construction)."""
        return zoneinfo.ZoneInfo(self.timezone)


@attrs.frozen(slots=True)
class Failure:
    """An evaluation that cannot produce a value: a contract error code and a human detail."""

    code: str
    detail: str
