"""Generated code for filter lists: one test per list of a condition, with the common
operators inlined for the property values they usually see, or the same lines inlined into
a flag's generated code (see :mod:`flagkit._evaluation.specialize`). The test answers what
the generic condition loop makes of the list: True, False, an inconclusive cause, or
``BROKEN``.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Mapping
from typing import Any

from flagkit._evaluation.hashing import EMPTY_SHA1, SCALE, first_u64
from flagkit._evaluation.operators import FAST_PATHS
from flagkit._evaluation.outcome import BROKEN, stronger
from flagkit._evaluation.semver import _PROPERTY_CACHE
from flagkit._evaluation.stringify import fold_ascii

# A filter list's test: test(props) -> True, False, a Cause or BROKEN.
ListTest = Callable[[Mapping[str, Any]], Any]

# List shapes (their filters' kinds) compiled per process; past the bound a list test is a
# loop over its filters.
_MAX_LIST_SHAPES = 512
_list_factories: dict[tuple[str, ...], Callable[..., ListTest]] = {}
_list_factories_lock = threading.Lock()

# What generated code (list tests and flag code) sees besides its arguments.
HELPERS = {
    "BROKEN": BROKEN,
    "stronger": stronger,
    "fold": fold_ascii,
    # Parsed semver property values by text (None: not a version); see flagkit._evaluation.semver.
    "VERSIONS": _PROPERTY_CACHE,
    # PostHog's bucket, as _evaluation.hashing computes it: (first_u64(digest)[0] >> 4) / SCALE.
    "first_u64": first_u64,
    "SCALE": SCALE,
    "VARIANT": b"variant",
    # Copied per hash, then fed the flag's "<key>." (see hashing.EMPTY_SHA1).
    "SHA1": EMPTY_SHA1,
    # float(int) overflows from 2**1024 on; below 2**1023 it cannot.
    "INT_LIMIT": 2**1023,
    "bisect_right": bisect.bisect_right,
}


# Inlined filters: (guards, each with the expression that passes under it). The guard
# picks the property values the expression is exact for; other values call the test.
_COMPARE = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_SEMVER = {"eq": "==", "neq": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_STRING = "type(v) is str"
_VERSION = "type(v) is str and (w := VERSIONS.get(v)) is not None"


def _inline(kind: str, key: str, c: str) -> list[tuple[str, str | None]] | None:
    """Guards and passing expressions for a filter of this kind reading property ``key``
    against constant ``c`` (both expressions; None: not inlined)."""
    folded = "(v.lower() if v.isascii() else fold(v))"
    if kind in ("in", "not_in"):
        return [(_STRING, f"v.lower() {kind.replace('_', ' ')} {c}")]
    if kind == "contains":
        return [(_STRING, f"{c} in {folded}")]
    if kind == "not_contains":
        return [(_STRING, f"{c} not in {folded}")]
    if kind == "set":
        return [(f"{key} in props", None)]
    if kind == "not_set":
        return [(f"{key} in props", "False")]
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


def filter_kind(test: Any) -> str:
    fast = FAST_PATHS.get(test)
    if fast is None:
        return "call"
    kind = ("not_" if fast[3] else "") + fast[0]
    if kind == "set" and fast[2] is False:
        return "not_set"  # is_not_set: present means False
    return kind if _inline(kind, "k", "c") is not None else "call"


def indent(lines: list[str], levels: int) -> list[str]:
    return ["    " * levels + line for line in lines]


# Ends a filter list with an outcome: ``return`` in a list test, a value and a ``break``
# out of the list's one-pass loop where the list is inlined into a flag's code.
_End = Callable[[str], list[str]]


def _returned(value: str) -> list[str]:
    return [f"return {value}"]


def settled(value: str) -> list[str]:
    return [f"g = {value}", "break"]


# The outcomes a list ends with, as the expressions an _End receives.
FAILED = "False"
BROKEN_FIRST = "BROKEN"  # a definite error with nothing inconclusive before it
BROKEN_LATER = "BROKEN if gc is None else gc"
PASSED = "True if gc is None else gc"  # every filter ran: passed or inconclusive


def _filter_lines(position: int, kind: str, names: tuple[str, str, str], end: _End) -> list[str]:
    """Code that runs filter ``position`` of a list (``names``: the expressions of its test,
    key and constant): it ends the list when the filter settles it, else falls through to
    the next filter."""
    test, key, const = names
    # A definite error is fatal, unless the list was already inconclusive: then the list
    # is inconclusive. A cause makes the list inconclusive; False ends it at once.
    broken = BROKEN_FIRST if position == 0 else BROKEN_LATER
    fail = indent(end(FAILED), 2)
    handle = [f"o = {test}(props)", "if o is not True:", "    if o is False:", *fail]
    handle += ["    if o is BROKEN:", *indent(end(broken), 2), "    gc = stronger(gc, o)"]
    guards = _inline(kind, key, const) if kind != "call" else None
    if guards is None:
        return handle
    # A missing property reads None, which no guard accepts: the test then says why.
    lines = [] if kind in ("set", "not_set") else [f"v = props.get({key})"]
    for number, (guard, passes) in enumerate(guards):
        lines.append(f"{'if' if number == 0 else 'elif'} {guard}:")
        lines += ["    pass"] if passes is None else [f"    if not ({passes}):", *fail]
    return [*lines, "else:", *indent(handle, 1)]


def list_lines(kinds: tuple[str, ...], names: list[tuple[str, str, str]], end: _End) -> list[str]:
    """The filters of one list in order, ending it with its outcome (see _filter_lines)."""
    body = ["gc = None"]
    for position, kind in enumerate(kinds):
        body += _filter_lines(position, kind, names[position], end)
    return [*body, *end(PASSED)]


def _list_source(kinds: tuple[str, ...]) -> str:
    """A factory taking each filter's (test, key, constant) and returning the list test."""
    names = [(f"t{p}", f"k{p}", f"c{p}") for p in range(len(kinds))]
    params = [name for triple in names for name in triple]
    lines = ["def test(props):", *indent(list_lines(kinds, names, _returned), 1)]
    lines.append("return test")
    return "\n".join([f"def factory({', '.join(params)}):", *indent(lines, 1)])


def _loop_test(tests: tuple[Callable[..., Any], ...]) -> ListTest:
    """The list test as a loop over the tests (for list shapes past the cache bound)."""

    def test(props: Mapping[str, Any]) -> Any:
        cause = None
        for filter_test in tests:
            outcome = filter_test(props)
            if outcome is True:
                continue
            if outcome is False:
                return False
            if outcome is BROKEN:
                return BROKEN if cause is None else cause
            cause = stronger(cause, outcome)
        return True if cause is None else cause

    return test


def list_test(tests: tuple[Callable[..., Any], ...]) -> ListTest:
    """One test for a condition's filter list (``tests``: property tests, at least one).

    It answers True (every filter passes), False (one fails), an inconclusive cause, or
    ``BROKEN``, exactly as the generic condition loop decides the list."""
    if len(tests) == 1:
        return tests[0]  # its own outcome is the list's
    kinds = tuple(filter_kind(test) for test in tests)
    factory = _list_factories.get(kinds)
    if factory is None:
        with _list_factories_lock:
            factory = _list_factories.get(kinds)
            if factory is None:
                if len(_list_factories) >= _MAX_LIST_SHAPES:
                    return _loop_test(tests)
                factory = _list_factories[kinds] = compile_factory(_list_source(kinds))
    built: ListTest = factory(*filter_constants(tests))
    return built


def filter_constants(tests: tuple[Callable[..., Any], ...]) -> list[Any]:
    """Each filter's (test, key, constant), in order, as generated list code reads them."""
    constants: list[Any] = []
    for test in tests:
        fast = FAST_PATHS.get(test)
        constants += [test, fast[1] if fast else None, fast[2] if fast else None]
    return constants


def compile_factory(source: str) -> Any:
    """The ``factory`` that generated ``source`` defines, compiled with :data:`HELPERS`."""
    space: dict[str, Any] = dict(HELPERS)
    exec(compile(source, "<flagkit specialized flag>", "exec"), space)
    return space["factory"]
