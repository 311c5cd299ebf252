"""Which flag format a definition is in: ``filters.version`` decides, per flag.

Absent or 1 is the legacy format, evaluated as PostHog's SDK does. 2 is "rules v2"
(PostHog's next format). Anything else is unknown: never read as legacy, because another
format's fields read as legacy ones give conclusive and wrong answers.
"""

from __future__ import annotations

from typing import Any

RULES_V2 = 2


def is_legacy_format(version: Any) -> bool:
    """True for ``filters.version`` absent or 1. (``True == 1`` in Python, but a boolean is
    no version number.)"""
    return version is None or (version == 1 and type(version) is int)


def is_rules_v2(version: Any) -> bool:
    """True for ``filters.version`` 2 (not ``2.0`` or ``"2"``: those are unknown)."""
    return version == RULES_V2 and type(version) is int
