"""The one ``httpx.AsyncClient`` an :class:`flagkit.AsyncClient` uses, built on first use."""

from __future__ import annotations

import logging

import httpx

from flagkit._net.http import build_timeout, user_agent

logger = logging.getLogger("flagkit.client")


class AsyncHttpHolder:
    """Builds one ``httpx.AsyncClient`` for ``host`` on first use; ``get()`` returns ``None``
    once closed.

    The poller, the ``/flags`` fallback and the event sender share its connection pool;
    each request passes its own timeout. TLS certificates are always verified.
    """

    def __init__(self, host: str, *, timeout: float) -> None:
        self._host = host
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None
        self._closed = False

    def get(self) -> httpx.AsyncClient | None:
        """The shared client, built if needed; ``None`` after :meth:`aclose`."""
        if self._closed:
            return None
        client = self._client
        if client is None:  # no lock needed: only the event loop's thread gets here
            client = self._client = httpx.AsyncClient(
                base_url=self._host.rstrip("/"),
                timeout=build_timeout(self._timeout),
                headers={"User-Agent": user_agent(), "Accept": "application/json"},
                follow_redirects=False,
                verify=True,
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
