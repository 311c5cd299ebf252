"""Scale benchmarks: what a serving Client pays over time, flagkit against posthog 7.91.1.

A deterministic, realistic mix of flags (about 40% rollouts, 30% property-targeted, 15%
multivariate, 8% cohorts, 4% group flags, 3% inactive) at 1k, 5k and 10k flags (and 50k
with ``--full``). For each size, in one process:

* ready to serve: the 200 body (bytes) to definitions being served. flagkit: one step of
  the Client's syncer up to the publish (parse, index, fingerprint; a first load is
  published before it is compiled). posthog: what its poller does with a response (parse,
  fingerprint, ``_update_flag_state``, the unresolvable-flags warning pass) on a fresh
  ``Client(personal_api_key=...)``.
* all compiled: flagkit's whole first step (the poller thread compiles every flag right
  after publishing), and what a read pays meanwhile for a flag not compiled yet.
* CPU per reload: the same, with one flag changed, on a client serving the previous body.
* memory retained per 1,000 flags (tracemalloc), once served, after one
  ``get_all_flags`` call (its values pass), and after one ``evaluate_all`` (which builds
  every result it answers).
* ``get_all_flags`` per flag, one user, everything local.

Prints a table; asserts nothing. posthog is optional (only flagkit's rows without it):

    .venv/bin/python benchmarks/scale.py            # --full adds 50k flags
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import time
import tracemalloc
import warnings
from collections.abc import Callable
from typing import Any

# The same caller and the same optional reference implementation as benchmarks/run.py.
from run import PERSON, PosthogClient, posthog

from flagkit import Client, Snapshot
from flagkit._evaluation.evaluator import Evaluator
from flagkit._sources.fetch import Fetched
from flagkit._sources.store import Store
from flagkit._sources.sync import Syncer, SyncPolicy
from flagkit._status import StatusTracker

GROUPS = {"company": "acme"}
GROUP_PROPERTIES = {"company": {"industry": "tech", "seats": 120, "tier": "gold"}}

# Values that repeat across flags, as "internal users" or country lists do in real projects.
_DOMAINS = ["@acme.com", "@example.com", "@posthog.com", "@corp.io", "@beta.dev"]
_PLANS = [["pro", "enterprise"], ["free"], ["enterprise"], ["pro"], ["team", "pro"]]
_COUNTRIES = [["US", "CA"], ["GB"], ["DE", "FR", "NL"], ["BR"], ["IN", "SG"]]
_COHORTS = 40


def _person_filter(rng: random.Random) -> dict[str, Any]:
    pick = rng.randrange(6)
    if pick == 0:
        value: Any = rng.choice(_DOMAINS) if rng.random() < 0.7 else f"@d{rng.randrange(999)}.com"
        return {"key": "email", "operator": "icontains", "value": value, "type": "person"}
    if pick == 1:
        return {"key": "plan", "operator": "exact", "value": rng.choice(_PLANS), "type": "person"}
    if pick == 2:
        countries = rng.choice(_COUNTRIES)
        return {"key": "country", "operator": "exact", "value": countries, "type": "person"}
    if pick == 3:
        value = str(rng.choice([18, 21, 30, 40, 65]))
        operator = rng.choice(["gt", "lt"])
        return {"key": "age", "operator": operator, "value": value, "type": "person"}
    if pick == 4:
        version = f"{rng.randrange(1, 4)}.{rng.randrange(10)}.0"
        return {"key": "app_version", "operator": "semver_gte", "value": version, "type": "person"}
    return {"key": "signup_source", "operator": "is_set", "value": "is_set", "type": "person"}


def _groups(rng: random.Random, filters: Callable[[], list[dict[str, Any]]]) -> list[Any]:
    return [
        {"properties": filters(), "rollout_percentage": rng.choice([10, 25, 50, 100])}
        for _ in range(rng.randint(1, 3))
    ]


def make_flag(index: int, rng: random.Random) -> dict[str, Any]:
    """One flag of the mix (its kind drawn from the shares above)."""
    roll = rng.random()
    filters: dict[str, Any]
    active = True

    def person_filters() -> list[dict[str, Any]]:
        return [_person_filter(rng) for _ in range(rng.randint(1, 3))]

    if roll < 0.40:  # rollout
        filters = {"groups": [{"properties": [], "rollout_percentage": rng.randrange(101)}]}
    elif roll < 0.70:  # property-targeted
        filters = {"groups": _groups(rng, person_filters)}
    elif roll < 0.85:  # multivariate
        count = rng.randint(2, 4)
        shares = [100 // count] * count
        shares[0] += 100 - sum(shares)
        variants = [
            {"key": name, "name": name.title(), "rollout_percentage": share}
            for name, share in zip(["control", "test", "test-b", "test-c"], shares, strict=False)
        ]
        filters = {
            "groups": _groups(rng, person_filters) if rng.random() < 0.5 else [{"properties": []}],
            "multivariate": {"variants": variants},
            "payloads": {"test": json.dumps({"color": rng.choice(["blue", "red"]), "n": index})},
        }
    elif roll < 0.93:  # cohorts
        cohort = {"key": "id", "type": "cohort", "value": rng.randrange(_COHORTS)}
        filters = {"groups": [{"properties": [cohort], "rollout_percentage": 100}]}
    elif roll < 0.97:  # group flag
        group_filter = {
            "key": "seats",
            "operator": "gt",
            "value": str(rng.choice([10, 50, 100])),
            "type": "group",
            "group_type_index": 0,
        }
        filters = {
            "aggregation_group_type_index": 0,
            "groups": [{"properties": [group_filter], "rollout_percentage": 100}],
        }
    else:  # inactive
        active = False
        filters = {"groups": [{"properties": [], "rollout_percentage": 100}]}
    return {
        "id": 10_000 + index,
        "team_id": 1,
        "name": f"Flag number {index}",
        "key": f"flag-{index}",
        "filters": filters,
        "deleted": False,
        "active": active,
        "ensure_experience_continuity": False,
        "version": 1 + index % 5,
    }


def make_body(count: int, seed: int = 12) -> dict[str, Any]:
    rng = random.Random(seed)
    cohorts = {
        str(number): {
            "type": "OR",
            "values": [{"type": "AND", "values": [_person_filter(rng) for _ in range(2)]}],
        }
        for number in range(_COHORTS)
    }
    return {
        "flags": [make_flag(index, rng) for index in range(count)],
        "group_type_mapping": {"0": "company", "1": "project"},
        "cohorts": cohorts,
    }


def changed_body(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with one flag (the middle one) changed."""
    other = json.loads(json.dumps(body))
    flag = other["flags"][len(other["flags"]) // 2]
    flag["version"] += 1
    flag["filters"]["groups"].append({"properties": [], "rollout_percentage": 7})
    return other


# -- flagkit: the Client's publish path ------------------------------------------------------


def _syncer(payloads: list[bytes]) -> Syncer:
    """A syncer whose fetches return ``payloads`` in turn (as the Client's poller runs it)."""
    turn = [0]

    def fetch(etag: str | None) -> Fetched:
        body = payloads[turn[0] % len(payloads)]
        turn[0] += 1
        return Fetched(body=body, etag=None)

    return Syncer(
        store=Store(),
        tracker=StatusTracker(time.monotonic),
        fetch=fetch,
        policy=SyncPolicy(),
        cache=None,
        clock=time.monotonic,
        rng=random.Random(0),
    )


def flagkit_ready(payload: bytes) -> Syncer:
    syncer = _syncer([payload])
    syncer.step()
    return syncer


def flagkit_first_load(payload: bytes) -> tuple[float, float]:
    """Seconds from the body to its publish, and to the end of the step (all compiled)."""
    syncer = _syncer([payload])
    served: list[float] = []
    syncer.store.add_listener(lambda _: served.append(time.perf_counter()), include_first_load=True)
    started = time.perf_counter()
    syncer.step()
    done = time.perf_counter()
    return served[0] - started, done - started


def first_read_cost(payload: bytes) -> float:
    """Seconds per flag a read pays while nothing is compiled yet (it compiles that flag)."""
    snapshot = Snapshot.from_json(payload)
    evaluator = Evaluator(snapshot)
    keys = snapshot.flag_keys
    started = time.perf_counter()
    for key in keys:
        evaluator.evaluate(key, "user-42", PERSON, GROUPS, GROUP_PROPERTIES)
    return (time.perf_counter() - started) / len(keys)


# -- posthog: what its poller does with a response -----------------------------------------


def posthog_client() -> Any:
    return PosthogClient("phc_bench", personal_api_key="phx_bench", sync_mode=True)


def posthog_install(client: Any, payload: bytes) -> None:
    data = json.loads(payload)  # its HTTP helper decodes the response
    fingerprint = client._hash_flag_definitions(data)
    client._update_flag_state(data, _fingerprint=fingerprint)
    client._warn_unresolvable_flags()


# -- measuring --------------------------------------------------------------------------------


def best(fn: Callable[[], object], rounds: int) -> float:
    """Best seconds of ``rounds`` calls (collector state as in a running app)."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def cpu_best(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.process_time()
        fn()
        times.append(time.process_time() - started)
    return min(times)


def retained(build: Callable[[], Any], then: Callable[[Any], object]) -> tuple[float, float]:
    """Bytes retained by what ``build()`` returns: once built, and after ``then(it)``."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    kept = build()
    gc.collect()
    built = tracemalloc.get_traced_memory()[0] - base
    then(kept)
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    del kept
    return built, used


def fmt_time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f} ms"
    return f"{seconds * 1e6:.2f} µs"


def measure(size: int, rounds: int, rows: list[tuple[str, str, str, str]]) -> None:
    """Append the rows of one body size."""
    body = make_body(size)
    payload = json.dumps(body).encode()
    other = json.dumps(changed_body(body)).encode()
    label = f"{size:,} flags"

    loads = [flagkit_first_load(payload) for _ in range(rounds)]
    ready = min(served for served, _ in loads)
    compiled = min(done for _, done in loads)
    window_read = min(first_read_cost(payload) for _ in range(min(rounds, 3)))
    syncer = _syncer([payload, other])
    syncer.step()
    reload = cpu_best(syncer.step, rounds)
    # What get_all_flags runs (its values pass), and evaluate_all (every result built).
    built, used = retained(
        lambda: flagkit_ready(payload).store.current,
        lambda published: published.evaluator._all_values(
            "user-42",
            person_properties=PERSON,
            groups=GROUPS,
            group_properties=GROUP_PROPERTIES,
        ),
    )
    _, used_results = retained(
        lambda: flagkit_ready(payload).store.current,
        lambda published: published.evaluator.evaluate_all(
            "user-42",
            person_properties=PERSON,
            groups=GROUPS,
            group_properties=GROUP_PROPERTIES,
        ),
    )
    client = Client(bootstrap=payload, only_evaluate_locally=True, send_events=False)

    def ours() -> object:
        return client.get_all_flags(
            "user-42",
            person_properties=PERSON,
            groups=GROUPS,
            group_properties=GROUP_PROPERTIES,
        )

    ours()
    calls = max(3, 20_000 // size)
    per_flag = best(lambda: [ours() for _ in range(calls)], rounds) / calls / size
    client.close()

    ph_ready = ph_reload = ph_flag = None
    ph_built = ph_used = None
    if posthog:

        def install_fresh() -> Any:
            ph = posthog_client()
            posthog_install(ph, payload)
            return ph

        ph_ready = best(lambda: posthog_install(posthog_client(), payload), rounds)
        ph = install_fresh()
        turn = [0]

        def ph_step() -> None:
            turn[0] += 1
            posthog_install(ph, other if turn[0] % 2 else payload)

        ph_reload = cpu_best(ph_step, rounds)

        def theirs(client: Any = ph) -> object:
            return client.get_all_flags(
                "user-42",
                person_properties=PERSON,
                groups=GROUPS,
                group_properties=GROUP_PROPERTIES,
                only_evaluate_locally=True,
            )

        theirs()
        ph_calls = max(1, 2_000 // size)
        ph_flag = best(lambda: [theirs() for _ in range(ph_calls)], 3) / ph_calls / size
        ph_built, ph_used = retained(install_fresh, theirs)

    def pair(name: str, mine: float, other_side: float | None, text: Callable[[float], str]):
        ratio = ""
        if other_side is not None:
            ratio = f"{other_side / mine:.1f}x" if mine else ""
        rows.append(
            (f"{name}, {label}", text(mine), text(other_side) if other_side else "-", ratio)
        )

    per_k = 1000 / size

    def mb(value: float) -> str:
        return f"{value * per_k / 1e6:.2f} MB"

    pair("ready to serve", ready, ph_ready, fmt_time)
    pair("first load all compiled (poller thread)", compiled, None, fmt_time)
    pair("a read of a flag not compiled yet", window_read, None, fmt_time)
    pair("CPU per reload, one flag changed", reload, ph_reload, fmt_time)
    # tracemalloc sees Python's allocator only: flagkit keeps no per-flag state elsewhere
    # (no SHA-1 state per flag, which OpenSSL would allocate: about 216 bytes each).
    pair("memory per 1,000 flags, served", built, ph_built, mb)
    pair("... after one get_all_flags", used, ph_used, mb)
    pair("... after one evaluate_all (every result)", used_results, ph_used, mb)
    pair("get_all_flags per flag", per_flag, ph_flag, fmt_time)
    print(f"{label}: done", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="also 50,000 flags")
    parser.add_argument("--sizes", type=int, nargs="*", help="flag counts (default 1k 5k 10k)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    sizes = args.sizes or ([1000, 5000, 10000, 50000] if args.full else [1000, 5000, 10000])
    warnings.simplefilter("ignore")
    print(f"python {platform.python_version()} {platform.machine()}; ", end="")
    print(f"posthog {posthog.VERSION if posthog else 'not installed'}")
    # Warm the per-shape code caches of both libraries first (so that the rows measure
    # what each body costs), and say what flagkit's keep: generated code is compiled once
    # per shape and process.
    warm = json.dumps(make_body(2000)).encode()

    def warm_up() -> None:
        evaluator = flagkit_ready(warm).store.current.evaluator
        evaluator._all_values("user-42", person_properties=PERSON, groups=GROUPS)
        evaluator.evaluate_all("user-42", person_properties=PERSON, groups=GROUPS)

    _, kept = retained(lambda: None, lambda _: warm_up())
    print(f"flagkit's generated code and process caches: {kept / 1e6:.2f} MB, once per process")
    if posthog:
        posthog_install(posthog_client(), warm)

    rows: list[tuple[str, str, str, str]] = []
    for size in sizes:
        measure(size, args.rounds if size <= 10000 else 2, rows)
    width = max(len(row[0]) for row in rows)
    print(f"\n{'scenario':<{width}}  {'flagkit':>10}  {'posthog':>10}  posthog/flagkit")
    for name, mine, theirs_text, ratio in rows:
        print(f"{name:<{width}}  {mine:>10}  {theirs_text:>10}  {ratio}")


if __name__ == "__main__":
    main()
