"""Compiled, immutable forms of flag definitions, ready for evaluation.

Every answer a flag can give is described once at compile time as a cheap spec; the
:class:`FlagResult` for a spec is built the first time it is needed and then shared, so
evaluating allocates nothing and loading stays fast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import attrs

from flagkit._evaluation.outcome import FilterOutcome
from flagkit._evaluation.payloads import decode_payload
from flagkit._evaluation.result import FlagResult, Reason

_V = TypeVar("_V")

# A compiled filter: (needs_frame, test). Tests that need the frame (cohorts, flag
# dependencies) are called as test(props, frame), the others as test(props).
FilterTest = tuple[bool, Callable[..., FilterOutcome]]

# How a condition group finds its properties and bucketing value.
TARGET_FLAG = 0  # the flag's own properties and bucketing value
TARGET_GROUP = 1  # mixed targeting: a group named by the condition

# Fixed result slots of every flag; condition slots follow.
DISABLED = 0
NO_MATCH = 1
HOLDOUT = 2
ENROLLED = 3
NOT_ENROLLED = 4
GROUP_NOT_PROVIDED = 5
REQUIRES_SERVER = 6
CONTINUITY = 7
INVALID = 8
# One per Cause, in Cause order (see flagkit._evaluation.outcome.Cause values 0..3).
UNDECIDED = 9
FIRST_CONDITION_SLOT = 13

# How a condition slot's description is worded; it is built from the condition on first
# use (see describe_condition), so compiling formats no text.
DESCRIBE_MATCH = 0
DESCRIBE_OVERRIDE = 1
DESCRIBE_VARIANT = 2
DESCRIBE_OUT_OF_ROLLOUT = 3

# (value, reason, condition_index, description or a DESCRIBE_* code)
ResultSpec = tuple[Any, Reason, "int | None", "str | int"]

# A condition's match and out-of-rollout specs depend on its index alone: one copy of each
# per index, shared by every flag (two tuples per condition otherwise).
_MATCH_SPECS = tuple((True, Reason.CONDITION_MATCH, i, DESCRIBE_MATCH) for i in range(64))
_OUT_SPECS = tuple((False, Reason.OUT_OF_ROLLOUT, i, DESCRIBE_OUT_OF_ROLLOUT) for i in range(64))


def match_spec(index: int) -> ResultSpec:
    """The spec of condition ``index`` matching (no variant)."""
    if index < 64:
        return _MATCH_SPECS[index]
    return (True, Reason.CONDITION_MATCH, index, DESCRIBE_MATCH)


def out_of_rollout_spec(index: int) -> ResultSpec:
    """The spec of condition ``index`` matching outside its rollout."""
    if index < 64:
        return _OUT_SPECS[index]
    return (False, Reason.OUT_OF_ROLLOUT, index, DESCRIBE_OUT_OF_ROLLOUT)


def percent_text(value: float) -> str:
    """A rollout percentage as descriptions show it."""
    return f"{value:g}%"


def describe_condition(condition: Condition, how: int, value: Any) -> str:
    """The description of a condition slot answering ``value``."""
    number = condition.index + 1
    rollout = condition.rollout_percentage
    if how == DESCRIBE_OUT_OF_ROLLOUT:
        pct = percent_text(rollout) if rollout is not None else "rollout"
        return f"condition {number} ({condition.text}) matched, but outside its {pct} rollout"
    inside = f", inside {percent_text(rollout)} rollout" if rollout is not None else ""
    matched = f"matched condition {number} ({condition.text}){inside}"
    if how == DESCRIBE_OVERRIDE:
        return f"{matched}, variant override {value!r}"
    if how == DESCRIBE_VARIANT:
        return f"{matched}, variant {value!r}"
    return matched


def _keep(store: dict[Any, _V], limit: int, key: Any, value: _V) -> _V:
    """Keep ``value`` in one of the stores of shared objects below, and return it. Each is
    bounded: dropped whole when full, since sharing only saves memory."""
    if len(store) >= limit:
        store.clear()
    store[key] = value
    return value


# Descriptions repeat across flags (a rollout of "everyone", a shared filter list): one
# string per distinct text.
_TEXTS: dict[str, str] = {}
_TEXTS_LIMIT = 8192


def _shared_text(text: str) -> str:
    return _TEXTS.get(text) or _keep(_TEXTS, _TEXTS_LIMIT, text, text)


# Value tables repeat too ((False, True): a one-condition boolean flag). Only tables of
# bools and strings are shared: there, equal means the same (True == 1 would not).
_TABLES: dict[tuple[Any, ...], tuple[Any, ...]] = {}
_TABLES_LIMIT = 4096


def _shared_table(table: tuple[Any, ...]) -> tuple[Any, ...]:
    if not all(type(value) is bool or type(value) is str for value in table):
        return table
    return _TABLES.get(table) or _keep(_TABLES, _TABLES_LIMIT, table, table)


# Condition slot s is kept at position s - _SHIFT of a book's results (position 0 holds
# no match).
_SHIFT = FIRST_CONDITION_SLOT - 1


class ResultBook:
    """The answers of one flag: specs made at compile time, results made on first use.

    Building a result twice (two threads racing on first use) is harmless: both are equal
    and either may be kept.
    """

    __slots__ = (
        "_conditions",
        "_decoded",
        "_fixed",
        "_head",
        "_payloads",
        "_results",
        "_specs",
        "flag_id",
        "key",
        "version",
    )

    def __init__(
        self,
        key: str,
        flag_id: int | None,
        version: int | None,
        payloads: Mapping[Any, Any],
        head: Sequence[ResultSpec],
        specs: Sequence[ResultSpec],
        conditions: tuple[Condition, ...] = (),
    ) -> None:
        self.key = key
        self.flag_id = flag_id
        self.version = version
        self._payloads = payloads
        # Decoded payloads by value text, made on first use (most flags never need one).
        self._decoded: dict[str, Any] | None = None
        # The specs of the slots before the conditions' (often shared by many flags), and
        # of the rest.
        self._head = head
        self._specs = specs
        self._conditions = conditions
        # The results evaluation reaches most, by position (see position()): no match,
        # then the conditions' slots. The other fixed slots (disabled, holdout...) are
        # kept apart, in a list made on first use: most flags never reach one.
        self._results: list[FlagResult | None] = [None] * (1 + len(specs))
        self._fixed: list[FlagResult | None] | None = None

    @staticmethod
    def position(slot: int) -> int:
        """Where a no-match or condition slot's result is kept in ``_results`` (what the
        generated code reads: ``_results[position] or book.at(position)``)."""
        return 0 if slot == NO_MATCH else slot - _SHIFT

    def at(self, position: int) -> FlagResult:
        """The shared result kept at ``position`` (see :meth:`position`)."""
        return self.get(_SHIFT + position if position else NO_MATCH)

    def get(self, slot: int) -> FlagResult:
        """The shared result of one slot."""
        results: list[FlagResult | None]
        if slot >= FIRST_CONDITION_SLOT or slot == NO_MATCH:
            results = self._results
            position = 0 if slot == NO_MATCH else slot - _SHIFT
        else:
            fixed = self._fixed
            if fixed is None:
                fixed = self._fixed = [None] * FIRST_CONDITION_SLOT
            results = fixed
            position = slot
        result = results[position]
        if result is None:
            head = self._head
            spec = head[slot] if slot < len(head) else self._specs[slot - len(head)]
            result = results[position] = self._build(spec)
        return result

    def value_table(self) -> tuple[Any, ...]:
        """The value of each result kept in ``_results``, by position (see
        :meth:`position`): what code that needs only values reads instead of results.
        Tables of bools and strings are shared between the flags that have the same."""
        head, specs = self._head, self._specs

        def value(slot: int) -> Any:
            return (head[slot] if slot < len(head) else specs[slot - len(head)])[0]

        table = (value(NO_MATCH), *(value(_SHIFT + p) for p in range(1, len(self._results))))
        return _shared_table(table)

    def payload_for(self, value: Any) -> Any:
        """The decoded payload configured for a value (``"true"``/``"false"`` for bools)."""
        payloads = self._payloads
        if not payloads:
            return None  # most flags: nothing to decode, nothing to keep
        lookup = str(value).lower() if isinstance(value, bool) else str(value)
        raw = payloads.get(lookup)
        if raw is None:
            return None
        decoded = self._decoded
        if decoded is None:
            decoded = self._decoded = {}
        if lookup not in decoded:
            decoded[lookup] = decode_payload(raw)
        return decoded[lookup]

    def _build(self, spec: ResultSpec) -> FlagResult:
        value, reason, condition_index, description = spec
        if not isinstance(description, str):
            assert condition_index is not None
            text = describe_condition(self._conditions[condition_index], description, value)
            description = _shared_text(text)
        return FlagResult(
            key=self.key,
            value=value,
            reason=reason,
            payload=self.payload_for(value) if value is not None else None,
            condition_index=condition_index,
            description=description,
            flag_id=self.flag_id,
            flag_version=self.version,
        )


@attrs.frozen(slots=True, eq=False)
class Condition:
    """One condition group of a flag, compiled."""

    index: int
    filters: tuple[FilterTest, ...]
    # rollout_percentage / 100, or None for "no rollout limit".
    threshold: float | None
    target: int
    group_name: Any
    # Result slots (see ResultBook): match with the valid variant override (-1: none),
    # match with True, out of rollout; variant i is variant_slot + i.
    override_slot: int
    true_slot: int
    out_of_rollout_slot: int
    variant_slot: int
    # Set when PostHog's SDK raises on reaching this condition (bad shape), or on reaching
    # its rollout check (a rollout that is not a number).
    broken: bool = False
    rollout_broken: bool = False
    text: str = ""
    filter_texts: tuple[str, ...] = ()
    # The property each filter reads (None for cohorts and dependencies), for messages.
    filter_keys: tuple[Any, ...] = ()
    rollout_percentage: float | None = None
    # What names the filter list within a snapshot (SharedConditions.text: a digest of
    # its text), or None when it cannot be shared.
    list_text: bytes | None = None


# A condition as the generic loop reads it: (condition, targets the flag's own properties
# and is not broken, its tests as the loop calls them, threshold).
PlanStep = tuple[Condition, bool, tuple[Callable[..., FilterOutcome], ...], float | None]


@attrs.frozen(slots=True)
class FlagTraits:
    """What kind of flag a :class:`CompiledFlag` is: flags of the same kind share one (see
    :func:`flag_traits`), so that each flag keeps only what is its own. Read through the
    flag's properties of the same names."""

    # Active group flag with a known group type, reading only its group's properties (no
    # cohorts, dependencies or mixed targeting).
    plain_group: bool
    # Enrollment, a holdout or a broken piece: checks to run before the conditions.
    has_preamble: bool
    active: bool
    continuity: bool
    # Flag-level aggregation: False for person flags.
    is_group_flag: bool
    by_device: bool
    enrollment: bool
    # Holdout: exclusion percentage as PostHog clamps it, or None when there is none.
    holdout_percentage: float | None
    early_exit: bool
    has_variants: bool
    needs_frame: bool
    needs_properties: bool
    # Whether evaluation reads the caller's groups (group flag or mixed targeting).
    uses_groups: bool
    # Pieces that make PostHog's SDK raise when reached (see Condition.broken).
    filters_broken: bool
    # ``filters.version`` names a format other than the legacy one: never evaluated as
    # legacy (filters_broken is set too, so every path stops early; the answer is
    # unsupported).
    unsupported_format: bool
    holdout_broken: bool
    variant_keys_broken: bool
    variant_table_broken: bool


# Few combinations occur: one object each.
_TRAITS: dict[tuple[Any, ...], FlagTraits] = {}
_TRAITS_LIMIT = 4096


def flag_traits(**fields: Any) -> FlagTraits:
    """The shared :class:`FlagTraits` with these fields."""
    # With the percentage's type: 5 and 5.0 are equal but not the same value.
    key = (*fields.values(), type(fields["holdout_percentage"]))
    return _TRAITS.get(key) or _keep(_TRAITS, _TRAITS_LIMIT, key, FlagTraits(**fields))


@attrs.frozen(slots=True, eq=False)
class CompiledFlag:
    """One flag definition, compiled. Built by :func:`flagkit._evaluation.compile.compile_flag`."""

    key: str
    # The definition's "has_experiment" when it is a bool (read for every new exposure,
    # when the definition itself may be kept compact).
    has_experiment: bool | None
    # "<key>." as UTF-8, how the flag's hash texts start (flagkit._evaluation.hashing.key_prefix).
    hash_prefix: bytes | None
    # Person flag bucketed by distinct id, with only rollout conditions and nothing
    # unusual: evaluated by the short path in flagkit._evaluation.runtime.match_simple.
    simple: bool
    # Active person flag bucketed by distinct id, reading only person properties (no
    # cohorts, dependencies or groups): evaluated without building a full context.
    plain: bool
    # Whether a filter reads the implicit ``distinct_id`` person property. When none does,
    # a plain flag can read the caller's properties as they are, without a copy.
    reads_distinct_id: bool
    book: ResultBook
    # The group type of a group flag (or None).
    group_name: Any
    conditions: tuple[Condition, ...]
    # Per condition, what the hot loop reads: (condition, on the flag's own target and not
    # broken, filters, threshold). A broken condition is never "own target", so the loop
    # reaches its broken check.
    # The tests are called test(props) when the flag needs no frame, else test(props, frame).
    plan: tuple[PlanStep, ...]
    # (low, high) bucket bounds per variant, in table order.
    variant_bounds: tuple[tuple[float, float], ...]
    traits: FlagTraits
    # Cohorts the conditions reference, when their filters may be compiled in (see
    # flagkit._evaluation.inline_cohorts): a change to one of them recompiles the flag.
    cohort_ids: frozenset[str] = frozenset()
    # A valid rules v2 config (``filters.version == 2``), evaluated by rules_v2 instead.
    rules_v2: Any = None
    # The conditions unrolled (see flagkit._evaluation.specialize): the functions of the
    # flag's skeleton, for one evaluation and for evaluate_all (sharing filter-list
    # outcomes between its flags), called with ``consts`` first; None when not unrolled.
    run_code: Callable[..., Any] | None = None
    shared_code: Callable[..., Any] | None = None
    # For a plain group flag, ``run_code`` on its group's properties and group key instead.
    group_code: Callable[..., Any] | None = None
    consts: tuple[Any, ...] = ()
    # The numbers of this flag's filter lists (see flagkit._evaluation.specialize.SharedConditions).
    shared_numbers: tuple[int, ...] = ()

    # What kind of flag it is (see FlagTraits).

    @property
    def plain_group(self) -> bool:
        return self.traits.plain_group

    @property
    def has_preamble(self) -> bool:
        return self.traits.has_preamble

    @property
    def active(self) -> bool:
        return self.traits.active

    @property
    def continuity(self) -> bool:
        return self.traits.continuity

    @property
    def is_group_flag(self) -> bool:
        return self.traits.is_group_flag

    @property
    def by_device(self) -> bool:
        return self.traits.by_device

    @property
    def enrollment(self) -> bool:
        return self.traits.enrollment

    @property
    def holdout_percentage(self) -> float | None:
        return self.traits.holdout_percentage

    @property
    def early_exit(self) -> bool:
        return self.traits.early_exit

    @property
    def has_variants(self) -> bool:
        return self.traits.has_variants

    @property
    def needs_frame(self) -> bool:
        return self.traits.needs_frame

    @property
    def needs_properties(self) -> bool:
        return self.traits.needs_properties

    @property
    def uses_groups(self) -> bool:
        return self.traits.uses_groups

    @property
    def filters_broken(self) -> bool:
        return self.traits.filters_broken

    @property
    def unsupported_format(self) -> bool:
        return self.traits.unsupported_format

    @property
    def holdout_broken(self) -> bool:
        return self.traits.holdout_broken

    @property
    def variant_keys_broken(self) -> bool:
        return self.traits.variant_keys_broken

    @property
    def variant_table_broken(self) -> bool:
        return self.traits.variant_table_broken
