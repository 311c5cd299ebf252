"""Checks run before a flag is sent, with the messages PostHog would answer.

They catch the common mistakes without a round trip: a bad key, variant percentages that do
not sum to 100, a rollout outside 0-100. They raise :class:`ValidationError` with
``status=None`` (not sent) and PostHog's ``code``/``attr``/``detail``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from flagkit.api._errors import ValidationError

KEY_MAX_LENGTH = 400
_KEY_RE = re.compile(r"^[a-zA-Z0-9_-]+$")

MSG_REQUIRED = "This field is required."
MSG_BLANK = "This field may not be blank."
MSG_KEY_TOO_LONG = f"Ensure this field has no more than {KEY_MAX_LENGTH} characters."
MSG_KEY_CHARS = "Only letters, numbers, hyphens (-) & underscores (_) are allowed."
MSG_VARIANT_SUM = "Invalid variant definitions: Variant rollout percentages must sum to 100."
MSG_ROLLOUT_RANGE = "Filters are not valid (rollout_percentage must be between 0 and 100)"
MSG_ROLLOUT_TYPE = "Filters are not valid (rollout_percentage must be a number)"
MSG_VARIANT_SHAPE = "Filters are not valid (each variant needs a key and a rollout_percentage)"
MSG_FILTERS_TYPE = "Filters must be a JSON object."


def _fail(attr: str, code: str, detail: str) -> ValidationError:
    return ValidationError(detail, status=None, code=code, attr=attr)


def check_key(key: object) -> None:
    """Raise :class:`ValidationError` unless ``key`` is a valid flag key."""
    if key is None:
        raise _fail("key", "required", MSG_REQUIRED)
    if not isinstance(key, str):
        raise _fail("key", "invalid", "A valid string is required.")
    if key == "":
        raise _fail("key", "blank", MSG_BLANK)
    if len(key) > KEY_MAX_LENGTH:
        raise _fail("key", "max_length", MSG_KEY_TOO_LONG)
    if not _KEY_RE.match(key):
        raise _fail("key", "invalid_key", MSG_KEY_CHARS)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_rollout(value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail("filters", "invalid_input", MSG_ROLLOUT_TYPE)
    if not 0 <= value <= 100:
        raise _fail("filters", "invalid_input", MSG_ROLLOUT_RANGE)


def check_filters(filters: object) -> None:
    """Raise :class:`ValidationError` for filters PostHog (or the local server) would reject.

    Checks: ``filters`` is an object; every condition group's ``rollout_percentage`` is
    ``None`` or within 0-100; variant percentages are within 0-100 and sum to exactly 100.
    """
    if filters is None:
        return
    if not isinstance(filters, Mapping):
        raise _fail("filters", "invalid_input", MSG_FILTERS_TYPE)
    groups = filters.get("groups")
    if isinstance(groups, list):
        for group in groups:
            if isinstance(group, Mapping):
                _check_rollout(group.get("rollout_percentage"))
    multivariate = filters.get("multivariate")
    variants = multivariate.get("variants") if isinstance(multivariate, Mapping) else None
    if isinstance(variants, list) and variants:
        total: float = 0
        for variant in variants:
            if not isinstance(variant, Mapping) or not isinstance(variant.get("key"), str):
                raise _fail("filters", "invalid_input", MSG_VARIANT_SHAPE)
            pct: Any = variant.get("rollout_percentage", 0)
            if not _is_number(pct):
                raise _fail("filters", "invalid_input", MSG_VARIANT_SHAPE)
            _check_rollout(pct)
            total += pct
        # PostHog compares the plain sum with 100, without tolerance.
        if total != 100:
            raise _fail("filters", "invalid_input", MSG_VARIANT_SUM)


def check_flag_body(body: Mapping[str, Any], *, creating: bool) -> None:
    """Check a create/update body: the key (required when creating) and the filters."""
    if creating or "key" in body:
        check_key(body.get("key"))
    if "filters" in body:
        check_filters(body["filters"])


__all__ = [
    "KEY_MAX_LENGTH",
    "MSG_BLANK",
    "MSG_KEY_CHARS",
    "MSG_KEY_TOO_LONG",
    "MSG_REQUIRED",
    "MSG_ROLLOUT_RANGE",
    "MSG_ROLLOUT_TYPE",
    "MSG_VARIANT_SHAPE",
    "MSG_VARIANT_SUM",
    "check_filters",
    "check_flag_body",
    "check_key",
]
