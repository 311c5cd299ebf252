"""Case designs: every property operator, row by row (filter value x property values)."""

from __future__ import annotations

import json
from typing import Any

from .build import ABSENT, Case, Topic, cond, flag, p

MISSING: Any = object()  # the property is not passed at all


def _short(value: Any) -> str:
    if value is MISSING:
        return "<missing>"
    if value is ABSENT:
        return "<no value>"
    text = json.dumps(value, ensure_ascii=False)
    if any(not c.isprintable() or (c.isspace() and c != " ") for c in text):
        text = json.dumps(value)  # make invisible characters visible in the case name
    return text if len(text) <= 40 else text[:37] + "..."


def op_topic(
    name: str,
    description: str,
    rows: list[tuple[str, Any, list[Any]]],
    *,
    pmv: Any = ABSENT,
    prefix: str | None = None,
) -> Topic:
    """One flag per (operator, filter value) row; one case per property value."""
    flags: list[dict] = []
    cases: list[Case] = []
    prefix = prefix or name
    for i, (op, fvalue, props) in enumerate(rows):
        key = f"{prefix}-{i}"
        flags.append(flag(key, [cond([p("p", fvalue, op)])]))
        for prop in props:
            person = {} if prop is MISSING else {"p": prop}
            cases.append(Case(f"{op} {_short(fvalue)} vs {_short(prop)}", key, "user-1", person))
    return Topic(name, description, flags, cases, property_matching_version=pmv)


_EXACT_ROWS: list[tuple[str, Any, list[Any]]] = [
    ("exact", "Pro", ["pro", "PRO", "Pro ", "free", None, 1, True, MISSING]),
    ("exact", ["FREE", "PRO"], ["pro", "free", "enterprise", ["pro"], None]),
    ("exact", True, [True, "true", "TRUE", False, "banana", 1, None, ""]),
    ("exact", False, [False, "false", "banana", 0, None, "", "FALSE", True, "true"]),
    ("exact", "true", [True, "True", "yes", "false", False]),
    ("exact", "FALSE", [False, "false", "no", True]),
    ("exact", ["true", "false"], ["pro", "true", "false", True, None]),
    ("exact", [True, ["TRUE"]], [True, "true", False, [True]]),
    ("exact", [], [True, [], [True, ["TRUE", []]], False, None, 0, 1, "banana", "true"]),
    ("exact", 1, [1, 1.0, "1", "1.0", True, "01"]),
    ("exact", 1.0, [1.0, "1.0", 1, "1"]),
    ("exact", 323.0, ["323.0", 323, 323.0, "323"]),
    ("exact", [1, 2], ["[1,2]", "[1, 2]", 1, 2, "1", [1, 2]]),
    ("exact", "[1,2]", [[1, 2], "[1,2]", [1, "2"], [1.0, 2]]),
    ("exact", {"b": 1, "a": [1, 2]}, [{"a": [1, 2], "b": 1}, '{"a":[1,2],"b":1}', "{}"]),
    ("exact", '{"a":1}', [{"a": 1}, {"a": 1.0}, {"A": 1}]),
    ("exact", "Straße", ["straße", "STRASSE", "strasse", "STRAßE"]),
    ("exact", "İ", ["i̇", "i", "İ", "I"]),
    ("exact", "ΣΑΣ", ["σας", "σασ", "ΣΑΣ"]),
    ("exact", 1e-7, ["1e-7", "1e-07", 1e-7, "0.0000001"]),
    ("exact", 1e-05, ["0.00001", "1e-05", 1e-05, "1e-5"]),
    ("exact", 1e16, ["1e+16", 1e16, "10000000000000000", 10000000000000000]),
    ("exact", 123456789.0, ["123456789.0", 123456789]),
    ("exact", -0.0, ["-0.0", 0, -0.0, "0"]),
    ("exact", None, [None, "null", "None", "", "NULL"]),
    ("exact", ABSENT, [None, "null", "x"]),
    ("exact", "null", [None, "null", "Null"]),
    ("exact", ["a", 1, True], ["true", "a", "1", True, "A"]),
    ("exact", [["a"]], [["a"], '["a"]', "a"]),
    ("exact", 0, [0, False, "0", None, 0.0]),
    ("exact", "", ["", None, " "]),
    ("exact", "  padded  ", ["  padded  ", "padded"]),
    ("exact", "ünïcødé", ["ÜNÏCØDÉ", "ünïcødé"]),
    ("is_not", "Pro", ["pro", "free", None, MISSING, 1]),
    ("is_not", True, [True, "true", False, "banana", None]),
    ("is_not", False, [False, "banana", True, None]),
    ("is_not", [], [True, [], False, None]),
    ("is_not", ["FREE", "PRO"], ["pro", "enterprise", None]),
    ("is_not", None, [None, "null", "None", "x"]),
    ("is_not", "None", [None, "None"]),
    ("is_not", ["true", "false"], ["pro", "true"]),
    ("is_not", 1, [1, "1", 1.0]),
]


def exact_topics() -> list[Topic]:
    return [
        op_topic(
            "operators_exact",
            "exact / is_not with property_matching_version absent (legacy boolean precedence).",
            _EXACT_ROWS,
        ),
        op_topic(
            "operators_exact_v2",
            "exact / is_not with property_matching_version 2 (explicit equality).",
            _EXACT_ROWS,
            pmv=2,
        ),
        op_topic(
            "operators_exact_pmv_string",
            'property_matching_version "2" (a string) still means legacy matching.',
            [
                r
                for r in _EXACT_ROWS
                if isinstance(r[1], bool) or r[1] in ("true", ["true", "false"])
            ],
            pmv="2",
        ),
        op_topic(
            "operators_exact_pmv_float",
            "property_matching_version 2.0 (a JSON float) equals 2, so it means explicit matching.",
            [
                r
                for r in _EXACT_ROWS
                if isinstance(r[1], bool) or r[1] in ("true", ["true", "false"])
            ],
            pmv=2.0,
        ),
    ]


def set_topic() -> Topic:
    props = [MISSING, None, "", 0, False, [], {}, "x"]
    rows = [
        ("is_set", "is_set", props),
        ("is_not_set", "is_not_set", props),
        ("is_set", ABSENT, [MISSING, None, "y"]),
        ("is_not_set", ["weird", 1], [MISSING, None, "y"]),
    ]
    return op_topic("operators_set", "is_set / is_not_set presence semantics.", rows)


def text_topic() -> Topic:
    rows: list[tuple[str, Any, list[Any]]] = [
        ("icontains", "TRUE", [True, "it's true", False, MISSING]),
        ("icontains", "1", [True, 1, 10.5, "a1", 2]),
        ("icontains", "nul", [None, "annul", "NU"]),
        ("icontains", "ä", ["Ä", "ä", "xäy"]),
        ("icontains", "ß", ["SS", "ß", "STRAßE"]),
        ("icontains", "STRASSE", ["straße", "Strasse"]),
        ("icontains", "É", ["é", "É", "e"]),
        ("icontains", "i", ["İ", "I", "ı"]),
        ("icontains", "", ["anything", "", None, 0]),
        ("icontains", '"a"', [["a", 1], "a", {"a": 1}]),
        ("icontains", 1, ["x1y", 21, "abc"]),
        ("icontains", ["a", "b"], ['["a","b"]', "a", ["a", "b"]]),
        ("icontains", None, [None, "nullable", "x"]),
        ("icontains", True, ["TRUE", "false"]),
        ("icontains", {"k": 1}, ['{"k":1}', {"k": 1}]),
        ("icontains", '"a":1', [{"b": 2, "a": 1}]),
        ("icontains", "e+16", [1e16]),
        ("icontains", "e-7", [1e-7, "1e-7"]),
        ("icontains", "0.00001", [1e-05]),
        ("icontains", "1.0", [1.0, 1]),
        ("icontains", "-0", [-0.0, 0]),
        ("not_icontains", "x", [None, "xyz", "abc", MISSING, "X"]),
        ("not_icontains", "", ["abc"]),
        ("starts_with", "NU", [None, "nuance", "annul"]),
        ("starts_with", "pro", ["Professional", "apro", "PRO"]),
        ("starts_with", "tr", [True, False]),
        ("not_starts_with", "a", ["abc", "bcd", None, "A"]),
        ("ends_with", ".0", [323.0, 323, "4.0"]),
        ("ends_with", "com", ["a@b.COM", "combo", "com"]),
        ("ends_with", "ll", [None, "ball"]),
        ("not_ends_with", "z", ["buzz", "buzzer", None, "BUZZ"]),
        ("not_ends_with", "E", ["cafÉ", "cafe", "café"]),
    ]
    return op_topic("operators_text", "icontains / starts_with / ends_with and negations.", rows)


def regex_topic() -> Topic:
    rows: list[tuple[str, Any, list[Any]]] = [
        ("regex", "^pro$", ["pro", "Pro", "pro\n", "xpro", MISSING]),
        ("regex", "pro", ["a pro b", "PRO"]),
        ("regex", "a$", ["a\n", "ba", "a"]),
        ("regex", "^\\d+$", ["123", "12a", 123, 1.5]),
        ("regex", "^true$", [True, "true", "True"]),
        ("regex", "^null$", [None]),
        ("regex", "^\\[1,2\\]$", [[1, 2]]),
        ("regex", "(?i)pro", ["PRO", MISSING]),
        ("regex", "[", ["x", "["]),
        ("not_regex", "[", ["x"]),
        ("regex", "(unclosed", ["(unclosed"]),
        ("regex", "", ["anything", None]),
        ("not_regex", "", ["anything"]),
        ("regex", "\\bword\\b", ["a word"]),
        ("regex", "(a)\\1", ["aa"]),
        ("regex", "(a+)+", ["aaa"]),
        ("regex", "a{2}", ["caab", "cab"]),
        ("regex", "a{2,}", ["a", "aaa"]),
        ("regex", "colou?r", ["color", "colour", "colr"]),
        ("regex", "^[a-z]+@[a-z]+\\.com$", ["me@x.com", "ME@X.COM"]),
        ("regex", "\\w+", ["é", "€", "abc", "٣"]),
        ("regex", "^\\w+$", ["café", "naïve", "x€"]),
        ("regex", "\\s", ["a\x1cb", "a b", "a\u00a0b", "ab"]),
        ("regex", "^\\S+$", ["a\u2003b", "ab"]),
        ("regex", "x|y$", ["y\n", "y", "x"]),
        ("regex", "^a.c$", ["abc", "a\nc"]),
        ("regex", "^\\d$", ["٣", "3", "³"]),
        ("regex", "[\\d-z]", ["5"]),
        ("regex", "a++", ["aa"]),
        ("regex", "(?:ab)+", ["abab", "ba"]),
        ("regex", "(?=a)", ["a"]),
        ("regex", "(?P<n>a)", ["a"]),
        ("regex", "\\x41", ["A", "a"]),
        ("regex", "\\Z", ["x"]),
        ("regex", "\\.", ["a.b", "ab"]),
        ("regex", "[[]", ["["]),
        ("regex", "[]a]", ["a"]),
        ("regex", "a{99999999999}", ["a"]),
        ("regex", "\\u0041", ["A"]),
        ("regex", "^(a|b)*$", ["abab\n", "abab"]),
        ("regex", "^[^0-9]+$", ["abc", "a1"]),
        ("regex", "[a-c]{2}", ["xbcx", "xbx"]),
        ("regex", "\\p{L}", ["a"]),
        ("regex", 12, ["x12", "1 2"]),
        ("regex", True, [True, "True"]),
        ("regex", None, [None, "None"]),
        ("not_regex", "^a", ["abc", "bcd", None, MISSING]),
        ("not_regex", "(?i)a", ["A"]),
        ("regex", "é", ["café", "CAFÉ"]),
        ("regex", "^.$", ["😀", "ab"]),
        ("regex", "*a", ["a"]),
        ("regex", "a{,3}", ["a{,3}", "aaa"]),
    ]
    return op_topic("operators_regex", "regex / not_regex: dialect gate, $ rule, invalid.", rows)


def numeric_topic() -> Topic:
    rows: list[tuple[str, Any, list[Any]]] = [
        (
            "gt",
            "5",
            ["10", 10, 5, "5", 4.9, "10px", " 6", None, True, [6], "6.0", "1e1", ".6e1", "+6"],
        ),
        ("gt", 5, ["-6", "0x10", "1_0", "inf", "nan", "６", "Infinity", "5.", MISSING]),
        ("gte", 5, [5, "5.0", 4.999, "5", False]),
        ("lt", 0, [-1, "-0.0", 0, "-1e-9", "0"]),
        ("lte", 1e3, ["1000", 1000.0001, 999, "1e3"]),
        ("gt", "9007199254740992", [9007199254740993, "9007199254740994"]),
        ("gt", "abc", [1, None, MISSING]),
        ("gt", None, [1]),
        ("gt", ABSENT, [1]),
        ("gt", "", [1]),
        ("gt", True, [2]),
        ("lt", "5.", [4]),
        ("lt", ".5", [0.25, 1]),
        ("lt", "1e400", [1]),
        ("gt", 1e308, ["1e309", 10**400, 1.7e308]),
        ("gte", "-0", [0, -0.0]),
        ("lt", [5], [1]),
        ("gt", " 5", [10]),
        ("gt", "1,000", [2000]),
        ("lte", "+1E2", [100, "100.0", 101]),
    ]
    return op_topic("operators_numeric", "gt / gte / lt / lte: strict numeric parsing.", rows)


def date_topic() -> Topic:
    d = "2024-01-01"
    rows: list[tuple[str, Any, list[Any]]] = [
        (
            "is_date_before",
            d,
            [
                "2023-12-31",
                "2024-01-01",
                "2024-01-01T00:00:00Z",
                "2023-12-31T23:59:59.999999Z",
                "2024-01-01T00:00:00+01:00",
                "2023-12-31 23:30:00 -01:00",
                "20231231",
                "2023-W52-7",
                "2024-01-01T00",
                "2023-12-31 23:59 UTC",
                "2023-12-31 23:59 utc",
                " 2023-12-31 ",
                "2023-12-31T23:59:59.1234567",
                "2020",
                "not a date",
                1704067200,
                True,
                None,
                "",
                "2023-12-31T25:00",
                "2023-02-29",
                MISSING,
            ],
        ),
        ("is_date_after", d, ["2024-06-01", "2024-01-01", "2099-01-01", "2024-01-01T00:00:01Z"]),
        ("is_date_after", "2024-01-01T00:00:00Z", ["2024-01-01T00:00:00.000001Z", d]),
        ("is_date_before", "2024-01-01 00:00:00 UTC", ["2023-12-31T23:59:59Z"]),
        ("is_date_before", "2024-01-01T05:30:00+05:30", ["2023-12-31T23:59:59Z", d]),
        ("is_date_before", "20240101", ["2023-12-31"]),
        ("is_date_before", "2024-W01-1", ["2023-12-31", "2024-01-02"]),
        ("is_date_before", "2000", ["1999-01-01", "2001-01-01"]),
        ("is_date_before", 20240101, ["2023-12-31"]),
        ("is_date_before", "not-a-date", ["2023-12-31", MISSING]),
        ("is_date_before", "2024-13-01", ["2023-12-31"]),
        ("is_date_before", "", ["2023-12-31"]),
        ("is_date_before", True, ["2023-12-31"]),
        ("is_date_before", "-1d", ["1990-01-01", "2999-01-01"]),
        ("is_date_after", "-1d", ["1990-01-01", "2999-01-01"]),
        ("is_date_before", "1d", ["1990-01-01"]),
        ("is_date_before", "24h", ["1990-01-01T00:00:00Z"]),
        ("is_date_after", "-1h", ["2999-01-01"]),
        ("is_date_before", "-2w", ["1990-01-01"]),
        ("is_date_before", "6m", ["1990-01-01", "2999-01-01"]),
        ("is_date_before", "1y", ["1990-01-01"]),
        ("is_date_before", "10y", ["2000-01-01", "2999-01-01"]),
        ("is_date_after", "2000y", ["1990-01-01", "0100-01-01"]),
        ("is_date_before", "0d", ["1990-01-01"]),
        ("is_date_before", "10000d", ["1990-01-01"]),
        ("is_date_before", "9999y", ["1990-01-01"]),
        ("is_date_before", "5000y", ["1990-01-01"]),
        ("is_date_before", "1D", ["1990-01-01"]),
        ("is_date_before", "1x", ["1990-01-01"]),
        ("is_date_before", "+1d", ["1990-01-01"]),
        ("is_date_before", "--1d", ["1990-01-01"]),
        ("is_date_after", "-9998d", ["1990-01-01"]),
    ]
    return op_topic(
        "operators_dates",
        "is_date_before / is_date_after: absolute, relative (clock-independent) and invalid.",
        rows,
    )


def semver_topic() -> Topic:
    v = "1.2.3"
    rows: list[tuple[str, Any, list[Any]]] = [
        (
            "semver_eq",
            v,
            [
                "1.2.3",
                "v1.2.3",
                " 1.2.3 ",
                "1.2.3-alpha",
                "1.2.3+build",
                "1.2",
                "1.2.4",
                "01.2.3",
                "abc",
                None,
                1,
                "V1.2.3",
                "vv1.2.3",
                "1.2.3.4",
                "",
                "1..3",
                ".1.2",
                "1.2.3-rc.1+b",
                "1.02.3",
                MISSING,
            ],
        ),
        ("semver_eq", "1.2", ["1.2.0", "1.2.1"]),
        ("semver_neq", v, ["1.2.4", "1.2.3", None]),
        ("semver_gt", v, ["1.10.0", "1.2.3", "1.2.2", "2", 1.5, "1.2.10"]),
        ("semver_gte", v, ["1.2.3", "1.2.2", "1.3"]),
        ("semver_lt", v, ["1.2.2", "1.2.3", "0.99.99"]),
        ("semver_lte", v, ["1.2.3", "1.2.4", "v1.0"]),
        ("semver_tilde", v, ["1.2.3", "1.2.9", "1.3.0", "1.2.2"]),
        ("semver_caret", v, ["1.9.9", "2.0.0", "1.2.3", "1.2.2"]),
        ("semver_caret", "0.2.3", ["0.2.9", "0.3.0", "0.2.2"]),
        ("semver_caret", "0.0.3", ["0.0.3", "0.0.4"]),
        ("semver_wildcard", "1.*", ["1.99.0", "2.0.0", "0.9.9"]),
        ("semver_wildcard", "1.2.*", ["1.2.7", "1.3.0"]),
        ("semver_wildcard", "1.2.3", ["1.2.3", "1.2.4"]),
        ("semver_wildcard", "1.x", ["1.2.3"]),
        ("semver_wildcard", "*", ["1.2.3"]),
        ("semver_wildcard", "v1.*", ["1.5.0"]),
        ("semver_wildcard", "1.*.*", ["1.5.0", "2.0.0"]),
        ("semver_tilde", "1.2", ["1.2.5", "1.3.0"]),
        ("semver_eq", "01.2.3", ["1.2.3", MISSING]),
        ("semver_gt", "abc", ["1.2.3"]),
        ("semver_gt", 1.2, ["1.3.0", "1.1.9"]),
        ("semver_lt", 2, ["1.99.99", "2.0.0"]),
        ("semver_eq", None, ["1.2.3"]),
        ("semver_caret", "x", ["1.2.3"]),
    ]
    return op_topic("operators_semver", "All semver operators, parsing and bounds.", rows)


def unknown_topic() -> Topic:
    rows: list[tuple[str, Any, list[Any]]] = [
        ("is_date_exact", "2024-01-01", ["2024-01-01", MISSING]),
        ("in", ["a"], ["a", MISSING]),
        ("not_in", ["a"], ["b", MISSING]),
        ("flag_evaluates_to", True, [True, MISSING]),
        ("bogus", "x", ["x", MISSING]),
        ("EXACT", "x", ["x"]),
        ("contains", "x", ["xyz"]),
        ("is_not_set ", "x", ["x"]),
    ]
    topic = op_topic("operators_unknown", "Unknown operators are undecidable, per flag.", rows)
    topic.flags += [
        flag("unknown-then-match", [cond([p("p", "x", "bogus")]), cond([], 100)]),
        flag("unknown-and-false", [cond([p("p", "x", "bogus"), p("plan", "pro")])]),
        flag("unknown-and-missing", [cond([p("p", "x", "bogus"), p("plan", "pro")])]),
        flag("sibling-still-works", [cond([p("plan", "pro")])]),
    ]
    topic.cases += [
        Case("unknown op group then 100% group", "unknown-then-match", "u", {"p": "x"}, want=True),
        Case(
            "unknown op and false filter",
            "unknown-and-false",
            "u",
            {"p": "x", "plan": "f"},
            want=False,
        ),
        Case("unknown op and missing filter", "unknown-and-missing", "u", {"p": "x"}, want=None),
        Case("other flags still evaluate", "sibling-still-works", "u", {"plan": "pro"}, want=True),
    ]
    return topic


def all_topics() -> list[Topic]:
    return [
        *exact_topics(),
        set_topic(),
        text_topic(),
        regex_topic(),
        numeric_topic(),
        date_topic(),
        semver_topic(),
        unknown_topic(),
    ]
