"""Which flag reads become exposure events: :class:`ExposureReporter` de-duplicates
exposures and hands the new ones to a sender (the thread or asyncio one, or
posthog-python's queue through :class:`flagkit._events.posthog_sink.PosthogEventsSink`)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Generic, Protocol, TypeVar

import attrs

from flagkit._evaluation.result import FlagResult
from flagkit._events.encoding import PendingExposure
from flagkit._events.exposures import (
    DEFAULT_DEDUPE_CAPACITY,
    FingerprintSet,
    exposure_fingerprint,
)
from flagkit._events.flag_events import (
    experiment_exposure_event,
    flag_called_event,
    local_attribution,
    reportable,
)
from flagkit._net.fork import restart_in_child
from flagkit._remote.fallback import Resolved
from flagkit._remote.records import RuleAttribution

logger = logging.getLogger("flagkit.client")
_RECENT_LIMIT = 4096  # exposures an ExposureReporter recalls without hashing
Groups = Mapping[str, Any] | None  # a read's groups: group type -> group key


class EventSink(Protocol):
    """Where an :class:`ExposureReporter` puts events: non-blocking ``put`` of an event and
    ``put_exposure`` of a new exposure without groups (built into an event when sent)."""

    def put(self, event: Mapping[str, Any]) -> bool: ...
    def put_exposure(self, exposure: PendingExposure) -> bool: ...


SinkT = TypeVar("SinkT", bound=EventSink)


class ExposureReporter(Generic[SinkT]):
    """Sends one ``$feature_flag_called`` event per new exposure to ``sender`` (the thread
    sender here, or the asyncio one). Never raises."""

    def __init__(
        self,
        sender: SinkT,
        *,
        lib_version: str | None = None,
        dedupe_capacity: int = DEFAULT_DEDUPE_CAPACITY,
    ) -> None:
        if lib_version is None:
            # Imported late: flagkit/__init__.py imports the client, which imports this.
            from flagkit._version import __version__

            lib_version = __version__
        self.sender = sender
        # key -> (minimal-events gate, has_experiment) of the served definitions, for
        # local reads; set by the client (events cannot see the definitions store).
        self.local_meta: Callable[[str], tuple[bool, bool | None]] | None = None
        self._lib_version: str = lib_version
        self._seen = FingerprintSet(dedupe_capacity)
        # Recently reported exposures without groups, by (distinct id, key, value, rule): a
        # subset of the table that a read may look up before calling report_local().
        self.recent: dict[tuple[Any, ...], None] = {}
        self._lock = threading.Lock()
        restart_in_child(self)

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()  # the table itself is kept: it is still true

    def report_local(
        self, result: FlagResult, distinct_id: Any, groups: Groups, disable_geoip: bool = True
    ) -> None:
        """:meth:`report` for an answer from the local definitions, the hot path: an
        exposure reported a moment ago costs one dict lookup; an older one a fingerprint and
        a look at the table; nothing is built and no lock is taken for either."""
        recent = self.recent
        try:
            # Recently reported exposures without groups (the usual read), by identity (the
            # rule too: a rules v2 answer is reported per rule). A subset of the table,
            # dropped whole when full: it only saves work.
            memo = (distinct_id, result.key, result.value, result.rule)
            if not groups and memo in recent:
                return
            attribution = local_attribution(result)
            fingerprint = fingerprint_of(result, attribution, distinct_id, groups)
            if fingerprint is None:
                return
            if fingerprint in self._seen:  # a racy peek: report() decides under the lock
                if not groups:
                    self._remember(recent, memo)
                return
        except Exception:
            logger.debug("flagkit: could not record a flag event", exc_info=True)
            return
        resolved = Resolved(result, attribution=attribution)
        self.report(resolved, distinct_id, groups, disable_geoip, fingerprint)

    @staticmethod
    def _remember(recent: dict[tuple[Any, ...], None], key: tuple[Any, ...]) -> None:
        if len(recent) >= _RECENT_LIMIT:
            recent.clear()  # cheaper than an LRU, and the table still holds everything
        recent[key] = None

    def report(
        self,
        resolved: Resolved,
        distinct_id: Any,
        groups: Groups,
        disable_geoip: bool = True,
        fingerprint: int | None = None,
    ) -> None:
        """Queue the events of this flag read unless the same exposure was reported before:
        ``$feature_flag_called`` and, for a complete experiment split, ``$experiment_exposure``
        (de-duplicated apart, per rule and variant)."""
        try:
            result = resolved.result
            attribution = resolved.attribution
            if fingerprint is None:  # (report_local passes one, for a reportable read)
                fingerprint = fingerprint_of(result, attribution, distinct_id, groups)
                if fingerprint is None:
                    return
            with self._lock:
                if not self._seen.add(fingerprint):
                    return
            if not resolved.remote and self.local_meta is not None:
                minimal, has_experiment = self.local_meta(result.key)
                resolved = Resolved(  # as attrs.evolve would, without its introspection
                    result,
                    resolved.error,
                    resolved.request_id,
                    resolved.evaluated_at,
                    attribution,
                    has_experiment,
                    minimal,
                )
            if not groups and (attribution is None or not attribution.is_experiment_split):
                # The usual read: the sender builds and encodes the event (encoding.py).
                exposure = PendingExposure(
                    resolved, str(distinct_id), disable_geoip, self._lib_version, time.time()
                )
                self.sender.put_exposure(exposure)
                return
            self._report_events(resolved, distinct_id, groups, disable_geoip)
        except Exception:  # reporting is best effort; the flag read must succeed
            logger.debug("flagkit: could not record a flag event", exc_info=True)

    def _report_events(
        self,
        resolved: Resolved,
        distinct_id: Any,
        groups: Groups,
        disable_geoip: bool,
    ) -> None:
        # Built here: the groups are the caller's (copied now), or an experiment exposure
        # goes with the event.
        result = resolved.result
        attribution = resolved.attribution
        event = flag_called_event(
            resolved,
            distinct_id,
            groups=groups,
            lib_version=self._lib_version,
            disable_geoip=disable_geoip,
        )
        self.sender.put(event)
        exposure = experiment_exposure_event(event, resolved)
        if exposure is not None and attribution is not None:
            split = ("$experiment_exposure", attribution.rule_id, attribution.variant_key)
            exposure_key = exposure_fingerprint(
                distinct_id, result.key, None, groups, tuple(map(str, split))
            )
            with self._lock:
                new = self._seen.add(exposure_key)
            if new:
                self.sender.put(exposure)


def rule_parts(attribution: RuleAttribution | None) -> tuple[str, ...] | None:
    """What a rules v2 answer adds to its exposure's identity (``None`` for legacy)."""
    if attribution is None:
        return None
    return ("2", *map(str, attrs.astuple(attribution)))


def fingerprint_of(
    result: FlagResult,
    attribution: RuleAttribution | None,
    distinct_id: Any,
    groups: Groups,
) -> int | None:
    """The exposure's fingerprint; ``None`` when the read cannot make a valid event."""
    if not reportable(result, distinct_id):
        return None
    return exposure_fingerprint(
        distinct_id, result.key, result.value, groups, rule_parts(attribution)
    )
