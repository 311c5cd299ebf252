"""The evaluation hot path: one compiled flag against one set of properties.

Functions here never allocate results: they return shared :class:`FlagResult` objects, or
an inconclusive outcome (:class:`Cause`, :class:`RequiresServer`, ``BROKEN``) that the
caller turns into a result. They raise only where PostHog's SDK itself fails (an identifier
or key that UTF-8 cannot encode); the Evaluator turns that into ``INVALID_DEFINITION``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flagkit._evaluation.hashing import bucket_with, encode_identifier, holdout_bucket
from flagkit._evaluation.model import (
    ENROLLED,
    GROUP_NOT_PROVIDED,
    HOLDOUT,
    NO_MATCH,
    NOT_ENROLLED,
    CompiledFlag,
    Condition,
)
from flagkit._evaluation.outcome import (
    BROKEN,
    RS_DEPENDENCY,
    Cause,
    RequiresServer,
    _Broken,
    stronger,
)
from flagkit._evaluation.result import FlagResult

MatchOutcome = FlagResult | Cause | RequiresServer | _Broken

# Deeper nesting than this (self-referencing cohorts, dependency loops the server did not
# flag) makes PostHog's SDK hit Python's recursion limit: an error, so no local value.
MAX_DEPTH = 48
# Failed members are not cached (PostHog's SDK does not cache them either), so repeated
# references to a failing dependency or a dependency loop re-evaluate it, and the work can
# grow exponentially: PostHog's SDK never finishes such flags. Past this many nested
# evaluations for one flag, the flag has no local value instead of hanging the caller.
MAX_NESTED_EVALUATIONS = 10_000

_EMPTY: Mapping[str, Any] = {}


class Frame:
    """Per-evaluation state shared by cohort and flag-dependency filters."""

    __slots__ = (
        "cache",
        "cohort_memo",
        "cohorts",
        "definitions",
        "dependency_id",
        "depth",
        "device_id",
        "lookup",
        "marked",
        "nested",
        "props",
        "shared",
    )

    def __init__(
        self,
        definitions: Mapping[str, Any],
        lookup: Callable[[str], CompiledFlag | None],
        cohorts: Mapping[str, Any],
        dependency_id: Any,
        device_id: Any,
        cache: dict[Any, Any] | None = None,
        cohort_memo: dict[Any, Any] | None = None,
        props: Any = None,
    ) -> None:
        # Raw definitions by key (what exists) and the compiled form on demand.
        self.definitions = definitions
        self.lookup = lookup
        self.cohorts = cohorts
        # The "distinct id" dependencies are evaluated with: the group key in group flags.
        self.dependency_id = dependency_id
        self.device_id = device_id
        # Flag key -> value, or None when it could not be decided (or has no definition).
        # One call's frames with the same dependency id and properties share it
        # (evaluate_all), so a dependency chain is walked once per call, not once per
        # flag: shared, it holds decided values only (see mark).
        self.cache: dict[Any, Any] = {} if cache is None else cache
        self.shared = cache is not None
        # The properties a shared cache's values were evaluated with (see isolate).
        self.props = props
        # Whether this evaluation marked a key undecided (see mark).
        self.marked = False
        # (cohort id, id(properties)) -> outcome: a cohort referenced many times (a fan-out
        # of nested cohorts) is evaluated once per call. Errors are never kept.
        self.cohort_memo: dict[Any, Any] = {} if cohort_memo is None else cohort_memo
        self.depth = 0
        # Nested cohort and dependency evaluations so far (see MAX_NESTED_EVALUATIONS).
        self.nested = 0

    def mark(self, key: Any) -> None:
        """Record in the cache that ``key`` could not be decided or has no definition.

        PostHog's SDK keeps such marks for the flag being evaluated only, and a mark
        changes how the rest of that flag's dependency chains are walked: a marked member
        counts as evaluated. Decided values, in contrast, are the same in any flag. So a
        shared cache never takes a mark: the first one moves this frame to a copy of its
        own, and the evaluator evaluates the flag again with a fresh frame (see
        ``marked``), as PostHog does.
        """
        self.isolate()
        self.cache[key] = None

    def isolate(self) -> None:
        """Leave the shared cache for a copy of this frame's own, and have the flag
        evaluated again with a fresh frame (see :meth:`mark`): for an evaluation whose
        outcome may depend on which flags were evaluated before it."""
        if self.shared and not self.marked:
            self.cache = dict(self.cache)
        self.marked = True

    def nest(self) -> bool:
        """Count one nested evaluation; False when the depth or work limit is reached."""
        self.nested += 1
        return self.depth < MAX_DEPTH and self.nested <= MAX_NESTED_EVALUATIONS


def match_flag(
    flag: CompiledFlag,
    props: Mapping[str, Any],
    bucketing: Any,
    frame: Frame | None,
    groups: Mapping[str, Any],
    group_props: Mapping[str, Mapping[str, Any]],
) -> MatchOutcome:
    """Feature enrollment, holdout, then condition groups in stored order."""
    if flag.has_preamble:
        preamble = _match_preamble(flag, props, bucketing)
        if preamble is not None:
            return preamble
    return match_conditions(flag, props, bucketing, frame, groups, group_props)


def match_plain(flag: CompiledFlag, props: Mapping[str, Any], distinct_id: Any) -> MatchOutcome:
    """A plain flag (``flag.plain``) by the generic loop (callers try ``flag.run_code`` first)."""
    if flag.has_preamble:
        return match_flag(flag, props, distinct_id, None, _EMPTY, _EMPTY)
    return match_conditions(flag, props, distinct_id, None, _EMPTY, _EMPTY)


def match_group(
    flag: CompiledFlag,
    runner: Callable[..., Any],
    consts: tuple[Any, ...],
    groups: Mapping[str, Any],
    group_props: Callable[[], Mapping[str, Mapping[str, Any]]],
    encoded_keys: dict[str, bytes | None],
) -> MatchOutcome | None:
    """A plain group flag by its unrolled code (``flag.group_code``) on its group, or None
    to take the general path. ``encoded_keys`` keeps the call's encoded group keys."""
    name = flag.group_name
    if name not in groups:
        return flag.book.get(GROUP_NOT_PROVIDED)
    if name in encoded_keys:
        encoded = encoded_keys[name]
    else:
        encoded = encoded_keys[name] = encode_identifier(groups[name])
    if encoded is None:
        return None  # the general path fails where PostHog does
    outcome: MatchOutcome = runner(consts, group_props()[name], encoded, None)
    return outcome


def _match_preamble(
    flag: CompiledFlag, props: Mapping[str, Any], bucketing: Any
) -> MatchOutcome | None:
    """Broken pieces, feature enrollment and holdout: what comes before the conditions."""
    if flag.filters_broken:
        return BROKEN
    if flag.enrollment:
        if flag.is_group_flag:
            return Cause.UNSUPPORTED_DEFINITION
        enrollment_key = "$feature_enrollment/" + flag.key
        if enrollment_key not in props:
            return Cause.MISSING_CONTEXT
        enrolled = props[enrollment_key]
        if enrolled is True or (isinstance(enrolled, str) and enrolled == "true"):
            return flag.book.get(ENROLLED)
        return flag.book.get(NOT_ENROLLED)
    if flag.holdout_broken:
        return BROKEN
    holdout = flag.holdout_percentage
    # Same expression as PostHog: a NaN percentage holds everyone out.
    if holdout is not None and (holdout == 100.0 or not holdout_bucket(bucketing) > holdout / 100):
        return flag.book.get(HOLDOUT)
    if flag.variant_keys_broken:
        return BROKEN
    return None


def match_conditions(
    flag: CompiledFlag,
    props: Mapping[str, Any],
    bucketing: Any,
    frame: Frame | None,
    groups: Mapping[str, Any],
    group_props: Mapping[str, Mapping[str, Any]],
) -> MatchOutcome:
    """The condition groups alone, in stored order (:func:`match_flag` without preamble)."""
    inconclusive: Cause | None = None
    first_out_of_rollout = -1
    # The rollout hash depends only on the flag key and bucketing value: conditions on
    # the flag's own target share it (PostHog recomputes it; the value is the same).
    flag_rollout_hash = -1.0
    for condition, own_target, tests, threshold in flag.plan:
        if own_target:
            cond_props = props
            cond_bucketing = bucketing
        else:
            if condition.broken:
                return BROKEN
            name = condition.group_name
            if name is None or name not in groups:
                continue
            if name not in group_props:
                inconclusive = stronger(inconclusive, Cause.MISSING_CONTEXT)
                continue
            cond_props = group_props[name]
            cond_bucketing = groups[name]

        # Property filters: a definite False ends the group even after an inconclusive one.
        if tests:
            group_cause: Cause | None = None
            requires_server: RequiresServer | None = None
            matched = True
            for test in tests:
                outcome = test(cond_props) if frame is None else test(cond_props, frame)
                if outcome is True:
                    continue
                if outcome is False:
                    matched = False
                    break
                if isinstance(outcome, Cause):
                    group_cause = stronger(group_cause, outcome)
                elif isinstance(outcome, RequiresServer):
                    if group_cause is None:
                        requires_server = outcome
                    group_cause = stronger(group_cause, outcome.cause)
                else:
                    # An error: fatal unless something was already inconclusive.
                    if group_cause is None:
                        return BROKEN
                    break
            if not matched:
                continue
            if requires_server is not None:
                return requires_server
            if group_cause is not None:
                inconclusive = stronger(inconclusive, group_cause)
                continue

        if threshold is not None:
            if not own_target:
                rollout_hash = bucket_with(flag.hash_prefix, cond_bucketing)
            elif flag_rollout_hash >= 0.0:
                rollout_hash = flag_rollout_hash
            else:
                rollout_hash = flag_rollout_hash = bucket_with(flag.hash_prefix, cond_bucketing)
            if rollout_hash > threshold:
                if first_out_of_rollout < 0:
                    first_out_of_rollout = condition.out_of_rollout_slot
                if flag.early_exit:
                    break
                continue
        elif condition.rollout_broken:
            return BROKEN
        return matched_value(flag, condition, cond_bucketing)

    if inconclusive is not None:
        return inconclusive
    return flag.book.get(first_out_of_rollout if first_out_of_rollout >= 0 else NO_MATCH)


def matched_value(flag: CompiledFlag, condition: Condition, bucketing: Any) -> MatchOutcome:
    """The value of a matched condition: its override, a variant, or ``True``."""
    if condition.override_slot >= 0:
        return flag.book.get(condition.override_slot)
    if not flag.has_variants:
        return flag.book.get(condition.true_slot)
    if flag.variant_table_broken:
        return BROKEN
    variant_hash = bucket_with(flag.hash_prefix, bucketing, "variant")
    for index, (low, high) in enumerate(flag.variant_bounds):
        if low <= variant_hash < high:
            return flag.book.get(condition.variant_slot + index)
    return flag.book.get(condition.true_slot)


def match_simple(flag: CompiledFlag, distinct_id: Any) -> MatchOutcome:
    """:func:`match_flag` for flags whose conditions are only rollouts (``flag.simple``)."""
    rollout_hash = -1.0
    first_out_of_rollout = -1
    for condition in flag.conditions:
        threshold = condition.threshold
        if threshold is not None:
            if rollout_hash < 0.0:
                rollout_hash = bucket_with(flag.hash_prefix, distinct_id)
            if rollout_hash > threshold:
                if first_out_of_rollout < 0:
                    first_out_of_rollout = condition.out_of_rollout_slot
                if flag.early_exit:
                    break
                continue
        return matched_value(flag, condition, distinct_id)
    return flag.book.get(first_out_of_rollout if first_out_of_rollout >= 0 else NO_MATCH)


def evaluate_dependency(
    key: Any, flag: CompiledFlag, props: Mapping[str, Any], frame: Frame
) -> Cause | RequiresServer | _Broken | None:
    """Evaluate one member of a dependency chain into ``frame.cache``.

    Returns None when the member was decided (its value is cached), else the outcome
    that makes the dependent filter undecidable.
    """
    if not flag.active:
        frame.cache[key] = False
        return None
    if flag.continuity:
        frame.mark(key)
        return Cause.UNRESOLVED_DEPENDENCY
    if flag.filters_broken:
        return Cause.UNSUPPORTED_DEFINITION if flag.unsupported_format else BROKEN
    if flag.is_group_flag:
        bucketing = frame.dependency_id
    elif flag.by_device:
        bucketing = frame.device_id
        if not bucketing:
            frame.mark(key)
            return Cause.UNRESOLVED_DEPENDENCY
    else:
        bucketing = frame.dependency_id
    if not frame.nest():
        return BROKEN
    frame.depth += 1
    try:
        # No group context inside dependencies: mixed group conditions are skipped.
        # A flag without cohort or dependency filters is evaluated without the frame.
        outcome = match_flag(
            flag, props, bucketing, frame if flag.needs_frame else None, _EMPTY, _EMPTY
        )
    finally:
        frame.depth -= 1
    # Read again: the nested evaluation may have moved the frame to a cache of its own.
    if isinstance(outcome, FlagResult):
        frame.cache[key] = outcome.value
        return None
    if isinstance(outcome, Cause):
        frame.mark(key)
        return Cause.UNRESOLVED_DEPENDENCY
    if isinstance(outcome, RequiresServer):
        return RS_DEPENDENCY
    return outcome
