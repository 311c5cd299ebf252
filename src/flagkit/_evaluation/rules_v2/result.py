"""The answer of one rules v2 evaluation."""

from __future__ import annotations

from typing import Any

import attrs

__all__ = [
    "ERROR",
    "SUCCESS",
    "RuleRef",
    "V2Result",
]

SUCCESS = "success"
ERROR = "error"


@attrs.frozen(slots=True)
class RuleRef:
    """The rule that terminated evaluation: its id, type and position in ``rules``."""

    id: str
    rule_type: str
    index: int


@attrs.frozen(slots=True)
class V2Result:
    """One evaluation's outcome. It never holds an assignment seed.

    ``status`` is ``"success"`` (``value`` may be ``None``: the flag default is null and
    hands over to the caller's default) or ``"error"`` (``error`` holds the contract code,
    e.g. ``missing_context``; ``detail`` says why in words; the caller's default applies).
    ``reason`` is the contract reason code of a success (``targeting_match``,
    ``rollout_miss``, ``no_rule_match``, ``holdout``, ``experiment_split``, ...).
    """

    status: str
    value: bool | None = None
    reason: str | None = None
    rule: RuleRef | None = None
    error: str | None = None
    detail: str | None = None
    variant_key: str | None = None
    experiment_id: int | None = None
    holdout_id: int | None = None

    @classmethod
    def failed(cls, code: str, detail: str) -> V2Result:
        """An error result."""
        return cls(ERROR, error=code, detail=detail)

    def to_contract(self) -> dict[str, Any]:
        """The contract's terminal fields, exactly (``detail`` is for humans, not compared)."""
        if self.status == ERROR:
            return {"status": ERROR, "error": self.error}
        out: dict[str, Any] = {"status": self.status, "value": self.value, "reason": self.reason}
        if self.rule is not None:
            out["rule"] = {
                "id": self.rule.id,
                "rule_type": self.rule.rule_type,
                "index": self.rule.index,
            }
        for name in ("variant_key", "experiment_id", "holdout_id"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out
