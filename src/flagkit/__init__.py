"""flagkit: PostHog feature flags evaluated in-process, exactly as PostHog evaluates them."""

from __future__ import annotations

from flagkit._async_client import AsyncClient
from flagkit._client import Client
from flagkit._evaluator import Evaluator
from flagkit._explain import ConditionTrace, Explanation, FilterTrace
from flagkit._result import FlagResult, FlagValue, Reason
from flagkit._snapshot import Snapshot
from flagkit._status import ClientStatus, Role, State
from flagkit.errors import DefinitionsError, FlagkitError

__all__ = [
    "AsyncClient",
    "Client",
    "ClientStatus",
    "ConditionTrace",
    "DefinitionsError",
    "Evaluator",
    "Explanation",
    "FilterTrace",
    "FlagResult",
    "FlagValue",
    "FlagkitError",
    "Reason",
    "Role",
    "Snapshot",
    "State",
]

__version__ = "0.1.0"
