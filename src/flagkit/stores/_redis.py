"""Sharing one fetch between hosts through Redis.

Keys, per scope (``<prefix>:{<scope>}:...``; the braces keep both in one Cluster slot):

* ``leader``: the lease, a random token of the current leader with a time to live. It is
  taken with ``SET NX PX``-like logic and renewed by compare-and-``PEXPIRE``, both in one
  Lua script; released by compare-and-``DEL``. A leader that dies simply stops renewing.
* ``definitions``: a hash with ``version`` (a random token per write), ``body``, ``etag``
  and ``confirmed_at``. Writes are fenced: the script refuses them unless the caller still
  holds the lease, so a leader that lost its lease in the middle of a slow fetch cannot
  overwrite what its successor wrote. Followers ``HMGET version confirmed_at`` on each
  check and ``HGETALL`` only when the version changed.

Every command has a short socket timeout and is not retried: a failure becomes a
:class:`StoreError` at once, and the client fetches directly until Redis answers again.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from flagkit.stores._process import ProcessGuard
from flagkit.stores._protocol import StoredDefinitions, StoreError, StoreState

_INSTALL_HINT = "RedisStore needs the redis package: pip install 'flagkit[redis]'"

# KEYS[1] lease; ARGV token, ttl_ms. 1 when the caller holds the lease afterwards.
_ACQUIRE = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

# KEYS[1] lease; ARGV token.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS[1] lease, KEYS[2] data; ARGV token, version, body, etag, now, data ttl ms (0: none).
_WRITE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'version', ARGV[2], 'body', ARGV[3], 'etag', ARGV[4],
           'confirmed_at', ARGV[5])
if tonumber(ARGV[6]) > 0 then
  redis.call('PEXPIRE', KEYS[2], ARGV[6])
end
return 1
"""

# KEYS[1] lease, KEYS[2] data; ARGV token, now, data ttl ms (0: none).
_CONFIRM = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] or redis.call('HEXISTS', KEYS[2], 'version') == 0 then
  return 0
end
redis.call('HSET', KEYS[2], 'confirmed_at', ARGV[2])
if tonumber(ARGV[3]) > 0 then
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
return 1
"""


class RedisStore:
    """Shares definitions between processes and hosts through a Redis server.

    ``url`` is a redis-py URL (``redis://[:password@]host:6379/0``, ``rediss://`` for TLS);
    or pass an existing ``redis.Redis`` as ``client`` (it should use short timeouts).
    ``timeout`` bounds every command, so an unreachable Redis costs the poller at most that
    long per try. Stored definitions expire after ``data_ttl`` seconds without a write or
    a confirmation (``None``: never), so abandoned projects do not stay in Redis forever.
    Needs ``pip install 'flagkit[redis]'``.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Any = None,
        key_prefix: str = "flagkit",
        timeout: float = 1.0,
        data_ttl: float | None = 7 * 24 * 3600.0,
        scope: str = "default",
    ) -> None:
        if (url is None) == (client is None):
            raise ValueError("RedisStore needs exactly one of url= or client=")
        if not timeout > 0:
            raise ValueError("timeout must be positive")
        if data_ttl is not None and not data_ttl > 0:
            raise ValueError("data_ttl must be positive or None")
        if client is None:
            client = _connect(str(url), timeout)
        self._client = client
        self._key_prefix = key_prefix
        self._timeout = timeout
        self._data_ttl_ms = 0 if data_ttl is None else max(1, int(data_ttl * 1000))
        self.scope = scope
        # The braces are a Redis Cluster hash tag: both keys live in one slot, as the
        # scripts that touch both require.
        self._lease_key = f"{key_prefix}:{{{scope}}}:leader"
        self._data_key = f"{key_prefix}:{{{scope}}}:definitions"
        self._guard = ProcessGuard()
        self._token = secrets.token_hex(16)
        self._leader = False
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(_RELEASE)
        self._write = client.register_script(_WRITE)
        self._confirm = client.register_script(_CONFIRM)

    def __repr__(self) -> str:
        # The connection details may include a password: never shown.
        return f"<flagkit.stores.RedisStore prefix={self._key_prefix!r} scope={self.scope!r}>"

    @property
    def client(self) -> Any:
        """The underlying ``redis.Redis`` client (shared by all scoped views)."""
        return self._client

    def scoped(self, scope: str) -> RedisStore:
        """A view for ``scope`` sharing this store's connection pool, with its own lease."""
        return RedisStore(
            client=self._client,
            key_prefix=self._key_prefix,
            timeout=self._timeout,
            data_ttl=None if self._data_ttl_ms == 0 else self._data_ttl_ms / 1000,
            scope=scope,
        )

    def close(self) -> None:
        """Close the connection pool (after releasing leadership, if held)."""
        try:
            self.release_leadership()
        except StoreError:
            pass  # Redis is away: the lease expires on its own
        finally:
            self._client.close()

    # -- leadership -----------------------------------------------------------------------

    def try_acquire_leadership(self, ttl: float) -> bool:
        """Take the lease if free, or extend it if ours, for ``ttl`` seconds."""
        ttl_ms = max(1, int(ttl * 1000))
        with self._guard.lock():
            self._forget_inherited_lease()
            held = self._script(self._acquire, (self._lease_key,), (self._token, ttl_ms))
            self._leader = bool(held)
            return self._leader

    def release_leadership(self) -> None:
        """Delete the lease if it is still ours."""
        with self._guard.lock():
            self._forget_inherited_lease()
            self._leader = False
            # Compare-and-delete by token: harmless when another process holds the lease.
            self._script(self._release, (self._lease_key,), (self._token,))

    def _forget_inherited_lease(self) -> None:
        # A forked child must not renew (or release) its parent's lease: new identity.
        if self._guard.forked():
            self._token = secrets.token_hex(16)
            self._leader = False

    # -- snapshot -------------------------------------------------------------------------

    def peek(self) -> StoreState | None:
        """``HMGET version confirmed_at``: one small round trip."""
        version, confirmed = self._call(
            self._client.hmget, self._data_key, ["version", "confirmed_at"]
        )
        if version is None:
            return None
        return StoreState(_text(version), _float(confirmed))

    def read(self) -> StoredDefinitions | None:
        """``HGETALL`` of the definitions hash (one atomic read)."""
        fields = self._call(self._client.hgetall, self._data_key)
        data = {_text(k): v for k, v in fields.items()}
        version, body = data.get("version"), data.get("body")
        if version is None or body is None:
            return None
        etag = _text(data["etag"]) if data.get("etag") is not None else ""
        return StoredDefinitions(
            version=_text(version),
            body=body.encode("utf-8") if isinstance(body, str) else bytes(body),
            etag=etag or None,
            confirmed_at=_float(data.get("confirmed_at")),
        )

    def write(self, body: bytes, etag: str | None) -> str | None:
        """Replace the definitions if we still hold the lease; the new version."""
        version = secrets.token_hex(8)
        with self._guard.lock():
            self._forget_inherited_lease()
            args = (self._token, version, body, etag or "", repr(time.time()), self._data_ttl_ms)
            done = self._script(self._write, (self._lease_key, self._data_key), args)
            if not done:
                self._leader = False
                return None
        return version

    def confirm(self) -> None:
        """Set ``confirmed_at`` to now if we still hold the lease and data exists."""
        with self._guard.lock():
            self._forget_inherited_lease()
            args = (self._token, repr(time.time()), self._data_ttl_ms)
            self._script(self._confirm, (self._lease_key, self._data_key), args)

    def _script(self, script: Any, keys: tuple[str, ...], args: tuple[Any, ...]) -> Any:
        return self._call(lambda: script(keys=list(keys), args=list(args)))

    def _call(self, func: Any, *args: Any) -> Any:
        from redis.exceptions import RedisError

        try:
            return func(*args)
        except (RedisError, OSError) as exc:
            raise StoreError(f"redis: {type(exc).__name__}: {_safe(exc)}") from None


def _connect(url: str, timeout: float) -> Any:
    try:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry
    except ImportError:
        raise ImportError(_INSTALL_HINT) from None
    try:
        return redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            # No hidden retries: one failure falls back to direct fetching at once.
            retry=Retry(NoBackoff(), 0),
        )
    except ValueError as exc:
        # redis-py's message may quote the URL (and its password): say less.
        raise ValueError(f"invalid Redis URL ({type(exc).__name__})") from None


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _float(value: Any) -> float:
    try:
        return float(_text(value)) if value is not None else 0.0
    except ValueError:
        return 0.0


def _safe(exc: BaseException) -> str:
    # redis-py messages name host and port, never the password; keep them short anyway.
    return " ".join(str(exc).split())[:200]
