"""``flagkit serve``: run the local PostHog-compatible server."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import click

from flagkit.cli._output import emit_json, fail


@click.command("serve")
@click.option(
    "--host",
    "bind",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (keep 127.0.0.1 unless other machines must reach it).",
)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="SQLite file to keep flags in (default: in memory, lost on exit).",
)
@click.option(
    "--seed",
    type=click.Path(exists=True, dir_okay=False, readable=True),
    default=None,
    metavar="FILE",
    help="Seed file with flags, persons, cohorts... to create at start (see examples/seed.json).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the URL, project id and keys as one JSON object (for scripts).",
)
def serve_command(
    bind: str, port: int, db_path: str | None, seed: str | None, as_json: bool
) -> None:
    """Run a local PostHog-compatible server (flags API, definitions, /flags).

    It prints its URL and the generated local keys; stop it with Ctrl-C.
    """
    from flagkit.server import serve

    if seed is not None:
        try:
            data = json.loads(Path(seed).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            fail(f"cannot read seed file {seed}: {exc}")
        if not isinstance(data, dict):
            fail(f"seed file {seed} must hold a JSON object (see examples/seed.json)")
    try:
        if as_json:
            _serve_json(db_path, port, seed, bind)
        else:
            serve(db_path=db_path, port=port, seed=seed, host=bind)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            fail(
                f"port {port} on {bind} is already in use; pick another with --port "
                "(--port 0 picks a free one)"
            )
        raise
    except (KeyError, TypeError, ValueError) as exc:
        # Raised while applying a seed whose entries lack fields or have the wrong types.
        fail(f"cannot start the server with seed file {seed}: {type(exc).__name__}: {exc}")


def _serve_json(db_path: str | None, port: int, seed: str | None, bind: str) -> None:
    """Like ``serve()``, announcing the connection details as JSON instead of text."""
    from flagkit.server import LocalServer, serve

    def announce(server: LocalServer) -> None:
        emit_json(
            {
                "url": server.url,
                "project_id": server.project_id,
                "project_api_key": server.project_api_key,
                "personal_api_key": server.personal_api_key,
                "secret_api_key": server.secret_api_key,
                "db_path": db_path,
            }
        )

    serve(db_path=db_path, port=port, seed=seed, host=bind, announce=announce)


__all__ = ["serve_command"]
