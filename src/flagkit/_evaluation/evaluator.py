"""Evaluator: answers flag questions from one Snapshot, in-process, without raising."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from flagkit._evaluation.batch import Batch, batch_of, run_batch
from flagkit._evaluation.call_context import (
    AllCall,
    CallContext,
    InvalidInputError,
    all_call,
    rules_options,
)
from flagkit._evaluation.classify import definition_unsupported
from flagkit._evaluation.explain import ConditionTrace, Explanation, FilterTrace, explain_flag
from flagkit._evaluation.fixed_specs import undecided_slot
from flagkit._evaluation.hashing import encode_identifier
from flagkit._evaluation.model import (
    CONTINUITY,
    DISABLED,
    GROUP_NOT_PROVIDED,
    INVALID,
    REQUIRES_SERVER,
    TARGET_FLAG,
    CompiledFlag,
)
from flagkit._evaluation.outcome import Cause, RequiresServer
from flagkit._evaluation.result import VALUE_OF, FlagResult, Reason
from flagkit._evaluation.rules_v2.bridge import (
    evaluate_rules_v2,
    trace_rules,
    v2_context,
)
from flagkit._evaluation.rules_v2.context import V2Context
from flagkit._evaluation.runtime import Frame, match_flag, match_group, match_plain, match_simple
from flagkit._evaluation.snapshot import (
    RUN_GENERIC,
    RUN_GROUP,
    RUN_SHARED,
    RUN_UNROLLED,
    PlanEntry,
    Runner,
    Snapshot,
    no_runner,
)

_log = logging.getLogger("flagkit")
_none = type(None)  # NoneType() is None: the default of a memo dict, called in C
_EMPTY: Mapping[str, Any] = {}
_NO_PROPERTIES: dict[str, Any] = {}  # shared and never written to


def _invalid(key: Any, message: str) -> FlagResult:
    return FlagResult(
        key=key if isinstance(key, str) else repr(key),
        value=None,
        reason=Reason.INVALID_INPUT,
        description=message,
    )


def not_found(key: str) -> FlagResult:
    """The result for a key that is not among the definitions."""
    return FlagResult(
        key=key, value=None, reason=Reason.FLAG_NOT_FOUND, description="no flag with this key"
    )


def _missing_keys(
    flag: CompiledFlag,
    props: Mapping[str, Any],
    groups: Mapping[str, Any],
    group_props: Mapping[str, Mapping[str, Any]],
) -> list[str]:
    """The properties the flag's filters read that the caller did not pass."""
    missing: list[str] = []
    if flag.enrollment and f"$feature_enrollment/{flag.key}" not in props:
        missing.append(f"$feature_enrollment/{flag.key}")
    for condition in flag.conditions:
        cond_props = props
        if condition.target != TARGET_FLAG:
            name = condition.group_name
            if name is None or name not in groups:
                continue
            cond_props = group_props.get(name, _EMPTY)
        for key in condition.filter_keys:
            try:
                if key is not None and key not in cond_props and str(key) not in missing:
                    missing.append(str(key))
            except TypeError:  # an unhashable key in the definition
                continue
    return missing


def _name_missing(
    result: FlagResult,
    flag: CompiledFlag,
    props: Mapping[str, Any],
    groups: Mapping[str, Any],
    group_props: Mapping[str, Mapping[str, Any]],
) -> FlagResult:
    """The missing-context result, saying which properties were missing (a rare path)."""
    missing = _missing_keys(flag, props, groups, group_props)
    if not missing:
        return result
    names = ", ".join(repr(key) for key in missing[:5])
    noun = "property" if len(missing) == 1 else "properties"
    verb = "was" if len(missing) == 1 else "were"
    return attrs.evolve(
        result, description=f"cannot be decided locally: {noun} {names} {verb} not passed"
    )


class Evaluator:
    """Evaluates flags of one :class:`Snapshot`.

    Pure and thread-safe: no I/O, no locks, and no exceptions for any definitions or any
    caller input; a bad input gives a result whose ``reason`` says why.
    """

    __slots__ = ("_cohorts", "_compile", "_definitions", "_flags", "_snapshot")

    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        # Compiled flags fill in as they are first used (see Snapshot.compiled).
        self._flags = snapshot._compiled
        self._compile = snapshot.compiled
        self._definitions = snapshot.definitions
        self._cohorts = snapshot.cohorts

    @property
    def snapshot(self) -> Snapshot:
        """The definitions this evaluator answers from."""
        return self._snapshot

    def evaluate(
        self,
        key: str,
        distinct_id: Any,
        # Not keyword-only: the Client passes them by position (measurably faster per read).
        person_properties: Mapping[str, Any] | None = None,
        groups: Mapping[str, Any] | None = None,
        group_properties: Mapping[str, Mapping[str, Any]] | None = None,
        device_id: Any = None,
        properties_complete: bool = False,
        timezone: str | None = None,
        now: datetime | None = None,
    ) -> FlagResult:
        """Evaluate one flag for one caller.

        ``properties_complete``, ``timezone`` and ``now`` are read by rules v2 flags only
        (see docs/evaluation.md): whether a person property absent from
        ``person_properties`` is known to be unset, and the clock of the date operators."""
        try:
            flag = self._flags.get(key) or self._compile(key)
        except TypeError:
            return _invalid(key, "flag key must be a string")
        if flag is None:
            given: object = key  # typed str, but callers may pass anything
            if isinstance(given, str):
                return not_found(given)
            return _invalid(given, "flag key must be a string")
        try:
            if (
                flag.plain
                and distinct_id is not None
                and (person_properties is None or type(person_properties) is dict)
                and (groups is None or type(groups) is dict)
                and (group_properties is None or type(group_properties) is dict)
            ):
                # Person properties only: no context to build, straight to the conditions.
                # (person_properties is a dict or None here: checked just above.)
                props: Mapping[str, Any]
                if not flag.reads_distinct_id:
                    props = person_properties or _NO_PROPERTIES
                elif not person_properties:
                    props = {"distinct_id": distinct_id}
                elif "distinct_id" in person_properties:
                    props = person_properties
                else:
                    props = {**person_properties, "distinct_id": distinct_id}
                run = flag.run_code
                outcome: Any = None
                if run is not None:
                    encoded: bytes | None = None
                    if type(distinct_id) is str:
                        try:
                            encoded = distinct_id.encode()  # the common case, without a call
                        except UnicodeEncodeError:
                            pass  # lone surrogates: the generic path fails where PostHog does
                    else:
                        encoded = encode_identifier(distinct_id)
                    if encoded is not None:
                        outcome = run(flag.consts, props, encoded, None)
                if outcome is None:
                    if flag.simple:
                        outcome = match_simple(flag, distinct_id)
                    else:
                        outcome = match_plain(flag, props, distinct_id)
                if outcome.__class__ is FlagResult:
                    return outcome
                # Undecided (rare): the general path below builds the detailed result.
            rules = rules_options(properties_complete, timezone, now)
            context = CallContext(
                distinct_id, person_properties, groups, group_properties, device_id, rules
            )
            return self._run(flag, context)
        except InvalidInputError as error:
            return _invalid(key, str(error))
        except Exception:  # never break the host app; keep the bug visible at debug level
            _log.debug("flagkit: unexpected error evaluating %r", key, exc_info=True)
            return flag.book.get(INVALID)

    def evaluate_all(
        self,
        distinct_id: Any,
        *,
        person_properties: Mapping[str, Any] | None = None,
        groups: Mapping[str, Any] | None = None,
        group_properties: Mapping[str, Mapping[str, Any]] | None = None,
        device_id: Any = None,
        keys: Iterable[str] | None = None,
        properties_complete: bool = False,
        timezone: str | None = None,
        now: datetime | None = None,
    ) -> dict[str, FlagResult]:
        """Evaluate every flag (or only ``keys``) for one caller, in definition order.

        Keys that are not defined get a ``FLAG_NOT_FOUND`` result.
        """
        snapshot = self._snapshot
        plan: Iterable[PlanEntry | tuple[str, None, int, Runner, tuple[Any, ...]]]
        batch: Batch | None = None
        if keys is None:
            batch = self._batch()
            plan, shares = (), batch.shares
        else:
            try:
                wanted = set(keys)
            except TypeError:
                return {}
            # In definition order, without walking every definition for a few keys.
            positions = snapshot._positions()
            known = sorted(
                (positions[key], key) for key in wanted if isinstance(key, str) and key in positions
            )
            chosen = [(key, self._compile(key)) for _, key in known]
            # Entries once all chosen flags are compiled, so the repeat counts are known.
            plan = [snapshot._plan_entry(key, flag) for key, flag in chosen if flag is not None]
            shares = any(entry[2] == RUN_SHARED for entry in plan)
            plan += [
                (key, None, RUN_GENERIC, no_runner, ())
                for key in wanted
                if isinstance(key, str) and key not in positions
            ]
        context = (person_properties, groups, group_properties, device_id)
        call = all_call(distinct_id, context, properties_complete, timezone, now)
        if isinstance(call, str):
            every = batch.keys if batch is not None else [entry[0] for entry in plan]
            return {key: _invalid(key, call) for key in every}
        if batch is not None:
            passed = self._pass(batch, call, False)
            if passed is not None:
                answers, rest = passed
                answers.update(rest)
                return answers
            plan = snapshot._evaluation_plan()  # the per-flag loop says which flag raised
        elif shares:
            # A few keys: the call's filter-list outcomes in a dict that reads None for
            # numbers not seen yet (see _pass).
            call.memo = defaultdict(_none)
        return {entry[0]: self._entry(entry, call) for entry in plan}

    def _all_values(
        self,
        distinct_id: Any,
        *,
        person_properties: Mapping[str, Any] | None = None,
        groups: Mapping[str, Any] | None = None,
        group_properties: Mapping[str, Mapping[str, Any]] | None = None,
        device_id: Any = None,
        properties_complete: bool = False,
        timezone: str | None = None,
        now: datetime | None = None,
    ) -> tuple[dict[str, Any], dict[str, FlagResult]]:
        """Every flag's value (None: undecided) in definition order, and the results of
        the flags without one: :meth:`evaluate_all` for ``get_all_flags``, which reads no
        result the values do not need (see flagkit._evaluation.batch)."""
        batch = self._batch()
        context = (person_properties, groups, group_properties, device_id)
        call = all_call(distinct_id, context, properties_complete, timezone, now)
        if isinstance(call, str):
            results = {key: _invalid(key, call) for key in batch.keys}
        else:
            passed = self._pass(batch, call, True)
            if passed is not None:
                values, rest = passed
                undecided = {}
                for key, result in rest:
                    values[key] = result.value
                    if result.value is None:
                        undecided[key] = result
                return values, undecided
            # The per-flag loop, as evaluate_all runs it when its pass cannot.
            plan = self._snapshot._evaluation_plan()
            results = {entry[0]: self._entry(entry, call) for entry in plan}
        values = dict(zip(results, map(VALUE_OF, results.values()), strict=True))
        if None not in values.values():
            return values, {}
        return values, {key: r for key, r in results.items() if r.value is None}

    def _batch(self) -> Batch:
        """The snapshot's flags as one pass runs them (made on first use)."""
        memo = self._snapshot._memo
        batch: Batch | None = memo.get("batch")
        if batch is None:
            batch = memo["batch"] = batch_of(self._snapshot._evaluation_plan())
        return batch

    def _pass(
        self, batch: Batch, call: AllCall, values: bool
    ) -> tuple[dict[str, Any], Iterator[tuple[str, FlagResult]]] | None:
        """Every flag of ``batch`` in one pass (see flagkit._evaluation.batch): its answers
        (values, with ``values``) and the (key, result) of the flags it left to the
        per-flag path; None when the pass cannot run (the per-flag loop then runs every
        flag, and says which one raised)."""
        # Outcomes of the filter lists flags share (see SharedConditions), for this call:
        # a slot per number (sized after compiling, so every number the flags use exists).
        memo = call.memo = [None] * len(self._snapshot._shared) if batch.shares else []
        encoded, variant = call.encoded, call.variant
        if encoded is None or variant is None:
            return None
        passed = run_batch(batch, call.person(), encoded, variant, memo or None, values)
        if passed is None:
            return None
        answers, stragglers = passed
        return answers, self._rest(batch, stragglers, call)

    def _rest(
        self, batch: Batch, stragglers: Sequence[int] | None, call: AllCall
    ) -> Iterator[tuple[str, FlagResult]]:
        """The answers a pass left to the per-flag path (see run_batch): its ``later``
        flags, or with ``stragglers`` the flags at those positions."""
        if stragglers is None:
            for _, entry in batch.later:
                yield entry[0], self._entry(entry, call)
        else:  # some flag's code left its answer to the general path (rare)
            snapshot = self._snapshot
            compiled = snapshot._compiled
            for position in stragglers:
                key = batch.keys[position]
                yield key, self._entry(snapshot._plan_entry(key, compiled[key]), call)

    def _entry(
        self, entry: PlanEntry | tuple[str, None, int, Runner, tuple[Any, ...]], call: AllCall
    ) -> FlagResult:
        """One flag of :meth:`evaluate_all` by its plan entry: the short paths of
        :meth:`evaluate`, with what the call shares (person properties, encoded keys)."""
        key, flag, mode, runner, consts = entry
        if flag is None:
            return not_found(key)
        try:
            encoded = call.encoded
            if mode and encoded is not None:
                if mode == RUN_UNROLLED:
                    outcome = runner(consts, call.person(), encoded, call.variant)
                elif mode == RUN_SHARED:
                    outcome = runner(consts, call.person(), encoded, call.variant, call.memo)
                elif mode == RUN_GROUP:
                    context = call.context
                    outcome = match_group(
                        flag, runner, consts, context.groups, context.group_props, call.group_keys
                    )
                else:  # RUN_DISABLED
                    outcome = flag.book.get(DISABLED)
            elif flag.simple:
                outcome = match_simple(flag, call.context.distinct_id)
            elif flag.plain:
                outcome = match_plain(flag, call.person(), call.context.distinct_id)
            else:
                outcome = None
            if outcome.__class__ is FlagResult:
                result: FlagResult = outcome
                return result
            return self._run(flag, call.context)
        except InvalidInputError as error:
            return _invalid(key, str(error))
        except Exception:
            _log.debug("flagkit: unexpected error evaluating %r", key, exc_info=True)
            return flag.book.get(INVALID)

    def explain(
        self,
        key: str,
        distinct_id: Any,
        *,
        person_properties: Mapping[str, Any] | None = None,
        groups: Mapping[str, Any] | None = None,
        group_properties: Mapping[str, Mapping[str, Any]] | None = None,
        device_id: Any = None,
        properties_complete: bool = False,
        timezone: str | None = None,
        now: datetime | None = None,
    ) -> Explanation:
        """The result of :meth:`evaluate` with a per-condition (or, for rules v2 flags,
        per-rule), per-filter trace.

        Slower than ``evaluate``; meant for tools (``flagkit explain``) and debugging.
        """
        result = self.evaluate(
            key,
            distinct_id,
            person_properties=person_properties,
            groups=groups,
            group_properties=group_properties,
            device_id=device_id,
            properties_complete=properties_complete,
            timezone=timezone,
            now=now,
        )
        flag = self._compile(key) if isinstance(key, str) else None
        if flag is None or result.reason is Reason.INVALID_INPUT:
            return Explanation(result)
        try:
            rules = rules_options(properties_complete, timezone, now)
            context = CallContext(
                distinct_id, person_properties, groups, group_properties, device_id, rules
            )
            if flag.rules_v2 is not None:
                return self._explain_rules_v2(flag, result, context)
            if flag.is_group_flag:
                name = flag.group_name
                if name is None or name not in context.groups:
                    return Explanation(result)
                props = context.group_props()[name]
                bucketing = dependency_id = context.groups[name]
            else:
                bucketing = context.device_id if flag.by_device else distinct_id
                dependency_id = distinct_id
                props = context.person()
            frame = Frame(self._definitions, self._compile, self._cohorts, dependency_id, device_id)
            return explain_flag(
                flag, result, props, bucketing or None, frame, context.groups, context.group_props()
            )
        except Exception:
            _log.debug("flagkit: cannot explain %r", key, exc_info=True)
            return Explanation(result)

    def _missing_device_result(self, flag: CompiledFlag) -> FlagResult:
        # No condition is reached, so a problem in the definition outranks the missing id.
        snapshot = self._snapshot
        # Depends on the definitions alone (which may be kept compact): worked out once.
        known: dict[str, bool] = snapshot._memo.setdefault("unsupported", {})
        unsupported = known.get(flag.key)
        if unsupported is None:
            unsupported = known[flag.key] = bool(
                definition_unsupported(
                    self._definitions.get(flag.key) or {},
                    self._definitions,
                    snapshot.body.get("cohorts") or {},
                    snapshot.group_type_mapping,
                    snapshot.property_matching_version,
                )
            )
        if unsupported:
            return flag.book.get(undecided_slot(Cause.UNSUPPORTED_DEFINITION))
        result = flag.book.get(undecided_slot(Cause.MISSING_CONTEXT))
        return attrs.evolve(
            result,
            description="cannot be decided locally: the flag is bucketed by device_id, "
            "and no device_id was passed",
        )

    def _rules_v2_context(self, flag: CompiledFlag, context: CallContext) -> V2Context | str:
        """The rules v2 context of this call for ``flag`` (a string: why there is none)."""
        snapshot = self._snapshot
        group_keys: dict[int, Any] = {}
        group_props = None
        index = flag.rules_v2.aggregation_group_type_index
        if index is not None:
            name = snapshot.group_type_mapping.get(str(index))
            if isinstance(name, str) and name in context.groups:
                group_keys[index] = context.groups[name]
                group_props = context.group_props().get(name, {})
        return v2_context(
            flag.rules_v2,
            context.distinct_id,
            context.person_properties,
            group_keys,
            group_props,
            snapshot.property_matching_version == 2,
            context.rules,
        )

    def _run_rules_v2(self, flag: CompiledFlag, context: CallContext) -> FlagResult:
        v2 = self._rules_v2_context(flag, context)
        return evaluate_rules_v2(flag.key, flag.rules_v2, flag.book, v2)

    def _explain_rules_v2(
        self, flag: CompiledFlag, result: FlagResult, context: CallContext
    ) -> Explanation:
        v2 = self._rules_v2_context(flag, context)
        if isinstance(v2, str):
            return Explanation(result, notes=(v2,))
        traces = []
        for rule, filters in trace_rules(flag.rules_v2, v2):
            matched = all(outcome == "match" for _, outcome in filters)
            decided_here = result.rule is not None and result.rule.index == rule.index
            traces.append(
                ConditionTrace(
                    index=rule.index,
                    text=f"{rule.rule_type} rule {rule.id}",
                    group=None,
                    filters=tuple(FilterTrace(text, outcome) for text, outcome in filters),
                    rollout_percentage=getattr(rule, "rollout_percentage", None),
                    bucket=None,  # assignment hashes use seeds, which are never shown
                    outcome=("decided the answer" if decided_here else "matched")
                    if matched
                    else "no match",
                    decided=decided_here,
                )
            )
        note = f"rules v2: {result.reason.value}" + (
            "" if result.rule is None else f" (rule {result.rule.index}, {result.rule.rule_type})"
        )
        return Explanation(result, conditions=tuple(traces), notes=(note,))

    def _run(self, flag: CompiledFlag, context: CallContext) -> FlagResult:
        if not flag.active:
            return flag.book.get(DISABLED)
        if flag.continuity:
            return flag.book.get(CONTINUITY)
        if flag.rules_v2 is not None:
            return self._run_rules_v2(flag, context)
        if flag.filters_broken:
            return flag.book.get(INVALID)
        groups = context.groups
        if flag.is_group_flag:
            name = flag.group_name
            if name is None:
                return flag.book.get(undecided_slot(Cause.UNSUPPORTED_DEFINITION))
            if name not in groups:
                return flag.book.get(GROUP_NOT_PROVIDED)
            group_props = context.group_props()
            props = group_props[name]
            bucketing = dependency_id = groups[name]
        else:
            if flag.by_device:
                bucketing = context.device_id
                if not bucketing:
                    return self._missing_device_result(flag)
            else:
                bucketing = context.distinct_id
            dependency_id = context.distinct_id
            props = context.person() if flag.needs_properties else _EMPTY
            group_props = context.group_props() if flag.uses_groups else _EMPTY
        frame = None
        if flag.needs_frame:
            cache, cohort_memo = context.frame_state(dependency_id, props)
            frame = Frame(
                self._definitions,
                self._compile,
                self._cohorts,
                dependency_id,
                context.device_id,
                cache,
                cohort_memo,
                props,
            )
        outcome = match_flag(flag, props, bucketing, frame, groups, group_props)
        if frame is not None and frame.marked and frame.shared:
            # A dependency was undecided: walk this flag's chains again on their own, as
            # PostHog does (see Frame.mark). Rare; decided values stay shared.
            fresh = Frame(
                self._definitions,
                self._compile,
                self._cohorts,
                dependency_id,
                context.device_id,
                None,
                frame.cohort_memo,
            )
            outcome = match_flag(flag, props, bucketing, fresh, groups, group_props)
        if isinstance(outcome, FlagResult):
            return outcome
        if isinstance(outcome, Cause):
            result = flag.book.get(undecided_slot(outcome))
            if outcome is Cause.MISSING_CONTEXT:
                return _name_missing(result, flag, props, groups, group_props)
            return result
        if isinstance(outcome, RequiresServer):
            return flag.book.get(REQUIRES_SERVER)
        return flag.book.get(INVALID)
