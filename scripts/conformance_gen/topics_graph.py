"""Case designs: cohorts, flag dependencies, groups and mixed targeting."""

from __future__ import annotations

from typing import Any

from .build import (
    ABSENT,
    Case,
    Topic,
    cohort_ref,
    cond,
    dep,
    find_ids,
    flag,
    hash01,
    p,
    variants,
)


def _and(*values: Any) -> dict:
    return {"type": "AND", "values": list(values)}


def _or(*values: Any) -> dict:
    return {"type": "OR", "values": list(values)}


def cohorts() -> Topic:
    cohort_defs: dict[str, Any] = {
        "1": _and(_and(p("country", "US"))),
        "2": _or(_and(p("plan", "pro")), _and(p("age", 30, "gt"), p("country", "UK"))),
        "3": _and(p("other", "thing", negation=True)),
        "4": _or(cohort_ref(3), p("nation", "UK")),
        "5": {},
        "6": _and(),
        "7": _or(),
        "8": {"properties": [p("country", "US")]},
        "9": _and("not-an-object"),
        "10": _or(cohort_ref(999), p("plan", "pro")),
        "11": _and({"type": "OR", "values": [p("plan", "pro")], "negation": True}),
        "12": _or(p("p", "x", "bogus"), p("plan", "pro")),
        "13": _and(dep("base-on", True)),
        "14": {"type": "XOR", "values": []},
        "15": _and(cohort_ref(4, negation=True)),
        "16": _and(p("plan", "pro"), p("missing_prop", "x")),
        "17": _or(p("a", "1"), p("b", "1")),
        "18": _and(cohort_ref(1, "not_in")),
        "19": _and({}),
        "20": _and(p("$group_key", "acme")),
        "21": _and(cohort_ref(21)),
        "22": {"type": "AND", "values": None},
        "23": _and(p("country", "US", "is_date_exact")),
        "24": _and(p("country", "US", negation=False), p("plan", "free", negation=True)),
        "25": _or(_and(p("plan", "pro"), p("country", "US")), _and(p("vip", True))),
    }
    flags = [flag("base-on", [cond([], 100)])]
    cases: list[Case] = []
    simple = {
        "c1-in": cohort_ref(1, "in"),
        "c1-exact": cohort_ref(1, "exact"),
        "c1-no-op": cohort_ref(1),
        "c1-null-op": cohort_ref(1, None),
        "c1-not-in": cohort_ref(1, "not_in"),
        "c1-bad-op": cohort_ref(1, "is_not"),
        "c1-int-id": p("id", 1, type="cohort"),
        "c1-negation-ignored": cohort_ref(1, negation=True),
    }
    for key, filt in simple.items():
        flags.append(flag(key, [cond([filt])]))
        for label, props in (("US", {"country": "us"}), ("FR", {"country": "FR"}), ("none", {})):
            cases.append(Case(f"{key} {label}", key, "u", props))
    for cid in cohort_defs:
        if cid == "1":
            continue
        key = f"c{cid}"
        flags.append(flag(key, [cond([cohort_ref(cid)])]))
    prop_sets: dict[str, dict[str, Any]] = {
        "pro-us": {"plan": "pro", "country": "US"},
        "free-uk-40": {"plan": "free", "country": "UK", "age": 40},
        "free-uk-20": {"plan": "free", "country": "UK", "age": 20},
        "other-thing": {"region": "USA", "other": "thing"},
        "other-thing2": {"region": "USA", "other": "thing2"},
        "nation-uk": {"other": "thing", "nation": "UK"},
        "empty": {},
        "a1": {"a": "1"},
        "b2": {"a": "2", "b": "2"},
        "vip": {"vip": True, "plan": "free"},
        "bogus": {"p": "x", "plan": "free"},
    }
    per_cohort = {
        "2": ["pro-us", "free-uk-40", "free-uk-20", "empty"],
        "3": ["other-thing", "other-thing2", "empty"],
        "4": ["other-thing", "other-thing2", "nation-uk", "empty"],
        "5": ["empty"],
        "6": ["empty"],
        "7": ["empty"],
        "8": ["pro-us"],
        "9": ["pro-us"],
        "10": ["pro-us", "empty"],
        "11": ["pro-us", "free-uk-20"],
        "12": ["pro-us", "bogus", "empty"],
        "13": ["empty"],
        "14": ["empty"],
        "15": ["other-thing", "other-thing2", "nation-uk"],
        "16": ["pro-us", "free-uk-20"],
        "17": ["a1", "b2", "empty"],
        "18": ["pro-us", "free-uk-20", "empty"],
        "19": ["empty"],
        "20": ["empty"],
        "21": ["pro-us"],
        "22": ["pro-us"],
        "23": ["pro-us", "empty"],
        "24": ["pro-us", "free-uk-20", {"country": "US", "plan": "free"}],
        "25": ["pro-us", "vip", "free-uk-20", {"plan": "pro"}],
    }
    for cid, sets in per_cohort.items():
        for s in sets:
            props = prop_sets[s] if isinstance(s, str) else s
            label = s if isinstance(s, str) else ",".join(f"{k}={v}" for k, v in s.items())
            cases.append(Case(f"cohort {cid} {label}", f"c{cid}", "u", props))
    static = cohort_ref(999)
    flags += [
        flag("static", [cond([static])]),
        flag("static-multi", [cond([static]), cond([], 100)]),
        flag("static-after-inc", [cond([p("missing_prop", "x"), static]), cond([], 100)]),
        flag("static-then-false", [cond([static, p("plan", "nope")]), cond([], 100)]),
        flag("static-then-inc", [cond([static, p("missing_prop", "x")]), cond([], 100)]),
        flag("static-after-inc-alone", [cond([p("missing_prop", "x"), static])]),
        flag("static-second-group", [cond([p("plan", "pro")]), cond([static])]),
        flag("static-nested-multi", [cond([cohort_ref(10)]), cond([], 100)]),
        flag("cohort-and-prop", [cond([cohort_ref(1), p("plan", "pro")])]),
        flag("cohort-group-flag", [cond([cohort_ref(20)])], agg=0),
    ]
    cases += [
        Case("static cohort", "static", "u", {"plan": "pro"}, want=None),
        Case("static cohort in multi-condition flag", "static-multi", "u", {}, want=None),
        Case(
            "inconclusive before static keeps later groups", "static-after-inc", "u", {}, want=True
        ),
        Case(
            "inconclusive then static, single group", "static-after-inc-alone", "u", {}, want=None
        ),
        Case(
            "static then definitely false is no match",
            "static-then-false",
            "u",
            {"plan": "pro"},
            want=True,
        ),
        Case("static then missing stays requires-server", "static-then-inc", "u", {}, want=None),
        Case(
            "first group matches before static",
            "static-second-group",
            "u",
            {"plan": "pro"},
            want=True,
        ),
        Case("first group fails then static", "static-second-group", "u", {"plan": "x"}, want=None),
        Case(
            "static nested in cohort, multi-condition",
            "static-nested-multi",
            "u",
            {"plan": "pro"},
            want=None,
        ),
        Case(
            "cohort and property both match",
            "cohort-and-prop",
            "u",
            {"country": "US", "plan": "pro"},
            want=True,
        ),
        Case(
            "cohort matches, property fails",
            "cohort-and-prop",
            "u",
            {"country": "US", "plan": "x"},
            want=False,
        ),
        Case(
            "cohort on group properties",
            "cohort-group-flag",
            "u",
            groups={"company": "acme"},
            want=True,
        ),
        Case(
            "cohort on group properties, other key",
            "cohort-group-flag",
            "u",
            groups={"company": "beta"},
            want=False,
        ),
    ]
    return Topic(
        "cohorts",
        "Cohort membership, nesting, negation, static cohorts.",
        flags,
        cases,
        group_type_mapping={"0": "company"},
        cohorts=cohort_defs,
    )


def dependencies() -> Topic:
    flags = [
        flag("base-on", [cond([], 100)]),
        flag("base-off", [cond([], 0)]),
        flag("base-inactive", [cond([], 100)], active=False),
        flag("base-variant", [cond([], 100)], multivariate=variants(("blue", 100))),
        flag("base-mv", [cond([], 100)], multivariate=variants(("red", 50), ("blue", 50))),
        flag("base-props", [cond([p("plan", "pro")])]),
        flag("base-continuity", [cond([], 100)], top={"ensure_experience_continuity": True}),
        flag("base-static", [cond([cohort_ref(999)])]),
        flag("base-holdout", [cond([], 100)], holdout={"id": 5, "exclusion_percentage": 100}),
        flag("base-enroll", [cond([], 0)], feature_enrollment=True),
        flag("base-device", [cond([], 100)], top={"bucketing_identifier": "device_id"}),
        flag("base-group", [cond([p("plan", "pro")])], agg=0),
        flag("base-group-key", [cond([p("$group_key", "acme")])], agg=0),
        flag("base-group-rollout", [cond([], 50)], agg=0),
        flag("mid", [cond([dep("base-props", True)])]),
        flag("leaf-mv", [cond([], 100)], multivariate=variants(("a", 50), ("b", 50))),
        flag(
            "mid-mv",
            [cond([dep("leaf-mv", "a")], None, "m1"), cond([], 100, "m2")],
            multivariate=variants(("m1", 50), ("m2", 50)),
        ),
    ]
    d = {
        "d-on-true": [cond([dep("base-on", True)])],
        "d-on-false": [cond([dep("base-on", False)])],
        "d-off-false": [cond([dep("base-off", False)])],
        "d-off-true": [cond([dep("base-off", True)])],
        "d-inactive-false": [cond([dep("base-inactive", False)])],
        "d-inactive-true": [cond([dep("base-inactive", True)])],
        "d-variant-blue": [cond([dep("base-variant", "blue")])],
        "d-variant-Blue": [cond([dep("base-variant", "Blue")])],
        "d-variant-true": [cond([dep("base-variant", True)])],
        "d-variant-false": [cond([dep("base-variant", False)])],
        "d-on-string-true": [cond([dep("base-on", "true")])],
        "d-on-number": [cond([dep("base-on", 1)])],
        "d-mv-red": [cond([dep("base-mv", "red")])],
        "d-props": [cond([dep("base-props", True)])],
        "d-props-false": [cond([dep("base-props", False)])],
        "d-chain": [cond([dep("mid", True, ["base-props", "mid"])])],
        "d-chain-short": [cond([dep("mid", True, ["mid"])])],
        "d-cycle": [cond([dep("base-on", True, [])])],
        "d-no-chain": [cond([dep("base-on", True, None)])],
        "d-chain-string": [cond([dep("base-on", True, "base-on")])],
        "d-ghost": [cond([dep("ghost", True)])],
        "d-ghost-in-chain": [cond([dep("base-on", True, ["ghost", "base-on"])])],
        "d-key-not-in-chain": [cond([dep("base-on", True, ["base-off"])])],
        "d-malformed-op": [cond([dep("base-on", True, op="exact")])],
        "d-malformed-no-op": [cond([dep("base-on", True, op=ABSENT)])],
        "d-malformed-null-value": [cond([dep("base-on", None)])],
        "d-malformed-no-value": [cond([dep("base-on", ABSENT)])],
        "d-malformed-empty-key": [cond([dep("", True)])],
        "d-malformed-then-true": [cond([dep("base-on", True, op="exact")]), cond([], 100)],
        "d-continuity": [cond([dep("base-continuity", True)])],
        "d-continuity-then-true": [cond([dep("base-continuity", True)]), cond([], 100)],
        "d-static": [cond([dep("base-static", True)])],
        "d-static-multi": [cond([dep("base-static", True)]), cond([], 100)],
        "d-holdout-true": [cond([dep("base-holdout", True)])],
        "d-holdout-string": [cond([dep("base-holdout", "holdout-5")])],
        "d-enroll": [cond([dep("base-enroll", True)])],
        "d-device": [cond([dep("base-device", True)])],
        "d-group": [cond([dep("base-group", True)])],
        "d-group-key": [cond([dep("base-group-key", True)])],
        "d-group-rollout": [cond([dep("base-group-rollout", True)])],
        "d-inc-then-true": [cond([dep("base-props", True)]), cond([], 100)],
        "d-twice": [cond([dep("base-props", True), dep("base-props", False)])],
        "d-and-prop": [cond([dep("base-on", True), p("country", "US")])],
        "d-mid-mv-m1": [cond([dep("mid-mv", "m1", ["leaf-mv", "mid-mv"])])],
        "d-mid-mv-m2": [cond([dep("mid-mv", "m2", ["leaf-mv", "mid-mv"])])],
        "d-self": [cond([dep("d-self", True)])],
    }
    for key, groups in d.items():
        flags.append(flag(key, groups, payloads={"true": '"yes"', "false": '"no"'}))
    flags.append(
        flag(
            "d-variant-flag",
            [cond([dep("base-props", True)], None, "paid"), cond([], 100)],
            multivariate=variants(("paid", 0), ("free", 100)),
        )
    )
    flags.append(flag("d-group-flag-dep", [cond([dep("base-group-key", True)])], agg=0))
    cases: list[Case] = []
    plain = [k for k in d if k not in ("d-props", "d-props-false", "d-chain", "d-chain-short")]
    for key in plain:
        cases.append(Case(f"{key}", key, "user-1", {"plan": "pro"}))
    for key in ("d-props", "d-props-false", "d-chain", "d-chain-short", "d-variant-flag"):
        for label, props in (("pro", {"plan": "pro"}), ("free", {"plan": "free"}), ("none", {})):
            cases.append(Case(f"{key} {label}", key, "user-1", props))
    for ident in ("user-1", "user-2", "user-3", "user-4", "user-5", "user-6"):
        cases.append(Case(f"d-mv-red {ident}", "d-mv-red", ident))
        cases.append(Case(f"d-mid-mv-m1 {ident}", "d-mid-mv-m1", ident))
        cases.append(Case(f"d-group-rollout {ident}", "d-group-rollout", ident))
    cases += [
        Case(
            "d-enroll enrolled",
            "d-enroll",
            "u",
            {"$feature_enrollment/base-enroll": True},
            want=True,
        ),
        Case("d-enroll missing", "d-enroll", "u", {}, want=None),
        Case("d-device with device id", "d-device", "u", {}, device_id="dev-1", want=True),
        Case("d-device without device id", "d-device", "u", {}, want=None),
        Case("d-group with person plan", "d-group", "u", {"plan": "pro"}, want=True),
        Case("d-group without plan", "d-group", "u", {}, want=None),
        Case("d-continuity-then-true no props", "d-continuity-then-true", "u", {}, want=True),
        Case("d-group-flag-dep acme", "d-group-flag-dep", "u", groups={"company": "acme"}),
        Case("d-group-flag-dep beta", "d-group-flag-dep", "u", groups={"company": "beta"}),
        Case("d-and-prop US", "d-and-prop", "u", {"country": "US"}, want=True),
        Case("d-twice none", "d-twice", "u", {}),
    ]
    return Topic(
        "dependencies",
        "Flag dependencies: chains, cycles, missing, malformed, variants.",
        flags,
        cases,
        group_type_mapping={"0": "company"},
    )


def groups() -> Topic:
    mv = variants(("g-a", 50), ("g-b", 50))
    flags = [
        flag("g-company", [cond([p("plan", "enterprise")])], agg=0),
        flag("g-company-100", [cond([], 100)], agg=0, payloads={"false": '"no group"'}),
        flag("g-rollout-35", [cond([], 35)], agg=0),
        flag("g-variants", [cond([], 100)], agg=0, multivariate=mv),
        flag("g-unknown-index", [cond([], 100)], agg=5),
        flag("g-group-key", [cond([p("$group_key", "acme")])], agg=0),
        flag("g-group-key-42", [cond([p("$group_key", "42")])], agg=0),
        flag("g-project", [cond([p("size", 10, "gt")])], agg=1),
        flag("g-device", [cond([], 35)], agg=0, top={"bucketing_identifier": "device_id"}),
        flag("g-index-string", [cond([], 100)], agg="0"),
        flag("g-person-prop", [cond([p("email", "x", "icontains")])], agg=0),
        flag(
            "mixed",
            [
                cond([p("email", "@x.com", "icontains")]),
                cond([p("plan", "enterprise")], agg=0),
            ],
        ),
        flag("mixed-rollout", [cond([], 50, agg=0)]),
        flag("mixed-unknown-index", [cond([], 100, agg=7)]),
        flag("mixed-null-agg", [cond([p("plan", "enterprise")], agg=None)], agg=0),
        flag("mixed-variants", [cond([], 100, agg=0)], multivariate=mv),
        flag("mixed-project", [cond([p("size", 10, "gt")], agg=1), cond([], 0)]),
        flag("mixed-group-key", [cond([p("$group_key", "acme")], agg=0)]),
    ]
    acme = {"company": "acme"}
    ent = {"company": {"plan": "enterprise"}}
    cases = [
        Case(
            "group passed, property matches",
            "g-company",
            "u",
            groups=acme,
            group_properties=ent,
            want=True,
        ),
        Case(
            "group passed, property differs",
            "g-company",
            "u",
            groups=acme,
            group_properties={"company": {"plan": "free"}},
            want=False,
        ),
        Case("group passed, property missing", "g-company", "u", groups=acme, want=None),
        Case("group not passed", "g-company", "u", want=False),
        Case("group props without group", "g-company", "u", group_properties=ent, want=False),
        Case("group not passed at 100%", "g-company-100", "u", want=False),
        Case("other group passed", "g-company-100", "u", groups={"project": "p1"}, want=False),
        Case("group passed at 100%", "g-company-100", "u", groups=acme, want=True),
        Case("unknown group type index", "g-unknown-index", "u", groups=acme, want=None),
        Case("unknown group type index, no groups", "g-unknown-index", "u", want=None),
        Case("$group_key injected", "g-group-key", "u", groups=acme, want=True),
        Case("$group_key other", "g-group-key", "u", groups={"company": "beta"}, want=False),
        Case(
            "caller $group_key wins",
            "g-group-key",
            "u",
            groups=acme,
            group_properties={"company": {"$group_key": "other"}},
            want=False,
        ),
        Case(
            "integer group key stringified",
            "g-group-key-42",
            "u",
            groups={"company": 42},
            want=True,
        ),
        Case(
            "project flag with project props",
            "g-project",
            "u",
            groups={"project": "p1"},
            group_properties={"project": {"size": 20}},
            want=True,
        ),
        Case(
            "project props for unpassed group dropped",
            "g-project",
            "u",
            groups=acme,
            group_properties={"project": {"size": 20}},
            want=False,
        ),
        Case("index as string", "g-index-string", "u", groups=acme),
        Case(
            "person property not seen by group flag",
            "g-person-prop",
            "u",
            {"email": "x"},
            groups=acme,
            want=None,
        ),
        Case("mixed person condition", "mixed", "u", {"email": "a@x.com"}, want=True),
        Case(
            "mixed group condition",
            "mixed",
            "u",
            {"email": "a@y.com"},
            groups=acme,
            group_properties=ent,
            want=True,
        ),
        Case("mixed group not passed skips", "mixed", "u", {"email": "a@y.com"}, want=False),
        Case("mixed missing email, no group", "mixed", "u", {}, want=None),
        Case(
            "mixed missing email, group matches",
            "mixed",
            "u",
            {},
            groups=acme,
            group_properties=ent,
            want=True,
        ),
        Case(
            "mixed group props missing", "mixed", "u", {"email": "a@y.com"}, groups=acme, want=None
        ),
        Case("mixed unknown index skipped", "mixed-unknown-index", "u", groups=acme, want=False),
        Case(
            "mixed null agg uses flag group",
            "mixed-null-agg",
            "u",
            groups=acme,
            group_properties=ent,
        ),
        Case(
            "mixed project gt",
            "mixed-project",
            "u",
            groups={"project": "p"},
            group_properties={"project": {"size": 11}},
            want=True,
        ),
        Case("mixed project not passed", "mixed-project", "u", want=False),
        Case("mixed $group_key", "mixed-group-key", "u", groups=acme, want=True),
    ]
    for key in ("g-rollout-35", "g-variants", "g-device", "mixed-rollout", "mixed-variants"):
        for gk in ("acme", "beta", "gamma", "delta", "epsilon"):
            cases.append(Case(f"{key} {gk}", key, "same-user", groups={"company": gk}))
    ins = find_ids(lambda i: hash01("g-rollout-35", i) <= 0.35, 2, "co_")
    outs = find_ids(lambda i: hash01("g-rollout-35", i) > 0.35, 2, "co_")
    for gk in ins + outs:
        cases.append(
            Case(
                f"g-rollout-35 bucketed by group key {gk}",
                "g-rollout-35",
                "x",
                groups={"company": gk},
                want=gk in ins,
            )
        )
    cases.append(Case("g-device ignores device id", "g-device", "u", groups=acme, device_id="d"))
    return Topic(
        "groups",
        "Group flags, $group_key, unknown group types, mixed targeting.",
        flags,
        cases,
        group_type_mapping={"0": "company", "1": "project"},
    )


def all_topics() -> list[Topic]:
    return [cohorts(), dependencies(), groups()]
