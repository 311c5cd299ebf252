"""Internal outcomes of compiled predicates.

A predicate answers ``True``, ``False`` or a :class:`Cause` (inconclusive: PostHog's SDK
could not decide it locally either). Causes are ordered: when several apply, the one with
the lowest ``rank`` wins, as in PostHog's ``UnresolvedFlagReason``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Any

import attrs


class Cause(enum.Enum):
    """Why something is inconclusive, in PostHog's precedence order."""

    EXPERIENCE_CONTINUITY = 0
    UNSUPPORTED_DEFINITION = 1
    UNRESOLVED_DEPENDENCY = 2
    MISSING_CONTEXT = 3

    @property
    def rank(self) -> int:
        return self.value


def stronger(a: Cause | None, b: Cause) -> Cause:
    """The cause that wins when both apply."""
    if a is None or b.value < a.value:
        return b
    return a


Outcome = bool | Cause
PropertyTest = Callable[[Mapping[str, Any]], Outcome]


@attrs.frozen(slots=True)
class CompiledProperty:
    """One compiled property filter (not cohort, not flag dependency).

    ``test(props)`` never raises. ``text`` is a short human phrase such as
    ``"plan is one of pro, enterprise"``, used in result descriptions and ``flagkit explain``.
    """

    key: str
    operator: str
    test: PropertyTest
    text: str


@attrs.frozen(slots=True)
class RequiresServer:
    """The whole flag must be decided by PostHog's servers (a static or unknown cohort).

    Unlike a :class:`Cause`, later condition groups may not decide the flag instead.
    """

    cause: Cause


RS_DEFINITION = RequiresServer(Cause.UNSUPPORTED_DEFINITION)
RS_DEPENDENCY = RequiresServer(Cause.UNRESOLVED_DEPENDENCY)


class _Broken:
    """A definition piece that makes PostHog's SDK raise an unexpected error."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "BROKEN"


BROKEN = _Broken()
"""Outcome of a definition that PostHog's SDK cannot evaluate at all (it errors)."""

FilterOutcome = bool | Cause | RequiresServer | _Broken
