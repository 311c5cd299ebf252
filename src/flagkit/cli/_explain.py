"""``flagkit explain``: why a flag has its value, condition by condition.

The computation is ``Evaluator.explain`` (flagkit's own trace of PostHog's algorithm); this
module only renders it, adding the caller's actual property values and the variant table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click
from rich.text import Text

from flagkit.cli._config import api_options, definitions_option, load_snapshot
from flagkit.cli._context import EvalContext, context_options
from flagkit.cli._eval import require_flag, result_dict, warn_problems
from flagkit.cli._output import console, emit_json, show_json, show_value

if TYPE_CHECKING:
    from flagkit._evaluation.explain import ConditionTrace, Explanation

_MISSING = object()  # the caller did not pass this property
_NOT_A_PROPERTY = object()  # cohort and flag filters: no single value to show


def variant_table(definition: Mapping[str, Any]) -> list[tuple[str, float, float]]:
    """``(variant, low, high)`` bucket bounds in stored order, as PostHog accumulates them."""
    filters = definition.get("filters") or {}
    mv = filters.get("multivariate") if isinstance(filters, Mapping) else None
    variants = mv.get("variants") if isinstance(mv, Mapping) else None
    rows: list[tuple[str, float, float]] = []
    low = 0.0
    for variant in variants if isinstance(variants, list) else []:
        if not isinstance(variant, Mapping):
            continue
        pct = variant.get("rollout_percentage")
        if isinstance(pct, bool) or not isinstance(pct, int | float):
            continue
        high = low + pct / 100
        rows.append((str(variant.get("key")), low, high))
        low = high
    return rows


def _raw_groups(definition: Mapping[str, Any]) -> list[Any]:
    filters = definition.get("filters") or {}
    groups = filters.get("groups") if isinstance(filters, Mapping) else None
    return groups if isinstance(groups, list) else []


def flag_group_name(definition: Mapping[str, Any], mapping: Mapping[str, Any]) -> str | None:
    """The group type a group flag aggregates by, or ``None`` for a person flag."""
    filters = definition.get("filters") or {}
    index = filters.get("aggregation_group_type_index") if isinstance(filters, Mapping) else None
    if index is None:
        return None
    name = mapping.get(str(index))
    return None if name is None else str(name)


def _actual_values(
    definition: Mapping[str, Any], index: int, context: EvalContext, group: str | None
) -> list[Any]:
    """The caller's value of each filter's property in condition ``index`` (or _MISSING).

    ``group`` is the group type whose properties the condition reads (``None``: person).
    """
    groups = _raw_groups(definition)
    if index >= len(groups) or not isinstance(groups[index], Mapping):
        return []
    if group is not None:
        props: Mapping[str, Any] = {
            "$group_key": context.groups.get(group),
            **context.group_properties.get(group, {}),
        }
    else:
        props = {"distinct_id": context.distinct_id, **context.person_properties}
    values: list[Any] = []
    for prop in groups[index].get("properties") or []:
        if not isinstance(prop, Mapping) or prop.get("type") in ("cohort", "flag"):
            values.append(_NOT_A_PROPERTY)
            continue
        values.append(props.get(str(prop.get("key")), _MISSING))
    return values


def _condition_dict(trace: ConditionTrace) -> dict[str, Any]:
    return {
        "index": trace.index,
        "text": trace.text,
        "group": trace.group,
        "filters": [{"text": f.text, "outcome": f.outcome} for f in trace.filters],
        "rollout_percentage": trace.rollout_percentage,
        "bucket": trace.bucket,
        "outcome": trace.outcome,
        "decided": trace.decided,
    }


def explanation_dict(explanation: Explanation, definition: Mapping[str, Any]) -> dict[str, Any]:
    """The explanation as JSON data."""
    table = variant_table(definition)
    return {
        "result": result_dict(explanation.result),
        "notes": list(explanation.notes),
        "conditions": [_condition_dict(c) for c in explanation.conditions],
        "holdout_bucket": explanation.holdout_bucket,
        "variant_bucket": explanation.variant_bucket,
        "variants": [{"key": k, "low": lo, "high": hi} for k, lo, hi in table],
    }


def _mark(outcome: str) -> tuple[str, str]:
    if outcome == "match":
        return "✓", "green"
    if outcome.startswith(("no match", "filters did not", "out of rollout")):
        return "✗", "red"
    return "?", "yellow"


def render(
    explanation: Explanation,
    definition: Mapping[str, Any],
    context: EvalContext,
    flag_group: str | None = None,
) -> None:
    """Print the explanation for people (``flag_group``: the group type of a group flag)."""
    out = console()
    result = explanation.result
    header = Text()
    header.append(f"{result.key}", style="bold")
    header.append(f" for {context.distinct_id}: ")
    header.append(show_value(result.value), style="bold cyan")
    header.append(f"  ({result.reason.value}")
    header.append(f": {result.description})" if result.description else ")")
    out.print(header)
    if result.payload is not None:
        out.print(Text(f"payload: {show_json(result.payload, 200)}"))
    if definition.get("active") is False:
        out.print(Text("The flag is disabled (active: false), so everyone gets false."))
        if explanation.conditions:
            out.print(Text("Were it enabled, its conditions would give:"))
    for note in explanation.notes:
        out.print(Text(f"note: {note}"))
    if not explanation.conditions and result.condition_index is None:
        out.print(Text("No condition groups were evaluated for this caller."))
    for trace in explanation.conditions:
        chosen = " <- decided the flag" if trace.decided else ""
        where = f" [group {trace.group}]" if trace.group else ""
        line = Text(f"Condition {trace.index + 1}{where}: ", style="bold")
        line.append(trace.outcome, style=_mark(trace.outcome)[1])
        line.append(chosen, style="bold")
        out.print(line)
        actual = _actual_values(definition, trace.index, context, trace.group or flag_group)
        if not trace.filters:
            out.print(Text("    (no property filters: everyone matches)"))
        for position, check in enumerate(trace.filters):
            symbol, style = _mark(check.outcome)
            row = Text("    ")
            row.append(symbol, style=style)
            row.append(f" {check.text}: {check.outcome}")
            value = actual[position] if position < len(actual) else _NOT_A_PROPERTY
            if value is _MISSING:
                row.append("  (value: not set)", style="dim")
            elif value is not _NOT_A_PROPERTY:
                row.append(f"  (value: {show_json(value, 80)})", style="dim")
            out.print(row)
        reached = trace.outcome in ("match", "out of rollout")
        if trace.rollout_percentage is not None and not reached:
            out.print(Text(f"    rollout {trace.rollout_percentage:g}%: not reached"))
        elif trace.rollout_percentage is not None:
            threshold = trace.rollout_percentage / 100
            if trace.bucket is None:
                out.print(Text(f"    rollout {trace.rollout_percentage:g}%: no bucketing value"))
            else:
                inside = trace.bucket <= threshold
                verdict = "in rollout" if inside else "out of rollout"
                sign = "<=" if inside else ">"
                out.print(
                    Text(
                        f"    rollout {trace.rollout_percentage:g}%: bucket {trace.bucket:.6f} "
                        f"{sign} {threshold:g} -> {verdict}"
                    )
                )
        elif reached:
            out.print(Text("    rollout: none (every matching user)"))
    table = variant_table(definition)
    if table and explanation.variant_bucket is not None:
        out.print(Text(f"Variant bucket {explanation.variant_bucket:.6f}:", style="bold"))
        for key, low, high in table:
            pick = low <= explanation.variant_bucket < high
            marker = " <-" if pick else ""
            out.print(Text(f"    {key}: [{low:.4f}, {high:.4f}){marker}"))


@click.command("explain")
@click.argument("key")
@context_options
@definitions_option
@api_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def explain_command(
    key: str,
    context: EvalContext,
    definitions_file: str | None,
    as_json: bool,
) -> None:
    """Explain why KEY has its value for --distinct-id: every condition and filter, and
    the bucket value against the rollout."""
    from flagkit._evaluation.evaluator import Evaluator

    snapshot = load_snapshot(definitions_file)
    warn_problems(snapshot)
    require_flag(snapshot, key)
    explanation = Evaluator(snapshot).explain(key, context.distinct_id, **context.kwargs())
    definition = snapshot.definition(key) or {}
    if as_json:
        emit_json(explanation_dict(explanation, definition))
        return
    render(
        explanation, definition, context, flag_group_name(definition, snapshot.group_type_mapping)
    )


__all__ = [
    "explain_command",
    "explanation_dict",
    "flag_group_name",
    "render",
    "variant_table",
]
