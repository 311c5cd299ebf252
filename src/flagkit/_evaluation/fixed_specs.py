"""The specs of a flag's fixed result slots (disabled, no match, holdout, undecided...),
which most flags share, and the reasons and texts of inconclusive causes."""

from __future__ import annotations

from flagkit._evaluation.model import (
    CONTINUITY,
    DISABLED,
    ENROLLED,
    FIRST_CONDITION_SLOT,
    GROUP_NOT_PROVIDED,
    HOLDOUT,
    INVALID,
    NO_MATCH,
    NOT_ENROLLED,
    REQUIRES_SERVER,
    UNDECIDED,
    ResultSpec,
)
from flagkit._evaluation.outcome import Cause
from flagkit._evaluation.result import Reason

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


def _fixed_specs() -> tuple[ResultSpec, ...]:
    """The fixed slots' specs for a flag that names no holdout, group type or format."""
    fixed: dict[int, ResultSpec] = {
        DISABLED: (False, Reason.DISABLED, None, "the flag is disabled"),
        NO_MATCH: (False, Reason.NO_CONDITION_MATCH, None, "no condition matched"),
        HOLDOUT: (None, Reason.HOLDOUT, None, "held out of the experiment (None% holdout)"),
        ENROLLED: (True, Reason.FEATURE_ENROLLMENT, None, "enrolled in the early-access feature"),
        NOT_ENROLLED: (
            False,
            Reason.FEATURE_ENROLLMENT,
            None,
            "not enrolled in the early-access feature",
        ),
        GROUP_NOT_PROVIDED: (
            False,
            Reason.GROUP_NOT_PROVIDED,
            None,
            "group flag: no None group was passed",
        ),
        REQUIRES_SERVER: (
            None,
            Reason.REQUIRES_SERVER,
            None,
            "needs PostHog's servers: it uses a cohort that is not sent for local "
            "evaluation (static, behavioural or unknown)",
        ),
        CONTINUITY: (
            None,
            Reason.REQUIRES_SERVER,
            None,
            "needs PostHog's servers: experience continuity is on",
        ),
        INVALID: (
            None,
            Reason.INVALID_DEFINITION,
            None,
            "the definition is malformed; see Snapshot.problems",
        ),
    }
    for cause in Cause:
        fixed[UNDECIDED + cause.value] = (
            None,
            _CAUSE_REASONS[cause],
            None,
            f"cannot be decided locally: {_CAUSE_TEXT[cause]}",
        )
    return tuple(fixed[slot] for slot in range(FIRST_CONDITION_SLOT))


FIXED_SPECS = _fixed_specs()
"""Shared by every flag whose fixed slots name nothing of its own."""


def reason_for(cause: Cause) -> Reason:
    """The public reason of an inconclusive cause."""
    return _CAUSE_REASONS[cause]


def undecided_slot(cause: Cause) -> int:
    """The result slot of an inconclusive cause."""
    return UNDECIDED + cause.value
