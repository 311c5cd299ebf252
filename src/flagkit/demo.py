"""``python -m flagkit.demo`` (``make demo``): flagkit end to end in a few seconds.

1. starts the local PostHog-compatible server, seeded with ``examples/seed.json``;
2. creates a flag through the admin API;
3. starts a :class:`flagkit.Client` polling the server;
4. evaluates every flag for a few sample users (values and reasons);
5. changes the new flag through the API and shows the client picking the change up
   through ``on_change``;
6. shuts everything down.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from flagkit.cli._output import show_value

if TYPE_CHECKING:
    from flagkit._client.sync_client import Client

DEMO_FLAG = "holiday-theme"
POLL_INTERVAL = 0.2
READY_TIMEOUT = 10.0
CHANGE_TIMEOUT = 10.0

# The seed's people, with the properties the application would pass when evaluating.
SAMPLE_USERS: tuple[tuple[str, dict[str, Any], dict[str, str], dict[str, dict[str, Any]]], ...] = (
    (
        "alice",
        {"email": "alice@acme.io", "plan": "enterprise", "country": "GB", "app_version": "2.4.1"},
        {"company": "acme"},
        {"company": {"plan": "enterprise", "seats": 120}},
    ),
    (
        "bob",
        {"email": "bob@example.com", "plan": "free", "country": "US", "app_version": "2.1.0"},
        {"company": "globex"},
        {"company": {"plan": "startup", "seats": 8}},
    ),
    (
        "carol",
        {"email": "carol@acme.io", "plan": "pro", "country": "DE", "app_version": "2.4.0"},
        {"company": "acme"},
        {"company": {"plan": "enterprise", "seats": 120}},
    ),
    ("dave", {"email": "dave@example.org", "plan": "free", "country": "FR"}, {}, {}),
)

# Used when the source tree's examples/seed.json is not around (an installed wheel).
FALLBACK_SEED: dict[str, Any] = {
    "flags": [
        {
            "key": "new-dashboard",
            "name": "The redesigned dashboard, rolled out to half of everyone",
            "filters": {"groups": [{"properties": [], "rollout_percentage": 50}]},
        },
        {
            "key": "checkout-experiment",
            "name": "Checkout copy test",
            "filters": {
                "groups": [{"properties": [], "rollout_percentage": 100}],
                "multivariate": {
                    "variants": [
                        {"key": "control", "rollout_percentage": 50},
                        {"key": "short-copy", "rollout_percentage": 50},
                    ]
                },
            },
        },
    ]
}


def example_seed() -> Path | None:
    """``examples/seed.json``: from the source tree, or bundled in the wheel, if present."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parents[1] / "examples" / "seed.json", here / "_examples" / "seed.json"):
        if candidate.is_file():
            return candidate
    return None


def results_table(client: Client, title: str, keys: list[str] | None = None) -> Table:
    """Every (user, flag) with value, payload and reason."""
    table = Table(title=title, title_justify="left")
    for column in ("User", "Flag", "Value", "Payload", "Reason"):
        table.add_column(column, overflow="fold")
    for distinct_id, props, groups, group_props in SAMPLE_USERS:
        results = client.evaluate_all(
            distinct_id, person_properties=props, groups=groups, group_properties=group_props
        )
        rows = [(key, r) for key, r in sorted(results.items()) if keys is None or key in keys]
        for position, (key, result) in enumerate(rows):
            payload = "" if result.payload is None else json.dumps(result.payload)
            table.add_row(
                Text(distinct_id if position == 0 else ""),
                Text(key),
                Text(show_value(result.value), style="bold" if result.enabled else ""),
                Text(payload if len(payload) <= 40 else payload[:37] + "..."),
                Text(result.reason.value),
                end_section=position == len(rows) - 1,
            )
    return table


def run(console: Console) -> int:
    """Run the demo; returns the exit status."""
    from flagkit._client.sync_client import Client
    from flagkit.api import FeatureFlagsAPI
    from flagkit.server import LocalServer

    seed_file = example_seed()
    started = time.monotonic()
    console.print(Text("1. Starting the local PostHog-compatible server", style="bold"))
    with LocalServer(seed=seed_file or FALLBACK_SEED) as server:
        console.print(Text(f"   listening on {server.url} (project {server.project_id})"))
        with FeatureFlagsAPI(server.url, server.personal_api_key, server.project_id) as api:
            console.print(
                Text(f"2. Creating flag {DEMO_FLAG!r} through the admin API", style="bold")
            )
            flag = api.flags.create(
                DEMO_FLAG,
                name="Holiday theme: off for now",
                rollout_percentage=0,
            )
            console.print(Text(f"   created id {flag.id}, rollout {flag.rollout_percentage}%"))

            console.print(Text("3. Starting a Client that polls the server", style="bold"))
            client = Client(
                server.project_api_key,
                personal_api_key=server.personal_api_key,
                host=server.url,
                poll_interval=POLL_INTERVAL,
            )
            try:
                if not client.wait_until_ready(READY_TIMEOUT):
                    console.print(Text(f"   the client did not load definitions: {client.status}"))
                    return 1
                snapshot = client.snapshot
                count = len(snapshot) if snapshot is not None else 0
                console.print(Text(f"   ready with {count} flags"))

                console.print(Text("4. Evaluating flags for sample users", style="bold"))
                console.print(results_table(client, "Flag values before the change"))

                changed = threading.Event()
                seen: list[frozenset[str]] = []

                def on_change(keys: frozenset[str]) -> None:
                    seen.append(keys)
                    if DEMO_FLAG in keys:
                        changed.set()

                client.on_change(on_change)
                console.print(
                    Text(f"5. Rolling {DEMO_FLAG!r} out to 100% through the API", style="bold")
                )
                updated_at = time.monotonic()
                api.flags.update(
                    flag.id if flag.id is not None else DEMO_FLAG,
                    name="Holiday theme: on for everyone",
                    filters={
                        "groups": [{"properties": [], "rollout_percentage": 100}],
                        "payloads": {"true": '{"theme": "snow"}'},
                    },
                )
                if not changed.wait(CHANGE_TIMEOUT):
                    console.print(Text("   the client did not pick up the change in time"))
                    return 1
                delay = time.monotonic() - updated_at
                keys = sorted(set().union(*seen))
                console.print(
                    Text(
                        f"   on_change fired after {delay:.2f} s: the client picked up the "
                        f"change to {', '.join(keys)}",
                        style="green",
                    )
                )
                console.print(results_table(client, "After the change", [DEMO_FLAG]))
            finally:
                client.close()
    console.print(
        Text(f"6. Shut down cleanly ({time.monotonic() - started:.1f} s in all)", style="bold")
    )
    return 0


def main() -> int:
    """Entry point of ``python -m flagkit.demo``."""
    probe = Console()
    # Wide enough for the table when the output is a file or a pipe.
    console = Console(highlight=False, width=None if probe.is_terminal else 110)
    try:
        return run(console)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
