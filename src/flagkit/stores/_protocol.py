"""The contract between a :class:`flagkit.Client` and a shared definitions store.

A store lets many clients share one fetch: one of them (the *leader*) downloads the
definitions from PostHog and writes them to the store; the others (*followers*) read them
from there. The client drives everything; a store only answers these calls.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import attrs

from flagkit.errors import FlagkitError


class StoreError(FlagkitError):
    """The shared store could not be reached or refused an operation.

    The client answers it by fetching definitions directly until the store works again.
    Messages never contain passwords or API keys.
    """


@attrs.frozen(slots=True)
class StoreState:
    """What a store holds, without the body: cheap to ask for on every check.

    ``version`` is an opaque token that changes on every :meth:`DefinitionsStore.write`;
    ``confirmed_at`` is the Unix time at which the leader last heard from the server that
    these definitions are current (a write or a :meth:`DefinitionsStore.confirm`).
    """

    version: str
    confirmed_at: float


@attrs.frozen(slots=True)
class StoredDefinitions:
    """A definitions body exactly as the server sent it, with its ETag and version."""

    version: str
    body: bytes
    etag: str | None
    confirmed_at: float


@runtime_checkable
class DefinitionsStore(Protocol):
    """A place where one process publishes definitions and others pick them up.

    Implementations: :class:`flagkit.stores.FileStore` (one host) and
    :class:`flagkit.stores.RedisStore` (many hosts). The client first calls :meth:`scoped`
    with an opaque name for its project and endpoint and uses only the returned view, so
    one store can serve several projects. Methods raise :class:`StoreError` when the
    backend is unavailable; a missing or damaged snapshot is ``None``, not an error.
    """

    def scoped(self, scope: str) -> DefinitionsStore:
        """A view of this store for one definitions source, with its own leadership."""
        ...

    def try_acquire_leadership(self, ttl: float) -> bool:
        """Become or stay the leader of this scope; True while this view is the leader.

        ``ttl`` is how many seconds the leadership lasts without another call (stores
        whose leadership ends with the holder's process, such as a file lock, ignore it).
        The client calls this at least every ``ttl / 3`` seconds.
        """
        ...

    def release_leadership(self) -> None:
        """Give up leadership now (if held) so another process can take over at once."""
        ...

    def peek(self) -> StoreState | None:
        """The version and confirmation time of the stored definitions, or ``None``."""
        ...

    def read(self) -> StoredDefinitions | None:
        """The stored definitions, or ``None`` when there are none or they are damaged."""
        ...

    def write(self, body: bytes, etag: str | None) -> str | None:
        """Replace the stored definitions; the new version, or ``None`` if not the leader."""
        ...

    def confirm(self) -> None:
        """Record that the server confirmed the stored definitions (a 304) just now."""
        ...
