"""``python -m flagkit.server [--db PATH] [--port N] [--seed FILE] [--host HOST]``."""

from __future__ import annotations

import argparse
import sqlite3
import sys

from flagkit.errors import FlagkitError
from flagkit.server._local import serve


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the server until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m flagkit.server",
        description="Run flagkit's local PostHog-compatible server.",
    )
    parser.add_argument("--db", default=None, help="SQLite file (default: in memory)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 = any)")
    parser.add_argument("--seed", default=None, help="seed JSON file, e.g. examples/seed.json")
    parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    args = parser.parse_args(argv)
    try:
        serve(args.db, args.port, args.seed, host=args.host)
    except (OSError, sqlite3.Error, ValueError, FlagkitError) as error:
        print(f"flagkit: cannot start the server: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
