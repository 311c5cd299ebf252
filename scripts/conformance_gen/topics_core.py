"""Case designs: bucketing/rollout, variants, condition order/early exit, flag state, payloads."""

from __future__ import annotations

import math

from .build import ABSENT, Case, Topic, cond, find_ids, flag, hash01, p, variants
from .oracle import OMIT


def _exact_threshold(key: str) -> tuple[str, float]:
    """An id and a rollout percentage with pct/100 == hash01 exactly (inclusive edge)."""
    for i in range(100_000):
        ident = f"edge_{i}"
        h = hash01(key, ident)
        pct = h * 100
        if pct / 100 == h and 1 < pct < 99:
            return ident, pct
    raise RuntimeError("no exact threshold id")


def rollout() -> Topic:
    flags = [
        flag("rollout-30", [cond([], 30)]),
        flag("rollout-0", [cond([], 0)]),
        flag("rollout-100", [cond([], 100)]),
        flag("rollout-null", [cond([], None)]),
        flag("rollout-absent", [cond([])]),
        flag("rollout-fraction", [cond([], 33.3333)]),
        flag("rollout-tiny", [cond([], 0.001)]),
        flag("rollout-negative", [cond([], -5)]),
        flag("rollout-over-100", [cond([], 150)]),
        flag("rollout-props-30", [cond([p("plan", "pro")], 30)]),
        flag("rollout-props-null", [cond([p("plan", "pro")], None)]),
        flag("groups-empty-list", []),
        flag("groups-null", None),
        flag("groups-absent"),
        flag("empty-group", [{}]),
        flag("properties-null", [{"properties": None, "rollout_percentage": 100}]),
    ]
    edge_id, edge_pct = _exact_threshold("rollout-edge")
    below_id, below_pct = _exact_threshold("rollout-edge-below")
    below_hash = hash01("rollout-edge-below", below_id)
    while below_pct / 100 >= below_hash:
        below_pct = math.nextafter(below_pct, -math.inf)
    flags += [
        flag("rollout-edge", [cond([], edge_pct)]),
        flag("rollout-edge-below", [cond([], below_pct)]),
    ]
    cases: list[Case] = [
        Case("exact threshold hash == pct/100 is inside", "rollout-edge", edge_id, want=True),
        Case(
            "threshold just below the hash is outside", "rollout-edge-below", below_id, want=False
        ),
    ]

    def band(key: str, lo: float, hi: float, n: int, prefix: str) -> list[str]:
        return find_ids(lambda i: lo <= hash01(key, i) <= hi, n, prefix)

    for ident in band("rollout-30", 0.0, 0.29, 6, "in_"):
        cases.append(Case(f"30% inside {ident}", "rollout-30", ident, want=True))
    for ident in band("rollout-30", 0.31, 1.0, 6, "out_"):
        cases.append(Case(f"30% outside {ident}", "rollout-30", ident, want=False))
    for ident in band("rollout-30", 0.299, 0.3, 4, "near_"):
        cases.append(Case(f"30% just below edge {ident}", "rollout-30", ident, want=True))
    for ident in band("rollout-30", 0.3, 0.301, 4, "near_"):
        cases.append(Case(f"30% just above edge {ident}", "rollout-30", ident, want=False))
    for ident in band("rollout-fraction", 0.33330, 0.333333, 3, "frac_"):
        cases.append(Case(f"33.3333% inside {ident}", "rollout-fraction", ident, want=True))
    for ident in band("rollout-fraction", 0.333334, 0.33337, 3, "frac_"):
        cases.append(Case(f"33.3333% outside {ident}", "rollout-fraction", ident, want=False))
    for ident in band("rollout-tiny", 0.0, 0.00001, 2, "tiny_"):
        cases.append(Case(f"0.001% inside {ident}", "rollout-tiny", ident, want=True))
    cases.append(Case("0.001% outside", "rollout-tiny", "user-1", want=False))
    for key, want in (
        ("rollout-0", False),
        ("rollout-100", True),
        ("rollout-null", True),
        ("rollout-absent", True),
        ("rollout-negative", False),
        ("rollout-over-100", True),
        ("groups-empty-list", False),
        ("groups-null", False),
        ("groups-absent", False),
        ("empty-group", True),
        ("properties-null", True),
    ):
        for ident in ("user-1", "user-2", "zz-99"):
            cases.append(Case(f"{key} {ident}", key, ident, want=want))
    odd_ids = [
        ("empty distinct id", ""),
        ("unicode distinct id", "ünïcødé"),
        ("emoji distinct id", "🦔-hedgehog"),
        ("distinct id with spaces and dots", "a b.c d"),
        ("long distinct id", "x" * 300),
        ("integer distinct id", 123),
        ("integer distinct id zero", 0),
        ("uuid-like distinct id", "0190f4c2-8c1e-7a55-b1b4-6a3c1f0e9d21"),
    ]
    for name, ident in odd_ids:
        cases.append(Case(f"30% {name}", "rollout-30", ident))
        cases.append(Case(f"33.3333% {name}", "rollout-fraction", ident))
    in_ids = band("rollout-props-30", 0.0, 0.29, 2, "pin_")
    out_ids = band("rollout-props-30", 0.31, 1.0, 2, "pout_")
    for ident in in_ids:
        cases.append(
            Case(f"filters match, in rollout {ident}", "rollout-props-30", ident, {"plan": "pro"})
        )
    for ident in out_ids:
        cases.append(
            Case(
                f"filters match, out of rollout {ident}", "rollout-props-30", ident, {"plan": "pro"}
            )
        )
        cases.append(
            Case(f"filters fail, out of rollout {ident}", "rollout-props-30", ident, {"plan": "x"})
        )
    cases.append(Case("filters match, no rollout", "rollout-props-null", "u", {"plan": "PRO"}))
    cases.append(Case("filters fail, no rollout", "rollout-props-null", "u", {"plan": "free"}))
    cases.append(Case("filters missing property", "rollout-props-null", "u", {}))
    return Topic("rollout", "SHA-1 bucketing, rollout boundaries and percentages.", flags, cases)


def _accumulation_flag() -> tuple[dict, str]:
    """Variant table where float accumulation (lo + p/100) differs from summing percents.

    Finds an id whose variant hash h sits between float(0.1 + p2/100) and float((10+p2)/100):
    by accumulation it lands in variant "b", by a percent-sum table it would land in "c".
    """
    key = "mv-accumulation"
    for i in range(200_000):
        ident = f"acc_{i}"
        h = hash01(key, ident, "variant")
        if not 0.2 < h < 0.9:
            continue
        base = (h - 0.1) * 100
        for step in range(-40, 41):
            p2 = base
            for _ in range(abs(step)):
                p2 = math.nextafter(p2, math.inf if step > 0 else -math.inf)
            acc = 0.1 + p2 / 100
            summed = (10 + p2) / 100
            if summed <= h < acc:
                body = flag(
                    key,
                    [cond([], 100)],
                    multivariate=variants(("a", 10), ("b", p2), ("c", 90 - p2)),
                )
                return body, ident
    raise RuntimeError("no accumulation witness")


def variant_cases() -> Topic:
    mv5 = variants(("first", 50), ("second", 20), ("third", 20), ("fourth", 5), ("fifth", 5))
    acc_flag, acc_id = _accumulation_flag()
    flags = [
        flag("mv-5", [cond([], 100)], multivariate=mv5),
        flag("mv-5-rollout-55", [cond([], 55)], multivariate=mv5),
        flag("mv-under-100", [cond([], 100)], multivariate=variants(("a", 30), ("b", 30))),
        flag("mv-override", [cond([], 100, "second")], multivariate=mv5),
        flag("mv-override-invalid", [cond([], 100, "nope")], multivariate=mv5),
        flag("mv-override-case", [cond([], 100, "Second")], multivariate=mv5),
        flag("mv-override-empty", [cond([], 100, "")], multivariate=mv5),
        flag("mv-override-null", [cond([], 100, None)], multivariate=mv5),
        flag("mv-override-no-variants", [cond([], 100, "second")]),
        flag(
            "mv-override-props",
            [cond([p("plan", "pro")], None, "fifth"), cond([], 100)],
            multivariate=mv5,
        ),
        flag("mv-override-out-of-rollout", [cond([], 0, "second")], multivariate=mv5),
        flag("mv-variants-null", [cond([], 100)], multivariate={"variants": None}),
        flag("mv-multivariate-null", [cond([], 100)], multivariate=None),
        flag("mv-variants-empty", [cond([], 100)], multivariate={"variants": []}),
        flag("mv-zero-first", [cond([], 100)], multivariate=variants(("zero", 0), ("all", 100))),
        flag("mv-single", [cond([], 100)], multivariate=variants(("only", 100))),
        flag(
            "mv-fractional",
            [cond([], 100)],
            multivariate=variants(("x", 33.33), ("y", 33.33), ("z", 33.34)),
        ),
        flag(
            "mv-missing-percentage",
            [cond([], 100)],
            multivariate={"variants": [{"key": "a"}, {"key": "b", "rollout_percentage": 50}]},
        ),
        flag("mv-over-100", [cond([], 100)], multivariate=variants(("a", 80), ("b", 80))),
        acc_flag,
    ]
    cases: list[Case] = [
        Case("float accumulation boundary lands in b", "mv-accumulation", acc_id, want="b")
    ]

    def vband(key: str, lo: float, hi: float, n: int, prefix: str) -> list[str]:
        return find_ids(lambda i: lo <= hash01(key, i, "variant") < hi, n, prefix)

    bounds = [
        (0.0, 0.001),
        (0.25, 0.26),
        (0.499, 0.5),
        (0.5, 0.501),
        (0.699, 0.7),
        (0.7, 0.701),
        (0.8995, 0.8999999),
        (0.9, 0.9005),
        (0.949, 0.95),
        (0.95, 0.951),
        (0.999, 1.0),
    ]
    for lo, hi in bounds:
        for ident in vband("mv-5", lo, hi, 2, "v_"):
            cases.append(Case(f"50/20/20/5/5 hash in [{lo}, {hi}) {ident}", "mv-5", ident))
    for ident in find_ids(lambda i: hash01("mv-5-rollout-55", i) <= 0.55, 4, "r_"):
        cases.append(Case(f"rollout 55 inside then variant {ident}", "mv-5-rollout-55", ident))
    for ident in find_ids(lambda i: hash01("mv-5-rollout-55", i) > 0.55, 3, "r_"):
        cases.append(Case(f"rollout 55 outside {ident}", "mv-5-rollout-55", ident, want=False))
    for ident in vband("mv-under-100", 0.0, 0.6, 3, "u_"):
        cases.append(Case(f"variants sum 60, inside table {ident}", "mv-under-100", ident))
    for ident in vband("mv-under-100", 0.6, 1.0, 3, "u_"):
        cases.append(Case(f"variants sum 60, past table {ident}", "mv-under-100", ident, want=True))
    for key in (
        "mv-override",
        "mv-override-invalid",
        "mv-override-case",
        "mv-override-empty",
        "mv-override-null",
        "mv-override-no-variants",
        "mv-variants-null",
        "mv-multivariate-null",
        "mv-variants-empty",
        "mv-zero-first",
        "mv-single",
        "mv-fractional",
        "mv-over-100",
    ):
        for ident in ("user-1", "user-7", "abc"):
            cases.append(Case(f"{key} {ident}", key, ident))
    cases.append(
        Case("override wins for matching group", "mv-override-props", "u", {"plan": "pro"})
    )
    cases.append(Case("override group fails, next group hashes", "mv-override-props", "u", {}))
    cases.append(
        Case("override group out of rollout", "mv-override-out-of-rollout", "u", want=False)
    )
    cases.append(
        Case("variant without rollout_percentage errors", "mv-missing-percentage", "u", want=None)
    )
    for ident in vband("mv-fractional", 0.3332, 0.3333, 1, "f_") + vband(
        "mv-fractional", 0.3333, 0.3334, 1, "f_"
    ):
        cases.append(Case(f"fractional variant edge {ident}", "mv-fractional", ident))
    return Topic("variants", "Variant tables, boundaries, overrides and sums.", flags, cases)


def conditions() -> Topic:
    pro = p("plan", "pro")
    flags = [
        flag(
            "order-override-first",
            [cond([pro], 100, "b"), cond([], 100, "c")],
            multivariate=variants(("a", 100), ("b", 0), ("c", 0)),
        ),
        flag(
            "order-generic-first",
            [cond([], 100, "c"), cond([pro], 100, "b")],
            multivariate=variants(("a", 100), ("b", 0), ("c", 0)),
        ),
        flag(
            "order-no-override-first",
            [cond([pro], 100), cond([p("plan", "free")], 100, "c")],
            multivariate=variants(("a", 100), ("b", 0), ("c", 0)),
        ),
        flag("second-group-matches", [cond([p("plan", "enterprise")]), cond([pro])]),
        flag("inc-then-match", [cond([p("missing_prop", "x")]), cond([], 100)]),
        flag("inc-then-nomatch", [cond([p("missing_prop", "x")]), cond([pro])]),
        flag("inc-then-out-of-rollout", [cond([p("missing_prop", "x")]), cond([], 0)]),
        flag(
            "early-exit",
            [cond([pro], 0), cond([], 100)],
            early_exit=True,
        ),
        flag("no-early-exit", [cond([pro], 0), cond([], 100)]),
        flag("early-exit-false", [cond([pro], 0), cond([], 100)], early_exit=False),
        flag("early-exit-no-props", [cond([], 0), cond([], 100)], early_exit=True),
        flag(
            "early-exit-after-inc",
            [cond([p("missing_prop", "x")]), cond([pro], 0), cond([], 100)],
            early_exit=True,
        ),
        flag(
            "early-exit-inc-after",
            [cond([pro], 0), cond([p("missing_prop", "x")])],
            early_exit=True,
        ),
        flag("early-exit-truthy-1", [cond([], 0), cond([], 100)], early_exit=1),
        flag("missing-then-false", [cond([p("missing_prop", "x"), p("plan", "nope")])]),
        flag("false-then-missing", [cond([p("plan", "nope"), p("missing_prop", "x")])]),
        flag("missing-then-true", [cond([p("missing_prop", "x"), pro])]),
        flag("all-true", [cond([pro, p("country", "US")])]),
        flag("distinct-id-property", [cond([p("distinct_id", "vip-user")])]),
        flag("distinct-id-icontains", [cond([p("distinct_id", "vip", "icontains")])]),
        flag("negation-ignored", [cond([p("plan", "pro", negation=True)])]),
        flag("type-missing", [cond([p("plan", "pro", type=ABSENT)])]),
        flag("type-event", [cond([p("plan", "pro", type="event")])]),
        flag("operator-null", [cond([p("plan", "pro", None)])]),
        flag("operator-empty", [cond([p("plan", "pro", "")])]),
        flag("operator-absent", [cond([p("plan", "pro")])]),
        flag(
            "three-groups-last",
            [cond([p("plan", "a")]), cond([p("plan", "b")]), cond([p("plan", "c")])],
        ),
        flag(
            "rollout-miss-then-nomatch",
            [cond([pro], 0), cond([p("country", "FR")])],
        ),
        flag("nomatch-then-rollout-miss", [cond([p("country", "FR")]), cond([pro], 0)]),
    ]
    cases = [
        Case("override group listed first matches", "order-override-first", "u", {"plan": "pro"}),
        Case("override group listed first fails", "order-override-first", "u", {"plan": "x"}),
        Case(
            "generic group first wins over later override",
            "order-generic-first",
            "u",
            {"plan": "pro"},
            want="c",
        ),
        Case("no-override group first hashes", "order-no-override-first", "u", {"plan": "pro"}),
        Case("second group override", "order-no-override-first", "u", {"plan": "free"}, want="c"),
        Case("second group matches", "second-group-matches", "u", {"plan": "pro"}, want=True),
        Case("neither group matches", "second-group-matches", "u", {"plan": "x"}, want=False),
        Case("inconclusive then match", "inc-then-match", "u", {}, want=True),
        Case("inconclusive then no match", "inc-then-nomatch", "u", {"plan": "x"}, want=None),
        Case("inconclusive then out of rollout", "inc-then-out-of-rollout", "u", {}, want=None),
        Case("early exit on rollout miss", "early-exit", "u", {"plan": "pro"}, want=False),
        Case("early exit skipped when filters fail", "early-exit", "u", {"plan": "x"}, want=True),
        Case("no early exit continues", "no-early-exit", "u", {"plan": "pro"}, want=True),
        Case("early_exit false continues", "early-exit-false", "u", {"plan": "pro"}, want=True),
        Case("early exit without properties", "early-exit-no-props", "u", want=False),
        Case("early exit truthy 1", "early-exit-truthy-1", "u", want=False),
        Case(
            "early exit after inconclusive is inconclusive",
            "early-exit-after-inc",
            "u",
            {"plan": "pro"},
            want=None,
        ),
        Case(
            "inconclusive, filters fail, then match",
            "early-exit-after-inc",
            "u",
            {"plan": "x"},
            want=True,
        ),
        Case(
            "early exit before an inconclusive group",
            "early-exit-inc-after",
            "u",
            {"plan": "pro"},
            want=False,
        ),
        Case(
            "missing then definitely false is no match",
            "missing-then-false",
            "u",
            {"plan": "pro"},
            want=False,
        ),
        Case(
            "false then missing is no match", "false-then-missing", "u", {"plan": "pro"}, want=False
        ),
        Case(
            "missing then true is inconclusive",
            "missing-then-true",
            "u",
            {"plan": "pro"},
            want=None,
        ),
        Case("all filters true", "all-true", "u", {"plan": "pro", "country": "us"}, want=True),
        Case("one filter false", "all-true", "u", {"plan": "pro", "country": "FR"}, want=False),
        Case("distinct_id injected", "distinct-id-property", "vip-user", {}, want=True),
        Case("distinct_id injected no match", "distinct-id-property", "other", {}, want=False),
        Case("distinct_id injected without person properties", "distinct-id-property", "VIP-USER"),
        Case(
            "caller distinct_id property wins",
            "distinct-id-property",
            "vip-user",
            {"distinct_id": "someone"},
            want=False,
        ),
        Case(
            "caller distinct_id property wins (match)",
            "distinct-id-property",
            "x",
            {"distinct_id": "vip-user"},
            want=True,
        ),
        Case("distinct_id icontains", "distinct-id-icontains", "the-VIP-one"),
        Case("integer distinct id injected", "distinct-id-icontains", 12345),
        Case(
            "negation ignored on person filter", "negation-ignored", "u", {"plan": "pro"}, want=True
        ),
        Case("negation ignored (no match)", "negation-ignored", "u", {"plan": "x"}, want=False),
        Case("type missing treated as property", "type-missing", "u", {"plan": "pro"}, want=True),
        Case("type event treated as property", "type-event", "u", {"plan": "pro"}, want=True),
        Case("operator null is exact", "operator-null", "u", {"plan": "PRO"}, want=True),
        Case("operator empty is exact", "operator-empty", "u", {"plan": "pro"}, want=True),
        Case("operator absent is exact", "operator-absent", "u", {"plan": "free"}, want=False),
        Case("third group matches", "three-groups-last", "u", {"plan": "c"}, want=True),
        Case("no group matches", "three-groups-last", "u", {"plan": "d"}, want=False),
        Case(
            "rollout miss then no match",
            "rollout-miss-then-nomatch",
            "u",
            {"plan": "pro", "country": "US"},
            want=False,
            want_reason=OMIT,
        ),
        Case(
            "no match then rollout miss",
            "nomatch-then-rollout-miss",
            "u",
            {"plan": "pro", "country": "US"},
            want=False,
            want_reason="out_of_rollout",
        ),
    ]
    return Topic(
        "conditions", "Condition order, early exit, filter combination, distinct_id.", flags, cases
    )


def flag_state() -> Topic:
    flags = [
        flag("inactive", [cond([], 100)], active=False),
        flag("active-absent", [cond([], 100)], active=ABSENT),
        flag("active-null", [cond([], 100)], active=None),
        flag("active-zero", [cond([], 100)], active=0),
        flag("active-one", [cond([], 100)], active=1),
        flag("active-string", [cond([], 100)], active="yes"),
        flag("continuity", [cond([], 100)], top={"ensure_experience_continuity": True}),
        flag("continuity-false", [cond([], 100)], top={"ensure_experience_continuity": False}),
        flag(
            "continuity-inactive",
            [cond([], 100)],
            active=False,
            top={"ensure_experience_continuity": True},
        ),
        flag("deleted-still-evaluated", [cond([], 100)], top={"deleted": True}),
        flag("Case-Sensitive", [cond([], 100)]),
        flag("filters-null", ABSENT),
        flag("rollout-string", [cond([], "30")]),
        flag(
            "inactive-with-payload",
            [cond([], 100)],
            active=False,
            payloads={"false": '{"off": true}'},
        ),
        flag("evaluation-runtime-client", [cond([], 100)], top={"evaluation_runtime": "client"}),
    ]
    flags[11]["filters"] = None
    cases = [
        Case("inactive flag", "inactive", want=False),
        Case("active missing", "active-absent", want=False),
        Case("active null", "active-null", want=False),
        Case("active 0", "active-zero", want=False),
        Case("active 1 is truthy", "active-one", want=True),
        Case("active non-empty string is truthy", "active-string", want=True),
        Case("experience continuity", "continuity", want=None),
        Case("experience continuity false", "continuity-false", want=True),
        Case("inactive beats experience continuity", "continuity-inactive", want=False),
        Case("deleted flag still evaluated", "deleted-still-evaluated", want=True),
        Case("unknown key", "no-such-flag", want=None),
        Case("key lookup is case sensitive", "case-sensitive", want=None),
        Case("key lookup exact case", "Case-Sensitive", want=True),
        Case("filters null", "filters-null", want=False),
        Case("rollout percentage as string errors", "rollout-string", want=None),
        Case("inactive flag returns false payload", "inactive-with-payload", want=False),
        Case("evaluation_runtime is informational", "evaluation-runtime-client", want=True),
    ]
    return Topic("flag_state", "Inactive flags, experience continuity, unknown keys.", flags, cases)


def payloads() -> Topic:
    mv = variants(("red", 50), ("blue", 50))
    pl = {
        "true": '{"color": "green", "n": [1, 2.5, null]}',
        "false": "400",
        "red": '"just text"',
        "blue": "[1, 2, 3]",
    }
    flags = [
        flag("bool-on", [cond([], 100)], payloads=pl),
        flag("bool-off", [cond([], 0)], payloads=pl),
        flag("mv-payloads", [cond([], 100)], multivariate=mv, payloads=pl),
        flag("invalid-json", [cond([], 100)], payloads={"true": "{not json"}),
        flag("empty-string", [cond([], 100)], payloads={"true": ""}),
        flag("json-null-string", [cond([], 100)], payloads={"true": "null"}),
        flag("nan-token", [cond([], 100)], payloads={"true": "NaN"}),
        flag("infinity-token", [cond([], 100)], payloads={"true": "[Infinity]"}),
        flag("dict-payload", [cond([], 100)], payloads={"true": {"already": "decoded"}}),
        flag("number-payload", [cond([], 100)], payloads={"true": 42}),
        flag("bool-payload", [cond([], 100)], payloads={"true": True}),
        flag("false-bool-payload", [cond([], 100)], payloads={"true": False}),
        flag("list-payload", [cond([], 100)], payloads={"true": [1, "a"]}),
        flag("null-payload", [cond([], 100)], payloads={"true": None}),
        flag("false-only", [cond([p("plan", "pro")])], payloads={"false": '{"reason": "no"}'}),
        flag("payload-key-case", [cond([], 100)], payloads={"True": "1"}),
        flag("payloads-null", [cond([], 100)], payloads=None),
        flag("variant-no-payload", [cond([], 100)], multivariate=mv, payloads={"red": "1"}),
        flag("string-false", [cond([], 100)], payloads={"true": "false"}),
        flag("string-zero", [cond([], 100)], payloads={"true": "0"}),
        flag("whitespace-json", [cond([], 100)], payloads={"true": '  {"a": 1}  '}),
        flag("unicode-json", [cond([], 100)], payloads={"true": '"h\\u00e9llo \u2603"'}),
        flag("big-number", [cond([], 100)], payloads={"true": "12345678901234567890"}),
        flag("float-payload", [cond([], 100)], payloads={"true": "1.5e3"}),
        flag("trailing-garbage", [cond([], 100)], payloads={"true": '{"a": 1} x'}),
        flag(
            "condition-false-payload",
            [cond([p("plan", "pro")])],
            payloads={"true": '"on"', "false": '"off"'},
        ),
    ]
    cases = [Case("true payload decoded", "bool-on"), Case("false payload decoded", "bool-off")]
    for ident in ("user-1", "user-2", "user-3", "user-4"):
        cases.append(Case(f"variant payload {ident}", "mv-payloads", ident))
    for f in flags[3:]:
        key = f["key"]
        if key in ("false-only", "condition-false-payload"):
            continue
        cases.append(Case(f"payload {key}", key))
    cases += [
        Case("false value with false payload", "false-only", "u", {"plan": "x"}, want=False),
        Case("true value without true payload", "false-only", "u", {"plan": "pro"}, want=True),
        Case("no payload when inconclusive", "false-only", "u", {}, want=None),
        Case("condition true payload", "condition-false-payload", "u", {"plan": "pro"}),
        Case("condition false payload", "condition-false-payload", "u", {"plan": "x"}),
        Case("variant without payload other user", "variant-no-payload", "user-9"),
    ]
    return Topic("payloads", "Payload lookup and decoding.", flags, cases)


def all_topics() -> list[Topic]:
    return [rollout(), variant_cases(), conditions(), flag_state(), payloads()]
