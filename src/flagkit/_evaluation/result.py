"""The answer to "what is this flag for this caller?": a value plus why."""

from __future__ import annotations

import enum
import operator
from collections.abc import Callable
from typing import Any

import attrs

FlagValue = bool | str


class Reason(str, enum.Enum):
    """Why a flag evaluated the way it did.

    The first group are decided answers; the ``UNDECIDABLE`` group (see
    :attr:`Reason.decided`) are cases PostHog's SDK cannot decide locally either, where the
    value is ``None`` and a client may ask PostHog's servers instead.
    """

    CONDITION_MATCH = "condition_match"
    NO_CONDITION_MATCH = "no_condition_match"
    OUT_OF_ROLLOUT = "out_of_rollout"
    DISABLED = "disabled"
    HOLDOUT = "holdout"
    FEATURE_ENROLLMENT = "feature_enrollment"
    GROUP_NOT_PROVIDED = "group_not_provided"
    FLAG_NOT_FOUND = "flag_not_found"
    # Rules v2 (``filters.version == 2``): the contract's reason codes, verbatim.
    TARGETING_MATCH = "targeting_match"
    ROLLOUT_MISS = "rollout_miss"
    NO_RULE_MATCH = "no_rule_match"
    EXPERIMENT_SPLIT = "experiment_split"
    # Undecidable locally.
    MISSING_CONTEXT = "missing_context"
    # Rules v2 errors: the caller's default applies (asked from /flags in auto mode).
    MISSING_GROUP_KEY = "missing_group_key"
    DEPENDENCY_ERROR = "dependency_error"
    INVALID_REGEX = "invalid_regex"
    INVALID_PROPERTY = "invalid_property"
    UNSUPPORTED_DEFINITION = "unsupported_definition"
    REQUIRES_SERVER = "requires_server"
    UNRESOLVED_DEPENDENCY = "unresolved_dependency"
    INVALID_DEFINITION = "invalid_definition"
    INVALID_INPUT = "invalid_input"
    # Client-level outcomes.
    NOT_READY = "not_ready"
    REMOTE = "remote"
    REMOTE_ERROR = "remote_error"

    @property
    def decided(self) -> bool:
        """True when the value was decided locally from the definitions."""
        return self in _DECIDED

    def __str__(self) -> str:
        return self.value


_DECIDED = frozenset(
    {
        Reason.CONDITION_MATCH,
        Reason.NO_CONDITION_MATCH,
        Reason.OUT_OF_ROLLOUT,
        Reason.DISABLED,
        Reason.HOLDOUT,
        Reason.FEATURE_ENROLLMENT,
        Reason.GROUP_NOT_PROVIDED,
        Reason.REMOTE,
        Reason.TARGETING_MATCH,
        Reason.ROLLOUT_MISS,
        Reason.NO_RULE_MATCH,
        Reason.EXPERIMENT_SPLIT,
    }
)


@attrs.frozen(slots=True)
class Rule:
    """The rules v2 rule that decided a flag: its id (a UUID), type and position."""

    id: str
    rule_type: str
    index: int


@attrs.frozen(slots=True, repr=False)
class FlagResult:
    """One flag's answer for one caller.

    ``value`` is ``False``, ``True`` or a variant key, or ``None`` when the flag does not
    exist or cannot be decided locally (``reason`` then says why). ``payload`` is the decoded
    JSON payload configured for that value, if any.
    """

    key: str
    value: FlagValue | None
    reason: Reason
    payload: Any = None
    condition_index: int | None = None
    description: str = ""
    flag_id: int | None = None
    flag_version: int | None = None
    # Rules v2 flags only: the rule that decided the answer (None for "no rule matched").
    rule: Rule | None = None

    @property
    def enabled(self) -> bool:
        """True for ``True`` and for any variant."""
        return self.value is not None and self.value is not False

    @property
    def variant(self) -> str | None:
        """The variant key when the value is a string, else ``None``."""
        value = self.value
        return value if isinstance(value, str) else None

    def get_value(self) -> FlagValue:
        """The variant key, else ``enabled`` (posthog-python's ``FeatureFlagResult``)."""
        return self.variant or self.enabled

    def __repr__(self) -> str:
        return (
            f"FlagResult(key={self.key!r}, value={self.value!r}, reason={self.reason.value}, "
            f"condition_index={self.condition_index!r}, description={self.description!r})"
        )


# A result's value, read in C (for passes over every flag's result).
VALUE_OF: Callable[[FlagResult], FlagValue | None] = operator.attrgetter("value")
