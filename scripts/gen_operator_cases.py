"""Generate tests/data/operator_cases.json from posthog-python's own ``match_property``.

Run with an interpreter that has ``posthog==7.91.1`` installed (never a flagkit dependency):

    /tmp/refvenv/bin/python scripts/gen_operator_cases.py

Each case is a property filter, a property map, a ``property_matching_version`` and
PostHog's outcome: ``true``/``false``, ``"INC:<reason>"`` for an inconclusive match, or
``"ERROR:<exception type>"`` when PostHog raises an ordinary exception. The clock seen by
PostHog is frozen at ``FROZEN_NOW`` (UTC, also its "local" time), so relative dates and bare
years are reproducible. Values that JSON cannot hold are tagged (see ``encode``).
"""

from __future__ import annotations

import datetime as real_datetime
import json
import math
import random
import sys
import types
import warnings
from decimal import Decimal
from pathlib import Path
from typing import Any

import posthog
from posthog import feature_flags
from posthog.feature_flags import InconclusiveMatchError, match_property

if posthog.VERSION != "7.91.1":  # pragma: no cover - generation-time guard
    raise SystemExit(f"expected posthog 7.91.1, found {posthog.VERSION}")

warnings.simplefilter("ignore")
SEED = 20_260_331
FROZEN_NOW = real_datetime.datetime(
    2024, 3, 31, 12, 30, 15, 123456, tzinfo=real_datetime.timezone.utc
)
OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "operator_cases.json"


# --- freeze PostHog's clock ---------------------------------------------------------------


class _AnyDatetime(type):
    def __instancecheck__(cls, instance: object) -> bool:
        return isinstance(instance, real_datetime.datetime)


class _FrozenDatetime(real_datetime.datetime, metaclass=_AnyDatetime):
    @classmethod
    def now(cls, tz: Any = None) -> Any:  # type: ignore[override]
        return FROZEN_NOW if tz is not None else FROZEN_NOW.replace(tzinfo=None)


_clock = types.ModuleType("datetime")
_clock.datetime = _FrozenDatetime  # type: ignore[attr-defined]
_clock.date = real_datetime.date  # type: ignore[attr-defined]
_clock.timedelta = real_datetime.timedelta  # type: ignore[attr-defined]
_clock.timezone = real_datetime.timezone  # type: ignore[attr-defined]
feature_flags.datetime = _clock  # type: ignore[attr-defined]


# --- tagged JSON encoding -----------------------------------------------------------------


class Opaque:
    """A value with no JSON form whose str() works."""

    def __str__(self) -> str:
        return "opaque"


class Explosive:
    """A value whose str() raises a RuntimeError."""

    def __str__(self) -> str:
        raise RuntimeError("no text")


def encode(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**53 else {"$": "int", "hex": hex(value)}
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$": "float", "v": repr(value)}
    if isinstance(value, list):
        return [encode(item) for item in value]
    if isinstance(value, tuple):
        return {"$": "tuple", "v": [encode(item) for item in value]}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and "$" not in value:
            return {k: encode(v) for k, v in value.items()}
        return {"$": "map", "v": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, real_datetime.datetime):
        return {"$": "datetime", "v": value.isoformat()}
    if isinstance(value, real_datetime.date):
        return {"$": "date", "v": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$": "decimal", "v": str(value)}
    if isinstance(value, bytes):
        return {"$": "bytes", "v": value.decode("latin-1")}
    if isinstance(value, Explosive):
        return {"$": "explosive"}
    if isinstance(value, Opaque):
        return {"$": "opaque"}
    raise TypeError(type(value))


def outcome(prop: dict[str, Any], props: dict[Any, Any], version: int) -> Any:
    try:
        return match_property(prop, props, version)
    except InconclusiveMatchError as error:
        return f"INC:{error.reason.value}"
    except Exception as error:  # PostHog's generic-error path
        return f"ERROR:{type(error).__name__}"


# --- value pools --------------------------------------------------------------------------
# fmt: off

UTC = real_datetime.timezone.utc
PLUS5 = real_datetime.timezone(real_datetime.timedelta(hours=5))

SCALARS: list[Any] = [
    "pro", "PRO", "Pro", "", " ", "null", "None", "true", "TRUE", "false", "False", "banana",
    "Ä", "ä", "ß", "ss", "SS", "Straße", "STRASSE", "İ", "i\u0307", "i", "ΟΔΟΣ", "οδος", "οδοσ",
    "Σ", "ς", "ſun", "sun", "1", "1.0", "1.5", "323.0", "1e-7", "1e-07", "0.00001", "1e+16",
    "[1,2]", "[1, 2]", '{"a":1,"b":2}', "@acme.com", "a@acme.com", "x\n", "\u0301", "😀",
    True, False, None, 0, 1, -1, 2, 10, 323, 1.0, 1.5, 323.0, -0.0, 0.1, 1e-5, 1.5e-5, 1e-7,
    1e16, 1e22, 1.7976931348623157e308, 5e-324, 9007199254740993,
]
CONTAINERS: list[Any] = [
    [], [True], [False], ["true", "false"], ["TRUE"], [True, ["TRUE", []]], [True, [False]],
    ["FREE", "PRO"], ["free", "Ä"], [False, "PRO"], [[True], "PRO"], [None, "PRO"], [1, "PRO"],
    [1, 2], ["a", 1], [1.0, "x"], {"a": 1}, {"b": 2, "a": 1}, {"a": "x", "z": [{"b": 1, "a": 2}]},
    {"é": [None, True, 1.5e-5]}, ["é", "\n", '"q"'], [[]], [[], []],
]
EXOTIC: list[Any] = [
    float("nan"), float("inf"), float("-inf"), [float("inf")], {"a": float("nan")},
    (1, 2), {1: "a"}, {"a": {2: "b"}}, Decimal("1.5"), b"10", Opaque(),
    real_datetime.datetime(2024, 1, 1, tzinfo=UTC), real_datetime.date(2024, 1, 1), 10**400,
]
TEXT_PROPS = SCALARS + CONTAINERS + EXOTIC + ["Hello World", "hello", "WORLD", "abc", "nul"]

REGEX_PATTERNS: list[Any] = [
    "", "pro", "^pro$", "^PRO$", r"^\d+$", r"^\D+$", r"^\w+$", r"^\W+$", r"^\s$", r"\s+",
    "^.$", "^é+$", r"^[\w.+-]+@example\.com$", r"^(?:ab|cd){2,3}$", r"^\x41+$", "^nu", "null",
    r"[\b]", r"^a\-b$", r"^a\_b$", r"^\${2}$", r"^[\^$?]+$", "^foo$", "foo$", "a$", "^$",
    r"^(a+)(b+)$", r"^(?:a|aa)+$", "[", "(", "*", "?*", r"*foo$", r"(a|b$", "a**", "a{2}*",
    "a{2,1}", r"\p{L}+", r"(?i)pro", r"\bfoo", "(a+)+", r"(é+)+", "a++", "[]", "[^]", r"\Z",
    r"[a-\d]", "{2}", "a{1001}", "a{0,4294967295}", "True", "None", "1.5", "['a']", "[a-z]+",
    "[^a-z]", "[a-]", r"[\d-]", "[|]", "[a||b]", r"\.", r"a\ b", "x|", "|", "()", "(|a)b",
    r"^\d{3}-\d{4}$", "^[A-Z][a-z]+$", r"[\x00-\x7f]+", "é", r"\t", "\t", "abc|def", ".*",
    r"^\s*$", r"[\s\S]", r"\S+@\S+", "^true$", "^null$", "1", r"^\[1,2\]$", r"^\{.*\}$",
    True, None, 1.5, ["a"], 10,
]
REGEX_PROPS: list[Any] = [
    *TEXT_PROPS,
    "aa\n", "foo\n", "foo\r\n", "a\u0301", "é١", "١", "\u2003", "\x1c", "\ufeff", "\ud800",
    "a\ud800", "123", "555-1234", "Hello", "a.b+tag@example.com", "abcdab", "aabb", "a-b",
    "a_b", "$$", "$?^", "ab", "cd", "abcd", "x", "\r",
]

NUMERIC_FILTERS: list[Any] = [
    10, 5, 5.0, "5", "10", "+1.e1", "-1.25E+2", "-.5", "1e-400", "1.7976931348623157e308",
    "9007199254740992", "0.1", "0", "-0", "", "abc", "10px", " 10", "10 ", "10\n", "1_0",
    "1,0", "1e", "0x10", "١٠", "NaN", "Infinity", "-inf", "1e309", float("nan"),
    float("inf"), Decimal("0.1"), Decimal("1e10000"), Decimal("sNaN"), 10**400, True, False,
    None, [], [10], {}, {"value": 10}, "5.", ".5", "+5",
]
NUMERIC_PROPS: list[Any] = [
    *NUMERIC_FILTERS,
    2, 2.0, "2", Decimal(2), Decimal(5), Decimal(10), 10.0, 9007199254740993, "100", "30",
    1e308, -1e308, 0.0, -0.0, "9", "11", 4.999999999999999, 5.000000000000001,
]

DATE_FILTERS: list[Any] = [
    "2024-01-01", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00.000Z", "2024-03-31",
    "2024-03-31T12:30:15Z", "2024-01-01 00:00:00 UTC", "2024-01-01 00:00:00 utc",
    "2024-01-01T10:00:00+05:00", "2024-01-01 10:00:00 +05:00", "2024-01-01T10:00:00-0800",
    "20240101", "2024-W05-3", "2024W053", "2024-01-01T12", "2024-01-01T12.5", "2024",
    "2023", "1234", 2024, 2023, "٢٠٢٤", "1d", "-1d", "0d", "7d", "1h", "-24h", "2w", "1m",
    "2m", "3m", "13m", "1y", "4y", "0y", "9999d", "10000d", "9999y", "2024y", "2023y",
    "1x", "1D", "abc", "", True, None, 1.5, "1d\n", " 2024-01-01 ", "2024-02-30",
    "2024-01-01T25:00", "2024-01-01T10:00:00+24:00", "2024-01-01é10:00", "2024-01-01x",
    "not-a-date", "01/02/2024", "0000-01-01", "2024-01-01T10:00:00 +0500",
]
DATE_PROPS: list[Any] = [
    "2023-12-31", "2024-01-01", "2024-01-02", "2024-03-30", "2024-03-31", "2024-04-01",
    "2024-03-31T12:30:15.123456Z", "2024-03-31T12:30:15.123457Z", "2024-03-31T12:30:15Z",
    "2024-01-01T00:00:00Z", "2023-12-31T23:59:59.999999Z", "2024-01-01T04:59:59+05:00",
    "2024-01-01T05:00:00+05:00", "2024-01-01 05:00:01 +05:00", "2024-01-01 00:00:00 UTC",
    "2024", "2023", "2025", "20240101", "2024-W01-1", "2024-02-29", "2023-02-29",
    "2024-03-30T12:30:15Z", "2024-03-24T12:30:15Z", "2024-02-29T12:30:15Z",
    "2024-01-29T12:30:15Z", "2023-03-31T12:30:15Z", "2020-03-31T12:30:15Z", "2024-03-31T11:30:15Z",
    "not a date", "", "12/31/2023", "2024-01-01T10:00:00+24:00", " 2024-01-01 ",
    real_datetime.datetime(2024, 1, 1), real_datetime.datetime(2023, 12, 31, 23, 59),
    real_datetime.datetime(2024, 1, 1, 4, 59, tzinfo=PLUS5),
    real_datetime.datetime(2024, 3, 30, 12, 30, 15, 123456, tzinfo=UTC),
    real_datetime.date(2023, 12, 31), real_datetime.date(2024, 1, 1),
    real_datetime.date(2024, 3, 30), real_datetime.date(2024, 3, 31), None, 0, 1704067200,
    1.5, True, [], {}, ["2024-01-01"], float("nan"), Decimal(1),
]

SEMVER_VALUES: list[Any] = [
    "1.2.3", "1.2.4", "1.3.0", "1.2", "1", "2.0.0", "0.2.3", "0.2.9", "0.3.0", "0.0.3",
    "0.0.4", "0.0.0", "v1.2.3", "V1.2.3", "vv1.2.3", " 1.2.3 ", "1.2.3-alpha", "1.2.3+build",
    "1.2.3-rc.1+b", "1.2.3.4", "01.2.3", "1.07.3", "1.0.0", "x.y", "a.b", "", ".1.2.3",
    "1..3", "1.2.", "1.*", "1.2.*", "*", "1.x", "1x.*", "v1.*", "1.2.3.*", "1.2-beta.*",
    "١.٢.٣", "²", 123, 1.5, 2, 0, True, None, [1], {"v": 1}, "10.0.0",
    "9.99.999", "1.2.3 ", "-1.2.3", "+1.2.3", Explosive(),
]

UNKNOWN_OPERATORS: list[Any] = [
    "in", "not_in", "is_date_exact", "flag_evaluates_to", "bogus", "EXACT", "Exact",
    ["exact"], {"op": 1}, 5,
]
FALSY_OPERATORS: list[Any] = [None, "", 0, False, []]

TEXT_OPERATORS = [
    "icontains", "not_icontains", "starts_with", "not_starts_with", "ends_with", "not_ends_with",
]
SEMVER_OPERATORS = [
    "semver_eq", "semver_neq", "semver_gt", "semver_gte", "semver_lt", "semver_lte",
    "semver_tilde", "semver_caret", "semver_wildcard",
]
# The (filter, property) pairs of PostHog's matching-version table.
BOOLEAN_PRECEDENCE_PAIRS: list[tuple[Any, Any]] = [
    (False, "banana"), (False, 0), (["true", "false"], "true"), (["true", "false"], "pro"),
    ([], True), ([], []), (True, [True]), (False, "FALSE"), (False, None), (False, ""),
    ([], [True, ["TRUE", []]]), ([], [True, [False]]), ([], False), ([], None), ([], 0),
    ([], 1), ([], "banana"), ([False, "PRO"], "pro"), ([[True], "PRO"], [True]),
    ([None, "PRO"], "null"), ([1, "PRO"], "1"), ("οδος", "ΟΔΟΣ"), ("i\u0307", "İ"), ("ss", "ß"),
]
# fmt: on
LONG_DIGITS = "1" * 4301  # beyond Python's default int() digit limit


def main() -> None:
    rng = random.Random(SEED)
    cases: list[dict[str, Any]] = []
    seen: set[str] = set()

    def add(prop: dict[Any, Any], props: dict[Any, Any], version: int = 1) -> None:
        result = outcome(prop, props, version)
        case = {"f": encode(prop), "p": encode(props), "v": version, "o": result}
        text = json.dumps(case, sort_keys=True, ensure_ascii=False)
        if text not in seen:
            seen.add(text)
            cases.append(case)

    def sample(pool: list[Any], count: int) -> list[Any]:
        return [rng.choice(pool) for _ in range(count)]

    def filters(operator: Any, value: Any) -> dict[str, Any]:
        return {"key": "k", "type": "person", "operator": operator, "value": value}

    # Presence and missing keys for every operator.
    for operator in [
        "exact",
        "is_not",
        "is_set",
        "is_not_set",
        *TEXT_OPERATORS,
        "regex",
        "not_regex",
        "gt",
        "gte",
        "lt",
        "lte",
        "is_date_before",
        "is_date_after",
        *SEMVER_OPERATORS,
    ]:
        for value in [
            "x",
            "1.2.3",
            "2024-01-01",
            "5",
            "1d",
            "[",
            r"\bfoo",
            "",
            None,
            float("nan"),
            "x.y",
            "abc",
            ["a", float("inf")],
            Explosive(),
        ]:
            add(filters(operator, value), {})
            add(filters(operator, value), {"other": "x"})
            add(filters(operator, value), {"k": None})
            add(filters(operator, value), {"k": "x"})
    for operator in UNKNOWN_OPERATORS + FALSY_OPERATORS:
        for props in ({}, {"k": "x"}, {"k": None}, {"k": True}):
            add(filters(operator, "x"), props)
            add(filters(operator, True), props)
    # Odd filter shapes.
    for prop in [
        {"key": "k"},
        {"key": "k", "operator": "exact"},
        {"value": "x"},
        {"key": None, "value": "x"},
        {"key": 5, "value": "x"},
        {"key": ["k"], "value": "x"},
        {"key": "k", "value": "x", "type": "group"},
        {"key": "k", "value": "x", "type": "weird"},
    ]:
        for props in ({}, {"k": "x"}, {"k": None}, {None: "x"}, {5: "x"}):
            add(prop, props)

    # exact / is_not: every pair of a filter and a property sample, both versions.
    values = SCALARS + CONTAINERS + EXOTIC
    for operator in ("exact", "is_not"):
        for value in values:
            for prop in sample(values, 6):
                for version in (1, 2):
                    add(filters(operator, value), {"k": prop}, version)
    for value, prop in BOOLEAN_PRECEDENCE_PAIRS:
        for operator in ("exact", "is_not"):
            for version in (1, 2):
                add(filters(operator, value), {"k": prop}, version)

    for operator in TEXT_OPERATORS:
        for value in SCALARS + CONTAINERS + EXOTIC[:6] + ["o w", "NULL", "nu", "ll"]:
            for prop in sample(TEXT_PROPS, 6):
                add(filters(operator, value), {"k": prop})

    for operator in ("regex", "not_regex"):
        for pattern in REGEX_PATTERNS:
            for prop in sample(REGEX_PROPS, 10):
                add(filters(operator, pattern), {"k": prop})

    for operator in ("gt", "gte", "lt", "lte"):
        for value in NUMERIC_FILTERS:
            for prop in sample(NUMERIC_PROPS, 7):
                add(filters(operator, value), {"k": prop})

    for operator in ("is_date_before", "is_date_after"):
        for value in DATE_FILTERS:
            for prop in sample(DATE_PROPS, 9):
                add(filters(operator, value), {"k": prop})

    for operator in SEMVER_OPERATORS:
        for value in SEMVER_VALUES:
            for prop in sample(SEMVER_VALUES, 7):
                add(filters(operator, value), {"k": prop})

    for operator in ("is_date_before", "is_date_after", "semver_eq", "semver_tilde"):
        for value, prop in (
            (LONG_DIGITS + "d", "2024-01-01"),
            (LONG_DIGITS, "1.2.3"),
            ("1.2.3", LONG_DIGITS),
            ("1d", None),
        ):
            add(filters(operator, value), {"k": prop})
            add(filters(operator, value), {})
    for operator in ("exact", "icontains", "regex"):
        add(filters(operator, "x"), {"k": 10**4301})
        add(filters(operator, 10**4301), {"k": "x"})
        add(filters(operator, [10**4301]), {"k": None})

    OUT.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "generator": "scripts/gen_operator_cases.py",
        "posthog": posthog.VERSION,
        "python": sys.version.split()[0],
        "now": FROZEN_NOW.isoformat(),
        "seed": SEED,
        "cases": cases,
    }
    # ASCII escapes keep lone surrogates representable.
    OUT.write_text(json.dumps(document, separators=(",", ":")) + "\n")
    outcomes: dict[str, int] = {}
    for case in cases:
        kind = str(case["o"]).split(":")[0]
        outcomes[kind] = outcomes.get(kind, 0) + 1
    print(f"{len(cases)} cases, {OUT.stat().st_size} bytes, {outcomes}")


if __name__ == "__main__":
    main()
