"""Which flag rows are evaluated at all (the corpus' eligibility boundary)."""

from __future__ import annotations

__all__ = ["is_eligible"]


def is_eligible(*, active: bool, deleted: bool, requested: bool) -> bool:
    """Only an active, not deleted flag that the caller asked for is evaluated; the others
    are omitted from the answer (no value, no event)."""
    return active is True and deleted is not True and requested is True
