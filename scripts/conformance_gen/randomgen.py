"""Random flag worlds (definitions + one evaluation context) for differential testing.

Filters are drawn *near* the context (same keys, related values) so that conditions match,
miss and hit edge cases in useful proportions instead of almost always missing.
"""

from __future__ import annotations

import json
import random
from typing import Any

from . import exotic

KEYS = ["plan", "country", "age", "email", "version", "signup", "score", "tags", "name", "meta"]
STRINGS = [
    "pro",
    "PRO",
    "Pro",
    "free",
    "enterprise",
    "",
    " ",
    "true",
    "false",
    "TRUE",
    "False",
    "null",
    "None",
    "US",
    "us",
    "UK",
    "straße",
    "STRASSE",
    "İ",
    "i̇",
    "café",
    "ß",
    "ǅ",
    "a@x.com",
    "A@X.COM",
    "10",
    "5",
    "5.0",
    "1e3",
    " 6",
    "10px",
    "-1",
    ".5",
    "1_0",
    "nan",
    "1.2.3",
    "v1.2.3",
    "1.2",
    "1.10.0",
    "01.2.3",
    "2.0.0-beta",
    "1.2.3.4",
    "2024-01-01",
    "2023-12-31T23:59:59Z",
    "2024-01-01T00:00:00+01:00",
    "20240101",
    "2024-W01-1",
    "2020",
    "not a date",
    "[1,2]",
    '{"a":1}',
    "a\n",
    "x|y",
    "😀",
]
SCALARS: list[Any] = [
    True,
    False,
    None,
    0,
    1,
    -1,
    5,
    10,
    1.0,
    1.5,
    323.0,
    -0.0,
    1e-7,
    1e16,
    9007199254740993,
    10**30,
]
COMPOSITES: list[Any] = [
    [],
    [1, 2],
    ["a", 1],
    [True],
    ["pro", "free"],
    {},
    {"a": 1},
    {"b": [1, 2], "a": None},
]
OPERATORS = [
    "exact",
    "exact",
    "exact",
    "is_not",
    "is_set",
    "is_not_set",
    "icontains",
    "not_icontains",
    "regex",
    "not_regex",
    "starts_with",
    "not_starts_with",
    "ends_with",
    "not_ends_with",
    "gt",
    "gte",
    "lt",
    "lte",
    "is_date_before",
    "is_date_after",
    "semver_eq",
    "semver_neq",
    "semver_gt",
    "semver_gte",
    "semver_lt",
    "semver_lte",
    "semver_tilde",
    "semver_caret",
    "semver_wildcard",
]
RARE_OPERATORS: list[Any] = [
    None,
    "",
    "in",
    "not_in",
    "is_date_exact",
    "bogus",
    "flag_evaluates_to",
]
REGEXES = [
    "^pro$",
    "pro",
    "^\\d+$",
    "a$",
    "(?i)pro",
    "[",
    "",
    "\\w+",
    "^[a-z]+@",
    "x|y$",
    "\\bpro\\b",
    "(a+)+",
    "^.{2,4}$",
    "\\s",
    "é",
    "^(true|false)$",
    "\\.",
    "1\\.2",
]
DATES = [
    "2024-01-01",
    "-1d",
    "1y",
    "10y",
    "24h",
    "-2w",
    "6m",
    "2000",
    "2023-12-31T23:59:59Z",
    "bogus",
    "10000d",
    "1D",
    "20240101",
    "2024-01-01 00:00:00 UTC",
]
SEMVERS = ["1.2.3", "1.2", "v1.2.3", "1.*", "1.2.*", "0.2.3", "0.0.3", "2", "01.2", "1.x", "abc"]
PAYLOADS: list[Any] = [
    "1e400",
    '"\\ud800"',
    "-0",
    "{}",
    '{"a": NaN}',
    '{"a": 1}',
    '"text"',
    "[1, 2]",
    "400",
    "true",
    "null",
    "",
    "{bad",
    "NaN",
    {"raw": True},
    7,
    False,
    None,
    '  {"b": [1, 2.5]} ',
]
IDS: list[Any] = [
    "user-1",
    "user-2",
    "abc",
    "",
    "ünïcødé",
    123,
    0,
    "distinct_id_7",
    "x" * 50,
    "a.b c",
]


class World:
    """A random local-evaluation body plus one evaluation context."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.person: dict[str, Any] = {}
        self.body: dict[str, Any] = {}
        self.context: dict[str, Any] = {}
        self.key = ""

    # -- values -----------------------------------------------------------------------------

    def value(self, exotic_ok: bool = True) -> Any:
        r = self.rng.random()
        if exotic_ok and r < 0.06:
            return exotic.python_value(self.rng)
        if r < 0.12:
            maker = self.rng.choice([exotic.date_text, exotic.semver_text, exotic.number_text])
            return maker(self.rng)
        if r < 0.55:
            return self.rng.choice(STRINGS)
        if r < 0.85:
            return self.rng.choice(SCALARS)
        return self.rng.choice(COMPOSITES)

    def near(self, prop: Any, op: str) -> Any:
        """A filter value related to ``prop`` for operator ``op``."""
        rng = self.rng
        if op in ("regex", "not_regex"):
            if rng.random() < 0.5:
                return exotic.regex(rng)
            return rng.choice([*REGEXES, 12, True, None])
        if op in ("is_date_before", "is_date_after"):
            if rng.random() < 0.5:
                return exotic.date_text(rng)
            return rng.choice([*DATES, 20240101, True])
        if op.startswith("semver"):
            if rng.random() < 0.5:
                return exotic.semver_text(rng)
            return rng.choice([*SEMVERS, 1.2, 2])
        if op in ("gt", "gte", "lt", "lte"):
            if rng.random() < 0.3:
                return exotic.number_text(rng)
            if rng.random() < 0.1:
                return rng.choice(["abc", None, "1e400", True, " 5", [5]])
            return rng.choice(["5", 5, 0, "10", 1e3, ".5", "-0", 9.5, -1, "1e1", 10**20])
        if rng.random() < 0.5 and prop is not None:
            if (
                isinstance(prop, str)
                and prop
                and op
                in (
                    "icontains",
                    "starts_with",
                    "ends_with",
                    "not_icontains",
                    "not_starts_with",
                    "not_ends_with",
                )
            ):
                i, j = sorted(rng.sample(range(len(prop) + 1), 2))
                return rng.choice([prop[i:j], prop[i:j].upper(), prop])
            if isinstance(prop, str):
                return rng.choice([prop, prop.upper(), prop.lower(), [prop, "zzz"]])
            if _jsonable(prop):
                return prop
        if rng.random() < 0.15:
            return [self.value(False) for _ in range(rng.randint(0, 3))]
        return self.value(False)

    # -- definitions ------------------------------------------------------------------------

    def prop_filter(self, cohort_ids: list[str], flag_keys: list[str], depth: int) -> dict:
        rng = self.rng
        r = rng.random()
        if r < 0.08 and cohort_ids:
            cid = rng.choice(cohort_ids) if rng.random() < 0.85 else "999"
            op = rng.choice(["in", "in", "exact", "not_in", None, "in", "not_in", "is_not"])
            out = {"key": "id", "type": "cohort", "value": rng.choice([cid, int(cid)])}
            if op is not None:
                out["operator"] = op
            if rng.random() < 0.1:
                out["negation"] = True
            return out
        if r < 0.16 and flag_keys and depth < 2:
            return self.dep_filter(flag_keys)
        present = list(self.person)
        if present and rng.random() < 0.8:
            key = rng.choice(present)
        else:
            key = rng.choice([*KEYS, "distinct_id", "$group_key", "$feature_enrollment/f0"])
        op = rng.choice(OPERATORS) if rng.random() > 0.04 else rng.choice(RARE_OPERATORS)
        out = {"key": key, "type": rng.choice(["person", "person", "group", "event"])}
        if op is not None:
            out["operator"] = op
        if rng.random() > 0.03:
            out["value"] = self.near(self.person.get(key), op or "exact")
        if rng.random() < 0.05:
            out["negation"] = True
        return out

    def dep_filter(self, flag_keys: list[str]) -> dict:
        rng = self.rng
        target = rng.choice([*flag_keys, "ghost"])
        value = rng.choice([True, False, "a", "b", "holdout-1", None, "true"])
        out: dict[str, Any] = {"key": target, "type": "flag", "value": value}
        if rng.random() > 0.05:
            out["operator"] = "flag_evaluates_to" if rng.random() > 0.05 else "exact"
        chain = self.chains.get(target, [target])
        r = rng.random()
        if r < 0.9:
            out["dependency_chain"] = chain
        elif r < 0.95:
            out["dependency_chain"] = []
        elif r < 0.97:
            out["dependency_chain"] = ["ghost", *chain]
        return out

    def condition(self, cohort_ids: list[str], deps: list[str], variants: list[str]) -> dict:
        rng = self.rng
        cond: dict[str, Any] = {}
        n = rng.choice([0, 1, 1, 1, 2, 2, 3])
        if n or rng.random() < 0.7:
            cond["properties"] = [self.prop_filter(cohort_ids, deps, 0) for _ in range(n)]
        r = rng.random()
        if r < 0.3:
            cond["rollout_percentage"] = 100
        elif r < 0.6:
            cond["rollout_percentage"] = rng.choice([0, 10, 30, 50, 55.5, 99.9, 33.3333])
        elif r < 0.65:
            cond["rollout_percentage"] = rng.choice([-5, 150, None, 0.001, rng.uniform(0, 100)])
        elif r < 0.66:
            cond["rollout_percentage"] = rng.choice(["30", True, 1e-300])
        if variants and rng.random() < 0.25:
            cond["variant"] = rng.choice([*variants, "nope", "", None])
        if rng.random() < 0.08:
            cond["aggregation_group_type_index"] = rng.choice([0, 1, 7, None])
        return cond

    def cohort_group(self, cohort_ids: list[str], depth: int) -> Any:
        rng = self.rng
        if rng.random() < 0.05:
            return rng.choice([{}, {"type": "XOR", "values": []}, {"properties": []}])
        values: list[Any] = []
        for _ in range(rng.randint(0, 3)):
            if depth < 2 and rng.random() < 0.25:
                values.append(self.cohort_group(cohort_ids, depth + 1))
            else:
                values.append(self.prop_filter(cohort_ids, [], 5))
        return {"type": rng.choice(["AND", "OR"]), "values": values}

    def flag(self, key: str, deps: list[str], cohort_ids: list[str]) -> dict:
        rng = self.rng
        filters: dict[str, Any] = {}
        variants: list[str] = []
        if rng.random() < 0.35:
            variants = rng.sample(["a", "b", "c", "d", "A"], rng.randint(1, 4))
            pcts = self._split(len(variants))
            filters["multivariate"] = {
                "variants": [
                    {"key": v, "rollout_percentage": p} for v, p in zip(variants, pcts, strict=True)
                ]
            }
        filters["groups"] = [
            self.condition(cohort_ids, deps, variants) for _ in range(rng.choice([0, 1, 1, 2, 3]))
        ]
        if rng.random() < 0.15:
            filters["aggregation_group_type_index"] = rng.choice([0, 0, 1, 5, "0", 0.0, True])
        if rng.random() < 0.3:
            options = ["true", "false", *variants, "holdout-1"]
            filters["payloads"] = {k: rng.choice(PAYLOADS) for k in rng.sample(options, 2)}
        if rng.random() < 0.15:
            filters["early_exit"] = rng.choice([True, True, 1, "yes", 0, ""])
        if rng.random() < 0.07:
            filters["holdout"] = {
                "id": rng.choice([1, 1, 1, "x", 0, None]),
                "exclusion_percentage": rng.choice(
                    [0, 20, 50, 100, rng.uniform(0, 100), "20", -1, 101, None]
                ),
            }
        if rng.random() < 0.04:
            filters["feature_enrollment"] = True
        active: Any = rng.random() > 0.08
        if rng.random() < 0.03:
            active = rng.choice([1, 0, "yes", "", None])
        out: dict[str, Any] = {"id": len(key), "key": key, "active": active, "filters": filters}
        if rng.random() < 0.03:
            out["ensure_experience_continuity"] = True
        if rng.random() < 0.08:
            out["bucketing_identifier"] = "device_id"
        return out

    def _split(self, n: int) -> list[Any]:
        rng = self.rng
        r = rng.random()
        if r < 0.6:
            cuts = sorted(rng.randint(0, 100) for _ in range(n - 1))
            return [b - a for a, b in zip([0, *cuts], [*cuts, 100], strict=True)]
        if r < 0.8:
            return [rng.choice([50, 20, 5, 33.33, 12.5, rng.uniform(0, 60)]) for _ in range(n)]
        if r < 0.82:
            return [rng.choice([50, None, "50", True]) for _ in range(n)]
        return [round(100 / n, 2) for _ in range(n)]

    # -- a whole world ----------------------------------------------------------------------

    def build(self) -> World:
        rng = self.rng
        for key in rng.sample(KEYS, rng.randint(0, len(KEYS))):
            self.person[key] = self.value()
        if rng.random() < 0.1:
            self.person["$feature_enrollment/f0"] = rng.choice([True, "true", False, "True"])
        cohort_ids = [str(i) for i in range(1, rng.randint(1, 4))]
        cohorts = {}
        for i, cid in enumerate(cohort_ids):
            cohorts[cid] = self.cohort_group(cohort_ids[:i], 0)  # only earlier ids: no cycles
        n_flags = rng.randint(1, 4)
        keys = [f"f{i}" for i in range(n_flags)]
        self.chains: dict[str, list[str]] = {}
        flags = []
        for i in range(n_flags - 1, -1, -1):  # later flags first, so earlier ones can depend
            deps = keys[i + 1 :]
            fl = self.flag(keys[i], deps, cohort_ids)
            self.chains[keys[i]] = [*self._chain_of(fl), keys[i]]
            flags.append(fl)
        flags.reverse()
        self.body = {
            "flags": flags,
            "group_type_mapping": {"0": "company", "1": "project"},
            "cohorts": cohorts,
        }
        if rng.random() < 0.5:
            self.body["property_matching_version"] = rng.choice([1, 2, 2, "2", 2.0, 3, None, True])
        self.key = "missing" if rng.random() < 0.02 else rng.choice([*keys, "f0"])
        self.context = self._context()
        return self

    def _chain_of(self, fl: dict) -> list[str]:
        chain: list[str] = []
        for cond in fl["filters"].get("groups") or []:
            for prop in cond.get("properties") or []:
                if prop.get("type") == "flag":
                    for k in prop.get("dependency_chain") or []:
                        if k not in chain and k in self.chains:
                            chain.append(k)
        return chain

    def _context(self) -> dict[str, Any]:
        rng = self.rng
        ident = rng.choice(IDS) if rng.random() > 0.05 else exotic.distinct_id(rng)
        ctx: dict[str, Any] = {"distinct_id": ident}
        if rng.random() < 0.05:
            self.person["distinct_id"] = rng.choice(["user-1", "other", 5])
        ctx["person_properties"] = self.person if rng.random() > 0.05 else None
        if rng.random() < 0.4:
            groups = {}
            for name in rng.sample(["company", "project", "other"], rng.randint(1, 2)):
                groups[name] = rng.choice(["acme", "beta", 42, "", "gamma", 1.5])
            ctx["groups"] = groups
            if rng.random() < 0.7:
                ctx["group_properties"] = {
                    name: {k: self.value() for k in rng.sample(KEYS, 3)} for name in groups
                }
        if rng.random() < 0.2:
            ctx["device_id"] = rng.choice(["dev-1", "dev-2", "", None])
        return ctx


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True
