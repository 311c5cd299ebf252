"""The ``flagkit`` command line: evaluate, explain, pull and manage flags, run the server.

Every command has ``--json``; connection settings come from flags or the environment
(``POSTHOG_HOST``, ``POSTHOG_PROJECT_ID``, ``POSTHOG_PERSONAL_API_KEY``,
``POSTHOG_PROJECT_API_KEY``). User mistakes end with one ``Error: ...`` line and a non-zero
exit status, never a traceback, and never show a key.
"""

from __future__ import annotations

from typing import Any

import click

from flagkit.cli._eval import eval_command
from flagkit.cli._explain import explain_command
from flagkit.cli._flags import flags_group
from flagkit.cli._output import clean
from flagkit.cli._pull import pull_command
from flagkit.cli._rollout import rollout_command
from flagkit.cli._serve import serve_command
from flagkit.errors import FlagkitError


class _Group(click.Group):
    """Turns flagkit and OS errors into one clean ``Error:`` line (exit status 1)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except FlagkitError as exc:
            raise click.ClickException(clean(str(exc))) from None
        except OSError as exc:
            raise click.ClickException(clean(f"{exc.strerror or exc}")) from None


def _version() -> str:
    from flagkit._version import __version__

    return __version__


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), "--version", prog_name="flagkit")
def main() -> None:
    """flagkit: PostHog feature flags, evaluated locally.

    \b
    Evaluate:  flagkit eval KEY --distinct-id ID --definitions flags.json
    Explain:   flagkit explain KEY --distinct-id ID --prop plan=pro
    Manage:    flagkit flags list | get | create | update | delete | activity
    Offline:   flagkit pull -o flags.json; flagkit rollout KEY --persons persons.jsonl
    Local:     flagkit serve
    """


main.add_command(serve_command)
main.add_command(eval_command)
main.add_command(explain_command)
main.add_command(pull_command)
main.add_command(flags_group)
main.add_command(rollout_command)

__all__ = ["main"]
