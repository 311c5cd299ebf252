"""Compiling one raw flag definition into a :class:`CompiledFlag`.

Parsing and validation happen here, once per snapshot. Pieces that PostHog's SDK cannot
evaluate are not rejected: they are marked so that evaluation reaches the same undecidable
outcome at the same point, and described in ``problems``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flagkit._evaluation.filters import BROKEN_FILTER, compile_filter
from flagkit._evaluation.fixed_specs import FIXED_SPECS
from flagkit._evaluation.formats import is_legacy_format, is_rules_v2
from flagkit._evaluation.hashing import key_prefix
from flagkit._evaluation.inline_cohorts import NO_COHORTS, InlineCohorts, cohort_ids
from flagkit._evaluation.model import (
    DESCRIBE_OVERRIDE,
    DESCRIBE_VARIANT,
    FIRST_CONDITION_SLOT,
    GROUP_NOT_PROVIDED,
    HOLDOUT,
    INVALID,
    TARGET_FLAG,
    TARGET_GROUP,
    CompiledFlag,
    Condition,
    FilterTest,
    PlanStep,
    ResultBook,
    ResultSpec,
    flag_traits,
    match_spec,
    out_of_rollout_spec,
)
from flagkit._evaluation.result import Reason
from flagkit._evaluation.rules_v2 import V2Config, parse_config
from flagkit._evaluation.specialize import SharedConditions, specialize

_NUMBER = (int, float)
_Item = TypeVar("_Item")

# A condition's filter list, compiled: (tests, their texts, the property each reads, the
# condition's text).
_CompiledList = tuple[tuple[FilterTest, ...], tuple[str, ...], tuple[Any, ...], str]
_NO_PAYLOADS: Mapping[str, Any] = {}  # shared and never written to
_NO_FILTERS: _CompiledList = ((), (), (), "everyone")
_MALFORMED = "malformed filters"
_MALFORMED_FILTERS: _CompiledList = ((BROKEN_FILTER,), (_MALFORMED,), (), _MALFORMED)


def _is_mapping(value: Any) -> bool:
    # Decoded JSON holds dicts: skip the slower ABC check for them.
    return type(value) is dict or isinstance(value, Mapping)


def _as_int(value: Any) -> int | None:
    return (
        value
        if type(value) is int or (isinstance(value, int) and not isinstance(value, bool))
        else None
    )


def _with_frame(test: Callable[..., Any]) -> Callable[..., Any]:
    def call(props: Mapping[str, Any], frame: Any) -> Any:
        return test(props)

    return call


def _plan_tests(
    filters: tuple[FilterTest, ...], needs_frame: bool
) -> tuple[Callable[..., Any], ...]:
    """The tests as the hot loop calls them: test(props) when the flag never has a frame,
    else test(props, frame) for all (property tests wrapped to accept the frame)."""
    if not needs_frame:
        return tuple(test for _, test in filters)
    return tuple(test if framed else _with_frame(test) for framed, test in filters)


def _same(value: _Item) -> _Item:
    return value


def _plan_step(source: tuple[Condition, bool]) -> PlanStep:
    condition, needs_frame = source
    return (
        condition,
        condition.target == TARGET_FLAG and not condition.broken,
        _plan_tests(condition.filters, needs_frame),
        condition.threshold,
    )


def _property_key(raw: Any) -> Any:
    """The property a filter reads, or None for cohorts, dependencies and malformed filters."""
    if not _is_mapping(raw) or raw.get("type") in ("cohort", "flag"):
        return None
    return raw.get("key")


def _variant_table(variants: list[Any]) -> tuple[tuple[tuple[float, float], ...], bool]:
    """Bucket bounds per variant, accumulated exactly as PostHog does; (bounds, broken)."""
    bounds: list[tuple[float, float]] = []
    low: float = 0
    try:
        for variant in variants:
            high = low + variant["rollout_percentage"] / 100
            if not isinstance(high, _NUMBER):
                return (), True
            bounds.append((low, high))
            low = high
    except (KeyError, TypeError, IndexError):
        return (), True
    return tuple(bounds), False


def _variant_keys(variants: list[Any]) -> tuple[list[Any], bool]:
    keys: list[Any] = []
    for variant in variants:
        try:
            keys.append(variant["key"])
        except (KeyError, TypeError, IndexError):
            return [], True
    return keys, False


class _FlagCompiler:
    def __init__(
        self,
        raw: Mapping[str, Any],
        group_type_mapping: Mapping[str, Any],
        matching_version: int,
        problems: list[str],
        shared: SharedConditions | None = None,
        cohorts: InlineCohorts | None = None,
    ) -> None:
        self.raw = raw
        self.shared = shared
        self.cohorts = cohorts
        # Cohorts the conditions reference (their filters may be compiled in).
        self.cohort_ids = NO_COHORTS
        self.key: str = raw["key"]
        self.mapping = group_type_mapping
        self.matching_version = matching_version
        self.problems = problems
        self.format_version: Any = None
        # Result specs, indexed by slot; the fixed slots come first.
        self.specs: list[ResultSpec] = []

    def problem(self, message: str) -> None:
        self.problems.append(f"flag {self.key!r}: {message}")

    def add_spec(self, spec: ResultSpec) -> int:
        self.specs.append(spec)
        return len(self.specs) - 1

    def compile(self) -> CompiledFlag:
        raw = self.raw
        filters = raw.get("filters") or {}
        filters_broken = not _is_mapping(filters)
        if filters_broken:
            self.problem("'filters' is not an object")
            filters = {}
        self.format_version = filters.get("version")
        unsupported_format = not is_legacy_format(self.format_version)
        rules_v2: V2Config | None = None
        if unsupported_format and is_rules_v2(self.format_version):
            parsed = parse_config(filters)
            if isinstance(parsed, V2Config):
                rules_v2, unsupported_format = parsed, False
            else:  # invalid or unsupported: never evaluated
                for problem in parsed:
                    self.problem(f"rules v2 config: {problem}")
        elif unsupported_format:
            self.problem(
                f"flag format filters.version={self.format_version!r} cannot be evaluated "
                "locally (asked from /flags unless only_evaluate_locally)"
            )
        if unsupported_format or rules_v2 is not None:
            # Reading another format's fields as legacy ones answers conclusively and wrongly:
            # every legacy path stops at filters_broken (rules v2 flags branch off there).
            filters, filters_broken = {}, True
        payloads = filters.get("payloads") or _NO_PAYLOADS
        if not _is_mapping(payloads):
            self.problem("'filters.payloads' is not an object; payloads ignored")
            payloads = _NO_PAYLOADS

        aggregation = filters.get("aggregation_group_type_index")
        is_group_flag = aggregation is not None
        group_name = self.group_name(aggregation) if is_group_flag else None
        if is_group_flag and not group_name:
            self.problem(f"unknown group type index {aggregation!r}")
        bucketing_identifier = raw.get("bucketing_identifier") or filters.get(
            "bucketing_identifier"
        )

        multivariate = filters.get("multivariate") or {}
        variants: Any = multivariate.get("variants") if _is_mapping(multivariate) else None
        variants = variants or []
        variant_keys_broken = not isinstance(variants, list)
        if variant_keys_broken:
            variants = []
        keys, broken = _variant_keys(variants)
        variant_keys_broken = variant_keys_broken or broken
        bounds, variant_table_broken = _variant_table(variants)
        if variant_keys_broken:
            self.problem("a variant has no 'key'")
        elif variant_table_broken:
            self.problem("a variant has no numeric 'rollout_percentage'")
        elif any(not isinstance(key, str) for key in keys):
            self.problem("a variant key is not a string")
        elif variants and abs(bounds[-1][1] - 1.0) > 1e-9:
            self.problem("variant rollout percentages do not sum to 100")

        holdout_percentage, holdout_broken = self.holdout(filters)
        self.fixed_specs(group_name, holdout_percentage)
        conditions = self.conditions(filters, aggregation, keys)
        enrollment = filters.get("feature_enrollment") is True
        by_device = bucketing_identifier == "device_id"
        active = bool(raw.get("active"))
        continuity = bool(raw.get("ensure_experience_continuity", False))

        # One pass over the conditions for everything the flag's kind depends on.
        needs_frame = needs_properties = mixed = reads_distinct_id = False
        only_rollouts = True
        for c in conditions:
            if c.filters:
                needs_properties = True
                only_rollouts = False
                if not needs_frame:
                    needs_frame = any(needs for needs, _ in c.filters)
                if not reads_distinct_id:
                    reads_distinct_id = "distinct_id" in c.filter_keys
            if c.target == TARGET_GROUP:
                mixed = True
                only_rollouts = False
            elif c.broken or c.rollout_broken:
                only_rollouts = False
        has_preamble = (
            filters_broken
            or enrollment
            or holdout_broken
            or holdout_percentage is not None
            or variant_keys_broken
        )
        simple = (
            active
            and not continuity
            and not is_group_flag
            and not by_device
            and not has_preamble
            and not variant_table_broken
            and only_rollouts
        )
        # Evaluated on one set of properties (the person's or the flag's group's), with no
        # frame and no mixed targeting.
        local = active and not continuity and not filters_broken and not needs_frame and not mixed
        book = ResultBook(
            self.key,
            _as_int(raw.get("id")),
            _as_int(raw.get("version")),
            payloads,
            self.head_specs(),
            self.shared_specs(tuple(self.specs[FIRST_CONDITION_SLOT:])),
            conditions,
        )
        traits = flag_traits(
            plain_group=local and is_group_flag and group_name is not None,
            has_preamble=has_preamble,
            active=active,
            continuity=continuity,
            is_group_flag=is_group_flag,
            by_device=by_device,
            enrollment=enrollment,
            holdout_percentage=holdout_percentage,
            early_exit=bool(filters.get("early_exit")),
            has_variants=bool(variants),
            needs_frame=needs_frame,
            needs_properties=needs_properties or enrollment,
            uses_groups=is_group_flag or mixed,
            filters_broken=filters_broken,
            unsupported_format=unsupported_format,
            holdout_broken=holdout_broken,
            variant_keys_broken=variant_keys_broken,
            variant_table_broken=variant_table_broken,
        )
        return CompiledFlag(
            key=self.key,
            has_experiment=_bool_or_none(raw.get("has_experiment")),
            hash_prefix=key_prefix(self.key),
            simple=simple,
            plain=local and not is_group_flag and not by_device,
            reads_distinct_id=reads_distinct_id,
            book=book,
            group_name=group_name,
            conditions=conditions,
            plan=self.shared_tuple([self.plan_entry(c, needs_frame) for c in conditions]),
            variant_bounds=bounds,
            traits=traits,
            cohort_ids=self.cohort_ids,
            rules_v2=rules_v2,
        )

    def shared_tuple(self, items: list[_Item]) -> tuple[_Item, ...]:
        """``tuple(items)``, one tuple for every flag of the snapshot with these very
        objects (conditions and plan steps are themselves shared)."""
        if self.shared is None or not items:
            return tuple(items)
        # The tuple holds its items: their ids name them as long as it is kept.
        key = ("tuple", *map(id, items))
        return self.shared.compiled(key, tuple, items)

    def shared_specs(self, specs: tuple[ResultSpec, ...]) -> tuple[ResultSpec, ...]:
        """``specs``, or an equal tuple already held by another flag of the snapshot (most
        flags of one shape have the same condition specs)."""
        if self.shared is None:
            return specs
        try:
            # With the values' types: 1, 1.0 and True are equal but answer differently.
            key = ("specs", specs, tuple(type(spec[0]) for spec in specs))
            return self.shared.compiled(key, _same, specs)
        except TypeError:  # an unhashable variant key
            return specs

    def plan_entry(self, condition: Condition, needs_frame: bool) -> PlanStep:
        """A condition as the generic loop reads it; one per condition shared by flags."""
        shared = self.shared
        if shared is None:
            return _plan_step((condition, needs_frame))
        # The entry holds the condition: its id names it as long as the entry is kept.
        key = ("plan", id(condition), needs_frame)
        return shared.compiled(key, _plan_step, (condition, needs_frame))

    def head_specs(self) -> tuple[ResultSpec, ...]:
        """The fixed slots' specs: the one tuple every flag shares when none names
        anything of this flag (most flags), else this flag's own."""
        head = tuple(self.specs[:FIRST_CONDITION_SLOT])
        return FIXED_SPECS if head == FIXED_SPECS else head

    def fixed_specs(self, group_name: Any, holdout_percentage: float | None) -> None:
        filters: Any = self.raw.get("filters")
        holdout = filters.get("holdout") if _is_mapping(filters) else None
        specs = list(FIXED_SPECS)
        # Only the slots that name something of this flag get specs of their own; the
        # others are shared by every flag.
        if _is_mapping(holdout) or holdout_percentage is not None:
            holdout_value = f"holdout-{holdout.get('id')}" if isinstance(holdout, Mapping) else None
            specs[HOLDOUT] = (
                holdout_value,
                Reason.HOLDOUT,
                None,
                f"held out of the experiment ({holdout_percentage!s}% holdout)",
            )
        if group_name is not None:
            specs[GROUP_NOT_PROVIDED] = (
                False,
                Reason.GROUP_NOT_PROVIDED,
                None,
                f"group flag: no {group_name!s} group was passed",
            )
        if not is_legacy_format(self.format_version):
            specs[INVALID] = (
                None,
                Reason.UNSUPPORTED_DEFINITION,
                None,
                "cannot be decided locally: its rules v2 config is invalid or unsupported "
                "here (see Snapshot.problems)"
                if is_rules_v2(self.format_version)
                else f"cannot be decided locally: flag format version "
                f"{self.format_version!r} is not the legacy format",
            )
        self.specs.extend(specs)

    def group_name(self, index: Any) -> Any:
        try:
            name = self.mapping.get(str(index))
            hash(name)
        except TypeError:
            return None
        return name or None

    def holdout(self, filters: Mapping[str, Any]) -> tuple[float | None, bool]:
        holdout = filters.get("holdout")
        if not holdout:
            return None, False
        if not isinstance(holdout, Mapping):
            self.problem("'filters.holdout' is not an object")
            return None, True
        exclusion = holdout.get("exclusion_percentage")
        if exclusion is None or holdout.get("id") is None:
            return None, False
        try:
            return min(max(float(exclusion), 0.0), 100.0), False
        except (TypeError, ValueError):
            self.problem("holdout 'exclusion_percentage' is not a number")
            return None, True

    def conditions(
        self, filters: Mapping[str, Any], aggregation: Any, variant_keys: list[Any]
    ) -> tuple[Condition, ...]:
        raw_groups = filters.get("groups") or []
        if not isinstance(raw_groups, list):
            self.problem("'filters.groups' is not a list")
            raw_groups = [None] if raw_groups else []
        return self.shared_tuple(
            [
                self.condition(index, raw_group, aggregation, variant_keys)
                for index, raw_group in enumerate(raw_groups)
            ]
        )

    def filter_pair(self, raw: Any) -> tuple[FilterTest, str]:
        """compile_filter, with cohorts that read properties only compiled in."""
        if self.cohorts is not None and type(raw) is dict and raw.get("type") == "cohort":
            inlined = self.cohorts.reference(raw)
            if inlined is not None:
                return inlined
        return compile_filter(raw, self.matching_version)

    def compile_list(self, raw_filters: list[Any]) -> _CompiledList:
        pairs = [self.filter_pair(item) for item in raw_filters]
        return self.listed(raw_filters, pairs)

    def compile_shared_list(self, raw_filters: list[Any]) -> _CompiledList:
        """:meth:`compile_list` of a list that :class:`SharedConditions` can number: each
        filter repeated elsewhere in the snapshot (in other lists) is compiled once, and
        its test shared."""
        shared = self.shared
        assert shared is not None
        pairs = [
            shared.compiled(("filter", repr(item)), self.filter_pair, item) for item in raw_filters
        ]
        return self.listed(raw_filters, pairs)

    @staticmethod
    def listed(raw_filters: list[Any], pairs: list[tuple[FilterTest, str]]) -> _CompiledList:
        texts = tuple(text for _, text in pairs)
        return (
            tuple(test for test, _ in pairs),
            texts,
            tuple(_property_key(item) for item in raw_filters),
            " and ".join(texts) if texts else "everyone",
        )

    def condition(
        self, index: int, raw: Any, aggregation: Any, variant_keys: list[Any]
    ) -> Condition:
        number = index + 1
        if not _is_mapping(raw):
            self.problem(f"condition {number} is not an object")
            invalid = (None, Reason.INVALID_DEFINITION, index, "malformed condition")
            slot = self.add_spec(invalid)
            return Condition(
                index=index,
                filters=(),
                threshold=None,
                target=TARGET_FLAG,
                group_name=None,
                override_slot=-1,
                true_slot=slot,
                out_of_rollout_slot=slot,
                variant_slot=slot,
                broken=True,
            )
        raw_filters = raw.get("properties")
        compiled: _CompiledList = _NO_FILTERS
        list_text: bytes | None = None
        if raw_filters:
            if isinstance(raw_filters, list):
                if self.cohorts is not None:
                    referenced = cohort_ids(raw_filters)
                    if referenced:
                        merged = self.cohort_ids | referenced
                        self.cohort_ids = self.cohorts.shared_ids(merged)
                shared = self.shared
                list_text = None if shared is None else shared.text(raw_filters)
                if shared is None or list_text is None:
                    compiled = self.compile_list(raw_filters)
                else:
                    # A list repeated by other flags of the snapshot is compiled once.
                    compiled = shared.compiled(list_text, self.compile_shared_list, raw_filters)
            else:
                self.problem(f"condition {number}: 'properties' is not a list")
                # PostHog fails on reaching the filters, after choosing the condition's target.
                compiled = _MALFORMED_FILTERS
        filter_tests, filter_texts, filter_keys, text = compiled

        rollout = raw.get("rollout_percentage")
        threshold: float | None = None
        rollout_broken = False
        if rollout is not None:
            if isinstance(rollout, _NUMBER):
                threshold = rollout / 100
            else:
                self.problem(f"condition {number}: 'rollout_percentage' is not a number")
                rollout_broken = True

        condition_aggregation = raw.get("aggregation_group_type_index", aggregation)
        target = TARGET_FLAG
        group_name = None
        if condition_aggregation != aggregation and condition_aggregation is not None:
            target = TARGET_GROUP
            group_name = self.group_name(condition_aggregation)

        # Descriptions are worded on first use, from the condition (describe_condition).
        match = Reason.CONDITION_MATCH
        specs = self.specs
        true_slot = len(specs)
        specs.append(match_spec(index))
        override = raw.get("variant")
        override_slot = -1
        if override and override in variant_keys:
            override_slot = self.add_spec((override, match, index, DESCRIBE_OVERRIDE))
        variant_slot = len(specs)
        for key in variant_keys:
            # PostHog answers True for a matched falsy variant key ("" or null).
            specs.append((key, match, index, DESCRIBE_VARIANT) if key else match_spec(index))
        out_slot = len(specs)
        specs.append(out_of_rollout_spec(index))
        percentage = rollout if threshold is not None else None
        fields = (
            index,
            filter_tests,
            threshold,
            target,
            group_name,
            override_slot,
            true_slot,
            out_slot,
            variant_slot,
            False,
            rollout_broken,
            text,
            filter_texts,
            filter_keys,
            percentage,
            list_text,
        )
        shared = self.shared
        if shared is None or (raw_filters and list_text is None):
            return Condition(*fields)
        # Flags repeat conditions (the same rollout, the same filter list at the same place
        # among the same slots): one object for all of them. The percentage's type tells
        # 50 from 50.0 (their texts agree, but nothing else needs to).
        key = (list_text, type(percentage), *fields[2:11], percentage, index)
        condition: Condition = shared.compiled(key, _condition, fields)
        return condition


def _bool_or_none(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _condition(fields: tuple[Any, ...]) -> Condition:
    return Condition(*fields)


def compile_flag(
    raw: Mapping[str, Any],
    group_type_mapping: Mapping[str, Any],
    matching_version: int,
    problems: list[str],
    shared: SharedConditions | None = None,
    cohorts: InlineCohorts | None = None,
) -> CompiledFlag:
    """Compile one flag definition (which must be a mapping with a string ``key``).

    ``shared`` numbers filter lists across the flags of one snapshot (see
    :class:`flagkit._evaluation.specialize.SharedConditions`); with ``cohorts``, filters
    on cohorts that read properties only are compiled in (see
    :mod:`flagkit._evaluation.inline_cohorts`).
    """
    compiler = _FlagCompiler(raw, group_type_mapping, matching_version, problems, shared, cohorts)
    flag = compiler.compile()
    unrolled = specialize(flag, shared)
    if unrolled is None:
        return flag
    run, run_shared, consts, shared_numbers = unrolled
    # The flag is new and not yet shared with anything: fill in its unrolled code in place
    # rather than copying every field into a second instance.
    if flag.plain_group:
        object.__setattr__(flag, "group_code", run)
    else:
        object.__setattr__(flag, "run_code", run)
        object.__setattr__(flag, "shared_code", run_shared)
    object.__setattr__(flag, "consts", consts)
    object.__setattr__(flag, "shared_numbers", shared_numbers)
    return flag
