"""flagkit: PostHog feature flags evaluated in-process, exactly as PostHog evaluates them."""

from __future__ import annotations

from flagkit._client.async_client import AsyncClient
from flagkit._client.flag_evaluations import FlagEvaluations
from flagkit._client.sync_client import Client
from flagkit._evaluation.evaluator import Evaluator
from flagkit._evaluation.explain import ConditionTrace, Explanation, FilterTrace
from flagkit._evaluation.result import FlagResult, FlagValue, Reason, Rule
from flagkit._evaluation.snapshot import Snapshot
from flagkit._status import ClientStatus, Role, State
from flagkit._version import __version__ as __version__
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
    "FlagEvaluations",
    "FlagResult",
    "FlagValue",
    "FlagkitError",
    "Reason",
    "Role",
    "Rule",
    "Snapshot",
    "State",
]
