"""``flagkit pull``: save the current definitions (usable as a Client bootstrap)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import click

from flagkit.cli._config import api_options, open_api
from flagkit.cli._output import console, emit_json, fail


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so readers never see a half-written file."""
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@click.command("pull")
@click.option(
    "-o",
    "--output",
    required=True,
    metavar="FILE",
    help="Where to save the definitions JSON ('-' for stdout).",
)
@click.option(
    "--no-cohorts",
    is_flag=True,
    help="Do not ask for cohort definitions (single cohorts are inlined instead).",
)
@api_options
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def pull_command(output: str, no_cohorts: bool, as_json: bool) -> None:
    """Fetch the local-evaluation definitions and save them to a file.

    The file works with `flagkit eval --definitions`, `flagkit serve --seed` and
    `Client(bootstrap=...)`.
    """
    with open_api() as api:
        body: dict[str, Any] = api.flags.local_evaluation_body(send_cohorts=not no_cohorts)
    text = json.dumps(body, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    flags = body.get("flags") or []
    cohorts = body.get("cohorts") or {}
    summary = {
        "path": output,
        "flags": len(flags) if isinstance(flags, list) else 0,
        "cohorts": len(cohorts) if isinstance(cohorts, dict) else 0,
    }
    if output == "-":
        click.echo(text, nl=False)
        return
    try:
        write_atomically(Path(output), text)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    if as_json:
        emit_json(summary)
    else:
        console().print(
            f"Saved {_count(summary['flags'], 'flag')} and "
            f"{_count(summary['cohorts'], 'cohort')} to {output}",
            markup=False,
        )


__all__ = ["pull_command", "write_atomically"]


def _count(number: object, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
