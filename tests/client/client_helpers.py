"""Helpers shared by the Client tests (constants, polling with a deadline)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

DEFINITIONS = "/flags/definitions"

# Short intervals so that every test finishes in well under a second of polling.
FAST: dict[str, Any] = {
    "poll_interval": 0.05,
    "poll_jitter": 0.0,
    "backoff_base": 0.01,
    "backoff_max": 0.05,
    "unauthorized_retry_interval": 0.05,
    "timeout": 5.0,
    # Sync tests exercise local evaluation only; remote fallback and events have their own.
    "only_evaluate_locally": True,
    "send_events": False,
}

ROLLOUT_ALL = {"groups": [{"properties": [], "rollout_percentage": 100}]}
ROLLOUT_NONE = {"groups": [{"properties": [], "rollout_percentage": 0}]}


def wait_until(predicate: Callable[[], object], timeout: float = 10.0) -> bool:
    """Poll ``predicate`` until it is truthy or ``timeout`` passes; its last truthiness."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return bool(predicate())
        time.sleep(0.005)
