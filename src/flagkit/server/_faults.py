"""Fault injection and request counting for tests (``LocalServer.faults``)."""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Mapping
from typing import Any

import attrs


def normalize_path(path: str) -> str:
    """Paths are compared without query string and without a trailing slash."""
    path = path.split("?", 1)[0]
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    return path


@attrs.frozen(slots=True)
class Fault:
    """One pending fault: what to do to the next request on a path."""

    kind: str  # fail | delay | drop | truncate | invalid_json | huge_body
    status: int = 500
    body: Any = None
    headers: Mapping[str, str] = attrs.field(factory=dict)
    seconds: float = 0.0
    size: int = 0


class Faults:
    """Make the next requests on a path misbehave, and count requests per path.

    Paths are URL paths without the query string; a trailing slash does not matter
    (``"/flags"`` also matches ``/flags/?v=2``). Faults queued for one path apply in order,
    each to ``times`` consecutive requests. Thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, deque[list[Any]]] = {}
        self._counts: Counter[str] = Counter()

    def _add(self, path: str, fault: Fault, times: int) -> None:
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._pending.setdefault(normalize_path(path), deque()).append([fault, times])

    def fail(
        self,
        path: str,
        status: int = 500,
        *,
        times: int = 1,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer ``status`` with ``body`` (JSON-encoded unless bytes/str; default: a
        PostHog-style error object) and extra ``headers`` such as ``Retry-After``."""
        self._add(path, Fault("fail", status=status, body=body, headers=dict(headers or {})), times)

    def delay(self, path: str, seconds: float, *, times: int = 1) -> None:
        """Wait ``seconds`` before handling the request normally."""
        self._add(path, Fault("delay", seconds=seconds), times)

    def drop(self, path: str, *, times: int = 1) -> None:
        """Close the connection without sending any response."""
        self._add(path, Fault("drop"), times)

    def truncate(self, path: str, *, times: int = 1) -> None:
        """Send the normal headers but only half of the body, then close the connection."""
        self._add(path, Fault("truncate"), times)

    def invalid_json(self, path: str, *, times: int = 1) -> None:
        """Answer 200 with a JSON content type and a body that is not JSON."""
        self._add(path, Fault("invalid_json"), times)

    def huge_body(self, path: str, size_bytes: int, *, times: int = 1) -> None:
        """Answer 200 with a valid JSON object of ``size_bytes`` bytes."""
        self._add(path, Fault("huge_body", size=size_bytes), times)

    def clear(self) -> None:
        """Drop every pending fault and reset the request counts."""
        with self._lock:
            self._pending.clear()
            self._counts.clear()

    def count(self, path: str) -> int:
        """Requests received on ``path`` (including faulted ones) since start or ``clear()``."""
        with self._lock:
            return self._counts[normalize_path(path)]

    def counts(self) -> dict[str, int]:
        """Request counts for every path seen."""
        with self._lock:
            return dict(self._counts)

    def pending(self, path: str) -> int:
        """How many faulted requests are still queued for ``path``."""
        with self._lock:
            return sum(entry[1] for entry in self._pending.get(normalize_path(path), ()))

    def take(self, path: str) -> Fault | None:
        """Count a request on ``path`` and return the fault to apply to it, if any."""
        key = normalize_path(path)
        with self._lock:
            self._counts[key] += 1
            queue = self._pending.get(key)
            if not queue:
                return None
            entry = queue[0]
            entry[1] -= 1
            if entry[1] <= 0:
                queue.popleft()
            fault: Fault = entry[0]
            return fault
