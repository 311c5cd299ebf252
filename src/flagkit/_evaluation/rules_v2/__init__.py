"""Rules v2: PostHog's next flag format (``filters.version == 2``), evaluated in-process.

Pure: no I/O, no clock but the context's ``now``. Entry points:

* :func:`parse_config` - a flag's ``filters`` to a :class:`V2Config`, or a list of problems
  (:func:`problem_kind` says ``malformed`` or ``unsupported``); invalid configs are never
  evaluated.
* :func:`evaluate_v2` - one :class:`V2Config` and one :class:`V2Context` to a
  :class:`V2Result`. Never raises.
"""

from __future__ import annotations

from flagkit._evaluation.rules_v2.context import V2Context
from flagkit._evaluation.rules_v2.eligibility import is_eligible
from flagkit._evaluation.rules_v2.evaluate import evaluate_v2
from flagkit._evaluation.rules_v2.model import V2Config
from flagkit._evaluation.rules_v2.result import RuleRef, V2Result
from flagkit._evaluation.rules_v2.validate import UNSUPPORTED_PREFIX, parse_config, problem_kind

__all__ = [
    "UNSUPPORTED_PREFIX",
    "RuleRef",
    "V2Config",
    "V2Context",
    "V2Result",
    "evaluate_v2",
    "is_eligible",
    "parse_config",
    "problem_kind",
]
