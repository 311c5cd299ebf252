"""Output helpers of the CLI: rich tables for people, JSON for scripts, one-line errors."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from typing import Any, NoReturn

import click
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from flagkit._net.http import redact

# Keys of these variables are removed from any error text the CLI prints.
SECRET_ENV_VARS = (
    "POSTHOG_PERSONAL_API_KEY",
    "POSTHOG_PROJECT_API_KEY",
    "POSTHOG_SECRET_API_KEY",
)
_META_SECRETS = "flagkit.secrets"


def console(*, stderr: bool = False) -> Console:
    """A console on the current stdout (or stderr): wide when not a terminal."""
    stream = sys.stderr if stderr else sys.stdout
    probe = Console(file=stream)
    width = None if probe.is_terminal else 120
    return Console(file=stream, width=width, highlight=False, soft_wrap=False)


def remember_secrets(*secrets: str | None) -> None:
    """Record keys given on the command line so error messages can hide them."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return
    root = ctx.find_root()
    known: list[str] = root.meta.setdefault(_META_SECRETS, [])
    known.extend(s for s in secrets if s)


def known_secrets() -> list[str]:
    """Keys from the environment and the command line."""
    found = [os.environ.get(name) or "" for name in SECRET_ENV_VARS]
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        found.extend(ctx.find_root().meta.get(_META_SECRETS, []))
    return [s for s in found if s]


def clean(text: str) -> str:
    """``text`` on one line with every known key redacted."""
    return " ".join(redact(text, known_secrets()).split())


def fail(message: str) -> NoReturn:
    """Stop with one clear error line and exit status 1."""
    raise click.ClickException(clean(message))


def usage_error(message: str) -> NoReturn:
    """Stop on wrong usage (options that do not go together, a malformed value): the usage
    line, one error line, exit status 2, as click's own usage errors."""
    raise click.UsageError(clean(message))


def emit_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=_json_default))


def _json_default(value: Any) -> Any:
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    if isinstance(value, frozenset | set | tuple):
        return sorted(value, key=str) if isinstance(value, frozenset | set) else list(value)
    return str(value)


def show_value(value: Any) -> str:
    """A flag value as people read it: ``true``, ``false``, a variant key or ``(none)``."""
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def show_json(value: Any, limit: int = 60) -> str:
    """A compact JSON rendering for a table cell ('' for None)."""
    if value is None:
        return ""
    text = json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def table(title: str | None, columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> Group:
    """A rich table whose cells wrap instead of being cut off, under a one-line title."""
    result = Table(show_lines=False)
    for column in columns:
        result.add_column(column, overflow="fold")
    for row in rows:
        # Text, not markup: flag keys and descriptions may contain "[...]".
        result.add_row(*(cell if isinstance(cell, Text) else Text(str(cell)) for cell in row))
    # The title goes above the table: a table title would wrap to the table's width.
    return Group(Text(title, style="bold"), result) if title else Group(result)


def is_interactive() -> bool:
    """True when stderr is a terminal (progress bars and prompts make sense)."""
    return sys.stderr.isatty()


__all__ = [
    "clean",
    "console",
    "emit_json",
    "fail",
    "is_interactive",
    "known_secrets",
    "remember_secrets",
    "show_json",
    "show_value",
    "table",
]
