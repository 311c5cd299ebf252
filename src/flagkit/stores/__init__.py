"""Shared definitions stores: one fetch from PostHog for many processes or hosts.

* :class:`FileStore`: processes on one host (``Client(shared_cache_dir=...)``).
* :class:`RedisStore`: processes on many hosts (``Client(store=RedisStore(url))``;
  needs ``pip install 'flagkit[redis]'``).
* :class:`DefinitionsStore`: the protocol both implement, for writing your own.

See docs/shared-definitions.md.
"""

from __future__ import annotations

from flagkit.stores._file import FileStore
from flagkit.stores._protocol import DefinitionsStore, StoredDefinitions, StoreError, StoreState
from flagkit.stores._redis import RedisStore

__all__ = [
    "DefinitionsStore",
    "FileStore",
    "RedisStore",
    "StoreError",
    "StoreState",
    "StoredDefinitions",
]
