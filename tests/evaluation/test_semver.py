"""Loose semantic versions for the ``semver_*`` operators."""

from __future__ import annotations

from typing import Any

import pytest

from flagkit._evaluation.semver import caret_range, parse_version, tilde_range, wildcard_range


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.2.3", (1, 2, 3)),
        ("1.2", (1, 2, 0)),
        ("1", (1, 0, 0)),
        ("1.2.3.4", (1, 2, 3)),
        (" v1.2.3 ", (1, 2, 3)),
        ("vV1.2", (1, 2, 0)),  # every leading v is stripped
        ("1.2.3-alpha.1", (1, 2, 3)),
        ("1.2.3+build.5", (1, 2, 3)),
        ("1..3", (1, 0, 3)),  # empty parts count as zero
        ("1.2.", (1, 2, 0)),
        ("0.0.0", (0, 0, 0)),
        ("١.٢.٣", (1, 2, 3)),  # other scripts' decimal digits
        (123, (123, 0, 0)),
        (1.5, (1, 5, 0)),
    ],
)
def test_parse_version(value: Any, expected: tuple[int, int, int]) -> None:
    assert parse_version(value) == expected


@pytest.mark.parametrize(
    "value",
    ["", "abc", "x.y", ".1.2.3", "01.2.3", "1.07.3", "1.2.03", "-1.2.3", "²", "1" * 4400, True,
     None, [1], 1e16],
)  # fmt: skip
def test_parse_version_rejects(value: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        parse_version(value)


@pytest.mark.parametrize(
    ("function", "value", "low", "high"),
    [
        (tilde_range, "1.2.3", (1, 2, 3), (1, 3, 0)),
        (tilde_range, "0.0", (0, 0, 0), (0, 1, 0)),
        (caret_range, "1.2.3", (1, 2, 3), (2, 0, 0)),
        (caret_range, "0.2.3", (0, 2, 3), (0, 3, 0)),
        (caret_range, "0.0.3", (0, 0, 3), (0, 0, 4)),
        (caret_range, "0.0.0", (0, 0, 0), (0, 0, 1)),
        (wildcard_range, "1.*", (1, 0, 0), (2, 0, 0)),
        (wildcard_range, "v1.2.*", (1, 2, 0), (1, 3, 0)),
        (wildcard_range, "1.2.3", (1, 2, 3), (1, 2, 4)),
        (wildcard_range, "1.2.3.*", (1, 2, 3), (1, 2, 4)),
        (wildcard_range, "1..2", (1, 2, 0), (1, 3, 0)),  # empty parts are dropped
        (wildcard_range, 2, (2, 0, 0), (3, 0, 0)),
    ],
)
def test_ranges(function: Any, value: Any, low: Any, high: Any) -> None:
    assert function(value) == (low, high)


@pytest.mark.parametrize("value", ["*", "", "1.x", "1x.*", "1.2-beta.*", "v", "a.*"])
def test_wildcard_rejects(value: str) -> None:
    with pytest.raises(ValueError):
        wildcard_range(value)
