"""Working beside posthog-python: its capture queue as flagkit's event sink, and flagkit's
shared definitions as its ``FlagDefinitionCacheProvider``.

Nothing here imports posthog-python: both classes only call the methods posthog-python's
client and its cache protocol define (``capture``/``flush``; the four cache methods), so
flagkit never depends on it. Install ``flagkit[posthog]`` to get a tested version.

* :class:`PosthogEventsSink` (or ``Client(events_sink=posthog_client)``): exposure events go
  through the app's own posthog-python queue instead of flagkit's sender.
* :class:`DefinitionCache`: ``Posthog(..., flag_definition_cache_provider=DefinitionCache(
  store, project_api_key=...))`` makes posthog-python processes share the same stored
  definitions as flagkit clients using that store, so a fleet mixing both fetches once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from flagkit._client.base import DEFAULT_HOST
from flagkit._events.posthog_sink import PosthogEventsSink
from flagkit._sources.disk_cache import source_id
from flagkit._sources.fetch import DEFINITIONS_PATH, definitions_url
from flagkit.stores import DefinitionsStore, StoreError

__all__ = ["DefinitionCache", "PosthogEventsSink"]

logger = logging.getLogger("flagkit.posthog")


class DefinitionCache:
    """flagkit's shared definitions (a :class:`flagkit.stores.FileStore` or
    :class:`flagkit.stores.RedisStore`) as posthog-python's ``FlagDefinitionCacheProvider``.

    Give it the same store and the same ``project_api_key``, ``host``, ``definitions_path``
    and ``project_id`` as the flagkit clients of the fleet: it then uses their scope, so
    leaders and followers of either SDK share one fetch. Store failures make posthog-python
    fetch for itself (its documented fail-safe); none raises.
    """

    def __init__(
        self,
        store: DefinitionsStore,
        *,
        project_api_key: str,
        host: str = DEFAULT_HOST,
        definitions_path: str = DEFINITIONS_PATH,
        project_id: int | str | None = None,
        lease_ttl: float = 90.0,
    ) -> None:
        if not isinstance(project_api_key, str) or not project_api_key.strip():
            raise ValueError("project_api_key must be a non-empty string")
        if not lease_ttl > 0:
            raise ValueError("lease_ttl must be positive")
        key = project_api_key.strip()
        target = definitions_url(
            definitions_path,
            project_api_key=key,
            project_id=None if project_id is None else str(project_id),
        )
        # The same scope a flagkit.Client computes for these settings (no key recoverable).
        self._store = store.scoped(source_id(host.strip().rstrip("/"), target, key))
        self._lease_ttl = lease_ttl

    def should_fetch_flag_definitions(self) -> bool:
        """True for the one process that holds the store's leadership (or when the store
        cannot be reached: then each process fetches for itself)."""
        try:
            return bool(self._store.try_acquire_leadership(self._lease_ttl))
        except StoreError as exc:
            logger.warning("flagkit: shared store unavailable, fetching directly: %s", exc)
            return True

    def get_flag_definitions(self) -> dict[str, Any] | None:
        """The stored definitions in posthog-python's cache shape, or ``None``."""
        try:
            stored = self._store.read()
        except StoreError as exc:
            logger.warning("flagkit: shared store unavailable: %s", exc)
            return None
        if stored is None:
            return None
        try:
            body = json.loads(stored.body)
        except ValueError:
            return None
        if not isinstance(body, dict) or not isinstance(body.get("flags"), list):
            return None
        data: dict[str, Any] = {
            "flags": body["flags"],
            "group_type_mapping": body.get("group_type_mapping") or {},
            "cohorts": body.get("cohorts") or {},
        }
        for optional in ("property_matching_version", "minimal_flag_called_events"):
            if optional in body:
                data[optional] = body[optional]
        return data

    def on_flag_definitions_received(self, data: Mapping[str, Any]) -> None:
        """Store what posthog-python fetched, for every follower of either SDK."""
        try:
            body = json.dumps(dict(data), separators=(",", ":")).encode("utf-8")
            if self._store.write(body, None) is None:
                logger.debug("flagkit: not the leader any more; definitions not stored")
        except (StoreError, TypeError, ValueError) as exc:
            logger.warning("flagkit: could not store definitions: %s", exc)

    def shutdown(self) -> None:
        """Give up the leadership at once, so another process takes over."""
        try:
            self._store.release_leadership()
        except StoreError as exc:
            logger.debug("flagkit: could not release leadership: %s", exc)

    def __repr__(self) -> str:
        return f"<flagkit.posthog.DefinitionCache lease_ttl={self._lease_ttl}>"
