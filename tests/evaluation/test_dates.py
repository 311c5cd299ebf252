"""Date parsing for the date operators: the 3.11 ``fromisoformat`` grammar and relative dates."""

from __future__ import annotations

import itertools
import random
import sys
from datetime import datetime, timedelta, timezone

import pytest

from flagkit._evaluation.dates import (
    compile_date_filter,
    months_before,
    parse_date_text,
    parse_isoformat_311,
    years_before,
)

NOW = datetime(2024, 3, 31, 12, 30, 15, 123456, tzinfo=timezone.utc)
ON_311 = sys.version_info[:2] == (3, 11)


def local_now() -> datetime:
    return NOW


def parsed(text: str) -> tuple[datetime, timedelta | None] | None:
    try:
        moment = parse_isoformat_311(text)
    except ValueError:
        return None
    return moment, moment.utcoffset()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020-01-01", datetime(2020, 1, 1)),
        ("20200101", datetime(2020, 1, 1)),
        ("2020-W01", datetime(2019, 12, 30)),
        ("2020W013", datetime(2020, 1, 1)),
        ("2020-W53-7", datetime(2021, 1, 3)),
        ("2020-01-01T12", datetime(2020, 1, 1, 12)),
        ("2020-01-01 12:34:56,5", datetime(2020, 1, 1, 12, 34, 56, 500000)),
        ("2020-01-01T12.5", datetime(2020, 1, 1, 12, 0, 0, 500000)),  # fraction after the hour
        ("2020-01-01T12:34:56:78", datetime(2020, 1, 1, 12, 34, 56, 780000)),
        ("2020-01-01T123456", datetime(2020, 1, 1, 12, 34, 56)),
        ("2020-01-01T12:00:00.1234567", datetime(2020, 1, 1, 12, 0, 0, 123456)),
        ("2020-01-01é12:00", datetime(2020, 1, 1, 12)),  # any one character separates
        ("2020-01-01\ud80012:00", datetime(2020, 1, 1, 12)),
        ("2020-W01-12:00", datetime(2019, 12, 30, 12)),
        ("2020-01-01+00:00", datetime(2020, 1, 1)),  # "+" is the separator: naive midnight
    ],
)
def test_isoformat_naive_forms(text: str, expected: datetime) -> None:
    assert parsed(text) == (expected, None)


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("2020-01-01T12:00Z", timedelta(0)),
        ("2020-01-01T12:00-00:00", timedelta(0)),
        ("2020-01-01T12+05", timedelta(hours=5)),
        ("2020-01-01T12:00-0830", -timedelta(hours=8, minutes=30)),
        ("2020-01-01T12:00+05:99", timedelta(hours=5, minutes=99)),
        ("2020-01-01T12:00+05:30:15.5", timedelta(hours=5, minutes=30, seconds=15.5)),
        ("2020-01-01T12:00:00.123456xyz+05:00", timedelta(hours=5)),
        ("2020-01-01T123+05:00", timedelta(hours=5)),
        ("2020-01-01T12:30:45.+05:00", timedelta(hours=5)),
        ("2020-01-01 12:00 +05:00", timedelta(hours=5)),  # the space ends the time
    ],
)
def test_isoformat_offsets(text: str, offset: timedelta) -> None:
    result = parsed(text)
    assert result is not None
    assert result[1] == offset


@pytest.mark.parametrize(
    "text",
    [
        "2020", "2020-1-1", "2020-123", "2020-01", "2020-13-01", "2021-02-29", "0000-01-01",
        "0000-W01-1", "9999-W52-7", "2020-W54", "2020-W01-8", "2020-01-01T", "2020-01-01T1",
        "2020-01-01T24:00", "2020-01-01T12:60", "2020-01-01T12:00:00.", "2020-01-01T1234567",
        "2020-01-01T12:00+24:00", "2020-01-01T12:00Zx", "2020-01-01T12:00+053", "01/02/2020",
        "2020-01-01T12:00:00.12x+05:00", "",
    ],
)  # fmt: skip
def test_isoformat_rejects(text: str) -> None:
    assert parsed(text) is None


@pytest.mark.skipif(not ON_311, reason="compares with CPython 3.11's own parser")
def test_isoformat_agrees_with_cpython_311_on_a_grammar_product() -> None:
    dates = [
        "2020-01-01",
        "20200101",
        "2020-W01",
        "2020W01",
        "2020-W01-3",
        "2020W013",
        "2020-W53",
        "2020-W00-1",
        "2020-02-30",
        "2020-1-01",
    ]
    separators = ["T", " ", "é", "😀", "-", "", "\x00", "1"]
    times = [
        "",
        "1",
        "12",
        "12:3",
        "12:34",
        "1234",
        "12:34:56",
        "123456",
        "12:34:56.",
        "12:34:56,123456789",
        "12.5",
        "12:34:56:78",
        "24:00",
        "12:34:56.123456x",
    ]
    zones = ["", "Z", "Zx", "+", "+05", "+0530", "-05:30:15", "+05:30:15.25", "+24", "+5:30", "z"]
    for text in map("".join, itertools.product(dates, separators, times, zones)):
        try:
            reference = datetime.fromisoformat(text)
            expected: object = (reference, reference.utcoffset())
        except ValueError:
            expected = None
        assert parsed(text) == expected, text


@pytest.mark.skipif(not ON_311, reason="compares with CPython 3.11's own parser")
def test_isoformat_agrees_with_cpython_311_on_mutations() -> None:
    rng = random.Random(311)
    seeds = [
        "2020-01-01T12:34:56.123456+05:30",
        "2020-W01-3 12",
        "20200101T1234Z",
        "2020-02-29T23:59:59,5-08:00",
        "2020W5312",
        "9999-12-31T23:59:59.999999",
    ]
    alphabet = list("0123456789-:+.,TWZ tz\x00é\ud800") + ["0"] * 8
    for _ in range(20000):
        chars = list(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            position = rng.randint(0, len(chars))
            action = rng.random()
            if action < 0.4 and chars:
                chars[min(position, len(chars) - 1)] = rng.choice(alphabet)
            elif action < 0.7:
                chars.insert(position, rng.choice(alphabet))
            elif chars:
                del chars[min(position, len(chars) - 1)]
        text = "".join(chars)
        try:
            reference = datetime.fromisoformat(text)
            expected: object = (reference, reference.utcoffset())
        except ValueError:
            expected = None
        assert parsed(text) == expected, text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-01T00:00:00Z", datetime(2024, 1, 1, tzinfo=timezone.utc)),
        ("  2024-01-01 05:00:00 +05:00 ", datetime(2024, 1, 1, tzinfo=timezone.utc)),
        ("2024-01-01 00:00:00 utc", datetime(2024, 1, 1, tzinfo=timezone.utc)),
        ("2024-01-01", datetime(2024, 1, 1, tzinfo=timezone.utc)),  # naive means UTC
        ("2019", datetime(2019, 3, 31, tzinfo=timezone.utc)),  # today's month and day
        ("٢٠١٩", datetime(2019, 3, 31, tzinfo=timezone.utc)),  # any decimal digits
    ],
)
def test_parse_date_text(text: str, expected: datetime) -> None:
    assert parse_date_text(text, local_now) == expected


@pytest.mark.parametrize("text", ["2020Z", "12/31/2023", "soon", "2024-13-01"])
def test_parse_date_text_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_date_text(text, local_now)


@pytest.mark.parametrize(
    ("moment", "months", "expected"),
    [
        (datetime(2023, 3, 31), 2, datetime(2023, 1, 28)),  # clamped via February
        (datetime(2024, 3, 31), 2, datetime(2024, 1, 29)),
        (datetime(2024, 3, 31), 1, datetime(2024, 2, 29)),
        (datetime(2024, 5, 31), 1, datetime(2024, 4, 30)),
        (datetime(2024, 1, 15, 9), 13, datetime(2022, 12, 15, 9)),
        (datetime(2024, 3, 31), 0, datetime(2024, 3, 31)),
        (datetime(5, 1, 1), 9999, None),
    ],
)
def test_months_before(moment: datetime, months: int, expected: datetime | None) -> None:
    assert months_before(moment, months) == expected


@pytest.mark.parametrize(
    ("moment", "years", "expected"),
    [
        (datetime(2024, 2, 29), 4, datetime(2020, 2, 28)),  # always the 28th
        (datetime(2024, 2, 29), 0, datetime(2024, 2, 29)),
        (datetime(2024, 3, 31), 1, datetime(2023, 3, 31)),
        (datetime(2024, 3, 31), 2024, None),
        (datetime(2024, 3, 31), 2023, datetime(1, 3, 31)),
    ],
)
def test_years_before(moment: datetime, years: int, expected: datetime | None) -> None:
    assert years_before(moment, years) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1h", NOW - timedelta(hours=1)),
        ("-1d", NOW - timedelta(days=1)),
        ("3w", NOW - timedelta(weeks=3)),
        ("1d\n", NOW - timedelta(days=1)),  # "$" allows one final newline
        ("0y", NOW),
        ("9999h", NOW - timedelta(hours=9999)),
        ("2024-01-01", datetime(2024, 1, 1, tzinfo=timezone.utc)),
        (1234, datetime(1234, 3, 31, tzinfo=timezone.utc)),  # str(1234) is a bare year
    ],
)
def test_compile_date_filter_resolves(value: object, expected: datetime) -> None:
    compiled = compile_date_filter(value, local_now)
    assert compiled is not None
    assert compiled.resolve(NOW) == expected


@pytest.mark.parametrize(
    "value", ["10000d", "1D", "1x", "abc", "", True, None, "1" * 4400 + "d", "2024-02-30"]
)
def test_compile_date_filter_rejects(value: object) -> None:
    assert compile_date_filter(value, local_now) is None


def test_fixed_dates_do_not_need_the_clock() -> None:
    fixed = compile_date_filter("2024-01-01T00:00:00+05:00", local_now)
    relative = compile_date_filter("1d", local_now)
    assert fixed is not None
    assert relative is not None
    assert fixed.fixed == datetime(2023, 12, 31, 19, tzinfo=timezone.utc)
    assert relative.fixed is None
    assert compile_date_filter("2024y", local_now).resolve(NOW) is None  # type: ignore[union-attr]
