"""Random edge-case values for the differential test: built strings (dates, semvers,
regexes, numbers) and non-JSON Python values a caller may pass as properties."""

from __future__ import annotations

import datetime as dt
import decimal
import random
import uuid
from typing import Any

_REGEX_ATOMS = [
    "a",
    "b",
    "pro",
    ".",
    "\\d",
    "\\D",
    "\\w",
    "\\W",
    "\\s",
    "\\S",
    "[a-z]",
    "[^0-9]",
    "[\\d]",
    "[a\\-z]",
    "\\.",
    "\\x41",
    "é",
    "(a|b)",
    "(?:ab)",
    "(ab)",
    "\\b",
    "\\1",
    "(?i)",
    "(?=a)",
    "[[]",
    "[]",
    "\\p{L}",
    "\\u0041",
    "\\Z",
    "\\A",
    "[\\d-z]",
    "\\n",
    "\\t",
    "x{2}",
    "😀",
    "ǅ",
]
_REGEX_QUANTS = [
    "",
    "",
    "",
    "*",
    "+",
    "?",
    "{2}",
    "{1,3}",
    "{,2}",
    "*?",
    "++",
    "{2}{3}",
    "{99999999999}",
]


def regex(rng: random.Random) -> str:
    parts = []
    if rng.random() < 0.4:
        parts.append("^")
    for _ in range(rng.randint(1, 4)):
        parts.append(rng.choice(_REGEX_ATOMS) + rng.choice(_REGEX_QUANTS))
        if rng.random() < 0.1:
            parts.append("|")
    if rng.random() < 0.4:
        parts.append("$")
    return "".join(parts)


def date_text(rng: random.Random) -> str:
    y = rng.choice([1999, 2000, 2020, 2023, 2024, 2025, 2999, 1])
    mo = rng.randint(1, 12)
    d = rng.choice([1, 15, 28, 29, 30, 31])
    forms = [
        f"{y:04d}-{mo:02d}-{d:02d}",
        f"{y:04d}{mo:02d}{d:02d}",
        f"{y:04d}-{mo:02d}-{d:02d}T{rng.randint(0, 24):02d}:{rng.randint(0, 59):02d}",
        f"{y:04d}-{mo:02d}-{d:02d}T12:00:00Z",
        f"{y:04d}-{mo:02d}-{d:02d} 12:00:00 UTC",
        f"{y:04d}-{mo:02d}-{d:02d}T12:00:00.123456789+05:30",
        f"{y:04d}-{mo:02d}-{d:02d} 12:00:00 -01:00",
        f"{y:04d}-{mo:02d}-{d:02d}T12+0100",
        f"{y:04d}-W{rng.randint(1, 53):02d}-{rng.randint(1, 7)}",
        f"{y:04d}",
        f" {y:04d}-{mo:02d}-{d:02d} ",
        f"{y:04d}/{mo:02d}/{d:02d}",
        f"{rng.choice(['', '-'])}{rng.randint(0, 12000)}{rng.choice('hdwmyxHD')}",
    ]
    return rng.choice(forms)


def semver_text(rng: random.Random) -> str:
    parts = [str(rng.choice([0, 1, 2, 10, 1, 0])) for _ in range(rng.randint(1, 4))]
    if rng.random() < 0.1:
        parts[rng.randrange(len(parts))] = rng.choice(["01", "x", "*", "", "a"])
    text = ".".join(parts)
    if rng.random() < 0.2:
        text += rng.choice(["-alpha", "+build", "-rc.1+b", ".*"])
    if rng.random() < 0.15:
        text = rng.choice(["v", "V", " ", "vv"]) + text
    return text


def number_text(rng: random.Random) -> str:
    return rng.choice(
        [
            str(rng.randint(-20, 20)),
            f"{rng.uniform(-20, 20):.3f}",
            f"{rng.randint(1, 9)}e{rng.randint(-3, 3)}",
            f".{rng.randint(0, 9)}",
            f"{rng.randint(0, 9)}.",
            f"+{rng.randint(0, 9)}",
            "1_000",
            " 5",
            "0x1f",
            "١٢",
            "1e400",
            "-0",
            "Infinity",
        ]
    )


def python_value(rng: random.Random) -> Any:
    """A property value that is not plain JSON (callers can pass anything)."""
    utc = dt.timezone.utc
    return rng.choice(
        [
            dt.datetime(2023, 12, 31, 23, 0, tzinfo=utc),
            dt.datetime(2024, 1, 1, 0, 0),
            dt.datetime(2024, 6, 1, tzinfo=dt.timezone(dt.timedelta(hours=5))),
            dt.date(2023, 12, 31),
            dt.date(2024, 1, 2),
            decimal.Decimal("1.5"),
            decimal.Decimal("10"),
            decimal.Decimal("NaN"),
            float("nan"),
            float("inf"),
            (1, 2),
            {1, 2},
            b"pro",
            uuid.UUID("12345678-1234-5678-1234-567812345678"),
            {1: "a"},
            [dt.date(2024, 1, 1)],
            10**400,
            2**53 + 1,
            1e-05,
            0.1 + 0.2,
            1e21,
            -1e-7,
        ]
    )


def distinct_id(rng: random.Random) -> Any:
    return rng.choice(
        [uuid.UUID("12345678-1234-5678-1234-567812345678"), 1.5, True, -7, "ǅ", " user ", "\x00"]
    )
