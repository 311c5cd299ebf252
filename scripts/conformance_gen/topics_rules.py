"""Case designs: experiment holdouts, early-access enrollment, device-id bucketing."""

from __future__ import annotations

from typing import Any

from .build import Case, Topic, cond, find_ids, flag, hash01, holdout01, p, variants


def holdouts() -> Topic:
    pl = {"holdout-727": '"held"', "true": '"on"'}

    def h(key: str, holdout: Any, groups: Any = None, **kw: Any) -> dict:
        return flag(key, groups or [cond([], 100)], holdout=holdout, **kw)

    flags = [
        h("h-20", {"id": 727, "exclusion_percentage": 20}, payloads=pl),
        h("h-100", {"id": 727, "exclusion_percentage": 100}, payloads=pl),
        h("h-0", {"id": 727, "exclusion_percentage": 0}),
        h("h-negative", {"id": 727, "exclusion_percentage": -5}),
        h("h-150", {"id": 727, "exclusion_percentage": 150}),
        h("h-id-null", {"id": None, "exclusion_percentage": 100}),
        h("h-pct-null", {"id": 727, "exclusion_percentage": None}),
        h("h-empty", {}),
        h("h-null", None),
        h("h-id-string", {"id": "abc", "exclusion_percentage": 100}),
        h("h-beats-inc", {"id": 1, "exclusion_percentage": 100}, [cond([p("missing", "x")])]),
        h("h-beats-rollout-0", {"id": 1, "exclusion_percentage": 100}, [cond([], 0)]),
        h(
            "h-mv",
            {"id": 9, "exclusion_percentage": 50},
            multivariate=variants(("a", 50), ("b", 50)),
        ),
        h("h-pct-string", {"id": 3, "exclusion_percentage": "20"}),
        h("h-pct-bad", {"id": 3, "exclusion_percentage": "abc"}),
        h("h-12.5", {"id": 4, "exclusion_percentage": 12.5}),
        h(
            "h-device",
            {"id": 6, "exclusion_percentage": 50},
            top={"bucketing_identifier": "device_id"},
        ),
        h("h-group", {"id": 7, "exclusion_percentage": 50}, agg=0),
        h("h-inactive", {"id": 8, "exclusion_percentage": 100}, active=False),
        h("h-enroll", {"id": 2, "exclusion_percentage": 100}, feature_enrollment=True),
        h("h-zero-id", {"id": 0, "exclusion_percentage": 100}),
    ]
    held = find_ids(lambda i: holdout01(i) <= 0.2, 4, "h_")
    free = find_ids(lambda i: holdout01(i) > 0.2, 4, "h_")
    cases = [Case(f"20% held out {i}", "h-20", i, want="holdout-727") for i in held]
    cases += [Case(f"20% not held out {i}", "h-20", i, want=True) for i in free]
    cases += [
        Case("known vector user-1 at 20%", "h-20", "user-1", want="holdout-727"),
        Case("known vector user-5 at 20%", "h-20", "user-5", want=True),
    ]
    for key in (
        "h-100",
        "h-0",
        "h-negative",
        "h-150",
        "h-id-null",
        "h-pct-null",
        "h-empty",
        "h-null",
        "h-id-string",
        "h-beats-rollout-0",
        "h-pct-string",
        "h-pct-bad",
        "h-inactive",
        "h-zero-id",
    ):
        for ident in ("user-1", "user-5"):
            cases.append(Case(f"{key} {ident}", key, ident))
    cases.append(
        Case("holdout beats inconclusive condition", "h-beats-inc", "u", {}, want="holdout-1")
    )
    for ident in ("user-1", "user-2", "user-3", "user-4", "user-5", "user-6"):
        cases.append(Case(f"h-mv {ident}", "h-mv", ident))
    near = find_ids(lambda i: 0.12 <= holdout01(i) <= 0.13, 4, "n_")
    cases += [Case(f"12.5% near edge {i}", "h-12.5", i) for i in near]
    for dev in ("dev-a", "dev-b", "dev-c"):
        cases.append(Case(f"h-device {dev}", "h-device", "same", device_id=dev))
    cases.append(Case("h-device without device id", "h-device", "same", want=None))
    for gk in ("acme", "beta", "gamma"):
        cases.append(Case(f"h-group {gk}", "h-group", "u", groups={"company": gk}))
    cases.append(Case("h-group not passed", "h-group", "u", want=False))
    cases += [
        Case(
            "enrollment wins over holdout",
            "h-enroll",
            "u",
            {"$feature_enrollment/h-enroll": True},
            want=True,
        ),
    ]
    return Topic(
        "holdouts",
        "Experiment holdouts: hashing, clamping, precedence.",
        flags,
        cases,
        group_type_mapping={"0": "company"},
    )


def enrollment() -> Topic:
    flags = [
        flag(
            "e",
            [cond([], 0)],
            feature_enrollment=True,
            payloads={"true": '"enrolled"', "false": '"not enrolled"'},
        ),
        flag("e-group", [cond([], 100)], feature_enrollment=True, agg=0),
        flag("e-string-true", [cond([], 0)], feature_enrollment="true"),
        flag("e-false", [cond([], 100)], feature_enrollment=False),
        flag("e-with-conditions", [cond([p("plan", "pro")])], feature_enrollment=True),
        flag("e-mv", [cond([], 100)], feature_enrollment=True, multivariate=variants(("a", 100))),
    ]
    key = "$feature_enrollment/e"
    cases = [
        Case(f"enrollment {label}", "e", "u", props)
        for label, props in (
            ("true", {key: True}),
            ('"true"', {key: "true"}),
            ('"True"', {key: "True"}),
            ('"TRUE"', {key: "TRUE"}),
            ("1", {key: 1}),
            ("false", {key: False}),
            ("null", {key: None}),
            ('"false"', {key: "false"}),
            ("missing", {}),
            ("other flag's key", {"$feature_enrollment/other": True}),
        )
    ]
    cases += [
        Case("group flag with enrollment", "e-group", "u", groups={"company": "acme"}, want=None),
        Case("group flag with enrollment, group not passed", "e-group", "u", want=False),
        Case("feature_enrollment string is ignored", "e-string-true", "u", want=False),
        Case("feature_enrollment false is ignored", "e-false", "u", want=True),
        Case(
            "enrollment ignores conditions",
            "e-with-conditions",
            "u",
            {"$feature_enrollment/e-with-conditions": True, "plan": "free"},
            want=True,
        ),
        Case(
            "enrollment ignores variants",
            "e-mv",
            "u",
            {"$feature_enrollment/e-mv": True},
            want=True,
        ),
    ]
    return Topic(
        "enrollment",
        "Early-access feature enrollment flags.",
        flags,
        cases,
        group_type_mapping={"0": "company"},
    )


def bucketing() -> Topic:
    dev = {"bucketing_identifier": "device_id"}
    flags = [
        flag("dev-top", [cond([], 50)], top=dev),
        flag("dev-filters", [cond([], 50)], bucketing_identifier="device_id"),
        flag(
            "dev-top-wins",
            [cond([], 50)],
            bucketing_identifier="device_id",
            top={"bucketing_identifier": "distinct_id"},
        ),
        flag(
            "dev-top-empty",
            [cond([], 50)],
            bucketing_identifier="device_id",
            top={"bucketing_identifier": ""},
        ),
        flag("dev-variants", [cond([], 100)], top=dev, multivariate=variants(("x", 50), ("y", 50))),
        flag("dev-unknown-op", [cond([p("plan", "pro", "bogus")])], top=dev),
        flag("dev-100", [cond([], 100)], top=dev),
        flag("dev-props", [cond([p("plan", "pro")], 50)], top=dev),
        flag("dev-other-identifier", [cond([], 50)], top={"bucketing_identifier": "other"}),
        flag("dev-inactive", [cond([], 100)], top=dev, active=False),
    ]
    ins = find_ids(lambda i: hash01("dev-top", i) <= 0.5, 3, "dev_")
    outs = find_ids(lambda i: hash01("dev-top", i) > 0.5, 3, "dev_")
    cases = [Case(f"device in rollout {d}", "dev-top", "same", device_id=d, want=True) for d in ins]
    cases += [
        Case(f"device out of rollout {d}", "dev-top", "same", device_id=d, want=False) for d in outs
    ]
    cases += [
        Case("device id missing", "dev-top", "u", want=None),
        Case("device id null", "dev-top", "u", device_id=None, want=None),
        Case("device id empty", "dev-top", "u", device_id="", want=None),
        Case("device id missing at 100%", "dev-100", "u", want=None),
        Case("device id given at 100%", "dev-100", "u", device_id="d", want=True),
        Case(
            "device flag with unknown operator, no device",
            "dev-unknown-op",
            "u",
            {"plan": "pro"},
            want=None,
        ),
        Case(
            "device flag with unknown operator, device",
            "dev-unknown-op",
            "u",
            {"plan": "pro"},
            device_id="d",
            want=None,
        ),
        Case("inactive device flag without device", "dev-inactive", "u", want=False),
    ]
    for d in ("d-1", "d-2", "d-3", "d-4"):
        for key in (
            "dev-filters",
            "dev-top-wins",
            "dev-top-empty",
            "dev-variants",
            "dev-other-identifier",
        ):
            cases.append(Case(f"{key} {d}", key, f"user-{d}", device_id=d))
        cases.append(Case(f"dev-props {d}", "dev-props", "u", {"plan": "pro"}, device_id=d))
    cases.append(Case("distinct-id bucketing ignores device", "dev-top-wins", "user-d-1"))
    cases.append(
        Case("dev-props filters fail", "dev-props", "u", {"plan": "x"}, device_id="d-1", want=False)
    )
    return Topic("bucketing", "bucketing_identifier device_id, missing device ids.", flags, cases)


def all_topics() -> list[Topic]:
    return [holdouts(), enrollment(), bucketing()]
