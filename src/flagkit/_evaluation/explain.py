"""Why a flag evaluated as it did: condition by condition, filter by filter."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from flagkit._evaluation.fixed_specs import reason_for
from flagkit._evaluation.hashing import bucket_with, holdout_bucket
from flagkit._evaluation.model import TARGET_FLAG, CompiledFlag
from flagkit._evaluation.outcome import Cause, FilterOutcome, RequiresServer
from flagkit._evaluation.result import FlagResult
from flagkit._evaluation.runtime import Frame


@attrs.frozen(slots=True)
class FilterTrace:
    """One filter of a condition and what it answered for this caller."""

    text: str
    outcome: str


@attrs.frozen(slots=True)
class ConditionTrace:
    """One condition group, evaluated on its own for this caller."""

    index: int
    text: str
    group: str | None
    filters: tuple[FilterTrace, ...]
    rollout_percentage: float | None
    bucket: float | None
    outcome: str
    decided: bool


@attrs.frozen(slots=True)
class Explanation:
    """The result of one flag plus the trace that led to it."""

    result: FlagResult
    conditions: tuple[ConditionTrace, ...] = ()
    holdout_bucket: float | None = None
    variant_bucket: float | None = None
    notes: tuple[str, ...] = ()


def outcome_label(outcome: FilterOutcome) -> str:
    """A short word for a filter outcome."""
    if outcome is True:
        return "match"
    if outcome is False:
        return "no match"
    if isinstance(outcome, Cause):
        return f"undecidable ({reason_for(outcome).value})"
    if isinstance(outcome, RequiresServer):
        return "requires server"
    return "malformed"


def explain_flag(
    flag: CompiledFlag,
    result: FlagResult,
    props: Mapping[str, Any],
    bucketing: Any,
    frame: Frame,
    groups: Mapping[str, Any],
    group_props: Mapping[str, Mapping[str, Any]],
) -> Explanation:
    """Trace every condition of ``flag`` independently; ``result`` is the real answer."""
    traces: list[ConditionTrace] = []
    for condition in flag.conditions:
        cond_props, cond_bucketing, group = props, bucketing, None
        if condition.target != TARGET_FLAG:
            group = str(condition.group_name)
            name = condition.group_name
            if name is None or name not in groups or name not in group_props:
                traces.append(
                    ConditionTrace(
                        condition.index,
                        condition.text,
                        group,
                        (),
                        None,
                        None,
                        "skipped: group not passed",
                        False,
                    )
                )
                continue
            cond_props, cond_bucketing = group_props[name], groups[name]
        filters = []
        all_match = True
        for (needs_frame, test), text in zip(
            condition.filters, condition.filter_texts, strict=True
        ):
            outcome = test(cond_props, frame) if needs_frame else test(cond_props)
            all_match = all_match and outcome is True
            filters.append(FilterTrace(text, outcome_label(outcome)))
        value = None
        if condition.threshold is not None and cond_bucketing is not None:
            value = bucket_with(flag.hash_prefix, cond_bucketing)
        if condition.broken:
            outcome_text = "malformed condition"
        elif not all_match:
            outcome_text = "filters did not all match"
        elif value is not None and condition.threshold is not None and value > condition.threshold:
            outcome_text = "out of rollout"
        else:
            outcome_text = "match"
        traces.append(
            ConditionTrace(
                condition.index,
                condition.text,
                group,
                tuple(filters),
                condition.rollout_percentage,
                value,
                outcome_text,
                result.condition_index == condition.index,
            )
        )
    notes = []
    if flag.enrollment:
        notes.append("early-access feature: decided by $feature_enrollment/" + flag.key)
    holdout = None
    if flag.holdout_percentage is not None and bucketing is not None:
        holdout = holdout_bucket(bucketing)
        notes.append(f"holdout of {flag.holdout_percentage:g}%: bucket {holdout:.6f}")
    variant = None
    if flag.has_variants and result.condition_index is not None and bucketing is not None:
        variant = bucket_with(flag.hash_prefix, bucketing, "variant")
    return Explanation(result, tuple(traces), holdout, variant, tuple(notes))
