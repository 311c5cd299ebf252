"""``make demo`` (``python -m flagkit.demo``) runs end to end, quickly, and exits 0."""

from __future__ import annotations

import subprocess
import sys
import time


def test_demo_runs_and_shows_the_change_pickup() -> None:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "flagkit.demo"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "Traceback" not in proc.stderr
    assert "on_change fired" in out
    assert "picked up the change to holiday-theme" in out
    # The table shows values and reasons before and after the change.
    assert "out_of_rollout" in out
    assert "condition_match" in out
    assert "Shut down cleanly" in out
    assert elapsed < 30


def test_fallback_seed_is_accepted_by_the_server() -> None:
    # Used by the demo when examples/seed.json is not installed next to the package.
    from flagkit.demo import FALLBACK_SEED
    from flagkit.server import LocalServer

    with LocalServer(seed=FALLBACK_SEED) as server:
        keys = {flag["key"] for flag in server.flags()}
    assert keys == {flag["key"] for flag in FALLBACK_SEED["flags"]}
