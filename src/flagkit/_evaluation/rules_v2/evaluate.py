"""Ordered evaluation of a validated rules v2 config. Pure and never raising.

Rules run in stored order. A rule whose targeting does not match is skipped; targeting is
an AND read left to right that stops at the first False (later filters are not reached,
so their failures do not count) or at the first failure (which ends the evaluation: the
caller's default applies). A continuing rollout miss leaves no trace; the result carries
the terminating rule, or ``no_rule_match`` with the flag default.
"""

from __future__ import annotations

from collections.abc import Callable

from flagkit._evaluation.rules_v2.context import Failure, V2Context
from flagkit._evaluation.rules_v2.hashing import (
    hash01,
    holdout_input,
    in_bucket,
    rollout_input,
    variant_input,
)
from flagkit._evaluation.rules_v2.model import (
    Experiment,
    PercentageRollout,
    PropertyFilter,
    Rule,
    V2Config,
)
from flagkit._evaluation.rules_v2.result import SUCCESS, RuleRef, V2Result

__all__ = ["Hasher", "evaluate_v2"]

Hasher = Callable[[str], float]
"""hash01 of an assembled hash input; a seam so tests can place a subject on a boundary."""

_CONTINUE = None


def _targeting(filters: tuple[PropertyFilter, ...], context: V2Context) -> bool | Failure:
    for item in filters:
        outcome = item.check(context)
        if outcome is not True:
            return outcome  # False skips the rule; a failure ends the evaluation
    return True


def _ref(rule: Rule) -> RuleRef:
    return RuleRef(rule.id, rule.rule_type, rule.index)


def _miss(config: V2Config, rule: PercentageRollout | Experiment) -> V2Result | None:
    if rule.on_rollout_miss == "return_default":
        return V2Result(SUCCESS, config.default_value, "rollout_miss", _ref(rule))
    return _CONTINUE


def _rollout(
    config: V2Config, rule: PercentageRollout, subject: str, hasher: Hasher
) -> V2Result | None:
    # An empty identifier is never assigned: always a miss, whatever the percentage.
    if subject and in_bucket(hasher(rollout_input(rule.seed, subject)), rule.threshold):
        return V2Result(SUCCESS, rule.value, "targeting_match", _ref(rule))
    return _miss(config, rule)


def _experiment(
    config: V2Config, rule: Experiment, subject: str, hasher: Hasher
) -> V2Result | None:
    """Provisional (corpus 1.0.0 has no experiment outcomes): pause, holdout, enrollment,
    then the weighted split. Only a split names a variant."""
    ref = _ref(rule)
    if rule.paused:
        return V2Result(
            SUCCESS,
            config.default_value,
            "experiment_paused",
            ref,
            experiment_id=rule.experiment_id,
        )
    if not subject:
        return _miss(config, rule)
    holdout = rule.holdout
    if holdout is not None and in_bucket(
        hasher(holdout_input(holdout.seed, subject)), holdout.threshold
    ):
        return V2Result(
            SUCCESS,
            config.default_value,
            "holdout",
            ref,
            experiment_id=rule.experiment_id,
            holdout_id=holdout.id,
        )
    if not in_bucket(hasher(rollout_input(rule.seed, subject)), rule.threshold):
        return _miss(config, rule)
    position = hasher(variant_input(rule.seed, subject))
    chosen = rule.variants[-1]  # a hash of exactly 1.0 lands in the last arm
    for variant, bound in zip(rule.variants, rule.bounds(), strict=True):
        if position < bound:
            chosen = variant
            break
    return V2Result(
        SUCCESS,
        chosen.value,
        "experiment_split",
        ref,
        variant_key=chosen.key,
        experiment_id=rule.experiment_id,
    )


def _subject(config: V2Config, context: V2Context) -> str | Failure:
    index = config.aggregation_group_type_index
    if index is None:
        return context.identifier
    key = context.group_keys.get(index)
    if not isinstance(key, str):
        return Failure("missing_group_key", f"no group key for group type index {index}")
    return key


def _run(config: V2Config, context: V2Context, hasher: Hasher) -> V2Result:
    if not config.rules:
        return V2Result(SUCCESS, config.default_value, "no_rule_match")
    subject = _subject(config, context)
    if isinstance(subject, Failure):
        return V2Result.failed(subject.code, subject.detail)
    for rule in config.rules:
        matched = _targeting(rule.filters, context)
        if isinstance(matched, Failure):
            return V2Result.failed(matched.code, matched.detail)
        if not matched:
            continue
        if isinstance(rule, PercentageRollout):
            result = _rollout(config, rule, subject, hasher)
        elif isinstance(rule, Experiment):
            result = _experiment(config, rule, subject, hasher)
        else:
            result = V2Result(SUCCESS, rule.value, "targeting_match", _ref(rule))
        if result is not None:
            return result
    return V2Result(SUCCESS, config.default_value, "no_rule_match")


def _evaluate(config: V2Config, context: V2Context, *, hasher: Hasher = hash01) -> V2Result:
    """:func:`evaluate_v2` with a replaceable hash (the white-box seam)."""
    try:
        return _run(config, context, hasher)
    except Exception as error:  # defensive: evaluation must never raise
        return V2Result.failed("evaluation_error", f"unexpected {type(error).__name__}")


def evaluate_v2(config: V2Config, context: V2Context, *, flag_key: str) -> V2Result:
    """Evaluate one rules v2 flag for one subject. Never raises.

    ``flag_key`` names the flag in details only: rules v2 hashes with each rule's own seed,
    so renaming a flag never moves its subjects.
    """
    return _evaluate(config, context)
