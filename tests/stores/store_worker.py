"""A flagkit Client in its own process, driven over stdin/stdout by the store tests.

Usage: ``python store_worker.py '<json config>'`` with ``{"client": {...Client kwargs},
"store": {"kind": "file", "dir": ...} | {"kind": "redis", "url": ..., "key_prefix": ...}}``.
Prints ``{"started": pid}``, then answers each stdin line: ``status`` with a JSON status
line, ``quit`` by closing the client and exiting.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

from flagkit._client.sync_client import Client
from flagkit.stores import RedisStore


def main() -> None:
    config = json.loads(sys.argv[1])
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    options: dict[str, Any] = dict(config["client"])
    store = config["store"]
    if store["kind"] == "file":
        options["shared_cache_dir"] = store["dir"]
    else:
        options["store"] = RedisStore(store["url"], key_prefix=store["key_prefix"], timeout=0.5)
    client = Client(**options)
    _answer({"started": os.getpid()})
    for line in sys.stdin:
        command = line.strip()
        if command == "status":
            status = client.status
            _answer(
                {
                    "role": None if status.role is None else status.role.value,
                    "state": status.state.value,
                    "ready": status.ready,
                    "source": status.source,
                    "value": client.is_enabled("flag", "user-1"),
                }
            )
        elif command == "quit":
            client.close()
            _answer({"closed": True})
            return


def _answer(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
