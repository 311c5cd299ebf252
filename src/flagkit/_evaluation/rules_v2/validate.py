"""Strict parser of a rules v2 config: a :class:`V2Config`, or every problem found.

Closed objects everywhere except ``metadata`` (opaque): an unknown field, a wrong type, a
non-UUID rule id, an empty seed, a percentage off the 0.01 grid or variant weights not
summing to exactly 100 make the config invalid, and an invalid config is never evaluated.

Problems are human-readable strings naming where they are (``rules[1].seed: ...``). A
config that is well formed but uses something this evaluator does not run (a non-boolean
return type, a reserved rule type, experiments unless enabled) gets problems starting with
:data:`UNSUPPORTED_PREFIX`; :func:`problem_kind` tells the two apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from flagkit._evaluation.rules_v2.jsontypes import (
    is_bool,
    is_int,
    is_names,
    is_number,
    is_str,
    json_problem,
)
from flagkit._evaluation.rules_v2.model import (
    Experiment,
    Holdout,
    PercentageRollout,
    PropertyFilter,
    Rule,
    TargetedRelease,
    V2Config,
    Variant,
)
from flagkit._evaluation.rules_v2.properties import KNOWN_OPERATORS, compile_check

__all__ = ["UNSUPPORTED_PREFIX", "parse_config", "problem_kind"]

UNSUPPORTED_PREFIX = "unsupported: "

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_VARIANT_KEY = re.compile(r"[a-zA-Z0-9_-]+")
_TOP = {"version", "return_type", "default_value", "rules", "aggregation_group_type_index"}
_TOP_REQUIRED = ("version", "return_type", "default_value", "rules")
_COMMON = {"id", "rule_type", "targeting", "description", "metadata"}
_ASSIGNED = {"rollout_percentage", "on_rollout_miss", "assignment_algorithm", "seed"}
_RULE_FIELDS = {
    "targeted_release": (_COMMON | {"value"}, {"id", "rule_type", "targeting", "value"}),
    "percentage_rollout": (
        _COMMON | _ASSIGNED | {"value", "assign_by"},
        {"id", "rule_type", "targeting", "value"} | _ASSIGNED,
    ),
    "experiment": (
        _COMMON | _ASSIGNED | {"experiment_id", "paused", "variants", "holdout", "assign_by"},
        {"id", "rule_type", "targeting", "experiment_id", "paused", "variants"} | _ASSIGNED,
    ),
}
_RESERVED_RULE_TYPES = {"variant_rollout"}
_RESERVED_RETURN_TYPES = {"string", "number", "json"}
_FILTER_FIELDS = {
    "key",
    "value",
    "type",
    "operator",
    "group_type_index",
    "negation",
    "cohort_name",
    "group_key_names",
    "label",
}
_FILTER_TYPES = {"person", "cohort", "group", "flag"}
_MAX_RULES = 100
_MAX_FILTERS = 100
_MAX_SEED = 400


def problem_kind(problems: list[str]) -> str:
    """``"unsupported"`` when every problem is an unsupported feature, else ``"malformed"``."""
    if problems and all(problem.startswith(UNSUPPORTED_PREFIX) for problem in problems):
        return "unsupported"
    return "malformed"


# Optional filter fields that may be null, and the test a non-null value must pass.
_OPTIONAL_FILTER_FIELDS: tuple[tuple[str, Callable[[Any], bool]], ...] = (
    ("negation", is_bool),
    ("group_type_index", is_int),
    ("cohort_name", is_str),
    ("label", is_str),
    ("group_key_names", is_names),
)


class _Parser:
    def __init__(self, enable_experiments: bool) -> None:
        self.enable_experiments = enable_experiments
        self.problems: list[str] = []
        self.unsupported: list[str] = []
        self.group_flag = False

    def bad(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def closed(self, where: str, raw: Mapping[str, Any], allowed: set[str], required: Any) -> None:
        for name in sorted(str(name) for name in raw if name not in allowed):
            self.bad(where, f"unknown field {name!r}")
        for name in sorted(required):
            if name not in raw:
                self.bad(where, f"missing required field {name!r}")

    def percentage(self, where: str, value: Any) -> float:
        if not is_number(value) or not 0 <= value <= 100:
            self.bad(where, "must be a number from 0 to 100")
            return 0.0
        hundredths = value * 100
        if abs(hundredths - round(hundredths)) > 1e-6:
            self.bad(where, "must be a multiple of 0.01")
        return float(value) + 0.0  # -0.0 normalises to 0.0

    def seed(self, where: str, value: Any) -> str:
        if not isinstance(value, str) or not 1 <= len(value) <= _MAX_SEED:
            self.bad(where, f"must be a non-empty string of at most {_MAX_SEED} characters")
            return ""
        return value

    def boolean(self, where: str, value: Any) -> bool:
        if not isinstance(value, bool):
            self.bad(where, "must be true or false")
            return False
        return value

    def run(self, raw: Any) -> V2Config | list[str]:
        if not isinstance(raw, Mapping):
            return ["config: must be an object"]
        self.closed("config", raw, _TOP, _TOP_REQUIRED)
        version = raw.get("version")
        if isinstance(version, bool) or not is_number(version) or version != 2:
            self.bad("version", "must be 2")
        return_type = raw.get("return_type")
        if return_type in _RESERVED_RETURN_TYPES:
            self.unsupported.append(f"return_type: {return_type!r} is not evaluated locally")
        elif return_type != "boolean":
            self.bad("return_type", "must be one of boolean, string, number, json")
        default = raw.get("default_value")
        if return_type == "boolean" and default is not None and not isinstance(default, bool):
            self.bad("default_value", "must be true, false or null for a boolean flag")
        group_index: Any = raw.get("aggregation_group_type_index")
        if "aggregation_group_type_index" in raw:
            self.group_flag = True
            if not is_int(group_index) or group_index < 0:
                self.bad("aggregation_group_type_index", "must be a non-negative integer")
        rules = self.rules(raw.get("rules"))
        if self.problems:
            return self.problems
        if self.unsupported:
            return [UNSUPPORTED_PREFIX + text for text in self.unsupported]
        return V2Config("boolean", default, tuple(rules), group_index)

    def rules(self, raw: Any) -> list[Rule]:
        if not isinstance(raw, list):
            self.bad("rules", "must be a list")
            return []
        if len(raw) > _MAX_RULES:
            self.bad("rules", f"at most {_MAX_RULES} rules")
        out: list[Rule] = []
        seen: set[str] = set()
        for index, item in enumerate(raw):
            rule = self.rule(f"rules[{index}]", index, item)
            if rule is None:
                continue
            if rule.id.lower() in seen:
                self.bad(f"rules[{index}].id", "duplicates an earlier rule id")
            seen.add(rule.id.lower())
            out.append(rule)
        return out

    def rule(self, where: str, index: int, raw: Any) -> Rule | None:
        if not isinstance(raw, Mapping):
            self.bad(where, "must be an object")
            return None
        rule_type = raw.get("rule_type")
        if rule_type in _RESERVED_RULE_TYPES:
            self.unsupported.append(f"{where}.rule_type: {rule_type!r} is reserved")
            return None
        if rule_type not in _RULE_FIELDS:
            self.bad(
                f"{where}.rule_type", "must be targeted_release, percentage_rollout or experiment"
            )
            return None
        allowed, required = _RULE_FIELDS[rule_type]
        self.closed(where, raw, allowed, required)
        rule_id = raw.get("id")
        if not isinstance(rule_id, str) or _UUID.fullmatch(rule_id) is None:
            self.bad(f"{where}.id", "must be a UUID")
            rule_id = str(rule_id)
        if "description" in raw and not isinstance(raw["description"], str):
            self.bad(f"{where}.description", "must be a string")
        if "metadata" in raw and not isinstance(raw["metadata"], Mapping):
            self.bad(f"{where}.metadata", "must be an object")
        filters = self.targeting(f"{where}.targeting", raw.get("targeting"))
        if rule_type == "targeted_release":
            value = self.boolean(f"{where}.value", raw.get("value"))
            return TargetedRelease(rule_id, index, filters, value)
        self.assignment(where, raw)
        percentage = self.percentage(f"{where}.rollout_percentage", raw.get("rollout_percentage"))
        miss = raw.get("on_rollout_miss")
        if miss not in ("continue", "return_default"):
            self.bad(f"{where}.on_rollout_miss", "must be continue or return_default")
        seed = self.seed(f"{where}.seed", raw.get("seed"))
        assign_by = raw.get("assign_by")
        if rule_type == "percentage_rollout":
            value = self.boolean(f"{where}.value", raw.get("value"))
            return PercentageRollout(
                rule_id, index, filters, value, percentage, str(miss), seed, assign_by
            )
        if not self.enable_experiments:
            self.unsupported.append(f"{where}: experiment rules are not evaluated locally")
        experiment_id: Any = raw.get("experiment_id")
        if not is_int(experiment_id):
            self.bad(f"{where}.experiment_id", "must be an integer")
        paused = self.boolean(f"{where}.paused", raw.get("paused"))
        variants = self.variants(f"{where}.variants", raw.get("variants"))
        holdout = None
        if "holdout" in raw:
            holdout = self.holdout(f"{where}.holdout", raw["holdout"])
        return Experiment(
            rule_id,
            index,
            filters,
            experiment_id if is_int(experiment_id) else 0,
            paused,
            percentage,
            str(miss),
            seed,
            variants,
            holdout,
            assign_by,
        )

    def assignment(self, where: str, raw: Mapping[str, Any]) -> None:
        if raw.get("assignment_algorithm") != "sha1_60_v1":
            self.bad(f"{where}.assignment_algorithm", "must be sha1_60_v1")
        if "assign_by" not in raw:
            return
        if self.group_flag:
            self.bad(f"{where}.assign_by", "group flags assign by their group and omit it")
        elif raw["assign_by"] != "person":
            self.bad(f"{where}.assign_by", "must be person")

    def variants(self, where: str, raw: Any) -> tuple[Variant, ...]:
        if not isinstance(raw, list) or not 2 <= len(raw) <= 20:
            self.bad(where, "must be a list of 2 to 20 variants")
            return ()
        out: list[Variant] = []
        keys: set[str] = set()
        hundredths = 0
        for position, item in enumerate(raw):
            at = f"{where}[{position}]"
            if not isinstance(item, Mapping):
                self.bad(at, "must be an object")
                continue
            self.closed(at, item, {"key", "weight", "value"}, {"key", "weight", "value"})
            key = item.get("key")
            if not isinstance(key, str) or _VARIANT_KEY.fullmatch(key) is None:
                self.bad(f"{at}.key", "must be letters, digits, '_' or '-'")
                key = str(key)
            elif key in keys:
                self.bad(f"{at}.key", f"duplicates variant {key!r}")
            keys.add(key)
            weight = self.percentage(f"{at}.weight", item.get("weight"))
            hundredths += round(weight * 100)
            out.append(Variant(key, weight, self.boolean(f"{at}.value", item.get("value"))))
        if hundredths != 10_000:
            self.bad(where, "variant weights must sum to exactly 100")
        return tuple(out)

    def holdout(self, where: str, raw: Any) -> Holdout | None:
        if not isinstance(raw, Mapping):
            self.bad(where, "must be an object")
            return None
        fields = {"id", "seed", "exclusion_percentage"}
        self.closed(where, raw, fields, fields)
        holdout_id: Any = raw.get("id")
        if not is_int(holdout_id):
            self.bad(f"{where}.id", "must be an integer")
            holdout_id = 0
        seed = self.seed(f"{where}.seed", raw.get("seed"))
        share = self.percentage(f"{where}.exclusion_percentage", raw.get("exclusion_percentage"))
        return Holdout(holdout_id, seed, share)

    def targeting(self, where: str, raw: Any) -> tuple[PropertyFilter, ...]:
        if not isinstance(raw, Mapping):
            self.bad(where, "must be an object")
            return ()
        self.closed(where, raw, {"properties"}, {"properties"})
        filters = raw.get("properties")
        if not isinstance(filters, list):
            if "properties" in raw:
                self.bad(f"{where}.properties", "must be a list")
            return ()
        if len(filters) > _MAX_FILTERS:
            self.bad(f"{where}.properties", f"at most {_MAX_FILTERS} filters")
        parsed = [self.filter(f"{where}.properties[{i}]", item) for i, item in enumerate(filters)]
        return tuple(item for item in parsed if item is not None)

    def filter(self, where: str, raw: Any) -> PropertyFilter | None:
        if not isinstance(raw, Mapping):
            self.bad(where, "must be an object")
            return None
        count = len(self.problems)
        self.closed(where, raw, _FILTER_FIELDS, {"key", "type"})
        key: Any = raw.get("key")
        kind: Any = raw.get("type")
        if not isinstance(key, str) or not key:
            self.bad(f"{where}.key", "must be a non-empty string")
        if kind not in _FILTER_TYPES:
            self.bad(f"{where}.type", "must be person, cohort, group or flag")
        operator = raw.get("operator")
        if operator is not None and operator not in KNOWN_OPERATORS:
            self.bad(f"{where}.operator", f"unknown operator {operator!r}")
        for name, check in _OPTIONAL_FILTER_FIELDS:
            if raw.get(name) is not None and not check(raw[name]):
                self.bad(f"{where}.{name}", "has the wrong type")
        problem = json_problem(raw.get("value"))
        if problem is not None:
            self.bad(f"{where}.value", problem)
        if len(self.problems) > count:
            return None
        if (kind == "group") != self.group_flag and kind in ("person", "group"):
            # Person filters in a group flag (or the reverse) need properties of another
            # subject than the one assigned: left to the server.
            self.unsupported.append(f"{where}: {kind} filter in a {self.flag_kind} flag")
        operator = operator or "exact"
        negation = bool(raw.get("negation"))
        value = raw.get("value")
        check_fn = compile_check(key, kind, operator, value, negation)
        return PropertyFilter(
            key, kind, operator, value, negation, raw.get("group_type_index"), check_fn
        )

    @property
    def flag_kind(self) -> str:
        return "group" if self.group_flag else "person"


def parse_config(
    config: Mapping[str, Any], *, enable_experiments: bool = False
) -> V2Config | list[str]:
    """Validate ``config`` (a flag's ``filters`` with ``version: 2``). Never raises.

    Returns the model, or the list of problems (see :func:`problem_kind`). Experiment rules
    are validated in full but reported unsupported unless ``enable_experiments``: the
    contract corpus 1.0.0 pins no experiment outcome, so by default they go to the server.
    """
    try:
        return _Parser(enable_experiments).run(config)
    except Exception as error:  # defensive: a hostile mapping must not escape
        return [f"config: could not be read ({type(error).__name__})"]
