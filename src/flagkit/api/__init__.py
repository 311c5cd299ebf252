"""Typed wrappers of PostHog's feature-flag admin API (and persons), sync and async.

>>> from flagkit.api import FeatureFlagsAPI
>>> with FeatureFlagsAPI("https://us.posthog.com", personal_api_key, project_id) as api:
...     flag = api.flags.create("new-checkout", rollout_percentage=20)
...     api.flags.update(flag.id, active=False)

Responses are attrs models that keep unknown fields (``extra``); requests accept those
models or plain dicts. Failures raise the typed :class:`ApiError` subclasses below; reads are
retried on 429/5xx with backoff that honours ``Retry-After``, writes only when the request
certainly had no effect. Keys and filters are checked before sending, with PostHog's messages.
"""

from __future__ import annotations

from flagkit.api._async import AsyncFeatureFlagsAPI
from flagkit.api._errors import (
    ApiConnectionError,
    ApiError,
    AuthenticationError,
    ConfigurationError,
    InvalidResponseError,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    ValidationError,
)
from flagkit.api._models import (
    ActivityEntry,
    BlastRadius,
    EvaluationReason,
    FeatureFlag,
    MyFlag,
    Page,
    Person,
    RoleAccess,
    Variant,
)
from flagkit.api._settings import DEFAULT_HOST
from flagkit.api._sync import FeatureFlagsAPI
from flagkit.api._validation import check_filters, check_key

__all__ = [
    "DEFAULT_HOST",
    "ActivityEntry",
    "ApiConnectionError",
    "ApiError",
    "AsyncFeatureFlagsAPI",
    "AuthenticationError",
    "BlastRadius",
    "ConfigurationError",
    "EvaluationReason",
    "FeatureFlag",
    "FeatureFlagsAPI",
    "InvalidResponseError",
    "MyFlag",
    "NotFound",
    "Page",
    "PermissionDenied",
    "Person",
    "RateLimited",
    "RoleAccess",
    "ServerError",
    "ValidationError",
    "Variant",
    "check_filters",
    "check_key",
]
