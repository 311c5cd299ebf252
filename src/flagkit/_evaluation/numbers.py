"""Strict number parsing for the ordering operators (``gt``, ``gte``, ``lt``, ``lte``)."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

__all__ = ["parse_number"]

# Plain decimal notation only: no spaces, underscores, hex, inf/nan or non-ASCII digits.
_NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def parse_number(value: Any) -> float | None:
    """The finite binary64 value of ``value``, or ``None`` when it is not a number.

    Accepts ints, floats and Decimals (not bools) and strings in plain decimal notation.
    """
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else None
    if (kind is not int and kind is not str) and (
        isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal))
    ):
        return None
    if isinstance(value, str) and _NUMBER_TEXT.fullmatch(value) is None:
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None
