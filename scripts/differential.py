"""Differential test: random flag definitions evaluated by posthog 7.91.1 and by flagkit.

    /tmp/refvenv/bin/python scripts/differential.py --n 20000 --seed 1

Needs posthog (the reference venv) plus flagkit's own dependencies (attrs, mmh3, google-re2,
httpx) in the same interpreter; flagkit is imported from src/ next to this script. No
network: posthog's request functions are disabled (conformance_gen/oracle.py).

Compares value (type-strict: True vs "true", False vs None) and payload for every case; also
compares flagkit's Reason with the reason derived from posthog's decision where that reason
is unambiguous. Mismatches are shrunk (flags, conditions, filters, properties removed while
the mismatch persists) and printed as minimal repros.

    /tmp/refvenv/bin/python scripts/differential.py --all-flags --n 20000 --seed 1

With ``--all-flags``, each world is compared whole, as a Client's ``get_all_flags`` answers it:
posthog's ``get_all_flags(..., only_evaluate_locally=True)`` (which leaves undecided flags
out) against the decided values of flagkit's ``Evaluator._all_values`` (type-strict, key order
ignored), and ``evaluate_all``'s decided values against ``_all_values``'. A flag whose
evaluation raises inside posthog (RecursionError, KeyError...) is left out of posthog's answer,
so flagkit must leave it undecided too (single-flag mode compares it with None the same way).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import random
import signal
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from conformance_gen.oracle import OMIT, Outcome, Reference  # noqa: E402
from conformance_gen.randomgen import World  # noqa: E402
from posthog.feature_flags import InconclusiveMatchError, RequiresServerEvaluation  # noqa: E402

try:
    from flagkit import Evaluator, Snapshot
except ImportError:  # before flagkit/__init__.py exports them
    from flagkit._evaluation.evaluator import Evaluator
    from flagkit._evaluation.snapshot import Snapshot


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def run_pair(body: dict[str, Any], key: str, ctx: dict[str, Any]) -> tuple[Outcome, Any]:
    """(posthog outcome, flagkit FlagResult or the exception flagkit raised)."""
    ref = Reference(copy.deepcopy(body))
    kwargs = {k: copy.deepcopy(v) for k, v in ctx.items() if k != "distinct_id"}
    expected = ref.evaluate(key, ctx["distinct_id"], **kwargs)
    try:
        got: Any = Evaluator(Snapshot.from_dict(copy.deepcopy(body))).evaluate(
            key, ctx["distinct_id"], **copy.deepcopy(kwargs)
        )
    except Exception as exc:  # evaluation must never raise: report it as a mismatch
        got = exc
    return expected, got


def share_filter_lists(body: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A copy of ``body`` where some conditions take another condition's filter list.

    Repeated filter lists are what ``evaluate_all`` shares between flags; random worlds
    rarely repeat one by chance.
    """
    body = copy.deepcopy(body)
    lists = [
        cond["properties"]
        for flag in body.get("flags") or []
        if isinstance(flag, dict) and isinstance(flag.get("filters"), dict)
        for cond in flag["filters"].get("groups") or []
        if isinstance(cond, dict) and isinstance(cond.get("properties"), list)
    ]
    if not lists:
        return body
    filters = [item for found in lists for item in found]
    for flag in body.get("flags") or []:
        if not isinstance(flag, dict) or not isinstance(flag.get("filters"), dict):
            continue
        for cond in flag["filters"].get("groups") or []:
            if not isinstance(cond, dict) or rng.random() < 0.3:
                continue
            taken = copy.deepcopy(rng.choice(lists))
            # Sometimes a near copy, which must not share: one filter more or one less.
            if taken and rng.random() < 0.3:
                taken.pop(rng.randrange(len(taken)))
            elif filters and rng.random() < 0.3:
                taken.append(copy.deepcopy(rng.choice(filters)))
            cond["properties"] = taken
    return body


def run_all(body: dict[str, Any], ctx: dict[str, Any]) -> list[tuple[str, Outcome, Any]]:
    """Every flag of ``body``: (key, posthog outcome, flagkit's evaluate_all result)."""
    ref = Reference(copy.deepcopy(body))
    kwargs = {k: copy.deepcopy(v) for k, v in ctx.items() if k != "distinct_id"}
    keys = [f["key"] for f in body.get("flags") or [] if isinstance(f, dict)]
    keys = [k for k in dict.fromkeys(keys) if isinstance(k, str)]
    try:
        results: Any = Evaluator(Snapshot.from_dict(copy.deepcopy(body))).evaluate_all(
            ctx["distinct_id"], **copy.deepcopy(kwargs)
        )
    except Exception as exc:  # must never raise: every flag counts as a mismatch
        results = dict.fromkeys(keys, exc)
    pairs = []
    for key in keys:
        # Copied filter lists can make a dependency loop that posthog re-evaluates
        # exponentially (flagkit cuts it off): such bodies have no reference answer.
        signal.alarm(_REFERENCE_SECONDS)
        try:
            expected = ref.evaluate(key, ctx["distinct_id"], **copy.deepcopy(kwargs))
        finally:
            signal.alarm(0)
        pairs.append((key, expected, results.get(key, KeyError(key))))
    return pairs


_REFERENCE_SECONDS = 5


class _ReferenceTimeout(BaseException):
    """posthog did not finish one flag in time (not an Exception: posthog catches those)."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise _ReferenceTimeout


def classify(expected: Outcome, got: Any) -> str | None:
    """None when flagkit agrees; otherwise a short mismatch kind."""
    if isinstance(got, BaseException):
        return f"flagkit raised {type(got).__name__}"
    if not _same(got.value, expected.value):
        return "value"
    if not _same(got.payload, expected.payload):
        return "payload"
    return None


def reason_mismatch(expected: Outcome, got: Any) -> bool:
    if isinstance(got, BaseException) or expected.reason == OMIT:
        return False
    return bool(got.reason.value != expected.reason)


def kind_of(expected: Outcome, got: Any) -> str | None:
    """The mismatch kind, counting a reason-only difference as "reason"."""
    kind = classify(expected, got)
    if kind is None and reason_mismatch(expected, got):
        return "reason"
    return kind


# -- shrinking --------------------------------------------------------------------------------


def _candidates(body: dict[str, Any], key: str, ctx: dict[str, Any]) -> Any:
    """Smaller variants of (body, ctx), one deletion each."""
    flags = body["flags"]
    for i, fl in enumerate(flags):
        if fl.get("key") != key:
            b = copy.deepcopy(body)
            del b["flags"][i]
            yield b, ctx
    for cid in list(body.get("cohorts") or {}):
        b = copy.deepcopy(body)
        del b["cohorts"][cid]
        yield b, ctx
    for i, fl in enumerate(flags):
        filters = fl.get("filters") or {}
        for name in ("payloads", "holdout", "early_exit", "multivariate", "feature_enrollment"):
            if name in filters:
                b = copy.deepcopy(body)
                del b["flags"][i]["filters"][name]
                yield b, ctx
        for g, cond in enumerate(filters.get("groups") or []):
            b = copy.deepcopy(body)
            del b["flags"][i]["filters"]["groups"][g]
            yield b, ctx
            for j in range(len(cond.get("properties") or [])):
                b = copy.deepcopy(body)
                del b["flags"][i]["filters"]["groups"][g]["properties"][j]
                yield b, ctx
            for name in ("variant", "rollout_percentage", "aggregation_group_type_index"):
                if name in cond:
                    b = copy.deepcopy(body)
                    del b["flags"][i]["filters"]["groups"][g][name]
                    yield b, ctx
        for name in ("ensure_experience_continuity", "bucketing_identifier"):
            if name in fl:
                b = copy.deepcopy(body)
                del b["flags"][i][name]
                yield b, ctx
    for name in ("group_properties", "groups", "device_id"):
        if name in ctx:
            c = dict(ctx)
            del c[name]
            yield body, c
    for prop in list(ctx.get("person_properties") or {}):
        c = copy.deepcopy(ctx)
        del c["person_properties"][prop]
        yield body, c
    if "property_matching_version" in body:
        b = copy.deepcopy(body)
        del b["property_matching_version"]
        yield b, ctx


def _single_kind(body: dict[str, Any], key: str, ctx: dict[str, Any]) -> str | None:
    """The single-flag mismatch kind of ``key`` (None: flagkit agrees)."""
    expected, got = run_pair(body, key, ctx)
    return kind_of(expected, got)


KindOf = Callable[[dict[str, Any], str, dict[str, Any]], "str | None"]


def shrink(
    body: dict[str, Any],
    key: str,
    ctx: dict[str, Any],
    kind: str,
    kind_for: KindOf = _single_kind,
    seconds: float | None = None,
) -> tuple[dict, dict]:
    """Greedy delta debugging: drop parts while the same kind of mismatch remains.

    ``kind_for(body, key, ctx)`` is the mismatch kind of a candidate (by default the
    single-flag one); a candidate posthog cannot answer (an error, a timeout) is passed over.
    With ``seconds``, shrinking stops there (what is left so far is returned).
    """
    deadline = None if seconds is None else time.monotonic() + seconds
    progress = True
    while progress:
        progress = False
        for b, c in _candidates(body, key, ctx):
            if deadline is not None and time.monotonic() > deadline:
                return body, ctx
            try:
                found = kind_for(b, key, c)
            except (Exception, _ReferenceTimeout):
                continue
            if found == kind:
                body, ctx, progress = b, c, True
                break
    return body, ctx


def _show(got: Any) -> str:
    if isinstance(got, BaseException):
        return "".join(traceback.format_exception_only(type(got), got)).strip()
    return f"value={got.value!r} payload={got.payload!r} reason={got.reason.value}"


def report(
    index: int, kind: str, body: dict, key: str, ctx: dict, expected: Outcome, got: Any
) -> None:
    print(f"\n--- mismatch #{index} ({kind}) flag={key!r}")
    print("definitions:", json.dumps(body, ensure_ascii=False))
    print("context:    ", json.dumps(ctx, ensure_ascii=False, default=repr))
    print(
        f"posthog:     value={expected.value!r} payload={expected.payload!r} "
        f"reason={expected.reason}"
    )
    print(f"flagkit:     {_show(got)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="posthog 7.91.1 vs flagkit, random flags")
    parser.add_argument("--n", type=int, default=2000, help="number of random cases")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--show", type=int, default=10, help="mismatches to print (shrunk)")
    parser.add_argument("--show-reasons", type=int, default=5, help="reason-only mismatches")
    parser.add_argument("--no-shrink", action="store_true")
    parser.add_argument(
        "--all",
        action="store_true",
        help="compare evaluate_all over every flag of each body, with filter lists "
        "repeated across flags (no shrinking)",
    )
    parser.add_argument(
        "--all-flags",
        action="store_true",
        help="compare posthog's get_all_flags(only_evaluate_locally=True) with flagkit's "
        "_all_values and evaluate_all, body by body",
    )
    parser.add_argument(
        "--share",
        action="store_true",
        help="with --all-flags: give conditions other conditions' filter lists first",
    )
    args = parser.parse_args(argv)
    if args.all_flags:
        return main_all_flags(args)
    if args.all:
        return main_all(args)

    rng = random.Random(args.seed)
    start = time.time()
    kinds: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    reason_checked = reason_bad = 0
    reason_pairs: Counter[tuple[str, str]] = Counter()
    shown = 0
    first_reason_examples: list[tuple[dict, str, dict, Outcome, Any]] = []
    for _ in range(args.n):
        world = World(rng).build()
        body, key, ctx = world.body, world.key, world.context
        expected, got = run_pair(body, key, ctx)
        outcomes["undecided" if expected.value is None else "decided"] += 1
        kind = classify(expected, got)
        if kind is None:
            if expected.reason != OMIT:
                reason_checked += 1
                if reason_mismatch(expected, got):
                    reason_bad += 1
                    pair = (expected.reason, got.reason.value)
                    reason_pairs[pair] += 1
                    # one example per distinct (expected, got) pair
                    if reason_pairs[pair] == 1 and len(first_reason_examples) < args.show_reasons:
                        first_reason_examples.append((body, key, ctx, expected, got))
            continue
        kinds[kind] += 1
        if shown < args.show:
            shown += 1
            if not args.no_shrink:
                body, ctx = shrink(body, key, ctx, kind)
                expected, got = run_pair(body, key, ctx)
            report(shown, kind, body, key, ctx, expected, got)

    total = args.n
    bad = sum(kinds.values())
    print("\n=== differential summary: posthog 7.91.1 vs flagkit ===")
    print(
        f"seed {args.seed}, {total} random cases in {time.time() - start:.1f}s "
        f"({outcomes['decided']} decided, {outcomes['undecided']} undecidable by posthog)"
    )
    print(f"value+payload agreement: {total - bad}/{total} = {100.0 * (total - bad) / total:.3f}%")
    for kind, count in kinds.most_common():
        print(f"  {kind}: {count}")
    if reason_checked:
        ok = reason_checked - reason_bad
        print(
            f"reason agreement (where posthog's decision names one reason): {ok}/"
            f"{reason_checked} = {100.0 * ok / reason_checked:.3f}%"
        )
        for (want, have), count in reason_pairs.most_common(10):
            print(f"  expected {want}, flagkit {have}: {count}")
        for i, (body, key, ctx, expected, got) in enumerate(first_reason_examples, 1):
            if not args.no_shrink:
                body, ctx = shrink(body, key, ctx, "reason")
                expected, got = run_pair(body, key, ctx)
            report(i, "reason only", body, key, ctx, expected, got)
    return 0 if bad == 0 else 1


def main_all(args: argparse.Namespace) -> int:
    """--all: evaluate_all against posthog's per-flag answers, flag by flag."""
    rng = random.Random(args.seed)
    start = time.time()
    flags = bad = 0
    kinds: Counter[str] = Counter()
    signal.signal(signal.SIGALRM, _on_alarm)
    unfinished = 0
    for _ in range(args.n):
        world = World(rng).build()
        body = share_filter_lists(world.body, rng)
        try:
            compared = run_all(body, world.context)
        except _ReferenceTimeout:
            unfinished += 1
            continue
        for key, expected, got in compared:
            flags += 1
            kind = kind_of(expected, got)
            if kind is None:
                continue
            bad += 1
            kinds[kind] += 1
            if bad <= args.show:
                report(bad, kind, body, key, world.context, expected, got)
    print("\n=== differential summary (evaluate_all): posthog 7.91.1 vs flagkit ===")
    print(f"seed {args.seed}, {args.n} bodies, {flags} flags in {time.time() - start:.1f}s")
    print(f"agreement (value, payload, reason): {flags - bad}/{flags}")
    print(f"bodies skipped because posthog did not finish in {_REFERENCE_SECONDS} s: {unfinished}")
    for kind, count in kinds.most_common():
        print(f"  {kind}: {count}")
    return 0 if bad == 0 else 1


# -- get_all_flags ----------------------------------------------------------------------------

_ABSENT = object()  # a key missing from one side's answer


class AllFlags:
    """One body and context through both SDKs' all-flags paths, and where they differ."""

    __slots__ = ("errors", "kinds", "posthog", "results", "undecided", "values")

    def __init__(
        self,
        posthog: Any,
        errors: dict[str, str],
        values: Any,
        undecided: Any,
        results: Any,
    ) -> None:
        self.posthog = posthog  # get_all_flags' answer
        self.errors = errors  # flag key -> exception posthog raised (and left the flag out)
        self.values = values  # _all_values' values, or the exception it raised
        self.undecided = undecided  # _all_values' undecided results (None when it raised)
        self.results = results  # evaluate_all's results, or the exception it raised
        self.kinds: dict[str, str] = _all_flags_kinds(self)


def _context_kwargs(ctx: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in ctx.items() if k != "distinct_id"}


def reference_all_flags(body: dict[str, Any], ctx: dict[str, Any]) -> tuple[Any, dict[str, str]]:
    """posthog's ``get_all_flags(..., only_evaluate_locally=True)`` for ``body`` and ``ctx``,
    and the flags whose evaluation raised a bug-class error inside posthog (key -> type).

    Raises :class:`_ReferenceTimeout` when posthog does not finish in time (a dependency loop
    reached through several conditions is exponential in posthog).
    """
    ref = Reference(copy.deepcopy(body))
    client = ref.client
    errors: dict[str, str] = {}
    compute = client._compute_flag_locally  # posthog's per-flag step (called once per flag)

    def recording(flag: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return compute(flag, *args, **kwargs)
        except (InconclusiveMatchError, RequiresServerEvaluation):
            raise
        except Exception as exc:
            errors[str(flag.get("key") if isinstance(flag, dict) else flag)] = type(exc).__name__
            raise

    client._compute_flag_locally = recording  # type: ignore[method-assign]
    kwargs = _context_kwargs(ctx)
    signal.alarm(_REFERENCE_SECONDS)
    try:
        # Arguments as Reference.evaluate passes them to get_feature_flag_result.
        answer = client.get_all_flags(
            ctx["distinct_id"],
            person_properties=dict(kwargs.get("person_properties") or {}),
            groups=dict(kwargs.get("groups") or {}),
            group_properties={
                k: dict(v) for k, v in (kwargs.get("group_properties") or {}).items()
            },
            only_evaluate_locally=True,
            device_id=kwargs.get("device_id"),
        )
    finally:
        signal.alarm(0)
    return answer, errors


@contextlib.contextmanager
def _regex_bounds_lifted() -> Iterator[None]:
    """flagkit's regex cost bounds (docs/evaluation.md, "Limits": program size and search
    budget) lifted, to tell their documented differences from real ones."""
    from flagkit._evaluation import regex

    saved = regex._MAX_PROGRAM_SIZE, regex._SEARCH_BUDGET
    regex._MAX_PROGRAM_SIZE = regex._SEARCH_BUDGET = sys.maxsize
    regex.compile_regex.cache_clear()  # compiled programs hold the bounds they were built with
    try:
        yield
    finally:
        regex._MAX_PROGRAM_SIZE, regex._SEARCH_BUDGET = saved
        regex.compile_regex.cache_clear()


def flagkit_all_flags(
    body: dict[str, Any], ctx: dict[str, Any], *, lifted: bool = False
) -> tuple[Any, Any, Any]:
    """flagkit's ``_all_values`` (values, undecided) and ``evaluate_all`` results, from one
    evaluator as a Client holds it; an exception flagkit raises stands for its answer.
    ``lifted``: with the regex cost bounds lifted."""
    if lifted:
        with _regex_bounds_lifted():
            return flagkit_all_flags(body, ctx)
    late = TimeoutError(f"flagkit did not finish in {_FLAGKIT_SECONDS} s")
    undecided: Any = None
    signal.alarm(_FLAGKIT_SECONDS)  # flagkit must never hang: a timeout is a mismatch
    try:
        try:
            evaluator = Evaluator(Snapshot.from_dict(copy.deepcopy(body)))
        except Exception as exc:  # a malformed flag must never fail the load
            return exc, None, exc
        try:
            values, undecided = evaluator._all_values(ctx["distinct_id"], **_context_kwargs(ctx))
        except Exception as exc:  # must never raise
            values = exc
        try:
            results: Any = evaluator.evaluate_all(ctx["distinct_id"], **_context_kwargs(ctx))
        except Exception as exc:
            results = exc
    except _ReferenceTimeout:
        values = results = late
    finally:
        signal.alarm(0)
    return values, undecided, results


_FLAGKIT_SECONDS = 20
_SHRINK_SECONDS = 120


def run_all_flags(body: dict[str, Any], ctx: dict[str, Any]) -> AllFlags:
    """Both SDKs' all-flags answers; posthog's exceptions (and timeouts) propagate."""
    answer, errors = reference_all_flags(body, ctx)
    return AllFlags(answer, errors, *flagkit_all_flags(body, ctx))


def _decided(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _desc(value: Any) -> str:
    return "omitted" if value is _ABSENT else type(value).__name__


def _all_flags_kinds(run: AllFlags) -> dict[str, str]:
    """flag key -> mismatch kind ("*" for the whole body), for every key that differs."""
    if isinstance(run.values, BaseException):
        return {"*": f"_all_values raised {type(run.values).__name__}"}
    if isinstance(run.results, BaseException):
        return {"*": f"evaluate_all raised {type(run.results).__name__}"}
    if not isinstance(run.posthog, dict):
        return {"*": f"get_all_flags answered {type(run.posthog).__name__}"}
    kinds: dict[str, str] = {}
    mine = _decided(run.values)

    def reason(key: str) -> str:
        result = run.results.get(key)
        return result.reason.value if result is not None else "no evaluate_all result"

    for key in dict.fromkeys([*run.posthog, *mine]):
        want, have = run.posthog.get(key, _ABSENT), mine.get(key, _ABSENT)
        if _same(want, have):
            continue
        theirs = _desc(want) + (f" ({run.errors[key]})" if key in run.errors else "")
        ours = _desc(have) + (f" ({reason(key)})" if have is _ABSENT else "")
        kinds[key] = f"get_all_flags: posthog {theirs}, _all_values {ours}"
    others = _decided({k: r.value for k, r in run.results.items()})
    for key in dict.fromkeys([*others, *mine]):
        want, have = mine.get(key, _ABSENT), others.get(key, _ABSENT)
        if key not in kinds and not _same(want, have):
            kinds[key] = f"evaluate_all {_desc(have)} vs _all_values {_desc(want)}"
    # _all_values' own contract: every flag's key, and the undecided ones' results.
    if run.values.keys() != run.results.keys():
        kinds.setdefault("*", "_all_values keys differ from evaluate_all's")
    nones = {k for k, v in run.values.items() if v is None}
    undecided = run.undecided if isinstance(run.undecided, dict) else {}
    if (
        not isinstance(run.undecided, dict)
        or set(undecided) != nones
        or any(getattr(r, "value", True) is not None for r in undecided.values())
    ):
        kinds.setdefault("*", "_all_values' undecided results differ from its None values")
    return kinds


KNOWN = "known (regex cost bounds, docs/evaluation.md Limits): "


def classify_all_flags(run: AllFlags, body: dict[str, Any], ctx: dict[str, Any]) -> dict[str, str]:
    """``run.kinds``, with the documented differences marked :data:`KNOWN`: a flag posthog
    decides and flagkit leaves undecided, on which flagkit agrees once its regex cost bounds
    are lifted (single-flag mode has no such filter: its worlds rarely reach the bounds)."""
    kinds = dict(run.kinds)
    if not isinstance(run.values, dict) or not isinstance(run.posthog, dict):
        return kinds
    suspects = [k for k in kinds if k in run.posthog and run.values.get(k, _ABSENT) is None]
    if suspects:
        lifted = AllFlags(run.posthog, run.errors, *flagkit_all_flags(body, ctx, lifted=True))
        for key in suspects:
            if key not in lifted.kinds:
                kinds[key] = KNOWN + kinds[key]
    return kinds


def _all_flags_kind(body: dict[str, Any], key: str, ctx: dict[str, Any]) -> str | None:
    return classify_all_flags(run_all_flags(body, ctx), body, ctx).get(key)


def _show_values(values: Any) -> str:
    if isinstance(values, BaseException):
        return _show(values)
    return json.dumps(values, ensure_ascii=False, default=repr)


def report_all_flags(index: int, kind: str, body: dict, key: str, ctx: dict, run: AllFlags) -> None:
    print(f"\n--- mismatch #{index} ({kind}) flag={key!r}")
    print("definitions:         ", json.dumps(body, ensure_ascii=False))
    print("context:             ", json.dumps(ctx, ensure_ascii=False, default=repr))
    print("posthog get_all_flags:", _show_values(run.posthog))
    if run.errors:
        print("  posthog raised on: ", json.dumps(run.errors))
    print("flagkit _all_values: ", _show_values(run.values))
    if isinstance(run.results, BaseException):
        print("flagkit evaluate_all:", _show(run.results))
    else:
        shown = {k: [r.value, r.reason.value] for k, r in run.results.items()}
        print("flagkit evaluate_all:", json.dumps(shown, ensure_ascii=False, default=repr))
    if key != "*":
        try:
            expected, got = run_pair(body, key, ctx)
        except (Exception, _ReferenceTimeout) as exc:
            print(f"single flag {key!r}:   posthog failed: {exc!r}")
        else:
            print(
                f"single flag {key!r}:   posthog value={expected.value!r} "
                f"reason={expected.reason}; flagkit {_show(got)}"
            )


def main_all_flags(args: argparse.Namespace) -> int:
    """--all-flags: get_all_flags (posthog) against _all_values and evaluate_all (flagkit)."""
    rng = random.Random(args.seed)
    start = time.time()
    signal.signal(signal.SIGALRM, _on_alarm)
    bodies = flags = decided = bad_bodies = 0
    kinds: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    posthog_errors: Counter[str] = Counter()
    examples: dict[str, tuple[dict, str, dict]] = {}
    for _ in range(args.n):
        world = World(rng).build()
        body, ctx = world.body, world.context
        if args.share:
            body = share_filter_lists(body, rng)
        try:
            answer, errors = reference_all_flags(body, ctx)
        except _ReferenceTimeout:
            skipped[f"posthog did not finish in {_REFERENCE_SECONDS} s"] += 1
            continue
        except Exception as exc:  # get_all_flags itself raised: no reference answer
            skipped[f"posthog get_all_flags raised {type(exc).__name__}"] += 1
            continue
        run = AllFlags(answer, errors, *flagkit_all_flags(body, ctx))
        found = classify_all_flags(run, body, ctx)
        bodies += 1
        if isinstance(run.values, dict):
            flags += len(run.values)
        if isinstance(run.posthog, dict):
            decided += len(run.posthog)
        posthog_errors.update(run.errors.values())
        if any(not kind.startswith(KNOWN) for kind in found.values()):
            bad_bodies += 1
        for key, kind in found.items():
            kinds[kind] += 1
            if kind not in examples and len(examples) < args.show:
                examples[kind] = (body, key, ctx)
    elapsed = time.time() - start
    # One example per kind of mismatch, shrunk while that kind remains.
    for index, (kind, (body, key, ctx)) in enumerate(examples.items(), 1):
        if not args.no_shrink:
            body, ctx = shrink(body, key, ctx, kind, _all_flags_kind, _SHRINK_SECONDS)
        run = run_all_flags(body, ctx)
        report_all_flags(index, kind, body, key, ctx, run)
    print("\n=== differential summary (get_all_flags): posthog 7.91.1 vs flagkit ===")
    print(
        f"seed {args.seed}{' (shared filter lists)' if args.share else ''}, {args.n} bodies "
        f"in {elapsed:.1f}s: {bodies} compared, {flags} flags "
        f"({decided} decided by posthog, {flags - decided} left out)"
    )
    print(f"bodies in agreement (known differences aside): {bodies - bad_bodies}/{bodies}")
    for why, count in skipped.most_common():
        print(f"bodies skipped, {why}: {count}")
    for name, count in posthog_errors.most_common():
        print(f"flags posthog left out after raising {name}: {count}")
    for kind, count in kinds.most_common():
        print(f"  {kind}: {count}")
    return 0 if all(kind.startswith(KNOWN) for kind in kinds) else 1


if __name__ == "__main__":
    sys.exit(main())
