"""Connection settings of the admin API, from arguments or the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import attrs

from flagkit.api._errors import ConfigurationError
from flagkit.api._paths import Paths
from flagkit.api._transport import RetryPolicy

DEFAULT_HOST = "https://us.posthog.com"

ENV_HOST = "POSTHOG_HOST"
ENV_PROJECT_ID = "POSTHOG_PROJECT_ID"
ENV_PERSONAL_API_KEY = "POSTHOG_PERSONAL_API_KEY"
ENV_PROJECT_API_KEY = "POSTHOG_PROJECT_API_KEY"

# The clients' keyword arguments that ApiSettings.build takes as they are, with their
# defaults (the clients' signatures show the same).
CLIENT_OPTIONS: Mapping[str, Any] = {
    "project_api_key": None,
    "legacy": False,
    "timeout": 10.0,
    "max_retries": 3,
    "backoff": 0.5,
    "validate": True,
}


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


@attrs.frozen
class ApiSettings:
    """Where and how to call the API. Keys are excluded from ``repr``."""

    host: str
    personal_api_key: str = attrs.field(repr=False)
    project_id: str | None = None
    project_api_key: str | None = attrs.field(default=None, repr=False)
    legacy: bool = False
    timeout: float = 10.0
    retry: RetryPolicy = attrs.field(factory=RetryPolicy)
    validate: bool = True

    @classmethod
    def build(
        cls,
        host: str | None,
        personal_api_key: str | None,
        project_id: int | str | None,
        *,
        environ: Mapping[str, str] | None = None,
        **options: Any,
    ) -> ApiSettings:
        """Settings from arguments, each missing one read from the environment.

        ``options`` are the clients' other arguments (:data:`CLIENT_OPTIONS`). Raises
        :class:`ConfigurationError` when there is no personal API key or the host is not an
        http(s) URL.
        """
        unknown = options.keys() - CLIENT_OPTIONS.keys()
        if unknown:
            raise TypeError(f"unexpected API option {sorted(unknown)[0]!r}")
        opts = {**CLIENT_OPTIONS, **options}
        timeout, max_retries, backoff = opts["timeout"], opts["max_retries"], opts["backoff"]
        env = os.environ if environ is None else environ
        resolved_host = _clean(host) or _clean(env.get(ENV_HOST)) or DEFAULT_HOST
        if not resolved_host.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"the host must be an http(s) URL such as {DEFAULT_HOST}, got {resolved_host!r}"
            )
        key = _clean(personal_api_key) or _clean(env.get(ENV_PERSONAL_API_KEY))
        if key is None:
            raise ConfigurationError(
                "no personal API key: pass personal_api_key (CLI: --personal-api-key) or set "
                f"{ENV_PERSONAL_API_KEY}"
            )
        pid = _clean(None if project_id is None else str(project_id))
        pid = pid or _clean(env.get(ENV_PROJECT_ID))
        token = _clean(opts["project_api_key"]) or _clean(env.get(ENV_PROJECT_API_KEY))
        if max_retries < 0 or backoff < 0 or not timeout > 0:
            raise ConfigurationError("timeout must be > 0, max_retries and backoff >= 0")
        return cls(
            host=resolved_host.rstrip("/"),
            personal_api_key=key,
            project_id=pid,
            project_api_key=token,
            legacy=opts["legacy"],
            timeout=timeout,
            retry=RetryPolicy(max_retries=max_retries, backoff=backoff),
            validate=opts["validate"],
        )

    @property
    def paths(self) -> Paths:
        """Project-scoped paths, or the legacy ones (also used when no project id is set)."""
        return Paths.for_project(self.project_id, legacy=self.legacy)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Everything that must never appear in messages."""
        return tuple(s for s in (self.personal_api_key, self.project_api_key) if s)

    def auth_headers(self) -> dict[str, str]:
        """The ``Authorization`` header for every request."""
        return {"Authorization": f"Bearer {self.personal_api_key}"}


__all__ = [
    "DEFAULT_HOST",
    "ENV_HOST",
    "ENV_PERSONAL_API_KEY",
    "ENV_PROJECT_API_KEY",
    "ENV_PROJECT_ID",
    "ApiSettings",
]
