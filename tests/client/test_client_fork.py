"""After os.fork() the child gets its own poller and HTTP connections and keeps updating."""

from __future__ import annotations

import json
import os
import select
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from client_helpers import ROLLOUT_ALL, wait_until

from flagkit._client.sync_client import Client

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def _child(client: Client, parent_http_id: int, write_fd: int, go_fd: int) -> None:
    """Runs in the forked child; reports what it saw through a pipe, then _exits."""
    report: dict[str, Any] = {}
    try:
        report["pollers"] = [
            t.name for t in threading.enumerate() if t.name == "flagkit-poller" and t.is_alive()
        ]
        report["own_http"] = id(client._network.http) != parent_http_id
        report["before"] = client.is_enabled("off-flag", "u")
        os.write(write_fd, b"started\n")
        select.select([go_fd], [], [], 20)  # wait for the parent's server-side change
        report["updated"] = wait_until(lambda: client.is_enabled("off-flag", "u"), timeout=15)
        report["state"] = client.status.state.value
        client.close()
        report["closed"] = True
    except BaseException as exc:  # anything goes back to the parent as text
        report["error"] = repr(exc)
    finally:
        os.write(write_fd, json.dumps(report).encode() + b"\n")
        os._exit(0)


def test_forked_child_receives_updates(server: Any, make_client: Callable[..., Client]) -> None:
    client = make_client()
    assert client.wait_until_ready(timeout=10)
    parent_http = client._network.http
    read_fd, write_fd = os.pipe()
    go_read, go_write = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(read_fd)
        _child(client, id(parent_http), write_fd, go_read)
    os.close(write_fd)
    os.close(go_read)
    try:
        with os.fdopen(read_fd, "rb") as reader:
            assert reader.readline() == b"started\n"
            server.update_flag("off-flag", filters=ROLLOUT_ALL)
            os.write(go_write, b"go")
            report = json.loads(reader.readline() or b"{}")
    finally:
        os.close(go_write)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            done, _status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.01)
        else:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
    assert "error" not in report, report
    assert report["pollers"] == ["flagkit-poller"]  # exactly one: its own
    assert report["own_http"]
    assert report["before"] is False
    assert report["updated"] is True
    assert report["state"] == "valid"
    assert report["closed"] is True
    # The parent is unaffected and keeps its own connection pool.
    assert client._network.http is parent_http
    assert wait_until(lambda: client.is_enabled("off-flag", "u"))
