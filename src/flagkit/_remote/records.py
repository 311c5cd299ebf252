"""One ``/flags`` flag record, read strictly: the older shape (``enabled``, ``variant``) and
the newer one that carries a typed ``value``, ``reason.code`` and rule ``metadata``.

A known field with the wrong JSON type makes that record (and only it) malformed; unknown
fields are ignored. Pure: no I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import attrs

from flagkit._evaluation.payloads import decode_payload
from flagkit._evaluation.result import FlagValue

# The one outcome that sends ``$experiment_exposure``: a variant an experiment rule assigned.
EXPERIMENT_SPLIT = "experiment_split"
# Which rule types each reason code may name; any other code names no rule.
_RULE_TYPES_BY_REASON = {
    "targeting_match": frozenset({"targeted_release", "percentage_rollout"}),
    EXPERIMENT_SPLIT: frozenset({"experiment"}),
    "rollout_miss": frozenset({"percentage_rollout", "experiment"}),
    "experiment_paused": frozenset({"experiment"}),
    "holdout": frozenset({"experiment"}),
}
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@attrs.frozen(slots=True)
class RuleAttribution:
    """What a config-version-2 record says about the rule behind its answer; reported on
    ``$feature_flag_called`` (and, for a complete experiment split, ``$experiment_exposure``).
    Rule id and type come together or not at all; ``variant_key`` only for a split."""

    reason_code: str | None
    rule_id: str | None = None
    rule_type: str | None = None
    variant_key: str | None = None

    @property
    def is_experiment_split(self) -> bool:
        """True for the outcome that is an experiment exposure."""
        return self.variant_key is not None


@attrs.frozen(slots=True)
class RemoteFlag:
    """One flag as ``/flags`` answered it. ``value`` is the typed value when the record has
    one, else ``variant or enabled``; ``None`` means "no value" (the caller's default)."""

    key: str
    value: FlagValue | None
    payload: Any = None
    description: str = ""
    condition_index: int | None = None
    flag_id: int | None = None
    version: int | None = None
    failed: bool = False
    # The field whose JSON type was wrong; the record is then failed and has no value.
    malformed: str | None = None
    has_experiment: bool | None = None
    attribution: RuleAttribution | None = None


class _MalformedError(Exception):
    """A known field of a record has the wrong JSON type (the message names it)."""


def read_record(key: str, record: Any) -> RemoteFlag:
    """Read one record of a ``flags`` object; never raises."""
    try:
        if not isinstance(record, Mapping):
            raise _MalformedError("record")
        return _read(key, record)
    except _MalformedError as error:
        return RemoteFlag(key=key, value=None, failed=True, malformed=str(error))
    except RecursionError:  # a value nested too deeply to use
        return RemoteFlag(key=key, value=None, failed=True, malformed="value")


def _read(key: str, record: Mapping[str, Any]) -> RemoteFlag:
    _typed(record.get("key"), "key", str)
    failed = _typed(record.get("failed"), "failed", bool) is True
    reason = _typed(record.get("reason"), "reason", Mapping) or {}
    code = _typed(reason.get("code"), "reason.code", str)
    index = _integer(reason.get("condition_index"), "reason.condition_index")
    description = _typed(reason.get("description"), "reason.description", str) or ""
    metadata = _typed(record.get("metadata"), "metadata", Mapping) or {}
    flag_id = _integer(metadata.get("id"), "metadata.id")
    version = _integer(metadata.get("version"), "metadata.version")
    _typed(metadata.get("description"), "metadata.description", str)
    has_experiment = _typed(metadata.get("has_experiment"), "metadata.has_experiment", bool)
    config_version = _integer(metadata.get("config_version"), "metadata.config_version")
    rule_id = _typed(metadata.get("rule_id"), "metadata.rule_id", str)
    rule_type = _typed(metadata.get("rule_type"), "metadata.rule_type", str)
    variant_key = _typed(metadata.get("variant_key"), "metadata.variant_key", str)
    _integer(metadata.get("experiment_id"), "metadata.experiment_id")
    _integer(metadata.get("holdout_id"), "metadata.holdout_id")
    payload: Any = None
    if "value" in record:
        value, payload = _typed_value(record["value"])
    else:
        enabled = _typed(record.get("enabled"), "enabled", bool)
        variant = _typed(record.get("variant"), "variant", str)
        value = variant if enabled and variant else enabled is True
        if not isinstance(record.get("enabled"), bool):
            failed = True  # an older record without ``enabled`` has no answer
    if failed:
        value, payload = None, None
    elif payload is None:
        payload = decode_payload(metadata.get("payload"))
    attribution = None
    if config_version == 2:
        attribution = _attribution(code or None, failed, rule_id, rule_type, variant_key)
    return RemoteFlag(
        key=key,
        value=value,
        payload=payload,
        description=description,
        condition_index=index,
        flag_id=flag_id,
        version=version,
        failed=failed,
        has_experiment=has_experiment,
        attribution=attribution,
    )


def _typed_value(value: Any) -> tuple[FlagValue | None, Any]:
    """A typed ``value`` as (flag value, payload): a string is a variant, ``None`` no value,
    and a number or object means enabled, with itself as the payload."""
    if value is None or isinstance(value, bool):
        return value, None
    if isinstance(value, str):
        return (value or True), None  # an empty variant key still means "enabled"
    if isinstance(value, dict) or (
        isinstance(value, (int, float)) and math.isfinite(value) and not isinstance(value, bool)
    ):
        return True, value
    raise _MalformedError("value")


def _attribution(
    code: str | None,
    failed: bool,
    rule_id: str | None,
    rule_type: str | None,
    variant_key: str | None,
) -> RuleAttribution:
    allowed = _RULE_TYPES_BY_REASON.get(code or "")
    if failed or allowed is None:
        return RuleAttribution(code)
    if not (isinstance(rule_id, str) and _UUID.fullmatch(rule_id)) or rule_type not in allowed:
        return RuleAttribution(code)
    if code != EXPERIMENT_SPLIT:
        return RuleAttribution(code, rule_id, rule_type)
    if variant_key is None:  # a split without its variant is malformed: no rule reported
        return RuleAttribution(code)
    return RuleAttribution(code, rule_id, rule_type, variant_key)


def _typed(value: Any, field: str, expected: type) -> Any:
    if value is None or isinstance(value, expected):
        return value
    raise _MalformedError(field)


def _integer(value: Any, field: str) -> int | None:
    # JSON has one number type: an integral float such as 2.0 is an integer.
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    raise _MalformedError(field)
