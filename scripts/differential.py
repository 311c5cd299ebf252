"""Differential test: random flag definitions evaluated by posthog 7.91.1 and by flagkit.

    /tmp/refvenv/bin/python scripts/differential.py --n 20000 --seed 1

Needs posthog (the reference venv) plus flagkit's own dependencies (attrs, mmh3, google-re2,
httpx) in the same interpreter; flagkit is imported from src/ next to this script. No
network: posthog's request functions are disabled (conformance_gen/oracle.py).

Compares value (type-strict: True vs "true", False vs None) and payload for every case; also
compares flagkit's Reason with the reason derived from posthog's decision where that reason
is unambiguous. Mismatches are shrunk (flags, conditions, filters, properties removed while
the mismatch persists) and printed as minimal repros.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import signal
import sys
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from conformance_gen.oracle import OMIT, Outcome, Reference  # noqa: E402
from conformance_gen.randomgen import World  # noqa: E402

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


def shrink(body: dict[str, Any], key: str, ctx: dict[str, Any], kind: str) -> tuple[dict, dict]:
    """Greedy delta debugging: drop parts while the same kind of mismatch remains."""
    progress = True
    while progress:
        progress = False
        for b, c in _candidates(body, key, ctx):
            try:
                expected, got = run_pair(b, key, c)
            except Exception:
                continue
            if kind_of(expected, got) == kind:
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
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
