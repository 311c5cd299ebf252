"""Connection settings shared by the CLI commands: flags or environment variables."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from flagkit.api import FeatureFlagsAPI
from flagkit.api._errors import ConfigurationError
from flagkit.api._settings import (
    ENV_HOST,
    ENV_PERSONAL_API_KEY,
    ENV_PROJECT_API_KEY,
    ENV_PROJECT_ID,
)
from flagkit.cli._output import fail, remember_secrets, usage_error

if TYPE_CHECKING:
    from flagkit._evaluation.snapshot import Snapshot

F = TypeVar("F", bound=Callable[..., Any])
_KEY = "flagkit.connection"


def _store(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    settings: dict[str, Any] = ctx.meta.setdefault(_KEY, {})
    settings[param.name or ""] = value
    if param.name in ("personal_api_key", "project_api_key"):
        remember_secrets(value)
    return value


def api_options(func: F) -> F:
    """Add --host, --project-id, --personal-api-key, --project-api-key, --legacy-api, --timeout.

    Their values are kept in the context (see :func:`connection`), not passed to ``func``.
    """
    # Eager: the keys are known (and redactable) before any other option can fail.
    common: dict[str, Any] = {"expose_value": False, "callback": _store, "is_eager": True}
    options = [
        click.option(
            "--host",
            envvar=ENV_HOST,
            metavar="URL",
            help=f"PostHog host, e.g. https://us.posthog.com or http://127.0.0.1:8000 "
            f"[env: {ENV_HOST}]",
            **common,
        ),
        click.option(
            "--project-id",
            envvar=ENV_PROJECT_ID,
            metavar="ID",
            help=f"Project id; without it the legacy /api/feature_flag/ routes are used "
            f"[env: {ENV_PROJECT_ID}]",
            **common,
        ),
        click.option(
            "--personal-api-key",
            envvar=ENV_PERSONAL_API_KEY,
            metavar="KEY",
            help=f"Personal API key (phx_...) [env: {ENV_PERSONAL_API_KEY}]",
            **common,
        ),
        click.option(
            "--project-api-key",
            envvar=ENV_PROJECT_API_KEY,
            metavar="KEY",
            help=f"Project API key (phc_...), selects the project on legacy routes "
            f"[env: {ENV_PROJECT_API_KEY}]",
            **common,
        ),
        click.option(
            "--legacy-api",
            is_flag=True,
            default=False,
            help="Use the legacy /api/feature_flag/ routes even with a project id.",
            **common,
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0.1),
            default=10.0,
            show_default=True,
            help="Seconds to wait for each HTTP request.",
            **common,
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def connection() -> dict[str, Any]:
    """The values of the connection options of the running command."""
    ctx = click.get_current_context()
    return dict(ctx.meta.get(_KEY, {}))


def has_connection() -> bool:
    """True when a host or a personal API key was given (flag or environment)."""
    settings = connection()
    return bool(settings.get("host") or settings.get("personal_api_key"))


def open_api() -> FeatureFlagsAPI:
    """A :class:`FeatureFlagsAPI` from the connection options (caller closes it)."""
    settings = connection()
    try:
        return FeatureFlagsAPI(
            settings.get("host"),
            settings.get("personal_api_key"),
            settings.get("project_id"),
            project_api_key=settings.get("project_api_key"),
            legacy=bool(settings.get("legacy_api")),
            timeout=float(settings.get("timeout") or 10.0),
            max_retries=2,
        )
    except ConfigurationError as exc:
        fail(str(exc))


def definitions_option(func: F) -> F:
    """Add --definitions FILE (the alternative to fetching with the connection options)."""
    return click.option(
        "--definitions",
        "definitions_file",
        type=click.Path(exists=True, dir_okay=False, readable=True),
        metavar="FILE",
        help="Local-evaluation definitions JSON (e.g. from `flagkit pull`); "
        "without it they are fetched from --host.",
    )(func)


def load_snapshot(definitions_file: str | None) -> Snapshot:
    """The definitions from ``definitions_file``, or fetched with the connection options."""
    from flagkit._evaluation.snapshot import Snapshot

    if definitions_file is not None:
        return Snapshot.from_file(definitions_file)
    if not has_connection():
        usage_error(
            "no definitions: pass --definitions FILE (e.g. saved by `flagkit pull`) or "
            f"--host URL with a personal API key (or set {ENV_HOST} and {ENV_PERSONAL_API_KEY})"
        )
    with open_api() as api:
        return Snapshot.from_dict(api.flags.local_evaluation_body())


__all__ = [
    "api_options",
    "connection",
    "definitions_option",
    "has_connection",
    "load_snapshot",
    "open_api",
]
