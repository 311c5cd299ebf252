"""Decoding of flag payloads the way PostHog's single-flag getters do."""

from __future__ import annotations

import json
from typing import Any


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


# One decoder for all payloads: json.loads with options builds a new one per call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def decode_payload(raw: Any) -> Any:
    """A stored payload, decoded.

    Strings hold JSON and are decoded; invalid JSON (including ``""``, ``NaN`` and
    ``Infinity``) gives ``None``. Anything else is already a value and passes through.
    """
    if not isinstance(raw, str):
        return raw
    try:
        return _DECODER.decode(raw)
    except (ValueError, RecursionError):
        return None
