"""Small type tests shared by the rules v2 parser (JSON values as decoded by ``json``)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_DEPTH", "is_bool", "is_int", "is_names", "is_number", "is_str", "json_problem"]

MAX_DEPTH = 20


def is_int(value: Any) -> bool:
    """An integer that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool)."""
    return (is_int(value) or isinstance(value, float)) and math.isfinite(value)


def json_problem(value: Any, depth: int = 1) -> str | None:
    """Why ``value`` is no JSON value within the depth limit, or None."""
    if value is None or isinstance(value, (bool, str)) or is_int(value):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else "numbers must be finite"
    if isinstance(value, (list, Mapping)):
        if depth > MAX_DEPTH:
            return f"nested deeper than {MAX_DEPTH} levels"
        if isinstance(value, Mapping):
            if not all(isinstance(name, str) for name in value):
                return "object keys must be strings"
            items: Any = value.values()
        else:
            items = value
        for item in items:
            problem = json_problem(item, depth + 1)
            if problem is not None:
                return problem
        return None
    return f"{type(value).__name__} is not a JSON value"


def is_bool(value: Any) -> bool:
    """A JSON boolean."""
    return isinstance(value, bool)


def is_str(value: Any) -> bool:
    """A JSON string."""
    return isinstance(value, str)


def is_names(value: Any) -> bool:
    """An object mapping strings to strings."""
    return isinstance(value, Mapping) and all(
        isinstance(name, str) and isinstance(text, str) for name, text in value.items()
    )
