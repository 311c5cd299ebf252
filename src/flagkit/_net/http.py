"""Shared HTTP plumbing: one way to build an ``httpx.Client`` and to keep keys out of text.

Used by the definitions poller, the remote/event senders and the admin API. TLS
verification is always on; every request has a timeout; the User-Agent names flagkit and its
version. Building a client installs the log redaction (and registers the keys it is given),
so httpx's request lines never show a key, with or without a :class:`flagkit.Client`.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

DEFAULT_TIMEOUT = 10.0
_REDACTED = "[REDACTED]"
# Query parameters that carry a credential in some PostHog route (?token= is required on the
# legacy and /flags/definitions routes): their values are hidden even when unregistered.
_CREDENTIAL_PARAM = re.compile(
    r"([?&](?:token|api_key|personal_api_key|secret_api_key|project_secret_api_key)=)"
    r"[^&\s\"'#]*",
    re.IGNORECASE,
)
# httpx logs to "httpx"; httpcore to sub-loggers, and a logger's filters do not apply to
# records propagating up from its children.
_HTTP_LOGGERS = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)


def user_agent() -> str:
    """``flagkit/<version>``, the User-Agent of every flagkit request."""
    # Imported late: flagkit/__init__.py imports modules that import this one.
    from flagkit._version import __version__

    return f"flagkit/{__version__}"


def build_timeout(timeout: float | httpx.Timeout) -> httpx.Timeout:
    """An ``httpx.Timeout`` from seconds (connect, read, write and pool all bounded)."""
    if isinstance(timeout, httpx.Timeout):
        return timeout
    seconds = float(timeout)
    if not seconds > 0:
        raise ValueError("timeout must be a positive number of seconds")
    return httpx.Timeout(seconds)


def build_http_client(
    base_url: str,
    *,
    timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
    headers: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
    follow_redirects: bool = False,
    secrets: Iterable[str | None] = (),
) -> httpx.Client:
    """A configured ``httpx.Client`` for ``base_url``.

    TLS certificates are verified (there is deliberately no switch to turn that off).
    ``secrets`` (the keys this client will send) are hidden from httpx's logs. The caller
    owns the client and must ``close()`` it.
    """
    options = client_options(base_url, timeout, headers, follow_redirects, secrets)
    return httpx.Client(transport=transport, **options)


def client_options(
    base_url: str,
    timeout: float | httpx.Timeout,
    headers: Mapping[str, str] | None,
    follow_redirects: bool,
    secrets: Iterable[str | None],
) -> dict[str, Any]:
    """The settings of every flagkit ``httpx`` client, sync or async (and the keys it sends
    hidden from httpx's logs): TLS verification is always on."""
    hide_secrets_in_http_logs(secrets)
    return {
        "base_url": base_url.rstrip("/"),
        "timeout": build_timeout(timeout),
        "headers": default_headers(headers),
        "follow_redirects": follow_redirects,
        "verify": True,
    }


def error_detail(body: bytes, limit: int = 300) -> str:
    """An error response's message for logs and statuses: PostHog's ``detail`` when the
    body is JSON with one, else the start of the body, on one line of at most ``limit``."""
    text = body[:4096].decode("utf-8", "replace").strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("detail"), str):
        text = parsed["detail"]
    return " ".join(text.split())[:limit]


def default_headers(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The headers of every flagkit client (User-Agent, Accept), plus ``extra``."""
    merged = {"User-Agent": user_agent(), "Accept": "application/json"}
    if extra:
        merged.update(extra)
    return merged


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every non-empty secret replaced by ``[REDACTED]``.

    Longer secrets are replaced first so that one secret containing another is fully hidden.
    """
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, _REDACTED)
    return text


def redact_credential_params(text: str) -> str:
    """``text`` with the values of credential query parameters (``token=`` ...) hidden."""
    return _CREDENTIAL_PARAM.sub(lambda m: m.group(1) + _REDACTED, text)


class _RedactingFilter(logging.Filter):
    """Scrubs registered keys and credential query values from httpx/httpcore records.

    httpx logs every request URL at INFO, and the definitions URL carries the project token
    in its query string.
    """

    def __init__(self) -> None:
        super().__init__()
        self._secrets: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def add(self, secrets: Iterable[str | None]) -> None:
        with self._lock:
            self._secrets = self._secrets | {s for s in secrets if s}

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's problem
            return True
        cleaned = redact_credential_params(redact(message, self._secrets))
        if cleaned != message:
            # The formatted text replaces msg and args, so neither still holds a key.
            record.msg = cleaned
            record.args = None
        return True


_LOG_FILTER = _RedactingFilter()
_LOG_FILTER_LOCK = threading.Lock()
_LOG_FILTER_INSTALLED = False


def hide_secrets_in_http_logs(secrets: Iterable[str | None] = ()) -> None:
    """Make httpx's and httpcore's loggers replace these secrets (and the values of
    credential query parameters) with ``[REDACTED]``. Idempotent; keys accumulate."""
    global _LOG_FILTER_INSTALLED
    _LOG_FILTER.add(secrets)
    with _LOG_FILTER_LOCK:
        if not _LOG_FILTER_INSTALLED:
            for name in _HTTP_LOGGERS:
                logging.getLogger(name).addFilter(_LOG_FILTER)
            _LOG_FILTER_INSTALLED = True
