"""``FlagEvaluations``: every flag evaluated once for one request, read many times.

``client.evaluate_flags(distinct_id, ...)`` evaluates all flags at once (one ``/flags``
request at most, for the flags local evaluation cannot decide) and returns this immutable
view. The code branches on it; reading a flag sends its ``$feature_flag_called`` exposure the
first time, and ``event_properties()`` gives the ``$feature/<key>`` and
``$active_feature_flags`` properties to attach to events captured elsewhere, so they carry
exactly the values the code branched on (posthog-python's ``evaluate_flags()``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flagkit._evaluation.result import FlagResult, FlagValue

# Sends the exposure event of one read (the client's reporter, already bound to the caller).
Report = Callable[[FlagResult], None]


class FlagEvaluations:
    """A point-in-time answer for every flag, for one caller. Safe to share across threads.

    Undecided flags (``value is None``) read as absent: ``get_flag`` gives ``None`` and
    ``is_enabled`` its default.
    """

    __slots__ = ("_accessed", "_lock", "_report", "_results")

    def __init__(
        self,
        results: Mapping[str, FlagResult],
        report: Report | None,
        accessed: Iterable[str] = (),
    ) -> None:
        self._results: dict[str, FlagResult] = dict(results)
        self._report = report
        self._accessed: set[str] = set(accessed)
        self._lock = threading.Lock()

    # -- reads ---------------------------------------------------------------------------

    def get_flag(self, key: str, *, send_feature_flag_events: bool = True) -> FlagValue | None:
        """``True``/``False`` or the variant key; ``None`` when the flag is unknown or
        undecided. The first read of a flag sends its exposure event."""
        result = self._results.get(key)
        self._record(key, result, send_feature_flag_events)
        return None if result is None else result.value

    def is_enabled(
        self, key: str, default_value: bool = False, *, send_feature_flag_events: bool = True
    ) -> bool:
        """True for ``True`` or any variant; ``default_value`` when unknown or undecided."""
        result = self._results.get(key)
        self._record(key, result, send_feature_flag_events)
        if result is None or result.value is None:
            return default_value
        return result.enabled

    def get_flag_payload(self, key: str) -> Any:
        """The decoded payload of the caller's value, or ``None``. Sends no event."""
        result = self._results.get(key)
        return None if result is None or result.value is None else result.payload

    def result(self, key: str) -> FlagResult | None:
        """The full :class:`flagkit.FlagResult` (with its reason), or ``None``. No event."""
        return self._results.get(key)

    @property
    def keys(self) -> tuple[str, ...]:
        """The keys of every flag that was evaluated."""
        return tuple(self._results)

    def __contains__(self, key: object) -> bool:
        return key in self._results

    def __len__(self) -> int:
        return len(self._results)

    # -- narrowing -----------------------------------------------------------------------

    def only(self, keys: Iterable[str]) -> FlagEvaluations:
        """The same answers for just these keys (unknown keys are ignored)."""
        wanted = set(keys)
        return self._with({k: r for k, r in self._results.items() if k in wanted})

    def only_accessed(self) -> FlagEvaluations:
        """The same answers for the flags read so far."""
        with self._lock:
            accessed = set(self._accessed)
        return self._with({k: r for k, r in self._results.items() if k in accessed})

    # -- events captured elsewhere -------------------------------------------------------

    def event_properties(self) -> dict[str, Any]:
        """``$feature/<key>`` for every decided flag and ``$active_feature_flags`` (the
        sorted keys of those that are on), as PostHog attaches them to captured events."""
        decided = {k: r for k, r in self._results.items() if r.value is not None}
        properties: dict[str, Any] = {f"$feature/{k}": r.value for k, r in decided.items()}
        properties["$active_feature_flags"] = sorted(k for k, r in decided.items() if r.enabled)
        return properties

    def __repr__(self) -> str:
        return f"<flagkit.FlagEvaluations flags={len(self._results)}>"

    # -- internals -------------------------------------------------------------------------

    def _with(self, results: dict[str, FlagResult]) -> FlagEvaluations:
        with self._lock:
            accessed = self._accessed & set(results)
        return FlagEvaluations(results, self._report, accessed)

    def _record(self, key: str, result: FlagResult | None, send: bool) -> None:
        with self._lock:
            first = key not in self._accessed
            self._accessed.add(key)
        if first and send and result is not None and self._report is not None:
            self._report(result)  # the reporter de-duplicates across snapshots too
