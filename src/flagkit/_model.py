"""Compiled, immutable forms of flag definitions, ready for evaluation.

Everything a flag can answer is built here once: results are shared, prebuilt
:class:`FlagResult` objects, so evaluating allocates almost nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from flagkit._outcome import Cause, FilterOutcome
from flagkit._result import FlagResult

# A compiled filter: (needs_frame, test). Tests that need the frame (cohorts, flag
# dependencies) are called as test(props, frame), the others as test(props).
FilterTest = tuple[bool, Callable[..., FilterOutcome]]

# How a condition group finds its properties and bucketing value.
TARGET_FLAG = 0  # the flag's own properties and bucketing value
TARGET_GROUP = 1  # mixed targeting: a group named by the condition


@attrs.frozen(slots=True, eq=False)
class Condition:
    """One condition group of a flag, compiled."""

    index: int
    filters: tuple[FilterTest, ...]
    # rollout_percentage / 100, or None for "no rollout limit".
    threshold: float | None
    target: int
    group_name: Any
    # The result for each possible value of this condition: the valid variant override,
    # ``True``, or one per variant of the flag's table (same order).
    override_result: FlagResult | None
    true_result: FlagResult
    variant_results: tuple[FlagResult, ...]
    out_of_rollout_result: FlagResult
    # Set when PostHog's SDK raises on reaching this condition (bad shape), or on reaching
    # its rollout check (a rollout that is not a number).
    broken: bool = False
    rollout_broken: bool = False
    text: str = ""
    filter_texts: tuple[str, ...] = ()
    rollout_percentage: float | None = None


@attrs.frozen(slots=True, eq=False)
class CompiledFlag:
    """One flag definition, compiled. Built by :func:`flagkit._compile.compile_flag`."""

    key: str
    raw: Mapping[str, Any]
    # SHA-1 state fed with "<key>." (see flagkit._hashing.key_hasher).
    hasher: Any
    # Person flag bucketed by distinct id, with only rollout conditions and nothing
    # unusual: evaluated by the short path in flagkit._runtime.match_simple.
    simple: bool
    flag_id: int | None
    version: int | None
    active: bool
    continuity: bool
    # Flag-level aggregation: None for person flags.
    is_group_flag: bool
    group_name: Any
    by_device: bool
    enrollment: bool
    # Holdout: exclusion percentage as PostHog clamps it, or None when there is none.
    holdout_percentage: float | None
    conditions: tuple[Condition, ...]
    early_exit: bool
    # (low, high) bucket bounds per variant, in table order.
    variant_bounds: tuple[tuple[float, float], ...]
    has_variants: bool
    needs_frame: bool
    needs_properties: bool
    # Whether evaluation reads the caller's groups (group flag or mixed targeting).
    uses_groups: bool
    # Prebuilt answers.
    disabled_result: FlagResult
    no_match_result: FlagResult
    holdout_result: FlagResult | None
    enrolled_result: FlagResult
    not_enrolled_result: FlagResult
    group_not_provided_result: FlagResult
    undecided_results: Mapping[Cause, FlagResult]
    requires_server_result: FlagResult
    continuity_result: FlagResult
    invalid_result: FlagResult
    # Pieces that make PostHog's SDK raise when reached (see Condition.broken).
    filters_broken: bool = False
    holdout_broken: bool = False
    variant_keys_broken: bool = False
    variant_table_broken: bool = False
