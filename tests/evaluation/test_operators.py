"""Property-filter operators: replay of PostHog's own outcomes plus hand-picked edge cases.

``tests/data/operator_cases.json`` is produced by ``scripts/gen_operator_cases.py`` from
posthog-python 7.91.1's ``match_property`` (with its clock frozen); every case must agree.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from flagkit._evaluation.operators import SUPPORTED_OPERATORS, compile_property_filter
from flagkit._evaluation.outcome import Cause, CompiledProperty

DATA = Path(__file__).parent.parent / "data" / "operator_cases.json"
MISSING = Cause.MISSING_CONTEXT
UNSUPPORTED = Cause.UNSUPPORTED_DEFINITION
NOW = datetime(2024, 3, 31, 12, 30, 15, 123456, tzinfo=timezone.utc)


class Explosive:
    """str() raises, as in the generator."""

    def __str__(self) -> str:
        raise RuntimeError("no text")


class Opaque:
    def __str__(self) -> str:
        return "opaque"


def decode(value: Any) -> Any:
    """Undo the generator's tagged JSON encoding."""
    if isinstance(value, list):
        return [decode(item) for item in value]
    if not isinstance(value, dict):
        return value
    tag = value.get("$")
    if tag is None:
        return {name: decode(item) for name, item in value.items()}
    decoders = {
        "float": lambda: float(value["v"]),
        "int": lambda: int(value["hex"], 16),
        "tuple": lambda: tuple(decode(item) for item in value["v"]),
        "map": lambda: {decode(name): decode(item) for name, item in value["v"]},
        "datetime": lambda: datetime.fromisoformat(value["v"]),
        "date": lambda: date.fromisoformat(value["v"]),
        "decimal": lambda: Decimal(value["v"]),
        "bytes": lambda: value["v"].encode("latin-1"),
        "explosive": Explosive,
        "opaque": Opaque,
    }
    return decoders[tag]()


def expected(outcome: Any) -> bool | Cause:
    if isinstance(outcome, bool):
        return outcome
    if outcome.startswith("ERROR:"):
        return UNSUPPORTED  # PostHog raises an ordinary exception
    return {"INC:unsupported_definition": UNSUPPORTED, "INC:missing_context": MISSING}[outcome]


def check(raw: Any, props: dict[Any, Any], version: int = 1, now: datetime = NOW) -> Any:
    return compile_property_filter(raw, version, now=lambda: now).test(props)


def prop(operator: str | None, value: Any, key: str = "k") -> dict[str, Any]:
    raw: dict[str, Any] = {"key": key, "value": value, "type": "person"}
    if operator is not None:
        raw["operator"] = operator
    return raw


# --- differential data ----------------------------------------------------------------------


def test_reference_cases_all_agree() -> None:
    document = json.loads(DATA.read_text())
    assert document["posthog"] == "7.91.1"
    now = datetime.fromisoformat(document["now"])
    cases = document["cases"]
    assert len(cases) > 5000
    mismatches = []
    operators: Counter[str] = Counter()
    for case in cases:
        raw = decode(case["f"])
        operators[str(raw.get("operator"))] += 1
        got = check(raw, decode(case["p"]), case["v"], now)
        want = expected(case["o"])
        if got is not want:
            mismatches.append((case["f"], case["p"], case["v"], case["o"], got))
    assert not mismatches, f"{len(mismatches)} of {len(cases)} disagree, e.g. {mismatches[:5]}"
    # The data must exercise every supported operator.
    assert set(operators) >= SUPPORTED_OPERATORS


# --- dispatch, presence, unknown operators --------------------------------------------------


@pytest.mark.parametrize("operator", ["in", "not_in", "is_date_exact", "flag_evaluates_to", "x"])
def test_unknown_operator_is_unsupported_even_without_the_key(operator: str) -> None:
    assert check(prop(operator, "x"), {}) is UNSUPPORTED
    assert check(prop(operator, "x"), {"k": "x"}) is UNSUPPORTED


@pytest.mark.parametrize("operator", [None, "", 0, False])
def test_falsy_operator_means_exact(operator: Any) -> None:
    raw = {"key": "k", "value": "x", "operator": operator}
    assert check(raw, {"k": "X"}) is True
    assert compile_property_filter(raw, 1).operator == "exact"


def test_is_set_and_is_not_set_look_only_at_presence() -> None:
    present: list[Any] = [None, "", False, [], 0]
    for value in present:
        assert check(prop("is_set", "whatever"), {"k": value}) is True
        assert check(prop("is_not_set", "whatever"), {"k": value}) is False
    assert check(prop("is_set", None), {}) is MISSING
    assert check(prop("is_not_set", None), {"other": 1}) is MISSING


def test_missing_key_is_missing_context_unless_the_filter_is_unusable() -> None:
    assert check(prop("exact", "x"), {}) is MISSING
    assert check(prop("gt", "5"), {}) is MISSING
    assert check(prop("gt", "abc"), {}) is UNSUPPORTED
    assert check(prop("is_date_before", "not-a-date"), {}) is UNSUPPORTED
    assert check(prop("semver_gt", "x.y"), {}) is UNSUPPORTED
    assert check(prop("regex", r"\bfoo"), {}) is UNSUPPORTED
    assert check(prop("regex", "["), {}) is MISSING  # invalid, but not deferred
    assert check(prop("exact", float("nan")), {}) is UNSUPPORTED
    assert check(prop("icontains", [float("inf")]), {}) is UNSUPPORTED


# --- exact / is_not --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filter_value", "prop_value", "legacy", "explicit"),
    [
        (False, "banana", True, False),
        (["true", "false"], "true", False, True),
        (["true", "false"], "pro", True, False),
        ([], True, True, True),
        ([], [True, ["TRUE", []]], True, True),
        ([], None, False, False),
        (False, None, True, False),
        ([None, "PRO"], "null", True, True),
        ("οδος", "ΟΔΟΣ", True, True),
        ("ss", "ß", False, False),
        ("i\u0307", "İ", True, True),
        ("Σ", "ς", False, False),
    ],
)
def test_exact_boolean_precedence_and_unicode_lowercase(
    filter_value: Any, prop_value: Any, legacy: bool, explicit: bool
) -> None:
    for version, want in ((1, legacy), (2, explicit)):
        assert check(prop("exact", filter_value), {"k": prop_value}, version) is want
        assert check(prop("is_not", filter_value), {"k": prop_value}, version) is (not want)


@pytest.mark.parametrize(
    ("filter_value", "prop_value", "want"),
    [
        ("1.0", 1.0, True),
        ("1", 1.0, False),
        ("[1,2]", [1, 2], True),
        ("[1, 2]", [1, 2], False),
        ('{"a":1,"b":2}', {"b": 2, "a": 1}, True),
        ("323.0", 323.0, True),
        ("1e-7", 1e-7, True),
        ("1e-07", 1e-7, False),
        ("0.00001", 1e-5, True),
        ("1e+16", 1e16, True),
        ("-0.0", -0.0, True),
        ('["é","\\n"]', ["é", "\n"], True),
    ],
)
def test_exact_compares_canonical_json_text(filter_value: str, prop_value: Any, want: bool) -> None:
    assert check(prop("exact", filter_value), {"k": prop_value}, 2) is want


def test_exact_unrepresentable_values() -> None:
    for bad in (float("nan"), float("inf"), datetime(2024, 1, 1), (1,), {1: "a"}, Decimal(1)):
        assert check(prop("exact", "x"), {"k": bad}) is MISSING
        assert check(prop("exact", bad), {"k": "x"}) is UNSUPPORTED
    # The property is stringified first, even when boolean precedence would not need it.
    assert check(prop("exact", True), {"k": float("nan")}) is MISSING
    assert check(prop("exact", [float("inf")]), {"k": float("nan")}) is UNSUPPORTED


# --- text operators ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "filter_value", "prop_value", "want"),
    [
        ("icontains", "@ACME.com", "bob@acme.COM", True),
        ("icontains", "Ä", "ä", False),  # only A-Z are folded
        ("icontains", "SS", "ß", False),
        ("icontains", "TRUE", True, True),
        ("icontains", "1", True, False),
        ("icontains", "nul", None, True),
        ("not_icontains", "x", None, True),
        ("starts_with", "NU", None, True),
        ("ends_with", ".0", 323.0, True),
        ("not_ends_with", ".0", 323.0, False),
        ("starts_with", "[1", [1, 2], True),
        ("not_starts_with", "pro", "Professional", False),
    ],
)
def test_text_operators(operator: str, filter_value: Any, prop_value: Any, want: bool) -> None:
    assert check(prop(operator, filter_value), {"k": prop_value}) is want


# --- numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "prop_value", "filter_value", "want"),
    [
        ("gt", "10", "5", True),  # numeric, not lexicographic
        ("lt", "100", "30", False),
        ("gt", "+1.e1", "+.5e+1", True),
        ("gt", 9007199254740993, "9007199254740992", False),
        ("lte", "1e-400", 0, True),
        ("gte", Decimal("0.1"), "0.1", True),
        ("gt", "10px", 5, False),
        ("gt", " 6", 5, False),
        ("gt", True, 0, False),
        ("gt", None, 5, False),
        ("gt", 10**400, 5, False),
        ("lt", "١٠", 50, False),
    ],
)
def test_numeric_ordering(operator: str, prop_value: Any, filter_value: Any, want: bool) -> None:
    assert check(prop(operator, filter_value), {"k": prop_value}) is want


@pytest.mark.parametrize("bad", ["abc", " 5", "1_0", "nan", "inf", True, None, [5], 10**400])
def test_numeric_bad_filter_is_unsupported_even_for_null(bad: Any) -> None:
    assert check(prop("gt", bad), {"k": 10}) is UNSUPPORTED
    assert check(prop("gt", bad), {"k": None}) is UNSUPPORTED


# --- dates ------------------------------------------------------------------------------------


def test_date_operators_absolute() -> None:
    before = prop("is_date_before", "2024-01-01T00:00:00Z")
    after = prop("is_date_after", "2024-01-01 05:00:00 +05:00")  # the same instant
    assert check(before, {"k": "2023-12-31T23:59:59.999999Z"}) is True
    assert check(before, {"k": "2024-01-01"}) is False  # equal instants match neither
    assert check(after, {"k": "2024-01-01"}) is False
    assert check(after, {"k": datetime(2024, 1, 1, 0, 0, 1)}) is True  # naive means UTC
    assert check(before, {"k": date(2023, 12, 31)}) is True
    assert check(before, {"k": None}) is False
    assert check(before, {"k": "soon"}) is MISSING
    assert check(before, {"k": 1704067200}) is MISSING
    assert check(prop("is_date_before", "soon"), {"k": None}) is False
    assert check(prop("is_date_before", "soon"), {"k": "2024-01-01"}) is UNSUPPORTED


@pytest.mark.parametrize(
    ("relative", "just_after"),
    [
        ("1h", "2024-03-31T11:30:15.123457Z"),
        ("-1d", "2024-03-30T12:30:15.123457Z"),
        ("2w", "2024-03-17T12:30:15.123457Z"),
        ("1m", "2024-02-29T12:30:15.123457Z"),
        ("2m", "2024-01-29T12:30:15.123457Z"),  # clamped at every month
        ("13m", "2023-02-28T12:30:15.123457Z"),
        ("1y", "2023-03-31T12:30:15.123457Z"),
    ],
)
def test_relative_dates_follow_the_clock(relative: str, just_after: str) -> None:
    moment = datetime.fromisoformat(just_after.replace("Z", "+00:00"))
    edge = (moment - timedelta(microseconds=1)).isoformat()
    assert check(prop("is_date_after", relative), {"k": just_after}) is True
    assert check(prop("is_date_after", relative), {"k": edge}) is False
    assert check(prop("is_date_before", relative), {"k": edge}) is False
    # The same compiled filter moves with the clock.
    later = NOW + timedelta(days=400)
    assert check(prop("is_date_after", relative), {"k": just_after}, now=later) is False


def test_relative_date_out_of_range_depends_on_the_clock() -> None:
    raw = prop("is_date_before", "2024y")
    assert check(raw, {"k": "0001-01-01"}) is UNSUPPORTED  # year 0 does not exist
    assert check(raw, {}) is UNSUPPORTED
    assert check(raw, {"k": "0001-01-01"}, now=NOW.replace(year=2025)) is True
    assert check(raw, {}, now=NOW.replace(year=2025)) is MISSING


def test_leap_day_clock() -> None:
    leap = datetime(2024, 2, 29, 8, 0, tzinfo=timezone.utc)
    assert check(prop("is_date_after", "4y"), {"k": "2020-02-28T08:00:01Z"}, now=leap) is True
    assert check(prop("is_date_after", "4y"), {"k": "2020-02-28T07:59:59Z"}, now=leap) is False
    # A bare year takes today's month and day: 2023-02-29 does not exist.
    assert check(prop("is_date_before", "2023"), {"k": "2020-01-01"}, now=leap) is UNSUPPORTED
    assert check(prop("is_date_before", "2024-06-01"), {"k": "2023"}, now=leap) is MISSING
    assert check(prop("is_date_before", "2024-06-01"), {"k": "2024"}, now=leap) is True


def test_default_clock_is_read_at_evaluation() -> None:
    compiled = compile_property_filter(prop("is_date_after", "1h"), 1)
    recent = datetime.now(timezone.utc) - timedelta(minutes=30)
    assert compiled.test({"k": recent.isoformat()}) is True
    assert compiled.test({"k": "2000-01-01"}) is False


# --- semver -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "filter_value", "prop_value", "want"),
    [
        ("semver_eq", "1.2.3", "v1.2.3-beta+7", True),
        ("semver_neq", "1.2", "1.2.0", False),
        ("semver_gt", "1.2.3", "1.10.0", True),
        ("semver_lte", 1.5, "1.5.0", True),
        ("semver_tilde", "1.2.3", "1.2.9", True),
        ("semver_tilde", "1.2.3", "1.3.0", False),
        ("semver_caret", "0.2.3", "0.2.9", True),
        ("semver_caret", "0.0.3", "0.0.4", False),
        ("semver_wildcard", "1.*", "1.99.0", True),
        ("semver_wildcard", "1.2.*", "1.3.0", False),
        ("semver_gt", "1.2.3", None, False),
    ],
)
def test_semver(operator: str, filter_value: Any, prop_value: Any, want: bool) -> None:
    assert check(prop(operator, filter_value), {"k": prop_value}) is want


def test_semver_bad_values() -> None:
    assert check(prop("semver_gt", "x.y"), {"k": "a.b"}) is UNSUPPORTED
    assert check(prop("semver_gt", "x.y"), {"k": None}) is False
    assert check(prop("semver_gt", "1.2.3"), {"k": "01.2.3"}) is MISSING
    assert check(prop("semver_wildcard", "1.x"), {"k": "1.2.3"}) is UNSUPPORTED


# --- regex ------------------------------------------------------------------------------------


def test_regex_operator_outcomes() -> None:
    assert check(prop("regex", "^nu"), {"k": None}) is True
    assert check(prop("not_regex", "^pro$"), {"k": "PRO"}) is True
    assert check(prop("regex", "["), {"k": "x"}) is False
    assert check(prop("not_regex", "["), {"k": "x"}) is False
    assert check(prop("regex", ""), {"k": "anything"}) is True
    assert check(prop("not_regex", ""), {"k": "anything"}) is False
    assert check(prop("regex", "a$"), {"k": "a\n"}) is False  # strict end
    assert check(prop("regex", "a+$"), {"k": "aa\n"}) is UNSUPPORTED
    assert check(prop("regex", r"\w+"), {"k": "é"}) is True
    assert check(prop("regex", r"\w+"), {"k": "a\u0301"}) is UNSUPPORTED
    assert check(prop("regex", "^True$"), {"k": True}) is False  # the subject is "true"
    assert check(prop("regex", True), {"k": "True"}) is True  # the pattern is str(value)
    assert check(prop("regex", "x"), {"k": float("nan")}) is MISSING


# --- robustness and descriptions --------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [None, "exact", 5, [], {"key": ["k"], "value": "x"}, {"key": {"a": 1}, "operator": "gt"}],
)
def test_unusable_filters_compile_to_unsupported(raw: Any) -> None:
    compiled = compile_property_filter(raw, 1)
    assert isinstance(compiled, CompiledProperty)
    assert compiled.test({"k": "x"}) is UNSUPPORTED


def test_tests_never_raise_on_hostile_properties() -> None:
    class Hostile:
        def __str__(self) -> str:
            raise RuntimeError

        def __eq__(self, other: object) -> bool:
            raise RuntimeError

        __hash__ = object.__hash__

    class Explode(dict):  # type: ignore[type-arg]
        def get(self, *args: Any) -> Any:
            raise RuntimeError

    nested: list[Any] = []
    for _ in range(5000):
        nested = [nested]
    for operator in sorted(SUPPORTED_OPERATORS):
        compiled = compile_property_filter(prop(operator, "1.2.3"), 1, now=lambda: NOW)
        for value in (Hostile(), nested, 10**5000, "x" * 100_000, {1: Hostile()}):
            assert compiled.test({"k": value}) in (True, False, MISSING, UNSUPPORTED)
        assert compiled.test(Explode(k=1)) in (True, False, MISSING, UNSUPPORTED)


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (prop("exact", ["pro", "enterprise"], "plan"), "plan is one of pro, enterprise"),
        (prop("is_not", "free", "plan"), "plan is not free"),
        (prop("icontains", "@acme.com", "email"), "email contains '@acme.com'"),
        (prop("not_regex", "^a+$", "name"), "name does not match regex '^a+$'"),
        (prop("gt", 30, "age"), "age > 30"),
        (prop("semver_gte", "1.2.0", "app_version"), "app_version semver >= 1.2.0"),
        (prop("semver_caret", "1.2.0", "v"), "v semver ^1.2.0"),
        (prop("is_date_before", "7d", "signup"), "signup is before 7d"),
        (prop("is_set", None, "plan"), "plan is set"),
        (prop("in", 3, "id"), "id in 3 (unsupported operator)"),
    ],
)
def test_descriptions(raw: dict[str, Any], text: str) -> None:
    compiled = compile_property_filter(raw, 1)
    assert compiled.text == text
    assert compiled.key == raw["key"]


def test_long_values_are_shortened_in_descriptions() -> None:
    text = compile_property_filter(prop("exact", "x" * 500), 1).text
    assert len(text) < 100
    assert text.endswith("…")


def test_injected_clock_defines_today_for_bare_years() -> None:
    # 12:30 UTC on March 31 is already April 1 at UTC+14: that clock's "today" counts.
    kiribati = NOW.astimezone(timezone(timedelta(hours=14)))
    raw = prop("is_date_after", "2023-03-31T12:00:00Z")
    assert check(raw, {"k": "2023"}, now=kiribati) is True  # 2023-04-01
    assert check(raw, {"k": "2023"}, now=NOW) is False  # 2023-03-31 00:00
