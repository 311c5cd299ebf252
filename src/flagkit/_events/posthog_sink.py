"""posthog-python's capture queue as the place flagkit puts its exposure events."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from flagkit._events.encoding import PendingExposure

logger = logging.getLogger("flagkit.client")


class _Capturing(Protocol):
    def capture(self, event: str, **kwargs: Any) -> Any: ...
    def flush(self) -> Any: ...


class PosthogEventsSink:
    """Puts flagkit's ``$feature_flag_called`` events on a posthog-python client's queue.

    ``put`` never raises and never blocks on the network (posthog-python queues the event
    and sends it from its own thread); ``flush`` asks posthog-python to send its queue.
    """

    def __init__(self, posthog_client: _Capturing) -> None:
        self._posthog = posthog_client

    def put(self, event: Mapping[str, Any]) -> bool:
        """Hand one event to posthog-python; False if it refused it."""
        properties = dict(event.get("properties") or {})
        groups = properties.pop("$groups", None)
        try:
            self._posthog.capture(
                str(event["event"]),
                distinct_id=event.get("distinct_id"),
                properties=properties,
                groups=groups or None,
                uuid=event.get("uuid"),
                disable_geoip=bool(properties.get("$geoip_disable", True)),
            )
        except Exception:
            logger.warning("flagkit: the posthog-python client refused an event", exc_info=True)
            return False
        return True

    def put_exposure(self, exposure: PendingExposure) -> bool:
        """Hand one new exposure's event to posthog-python; False if it refused it."""
        try:
            event = exposure.event()
        except Exception:
            logger.warning("flagkit: could not build an exposure event", exc_info=True)
            return False
        return self.put(event)

    def flush(self, timeout: float | None = None) -> bool:
        """Ask posthog-python to send what it has queued (``timeout`` is not enforced:
        posthog-python's own flush decides how long it takes)."""
        try:
            self._posthog.flush()
        except Exception:
            logger.warning("flagkit: the posthog-python client could not flush", exc_info=True)
            return False
        return True

    def __repr__(self) -> str:
        return f"<flagkit.posthog.PosthogEventsSink {type(self._posthog).__name__}>"
