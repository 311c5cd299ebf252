"""Validation of feature-flag writes, with PostHog's rules, codes and messages.

``validate_flag_input`` turns a request body into normalised field values or raises a
``LocalServerError`` 400 whose ``attr`` names the offending field. The checks follow PostHog's
serializer (2024-2025): field types and key rules here, then the filter rules of
``_filter_rules.validate_filters``.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import Any

import attrs

from flagkit.server._errors import validation_error
from flagkit.server._filter_rules import FlagLookups, as_int, validate_filters

KEY_MAX_LENGTH = 400
_KEY_PATTERN = re.compile(r"^[a-zA-Z0-9_-]+$")
_TRUE = frozenset({True, "true", "True", "TRUE", "1", "yes", "Yes", "on", "On", "y", "Y", "t"})
_FALSE = frozenset({False, "false", "False", "FALSE", "0", "no", "No", "off", "Off", "n", "N", "f"})
_EVALUATION_RUNTIMES = ("server", "client", "all")
_BUCKETING_IDENTIFIERS = ("distinct_id", "device_id")
_CREATION_CONTEXTS = (
    "feature_flags",
    "experiments",
    "surveys",
    "early_access_features",
    "web_experiments",
    "product_tours",
)

# Fields a client may send back from a GET; DRF ignores read-only fields silently.
READ_ONLY_FIELDS = frozenset(
    {
        "id",
        "team_id",
        "created_by",
        "is_simple_flag",
        "experiment_set",
        "surveys",
        "features",
        "can_edit",
        "usage_dashboard",
        "updated_at",
        "last_modified_by",
        "user_access_level",
        "status",
        "last_called_at",
    }
)
# Accepted and ignored (they only steer PostHog's UI side effects).
_WRITE_ONLY_IGNORED = frozenset({"_should_create_usage_dashboard", "_create_in_folder"})


@attrs.frozen(slots=True)
class ValidatedFlag:
    """The normalised fields of a flag write plus its optimistic-concurrency inputs."""

    fields: dict[str, Any]
    expected_version: int | None = None
    original_flag: Mapping[str, Any] | None = None


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
    raise validation_error("Must be a valid boolean.", name)


def _string(name: str, value: Any, *, allow_blank: bool) -> str:
    if value is None:
        raise validation_error("This field may not be null.", name, "null")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise validation_error("Not a valid string.", name)
    text = str(value).strip() if not isinstance(value, str) else value
    if not allow_blank and not text.strip():
        raise validation_error("This field may not be blank.", name, "blank")
    return text


def _string_list(name: str, value: Any) -> list[str]:
    if not isinstance(value, list):
        raise validation_error(
            f'Expected a list of items but got type "{_type_name(value)}".', name, "not_a_list"
        )
    return [_string(name, item, allow_blank=False) for item in value]


def _int_list(name: str, value: Any) -> list[int]:
    if not isinstance(value, list):
        raise validation_error(
            f'Expected a list of items but got type "{_type_name(value)}".', name, "not_a_list"
        )
    out = []
    for item in value:
        number = as_int(item)
        if number is None:
            raise validation_error(
                f"Incorrect type. Expected pk value, received {_type_name(item)}.",
                name,
                "incorrect_type",
            )
        out.append(number)
    return out


def _choice(name: str, value: Any, choices: tuple[str, ...], *, nullable: bool) -> str | None:
    if value is None and nullable:
        return None
    if isinstance(value, str) and value in choices:
        return value
    raise validation_error(f'"{value}" is not a valid choice.', name, "invalid_choice")


def _datetime(name: str, value: Any) -> str:
    if isinstance(value, str):
        try:
            parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=datetime.timezone.utc)
            utc = parsed.astimezone(datetime.timezone.utc)
            return utc.isoformat(timespec="microseconds").replace("+00:00", "Z")
    raise validation_error(
        "Datetime has wrong format. Use one of these formats instead: "
        "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].",
        name,
    )


def _type_name(value: Any) -> str:
    return {
        dict: "dict",
        list: "list",
        str: "str",
        int: "int",
        float: "float",
        bool: "bool",
    }.get(type(value), type(value).__name__)


def validate_key(key_value: Any, lookups: FlagLookups, exclude_id: int | None) -> str:
    """Apply PostHog's key rules in DRF's order: null, type, blank, length, unique, pattern."""
    key = _string("key", key_value, allow_blank=False)
    if len(key) > KEY_MAX_LENGTH:
        raise validation_error(
            f"Ensure this field has no more than {KEY_MAX_LENGTH} characters.", "key", "max_length"
        )
    if lookups.key_in_use(key, exclude_id):
        raise validation_error("There is already a feature flag with this key.", "key", "unique")
    if not _KEY_PATTERN.match(key):
        raise validation_error(
            "Only letters, numbers, hyphens (-) & underscores (_) are allowed.",
            "key",
            "invalid_key",
        )
    return key


def validate_flag_input(
    data: Mapping[str, Any],
    *,
    creating: bool,
    method: str,
    existing: Mapping[str, Any] | None,
    existing_id: int | None,
    lookups: FlagLookups,
) -> ValidatedFlag:
    """Validate a create (``creating``) or update body and return normalised fields.

    ``existing`` is the stored flag state for updates (``key``, ``filters``, ...).
    """
    for name in data:
        if name in READ_ONLY_FIELDS or name in _WRITE_ONLY_IGNORED:
            continue
        if name not in _FIELD_NAMES:
            raise validation_error("Unknown field.", name)

    fields: dict[str, Any] = {}
    if creating and "key" not in data:
        raise validation_error("This field is required.", "key", "required")
    if "key" in data:
        fields["key"] = validate_key(data["key"], lookups, existing_id)
    current_key = fields.get("key") or (existing or {}).get("key")

    if "name" in data:
        fields["name"] = _string("name", data["name"], allow_blank=True)
    for name in (
        "deleted",
        "active",
        "ensure_experience_continuity",
        "performed_rollback",
        "has_enriched_analytics",
        "is_remote_configuration",
        "has_encrypted_payloads",
    ):
        if name in data:
            fields[name] = _bool(name, data[name])
    if "created_at" in data:
        fields["created_at"] = _datetime("created_at", data["created_at"])
    if "rollback_conditions" in data:
        value = data["rollback_conditions"]
        if value is not None and not isinstance(value, (dict, list)):
            raise validation_error("Value must be valid JSON.", "rollback_conditions")
        fields["rollback_conditions"] = value
    for name in ("tags", "evaluation_tags"):
        if name in data:
            fields[name] = sorted(set(_string_list(name, data[name])))
    if "analytics_dashboards" in data:
        fields["analytics_dashboards"] = _int_list(
            "analytics_dashboards", data["analytics_dashboards"]
        )
    if "evaluation_runtime" in data:
        fields["evaluation_runtime"] = _choice(
            "evaluation_runtime", data["evaluation_runtime"], _EVALUATION_RUNTIMES, nullable=False
        )
    if "bucketing_identifier" in data:
        fields["bucketing_identifier"] = _choice(
            "bucketing_identifier",
            data["bucketing_identifier"],
            _BUCKETING_IDENTIFIERS,
            nullable=True,
        )
    if "creation_context" in data:
        _choice("creation_context", data["creation_context"], _CREATION_CONTEXTS, nullable=False)

    expected_version: int | None = None
    if "version" in data and data["version"] is not None and not creating:
        expected_version = as_int(data["version"])
        if expected_version is None:
            raise validation_error("A valid integer is required.", "version")
    original = data.get("original_flag")
    if original is not None and not isinstance(original, dict):
        raise validation_error(
            f'Expected a dictionary of items but got type "{_type_name(original)}".',
            "original_flag",
            "not_a_dict",
        )

    filters = _incoming_filters(data, creating)
    if filters is not None:
        if not creating and method == "PATCH" and "groups" not in filters:
            pass  # PostHog quirk: a PATCH whose filters lack "groups" keeps the stored filters
        else:
            fields["filters"] = validate_filters(
                filters, creating=creating, flag_key=current_key, lookups=lookups
            )
    elif creating:
        fields["filters"] = {"groups": [{"properties": [], "rollout_percentage": None}]}

    return ValidatedFlag(fields=fields, expected_version=expected_version, original_flag=original)


_FIELD_NAMES = frozenset(
    {
        "key",
        "name",
        "filters",
        "deleted",
        "active",
        "ensure_experience_continuity",
        "created_at",
        "rollback_conditions",
        "performed_rollback",
        "tags",
        "evaluation_tags",
        "analytics_dashboards",
        "has_enriched_analytics",
        "is_remote_configuration",
        "has_encrypted_payloads",
        "evaluation_runtime",
        "bucketing_identifier",
        "creation_context",
        "version",
        "original_flag",
        "rollout_percentage",
    }
)


def _incoming_filters(data: Mapping[str, Any], creating: bool) -> dict[str, Any] | None:
    """The filters of the body, with the 2020 shape (top-level rollout) folded into groups."""
    legacy_rollout = data.get("rollout_percentage")
    if "filters" not in data:
        if legacy_rollout is not None and creating:
            return {"groups": [{"properties": [], "rollout_percentage": legacy_rollout}]}
        return None
    filters = data["filters"]
    if filters is None:
        raise validation_error("This field may not be null.", "filters", "null")
    if not isinstance(filters, dict):
        raise validation_error(
            f'Expected a dictionary of items but got type "{_type_name(filters)}".',
            "filters",
            "not_a_dict",
        )
    filters = dict(filters)
    if "groups" not in filters and ("properties" in filters or legacy_rollout is not None):
        # Flags written by 2020-era clients: {"properties": [...]} plus a top-level rollout.
        properties = filters.pop("properties", None) or []
        filters["groups"] = [{"properties": properties, "rollout_percentage": legacy_rollout}]
    return filters
