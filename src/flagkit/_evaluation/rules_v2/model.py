"""The validated form of a rules v2 config (``filters.version == 2``).

Built only by :func:`flagkit._evaluation.rules_v2.validate.parse_config`; every instance is
already checked, so evaluation trusts it. Assignment seeds are kept (evaluation needs them)
but left out of every ``repr`` so they cannot leak into logs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import attrs

from flagkit._evaluation.rules_v2.context import Failure, V2Context
from flagkit._evaluation.rules_v2.hashing import threshold

__all__ = [
    "Check",
    "Experiment",
    "Holdout",
    "PercentageRollout",
    "PropertyFilter",
    "Rule",
    "TargetedRelease",
    "V2Config",
    "Variant",
]

Check = Callable[[V2Context], "bool | Failure"]
"""A compiled property filter: True, False, or the failure that stops the evaluation."""


@attrs.frozen(slots=True)
class PropertyFilter:
    """One targeting filter; ``check`` is its compiled, never-raising test."""

    key: str
    type: str
    operator: str
    value: Any
    negation: bool
    group_type_index: int | None
    check: Check = attrs.field(eq=False, repr=False)


@attrs.frozen(slots=True)
class RuleBase:
    """What every rule has: its id, its position in ``rules`` and its targeting."""

    rule_type: ClassVar[str]

    id: str
    index: int
    filters: tuple[PropertyFilter, ...]


@attrs.frozen(slots=True)
class TargetedRelease(RuleBase):
    """Everyone the targeting matches gets ``value``."""

    rule_type: ClassVar[str] = "targeted_release"

    value: bool


@attrs.frozen(slots=True)
class PercentageRollout(RuleBase):
    """``rollout_percentage`` of the matched subjects get ``value``; a miss continues to the
    next rule or returns the flag default (``on_rollout_miss``)."""

    rule_type: ClassVar[str] = "percentage_rollout"

    value: bool
    rollout_percentage: float
    on_rollout_miss: str
    seed: str = attrs.field(repr=False)
    assign_by: str | None = None

    @property
    def threshold(self) -> float:
        """``rollout_percentage / 100`` in binary64."""
        return threshold(self.rollout_percentage)


@attrs.frozen(slots=True)
class Variant:
    """One arm of an experiment; ``weight`` is a percentage of the enrolled subjects."""

    key: str
    weight: float
    value: bool


@attrs.frozen(slots=True)
class Holdout:
    """Subjects kept out of an experiment (they get the flag default)."""

    id: int
    seed: str = attrs.field(repr=False)
    exclusion_percentage: float = 0.0

    @property
    def threshold(self) -> float:
        """``exclusion_percentage / 100`` in binary64."""
        return threshold(self.exclusion_percentage)


@attrs.frozen(slots=True)
class Experiment(RuleBase):
    """An experiment split: enrollment by ``rollout_percentage``, then weighted variants."""

    rule_type: ClassVar[str] = "experiment"

    experiment_id: int
    paused: bool
    rollout_percentage: float
    on_rollout_miss: str
    seed: str = attrs.field(repr=False)
    variants: tuple[Variant, ...] = ()
    holdout: Holdout | None = None
    assign_by: str | None = None

    @property
    def threshold(self) -> float:
        """``rollout_percentage / 100`` in binary64."""
        return threshold(self.rollout_percentage)

    def bounds(self) -> tuple[float, ...]:
        """Upper variant bounds, accumulated left to right in binary64 in stored order."""
        total = 0.0
        out = []
        for variant in self.variants:
            total += threshold(variant.weight)
            out.append(total)
        return tuple(out)


Rule = TargetedRelease | PercentageRollout | Experiment


@attrs.frozen(slots=True)
class V2Config:
    """A valid rules v2 config: ordered rules and the flag default.

    ``default_value`` ``None`` hands over to the caller's default. Group flags set
    ``aggregation_group_type_index`` and assign by the group key of that type.
    """

    return_type: str
    default_value: bool | None
    rules: tuple[Rule, ...]
    aggregation_group_type_index: int | None = None
