"""A rules v2 flag inside flagkit's evaluator: the caller's context in, a :class:`FlagResult`
out, with the contract's reason code and the deciding rule.

The public getters take three arguments only rules v2 flags read (:class:`RulesOptions`):
whether the person properties passed are complete (a key absent from them is then known to
be unset rather than unknown), the time zone of the date operators, and "now".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import attrs

from flagkit._evaluation.model import ResultBook
from flagkit._evaluation.result import FlagResult, Reason, Rule
from flagkit._evaluation.rules_v2.context import V2Context
from flagkit._evaluation.rules_v2.evaluate import evaluate_v2
from flagkit._evaluation.rules_v2.model import V2Config
from flagkit._evaluation.rules_v2.result import SUCCESS, V2Result

__all__ = [
    "DEFAULT_RULES_OPTIONS",
    "RulesOptions",
    "evaluate_rules_v2",
    "trace_rules",
    "v2_context",
]

_ERRORS = {
    "missing_context": Reason.MISSING_CONTEXT,
    "missing_group_key": Reason.MISSING_GROUP_KEY,
    "dependency_error": Reason.DEPENDENCY_ERROR,
    "invalid_regex": Reason.INVALID_REGEX,
    "invalid_property": Reason.INVALID_PROPERTY,
}
_SUCCESSES = {
    reason.value: reason
    for reason in (
        Reason.TARGETING_MATCH,
        Reason.ROLLOUT_MISS,
        Reason.NO_RULE_MATCH,
        Reason.HOLDOUT,
        Reason.EXPERIMENT_SPLIT,
    )
}
_DESCRIPTIONS = {
    "targeting_match": "rules v2: rule {index} matched",
    "rollout_miss": "rules v2: outside rule {index}'s rollout; the flag default applies",
    "no_rule_match": "rules v2: no rule matched; the flag default applies",
    "holdout": "rules v2: held out of rule {index}'s experiment",
    "experiment_split": "rules v2: assigned a variant by rule {index}",
}


@attrs.frozen(slots=True)
class RulesOptions:
    """What rules v2 flags read beyond today's arguments (see the module doc). ``None``
    time zone: UTC; ``None`` now: the clock at the call."""

    properties_complete: bool = False
    timezone: str | None = None
    now: datetime | None = None


DEFAULT_RULES_OPTIONS = RulesOptions()


def evaluate_rules_v2(
    key: str, config: V2Config, book: ResultBook, context: V2Context | str
) -> FlagResult:
    """One rules v2 flag for one caller, in ``context`` (from :func:`v2_context`; a string
    says why none could be built: ``INVALID_INPUT``, with the reason). Never raises."""
    if isinstance(context, str):
        return FlagResult(key, None, Reason.INVALID_INPUT, description=context)
    outcome = evaluate_v2(config, context, flag_key=key)
    return _as_flag_result(key, outcome, book)


def v2_context(
    config: V2Config,
    distinct_id: Any,
    person_properties: Mapping[str, Any] | None,
    group_keys: Mapping[int, Any],
    group_properties: Mapping[str, Any] | None,
    explicit_exact_matching: bool,
    options: RulesOptions,
) -> V2Context | str:
    """The rules v2 context of a call, or why it cannot be built."""
    properties = person_properties
    if config.aggregation_group_type_index is not None:
        properties = group_properties  # a group flag targets its group's properties
    try:
        return V2Context(
            identifier=str(distinct_id),
            # None: no properties at all, unless the caller says what it passed (nothing)
            # is complete.
            properties=(
                None
                if properties is None and not options.properties_complete
                else dict(properties or {})
            ),
            properties_complete=options.properties_complete,
            timezone=options.timezone or "UTC",
            explicit_exact_matching=explicit_exact_matching,
            now=options.now or datetime.now(timezone.utc),
            group_keys={i: str(k) for i, k in group_keys.items() if k is not None},
        )
    except (TypeError, ValueError) as error:
        return str(error)


def trace_rules(config: V2Config, context: V2Context) -> list[tuple[Any, list[tuple[str, str]]]]:
    """Each rule with each of its filters' outcome for this context, evaluated on its own
    (for ``explain``): ``[(rule, [(filter text, outcome), ...]), ...]``."""
    traces: list[tuple[Any, list[tuple[str, str]]]] = []
    for rule in config.rules:
        filters: list[tuple[str, str]] = []
        for item in rule.filters:
            outcome = item.check(context)
            label = (
                "match"
                if outcome is True
                else "no match"
                if outcome is False
                else f"error ({getattr(outcome, 'code', 'failed')})"
            )
            negated = "not " if item.negation else ""
            filters.append((f"{item.key} {negated}{item.operator} {item.value!r}", label))
        traces.append((rule, filters))
    return traces


def _as_flag_result(key: str, outcome: V2Result, book: ResultBook) -> FlagResult:
    flag_id, version = book.flag_id, book.version
    rule = outcome.rule
    shown = None if rule is None else Rule(rule.id, rule.rule_type, rule.index)
    if outcome.status != SUCCESS:
        reason = _ERRORS.get(outcome.error or "", Reason.INVALID_DEFINITION)
        detail = outcome.detail or outcome.error or "evaluation failed"
        return FlagResult(
            key,
            None,
            reason,
            description=f"rules v2: cannot be decided: {detail}",
            flag_id=flag_id,
            flag_version=version,
        )
    code = outcome.reason or "no_rule_match"
    text = _DESCRIPTIONS.get(code, f"rules v2: {code}")
    return FlagResult(
        key,
        outcome.value,
        _SUCCESSES.get(code, Reason.NO_RULE_MATCH),
        description=text.format(index=None if rule is None else rule.index),
        flag_id=flag_id,
        flag_version=version,
        rule=shown,
    )
