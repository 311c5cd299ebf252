"""``flagkit eval``: flag values, payloads and reasons for one user."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click
from rich.text import Text

from flagkit.cli._config import api_options, definitions_option, load_snapshot
from flagkit.cli._context import EvalContext, context_options
from flagkit.cli._output import (
    console,
    emit_json,
    fail,
    show_json,
    show_value,
    table,
    usage_error,
)

if TYPE_CHECKING:
    from flagkit._evaluation.result import FlagResult
    from flagkit._evaluation.snapshot import Snapshot


def result_dict(result: FlagResult) -> dict[str, Any]:
    """One result as JSON data."""
    return {
        "key": result.key,
        "value": result.value,
        "enabled": result.enabled,
        "payload": result.payload,
        "reason": result.reason.value,
        "condition_index": result.condition_index,
        "description": result.description,
    }


def require_flag(snapshot: Snapshot, key: str) -> None:
    """Fail with a helpful line when ``key`` is not among the definitions."""
    if key in snapshot:
        return
    known = ", ".join(sorted(snapshot.flag_keys)[:10]) or "none"
    more = " ..." if len(snapshot) > 10 else ""
    fail(f"no flag with key {key!r} in the definitions (flags: {known}{more})")


def warn_problems(snapshot: Snapshot) -> None:
    """Print definition problems on stderr (they never stop the evaluation)."""
    err = console(stderr=True)
    for problem in snapshot.problems:
        err.print(f"warning: {problem}", markup=False)


@click.command("eval")
@click.argument("key", required=False)
@click.option("--all", "all_flags", is_flag=True, help="Evaluate every flag.")
@context_options
@definitions_option
@api_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def eval_command(
    key: str | None,
    all_flags: bool,
    context: EvalContext,
    definitions_file: str | None,
    as_json: bool,
) -> None:
    """Evaluate KEY (or --all flags) for --distinct-id, locally, like PostHog's SDK.

    Definitions come from --definitions FILE or are fetched from --host.
    """
    from flagkit._evaluation.evaluator import Evaluator

    if (key is None) == (not all_flags):
        usage_error("pass a flag KEY or --all (not both)")
    snapshot = load_snapshot(definitions_file)
    warn_problems(snapshot)
    evaluator = Evaluator(snapshot)
    if key is not None:
        require_flag(snapshot, key)
        results = [evaluator.evaluate(key, context.distinct_id, **context.kwargs())]
    else:
        results = list(evaluator.evaluate_all(context.distinct_id, **context.kwargs()).values())
    if as_json:
        emit_json([result_dict(r) for r in results])
        return
    if not results:
        console().print(Text("No flags: the definitions hold none."))
        return
    rows = [
        (
            r.key,
            show_value(r.value),
            show_json(r.payload),
            r.reason.value,
            r.description,
        )
        for r in results
    ]
    title = f"Flags for {context.distinct_id}" if key is None else None
    console().print(table(title, ("Flag", "Value", "Payload", "Reason", "Why"), rows))


__all__ = ["eval_command", "require_flag", "result_dict", "warn_problems"]
