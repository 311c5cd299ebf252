"""The events one flag read sends, shaped as PostHog's SDK shapes them: ``$feature_flag_called``
(full, or trimmed to an allowlist when the server asks for minimal events) and, for a
complete experiment split of a config-version-2 ``/flags`` record, ``$experiment_exposure``.

Pure: the reporter (``flagkit._events.queue``) decides what is new and queues what this
module builds.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from flagkit._evaluation.result import FlagResult, Reason
from flagkit._remote.fallback import Resolved
from flagkit._remote.records import RuleAttribution

EVENT_NAME = "$feature_flag_called"
EXPOSURE_EVENT_NAME = "$experiment_exposure"
LIB_NAME = "flagkit"

# Error names for local outcomes, as PostHog's SDK reports them on ``evaluate_flags`` reads.
LOCAL_INCONCLUSIVE = "local_evaluation_inconclusive"
FLAG_MISSING = "flag_missing"

# What a minimal ``$feature_flag_called`` keeps (PostHog's server-controlled gate).
MINIMAL_PROPERTIES = frozenset(
    {
        "$feature_flag",
        "$feature_flag_response",
        "$feature_flag_has_experiment",
        "$feature_flag_id",
        "$feature_flag_version",
        "$feature_flag_reason",
        "$feature_flag_request_id",
        "$feature_flag_evaluated_at",
        "$feature_flag_error",
        "locally_evaluated",
        "$groups",
        "$lib",
        "$lib_version",
        "$geoip_disable",
    }
)
# A config-version-2 event keeps its rule attribution when trimmed.
MINIMAL_V2_PROPERTIES = MINIMAL_PROPERTIES | {
    "$feature_flag_config_version",
    "$feature_flag_reason_code",
    "$feature_flag_rule_id",
    "$feature_flag_rule_type",
    "$feature_flag_variant_key",
}
# ``$experiment_exposure`` copies these from the ``$feature_flag_called`` of the same read.
_COPIED_TO_EXPOSURE = (
    "$feature_flag_id",
    "$feature_flag_version",
    "$feature_flag_request_id",
    "$feature_flag_evaluated_at",
)


_RULES_V2_REASONS = frozenset(
    {Reason.TARGETING_MATCH, Reason.ROLLOUT_MISS, Reason.NO_RULE_MATCH, Reason.EXPERIMENT_SPLIT}
)


def local_attribution(result: FlagResult) -> RuleAttribution | None:
    """The rule attribution of a local rules v2 answer (``None`` for a legacy flag)."""
    rule = result.rule
    if rule is None and result.reason not in _RULES_V2_REASONS:
        return None
    if rule is None:
        return RuleAttribution(result.reason.value)
    return RuleAttribution(result.reason.value, rule.id, rule.rule_type)


def reportable(result: FlagResult, distinct_id: Any) -> bool:
    """False for calls that cannot make a valid event (no usable distinct id or key)."""
    if result.reason is Reason.INVALID_INPUT:
        return False
    if distinct_id is None or isinstance(distinct_id, (bool, dict, list)):
        return False
    return str(distinct_id) != "" and isinstance(result.key, str) and result.key != ""


def local_error(result: FlagResult) -> str | None:
    """``$feature_flag_error`` for a local answer: why there is no value, if there is none."""
    if result.value is not None or result.reason in (Reason.REMOTE, Reason.REMOTE_ERROR):
        return None
    if result.reason is Reason.FLAG_NOT_FOUND:
        return FLAG_MISSING
    return LOCAL_INCONCLUSIVE


def flag_called_event(
    resolved: Resolved,
    distinct_id: Any,
    *,
    groups: Mapping[str, Any] | None = None,
    lib_version: str,
    disable_geoip: bool = True,
    timestamp: datetime | None = None,
    event_uuid: str | None = None,
) -> dict[str, Any]:
    """A ``$feature_flag_called`` event for one read.

    ``locally_evaluated`` is true when the value was decided from the definitions. Flag id
    and version come from the definition or the ``/flags`` metadata. The reason text is
    sent only for remote answers (PostHog's SDK sends none for local ones); a
    config-version-2 record sends its reason code and rule instead. Trimmed to
    :data:`MINIMAL_PROPERTIES` when the gate is on and the flag is known to have no
    experiment (any missing signal keeps the full event).
    """
    result = resolved.result
    value = result.value
    key = result.key
    attribution = resolved.attribution
    properties: dict[str, Any] = {
        "$feature_flag": key,
        "$feature_flag_response": value,
        "locally_evaluated": value is not None
        and result.reason.decided
        and result.reason is not Reason.REMOTE,
        f"$feature/{key}": value,
    }
    if result.payload is not None:
        properties["$feature_flag_payload"] = result.payload
    if resolved.request_id:
        properties["$feature_flag_request_id"] = resolved.request_id
    if resolved.evaluated_at:
        properties["$feature_flag_evaluated_at"] = resolved.evaluated_at
    if attribution is not None:
        properties["$feature_flag_config_version"] = 2
        for name, field in (
            ("$feature_flag_reason_code", attribution.reason_code),
            ("$feature_flag_rule_id", attribution.rule_id),
            ("$feature_flag_rule_type", attribution.rule_type),
            ("$feature_flag_variant_key", attribution.variant_key),
        ):
            if field is not None:
                properties[name] = field
    elif result.reason is Reason.REMOTE and result.description:
        properties["$feature_flag_reason"] = result.description
    if result.flag_version:
        properties["$feature_flag_version"] = result.flag_version
    if result.flag_id:
        properties["$feature_flag_id"] = result.flag_id
    error = resolved.error or local_error(result)
    if error:
        properties["$feature_flag_error"] = error
    if resolved.has_experiment is not None:
        properties["$feature_flag_has_experiment"] = resolved.has_experiment
    if groups:
        properties["$groups"] = dict(groups)
    properties["$lib"] = LIB_NAME
    properties["$lib_version"] = lib_version
    properties["$geoip_disable"] = disable_geoip
    if resolved.minimal_events and resolved.has_experiment is False:
        keep = MINIMAL_PROPERTIES if attribution is None else MINIMAL_V2_PROPERTIES
        properties = {name: v for name, v in properties.items() if name in keep}
    return _event(EVENT_NAME, distinct_id, properties, timestamp, event_uuid)


def experiment_exposure_event(
    called: Mapping[str, Any],
    resolved: Resolved,
    *,
    timestamp: datetime | None = None,
    event_uuid: str | None = None,
) -> dict[str, Any] | None:
    """The ``$experiment_exposure`` that goes with the ``$feature_flag_called`` event
    ``called``, or ``None`` unless the read is a complete experiment split."""
    attribution = resolved.attribution
    if attribution is None or not attribution.is_experiment_split:
        return None
    source: Mapping[str, Any] = called["properties"]
    result = resolved.result
    properties: dict[str, Any] = {
        name: source[name] for name in _COPIED_TO_EXPOSURE if name in source
    }
    properties.update(
        {
            "$feature_flag": result.key,
            "$feature_flag_response": result.value,
            "locally_evaluated": False,
            "$feature_flag_variant_key": attribution.variant_key,
            "$feature_flag_rule_id": attribution.rule_id,
        }
    )
    for name in ("$groups", "$lib", "$lib_version", "$geoip_disable"):
        if name in source:
            properties[name] = source[name]
    return _event(EXPOSURE_EVENT_NAME, called["distinct_id"], properties, timestamp, event_uuid)


def _event(
    name: str,
    distinct_id: Any,
    properties: dict[str, Any],
    timestamp: datetime | None,
    event_uuid: str | None,
) -> dict[str, Any]:
    when = timestamp or datetime.now(tz=timezone.utc)
    return {
        "event": name,
        "distinct_id": str(distinct_id),
        "properties": properties,
        "timestamp": when.isoformat(),
        "uuid": event_uuid or random_uuid4(),
    }


def random_uuid4() -> str:
    """A random (version 4) UUID as text, as ``str(uuid.uuid4())`` gives, for a third of
    the cost (no ``UUID`` object): one per new exposure, on the reading thread."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
