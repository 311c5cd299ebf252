"""``python -m flagkit`` runs the ``flagkit`` command line."""

from __future__ import annotations

from flagkit.cli import main

if __name__ == "__main__":
    main(prog_name="flagkit")
