"""Compiling one raw flag definition into a :class:`CompiledFlag`.

Parsing, validation and every answer the flag can give happen here, once per snapshot.
Pieces that PostHog's SDK cannot evaluate are not rejected: they are marked so that
evaluation reaches the same undecidable outcome at the same point, and described in
``problems``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flagkit._filters import compile_filter
from flagkit._hashing import key_hasher
from flagkit._model import TARGET_FLAG, TARGET_GROUP, CompiledFlag, Condition, FilterTest
from flagkit._outcome import Cause
from flagkit._payloads import decode_payload
from flagkit._result import FlagResult, Reason

_CAUSE_REASONS = {
    Cause.EXPERIENCE_CONTINUITY: Reason.REQUIRES_SERVER,
    Cause.UNSUPPORTED_DEFINITION: Reason.UNSUPPORTED_DEFINITION,
    Cause.UNRESOLVED_DEPENDENCY: Reason.UNRESOLVED_DEPENDENCY,
    Cause.MISSING_CONTEXT: Reason.MISSING_CONTEXT,
}

_CAUSE_TEXT = {
    Cause.EXPERIENCE_CONTINUITY: "experience continuity needs PostHog's servers",
    Cause.UNSUPPORTED_DEFINITION: (
        "a filter cannot be evaluated locally (operator, value or group type unsupported)"
    ),
    Cause.UNRESOLVED_DEPENDENCY: "a flag it depends on could not be decided locally",
    Cause.MISSING_CONTEXT: "a property, group or device id it needs was not passed",
}

_NUMBER = (int, float)


def reason_for(cause: Cause) -> Reason:
    """The public reason of an inconclusive cause."""
    return _CAUSE_REASONS[cause]


def _as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _percent(value: float) -> str:
    return f"{value:g}%"


class _ResultFactory:
    """Builds the prebuilt results of one flag, with payloads looked up per value."""

    def __init__(self, key: str, raw: Mapping[str, Any], payloads: Mapping[Any, Any]) -> None:
        self.key = key
        self.flag_id = _as_int(raw.get("id"))
        self.version = _as_int(raw.get("version"))
        self.payloads = payloads

    def payload_for(self, value: Any) -> Any:
        lookup = str(value).lower() if isinstance(value, bool) else str(value)
        try:
            raw = self.payloads.get(lookup)
        except (AttributeError, TypeError):
            return None
        return decode_payload(raw)

    def make(
        self,
        value: Any,
        reason: Reason,
        description: str,
        condition_index: int | None = None,
    ) -> FlagResult:
        payload = self.payload_for(value) if value is not None else None
        return FlagResult(
            key=self.key,
            value=value,
            reason=reason,
            payload=payload,
            condition_index=condition_index,
            description=description,
            flag_id=self.flag_id,
            flag_version=self.version,
        )


def _variant_table(
    variants: list[Any],
) -> tuple[tuple[tuple[float, float], ...], bool]:
    """Bucket bounds per variant, accumulated exactly as PostHog does; (bounds, broken)."""
    bounds: list[tuple[float, float]] = []
    low: float = 0
    try:
        for variant in variants:
            high = low + variant["rollout_percentage"] / 100
            if not isinstance(high, _NUMBER):
                return (), True
            bounds.append((low, high))
            low = high
    except (KeyError, TypeError, IndexError):
        return (), True
    return tuple(bounds), False


def _variant_keys(variants: list[Any]) -> tuple[list[Any], bool]:
    keys: list[Any] = []
    for variant in variants:
        try:
            keys.append(variant["key"])
        except (KeyError, TypeError, IndexError):
            return [], True
    return keys, False


class _FlagCompiler:
    def __init__(
        self,
        raw: Mapping[str, Any],
        group_type_mapping: Mapping[str, Any],
        matching_version: int,
        problems: list[str],
    ) -> None:
        self.raw = raw
        self.key: str = raw["key"]
        self.mapping = group_type_mapping
        self.matching_version = matching_version
        self.problems = problems

    def problem(self, message: str) -> None:
        self.problems.append(f"flag {self.key!r}: {message}")

    def compile(self) -> CompiledFlag:
        raw = self.raw
        filters = raw.get("filters") or {}
        filters_broken = not isinstance(filters, Mapping)
        if filters_broken:
            self.problem("'filters' is not an object")
            filters = {}
        payloads = filters.get("payloads") or {}
        if not isinstance(payloads, Mapping):
            self.problem("'filters.payloads' is not an object; payloads ignored")
            payloads = {}
        results = _ResultFactory(self.key, raw, payloads)

        aggregation = filters.get("aggregation_group_type_index")
        is_group_flag = aggregation is not None
        group_name = self.group_name(aggregation) if is_group_flag else None
        if is_group_flag and not group_name:
            self.problem(f"unknown group type index {aggregation!r}")
        bucketing_identifier = raw.get("bucketing_identifier") or filters.get(
            "bucketing_identifier"
        )

        multivariate = filters.get("multivariate") or {}
        variants: Any = multivariate.get("variants") if isinstance(multivariate, Mapping) else None
        variants = variants or []
        variant_keys_broken = False
        if not isinstance(variants, list):
            variant_keys_broken = True
            variants = []
        keys, broken = _variant_keys(variants)
        variant_keys_broken = variant_keys_broken or broken
        bounds, variant_table_broken = _variant_table(variants)
        if variant_keys_broken:
            self.problem("a variant has no 'key'")
        elif variant_table_broken:
            self.problem("a variant has no numeric 'rollout_percentage'")
        elif any(not isinstance(key, str) for key in keys):
            self.problem("a variant key is not a string")
        elif variants and abs(bounds[-1][1] - 1.0) > 1e-9:
            self.problem("variant rollout percentages do not sum to 100")

        holdout_percentage, holdout_result, holdout_broken = self.holdout(filters, results)
        conditions, needs_frame, needs_properties = self.conditions(
            filters, aggregation, keys, bounds, results
        )

        undecided = {
            cause: results.make(
                None, _CAUSE_REASONS[cause], f"cannot be decided locally: {_CAUSE_TEXT[cause]}"
            )
            for cause in Cause
        }
        enrollment = filters.get("feature_enrollment") is True
        by_device = bucketing_identifier == "device_id"
        active = bool(raw.get("active"))
        continuity = bool(raw.get("ensure_experience_continuity", False))
        simple = (
            active
            and not continuity
            and not is_group_flag
            and not by_device
            and not enrollment
            and not filters_broken
            and holdout_percentage is None
            and not holdout_broken
            and not variant_keys_broken
            and not variant_table_broken
            and all(
                not c.filters and c.target == TARGET_FLAG and not c.broken and not c.rollout_broken
                for c in conditions
            )
        )
        return CompiledFlag(
            key=self.key,
            raw=raw,
            hasher=key_hasher(self.key),
            simple=simple,
            flag_id=results.flag_id,
            version=results.version,
            active=active,
            continuity=continuity,
            is_group_flag=is_group_flag,
            group_name=group_name,
            by_device=by_device,
            enrollment=enrollment,
            holdout_percentage=holdout_percentage,
            conditions=conditions,
            early_exit=bool(filters.get("early_exit")),
            variant_bounds=bounds,
            has_variants=bool(variants),
            needs_frame=needs_frame,
            needs_properties=needs_properties or enrollment,
            uses_groups=is_group_flag or any(c.target == TARGET_GROUP for c in conditions),
            disabled_result=results.make(False, Reason.DISABLED, "the flag is disabled"),
            no_match_result=results.make(False, Reason.NO_CONDITION_MATCH, "no condition matched"),
            holdout_result=holdout_result,
            enrolled_result=results.make(
                True, Reason.FEATURE_ENROLLMENT, "enrolled in the early-access feature"
            ),
            not_enrolled_result=results.make(
                False, Reason.FEATURE_ENROLLMENT, "not enrolled in the early-access feature"
            ),
            group_not_provided_result=results.make(
                False,
                Reason.GROUP_NOT_PROVIDED,
                f"group flag: no {group_name!s} group was passed",
            ),
            undecided_results=undecided,
            requires_server_result=results.make(
                None,
                Reason.REQUIRES_SERVER,
                "needs PostHog's servers: it uses a cohort that is not sent for local "
                "evaluation (static, behavioural or unknown)",
            ),
            continuity_result=results.make(
                None,
                Reason.REQUIRES_SERVER,
                "needs PostHog's servers: experience continuity is on",
            ),
            invalid_result=results.make(
                None,
                Reason.INVALID_DEFINITION,
                "the definition is malformed; see Snapshot.problems",
            ),
            filters_broken=filters_broken,
            holdout_broken=holdout_broken,
            variant_keys_broken=variant_keys_broken,
            variant_table_broken=variant_table_broken,
        )

    def group_name(self, index: Any) -> Any:
        try:
            name = self.mapping.get(str(index))
            hash(name)
        except TypeError:
            return None
        return name or None

    def holdout(
        self, filters: Mapping[str, Any], results: _ResultFactory
    ) -> tuple[float | None, FlagResult | None, bool]:
        holdout = filters.get("holdout")
        if not holdout:
            return None, None, False
        if not isinstance(holdout, Mapping):
            self.problem("'filters.holdout' is not an object")
            return None, None, True
        exclusion = holdout.get("exclusion_percentage")
        holdout_id = holdout.get("id")
        if exclusion is None or holdout_id is None:
            return None, None, False
        try:
            percentage = min(max(float(exclusion), 0.0), 100.0)
        except (TypeError, ValueError):
            self.problem("holdout 'exclusion_percentage' is not a number")
            return None, None, True
        value = f"holdout-{holdout_id}"
        result = results.make(
            value, Reason.HOLDOUT, f"held out of the experiment ({_percent(percentage)} holdout)"
        )
        return percentage, result, False

    def conditions(
        self,
        filters: Mapping[str, Any],
        aggregation: Any,
        variant_keys: list[Any],
        bounds: tuple[tuple[float, float], ...],
        results: _ResultFactory,
    ) -> tuple[tuple[Condition, ...], bool, bool]:
        raw_groups = filters.get("groups") or []
        if not isinstance(raw_groups, list):
            self.problem("'filters.groups' is not a list")
            raw_groups = [None] if raw_groups else []
        compiled: list[Condition] = []
        needs_frame = False
        needs_properties = False
        for index, raw_group in enumerate(raw_groups):
            condition = self.condition(index, raw_group, aggregation, variant_keys, bounds, results)
            compiled.append(condition)
            needs_frame = needs_frame or any(flag for flag, _ in condition.filters)
            needs_properties = needs_properties or bool(condition.filters)
        return tuple(compiled), needs_frame, needs_properties

    def condition(
        self,
        index: int,
        raw: Any,
        aggregation: Any,
        variant_keys: list[Any],
        bounds: tuple[tuple[float, float], ...],
        results: _ResultFactory,
    ) -> Condition:
        number = index + 1
        broken_result = results.make(None, Reason.INVALID_DEFINITION, "malformed condition")
        if not isinstance(raw, Mapping):
            self.problem(f"condition {number} is not an object")
            return Condition(
                index=index,
                filters=(),
                threshold=None,
                target=TARGET_FLAG,
                group_name=None,
                override_result=None,
                true_result=broken_result,
                variant_results=(),
                out_of_rollout_result=broken_result,
                broken=True,
            )
        raw_filters = raw.get("properties")
        broken = False
        filter_tests: tuple[FilterTest, ...] = ()
        filter_texts: tuple[str, ...] = ()
        if raw_filters:
            if isinstance(raw_filters, list):
                pairs = [compile_filter(item, self.matching_version) for item in raw_filters]
                filter_tests = tuple(test for test, _ in pairs)
                filter_texts = tuple(text for _, text in pairs)
            else:
                self.problem(f"condition {number}: 'properties' is not a list")
                broken = True
        text = " and ".join(filter_texts) if filter_texts else "everyone"

        rollout = raw.get("rollout_percentage")
        threshold: float | None = None
        rollout_broken = False
        rollout_text = ""
        if rollout is not None:
            if isinstance(rollout, _NUMBER):
                threshold = rollout / 100
                rollout_text = f", inside {_percent(rollout)} rollout"
            else:
                self.problem(f"condition {number}: 'rollout_percentage' is not a number")
                rollout_broken = True

        condition_aggregation = raw.get("aggregation_group_type_index", aggregation)
        target = TARGET_FLAG
        group_name = None
        if condition_aggregation != aggregation and condition_aggregation is not None:
            target = TARGET_GROUP
            group_name = self.group_name(condition_aggregation)

        described = f"matched condition {number} ({text}){rollout_text}"
        true_result = results.make(True, Reason.CONDITION_MATCH, described, index)
        override = raw.get("variant")
        override_result = None
        if override and override in variant_keys:
            override_result = self.variant_result(override, described, index, results, True)
        variant_results = tuple(
            self.variant_result(key, described, index, results, False) if key else true_result
            for key in variant_keys
        )
        pct = _percent(rollout) if isinstance(rollout, _NUMBER) else "rollout"
        out_text = f"condition {number} ({text}) matched, but outside its {pct} rollout"
        return Condition(
            index=index,
            filters=filter_tests,
            threshold=threshold,
            target=target,
            group_name=group_name,
            override_result=override_result,
            true_result=true_result,
            variant_results=variant_results,
            out_of_rollout_result=results.make(False, Reason.OUT_OF_ROLLOUT, out_text, index),
            broken=broken,
            rollout_broken=rollout_broken,
            text=text,
            filter_texts=filter_texts,
            rollout_percentage=rollout if threshold is not None else None,
        )

    def variant_result(
        self,
        variant: Any,
        described: str,
        index: int,
        results: _ResultFactory,
        override: bool,
    ) -> FlagResult:
        how = "variant override" if override else "variant"
        return results.make(
            variant, Reason.CONDITION_MATCH, f"{described}, {how} {variant!r}", index
        )


def compile_flag(
    raw: Mapping[str, Any],
    group_type_mapping: Mapping[str, Any],
    matching_version: int,
    problems: list[str],
) -> CompiledFlag:
    """Compile one flag definition (which must be a mapping with a string ``key``)."""
    return _FlagCompiler(raw, group_type_mapping, matching_version, problems).compile()
