"""What the sync and async clients share: the constructor's arguments, settings and repr.

Each client only opens its own kind of HTTP client and transport (:meth:`ApiBase._connect`).
"""

from __future__ import annotations

from typing import Generic, TypeVar

from flagkit._net.http import hide_secrets_in_http_logs
from flagkit.api._ops import Operations
from flagkit.api._settings import CLIENT_OPTIONS, ApiSettings

HttpT = TypeVar("HttpT")


class ApiBase(Generic[HttpT]):
    """The constructor of :class:`FeatureFlagsAPI` and :class:`AsyncFeatureFlagsAPI`."""

    def __init__(
        self,
        host: str | None = None,
        personal_api_key: str | None = None,
        project_id: int | str | None = None,
        *,
        project_api_key: str | None = None,
        legacy: bool = False,
        timeout: float = 10.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        validate: bool = True,
        http_client: HttpT | None = None,
    ) -> None:
        args = locals()
        options = {name: args[name] for name in CLIENT_OPTIONS}
        self.settings = ApiSettings.build(host, personal_api_key, project_id, **options)
        s = self.settings
        self._owns_client = http_client is None
        # Registered even for a caller's own http_client: httpx logs every URL at INFO, and
        # the legacy routes need ?token= in it.
        hide_secrets_in_http_logs(s.secrets)
        self._connect(
            http_client, Operations(s.paths, token=s.project_api_key, validate=s.validate)
        )

    def _connect(self, http_client: HttpT | None, ops: Operations) -> None:
        """Open the transport (on ``http_client`` or a new client) and the resources."""
        raise NotImplementedError

    def __repr__(self) -> str:
        s = self.settings
        return (
            f"{type(self).__name__}(host={s.host!r}, project_id={s.project_id!r}, "
            f"legacy={s.paths.legacy})"
        )


__all__ = ["ApiBase"]
