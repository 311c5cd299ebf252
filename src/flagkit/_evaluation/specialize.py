"""Straight-line evaluation code for common flags.

For a person flag whose conditions only read person properties (no cohorts, dependencies,
groups, holdout or enrollment), the generic loop of
:func:`flagkit._evaluation.runtime.match_conditions` is unrolled in two layers:

* **filter lists.** Each distinct filter list of a snapshot gets one test, shared by every
  condition that repeats it (:mod:`flagkit._evaluation.list_code`): a one-filter list is
  the filter's own test; a longer one is one function with the common operators inlined
  for the property values they see most (``exact``/``icontains`` on strings, ``is_set``,
  numeric comparisons on numbers, semver comparisons on versions already parsed once).
* **the flag.** Straight-line code per flag *skeleton* (per condition: whether it has
  filters, whether their outcome is shared, whether it has a rollout, how a match is
  valued; and ``early_exit``), reading the flag's tests, slots and thresholds from a
  constants tuple. It computes the rollout and variant hashes inline from the caller's
  identifier, encoded once by the caller, and reads the matched result straight from the
  flag's result book. For the commonest shapes of a process (the skeleton with its
  filters' kinds, up to ``_MAX_INLINED_FILTERS`` filters) the lists' lines are inlined
  into the flag's code instead of called.

Both layers depend on few shapes (filter kinds; condition skeletons), so the code is
compiled once per shape and process, and building a flag is a tuple. Each flag gets two
functions (``CompiledFlag.run_code`` and ``shared_code``, called with its ``consts``):
``run`` for one evaluation, and ``run_shared`` for ``evaluate_all``, which keeps
the outcome of each filter list numbered by :class:`SharedConditions` for the rest of the
call, so that flags repeating a list test it once. Called with a true ``want_values``
(last, after the memo), either returns the matched value instead of its result, from a
value table per flag (shared by the flags with the same values): ``get_all_flags``' pass
reads no result. Very large flags keep the generic loop.

The result decides exactly as the generic loop does (same order, same undecidable causes);
property tests compare the two, and the conformance suite and the differential tester run
through it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from hashlib import blake2b
from typing import Any, TypeVar

from flagkit._evaluation.hashing import above_digest, reached_digest
from flagkit._evaluation.list_code import (
    BROKEN_FIRST,
    BROKEN_LATER,
    FAILED,
    PASSED,
    ListTest,
    compile_factory,
    filter_constants,
    filter_kind,
    indent,
    list_lines,
    list_test,
    settled,
)
from flagkit._evaluation.model import NO_MATCH, CompiledFlag, ResultBook

_T = TypeVar("_T")

# run(consts, props, identifier_bytes, identifier_bytes + b"variant" or None) -> outcome
Runner = Callable[[tuple[Any, ...], Mapping[str, Any], bytes, "bytes | None"], Any]
# The same with the call's memo of filter-list outcomes as a last argument.
SharedRunner = Callable[[tuple[Any, ...], Mapping[str, Any], bytes, "bytes | None", list[Any]], Any]
# Per condition: (has filters, its filter list's outcome is shared, has a rollout
# threshold, how a match is valued, and the kinds of its filters when the list is inlined
# into the flag's code, else None: the code calls the list's test).
Shape = tuple[tuple[bool, bool, bool, str, "tuple[str, ...] | None"], ...]

# Compiling a shape costs a millisecond or so; bodies use few of them. Bounded so that an
# unusual body cannot grow them without limit (past it, flags use the generic loop, and
# filter lists a loop over their tests).
_MAX_SHAPES = 256
# Skeletons with their filter lists inlined (one call per condition less): the commonest
# shapes of a process only, since they are many more than skeletons. Past the bound, or
# for flags with more filters than _MAX_INLINED_FILTERS, the skeleton's code calls the
# lists' tests.
_MAX_INLINED_SHAPES = 128
_MAX_INLINED_FILTERS = 12
# Generated code grows with the flag, and compiling it grows faster (seconds for thousands
# of conditions): past these sizes a flag keeps the generic loop. Real flags are far smaller.
_MAX_CONDITIONS = 32
_MAX_FILTERS = 128
_factories: dict[tuple[Shape, bool], tuple[Runner, SharedRunner]] = {}
_inlined_factories: dict[tuple[Shape, bool], tuple[Runner, SharedRunner]] = {}
_factories_lock = threading.Lock()


# The constants tuple of a flag: these first, then _PER_CONDITION entries per condition.
# _VALUES: the book's value table (ResultBook.value_table), what get_all_flags' pass reads.
_RESULTS, _BOOK, _PREFIX, _BOUNDS, _HIGHS, _VARIANT_COUNT, _VALUES = range(7)
_HEAD = 7
# Per condition: where its out-of-rollout, override, matched and first variant results
# are kept (ResultBook.position), its threshold's digest bound (hashing.above_digest),
# filter-list test, filter-list number.
_OUT, _THRESHOLD, _OVERRIDE, _TRUE, _VARIANT, _TEST, _NUMBER = range(7)
_PER_CONDITION = 7


def _plain_json(value: Any, depth: int) -> bool:
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return True
    if depth > 32:
        return False
    if kind is list:
        return all(_plain_json(item, depth + 1) for item in value)
    if kind is dict:
        return all(
            type(name) is str and _plain_json(item, depth + 1) for name, item in value.items()
        )
    return False


class SharedConditions:
    """Numbers the distinct filter lists of one snapshot's conditions, and keeps what each
    compiles to.

    Flags often repeat a condition's filters (an "internal users" group, a country list).
    Each distinct list is compiled once per snapshot (:meth:`compiled`, :meth:`test`), and
    ``evaluate_all`` keeps one outcome per number for the call, so each distinct filter list
    is tested once per call however many flags repeat it. Thread-safe; numbers only grow.
    (Two threads compiling the same flag both count its lists: a list may then look repeated
    when it is not, which costs a little speed and nothing else.)

    ``decoded_json`` says the definitions came from ``json.loads``, so they hold plain JSON
    values only and need no check.
    """

    __slots__ = ("_compiled", "_decoded_json", "_lock", "_numbers", "_tests", "_uses")

    def __init__(self, decoded_json: bool = False) -> None:
        self._decoded_json = decoded_json
        self._lock = threading.Lock()
        self._numbers: dict[bytes, int] = {}
        # Conditions numbered so far, per number.
        self._uses: list[int] = []
        # What compile.py makes of a filter list (by its text) or a condition; list tests.
        self._compiled: dict[Any, Any] = {}
        self._tests: dict[bytes, ListTest] = {}

    def __len__(self) -> int:
        return len(self._numbers)

    @property
    def decoded_json(self) -> bool:
        """Whether the definitions came from ``json.loads``."""
        return self._decoded_json

    def seed(self, previous: SharedConditions, kept: list[tuple[int, ...]]) -> bool:
        """Continue ``previous``'s numbering, for flags compiled against it that are kept
        (``kept``: each one's ``shared_numbers``); counts start from those flags alone.

        Returns False, changing nothing, when most of ``previous``'s numbers belong to no
        kept flag: a fresh numbering is then smaller (a call's memo has a slot per number).
        """
        with previous._lock:
            numbers = dict(previous._numbers)
        uses = [0] * len(numbers)
        for flag_numbers in kept:
            for number in flag_numbers:
                uses[number] += 1
        live = sum(1 for count in uses if count)
        if len(numbers) > 2 * live + 256:
            return False
        with self._lock:
            self._numbers = numbers
            self._uses = uses
        return True

    def repeated(self, numbers: tuple[int, ...]) -> bool:
        """Whether any of these filter lists belongs to more than one condition so far."""
        uses = self._uses
        return any(uses[number] > 1 for number in numbers)

    def number(self, filters: Any) -> int | None:
        """The number of a condition's raw filter list, or None when it cannot be shared."""
        text = self.text(filters)
        return None if text is None else self.assign(text)

    def text(self, filters: Any) -> bytes | None:
        """What numbers a condition's raw filter list (a digest of its text), or None when
        it cannot be shared."""
        # Same text, same tests: compiling a filter reads nothing but the filter and the
        # snapshot's matching version. repr() tells all plain JSON values apart (1, 1.0,
        # True and "1"; lists and tuples); other values, which could print alike but
        # differ (subclasses, custom objects), are not shared.
        if not self._decoded_json and not _plain_json(filters, 0):
            return None
        try:
            text = repr(filters)
        except (ValueError, RecursionError):  # an int too long to print, deep nesting
            return None
        # Kept for every list (numbering survives reloads): a 128-bit BLAKE2 digest of the
        # text instead of the text, which is often a few hundred bytes.
        return blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def assign(self, text: bytes) -> int:
        """The number of a filter list's text (see :meth:`text`), counting one more use."""
        with self._lock:
            number = self._numbers.setdefault(text, len(self._numbers))
            if number == len(self._uses):
                self._uses.append(0)
            self._uses[number] += 1
            return number

    def compiled(self, key: Any, build: Callable[[Any], _T], source: Any) -> _T:
        """What ``build(source)`` makes of what ``key`` names (a filter list's text, a
        condition), built once per snapshot."""
        found: _T | None = self._compiled.get(key)
        if found is None:
            # Two threads may both build; either result may stay (they are equivalent).
            found = self._compiled.setdefault(key, build(source))
        return found

    def release(self) -> None:
        """Drop what :meth:`compiled` and :meth:`test` keep, once every flag is compiled
        (the compiled flags hold what they use; a later compile rebuilds what it needs)."""
        self._compiled = {}
        self._tests = {}

    def test(self, text: bytes | None, tests: tuple[Callable[..., Any], ...]) -> ListTest:
        """The list test of a filter list (built once per text; ``None``: not shared)."""
        if text is None:
            return list_test(tests)
        found = self._tests.get(text)
        if found is None:
            found = self._tests.setdefault(text, list_test(tests))
        return found


def _at(index: int, field: int) -> str:
    """The constants-tuple entry ``field`` of condition ``index``."""
    return f"k[{_HEAD + _PER_CONDITION * index + field}]"


def _result(position: str) -> str:
    # The shared result, built by the book on first use (a FlagResult is always truthy),
    # or with ``want_values`` (get_all_flags' pass) its value, from the flag's value
    # table. The constants hold positions in the book's results, not slots
    # (ResultBook.position).
    results = f"k[{_RESULTS}][{position}] or k[{_BOOK}].at({position})"
    return f"k[{_VALUES}][{position}] if want_values else ({results})"


# What an inlined list's outcome does to its condition, as the lines after a computed
# outcome do: a failed list leaves the condition, an inconclusive one counts and then
# leaves, a passed one falls through to the rollout.
_ON_CONDITION = {
    FAILED: ["break"],
    BROKEN_FIRST: ["return BROKEN"],
    BROKEN_LATER: ["if gc is None:", "    return BROKEN", "inc = stronger(inc, gc)", "break"],
    PASSED: ["if gc is not None:", "    inc = stronger(inc, gc)", "    break"],
}


def _condition_filters(
    index: int, shared: bool, kinds: tuple[str, ...] | None, first_filter: int
) -> list[str]:
    """Code that leaves the condition unless its filter list passes. With ``kinds``, the
    list runs inline (its filters' test, key and constant from ``first_filter`` on in the
    constants tuple): straight in the condition's code, or, when its outcome is kept in the
    call's memo, in a one-pass loop that a settled outcome breaks out of."""
    if kinds is None:
        compute = [f"g = {_at(index, _TEST)}(props)"]
    else:
        names = [
            (f"k[{at}]", f"k[{at + 1}]", f"k[{at + 2}]")
            for at in range(first_filter, first_filter + 3 * len(kinds), 3)
        ]
        if not shared:
            # Straight in the condition's loop: each outcome acts on the condition at once.
            return list_lines(kinds, names, _ON_CONDITION.__getitem__)
        compute = ["while True:", *indent(list_lines(kinds, names, settled), 1)]
    if shared:
        # The list's outcome (True, False, a cause or BROKEN), once per call.
        number = _at(index, _NUMBER)
        lines = [f"g = memo[{number}]", "if g is None:", *indent(compute, 1)]
        lines.append(f"    memo[{number}] = g")
    else:
        lines = compute
    return [
        *lines,
        "if g is not True:",
        "    if g is False:",
        "        break",
        "    if g is BROKEN:",
        "        return BROKEN",
        "    inc = stronger(inc, g)",
        "    break",
    ]


def _match_lines(index: int, how: str) -> list[str]:
    """Code that returns the value of matched condition ``index`` (see matched_value)."""
    if how == "override":
        return [f"return {_result(_at(index, _OVERRIDE))}"]
    if how == "true":
        return [f"return {_result(_at(index, _TRUE))}"]
    if how == "broken":
        return ["return BROKEN"]
    lines = [
        # The variant hash text extends the rollout's ("<key>.<id>" + "variant"): when
        # the rollout state exists, feed it the suffix instead of hashing from the start.
        "if rd is not None:",
        "    rs.update(VARIANT)",
        "    vd = rs.digest()",
        "else:",
        "    if idv is None:",
        "        idv = idb + VARIANT",
        "    s = SHA1.copy()",
        f"    s.update(k[{_PREFIX}])",
        "    s.update(idv)",
        "    vd = s.digest()",
    ]
    first = _at(index, _VARIANT)
    if how == "variants_sorted":
        # Contiguous bounds from 0 with non-decreasing highs: the first high above the
        # bucket, found among the highs' digest bounds (see hashing.reached_digest).
        return [
            *lines,
            f"slot = bisect_right(k[{_HIGHS}], vd)",
            f"if slot < k[{_VARIANT_COUNT}]:",
            f"    slot += {first}",
            f"    return {_result('slot')}",
            f"return {_result(_at(index, _TRUE))}",
        ]
    return [
        *lines,
        "vh = (first_u64(vd)[0] >> 4) / SCALE",
        f"slot = {first}",
        f"for low, high in k[{_BOUNDS}]:",
        "    if low <= vh < high:",
        f"        return {_result('slot')}",
        "    slot += 1",
        f"return {_result(_at(index, _TRUE))}",
    ]


def _ending() -> list[str]:
    """Code that returns when no condition matched: inconclusive, out of rollout, or no match."""
    return [
        "if inc is not None:",
        "    return inc",
        f"slot = fo if fo >= 0 else {ResultBook.position(NO_MATCH)}",
        f"return {_result('slot')}",
    ]


def _run_source(name: str, shape: Shape, early_exit: bool, with_memo: bool) -> list[str]:
    """One evaluation function; ``with_memo`` shares filter-list outcomes through ``memo``."""
    body: list[str] = []
    # Inlined filters' (test, key, constant) follow the per-condition entries.
    first_filter = _HEAD + _PER_CONDITION * len(shape)
    for index, (has_filters, shareable, has_threshold, how, kinds) in enumerate(shape):
        lines = []
        if has_filters:
            lines = _condition_filters(index, with_memo and shareable, kinds, first_filter)
            first_filter += 3 * len(kinds or ())
        if has_threshold:
            lines += [
                # Out of rollout: the bucket above the threshold, compared as digests
                # (see hashing.above_digest).
                "if rd is None:",
                "    rs = SHA1.copy()",
                f"    rs.update(k[{_PREFIX}])",
                "    rs.update(idb)",
                "    rd = rs.digest()",
                f"if rd >= {_at(index, _THRESHOLD)}:",
                "    if fo < 0:",
                f"        fo = {_at(index, _OUT)}",
            ]
            # early_exit: the first rollout miss ends the evaluation.
            lines += indent(_ending(), 1) if early_exit else ["    break"]
        lines += _match_lines(index, how)
        # A one-pass loop: "break" leaves the condition like "continue" in the generic loop.
        body += ["while True:", *indent(lines, 1)]
    # run() takes a memo too and ignores it, so that a batch calls both alike; with a true
    # ``want_values`` both return the matched value instead of its result (see _result).
    params = "k, props, idb, idv, memo" if with_memo else "k, props, idb, idv, memo=None"
    params += ", want_values=False"
    return [
        f"def {name}({params}):",
        *indent(["inc = None", "fo = -1", "rd = None", *body, *_ending()], 1),
    ]


def _runners(shape: Shape, early_exit: bool) -> tuple[Runner, SharedRunner] | None:
    """The two evaluation functions of a flag skeleton, its lists inlined or not (None
    past the bound)."""
    inlined = any(kinds is not None for *_, kinds in shape)
    factories = _inlined_factories if inlined else _factories
    runners = factories.get((shape, early_exit))
    if runners is not None:
        return runners
    with _factories_lock:
        runners = factories.get((shape, early_exit))
        if runners is None:
            if len(factories) >= (_MAX_INLINED_SHAPES if inlined else _MAX_SHAPES):
                return None
            lines = [
                *_run_source("run", shape, early_exit, False),
                *_run_source("run_shared", shape, early_exit, True),
                "return run, run_shared",
            ]
            source = "\n".join(["def factory():", *indent(lines, 1)])
            runners = factories[(shape, early_exit)] = compile_factory(source)()
    return runners


def _can_miss(threshold: float | None) -> bool:
    """Whether a rollout threshold can put a caller out of rollout. The rollout hash is at
    most 1.0 and a caller is out when it is above the threshold, so at 100% (or more) no
    caller is: the code skips the hash, as a condition without a rollout does."""
    return threshold is not None and not threshold >= 1.0


def specializable(flag: CompiledFlag) -> bool:
    """Whether :func:`specialize` applies to this flag."""
    return (
        (flag.plain or flag.plain_group)
        and not flag.needs_frame
        and not flag.has_preamble
        and len(flag.plan) <= _MAX_CONDITIONS
        and sum(len(tests) for _, _, tests, _ in flag.plan) <= _MAX_FILTERS
        and all(own and not c.rollout_broken for c, own, _, _ in flag.plan)
    )


def _match_kind(flag: CompiledFlag, override_slot: int) -> str:
    # The order of matched_value's checks.
    if override_slot >= 0:
        return "override"
    if not flag.has_variants:
        return "true"
    if flag.variant_table_broken:
        return "broken"
    return "variants_sorted" if _sorted_bounds(flag.variant_bounds) else "variants"


def _sorted_bounds(bounds: tuple[tuple[float, float], ...]) -> bool:
    """Whether variant i is exactly [highs[i-1], highs[i]) with highs non-decreasing from 0."""
    previous = 0.0
    for low, high in bounds:
        if type(low) not in (int, float) or type(high) is not float:
            return False
        if low != previous or not previous <= high <= 1.0:
            return False
        previous = high
    return True


def specialize(
    flag: CompiledFlag, shared: SharedConditions | None = None
) -> tuple[Runner, SharedRunner, tuple[Any, ...], tuple[int, ...]] | None:
    """The unrolled ``run`` and ``run_shared`` functions of the flag's skeleton, its
    constants tuple and the numbers of its filter lists in ``shared``, or None when not
    applicable.

    ``run(consts, props, idb, idv)``: ``props`` must be a ``dict``; ``idb`` is the bucketing
    identifier encoded by :func:`flagkit._evaluation.hashing.encode_identifier`, and ``idv``
    is ``idb + b"variant"`` or None (computed when needed). The outcome is what
    ``match_conditions`` returns. ``run_shared(consts, props, idb, idv, memo)`` is the same
    with the outcome of each filter list numbered by ``shared`` kept in ``memo`` (a list
    with a slot per number, None until known), for calls that evaluate many flags on one
    ``props``.
    """
    if not specializable(flag):
        return None
    # A group flag's lists are tested on other properties than the person's: their
    # outcomes are never shared with person flags (nor numbered).
    numbered = shared is not None and not flag.plain_group
    texts = [c.list_text if numbered and tests else None for c, _, tests, _ in flag.plan]
    skeleton = tuple(
        (
            bool(tests),
            text is not None,
            _can_miss(threshold),
            _match_kind(flag, condition.override_slot),
        )
        for (condition, _, tests, threshold), text in zip(flag.plan, texts, strict=True)
    )
    runners = None
    inline = sum(len(tests) for _, _, tests, _ in flag.plan) <= _MAX_INLINED_FILTERS
    if inline:
        kinds = [tuple(filter_kind(test) for test in tests) or None for _, _, tests, _ in flag.plan]
        shape: Shape = tuple((*head, own) for head, own in zip(skeleton, kinds, strict=True))
        runners = _runners(shape, flag.early_exit)
    if runners is None:
        inline = False
        runners = _runners(tuple((*head, None) for head in skeleton), flag.early_exit)
    if runners is None:
        return None
    book = flag.book
    bounds = flag.variant_bounds
    highs = tuple(reached_digest(high) for _, high in bounds)
    consts: list[Any] = [
        book._results,
        book,
        flag.hash_prefix,
        bounds,
        highs,
        len(bounds),
        book.value_table(),
    ]
    position = ResultBook.position
    numbers: list[int] = []
    inlined: list[Any] = []
    for (condition, _, tests, threshold), text in zip(flag.plan, texts, strict=True):
        test: ListTest | None = None
        number = None
        if inline:
            inlined += filter_constants(tests)
        elif tests:
            test = list_test(tests) if shared is None else shared.test(condition.list_text, tests)
        if text is not None and shared is not None:
            # Numbered only now: a flag that keeps the generic loop holds no number.
            number = shared.assign(text)
            numbers.append(number)
        override = condition.override_slot
        consts += [
            position(condition.out_of_rollout_slot),
            None if threshold is None else above_digest(threshold),
            position(override) if override >= 0 else override,
            position(condition.true_slot),
            position(condition.variant_slot),
            test,
            number,
        ]
    return runners[0], runners[1], (*consts, *inlined), tuple(numbers)
