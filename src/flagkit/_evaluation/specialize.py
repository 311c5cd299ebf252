"""Straight-line evaluation code for common flags.

For a person flag whose conditions only read person properties (no cohorts, dependencies,
groups, holdout or enrollment), the generic loop of
:func:`flagkit._evaluation.runtime.match_conditions` is unrolled into one function:

* each filter is called directly, and the common operators are inlined for the property
  values they see most (``exact``/``icontains`` on strings, ``is_set``, numeric comparisons
  on numbers, semver comparisons on versions already parsed once);
* the rollout and variant hashes are computed inline from the caller's identifier, encoded
  once by the caller (``evaluate_all`` encodes it once for all flags);
* the matched result is read straight from the flag's result book.

Each flag gets two such functions: ``run`` for one evaluation, and ``run_shared`` for
``evaluate_all``, which keeps the outcome of each filter list numbered by
:class:`SharedConditions` for the rest of the call, so that flags repeating a list test it
once. Very large flags keep the generic loop.

The code depends only on the flag's *shape* (conditions, filter kinds, rollouts, how a match
is valued), so it is generated and compiled once per shape, as a factory that takes the
flag's tests and constants; building a flag's function is then one call. The result decides
exactly as the generic loop does (same order, same undecidable causes); property tests
compare the two, and the conformance suite and the differential tester run through it.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Mapping
from typing import Any

from flagkit._evaluation.hashing import SCALE, first_u64
from flagkit._evaluation.model import NO_MATCH, CompiledFlag
from flagkit._evaluation.operators import FAST_PATHS
from flagkit._evaluation.outcome import BROKEN, stronger
from flagkit._evaluation.semver import _PROPERTY_CACHE
from flagkit._evaluation.stringify import fold_ascii

# run(props, identifier_bytes, identifier_bytes + b"variant" or None) -> outcome
Specialized = Callable[[Mapping[str, Any], bytes, "bytes | None"], Any]
# run_shared(props, identifier_bytes, identifier_bytes + b"variant" or None, memo) -> outcome
Shared = Callable[[Mapping[str, Any], bytes, "bytes | None", list[Any]], Any]
# Per condition: (filter kinds, has a rollout threshold, how a match is valued, whether
# its filter list is numbered for sharing).
Shape = tuple[tuple[tuple[str, ...], bool, str, bool], ...]

# Compiling a shape costs a few milliseconds; flags reuse a few shapes. Bounded so
# that an unusual body cannot grow it without limit (past it, flags use the generic loop).
_MAX_SHAPES = 256
# Generated code grows with the flag, and compiling it grows faster (seconds for thousands
# of conditions): past these sizes a flag keeps the generic loop. Real flags are far smaller.
_MAX_CONDITIONS = 32
_MAX_FILTERS = 128
_factories: dict[tuple[Shape, bool], Callable[..., tuple[Specialized, Shared]]] = {}
_factories_lock = threading.Lock()

_HELPERS = {
    "BROKEN": BROKEN,
    "stronger": stronger,
    "fold": fold_ascii,
    # Parsed semver property values by text (None: not a version); see flagkit._evaluation.semver.
    "VERSIONS": _PROPERTY_CACHE,
    # PostHog's bucket, as _evaluation.hashing computes it: (first_u64(digest)[0] >> 4) / SCALE.
    "first_u64": first_u64,
    "SCALE": SCALE,
    "VARIANT": b"variant",
    # float(int) overflows from 2**1024 on; below 2**1023 it cannot.
    "INT_LIMIT": 2**1023,
    "bisect_right": bisect.bisect_right,
}


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
    """Numbers the distinct filter lists of one snapshot's conditions.

    Flags often repeat a condition's filters (an "internal users" group, a country list).
    ``evaluate_all`` keeps one outcome per number for the call, so each distinct filter list
    is tested once per call however many flags repeat it. Thread-safe; numbers only grow.
    (Two threads compiling the same flag both count its lists: a list may then look repeated
    when it is not, which costs a little speed and nothing else.)

    ``decoded_json`` says the definitions came from ``json.loads``, so they hold plain JSON
    values only and need no check.
    """

    __slots__ = ("_decoded_json", "_lock", "_numbers", "_uses")

    def __init__(self, decoded_json: bool = False) -> None:
        self._decoded_json = decoded_json
        self._lock = threading.Lock()
        self._numbers: dict[str, int] = {}
        # Conditions numbered so far, per number.
        self._uses: list[int] = []

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

    def text(self, filters: Any) -> str | None:
        """What numbers a condition's raw filter list, or None when it cannot be shared."""
        # Same text, same tests: compiling a filter reads nothing but the filter and the
        # snapshot's matching version. repr() tells all plain JSON values apart (1, 1.0,
        # True and "1"; lists and tuples); other values, which could print alike but
        # differ (subclasses, custom objects), are not shared.
        if not self._decoded_json and not _plain_json(filters, 0):
            return None
        try:
            return repr(filters)
        except (ValueError, RecursionError):  # an int too long to print, deep nesting
            return None

    def assign(self, text: str) -> int:
        """The number of a filter list's text (see :meth:`text`), counting one more use."""
        with self._lock:
            number = self._numbers.setdefault(text, len(self._numbers))
            if number == len(self._uses):
                self._uses.append(0)
            self._uses[number] += 1
            return number


# Inlined filters: (guards, each with the expression that passes under it). The guard
# picks the property values the expression is exact for; other values call the test.
_COMPARE = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_SEMVER = {"eq": "==", "neq": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_STRING = "type(v) is str"
_VERSION = "type(v) is str and (w := VERSIONS.get(v)) is not None"


def _inline(kind: str, name: str) -> list[tuple[str, str | None]] | None:
    """Guards and passing expressions for filter ``name`` of this kind (None: not inlined)."""
    c = f"c{name}"
    folded = "(v.lower() if v.isascii() else fold(v))"
    if kind in ("in", "not_in"):
        return [(_STRING, f"v.lower() {kind.replace('_', ' ')} {c}")]
    if kind == "contains":
        return [(_STRING, f"{c} in {folded}")]
    if kind == "not_contains":
        return [(_STRING, f"{c} not in {folded}")]
    if kind == "set":
        return [(f"k{name} in props", None)]
    if kind == "not_set":
        return [(f"k{name} in props", "False")]
    if kind in _COMPARE:
        symbol = _COMPARE[kind]
        return [
            # A finite float (x - x is NaN for infinities and NaN).
            ("type(v) is float and v - v == 0.0", f"v {symbol} {c}"),
            ("type(v) is int and -INT_LIMIT < v < INT_LIMIT", f"float(v) {symbol} {c}"),
        ]
    if kind == "semver_range":
        return [(_VERSION, f"{c}[0] <= w < {c}[1]")]
    if kind.startswith("semver_") and kind[7:] in _SEMVER:
        return [(_VERSION, f"w {_SEMVER[kind[7:]]} {c}")]
    return None


def _kind(test: Any) -> str:
    fast = FAST_PATHS.get(test)
    if fast is None:
        return "call"
    kind = ("not_" if fast[3] else "") + fast[0]
    if kind == "set" and fast[2] is False:
        return "not_set"  # is_not_set: present means False
    return kind if _inline(kind, "") is not None else "call"


def specializable(flag: CompiledFlag) -> bool:
    """Whether :func:`specialize` applies to this flag."""
    return (
        flag.plain
        and not flag.needs_frame
        and not flag.has_preamble
        and len(flag.plan) <= _MAX_CONDITIONS
        and sum(len(tests) for _, _, tests, _ in flag.plan) <= _MAX_FILTERS
        and all(own and not c.rollout_broken for c, own, _, _ in flag.plan)
    )


def _filter_lines(name: str, kind: str, position: int, shared: bool) -> list[str]:
    """Code that runs filter ``name`` of a condition.

    Unshared, ``break`` leaves the condition when the filter fails. Shared (inside the loop
    that works out a filter list's outcome once per call), ``g`` is set to the list's
    outcome before ``break``.
    """
    fail = ["g = False", "break"] if shared else ["break"]
    # A definite error is fatal, unless the group was already inconclusive: then the
    # group is inconclusive. A cause makes the group inconclusive.
    if position == 0:
        broken = ["g = BROKEN", "break"] if shared else ["return BROKEN"]
    elif shared:
        broken = ["g = BROKEN if gc is None else gc", "break"]
    else:
        broken = ["if gc is None:", "    return BROKEN", "inc = stronger(inc, gc)", "break"]
    handle = [f"o = t{name}(props)", "if o is not True:", "    if o is False:"]
    handle += [*_indent(fail, 2), "    if o is BROKEN:", *_indent(broken, 2)]
    handle += ["    gc = stronger(gc, o)"]
    guards = _inline(kind, name) if kind != "call" else None
    if guards is None:
        return handle
    # A missing property reads None, which no guard accepts: the test then says why.
    lines = [] if kind in ("set", "not_set") else [f"v = props.get(k{name})"]
    for number, (guard, passes) in enumerate(guards):
        lines.append(f"{'if' if number == 0 else 'elif'} {guard}:")
        lines += ["    pass"] if passes is None else [f"    if not ({passes}):", *_indent(fail, 2)]
    return [*lines, "else:", *_indent(handle, 1)]


def _indent(lines: list[str], levels: int) -> list[str]:
    return ["    " * levels + line for line in lines]


def _condition_filters(index: int, kinds: tuple[str, ...], shared: bool) -> list[str]:
    """Code that leaves the condition unless its filters all pass."""
    if not kinds:
        return []
    names = [f"{index}_{position}" for position in range(len(kinds))]
    if not shared:
        lines = ["gc = None"]
        for position, (name, kind) in enumerate(zip(names, kinds, strict=True)):
            lines += _filter_lines(name, kind, position, False)
        return [*lines, "if gc is not None:", "    inc = stronger(inc, gc)", "    break"]
    # The outcome of the filter list (True, False, a cause or BROKEN), once per call.
    work = ["gc = None"]
    for position, (name, kind) in enumerate(zip(names, kinds, strict=True)):
        work += _filter_lines(name, kind, position, True)
    work += ["g = True if gc is None else gc", "break"]
    return [
        f"g = memo[j{index}]",
        "if g is None:",
        "    while True:",
        *_indent(work, 2),
        f"    memo[j{index}] = g",
        "if g is not True:",
        "    if g is False:",
        "        break",
        "    if g is BROKEN:",
        "        return BROKEN",
        "    inc = stronger(inc, g)",
        "    break",
    ]


def _result(slot: str) -> str:
    # The shared result, built by the book on first use (a FlagResult is always truthy).
    return f"results[{slot}] or book.get({slot})"


def _match_lines(index: int, how: str) -> list[str]:
    """Code that returns the value of matched condition ``index`` (see matched_value)."""
    if how == "override":
        return [f"return {_result(f'ov{index}')}"]
    if how == "true":
        return [f"return {_result(f'tr{index}')}"]
    if how == "broken":
        return ["return BROKEN"]
    lines = [
        # The variant hash text extends the rollout's ("<key>.<id>" + "variant"): when
        # the rollout state exists, feed it the suffix instead of hashing from the start.
        "if rh >= 0.0:",
        "    rs.update(VARIANT)",
        "    vh = (first_u64(rs.digest())[0] >> 4) / SCALE",
        "else:",
        "    if idv is None:",
        "        idv = idb + VARIANT",
        "    s = hasher.copy()",
        "    s.update(idv)",
        "    vh = (first_u64(s.digest())[0] >> 4) / SCALE",
    ]
    if how == "variants_sorted":
        # Contiguous bounds from 0 with non-decreasing highs: the first high above vh.
        return [
            *lines,
            "slot = bisect_right(highs, vh)",
            "if slot < variant_count:",
            f"    slot += vs{index}",
            f"    return {_result('slot')}",
            f"return {_result(f'tr{index}')}",
        ]
    return [
        *lines,
        f"slot = vs{index}",
        "for low, high in bounds:",
        "    if low <= vh < high:",
        f"        return {_result('slot')}",
        "    slot += 1",
        f"return {_result(f'tr{index}')}",
    ]


def _ending() -> list[str]:
    """Code that returns when no condition matched: inconclusive, out of rollout, or no match."""
    return [
        "if inc is not None:",
        "    return inc",
        f"slot = fo if fo >= 0 else {NO_MATCH}",
        f"return {_result('slot')}",
    ]


def _run_source(name: str, shape: Shape, early_exit: bool, with_memo: bool) -> list[str]:
    """One evaluation function; ``with_memo`` shares filter-list outcomes through ``memo``."""
    body: list[str] = []
    for index, (kinds, has_threshold, how, shareable) in enumerate(shape):
        lines = _condition_filters(index, kinds, with_memo and shareable)
        if has_threshold:
            lines += [
                "if rh < 0.0:",
                "    rs = hasher.copy()",
                "    rs.update(idb)",
                "    rh = (first_u64(rs.digest())[0] >> 4) / SCALE",
                f"if rh > th{index}:",
                "    if fo < 0:",
                f"        fo = out{index}",
            ]
            # early_exit: the first rollout miss ends the evaluation.
            lines += _indent(_ending(), 1) if early_exit else ["    break"]
        lines += _match_lines(index, how)
        # A one-pass loop: "break" leaves the condition like "continue" in the generic loop.
        body += ["while True:", *_indent(lines, 1)]
    params = "props, idb, idv, memo" if with_memo else "props, idb, idv"
    return [
        f"def {name}({params}):",
        *_indent(["inc = None", "fo = -1", "rh = -1.0", *body, *_ending()], 1),
    ]


def _source(shape: Shape, early_exit: bool) -> str:
    """The factory's source for one shape: it takes the flag's constants, in the order
    :func:`specialize` passes them, and returns ``(run, run_shared)``."""
    params = ["book", "results", "hasher", "bounds", "highs", "variant_count"]
    for index, (kinds, _, _, _) in enumerate(shape):
        params += [f"out{index}", f"th{index}", f"ov{index}", f"tr{index}", f"vs{index}"]
        params += [f"j{index}"]
        for position in range(len(kinds)):
            name = f"{index}_{position}"
            params += [f"t{name}", f"k{name}", f"c{name}"]
    lines = [
        *_run_source("run", shape, early_exit, False),
        *_run_source("run_shared", shape, early_exit, True),
        "return run, run_shared",
    ]
    return "\n".join([f"def factory({', '.join(params)}):", *_indent(lines, 1)])


def _factory(shape: Shape, early_exit: bool) -> Callable[..., tuple[Specialized, Shared]] | None:
    factory = _factories.get((shape, early_exit))
    if factory is not None:
        return factory
    with _factories_lock:
        factory = _factories.get((shape, early_exit))
        if factory is None:
            if len(_factories) >= _MAX_SHAPES:
                return None
            source = _source(shape, early_exit)
            space: dict[str, Any] = dict(_HELPERS)
            exec(compile(source, "<flagkit specialized flag>", "exec"), space)
            built: Callable[..., tuple[Specialized, Shared]] = space["factory"]
            _factories[(shape, early_exit)] = factory = built
    return factory


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


def _raw_filters(flag: CompiledFlag, index: int) -> Any:
    try:
        return flag.raw["filters"]["groups"][index]["properties"]
    except Exception:
        return None


def specialize(
    flag: CompiledFlag, shared: SharedConditions | None = None
) -> tuple[Specialized, Shared, tuple[int, ...]] | None:
    """The unrolled ``run`` and ``run_shared`` functions and the numbers of the flag's
    filter lists in ``shared``, or None when not applicable.

    ``run(props, idb, idv)``: ``props`` must be a ``dict``; ``idb`` is the bucketing
    identifier encoded by :func:`flagkit._evaluation.hashing.encode_identifier`, and ``idv`` is
    ``idb + b"variant"`` or None (computed when needed). The outcome is what
    ``match_conditions`` returns. ``run_shared(props, idb, idv, memo)`` is the same with
    the outcome of each filter list numbered by ``shared`` kept in ``memo`` (a list with a
    slot per number, None until known), for calls that evaluate many flags on one ``props``.
    """
    if not specializable(flag):
        return None
    texts = [
        shared.text(_raw_filters(flag, condition.index)) if shared is not None and tests else None
        for condition, _, tests, _ in flag.plan
    ]
    shape: Shape = tuple(
        (
            tuple(_kind(test) for test in tests),
            threshold is not None,
            _match_kind(flag, condition.override_slot),
            number is not None,
        )
        for (condition, _, tests, threshold), number in zip(flag.plan, texts, strict=True)
    )
    factory = _factory(shape, flag.early_exit)
    if factory is None:
        return None
    # Numbered only now: a flag that keeps the generic loop holds no number.
    numbers = [None if text is None or shared is None else shared.assign(text) for text in texts]
    book = flag.book
    bounds = flag.variant_bounds
    highs = tuple(high for _, high in bounds)
    args: list[Any] = [book, book._results, flag.hasher, bounds, highs, len(bounds)]
    for (condition, _, tests, threshold), number in zip(flag.plan, numbers, strict=True):
        args += [
            condition.out_of_rollout_slot,
            threshold,
            condition.override_slot,
            condition.true_slot,
            condition.variant_slot,
            number,
        ]
        for test in tests:
            fast = FAST_PATHS.get(test)
            args += [test, fast[1] if fast else None, fast[2] if fast else None]
    run, run_shared = factory(*args)
    return run, run_shared, tuple(number for number in numbers if number is not None)
