"""Retry timing: exponential backoff with full jitter, poll jitter and ``Retry-After``."""

from __future__ import annotations

import email.utils
import random
from datetime import timezone


def full_jitter(failures: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Seconds to wait after ``failures`` consecutive failures (1 = the first failure).

    "Full jitter": a uniform draw between 0 and ``min(cap, base * 2**(failures - 1))``, so a
    fleet that failed together does not retry together.
    """
    exponent = min(max(failures, 1) - 1, 62)  # keeps 2**exponent a sane float
    ceiling = min(cap, base * float(2**exponent))
    return rng.uniform(0.0, max(ceiling, 0.0))


def jittered(interval: float, fraction: float, rng: random.Random) -> float:
    """``interval`` spread by +/- ``fraction`` of itself, so pollers drift out of lockstep."""
    if fraction <= 0:
        return interval
    spread = interval * min(fraction, 1.0)
    return max(0.0, interval + rng.uniform(-spread, spread))


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header, or ``None`` when absent or unusable.

    Accepts both forms of RFC 9110: delay-seconds and an HTTP date (``now`` is the current
    Unix time, used for the date form). Negative or past values mean "now" (0).
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        return max(0.0, float(text)) if _looks_numeric(text) else _from_http_date(text, now)
    except (ValueError, OverflowError):
        return None


def _looks_numeric(text: str) -> bool:
    return text.replace(".", "", 1).lstrip("+-").isdigit()


def _from_http_date(text: str, now: float) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - now)
