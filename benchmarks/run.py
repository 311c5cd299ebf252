"""Evaluation and load benchmarks: flagkit against posthog 7.91.1 on the same definitions.

Prints numbers; it asserts nothing. posthog is optional: run it from a throwaway venv
that has both packages to get the comparison (see docs/performance.md):

    python -m venv /tmp/bench && /tmp/bench/bin/pip install posthog==7.91.1 -e .
    /tmp/bench/bin/python benchmarks/run.py
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import platform
import time
import timeit
import warnings
from collections.abc import Callable
from typing import Any

from flagkit import Client, Evaluator, Snapshot

try:  # optional reference implementation
    import posthog
    from posthog.client import Client as PosthogClient
except ImportError:  # pragma: no cover - depends on the environment
    posthog = None

PERSON = {
    "email": "ada@example.com",
    "plan": "enterprise",
    "country": "GB",
    "age": 36,
    "app_version": "2.4.1",
    "signup_source": "ads",
}


def rollout_flag(key: str = "rollout-50") -> dict[str, Any]:
    return {
        "id": 1,
        "key": key,
        "active": True,
        "filters": {"groups": [{"properties": [], "rollout_percentage": 50}]},
    }


def complex_flag(key: str = "complex", index: int = 0) -> dict[str, Any]:
    """Three condition groups, six property filters, three variants."""
    return {
        "id": 100 + index,
        "key": key,
        "active": True,
        "filters": {
            "groups": [
                {
                    "properties": [
                        {
                            "key": "email",
                            "operator": "icontains",
                            "value": "@acme.com",
                            "type": "person",
                        },
                        {
                            "key": "plan",
                            "operator": "exact",
                            "value": ["pro", "enterprise"],
                            "type": "person",
                        },
                    ],
                    "rollout_percentage": 100,
                },
                {
                    "properties": [
                        {
                            "key": "country",
                            "operator": "exact",
                            "value": ["US", "CA"],
                            "type": "person",
                        },
                        {"key": "age", "operator": "gt", "value": "30", "type": "person"},
                    ],
                    "rollout_percentage": 60,
                },
                {
                    "properties": [
                        {
                            "key": "app_version",
                            "operator": "semver_gte",
                            "value": "2.0.0",
                            "type": "person",
                        },
                        {
                            "key": "signup_source",
                            "operator": "is_set",
                            "value": "is_set",
                            "type": "person",
                        },
                    ],
                    "rollout_percentage": 40,
                },
            ],
            "multivariate": {
                "variants": [
                    {"key": "control", "rollout_percentage": 34},
                    {"key": "test-a", "rollout_percentage": 33},
                    {"key": "test-b", "rollout_percentage": 33},
                ]
            },
            "payloads": {"test-a": '{"color": "blue"}'},
        },
    }


def distinct_complex_flag(index: int) -> dict[str, Any]:
    """complex_flag with values of its own, so that no filter list repeats across flags."""
    flag = complex_flag(f"distinct-{index}", index)
    first, second, third = flag["filters"]["groups"]
    first["properties"][0]["value"] = f"@acme{index}.com"
    second["properties"][1]["value"] = str(30 + index % 7 + index / 1000)
    third["properties"][0]["value"] = f"2.0.{index}"
    return flag


def body(flags: list[dict[str, Any]]) -> dict[str, Any]:
    return {"flags": flags, "group_type_mapping": {"0": "company"}, "cohorts": {}}


def per_call(fn: Callable[[], object], number: int, repeat: int = 7) -> float:
    """Best-of-``repeat`` seconds per call."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def compare(
    ours: Callable[[], object],
    theirs: Callable[[], object] | None,
    number: int,
    their_number: int,
    rounds: int = 9,
) -> tuple[float, float | None]:
    """Best seconds per call of each, timed in alternating rounds.

    The VM is shared: alternating gives both sides the same spells of noise, so the ratio
    is steadier than timing one side after the other.
    """
    best_ours = best_theirs = float("inf")
    for _ in range(rounds):
        best_ours = min(best_ours, timeit.timeit(ours, number=number) / number)
        if theirs is not None:
            best_theirs = min(
                best_theirs, timeit.timeit(theirs, number=their_number) / their_number
            )
    return best_ours, (best_theirs if theirs is not None else None)


def posthog_call(
    definitions: dict[str, Any], method: str, *args: Any, **kwargs: Any
) -> Callable[[], object] | None:
    """A call to posthog's ``method`` on a client holding ``definitions`` (None without posthog).

    Always local-only; the flag getters also skip their events (which would do network work).
    """
    if posthog is None:
        return None
    bound = getattr(posthog_client(definitions), method)
    kwargs["only_evaluate_locally"] = True
    if method != "get_all_flags":
        kwargs["send_feature_flag_events"] = False
    return lambda: bound(*args, **kwargs)


def posthog_client(definitions: dict[str, Any]) -> Any:
    client = PosthogClient("phc_bench", personal_api_key="phx_bench", sync_mode=True)
    client._update_flag_state(definitions)
    return client


def fmt(seconds: float) -> str:
    if seconds >= 1e-3:
        return f"{seconds * 1e3:9.2f} ms"
    return f"{seconds * 1e6:9.2f} us"


def row(name: str, ours: float, theirs: float | None) -> None:
    ratio = f"{theirs / ours:7.1f}x faster" if theirs else ""
    theirs_text = fmt(theirs) if theirs else "     (n/a)  "
    print(f"{name:<44} flagkit {fmt(ours)}   posthog {theirs_text}  {ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    parser.add_argument("--exposures", action="store_true", help="only the exposure reads")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    warnings.simplefilter("ignore")
    print(f"python {platform.python_version()} on {platform.machine()} ({platform.processor()})")
    print(f"posthog: {posthog.VERSION if posthog else 'not installed'}\n")
    if args.exposures:
        exposures(scale)
        return

    # 1. One 50% rollout flag, against the SHA-1 floor.
    single = body([rollout_flag()])
    ev = Evaluator(Snapshot.from_dict(single))
    ours, theirs = compare(
        lambda: ev.evaluate("rollout-50", "user-42"),
        posthog_call(single, "get_feature_flag", "rollout-50", "user-42"),
        200_000 // scale,
        20_000 // scale,
    )
    row("50% rollout flag", ours, theirs)
    ours, floor = compare(
        lambda: ev.evaluate("rollout-50", "user-42"),
        lambda: (
            int(hashlib.sha1(b"rollout-50.user-42").hexdigest()[:15], 16) / float(0xFFFFFFFFFFFFFFF)
        ),
        200_000 // scale,
        200_000 // scale,
    )
    assert floor is not None
    label = "   SHA-1 floor (hash + hex parse)"
    print(f"{label:<44} {fmt(floor)}   -> flagkit/floor {ours / floor:.2f}x")

    # 2. One flag with three groups, six filters, three variants.
    complex_body = body([complex_flag()])
    ev = Evaluator(Snapshot.from_dict(complex_body))
    ours, theirs = compare(
        lambda: ev.evaluate("complex", "user-42", person_properties=PERSON),
        posthog_call(
            complex_body, "get_feature_flag", "complex", "user-42", person_properties=PERSON
        ),
        100_000 // scale,
        10_000 // scale,
    )
    row("3 groups / 6 filters / 3 variants", ours, theirs)
    client = Client(bootstrap=complex_body, only_evaluate_locally=True, send_events=False)
    ours, theirs = compare(
        lambda: client.is_enabled("complex", "user-42", person_properties=PERSON),
        posthog_call(
            complex_body, "feature_enabled", "complex", "user-42", person_properties=PERSON
        ),
        100_000 // scale,
        10_000 // scale,
    )
    row("   same flag through Client.is_enabled", ours, theirs)
    client.close()

    # 3. evaluate_all over 200 such flags; then with no filter list repeated across flags
    # (nothing for one call to share).
    for label, flags in (
        ("evaluate_all, 200 complex flags", [complex_flag(f"complex-{i}", i) for i in range(200)]),
        (
            "   ... no filter list repeated across flags",
            [distinct_complex_flag(i) for i in range(200)],
        ),
    ):
        many = body(flags)
        ev = Evaluator(Snapshot.from_dict(many))
        ours, theirs = compare(
            lambda ev=ev: ev.evaluate_all("user-42", person_properties=PERSON),
            posthog_call(many, "get_all_flags", "user-42", person_properties=PERSON),
            500 // scale,
            50 // scale,
        )
        row(label, ours, theirs)

    # 4. Loading a 5,000-flag body.
    big = json.dumps(
        body([complex_flag(f"f-{i}", i) if i % 2 else rollout_flag(f"f-{i}") for i in range(5000)])
    ).encode()
    ours = per_call(lambda: Snapshot.from_json(big), 1, repeat=5)
    eager = per_call(lambda: Snapshot.from_json(big, compile_all=True), 1, repeat=5)
    theirs = None
    if posthog:
        ph = posthog_client(body([]))

        def install() -> None:
            ph._update_flag_state(json.loads(big))
            ph._warn_unresolvable_flags()

        theirs = per_call(install, 1, repeat=5)
    print(f"\n(5,000-flag body: {len(big) / 1e6:.1f} MB)")
    row("load 5,000 flags (Snapshot.from_json)", ours, theirs)
    row("   ... and compile every flag (compile_all)", eager, theirs)
    loaded = Snapshot.from_json(big)
    start = time.perf_counter()
    loaded.fingerprint  # noqa: B018 - measured, not used
    print(f"{'   mmh3 fingerprint (on first use)':<44} {fmt(time.perf_counter() - start)}")

    # 5. Reads with exposure events on: a new exposure each call, then an already-reported one.
    exposures(scale)


def exposures(scale: int) -> None:
    """Client.is_enabled with ``$feature_flag_called`` events, against posthog's
    ``feature_enabled`` with its flag events.

    The cost on the reading thread only: flagkit's sender stays idle (batches and interval
    too large to come due while timing, nothing reachable to send to), and posthog builds
    its events but does not queue them (``send=False``), so neither side does network work.
    """
    # "on" is rolled out to everyone (no hash to compute); "half" to 50% (a SHA-1 per read).
    everyone = {"filters": {"groups": [{"rollout_percentage": 100}]}}
    rollout = body([rollout_flag("on") | everyone, rollout_flag("half") | {"id": 2}])
    client = Client(
        "phc_bench",
        host="http://127.0.0.1:9",  # never reached: nothing comes due while timing
        bootstrap=rollout,
        only_evaluate_locally=True,
        event_queue_size=10**7,
        event_batch_size=10**7,
        event_flush_interval=3600.0,
    )
    ours_ids = (f"user-{n}" for n in itertools.count())
    theirs_ids = (f"user-{n}" for n in itertools.count())
    theirs_new: Callable[[], object] | None = None
    theirs_seen: Callable[[], object] | None = None
    theirs_seen_half: Callable[[], object] | None = None
    if posthog is not None:
        ph = PosthogClient("phc_bench", personal_api_key="phx_bench", send=False)
        ph._update_flag_state(rollout)
        ph.feature_enabled("on", "seen", only_evaluate_locally=True)

        def theirs_new() -> object:
            return ph.feature_enabled("on", next(theirs_ids), only_evaluate_locally=True)

        def theirs_seen() -> object:
            return ph.feature_enabled("on", "seen", only_evaluate_locally=True)

        def theirs_seen_half() -> object:
            return ph.feature_enabled("half", "seen", only_evaluate_locally=True)

        theirs_seen_half()

    print()
    ours, theirs = compare(
        lambda: client.is_enabled("on", next(ours_ids)), theirs_new, 20_000 // scale, 2_000 // scale
    )
    row("read with a new exposure (is_enabled)", ours, theirs)
    client.is_enabled("on", "seen")
    ours, theirs = compare(
        lambda: client.is_enabled("on", "seen"), theirs_seen, 200_000 // scale, 20_000 // scale
    )
    row("   ... an already-reported exposure", ours, theirs)
    client.is_enabled("half", "seen")
    ours, theirs = compare(
        lambda: client.is_enabled("half", "seen"),
        theirs_seen_half,
        200_000 // scale,
        20_000 // scale,
    )
    row("   ... already reported, 50% rollout", ours, theirs)
    client.close(0.1)


if __name__ == "__main__":
    main()
