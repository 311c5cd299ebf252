"""Straight-line evaluation code for common flags.

For a person flag whose conditions only read person properties (no cohorts, dependencies,
groups, holdout, enrollment or early exit), the generic loop of
:func:`flagkit._runtime.match_conditions` is unrolled into one function: each filter is
called directly, and ``exact`` / ``icontains`` filters on string properties are inlined.

The code depends only on the flag's *shape* (conditions, filter kinds, rollouts), so it is
generated and compiled once per shape, as a factory that takes the flag's tests and constants;
building a flag's function is then one call. The result decides exactly as the generic loop
does (same order, same undecidable causes); the conformance suite and the differential tester
run through it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from flagkit._hashing import bucket_with
from flagkit._model import NO_MATCH, CompiledFlag
from flagkit._operators import FAST_PATHS
from flagkit._outcome import BROKEN, stronger
from flagkit._runtime import matched_value
from flagkit._stringify import fold_ascii

Specialized = Callable[[Mapping[str, Any], Any], Any]
Shape = tuple[tuple[tuple[str, ...], bool], ...]

_ABSENT = object()
# Compiling a shape costs about half a millisecond; flags reuse a few shapes. Bounded so
# that an unusual body cannot grow it without limit (past it, flags use the generic loop).
_MAX_SHAPES = 256
_factories: dict[Shape, Callable[..., Specialized]] = {}
_factories_lock = threading.Lock()


_HELPERS = {
    "ABSENT": _ABSENT,
    "BROKEN": BROKEN,
    "stronger": stronger,
    "fold": fold_ascii,
    "bucket": bucket_with,
}


def _kind(test: Any) -> str:
    fast = FAST_PATHS.get(test)
    if fast is None:
        return "call"
    return ("not_" if fast[3] else "") + fast[0]


def specializable(flag: CompiledFlag) -> bool:
    """Whether :func:`specialize` applies to this flag."""
    return (
        flag.plain
        and not flag.needs_frame
        and not flag.has_preamble
        and not flag.early_exit
        and all(own and not c.rollout_broken for c, own, _, _ in flag.plan)
    )


def _filter_lines(name: str, kind: str) -> list[str]:
    """Code that sets ``o`` to the outcome of filter ``name``."""
    if kind == "call":
        return [f"o = t{name}(props)"]
    expression = {
        "in": f"v.lower() in c{name}",
        "not_in": f"v.lower() not in c{name}",
        "contains": f"c{name} in fold(v)",
        "not_contains": f"c{name} not in fold(v)",
    }[kind]
    return [
        f"v = props.get(k{name}, ABSENT)",
        "if type(v) is str:",
        f"    o = {expression}",
        "else:",
        f"    o = t{name}(props)",
    ]


def _source(shape: Shape) -> tuple[str, list[str]]:
    """The factory's source for one shape, and its parameter names in order."""
    params = ["flag", "book", "hasher", "matched"]
    body: list[str] = []
    for index, (kinds, has_threshold) in enumerate(shape):
        params += [f"cond{index}", f"out{index}", f"th{index}"]
        lines: list[str] = []
        if kinds:
            lines.append("gc = None")
            for position, kind in enumerate(kinds):
                name = f"{index}_{position}"
                params += [f"t{name}", f"k{name}", f"c{name}"]
                lines += _filter_lines(name, kind)
                lines += ["if o is not True:", "    if o is False:", "        break"]
                lines += ["    if o is BROKEN:"]
                if position == 0:
                    lines += ["        return BROKEN"]
                else:
                    lines += [
                        "        if gc is None:",
                        "            return BROKEN",
                        "        inc = stronger(inc, gc)",
                        "        break",
                    ]
                lines += ["    gc = stronger(gc, o)"]
            lines += ["if gc is not None:", "    inc = stronger(inc, gc)", "    break"]
        if has_threshold:
            lines += [
                "if rh < 0.0:",
                "    rh = bucket(hasher, bucketing)",
                f"if rh > th{index}:",
                "    if fo < 0:",
                f"        fo = out{index}",
                "    break",
            ]
        lines.append(f"return matched(flag, cond{index}, bucketing)")
        # A one-pass loop: "break" leaves the condition like "continue" in the generic loop.
        body += ["while True:", *("    " + line for line in lines)]
    run = [
        "def run(props, bucketing):",
        "    inc = None",
        "    fo = -1",
        "    rh = -1.0",
        *("    " + line for line in body),
        "    if inc is not None:",
        "        return inc",
        f"    return book.get(fo if fo >= 0 else {NO_MATCH})",
    ]
    source = "\n".join(
        [f"def factory({', '.join(params)}):", *("    " + line for line in run), "    return run"]
    )
    return source, params


def _factory(shape: Shape) -> Callable[..., Specialized] | None:
    factory = _factories.get(shape)
    if factory is not None:
        return factory
    with _factories_lock:
        factory = _factories.get(shape)
        if factory is None:
            if len(_factories) >= _MAX_SHAPES:
                return None
            source, _ = _source(shape)
            space: dict[str, Any] = dict(_HELPERS)
            exec(compile(source, "<flagkit specialized flag>", "exec"), space)
            built: Callable[..., Specialized] = space["factory"]
            _factories[shape] = factory = built
    return factory


def specialize(flag: CompiledFlag) -> Specialized | None:
    """The unrolled ``(props, bucketing) -> outcome`` function, or None when not applicable.

    ``props`` must be a ``dict``; the outcome is what ``match_conditions`` returns.
    """
    if not specializable(flag):
        return None
    shape: Shape = tuple(
        (tuple(_kind(test) for test in tests), threshold is not None)
        for _, _, tests, threshold in flag.plan
    )
    factory = _factory(shape)
    if factory is None:
        return None
    args: list[Any] = [flag, flag.book, flag.hasher, matched_value]
    for condition, _, tests, threshold in flag.plan:
        args += [condition, condition.out_of_rollout_slot, threshold]
        for test in tests:
            fast = FAST_PATHS.get(test)
            args += [test, fast[1] if fast else None, fast[2] if fast else None]
    return factory(*args)
