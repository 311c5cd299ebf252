"""Rate limits in the style of PostHog's throttles (sliding window per scope and identity)."""

from __future__ import annotations

import math
import re
import threading
import time
from collections import deque
from collections.abc import Mapping

import attrs

# PostHog's production limits (see the HTTP notes, section 7).
POSTHOG_RATE_LIMITS: Mapping[str, str | None] = {
    "burst": "480/minute",
    "sustained": "4800/hour",
    "local_evaluation": "600/minute",
    "flags": None,
    "capture": None,
}
# Generous defaults so tests never trip them unless they configure low limits.
DEFAULT_RATE_LIMITS: Mapping[str, str | None] = {
    "burst": "100000/minute",
    "sustained": "1000000/hour",
    "local_evaluation": "100000/minute",
    "flags": None,
    "capture": None,
}
_PERIODS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*$")


@attrs.frozen(slots=True)
class Rate:
    """``count`` requests per ``seconds``."""

    count: int
    seconds: float

    @classmethod
    def parse(cls, text: str) -> Rate:
        """Parse DRF's rate syntax: ``"600/minute"``, ``"10/second"``, ``"5/10s"``."""
        match = _RATE.match(text)
        if not match or match.group(3)[0] not in _PERIODS:
            raise ValueError(f"invalid rate {text!r}; expected e.g. '600/minute'")
        multiplier = float(match.group(2)) if match.group(2) else 1.0
        return cls(int(match.group(1)), multiplier * _PERIODS[match.group(3)[0]])


class RateLimiter:
    """Thread-safe sliding-window limiter keyed by ``(scope, identity)``."""

    def __init__(self, limits: Mapping[str, str | None] | None = None) -> None:
        merged = dict(DEFAULT_RATE_LIMITS)
        for scope, value in (limits or {}).items():
            if scope not in DEFAULT_RATE_LIMITS:
                known = ", ".join(sorted(DEFAULT_RATE_LIMITS))
                raise ValueError(f"unknown rate limit scope {scope!r} (known: {known})")
            merged[scope] = value
        self._rates = {
            scope: Rate.parse(value) if value else None for scope, value in merged.items()
        }
        self._history: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, scope: str, identity: str) -> int | None:
        """Count one request; ``None`` if allowed, else the seconds to wait (at least 1)."""
        rate = self._rates.get(scope)
        if rate is None:
            return None
        now = time.monotonic()
        with self._lock:
            history = self._history.setdefault((scope, identity), deque())
            while history and history[0] <= now - rate.seconds:
                history.popleft()
            if len(history) >= rate.count:
                wait = rate.seconds - (now - history[0])
                return max(1, math.ceil(wait))
            history.append(now)
            return None

    def reset(self) -> None:
        """Forget every request seen so far."""
        with self._lock:
            self._history.clear()
