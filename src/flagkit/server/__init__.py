"""A local PostHog-compatible server: feature-flag API, local and remote evaluation, capture.

``LocalServer`` runs it in-process for tests; ``serve()`` (``flagkit serve``,
``python -m flagkit.server``) runs it in the foreground. See ``docs/local-server.md``.
"""

from __future__ import annotations

from flagkit.server._errors import LocalServerError
from flagkit.server._faults import Faults
from flagkit.server._local import LocalServer, serve
from flagkit.server._ratelimit import DEFAULT_RATE_LIMITS, POSTHOG_RATE_LIMITS

__all__ = [
    "DEFAULT_RATE_LIMITS",
    "POSTHOG_RATE_LIMITS",
    "Faults",
    "LocalServer",
    "LocalServerError",
    "serve",
]
