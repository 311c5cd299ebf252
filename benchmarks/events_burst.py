"""Exposure events under a burst: 60,000 new exposures read as fast as a loop can, delivered
to a LocalServer's capture endpoint in the same process. Prints how many arrived, how long
the burst and the flush took, and what an already-reported read costs. Asserts nothing.

    .venv/bin/python benchmarks/events_burst.py [--events 60000] [--queue-size N]
"""

from __future__ import annotations

import argparse
import threading
import time
import timeit

import flagkit
from flagkit.server import LocalServer

EVERYONE = {"groups": [{"properties": [], "rollout_percentage": 100}]}
BODY = {"flags": [{"id": 1, "key": "on", "active": True, "filters": EVERYONE}]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--queue-size", type=int, default=None)
    args = parser.parse_args()
    options = {} if args.queue_size is None else {"event_queue_size": args.queue_size}
    with LocalServer() as server:
        client = flagkit.Client(server.project_api_key, host=server.url, bootstrap=BODY, **options)
        started = time.perf_counter()
        for n in range(args.events):
            client.is_enabled("on", f"user-{n}")
        burst = time.perf_counter() - started
        client.flush(120)
        total = time.perf_counter() - started
        status = client.status
        client.close()
        share = status.events_sent / args.events
        print(
            f"{args.events} new exposures: burst {burst:.2f} s, all settled after {total:.2f} s; "
            f"delivered {status.events_sent} ({share:.1%}), "
            f"overflowed {status.events_overflowed}"
        )
        reported = flagkit.Client(server.project_api_key, host=server.url, bootstrap=BODY)
        reported.is_enabled("on", "u")
        best = min(timeit.repeat(lambda: reported.is_enabled("on", "u"), number=50_000, repeat=5))
        print(f"an already-reported read with events on: {best / 50_000 * 1e9:.0f} ns")
        for user in range(100):
            reported.is_enabled("on", f"u{user}")
        one = max(_rate(reported, 1) for _ in range(3))
        eight = max(_rate(reported, 8) for _ in range(3))
        print(
            f"already-reported reads: 1 thread {one:,.0f}/s, 8 threads {eight:,.0f}/s "
            f"({eight / one:.2f} of one thread's rate)"
        )
        reported.close()


def _rate(client: flagkit.Client, threads: int, reads: int = 200_000) -> float:
    """Reads per second of ``threads`` threads sharing one client (already-reported)."""

    def work(count: int) -> None:
        for n in range(count):
            client.is_enabled("on", f"u{n % 100}")

    workers = [threading.Thread(target=work, args=(reads // threads,)) for _ in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return reads / (time.perf_counter() - started)


if __name__ == "__main__":
    main()
