"""``flagkit rollout``: how many of a set of persons get each value (offline blast radius)."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from typing import Any

import attrs
import click
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from flagkit._evaluation.evaluator import Evaluator
from flagkit.cli._config import api_options, definitions_option, load_snapshot
from flagkit.cli._context import EvalContext
from flagkit.cli._eval import require_flag, warn_problems
from flagkit.cli._output import console, emit_json, fail, is_interactive, show_value, table

# Files at least this big get a progress bar (when stderr is a terminal).
PROGRESS_MIN_BYTES = 1 << 20


def parse_person(data: Any) -> EvalContext | None:
    """A person from ``{"distinct_id", "properties", "groups", "group_properties",
    "device_id"}`` or PostHog's person shape (``distinct_ids``); ``None`` if unusable."""
    if not isinstance(data, Mapping):
        return None
    distinct_id = data.get("distinct_id")
    if distinct_id is None:
        ids = data.get("distinct_ids")
        distinct_id = ids[0] if isinstance(ids, list) and ids else None
    if distinct_id is None or isinstance(distinct_id, bool | dict | list):
        return None

    def mapping(name: str) -> dict[str, Any]:
        value = data.get(name)
        return dict(value) if isinstance(value, Mapping) else {}

    device = data.get("device_id")
    return EvalContext(
        distinct_id=str(distinct_id),
        person_properties=mapping("properties"),
        groups=mapping("groups"),
        group_properties=mapping("group_properties"),
        device_id=str(device) if device is not None else None,
    )


@attrs.define
class Tally:
    """Counts of values and reasons over the persons read so far."""

    values: Counter[str] = attrs.field(factory=Counter)
    reasons: Counter[str] = attrs.field(factory=Counter)
    total: int = 0
    skipped: int = 0
    first_bad_line: int | None = None

    def to_dict(self, key: str) -> dict[str, Any]:
        """The tally as JSON data."""
        return {
            "key": key,
            "total": self.total,
            "values": dict(self.values.most_common()),
            "reasons": dict(self.reasons.most_common()),
            "skipped_lines": self.skipped,
        }


class _Bar:
    """A transient byte-progress bar on stderr, updated at most once per 64 KiB."""

    def __init__(self, total: int) -> None:
        self.progress = Progress(
            TextColumn("evaluating"),
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=console(stderr=True),
            transient=True,
        )
        self.task = self.progress.add_task("persons", total=total)
        self.pending = 0

    def advance(self, n: int) -> None:
        self.pending += n
        if self.pending >= 1 << 16:
            self.progress.advance(self.task, self.pending)
            self.pending = 0


def tally_persons(
    evaluator: Evaluator, key: str, lines: Iterable[bytes], on_bytes: Callable[[int], None]
) -> Tally:
    """Evaluate ``key`` for the person on each JSONL line and count values and reasons."""
    tally = Tally()
    for number, raw in enumerate(lines, start=1):
        on_bytes(len(raw))
        if not raw.strip():
            continue
        try:
            person = parse_person(json.loads(raw))
        except ValueError:
            person = None
        if person is None:
            tally.skipped += 1
            if tally.first_bad_line is None:
                tally.first_bad_line = number
            continue
        result = evaluator.evaluate(key, person.distinct_id, **person.kwargs())
        tally.total += 1
        tally.values[show_value(result.value)] += 1
        tally.reasons[result.reason.value] += 1
    return tally


@click.command("rollout")
@click.argument("key")
@click.option(
    "--persons",
    "persons_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, readable=True),
    metavar="FILE",
    help='JSON Lines, one person per line: {"distinct_id": ..., "properties": {...}}.',
)
@definitions_option
@api_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def rollout_command(
    key: str, persons_file: str, definitions_file: str | None, as_json: bool
) -> None:
    """Evaluate KEY for every person in --persons and count who gets which value.

    Runs offline from the definitions: the blast radius of a change before you make it.
    """
    snapshot = load_snapshot(definitions_file)
    warn_problems(snapshot)
    require_flag(snapshot, key)
    evaluator = Evaluator(snapshot)
    size = os.path.getsize(persons_file)
    bar = _Bar(size) if not as_json and size >= PROGRESS_MIN_BYTES and is_interactive() else None
    try:
        with open(persons_file, "rb") as handle, bar.progress if bar else nullcontext():
            tally = tally_persons(evaluator, key, handle, bar.advance if bar else _ignore)
    except OSError as exc:
        fail(f"cannot read {persons_file}: {exc.strerror or exc}")
    if tally.total == 0:
        fail(
            f"no persons read from {persons_file}: expected JSON Lines with a distinct_id per line"
        )
    if as_json:
        emit_json(tally.to_dict(key))
        return
    _render(key, tally)


def _ignore(n: int) -> None:
    return None


def _render(key: str, tally: Tally) -> None:
    out = console()
    if tally.skipped:
        console(stderr=True).print(
            f"warning: skipped {tally.skipped} line(s) that are not a person object "
            f"(first: line {tally.first_bad_line})",
            markup=False,
        )

    def share(n: int) -> str:
        return f"{100 * n / tally.total:.1f}%"

    rows = [(value, n, share(n)) for value, n in tally.values.most_common()]
    out.print(table(f"{key} over {tally.total} persons", ("Value", "Persons", "Share"), rows))
    rows = [(reason, n, share(n)) for reason, n in tally.reasons.most_common()]
    out.print(table("By reason", ("Reason", "Persons", "Share"), rows))


__all__ = ["Tally", "parse_person", "rollout_command", "tally_persons"]
