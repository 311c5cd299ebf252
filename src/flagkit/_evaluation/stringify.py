"""Canonical text form of property and filter values (PostHog's "Stringify").

Strings stay as they are; everything else becomes compact JSON with PostHog's float
spelling. Values with no JSON form (NaN, infinities, datetimes, tuples, dicts with non-string
keys, ...) raise :class:`UnrepresentableError`; the caller decides which cause that is.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

__all__ = [
    "UnrepresentableError",
    "ascii_lower",
    "fold_ascii",
    "is_boolean_like",
    "is_truthy",
    "stringify",
]


class UnrepresentableError(Exception):
    """The value has no canonical text form (PostHog treats this as inconclusive)."""


_ASCII_UPPER_TO_LOWER = {code: code + 32 for code in range(ord("A"), ord("Z") + 1)}


def _float_text(value: float) -> str:
    if not math.isfinite(value):
        raise UnrepresentableError("non-finite number")
    text = repr(value)
    if "e" not in text:
        return text
    mantissa, exponent_text = text.split("e")
    exponent = int(exponent_text)
    # repr switches to exponent form below 1e-4; JSON in the flags service writes
    # 1e-5 in fixed notation, smaller ones with an unpadded exponent.
    if -6 < exponent < 0:
        return format(Decimal(text), "f")
    sign = "+" if exponent >= 0 else ""
    return f"{mantissa}e{sign}{exponent}"


def _json_text(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ",".join([_json_text(item) for item in value]) + "]"
    if isinstance(value, dict):
        for name in value:
            if not isinstance(name, str):
                raise UnrepresentableError("object key is not a string")
        return (
            "{"
            + ",".join(
                [
                    json.dumps(name, ensure_ascii=False) + ":" + _json_text(value[name])
                    for name in sorted(value)
                ]
            )
            + "}"
        )
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float_text(value)
    raise UnrepresentableError(f"type {type(value).__name__} has no JSON form")


def stringify(value: Any) -> str:
    """Text form of ``value``: strings unchanged, anything else compact canonical JSON.

    Raises :class:`UnrepresentableError` for values without a JSON form. Other exceptions
    (recursion depth, integers too long to print) propagate, as they do in PostHog.
    """
    if isinstance(value, str):
        return value
    return _json_text(value)


def ascii_lower(text: str) -> str:
    """Lowercase only ``A``-``Z``; every other character is kept."""
    if text.isascii():
        return text.lower()
    return text.translate(_ASCII_UPPER_TO_LOWER)


def is_boolean_like(value: Any) -> bool:
    """True for a bool, a string spelling true/false, or a list of such values."""
    if isinstance(value, bool):
        return True
    if isinstance(value, str):
        return value.lower() in ("true", "false")
    if isinstance(value, list):
        return all(is_boolean_like(item) for item in value)
    return False


def is_truthy(value: Any) -> bool:
    """PostHog's truthiness for boolean precedence: lists are truthy when all items are."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.lower() == "true"
    if isinstance(value, list):
        return all(is_truthy(item) for item in value)
    return False


def fold_ascii(text: str) -> str:
    """:func:`ascii_lower`, with the fast ``str.lower()`` for ASCII text (same result there)."""
    return text.lower() if text.isascii() else ascii_lower(text)
