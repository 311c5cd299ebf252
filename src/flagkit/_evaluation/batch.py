"""Every flag of a snapshot in one pass: what ``Evaluator.evaluate_all`` runs for a call
without ``keys``.

The per-flag loop of ``evaluate_all`` decides each flag's run mode, calls its code and
stores the answer, one flag at a time. Most flags (unrolled person flags and inactive
ones) need nothing from the call but the person properties and the encoded identifier, so
their code is called from one list comprehension and the answers are zipped into the
result dict in C. Flags that need more (group flags, cohorts, dependencies...) get a
placeholder answer there and are then run one by one, as the per-flag loop runs them, in
place (a dict keeps the position of a key that is assigned again).

``get_all_flags`` needs values only: its pass (:func:`run_batch` with ``values``) calls
the same code with ``want_values=True``, which returns the matched value from a table
shared by the flags with the same values (see flagkit._evaluation.specialize), so that no
result is read or built for them. Outcomes that are not a bool or a string (undecided,
say) are left to the per-flag path, as in the results pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from flagkit._evaluation.model import DISABLED
from flagkit._evaluation.result import FlagResult
from flagkit._evaluation.snapshot import RUN_DISABLED, RUN_SHARED, RUN_UNROLLED, PlanEntry, Runner


def _later(*_: Any) -> None:
    """The placeholder code of a flag run after the pass (its answer: None)."""


def _fixed(
    result: FlagResult, person: Any, encoded: Any, variant: Any, memo: Any, want_values: bool
) -> Any:
    """The code of an inactive flag: its constant is its answer (its value, for values)."""
    return result.value if want_values else result


@attrs.frozen(slots=True)
class Batch:
    """A snapshot's flags in definition order, as one pass calls them."""

    keys: tuple[str, ...]
    # Per flag: its code, called as code(constant, person, identifier, identifier +
    # b"variant", memo, values only), and that constant.
    codes: tuple[Runner, ...]
    constants: tuple[Any, ...]
    # The flags the pass leaves to the per-flag path (their code is _later): position and
    # plan entry.
    later: tuple[tuple[int, PlanEntry], ...]
    # Whether some flag shares filter-list outcomes (then a call needs a memo).
    shares: bool


def batch_of(plan: Sequence[PlanEntry]) -> Batch:
    """The batch of an evaluation plan (``Snapshot._evaluation_plan``)."""
    codes: list[Runner] = []
    constants: list[Any] = []
    later: list[tuple[int, PlanEntry]] = []
    for position, entry in enumerate(plan):
        _, flag, mode, runner, consts = entry
        if mode in (RUN_UNROLLED, RUN_SHARED):
            # run_code takes the memo too (and ignores it): one call for both.
            codes.append(runner)
            constants.append(consts)
        elif mode == RUN_DISABLED:
            codes.append(_fixed)
            constants.append(flag.book.get(DISABLED))
        else:
            codes.append(_later)
            constants.append(None)
            later.append((position, entry))
    keys = tuple(key for key, *_ in plan)
    shares = any(entry[2] == RUN_SHARED for entry in plan)
    return Batch(keys, tuple(codes), tuple(constants), tuple(later), shares)


# What a pass's code answers when it decides: a result, or in values mode a value.
_RESULT_TYPES = (FlagResult,)
_VALUE_TYPES = (bool, str)


def run_batch(
    batch: Batch,
    person: dict[str, Any],
    encoded: bytes,
    variant_encoded: bytes,
    memo: list[Any] | None,
    values: bool = False,
) -> tuple[dict[str, Any], Sequence[int] | None] | None:
    """The answers of the pass by key, and the positions still to run one by one (None:
    the batch's ``later`` ones; else those and any flag whose code left its answer to the
    general path); None when some flag's code raised (the per-flag loop then says which).
    With ``values``, each answer is the flag's value (a bool or a string) instead of its
    result, which is neither read nor built; any other outcome is left to the per-flag
    path."""
    try:
        outcomes = [
            code(constant, person, encoded, variant_encoded, memo, values)
            for code, constant in zip(batch.codes, batch.constants, strict=True)
        ]
    except Exception:
        return None
    decided = _VALUE_TYPES if values else _RESULT_TYPES
    later: Sequence[int] | None = None
    # Counted in C: any other outcome from the flags' own code is rare.
    types = list(map(type, outcomes))
    if sum(map(types.count, decided)) + len(batch.later) != len(outcomes):
        later = [n for n, kind in enumerate(types) if kind not in decided]
    return dict(zip(batch.keys, outcomes, strict=True)), later
