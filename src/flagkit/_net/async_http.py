"""Async HTTP clients: the builder, and the one ``httpx.AsyncClient`` an
:class:`flagkit.AsyncClient` uses, built on first use."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

import httpx

from flagkit._net.http import DEFAULT_TIMEOUT, client_options

logger = logging.getLogger("flagkit.client")


def build_async_http_client(
    base_url: str,
    *,
    timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
    headers: Mapping[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    secrets: Iterable[str | None] = (),
) -> httpx.AsyncClient:
    """A configured ``httpx.AsyncClient`` for ``base_url`` (the async twin of
    :func:`flagkit._net.http.build_http_client`).

    TLS certificates are always verified; redirects are not followed; ``secrets`` are
    hidden from httpx's logs. The caller owns the client and must ``aclose()`` it.
    """
    options = client_options(base_url, timeout, headers, False, secrets)
    return httpx.AsyncClient(transport=transport, **options)


class AsyncHttpHolder:
    """Builds one ``httpx.AsyncClient`` for ``host`` on first use; ``get()`` returns ``None``
    once closed.

    The poller, the ``/flags`` fallback and the event sender share its connection pool;
    each request passes its own timeout. TLS certificates are always verified.
    """

    def __init__(self, host: str, *, timeout: float, secrets: Iterable[str | None] = ()) -> None:
        self._host = host
        self._timeout = timeout
        self._secrets = tuple(secrets)
        self._client: httpx.AsyncClient | None = None
        self._closed = False

    def get(self) -> httpx.AsyncClient | None:
        """The shared client, built if needed; ``None`` after :meth:`aclose`."""
        if self._closed:
            return None
        client = self._client
        if client is None:  # no lock needed: only the event loop's thread gets here
            client = self._client = build_async_http_client(
                self._host, timeout=self._timeout, secrets=self._secrets
            )
        return client

    async def aclose(self) -> None:
        """Close the client (if built) and refuse to build another. Idempotent."""
        self._closed = True
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.aclose()
            except Exception:  # a request still in flight may complain
                logger.debug("flagkit: error closing the HTTP client", exc_info=True)
