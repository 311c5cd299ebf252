"""The ``/flags`` request body, as PostHog's SDK builds it, and its JSON encoding (pure)."""

from __future__ import annotations

import datetime as _dt
import decimal
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any


def rebuild_group_properties(
    groups: Mapping[str, Any] | None, group_properties: Mapping[str, Any] | None
) -> dict[str, dict[str, Any]]:
    """Group properties as PostHog's SDK sends them: for each group in ``groups``,
    ``{"$group_key": <key>}`` merged with the caller's properties (the caller's win);
    properties of groups not in ``groups`` are left out."""
    rebuilt: dict[str, dict[str, Any]] = {}
    given = group_properties or {}
    for name, group_key in (groups or {}).items():
        props = given.get(name)
        rebuilt[name] = {"$group_key": group_key, **(props if isinstance(props, Mapping) else {})}
    return rebuilt


def build_flags_request(
    token: str,
    distinct_id: Any,
    *,
    person_properties: Mapping[str, Any] | None = None,
    groups: Mapping[str, Any] | None = None,
    group_properties: Mapping[str, Any] | None = None,
    device_id: Any = None,
    flag_keys: Sequence[str] | None = None,
    geoip_disable: bool = True,
) -> dict[str, Any]:
    """The JSON body of a ``/flags`` request.

    ``person_properties`` are sent as given: the ``distinct_id`` that local evaluation adds
    to them is not added here (PostHog's server knows the person). ``flag_keys`` limits the
    answer to those flags; ``None`` or empty asks for every flag.
    """
    body: dict[str, Any] = {
        "token": token,
        "distinct_id": distinct_id,
        "groups": dict(groups or {}),
        "person_properties": dict(person_properties or {}),
        "group_properties": rebuild_group_properties(groups, group_properties),
        "geoip_disable": geoip_disable,
    }
    if device_id is not None:
        body["device_id"] = device_id
    if flag_keys:
        body["flag_keys_to_evaluate"] = list(flag_keys)
    return body


def encode_json(body: Any) -> bytes:
    """Compact UTF-8 JSON; values JSON cannot hold (dates, decimals, UUIDs, sets, ...) are
    converted instead of failing. Raises ``ValueError`` only for circular structures."""
    return json.dumps(body, default=_jsonable, separators=(",", ":")).encode("utf-8")


def _jsonable(value: Any) -> Any:
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)
