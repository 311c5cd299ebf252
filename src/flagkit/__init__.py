"""flagkit: PostHog feature flags evaluated in-process, exactly as PostHog evaluates them."""

from __future__ import annotations

from flagkit._result import FlagResult, FlagValue, Reason
from flagkit.errors import DefinitionsError, FlagkitError

__all__ = [
    "DefinitionsError",
    "FlagResult",
    "FlagValue",
    "FlagkitError",
    "Reason",
]

__version__ = "0.1.0"
